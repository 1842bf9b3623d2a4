"""One trainfs per store, and mount points that are taken or dead (SPEC
"Running it")."""
import errno
import os
import signal
import subprocess
import tempfile
import time

from harness import TRAINFS, errno_of, unmount


def run_trainfs(mnt, store, timeout=15):
    p = subprocess.run([TRAINFS, mnt, "--store", store, "-f"],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    return p.returncode, p.stdout


def test_second_trainfs_on_a_store_exits_at_once(m):
    os.mkdir(m.job("kept"))
    other = tempfile.mkdtemp(prefix="trainfs-test-mnt-")
    try:
        t = time.monotonic()
        rc, out = run_trainfs(other, m.store)
        assert rc != 0, out
        assert time.monotonic() - t < 10
        want = "trainfs: store %s is in use by pid %d" % (m.store, m.proc.pid)
        assert want in out, (want, out)
        assert not os.path.ismount(other)
    finally:
        if os.path.ismount(other):
            unmount(other)
        os.rmdir(other)
    assert os.listdir(m.path("jobs")) == ["kept"]


def test_a_mounted_mount_point_is_refused(m):
    other_store = tempfile.mkdtemp(prefix="trainfs-test-store-")
    try:
        rc, out = run_trainfs(m.mnt, other_store)
        assert rc != 0, out
        assert "already mounted" in out, out
        assert os.listdir(m.path("jobs")) == []  # still the first one's
    finally:
        subprocess.run(["rm", "-rf", other_store])


def test_a_dead_mount_is_cleared_and_mounted_again(m):
    os.mkdir(m.job("survivor"))
    m.proc.send_signal(signal.SIGKILL)
    m.proc.wait(timeout=10)
    m.proc = None
    assert errno_of(os.stat, m.path("jobs")) == errno.ENOTCONN
    m.start()  # the same mount point, left dead
    assert os.listdir(m.path("jobs")) == ["survivor"]
    # Nothing is stacked: one mount at that point.
    with open("/proc/self/mountinfo") as f:
        points = [l.split()[4] for l in f]
    assert points.count(m.mnt) == 1, points.count(m.mnt)
