"""Private jobs: a job folder's mode decides who else may read the job.
On a root mount with -o allow_other, other users (nobody, and a second
unprivileged uid) get EACCES on every file of a job its mode closes to
them, and index.html, summary.csv, by-state/ and by-tag/ show each reader
only the jobs it may read; mkdir -m, the umask and chmod of the folder set
the mode, which survives a remount and a kill -9."""
import csv
import errno
import io
import json
import os
import subprocess

from harness import PY, TRAINER, downgrade_to_schema_2, errno_of, sh

NOBODY = 65534
OTHER = 65533  # a second unprivileged user (no passwd entry needed)
GROUP = 4242   # a made-up group, given to readers with setgroups

PROBE = r"""
import errno, json, os, sys
j, name, mnt = sys.argv[1], sys.argv[2], sys.argv[3]
def err(fn, *a):
    try:
        fn(*a)
        return 0
    except OSError as e:
        return errno.errorcode[e.errno]
def read(p):
    with open(p, "rb") as f:
        return f.read()
def names(p):
    try:
        return os.listdir(p)
    except OSError:
        return []
out = {f: err(read, j + "/" + f)
       for f in ("spec", "log", "status", "metrics", "events", "graph.svg",
                 "tags", "control", "wait", "weights/%s.tar" % name)}
out["listdir"] = err(os.listdir, j)
out["weights_dir"] = err(os.listdir, j + "/weights")
out["xattr"] = err(os.getxattr, j, "user.trainfs.state")
rows = read(mnt + "/summary.csv").decode().splitlines()[1:]
out["summary"] = [r.split(",")[0] for r in rows]
out["index"] = ("jobs/%s/" % name) in read(mnt + "/index.html").decode()
out["by_state"] = sorted(n for s in names(mnt + "/by-state")
                         for n in names(mnt + "/by-state/" + s))
out["by_tag"] = sorted(n for t in names(mnt + "/by-tag")
                       for n in names(mnt + "/by-tag/" + t))
out["link"] = err(os.lstat, mnt + "/by-state/ready/" + name)
print(json.dumps(out))
"""


def probe(m, name, uid=NOBODY, groups=()):
    """What user UID (in GROUPS) can read of job NAME and the dashboards."""
    p = subprocess.run([PY, "-c", PROBE, m.job(name), name, m.mnt],
                       user=uid, group=uid, extra_groups=list(groups),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, timeout=60, cwd="/")
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


def run_as(uid, code, gid=None, umask=None):
    """Runs Python CODE as UID (group GID); returns its stdout."""
    p = subprocess.run([PY, "-c", code], user=uid,
                       group=uid if gid is None else gid, extra_groups=[],
                       umask=-1 if umask is None else umask,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, timeout=60, cwd="/")
    assert p.returncode == 0, p.stderr
    return p.stdout


FILES = ("spec", "log", "status", "metrics", "events", "graph.svg", "tags",
         "control", "wait")


def closed(res, name):
    """Whether probe result RES shows job NAME closed to its reader."""
    files = {f: res[f] for f in FILES + ("weights/%s.tar" % name, "listdir",
                                        "weights_dir", "xattr")}
    return (all(v == "EACCES" for v in files.values()) and
            name not in res["summary"] and not res["index"] and
            name not in res["by_state"] and name not in res["by_tag"] and
            res["link"] == "ENOENT"), files


def opened(res, name):
    ok = {f: res[f] for f in FILES + ("weights/%s.tar" % name,)}
    return (all(v == 0 for v in ok.values()) and name in res["summary"] and
            res["index"] and name in res["by_state"] and
            name in res["by_tag"] and res["link"] == 0), res


def ready_job(m, name, mode=None):
    """A ready job NAME (with weights), its folder made with MODE."""
    if mode is None:
        os.mkdir(m.job(name))
    else:
        os.mkdir(m.job(name), mode)
    m.write(name, "spec", "command = %s %s --epochs 2 --epoch-ms 1\n"
            "env.WANDB_API_KEY = secret-%s\n" % (PY, TRAINER, name))
    assert m.control(name, "start") == 0
    m.wait_state(name, "ready")
    return name


