"""The tools people already use (issue "works with the tools and trainers
people already use"): tail -f, grep -r, cp -r, rsync, tar on running jobs,
and tags written with the shell's `>`."""
import errno
import os
import shutil
import subprocess
import tempfile
import time

from harness import errno_of, sh


def running_job(m, name="j"):
    m.make_job(name, trainer_args="--forever --epoch-ms 30 --extra val_loss",
               start=True)
    m.wait_epoch(name, 2)
    return name


def test_wait_is_not_listed_but_opens_by_name(m):
    os.mkdir(m.job("a"))
    assert "wait" not in os.listdir(m.job("a"))
    assert os.path.exists(m.job("a", "wait"))
    assert os.stat(m.job("a", "wait")).st_size == 0


def test_tree_walkers_do_not_block_on_running_jobs(m):
    running_job(m)
    os.mkdir(m.job("created"))
    dst = tempfile.mkdtemp(prefix="trainfs-test-copy-")
    try:
        for cmd in ("grep -r val_loss %s >/dev/null" % m.path("jobs"),
                    "cp -r %s %s/cp" % (m.path("jobs"), dst),
                    "tar -cf %s/all.tar -C %s jobs" % (dst, m.mnt),
                    "find %s -type f -exec cat {} + >/dev/null" % m.path("jobs")):
            t = time.monotonic()
            p = subprocess.run(["timeout", "20", "sh", "-c", cmd],
                               stderr=subprocess.PIPE, text=True)
            # tar exits 1 when a file grew while it read it, as the
            # running job's logs do: a warning, not a failure
            changed = [l for l in p.stderr.splitlines()
                       if "file changed as we read it" not in l]
            assert p.returncode == 0 or (cmd.startswith("tar") and
                                         p.returncode == 1 and
                                         not changed), (cmd, p.returncode,
                                                        p.stderr)
            assert time.monotonic() - t < 15, cmd
        if shutil.which("rsync"):
            p = subprocess.run(["timeout", "20", "rsync", "-a",
                                m.path("jobs") + "/", dst + "/rs/"])
            assert p.returncode in (0, 23, 24), p.returncode  # 24: vanished
            assert os.path.exists(dst + "/rs/j/metrics")
        assert os.path.exists(dst + "/cp/j/metrics")
    finally:
        shutil.rmtree(dst, ignore_errors=True)


def test_tail_f_shows_new_rows(m):
    running_job(m)
    before = m.read("j", "metrics").count("\n")
    p = subprocess.Popen(["tail", "-n", "+1", "-f", m.job("j", "metrics")],
                         stdout=subprocess.PIPE, text=True)
    time.sleep(1.5)
    p.terminate()
    out, _ = p.communicate(timeout=10)
    rows = out.count("\n")
    assert rows >= before + 5, (before, rows, out[-300:])
    # The rows arrive in order, each once.
    epochs = [int(l.split(",")[0]) for l in out.splitlines()[1:]]
    assert epochs == list(range(epochs[0], epochs[0] + len(epochs))), epochs


def test_tail_f_events(m):
    m.make_job("e", trainer_args="--forever --epoch-ms 30")
    p = subprocess.Popen(["tail", "-n", "+1", "-f", m.job("e", "events")],
                         stdout=subprocess.PIPE, text=True)
    time.sleep(0.5)
    m.control("e", "start")
    m.wait_epoch("e", 1)
    m.control("e", "stop")
    m.wait_state("e", "ready")
    time.sleep(1.2)  # tail -f polls every second
    p.terminate()
    out, _ = p.communicate(timeout=10)
    states = [l.split()[1] for l in out.splitlines()]
    assert states[:1] == ["created"] and "ready" in states, out


