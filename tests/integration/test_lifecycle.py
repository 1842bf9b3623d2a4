"""The lifecycle through the mount: every row of the SPEC's control table
and its refusals, every state and tag, stop, cancel, completion, failure."""
import errno
import os
import time

from harness import PY, TRAINER, bash, both, errno_of, sh


def test_tree_and_modes(m):
    st = os.stat(m.path("jobs"))
    assert oct(st.st_mode & 0o7777) == "0o1777"
    os.mkdir(m.job("a"))
    names = sorted(os.listdir(m.job("a")))
    assert names == sorted(["spec", "control", "status", "tags", "metrics",
                            "graph.svg", "log", "events", "weights"])
    modes = {n: os.stat(m.job("a", n)).st_mode & 0o777 for n in names + ["wait"]}
    assert modes["spec"] == 0o644 and modes["control"] == 0o644
    assert modes["tags"] == 0o644 and modes["status"] == 0o444
    assert modes["weights"] == 0o555 and modes["wait"] == 0o444
    assert os.listdir(m.job("a", "weights")) == []
    # True sizes: what stat says is what cat reads.
    for n in ("status", "control", "events", "metrics", "graph.svg", "tags"):
        assert os.stat(m.job("a", n)).st_size == len(open(m.job("a", n), "rb").read()), n
    assert m.state("a") == "created"


def test_job_names(m):
    # SPEC "The tree": 1 to 240 bytes of UTF-8 without '/', NUL or control
    # characters, not starting with '.'.
    jobs = m.path("jobs").encode()
    for bad in (".hidden", "x" * 241, "tab\tname", "esc\x1b[31m", "del\x7f",
                "c1\u0085"):
        assert errno_of(os.mkdir, m.job(bad)) == errno.EINVAL, bad
    for bad in (b"\xff", b"cut\xc3", b"\xc0\xaf", b"\xed\xa0\x80"):
        assert errno_of(os.mkdir, jobs + b"/" + bad) == errno.EINVAL, bad
    assert errno_of(os.mkdir, m.job("x" * 256)) == errno.ENAMETOOLONG
    for good in ("A-z_0.9", "x" * 240, "a..b", "a b", "New Folder", "my run 3",
                 "modèle-ü", "é" * 120, "=SUM(A1)"):
        os.mkdir(m.job(good))
        assert good in os.listdir(m.path("jobs")), good
    assert errno_of(os.mkdir, m.job("a..b")) == errno.EEXIST
    assert errno_of(os.mkdir, m.path("elsewhere")) in (errno.EACCES, errno.EPERM)


def test_longest_utf8_name_gets_its_weights(m):
    # 240 bytes of UTF-8 leave room for ".tar.zst" (and the packer's
    # ".NAME.tar.zst.tmp") under the 255 bytes a file name may have.
    name = "mod\u00e8le " + "\u00fc" * 115 + "xy"
    assert len(name.encode()) == 240
    m.make_job(name, trainer_args="--epochs 2 --epoch-ms 5", compression="zstd",
               start=True)
    m.wait_state(name, "ready")
    st, kv = m.status(name)
    assert kv["weights"] == "weights/%s.tar.zst" % name, kv
    assert os.listdir(m.job(name, "weights")) == [name + ".tar.zst"]
    man = sh("tar --zstd -xOf '%s' trainfs.json" % m.job(name, "weights", name + ".tar.zst"))
    assert man[0] == 0 and name in man[1], man


def test_spec_errors_are_reported(m):
    os.mkdir(m.job("j"))
    rc = m.write("j", "spec", "command = true\nepoch = 3\n")
    assert rc == errno.EINVAL
    assert m.read("j", "spec") == "command = true\nepoch = 3\n"  # stored as written
    st, kv = m.status("j")
    assert st == "created" and kv["error"] == "spec line 2: unknown key 'epoch'"
    assert m.control("j", "start") == errno.EINVAL
    assert m.state("j") == "created"
    assert "last refused: 'start': spec line 2: unknown key 'epoch'" in m.read("j", "control")
    assert m.write("j", "spec", "command = true\nepochs = x\n") == errno.EINVAL
    assert "bad value 'x' for 'epochs'" in m.status("j")[1]["error"]
    # Stored as written, byte for byte, even with a NUL in it.
    assert m.write("j", "spec", b"command = a\x00b\n") == errno.EINVAL
    assert open(m.job("j", "spec"), "rb").read() == b"command = a\x00b\n"
    assert "NUL" in m.status("j")[1]["error"]
    assert m.write("j", "spec", "# fine now\ncommand = true  # comment\n\nepochs = 3\n") == 0
    assert "error" not in m.status("j")[1]


