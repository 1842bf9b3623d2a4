"""An attacker (nobody) against a root trainfs mounted -o allow_other:
through the mount, everything that would change or reveal more of
another user's job than the SPEC lets everyone read is refused; from a
trainer of its own, the store gives nothing of other jobs and nothing of
its own job folder can be swapped for a link."""
import errno
import json
import os
import shutil
import subprocess
import time

import harness
from harness import PY, TRAINER, errno_of, executors

NOBODY = 65534

PRELUDE = r"""
import errno, json, os, socket, sys
def err(fn, *a):
    try:
        r = fn(*a)
    except OSError as e:
        return errno.errorcode[e.errno]
    if fn is os.open:
        os.close(r)
    return 0
def write(path, data, flags=os.O_WRONLY | os.O_TRUNC):
    fd = os.open(path, flags)
    try:
        os.write(fd, data if isinstance(data, bytes) else data.encode())
    finally:
        os.close(fd)
def read(path):
    with open(path, "rb") as f:
        return f.read()
def connect(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(path)
    finally:
        s.close()
"""


def as_nobody(code):
    p = subprocess.run([PY, "-c", PRELUDE + code], user=NOBODY, group=NOBODY,
                       extra_groups=[], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True, timeout=60, cwd="/")
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout.strip().splitlines()[-1])


def test_nobody_cannot_touch_roots_job_through_the_mount(m):
    m.remount(["-o", "allow_other"])
    m.make_job("r", trainer_args="--epochs 1 --epoch-ms 5")
    spec = m.read("r", "spec")
    # Root's editor left a private scratch file in its job folder.
    fd = os.open(m.job("r", ".spec.swp"), os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, b"root's secret")
    os.close(fd)
    j = m.job("r")
    res = as_nobody("""
j = %r
out = {
  "spec": err(write, j + "/spec", "command = id\\n"),
  "spec_append": err(write, j + "/spec", "x = 1\\n", os.O_WRONLY | os.O_APPEND),
  "truncate_spec": err(os.truncate, j + "/spec", 0),
  "truncate_tags": err(os.truncate, j + "/tags", 0),
  "control": err(write, j + "/control", "start\\n"),
  "tags": err(write, j + "/tags", "x\\n"),
  "create": err(os.open, j + "/evil", os.O_WRONLY | os.O_CREAT, 0o666),
  "create_swp": err(os.open, j + "/.spec.swp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666),
  "read_swp": err(read, j + "/.spec.swp"),
  "unlink_swp": err(os.unlink, j + "/.spec.swp"),
  "rename_swp": err(os.rename, j + "/.spec.swp", j + "/x"),
  "rename_swp_onto_spec": err(os.rename, j + "/.spec.swp", j + "/spec"),
  "unlink_status": err(os.unlink, j + "/status"),
  "rename_job": err(os.rename, j, j + "-mine"),
  "mkdir_in_job": err(os.mkdir, j + "/d"),
  "symlink_in_job": err(os.symlink, "/etc/shadow", j + "/l"),
  "chmod": err(os.chmod, j + "/spec", 0o666),
  "chown": err(os.chown, j + "/spec", %d, %d),
  "utime": err(os.utime, j + "/spec", (0, 0)),
  "setxattr_tags": err(os.setxattr, j, "user.xdg.tags", b"mine"),
  "setxattr_comment": err(os.setxattr, j, "user.xdg.comment", b"mine"),
  "setxattr_file": err(os.setxattr, j + "/spec", "user.xdg.comment", b"mine"),
  "removexattr": err(os.removexattr, j, "user.xdg.tags"),
  "rmdir": err(os.rmdir, j),
}
os.mkdir(os.path.dirname(j) + "/mine")
out["rename_onto_root"] = err(os.rename, os.path.dirname(j) + "/mine", j)
print(json.dumps(out))
""" % (j, NOBODY, NOBODY))
    denied = ("EACCES", "EPERM")
    bad = {k: v for k, v in res.items() if v not in denied}
    assert not bad, bad
    assert m.read("r", "spec") == spec and m.state("r") == "created"
    assert m.tags("r") == [] and os.path.isdir(m.job("r"))
    assert open(m.job("r", ".spec.swp"), "rb").read() == b"root's secret"
    assert sorted(os.listxattr(m.job("r"))) == sorted(os.listxattr(m.job("mine")))
    assert os.getxattr(m.job("r"), "user.xdg.tags") == b""


