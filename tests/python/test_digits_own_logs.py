"""The examples that log as real frameworks do, run by hand without
trainfs (examples/digits_csvlogger.py: Lightning's CSVLogger and
ModelCheckpoint layout, resumed with --ckpt_path; and
examples/digits_tensorboard.py: TensorBoard event files of its own
writing).  The event files are read back here by a reader of the test's
own, written from the format's definition (TFRecord frames: uint64
length, masked CRC-32C of it, data, masked CRC-32C of the data; Event and
Summary protocol buffers), so the example's writer is checked against
the format, not against itself.

Needs Debian's python3-torch and python3-sklearn for /usr/bin/python3;
skipped without them.
"""
import glob
import os
import struct
import subprocess
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
EXAMPLES = os.path.join(HERE, "..", "..", "examples")
PY = "/usr/bin/python3"


def have_torch():
    return os.path.exists(PY) and subprocess.run(
        [PY, "-c", "import importlib.util as u, sys; "
         "sys.exit(not (u.find_spec('torch') and u.find_spec('sklearn')))"]
    ).returncode == 0


def crc32c(data):
    """Bit by bit, from the polynomial (reflected 0x82F63B78)."""
    c = 0xFFFFFFFF
    for b in data:
        c ^= b
        for _ in range(8):
            c = (c >> 1) ^ (0x82F63B78 & -(c & 1))
    return c ^ 0xFFFFFFFF


def masked(data):
    c = crc32c(data)
    return (((c >> 15) | (c << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def frames(path):
    with open(path, "rb") as f:
        buf = f.read()
    i = 0
    while i < len(buf):
        head = buf[i:i + 8]
        (n,) = struct.unpack("<Q", head)
        assert struct.unpack("<I", buf[i + 8:i + 12])[0] == masked(head)
        data = buf[i + 12:i + 12 + n]
        assert struct.unpack("<I", buf[i + 12 + n:i + 16 + n])[0] == masked(data)
        yield data
        i += 16 + n


def fields(msg):
    """(number, value) of each field: ints for varints, bytes otherwise."""
    i = 0
    while i < len(msg):
        key, i = varint(msg, i)
        num, wire = key >> 3, key & 7
        if wire == 0:
            v, i = varint(msg, i)
        elif wire == 1:
            v, i = msg[i:i + 8], i + 8
        elif wire == 5:
            v, i = msg[i:i + 4], i + 4
        else:
            n, i = varint(msg, i)
            v, i = msg[i:i + n], i + n
        yield num, v


def varint(buf, i):
    n = shift = 0
    while True:
        b = buf[i]
        i += 1
        n |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return n, i


def scalars(path):
    """[(step, tag, value)] of an event file; checks its first event."""
    out = []
    for k, data in enumerate(frames(path)):
        ev = dict(fields(data))
        if k == 0:
            assert ev[3] == b"brain.Event:2", ev
            continue
        summary = dict(fields(ev[5]))
        value = dict(fields(summary[1]))
        out.append((ev[2], value[1].decode(), struct.unpack("<f", value[2])[0]))
    return out


@unittest.skipUnless(have_torch(), "needs python3-torch and python3-sklearn")
class OwnLogs(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="trainfs-ownlogs-")
        self.addCleanup(lambda: subprocess.run(["rm", "-rf", self.tmp]))

    def run_example(self, name, *args):
        env = {k: v for k, v in os.environ.items() if not k.startswith("TRAINFS_")}
        p = subprocess.run([PY, os.path.join(EXAMPLES, name)] + list(args),
                           cwd=self.tmp, env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, timeout=300)
        self.assertEqual(p.returncode, 0, p.stdout)
        return p.stdout

    def test_crc32c_of_the_definition(self):
        self.assertEqual(crc32c(b"123456789"), 0xE3069283)

    def test_tensorboard_event_files(self):
        self.run_example("digits_tensorboard.py", "--epochs", "3")
        (train,) = glob.glob(os.path.join(self.tmp, "logs/train/events.out.tfevents.*"))
        (val,) = glob.glob(os.path.join(self.tmp, "logs/validation/events.out.tfevents.*"))
        t = scalars(train)
        self.assertEqual([(s, tag) for s, tag, _ in t],
                         [(0, "epoch_loss"), (1, "epoch_loss"), (2, "epoch_loss")])
        self.assertTrue(t[2][2] < t[0][2], t)
        v = scalars(val)
        self.assertEqual(sorted({tag for _, tag, _ in v}), ["epoch_accuracy", "epoch_loss"])
        self.assertTrue(os.path.exists(os.path.join(self.tmp, "best.pt")))

    def test_csvlogger_layout_and_resume(self):
        self.run_example("digits_csvlogger.py", "--epochs", "2")
        ck = os.path.join(self.tmp, "lightning_logs/version_0/checkpoints")
        names = sorted(os.listdir(ck))
        self.assertEqual([n.split("-")[0] for n in names], ["epoch=0", "epoch=1"])
        out = self.run_example("digits_csvlogger.py", "--epochs", "3",
                               "--ckpt_path", os.path.join(ck, names[-1]))
        self.assertIn("Restoring states from the checkpoint path", out)
        with open(os.path.join(self.tmp, "lightning_logs/version_0/metrics.csv")) as f:
            rows = [l.rstrip("\n").split(",") for l in f]
        self.assertEqual(rows[0], ["epoch", "step", "train_loss", "val_acc", "val_loss"])
        self.assertEqual([r[0] for r in rows[1:]], ["0", "0", "1", "1", "2", "2"])
        # a training row and a validation row, each with the other's cells empty
        self.assertEqual(rows[1][3:], ["", ""])
        self.assertEqual(rows[2][2], "")


if __name__ == "__main__":
    unittest.main()
