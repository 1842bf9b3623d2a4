"""Checkpoints and resume through a real trainfs (SPEC "Checkpoints",
"control" resume, status "weights from", "checkpoint", "resumed",
trainfs.json "weights_from"), issue 10.
"""
import errno
import glob
import importlib.util
import io
import json
import os
import shutil
import subprocess
import tarfile
import time

from harness import SCHEMA_VERSION, downgrade_to_schema_2, DEMO, PY, ROOT, TRAINER

_spec = importlib.util.spec_from_file_location("trainer", TRAINER)
trainer = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(trainer)


def weights(epoch, size=4096):
    """The bytes of weights.bin in the test trainer's checkpoint of EPOCH."""
    block, reps, rest = trainer.weight_bytes(epoch, size)
    return block * reps + rest


def env_of(m, name):
    """The trainer's environment, from --report env.json in its output."""
    for p in glob.glob(os.path.join(m.store, "jobs", "*", "output", "env.json")):
        with open(p) as f:
            info = json.load(f)
        if info["env"].get("TRAINFS_JOB") == name:
            return info["env"]
    raise AssertionError("no env.json of job %s" % name)


def folders(path):
    return sorted(os.listdir(path), key=lambda n: (len(n), n))


def members(m, name):
    with tarfile.open(m.job(name, "weights", name + ".tar")) as t:
        return {x.name: (t.extractfile(x).read() if x.isfile() else None)
                for x in t.getmembers()}


def events(m, name):
    return m.read(name, "events").splitlines()


# ---- keep and weights ------------------------------------------------------

def test_keep_best_packs_the_best_checkpoint(m):
    m.make_job("j", trainer_args="--values 0.9,0.5,0.3,0.4,0.45,0.5,0.6 "
               "--checkpoint-every 1 --epoch-ms 100 --report env.json",
               monitor="loss", mode="min", patience=2, epochs=7, start=True)
    m.wait_state("j", "ready")
    _, kv = m.status("j")
    assert kv["reason"] == "converged", kv
    assert kv["best"] == "loss 0.3 at epoch 3", kv
    assert kv["weights from"] == "checkpoint of epoch 3", kv
    newest = kv["checkpoint"]  # the newest kept: 5, or 6 if it came before the stop
    assert newest in ("epoch 5", "epoch 6"), kv
    got = members(m, "j")
    assert got["weights.bin"] == weights(3)
    assert got["epoch.txt"] == b"3\n"
    assert "env.json" not in got and "ckpt/epoch-1.txt" not in got  # not output's
    man = json.loads(got["trainfs.json"])
    assert man["weights_from"] == {"checkpoint": 3}, man
    # the best and the newest one (checkpoints = 1 by default) are kept
    ck = env_of(m, "j")["TRAINFS_CHECKPOINTS"]
    assert folders(ck) == ["epoch-3", newest.replace(" ", "-")], folders(ck)


def test_keep_last_packs_the_newest(m):
    m.make_job("j", trainer_args="--values 0.9,0.5,0.3,0.4 --checkpoint-every 1 "
               "--epoch-ms 5 --report env.json",
               monitor="loss", mode="min", keep="last", epochs=4, start=True)
    m.wait_state("j", "ready")
    _, kv = m.status("j")
    assert kv["weights from"] == "checkpoint of epoch 4", kv
    assert members(m, "j")["weights.bin"] == weights(4)
    assert json.loads(members(m, "j")["trainfs.json"])["weights_from"] == {"checkpoint": 4}
    # the best one stays too: "neither the best nor among the newest"
    assert folders(env_of(m, "j")["TRAINFS_CHECKPOINTS"]) == ["epoch-3", "epoch-4"]


def test_without_checkpoints_the_output_is_packed(m):
    m.make_job("j", trainer_args="--epochs 3 --epoch-ms 5", start=True)
    m.wait_state("j", "ready")
    _, kv = m.status("j")
    assert kv["weights from"] == "output", kv
    assert "checkpoint" not in kv, kv
    got = members(m, "j")
    assert got["weights.bin"] == weights(3) and "ckpt/epoch-3.txt" in got
    assert json.loads(got["trainfs.json"])["weights_from"] == "output"


