"""GPUs handed out by the mount: a pool of made-up ids (--gpus 0,1,2),
jobs with `gpus = N` waiting in the order they were started with backfill,
the environment the trainer sees, the waiting line, the refusals, and the
GPUs a running trainer holds kept across a remount and a kill -9 of
trainfs.  This machine has no GPU; the logic is the same."""
import csv
import errno
import io
import os
import subprocess
import tempfile
import time

import harness
from harness import PY, TRAINER, executors

FOREVER = "--forever --epoch-ms 20"


def gpus_of(m, name):
    return m.status(name)[1].get("gpus")


def waiting_of(m, name):
    return m.status(name)[1].get("waiting")


def wait_for(fn, want, timeout=10):
    deadline = time.monotonic() + timeout
    got = None
    while time.monotonic() < deadline:
        got = fn()
        if got == want:
            return got
        time.sleep(0.02)
    raise AssertionError("wanted %r, got %r" % (want, got))


def test_two_jobs_on_a_pool_of_three(m):
    m.remount(["--gpus", "0,1,2"])
    m.make_job("a", trainer_args=FOREVER, gpus=2, start=True)
    m.wait_state("a", "running")
    assert gpus_of(m, "a") == "0,1"
    m.make_job("b", trainer_args=FOREVER, gpus=2, start=True)
    wait_for(lambda: waiting_of(m, "b"), "2 GPUs (1 free)")
    time.sleep(0.2)
    assert m.state("b") == "queued"
    rows = list(csv.DictReader(io.StringIO(
        open(m.path("summary.csv")).read())))
    assert {r["job"]: r["gpus"] for r in rows} == {"a": "0;1", "b": ""}
    assert "GPUs 0,1" in open(m.path("index.html")).read()
    # The first one's trainer ends: its GPUs go to the one waiting.
    assert m.control("a", "cancel") == 0
    m.wait_state("b", "running")
    assert gpus_of(m, "b") == "0,1"
    assert "waiting" not in m.status("b")[1]
    assert "gpus" not in m.status("a")[1]


def test_backfill_behind_a_job_that_does_not_fit(m):
    m.remount(["--gpus", "0,1,2,3"])
    m.make_job("a", trainer_args=FOREVER, gpus=2, start=True)
    m.wait_state("a", "running")
    m.make_job("big", trainer_args=FOREVER, gpus=3, start=True)
    wait_for(lambda: waiting_of(m, "big"), "3 GPUs (2 free)")
    # Started later, fits now: it does not wait behind the big one.
    m.make_job("small", trainer_args=FOREVER, gpus=1, start=True)
    m.wait_state("small", "running")
    assert gpus_of(m, "small") == "2"
    m.make_job("cpu", trainer_args=FOREVER, start=True)
    m.wait_state("cpu", "running")
    assert "gpus" not in m.status("cpu")[1]
    assert m.state("big") == "queued"
    wait_for(lambda: waiting_of(m, "big"), "3 GPUs (1 free)")
    assert m.control("a", "cancel") == 0
    m.wait_state("big", "running")
    assert sorted(gpus_of(m, "big").split(",")) == ["0", "1", "3"]


def test_max_running_still_applies(m):
    m.remount(["--gpus", "0,1", "--max-running", "1"])
    m.make_job("a", trainer_args=FOREVER, gpus=1, start=True)
    m.wait_state("a", "running")
    m.make_job("b", trainer_args=FOREVER, gpus=1, start=True)
    wait_for(lambda: waiting_of(m, "b"), "a free slot (1 of 1 running)")
    assert m.control("a", "cancel") == 0
    m.wait_state("b", "running")
    assert gpus_of(m, "b") in ("0", "1")


