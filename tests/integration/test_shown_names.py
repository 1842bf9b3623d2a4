"""What status, the manifest and summary.csv call a job and its owner:
`owner: NAME (UID)` (the bare uid where the uid has no name), trainfs.json
naming the job as it is called when packed (a renamed job's new name), and
summary.csv's `weights` relative to the mount."""
import csv
import io
import json
import os
import pwd
import subprocess
import tarfile

from harness import PY, TRAINER


def ready(m, name, **keys):
    m.make_job(name, trainer_args="--epochs 2 --epoch-ms 1", start=True, **keys)
    m.wait_state(name, "ready")


def test_owner_is_name_and_uid(m):
    ready(m, "r")
    assert m.status("r")[1]["owner"] == "root (0)"
    nobody = pwd.getpwnam("nobody").pw_uid
    m.remount(["-o", "allow_other"])
    p = subprocess.run(["runuser", "-u", "nobody", "--", "mkdir", m.job("n")])
    assert p.returncode == 0
    assert m.status("n")[1]["owner"] == "nobody (%d)" % nobody


def test_owner_without_a_name_is_the_bare_uid(m):
    uid = 54321
    try:
        pwd.getpwuid(uid)
        raise AssertionError("uid %d has a name here" % uid)
    except KeyError:
        pass
    m.remount(["-o", "allow_other"])
    subprocess.run(["mkdir", m.job("x")], user=uid, group=uid, check=True)
    assert m.status("x")[1]["owner"] == str(uid)


def manifest(m, name):
    w = os.listdir(m.job(name, "weights"))
    with tarfile.open(m.job(name, "weights", w[0])) as t:
        return json.load(t.extractfile("trainfs.json"))


def test_manifest_names_a_job_renamed_before_it_was_packed(m):
    m.make_job("old", trainer_args="--forever --epoch-ms 20", start=True)
    m.wait_epoch("old", 2)
    os.rename(m.job("old"), m.job("new"))
    assert m.control("new", "stop") == 0
    m.wait_state("new", "ready")
    assert manifest(m, "new")["job"] == "new"


def test_manifest_names_a_job_renamed_while_packing(m):
    # A slow packer (a big output, gzip) gives the rename time to land.
    m.make_job("old", trainer_args="--epochs 1 --epoch-ms 1 "
               "--weights-bytes 150000000", start=True, compression="gzip")
    assert m.wait_state("old", ("packaging", "ready"), timeout=30) == "packaging"
    os.rename(m.job("old"), m.job("new"))
    m.wait_state("new", "ready", timeout=60)
    assert manifest(m, "new")["job"] == "new"


def test_summary_weights_are_relative_to_the_mount(m):
    ready(m, "a, b")
    with open(m.path("summary.csv"), newline="") as f:
        rows = list(csv.DictReader(f))
    w = [r["weights"] for r in rows if r["job"] == "a, b"]
    assert w == ["jobs/a, b/weights/a, b.tar"], rows
    assert os.path.isfile(os.path.join(m.mnt, w[0]))
