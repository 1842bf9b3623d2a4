"""Keeping data: jobs survive a clean unmount and a kill -9 of trainfs;
trainers keep running and are supervised again after the next mount."""
import errno
import os
import signal
import time

from harness import both, sh


def trainer_alive(m, job_id=1):
    """Whether the trainer's recorded process group still has processes."""
    try:
        with open(m.trainer_record(job_id)) as f:
            pid = int(f.read().split()[0])
        os.killpg(pid, 0)
        return True
    except (OSError, ValueError):
        return False


def metrics_epochs(m, name):
    return [int(l.split(",")[0]) for l in m.read(name, "metrics").splitlines()[1:]]


@both
def test_kill9_then_stop_after_remount(m):
    m.make_job("j", trainer_args="--forever --epoch-ms 20 --on-term save",
               epochs=1000, monitor="loss", mode="min", start=True)
    e = m.wait_epoch("j", 3)
    m.kill9()
    assert trainer_alive(m), "the trainer died with trainfs"
    time.sleep(0.3)  # it goes on training while nobody watches
    m.start()
    assert m.state("j") == "running"
    e2 = m.wait_epoch("j", e + 5)
    assert e2 > e
    epochs = metrics_epochs(m, "j")
    assert epochs == list(range(1, len(epochs) + 1)), "metrics lost or doubled"
    assert m.control("j", "stop") == 0
    m.wait_state("j", "ready")
    assert m.tags("j") == ["stopped-early", "ready"]
    assert "weights.bin" in sh("tar -tf %s" % m.job("j", "weights", "j.tar"))[1]
    assert not trainer_alive(m)


@both
def test_clean_unmount_keeps_jobs(m):
    m.make_job("done", trainer_args="--epochs 2 --epoch-ms 5", start=True)
    m.wait_state("done", "ready")
    m.make_job("run", trainer_args="--forever --epoch-ms 20", start=True)
    m.wait_epoch("run", 2)
    os.mkdir(m.job("fresh"))
    assert m.write("fresh", "tags", "keep\n") == 0
    before = {n: m.read("done", n) for n in ("status", "tags", "metrics", "events")}
    m.unmount()
    assert trainer_alive(m, 2), "unmounting killed a trainer"
    m.start()
    assert sorted(os.listdir(m.path("jobs"))) == ["done", "fresh", "run"]
    assert {n: m.read("done", n) for n in before} == before
    assert m.tags("fresh") == ["keep"]
    assert m.state("run") == "running"
    assert m.control("run", "cancel") == 0
    deadline = time.monotonic() + 5
    while trainer_alive(m, 2) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not trainer_alive(m, 2)


@both
def test_trainer_ends_while_unmounted(m):
    m.make_job("j", trainer_args="--epochs 15 --epoch-ms 20", epochs=15, start=True)
    m.wait_epoch("j", 1)
    m.kill9()
    deadline = time.monotonic() + 15  # it finishes with nobody watching
    while trainer_alive(m) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not trainer_alive(m)
    m.start()
    m.wait_state("j", "ready")
    st, kv = m.status("j")
    assert kv["reason"] == "completed" and kv["epoch"] == "15/15"
    assert metrics_epochs(m, "j") == list(range(1, 16))


@both
def test_kill9_while_stopping_and_cancel_after(m):
    m.make_job("j", trainer_args="--forever --epoch-ms 10 --on-term ignore", grace=60,
               start=True)
    m.wait_epoch("j", 1)
    m.control("j", "stop")
    m.kill9()
    m.start()
    st, kv = m.status("j")
    assert st == "stopping" and "kill at" in kv
    assert m.control("j", "cancel") == 0
    m.wait_state("j", "cancelled")
    deadline = time.monotonic() + 5
    while trainer_alive(m) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not trainer_alive(m)


def test_kill9_while_packaging(m):
    m.make_job("j", trainer_args="--epochs 1 --epoch-ms 1 --weights-bytes 200000000",
               compression="gzip", start=True)
    m.wait_state("j", "packaging", timeout=30)
    m.kill9()
    wdir = os.path.join(m.store, "jobs", "1", "weights")
    m.start()
    assert m.state("j") in ("packaging", "ready")
    m.wait_state("j", "ready", timeout=60)
    assert os.listdir(wdir) == ["j.tar.gz"], os.listdir(wdir)  # no temp left
    rc, out, err = sh("tar -tzf %s" % m.job("j", "weights", "j.tar.gz"))
    assert rc == 0 and "weights.bin" in out, err


def test_shim_killed_is_a_clear_failure(m):
    m.make_job("j", trainer_args="--forever --epoch-ms 10", start=True)
    m.wait_epoch("j", 1)
    # Kill the shim (not the trainer): trainfs must notice and clean up.
    for pid in os.listdir("/proc"):
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                cmd = f.read().split(b"\0")
        except OSError:
            continue
        if b"__shim" in cmd and any(m.store.encode() in c for c in cmd):
            os.kill(int(pid), signal.SIGKILL)
    m.wait_state("j", "failed")
    assert "shim" in m.status("j")[1]["error"]
    deadline = time.monotonic() + 5
    while trainer_alive(m) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not trainer_alive(m)
    assert m.control("j", "stop") == errno.EBUSY