def test_more_waiting_than_the_first_room_keep_their_order(m):
    """The scheduler's list of waiting jobs grows past its first 16 rows:
    20 jobs wait for one GPU and get it in the order they were started."""
    m.remount(["--gpus", "0"])
    m.make_job("a", trainer_args=FOREVER, gpus=1, start=True)
    m.wait_state("a", "running")
    names = ["q%02d" % i for i in range(20)]
    for n in names:
        m.make_job(n, trainer_args=FOREVER, gpus=1, start=True)
    for n in names:
        wait_for(lambda: waiting_of(m, n), "1 GPU (0 free)")
    assert m.control("a", "cancel") == 0
    m.wait_state("q00", "running")
    assert m.control("q00", "cancel") == 0
    m.wait_state("q01", "running")
    assert [n for n in names if m.state(n) == "queued"] == names[2:]
    assert m.control("q01", "cancel") == 0


def test_the_environment_the_trainer_sees(m):
    os.environ["CUDA_VISIBLE_DEVICES"] = "7"  # trainfs's own: not passed on
    try:
        m.remount(["-o", "gpus=3:5:6"])
    finally:
        del os.environ["CUDA_VISIBLE_DEVICES"]
    show = ('echo "cuda=$CUDA_VISIBLE_DEVICES trainfs=$TRAINFS_GPUS"; '
            'exec %s %s --epochs 1 --epoch-ms 5' % (PY, TRAINER))
    m.make_job("g", spec="command = %s\ngpus = 2\n" % show, start=True)
    m.make_job("none", spec="command = %s\n" % show, start=True)
    m.wait_state("g", "ready")
    m.wait_state("none", "ready")
    assert "cuda=3,5 trainfs=3,5" in m.read("g", "log")
    # A job without gpus is left as trainfs's environment has it.
    assert "cuda=7 trainfs=\n" in m.read("none", "log")


def test_refusals(m):
    m.remount(["--gpus", "0,1,2,3"])
    m.make_job("big", trainer_args=FOREVER, gpus=8)
    assert m.control("big", "start") == errno.EINVAL
    state, kv = m.status("big")
    assert state == "created"
    assert kv["error"] == "needs 8 GPUs; this machine has 4", kv
    assert "needs 8 GPUs; this machine has 4" in m.read("big", "control")
    # Fixed, it starts.
    assert m.write("big", "spec", "command = %s %s %s\ngpus = 4\n"
                   % (PY, TRAINER, FOREVER)) == 0
    assert m.control("big", "start") == 0
    m.wait_state("big", "running")
    assert gpus_of(m, "big") == "0,1,2,3"
    # gpus and CUDA_VISIBLE_DEVICES by hand: a bad spec.
    os.mkdir(m.job("both"))
    assert m.write("both", "spec", "command = true\ngpus = 1\n"
                   "env.CUDA_VISIBLE_DEVICES = 0\n") == errno.EINVAL
    assert "'gpus' and 'env.CUDA_VISIBLE_DEVICES' cannot both be set" in \
        m.status("both")[1]["error"]
    assert m.control("both", "start") == errno.EINVAL


def test_bad_gpus_option(m):
    m.unmount()
    p = subprocess.run([harness.TRAINFS, m.mnt, "--store", m.store, "-f",
                        "--gpus", "0,x"], capture_output=True, text=True,
                       timeout=10)
    assert p.returncode != 0
    assert "bad value '0,x' for '--gpus'" in p.stderr
    m.start()


def test_held_gpus_survive_kill9_and_remount(m):
    args = ["--gpus", "0,1"]
    m.remount(args)
    m.make_job("a", trainer_args=FOREVER, gpus=2, start=True)
    m.wait_state("a", "running")
    m.wait_epoch("a", 1)
    m.make_job("b", trainer_args=FOREVER, gpus=1, start=True)
    wait_for(lambda: waiting_of(m, "b"), "1 GPU (0 free)")
    m.kill9()
    m.start(args)
    assert m.state("a") == "running" and gpus_of(m, "a") == "0,1"
    wait_for(lambda: waiting_of(m, "b"), "1 GPU (0 free)")
    time.sleep(0.3)
    assert m.state("b") == "queued"
    m.remount(args)
    assert m.state("a") == "running" and gpus_of(m, "a") == "0,1"
    time.sleep(0.3)
    assert m.state("b") == "queued"
    # The trainer ends while trainfs is away: its GPUs are free at the
    # next mount.
    m.unmount()
    with open(m.trainer_record(1)) as f:
        pid = int(f.read().split()[0])
    os.kill(pid, 9)
    m.start(args)
    m.wait_state("b", "running")
    assert gpus_of(m, "b") == "0"
    assert m.state("a") == "failed"


