"""One job cannot hurt the others (trainfs(1)): while one job misbehaves in
each way a trainer can (thousands of metric names, a sparse 30 GB metrics
file, 300,000 output files to delete, a full disk), another job's
`status` is read every 20 ms from a thread, and the worst read must stay
under 1 s.  Each test prints the worst and the 99th percentile.
"""
import os
import subprocess
import threading
import time

from harness import PY, unmount, kill_store_processes

LIMIT = 1.0  # seconds: every other request is answered within 1 s


class Probe:
    """Reads jobs/NAME/status every 20 ms (open, read, close) in a thread
    and keeps each read's latency; a read still blocked counts too."""

    def __init__(self, m, name):
        self.path = m.job(name, "status")
        self.lat = []
        self.started = None  # when the read in progress began
        self.quit = threading.Event()
        self.errors = []
        self.t0 = time.monotonic()
        self.t = threading.Thread(target=self.run, daemon=True)
        self.t.start()

    def run(self):
        while not self.quit.is_set():
            self.started = time.monotonic()
            try:
                with open(self.path) as f:
                    f.read()
            except OSError as e:
                self.errors.append(e)
            self.lat.append(time.monotonic() - self.started)
            self.started = None
            time.sleep(0.02)

    def stop(self, what):
        time.sleep(max(0, self.t0 + 0.5 - time.monotonic()))  # some reads at least
        self.quit.set()
        self.t.join(LIMIT * 3)
        lat = sorted(self.lat)
        if self.started is not None:  # still blocked
            lat.append(time.monotonic() - self.started)
        worst = lat[-1] if lat else 0
        p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))] if lat else 0
        print("%s: %d reads, worst %.1f ms, p99 %.1f ms" %
              (what, len(lat), worst * 1000, p99 * 1000))
        assert not self.errors, self.errors[:3]
        assert len(lat) >= 5, "too few reads: %d" % len(lat)
        assert worst < LIMIT, "%s: another job's status took %.2f s" % (what, worst)
        return worst, p99


def script(m, name, text):
    """Writes a trainer script into the test folder; returns its command."""
    p = os.path.join(m.dir, name + ".py")
    with open(p, "w") as f:
        f.write(text)
    os.chmod(p, 0o755)
    return "command = %s %s\n" % (PY, p)


def bystander(m):
    m.make_job("other", trainer_args="--forever --epoch-ms 50 --save end",
               start=True)
    m.wait_epoch("other", 1)
    return "other"


MANY_NAMES = r'''
import os
with open(os.environ["TRAINFS_METRICS"], "a") as f:
    # 40 lines of 6,000 new names each (short names, so each line is under
    # the 64 KiB line limit): the first 1,000 of line 1 are taken, every
    # other pair is left out (a job has at most 1,000 names).
    for e in range(1, 41):
        f.write("epoch=%d " % e + " ".join("k%x=1" % (e * 6000 + i) for i in range(6000)) + "\n")
        f.flush()
    # Many rows of those 1,000, for the table a remount loads again.
    for e in range(41, 541):
        f.write("epoch=%d " % e + " ".join("k%x=%d" % (6000 + i, e) for i in range(1000)) + "\n")
open(os.path.join(os.environ["TRAINFS_OUTPUT"], "w"), "w").write("w")
'''


def test_many_metric_names_do_not_stall_others(m):
    other = bystander(m)
    m.make_job("names", spec=script(m, "names", MANY_NAMES))
    p = Probe(m, other)
    assert m.control("names", "start") == 0
    m.wait_state("names", ("ready", "failed"), timeout=60)
    p.stop("many metric names")
    st, kv = m.status("names")
    assert st == "ready", kv
    assert kv["bad metric lines"] == \
        "40 (last: line 40: too many metric names)", kv
    rows = m.read("names", "metrics").splitlines()
    assert len(rows[0].split(",")) == 1001, rows[0][:200]  # epoch + 1,000
    assert [r.split(",")[0] for r in rows[1:]] == \
        [str(e) for e in range(1, 541)]
    assert rows[1].split(",")[1] == "1" and rows[2] == "2" + "," * 1000
    assert rows[41].split(",")[1:3] == ["41", "41"], rows[41][:100]
    # After a remount, the first look at its graph loads the table: it
    # must not block the other job's readers.
    m.remount()
    p = Probe(m, other)
    t = threading.Thread(target=lambda: os.stat(m.job("names", "graph.svg")))
    t.start()
    t.join(60)
    p.stop("first graph stat after a remount")


SPARSE = r'''
import os
path = os.environ["TRAINFS_METRICS"]
with open(path, "a") as f:
    f.write("epoch=1 loss=1\n")
os.truncate(path, 30 << 30)  # 30 GB of hole: one overlong line of NULs
with open(path, "a") as f:
    f.write("\nepoch=2 loss=0.5\n")
open(os.path.join(os.environ["TRAINFS_OUTPUT"], "w"), "w").write("w")
'''


def test_sparse_metrics_file_costs_its_job_only(m):
    other = bystander(m)
    m.make_job("sparse", spec=script(m, "sparse", SPARSE))
    p = Probe(m, other)
    assert m.control("sparse", "start") == 0
    m.wait_state("sparse", ("ready", "failed"), timeout=100)
    p.stop("sparse 30 GB metrics file")
    st, kv = m.status("sparse")
    assert st == "ready", kv
    assert kv["epoch"] == "2" and kv["bad metric lines"] == \
        "1 (last: line 2: line longer than 64 KiB)", kv


