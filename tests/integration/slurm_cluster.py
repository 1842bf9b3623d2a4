"""A private one-node Slurm for the integration tests, once per run.

Not a test file (no test_ prefix): the Slurm tests import it.  The first
call of cluster() starts tests/slurm/cluster.sh in a fresh folder; it is
stopped when the run ends (atexit, or stop()).  Slurm tests run only as
root with the Debian packages slurm-wlm and munge installed; otherwise
cluster() returns None and skip_reason() says why, once, on stdout:

    slurm: skipped: not root (the private cluster needs root)

When the packages are there and it still does not come up, that is a
failure (RuntimeError with cluster.sh's own message), never a skip: CI
installs the packages, so there a missing cluster is a bug.

    import slurm_cluster
    c = slurm_cluster.cluster()
    if c is None: return            # skipped, already said why
    subprocess.run(["squeue"], env=c.env(os.environ))

Run alone, it brings a cluster up, runs the live part of the unit tests
against it (build/tests/test_slurm, TRAINFS_TEST_SLURM_CONF) and stops it:

    python3 tests/integration/slurm_cluster.py [build/tests/test_slurm]
"""
import atexit
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPT = os.path.join(os.path.dirname(HERE), "slurm", "cluster.sh")
COMMANDS = ("sbatch", "squeue", "scancel", "scontrol", "sinfo", "slurmctld",
            "slurmd", "munged", "munge", "unmunge")
START_TIMEOUT = 120  # seconds, beyond cluster.sh's own 60 s for the node

_cluster = None
_skip = None
_said = False


class Cluster:
    """A running private cluster: its folder and its slurm.conf."""

    def __init__(self, folder):
        self.dir = folder
        self.conf = os.path.join(folder, "slurm.conf")

    def env(self, base=None):
        """BASE (default os.environ) with this cluster's SLURM_CONF."""
        e = dict(os.environ if base is None else base)
        e["SLURM_CONF"] = self.conf
        return e

    def run(self, *argv, user=None, timeout=30):
        """Runs a Slurm command (as USER via runuser); CompletedProcess."""
        cmd = list(argv)
        if user is not None:
            cmd = ["runuser", "-u", user, "--"] + cmd
        return subprocess.run(cmd, env=self.env(), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True,
                              timeout=timeout)


    def job(self, job_id):
        """squeue's (state, reason, node) of JOB_ID, ended ones too, or
        None once Slurm has forgotten it."""
        p = self.run("squeue", "--noheader", "--states=all",
                     "--format=%T|%r|%N", "--jobs=%s" % job_id)
        line = p.stdout.strip()
        if p.returncode != 0 or not line:
            return None
        state, reason, node = (line.split("|", 2) + ["", ""])[:3]
        return state, reason, node

    def wait_job(self, job_id, states, timeout=30):
        """Waits until JOB_ID is in one of STATES; returns job()'s tuple."""
        deadline = time.monotonic() + timeout
        while True:
            j = self.job(job_id)
            if j and j[0] in states:
                return j
            if time.monotonic() > deadline:
                raise AssertionError("slurm job %s: %r, wanted %r"
                                     % (job_id, j, states))
            time.sleep(0.1)


def _which(cmd):
    path = os.environ.get("PATH", "") + ":/usr/sbin:/sbin"
    return shutil.which(cmd, path=path)


def skip_reason():
    """Why Slurm tests cannot run here, or None when they can."""
    if os.geteuid() != 0:
        return "not root (the private cluster needs root)"
    missing = [c for c in COMMANDS if not _which(c)]
    if missing:
        return ("missing %s (install the Debian packages slurm-wlm and munge:"
                " sh tools/deps.sh)" % ", ".join(missing))
    return None


def _say_skip(reason):
    global _said
    if not _said:
        print("slurm: skipped: %s" % reason, flush=True)
        _said = True


def cluster():
    """The run's cluster, started on first use; None when skipped."""
    global _cluster, _skip
    if _cluster is not None:
        return _cluster
    if _skip is None:
        _skip = skip_reason() or ""
    if _skip:
        _say_skip(_skip)
        return None
    folder = tempfile.mkdtemp(prefix="trainfs-slurm-")
    try:
        p = subprocess.run(["sh", SCRIPT, "start", folder],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True, timeout=START_TIMEOUT)
    except subprocess.TimeoutExpired:
        _stop_folder(folder)
        raise RuntimeError("slurm: cluster.sh start took over %d s"
                           % START_TIMEOUT)
    if p.returncode != 0:
        _stop_folder(folder)
        raise RuntimeError("slurm: the private cluster did not start:\n"
                           + p.stdout)
    _cluster = Cluster(folder)
    atexit.register(stop)
    print(p.stdout.strip().splitlines()[0], flush=True)
    return _cluster


def _stop_folder(folder):
    subprocess.run(["sh", SCRIPT, "stop", folder], stdout=subprocess.PIPE,
                   stderr=subprocess.STDOUT, timeout=120)
    shutil.rmtree(folder, ignore_errors=True)


def stop():
    """Stops the run's cluster (every job cancelled first); idempotent."""
    global _cluster
    c, _cluster = _cluster, None
    if c is not None:
        _stop_folder(c.dir)


def main(argv):
    unit = argv[1] if len(argv) > 1 else os.path.join(
        os.path.dirname(os.path.dirname(HERE)), "build", "tests",
        "test_slurm")
    c = cluster()
    if c is None:
        return 0
    try:
        e = dict(os.environ, TRAINFS_TEST_SLURM_CONF=c.conf)
        return subprocess.run([unit], env=e, timeout=300).returncode
    finally:
        stop()


if __name__ == "__main__":
    sys.exit(main(sys.argv))
