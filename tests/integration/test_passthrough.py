"""Weights and the log read by FUSE passthrough (libfuse 3.17+, the
kernel's CONFIG_FUSE_PASSTHROUGH, CAP_SYS_ADMIN), or by splice where any of
those is missing: the same bytes either way, and `trainfs --version` and
the mount's log say which.

Which path a mount uses is told apart for real: with passthrough the kernel
reads the store's file itself, so a read through the mount completes while
trainfs is stopped (SIGSTOP); with splice it waits for trainfs."""
import ctypes
import gzip
import mmap
import os
import re
import signal
import subprocess
import threading
import time

import harness
from harness import PY, TRAINER, sh

MIB = 1 << 20


def version_lines():
    out = subprocess.run([harness.TRAINFS, "--version"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, timeout=10)
    assert out.returncode == 0, out.stderr
    return out.stdout.splitlines()


def compiled_in():
    """Whether this trainfs has passthrough, from --version."""
    lines = version_lines()
    pt = [l for l in lines if l.startswith("passthrough: ")]
    assert len(pt) == 1, lines
    return pt[0].startswith("passthrough: compiled in")


def kernel_has_passthrough():
    try:
        with gzip.open("/proc/config.gz", "rt") as f:
            return "CONFIG_FUSE_PASSTHROUGH=y" in f.read()
    except OSError:
        return None  # unknown


def expect_passthrough():
    """Whether a mount by this test run should use passthrough."""
    return compiled_in() and os.geteuid() == 0 and kernel_has_passthrough() is not False


def read_path_logged(m):
    """The mount's "reads of weights: ..." line (waits for it briefly)."""
    deadline = time.monotonic() + 5
    while True:
        found = re.findall(r"reads of weights: (.*)", m.log())
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def ready_job(m, name, size):
    m.make_job(name, trainer_args="--epochs 2 --epoch-ms 5 --weights-bytes %d" % size,
               start=True, epochs=2)
    m.wait_state(name, "ready", timeout=60)
    tar = m.job(name, "weights", name + ".tar")
    jobs = os.path.join(m.store, "jobs")
    stored = [os.path.join(jobs, j, "weights", name + ".tar") for j in os.listdir(jobs)]
    stored = [p for p in stored if os.path.exists(p)]
    assert len(stored) == 1, stored
    return tar, stored[0]


def read_while_stopped(m, fd, size):
    """Reads SIZE bytes of FD (open on the mount) while trainfs is stopped;
    returns whether the read finished before trainfs was let go again.
    Whatever the mount's page cache holds of it is dropped first."""
    done = threading.Event()
    got = []
    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)

    def reader():
        got.append(os.pread(fd, size, 0))
        done.set()

    os.kill(m.proc.pid, signal.SIGSTOP)
    try:
        t = threading.Thread(target=reader, daemon=True)
        t.start()
        finished = done.wait(3)
    finally:
        os.kill(m.proc.pid, signal.SIGCONT)
    t.join(10)
    assert got and len(got[0]) == size
    return finished


