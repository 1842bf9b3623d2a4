#!/usr/bin/env python3
"""make valgrind: trainfs under valgrind's memcheck, for a short use.

Mounts trainfs on a fresh store under

  valgrind --leak-check=full --errors-for-leak-kinds=definite
           --error-exitcode=99 --trace-children=yes
           --trace-children-skip=/bin/*,/usr/bin/*,...

so that trainfs and the helpers it runs from its own binary (each job's
shim, the packer) are checked, and the trainers (/bin/sh, python3) are not.
(trainfs runs its helpers from a descriptor of its own binary, so they
start under valgrind too.)

The use: mkdir; a bad spec, a refused start, a good spec; start; metrics;
every file read, poll(2) on status, a wait interrupted and one answered;
stop, the tarball read back; tags; a cancelled and a failed job; rmdir;
unmount.  It passes when trainfs and every helper exit, every valgrind log
says "0 errors" (definite leaks count as errors) and the use went as the
SPEC says.  Prints what it did and where the logs are.

  tests/valgrind.py --trainfs ./trainfs [--valgrind "valgrind FLAGS"] [--keep]
"""
import argparse
import glob
import os
import re
import select
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "integration"))
import harness  # noqa: E402
from harness import PY, TRAINER, errno_of  # noqa: E402

DEFAULT_VALGRIND = ("valgrind --leak-check=full --errors-for-leak-kinds=definite "
                    "--error-exitcode=99")
# What the helpers run that is not trainfs: not ours to check.
SKIP = "/bin/*,/usr/bin/*,/usr/local/bin/*,/sbin/*,/usr/sbin/*,*python*"


def start_under_valgrind(m, valgrind):
    logs = os.path.join(m.dir, "vg.%p.log")
    cmd = shlex.split(valgrind) + [
        "--trace-children=yes", "--trace-children-skip=" + SKIP,
        "--log-file=" + logs, harness.TRAINFS, m.mnt, "--store", m.store, "-f"]
    env = dict(os.environ)
    log = open(m.log_path, "ab")
    m.proc = subprocess.Popen(cmd, stdout=log, stderr=log, stdin=subprocess.DEVNULL,
                              env=env)
    log.close()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if m.proc.poll() is not None:
            raise AssertionError("trainfs exited with %d:\n%s" % (m.proc.returncode, m.log()))
        if os.path.ismount(m.mnt) and os.path.isdir(m.path("jobs")):
            return cmd
        time.sleep(0.1)
    raise AssertionError("mount did not come up under valgrind:\n" + m.log())


def step(what):
    print("  %s" % what, flush=True)


def use(m):
    """A short use of every part of trainfs, each result checked."""
    import errno
    step("mkdir, a bad spec, a refused start, a good spec")
    os.mkdir(m.job("j"))
    assert m.write("j", "spec", "command = true\nepoch = 3\n") == errno.EINVAL
    assert m.control("j", "start") == errno.EINVAL
    assert m.control("j", "bogus") == errno.EINVAL
    assert m.control("j", "stop") == errno.EBUSY
    assert m.write("j", "spec", "command = %s %s --forever --epoch-ms 100 --extra acc "
                   "--bad-lines 2 --print\nepochs = 50\nmonitor = loss\nmode = min\n"
                   "compression = gzip\ngrace = 20\n" % (PY, TRAINER)) == 0
    assert m.write("j", "tags", "first\nsecond\n") == 0
    assert m.write("j", "tags", "ready\n", mode="a") == errno.EINVAL
    step("start, metrics, every file read, poll(2) on status")
    assert m.control("j", "start") == 0
    m.wait_epoch("j", 3, timeout=120)
    for f in ("spec", "control", "status", "tags", "metrics", "graph.svg", "log",
              "events"):
        with open(m.job("j", f), "rb") as fh:
            assert fh.read(), f
        os.stat(m.job("j", f))
    assert os.listdir(m.job("j", "weights")) == []
    fd = os.open(m.job("j", "status"), os.O_RDONLY)
    os.read(fd, 65536)
    p = select.poll()
    p.register(fd, select.POLLIN)
    assert p.poll(30000), "poll(2) on status never woke"
    os.close(fd)
    step("a wait interrupted (EINTR), one answered after stop")
    r = subprocess.Popen(["cat", m.job("j", "wait")], stdout=subprocess.PIPE)
    time.sleep(1)
    r.send_signal(signal.SIGINT)
    r.wait(30)
    out = {}
    waiter = threading.Thread(target=lambda: out.setdefault("w", m.read("j", "wait")))
    waiter.start()
    time.sleep(0.5)
    assert m.control("j", "stop") == 0
    m.wait_state("j", "ready", timeout=180)
    waiter.join(60)
    assert out["w"].startswith("ready\n"), out
    step("the tarball read back through the mount")
    tar = m.job("j", "weights", "j.tar.gz")
    p = subprocess.run(["bsdtar", "-tzf", tar], stdout=subprocess.PIPE, text=True,
                       timeout=120)
    assert p.returncode == 0 and "weights.bin" in p.stdout and "trainfs.json" in p.stdout
    assert m.write("j", "tags", "best\n") == 0
    assert m.tags("j") == ["stopped-early", "ready", "best"], m.tags("j")
    for f in ("status", "metrics", "graph.svg", "events", "control", "tags"):
        m.read("j", f)
    step("a cancelled job, a failed job, rmdir of all")
    m.make_job("c", trainer_args="--forever --epoch-ms 100", start=True)
    m.wait_epoch("c", 1, timeout=120)
    assert m.control("c", "cancel") == 0
    m.make_job("f", trainer_args="--epochs 1 --epoch-ms 10 --exit 3", start=True)
    m.wait_state("c", "cancelled", timeout=120)
    m.wait_state("f", "failed", timeout=120)
    assert m.status("f")[1]["error"] == "trainer exited with status 3"
    assert errno_of(os.rmdir, m.job("nope")) == errno.ENOENT
    for n in ("j", "c", "f"):
        deadline = time.monotonic() + 60
        while errno_of(os.rmdir, m.job(n)) == errno.EBUSY and time.monotonic() < deadline:
            time.sleep(0.2)
    assert os.listdir(m.path("jobs")) == []