def test_refusal_of_a_non_ascii_spec_is_ascii(m):
    """control is plain ASCII even when the refusal quotes a spec error
    with UTF-8 in it (a BOM or an accent in a key: status keeps them)."""
    os.mkdir(m.job("j"))
    assert m.write("j", "spec", "command = true\ncl\u00e9 = 1\n".encode()) == errno.EINVAL
    assert "cl\u00e9" in m.status("j")[1]["error"]
    assert m.control("j", "start") == errno.EINVAL
    ctl = open(m.job("j", "control"), "rb").read()
    assert all(32 <= b < 127 for b in ctl.replace(b"\n", b"")), ctl
    assert b"last refused: 'start': spec line 2: unknown key 'cl\\xc3\\xa9'" in ctl, ctl


def test_control_refusals(m):
    m.make_job("j", trainer_args="--epochs 2 --epoch-ms 5")
    for cmd in ("stop", "cancel", "stop-early"):
        assert m.control("j", cmd) == errno.EBUSY, cmd
    assert m.control("j", "explode") == errno.EINVAL
    assert m.state("j") == "created"
    assert "last refused: 'explode': unknown command" in m.read("j", "control")
    assert m.read("j", "control").startswith("allowed: start\n")
    # bash reports EINVAL as the SPEC's users see it.
    rc, _, err = bash("echo bogus > %s" % m.job("j", "control"))
    assert rc != 0 and "Invalid argument" in err, err
    rc, _, err = sh("echo '  start  ' > %s" % m.job("j", "control"))
    assert rc == 0, err
    m.wait_state("j", "ready")
    for cmd in ("start", "stop", "cancel"):
        assert m.control("j", cmd) == errno.EBUSY, cmd
    assert m.state("j") == "ready"


@both
def test_stop_early_keeps_weights(m):
    m.make_job("j", trainer_args="--forever --epoch-ms 10 --on-term save --print",
               epochs=100, monitor="loss", mode="min")
    assert m.control("j", "start") == 0
    m.wait_epoch("j", 3)
    assert m.control("j", "start") == 0  # repeating what is under way
    assert m.state("j") == "running"
    assert m.read("j", "control").startswith("allowed: stop cancel\n")
    rc, _, err = sh("echo stop > %s" % m.job("j", "control"))
    assert rc == 0, err
    assert m.state("j") in ("stopping", "packaging", "ready")
    assert m.control("j", "stop") == 0  # repeating a stop is fine
    m.wait_state("j", "ready")
    st, kv = m.status("j")
    assert kv["reason"] == "stopped-early" and kv["weights"] == "weights/j.tar"
    assert kv["epoch"].endswith("/100") and kv["best"].startswith("loss ")
    assert m.tags("j") == ["stopped-early", "ready"]
    assert os.listdir(m.job("j", "weights")) == ["j.tar"]
    rc, out, _ = sh("tar -tf %s" % m.job("j", "weights", "j.tar"))
    names = out.split()
    assert "weights.bin" in names and "trainfs.json" in names, names
    assert "stop requested" in m.read("j", "log")
    ev = m.read("j", "events").splitlines()
    assert [l.split()[1] for l in ev] == ["created", "queued", "running",
                                          "stopping", "packaging", "ready"], ev
    assert all(l.split()[0].endswith("Z") and "T" in l.split()[0] for l in ev)
    assert errno_of(open, m.job("j", "weights", "j.tar"), "wb") == errno.EACCES
    for cmd in ("start", "stop", "cancel"):
        assert m.control("j", cmd) == errno.EBUSY


