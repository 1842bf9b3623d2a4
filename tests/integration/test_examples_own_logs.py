"""The examples that know nothing of trainfs (issue 17), controlled by
trainfs through metrics_from, weights and checkpoints_from alone:
examples/digits_tensorboard.py (TensorBoard event files of its own
writing, best.pt) and examples/digits_csvlogger.py (Lightning's CSVLogger
and checkpoint layout, stopped, then resumed with
${TRAINFS_RESUME_FROM:+--ckpt_path ...}).  Needs Debian's python3-torch
and python3-sklearn for /usr/bin/python3 (tools/deps.sh).
"""
import os
import subprocess
import tarfile
import tempfile

from harness import PY, ROOT

EXAMPLES = os.path.join(ROOT, "examples")


def need_torch():
    ok = subprocess.run([PY, "-c", "import torch, sklearn"],
                        stderr=subprocess.DEVNULL).returncode == 0
    assert ok, "python3-torch and python3-sklearn are needed (tools/deps.sh)"


def workdir(m):
    return tempfile.mkdtemp(prefix="work-", dir=m.dir)


def names(m, name):
    with tarfile.open(m.job(name, "weights", name + ".tar")) as t:
        return set(t.getnames())


def test_tensorboard_example_under_trainfs(m):
    need_torch()
    wd = workdir(m)
    spec = ("command = %s %s/digits_tensorboard.py --epochs 4\n"
            "workdir = %s\nepochs = 4\nmetrics_from = logs\n"
            "monitor = validation/epoch_loss\nmode = min\nweights = best.pt\n"
            % (PY, EXAMPLES, wd))
    os.mkdir(m.job("tb"))
    assert m.write("tb", "spec", spec) == 0, m.read("tb", "status")
    assert m.control("tb", "start") == 0
    assert m.wait_state("tb", ("ready", "failed"), timeout=120) == "ready", \
        m.read("tb", "status") + m.read("tb", "log")[-2000:]
    _, kv = m.status("tb")
    assert kv["epoch"] == "4/4", kv  # steps 0..3, shown from 1
    assert kv["best"].startswith("validation/epoch_loss "), kv
    assert kv["weights from"] == "best.pt", kv
    header = m.read("tb", "metrics").splitlines()[0].split(",")
    assert {"train/epoch_loss", "validation/epoch_accuracy"} <= set(header), header
    assert names(m, "tb") == {"best.pt", "trainfs.json"}


def test_csvlogger_example_stopped_and_resumed_under_trainfs(m):
    need_torch()
    wd = workdir(m)
    pattern = "lightning_logs/version_0/checkpoints/epoch={epoch}-step=*.ckpt"
    spec = ('command = %s %s/digits_csvlogger.py --epochs 5 --epoch-sleep 0.3 '
            '${TRAINFS_RESUME_FROM:+--ckpt_path "$TRAINFS_RESUME_FROM"}\n'
            "workdir = %s\nepochs = 5\n"
            "metrics_from = lightning_logs/version_0/metrics.csv\n"
            "monitor = val_loss\nmode = min\ncheckpoints_from = %s\n"
            % (PY, EXAMPLES, wd, pattern))
    os.mkdir(m.job("csv"))
    assert m.write("csv", "spec", spec) == 0, m.read("csv", "status")
    assert m.control("csv", "start") == 0
    m.wait_epoch("csv", 2, timeout=120)
    assert m.control("csv", "stop") == 0
    assert m.wait_state("csv", ("ready", "failed"), timeout=60) == "ready", \
        m.read("csv", "status") + m.read("csv", "log")[-2000:]
    _, kv = m.status("csv")
    e = int(kv["checkpoint"].split()[1])  # shown epoch E is the file's E-1
    assert e >= 2, kv
    assert m.control("csv", "resume") == 0
    assert m.wait_state("csv", ("ready", "failed"), timeout=120) == "ready", \
        m.read("csv", "status") + m.read("csv", "log")[-2000:]
    log = m.read("csv", "log")
    ck = os.path.join(wd, "lightning_logs/version_0/checkpoints")
    (resumed,) = [n for n in os.listdir(ck) if n.startswith("epoch=%d-" % (e - 1))]
    assert "Restoring states from the checkpoint path at %s" % os.path.join(ck, resumed) in log, log
    _, kv = m.status("csv")
    assert kv["epoch"] == "5/5" and kv["resumed"] == "from epoch %d" % e, kv
    best = int(kv["best"].rsplit(" ", 1)[1])
    assert kv["weights from"] == "checkpoint of epoch %d" % best, kv
    (packed,) = names(m, "csv") - {"trainfs.json"}
    assert packed.startswith("epoch=%d-" % (best - 1)), packed
    assert len(os.listdir(ck)) == 5  # all five kept: trainfs never deletes them
