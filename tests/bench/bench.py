#!/usr/bin/env python3
"""The trainfs benchmark behind `make bench`.

Mounts trainfs on fresh stores, measures each figure of the performance
issue together with its native baseline in the same run, and prints one
line per figure:

    figure   trainfs   native   ratio   target   met|MISSED

Each number is the median of several repetitions.  The results are also
appended to bench-results/results.csv (git-ignored; one row per figure,
with time, git commit, host and CPU) so that runs can be compared.  A
missed target never fails: the exit status is 0 unless a figure could not
be measured at all (then 1: something is broken, not slow).

  python3 tests/bench/bench.py --trainfs ./trainfs [--quick] [-k PATTERNS]

  --quick      100 MiB instead of 1 GiB, 1,000 jobs instead of 10,000,
               fewer repetitions: a smoke run of a few tens of seconds
  -k P1,P2     only the figures whose key contains one of the patterns
               (keys: openread stat lsl lsl-cold rss-mount rss-full mount
               read-first read-second pack pack-zstd stop-signal
               metrics-latency ingest ingest-file ingest-csv ingest-tfevents
               isolation-tfevents isolation isolation-p99 summary index
               prune pack-ckpt slurm-start slurm-stop slurm-end slurm-watch)
  --reps N     repetitions of each figure (default 5, 3 with --quick;
               each repetition of the tarball figures is a new SIZE job)
  --csv PATH   where to append the results (default bench-results/results.csv)
  --list       print the figure keys and exit

Tight loops (open+read+close, stat, ls -l, big reads) run in the C helper
tests/bench/loop.c so no interpreter overhead hides the filesystem's.
Native baselines use tmpfs (/dev/shm) for small files and folders, and the
store's own disk for the tarball, metrics and tar baselines.  Stores with
many jobs are generated directly in SQLite by tests/bench/genstore.py.

Everything mounted is unmounted and every process started is killed, also
on failure or Ctrl-C (trainers and shims outlive trainfs by design, so they
are found by the store path, as tests/integration/harness.py does).
"""
import argparse
import csv
import datetime
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
sys.path.insert(0, HERE)
import harness  # noqa: E402  (kill_store_processes, unmount, fuse_mounts)
import genstore  # noqa: E402

TMP_PREFIX = "trainfs-bench-"
MIB = 1 << 20
GIB = 1 << 30

# ---- the figures ------------------------------------------------------------
#
# key -> (label, unit, kind, limit).  kind says how the target is judged:
#   "ratio<="  trainfs/native at most LIMIT (times: lower is better)
#   "ratio>="  trainfs/native at least LIMIT (throughputs)
#   "abs<"     the trainfs number under LIMIT (in UNIT)
#   "abs>="    the trainfs number at least LIMIT
FIGURES = [
    ("openread", "open+read+close status (x10k)", "us/op", "ratio<=", 3),
    ("stat", "stat of a job file", "us/op", "ratio<=", 2),
    ("lsl", "ls -l jobs/ (N jobs), warm", "ms", "ratio<=", 5),
    ("lsl-cold", "ls -l jobs/ (N jobs), first after mount", "ms",
     "ratio<=", 5),
    ("read-first", "first read of SIZE weights tarball", "MiB/s",
     "ratio>=", 0.5),
    ("read-second", "second read of it", "MiB/s", "ratio>=", 0.9),
    ("pack", "stop until weights/ shows SIZE tarball", "s", "ratio<=", 1),
    ("pack-zstd", "same, compression = zstd (vs tar --zstd)", "s",
     "ratio<=", 1),
    ("stop-signal", "echo stop > control until trainer has signal", "ms",
     "abs<", 5),
    ("metrics-latency", "metrics line appended until visible", "ms",
     "abs<", 100),
    ("ingest", "metrics ingest (LINES lines)", "lines/s", "abs>=", 100000),
    ("rss-mount", "RSS, N jobs x E epochs, after mount", "MiB", "abs<", 64),
    ("rss-full", "RSS, after ls -l + every status read", "MiB", "abs<", 64),
    ("mount", "mount time, store of N jobs", "s", "abs<", 1),
    ("summary", "read of summary.csv, N jobs, after a change", "ms",
     "abs<", 50),
    ("index", "read of index.html, N jobs, after a change", "ms",
     "abs<", 100),
    ("ingest-file", "metrics file ingest, written before (ROWS lines)",
     "lines/s", "abs>=", 100000),
    ("ingest-csv", "metrics_from CSV ingest (ROWS rows)", "rows/s", "abs>=",
     100000),
    ("ingest-tfevents", "metrics_from TensorBoard ingest (RECS records)",
     "records/s", "abs>=", 50000),
    ("isolation-tfevents", "another job's status while one reads a 100 MB "
     "event file, worst", "ms", "abs<", 100),
    ("isolation", "another job's status while one misbehaves, worst", "ms",
     "abs<", 100),
    ("isolation-p99", "same, 99th percentile", "ms", "abs<", 100),
    ("prune", "EPOCHS epochs, a checkpoint each, pruned to 1 (start to "
     "ready)", "s", "ratio<=", 1.5),
    ("pack-ckpt", "stop until weights/ shows a SIZE best checkpoint", "s",
     "ratio<=", 1),
    # Slurm (private one-node cluster) in the trainfs column, the local
    # executor in the native one; skipped without root and the packages.
    ("slurm-start", "Slurm: echo start until the trainer runs (vs local)",
     "ms", "abs<", 10000),
    ("slurm-stop", "Slurm: echo stop until the trainer has the signal",
     "ms", "abs<", 2000),
    ("slurm-end", "Slurm: trainer's end until ready (vs local)", "ms",
     "abs<", 5000),
    ("slurm-watch", "Slurm: one watch round (squeue), all jobs vs one",
     "ms", "abs<", 1000),
]
FIG = {f[0]: f for f in FIGURES}


def target_text(kind, limit, unit):
    if kind == "ratio<=":
        return "<= %gx" % limit
    if kind == "ratio>=":
        return ">= %gx" % limit
    if kind == "abs<":
        return "< %g %s" % (limit, unit)
    return ">= %s %s" % (fmt_num(limit), unit)


def fmt_num(v):
    if v is None:
        return "n/a"
    a = abs(v)
    if a >= 10000:
        return "{:,.0f}".format(v)
    if a >= 100:
        return "%.0f" % v
    if a >= 10:
        return "%.1f" % v
    if a >= 1:
        return "%.2f" % v
    return "%.3f" % v


class Result:
    def __init__(self, key, label, unit):
        self.key, self.label, self.unit = key, label, unit
        self.trainfs = self.native = None
        self.t_samples, self.n_samples = [], []
        self.error = None
        self.note = ""

    def set(self, t_samples, n_samples=None, note=""):
        self.t_samples = list(t_samples)
        self.n_samples = list(n_samples or [])
        self.trainfs = statistics.median(self.t_samples) if self.t_samples else None
        self.native = statistics.median(self.n_samples) if self.n_samples else None
        self.note = note

    @property
    def ratio(self):
        if self.trainfs is None or not self.native:
            return None
        return self.trainfs / self.native

    def verdict(self):
        if self.error:
            return "ERROR"
        _, _, _, kind, limit = FIG[self.key]
        if self.trainfs is None:
            return "n/a"
        if kind == "ratio<=":
            ok = self.ratio is not None and self.ratio <= limit
        elif kind == "ratio>=":
            ok = self.ratio is not None and self.ratio >= limit
        elif kind == "abs<":
            ok = self.trainfs < limit
        else:
            ok = self.trainfs >= limit
        return "met" if ok else "MISSED"


