"""graph.svg as a person reads it: metrics of very different scales each
readable on an axis of its own, nan epochs marked and not joined, the best
epoch and the stop marked, the x axis to the last reported epoch, labels
inside the picture, numbers of 6 significant digits; and a picture that a
real SVG renderer (rsvg-convert) draws.  Also: values of any magnitude
draw at once (issue 8, finding 1)."""
import math
import os
import re
import shutil
import subprocess
import time
import xml.etree.ElementTree as ET

from harness import PY, ROOT

NS = "{http://www.w3.org/2000/svg}"

# A trainer of our own: loss ~0.1, accuracy ~0.9, a learning rate decaying
# from 1e-4 over decades, a gradient norm ~30, and a nan loss at epoch 12.
# It stops (exit 0, weights written) on SIGTERM, as a trainer should.
CURVES = r'''
import math, os, signal, sys, time
stop = False
def on_term(sig, frame):
    global stop
    stop = True
signal.signal(signal.SIGTERM, on_term)
out = os.environ["TRAINFS_OUTPUT"]
fd = os.open(os.environ["TRAINFS_METRICS"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
epochs, ms = int(sys.argv[1]), float(sys.argv[2])
lines = sys.argv[3:]
for e in range(1, epochs + 1):
    if lines:
        line = lines.pop(0)
    else:
        loss = 0.08 + 0.06 * 0.85 ** e + 0.002 * math.sin(e)
        line = ("epoch=%d loss=%s val_loss=%r acc=%r lr=%r grad_norm=%r"
                % (e, "nan" if e == 12 else repr(loss), loss * 1.1 + 0.01,
                   0.86 + 0.06 * (1 - 0.85 ** e), 1e-4 * 0.7 ** e,
                   30 + 4 * math.sin(e / 2.0)))
    os.write(fd, (line + "\n").encode())
    time.sleep(ms / 1000.0)
    if stop:
        break
with open(os.path.join(out, "weights.bin"), "wb") as f:
    f.write(b"w" * 64)
'''


def write_trainer(m):
    path = os.path.join(m.dir, "curves.py")
    with open(path, "w") as f:
        f.write(CURVES)
    os.chmod(path, 0o644)
    return path


def floats(points):
    return [tuple(float(v) for v in p.split(",")) for p in points.split()]


def panels(root):
    """{metric: (its polyline, the panel's plot rect, the panel <g>)}."""
    out = {}
    for g in root.iter(NS + "g"):
        if g.get("class") != "panel":
            continue
        plot = [r for r in g.findall(NS + "rect") if r.get("class") == "plot"]
        assert len(plot) == 1, "a panel has one plot area"
        for pl in g.findall(NS + "polyline"):
            assert pl.get("data-metric") not in out, "one polyline per metric"
            out[pl.get("data-metric")] = (pl, plot[0], g)
    return out


def view_box(root):
    x, y, w, h = (float(v) for v in root.get("viewBox").split())
    assert (x, y) == (0, 0)
    return w, h


def visible(t):
    """The text an element shows: its tooltips (<title>) left out."""
    out = [t.text or ""]
    for c in t:
        if c.tag != NS + "title":
            out.append(visible(c))
        out.append(c.tail or "")
    return "".join(out)


def sig_digits(tok):
    mant = tok.lower().split("e")[0].lstrip("+-").replace(".", "").lstrip("0")
    return len(mant)