def test_stop_early_takes_the_best(m):
    m.make_job("j", trainer_args="--values 0.5,0.2,0.4 --forever "
               "--checkpoint-every 1 --epoch-ms 30", monitor="loss", mode="min",
               start=True)
    m.wait_epoch("j", 5)
    assert m.control("j", "stop") == 0
    m.wait_state("j", "ready")
    _, kv = m.status("j")
    assert kv["weights from"] == "checkpoint of epoch 2", kv
    assert members(m, "j")["weights.bin"] == weights(2)


# ---- what does not count ---------------------------------------------------

def test_tmp_folders_and_checkpoints_without_metrics_are_ignored(m):
    m.make_job("j", trainer_args="--epochs 4 --checkpoint-every 1 --epoch-ms 5 "
               "--orphan-checkpoint 50 --tmp-checkpoint 2 --report env.json",
               keep="last", start=True)
    m.wait_state("j", "ready")
    _, kv = m.status("j")
    assert kv["weights from"] == "checkpoint of epoch 4", kv  # not 50
    ck = env_of(m, "j")["TRAINFS_CHECKPOINTS"]
    # never counted, so never deleted either
    assert "epoch-50" in folders(ck) and "epoch-2.tmp" in folders(ck)
    assert "epoch-1" not in folders(ck)


def test_bounded_over_1000_epochs(m):
    m.make_job("j", trainer_args="--epochs 1000 --checkpoint-every 1 "
               "--epoch-ms 0 --checkpoint-bytes 16 --report env.json",
               monitor="loss", mode="min", checkpoints=2, start=True)
    m.wait_state("j", "ready", timeout=100)
    ck = env_of(m, "j")["TRAINFS_CHECKPOINTS"]
    left = folders(ck)
    assert len(left) <= 3, left
    assert left == ["epoch-999", "epoch-1000"], left  # the best is the newest
    assert m.status("j")[1]["weights from"] == "checkpoint of epoch 1000"


def test_checkpoints_all_keeps_every_one(m):
    m.make_job("j", trainer_args="--epochs 6 --checkpoint-every 1 --epoch-ms 0 "
               "--report env.json", checkpoints="all", start=True)
    m.wait_state("j", "ready")
    assert len(folders(env_of(m, "j")["TRAINFS_CHECKPOINTS"])) == 6


def test_links_are_never_followed(m):
    # A root-owned folder, reachable through links in the checkpoints
    # folder and inside every checkpoint that is pruned.
    victim = os.path.join(m.dir, "victim")
    os.mkdir(victim)
    with open(os.path.join(victim, "precious"), "w") as f:
        f.write("x")
    m.make_job("j", trainer_args="--epochs 6 --checkpoint-every 1 --epoch-ms 5 "
               "--link-inside %s --plant-link epoch-77=%s --report env.json"
               % (victim, victim), keep="last", start=True)
    m.wait_state("j", "ready")
    assert os.listdir(victim) == ["precious"]
    ck = env_of(m, "j")["TRAINFS_CHECKPOINTS"]
    assert os.path.islink(os.path.join(ck, "epoch-77"))  # a link never counts
    assert m.status("j")[1]["weights from"] == "checkpoint of epoch 6"
    shutil.rmtree(m.job("j"), ignore_errors=True)  # rm -r deletes the job
    assert os.listdir(victim) == ["precious"]


def test_cancel_deletes_checkpoints(m):
    m.make_job("j", trainer_args="--forever --checkpoint-every 1 --epoch-ms 20 "
               "--report env.json", start=True)
    m.wait_epoch("j", 3)
    ck = env_of(m, "j")["TRAINFS_CHECKPOINTS"]
    assert m.control("j", "cancel") == 0
    m.wait_state("j", "cancelled")
    deadline = time.monotonic() + 10
    while os.path.exists(ck) and os.listdir(ck) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not os.path.exists(ck) or os.listdir(ck) == []
    assert m.control("j", "resume") == errno.EBUSY


