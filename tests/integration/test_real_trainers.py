"""Real programs on real jobs: a PyTorch trainer with DataLoader workers
stopped early (issue "works with the tools and trainers people already
use", item 3), and `less +F` following a growing metrics file."""
import os
import re
import subprocess
import tarfile
import time

from harness import PY, ROOT

EXAMPLE = os.path.join(ROOT, "examples", "pytorch_digits.py")


def have_torch():
    return subprocess.run([PY, "-c", "import torch"],
                          stderr=subprocess.DEVNULL).returncode == 0


def test_pytorch_dataloader_trainer_stops_with_its_weights(m):
    if not have_torch():
        raise AssertionError("python3-torch is needed (tools/deps.sh)")
    os.mkdir(m.job("torch"))
    spec = ("command = %s %s\nworkdir = %s\nepochs = 400\ngrace = 60\n"
            % (PY, EXAMPLE, ROOT))
    assert m.write("torch", "spec", spec) == 0, m.read("torch", "status")
    assert m.control("torch", "start") == 0
    m.wait_epoch("torch", 2, timeout=120)
    assert m.control("torch", "stop") == 0
    m.wait_state("torch", ("ready", "failed"), timeout=120)
    st, kv = m.status("torch")
    log = m.read("torch", "log")
    assert st == "ready", m.read("torch", "status") + log[-2000:]
    # The stop reached the trainer, not its DataLoader workers.
    assert "is killed by signal" not in log, log[-2000:]
    assert kv["reason"] == "stopped-early"
    with tarfile.open(m.job("torch", "weights", "torch.tar")) as t:
        names = t.getnames()
    assert any(n.endswith("model.pt") for n in names), names


def test_less_follows_metrics(m):
    m.make_job("l", trainer_args="--forever --epoch-ms 40", start=True)
    m.wait_epoch("l", 2)
    sock = "trainfs-less-%d" % os.getpid()
    t = ["tmux", "-L", sock]
    subprocess.run(t + ["new-session", "-d", "-x", "80", "-y", "10",
                        "less", "+F", m.job("l", "metrics")], check=True)
    try:
        def last_epoch():
            screen = subprocess.run(t + ["capture-pane", "-p"],
                                    stdout=subprocess.PIPE, text=True).stdout
            rows = [int(x) for x in re.findall(r"^(\d+),", screen, re.M)]
            return max(rows) if rows else 0
        time.sleep(1.0)
        first = last_epoch()
        deadline = time.monotonic() + 15
        while last_epoch() < first + 5 and time.monotonic() < deadline:
            time.sleep(0.3)
        assert last_epoch() >= first + 5, (first, last_epoch())
    finally:
        subprocess.run(t + ["kill-server"], stderr=subprocess.DEVNULL)
        m.control("l", "cancel")