def render_png(svg_path, png_path):
    rsvg = shutil.which("rsvg-convert")
    assert rsvg, "rsvg-convert is missing: apt-get install librsvg2-bin (make deps)"
    p = subprocess.run([rsvg, svg_path, "-o", png_path], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True, timeout=60)
    assert p.returncode == 0, "rsvg-convert refused graph.svg: %s" % p.stderr
    with open(png_path, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    # Kept for a person to look at: build/test-artifacts/.
    art = os.path.join(ROOT, "build", "test-artifacts")
    os.makedirs(art, exist_ok=True)
    shutil.copy(png_path, os.path.join(art, os.path.basename(png_path)))
    shutil.copy(svg_path, os.path.join(art, os.path.basename(svg_path)))


def test_graph_small_multiples(m):
    trainer = write_trainer(m)
    m.make_job("g", spec="command = %s %s 400 60\nepochs = 400\n"
               "monitor = val_loss\nmode = min\n" % (PY, trainer), start=True)
    m.wait_epoch("g", 30, timeout=60)
    m.control("g", "stop")
    m.wait_state("g", "ready", timeout=60)
    st, kv = m.status("g")
    assert kv["reason"] == "stopped-early", kv
    last = int(kv["epoch"].split("/")[0])
    assert 30 <= last < 400, kv
    # status shows the best rounded to 6 significant digits
    best = kv["best"].split()
    assert best[0] == "val_loss" and sig_digits(best[1]) <= 6, kv

    svg_path = os.path.join(m.dir, "graph.svg")
    with open(m.job("g", "graph.svg"), "rb") as f, open(svg_path, "wb") as out:
        data = f.read()
        out.write(data)
    root = ET.fromstring(data)
    w, h = view_box(root)
    assert not [e for e in root.iter() if e.get("transform")], "no transforms"

    by_metric = panels(root)
    assert sorted(by_metric) == ["acc", "grad_norm", "loss", "lr", "val_loss"]
    assert len(root.findall(".//%spolyline" % NS)) == 5
    for name, (pl, plot, g) in by_metric.items():
        pts = floats(pl.get("points"))
        assert len(pts) >= 20, (name, len(pts))
        top, ph = float(plot.get("y")), float(plot.get("height"))
        left, pw = float(plot.get("x")), float(plot.get("width"))
        ys = [p[1] for p in pts]
        xs = [p[0] for p in pts]
        # inside its panel, and a fair part of its height: readable
        assert all(top - 0.1 <= y <= top + ph + 0.1 for y in ys), name
        assert all(left - 0.1 <= x <= left + pw + 0.1 for x in xs), name
        assert max(ys) - min(ys) >= 0.3 * ph, (name, min(ys), max(ys), ph)
        # the x axis ends at the last reported epoch, not at 400
        assert max(xs) >= left + pw - 1, (name, max(xs), left + pw)
        assert min(xs) <= left + 1, (name, min(xs), left)
    # lr spans decades: a log axis; the others linear
    assert by_metric["lr"][2].get("data-scale") == "log"
    assert by_metric["acc"][2].get("data-scale") == "linear"
    # loss and val_loss share a panel (the monitored one, drawn first)
    assert by_metric["loss"][2] is by_metric["val_loss"][2]
    assert by_metric["acc"][2] is not by_metric["loss"][2]

    # the nan epoch is marked, and the loss line is cut there, not joined
    marks = [e for e in root.iter() if e.get("data-nonfinite") == "loss"]
    assert marks, "nan epoch of loss not marked"
    loss_line = by_metric["loss"][0]
    clip = re.fullmatch(r"url\(#(.+)\)", loss_line.get("clip-path") or "")
    assert clip, "the loss line is joined across its nan epoch"
    clips = [c for c in root.iter(NS + "clipPath") if c.get("id") == clip.group(1)]
    assert len(clips) == 1 and len(clips[0].findall(NS + "rect")) == 2
    assert not by_metric["val_loss"][0].get("clip-path")  # no nan there

    texts = list(root.iter(NS + "text"))
    words = [visible(t) for t in texts]
    # legend: every metric is named
    for name in by_metric:
        assert any(wd.startswith(name + " ") or wd == name for wd in words), name
    # best epoch marked (a circle in the monitored panel, a label), the stop too
    assert by_metric["val_loss"][2].findall(NS + "circle"), "best not marked"
    assert any(wd.startswith("best ") for wd in words), words
    assert "stopped at %d" % last in words, words
    # labels inside the picture, numbers of at most 6 significant digits
    for t, wd in zip(texts, words):
        x, y = float(t.get("x")), float(t.get("y"))
        assert 0 <= x <= w and 0 <= y <= h, (wd, x, y)
        for tok in re.findall(r"-?\d+(?:\.\d+)?(?:e[-+]?\d+)?", wd):
            if "." in tok or "e" in tok:
                assert sig_digits(tok) <= 6, (wd, tok)

    render_png(svg_path, os.path.join(m.dir, "graph-small-multiples.png"))


def test_graph_extreme_values_draw_at_once(m):
    trainer = write_trainer(m)
    lines = ["epoch=1 a=1e308 b=-1e308", "epoch=2 a=-1.7976931348623157e308 b=4.9e-324",
             "epoch=3 a=inf b=nan", "epoch=4 a=0 b=-4.9e-324", "epoch=5 c=4.9e-324"]
    m.make_job("x", spec="command = %s %s 5 0 %s\n" % (PY, trainer, " ".join(
        "'%s'" % l for l in lines)), start=True)
    m.make_job("other", trainer_args="--forever --epoch-ms 50", start=True)
    m.wait_state("x", ["ready", "failed"], timeout=60)
    assert len(m.read("x", "metrics").splitlines()) == 6
    t0 = time.monotonic()
    svg_path = os.path.join(m.dir, "extreme.svg")
    with open(m.job("x", "graph.svg"), "rb") as f, open(svg_path, "wb") as out:
        data = f.read()
        out.write(data)
    took = time.monotonic() - t0
    assert took < 5, "graph.svg of extreme values took %.1fs" % took
    t0 = time.monotonic()
    assert m.read("other", "status").startswith("running")
    assert time.monotonic() - t0 < 1.0
    root = ET.fromstring(data)
    w, h = view_box(root)
    by_metric = panels(root)
    assert sorted(by_metric) == ["a", "b", "c"]
    for name, (pl, plot, g) in by_metric.items():
        for x, y in floats(pl.get("points")):
            assert math.isfinite(x) and math.isfinite(y)
            assert 0 <= x <= w and 0 <= y <= h, (name, x, y)
    for t in root.iter(NS + "text"):
        assert 0 <= float(t.get("x")) <= w and 0 <= float(t.get("y")) <= h
    assert [e for e in root.iter() if e.get("data-nonfinite") == "b"]
    render_png(svg_path, os.path.join(m.dir, "graph-extreme.png"))
    m.control("other", "cancel")
