"""What the files say: tarballs read back with tar, bsdtar (libarchive) and
Python, compression, the manifest, tags, metrics, events, wait."""
import errno
import json
import os
import subprocess
import tarfile
import threading
import time

from harness import PY, TRAINER, errno_of, sh


def test_tarball_read_back_three_ways(m):
    spec = ("command = %s %s --epochs 4 --epoch-ms 5 --extra acc && "
            "ln -s /etc/shadow \"$TRAINFS_OUTPUT/evil\"\n"
            "epochs = 10\nmonitor = loss\nmode = min\n" % (PY, TRAINER))
    m.make_job("t", spec=spec, start=True)
    m.wait_state("t", "ready")
    tar = m.job("t", "weights", "t.tar")
    st = os.stat(tar)
    assert st.st_size > 0 and st.st_mode & 0o777 == 0o444
    rc, out, err = sh("bsdtar -tvf %s" % tar)  # libarchive
    assert rc == 0, err
    rc, gnu, err = sh("tar -tvf %s" % tar)
    assert rc == 0, err
    with tarfile.open(tar) as t:
        names = t.getnames()
        evil = t.getmember("evil")
        assert evil.issym() and evil.linkname == "/etc/shadow"  # a link, not its content
        man = json.load(t.extractfile("trainfs.json"))
        w = t.extractfile("weights.bin").read()
    assert names[-1] == "trainfs.json" and "weights.bin" in names
    assert any(n.startswith("ckpt") for n in names)
    assert not any(n.startswith("/") or n.startswith("./") for n in names)
    assert len(w) == 4096
    assert man["job"] == "t" and man["epoch"] == 4 and man["reason"] == "completed"
    assert set(man["last"]) == {"loss", "acc"} and man["last"]["loss"] == 0.25
    assert man["best"] == {"loss": 0.25, "epoch": 4}
    assert man["finished"].endswith("Z")
    # cp and cat of the tarball give the same bytes as the store holds.
    with open(os.path.join(m.store, "jobs", "1", "weights", "t.tar"), "rb") as f:
        assert f.read() == open(tar, "rb").read()


def test_compression(m):
    for comp, ext, flag in (("gzip", ".tar.gz", "-z"), ("zstd", ".tar.zst", "--zstd")):
        name = "c" + comp
        m.make_job(name, trainer_args="--epochs 2 --epoch-ms 5", compression=comp,
                   start=True)
        m.wait_state(name, "ready")
        assert m.status(name)[1]["weights"] == "weights/%s%s" % (name, ext)
        assert os.listdir(m.job(name, "weights")) == [name + ext]
        rc, out, err = sh("tar %s -tf %s" % (flag, m.job(name, "weights", name + ext)))
        assert rc == 0 and "trainfs.json" in out, err
        rc, out, err = sh("bsdtar -tf %s" % m.job(name, "weights", name + ext))
        assert rc == 0 and "weights.bin" in out, err


def test_tags(m):
    os.mkdir(m.job("j"))
    assert m.tags("j") == []
    assert m.write("j", "tags", "best\nbaseline\n") == 0
    assert m.tags("j") == ["best", "baseline"]
    assert m.write("j", "tags", "extra\n", mode="a") == 0
    assert m.tags("j") == ["best", "baseline", "extra"]
    rc, _, err = sh("echo keep > %s" % m.job("j", "tags"))  # O_TRUNC: start afresh
    assert rc == 0, err
    assert m.tags("j") == ["keep"]
    for bad in ("ready\n", "cancelled\n", "has space\n", ".dot\n", "ok\nconverged\n"):
        assert m.write("j", "tags", bad, mode="a") == errno.EINVAL, bad
    assert m.tags("j") == ["keep"]  # a refused write adds nothing
    m.write("j", "spec", "command = %s %s --epochs 1 --epoch-ms 1\n" % (PY, TRAINER))
    m.control("j", "start")
    m.wait_state("j", "ready")
    assert m.tags("j") == ["keep", "completed", "ready"]
    rc, _, _ = sh("echo mine > %s" % m.job("j", "tags"))
    assert m.tags("j") == ["completed", "ready", "mine"]  # system tags stay