# ---- resume ------------------------------------------------------------------

def test_resume_from_failed(m):
    m.make_job("j", trainer_args="--epochs 6 --checkpoint-every 1 --epoch-ms 5 "
               "--fail-at 3 --print", monitor="loss", mode="min", epochs=6,
               start=True)
    m.wait_state("j", "failed")
    assert "resume" in m.read("j", "control").splitlines()[0]
    assert m.control("j", "resume") == 0
    m.wait_state("j", "ready")
    st, kv = m.status("j")
    assert kv["resumed"] == "from epoch 3", kv
    assert kv["epoch"] == "6/6", kv
    assert "resumed from epoch 3" in m.read("j", "log")
    assert any("resumed from epoch 3" in e for e in events(m, "j")), events(m, "j")
    assert "failed" not in m.tags("j") and "ready" in m.tags("j")
    assert [r.split(",")[0] for r in m.read("j", "metrics").splitlines()[1:]] == \
        ["1", "2", "3", "4", "5", "6"]


def test_resume_ready_with_more_epochs(m):
    m.make_job("j", trainer_args="--checkpoint-every 1 --epoch-ms 5 "
               "--target-from-env --report env.json", epochs=4, start=True)
    m.wait_state("j", "ready")
    assert env_of(m, "j")["TRAINFS_EPOCHS"] == "4"
    assert m.control("j", "resume epochs=4") == errno.EINVAL  # not above 4
    assert m.control("j", "resume epochs=3") == errno.EINVAL
    assert m.state("j") == "ready"
    assert m.control("j", "resume epochs=8") == 0
    assert "epochs = 8" in m.read("j", "spec")
    m.wait_state("j", "ready")
    _, kv = m.status("j")
    assert kv["epoch"] == "8/8" and kv["resumed"] == "from epoch 4", kv
    assert kv["weights from"] == "checkpoint of epoch 8", kv
    assert os.listdir(m.job("j", "weights")) == ["j.tar"]


def test_resume_refused_without_a_checkpoint(m):
    m.make_job("j", trainer_args="--epochs 2 --epoch-ms 5", start=True)
    m.wait_state("j", "ready")
    assert m.control("j", "resume") == errno.EBUSY
    assert "resume" not in m.read("j", "control").splitlines()[0]
    assert "last refused: 'resume'" in m.read("j", "control")
    m.make_job("f", trainer_args="--epochs 2 --epoch-ms 5 --exit 3", start=True)
    m.wait_state("f", "failed")
    assert m.control("f", "resume") == errno.EBUSY


def test_resume_repeats_while_under_way(m):
    m.make_job("j", trainer_args="--epochs 40 --checkpoint-every 1 --epoch-ms 20 "
               "--fail-at 2", start=True)
    m.wait_state("j", "failed")
    assert m.control("j", "resume") == 0
    assert m.control("j", "resume") == 0  # queued or running: same
    m.wait_state("j", "running")
    assert m.control("j", "resume epochs=99") == 0  # changes nothing
    assert "epochs = 99" not in m.read("j", "spec")
    assert m.control("j", "stop") == 0
    m.wait_state("j", "ready")


def test_resume_drops_later_rows_and_counts_patience_afresh(m):
    # checkpoints every 3 epochs: the newest is 3 when epoch 4 fails, with
    # 2 epochs (3, 4) without improvement
    m.make_job("j", trainer_args="--values 0.5,0.4,0.45,0.46,0.47,0.3,0.2,0.1 "
               "--epochs 8 --checkpoint-every 3 --epoch-ms 5 --fail-at 4",
               monitor="loss", mode="min", patience=3, epochs=8, start=True)
    m.wait_state("j", "failed")
    assert m.read("j", "metrics").splitlines()[-1].startswith("4,")
    assert m.status("j")[1]["checkpoint"] == "epoch 3"
    assert m.control("j", "resume") == 0
    m.wait_state("j", "running")
    assert m.read("j", "metrics").splitlines()[-1].startswith(("3,", "4,"))
    m.wait_state("j", "ready")
    _, kv = m.status("j")
    assert kv["resumed"] == "from epoch 3", kv
    # the old count (2 at epoch 4) would reach 3 at the new epoch 4 and
    # auto-stop; afresh it is 1 at epoch 4, 2 at 5, and epoch 6 improves
    assert kv["reason"] == "completed", kv
    assert kv["best"] == "loss 0.1 at epoch 8", kv
    rows = [r.split(",")[0] for r in m.read("j", "metrics").splitlines()[1:]]
    assert rows == [str(e) for e in range(1, 9)], rows


