"""A launch that fails says which step failed and on which path.

Before a trainer starts, trainfs makes the files and folders it writes in
the job's store folder (output/, checkpoints/, metrics.txt, log, work/).
When one of them cannot be made, status says so in git style:
`error: cannot start the trainer: creating 'work/': Not a directory`,
never a bare strerror.  The broken names are put in the store by root, as
a damaged or hand-edited store would have them.
"""
import os

from harness import PY, TRAINER

# The name in the store, what blocks it, and the error status shows.
CASES = [
    ("work", "file", "creating 'work/': Not a directory"),
    ("output", "file", "creating 'output/': Not a directory"),
    ("checkpoints", "file", "creating 'checkpoints/': Not a directory"),
    ("metrics.txt", "dir", "creating 'metrics.txt': Is a directory"),
    ("log", "dir", "creating 'log': Is a directory"),
]


def job_dir(m, job_id):
    return os.path.join(m.store, "jobs", str(job_id))


def block(path, kind):
    if kind == "dir":
        os.mkdir(path)
    else:
        with open(path, "w") as f:
            f.write("in the way\n")


def test_launch_names_the_step_and_path(m):
    for i, (name, kind, _) in enumerate(CASES):
        m.make_job("j%d" % i, trainer_args="--epochs 2")
        d = job_dir(m, i + 1)
        assert os.path.isdir(d), d
        block(os.path.join(d, name), kind)
    for i in range(len(CASES)):
        assert m.control("j%d" % i, "start") == 0
    for i, (name, _, want) in enumerate(CASES):
        m.wait_state("j%d" % i, "failed")
        kv = m.status("j%d" % i)[1]
        assert kv.get("error") == "cannot start the trainer: " + want, \
            (name, m.read("j%d" % i, "status"))


def test_launch_works_once_the_path_is_free(m):
    # The failure is the path's, not the job's: cleared, the job runs.
    m.make_job("w", "command = %s %s --epochs 2\n" % (PY, TRAINER))
    d = job_dir(m, 1)
    block(os.path.join(d, "work"), "file")
    assert m.control("w", "start") == 0
    m.wait_state("w", "failed")
    assert "creating 'work/'" in m.status("w")[1].get("error", "")
    os.unlink(os.path.join(d, "work"))
    assert m.control("w", "restart") == 0, m.read("w", "control")
    m.wait_state("w", "ready")
    assert "error" not in m.status("w")[1], m.read("w", "status")


def test_launch_names_a_store_folder_that_is_a_link(m):
    # The job's folder replaced by a link: refused before anything is made.
    m.make_job("l", trainer_args="--epochs 2")
    d = job_dir(m, 1)
    os.rename(d, d + ".moved")
    os.symlink(d + ".moved", d)
    assert m.control("l", "start") == 0
    m.wait_state("l", "failed")
    assert m.status("l")[1].get("error") == (
        "cannot start the trainer: checking its folder 'jobs/1/' in the "
        "store: Too many levels of symbolic links"), m.read("l", "status")
    assert not os.path.exists(os.path.join(d + ".moved", "work"))
