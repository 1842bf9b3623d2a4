"""metrics_from: trainers that write their own log, as they are.  Each
trainer here writes what a real program writes (Lightning's CSVLogger
with its sparse rows and rewritten header, TensorBoard event files in
subfolders, JSON lines), on a real mount, with no trainfs code in it."""
import os
import sqlite3
import struct
import time

from harness import PY

HERE = os.path.dirname(os.path.abspath(__file__))
TFWRITER = os.path.join(HERE, "..", "trainers", "tfevents.py")


def write_trainer(m, name, body):
    path = os.path.join(m.dir, name)
    with open(path, "w") as f:
        f.write(body)
    os.chmod(path, 0o755)
    return path


def rows(m, name):
    lines = m.read(name, "metrics").splitlines()
    head = lines[0].split(",")
    return head, [dict(zip(head, l.split(","))) for l in lines[1:]]


# As PyTorch Lightning's CSVLogger (ExperimentWriter.save) writes
# metrics.csv: a training row and a validation row per epoch, each with
# the other's cells empty, epochs from 0; when a new key appears the whole
# file is rewritten with the new header, else rows are appended.
LIGHTNING = r'''
import csv, os, sys, time
out = sys.argv[1]
vals = [float(v) for v in sys.argv[2].split(",")]
delay = float(sys.argv[3]) if len(sys.argv) > 3 else 0.05
time.sleep(float(os.environ.get("FIRST_WAIT", "0")))
os.makedirs(os.path.dirname(out), exist_ok=True)
open(os.path.join(os.environ["TRAINFS_OUTPUT"], "w.bin"), "w").write("x")
keys, done = [], []
def save(pending):
    new = [k for r in pending for k in r if k not in keys]
    exists = os.path.isfile(out)
    for k in new:
        if k not in keys:
            keys.append(k)
    keys.sort()
    if new and exists:
        with open(out, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=keys)
            w.writeheader()
            w.writerows(done)
    with open(out, "a" if exists else "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=keys)
        if not exists:
            w.writeheader()
        w.writerows(pending)
    done.extend(pending)
step = 0
for e, v in enumerate(vals):
    step += 10
    save([{"epoch": e, "step": step, "train_loss": 1.0 / (e + 1)}])
    time.sleep(delay)
    save([{"epoch": e, "step": step, "val_acc": v, "val_loss": 1 - v}])
    time.sleep(delay)
time.sleep(float(os.environ.get("LAST_WAIT", "0")))
'''

SPEC = "command = %s %s %s %s\nepochs = %d\nmonitor = val_acc\nmode = max\n" \
       "metrics_from = %s\n"


def test_lightning_csv_rows_merge_per_epoch(m):
    t = write_trainer(m, "lightning.py", LIGHTNING)
    src = "lightning_logs/version_0/metrics.csv"
    m.make_job("j", spec=SPEC % (PY, t, src, "0.5,0.6,0.55,0.58", 4, src)
               + "env.FIRST_WAIT = 1.5\n", start=True)
    m.wait_state("j", "running")
    _, kv = m.status("j")
    assert kv["metrics from"] == src + " (not found yet)", kv
    m.wait_state("j", "ready")
    head, r = rows(m, "j")
    assert head == ["epoch", "step", "train_loss", "val_acc", "val_loss"], head
    # Epochs 0..3 of the trainer are shown 1..4, one row each.
    assert [x["epoch"] for x in r] == ["1", "2", "3", "4"], r
    assert r[1]["train_loss"] == "0.5" and r[1]["val_acc"] == "0.6", r
    st, kv = m.status("j")
    assert kv["metrics from"] == src, kv
    assert kv["epoch"] == "4/4", kv
    assert kv["best"] == "val_acc 0.6 at epoch 2", kv
    assert "bad metric lines" not in kv, kv
    # Stored with its position: a remount shows the same and reads no
    # row twice.
    before = m.read("j", "metrics")
    m.remount()
    assert m.read("j", "metrics") == before
    db = sqlite3.connect(os.path.join(m.store, "trainfs.db"))
    pos = db.execute("SELECT source_pos FROM jobs").fetchone()[0]
    db.close()
    assert pos and pos.startswith("trainfs-source 1"), pos


