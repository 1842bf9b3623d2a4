"""Seeing and deciding: auto-stop on convergence, status while it happens,
poll(2) on status, many blocked waiters, a big graph."""
import os
import select
import subprocess
import time
import xml.etree.ElementTree as ET


def test_auto_stop_on_plateau(m):
    m.make_job("j", trainer_args="--forever --epoch-ms 30 --metric mAP "
                                 "--values 0.5,0.6,0.7,0.7,0.705,0.69,0.7,0.7",
               epochs=100, monitor="mAP", mode="max", patience=4, min_delta=0.01)
    m.control("j", "start")
    m.wait_epoch("j", 4)
    st, kv = m.status("j")
    if st == "running":
        k, p = kv["patience"].split(" ")[0].split("/")
        assert p == "4" and 0 <= int(k) < 4, kv
        assert kv["patience"].endswith(" epochs without improvement")
    m.wait_state("j", "ready")
    st, kv = m.status("j")
    # 0.7 at epoch 3; 0.705 is not better by MORE than 0.01: 4 epochs
    # without improvement end at epoch 7.
    assert kv["best"] == "mAP 0.7 at epoch 3", kv
    assert kv["reason"] == "converged"
    e = int(kv["epoch"].split("/")[0])
    assert e >= 7
    assert kv["message"] == ("training converged at epoch %d of 100; "
                             "%d unnecessary epochs skipped" % (e, 100 - e))
    assert m.tags("j") == ["stopped-early", "converged", "ready"]
    events = m.read("j", "events")
    assert " stopping converged" in events


def test_auto_stop_mode_min_and_nan(m):
    m.make_job("j", trainer_args="--forever --epoch-ms 20 --values 1.0,0.5,nan,inf,0.5,0.5",
               epochs=50, monitor="loss", mode="min", patience=3)
    m.control("j", "start")
    m.wait_state("j", "ready")
    st, kv = m.status("j")
    assert kv["best"] == "loss 0.5 at epoch 2", kv  # NaN, inf and a tie never improve
    assert kv["reason"] == "converged"


def test_no_auto_stop_without_patience(m):
    m.make_job("j", trainer_args="--epochs 8 --epoch-ms 5 --values 1,1,1,1,1,1,1,1",
               epochs=8, monitor="loss", mode="min", start=True)
    m.wait_state("j", "ready")
    st, kv = m.status("j")
    assert kv["reason"] == "completed" and "patience" not in kv


def test_poll_status(m):
    m.make_job("j", trainer_args="--forever --epoch-ms 20")
    fd = os.open(m.job("j", "status"), os.O_RDONLY)
    try:
        assert os.read(fd, 4096).startswith(b"created")
        p = select.poll()
        p.register(fd, select.POLLIN | select.POLLPRI)
        t0 = time.monotonic()
        assert p.poll(300) == []  # nothing changed: it sleeps
        assert time.monotonic() - t0 >= 0.25
        m.control("j", "start")
        assert p.poll(5000) != []  # woken by the change
        os.lseek(fd, 0, os.SEEK_SET)
        assert os.read(fd, 4096).split(b"\n")[0] in (b"queued", b"running")
    finally:
        os.close(fd)
    m.control("j", "cancel")


def test_many_waiters_do_not_block_the_mount(m):
    m.make_job("j", trainer_args="--forever --epoch-ms 20", start=True)
    m.wait_state("j", "running")
    waiters = [subprocess.Popen(["cat", m.job("j", "wait")], stdout=subprocess.PIPE)
               for _ in range(200)]
    try:
        time.sleep(0.5)
        assert all(w.poll() is None for w in waiters)
        worst = 0
        for _ in range(20):
            t0 = time.monotonic()
            with open(m.job("j", "status")) as f:
                assert f.read().startswith("running")
            os.listdir(m.job("j"))
            worst = max(worst, time.monotonic() - t0)
        assert worst < 1.0, "status took %.3fs with 200 waiters" % worst
        m.control("j", "stop")
        for w in waiters:
            out, _ = w.communicate(timeout=20)
            assert out.startswith(b"ready\n"), out
    finally:
        for w in waiters:
            if w.poll() is None:
                w.kill()
                w.wait()


def test_graph_with_ten_thousand_epochs(m):
    m.make_job("g", trainer_args="--epochs 10000 --epoch-ms 0 --save end --extra acc",
               epochs=10000, monitor="loss", mode="min", start=True)
    m.wait_state("g", "ready", timeout=60)
    assert len(m.read("g", "metrics").splitlines()) == 10001
    data = open(m.job("g", "graph.svg"), "rb").read()
    assert len(data) < 200000, len(data)  # decimated, not 10,000 points a line
    root = ET.fromstring(data)
    ns = "{http://www.w3.org/2000/svg}"
    lines = root.findall(".//%spolyline" % ns)
    assert len(lines) == 2
    assert root.findall(".//%scircle" % ns), "best point not marked"
    for l in lines:
        assert 10 < len(l.get("points").split()) <= 2 * 600
