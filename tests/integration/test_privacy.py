"""The store is private and a trainer's output is untrusted (SPEC, "Who may
do what" and "One job cannot hurt the others"): the store's folders and
files are closed to other users, a store others can write is refused
before anything in it is read, a trainer of another user gets a clean
environment, what a trainer writes (and its tarball) is its owner's,
sparse output stays sparse, a deep output folder is removed, trainer text
is shown escaped, and one user's jobs are limited in number."""
import errno
import json
import os
import resource
import shutil
import sqlite3
import stat
import subprocess
import tarfile
import time

import harness
from harness import PY

NOBODY = 65534
SECRET = "AWS_SECRET_ACCESS_KEY"


def as_nobody(code):
    """Runs Python CODE as nobody; returns the JSON of its last line."""
    p = subprocess.run([PY, "-c", code], user=NOBODY, group=NOBODY,
                       extra_groups=[], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True, timeout=60, cwd="/")
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout.strip().splitlines()[-1])


def nobody_job(m, name, command):
    """nobody makes job NAME running COMMAND and starts it."""
    j = m.job(name)
    as_nobody("""
import json, os
def write(path, text):
    fd = os.open(path, os.O_WRONLY | os.O_TRUNC)
    os.write(fd, text.encode())
    os.close(fd)
os.mkdir(%r)
write(%r + "/spec", %r)
write(%r + "/control", "start\\n")
print("{}")
""" % (j, j, "command = %s\n" % command, j))


def script(m, name, text):
    """A script file every user may read; returns its path."""
    path = os.path.join(m.dir, name)
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, 0o644)
    return path


def mode(path):
    return stat.S_IMODE(os.lstat(path).st_mode)


def job_dir(m, id_=1):
    return os.path.join(m.store, "jobs", str(id_))


def read_env(path):
    env = {}
    with open(path, "rb") as f:
        for entry in f.read().split(b"\0"):
            if entry:
                k, _, v = entry.decode(errors="replace").partition("=")
                env[k] = v
    return env


def with_secret(m, args):
    """Restarts trainfs with a secret in its own environment."""
    os.environ[SECRET] = "hunter2"
    os.environ["LC_TIME"] = "C.UTF-8"
    try:
        m.remount(args)
    finally:
        del os.environ[SECRET]
        del os.environ["LC_TIME"]


ENV_DUMP = """
import os
with open(os.path.join(os.environ["TRAINFS_OUTPUT"], "env"), "wb") as f:
    f.write(b"".join(k.encode() + b"=" + v.encode() + b"\\0"
                     for k, v in os.environ.items()))
with open(os.environ["TRAINFS_METRICS"], "a") as f:
    f.write("epoch=1 loss=1\\n")
"""


def test_store_and_trainer_files_are_private(m):
    with_secret(m, ["-o", "allow_other"])
    wait = script(m, "wait.sh",
                  "echo epoch=1 loss=1 >> \"$TRAINFS_METRICS\"\n"
                  "echo hello > \"$TRAINFS_OUTPUT/w\"\n"
                  "while [ ! -e \"$TRAINFS_STOP_FILE\" ]; do sleep 0.02; done\n")
    nobody_job(m, "nb", "/bin/sh %s" % wait)
    m.wait_epoch("nb", 1)
    d = job_dir(m)
    # The launch file, which carries the environment, is gone once read.
    deadline = time.monotonic() + 5
    while os.path.exists(os.path.join(d, "launch")) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not os.path.exists(os.path.join(d, "launch"))
    for p in (m.store, os.path.join(m.store, "jobs"), d):
        assert mode(p) & 0o066 == 0, (p, oct(mode(p)))
        assert os.lstat(p).st_uid == 0
    for f in ("trainfs.db", "trainfs.db-wal", "trainfs.db-shm"):
        p = os.path.join(m.store, f)
        if os.path.exists(p):
            assert mode(p) == 0o600, (p, oct(mode(p)))
    for rel, want in (("output", 0o700), ("work", 0o700),
                      ("metrics.txt", 0o600), ("log", 0o600)):
        st = os.lstat(os.path.join(d, rel))
        assert st.st_uid == NOBODY and st.st_gid == NOBODY, (rel, st.st_uid)
        assert stat.S_IMODE(st.st_mode) == want, (rel, oct(st.st_mode))
    assert m.control("nb", "stop") == 0
    m.wait_state("nb", "ready")
    w = os.path.join(d, "weights")
    assert mode(w) & 0o066 == 0, oct(mode(w))
    st = os.lstat(os.path.join(w, "nb.tar"))
    assert st.st_uid == NOBODY, "the tarball counts against its owner"
    assert stat.S_IMODE(st.st_mode) & 0o066 == 0, oct(st.st_mode)
    # Through the mount, others still read it (allow_other).
    res = as_nobody("""
import json
print(json.dumps({"n": len(open(%r, "rb").read())}))
""" % m.job("nb", "weights", "nb.tar"))
    assert res["n"] > 0