TRAINER_PROBE = r"""
import errno, json, os, socket, sys
out_dir = os.environ["TRAINFS_OUTPUT"]
me = os.path.dirname(out_dir)              # STORE/jobs/ID
store = os.path.dirname(os.path.dirname(me))
other = os.path.join(os.path.dirname(me), sys.argv[1])
def err(fn, *a):
    try:
        fn(*a)
        return 0
    except OSError as e:
        return errno.errorcode[e.errno]
def read(p):
    with open(p, "rb") as f:
        f.read(1)
def connect(p):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(p)
    finally:
        s.close()
res = {
  "list_store": err(os.listdir, store),
  "list_jobs": err(os.listdir, os.path.dirname(me)),
  "db": err(read, os.path.join(store, "trainfs.db")),
  "other_log": err(read, os.path.join(other, "log")),
  "other_metrics": err(read, os.path.join(other, "metrics.txt")),
  "other_output": err(os.listdir, os.path.join(other, "output")),
  "other_sock": err(connect, os.path.join(other, "shim.sock")),
  "other_stop": err(lambda p: open(p, "w"), os.path.join(other, "stop")),
  "list_me": err(os.listdir, me),
  "unlink_log": err(os.unlink, os.path.join(me, "log")),
  "unlink_metrics": err(os.unlink, os.path.join(me, "metrics.txt")),
  "link_in_me": err(os.symlink, "/etc/shadow", os.path.join(me, "x")),
  "rename_output": err(os.rename, out_dir, os.path.join(me, "o2")),
  "weights": err(os.mkdir, os.path.join(me, "weights")),
}
os.symlink("/etc/shadow", os.path.join(out_dir, "shadow"))
with open(os.environ["TRAINFS_METRICS"], "a") as f:
    f.write("epoch=1 loss=0.5\n")
print(json.dumps(res), flush=True)
"""


def test_trainer_of_nobody_cannot_reach_the_store(m):
    m.remount(["-o", "allow_other"])
    tr = os.path.join(m.dir, "trainer.py")
    shutil.copy(TRAINER, tr)
    os.chmod(tr, 0o644)
    m.make_job("root-job", spec="command = %s %s --forever --epoch-ms 20\n" % (PY, tr),
               start=True)
    m.wait_epoch("root-job", 1)
    probe = os.path.join(m.dir, "probe.py")
    with open(probe, "w") as f:
        f.write(TRAINER_PROBE)
    os.chmod(probe, 0o644)
    jobs = os.path.join(m.store, "jobs")
    root_id = sorted(os.listdir(jobs), key=int)[0]
    mine = m.job("mine")
    as_nobody("""
os.mkdir(%r)
write(%r + "/spec", "command = %s %s %s\\n")
write(%r + "/control", "start\\n")
print("{}")
""" % (mine, mine, PY, probe, root_id, mine))
    m.wait_state("mine", ("ready", "failed"), timeout=30)
    log = m.read("mine", "log")
    res = json.loads(log.strip().splitlines()[-1])
    denied = ("EACCES", "EPERM")
    bad = {k: v for k, v in res.items() if v not in denied}
    assert not bad, (bad, log)
    assert m.state("mine") == "ready", m.read("mine", "status")
    # Its output's link to /etc/shadow is packed as a link.
    tarball = m.job("mine", "weights", os.listdir(m.job("mine", "weights"))[0])
    out = subprocess.run(["tar", "-tvf", tarball],
                         stdout=subprocess.PIPE, text=True)
    assert "shadow -> /etc/shadow" in out.stdout, (tarball, out)
    assert m.state("root-job") == "running"
    m.control("root-job", "cancel")


def test_scratch_files_of_one_user_are_bounded(m):
    """Editors' scratch files live in trainfs's memory: one user cannot
    make it hold more than SCRATCH_USER_BYTES (64 MiB) of them however
    many jobs it makes, nor more files than its jobs allow by keeping
    unlinked ones open; another user's editor still works."""
    m.remount(["-o", "allow_other"])
    res = as_nobody("""
jobs = %r
mb = b"x" * (1 << 20)
written, first_err, fds, open_err = 0, None, [], None
for j in range(8):
    d = "%%s/n%%d" %% (jobs, j)
    os.mkdir(d)
    for i in range(16):
        try:
            fd = os.open("%%s/.s%%d.swp" %% (d, i), os.O_WRONLY | os.O_CREAT, 0o600)
        except OSError as e:
            first_err = first_err or errno.errorcode[e.errno]
            continue
        try:
            os.write(fd, mb)
            written += 1
        except OSError as e:
            first_err = first_err or errno.errorcode[e.errno]
        os.close(fd)
# unlinked while open: still the job's
d = jobs + "/open"
os.mkdir(d)
for i in range(40):
    try:
        fd = os.open("%%s/u%%d" %% (d, i), os.O_WRONLY | os.O_CREAT, 0o600)
    except OSError as e:
        open_err = errno.errorcode[e.errno]
        break
    os.unlink("%%s/u%%d" %% (d, i))
    fds.append(fd)
print(json.dumps({"mib": written, "err": first_err, "open_files": len(fds),
                  "open_err": open_err}))
""" % m.path("jobs"))
    assert res["mib"] <= 64 and res["err"] == "ENOSPC", res
    assert res["open_files"] <= 16 and res["open_err"] == "ENOSPC", res
    os.mkdir(m.job("r"))
    with open(m.job("r", ".spec.swp"), "wb") as f:
        f.write(b"r" * (1 << 20))
    assert os.path.getsize(m.job("r", ".spec.swp")) == 1 << 20


# Issue 20, blocking: N3, N4, N5, N7
#
# Each attack runs beside a probe: a thread that reads another job's
# status every 20 ms.  Its worst read (one still under way counts for as
# long as it has waited) must stay under 1 s.  A FUSE connection an attack
# wedged is aborted in the cleanup, so the suite always finishes.

import time

import hangfs
from harness import executors
from probe import Probe, background, settle


def other_job(m, **keys):
    """Root's running job, whose status the probe reads."""
    m.make_job("other", trainer_args="--forever --epoch-ms 20", start=True,
               **keys)
    m.wait_epoch("other", 1)
    return Probe(m.job("other", "status"))