def test_kill9_of_trainfs_during_resume(m):
    m.make_job("j", trainer_args="--epochs 30 --checkpoint-every 1 --epoch-ms 50 "
               "--fail-at 2", start=True)
    m.wait_state("j", "failed")
    assert m.control("j", "resume") == 0
    m.kill9()
    m.start()
    m.wait_state("j", "ready", timeout=60)
    _, kv = m.status("j")
    assert kv["resumed"] == "from epoch 2" and kv["epoch"].startswith("30"), kv


# ---- the PyTorch example through trainfs ------------------------------------

def test_pytorch_digits_fails_resumes_and_scores(m):
    have = subprocess.run([PY, "-c", "import torch, sklearn"]).returncode == 0
    assert have, "python3-torch and python3-sklearn are needed (tools/deps.sh)"
    ex = os.path.join(ROOT, "examples", "pytorch_digits.py")
    m.make_job("t", spec="command = %s %s --fail-at 3\n"
               "epochs = 6\nmonitor = val_loss\nmode = min\n" % (PY, ex))
    assert m.control("t", "start") == 0
    m.wait_state("t", "failed", timeout=100)
    assert m.status("t")[1]["error"].startswith("trainer exited with status 3")
    assert m.control("t", "resume") == 0
    m.wait_state("t", "ready", timeout=100)
    st, kv = m.status("t")
    assert kv["resumed"] == "from epoch 3", kv
    assert "resumed from" in m.read("t", "log")
    best = int(kv["best"].rsplit(" ", 1)[1])
    assert kv["weights from"] == "checkpoint of epoch %d" % best, kv
    rows = m.read("t", "metrics").splitlines()
    head = rows[0].split(",")
    row = dict(zip(head, rows[best].split(",")))
    # the tarball's weights load back and score as reported
    out = os.path.join(m.dir, "unpacked")
    os.mkdir(out)
    with tarfile.open(m.job("t", "weights", "t.tar")) as t:
        assert sorted(t.getnames()) == ["model.pt", "train_state.pt", "trainfs.json"]
        t.extractall(out)
    r = subprocess.run([PY, ex, "--score", out], stdout=subprocess.PIPE,
                       text=True, timeout=120, check=True)
    got = json.loads(r.stdout)
    assert abs(got["val_acc"] - float(row["val_acc"])) < 1e-5, (got, row)
    assert abs(got["val_loss"] - float(row["val_loss"])) < 1e-4, (got, row)


# ---- more of the SPEC: the demo, remounts, other owners, faults -------------

def test_demo_hands_over_its_best_epoch(m):
    """`make run`'s demo (tools/run.sh's spec, faster): it converges past
    its best epoch, and the weights are that epoch's checkpoint."""
    m.make_job("demo", spec="command = %s --epochs 300 --epoch-ms 1\n"
               "epochs = 300\nmonitor = val_loss\nmode = min\npatience = 8\n"
               "min_delta = 0.001\ngrace = 10\n" % DEMO, start=True)
    m.wait_state("demo", "ready", timeout=120)
    _, kv = m.status("demo")
    best = int(kv["best"].rsplit(" ", 1)[1])
    last = int(kv["epoch"].split("/")[0])
    # Epochs of 1 ms run on while the stop is decided and delivered: the
    # trainer may still improve after it (then the best is the last).
    assert kv["reason"] == "converged" and best <= last, kv
    assert kv["weights from"] == "checkpoint of epoch %d" % best, kv
    man = json.loads(members(m, "demo")["trainfs.json"])
    assert man["weights_from"] == {"checkpoint": best}, man
    assert man["best"]["epoch"] == best, man


