"""Freshness: the kernel caches names, attributes and contents, so every
change must reach the next reader (SPEC: "after a change, the next cat
shows it").  Each check warms the caches first, then changes the job,
then reads at once."""
import os
import time

FILES = ("spec", "control", "status", "tags", "metrics", "graph.svg", "events")


def warm(m, name):
    """Reads and stats every file, so the kernel caches all of it."""
    for f in FILES:
        m.read(name, f)
        os.stat(m.job(name, f))
    os.listdir(m.job(name, "weights"))
    try:
        os.stat(m.job(name, "weights", name + ".tar"))
    except FileNotFoundError:
        pass  # now cached as "no such file"


def consistent(m, name):
    """stat's size is the size of what cat reads, for every file."""
    for f in FILES:
        data = open(m.job(name, f), "rb").read()
        assert os.stat(m.job(name, f)).st_size == len(data), f


def test_no_stale_read_after_each_change(m):
    os.mkdir(m.job("j"))
    warm(m, "j")
    assert m.write("j", "spec", "command = x\n") == 0
    assert m.read("j", "spec") == "command = x\n"
    warm(m, "j")
    spec = ("command = /usr/bin/python3 %s --forever --epoch-ms 300 --on-term save\n"
            "epochs = 10\nmonitor = loss\n" % os.path.join(
                os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                "trainers", "trainer.py"))
    assert m.write("j", "spec", spec) == 0
    assert m.read("j", "spec") == spec
    consistent(m, "j")
    assert m.write("j", "tags", "one\n") == 0
    assert m.tags("j") == ["one"]
    warm(m, "j")
    assert m.control("j", "bogus") != 0
    assert "'bogus'" in m.read("j", "control")
    warm(m, "j")
    assert m.control("j", "start") == 0
    assert m.state("j") in ("queued", "running")
    assert os.stat(m.job("j", "spec")).st_mode & 0o222 == 0  # mode changed
    m.wait_epoch("j", 1)
    warm(m, "j")
    assert m.control("j", "stop") == 0
    assert m.state("j") in ("stopping", "packaging", "ready")
    assert "stopped-early" in m.tags("j")
    warm(m, "j")
    # wait answers after the change reached the kernel's caches.
    with open(m.job("j", "wait")) as f:
        assert f.read().startswith("ready\n")
    assert m.state("j") == "ready"
    assert os.listdir(m.job("j", "weights")) == ["j.tar"]
    assert os.stat(m.job("j", "weights", "j.tar")).st_size > 0
    assert m.tags("j") == ["one", "stopped-early", "ready"]
    assert m.read("j", "events").splitlines()[-1].split()[1] == "ready"
    consistent(m, "j")


def test_metrics_grow_while_watched(m):
    m.make_job("g", trainer_args="--epochs 30 --epoch-ms 30", epochs=30, start=True)
    seen = 0
    deadline = time.monotonic() + 20
    while m.state("g") != "ready" and time.monotonic() < deadline:
        rows = len(m.read("g", "metrics").splitlines()) - 1
        assert rows >= seen, "metrics went back"
        seen = rows
        time.sleep(0.01)
    m.wait_state("g", "ready")
    assert len(m.read("g", "metrics").splitlines()) == 31
    assert m.status("g")[1]["epoch"] == "30/30"
    consistent(m, "g")


def test_removed_and_recreated(m):
    os.mkdir(m.job("r"))
    m.write("r", "tags", "old\n")
    warm(m, "r")
    os.rmdir(m.job("r"))
    assert "r" not in os.listdir(m.path("jobs"))
    assert not os.path.exists(m.job("r", "status"))
    os.mkdir(m.job("r"))
    assert m.tags("r") == [] and m.state("r") == "created"
    consistent(m, "r")
