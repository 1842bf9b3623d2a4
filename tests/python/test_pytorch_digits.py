"""The PyTorch example (examples/pytorch_digits.py) by hand, without trainfs:
the TRAINFS_* variables set as trainfs sets them, a run that fails on
purpose mid-run, a resume from its newest checkpoint that goes on where it
left off, and the weights of the last checkpoint scored back.

Needs Debian's python3-torch and python3-sklearn for /usr/bin/python3
(tools/deps.sh); skipped without them.
"""
import json
import os
import subprocess
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
EXAMPLE = os.path.join(HERE, "..", "..", "examples", "pytorch_digits.py")
PY = "/usr/bin/python3"


def have_torch():
    if not os.path.exists(PY):
        return False
    return subprocess.run(
        [PY, "-c", "import importlib.util as u, sys; "
         "sys.exit(not (u.find_spec('torch') and u.find_spec('sklearn')))"]
    ).returncode == 0


@unittest.skipUnless(have_torch(), "needs python3-torch and python3-sklearn")
class PytorchDigits(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="trainfs-digits-")
        self.addCleanup(lambda: subprocess.run(["rm", "-rf", self.tmp]))
        self.env = {k: v for k, v in os.environ.items()
                    if not k.startswith("TRAINFS_")}
        self.env.update(TRAINFS_JOB="digits",
                        TRAINFS_METRICS=self.p("metrics.txt"),
                        TRAINFS_CHECKPOINTS=self.p("ck"),
                        TRAINFS_OUTPUT=self.p("out"),
                        TRAINFS_STOP_FILE=self.p("stop"),
                        TRAINFS_EPOCHS="6")
        os.mkdir(self.p("ck"))
        os.mkdir(self.p("out"))

    def p(self, *a):
        return os.path.join(self.tmp, *a)

    def run_example(self, *args, **env):
        e = dict(self.env, **env)
        return subprocess.run([PY, EXAMPLE] + list(args), env=e,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True, timeout=300)

    def rows(self):
        with open(self.p("metrics.txt")) as f:
            return [json.loads(line) for line in f]

    def test_fail_resume_and_score(self):
        r = self.run_example("--fail-at", "3")
        self.assertEqual(r.returncode, 3, r.stdout)
        self.assertEqual([x["epoch"] for x in self.rows()], [1, 2, 3])
        self.assertEqual(sorted(os.listdir(self.p("ck"))),
                         ["epoch-1", "epoch-2", "epoch-3"])
        for e in (1, 2, 3):
            self.assertEqual(sorted(os.listdir(self.p("ck", "epoch-%d" % e))),
                             ["model.pt", "train_state.pt"])
        self.assertEqual(os.listdir(self.p("out")), [])  # it failed

        r = self.run_example(TRAINFS_RESUME_FROM=self.p("ck", "epoch-3"),
                             TRAINFS_RESUME_EPOCH="3")
        self.assertEqual(r.returncode, 0, r.stdout)
        self.assertIn("resumed from %s: epoch 3" % self.p("ck", "epoch-3"),
                      r.stdout)
        rows = self.rows()
        self.assertEqual([x["epoch"] for x in rows], [1, 2, 3, 4, 5, 6])
        # it went on learning from where it was, not from scratch
        self.assertLess(rows[3]["loss"], rows[0]["loss"] / 2, rows)
        self.assertGreater(rows[5]["val_acc"], 0.9, rows)
        self.assertTrue(os.path.exists(self.p("out", "model.pt")))

        r = subprocess.run([PY, EXAMPLE, "--score", self.p("ck", "epoch-6")],
                           stdout=subprocess.PIPE, text=True, timeout=300)
        got = json.loads(r.stdout)
        self.assertAlmostEqual(got["val_acc"], rows[5]["val_acc"], places=6)
        self.assertAlmostEqual(got["val_loss"], rows[5]["val_loss"], places=5)


if __name__ == "__main__":
    unittest.main()