def helpers_alive(store):
    out = []
    for pid in os.listdir("/proc"):
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                cmd = f.read()
        except OSError:
            continue
        if store.encode() in cmd and (b"__shim" in cmd or b"__pack" in cmd):
            out.append(int(pid))
    return out


def check_logs(m):
    """Reads every valgrind log: ({command: count} of the processes checked
    to their exit, [(log, problem)])."""
    bad, checked = [], {}
    for path in sorted(glob.glob(os.path.join(m.dir, "vg.*.log"))):
        with open(path, errors="replace") as f:
            text = f.read()
        cmd = re.search(r"Command: \S+ ?(\S*)", text)
        kind = "?" if not cmd else cmd.group(1) if cmd.group(1).startswith("__") \
            else "trainfs"
        errors = re.findall(r"ERROR SUMMARY: ([\d,]+) errors", text)
        lost = re.findall(r"definitely lost: ([\d,]+) bytes", text)
        body = [l for l in text.splitlines() if not re.match(
            r"==\d+== (Memcheck|Copyright|Using Valgrind|Command|Parent PID|$)", l)]
        if not errors:
            # A fork that exec'd a program not traced (the shim's trainer,
            # /bin/sh) leaves just the header; anything more is a problem.
            if body:
                bad.append((path, "ended without a summary"))
            continue
        checked[kind] = checked.get(kind, 0) + 1
        if any(e != "0" for e in errors) or any(x != "0" for x in lost):
            bad.append((path, "%s: errors %s, definitely lost %s bytes" % (
                kind, errors, lost)))
    return checked, bad


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--trainfs", default="./trainfs")
    ap.add_argument("--valgrind", default=DEFAULT_VALGRIND)
    ap.add_argument("--keep", action="store_true", help="keep the logs' folder")
    a = ap.parse_args()
    if not shutil.which(shlex.split(a.valgrind)[0]):
        sys.exit("valgrind is not installed (apt-get install valgrind)")
    harness.TRAINFS = os.path.abspath(a.trainfs)
    harness.cleanup_stale()
    m = harness.Mount("valgrind", start=False)
    ok = False
    t0 = time.monotonic()
    try:
        cmd = start_under_valgrind(m, a.valgrind)
        print("trainfs under: %s" % " ".join(cmd[:-5]))
        print("mounted at %s in %.1fs; the use:" % (m.mnt, time.monotonic() - t0))
        use(m)
        step("unmount")
        subprocess.run(["fusermount3", "-u", m.mnt], check=True)
        rc = m.proc.wait(timeout=300)
        m.proc = None
        deadline = time.monotonic() + 120
        while helpers_alive(m.store) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not helpers_alive(m.store), "helpers still running"
        checked, bad = check_logs(m)
        print("trainfs exited with %d; checked to their exit: %s" % (
            rc, ", ".join("%d %s" % (n, k) for k, n in sorted(checked.items()))))
        for path, why in bad:
            print("  %s: %s" % (path, why))
            with open(path, errors="replace") as f:
                print(f.read()[-6000:])
        assert rc == 0, "trainfs exited with %d (99: valgrind found errors)" % rc
        assert checked.get("trainfs") == 1 and checked.get("__shim", 0) >= 3 and \
            checked.get("__pack", 0) >= 1, "were the helpers traced? %s" % checked
        assert not bad, "valgrind found errors or definite leaks"
        ok = True
    except BaseException:
        import traceback
        traceback.print_exc()
        print("---- trainfs log ----\n" + m.log()[-4000:])
        a.keep = True
    finally:
        if a.keep:
            keep = m.dir + "-logs"
            os.makedirs(keep, exist_ok=True)
            for f in glob.glob(os.path.join(m.dir, "vg.*.log")) + [m.log_path]:
                shutil.copy(f, keep)
            print("logs kept in %s" % keep)
        try:
            m.close()
        except AssertionError as e:
            print(e)
    print("valgrind: %s in %.0fs" % ("passed" if ok else "FAILED", time.monotonic() - t0))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
