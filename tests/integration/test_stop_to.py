"""stop_to (SPEC "The trainer's side"): by default the stop signal goes to
the process that runs the command, never to its own children, so helpers
such as PyTorch's DataLoader workers live until the trainer ends them."""
import json
import os
import tarfile

from harness import PY, ROOT

WORKER = os.path.join(ROOT, "tests", "trainers", "worker_trainer.py")


def weights_of(m, name):
    m.wait_state(name, ("ready", "failed"), timeout=30)
    st, kv = m.status(name)
    assert st == "ready", m.read(name, "status") + m.read(name, "log")
    with tarfile.open(m.job(name, "weights", name + ".tar")) as t:
        return json.load(t.extractfile("weights.json"))


def stop_after_epochs(m, name, spec):
    os.mkdir(m.job(name))
    assert m.write(name, "spec", spec) == 0, m.read(name, "status")
    assert m.control(name, "start") == 0
    m.wait_epoch(name, 3)
    assert m.control(name, "stop") == 0


def test_stop_reaches_the_main_process_not_its_workers(m):
    # The shell execs python: the python process is the main one.
    stop_after_epochs(m, "exec", "command = %s %s 2\ngrace = 20\n" % (PY, WORKER))
    # The shell runs python as a child (a list): still python, not sh.
    stop_after_epochs(m, "list", "command = cd / && %s %s 2\ngrace = 20\n"
                      % (PY, WORKER))
    for name in ("exec", "list"):
        w = weights_of(m, name)
        assert w["workers_alive"] == 2, (name, w)
        assert w["epoch"] >= 3


def test_stop_to_group_signals_every_process(m):
    # The workers die of the stop signal: the trainer sees them gone,
    # exits 1 with its weights saved; the stop keeps the weights.
    stop_after_epochs(m, "grp", "command = %s %s 2\nstop_to = group\ngrace = 20\n"
                      % (PY, WORKER))
    m.wait_state("grp", ("ready", "failed"), timeout=30)
    assert m.state("grp") == "ready", m.read("grp", "status")
    w = weights_of(m, "grp")
    assert w["workers_alive"] == 0, w


def test_stop_signal_by_name(m):
    stop_after_epochs(m, "w", "command = %s %s --forever --epoch-ms 30 --signals WINCH\nstop_signal = WINCH\n"
                      "grace = 20\n" % (PY, os.path.join(ROOT, "tests", "trainers",
                                                         "trainer.py")))
    m.wait_state("w", "ready", timeout=30)
    assert "(signal SIGWINCH)" in m.read("w", "log"), m.read("w", "log")
