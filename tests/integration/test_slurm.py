"""The SPEC's "Slurm" section on the run's private one-node cluster
(slurm_cluster.py; skipped, with the reason said once, where it cannot
run).  The lifecycle, restart and users suites also run against Slurm
(NAME[slurm]); these are what only Slurm has."""
import errno
import os
import re
import shutil
import subprocess
import time

from harness import PY, TRAINER, executors

slurm = executors("slurm")
NOBODY = 65534


def slurm_id(m, name):
    """The Slurm job id in NAME's status, waiting until it is submitted."""
    deadline = time.monotonic() + 20
    while True:
        line = m.status(name)[1].get("slurm", "")
        g = re.match(r"job (\d+)", line)
        if g:
            return g.group(1)
        assert time.monotonic() < deadline, m.read(name, "status")
        time.sleep(0.05)


def wait_status(m, name, key, pattern, timeout=30):
    deadline = time.monotonic() + timeout
    while True:
        v = m.status(name)[1].get(key, "")
        if re.fullmatch(pattern, v):
            return v
        assert time.monotonic() < deadline, (key, v, m.read(name, "status"))
        time.sleep(0.05)


@slurm
def test_status_line_and_events(m):
    m.make_job("j", trainer_args="--epochs 20 --epoch-ms 50", epochs=20,
               start=True)
    i = slurm_id(m, "j")
    wait_status(m, "j", "slurm", r"job %s on localhost" % i)
    assert m.state("j") == "running"
    m.wait_state("j", "ready")
    st, kv = m.status("j")
    assert kv["slurm"] == "job %s" % i and kv["reason"] == "completed"
    ev = [l.split()[1] for l in m.read("j", "events").splitlines()]
    assert ev == ["created", "queued", "running", "packaging", "ready"], ev
    # A remount still knows which Slurm job it was.
    m.remount()
    assert m.status("j")[1]["slurm"] == "job %s" % i


@slurm
def test_pending_on_resources_then_cancel(m):
    cpus = os.cpu_count()
    m.make_job("a", trainer_args="--forever --epoch-ms 20",
               **{"slurm.cpus_per_task": cpus}, start=True)
    m.wait_epoch("a", 1, timeout=30)
    m.make_job("b", trainer_args="--forever --epoch-ms 20",
               **{"slurm.cpus_per_task": cpus}, start=True)
    i = slurm_id(m, "b")
    wait_status(m, "b", "slurm", r"job %s PENDING \(Resources\)" % i)
    assert m.state("b") == "queued"
    assert m.control("b", "cancel") == 0
    m.wait_state("b", "cancelled")
    m.cluster.wait_job(i, ("CANCELLED",))
    m.control("a", "cancel")
    m.wait_state("a", "cancelled")


@slurm
def test_bad_partition_fails_with_sbatchs_words(m):
    m.make_job("j", trainer_args="--epochs 1", **{"slurm.partition": "gpu"},
               start=True)
    m.wait_state("j", "failed")
    assert m.status("j")[1]["error"] == \
        "sbatch: error: invalid partition specified: gpu"


@slurm
def test_unknown_slurm_key_is_refused(m):
    os.mkdir(m.job("j"))
    spec = "command = %s %s\nslurm.colour = blue\n" % (PY, TRAINER)
    assert m.write("j", "spec", spec) == errno.EINVAL
    assert m.status("j")[1]["error"] == \
        "spec line 2: unknown key 'slurm.colour'"
    assert m.control("j", "start") == errno.EINVAL


@slurm
def test_administrators_scancel_fails_the_job(m):
    m.make_job("j", trainer_args="--forever --epoch-ms 20", start=True)
    i = slurm_id(m, "j")
    m.wait_epoch("j", 2, timeout=30)
    p = m.cluster.run("scancel", i)
    assert p.returncode == 0, p.stderr
    m.wait_state("j", "failed", timeout=30)
    err = m.status("j")[1]["error"]
    assert err.startswith("slurm job %s ended: CANCELLED" % i), err