MANY_FILES = r'''
import os, sys, time
out = os.environ["TRAINFS_OUTPUT"]
for d in range(int(sys.argv[2]) // 1000):
    os.mkdir("%s/d%d" % (out, d))
    for i in range(1000):
        os.close(os.open("%s/d%d/f%d" % (out, d, i), os.O_CREAT | os.O_WRONLY))
with open(os.environ["TRAINFS_METRICS"], "a") as f:
    f.write("epoch=1 loss=1\n")
if sys.argv[1] == "fail":
    sys.exit(1)
time.sleep(3600)
'''


# Files in the output of each of the two jobs; the figure in the issue is
# 300,000 (TRAINFS_TEST_FILES=300000), which takes minutes to make on a
# busy machine, so `make test` uses fewer.
FILES = int(os.environ.get("TRAINFS_TEST_FILES", "20000"))


def test_deleting_many_files_does_not_stall_others(m):
    other = bystander(m)
    cmd = script(m, "files", MANY_FILES).rstrip("\n")
    m.make_job("gone", spec=cmd + " fail %d\n" % FILES, start=True)
    m.make_job("cancelled", spec=cmd + " sleep %d\n" % FILES, start=True)
    m.wait_state("gone", "failed", timeout=600)
    m.wait_epoch("cancelled", 1, timeout=600)
    p = Probe(m, other)
    os.rmdir(m.job("gone"))
    time.sleep(0.5)
    p.stop("rmdir of a job with %d files" % FILES)
    p = Probe(m, other)
    assert m.control("cancelled", "cancel") == 0
    m.wait_state("cancelled", "cancelled")
    time.sleep(3)
    p.stop("cancel of a job with %d files" % FILES)
    # The trash is emptied in the background, and nothing is left of them.
    trash = os.path.join(m.store, "trash")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and os.path.isdir(trash) and os.listdir(trash):
        time.sleep(0.2)
    assert not os.path.isdir(trash) or not os.listdir(trash)
    jobs = os.listdir(os.path.join(m.store, "jobs"))
    assert len(jobs) == 2, jobs  # other and cancelled
    for j in jobs:
        assert not os.path.exists(os.path.join(m.store, "jobs", j, "output", "d0"))
    # What a crash left in the trash goes at the next mount.
    os.makedirs(os.path.join(trash, "7.job.1.1", "output", "deep"))
    m.remount()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and os.listdir(trash):
        time.sleep(0.05)
    assert os.listdir(trash) == []


FULL = r'''
import ctypes, os, time
fd = os.open(os.environ["TRAINFS_METRICS"], os.O_WRONLY | os.O_APPEND)
# Space for the lines is taken now, so they can be written on a full disk.
libc = ctypes.CDLL(None, use_errno=True)
assert libc.fallocate(fd, 1, ctypes.c_long(0), ctypes.c_long(4 << 20)) == 0  # KEEP_SIZE
open(os.path.join(os.environ["TRAINFS_OUTPUT"], "w"), "w").write("w")
e = 0
while not os.path.exists(os.environ["TRAINFS_STOP_FILE"]):
    e += 1
    os.write(fd, b"epoch=%d loss=%d pad=%s\n" % (e, e, b"1" * 40))
    time.sleep(0.01)
'''


def test_full_disk_never_loses_shown_metrics(m):
    if os.geteuid() != 0:
        print("SKIP: mounting a tmpfs needs root")
        return
    m.unmount()
    d = os.path.join(m.dir, "tmpfs")
    os.mkdir(d)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m,mode=0755",
                    "tmpfs", d], check=True)
    m.store = os.path.join(d, "store")
    filler = os.path.join(d, "filler")
    try:
        m.start()
        other = bystander(m)
        m.make_job("bob", spec=script(m, "full", FULL) + "grace = 30\n", start=True)
        m.wait_epoch("bob", 20)
        p = Probe(m, other)
        with open(filler, "wb") as f:
            try:
                while True:
                    f.write(b"\0" * (1 << 20))
                    f.flush()
            except OSError:
                pass
        shown = set()
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            shown.update(m.read("bob", "metrics").splitlines()[1:])
            time.sleep(0.05)
        os.unlink(filler)
        p.stop("ingest on a full disk")
        assert "cannot store metrics" in m.log(), m.log()[-2000:]
        assert m.control("bob", "stop") == 0
        m.wait_state("bob", ("ready", "failed"), timeout=60)
        before = m.read("bob", "metrics").splitlines()
        m.remount()
        after = m.read("bob", "metrics").splitlines()
        lost = shown - set(after[1:])
        assert not lost, "%d rows shown before were lost, e.g. %s" % (
            len(lost), sorted(lost)[:3])
        assert after == before
        epochs = [int(r.split(",")[0]) for r in after[1:]]
        assert epochs == list(range(1, len(epochs) + 1)), epochs[:10]
    finally:
        if os.path.exists(filler):
            os.unlink(filler)
        if m.proc:
            unmount(m.mnt)
            try:
                m.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                m.proc.kill()
                m.proc.wait()
            m.proc = None
        kill_store_processes(m.store)
        for _ in range(50):
            if subprocess.run(["umount", d], stderr=subprocess.DEVNULL).returncode == 0:
                break
            time.sleep(0.1)
        else:
            subprocess.run(["umount", "-l", d])