@both
def test_stop_ignoring_trainer_is_killed_after_grace(m):
    m.make_job("j", trainer_args="--forever --epoch-ms 10 --on-term ignore --save each",
               grace=1)
    m.control("j", "start")
    m.wait_epoch("j", 2)
    t0 = time.monotonic()
    assert m.control("j", "stop") == 0
    st, kv = m.status("j")
    assert st == "stopping" and kv["kill at"].endswith("Z"), (st, kv)
    assert m.control("j", "start") == errno.EBUSY
    m.wait_state("j", "ready")
    assert time.monotonic() - t0 >= 0.9
    assert "weights.bin" in sh("tar -tf %s" % m.job("j", "weights", "j.tar"))[1]


@both
def test_stop_file_polling_trainer(m):
    # The signal is ignored; only the stop file can end it before grace.
    m.make_job("j", trainer_args="--forever --epoch-ms 10 --on-term ignore "
                                 "--signals USR2 --poll-stop --save none",
               stop_signal="USR2", grace=30)
    m.control("j", "start")
    m.wait_epoch("j", 2)
    t0 = time.monotonic()
    m.control("j", "stop")
    m.wait_state("j", "ready", timeout=10)
    assert time.monotonic() - t0 < 10
    assert "stop file" in m.read("j", "log")


@both
def test_stop_without_weights_fails(m):
    m.make_job("j", trainer_args="--forever --epoch-ms 10 --on-term die --save none")
    m.control("j", "start")
    m.wait_epoch("j", 1)
    m.control("j", "stop")
    m.wait_state("j", "failed")
    st, kv = m.status("j")
    assert kv["error"] == "no weights were saved"
    assert set(m.tags("j")) == {"stopped-early", "failed"}
    assert os.listdir(m.job("j", "weights")) == []


@both
def test_completion(m):
    m.make_job("j", trainer_args="--epochs 3 --epoch-ms 5", epochs=3, start=True)
    m.wait_state("j", "ready")
    st, kv = m.status("j")
    assert kv["reason"] == "completed" and kv["epoch"] == "3/3"
    assert m.tags("j") == ["completed", "ready"]


@both
def test_failure_keeps_log(m):
    m.make_job("j", trainer_args="--epochs 2 --epoch-ms 5 --exit 3 --print", start=True)
    m.wait_state("j", "failed")
    assert m.status("j")[1]["error"].startswith("trainer exited with status 3: ")
    assert m.tags("j") == ["failed"]
    assert "epoch" in m.read("j", "log")
    assert os.listdir(m.job("j", "weights")) == []
    assert m.control("j", "cancel") == errno.EBUSY


@both
def test_killed_by_signal(m):
    m.make_job("j", spec="command = kill -9 $$\n", start=True)
    m.wait_state("j", "failed")
    assert m.status("j")[1]["error"] == "killed by signal 9"


@both
def test_cancel_keeps_nothing(m):
    m.make_job("j", trainer_args="--forever --epoch-ms 10 --fork-child --save each")
    m.control("j", "start")
    m.wait_epoch("j", 2)
    output = os.path.join(m.store, "jobs", "1", "output")
    assert os.listdir(output)
    assert m.control("j", "cancel") == 0
    assert m.state("j") == "cancelled"
    assert m.control("j", "cancel") == 0  # repeating is fine
    for cmd in ("start", "stop"):
        assert m.control("j", cmd) == errno.EBUSY
    assert m.tags("j") == ["cancelled"]
    deadline = time.monotonic() + 5
    while os.path.exists(output) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not os.path.exists(output), "output not deleted"
    assert os.listdir(m.job("j", "weights")) == []
    # Nothing of the trainer is left running, the ignoring child included.
    rc, out, _ = sh("ps -eo pid,args | grep '[t]rainer.py' | grep -c %s || true" % m.dir)
    assert not [p for p in os.listdir("/proc") if p.isdigit() and _trainer_of(p, m.store)]


def _trainer_of(pid, store):
    try:
        with open("/proc/%s/environ" % pid, "rb") as f:
            return store.encode() + b"/jobs/1/output" in f.read()
    except OSError:
        return False