class Results(dict):
    """The selected figures' Results; a figure not selected (-k) still
    takes what a phase measures anyway, into a Result that is dropped."""

    def __missing__(self, key):
        return Result(key, key, "")


# ---- helpers ----------------------------------------------------------------

T0 = time.monotonic()


def log(msg):
    sys.stderr.write("[%5.1fs] %s\n" % (time.monotonic() - T0, msg))
    sys.stderr.flush()


class BenchError(Exception):
    pass


def run_loop(cfg, *args, timeout=600):
    """Runs the C helper; returns its key=value output as a dict of floats."""
    p = subprocess.run([cfg.loop] + [str(a) for a in args],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, timeout=timeout)
    if p.returncode != 0:
        raise BenchError("loop %s: %s" % (" ".join(map(str, args)),
                                          p.stderr.strip()))
    out = {}
    for field in p.stdout.split():
        k, _, v = field.partition("=")
        out[k] = float(v)
    return out


def wait_for(pred, timeout, what, interval=0.001):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(interval)
    raise BenchError("timed out after %gs waiting for %s" % (timeout, what))


def read_text(path):
    with open(path) as f:
        return f.read()


def write_once(path, text):
    """One open + write + close, as `echo text > path` does."""
    fd = os.open(path, os.O_WRONLY | os.O_TRUNC)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def rss_mib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    raise BenchError("no VmRSS for pid %d" % pid)


def store_version(store):
    import sqlite3
    db = sqlite3.connect("file:%s?mode=ro" % os.path.join(store, "trainfs.db"),
                         uri=True)
    try:
        return db.execute("PRAGMA user_version").fetchone()[0]
    finally:
        db.close()


def exists_file(path):
    return os.path.exists(path) and os.path.getsize(path) > 0


# ---- mounts -----------------------------------------------------------------

class Mount:
    """trainfs MNT --store STORE -f, owned by this run."""

    live = []  # every Mount not yet closed, for the final cleanup

    def __init__(self, cfg, base, args=(), env=None):
        self.cfg = cfg
        self.args = list(args)
        self.env = env
        self.dir = base
        self.mnt = os.path.join(base, "mnt")
        self.store = os.path.join(base, "store")
        self.log_path = os.path.join(base, "trainfs.log")
        os.makedirs(self.mnt, exist_ok=True)
        self.proc = None
        Mount.live.append(self)

    def start(self, expect_jobs=None, timeout=60):
        """Spawns trainfs; returns seconds from spawn until jobs/ is
        listable (with EXPECT_JOBS entries when given)."""
        jobs = os.path.join(self.mnt, "jobs")
        with open(self.log_path, "ab") as logf:
            t0 = time.monotonic()
            self.proc = subprocess.Popen(
                [self.cfg.trainfs, self.mnt, "--store", self.store, "-f"]
                + self.args,
                stdout=logf, stderr=logf, stdin=subprocess.DEVNULL,
                env=self.env)
        deadline = t0 + timeout
        while True:
            try:
                names = os.listdir(jobs)
                if expect_jobs is None or len(names) >= expect_jobs:
                    return time.monotonic() - t0
            except OSError:
                pass
            if self.proc.poll() is not None:
                raise BenchError("trainfs exited with %d:\n%s" % (
                    self.proc.returncode, self.log()[-3000:]))
            if time.monotonic() > deadline:
                raise BenchError("mount did not come up in %ds" % timeout)
            time.sleep(0.001)

    def unmount(self):
        if self.proc is None:
            return
        subprocess.run(["fusermount3", "-u", self.mnt],
                       stderr=subprocess.DEVNULL)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None
        if os.path.ismount(self.mnt):
            harness.unmount(self.mnt)

    def close(self):
        if os.path.ismount(self.mnt):
            harness.unmount(self.mnt)
        if self.proc is not None:
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None
        harness.kill_store_processes(self.store)
        if self in Mount.live:
            Mount.live.remove(self)

    def log(self):
        try:
            return read_text(self.log_path)
        except OSError:
            return ""

    def job(self, name, *parts):
        return os.path.join(self.mnt, "jobs", name, *parts)

    def make_job(self, name, spec, start=True):
        os.mkdir(self.job(name))
        write_once(self.job(name, "spec"), spec)
        if start:
            write_once(self.job(name, "control"), "start\n")

    def state(self, name):
        return read_text(self.job(name, "status")).split("\n", 1)[0]

    def wait_final(self, name, timeout):
        """Blocks in a read of `wait` (answered when the job is final)."""
        box = {}

        def reader():
            try:
                box["text"] = read_text(self.job(name, "wait"))
            except OSError as e:
                box["error"] = e
        th = threading.Thread(target=reader, daemon=True)
        th.start()
        th.join(timeout)
        if th.is_alive():
            raise BenchError("job %s not final after %gs:\n%s" % (
                name, timeout, read_text(self.job(name, "status"))))
        if "error" in box:
            raise BenchError("reading %s/wait: %s" % (name, box["error"]))
        return box["text"]

    def remove_job(self, name, timeout=60):
        st = self.state(name)
        if st in ("created", "ready", "cancelled", "failed"):
            os.rmdir(self.job(name))
            return
        if st in ("queued", "running", "stopping", "packaging"):
            try:
                write_once(self.job(name, "control"), "cancel\n")
            except OSError:
                pass
        wait_for(lambda: self.state(name) in ("ready", "cancelled", "failed"),
                 timeout, "job %s to end" % name, 0.02)
        os.rmdir(self.job(name))


def cleanup_stale():
    """Unmounts and kills what an earlier, interrupted bench run left."""
    for parent in (tempfile.gettempdir(), "/dev/shm"):
        try:
            names = os.listdir(parent)
        except OSError:
            continue
        mounts = harness.fuse_mounts()
        for d in names:
            d = os.path.join(parent, d)
            if not os.path.basename(d).startswith(TMP_PREFIX) or \
                    harness.run_alive(d):
                continue
            for sub in ("big", "live"):
                m = os.path.join(d, sub, "mnt")
                if m in mounts:
                    harness.unmount(m)
                harness.kill_store_processes(os.path.join(d, sub, "store"))
            shutil.rmtree(d, ignore_errors=True)


# ---- the phases -------------------------------------------------------------

def paired(cfg, trainfs_fn, native_fn):
    """cfg.reps measurements of each, alternating, so that both see the
    same machine (others' work on it comes and goes)."""
    t, n = [], []
    for _ in range(cfg.reps):
        t.append(trainfs_fn())
        n.append(native_fn())
    return t, n