def nobody_job(m, name, spec):
    as_nobody("""
os.mkdir(%r)
write(%r, %r)
print("{}")
""" % (m.job(name), m.job(name, "spec"), spec))


def test_workdir_on_the_mount_is_refused_at_start(m):
    """N3: a workdir inside the trainfs mount itself, then start and many
    reads of that job's status.  The check must never wait on the mount
    with the job's lock held: start fails with EINVAL and says why."""
    m.remount(["-o", "allow_other"])
    probe = other_job(m)
    wd = m.job("x", "not-cached")
    nobody_job(m, "x", "command = %s %s --epochs 1\nworkdir = %s\n"
               % (PY, TRAINER, wd))
    procs = []
    try:
        start = subprocess.Popen(
            [PY, "-c", PRELUDE + "print(err(write, %r, 'start\\n'))"
             % m.job("x", "control")],
            user=NOBODY, group=NOBODY, extra_groups=[],
            stdout=subprocess.PIPE, text=True)
        procs.append(start)
        procs += [background(["cat", m.job("x", "status")])
                  for _ in range(30)]
        time.sleep(2)
        worst = probe.worst()
        assert worst < 1, "probe waited %.1f s" % worst
        out, _ = start.communicate(timeout=5)
        assert out.strip() == "EINVAL", out
        _, kv = m.status("x")
        assert kv["error"] == "workdir '%s' is on the trainfs mount" % wd, kv
        assert m.state("x") == "created"
        assert "is on the trainfs mount" in m.read("x", "control")
        # Through a link the name does not say it: the filesystem does.
        link = os.path.join(m.dir, "to-mount")
        os.symlink(m.path("jobs"), link)
        wd = os.path.join(link, "x")
        assert m.write("x", "spec", "command = %s %s --epochs 1\n"
                       "workdir = %s\n" % (PY, TRAINER, wd)) == 0
        t0 = time.monotonic()
        assert m.control("x", "start") == errno.EINVAL
        assert time.monotonic() - t0 < 2
        assert m.status("x")[1]["error"] == \
            "workdir '%s' is on the trainfs mount" % wd
    finally:
        probe.stop()
        settle(procs, m)
    print("N3 probe worst read: %.3f s (%d reads)" % (probe.worst(), probe.reads))


def test_stopped_fuse_mount_in_checkpoints_does_not_stop_supervision(m):
    """N4: the owner mounts a FUSE filesystem that never answers as
    checkpoints/epoch-9.tmp, then resumes from epoch 2: clearing what is
    after the resume point must not enter it, and nothing else waits."""
    m.remount(["-o", "allow_other"])
    nobody_job(m, "n", "command = %s %s --epochs 6 --checkpoint-every 1 "
               "--epoch-ms 5 --fail-at 2\nepochs = 6\n" % (PY, TRAINER))
    as_nobody("write(%r, 'start\\n')\nprint('{}')" % m.job("n", "control"))
    m.wait_state("n", "failed")
    probe = other_job(m)
    jobs = os.path.join(m.store, "jobs")
    jid = [d for d in os.listdir(jobs)
           if os.stat(os.path.join(jobs, d)).st_uid == 0 and
           os.path.isdir(os.path.join(jobs, d, "checkpoints")) and
           os.stat(os.path.join(jobs, d, "checkpoints")).st_uid == NOBODY][0]
    target = os.path.join(jobs, jid, "checkpoints", "epoch-9.tmp")
    os.mkdir(target)
    os.chown(target, NOBODY, NOBODY)
    hang = hangfs.hang_mount(target)
    procs = []
    try:
        e0 = m.wait_epoch("other", 1)
        as_nobody("print(json.dumps(err(write, %r, 'resume\\n')))"
                  % m.job("n", "control"))
        index = background(["cat", m.path("index.html")])
        procs.append(index)
        time.sleep(2.5)
        worst = probe.worst()
        assert worst < 1, "probe waited %.1f s" % worst
        e1 = m.wait_epoch("other", 1, timeout=1)
        assert e1 > e0 + 5, "no ingest meanwhile: epoch %d, then %d" % (e0, e1)
        assert index.poll() == 0, "index.html still not read"
        # The resumed job went on (or failed) without the foreign mount.
        m.wait_state("n", ("ready", "failed"), timeout=10)
    finally:
        probe.stop()
        settle(procs, m, [target])
        hang.kill()
        hang.wait()
    print("N4 probe worst read: %.3f s (%d reads)" % (probe.worst(), probe.reads))


LEASE = """
import fcntl, signal, sys, time
signal.signal(signal.SIGIO, signal.SIG_IGN)
f = open(sys.argv[1], "rb")
fcntl.fcntl(f, fcntl.F_SETLEASE, fcntl.F_WRLCK)
print("leased", flush=True)
time.sleep(60)
"""


