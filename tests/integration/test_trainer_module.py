"""python/trainfs.py under a real trainfs: a plain-Python loop that uses
only the module reports JSON metrics (NaN included; a string field left
out by the module) that trainfs takes as rows, sees a stop through SIGTERM and through the stop
file, and ends ready with the weights it wrote to TRAINFS_OUTPUT.
"""
import os
import signal
import tarfile

from harness import PY, ROOT

LOOP = r"""
import os, sys, time
sys.path.insert(0, %r)
import trainfs
trainfs.install_stop_handler()
val = [0.9, 0.5, 0.4, float("nan"), 0.45]
for epoch in range(1, trainfs.target_epochs(1000) + 1):
    v = val[min(epoch, len(val)) - 1]
    trainfs.report(epoch, loss=1.0 / epoch, val_loss=v, phase="train")
    print("epoch", epoch, flush=True)
    if trainfs.stop_requested():
        print("stop seen at epoch", epoch, flush=True)
        break
    time.sleep(0.02)
with open(os.path.join(trainfs.output_dir(), "w.txt"), "w") as f:
    f.write("epoch %%d\n" %% epoch)
""" % os.path.join(ROOT, "python")


def make_loop(m, name, **keys):
    script = os.path.join(m.dir, "loop.py")
    with open(script, "w") as f:
        f.write(LOOP)
    os.chmod(script, 0o644)
    spec = "command = %s %s\n" % (PY, script)
    spec += "".join("%s = %s\n" % kv for kv in keys.items())
    os.mkdir(m.job(name))
    assert m.write(name, "spec", spec) == 0, m.read(name, "status")


def test_module_metrics_and_signal_stop(m):
    make_loop(m, "j", monitor="val_loss", mode="min", epochs=1000)
    assert m.control("j", "start") == 0
    m.wait_epoch("j", 6)
    assert m.control("j", "stop") == 0
    m.wait_state("j", "ready")
    _, kv = m.status("j")
    assert kv["best"] == "val_loss 0.4 at epoch 3", kv
    assert "bad metric lines" not in kv, kv
    rows = m.read("j", "metrics").splitlines()
    assert rows[0] == "epoch,loss,val_loss", rows[0]
    assert rows[1] == "1,1,0.9" and rows[4].startswith("4,0.25,nan"), rows[:5]
    last = int(kv["epoch"].split("/")[0])
    assert "stop seen at epoch %d" % last in m.read("j", "log")
    with tarfile.open(m.job("j", "weights", "j.tar")) as t:
        assert t.extractfile("w.txt").read() == b"epoch %d\n" % last


def test_module_stop_file(m):
    # WINCH does nothing to the loop (its default action is to ignore it):
    # only the stop file, which the module also watches, can end it.
    make_loop(m, "j", epochs=1000, stop_signal=int(signal.SIGWINCH), grace=60)
    assert m.control("j", "start") == 0
    m.wait_epoch("j", 3)
    assert m.control("j", "stop") == 0
    m.wait_state("j", "ready", timeout=20)
    _, kv = m.status("j")
    last = int(kv["epoch"].split("/")[0])
    assert last < 1000
    assert "stop seen at epoch %d" % last in m.read("j", "log")
