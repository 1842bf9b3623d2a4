"""What every integration test shares: a real trainfs mount on a fresh
store, and small helpers that drive it the way users do (plain file I/O,
shell commands).

Mount(name) starts `trainfs MNT --store STORE -f` and waits until the mount
answers.  close() unmounts, stops trainfs, and kills every process that
belongs to this store (shims and trainers outlive trainfs by design), so
no test leaves anything behind even when it fails.
"""
import atexit
import errno
import os
import shutil
import signal
import subprocess
import tempfile
import time

TRAINFS = "./trainfs"
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEMO = os.path.join(ROOT, "demo", "trainer")
PY = "/usr/bin/python3"  # readable by every user, unlike a pyenv shim
TMP_PREFIX = "trainfs-test-"

_shared = None  # this run's folder of copies every user can read
_copies = {}    # source path -> (its mtime, its copy)


def shared_dir():
    """This run's folder (mode 0755, removed at exit) of what other users
    must read: the clone may be in a folder they cannot enter (a clone
    under /root, or in `mktemp -d`)."""
    global _shared
    if _shared is None:
        _shared = tempfile.mkdtemp(prefix=TMP_PREFIX + "shared-")
        os.chmod(_shared, 0o755)
        with open(os.path.join(_shared, "runner.pid"), "w") as f:
            f.write(str(os.getpid()))
        atexit.register(lambda: remove_tree(_shared))
    return _shared


def readable_copy(path):
    """A copy of the file PATH that every user can read (and run, if PATH
    is executable), made again when PATH changes; the same name in this
    run's shared folder, so a trainer's siblings sit beside it."""
    path = os.path.abspath(path)
    mtime = os.stat(path).st_mtime_ns
    if path in _copies and _copies[path][0] == mtime:
        return _copies[path][1]
    d = os.path.join(shared_dir(), os.path.basename(os.path.dirname(path)))
    os.makedirs(d, mode=0o755, exist_ok=True)
    os.chmod(d, 0o755)
    dst = os.path.join(d, os.path.basename(path))
    tmp = dst + ".tmp"
    shutil.copyfile(path, tmp)
    os.chmod(tmp, 0o755 if os.access(path, os.X_OK) else 0o644)
    os.replace(tmp, dst)
    _copies[path] = (mtime, dst)
    return dst


# Test trainers run as other users too: every test uses the readable copy.
TRAINERS = os.path.join(ROOT, "tests", "trainers")
for _t in sorted(os.listdir(TRAINERS)):
    if _t.endswith(".py"):
        readable_copy(os.path.join(TRAINERS, _t))
TRAINER = readable_copy(os.path.join(TRAINERS, "trainer.py"))


def fuse_mounts():
    with open("/proc/mounts") as f:
        return [l.split()[1] for l in f if l.split()[2].startswith("fuse")]


def unmount(path):
    subprocess.run(["fusermount3", "-u", "-z", path], stderr=subprocess.DEVNULL)


def kill_store_processes(store):
    """SIGKILLs every process whose command line or environment names STORE."""
    key = store.encode()
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                cmd = f.read()
            env = b""
            try:
                with open("/proc/%s/environ" % pid, "rb") as f:
                    env = f.read()
            except OSError:
                pass
            if key in cmd or key in env:
                os.kill(int(pid), signal.SIGKILL)
        except (OSError, ProcessLookupError):
            pass


def run_alive(d):
    """Whether the test run that made folder D is still running."""
    try:
        with open(os.path.join(d, "runner.pid")) as f:
            os.kill(int(f.read()), 0)
        return True
    except (OSError, ValueError):
        return False


def cleanup_stale():
    """Unmounts and kills what an earlier, interrupted run left (never what
    a run going on beside this one is using)."""
    tmp = tempfile.gettempdir()
    for d in os.listdir(tmp):
        d = os.path.join(tmp, d)
        if not os.path.basename(d).startswith(TMP_PREFIX) or run_alive(d):
            continue
        if os.path.join(d, "mnt") in fuse_mounts():
            unmount(os.path.join(d, "mnt"))
        kill_store_processes(d)
        remove_tree(d)


def remove_tree(d):
    """rm -rf D; shutil.rmtree recurses, too deep for a trainer's tree."""
    subprocess.run(["rm", "-rf", "--one-file-system", d],
                   stderr=subprocess.DEVNULL)


def errno_of(fn, *args):
    """Runs fn(*args); returns 0 or the errno of the OSError it raised."""
    try:
        fn(*args)
        return 0
    except OSError as e:
        return e.errno