def test_trainer_of_other_user_gets_clean_environment(m):
    with_secret(m, ["-o", "allow_other"])
    dump = "%s %s" % (PY, script(m, "env.py", ENV_DUMP))
    nobody_job(m, "nb", dump)
    m.make_job("mine", spec="command = %s\nenv.FOO = bar\n" % dump,
               start=True)
    m.wait_state("nb", "ready")
    m.wait_state("mine", "ready")
    env = read_env(os.path.join(job_dir(m, 1), "output", "env"))
    assert SECRET not in env, "trainfs's secret reached nobody's trainer"
    allowed = {"HOME", "USER", "LOGNAME", "SHELL", "PATH", "LANG", "TZ",
               "PWD", "OLDPWD", "SHLVL", "_"}  # the last four: sh's own
    extra = [k for k in env if k not in allowed and not k.startswith("LC_")
             and not k.startswith("TRAINFS_")]
    assert extra == [], extra
    assert env["PATH"] == "/usr/local/bin:/usr/bin:/bin"
    assert env["HOME"] == "/nonexistent" and env["USER"] == "nobody"
    assert env["LOGNAME"] == "nobody" and env["SHELL"] == "/usr/sbin/nologin"
    assert env["LC_TIME"] == "C.UTF-8"
    assert env["TRAINFS_JOB"] == "nb"
    # trainfs's own user inherits trainfs's environment, plus env.*.
    env = read_env(os.path.join(job_dir(m, 2), "output", "env"))
    assert env.get(SECRET) == "hunter2" and env["FOO"] == "bar"
    for i in (1, 2):
        assert not os.path.exists(os.path.join(job_dir(m, i), "launch"))