def test_auto_stop_on_a_monitor_of_the_source(m):
    t = write_trainer(m, "lightning.py", LIGHTNING)
    src = "logs/metrics.csv"
    vals = ",".join(["0.5", "0.7", "0.6", "0.6", "0.65"] + ["0.1"] * 40)
    m.make_job("j", spec=SPEC % (PY, t, src, vals, 45, src)
               + "patience = 3\nenv.LAST_WAIT = 30\n", start=True)
    m.wait_state("j", "ready", timeout=30)
    st, kv = m.status("j")
    assert "converged" in m.tags("j"), kv
    assert kv["best"] == "val_acc 0.7 at epoch 2", kv
    assert kv["epoch"].split("/")[0] in ("5", "6"), kv


def test_auto_stop_on_a_source_while_unmounted(m):
    """Auto-stop holds while trainfs is away: the shim follows the
    trainer's own log as trainfs does, from where trainfs had read it."""
    t = write_trainer(m, "lightning.py", LIGHTNING)
    src = "logs/metrics.csv"
    vals = ",".join(["0.5", "0.7", "0.6", "0.6", "0.65"] + ["0.1"] * 40)
    m.make_job("j", spec=SPEC % (PY, t, src, vals + " 0.1", 45, src)
               + "patience = 3\nenv.FIRST_WAIT = 3\n", start=True)
    m.wait_state("j", "running")
    m.unmount()
    log = os.path.join(m.store, "jobs", "1", "autostop")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not os.path.exists(log):
        time.sleep(0.05)
    # Best 0.7 at epoch 2 (the trainer's 1); 3, 4, 5 do not improve.
    with open(log) as f:
        rec = f.read()
    assert rec.startswith("epoch 5\nwaited 3\n"), rec
    m.start()
    m.wait_state("j", "ready", timeout=30)
    st, kv = m.status("j")
    assert kv["reason"] == "converged", kv
    assert kv["best"] == "val_acc 0.7 at epoch 2", kv
    assert "converged" in m.tags("j"), kv


def test_source_from_the_start_after_a_rewrite_and_patience(m):
    """A trainer that validates every 3rd epoch is judged on those; a
    file rewritten whole is read again (rows taken stay)."""
    t = write_trainer(m, "every3.py", r'''
import os, time
out = "every3.csv"
def put(text, mode="a"):
    with open(out, mode) as f:
        f.write(text)
    time.sleep(0.05)
put("epoch,loss,val_acc\n", "w")
for e in range(1, 10):
    put("%d,%g,%s\n" % (e, 1.0 / e, "0.5" if e % 3 == 0 else ""))
put("epoch,loss,val_acc\n1,9,\n", "w")
open(os.path.join(os.environ["TRAINFS_OUTPUT"], "w.bin"), "w").write("x")
''')
    m.make_job("j", spec="command = %s %s\nmonitor = val_acc\npatience = 3\n"
               "metrics_from = every3.csv\n" % (PY, t), start=True)
    m.wait_state("j", "ready", timeout=30)
    st, kv = m.status("j")
    # 9 epochs, 2 without improvement among the 3 validated: no stop.
    assert "converged" not in m.tags("j"), kv
    head, r = rows(m, "j")
    assert len(r) == 9, r
    # the rewrite replaced epoch 1's loss, the other rows stayed
    assert r[0]["loss"] == "9" and r[8]["loss"] == "0.111111", r


JSONL = r'''
import json, os, time
with open("log.jsonl", "a") as f:
    for e in range(1, 5):
        f.write(json.dumps({"epoch": e, "eval/loss": 1.0 / e,
                            "phase": "eval", "lr/pg0": 0.01}) + "\n")
        f.flush()
        time.sleep(0.03)
    f.write("epoch=5 loss=1\n")
    f.write(json.dumps({"epoch": 5, "metrics/mAP50-95(B)": 0.4,
                        "bad name": 1}) + "\n")
open(os.path.join(os.environ["TRAINFS_OUTPUT"], "w.bin"), "w").write("x")
'''


def test_json_lines_source(m):
    t = write_trainer(m, "jl.py", JSONL)
    m.make_job("j", spec="command = %s %s\nmetrics_from = log.jsonl\n"
               % (PY, t), start=True)
    m.wait_state("j", "ready")
    head, r = rows(m, "j")
    assert head == ["epoch", "eval/loss", "lr/pg0", "metrics/mAP50-95(B)"], head
    assert [x["epoch"] for x in r] == ["1", "2", "3", "4", "5"], r
    assert r[4]["metrics/mAP50-95(B)"] == "0.4", r
    _, kv = m.status("j")
    # a line that is not JSON, and a pair left out of the last line
    assert kv["bad metric lines"] == \
        "2 (last: line 6: log.jsonl: bad metric name 'bad name')", kv


