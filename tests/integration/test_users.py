"""Who may do what: a second user (nobody) under -o allow_other may read
every job, is refused on writes to others' jobs, and runs its own job as
itself."""
import errno
import json
import os
import pwd
import shutil
import subprocess
import tarfile

from harness import PY, TRAINER, both

NOBODY = 65534


def as_nobody(code):
    """Runs Python CODE as nobody; returns its stdout (the last line is
    JSON)."""
    p = subprocess.run([PY, "-c", code], user=NOBODY, group=NOBODY,
                       extra_groups=[], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True, timeout=60, cwd="/")
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout.strip().splitlines()[-1])


PRELUDE = """
import errno, json, os, sys
def err(fn, *a):
    try:
        fn(*a)
        return 0
    except OSError as e:
        return errno.errorcode[e.errno]
def write(path, text, flags=os.O_WRONLY | os.O_TRUNC):
    fd = os.open(path, flags)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)
"""


@both
def test_other_user(m):
    m.remount(["-o", "allow_other"])
    # The trainer must be readable by nobody wherever the checkout lives.
    tr = os.path.join(m.dir, "trainer.py")
    shutil.copy(TRAINER, tr)
    os.chmod(tr, 0o644)
    m.make_job("root-job", spec="command = %s %s --forever --epoch-ms 10\n" % (PY, tr))
    m.control("root-job", "start")
    m.wait_epoch("root-job", 1)
    j = m.job("root-job")
    res = as_nobody(PRELUDE + """
j = %r
out = {
  "status": open(j + "/status").read().split("\\n")[0],
  "metrics": open(j + "/metrics").read().split("\\n")[0],
  "stop": err(write, j + "/control", "stop\\n"),
  "tags": err(write, j + "/tags", "mine\\n"),
  "rmdir": err(os.rmdir, j),
}
print(json.dumps(out))
""" % j)
    assert res["status"] == "running" and res["metrics"].startswith("epoch")
    assert res["stop"] == "EACCES" and res["tags"] == "EACCES"
    # The kernel's sticky-bit check on jobs/ (mode 1777) says EPERM first.
    assert res["rmdir"] in ("EACCES", "EPERM")
    assert m.state("root-job") == "running" and m.tags("root-job") == []

    mine = m.job("mine")
    res = as_nobody(PRELUDE + """
mine = %r
os.mkdir(mine)
write(mine + "/spec", "command = %s %s --epochs 3 --epoch-ms 5 --report who.json\\n")
st = os.stat(mine + "/control")
write(mine + "/control", "start\\n")
print(json.dumps({"uid": st.st_uid, "gid": st.st_gid}))
""" % (mine, PY, tr))
    assert res == {"uid": NOBODY, "gid": NOBODY}
    m.wait_state("mine", "ready")
    with tarfile.open(m.job("mine", "weights", "mine.tar")) as t:
        who = json.load(t.extractfile("who.json"))
        owners = {mem.name: mem.uid for mem in t.getmembers()}
    assert who["uid"] == NOBODY and who["euid"] == NOBODY and who["gid"] == NOBODY
    # Every group of the owner's passwd entry, and none of root's.
    assert sorted(who["groups"]) == sorted(set(os.getgrouplist(pwd.getpwuid(NOBODY).pw_name, NOBODY)))
    assert owners["weights.bin"] == NOBODY
    # Root may change anyone's job; the owner may remove its own.
    assert m.write("mine", "tags", "checked\n") == 0
    res = as_nobody(PRELUDE + """
print(json.dumps({"rmdir": err(os.rmdir, %r)}))
""" % mine)
    assert res["rmdir"] == 0
    m.control("root-job", "cancel")


def test_output_unreadable_by_owner_is_not_packed(m):
    """Packaging reads with the owner's rights: a link to a root-only file
    is stored as a link, and a root-only file the trainer could not have
    made fails the job cleanly."""
    m.remount(["-o", "allow_other"])
    tr = os.path.join(m.dir, "trainer.py")
    shutil.copy(TRAINER, tr)
    os.chmod(tr, 0o644)
    secret = os.path.join(m.dir, "secret")
    with open(secret, "w") as f:
        f.write("root only")
    os.chmod(secret, 0o600)
    mine = m.job("nb")
    as_nobody(PRELUDE + """
os.mkdir(%r)
write(%r + "/spec", "command = %s %s --forever --epoch-ms 10\\n")
write(%r + "/control", "start\\n")
print("{}")
""" % (mine, mine, PY, tr, mine))
    m.wait_epoch("nb", 1)
    out = os.path.join(m.store, "jobs", "1", "output")
    # root plants a file nobody cannot read inside nobody's output.
    shutil.copy(secret, os.path.join(out, "planted"))
    os.chmod(os.path.join(out, "planted"), 0o600)
    m.control("nb", "stop")
    m.wait_state("nb", ("failed", "ready"))
    st, kv = m.status("nb")
    assert st == "failed" and "Permission denied" in kv["error"], kv
    assert "planted" in kv["error"]
    assert os.listdir(m.job("nb", "weights")) == []