def mode_of(m, name, *f):
    return os.stat(m.job(name, *f)).st_mode & 0o7777


def test_private_job_is_closed_to_others(m):
    m.remount(["-o", "allow_other"])
    ready_job(m, "secret", 0o700)
    ready_job(m, "open")
    assert mode_of(m, "secret") == 0o700
    for f in ("spec", "status", "log", "wait", "weights", "weights/%s.tar"):
        assert mode_of(m, "secret", f.replace("%s", "secret")) & 0o077 == 0, f
        assert mode_of(m, "open", f.replace("%s", "open")) & 0o044 == 0o044, f
    assert mode_of(m, "secret", "status") == 0o400
    assert mode_of(m, "secret", "weights") == 0o500
    assert mode_of(m, "open") == 0o755 and mode_of(m, "open", "status") == 0o444
    ok, files = closed(probe(m, "secret"), "secret")
    assert ok, files
    ok, res = opened(probe(m, "open"), "open")
    assert ok, res
    # root reads everything, and sees every job in the dashboards
    assert "secret-secret" in m.read("secret", "spec")
    names = [r.split(",")[0] for r in open(m.path("summary.csv")).read().splitlines()]
    assert "secret" in names and "open" in names
    assert "jobs/secret/" in open(m.path("index.html")).read()
    assert os.listdir(m.path("by-state", "ready")) in (["secret", "open"],
                                                         ["open", "secret"])


def test_chmod_of_the_folder_opens_and_closes_it(m):
    m.remount(["-o", "allow_other"])
    ready_job(m, "j", 0o700)
    assert closed(probe(m, "j"), "j")[0]
    os.chmod(m.job("j"), 0o755)
    assert mode_of(m, "j") == 0o755 and mode_of(m, "j", "status") == 0o444
    ok, res = opened(probe(m, "j"), "j")
    assert ok, res
    # closed again at once: no stale cache of the modes, nor of the link's
    # name, which the kernel keeps for every user alike
    os.lstat(m.path("by-state", "ready", "j"))
    os.lstat(m.path("by-tag", "ready", "j"))
    os.chmod(m.job("j"), 0o700)
    ok, files = closed(probe(m, "j"), "j")
    assert ok, files
    # the owner's bits stay rwx; others never get w (nor set-id bits)
    os.chmod(m.job("j"), 0o6777)
    assert mode_of(m, "j") == 0o755
    os.chmod(m.job("j"), 0o000)
    assert mode_of(m, "j") == 0o700
    # only the owner or root may chmod a job folder
    os.chmod(m.job("j"), 0o755)
    out = run_as(NOBODY, "import os\ntry:\n os.chmod(%r, 0o700)\n print(0)\n"
                 "except OSError as e:\n print(e.errno)" % m.job("j"))
    assert int(out) == errno.EPERM and mode_of(m, "j") == 0o755


def test_chmod_of_a_file_inside_is_eperm(m):
    m.remount(["-o", "allow_other"])
    os.mkdir(m.job("j"))
    for f in ("spec", "status", "control", "weights"):
        assert errno_of(os.chmod, m.job("j", f), 0o600) == errno.EPERM, f
    assert mode_of(m, "j", "spec") == 0o644
    # what it already has is no change, so cp -p of a like file works
    assert errno_of(os.chmod, m.job("j", "spec"), 0o644) == 0
    os.chmod(m.job("j"), 0o750)
    assert errno_of(os.chmod, m.job("j", "spec"), 0o644) == errno.EPERM
    assert mode_of(m, "j", "spec") == 0o640


def test_group_reads_what_the_mode_gives_it(m):
    m.remount(["-o", "allow_other"])
    # root makes the job as group GROUP, then opens it to that group only
    run_as(0, "import os; os.mkdir(%r)" % m.job("g"), gid=GROUP)
    assert os.stat(m.job("g")).st_gid == GROUP
    m.write("g", "spec", "command = %s %s --epochs 2 --epoch-ms 1\n" % (PY, TRAINER))
    m.control("g", "start")
    m.wait_state("g", "ready")
    os.chmod(m.job("g"), 0o750)
    assert mode_of(m, "g", "status") == 0o440
    # alternate the two readers: each gets its own view, never the other's
    for _ in range(2):
        ok, res = opened(probe(m, "g", groups=[GROUP]), "g")
        assert ok, res
        ok, files = closed(probe(m, "g"), "g")
        assert ok, files
    os.chmod(m.job("g"), 0o705)  # others but not the group: as for any folder
    ok, files = closed(probe(m, "g", groups=[GROUP]), "g")
    assert ok, files