def test_metrics_both_formats_and_bad_lines(m):
    m.make_job("kv", trainer_args="--epochs 3 --epoch-ms 5 --extra acc --bad-lines 3",
               start=True)
    m.make_job("js", trainer_args="--epochs 3 --epoch-ms 5 --format json --values 0.5,nan,inf",
               start=True)
    m.wait_state("kv", "ready")
    m.wait_state("js", "ready")
    rows = m.read("kv", "metrics").splitlines()
    assert rows[0] == "epoch,loss,acc", rows[0]
    assert [r.split(",")[0] for r in rows[1:]] == ["1", "2", "3"]
    assert rows[1] == "1,1,0.5"
    bad = m.status("kv")[1]["bad metric lines"]
    # The third bad line, "epoch=1.5 loss=0.3", is line 5 of the file.
    assert bad.startswith("3 (last: line 5: ") and bad.endswith(")"), bad
    rows = m.read("js", "metrics").splitlines()
    assert rows[1:] == ["1,0.5", "2,nan", "3,inf"], rows
    assert "bad metric lines" not in m.status("js")[1]


def test_metrics_lines_by_hand(m):
    script = ("printf 'epoch=1 a=1\\n' >> $TRAINFS_METRICS; "
              "printf '{\"epoch\": 2, \"b\": 2.5}\\n' >> $TRAINFS_METRICS; "
              "printf 'epoch=2.5 a=1\\nepoch=3 a=x\\n{\"epoch\": 4, \"a\": \"s\"}\\n' >> $TRAINFS_METRICS; "
              "printf 'epoch=5 a=3' >> $TRAINFS_METRICS; "  # no newline at the end
              "echo w > $TRAINFS_OUTPUT/w")
    m.make_job("h", spec="command = %s\n" % script, start=True)
    m.wait_state("h", "ready")
    # {"epoch": 4, "a": "s"}: a string is not a metric, the epoch counts;
    # "epoch=3 a=x": the bad pair is left out, the line's epoch taken
    assert m.read("h", "metrics") == \
        "epoch,a,b\n1,1,\n2,,2.5\n3,,\n4,,\n5,3,\n"
    assert m.status("h")[1]["bad metric lines"].startswith("2")
    assert m.status("h")[1]["epoch"] == "5"


def test_wait_blocks_until_final(m):
    m.make_job("j", trainer_args="--forever --epoch-ms 10", start=True)
    m.wait_epoch("j", 1)
    out = {}

    def reader():
        with open(m.job("j", "wait")) as f:
            out["text"] = f.read()
        out["t"] = time.monotonic()

    th = threading.Thread(target=reader)
    th.start()
    time.sleep(0.3)
    assert th.is_alive(), "wait returned before the job was final"
    t0 = time.monotonic()
    m.control("j", "stop")
    th.join(10)
    assert not th.is_alive()
    assert out["text"].startswith("ready\n") and "weights: weights/j.tar" in out["text"]
    assert out["t"] >= t0
    rc, text, _ = sh("cat %s" % m.job("j", "wait"))  # final: at once
    assert rc == 0 and text == m.read("j", "status")
    assert os.stat(m.job("j", "wait")).st_size == 0


def test_wait_interrupted(m):
    m.make_job("j", trainer_args="--forever --epoch-ms 10", start=True)
    p = subprocess.Popen(["cat", m.job("j", "wait")], stdout=subprocess.PIPE)
    time.sleep(0.3)
    assert p.poll() is None
    t0 = time.monotonic()
    p.send_signal(2)  # Ctrl-C
    p.wait(timeout=5)
    assert time.monotonic() - t0 < 2
    assert m.state("j") == "running"
    m.control("j", "cancel")


def test_shell_session(m):
    """The README's session, with dash (sh) and bash."""
    j = m.job("mine")
    script = """
set -e
mkdir {j}
printf 'command = {py} {tr} --forever --epoch-ms 10\\nepochs = 50\\n' > {j}/spec
echo start > {j}/control
cat {j}/status | head -1
ls {j}
""".format(j=j, py=PY, tr=TRAINER)
    rc, out, err = sh(script)
    assert rc == 0, err
    assert out.startswith("queued\n") or out.startswith("running\n"), out
    m.wait_epoch("mine", 1)
    rc, out, err = sh("echo cancel > %s/control && head -1 %s/status && cat %s/tags" % (j, j, j))
    assert rc == 0 and out == "cancelled\ncancelled\n", (out, err)
    rc, out, err = sh("echo bogus > %s/control" % j)
    assert rc != 0  # dash says "I/O error" for EINVAL
    assert "'bogus': unknown command" in m.read("mine", "control")


def test_graph_svg_is_valid(m):
    import xml.etree.ElementTree as ET
    m.make_job("g", trainer_args="--epochs 30 --epoch-ms 1 --extra acc",
               epochs=30, monitor="loss", mode="min", start=True)
    m.wait_state("g", "ready")
    root = ET.fromstring(open(m.job("g", "graph.svg"), "rb").read())
    assert root.tag.endswith("svg")
    assert len(root.findall(".//{http://www.w3.org/2000/svg}polyline")) == 2
    assert b"<script" not in open(m.job("g", "graph.svg"), "rb").read()