def test_write_lease_on_own_log_stalls_no_reader(m):
    """N5: the owner holds a write lease on its job's log in the store and
    readers cat the log: opening it must not wait for the lease (with a
    job's lock, or on every FUSE worker)."""
    m.remount(["-o", "allow_other"])
    nobody_job(m, "n", "command = %s %s --epochs 2 --epoch-ms 5 --print\n"
               % (PY, TRAINER))
    as_nobody("write(%r, 'start\\n')\nprint('{}')" % m.job("n", "control"))
    m.wait_state("n", "ready")
    probe = other_job(m)
    jobs = os.path.join(m.store, "jobs")
    log = [os.path.join(jobs, d, "log") for d in sorted(os.listdir(jobs), key=int)
           if os.path.exists(os.path.join(jobs, d, "log")) and
           os.stat(os.path.join(jobs, d, "log")).st_uid == NOBODY][0]
    holder = subprocess.Popen([PY, "-c", LEASE, log], user=NOBODY,
                              group=NOBODY, extra_groups=[],
                              stdout=subprocess.PIPE, text=True)
    procs = [holder]
    try:
        assert holder.stdout.readline().strip() == "leased"
        cats = [background(["cat", m.job("n", "log")]) for _ in range(80)]
        procs += cats
        time.sleep(2)
        worst = probe.worst()
        assert worst < 1, "probe waited %.1f s" % worst
        t0 = time.monotonic()
        m.read("n", "status")
        assert time.monotonic() - t0 < 1
        assert all(c.poll() is not None for c in cats), \
            "%d of 80 cat log still waiting" % sum(c.poll() is None for c in cats)
    finally:
        probe.stop()
        holder.kill()
        settle(procs, m)
    print("N5 probe worst read: %.3f s (%d reads)" % (probe.worst(), probe.reads))


# The trainer of N7: in the shim's own folder (JOBDIR/run under Slurm,
# the owner's) the exit record becomes a FIFO, then the shim is killed, so
# the only exit record trainfs can find is the FIFO.
FIFO_TRAINER = r"""
import os, signal, time
for d in (os.path.dirname(os.environ["TRAINFS_STOP_FILE"]),
          os.path.dirname(os.environ["TRAINFS_METRICS"])):
    for run in (d, os.path.join(d, "run")):
        if os.path.basename(run) == "run" and os.path.isdir(run):
            os.mkfifo(os.path.join(run, "exit"))
            pid = os.getppid()
            while pid > 1:
                with open("/proc/%d/cmdline" % pid, "rb") as f:
                    if b"__shim" in f.read():
                        os.kill(pid, signal.SIGKILL)
                        break
                with open("/proc/%d/stat" % pid) as f:
                    pid = int(f.read().rsplit(")", 1)[1].split()[1])
            time.sleep(30)
"""


@executors("slurm")
def test_fifo_as_exit_record_blocks_no_one(m):
    """N7: a FIFO where the shim's exit record goes (JOBDIR/run/exit under
    Slurm, the owner's folder).  Reading the records of an ended job must
    not wait for a writer: a local job goes on being ingested and the
    job ends as failed."""
    m.remount(["-o", "allow_other"])
    probe = other_job(m, executor="local")
    tr = os.path.join(m.dir, "fifo_trainer.py")
    with open(tr, "w") as f:
        f.write(FIFO_TRAINER)
    os.chmod(tr, 0o644)
    nobody_job(m, "n", "command = %s %s\n" % (PY, tr))
    fifos = []
    try:
        as_nobody("write(%r, 'start\\n')\nprint('{}')" % m.job("n", "control"))
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline and m.state("n") in ("queued", "running"):
            fifos = [os.path.join(r, "exit") for r, _, fs in
                     os.walk(os.path.join(m.store, "jobs")) if "exit" in fs]
            time.sleep(0.1)
        assert fifos, "no FIFO was planted"
        e0 = m.wait_epoch("other", 1)
        time.sleep(2)
        worst = probe.worst()
        assert worst < 1, "probe waited %.1f s" % worst
        e1 = m.wait_epoch("other", 1, timeout=1)
        assert e1 > e0 + 5, "no ingest meanwhile: epoch %d, then %d" % (e0, e1)
        m.wait_state("n", "failed", timeout=30)
    finally:
        probe.stop()
        for p in fifos:  # a reader stuck on the FIFO gets its end of file
            try:
                os.close(os.open(p, os.O_WRONLY | os.O_NONBLOCK))
            except OSError:
                pass
    print("N7 probe worst read: %.3f s (%d reads)" % (probe.worst(), probe.reads))


# Issue 20, paths: N1, N2, N9, names

def root_only_file(m, name):
    """A file only root may read or change (what an attacker wants)."""
    p = os.path.join(m.dir, name)
    with open(p, "w") as f:
        f.write("root's own\n")
    os.chmod(p, 0o600)
    return p


RACER = r"""
import os, sys, time
victim, dirs = sys.argv[1], sys.argv[2:]
print("ready", flush=True)
for d in dirs:
    tries, deadline = 0, time.monotonic() + 5
    while tries < 3000 and time.monotonic() < deadline:
        try:
            os.symlink(victim, d + "/l")
        except FileNotFoundError:
            continue  # its run/ is not made yet
        except OSError:
            pass
        try:
            os.rename(d + "/l", d + "/launch")
        except OSError:
            pass
        tries += 1
"""


