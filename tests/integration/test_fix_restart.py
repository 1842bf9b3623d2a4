"""Fix and restart: the spec is writable when a job is created or final
(ready, failed, cancelled) and EACCES in between; `restart` queues a
ready, failed or cancelled job again, to run from the beginning with the
spec as it is now, clearing metrics, checkpoints, weights, bad metric
lines and the system tags, keeping user tags and the whole history in
events.  Owners matter: the failed job is nobody's, on an allow_other
mount."""
import errno
import os
import shutil
import subprocess
import time

from harness import PY, TRAINER

NOBODY = 65534
DAEMON = 1  # another user who owns nothing here

RESTART_EVENT = " queued restarted"


def as_user(uid, code):
    """Runs Python CODE as UID; returns its stdout, stripped."""
    p = subprocess.run([PY, "-c", code], user=uid, group=uid,
                       extra_groups=[], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True, timeout=30,
                       cwd="/")
    assert p.returncode == 0, p.stderr
    return p.stdout.strip()


def write_as(uid, path, text):
    """Writes TEXT to PATH (truncating) as UID: "0" or the errno's name."""
    return as_user(uid, """
import errno, os
try:
    fd = os.open(%r, os.O_WRONLY | os.O_TRUNC)
    try:
        os.write(fd, %r.encode())
    finally:
        os.close(fd)
    print(0)
except OSError as e:
    print(errno.errorcode[e.errno])
""" % (path, text))


def events(m, name):
    return m.read(name, "events").splitlines()


def metrics_rows(m, name):
    return m.read(name, "metrics").splitlines()[1:]


def test_restart_after_failure_with_a_fixed_spec(m):
    m.remount(["-o", "allow_other"])
    tr = os.path.join(m.dir, "trainer.py")  # readable by nobody
    shutil.copy(TRAINER, tr)
    os.chmod(tr, 0o644)
    j = m.job("typo")
    as_user(NOBODY, "import os; os.mkdir(%r)" % j)
    bad = "command = %s %s --epochs 3 --epoch-ms 5 --bad-lines 1 --exit 3\n" % (PY, tr)
    assert write_as(NOBODY, j + "/spec", bad) == "0"
    assert write_as(NOBODY, j + "/control", "start\n") == "0"
    m.wait_state("typo", "failed")
    state, kv = m.status("typo")
    assert kv["error"].startswith("trainer exited with status 3"), kv
    assert "bad metric lines" in kv and len(metrics_rows(m, "typo")) == 3
    assert write_as(NOBODY, j + "/tags", "mine\n") == "0"
    # Fixed in place by its owner; nobody else may.
    good = "command = %s %s --epochs 2 --epoch-ms 5\nepochs = 2\n" % (PY, tr)
    assert write_as(DAEMON, j + "/spec", good) == "EACCES"
    assert write_as(NOBODY, j + "/spec", good) == "0"
    assert m.state("typo") == "failed"  # a spec write changes no state
    assert write_as(DAEMON, j + "/control", "restart\n") == "EACCES"
    assert write_as(NOBODY, j + "/control", "restart\n") == "0"
    # Between created and final the spec is not writable.
    assert m.state("typo") in ("queued", "running", "stopping", "packaging")
    assert write_as(NOBODY, j + "/spec", bad) == "EACCES"
    m.wait_state("typo", "ready")
    state, kv = m.status("typo")
    assert "error" not in kv and "bad metric lines" not in kv, kv
    assert kv["epoch"] == "2/2"
    assert [r.split(",")[0] for r in metrics_rows(m, "typo")] == ["1", "2"]
    assert set(m.tags("typo")) == {"mine", "completed", "ready"}
    ev = events(m, "typo")
    assert any(" failed " in e for e in ev)  # the history stays
    restarted = [i for i, e in enumerate(ev) if e.endswith(RESTART_EVENT)]
    assert len(restarted) == 1 and ev[restarted[0] + 1].split()[1] == "running"
    assert os.listdir(m.job("typo", "weights")) == ["typo.tar"]
    assert m.read("typo", "spec") == good


def test_restart_after_cancel(m):
    m.make_job("c", trainer_args="--forever --epoch-ms 20 --checkpoint-every 1",
               start=True)
    m.wait_epoch("c", 2)
    assert m.control("c", "cancel") == 0
    # At once: the cancelled trainer may still be ending.
    assert m.control("c", "restart") == 0
    st, kv = m.status("c")
    assert st in ("queued", "running")
    assert "checkpoint" not in kv, kv  # the old run's are gone
    assert "cancelled" not in m.tags("c")
    m.wait_state("c", "running")
    m.wait_epoch("c", 1)
    assert m.control("c", "stop") == 0
    m.wait_state("c", "ready")
    assert os.listdir(m.job("c", "weights")) == ["c.tar"]
    ev = [e.split(" ", 1)[1] for e in events(m, "c")]
    assert "cancelled cancel requested" in ev and "queued restarted" in ev