def test_umask_077_makes_a_private_job(m):
    m.remount(["-o", "allow_other"])
    rc, _, err = sh("umask 077 && mkdir %s" % m.job("u"))
    assert rc == 0, err
    assert mode_of(m, "u") == 0o700
    m.write("u", "spec", "command = true\n")
    res = probe(m, "u")
    assert res["spec"] == "EACCES" and "u" not in res["summary"]
    rc, _, err = sh("umask 027 && mkdir %s" % m.job("v"))
    assert mode_of(m, "v") == 0o750


def test_mode_survives_remount_and_kill9(m):
    m.remount(["-o", "allow_other"])
    ready_job(m, "a", 0o700)
    ready_job(m, "b")
    os.chmod(m.job("b"), 0o750)
    m.remount(["-o", "allow_other"])
    assert mode_of(m, "a") == 0o700 and mode_of(m, "b") == 0o750
    m.kill9()
    m.start(["-o", "allow_other"])
    assert mode_of(m, "a") == 0o700 and mode_of(m, "b") == 0o750
    assert mode_of(m, "a", "status") == 0o400
    ok, files = closed(probe(m, "a"), "a")
    assert ok, files
    assert probe(m, "b")["spec"] == "EACCES"


def test_older_store_jobs_stay_open(m):
    os.mkdir(m.job("old"))
    m.unmount()
    downgrade_to_schema_2(m.store)
    m.start(["-o", "allow_other"])
    assert mode_of(m, "old") == 0o755
    os.chmod(m.job("old"), 0o700)
    m.remount(["-o", "allow_other"])
    assert mode_of(m, "old") == 0o700


def test_users_private_job_is_hidden_from_another_user(m):
    m.remount(["-o", "allow_other"])
    tr = os.path.join(m.dir, "trainer.py")  # nobody must read the trainer
    with open(TRAINER) as src, open(tr, "w") as dst:
        dst.write(src.read())
    os.chmod(tr, 0o644)
    run_as(NOBODY, """
import os
os.mkdir(%r, 0o700)
with open(%r, "w") as f:
    f.write("command = %s %s --epochs 2 --epoch-ms 1\\n")
with open(%r, "w") as f:
    f.write("start\\n")
""" % (m.job("mine"), m.job("mine", "spec"), PY, tr, m.job("mine", "control")))
    m.wait_state("mine", "ready")
    assert os.stat(m.job("mine")).st_uid == NOBODY
    ok, files = closed(probe(m, "mine", uid=OTHER), "mine")
    assert ok, files
    ok, res = opened(probe(m, "mine", uid=NOBODY), "mine")  # its owner
    assert ok, res
    rows = list(csv.reader(io.StringIO(open(m.path("summary.csv")).read())))
    assert [r[0] for r in rows[1:]] == ["mine"]  # root sees it


def test_open_file_is_refused_after_chmod(m):
    m.remount(["-o", "allow_other"])
    ready_job(m, "j")
    # nobody holds status open; the owner closes the job; the next read fails
    code = r"""
import os, sys, time
fd = os.open(%r, os.O_RDONLY)
print(len(os.pread(fd, 4096, 0)), flush=True)
sys.stdin.readline()
try:
    print(len(os.pread(fd, 4096, 0)))
except OSError as e:
    print("errno", e.errno)
""" % m.job("j", "status")
    p = subprocess.Popen([PY, "-c", code], user=NOBODY, group=NOBODY,
                         extra_groups=[], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, text=True, cwd="/")
    assert int(p.stdout.readline()) > 0
    os.chmod(m.job("j"), 0o700)
    out, _ = p.communicate("go\n", timeout=30)
    assert out.strip() == "errno %d" % errno.EACCES