def executors(*names):
    """Marks a test to run once per executor ("local", "slurm"): run.py
    runs it as NAME[local] and NAME[slurm] (the latter on the run's private
    cluster, skipped when there is none), with m.executor set."""
    def mark(fn):
        fn.executors = names
        return fn
    return mark


both = executors("local", "slurm")


class Mount:
    executor = "local"
    cluster = None  # slurm_cluster.Cluster of a Slurm mount

    def __init__(self, name="test", args=(), store=None, start=True,
                 cluster=None):
        if cluster is not None:
            self.executor = "slurm"
            self.cluster = cluster
        self.dir = tempfile.mkdtemp(prefix=TMP_PREFIX)
        os.chmod(self.dir, 0o755)  # other users' trainers must reach it
        with open(os.path.join(self.dir, "runner.pid"), "w") as f:
            f.write(str(os.getpid()))
        self.mnt = os.path.join(self.dir, "mnt")
        self.store = store or os.path.join(self.dir, "store")
        self.args = list(args)
        self.log_path = os.path.join(self.dir, "trainfs.log")
        os.mkdir(self.mnt)
        os.chmod(self.mnt, 0o755)
        self.proc = None
        if start:
            self.start()

    # ---- lifecycle ----

    def start(self, args=None):
        if args is not None:
            self.args = list(args)
        log = open(self.log_path, "ab")
        env = self.cluster.env() if self.cluster else None
        # Slurm runs the job's shim (this very binary) as the job's owner.
        exe = readable_copy(TRAINFS) if self.cluster else TRAINFS
        self.proc = subprocess.Popen(
            [exe, self.mnt, "--store", self.store, "-f"] +
            (["--executor", "slurm"] if self.cluster else []) + self.args,
            stdout=log, stderr=log, stdin=subprocess.DEVNULL, env=env)
        log.close()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError("trainfs exited with %d:\n%s" %
                                     (self.proc.returncode, self.log()))
            if os.path.ismount(self.mnt) and os.path.isdir(self.path("jobs")):
                return
            time.sleep(0.02)
        raise AssertionError("mount did not come up:\n" + self.log())

    def unmount(self):
        """A clean unmount: fusermount3 -u, then trainfs exits by itself."""
        subprocess.run(["fusermount3", "-u", self.mnt], check=True)
        self.proc.wait(timeout=10)
        self.proc = None

    def kill9(self):
        """kill -9 of trainfs, then the lazy unmount a dead daemon needs."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)
        self.proc = None
        unmount(self.mnt)

    def remount(self, args=None):
        self.unmount()
        self.start(args)

    def close(self):
        """Unmounts, kills what is left, removes the store.  Raises if a
        sanitizer complained in trainfs's log or a job's log."""
        if os.path.ismount(self.mnt):
            unmount(self.mnt)
        if self.proc:
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.cluster:
            self.cancel_slurm_jobs()
        kill_store_processes(self.store)
        found = self.sanitizer_reports()
        remove_tree(self.dir)
        if found:
            raise AssertionError("sanitizer report:\n" + found[:6000])

    def slurm_jobs(self):
        """Ids of the cluster's jobs of this mount (work folder in it)."""
        p = self.cluster.run("squeue", "--noheader", "--format=%i|%Z")
        ids = []
        for line in p.stdout.splitlines():
            i, _, wd = line.partition("|")
            if wd.startswith(self.dir + "/"):
                ids.append(i.strip())
        return ids

    def cancel_slurm_jobs(self):
        ids = self.slurm_jobs()
        if ids:
            self.cluster.run("scancel", "--signal=KILL", "--full", *ids)
            self.cluster.run("scancel", *ids)

    def trainer_record(self, job_id=1):
        """Where the shim records the trainer's "PID STARTTIME"."""
        sub = ("run",) if self.executor == "slurm" else ()
        return os.path.join(self.store, "jobs", str(job_id), *sub, "trainer")

    def sanitizer_reports(self):
        logs = [self.log_path]
        jobs = os.path.join(self.store, "jobs")
        if os.path.isdir(jobs):
            logs += [os.path.join(jobs, j, "log") for j in os.listdir(jobs)]
        out = ""
        for p in logs:
            try:
                with open(p, errors="replace") as f:
                    text = f.read()
            except OSError:
                continue
            if ("Sanitizer" in text or "runtime error:" in text or
                    "lock checker:" in text):
                at = [text.find(k) for k in
                      ("ERROR: ", "WARNING: ThreadSanitizer", "lock checker:")]
                i = min([a for a in at if a >= 0] or [0])
                out += "== %s ==\n%s\n" % (p, text[max(0, i - 200):][:5000])
        return out

    def log(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def dump(self):
        print("---- trainfs log ----\n" + self.log()[-4000:])

    # ---- paths and plain I/O ----

    def path(self, *parts):
        return os.path.join(self.mnt, *parts)

    def job(self, name, *parts):
        return self.path("jobs", name, *parts)

    def read(self, name, f):
        with open(self.job(name, f)) as fh:
            return fh.read()

    def write(self, name, f, text, mode="w"):
        """Writes TEXT in one write(2); returns 0 or the errno."""
        try:
            fd = os.open(self.job(name, f),
                         os.O_WRONLY | (os.O_TRUNC if mode == "w" else os.O_APPEND))
        except OSError as e:
            return e.errno
        try:
            os.write(fd, text.encode() if isinstance(text, str) else text)
        except OSError as e:
            os.close(fd)
            return e.errno
        try:
            os.close(fd)
        except OSError as e:
            return e.errno
        return 0

    def control(self, name, cmd):
        return self.write(name, "control", cmd + "\n")

    def state(self, name):
        return self.read(name, "status").split("\n", 1)[0]

    def status(self, name):
        """status as (state, {key: value})."""
        lines = self.read(name, "status").splitlines()
        kv = {}
        for l in lines[1:]:
            k, _, v = l.partition(": ")
            kv[k] = v
        return lines[0], kv

    def tags(self, name):
        return self.read(name, "tags").split()

    def wait_state(self, name, states, timeout=20):
        if isinstance(states, str):
            states = (states,)
        deadline = time.monotonic() + timeout
        s = None
        while time.monotonic() < deadline:
            s = self.state(name)
            if s in states:
                return s
            time.sleep(0.02)
        raise AssertionError("job %s: state %r, wanted %r\nstatus:\n%s\nlog:\n%s"
                             % (name, s, states, self.read(name, "status"),
                                self.read(name, "log")[-2000:]))

    def wait_epoch(self, name, epoch, timeout=20):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            _, kv = self.status(name)
            e = kv.get("epoch", "").split("/")[0]
            if e and int(e) >= epoch:
                return int(e)
            time.sleep(0.02)
        raise AssertionError("job %s never reached epoch %d:\n%s"
                             % (name, epoch, self.read(name, "status")))

    def make_job(self, name, spec=None, trainer_args="", start=False, **keys):
        """mkdir + spec (+ start).  Without SPEC, runs the test trainer."""
        os.mkdir(self.job(name))
        if spec is None:
            lines = ["command = %s %s %s" % (PY, TRAINER, trainer_args)]
            lines += ["%s = %s" % (k, v) for k, v in keys.items()]
            spec = "\n".join(lines) + "\n"
        rc = self.write(name, "spec", spec)
        assert rc == 0, "spec refused: %s\n%s" % (errno.errorcode.get(rc), self.read(name, "status"))
        if start:
            assert self.control(name, "start") == 0, self.read(name, "control")
        return name


def _schema_version():
    import re
    with open(os.path.join(ROOT, "store", "schema.c")) as f:
        return int(re.search(r"#define SCHEMA_VERSION (\d+)", f.read()).group(1))


# The store's schema version now (store/schema.c), for the upgrade tests.
SCHEMA_VERSION = _schema_version()

# The columns each schema version after 2 added (store/schema.c).
COLUMNS_AFTER_V2 = ("metrics_lines", "metrics_ino", "bad_line", "bad_why",
                    "checkpoint", "weights_from", "resumed_from", "slurm_id",
                    "mode", "gpus", "source_pos")
# ... and the tables (the sweeps', version 9).
TABLES_AFTER_V2 = ("sweep_rungs", "sweep_trials", "sweeps")


def downgrade_to_schema_2(store):
    """Makes the (unmounted) store's database a version 2 one, as the
    round-1 trainfs left it, for the upgrade tests."""
    import sqlite3
    db = sqlite3.connect(os.path.join(store, "trainfs.db"))
    for col in COLUMNS_AFTER_V2:
        db.execute("ALTER TABLE jobs DROP COLUMN %s" % col)
    for table in TABLES_AFTER_V2:
        db.execute("DROP TABLE %s" % table)
    db.execute("PRAGMA user_version = 2")
    db.commit()
    db.close()


def sh(cmd, **kw):
    """Runs CMD under /bin/sh; returns (exit status, stdout, stderr)."""
    p = subprocess.run(["/bin/sh", "-c", cmd], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True, timeout=60, **kw)
    return p.returncode, p.stdout, p.stderr


def bash(cmd, **kw):
    p = subprocess.run(["/bin/bash", "-c", cmd], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True, timeout=60, **kw)
    return p.returncode, p.stdout, p.stderr