def phase_bigstore(cfg, res, sel):
    """A store of N finished jobs x E epochs: mount time, RSS, ls -l,
    open+read+close and stat of status, each against tmpfs."""
    base = os.path.join(cfg.dir, "big")
    m = Mount(cfg, base)
    try:
        log("generating a store of %d jobs x %d epochs" % (cfg.jobs, cfg.epochs))
        try:
            genstore.generate(m.store, cfg.jobs, cfg.epochs)
        except genstore.SchemaMismatch as e:
            raise BenchError(str(e))
        # The first mount upgrades the schema-1 store to trainfs's current
        # schema (untimed): the timed mounts see trainfs's own format.
        up = m.start(expect_jobs=cfg.jobs, timeout=300)
        m.unmount()
        version = store_version(m.store)
        if version < genstore.SCHEMA_VERSION:
            raise BenchError("trainfs left the store at schema version %d"
                             % version)
        log("first mount (schema 1 -> %d): %.3f s" % (version, up))
        os.sync()

        # mount time, and the first ls -l after each mount (cold caches)
        mount_s, cold_ms, rss_mount = [], [], []
        for i in range(cfg.reps):
            mount_s.append(m.start(expect_jobs=cfg.jobs))
            time.sleep(0.2)  # let it settle: what it holds once idle
            rss_mount.append(rss_mib(m.proc.pid))
            if "lsl-cold" in sel:
                cold_ms.append(run_loop(cfg, "lsl", m.job(""))["ns"] / 1e6)
            if i < cfg.reps - 1:
                m.unmount()
        log("mount: %s s" % ", ".join("%.3f" % v for v in mount_s))

        # native baselines on tmpfs: a folder of N folders, a file like status
        shm = cfg.shm
        nat_jobs = os.path.join(shm, "jobs")
        os.mkdir(nat_jobs)
        for i in range(cfg.jobs):
            os.mkdir(os.path.join(nat_jobs, "job%05d" % i))
        status_path = m.job("job00000", "status")
        status_text = read_text(status_path)
        nat_status = os.path.join(shm, "status")
        with open(nat_status, "w") as f:
            f.write(status_text)

        res["rss-mount"].set(rss_mount)
        res["mount"].set(mount_s, note="made as schema 1 by genstore.py, "
                         "upgraded to %d by an untimed first mount (%.2f s)"
                         % (version, up))
        if "lsl" in sel or "lsl-cold" in sel or "rss-full" in sel:
            lsl_t, lsl_n = paired(
                cfg, lambda: run_loop(cfg, "lsl", m.job(""))["ns"] / 1e6,
                lambda: run_loop(cfg, "lsl", nat_jobs)["ns"] / 1e6)
            res["lsl"].set(lsl_t, lsl_n)
            res["lsl-cold"].set(cold_ms, lsl_n)
            log("ls -l: %s ms" % ", ".join("%.1f" % v for v in lsl_t))
        if "rss-full" in sel:
            # after ls -l (above), every job's status read once
            for i in range(cfg.jobs):
                read_text(m.job("job%05d" % i, "status"))
            res["rss-full"].set([rss_mib(m.proc.pid)])
            log("read every status: RSS %.1f MiB" % res["rss-full"].trainfs)
        for key, name in (("summary", "summary.csv"), ("index", "index.html")):
            if key not in sel:
                continue
            # A tag written first, so each read renders afresh (an
            # unchanged dashboard is served from its last rendering).
            t = []
            for i in range(cfg.reps):
                with open(m.job("job00000", "tags"), "w") as f:
                    f.write("bench%d\n" % i)
                t0 = time.perf_counter()
                size = len(read_text(os.path.join(m.mnt, name)))
                t.append((time.perf_counter() - t0) * 1e3)
            res[key].set(t, note="%d bytes" % size)
            log("%s: %s ms" % (name, ", ".join("%.1f" % v for v in t)))
        if "openread" not in sel and "stat" not in sel:
            return

        def per_op(cmd, path, n):
            return lambda: run_loop(cfg, cmd, path, n)["ns_per_op"] / 1e3
        n = cfg.openread_n
        t, nat = paired(cfg, per_op("openread", status_path, n),
                        per_op("openread", nat_status, n))
        res["openread"].set(t, nat, "%d B file" % len(status_text.encode()))
        log("open+read+close: %s us" % ", ".join("%.1f" % v for v in t))
        n = cfg.stat_n
        t, nat = paired(cfg, per_op("stat", status_path, n),
                        per_op("stat", nat_status, n))
        res["stat"].set(t, nat)
    finally:
        m.close()
        shutil.rmtree(os.path.join(cfg.shm, "jobs"), ignore_errors=True)
        shutil.rmtree(base, ignore_errors=True)


def phase_signal(cfg, m, res):
    """echo stop > control until the trainer's SIGTERM handler runs, vs
    kill() of a child running the same handler."""
    d = os.path.join(cfg.dir, "sig")
    os.makedirs(d, exist_ok=True)
    names = ["sig%02d" % i for i in range(cfg.stops)]
    for n in names:
        m.make_job(n, "command = %s sigtrainer %s/%s.rec\ngrace = 30\n"
                   % (cfg.loop, d, n))
    for n in names:
        wait_for(lambda: os.path.exists("%s/%s.rec.ready" % (d, n)), 60,
                 "trainer %s to start" % n)
    lat = []
    for n in names:
        rec = "%s/%s.rec" % (d, n)
        t0 = time.monotonic_ns()
        write_once(m.job(n, "control"), "stop\n")
        wait_for(lambda: exists_file(rec), 30, "trainer %s's signal" % n)
        lat.append((int(read_text(rec)) - t0) / 1e6)
        m.wait_final(n, 60)  # one stop at a time: nothing else going on
    for n in names:
        m.remove_job(n)

    nat = []
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRAINFS_")}
    for i in range(cfg.stops):
        rec = "%s/native%02d.rec" % (d, i)
        p = subprocess.Popen([cfg.loop, "sigtrainer", rec], env=env)
        try:
            wait_for(lambda: os.path.exists(rec + ".ready"), 30,
                     "native trainer")
            t0 = time.monotonic_ns()
            os.kill(p.pid, signal.SIGTERM)
            wait_for(lambda: exists_file(rec), 30, "native trainer's signal")
            nat.append((int(read_text(rec)) - t0) / 1e6)
        finally:
            if p.poll() is None:
                p.kill()
            p.wait()
    res["stop-signal"].set(lat, nat, "%d stops" % len(lat))
    shutil.rmtree(d, ignore_errors=True)


def slurm_lifecycle(cfg, m, d, n):
    """Start, stop and end latencies (ms) of N sigtrainer jobs on M, one
    at a time: echo start until RECORD.ready, echo stop until the
    handler ran, the handler's time until the job is final."""
    start, stop, end = [], [], []
    for i in range(n):
        name = "lc%02d" % i
        rec = "%s/%s.rec" % (d, name)
        m.make_job(name, "command = %s sigtrainer %s\ngrace = 30\n"
                   % (cfg.loop, rec), start=False)
        t0 = time.monotonic_ns()
        write_once(m.job(name, "control"), "start\n")
        wait_for(lambda: os.path.exists(rec + ".ready"), 60,
                 "trainer %s to start" % name)
        start.append((time.monotonic_ns() - t0) / 1e6)
        # Slurm: "running" follows at the supervisor's next round.
        wait_for(lambda: m.state(name) == "running", 30,
                 "job %s to be running" % name)
        t0 = time.monotonic_ns()
        write_once(m.job(name, "control"), "stop\n")
        wait_for(lambda: exists_file(rec), 30, "trainer %s's signal" % name)
        t1 = int(read_text(rec))
        stop.append((t1 - t0) / 1e6)
        m.wait_final(name, 60)
        end.append((time.monotonic_ns() - t1) / 1e6)
        m.remove_job(name)
    return start, stop, end


