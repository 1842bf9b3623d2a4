"""Unit tests of python/trainfs.py, the trainer's module (standard library only).

Run by tests/run.py with the unit tests (`make unit`), or alone:
    python3 -m unittest discover -s tests/python -v
Signals and stops are real: a child process gets a real SIGTERM.
"""
import json
import math
import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
import unittest
from unittest import mock

HERE = os.path.dirname(os.path.abspath(__file__))
PYDIR = os.path.join(HERE, "..", "..", "python")
sys.path.insert(0, PYDIR)
import trainfs  # noqa: E402

TRAINFS_VARS = ["TRAINFS_JOB", "TRAINFS_OUTPUT", "TRAINFS_METRICS",
                "TRAINFS_STOP_FILE", "TRAINFS_EPOCHS", "TRAINFS_CHECKPOINTS",
                "TRAINFS_RESUME_FROM", "TRAINFS_RESUME_EPOCH"]


def read(path):
    with open(path) as f:
        return f.read()


def clean_env(**set_):
    env = {k: v for k, v in os.environ.items() if k not in TRAINFS_VARS}
    env.update(set_)
    return mock.patch.dict(os.environ, env, clear=True)


class Scalar:
    """Something with __float__, as a 0-d tensor or a numpy scalar."""
    def __init__(self, v):
        self.v = v

    def __float__(self):
        return self.v


class Base(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="trainfs-py-")
        self.addCleanup(lambda: subprocess.run(["rm", "-rf", self.tmp]))

    def path(self, *p):
        return os.path.join(self.tmp, *p)


class Report(Base):
    def test_outside_trainfs_writes_nothing(self):
        with clean_env():
            self.assertIsNone(trainfs.report(1, loss=0.5))
        self.assertEqual(os.listdir(self.tmp), [])

    def test_lines_are_json_with_epoch_first(self):
        m = self.path("metrics.txt")
        with clean_env(TRAINFS_METRICS=m):
            trainfs.report(1, loss=0.5, acc=Scalar(0.25), n=3)
            trainfs.report(1, val_loss=float("nan"), best=float("inf"),
                           phase="val", flag=True, none=None, lst=[1])
            trainfs.report(2.0, loss=0.4)
        lines = read(m).splitlines()
        self.assertEqual(len(lines), 3)
        self.assertTrue(lines[0].startswith('{"epoch": 1,'))
        rows = [json.loads(line) for line in lines]
        self.assertEqual(rows[0], {"epoch": 1, "loss": 0.5, "acc": 0.25, "n": 3})
        self.assertTrue(math.isnan(rows[1]["val_loss"]))
        self.assertIn("NaN", lines[1])  # as trainfs reads Python's JSON
        self.assertIn("Infinity", lines[1])
        self.assertEqual(sorted(rows[1]), ["best", "epoch", "val_loss"])
        self.assertEqual(rows[2], {"epoch": 2, "loss": 0.4})
        self.assertEqual(os.stat(m).st_mode & 0o777, 0o600)

    def test_appends_to_what_is_there(self):
        m = self.path("metrics.txt")
        with open(m, "w") as f:
            f.write("epoch=1 loss=1\n")
        with clean_env(TRAINFS_METRICS=m):
            trainfs.report(2, loss=0.5)
        self.assertEqual(read(m).splitlines()[0], "epoch=1 loss=1")
        self.assertEqual(len(read(m).splitlines()), 2)

    def test_bad_epochs_are_refused(self):
        with clean_env(TRAINFS_METRICS=self.path("m")):
            for bad in (-1, 1.5, True, "x"):
                with self.assertRaises((ValueError, TypeError)):
                    trainfs.report(bad, loss=1)
            with self.assertRaises(TypeError):
                trainfs.report(1, epoch=2)
        self.assertFalse(os.path.exists(self.path("m")))


