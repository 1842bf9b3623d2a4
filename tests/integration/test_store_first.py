"""Store first: every user command (start, stop, cancel, resume, restart,
a write of tags) commits to the store before the job changes in memory and
readers see it.  A real store failure is injected: another process holds
an EXCLUSIVE lock on STORE/trainfs.db, so trainfs's transaction cannot
begin.  The write fails with EIO or EBUSY and the job is exactly as it
was (status, control, tags, events, metrics, by-state/, by-tag/, and its
trainer untouched); once the lock is let go the same command works."""
import contextlib
import errno
import os
import sqlite3
import time

FILES = ("status", "control", "tags", "events", "metrics")


@contextlib.contextmanager
def store_held(m):
    """The store's database locked by this process (not trainfs)."""
    db = sqlite3.connect(os.path.join(m.store, "trainfs.db"), timeout=10,
                         isolation_level=None)
    db.execute("BEGIN EXCLUSIVE")
    try:
        yield
    finally:
        db.execute("ROLLBACK")
        db.close()


def seen(m, name):
    """What readers see of job NAME, and of the views over all jobs."""
    views = {}
    for top in ("by-state", "by-tag"):
        for d in sorted(os.listdir(m.path(top))):
            try:
                views[top + "/" + d] = sorted(os.listdir(m.path(top, d)))
            except FileNotFoundError:  # emptied since the listing above
                views[top + "/" + d] = []
    return {f: m.read(name, f) for f in FILES}, views


def fails_then_works(m, name, write):
    """WRITE() (returning an errno) fails with the store held, leaving all
    as it was, then works; returns the seen state of before."""
    before = seen(m, name)
    with store_held(m):
        rc = write()
        during = seen(m, name)
    assert rc in (errno.EIO, errno.EBUSY), errno.errorcode.get(rc, rc)
    assert during == before
    time.sleep(0.3)  # a trainer wrongly signalled would be ending by now
    after = seen(m, name)
    assert after == before, (before, after)
    assert write() == 0, m.read(name, "control")
    assert seen(m, name) != before
    return before


def running_job(m, name):
    """A job whose trainer runs and, after its first epoch, reports
    nothing for a minute."""
    m.make_job(name, trainer_args="--epochs 100 --epoch-ms 60000", start=True)
    m.wait_state(name, "running")
    m.wait_epoch(name, 1)
    return name


def failed_job(m, name):
    m.make_job(name, trainer_args="--epochs 6 --checkpoint-every 1 "
               "--epoch-ms 5 --fail-at 3", monitor="loss", mode="min",
               epochs=6, start=True)
    m.wait_state(name, "failed")
    assert m.write(name, "tags", "mine\n") == 0
    return name


def test_start_that_cannot_be_stored(m):
    m.make_job("j", trainer_args="--epochs 2 --epoch-ms 5")
    fails_then_works(m, "j", lambda: m.control("j", "start"))
    m.wait_state("j", "ready")


def test_stop_that_cannot_be_stored(m):
    running_job(m, "j")
    fails_then_works(m, "j", lambda: m.control("j", "stop"))
    assert m.wait_state("j", ("stopping", "ready")) in ("stopping", "ready")
    m.wait_state("j", "ready")
    assert "stopped-early" in m.tags("j")


def test_cancel_that_cannot_be_stored(m):
    running_job(m, "j")
    fails_then_works(m, "j", lambda: m.control("j", "cancel"))
    assert m.state("j") == "cancelled"
    assert "cancelled" in m.tags("j")


def test_resume_that_cannot_be_stored(m):
    failed_job(m, "j")
    assert "resume" in m.read("j", "control").splitlines()[0]
    fails_then_works(m, "j", lambda: m.control("j", "resume"))
    m.wait_state("j", "ready")
    _, kv = m.status("j")
    assert kv["resumed"] == "from epoch 3", kv
    assert "mine" in m.tags("j") and "failed" not in m.tags("j")


def test_restart_that_cannot_be_stored(m):
    failed_job(m, "j")
    fails_then_works(m, "j", lambda: m.control("j", "restart"))
    assert m.state("j") in ("queued", "running", "failed")
    assert "mine" in m.tags("j")


def test_tags_that_cannot_be_stored(m):
    failed_job(m, "j")
    fails_then_works(m, "j", lambda: m.write("j", "tags", "other\nmore\n"))
    assert sorted(t for t in m.tags("j") if t in ("mine", "other", "more")) \
        == ["more", "other"]
    before = seen(m, "j")
    with store_held(m):  # an append, which clears nothing, alike
        rc = m.write("j", "tags", "third\n", mode="a")
        assert seen(m, "j") == before
    assert rc in (errno.EIO, errno.EBUSY), errno.errorcode.get(rc, rc)
    assert m.write("j", "tags", "third\n", mode="a") == 0
    assert "third" in m.tags("j") and "other" in m.tags("j")


def test_spec_that_cannot_be_stored(m):
    """A spec write is stored first too: the old spec stays in force."""
    m.make_job("j", trainer_args="--epochs 2 --epoch-ms 5")
    m.write("j", "control", "bogus\n")  # a last refusal that stays
    old = m.read("j", "spec")
    before = seen(m, "j")
    with store_held(m):
        rc = m.write("j", "spec", "command = true\n")
        assert seen(m, "j") == before
        assert m.read("j", "spec") == old
    assert rc in (errno.EIO, errno.EBUSY), errno.errorcode.get(rc, rc)
    assert m.read("j", "spec") == old
    assert m.write("j", "spec", "command = true\n") == 0
    assert m.read("j", "spec") == "command = true\n"