# TensorBoard: Keras' layout, train/ and validation/ subfolders, epochs
# from 0 as steps, scalars as simple_value and as float tensors; then a
# frame with a broken data CRC and a stretch of garbage.
TB = r'''
import os, sys, time
sys.path.insert(0, sys.argv[1])
import tfevents
n = int(sys.argv[2])
corrupt = len(sys.argv) > 3
tr = tfevents.Writer("logs/train")
va = tfevents.Writer("logs/validation")
for e in range(n):
    tr.scalar("epoch_loss", 1.0 / (e + 1), e)
    va.scalar("epoch_loss", 1.5 / (e + 1), e, tensor=True)
    va.scalar("epoch_accuracy", 0.5 + e / 100.0, e, tensor=True, double=e % 2)
    if corrupt and e == 1:
        va.raw(b"\x00garbage\xff" * 7)
        va.frame(b"\x10\x05", bad_crc=True)
    time.sleep(0.03)
open(os.path.join(os.environ["TRAINFS_OUTPUT"], "w.bin"), "w").write("x")
'''


def test_tensorboard_folders(m):
    t = write_trainer(m, "tb.py", TB)
    tdir = os.path.dirname(os.path.abspath(TFWRITER))
    m.make_job("j", spec="command = %s %s %s 5 corrupt\nepochs = 5\n"
               "monitor = validation/epoch_accuracy\n"
               "metrics_from = logs\n" % (PY, t, tdir), start=True)
    m.wait_state("j", "ready")
    head, r = rows(m, "j")
    assert sorted(head) == ["epoch", "train/epoch_loss",
                            "validation/epoch_accuracy",
                            "validation/epoch_loss"], head
    assert [x["epoch"] for x in r] == ["1", "2", "3", "4", "5"], r
    assert r[2]["train/epoch_loss"] == "0.33333334", r
    assert r[4]["validation/epoch_accuracy"] == "0.54", r
    _, kv = m.status("j")
    assert kv["epoch"] == "5/5", kv
    assert kv["best"] == "validation/epoch_accuracy 0.54 at epoch 5", kv
    # the garbage and the frame with a bad CRC, each counted once
    assert kv["bad metric lines"].startswith("2 (last: "), kv
    assert "bad data CRC" in kv["bad metric lines"], kv


def test_tensorboard_incomplete_last_frame(m):
    """A frame still being written is waited for; once the trainer has
    ended, it is counted."""
    t = write_trainer(m, "half.py", r'''
import os, sys, time
sys.path.insert(0, sys.argv[1])
import tfevents
w = tfevents.Writer("tb")
w.scalar("loss", 0.5, 1)
w.scalar("loss", 0.4, 2, partial=True)
time.sleep(1)
open(os.path.join(os.environ["TRAINFS_OUTPUT"], "w.bin"), "w").write("x")
''')
    tdir = os.path.dirname(os.path.abspath(TFWRITER))
    m.make_job("j", spec="command = %s %s %s\nmetrics_from = tb\n"
               % (PY, t, tdir), start=True)
    m.wait_epoch("j", 1)
    _, kv = m.status("j")
    assert "bad metric lines" not in kv, kv
    m.wait_state("j", "ready")
    _, kv = m.status("j")
    assert kv["epoch"] == "1", kv
    assert "incomplete last record" in kv["bad metric lines"], kv


