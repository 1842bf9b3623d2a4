"""No slow work on the paths every job shares: a Slurm command that hangs
(a slurmctld that does not answer) holds up the Slurm executor's own
thread only.  A local job on the same mount launches, shows its epochs,
stops itself by its auto-stop rule and reads its status at normal speed
meanwhile (on the run's private one-node cluster, slurm_cluster.py)."""
import os
import signal
import time

from harness import executors

slurm = executors("slurm")

HANGING_SQUEUE = """#!/bin/sh
# The first squeue says it started, then hangs as a dead slurmctld would.
if [ ! -e '{marker}' ]; then
    echo $$ > '{marker}.tmp' && mv '{marker}.tmp' '{marker}'
    exec sleep 60
fi
exec {real} "$@"
"""


class HangingCluster:
    """The mount's cluster, but trainfs finds a squeue that hangs first on
    its PATH; the harness's own Slurm calls (run) use the real one."""

    def __init__(self, cluster, bindir):
        self.cluster = cluster
        self.bindir = bindir
        self.conf = cluster.conf

    def env(self, base=None):
        e = self.cluster.env(base)
        e["PATH"] = self.bindir + ":" + e.get("PATH", "/usr/bin:/bin")
        return e

    def run(self, *argv, **kw):
        return self.cluster.run(*argv, **kw)


def hang_squeue(m):
    """Remounts M with the hanging squeue; returns its marker file."""
    real = None
    for d in os.environ.get("PATH", "").split(":") + ["/usr/bin"]:
        if d and os.access(os.path.join(d, "squeue"), os.X_OK):
            real = os.path.join(d, "squeue")
            break
    assert real, "no squeue on PATH"
    bindir = os.path.join(m.dir, "bin")
    os.mkdir(bindir)
    os.chmod(bindir, 0o755)
    marker = os.path.join(m.dir, "squeue.hung")
    path = os.path.join(bindir, "squeue")
    with open(path, "w") as f:
        f.write(HANGING_SQUEUE.format(marker=marker, real=real))
    os.chmod(path, 0o755)
    m.unmount()
    m.cluster = HangingCluster(m.cluster, bindir)
    m.start()
    return marker


def wait_file(path, timeout):
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        assert time.monotonic() < deadline, "%s never appeared" % path
        time.sleep(0.02)


def timed_status(m, name):
    t = time.monotonic()
    st, kv = m.status(name)
    return time.monotonic() - t, st, kv


@slurm
def test_a_hung_squeue_does_not_slow_a_local_job(m):
    marker = hang_squeue(m)
    sleeper = None
    try:
        m.make_job("s", trainer_args="--forever --epoch-ms 50", start=True)
        wait_file(marker, 20)  # the Slurm thread now waits in squeue
        with open(marker) as f:
            sleeper = int(f.read())
        hung_at = time.monotonic()
        # Epochs 3.. do not improve on 0.3 at epoch 3: patience 2 stops
        # it at epoch 5, long before the trainer would end by itself.
        m.make_job("l", trainer_args="--values 0.9,0.5,0.3,0.4,0.45,0.5,"
                   "0.6,0.7,0.8,0.9,1.0,1.1 --epoch-ms 100",
                   monitor="loss", mode="min", patience=2, epochs=12,
                   executor="local", start=True)
        worst, epochs_seen, states = 0.0, set(), []
        deadline = time.monotonic() + 20
        while True:
            took, st, kv = timed_status(m, "l")
            worst = max(worst, took)
            e = kv.get("epoch", "").split("/")[0]
            if e:
                epochs_seen.add(int(e))
            if not states or states[-1] != st:
                states.append(st)
            if st in ("ready", "failed"):
                break
            assert time.monotonic() < deadline, (states, kv)
            time.sleep(0.02)
        done = time.monotonic() - hung_at
        _, st, kv = timed_status(m, "l")
        assert st == "ready", m.read("l", "status")
        assert kv["reason"] == "converged", kv
        assert kv["best"] == "loss 0.3 at epoch 3", kv
        assert "running" in states, states
        # Ingest went on: epochs came in one by one, not all at the end.
        assert len(epochs_seen) >= 3, epochs_seen
        # All of it while squeue still hung (its deadline is 30 s).
        assert os.path.exists("/proc/%d" % sleeper), "squeue ended early"
        assert done < 25, done
        # A generous bound: a status read never waits for the Slurm thread.
        assert worst < 3.0, worst
        print("worst status read %.3f s; the local job was ready %.1f s "
              "after squeue hung" % (worst, done))
    finally:
        if sleeper:
            try:
                os.kill(sleeper, signal.SIGKILL)
            except ProcessLookupError:
                pass