def test_remount_keeps_what_checkpoints_showed(m):
    m.make_job("j", trainer_args="--epochs 5 --checkpoint-every 1 --epoch-ms 5 "
               "--fail-at 2", monitor="loss", mode="min", start=True)
    m.wait_state("j", "failed")
    assert m.control("j", "resume") == 0
    m.wait_state("j", "ready")
    _, before = m.status("j")
    m.remount()
    _, after = m.status("j")
    for k in ("weights from", "checkpoint", "resumed", "best", "epoch"):
        assert after[k] == before[k], (k, before, after)
    assert "resume" in m.read("j", "control").splitlines()[0]


def test_cancel_of_a_resumed_job_still_queued(m):
    """A resumed job waiting for a slot is cancelled: its output, its
    scratch folder work/ and its checkpoints go as any cancelled job's."""
    m.remount(["--max-running", "1"])
    m.make_job("j", trainer_args="--epochs 9 --checkpoint-every 1 --epoch-ms 5 "
               "--fail-at 2 --report env.json", start=True)
    m.wait_state("j", "failed")
    ck = env_of(m, "j")["TRAINFS_CHECKPOINTS"]
    out = env_of(m, "j")["TRAINFS_OUTPUT"]
    assert folders(ck) == ["epoch-2"]
    work = os.path.join(os.path.dirname(out), "work")
    assert os.path.isdir(work)
    m.make_job("hog", trainer_args="--forever --epoch-ms 20", start=True)
    m.wait_state("hog", "running")
    assert m.control("j", "resume") == 0
    assert m.state("j") == "queued"
    assert m.control("j", "cancel") == 0
    deadline = time.monotonic() + 10
    gone = (ck, out, work)
    while any(map(os.path.exists, gone)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(map(os.path.exists, gone)), [p for p in gone if os.path.exists(p)]
    assert "checkpoint" not in m.status("j")[1]
    assert m.control("hog", "cancel") == 0


def test_another_owner_prunes_with_its_own_rights(m):
    """A job of nobody: its checkpoints folder is its own (0700), pruning
    runs as nobody, and the weights are its newest checkpoint."""
    if os.geteuid() != 0:
        print("SKIP test_another_owner_prunes_with_its_own_rights: needs root")
        return
    import test_privacy
    m.remount(["-o", "allow_other"])
    test_privacy.nobody_job(m, "n", "%s %s --epochs 6 --checkpoint-every 1 "
                            "--epoch-ms 5" % (PY, TRAINER))
    m.wait_state("n", "ready")
    assert m.status("n")[1]["weights from"] == "checkpoint of epoch 6"
    ck = glob.glob(os.path.join(m.store, "jobs", "*", "checkpoints"))[0]
    st = os.lstat(ck)
    assert (st.st_uid, st.st_mode & 0o777) == (65534, 0o700), st
    assert os.listdir(ck) == ["epoch-6"]
    assert os.stat(os.path.join(ck, "epoch-6")).st_uid == 65534


def test_full_disk_while_a_checkpoint_is_written(m):
    """The disk fills up while epoch 2's checkpoint is written: the
    trainer fails, the half-written folder never counts, what was shown
    stays, and once space is freed the job resumes from epoch 1."""
    if os.geteuid() != 0:
        print("SKIP test_full_disk_while_a_checkpoint_is_written: needs root")
        return
    from test_hardening import drop_tmpfs, tmpfs_store
    d = tmpfs_store(m, "64m")
    try:
        filler = os.path.join(d, "filler")
        free = os.statvfs(d).f_bavail * os.statvfs(d).f_frsize
        with open(filler, "wb") as f:  # 6 MiB left: one 4 MiB checkpoint
            f.truncate(0)
            left = free - 6 * 1024 * 1024
            while left > 0:
                n = min(left, 1 << 20)
                f.write(b"\0" * n)
                left -= n
        m.make_job("j", trainer_args="--epochs 5 --checkpoint-every 1 "
                   "--checkpoint-bytes 4194304 --epoch-ms 5", start=True)
        m.wait_state("j", "failed", timeout=30)
        st, kv = m.status("j")
        # status 2 (its own message) or 1 (even that could not be logged)
        assert kv["error"].startswith("trainer exited with status"), kv
        if "checkpoint" not in kv:
            # The disk was full before epoch 1's row or its checkpoint
            # could be stored: no checkpoint counts, so none is kept and
            # there is nothing to resume from.
            rows = m.read("j", "metrics").splitlines()[1:]
            assert [r.split(",")[0] for r in rows] in ([], ["1"]), rows
            assert m.control("j", "resume") == errno.EBUSY
            return
        assert kv["checkpoint"] == "epoch 1", kv
        # epoch 2's row too, unless the full disk kept it from the store
        rows = m.read("j", "metrics").splitlines()[1:]
        assert [r.split(",")[0] for r in rows] in (["1"], ["1", "2"]), rows
        os.unlink(filler)
        assert m.control("j", "resume") == 0
        m.wait_state("j", "ready", timeout=30)
        _, kv = m.status("j")
        assert kv["resumed"] == "from epoch 1" and kv["epoch"] == "5", kv
        assert kv["weights from"] == "checkpoint of epoch 5", kv
        rows = m.read("j", "metrics").splitlines()[1:]
        assert [r.split(",")[0] for r in rows] == ["1", "2", "3", "4", "5"], rows
        ck = glob.glob(os.path.join(m.store, "jobs", "*", "checkpoints"))[0]
        assert os.listdir(ck) == ["epoch-5"], os.listdir(ck)
        w = members(m, "j")["weights.bin"]
        assert w == weights(5, 4194304)
    finally:
        drop_tmpfs(m, d)


def test_a_schema_2_store_is_upgraded(m):
    """A store of the last version (2, before checkpoints) mounts: its jobs
    get no checkpoint, their weights come from the output, and resume is
    refused for lack of a checkpoint."""
    import sqlite3
    m.make_job("old", trainer_args="--epochs 2 --epoch-ms 5", start=True)
    m.wait_state("old", "ready")
    m.unmount()
    downgrade_to_schema_2(m.store)
    m.start()
    _, kv = m.status("old")
    assert kv["weights from"] == "output" and "checkpoint" not in kv, kv
    assert "resumed" not in kv, kv
    assert m.control("old", "resume") == errno.EBUSY
    db = sqlite3.connect(os.path.join(m.store, "trainfs.db"))
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    db.close()


def test_old_tarball_open_across_a_resume(m):
    """A reader holds the old tarball open while the job resumes and gets
    a new one: it reads the old one to the end, and a new open reads the
    new one whole (a tarball replaced under the same name)."""
    m.make_job("j", trainer_args="--checkpoint-every 1 --epoch-ms 5 "
               "--target-from-env --checkpoint-bytes 300000", epochs=2,
               start=True)
    m.wait_state("j", "ready")
    tar = m.job("j", "weights", "j.tar")
    old = open(tar, "rb")
    head = old.read(1024)
    assert m.control("j", "resume epochs=4") == 0
    m.wait_state("j", "ready")
    with open(tar, "rb") as f:  # the old one still open
        new = f.read()
    rest = old.read()
    old.close()
    with tarfile.open(fileobj=io.BytesIO(head + rest)) as t:
        assert t.extractfile("epoch.txt").read() == b"2\n"
    assert len(new) == os.stat(tar).st_size
    with tarfile.open(fileobj=io.BytesIO(new)) as t:
        assert t.extractfile("epoch.txt").read() == b"4\n"
        assert t.extractfile("weights.bin").read() == weights(4, 300000)