def test_auto_finds_the_drivers_gpus(m):
    fake = tempfile.mkdtemp(prefix="trainfs-test-nvidia-")
    for bus in ("0000:01:00.0", "0000:41:00.0"):
        os.mkdir(os.path.join(fake, bus))
    os.environ["TRAINFS_TEST_NVIDIA_PROC"] = fake
    try:
        m.remount([])  # auto is the default
    finally:
        del os.environ["TRAINFS_TEST_NVIDIA_PROC"]
        for bus in os.listdir(fake):
            os.rmdir(os.path.join(fake, bus))
        os.rmdir(fake)
    m.make_job("three", trainer_args=FOREVER, gpus=3)
    assert m.control("three", "start") == errno.EINVAL
    assert m.status("three")[1]["error"] == "needs 3 GPUs; this machine has 2"
    m.make_job("two", trainer_args=FOREVER, gpus=2, start=True)
    m.wait_state("two", "running")
    assert gpus_of(m, "two") == "0,1"
    assert "GPUs for local jobs: 0,1 (found by auto)" in m.log()


def test_a_smaller_pool_refuses_resume_and_restart(m):
    m.remount(["--gpus", "0,1"])
    m.make_job("j", trainer_args="--epochs 2 --epoch-ms 5 --checkpoint-every 1",
               gpus=2, start=True)
    m.wait_state("j", "ready")
    m.remount(["--gpus", "0"])
    for cmd in ("resume", "restart"):
        assert m.control("j", cmd) == errno.EINVAL
        assert "'%s': needs 2 GPUs; this machine has 1" % cmd in \
            m.read("j", "control")
    assert m.state("j") == "ready"


def test_gpus_are_free_only_when_the_whole_group_has_ended(m):
    m.remount(["--gpus", "0"])
    # The command exits after one epoch; a child it forked ignores the
    # stop signal and lives on for 1.5 s in its process group.
    m.make_job("a", trainer_args="--epochs 1 --epoch-ms 5 --fork-child "
               "--child-max-s 1.5", gpus=1, start=True)
    m.wait_state("a", "running")
    m.make_job("b", trainer_args=FOREVER, gpus=1, start=True)
    m.wait_epoch("a", 1)
    time.sleep(0.7)
    assert m.state("a") == "running" and gpus_of(m, "a") == "0"
    assert m.state("b") == "queued"
    assert waiting_of(m, "b") == "1 GPU (0 free)"
    m.wait_state("b", "running")
    assert m.state("a") in ("packaging", "ready")
    assert gpus_of(m, "b") == "0"


@executors("slurm")
def test_slurm_gets_sbatch_gpus(m):
    """gpus = N is sbatch --gpus=N on Slurm: the private cluster has no
    GPU, so sbatch's own refusal names it; slurm.gres given instead wins
    (and asks for no GPU here)."""
    os.mkdir(m.job("g"))
    assert m.write("g", "spec", "command = %s %s --epochs 1 --epoch-ms 5\n"
                   "gpus = 2\n" % (PY, TRAINER)) == 0
    assert m.control("g", "start") == 0  # the mount's pool is not Slurm's
    m.wait_state("g", "failed", timeout=30)
    err = m.status("g")[1]["error"]
    assert err.startswith("sbatch: error:"), err
    os.mkdir(m.job("own"))
    assert m.write("own", "spec", "command = %s %s --epochs 1 --epoch-ms 5\n"
                   "gpus = 2\nslurm.gpus = 0\n" % (PY, TRAINER)) == 0
    assert m.control("own", "start") == 0
    m.wait_state("own", "ready", timeout=60)
