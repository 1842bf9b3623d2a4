"""Extended attributes of a job folder, with getfattr/setfattr and Python:
user.trainfs.state, user.xdg.tags (setting it replaces the user tags,
system tags in it are ignored), user.xdg.comment; nothing else can be set,
and no call ever turns attributes off for the mount (ENOSYS)."""
import errno
import os

from harness import sh


def xa_err(fn, *args):
    try:
        fn(*args)
        return 0
    except OSError as e:
        return e.errno


def test_xattr_state_tags_comment(m):
    m.make_job("ok", trainer_args="--epochs 2 --epoch-ms 5 --metric acc",
               epochs=10, monitor="acc")
    j = m.job("ok")
    assert os.getxattr(j, "user.trainfs.state") == b"created"
    assert os.getxattr(j, "user.xdg.tags") == b""
    assert xa_err(os.getxattr, j, "user.xdg.comment") == errno.ENODATA
    assert sorted(os.listxattr(j)) == ["user.trainfs.state", "user.xdg.tags"]
    assert xa_err(os.getxattr, j, "user.other") == errno.ENODATA

    # setfattr replaces the user tags; system tags named in it are ignored
    rc, out, err = sh("setfattr -n user.xdg.tags -v 'best, baseline,ready' %s" % j)
    assert rc == 0, err
    assert m.tags("ok") == ["best", "baseline"]
    m.control("ok", "start")
    m.wait_state("ok", "ready")
    rc, out, err = sh("getfattr --absolute-names -d %s" % j)
    assert rc == 0, err
    assert 'user.trainfs.state="ready"' in out, out
    assert 'user.xdg.tags="best,baseline,completed,ready"' in out, out
    rc, out, _ = sh("setfattr -n user.xdg.tags -v 'mine' %s" % j)
    assert rc == 0
    assert os.getxattr(j, "user.xdg.tags") == b"completed,ready,mine"
    os.removexattr(j, "user.xdg.tags")
    assert m.tags("ok") == ["completed", "ready"]

    # the state and the comment are trainfs's own; other names: ENOTSUP
    assert xa_err(os.setxattr, j, "user.trainfs.state", b"ready") == errno.EPERM
    assert xa_err(os.setxattr, j, "user.xdg.comment", b"x") == errno.EPERM
    assert xa_err(os.setxattr, j, "user.other", b"x") == errno.ENOTSUP
    assert xa_err(os.setxattr, j, "user.xdg.tags", b"bad tag!") == errno.EINVAL
    assert m.tags("ok") == ["completed", "ready"]  # a refusal changes nothing
    # files and other folders have none, and say so without ENOSYS
    assert os.listxattr(m.job("ok", "status")) == []
    assert xa_err(os.getxattr, m.path("jobs"), "user.xdg.tags") == errno.ENODATA
    # other namespaces do not exist here: ENOTSUP, which ls -l remembers
    # for the whole mount instead of asking for every file
    assert xa_err(os.getxattr, j, "security.selinux") == errno.ENOTSUP
    assert xa_err(os.getxattr, m.job("ok", "status"),
                  "system.posix_acl_access") in (errno.ENOTSUP, errno.ENODATA)
    assert os.getxattr(j, "user.trainfs.state") == b"ready"  # still on


def test_ls_asks_once(m):
    """ls -l asks for security.selinux; told ENOTSUP once, it stops."""
    for i in range(20):
        os.mkdir(m.job("j%d" % i))
    rc, out, err = sh("strace -f -e trace=lgetxattr,getxattr -o %s/st ls -l %s"
                      % (m.dir, m.path("jobs")))
    assert rc == 0, err
    with open(os.path.join(m.dir, "st")) as f:
        calls = [l for l in f if "xattr(" in l]
    assert len(calls) <= 2, calls


def test_xattr_comment_and_owner(m):
    m.make_job("bad", trainer_args="--epochs 1 --exit 3", start=True)
    m.wait_state("bad", "failed")
    v = os.getxattr(m.job("bad"), "user.xdg.comment").decode()
    assert v.startswith("trainer exited with status 3"), v
    assert "user.xdg.comment" in os.listxattr(m.job("bad"))
    # another user may read but not set
    import subprocess
    m.remount(["-o", "allow_other"])
    os.chmod(m.dir, 0o755)
    p = subprocess.run(["setfattr", "-n", "user.xdg.tags", "-v", "x",
                        m.job("bad")], user=65534, group=65534,
                       extra_groups=[], stderr=subprocess.PIPE, text=True)
    assert p.returncode != 0 and "Permission denied" in p.stderr, p.stderr
    p = subprocess.run(["getfattr", "--absolute-names", "-n",
                        "user.trainfs.state", m.job("bad")], user=65534,
                       group=65534, extra_groups=[], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True)
    assert 'user.trainfs.state="failed"' in p.stdout, p.stderr
