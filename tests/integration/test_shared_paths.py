"""No slow work on shared paths (issue 16): one job's slow outside world
holds up that job only.  A squeue that never answers (the Slurm
executor talks to Slurm on a thread of its own) and a workdir on a FUSE
mount that never answers (checked by a helper process with a deadline,
no lock held) slow no other job's status, ingest or auto-stop.

The Slurm commands are stand-ins on PATH (sbatch submits job 4242 at
once; squeue and scontrol hang), so no cluster is needed."""
import errno
import os
import tempfile
import time

import hangfs
from harness import PY, TRAINER
from probe import Probe

FAKES = {
    "sbatch": "#!/bin/sh\necho 4242\n",
    "squeue": "#!/bin/sh\nexec sleep 40\n",
    "scontrol": "#!/bin/sh\nexec sleep 40\n",
    "scancel": "#!/bin/sh\nexit 0\n",
}


def with_hung_slurm(m):
    """Remounts M with the stand-in Slurm commands first on its PATH."""
    d = os.path.join(m.dir, "fake-slurm")
    os.mkdir(d)
    for name, text in FAKES.items():
        with open(os.path.join(d, name), "w") as f:
            f.write(text)
        os.chmod(os.path.join(d, name), 0o755)
    old = os.environ["PATH"]
    os.environ["PATH"] = d + ":" + old
    try:
        m.remount()
    finally:
        os.environ["PATH"] = old


def test_hung_squeue_and_hung_workdir_slow_no_other_job(m):
    with_hung_slurm(m)
    m.make_job("other", trainer_args="--forever --epoch-ms 20",
               executor="local", start=True)
    m.wait_epoch("other", 1)
    probe = Probe(m.job("other", "status"))
    hang_dir = os.path.join(m.dir, "hung")
    os.mkdir(hang_dir)
    hang = hangfs.hang_mount(hang_dir)
    try:
        m.make_job("s", trainer_args="--epochs 3", executor="slurm",
                   start=True)
        time.sleep(1.5)  # sbatch done, squeue under way (and hung)
        e0 = m.wait_epoch("other", 1)
        m.make_job("a", trainer_args="--epochs 200 --epoch-ms 10 "
                   "--values 0.9,0.5,0.5,0.5,0.5,0.5,0.5,0.5",
                   executor="local", monitor="loss", mode="min", patience=2,
                   start=True)
        m.make_job("w", trainer_args="--epochs 1", executor="local",
                   workdir=hang_dir)
        t0 = time.monotonic()
        assert m.control("w", "start") == errno.EINVAL
        took = time.monotonic() - t0
        assert took < 5, "start took %.1f s" % took
        assert m.status("w")[1]["error"] == \
            "workdir '%s': Connection timed out" % hang_dir
        m.wait_state("a", "ready", timeout=5)
        assert "stopped-early" in m.tags("a")
        e1 = m.wait_epoch("other", 1)
        assert e1 > e0 + 20, "no ingest meanwhile: epoch %d, then %d" % (e0, e1)
        worst = probe.worst()
        assert worst < 1, "probe waited %.1f s" % worst
        assert m.state("s") == "queued"  # squeue has said nothing yet
    finally:
        probe.stop()
        hangfs.abort(hang_dir)
        hang.kill()
        hang.wait()
    print("hung squeue and workdir: probe worst read %.3f s (%d reads), "
          "start of the hung workdir %.2f s" % (probe.worst(), probe.reads,
                                                took))


def test_a_launch_in_a_hung_workdir_slows_no_other_job(m):
    """A resumed launch finds the trainer's own checkpoint as the owner
    (checkpoints_from).  With the workdir on a mount that never answers,
    that search waits out its deadline on the launch's own thread; the
    thread that serves every job goes on taking in another job's epochs
    and stopping a third by its auto-stop rule."""
    from test_own_files import LIGHTNING, LIGHTNING_PATTERN, spec
    wd = tempfile.mkdtemp(prefix="work-", dir=m.dir)
    cmd = ('%s %s --epochs 3 --epoch-ms 5 --metrics-file "$TRAINFS_METRICS" '
           '${TRAINFS_RESUME_FROM:+--ckpt_path "$TRAINFS_RESUME_FROM"}'
           % (PY, LIGHTNING))
    m.make_job("l", spec(cmd, workdir=wd, checkpoints_from=LIGHTNING_PATTERN))
    assert m.control("l", "start") == 0
    assert m.wait_state("l", ("ready", "failed")) == "ready", \
        m.read("l", "status")
    m.make_job("other", trainer_args="--forever --epoch-ms 20",
               executor="local", start=True)
    m.wait_epoch("other", 1)
    hang = hangfs.hang_mount(wd)
    try:
        e0 = m.wait_epoch("other", 1)
        t0 = time.monotonic()
        assert m.control("l", "resume") == 0
        assert time.monotonic() - t0 < 2
        m.make_job("a", trainer_args="--epochs 200 --epoch-ms 10 "
                   "--values 0.9,0.5,0.5,0.5,0.5,0.5,0.5,0.5",
                   executor="local", monitor="loss", mode="min", patience=2,
                   start=True)
        m.wait_state("a", "ready", timeout=6)
        time.sleep(max(0, 3 - (time.monotonic() - t0)))
        e1 = m.wait_epoch("other", 1)
        took = time.monotonic() - t0
        # The search waits up to 10 s: the resumed job is still queued.
        assert m.state("l") == "queued", m.read("l", "status")
        assert e1 > e0 + 30, "no ingest meanwhile: epoch %d, then %d" % (
            e0, e1)
    finally:
        hangfs.abort(wd)
        hang.kill()
        hang.wait()
    m.wait_state("l", ("running", "ready", "failed"), timeout=30)
    print("launch in a hung workdir: %d epochs of another job taken in "
          "over %.1f s" % (e1 - e0, took))


def test_a_hung_workdir_of_a_running_job_slows_no_other_job(m):
    """A running job's own checkpoints (checkpoints_from) are read as the
    owner at each new epoch.  With its workdir hidden under a mount that
    never answers (the trainer, already in it, goes on), each read waits
    out its deadline on a thread of its own; the thread that serves every
    job goes on taking in another job's epochs."""
    wd = tempfile.mkdtemp(prefix="work-", dir=m.dir)
    m.make_job("other", trainer_args="--forever --epoch-ms 20",
               executor="local", start=True)
    m.make_job("h", trainer_args="--forever --epoch-ms 50",
               executor="local", workdir=wd,
               checkpoints_from="ck/e{epoch}.pt", start=True)
    m.wait_epoch("h", 1)
    hang = hangfs.hang_mount(wd)
    try:
        m.wait_epoch("h", m.wait_epoch("h", 1) + 1)  # a scan is due
        e0 = m.wait_epoch("other", 1)
        t0 = time.monotonic()
        time.sleep(3)
        e1 = m.wait_epoch("other", 1)
        took = time.monotonic() - t0
        assert e1 > e0 + 30, "no ingest meanwhile: epoch %d, then %d" % (
            e0, e1)
        assert m.control("h", "cancel") == 0
    finally:
        hangfs.abort(wd)
        hang.kill()
        hang.wait()
    m.wait_state("h", "cancelled")
    print("hung workdir of a running job: %d epochs of another job taken "
          "in over %.1f s" % (e1 - e0, took))