def try_mount(m, store):
    """Runs trainfs on STORE; returns (exit status, stderr).  A trainfs
    that mounts (the bug) is unmounted and fails the test."""
    p = subprocess.Popen([harness.TRAINFS, m.mnt, "--store", store, "-f"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                         text=True)
    try:
        _, err = p.communicate(timeout=5)
    except subprocess.TimeoutExpired:
        harness.unmount(m.mnt)
        p.kill()
        p.communicate()
        raise AssertionError("trainfs used a store others can write")
    return p.returncode, err


def test_store_writable_by_others_is_refused(m):
    m.unmount()
    for how in ("mode", "owner", "db", "jobs"):
        store = os.path.join(m.dir, "store-" + how)
        os.mkdir(store, 0o700)
        if how == "mode":
            os.chmod(store, 0o777)
        elif how == "owner":
            os.chown(store, NOBODY, NOBODY)
        else:
            # A good store first, then one of its parts opened up.
            m.store = store
            m.start()
            m.unmount()
            if how == "db":
                os.chmod(os.path.join(store, "trainfs.db"), 0o666)
            else:
                os.chmod(os.path.join(store, "jobs"), 0o777)
        rc, err = try_mount(m, store)
        assert rc != 0, how
        assert ("trainfs: store %s is writable by others" % store) in err, (how, err)
        if how in ("mode", "owner"):
            # Nothing read, nothing made.
            assert os.listdir(store) == [], (how, os.listdir(store))


def test_planted_job_row_does_not_run(m):
    """Finding 4: a user who can write the store plants a queued job of
    uid 0; trainfs must refuse the store instead of running it as root."""
    pwned = os.path.join(m.dir, "pwned")
    m.make_job("x", spec="command = true\n")
    m.unmount()
    db = sqlite3.connect(os.path.join(m.store, "trainfs.db"))
    db.execute("UPDATE jobs SET state=1, uid=0, gid=0, spec=?",
               (("command = touch %s\n" % pwned).encode(),))
    db.commit()
    db.close()
    for root, dirs, files in os.walk(m.store):
        for n in dirs + files:
            os.lchown(os.path.join(root, n), NOBODY, NOBODY)
    os.chown(m.store, NOBODY, NOBODY)
    rc, err = try_mount(m, m.store)
    time.sleep(0.5)
    assert rc != 0 and "is writable by others" in err, err
    assert not os.path.exists(pwned)


def test_job_folder_link_is_not_followed(m):
    """A job folder that is a symbolic link (planted while unmounted) is
    never followed: trainfs neither writes nor deletes through it."""
    m.make_job("x", spec="command = true\n")
    m.unmount()
    victim = os.path.join(m.dir, "victim")
    os.mkdir(victim)
    with open(os.path.join(victim, "keep"), "w") as f:
        f.write("keep")
    d = job_dir(m)
    shutil.rmtree(d)
    os.symlink(victim, d)
    m.start()
    m.control("x", "start")
    m.wait_state("x", ("failed", "created"))
    assert os.listdir(victim) == ["keep"], os.listdir(victim)
    assert harness.errno_of(os.rmdir, m.job("x")) == 0
    time.sleep(0.5)
    assert os.listdir(victim) == ["keep"], os.listdir(victim)


DEEP = """
import os
fd = os.open(os.environ["TRAINFS_OUTPUT"], os.O_RDONLY)
for i in range(1100):
    os.mkdir("d", dir_fd=fd)
    n = os.open("d", os.O_RDONLY, dir_fd=fd)
    os.close(fd)
    fd = n
os.close(os.open("f", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd))
with open(os.environ["TRAINFS_METRICS"], "a") as f:
    f.write("epoch=1 loss=1\\n")
os._exit(3)
"""


def gone(path, timeout=20):
    deadline = time.monotonic() + timeout
    while os.path.lexists(path) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not os.path.lexists(path)


def test_deep_output_is_removed_with_few_descriptors(m):
    """Finding 7: a folder 1,100 levels deep; trainfs may have only 256
    descriptors, and rmdir still removes the whole job."""
    resource.prlimit(m.proc.pid, resource.RLIMIT_NOFILE, (256, 256))
    deep = script(m, "deep.py", DEEP)
    trash = os.path.join(m.store, "trash")
    try:
        m.make_job("deep", spec="command = %s %s\n" % (PY, deep), start=True)
        m.wait_state("deep", "failed")
        assert os.path.isdir(os.path.join(job_dir(m), "output", "d"))
        os.rmdir(m.job("deep"))
        assert "deep" not in os.listdir(m.path("jobs"))
        assert gone(job_dir(m)), "the job folder is still there"
        deadline = time.monotonic() + 20  # the deleter empties the trash
        while os.path.isdir(trash) and os.listdir(trash) and \
                time.monotonic() < deadline:
            time.sleep(0.05)
        assert not os.path.isdir(trash) or os.listdir(trash) == [], \
            os.listdir(trash)
        m.remount()
        assert "deep" not in os.listdir(m.path("jobs"))
    finally:
        # Python's rmtree recurses: too deep for it.
        subprocess.run(["rm", "-rf", job_dir(m), trash])


def test_control_characters_of_a_trainer_are_escaped(m):
    m.remount(["-o", "allow_other"])
    make = script(m, "bad.py", """
import os
out = os.environ["TRAINFS_OUTPUT"]
p = os.path.join(out, "x\\r\\x1b[31mred\\nerror forged")
open(p, "w").write("secret")
os.chmod(p, 0)
with open(os.environ["TRAINFS_METRICS"], "a") as f:
    f.write("epoch=1 loss=1\\n")
""")
    nobody_job(m, "nb", "%s %s" % (PY, make))
    m.wait_state("nb", "failed")
    status = m.read("nb", "status")
    events = m.read("nb", "events")
    for text in (status, events):
        assert "\r" not in text and "\x1b" not in text, repr(text)
    st, kv = m.status("nb")
    assert "x\\r\\x1b[31mred\\nerror forged'" in kv["error"], kv["error"]
    assert "Permission denied" in kv["error"]


def test_max_jobs_per_user(m):
    m.remount(["-o", "allow_other", "--max-jobs-per-user", "3"])
    res = as_nobody("""
import errno, json, os
out = []
for i in range(4):
    try:
        os.mkdir(%r + "/n%%d" %% i)
        out.append(0)
    except OSError as e:
        out.append(errno.errorcode[e.errno])
os.rmdir(%r + "/n0")
try:
    os.mkdir(%r + "/again")
    out.append(0)
except OSError as e:
    out.append(errno.errorcode[e.errno])
print(json.dumps(out))
""" % (m.path("jobs"), m.path("jobs"), m.path("jobs")))
    assert res == [0, 0, 0, "EDQUOT", 0], res
    # root is not limited
    for i in range(5):
        os.mkdir(m.job("r%d" % i))


def test_max_jobs_per_user_is_checked(m):
    m.unmount()
    for bad in ("0", "-1", "x", ""):
        p = subprocess.run([harness.TRAINFS, m.mnt, "--store", m.store, "-f",
                            "--max-jobs-per-user", bad],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True, timeout=10)
        assert p.returncode != 0 and "max-jobs-per-user" in p.stderr, (bad, p.stderr)
    p = subprocess.run([harness.TRAINFS, "--help"], stdout=subprocess.PIPE,
                       text=True, timeout=10)
    assert "--max-jobs-per-user" in p.stdout


SPARSE = """
import os
p = os.path.join(os.environ["TRAINFS_OUTPUT"], "sparse.bin")
with open(p, "wb") as f:
    f.write(b"head")
    f.seek(150 << 20)
    f.write(b"middle")
    f.truncate(300 << 20)
with open(os.environ["TRAINFS_METRICS"], "a") as f:
    f.write("epoch=1 loss=1\\n")
"""


def test_sparse_output_gives_small_tarball(m):
    m.remount(["-o", "allow_other"])
    sp = script(m, "sparse.py", SPARSE)
    nobody_job(m, "sp", "%s %s" % (PY, sp))
    m.wait_state("sp", "ready", timeout=60)
    tar = os.path.join(job_dir(m), "weights", "sp.tar")
    st = os.stat(tar)
    assert st.st_size < (1 << 20), st.st_size
    assert st.st_uid == NOBODY
    with tarfile.open(tar) as t:
        member = t.getmember("sparse.bin")
        assert member.size == 300 << 20
        f = t.extractfile(member)
        assert f.read(4) == b"head"
        f.seek(150 << 20)
        assert f.read(6) == b"middle"
    # GNU tar restores it sparse.
    dest = os.path.join(m.dir, "x")
    os.mkdir(dest)
    rc, out, err = harness.sh("tar -xf %s -C %s sparse.bin && du -k %s/sparse.bin"
                              % (tar, dest, dest))
    assert rc == 0, err
    assert int(out.split()[0]) < 1024, out
    assert os.path.getsize(os.path.join(dest, "sparse.bin")) == 300 << 20


def test_older_store_is_closed(m):
    """A store an older trainfs made (folders 0755, files 0644) is closed
    to other users at the next mount, job folders included."""
    m.make_job("old", trainer_args="--epochs 2 --epoch-ms 5", start=True)
    m.wait_state("old", "ready")
    m.unmount()
    for root, dirs, files in os.walk(m.store):
        os.chmod(root, 0o755)
        for f in files:
            os.chmod(os.path.join(root, f), 0o644)
    m.start()
    d = job_dir(m)
    for p in (m.store, os.path.join(m.store, "jobs"), d):
        assert mode(p) == 0o711, (p, oct(mode(p)))
    for rel in ("output", "work", "weights"):
        assert mode(os.path.join(d, rel)) == 0o700, rel
    for rel in ("log", "metrics.txt", "weights/old.tar", "trainfs.db"):
        p = os.path.join(d, rel) if rel != "trainfs.db" else os.path.join(m.store, rel)
        assert mode(p) == 0o600, (rel, oct(mode(p)))
    assert m.state("old") == "ready" and m.read("old", "log") is not None
