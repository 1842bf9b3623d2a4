"""The sweep example (examples/sweep/spec over examples/pytorch_digits.py)
on a real mount, made small: 4 trials of 6 epochs, two at a time, pruned by
ASHA.  The sweep reaches `done`, trials.csv has a row per trial, and a
pruned trial's packed weights (its best checkpoint) score back to the
val_loss the sweep recorded for it.

Needs Debian's python3-torch and python3-sklearn for /usr/bin/python3
(tools/deps.sh); without them the test says it is skipped and passes."""
import csv
import io
import json
import os
import re
import subprocess
import tarfile
import tempfile
import time

from harness import PY, ROOT

EXAMPLE = os.path.join(ROOT, "examples", "pytorch_digits.py")
SPEC = os.path.join(ROOT, "examples", "sweep", "spec")


def have_torch():
    return os.path.exists(PY) and subprocess.run(
        [PY, "-c", "import importlib.util as u, sys; "
         "sys.exit(not (u.find_spec('torch') and u.find_spec('sklearn')))"]
    ).returncode == 0


def small_spec():
    """The example's spec with this clone as workdir, made small. A
    learning rate of at least 1e-3 keeps every trial learning within 6
    epochs (so the ranking at a rung is by learning, not by noise)."""
    keys = {"workdir": ROOT, "trials": "4", "epochs": "6", "parallel": "2",
            "prune": "asha", "seed": "3", "param.lr": "loguniform(1e-3, 0.3)",
            "prune.factor": "2"}
    out = []
    with open(SPEC) as f:
        for line in f:
            m = re.match(r"\s*([a-z_.]+)\s*=", line)
            if m and m.group(1) in keys:
                line = "%s = %s\n" % (m.group(1), keys[m.group(1)])
            out.append(line)
    return "".join(out)


def read(path):
    with open(path) as f:
        return f.read()


def test_digits_sweep_with_asha(m):
    if not have_torch():
        print("test_sweep_example: skipped: needs python3-torch and "
              "python3-sklearn for %s" % PY)
        return
    d = m.path("sweeps", "digits")
    os.mkdir(d)
    with open(os.path.join(d, "spec"), "w") as f:
        f.write(small_spec())
    with open(os.path.join(d, "control"), "w") as f:
        f.write("start\n")
    deadline = time.monotonic() + 110
    while read(os.path.join(d, "status")).split("\n", 1)[0] != "done":
        assert time.monotonic() < deadline, (
            read(os.path.join(d, "status")) + read(os.path.join(d, "trials.csv")))
        time.sleep(0.2)
    rows = list(csv.DictReader(io.StringIO(read(os.path.join(d, "trials.csv")))))
    assert [r["trial"] for r in rows] == ["001", "002", "003", "004"], rows
    assert list(rows[0])[:6] == ["trial", "job", "state", "reason", "lr", "width"]
    for r in rows:
        assert r["state"] == "ready", rows
        assert r["best"] and 0 < float(r["best"]) < 2.5, rows
        assert 1 <= int(r["epochs_run"]) <= 6, rows
    # Rungs at epochs 1, 2 and 4 (factor 2): the first trial at a rung
    # always goes on, the later ones only if in the better half.
    pruned = [r for r in rows if r["reason"] == "pruned"]
    assert pruned and len(pruned) < 4, rows
    assert any(r["reason"] == "completed" and r["epochs_run"] == "6"
               for r in rows), rows
    st = read(os.path.join(d, "status"))
    assert re.search(r"^epochs: \d+ run of 24 without pruning", st, re.M), st
    best = min(rows, key=lambda r: (float(r["best"]), r["trial"]))
    assert os.readlink(os.path.join(d, "best")) == "../../jobs/" + best["job"]

    # A pruned trial keeps its best checkpoint as its weights: score them.
    p = pruned[0]
    job = p["job"]
    assert m.status(job)[1]["reason"] == "pruned"
    tmp = tempfile.mkdtemp(prefix="trainfs-sweep-score-")
    try:
        with tarfile.open(m.job(job, "weights", job + ".tar")) as t:
            assert "model.pt" in t.getnames(), t.getnames()
            t.extractall(tmp)
        info = json.loads(read(os.path.join(tmp, "trainfs.json")))
        r = subprocess.run([PY, EXAMPLE, "--score", tmp], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, timeout=100)
        assert r.returncode == 0, r.stdout
        got = json.loads(r.stdout.strip().splitlines()[-1])
    finally:
        subprocess.run(["rm", "-rf", tmp])
    # The sweep's best for that trial (6 significant digits) is what its
    # packed weights give.
    assert abs(got["val_loss"] - float(p["best"])) <= 1e-5 * float(p["best"]) + 1e-6, (
        got, p, info)
    assert 0.0 <= got["val_acc"] <= 1.0
