"""An unmount and a mount again, as a script or a restart does them: the
new trainfs waits for the old one's exit instead of refusing the store,
the events of what happened meanwhile carry the time it happened, and the
log says nothing about what is normal after a remount."""
import datetime
import os
import signal
import subprocess
import threading
import time

from harness import both


def event_times(m, name):
    """(state, seconds since the epoch) of each line of NAME's events."""
    out = []
    for line in m.read(name, "events").splitlines():
        t, state, _ = line.split(" ", 2)
        dt = datetime.datetime.strptime(t, "%Y-%m-%dT%H:%M:%SZ")
        out.append((state, dt.replace(tzinfo=datetime.timezone.utc).timestamp()))
    return out


def exit_recorded(m, job_id=1, timeout=20):
    """Waits for the shim's exit record; returns the time it was seen."""
    path = os.path.join(os.path.dirname(m.trainer_record(job_id)), "exit")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if os.path.exists(path):
            return time.time()
        time.sleep(0.02)
    raise AssertionError("no exit record at %s" % path)


def test_remount_right_after_unmount_waits_for_the_old_trainfs(m):
    m.make_job("j", trainer_args="--forever --epoch-ms 20", start=True)
    m.wait_epoch("j", 1)
    for i in range(5):
        old = m.proc
        subprocess.run(["fusermount3", "-u", m.mnt], check=True)
        # An old trainfs slow to finish its exit (a loaded machine): held
        # still for a moment while the new one starts.
        old.send_signal(signal.SIGSTOP)
        threading.Timer(0.3 + 0.1 * i, old.send_signal,
                        (signal.SIGCONT,)).start()
        m.start()  # fails if the new trainfs exits ("in use by pid N")
        assert old.wait(timeout=10) == 0
        assert m.state("j") == "running", i
    assert "is in use" not in m.log()


def test_a_store_in_use_is_still_refused_at_once(m):
    other = os.path.join(m.dir, "other")
    os.mkdir(other)
    t = time.monotonic()
    p = subprocess.run([m.proc.args[0], other, "--store", m.store, "-f"],
                       stderr=subprocess.PIPE, text=True, timeout=20)
    assert p.returncode != 0
    assert "is in use by pid %d" % m.proc.pid in p.stderr, p.stderr
    assert time.monotonic() - t < 3


@both
def test_an_exit_while_unmounted_keeps_its_time(m):
    m.make_job("j", trainer_args="--epochs 4 --epoch-ms 300", start=True)
    m.wait_epoch("j", 1, timeout=60)
    m.unmount()
    ended = exit_recorded(m, timeout=60)
    time.sleep(2)
    back = time.time()
    m.start()
    m.wait_state("j", "ready", timeout=60)
    ev = dict(event_times(m, "j"))
    assert ev["packaging"] <= ended + 0.5, (ev, ended, back)
    assert ev["ready"] >= int(back), (ev, back)


def test_an_auto_stop_while_unmounted_keeps_its_time(m):
    m.make_job("j", trainer_args="--epochs 100 --epoch-ms 200 "
               "--values 0.5,0.4", start=True, monitor="loss", mode="min",
               patience=2)
    m.wait_epoch("j", 1)
    m.unmount()
    ended = exit_recorded(m)
    time.sleep(2)
    back = time.time()
    m.start()
    m.wait_state("j", "ready")
    ev = event_times(m, "j")
    states = [s for s, _ in ev]
    assert states[-3:] == ["stopping", "packaging", "ready"], ev
    assert ev[-3][1] <= ended + 0.5 and ev[-2][1] <= ended + 0.5, (ev, ended)
    assert ev[-1][1] >= int(back), (ev, back)
    assert "converged" in m.tags("j")


@both
def test_the_log_stays_quiet_across_remounts(m):
    m.make_job("done", trainer_args="--epochs 2 --epoch-ms 1", start=True)
    m.make_job("gone", trainer_args="--forever --epoch-ms 20", start=True)
    m.wait_state("done", "ready", timeout=60)
    m.wait_state("gone", "running", timeout=60)
    assert m.control("gone", "cancel") == 0
    m.wait_state("gone", "cancelled")
    m.make_job("run", trainer_args="--forever --epoch-ms 20", start=True)
    m.wait_state("run", "running", timeout=60)
    for _ in range(3):
        # Readers keep the kernel's inodes of every file alive.
        for j in ("done", "gone", "run"):
            for f in ("status", "metrics", "events", "log"):
                m.read(j, f)
        m.remount()
        time.sleep(0.5)
    log = m.log()
    assert "error" not in log and "warning" not in log, log