class UnprivilegedMount:
    """trainfs without CAP_SYS_ADMIN (which passthrough needs): this test
    mounts (mount(2) with an open /dev/fuse, as fusermount3 does) and hands
    the descriptor to trainfs as /dev/fd/N, run by setpriv with CAP_SYS_ADMIN
    out of its capability sets."""

    def __init__(self, m):
        self.dir = m.dir
        self.mnt = os.path.join(m.dir, "mnt-nocap")
        self.store = os.path.join(m.dir, "store-nocap")
        self.log_path = os.path.join(m.dir, "trainfs-nocap.log")
        os.mkdir(self.mnt)
        self.proc = None
        fd = os.open("/dev/fuse", os.O_RDWR)
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            opts = ("fd=%d,rootmode=40000,user_id=0,group_id=0,"
                    "default_permissions" % fd)
            if libc.mount(b"trainfs", self.mnt.encode(), b"fuse.trainfs",
                          ctypes.c_ulong(2 | 4),  # MS_NOSUID | MS_NODEV
                          opts.encode()) != 0:
                e = ctypes.get_errno()
                raise OSError(e, "mount: " + os.strerror(e))
            with open(self.log_path, "ab") as log:
                self.proc = subprocess.Popen(
                    ["setpriv", "--inh-caps=-sys_admin",
                     "--bounding-set=-sys_admin", harness.TRAINFS,
                     "/dev/fd/%d" % fd, "--store", self.store, "-f"],
                    stdout=log, stderr=log, stdin=subprocess.DEVNULL,
                    pass_fds=(fd,))
        finally:
            os.close(fd)
        deadline = time.monotonic() + 10
        while not os.path.isdir(os.path.join(self.mnt, "jobs")):
            assert self.proc.poll() is None and time.monotonic() < deadline, \
                self.log()
            time.sleep(0.05)

    def log(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def close(self):
        harness.unmount(self.mnt)
        if self.proc:
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        harness.kill_store_processes(self.store)


def test_version_says_libfuse_and_passthrough(m):
    lines = version_lines()
    assert re.fullmatch(r"trainfs \S+", lines[0]), lines
    v = re.fullmatch(r"libfuse (\d+)\.(\d+)\S* \(built against (\d+)\.(\d+)\)", lines[1])
    assert v, lines
    built = (int(v.group(3)), int(v.group(4)))
    # Passthrough is compiled in exactly when the headers were 3.17+.
    assert compiled_in() == (built >= (3, 17)), lines
    # The mount says which path it took, and why when it is splice.
    logged = read_path_logged(m)
    assert len(logged) == 1, m.log()
    if expect_passthrough():
        assert logged[0] == "passthrough", logged
    else:
        assert logged[0].startswith("splice ("), logged


def test_tarball_through_the_mount_is_the_stored_file(m):
    tar, stored = ready_job(m, "w", 24 * MIB + 12345)
    with open(stored, "rb") as f:
        want = f.read()
    assert len(want) > 24 * MIB
    # read(2) in big and odd pieces, twice (page cache or not)
    for bs in (1 << 20, 65536 + 17):
        with open(tar, "rb", buffering=0) as f:
            chunks = []
            while True:
                b = f.read(bs)
                if not b:
                    break
                chunks.append(b)
        assert b"".join(chunks) == want
    # two opens at once (one backing file shared), pread at odd offsets, mmap
    fa = os.open(tar, os.O_RDONLY)
    fb = os.open(tar, os.O_RDONLY)
    try:
        for off in (0, 1, 4095, 4097, 7 * MIB + 3, len(want) - 10):
            assert os.pread(fa, 100000, off) == want[off:off + 100000], off
            assert os.pread(fb, 333, off) == want[off:off + 333], off
        assert os.pread(fa, 10, len(want)) == b""
        assert os.fstat(fa).st_size == len(want)
        with mmap.mmap(fb, 0, prot=mmap.PROT_READ) as mm:
            assert mm[:] == want
    finally:
        os.close(fa)
        os.close(fb)
    # closed and opened again; cat, and a hash by a separate program
    rc, out, err = sh("cat %s | sha256sum; sha256sum < %s" % (tar, stored))
    assert rc == 0 and out.split()[0] == out.split()[2], (out, err)
    # tar reads it as an archive
    rc, out, err = sh("tar -tf %s" % tar)
    assert rc == 0 and "weights.bin" in out.split(), err


def test_which_path_reads_the_tarball(m):
    """Passthrough: the kernel reads without trainfs.  Splice: trainfs
    answers each read, and reading still gives the stored bytes."""
    tar, stored = ready_job(m, "p", 4 * MIB)
    with open(stored, "rb") as f:
        want = f.read()
    fd = os.open(tar, os.O_RDONLY)
    try:
        finished = read_while_stopped(m, fd, len(want))
        if finished and not expect_passthrough():
            finished = read_while_stopped(m, fd, len(want))  # once more
        assert os.pread(fd, len(want), 0) == want
    finally:
        os.close(fd)
    assert finished == expect_passthrough(), (finished, read_path_logged(m))


def test_log_grows_under_a_reader(m):
    """`tail -f`: an open log keeps showing what the trainer appends, and
    its size in stat is the file's."""
    m.make_job("l", trainer_args="--forever --epoch-ms 50 --print", start=True)
    m.wait_epoch("l", 1)
    log = m.job("l", "log")
    stored = os.path.join(m.store, "jobs", "1", "log")
    tail = subprocess.Popen(["tail", "-n", "+1", "-f", "-s", "0.1", log],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    fd = os.open(log, os.O_RDONLY)
    try:
        first = b""
        while True:
            b = os.read(fd, 65536)
            if not b:
                break
            first += b
        with open(stored, "rb") as f:
            assert f.read().startswith(first) and first
        marker = b"passthrough-marker %d\n" % os.getpid()
        with open(stored, "ab") as f:
            f.write(marker)
        # the same descriptor reads on past its old end
        deadline = time.monotonic() + 10
        more = b""
        while marker not in more and time.monotonic() < deadline:
            more += os.read(fd, 65536)
            time.sleep(0.02)
        assert marker in more
        with open(stored, "rb") as f:
            now = f.read()
        assert now.startswith(first + more)
        assert os.stat(log).st_size >= len(first + more)
        # tail -f sees it too
        seen = b""
        deadline = time.monotonic() + 10
        os.set_blocking(tail.stdout.fileno(), False)
        while marker not in seen and time.monotonic() < deadline:
            try:
                seen += os.read(tail.stdout.fileno(), 65536) or b""
            except BlockingIOError:
                time.sleep(0.05)
        assert marker in seen, seen[-500:]
    finally:
        os.close(fd)
        tail.kill()
        tail.wait()
    assert m.control("l", "cancel") == 0
    m.wait_state("l", "cancelled")


def test_without_cap_sys_admin_weights_read_by_splice(m):
    """The fallback in any build: trainfs without CAP_SYS_ADMIN says why it
    splices, and the tarball reads back whole."""
    u = UnprivilegedMount(m)
    try:
        with open("/proc/%d/status" % u.proc.pid) as f:
            caps = [l for l in f if l.startswith("CapEff:")][0]
        assert not (int(caps.split()[1], 16) >> 21) & 1, caps  # no CAP_SYS_ADMIN
        mm = harness.Mount.__new__(harness.Mount)  # its helpers, on this mount
        mm.mnt, mm.store = u.mnt, u.store
        tar, stored = ready_job(mm, "n", 3 * MIB)
        logged = read_path_logged(u)
        assert len(logged) == 1 and logged[0].startswith("splice ("), u.log()
        if compiled_in():
            assert "CAP_SYS_ADMIN" in logged[0], logged
        with open(stored, "rb") as f:
            want = f.read()
        fd = os.open(tar, os.O_RDONLY)
        try:
            # trainfs answers each read (once more if the machine was slow
            # to stop it)
            assert not (read_while_stopped(u, fd, len(want)) and
                        read_while_stopped(u, fd, len(want)))
        finally:
            os.close(fd)
        with open(tar, "rb") as f:
            assert f.read() == want
    finally:
        u.close()