class Stop(Base):
    def test_stop_file(self):
        stop = self.path("stop")
        with clean_env(TRAINFS_STOP_FILE=stop):
            self.assertFalse(trainfs.stop_requested())
            open(stop, "w").close()
            self.assertTrue(trainfs.stop_requested())
        with clean_env():
            self.assertFalse(trainfs.stop_requested())

    def run_child(self, code, sig):
        """Runs CODE in a child, sends it SIG once it says 'ready'."""
        p = subprocess.Popen([sys.executable, "-c", textwrap.dedent(code), PYDIR],
                             stdout=subprocess.PIPE, text=True)
        self.assertEqual(p.stdout.readline().strip(), "ready")
        p.send_signal(sig)
        out, _ = p.communicate(timeout=30)
        return p.returncode, out

    def test_sigterm_sets_the_flag_instead_of_killing(self):
        rc, out = self.run_child("""
            import sys, time
            sys.path.insert(0, sys.argv[1])
            import trainfs
            trainfs.install_stop_handler()
            print("ready", flush=True)
            deadline = time.time() + 20
            while not trainfs.stop_requested() and time.time() < deadline:
                time.sleep(0.01)
            print("stopped", trainfs.stop_requested())
        """, signal.SIGTERM)
        self.assertEqual(rc, 0)
        self.assertEqual(out.strip(), "stopped True")

    def test_the_first_call_installs_the_handler(self):
        rc, out = self.run_child("""
            import sys, time
            sys.path.insert(0, sys.argv[1])
            import trainfs
            trainfs.target_epochs(3)
            print("ready", flush=True)
            while not trainfs.stop_requested():
                time.sleep(0.01)
            print("stopped")
        """, signal.SIGINT)
        self.assertEqual((rc, out.strip()), (0, "stopped"))

    def test_importing_installs_nothing(self):
        rc, out = self.run_child("""
            import sys, time
            sys.path.insert(0, sys.argv[1])
            import trainfs
            print("ready", flush=True)
            time.sleep(20)
        """, signal.SIGTERM)
        self.assertEqual(rc, -signal.SIGTERM)

    def test_another_signal(self):
        rc, out = self.run_child("""
            import signal, sys, time
            sys.path.insert(0, sys.argv[1])
            import trainfs
            trainfs.install_stop_handler((signal.SIGUSR1,))
            print("ready", flush=True)
            while not trainfs.stop_requested():
                time.sleep(0.01)
            print("stopped")
        """, signal.SIGUSR1)
        self.assertEqual((rc, out.strip()), (0, "stopped"))


class Checkpoint(Base):
    def test_context_manager_renames_when_whole(self):
        ck = self.path("ck")
        os.mkdir(ck)
        with clean_env(TRAINFS_CHECKPOINTS=ck):
            with trainfs.checkpoint(3) as folder:
                self.assertEqual(folder, os.path.join(ck, "epoch-3.tmp"))
                self.assertEqual(os.listdir(ck), ["epoch-3.tmp"])
                with open(os.path.join(folder, "model.pt"), "w") as f:
                    f.write("weights")
                os.mkdir(os.path.join(folder, "sub"))
        self.assertEqual(os.listdir(ck), ["epoch-3"])
        self.assertEqual(read(os.path.join(ck, "epoch-3", "model.pt")),
                         "weights")

    def test_a_failed_save_leaves_nothing(self):
        ck = self.path("ck")
        os.mkdir(ck)
        with clean_env(TRAINFS_CHECKPOINTS=ck):
            with self.assertRaises(RuntimeError):
                with trainfs.checkpoint(4) as folder:
                    open(os.path.join(folder, "half"), "w").close()
                    raise RuntimeError("disk full")
            with self.assertRaises(RuntimeError):
                trainfs.checkpoint(5, lambda f: (_ for _ in ()).throw(RuntimeError()))
        self.assertEqual(os.listdir(ck), [])

    def test_save_fn_and_replacing_an_older_one(self):
        ck = self.path("ck")
        os.makedirs(os.path.join(ck, "epoch-6"))
        open(os.path.join(ck, "epoch-6", "stale"), "w").close()
        os.makedirs(os.path.join(ck, "epoch-6.tmp"))  # a crash's leftover
        with clean_env(TRAINFS_CHECKPOINTS=ck):
            got = trainfs.checkpoint(
                6, lambda f: open(os.path.join(f, "new"), "w").close())
        self.assertEqual(got, os.path.join(ck, "epoch-6"))
        self.assertEqual(sorted(os.listdir(ck)), ["epoch-6"])
        self.assertEqual(os.listdir(os.path.join(ck, "epoch-6")), ["new"])

    def test_a_planted_link_is_not_followed(self):
        ck, victim = self.path("ck"), self.path("victim")
        os.mkdir(ck)
        os.mkdir(victim)
        open(os.path.join(victim, "precious"), "w").close()
        os.symlink(victim, os.path.join(ck, "epoch-7.tmp"))
        os.symlink(victim, os.path.join(ck, "epoch-7.old"))
        os.symlink(victim, os.path.join(ck, "epoch-7"))
        with clean_env(TRAINFS_CHECKPOINTS=ck):
            trainfs.checkpoint(7, lambda f: open(os.path.join(f, "m"), "w").close())
        self.assertTrue(os.path.exists(os.path.join(victim, "precious")))
        self.assertFalse(os.path.islink(os.path.join(ck, "epoch-7")))
        self.assertEqual(os.listdir(os.path.join(ck, "epoch-7")), ["m"])

    def test_outside_trainfs(self):
        calls = []
        with clean_env():
            self.assertIsNone(trainfs.checkpoint(1, calls.append))
            with trainfs.checkpoint(1) as folder:
                self.assertTrue(os.path.isdir(folder))
                open(os.path.join(folder, "x"), "w").close()
            self.assertFalse(os.path.exists(folder))
        self.assertEqual(calls, [])

    def test_bad_epoch(self):
        with clean_env(TRAINFS_CHECKPOINTS=self.path()):
            with self.assertRaises(ValueError):
                trainfs.checkpoint(-1, print)


