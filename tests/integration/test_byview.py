"""by-state/ and by-tag/: a folder per state and tag in use, of symbolic
links to ../../jobs/NAME, always as the jobs are now (no stale kernel
cache), read with os.listdir, readlink, ls and find."""
import errno
import os
import stat

from harness import sh


def test_by_state_and_tag(m):
    assert sorted(os.listdir(m.mnt)) == ["by-state", "by-tag", "index.html",
                                         "jobs", "summary.csv", "sweeps"]
    assert os.listdir(m.path("by-state")) == []
    assert os.listdir(m.path("by-tag")) == []
    m.make_job("a", trainer_args="--epochs 2 --epoch-ms 5")
    m.make_job("b", trainer_args="--forever --epoch-ms 20")
    assert os.listdir(m.path("by-state")) == ["created"]
    assert sorted(os.listdir(m.path("by-state", "created"))) == ["a", "b"]
    link = m.path("by-state", "created", "a")
    assert stat.S_ISLNK(os.lstat(link).st_mode)
    assert os.readlink(link) == "../../jobs/a"
    assert os.path.samefile(link, m.job("a"))  # it leads to the job
    with open(os.path.join(link, "status")) as f:
        assert f.readline().strip() == "created"

    m.control("a", "start")
    m.control("b", "start")
    m.wait_state("a", "ready")
    m.wait_state("b", "running")
    assert sorted(os.listdir(m.path("by-state"))) == ["ready", "running"]
    assert os.listdir(m.path("by-state", "ready")) == ["a"]
    assert os.listdir(m.path("by-state", "running")) == ["b"]
    # a job that left a state is gone from its folder at once
    assert not os.path.lexists(m.path("by-state", "created", "a"))
    assert not os.path.exists(m.path("by-state", "created"))

    assert m.write("b", "tags", "baseline\n") == 0
    assert sorted(os.listdir(m.path("by-tag"))) == ["baseline", "completed",
                                                     "ready"]
    assert os.listdir(m.path("by-tag", "ready")) == ["a"]
    assert os.listdir(m.path("by-tag", "baseline")) == ["b"]
    assert os.readlink(m.path("by-tag", "baseline", "b")) == "../../jobs/b"
    assert m.write("b", "tags", "other\n") == 0  # truncation: replaces
    assert not os.path.exists(m.path("by-tag", "baseline"))
    assert os.listdir(m.path("by-tag", "other")) == ["b"]

    # what a file browser and find see: folders of symbolic links
    rc, out, _ = sh("find %s -type l | sort" % m.path("by-state"))
    assert out.split() == [m.path("by-state", "ready", "a"),
                           m.path("by-state", "running", "b")], out
    rc, out, _ = sh("ls -l %s" % m.path("by-state", "ready"))
    assert "a -> ../../jobs/a" in out, out

    # nothing can be made or removed here
    for fn, args in ((os.mkdir, (m.path("by-state", "x"),)),
                     (os.rmdir, (m.path("by-state", "ready"),)),
                     (os.unlink, (m.path("by-state", "ready", "a"),)),
                     (os.symlink, ("../../jobs/a", m.path("by-tag", "z")))):
        try:
            fn(*args)
            assert False, fn
        except OSError as e:
            assert e.errno in (errno.EACCES, errno.EPERM), (fn, e)
    m.control("b", "cancel")
    m.wait_state("b", "cancelled")
    assert sorted(os.listdir(m.path("by-state"))) == ["cancelled", "ready"]


def test_views_while_tags_and_names_change(m):
    """Tags rewritten and jobs renamed from several threads while others
    list by-tag/ and by-state/, follow their links, read index.html,
    summary.csv and the xattrs: every reader gets a whole answer or
    ENOENT (a name that just went), never anything else, and the mount
    answers throughout (the job locks against the registry lock)."""
    import threading
    import time
    names = ["j%d" % i for i in range(8)]
    for n in names:
        os.mkdir(m.job(n))
    stop = time.monotonic() + 6
    errors = []
    counts = {}

    def count(k):
        counts[k] = counts.get(k, 0) + 1

    def guard(fn):
        def run():
            try:
                while time.monotonic() < stop:
                    fn()
            except Exception as e:  # noqa: the test reports it
                errors.append("%s: %r" % (fn.__name__, e))
        return run

    def tagger():
        for i, n in enumerate(names):
            for cur in (n, n + "-r"):
                try:
                    with open(m.job(cur, "tags"), "w") as f:
                        f.write("t%d\nall\n" % ((i + int(time.monotonic() * 10)) % 5))
                    count("tags")
                except FileNotFoundError:
                    pass

    def renamer():
        for n in names[:4]:
            for a, b in ((n, n + "-r"), (n + "-r", n)):
                try:
                    os.rename(m.job(a), m.job(b))
                    count("rename")
                except FileNotFoundError:
                    pass

    def lister():
        for top in ("by-tag", "by-state"):
            for d in os.listdir(m.path(top)):
                try:
                    for link in os.listdir(m.path(top, d)):
                        p = m.path(top, d, link)
                        os.readlink(p)
                        os.lstat(p)
                        count("links")
                except FileNotFoundError:
                    pass

    def dash():
        for f in ("index.html", "summary.csv"):
            with open(m.path(f), "rb") as fh:
                text = fh.read()
            assert text.endswith(b"</html>\n") if f == "index.html" \
                else text.count(b"\n") >= len(names) + 1, text[-200:]
            count(f)

    def xattrs():
        for d in os.listdir(m.path("jobs")):
            try:
                os.getxattr(m.job(d), "user.xdg.tags")
                os.listxattr(m.job(d))
                count("xattr")
            except FileNotFoundError:
                pass

    threads = [threading.Thread(target=guard(f)) for f in
               (tagger, tagger, renamer, lister, lister, dash, xattrs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads), "a reader hangs"
    assert not errors, errors[:5]
    assert all(counts.get(k) for k in ("tags", "rename", "links", "index.html",
                                       "summary.csv", "xattr")), counts
    assert os.listdir(m.path("by-tag", "all"))