def test_queue_and_cancel_queued(m):
    m.remount(["--max-running", "1"])
    m.make_job("a", trainer_args="--forever --epoch-ms 10", start=True)
    m.make_job("b", trainer_args="--epochs 1 --epoch-ms 5", start=True)
    m.make_job("c", trainer_args="--epochs 1 --epoch-ms 5", start=True)
    m.wait_state("a", "running")
    m.wait_epoch("a", 1)  # its stop handler is in place (a loaded machine
    #                       can take longer than any fixed sleep)
    assert m.state("b") == "queued" and m.state("c") == "queued"
    assert m.control("b", "start") == 0 and m.state("b") == "queued"
    assert m.control("b", "stop") == errno.EBUSY
    assert m.control("c", "cancel") == 0 and m.state("c") == "cancelled"
    m.control("a", "stop")
    m.wait_state("a", "ready")
    m.wait_state("b", "ready")
    assert m.state("c") == "cancelled"


@both
def test_cancel_while_stopping_and_packaging(m):
    m.make_job("s", trainer_args="--forever --epoch-ms 10 --on-term ignore", grace=30)
    m.control("s", "start")
    m.wait_epoch("s", 1)
    m.control("s", "stop")
    assert m.state("s") == "stopping"
    assert m.control("s", "cancel") == 0
    assert m.state("s") == "cancelled"
    assert set(m.tags("s")) == {"stopped-early", "cancelled"}
    # A big, slowly compressed output keeps the job packaging for a while.
    m.make_job("p", trainer_args="--epochs 1 --epoch-ms 1 --weights-bytes 300000000",
               compression="gzip")
    m.control("p", "start")
    m.wait_state("p", "packaging", timeout=30)
    assert m.control("p", "stop") == 0 and m.state("p") == "packaging"
    assert m.control("p", "start") == errno.EBUSY
    assert "progress" in m.status("p")[1]
    assert m.control("p", "cancel") == 0
    assert m.state("p") == "cancelled"
    time.sleep(0.5)
    wdir = os.path.join(m.store, "jobs", "2", "weights")
    assert not [f for f in os.listdir(wdir)] if os.path.isdir(wdir) else True
    assert os.listdir(m.job("p", "weights")) == []


def test_rmdir(m):
    os.mkdir(m.job("new"))
    os.rmdir(m.job("new"))
    assert not os.path.exists(m.job("new"))
    m.make_job("r", trainer_args="--forever --epoch-ms 10", start=True)
    m.wait_state("r", "running")
    assert errno_of(os.rmdir, m.job("r")) == errno.EBUSY
    m.control("r", "cancel")
    os.rmdir(m.job("r"))
    assert "r" not in os.listdir(m.path("jobs"))
    assert not os.path.exists(os.path.join(m.store, "jobs", "2"))
    os.mkdir(m.job("r"))  # the name is free again, with a fresh job
    assert m.state("r") == "created" and m.read("r", "events").count("\n") == 1


def test_spec_read_only_once_started(m):
    m.make_job("j", trainer_args="--forever --epoch-ms 10", start=True)
    assert os.stat(m.job("j", "spec")).st_mode & 0o222 == 0
    assert m.write("j", "spec", "command = true\n") == errno.EACCES
    assert errno_of(os.truncate, m.job("j", "spec"), 0) == errno.EACCES
    m.control("j", "cancel")


def test_nothing_else_can_be_made(m):
    os.mkdir(m.job("j"))
    # (a new file in a job folder is an editor's temporary file: test_editors)
    assert errno_of(open, m.path("jobs", "file"), "w") in (errno.EACCES, errno.EPERM)
    assert errno_of(os.symlink, "x", m.job("j", "link")) in (errno.EACCES, errno.EPERM)
    assert errno_of(os.rename, m.job("j", "spec"), m.job("j", "spec~")) == errno.EPERM
    assert errno_of(os.rename, m.job("j"), m.path("elsewhere")) in (errno.EACCES, errno.EPERM)
    assert errno_of(os.mkdir, m.job("j", "sub")) in (errno.EACCES, errno.EPERM)
    assert errno_of(open, m.job("j", "status"), "w") == errno.EACCES
    # A file's mode follows its folder: another mode is EPERM, never a
    # silent no-op; the mode it has is taken (cp -p of a like file).
    assert errno_of(os.chmod, m.job("j", "spec"), 0o777) == errno.EPERM
    assert errno_of(os.chmod, m.job("j", "spec"), 0o644) == 0
    assert os.stat(m.job("j", "spec")).st_mode & 0o777 == 0o644
    assert errno_of(os.chown, m.job("j", "spec"), 1234, -1) == errno.EPERM
    assert m.state("j") == "created"
