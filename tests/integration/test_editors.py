"""Editors save a spec the way they save any file (SPEC "The tree"):
their temporary and swap files live in memory in the job folder, and a
temporary file renamed onto spec writes the spec."""
import errno
import os
import shutil
import subprocess
import time

from harness import errno_of, sh

SPEC = "command = true\nepochs = 10\n"


def job_with_spec(m, name="e"):
    os.mkdir(m.job(name))
    assert m.write(name, "spec", SPEC) == 0
    return name


def test_sed_i(m):
    job_with_spec(m)
    rc, out, err = sh("sed -i 's/epochs = 10/epochs = 20/' %s" % m.job("e", "spec"))
    assert rc == 0, err
    assert m.read("e", "spec") == "command = true\nepochs = 20\n"
    assert sorted(os.listdir(m.job("e"))) == sorted(
        ["spec", "control", "status", "tags", "metrics", "graph.svg", "log",
         "events", "weights"])  # sed's temporary file is gone


def test_vim(m):
    job_with_spec(m)
    p = subprocess.run(["vim", "-Es", "-u", "NONE", "-c", "%s/epochs = 10/epochs = 30/",
                        "-c", "wq", m.job("e", "spec")],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                       timeout=30)
    assert p.returncode == 0, p.stdout
    assert m.read("e", "spec") == "command = true\nepochs = 30\n"


def test_vim_with_swap_and_backup_files(m):
    job_with_spec(m)
    p = subprocess.run(["vim", "-Es", "-u", "NONE", "-c", "set swapfile backup writebackup",
                        "-c", "e!", "-c", "%s/10/40/", "-c", "wq", m.job("e", "spec")],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                       timeout=30)
    assert p.returncode == 0, p.stdout
    assert m.read("e", "spec") == "command = true\nepochs = 40\n"


def test_nano_under_tmux(m):
    if not shutil.which("nano") or not shutil.which("tmux"):
        raise AssertionError("nano and tmux are needed (tools/deps.sh)")
    job_with_spec(m)
    sock = "trainfs-test-%d" % os.getpid()
    t = ["tmux", "-L", sock]
    subprocess.run(t + ["new-session", "-d", "-x", "100", "-y", "30",
                        "nano", m.job("e", "spec")], check=True)
    try:
        time.sleep(1.0)
        screen = subprocess.run(t + ["capture-pane", "-p"], stdout=subprocess.PIPE,
                                text=True).stdout
        assert "lock" not in screen.lower(), screen  # no warning about its lock file
        subprocess.run(t + ["send-keys", "# saved by nano", "Enter"], check=True)
        subprocess.run(t + ["send-keys", "C-o"], check=True)
        time.sleep(0.3)
        subprocess.run(t + ["send-keys", "Enter"], check=True)
        time.sleep(0.5)
        subprocess.run(t + ["send-keys", "C-x"], check=True)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if subprocess.run(t + ["has-session"], stderr=subprocess.DEVNULL).returncode:
                break
            time.sleep(0.1)
    finally:
        subprocess.run(t + ["kill-server"], stderr=subprocess.DEVNULL)
    assert m.read("e", "spec").startswith("# saved by nano\n"), m.read("e", "spec")
    assert ".spec.swp" not in os.listdir(m.job("e"))


def test_gio_save_and_copy(m):
    if not shutil.which("gio"):
        raise AssertionError("gio is needed (libglib2.0-bin in tools/deps.sh)")
    job_with_spec(m)
    p = subprocess.run(["gio", "save", m.job("e", "spec")], input="command = true\nepochs = 50\n",
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=30)
    assert p.returncode == 0, p.stdout
    assert m.read("e", "spec") == "command = true\nepochs = 50\n"
    src = os.path.join(m.dir, "spec.src")
    with open(src, "w") as f:
        f.write("command = true\nepochs = 60\n")
    p = subprocess.run(["gio", "copy", src, m.job("e", "spec")],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=30)
    assert p.returncode == 0, p.stdout
    assert m.read("e", "spec") == "command = true\nepochs = 60\n"


def test_cp_p(m):
    job_with_spec(m)
    src = os.path.join(m.dir, "spec.src")
    with open(src, "w") as f:
        f.write("command = true\nepochs = 70\n")
    rc, _, err = sh("cp -p %s %s" % (src, m.job("e", "spec")))
    assert rc == 0, err
    assert m.read("e", "spec") == "command = true\nepochs = 70\n"


def test_temporary_files_behave_like_files(m):
    job_with_spec(m)
    tmp = m.job("e", ".spec.swp")
    with open(tmp, "wb") as f:
        f.write(b"x" * 5000)
    assert os.path.getsize(tmp) == 5000
    assert open(tmp, "rb").read() == b"x" * 5000
    os.chmod(tmp, 0o600)
    assert os.stat(tmp).st_mode & 0o777 == 0o600
    os.utime(tmp, (1000000000, 1000000000))
    assert os.stat(tmp).st_mtime == 1000000000
    os.chown(tmp, 0, 0)
    assert errno_of(os.chown, tmp, 1234, 1234) == errno.EPERM
    os.rename(tmp, m.job("e", "4913"))
    assert "4913" in os.listdir(m.job("e")) and ".spec.swp" not in os.listdir(m.job("e"))
    os.unlink(m.job("e", "4913"))
    assert not os.path.exists(m.job("e", "4913"))
    # Own files cannot be renamed away; others' temporary names can't be made.
    assert errno_of(os.rename, m.job("e", "spec"), m.job("e", "spec~")) == errno.EPERM
    p = subprocess.run(["runuser", "-u", "nobody", "--", "touch", m.job("e", "x")],
                       stderr=subprocess.PIPE)
    assert p.returncode != 0


def test_limits_and_unmount(m):
    job_with_spec(m)
    for i in range(16):
        open(m.job("e", "t%d" % i), "w").close()
    assert errno_of(open, m.job("e", "t16"), "w") == errno.ENOSPC
    fd = os.open(m.job("e", "t0"), os.O_WRONLY)
    try:
        os.write(fd, b"y" * (1024 * 1024))
        assert errno_of(os.write, fd, b"z") == errno.EFBIG
    finally:
        os.close(fd)
    m.remount()
    assert not any(n.startswith("t") and n != "tags" for n in os.listdir(m.job("e")))


def test_rename_onto_spec_once_started(m):
    m.make_job("s", trainer_args="--forever --epoch-ms 20", start=True)
    with open(m.job("s", "new"), "w") as f:
        f.write("command = false\n")
    assert errno_of(os.rename, m.job("s", "new"), m.job("s", "spec")) == errno.EACCES
    assert "command = false" not in m.read("s", "spec")
    m.control("s", "cancel")


def test_spec_reads_right_after_a_rename_onto_it(m):
    # The kernel takes `spec` for the renamed file's inode until it looks
    # the name up again: every read right after the rename sees the spec.
    job_with_spec(m)
    for i in range(200):
        tmp = m.job("e", ".goutputstream-%d" % i)
        text = "command = true\nepochs = %d\n" % (i + 1)
        with open(tmp, "w") as f:
            f.write(text)
        os.rename(tmp, m.job("e", "spec"))
        with open(m.job("e", "spec")) as f:
            assert f.read() == text, i
        assert os.stat(m.job("e", "spec")).st_size == len(text), i