def test_read_with_the_owners_rights(m):
    """A job of nobody's names a root-only CSV and a link to it: neither
    is read (the link is not followed, the file cannot be opened as
    nobody), while nobody's own file next to them is."""
    import subprocess
    import json
    m.remount(["-o", "allow_other"])
    secret = os.path.join(m.dir, "secret.csv")
    with open(secret, "w") as f:
        f.write("epoch,leak\n1,42\n")
    os.chmod(secret, 0o600)
    work = os.path.join(m.dir, "work")
    os.mkdir(work)
    os.chown(work, 65534, 65534)
    os.symlink(secret, os.path.join(work, "link.csv"))
    t = write_trainer(m, "own.py", r'''
import os, time
with open("own.csv", "w") as f:
    f.write("epoch,mine\n1,7\n")
open(os.path.join(os.environ["TRAINFS_OUTPUT"], "w.bin"), "w").write("x")
time.sleep(0.5)
''')
    os.chmod(t, 0o755)

    def job_as_nobody(name, src):
        d = m.job(name)
        code = ("import os\nos.mkdir(%r)\n"
                "open(%r, 'w').write(%r)\n"
                "open(%r, 'w').write('start\\n')\nprint('{}')\n"
                % (d, d + "/spec",
                   "command = %s %s\nworkdir = %s\nmetrics_from = %s\n"
                   % (PY, t, work, src), d + "/control"))
        p = subprocess.run([PY, "-c", code], user=65534, group=65534,
                           extra_groups=[], capture_output=True, text=True,
                           timeout=60, cwd="/")
        assert p.returncode == 0, p.stderr

    job_as_nobody("secret", secret)
    m.wait_state("secret", "ready")
    job_as_nobody("link", "link.csv")
    m.wait_state("link", "ready")
    job_as_nobody("own", "own.csv")
    m.wait_state("own", "ready")
    for name in ("secret", "link"):
        assert "leak" not in m.read(name, "metrics"), name
        _, kv = m.status(name)
        assert kv["metrics from"].endswith("(not found yet)"), kv
    assert m.read("own", "metrics") == "epoch,mine\n1,7\n"


def test_ultralytics_results_replay_auto_stops(m):
    """A replay of a real Ultralytics 8.3 training's results.csv, row by
    row as YOLO appends it, auto-stops on metrics/mAP50-95(B): best at
    epoch 2 (0.53833), five epochs without improvement after it."""
    data = os.path.join(HERE, "..", "data", "ultralytics_v8_3_results.csv")
    t = write_trainer(m, "yolo.py", r'''
import os, sys, time
rows = open(sys.argv[1]).read().splitlines()
os.makedirs("runs/detect/train/weights", exist_ok=True)
open(os.path.join(os.environ["TRAINFS_OUTPUT"], "best.pt"), "w").write("w")
with open("runs/detect/train/results.csv", "w") as f:
    f.write(rows[0] + "\n")
    for r in rows[1:]:
        time.sleep(0.1)
        f.write(r + "\n")
        f.flush()
time.sleep(30)
''')
    m.make_job("yolo", spec="command = %s %s %s\nepochs = 14\n"
               "monitor = metrics/mAP50-95(B)\npatience = 5\n"
               "metrics_from = runs/detect/train/results.csv\n"
               % (PY, t, os.path.abspath(data)), start=True)
    m.wait_state("yolo", "ready", timeout=30)
    st, kv = m.status("yolo")
    assert "converged" in m.tags("yolo"), kv
    assert kv["best"] == "metrics/mAP50-95(B) 0.53833 at epoch 2", kv
    assert kv["message"].startswith("training converged at epoch 7 of 14"), kv
    head, r = rows(m, "yolo")
    assert "metrics/mAP50(B)" in head and "lr/pg0" in head, head


def test_a_source_on_the_mount_itself_is_refused(m):
    """metrics_from naming a file of the trainfs mount (here the job's own
    metrics, whose reading needs the job the reader holds) or a link onto
    it is never opened: the mount keeps answering, the job ends."""
    work = os.path.join(m.dir, "w")
    os.mkdir(work)
    os.symlink(m.path("jobs"), os.path.join(work, "jobs"))
    t = write_trainer(m, "plain.py", r'''
import os, time
open(os.path.join(os.environ["TRAINFS_OUTPUT"], "w.bin"), "w").write("x")
with open(os.environ["TRAINFS_METRICS"], "a") as f:
    f.write("epoch=1 loss=1\n")
time.sleep(1.5)
''')
    m.make_job("self", spec="command = %s %s\nmetrics_from = %s\n"
               % (PY, t, m.job("self", "metrics")), start=True)
    m.make_job("link", spec="command = %s %s\nworkdir = %s\n"
               "metrics_from = jobs/self/metrics\n" % (PY, t, work),
               start=True)
    m.make_job("calm", spec="command = sleep 30\n")
    for _ in range(20):
        t0 = time.monotonic()
        m.read("calm", "status")
        assert time.monotonic() - t0 < 1, "the mount stalled"
        time.sleep(0.1)
    m.wait_state("self", "ready")
    m.wait_state("link", "ready")
    for name in ("self", "link"):
        _, kv = m.status(name)
        assert kv["metrics from"].endswith("(not found yet)"), kv
        assert kv["epoch"] == "1", kv