def test_refused_tags_write_keeps_the_user_tags(m):
    os.mkdir(m.job("t"))
    assert sh("echo best > %s" % m.job("t", "tags"))[0] == 0
    assert m.tags("t") == ["best"]
    rc, _, err = sh("echo ready > %s" % m.job("t", "tags"))
    assert rc != 0
    assert m.tags("t") == ["best"]  # refused: nothing changed
    assert sh("printf 'a\\nb\\n' > %s" % m.job("t", "tags"))[0] == 0
    assert m.tags("t") == ["a", "b"]
    assert sh(": > %s" % m.job("t", "tags"))[0] == 0  # truncation alone
    assert m.tags("t") == []


def ready_job(m, name):
    m.make_job(name, trainer_args="--epochs 2 --epoch-ms 5", start=True)
    m.wait_state(name, "ready")
    return name


def test_rm_rf_removes_a_final_job(m):
    ready_job(m, "r")
    rc, out, err = sh("rm -rf %s" % m.job("r"))
    assert rc == 0, err
    assert "r" not in os.listdir(m.path("jobs"))
    m.make_job("c")  # created: removable too
    assert sh("rm -r %s" % m.job("c"))[0] == 0
    assert os.listdir(m.path("jobs")) == []


def test_rm_of_a_running_job_is_refused(m):
    running_job(m, "run")
    rc, _, err = sh("rm -rf %s" % m.job("run"))
    assert rc != 0
    assert "busy" in err.lower(), err
    assert m.state("run") == "running"
    assert set(os.listdir(m.job("run"))) >= {"spec", "status", "metrics"}
    assert errno_of(os.unlink, m.job("run", "metrics")) == errno.EBUSY


def test_unlinked_files_vanish_but_come_back_after_a_remount(m):
    ready_job(m, "u")
    tar = m.job("u", "weights", "u.tar")
    data = open(tar, "rb").read()
    assert errno_of(os.rmdir, m.job("u", "weights")) == errno.ENOTEMPTY
    os.unlink(m.job("u", "metrics"))
    os.unlink(tar)
    os.rmdir(m.job("u", "weights"))
    names = os.listdir(m.job("u"))
    assert "metrics" not in names and "weights" not in names
    assert not os.path.exists(m.job("u", "metrics"))
    assert m.state("u") == "ready"  # the job keeps its data
    m.remount()
    assert "metrics" in os.listdir(m.job("u"))
    assert open(m.job("u", "weights", "u.tar"), "rb").read() == data


def test_unlink_needs_the_owner(m):
    ready_job(m, "o")
    p = subprocess.run(["runuser", "-u", "nobody", "--", "rm", "-f",
                        m.job("o", "metrics")], stderr=subprocess.PIPE, text=True)
    assert p.returncode != 0
    assert "metrics" in os.listdir(m.job("o"))


def test_rename_a_job_folder(m):
    ready_job(m, "old")
    running_job(m, "run")
    assert sh("mv '%s' '%s'" % (m.job("old"), m.job("new name")))[0] == 0
    assert sorted(os.listdir(m.path("jobs"))) == ["new name", "run"]
    assert os.listdir(m.job("new name", "weights")) == ["new name.tar"]
    _, kv = m.status("new name")
    assert kv["weights"] == "weights/new name.tar"
    rc, out, _ = sh("tar -tf '%s'" % m.job("new name", "weights", "new name.tar"))
    assert rc == 0 and "trainfs.json" in out
    assert not os.path.exists(m.job("old"))
    os.rename(m.job("run"), m.job("run2"))  # in any state
    assert m.state("run2") == "running"
    assert errno_of(os.rename, m.job("run2"), m.job(".hidden")) == errno.EINVAL
    assert errno_of(os.rename, m.job("run2"), m.job("new name")) in (
        errno.EEXIST, errno.ENOTEMPTY)
    m.control("run2", "stop")
    m.wait_state("run2", "ready")
    assert os.listdir(m.job("run2", "weights")) == ["run2.tar"]
    m.remount()
    assert sorted(os.listdir(m.path("jobs"))) == ["new name", "run2"]
    assert os.listdir(m.job("new name", "weights")) == ["new name.tar"]