def phase_slurm(cfg, res):
    import slurm_cluster
    c = slurm_cluster.cluster()
    if c is None:
        for k in ("slurm-start", "slurm-stop", "slurm-end"):
            if k in res:
                res[k].error = "skipped: " + (slurm_cluster.skip_reason()
                                              or "no cluster")
        return
    n = max(3, cfg.stops // 4)
    d = os.path.join(cfg.dir, "slurm-rec")
    os.makedirs(d, exist_ok=True)
    os.chmod(d, 0o777)
    ms = {}
    try:
        for ex in ("local", "slurm"):
            m = Mount(cfg, os.path.join(cfg.dir, "slurm-" + ex),
                      ["--executor", ex], c.env())
            m.start()
            try:
                dx = os.path.join(d, ex)
                os.makedirs(dx)
                os.chmod(dx, 0o777)
                ms[ex] = slurm_lifecycle(cfg, m, dx, n)
            finally:
                m.close()
    finally:
        slurm_cluster.stop()
    for i, k in enumerate(("slurm-start", "slurm-stop", "slurm-end")):
        if k in res:
            res[k].set(ms["slurm"][i], ms["local"][i], "%d jobs each" % n)


def squeue_ms(c, ids):
    """One watch round's squeue, as exec_slurm.c runs it, in ms."""
    t0 = time.monotonic_ns()
    p = c.run("squeue", "--noheader", "--states=all",
              "--format=%i|%T|%L|%N|%r", "--jobs=" + ",".join(ids),
              timeout=120)
    t = (time.monotonic_ns() - t0) / 1e6
    if p.returncode != 0:
        raise BenchError("squeue: " + p.stderr.strip())
    return t


def phase_slurm_watch(cfg, res):
    """N Slurm jobs in the store, all active (one runs, the rest wait for
    CPUs): the squeue of one watch round for all N, against one job."""
    import slurm_cluster
    c = slurm_cluster.cluster()
    if c is None:
        res["slurm-watch"].error = "skipped: " + (
            slurm_cluster.skip_reason() or "no cluster")
        return
    n = cfg.jobs // 10  # 1,000 (100 with --quick)
    m = Mount(cfg, os.path.join(cfg.dir, "slurm-watch"),
              ["--executor", "slurm"], c.env())
    m.start()
    try:
        names = ["w%04d" % i for i in range(n)]
        for name in names:
            m.make_job(name, "command = sleep 1000\nslurm.cpus_per_task = %d\n"
                       % os.cpu_count())
        ids = []
        deadline = time.monotonic() + 30 + n * 0.5
        for name in names:
            while True:
                line = read_text(m.job(name, "status"))
                g = [l for l in line.splitlines() if l.startswith("slurm: job ")]
                if g:
                    ids.append(g[0].split()[2])
                    break
                if time.monotonic() > deadline:
                    raise BenchError("job %s never submitted" % name)
                time.sleep(0.05)
        many = [squeue_ms(c, ids) for _ in range(cfg.reps)]
        one = [squeue_ms(c, ids[:1]) for _ in range(cfg.reps)]
        res["slurm-watch"].set(many, one, "N = %d jobs" % n)
        for name in names:
            write_once(m.job(name, "control"), "cancel\n")
    finally:
        m.close()
        slurm_cluster.stop()


def parse_clock_rows(text):
    """(epoch, t_ns) rows from trainfs's metrics CSV or a raw metrics file."""
    rows = []
    lines = text.splitlines()
    if lines and lines[0].startswith("epoch,"):
        cols = lines[0].split(",")
        ie, it = cols.index("epoch"), cols.index("t")
        for l in lines[1:]:
            f = l.split(",")
            if len(f) > max(ie, it) and f[it]:
                rows.append((int(float(f[ie])), int(float(f[it]))))
    else:
        for l in lines:
            kv = dict(p.split("=", 1) for p in l.split() if "=" in p)
            if "epoch" in kv and "t" in kv:
                rows.append((int(kv["epoch"]), int(kv["t"])))
    return rows


def poll_clock(path, count, timeout):
    """Polls PATH every millisecond; returns the latency in ms of each
    epoch from its write (its t=) until a read first shows it."""
    seen, lat = 0, []
    deadline = time.monotonic() + timeout
    while seen < count and time.monotonic() < deadline:
        try:
            text = read_text(path)
        except FileNotFoundError:
            text = ""
        now = time.monotonic_ns()
        for e, t in parse_clock_rows(text):
            if e > seen:
                lat.append((e, (now - t) / 1e6))
        if lat:
            seen = max(seen, lat[-1][0])
        time.sleep(0.001)
    # the first line races the reader's start; leave it out
    return [v for e, v in lat if e > 1], seen


def phase_metrics_latency(cfg, m, res):
    n, us = cfg.clock_lines, 37000  # not a multiple of any poll period
    m.make_job("mlat", "command = %s metricsclock \"$TRAINFS_METRICS\" %d %d"
               " && echo w > \"$TRAINFS_OUTPUT/w\"\nepochs = %d\n"
               % (cfg.loop, n, us, n))
    lat, seen = poll_clock(m.job("mlat", "metrics"), n, n * us / 1e6 + 30)
    if seen < n:
        raise BenchError("metrics showed %d of %d lines" % (seen, n))
    m.wait_final("mlat", 60)
    m.remove_job("mlat")

    path = os.path.join(cfg.dir, "native-clock.txt")
    p = subprocess.Popen([cfg.loop, "metricsclock", path, str(n), str(us)])
    try:
        nat, _ = poll_clock(path, n, n * us / 1e6 + 30)
    finally:
        p.wait()
        os.unlink(path)
    res["metrics-latency"].set(lat, nat, "%d lines, read polled every 1 ms"
                               % len(lat))


def status_epoch(m, name):
    for l in read_text(m.job(name, "status")).splitlines():
        if l.startswith("epoch: "):
            return int(l[7:].split("/")[0])
    return 0


def phase_ingest(cfg, m, res):
    n = cfg.ingest_lines
    times = os.path.join(cfg.dir, "ingest.times")
    m.make_job("ingest", "command = %s metricsflood \"$TRAINFS_METRICS\" %d %s"
               " && exec sleep 600\nepochs = %d\ngrace = 1\n"
               % (cfg.loop, n, times, n))
    wait_for(lambda: exists_file(times), 120, "the metrics writer", 0.005)
    t = dict(f.split("=") for f in read_text(times).split())
    start = int(t["start"])
    deadline = time.monotonic() + cfg.ingest_timeout
    e = 0
    while time.monotonic() < deadline:
        e = status_epoch(m, "ingest")
        if e >= n:
            break
        time.sleep(0.005)
    end = time.monotonic_ns()
    note = ""
    if e < n:
        note = "PARTIAL: %d of %d lines in %gs" % (e, n, cfg.ingest_timeout)
    else:
        # status and metrics change together; check the last row is in metrics
        with open(m.job("ingest", "metrics"), "rb") as f:
            data = f.read()
        last = data.rstrip(b"\n").rsplit(b"\n", 1)[-1].split(b",", 1)[0]
        if int(float(last)) != n:
            raise BenchError("status says epoch %d, metrics ends with %r"
                             % (e, last))
    rate = e / ((end - start) / 1e9)
    m.remove_job("ingest")

    path = os.path.join(cfg.dir, "native-flood.txt")
    r = run_loop(cfg, "metricsflood", path, n)
    os.unlink(path)
    nat = n / ((r["end"] - r["start"]) / 1e9)
    res["ingest"].set([rate], [nat], note or "native: the writer alone")


# ---- metrics_from: a trainer's own log ----

def write_csv_log(path, n):
    with open(path, "w") as f:
        f.write("epoch,train/box_loss,metrics/mAP50-95(B),lr/pg0\n")
        for e in range(1, n + 1):
            f.write("%d,%.5f,%.5f,0.01\n" % (e, 1.0 / e, e / (n + 1.0)))


def write_tfevents(path, n, big_mib=0):
    """N scalar records, steps 1..N; with BIG_MIB, as many MiB of 64 KiB
    image records spread among them (the same image each time, so its CRC
    is computed once here; the reader checks each).  Returns the size."""
    sys.path.insert(0, os.path.join(ROOT, "tests", "trainers"))
    import tfevents
    images, per = 0, 0
    if big_mib:
        # Summary.Value {tag "img", image (4) {encoded_image_string (4)}}
        body = tfevents._len_field(4, b"\x89PNG" + os.urandom(65500))
        val = tfevents._len_field(1, b"img") + tfevents._len_field(4, body)
        img = tfevents.frame(tfevents.event(1, [val], wall_time=1.0))
        images = big_mib * MIB // len(img)
        per = -(-images // n)
    with open(path, "wb") as f:
        f.write(tfevents.frame(tfevents.event(0, file_version="brain.Event:2")))
        for e in range(1, n + 1):
            f.write(tfevents.frame(tfevents.event(
                e, [tfevents.scalar_value("loss", 1.0 / e)], wall_time=1.0)))
            k = min(per, images)
            if k:
                f.write(img * k)
                images -= k
    return os.path.getsize(path)


def time_to_epoch(m, name, n, timeout):
    """Starts job NAME; seconds until its status shows epoch N (or None)."""
    t = time.monotonic()
    write_once(m.job(name, "control"), "start\n")
    deadline = t + timeout
    while time.monotonic() < deadline:
        if status_epoch(m, name) >= n:
            return time.monotonic() - t
        time.sleep(0.005)
    return None


def phase_sources(cfg, m, res, sel):
    """Rows taken per second from a log written before the job starts: the
    metrics file, a CSV source and a TensorBoard source; then another job's
    status read every 20 ms while a job reads a 100 MB event file."""
    n = cfg.source_rows
    d = os.path.join(cfg.dir, "sources")
    os.makedirs(d, exist_ok=True)
    os.chmod(d, 0o755)
    runs = []
    if "ingest-file" in sel:
        pre = os.path.join(d, "pre.txt")
        with open(pre, "w") as f:
            for e in range(1, n + 1):
                f.write("epoch=%d loss=%.5f\n" % (e, 1.0 / e))
        runs.append(("ingest-file", "cat %s >> \"$TRAINFS_METRICS\" && "
                     "exec sleep 600\n" % pre, "", n))
    if "ingest-csv" in sel:
        write_csv_log(os.path.join(d, "results.csv"), n)
        runs.append(("ingest-csv", "sleep 600\n",
                     "metrics_from = %s/results.csv\n" % d, n))
    if "ingest-tfevents" in sel:
        tb = os.path.join(d, "tb")
        os.makedirs(tb, exist_ok=True)
        write_tfevents(os.path.join(tb, "events.out.tfevents.1.bench"),
                       cfg.source_records)
        runs.append(("ingest-tfevents", "sleep 600\n",
                     "metrics_from = %s\n" % tb, cfg.source_records))
    for key, cmd, extra, count in runs:
        name = key.replace("ingest-", "src-")
        m.make_job(name, "command = %sgrace = 1\n%s" % (cmd, extra),
                   start=False)
        s = time_to_epoch(m, name, count, cfg.ingest_timeout)
        if s is None:
            res[key].error = "epoch %d not reached in %gs" % (
                count, cfg.ingest_timeout)
        else:
            res[key].set([count / s], None, "start until status shows the "
                         "last epoch; the log written before")
        write_once(m.job(name, "control"), "cancel\n")
        m.wait_final(name, 60)
        m.remove_job(name)
    if "isolation-tfevents" not in sel:
        return
    big = os.path.join(d, "big")
    os.makedirs(big, exist_ok=True)
    size = write_tfevents(os.path.join(big, "events.out.tfevents.2.bench"),
                          1000, 100)
    m.make_job("calm", "command = sleep 600\n", start=False)
    m.make_job("big", "command = sleep 600\ngrace = 1\nmetrics_from = %s\n"
               % big, start=False)
    lat, stop = [], threading.Event()

    def probe():
        path = m.job("calm", "status")
        while not stop.is_set():
            t = time.monotonic()
            with open(path) as f:
                f.read()
            lat.append(time.monotonic() - t)
            time.sleep(0.02)
    th = threading.Thread(target=probe, daemon=True)
    th.start()
    try:
        s = time_to_epoch(m, "big", 1000, 600)
    finally:
        stop.set()
        th.join(5)
    ms = sorted(v * 1000 for v in lat)
    res["isolation-tfevents"].set(
        [ms[-1]], None, "%d reads while %.0f MB were read in %s s" % (
            len(ms), size / 1e6, "%.1f" % s if s else "(not all)"))
    write_once(m.job("big", "control"), "cancel\n")
    m.wait_final("big", 60)
    m.remove_job("big")
    m.remove_job("calm")


# What a misbehaving trainer does (SPEC "One job cannot hurt the others").
MISBEHAVE = r'''
import os, sys
kind, out, met = sys.argv[1], os.environ["TRAINFS_OUTPUT"], os.environ["TRAINFS_METRICS"]
if kind == "names":  # 40 lines of 6,000 new names, then 1,000 names x 500 rows
    with open(met, "a") as f:
        for e in range(1, 41):
            f.write("epoch=%d " % e + " ".join("k%x=1" % (e * 6000 + i) for i in range(6000)) + "\n")
        for e in range(41, 541):
            f.write("epoch=%d " % e + " ".join("n%d=%d" % (i, e) for i in range(1000)) + "\n")
elif kind == "sparse":  # 30 GB of hole in the metrics file, then a line
    with open(met, "a") as f:
        f.write("epoch=1 loss=1\n")
    os.truncate(met, 30 << 30)
    with open(met, "a") as f:
        f.write("\nepoch=2 loss=0.5\n")
else:  # many files in the output
    for d in range(int(sys.argv[2]) // 1000):
        os.mkdir("%s/d%d" % (out, d))
        for i in range(1000):
            os.close(os.open("%s/d%d/f%d" % (out, d, i), os.O_CREAT | os.O_WRONLY))
open(os.path.join(out, "w"), "w").write("w")
if kind == "keep":  # files made: say so
    with open(met, "a") as f:
        f.write("epoch=1 loss=1\n")
if kind == "fail":
    sys.exit(1)
'''


def phase_isolation(cfg, m, res):
    """Another job's status read every 20 ms (open, read, close) while
    jobs misbehave one after the other: many metric names (and the first
    graph of that table after a remount), a sparse 30 GB metrics file, an
    rmdir and a cancel of jobs with FILES output files."""
    script = os.path.join(cfg.dir, "misbehave.py")
    with open(script, "w") as f:
        f.write(MISBEHAVE)
    os.chmod(script, 0o755)
    cmd = "command = /usr/bin/python3 %s " % script
    m.make_job("calm", "command = sleep 600\n", start=False)
    lat, stop, paused = [], threading.Event(), threading.Event()
    busy = [None]

    def probe():
        path = m.job("calm", "status")
        while not stop.is_set():
            if paused.is_set():  # remounting
                time.sleep(0.02)
                continue
            busy[0] = t = time.monotonic()
            with open(path) as f:
                f.read()
            lat.append(time.monotonic() - t)
            busy[0] = None
            time.sleep(0.02)
    th = threading.Thread(target=probe, daemon=True)
    th.start()
    marks = []  # (what, reads before it)

    def mark(what):
        marks.append((what, len(lat)))
    try:
        for name in ("names", "sparse"):
            mark(name)
            m.make_job(name, cmd + name + "\n")
            m.wait_final(name, 600)
        paused.set()
        time.sleep(0.2)  # a read under way ends
        m.unmount()
        m.start()
        os.stat(m.job("calm", "status"))
        paused.clear()
        time.sleep(0.2)
        mark("graph")
        os.stat(m.job("names", "graph.svg"))
        mark("files")
        m.make_job("gone", cmd + "fail %d\n" % cfg.files)
        m.wait_final("gone", 1200)
        mark("rmdir")
        os.rmdir(m.job("gone"))
        mark("files")
        m.make_job("cut", cmd + "keep %d && exec sleep 600\n" % cfg.files)
        wait_for(lambda: "epoch: 1" in read_text(m.job("cut", "status")),
                 1200, "the files of job cut", 0.05)
        mark("cancel")
        write_once(m.job("cut", "control"), "cancel\n")
        m.wait_final("cut", 60)
        time.sleep(1)
    finally:
        stop.set()
        th.join(5)
    if not th.is_alive() and busy[0] is not None:
        raise BenchError("the status probe failed")
    if busy[0] is not None:
        lat.append(time.monotonic() - busy[0])
    marks.append(("end", len(lat)))
    worst = ", ".join("%s %.0f" % (w, max(lat[a:b]) * 1000)
                      for (w, a), (_, b) in zip(marks, marks[1:]) if b > a)
    lat.sort()
    ms = [v * 1000 for v in lat]
    p99 = ms[min(len(ms) - 1, int(len(ms) * 0.99))]
    note = "%d reads; names, sparse 30 GB, remount + graph, rmdir and " \
        "cancel of %d files; worst ms in each: %s" % (len(ms), cfg.files, worst)
    res["isolation"].set([ms[-1]], None, note)
    res["isolation-p99"].set([p99], None, note)
    for n in ("names", "sparse", "cut"):
        m.remove_job(n)
    m.remove_job("calm")


def free_bytes(path):
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def timed(cmd):
    t0 = time.monotonic()
    p = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                       text=True)
    if p.returncode != 0:
        raise BenchError("%s: %s" % (" ".join(cmd), p.stderr.strip()))
    return time.monotonic() - t0


def phase_pack(cfg, m, res, zstd, reads):
    """A trainer writes SIZE of weights and waits; echo stop until weights/
    lists the tarball, vs GNU tar of the same folder to the same disk; then
    (without compression) the first and second read of the tarball through
    the mount vs a page-cache read of the store's own file."""
    key = "pack-zstd" if zstd else "pack"
    need = 3 * cfg.size + GIB // 2
    if free_bytes(cfg.dir) < need:
        raise BenchError("needs %d MiB free on %s" % (need // MIB, cfg.dir))
    pack_t, pack_n, pack_sync, r1, r2, rn, sizes = [], [], [], [], [], [], []
    for rep in range(cfg.pack_reps):
        name = "%s%d" % ("bigz" if zstd else "big", rep)
        outfile = os.path.join(cfg.dir, name + ".out")
        spec = ("command = %s gen \"$TRAINFS_OUTPUT/model.bin\" %d %d"
                " && echo \"$TRAINFS_OUTPUT\" > %s && exec sleep 600\n"
                "epochs = 1\ngrace = 60\n" % (cfg.loop, cfg.size, rep + 1,
                                               outfile))
        if zstd:
            spec += "compression = zstd\n"
        m.make_job(name, spec)
        wait_for(lambda: exists_file(outfile), 300, "%s's output" % name, 0.01)
        out_dir = read_text(outfile).strip()
        tar = name + (".tar.zst" if zstd else ".tar")
        os.sync()  # nothing of the trainer's still to write back
        t0 = time.monotonic()
        write_once(m.job(name, "control"), "stop\n")
        status = m.wait_final(name, 600)
        if not status.startswith("ready"):
            raise BenchError("%s ended without weights:\n%s" % (name, status))
        # wait answers as the job becomes ready; the figure ends when a
        # listing of weights/ shows the tarball (at once, unless stale)
        wait_for(lambda: tar in os.listdir(m.job(name, "weights")), 10,
                 "weights/ to list %s" % tar)
        pack_t.append(time.monotonic() - t0)
        store_tar = os.path.join(os.path.dirname(out_dir), "weights", tar)
        sizes.append(os.path.getsize(store_tar))

        base_tar = os.path.join(cfg.dir, "baseline" + tar[len(name):])
        os.sync()
        try:
            pack_n.append(timed(["tar"] + (["--zstd"] if zstd else []) +
                                ["-cf", base_tar, "-C", out_dir, "."]))
            # trainfs fsyncs its tarball (it must survive a crash); tar
            # does not: the time with an fsync too goes in the notes
            t0 = time.monotonic()
            fd = os.open(base_tar, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            pack_sync.append(pack_n[-1] + time.monotonic() - t0)
        finally:
            if os.path.exists(base_tar):
                os.unlink(base_tar)

        fuse_tar = m.job(name, "weights", tar)
        if reads:
            run_loop(cfg, "readfile", store_tar)  # warm the page cache
        for i in range(cfg.read_reps if reads else 0):
            rn.append(run_loop(cfg, "readfile", store_tar)["mib_per_s"])
            if i:  # a first read again: drop the mount's cached pages
                run_loop(cfg, "dropcache", fuse_tar)
            a = run_loop(cfg, "readfile", fuse_tar)
            b = run_loop(cfg, "readfile", fuse_tar)
            if a["bytes"] != sizes[-1] or b["bytes"] != sizes[-1]:
                raise BenchError("read %d and %d bytes of a %d byte tarball"
                                 % (a["bytes"], b["bytes"], sizes[-1]))
            r1.append(a["mib_per_s"])
            r2.append(b["mib_per_s"])
        m.remove_job(name)
        os.unlink(outfile)
    note = "tarball %d MiB" % (statistics.median(sizes) // MIB)
    if key in res:
        res[key].set(pack_t, pack_n, note + "; trainfs fsyncs it, tar does "
                     "not: tar%s -cf then fsync takes %.2f s"
                     % (" --zstd" if zstd else "",
                        statistics.median(pack_sync)))
    if reads:
        note = "%d reads, %d per tarball, its page cache dropped between" \
            % (len(r1), cfg.read_reps)
        res["read-first"].set(r1, rn, note + " (posix_fadvise)")
        res["read-second"].set(r2, rn)


# A trainer that reports EPOCHS epochs and writes a checkpoint folder after
# each (written as epoch-N.tmp, renamed), with no sleep and no fsync: what
# the checkpoint figures cost is trainfs's, not the trainer's disk.
CKPT_TRAINER = r"""
import os, sys
n = int(sys.argv[1])
ck = os.environ["TRAINFS_CHECKPOINTS"]
os.makedirs(ck, exist_ok=True)
with open(os.environ["TRAINFS_METRICS"], "a") as m:
    for e in range(1, n + 1):
        m.write("epoch=%d loss=%r\n" % (e, 1.0 / e))
        m.flush()
        tmp = os.path.join(ck, "epoch-%d.tmp" % e)
        os.mkdir(tmp)
        with open(os.path.join(tmp, "w.bin"), "wb") as f:
            f.write(b"w" * 16)
        os.rename(tmp, os.path.join(ck, "epoch-%d" % e))
with open(os.path.join(os.environ["TRAINFS_OUTPUT"], "done"), "w") as f:
    f.write("done\n")
"""


def phase_prune(cfg, m, res):
    """Start to ready of a job writing a checkpoint every epoch for EPOCHS
    epochs (checkpoints = 1: trainfs deletes all but the best and the
    newest as they come) vs the same trainer alone followed by rm -rf of
    what trainfs would have deleted."""
    script = os.path.join(cfg.dir, "ckpt_trainer.py")
    with open(script, "w") as f:
        f.write(CKPT_TRAINER)
    os.chmod(script, 0o644)
    t_fs, t_nat, left = [], [], []
    for rep in range(cfg.reps):
        name = "prune%d" % rep
        t0 = time.monotonic()
        m.make_job(name, "command = /usr/bin/python3 %s %d\nmonitor = loss\n"
                   "mode = min\ncheckpoints = 1\n" % (script, cfg.prune_epochs))
        status = m.wait_final(name, 600)
        t_fs.append(time.monotonic() - t0)
        if not status.startswith("ready") or \
                "weights from: checkpoint of epoch %d" % cfg.prune_epochs \
                not in status:
            raise BenchError("%s:\n%s" % (name, status))
        ck = [d for d in os.listdir(os.path.join(m.store, "jobs"))]
        left.append(max(len(os.listdir(os.path.join(m.store, "jobs", d,
                                                     "checkpoints")))
                        for d in ck if os.path.isdir(os.path.join(
                            m.store, "jobs", d, "checkpoints"))))
        m.remove_job(name)
        nat = os.path.join(cfg.dir, "native-ckpt")
        os.makedirs(os.path.join(nat, "out"))
        env = dict(os.environ, TRAINFS_CHECKPOINTS=os.path.join(nat, "ck"),
                   TRAINFS_METRICS=os.path.join(nat, "metrics.txt"),
                   TRAINFS_OUTPUT=os.path.join(nat, "out"))
        t0 = time.monotonic()
        subprocess.run(["/usr/bin/python3", script, str(cfg.prune_epochs)],
                       env=env, check=True)
        subprocess.run(["rm", "-rf", os.path.join(nat, "ck")], check=True)
        t_nat.append(time.monotonic() - t0)
        shutil.rmtree(nat)
    res["prune"].set(t_fs, t_nat, "native: the trainer alone, then rm -rf "
                     "of its checkpoints; at most %d folders left"
                     % max(left))


def phase_pack_ckpt(cfg, m, res):
    """A trainer saves one SIZE checkpoint (the best: the only epoch) and
    an empty output, and waits; echo stop until weights/ lists the tarball,
    vs GNU tar of the checkpoint folder (as phase_pack)."""
    need = 3 * cfg.size + GIB // 2
    if free_bytes(cfg.dir) < need:
        raise BenchError("needs %d MiB free on %s" % (need // MIB, cfg.dir))
    t_fs, t_nat, t_sync = [], [], []
    for rep in range(cfg.pack_reps):
        name = "ckpt%d" % rep
        outfile = os.path.join(cfg.dir, name + ".out")
        spec = ('command = c="$TRAINFS_CHECKPOINTS"; mkdir -p "$c/epoch-1.tmp"'
                ' && %s gen "$c/epoch-1.tmp/model.bin" %d %d'
                ' && mv "$c/epoch-1.tmp" "$c/epoch-1"'
                ' && echo "epoch=1 loss=0.5" >> "$TRAINFS_METRICS"'
                ' && echo "$c/epoch-1" > %s && exec sleep 600\n'
                'monitor = loss\nmode = min\ngrace = 60\n'
                % (cfg.loop, cfg.size, rep + 1, outfile))
        m.make_job(name, spec)
        wait_for(lambda: exists_file(outfile), 300, "%s's checkpoint" % name,
                 0.01)
        src = read_text(outfile).strip()
        # the checkpoint counted (its metrics line taken in) before the stop
        wait_for(lambda: "checkpoint: epoch 1" in
                 read_text(m.job(name, "status")), 30, "checkpoint of %s"
                 % name, 0.01)
        os.sync()
        t0 = time.monotonic()
        write_once(m.job(name, "control"), "stop\n")
        status = m.wait_final(name, 600)
        if "weights from: checkpoint of epoch 1" not in status:
            raise BenchError("%s:\n%s" % (name, status))
        wait_for(lambda: name + ".tar" in os.listdir(m.job(name, "weights")),
                 10, "weights/ to list %s.tar" % name)
        t_fs.append(time.monotonic() - t0)
        base_tar = os.path.join(cfg.dir, "baseline-ckpt.tar")
        os.sync()
        try:
            t_nat.append(timed(["tar", "-cf", base_tar, "-C", src, "."]))
            t0 = time.monotonic()
            fd = os.open(base_tar, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            t_sync.append(t_nat[-1] + time.monotonic() - t0)
        finally:
            if os.path.exists(base_tar):
                os.unlink(base_tar)
        m.remove_job(name)
        os.unlink(outfile)
    res["pack-ckpt"].set(t_fs, t_nat, "packed from checkpoints/epoch-1 "
                         "(the output is empty); trainfs fsyncs, tar does "
                         "not: tar -cf then fsync takes %.2f s"
                         % statistics.median(t_sync))


# ---- the run ------------------------------------------------------------------

def git_commit():
    try:
        c = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                           text=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain",
                                "-uno"], stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL, text=True).stdout
        return c + ("-dirty" if dirty.strip() else "")
    except OSError:
        return "unknown"


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for l in f:
                if l.startswith("model name"):
                    return l.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def label_of(cfg, key):
    size = "%d MiB" % (cfg.size // MIB) if cfg.size < GIB else \
        "%g GiB" % (cfg.size / GIB)
    return (FIG[key][1].replace("SIZE", size)
            .replace("EPOCHS", "{:,}".format(cfg.prune_epochs))
            .replace("N jobs", "{:,} jobs".format(cfg.jobs))
            .replace("E epochs", "%d epochs" % cfg.epochs)
            .replace("LINES", "{:,}".format(cfg.ingest_lines))
            .replace("ROWS", "{:,}".format(cfg.source_rows))
            .replace("RECS", "{:,}".format(cfg.source_records))
            .replace("x10k", "x{:,}".format(cfg.openread_n)))


def print_table(cfg, results):
    rows = [("figure", "trainfs", "native", "ratio", "target", "")]
    for r in results:
        _, _, unit, kind, limit = FIG[r.key]
        if r.error:
            rows.append((r.label, "ERROR", "", "", target_text(kind, limit, unit),
                         "ERROR"))
            continue
        t = "n/a" if r.trainfs is None else "%s %s" % (fmt_num(r.trainfs), unit)
        n = "n/a" if r.native is None else "%s %s" % (fmt_num(r.native), unit)
        ratio = "n/a" if r.ratio is None else "%sx" % fmt_num(r.ratio)
        rows.append((r.label, t, n, ratio, target_text(kind, limit, unit),
                     r.verdict()))
    w = [max(len(row[i]) for row in rows) for i in range(6)]
    out = []
    for i, row in enumerate(rows):
        out.append("  ".join([row[0].ljust(w[0])] +
                             [row[c].rjust(w[c]) for c in (1, 2, 3)] +
                             [row[4].ljust(w[4]), row[5]]).rstrip())
        if i == 0:
            out.append("-" * len(out[0]))
    print("\n".join(out))
    notes = [(r.label, r.note) for r in results if r.note and not r.error]
    errs = [(r.label, r.error) for r in results if r.error]
    if notes:
        print("\nnotes:")
        for l, n in notes:
            print("  %s: %s" % (l, n))
    if errs:
        print("\nerrors:")
        for l, e in errs:
            print("  %s: %s" % (l, e))
    met = sum(r.verdict() == "met" for r in results)
    missed = sum(r.verdict() == "MISSED" for r in results)
    print("\n%d figures: %d met, %d missed, %d errors (%s, %s run, %.0fs, "
          "load average %.2f before, %.2f after)"
          % (len(results), met, missed, len(errs), git_commit(), cfg.mode,
             time.monotonic() - T0, cfg.load, os.getloadavg()[0]))
    sys.stdout.flush()


CSV_HEADER = ["timestamp", "commit", "host", "cpu", "cpus", "load_before",
              "mode", "figure", "label", "unit", "trainfs", "native", "ratio",
              "target", "verdict", "trainfs_samples", "native_samples", "note"]


def write_csv(cfg, results):
    path = cfg.csv
    os.makedirs(os.path.dirname(path), exist_ok=True)
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%SZ")
    new = not os.path.exists(path) or os.path.getsize(path) == 0
    if not new:
        with open(path, newline="") as f:
            header = next(csv.reader(f), None)
        if header != CSV_HEADER:  # columns changed: keep the old file apart
            old = path[:-4] + "-until-" + stamp.replace(":", "") + ".csv"
            os.rename(path, old)
            print("%s had other columns; moved to %s" % (path, old))
            new = True
    common = [stamp, git_commit(), socket.gethostname(), cpu_model(),
              os.cpu_count(), "%.2f" % cfg.load, cfg.mode]
    with open(path, "a", newline="") as f:
        w = csv.writer(f)
        if new:
            w.writerow(CSV_HEADER)
        for r in results:
            _, _, unit, kind, limit = FIG[r.key]

            def num(v):
                return "" if v is None else "%.6g" % v
            w.writerow(common + [
                r.key, r.label, unit, num(r.trainfs), num(r.native),
                num(r.ratio), target_text(kind, limit, unit), r.verdict(),
                " ".join("%.6g" % v for v in r.t_samples),
                " ".join("%.6g" % v for v in r.n_samples),
                r.error or r.note])
    print("results appended to %s" % os.path.relpath(path, os.getcwd()))


def build_loop(path):
    src = os.path.join(HERE, "loop.c")
    if os.path.exists(path) and os.path.getmtime(path) >= os.path.getmtime(src):
        return
    os.makedirs(os.path.dirname(path), exist_ok=True)
    subprocess.run([os.environ.get("CC", "cc"), "-O2", "-std=gnu11", "-Wall",
                    "-D_GNU_SOURCE", "-o", path, src], check=True)


def main():
    p = argparse.ArgumentParser(
        description="trainfs benchmark", epilog=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--trainfs", default=os.path.join(ROOT, "trainfs"))
    p.add_argument("--loop", default=os.path.join(ROOT, "build", "bench",
                                                   "loop"))
    p.add_argument("--quick", action="store_true")
    p.add_argument("-k", dest="patterns", default="")
    p.add_argument("--csv", default=os.path.join(ROOT, "bench-results",
                                                 "results.csv"))
    p.add_argument("--reps", type=int, default=0, dest="reps_override",
                   help="repetitions of each figure (default 5, quick 3)")
    p.add_argument("--list", action="store_true")
    cfg = p.parse_args()
    if cfg.list:
        for key, label, unit, kind, limit in FIGURES:
            print("%-16s %s (%s)" % (key, label, target_text(kind, limit, unit)))
        return 0
    cfg.trainfs = os.path.abspath(cfg.trainfs)
    cfg.loop = os.path.abspath(cfg.loop)
    cfg.csv = os.path.abspath(cfg.csv)
    build_loop(cfg.loop)
    if not os.access(cfg.trainfs, os.X_OK):
        sys.exit("bench: no trainfs at %s (run make first)" % cfg.trainfs)

    cfg.mode = "quick" if cfg.quick else "full"
    if cfg.quick:
        cfg.jobs, cfg.epochs, cfg.size, cfg.reps, cfg.pack_reps = 1000, 100, 100 * MIB, 3, 3
        cfg.stops, cfg.clock_lines, cfg.ingest_lines = 10, 15, 100000
        cfg.openread_n, cfg.stat_n, cfg.ingest_timeout = 10000, 10000, 20
        cfg.read_reps = 2
        cfg.files = 20000
        cfg.prune_epochs = 1000
        cfg.source_rows, cfg.source_records = 100000, 50000
    else:
        cfg.jobs, cfg.epochs, cfg.size, cfg.reps, cfg.pack_reps = 10000, 100, GIB, 5, 5
        cfg.stops, cfg.clock_lines, cfg.ingest_lines = 20, 30, 1000000
        cfg.openread_n, cfg.stat_n, cfg.ingest_timeout = 10000, 100000, 60
        cfg.read_reps = 2
        cfg.files = 300000
        cfg.prune_epochs = 10000
        cfg.source_rows, cfg.source_records = 1000000, 200000

    if cfg.reps_override:
        cfg.reps = cfg.reps_override
        cfg.pack_reps = cfg.reps
    pats = [x for x in cfg.patterns.split(",") if x]
    sel = [k for k, *_ in FIGURES if not pats or any(x in k for x in pats)]
    if not sel:
        sys.exit("bench: -k %s matches no figure (see --list)" % cfg.patterns)

    cleanup_stale()
    cfg.load = os.getloadavg()[0]  # others' work on the machine skews timings
    cfg.dir = tempfile.mkdtemp(prefix=TMP_PREFIX)
    cfg.shm = tempfile.mkdtemp(prefix=TMP_PREFIX, dir="/dev/shm") \
        if os.path.isdir("/dev/shm") else os.path.join(cfg.dir, "shm-fallback")
    os.makedirs(cfg.shm, exist_ok=True)
    for d in (cfg.dir, cfg.shm):
        os.chmod(d, 0o755)  # trainers run as the job's owner
        with open(os.path.join(d, "runner.pid"), "w") as f:
            f.write(str(os.getpid()))

    res = Results((k, Result(k, label_of(cfg, k), FIG[k][2])) for k in sel)
    def on_term(signum, frame):
        log("terminated: cleaning up")
        sys.exit(128 + signum)
    signal.signal(signal.SIGTERM, on_term)

    def phase(keys, fn, *args):
        keys = [k for k in keys if k in sel]
        if not keys:
            return
        log("measuring %s" % ", ".join(keys))
        try:
            fn(*args)
        except Exception as e:  # noqa: BLE001  (a broken figure, go on)
            msg = "%s: %s" % (type(e).__name__, e)
            log("error: " + msg)
            for k in keys:
                if res[k].trainfs is None:
                    res[k].error = msg

    live = None
    try:
        log("trainfs %s, %s run, in %s and %s" % (cfg.trainfs, cfg.mode,
                                                  cfg.dir, cfg.shm))
        phase(["mount", "lsl", "lsl-cold", "rss-mount", "rss-full",
               "summary", "index", "openread", "stat"], phase_bigstore, cfg,
              res, sel)
        dyn = [k for k in sel if k in ("stop-signal", "metrics-latency",
                                       "ingest", "pack", "pack-zstd",
                                       "read-first", "read-second",
                                       "isolation", "isolation-p99",
                                       "prune", "pack-ckpt", "ingest-file",
                                       "ingest-csv", "ingest-tfevents",
                                       "isolation-tfevents")]
        if dyn:
            live = Mount(cfg, os.path.join(cfg.dir, "live"))
            try:
                live.start()
            except BenchError as e:
                for k in dyn:
                    res[k].error = str(e)
                dyn = []
        if dyn:
            phase(["stop-signal"], phase_signal, cfg, live, res)
            phase(["metrics-latency"], phase_metrics_latency, cfg, live, res)
            phase(["ingest"], phase_ingest, cfg, live, res)
            phase(["ingest-file", "ingest-csv", "ingest-tfevents",
                   "isolation-tfevents"], phase_sources, cfg, live, res, sel)
            phase(["pack", "read-first", "read-second"], phase_pack, cfg, live,
                  res, False, "read-first" in sel or "read-second" in sel)
            phase(["pack-zstd"], phase_pack, cfg, live, res, True, False)
            phase(["isolation", "isolation-p99"], phase_isolation, cfg, live,
                  res)
            phase(["prune"], phase_prune, cfg, live, res)
            phase(["pack-ckpt"], phase_pack_ckpt, cfg, live, res)
        phase(["slurm-start", "slurm-stop", "slurm-end"], phase_slurm, cfg,
              res)
        phase(["slurm-watch"], phase_slurm_watch, cfg, res)
    except KeyboardInterrupt:
        log("interrupted: cleaning up")
        raise
    finally:
        for mnt in list(Mount.live):
            mnt.close()
        shutil.rmtree(cfg.dir, ignore_errors=True)
        shutil.rmtree(cfg.shm, ignore_errors=True)

    results = [res[k] for k in sel]
    print()
    print_table(cfg, results)
    write_csv(cfg, results)
    return 1 if any(r.error for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