def test_n1_a_link_over_run_launch_never_gives_a_root_file_away(m):
    """N1: nobody's jobs say executor = slurm (no Slurm needed: the launch
    file is written before sbatch); a racer renames a link to a root-only
    file over JOBDIR/run/launch as fast as it can while each job starts:
    the root file must stay root's, whatever the timing."""
    m.remount(["-o", "allow_other"])
    victim = root_only_file(m, "victim")
    n = 25
    as_nobody("""
for i in range(%d):
    os.mkdir("%s/n1-%%d" %% i)
    write("%s/n1-%%d/spec" %% i, "command = true\\nexecutor = slurm\\n")
print(json.dumps(0))
""" % (n, m.path("jobs"), m.path("jobs")))
    runs = [os.path.join(m.store, "jobs", str(i + 1), "run") for i in range(n)]
    racer = subprocess.Popen([PY, "-c", RACER, victim] + runs, user=NOBODY,
                             group=NOBODY, extra_groups=[], cwd="/",
                             stdout=subprocess.PIPE, text=True)
    try:
        assert racer.stdout.readline().strip() == "ready"
        for i in range(n):
            assert m.control("n1-%d" % i, "start") == 0
            deadline = time.monotonic() + 5
            while not os.path.isdir(runs[i]) and time.monotonic() < deadline:
                time.sleep(0.005)
            time.sleep(0.1)
            if os.stat(victim).st_uid != 0:
                break
    finally:
        racer.kill()
        racer.wait()
    st = os.stat(victim)
    assert (st.st_uid, st.st_gid) == (0, 0), \
        "root's file became uid %d's at launch %d" % (st.st_uid, i + 1)


def test_n2_store_in_a_folder_a_user_owns_is_refused(m):
    """N2: the store's parent is nobody's, so nobody could swap the store
    for a folder of their own (a job's log a link to a root-only file,
    read through the mount).  trainfs refuses such a store before it
    makes or reads anything in it."""
    m.unmount()
    parent = os.path.join(m.dir, "nobodys")
    os.mkdir(parent)
    os.chmod(parent, 0o755)
    os.chown(parent, NOBODY, NOBODY)
    secret = root_only_file(m, "secret")
    store = os.path.join(parent, "store")
    m.store = store
    try:
        m.start(["-o", "allow_other"])
    except AssertionError as e:
        want = "trainfs: store %s: its parent '%s' is writable by others" % (
            store, parent)
        assert want in str(e), str(e)
        assert not os.path.exists(store)
        return
    # Mounted (the bug): what nobody then does with it.
    m.make_job("x", spec="command = true\n")
    leaked = as_nobody("""
store, secret, log = %r, %r, %r
os.rename(store, store + ".real")
os.makedirs(store + "/jobs/1")
os.symlink(secret, store + "/jobs/1/log")
try:
    print(json.dumps(read(log).decode()))
except OSError as e:
    print(json.dumps(errno.errorcode[e.errno]))
""" % (store, secret, m.job("x", "log")))
    raise AssertionError("a store in nobody's folder was used; the job's "
                         "log then read: %r" % leaked)


def test_store_whose_parent_others_may_write_is_refused(m):
    """The store's ancestors: one writable by others is refused with the
    SPEC's words; a sticky one (like /tmp) only when the next folder down
    is not trainfs's own."""
    m.unmount()
    cases = {}
    open_dir = os.path.join(m.dir, "open")          # 0777, not sticky
    os.mkdir(open_dir)
    os.chmod(open_dir, 0o777)
    cases["open"] = (os.path.join(open_dir, "a", "store"), open_dir)
    sticky = os.path.join(m.dir, "sticky")          # 1777, like /tmp
    os.mkdir(sticky)
    os.chmod(sticky, 0o1777)
    theirs = os.path.join(sticky, "theirs")         # nobody's, in it
    os.mkdir(theirs)
    os.chown(theirs, NOBODY, NOBODY)
    cases["sticky, theirs below"] = (os.path.join(theirs, "store"), sticky)
    group = os.path.join(m.dir, "group")            # 0775, another group
    os.mkdir(group)
    os.chown(group, 0, NOBODY)
    os.chmod(group, 0o775)
    cases["group"] = (os.path.join(group, "store"), group)
    for how, (store, bad) in cases.items():
        rc, err = try_mount(m, store)
        want = "trainfs: store %s: its parent '%s' is writable by others" % (
            store, bad)
        assert rc != 0 and want in err, (how, err)
    # A link to the store, in a folder others may write: its own folder
    # is what counts, the link is followed once.
    link = os.path.join(open_dir, "link")
    os.symlink(os.path.join(open_dir, "a", "store"), link)
    rc, err = try_mount(m, link)
    assert rc != 0 and "its parent '%s' is writable by others" % open_dir \
        in err, err
    # Sticky with trainfs's own folder below: fine (as the tests' /tmp).
    m.store = os.path.join(sticky, "mine", "store")
    m.start()
    m.make_job("ok", trainer_args="--epochs 1 --epoch-ms 5", start=True)
    m.wait_state("ok", ["ready"])