class Resume(Base):
    def test_resume_point_and_targets(self):
        with clean_env():
            self.assertIsNone(trainfs.resume_point())
            self.assertEqual(trainfs.first_epoch(), 1)
            self.assertEqual(trainfs.target_epochs(100), 100)
            self.assertIsNone(trainfs.target_epochs())
            self.assertEqual(trainfs.output_dir(self.path("out")), self.path("out"))
            self.assertTrue(os.path.isdir(self.path("out")))
            self.assertFalse(trainfs.in_trainfs())
        with clean_env(TRAINFS_RESUME_FROM="/x/epoch-12",
                       TRAINFS_RESUME_EPOCH="12", TRAINFS_EPOCHS="150",
                       TRAINFS_JOB="j", TRAINFS_OUTPUT=self.path("o2")):
            self.assertEqual(trainfs.resume_point(), ("/x/epoch-12", 12))
            self.assertEqual(trainfs.first_epoch(), 13)
            self.assertEqual(trainfs.target_epochs(100), 150)
            self.assertTrue(trainfs.in_trainfs())
            self.assertEqual(trainfs.output_dir(), self.path("o2"))


LOOP = """
import os, sys, time
sys.path.insert(0, sys.argv[1])
import trainfs
w = 0.0
rp = trainfs.resume_point()
if rp:
    with open(os.path.join(rp[0], "w")) as f:
        w = float(f.read())
def save(folder):
    with open(os.path.join(folder, "w"), "w") as f:
        f.write(str(w))
for epoch in range(trainfs.first_epoch(), trainfs.target_epochs(5) + 1):
    w += 1.0
    trainfs.report(epoch, w=w)
    trainfs.checkpoint(epoch, save)
    print("epoch", epoch, flush=True)
    if trainfs.stop_requested():
        break
    time.sleep(0.05)
with open(os.path.join(trainfs.output_dir(), "w"), "w") as f:
    f.write(str(w))
"""


class Loop(Base):
    """A whole loop: stopped by SIGTERM mid-run, then resumed where it was."""

    def test_stop_then_resume(self):
        env = {k: v for k, v in os.environ.items() if k not in TRAINFS_VARS}
        env.update(TRAINFS_METRICS=self.path("metrics"),
                   TRAINFS_CHECKPOINTS=self.path("ck"),
                   TRAINFS_OUTPUT=self.path("out"), TRAINFS_EPOCHS="1000",
                   TRAINFS_JOB="loop")
        p = subprocess.Popen([sys.executable, "-c", LOOP, PYDIR], env=env,
                             stdout=subprocess.PIPE, text=True)
        for _ in range(3):
            p.stdout.readline()
        p.send_signal(signal.SIGTERM)
        p.communicate(timeout=30)
        self.assertEqual(p.returncode, 0)
        rows = [json.loads(x) for x in read(self.path("metrics")).splitlines()]
        last = rows[-1]["epoch"]
        self.assertGreaterEqual(last, 3)
        self.assertLess(last, 1000)
        self.assertIn("epoch-%d" % last, os.listdir(self.path("ck")))
        self.assertEqual(float(read(self.path("out", "w"))), last)
        env.update(TRAINFS_RESUME_FROM=self.path("ck", "epoch-%d" % last),
                   TRAINFS_RESUME_EPOCH=str(last), TRAINFS_EPOCHS=str(last + 3))
        subprocess.run([sys.executable, "-c", LOOP, PYDIR], env=env,
                       check=True, stdout=subprocess.DEVNULL, timeout=60)
        rows = [json.loads(x) for x in read(self.path("metrics")).splitlines()]
        self.assertEqual([r["epoch"] for r in rows],
                         list(range(1, last + 4)))
        self.assertEqual([r["w"] for r in rows], [float(e) for e in range(1, last + 4)])
        self.assertEqual(float(read(self.path("out", "w"))), last + 3)


if __name__ == "__main__":
    unittest.main()