@slurm
def test_kill9_of_trainfs_while_running(m):
    m.make_job("j", trainer_args="--forever --epoch-ms 20 --on-term save",
               start=True)
    i = slurm_id(m, "j")
    e = m.wait_epoch("j", 2, timeout=30)
    m.kill9()
    time.sleep(0.5)
    assert m.cluster.job(i)[0] == "RUNNING"
    m.start()
    assert m.state("j") == "running"
    m.wait_epoch("j", e + 3)
    assert m.control("j", "stop") == 0
    m.wait_state("j", "ready", timeout=30)
    assert m.tags("j") == ["stopped-early", "ready"]
    assert m.cluster.wait_job(i, ("COMPLETED", "CANCELLED"))


@slurm
def test_time_limit_stop(m):
    # A limit of one minute, grace 50 s: stopped about 10 s in, with its
    # weights, long before Slurm's own TIMEOUT.
    m.make_job("j", trainer_args="--forever --epoch-ms 50 --on-term save",
               grace=50, **{"slurm.time": 1}, start=True)
    i = slurm_id(m, "j")
    m.wait_state("j", "running", timeout=30)
    t0 = time.monotonic()
    m.wait_state("j", "ready", timeout=45)
    assert time.monotonic() - t0 < 40
    st, kv = m.status("j")
    assert kv["reason"] == "stopped-early", kv
    assert kv["message"] == "stopped before the Slurm time limit", kv
    assert "stopped-early" in m.tags("j")
    state = m.cluster.wait_job(i, ("COMPLETED", "CANCELLED"))[0]
    assert state != "TIMEOUT"


@slurm
def test_other_users_job_runs_as_that_user(m):
    m.remount(["-o", "allow_other"])
    tr = os.path.join(m.dir, "trainer.py")
    shutil.copy(TRAINER, tr)
    os.chmod(tr, 0o644)
    mine = m.job("mine")
    code = ("import os\nos.mkdir(%r)\n"
            "open(%r, 'w').write('command = %s %s --forever --epoch-ms 20\\n')\n"
            "open(%r, 'w').write('start\\n')\n"
            % (mine, mine + "/spec", PY, tr, mine + "/control"))
    p = subprocess.run([PY, "-c", code], user=NOBODY, group=NOBODY,
                       extra_groups=[], stderr=subprocess.PIPE, text=True,
                       timeout=60, cwd="/")
    assert p.returncode == 0, p.stderr
    i = slurm_id(m, "mine")
    m.wait_epoch("mine", 1, timeout=30)
    p = m.cluster.run("squeue", "--noheader", "--format=%u", "--jobs=" + i)
    assert p.stdout.strip() == "nobody", p.stdout
    m.control("mine", "cancel")
    m.wait_state("mine", "cancelled")


@slurm
def test_executor_key_overrides_the_mount(m):
    # Mounted with --executor slurm: "executor = local" runs here.
    m.make_job("here", trainer_args="--epochs 2 --epoch-ms 5",
               executor="local", start=True)
    m.wait_state("here", "ready")
    assert "slurm" not in m.status("here")[1]
    # Mounted local: "executor = slurm" goes to the cluster; --max-running
    # counts local jobs only.
    m.remount(["--executor", "local", "--max-running", "1"])
    m.make_job("loc", trainer_args="--forever --epoch-ms 20", start=True)
    m.wait_state("loc", "running")
    m.make_job("there", trainer_args="--epochs 2 --epoch-ms 5",
               executor="slurm", start=True)
    i = slurm_id(m, "there")
    m.wait_state("there", "ready", timeout=30)
    assert m.status("there")[1]["slurm"] == "job %s" % i
    m.control("loc", "cancel")


@slurm
def test_many_started_at_once_then_cancelled_pending(m):
    # Each asks for every CPU: one runs, the rest wait (Resources); all are
    # submitted over a few rounds, and cancel reaches the pending ones.
    cpus = os.cpu_count()
    names = ["n%02d" % i for i in range(12)]
    for n in names:
        m.make_job(n, trainer_args="--forever --epoch-ms 20",
                   **{"slurm.cpus_per_task": cpus}, start=True)
    ids = [slurm_id(m, n) for n in names]
    assert len(set(ids)) == len(ids)
    wait_status(m, names[-1], "slurm", r"job %s PENDING \((Resources|Priority)\)"
                % ids[-1])
    for n in names:
        assert m.control(n, "cancel") == 0
    for n, i in zip(names, ids):
        m.wait_state(n, "cancelled")
        m.cluster.wait_job(i, ("CANCELLED", "COMPLETED", "FAILED"))