def test_restart_of_a_ready_job_clears_its_outcome(m):
    m.make_job("r", trainer_args="--epochs 3 --epoch-ms 5 --checkpoint-every 1",
               epochs=3, monitor="loss", mode="min", start=True)
    m.wait_state("r", "ready")
    st, kv = m.status("r")
    assert kv["checkpoint"] == "epoch 3" and "weights" in kv
    assert m.write("r", "tags", "keep-me\n") == 0
    # The spec of a ready job can be changed, then restarted with it.
    assert m.write("r", "spec", "command = %s %s --forever --epoch-ms 30\n"
                   % (PY, TRAINER)) == 0
    assert m.control("r", "restart") == 0
    st, kv = m.status("r")
    assert st in ("queued", "running")
    for gone in ("weights", "checkpoint", "reason", "weights from", "best",
                 "epoch"):
        assert gone not in kv, (gone, kv)
    assert os.listdir(m.job("r", "weights")) == []
    assert set(m.tags("r")) == {"keep-me"}
    assert metrics_rows(m, "r") == [] or \
        metrics_rows(m, "r")[0].startswith("1,")
    m.wait_state("r", "running")
    assert m.control("r", "restart") == errno.EBUSY
    assert "restart" not in m.read("r", "control").splitlines()[0]
    assert m.write("r", "spec", "command = true\n") == errno.EACCES
    # After a remount too: what the restart cleared stays cleared.
    m.remount()
    st, kv = m.status("r")
    assert "checkpoint" not in kv and set(m.tags("r")) == {"keep-me"}
    assert m.control("r", "cancel") == 0


def test_restart_refusals(m):
    m.make_job("j", trainer_args="--epochs 1 --epoch-ms 5")
    assert m.control("j", "restart") == errno.EBUSY  # created: start it
    assert m.control("j", "start") == 0
    m.wait_state("j", "ready")
    assert m.read("j", "control").startswith("allowed: restart\n")
    # A bad spec is stored, and refuses the restart: the job stays ready.
    assert m.write("j", "spec", "command = x\nepoch = 3\n") == errno.EINVAL
    assert m.control("j", "restart") == errno.EINVAL
    assert m.state("j") == "ready"
    assert "last refused: 'restart': spec line 2: unknown key 'epoch'" in \
        m.read("j", "control")
    assert os.listdir(m.job("j", "weights")) == ["j.tar"]
    assert not any(e.endswith(RESTART_EVENT) for e in events(m, "j"))


def test_a_stop_with_nothing_to_pack_says_so(m):
    m.make_job("n", trainer_args="--forever --epoch-ms 10 --on-term die "
               "--save none", start=True)
    m.wait_epoch("n", 1)
    assert m.control("n", "stop") == 0
    m.wait_state("n", "failed")
    assert m.status("n")[1]["error"] == \
        "no weights were saved (stopped before the trainer saved any)"
    # restart mends it.
    assert m.write("n", "spec", "command = %s %s --epochs 1 --epoch-ms 5\n"
                   % (PY, TRAINER)) == 0
    assert m.control("n", "restart") == 0
    m.wait_state("n", "ready")
    assert set(m.tags("n")) == {"completed", "ready"}


def test_a_restart_that_cannot_be_stored_changes_nothing(m):
    """The store first: with the database locked by another process, the
    restart fails and the job is exactly as it was, in memory and after a
    remount."""
    import sqlite3
    m.make_job("f", trainer_args="--epochs 2 --epoch-ms 5 --exit 3",
               start=True)
    m.wait_state("f", "failed")
    assert m.write("f", "tags", "mine\n") == 0
    files = ("status", "tags", "metrics", "events", "control")
    before = {f: m.read("f", f) for f in files}
    db = sqlite3.connect(os.path.join(m.store, "trainfs.db"), timeout=10,
                         isolation_level=None)
    db.execute("BEGIN EXCLUSIVE")
    try:
        rc = m.control("f", "restart")
    finally:
        db.execute("ROLLBACK")
        db.close()
    assert rc != 0
    assert {f: m.read("f", f) for f in files} == before
    m.remount()
    assert {f: m.read("f", f) for f in files} == before
    assert m.control("f", "restart") == 0  # and it can be done now
    assert m.state("f") in ("queued", "running", "failed")