def try_mount(m, store):
    """Runs trainfs on STORE; returns (exit status, stderr).  One that
    mounts (the bug) is unmounted and fails the test."""
    p = subprocess.Popen([harness.TRAINFS, m.mnt, "--store", store, "-f"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                         text=True)
    try:
        _, err = p.communicate(timeout=5)
    except subprocess.TimeoutExpired:
        subprocess.run(["fusermount3", "-u", "-z", m.mnt])
        p.kill()
        p.communicate()
        raise AssertionError("trainfs used store %s" % store)
    return p.returncode, err


def test_names_that_lie_are_refused(m):
    """Job names with a noncharacter (U+FFFE, U+FFFF, U+FDD0) or a format
    or separator character (U+202E, U+2028, U+2029, U+200B) fail with
    EINVAL; their neighbours are fine."""
    m.remount(["-o", "allow_other"])
    bad = ["a\ufffe", "b\uffff", "c\ufdd0", "report\u202etxt.exe",
           "two\u2028lines", "p\u2029q", "zero\u200bwidth", "\ufeffbom"]
    res = as_nobody("""
jobs, bad = %r, %r
print(json.dumps([err(os.mkdir, jobs + "/" + n) for n in bad]))
""" % (m.path("jobs"), bad))
    assert res == ["EINVAL"] * len(bad), list(zip(bad, res))
    for n in bad:
        assert errno_of(os.mkdir, m.job(n)) == errno.EINVAL, repr(n)
    assert sorted(os.listdir(m.path("jobs"))) == []
    for n in ("ok\ufffd", "x\ufdcf", "y\u2030", "\u00a0nbsp"):
        os.mkdir(m.job(n))
    assert len(os.listdir(m.path("jobs"))) == 4


@executors("slurm")
def test_n9_roots_slurm_variables_reach_neither_sbatch_nor_trainer(m):
    """N9: trainfs (root) has SBATCH_* and SLURM_* of its own; a user's
    Slurm job is submitted without them (SBATCH_PARTITION would send it
    to a partition that does not exist) and its trainer sees none of
    them, only the allocation's own SLURM_* variables."""
    mine = {"SBATCH_PARTITION": "roots-only", "SBATCH_COMMENT": "root",
            "SLURM_ROOT_SECRET": "hunter2"}
    saved = {k: os.environ.get(k) for k in mine}
    os.environ.update(mine)
    try:
        m.remount(["-o", "allow_other"])
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    # Root's own job, and nobody's.
    m.make_job("j", trainer_args="--epochs 1 --epoch-ms 5 --report env.json",
               start=True)
    as_nobody("""
os.mkdir(%r)
write(%r, "command = %s %s --epochs 1 --epoch-ms 5 --report env.json\\n")
print(json.dumps(0))
""" % (m.job("n"), m.job("n", "spec"), PY, TRAINER))
    assert m.control("n", "start") == 0
    for name, i in (("j", 1), ("n", 2)):
        m.wait_state(name, ["ready", "failed"], timeout=60)
        assert m.state(name) == "ready", m.read(name, "status")
        with open(os.path.join(m.store, "jobs", str(i), "output",
                               "env.json")) as f:
            env = json.load(f)["env"]
        leaked = sorted(k for k in env
                        if k in mine or k.startswith("SBATCH_"))
        assert leaked == [], (name, leaked)
        assert env.get("SLURM_JOB_ID"), (name, sorted(env))


# Issue 20, memory: N6, N8

import resource  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402

# A trainer that writes COLS metrics for each of ROWS epochs at once, then
# ends: a big metrics table in a few seconds.
BIG_TABLE = r"""
import os, sys
cols, rows = int(sys.argv[1]), int(sys.argv[2])
with open(os.environ["TRAINFS_METRICS"], "w") as f:
    for e in range(1, rows + 1):
        f.write("epoch=%d " % e + " ".join(
            "m%d=%.6f" % (c, ((c * 7 + e) % 1000) / 997.0)
            for c in range(cols)) + "\n")
"""


class StatusProbe:
    """Another user's `cat status` of another job every 20 ms; `worst` is
    the slowest read, in seconds."""

    def __init__(self, m, name="probe"):
        m.make_job(name)
        self.path = m.job(name, "status")
        self.worst, self.reads, self.errors = 0.0, 0, []
        self.done = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while not self.done.is_set():
            t0 = time.monotonic()
            try:
                with open(self.path, "rb") as f:
                    f.read()
            except OSError as e:
                self.errors.append(errno.errorcode[e.errno])
            self.worst = max(self.worst, time.monotonic() - t0)
            self.reads += 1
            time.sleep(0.02)

    def stop(self):
        self.done.set()
        self.thread.join(timeout=600)
        assert not self.thread.is_alive(), "the probe's read never returned"
        assert self.reads > 0 and not self.errors, (self.reads, self.errors)
        return self.worst


def nobody_started_job(m, name, spec):
    """mkdir and spec as nobody, then start: a job of the attacker's."""
    res = as_nobody("""
d = %r
os.mkdir(d)
write(d + "/spec", %r)
print(json.dumps(err(write, d + "/control", "start\\n")))
""" % (m.job(name), spec))
    assert res == 0, res


def big_table_job(m, name, cols, rows, last=None):
    """A job of nobody's whose trainer reports COLS metrics for ROWS
    epochs; returns once it is final with epoch LAST (ROWS) taken in."""
    script = os.path.join(m.dir, "big_table.py")
    with open(script, "w") as f:
        f.write(BIG_TABLE)
    nobody_started_job(m, name, "command = %s %s %d %d\n" % (PY, script, cols, rows))
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        state, kv = m.status(name)
        if state in ("ready", "failed") and \
                kv.get("epoch") == str(last or rows):
            return
        time.sleep(0.1)
    raise AssertionError(m.read(name, "status"))


def test_n6_many_readers_of_a_huge_metrics_table(m):
    """N6: 1,000 metrics x 1,000 epochs (scaled down from 3,000 epochs:
    the point stands with a 9 MB rendering), then 70 concurrent `cat
    metrics` and stats of it by its owner: another user's status of
    another job answers within 1 s throughout, every reader gets the
    whole table, and a stat of that job is answered without rendering
    it."""
    m.remount(["-o", "allow_other"])
    big_table_job(m, "huge", 1000, 1000)
    path = m.job("huge", "metrics")
    probe = StatusProbe(m)
    t0 = time.monotonic()
    os.stat(path)
    stat_s = time.monotonic() - t0
    readers = [subprocess.Popen(
        ["/bin/sh", "-c", "cat %s | wc -c; stat -c %%s %s %s" %
         (path, path, m.job("huge", "graph.svg"))],
        user=NOBODY, group=NOBODY, extra_groups=[],
        stdout=subprocess.PIPE, text=True) for _ in range(70)]
    outs = [r.communicate(timeout=300)[0].split() for r in readers]
    worst = probe.stop()
    size = os.path.getsize(path)
    assert size > 5_000_000
    for o in outs:
        assert int(o[0]) == size and int(o[1]) == size, (o, size)
    with open(path, "rb") as f:
        text = f.read()
    assert len(text) == size and text.count(b"\n") == 1001
    print("stat of the huge job: %.3f s; probe worst read %.3f s"
          % (stat_s, worst))
    assert stat_s < 1.0, stat_s
    assert worst < 1.0, worst


def sanitized():
    """Whether the trainfs under test is built with AddressSanitizer."""
    with open(harness.TRAINFS, "rb") as f:
        return b"__asan_init" in f.read()


def daemon_memory_cap(m, extra):
    """Caps the daemon's data segment (RLIMIT_DATA, with prlimit) at what
    it uses now plus EXTRA bytes: a test-sized stand-in for a machine's
    memory, so that exhausting the daemon takes seconds."""
    if sanitized():
        return  # ASan maps its shadow and quarantine as data: no cap fits
    with open("/proc/%d/status" % m.proc.pid) as f:
        kv = dict(line.split(":", 1) for line in f if ":" in line)
    now = int(kv["VmData"].split()[0]) * 1024
    resource.prlimit(m.proc.pid, resource.RLIMIT_DATA,
                     (now + extra, now + extra))


def daemon_rss_mib(m):
    with open("/proc/%d/status" % m.proc.pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) // 1024
    return -1


def roots_work_still_works(m):
    """What another user (root) does meanwhile: a 512 KiB spec written
    and read back, a status and the dashboard read."""
    text = "command = true\n" + "# %s\n" % ("x" * 1000) * 500
    assert m.write("mine", "spec", text) == 0
    assert m.read("mine", "spec") == text
    assert m.state("mine") == "created"
    with open(m.path("index.html"), "rb") as f:
        assert f.read().startswith(b"<!")


def test_n8_spec_handles_of_one_user_are_charged_to_it(m):
    """N8: nobody holds 150 `spec` files open with 1 MiB written in each,
    against a daemon capped at 300 MiB more than it uses: past its 64 MiB
    share nobody's writes fail with ENOMEM, and root's spec, status and
    dashboard work meanwhile (before: the daemon ran out, for everyone)."""
    m.remount(["-o", "allow_other"])
    m.make_job("mine")
    daemon_memory_cap(m, 300 << 20)
    probe = StatusProbe(m)
    j = m.job("big")
    code = """
j = %r
os.mkdir(j)
mb = b"# " + b"x" * ((1 << 20) - 3) + b"\\n"
fds, first_err, ok = [], None, 0
for i in range(150):
    try:
        fd = os.open(j + "/spec", os.O_WRONLY | os.O_TRUNC)
    except OSError as e:
        first_err = first_err or errno.errorcode[e.errno]
        continue
    fds.append(fd)
    try:
        os.write(fd, mb)
        ok += 1
    except OSError as e:
        first_err = first_err or errno.errorcode[e.errno]
sys.stdout.write(json.dumps({"ok": ok, "err": first_err}) + "\\n")
sys.stdout.flush()
sys.stdin.readline()  # held open until root has done its work
""" % j
    p = subprocess.Popen([PY, "-c", PRELUDE + code], user=NOBODY,
                         group=NOBODY, extra_groups=[], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, text=True, cwd="/")
    res = json.loads(p.stdout.readline())
    try:
        print("nobody's spec writes:", res, "daemon RSS %d MiB"
              % daemon_rss_mib(m))
        roots_work_still_works(m)
        assert res["err"] == "ENOMEM" and res["ok"] <= 64, res
    finally:
        p.stdin.write("\n")
        p.stdin.close()
        p.wait(timeout=60)
    assert probe.stop() < 1.0


def test_n8_dashboard_held_open_is_shared_and_charged(m):
    """N8: 200 jobs of nobody's with 1,000 tags each, and index.html held
    open 150 times by nobody, a tag changed before each open (so each open
    holds another version): opens of one version share one rendering, and
    the versions nobody holds count against its 64 MiB, past which its
    open fails with ENOMEM; root's dashboard, spec and status work
    meanwhile, against a daemon capped at 300 MiB more than it uses."""
    m.remount(["-o", "allow_other"])
    m.make_job("mine")
    daemon_memory_cap(m, 300 << 20)
    probe = StatusProbe(m)
    code = """
jobs, index = %r, %r
tags = "".join("t%%04d-%%s\\n" %% (i, "y" * 40) for i in range(990))
for n in range(200):
    d = "%%s/n%%03d" %% (jobs, n)
    os.mkdir(d)
    write(d + "/tags", tags, os.O_WRONLY | os.O_APPEND)
size = len(read(index))
same = [os.open(index, os.O_RDONLY) for _ in range(50)]  # one version
fds, first_err = [], None
for i in range(150):
    write(jobs + "/n000/tags", "v%%d\\n" %% i, os.O_WRONLY | os.O_APPEND)
    try:
        fds.append(os.open(index, os.O_RDONLY))
    except OSError as e:
        first_err = errno.errorcode[e.errno]
        break
sys.stdout.write(json.dumps({"size": size, "held": len(fds),
                             "err": first_err}) + "\\n")
sys.stdout.flush()
sys.stdin.readline()
""" % (m.path("jobs"), m.path("index.html"))
    p = subprocess.Popen([PY, "-c", PRELUDE + code], user=NOBODY,
                         group=NOBODY, extra_groups=[], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, text=True, cwd="/")
    line = p.stdout.readline()
    try:
        assert line, "nobody's opens failed"
        res = json.loads(line)
        print("index.html:", res, "daemon RSS %d MiB" % daemon_rss_mib(m))
        assert res["size"] * 50 > 64 << 20, res  # the 50 opens share
        assert res["err"] == "ENOMEM", res
        assert res["held"] * res["size"] <= 64 << 20, res
        roots_work_still_works(m)
    finally:
        p.stdin.write("\n")
        p.stdin.close()
        p.wait(timeout=60)
    assert probe.stop() < 1.0


def test_n8_tag_names_no_longer_used_are_freed(m):
    """N8: tag names come and go (50 rounds of 1,000 new tags on a job of
    nobody's, by-tag/ listed each round): the table of tag names holds the
    ones in use, not every name ever seen, so a new tag folder's inode
    (TAG_INO_BASE plus its index in the table) stays small."""
    m.remount(["-o", "allow_other"])
    res = as_nobody("""
jobs, bytag = %r, %r
d = jobs + "/t"
os.mkdir(d)
for r in range(50):
    write(d + "/tags", "".join("r%%d-%%d\\n" %% (r, i) for i in range(1000)))
    names = os.listdir(bytag)
last = os.stat(bytag + "/r49-999").st_ino
print(json.dumps({"n": len(names), "index": last - (1 << 60)}))
""" % (m.path("jobs"), m.path("by-tag")))
    assert res["n"] == 1000, res
    assert 0 <= res["index"] < 3000, res


TABLE_ROWS_MAX, TABLE_VALUES_MAX = 50, 2000


def test_metrics_table_is_bounded(m):
    """The low finding (a trainer growing root's trainfs.db without
    bound): past the table's rows or bytes of values, a line is left out
    and counted as `bad metric lines` with "too many rows", and the store
    keeps no more.  The bounds (1,000,000 rows, 256 MiB) take minutes to
    reach, so this test lowers them to 50 rows and 2,000 bytes with the
    test-only TRAINFS_TEST_ROWS_MAX and TRAINFS_TEST_VALUES_MAX."""
    os.environ["TRAINFS_TEST_ROWS_MAX"] = str(TABLE_ROWS_MAX)
    os.environ["TRAINFS_TEST_VALUES_MAX"] = str(TABLE_VALUES_MAX)
    try:
        m.remount(["-o", "allow_other"])
    finally:
        del os.environ["TRAINFS_TEST_ROWS_MAX"]
        del os.environ["TRAINFS_TEST_VALUES_MAX"]
    big_table_job(m, "long", 1, 80, TABLE_ROWS_MAX)  # short rows
    _, kv = m.status("long")
    assert kv["bad metric lines"] == "30 (last: line 80: too many rows)", kv
    rows = m.read("long", "metrics").splitlines()
    assert len(rows) == 1 + TABLE_ROWS_MAX, rows[-3:]
    script = os.path.join(m.dir, "big_table.py")
    nobody_started_job(m, "wide", "command = %s %s 10 30\n" % (PY, script))
    m.wait_state("wide", ("ready", "failed"))
    deadline = time.monotonic() + 20
    while "bad metric lines" not in m.status("wide")[1]:
        assert time.monotonic() < deadline, m.read("wide", "status")
        time.sleep(0.05)
    _, kv = m.status("wide")
    assert kv["bad metric lines"].endswith("line 30: too many rows)"), kv
    wide = m.read("wide", "metrics").splitlines()
    assert 1 < len(wide) < 30, wide
    m.unmount()
    import sqlite3
    db = sqlite3.connect(os.path.join(m.store, "trainfs.db"))
    per_job = db.execute("SELECT job_id, COUNT(*), SUM(LENGTH(line))"
                         " FROM metrics GROUP BY job_id").fetchall()
    db.close()
    assert sorted(n for _, n, _ in per_job) == sorted(
        [TABLE_ROWS_MAX, len(wide) - 1]), per_job
    assert all(b <= TABLE_VALUES_MAX for _, _, b in per_job), per_job
    m.start()
    assert len(m.read("long", "metrics").splitlines()) == 1 + TABLE_ROWS_MAX
