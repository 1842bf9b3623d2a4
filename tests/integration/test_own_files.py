"""Trainers as they are (issue 17): `weights = PATH ...` packs what the
trainer saved in its workdir, `checkpoints_from = PATTERN` makes its own
checkpoints count for keep, resume and status, and a trainer that dies on
the stop signal still ends ready with them.  The trainers are shaped on
Ultralytics YOLO (tests/trainers/yolo_like.py) and PyTorch Lightning
(tests/trainers/lightning_like.py): neither knows trainfs.
"""
import json
import os
import shutil
import subprocess
import tarfile
import tempfile

from harness import readable_copy, PY, ROOT

# Readable copies: the trainers also run as another user (nobody).
YOLO = readable_copy(os.path.join(ROOT, "tests", "trainers", "yolo_like.py"))
LIGHTNING = readable_copy(os.path.join(ROOT, "tests", "trainers",
                                       "lightning_like.py"))
BEST = "runs/detect/train/weights/best.pt"


def workdir(m, owner=None):
    d = tempfile.mkdtemp(prefix="work-", dir=m.dir)
    if owner is not None:
        os.chown(d, owner, owner)
    return d


def members(m, name):
    with tarfile.open(m.job(name, "weights", name + ".tar")) as t:
        return {x.name: (t.extractfile(x).read() if x.isfile() else
                         ("link", x.linkname) if x.issym() else "dir")
                for x in t.getmembers()}


def spec(command, **keys):
    return "command = %s\n" % command + "".join(
        "%s = %s\n" % (k, v) for k, v in keys.items())


def wait_file(path, timeout=20):
    import time
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        assert time.monotonic() < deadline, "no %s" % path
        time.sleep(0.02)


# ---- weights ---------------------------------------------------------------

def test_yolo_dies_on_stop_and_is_ready_with_best_pt(m):
    wd = workdir(m)
    m.make_job("yolo", spec("%s %s --forever --epoch-ms 30 --values 0.2,0.5,0.4"
                            % (PY, YOLO), workdir=wd, weights=BEST))
    assert m.control("yolo", "start") == 0
    wait_file(os.path.join(wd, "runs/detect/train/weights/last.pt"))
    wait_file(os.path.join(wd, "runs/detect/train/results.csv"))
    import time
    deadline = time.monotonic() + 20
    while open(os.path.join(wd, "runs/detect/train/results.csv")).read().count("\n") < 4:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert m.control("yolo", "stop") == 0
    assert m.wait_state("yolo", ("ready", "failed")) == "ready", m.read("yolo", "status")
    st, kv = m.status("yolo")
    assert kv["weights from"] == BEST, kv
    assert "stopped-early" in m.tags("yolo")
    got = members(m, "yolo")
    # best.pt at the top level under its own name: epoch 2's (mAP 0.5)
    assert got["best.pt"] == b"epoch 2 mAP50-95 0.50000\n", got
    assert set(got) == {"best.pt", "trainfs.json"}, got
    man = json.loads(got["trainfs.json"])
    assert man["weights_from"] == {"weights": BEST}, man
    # the trainer died of the signal's default action: nothing else saved it
    assert "stop requested" not in m.read("yolo", "log")


def test_weights_that_match_nothing_fail_with_the_pattern(m):
    wd = workdir(m)
    m.make_job("none", spec("true", workdir=wd, weights="runs/*/weights/best.pt"))
    assert m.control("none", "start") == 0
    assert m.wait_state("none", ("ready", "failed")) == "failed"
    _, kv = m.status("none")
    assert kv["error"] == ("no weights were saved: 'runs/*/weights/best.pt' "
                           "matched nothing"), kv
    assert os.listdir(m.job("none", "weights")) == []


def test_weights_wildcards_folders_and_the_newest_of_one_name(m):
    wd = workdir(m)
    for run, text in (("train", b"old"), ("train2", b"new")):
        os.makedirs(os.path.join(wd, "runs", run, "weights"))
        with open(os.path.join(wd, "runs", run, "weights", "best.pt"), "wb") as f:
            f.write(text)
    os.utime(os.path.join(wd, "runs/train/weights/best.pt"), (1, 1))
    os.makedirs(os.path.join(wd, "out", "sub"))
    with open(os.path.join(wd, "out", "sub", "model.bin"), "wb") as f:
        f.write(b"model")
    os.symlink("/etc/passwd", os.path.join(wd, "out", "passwd"))
    m.make_job("w", spec("true", workdir=wd,
                         weights="runs/*/weights/best.pt  out"))
    assert m.control("w", "start") == 0
    assert m.wait_state("w", ("ready", "failed")) == "ready", m.read("w", "status")
    got = members(m, "w")
    assert got["best.pt"] == b"new", got  # the most recent of the two
    assert got["out/sub/model.bin"] == b"model", got
    # a link inside a matched folder is stored as a link, never followed
    assert got["out/passwd"] == ("link", "/etc/passwd"), got


def test_weights_never_follow_a_link_out_of_the_workdir(m):
    wd = workdir(m)
    outside = os.path.join(m.dir, "secret.pt")
    with open(outside, "w") as f:
        f.write("not the trainer's")
    os.symlink(outside, os.path.join(wd, "best.pt"))
    os.makedirs(os.path.join(wd, "runs"))
    os.symlink(m.dir, os.path.join(wd, "runs", "up"))
    for pattern, shown in (("best.pt", "best.pt"),
                           ("runs/up/secret.pt", "runs/up/secret.pt")):
        name = "l%d" % len(shown)
        m.make_job(name, spec("true", workdir=wd, weights=pattern))
        assert m.control(name, "start") == 0
        assert m.wait_state(name, ("ready", "failed")) == "failed"
        _, kv = m.status(name)
        assert kv["error"] == "packaging: '%s' leads out of the workdir" % shown, kv
    # a link that stays inside the workdir is followed
    with open(os.path.join(wd, "real.pt"), "w") as f:
        f.write("inside")
    os.symlink("real.pt", os.path.join(wd, "alias.pt"))
    m.make_job("in", spec("true", workdir=wd, weights="alias.pt"))
    assert m.control("in", "start") == 0
    assert m.wait_state("in", ("ready", "failed")) == "ready"
    assert members(m, "in")["alias.pt"] == b"inside"


def test_weights_are_matched_with_the_owners_rights(m):
    wd = workdir(m, owner=65534)
    with open(os.path.join(wd, "root-only.pt"), "w") as f:
        f.write("secret")
    os.chmod(os.path.join(wd, "root-only.pt"), 0o600)
    m.remount(["-o", "allow_other"])
    subprocess.run(["runuser", "-u", "nobody", "--", "mkdir", m.job("n")], check=True)
    p = subprocess.run(["runuser", "-u", "nobody", "--", "sh", "-c",
                        "cat > '%s'" % m.job("n", "spec")],
                       input=spec("true", workdir=wd, weights="*.pt"), text=True)
    assert p.returncode == 0
    assert subprocess.run(["runuser", "-u", "nobody", "--", "sh", "-c",
                           "echo start > '%s'" % m.job("n", "control")]).returncode == 0
    assert m.wait_state("n", ("ready", "failed")) == "failed"
    _, kv = m.status("n")
    assert kv["error"] == ("packaging: cannot open 'root-only.pt': "
                           "Permission denied"), kv


def test_spec_checks_weights_and_checkpoints_from(m):
    import errno
    os.mkdir(m.job("s"))
    for key, value, why in (
            ("weights", "/abs/best.pt", "not relative to the workdir"),
            ("weights", "runs/../../x", "must not contain '..'"),
            ("checkpoints_from", "ckpt/epoch.pt", "must contain {epoch} once"),
            ("checkpoints_from", "a/{epoch}/{epoch}.pt", "must contain {epoch} once")):
        rc = m.write("s", "spec", "command = true\n%s = %s\n" % (key, value))
        assert rc == errno.EINVAL, (key, value, rc)
        _, kv = m.status("s")
        assert kv["error"] == "spec line 2: bad value '%s' for '%s': %s" % (
            value, key, why), kv


# ---- checkpoints_from ------------------------------------------------------

LIGHTNING_PATTERN = "lightning_logs/*/checkpoints/epoch={epoch}-step=*.ckpt"


def lightning_spec(wd, args, **keys):
    cmd = ('%s %s %s --metrics-file "$TRAINFS_METRICS" '
           '${TRAINFS_RESUME_FROM:+--ckpt_path "$TRAINFS_RESUME_FROM"}'
           % (PY, LIGHTNING, args))
    return spec(cmd, workdir=wd, checkpoints_from=LIGHTNING_PATTERN, **keys)


def ckpts(wd):
    return sorted(os.listdir(os.path.join(wd, "lightning_logs/version_0/checkpoints")))


def test_lightning_checkpoints_resume_and_are_never_deleted(m):
    wd = workdir(m)
    m.make_job("l", lightning_spec(wd, "--epochs 6 --fail-at 3 --epoch-ms 5"))
    assert m.control("l", "start") == 0
    assert m.wait_state("l", ("ready", "failed")) == "failed"
    st, kv = m.status("l")
    assert kv["checkpoint"] == "epoch 3", kv
    before = ckpts(wd)
    assert before == ["epoch=%d-step=%d.ckpt" % (e, 10 * e + 9) for e in range(4)], before
    assert m.control("l", "resume") == 0
    assert m.wait_state("l", ("ready", "failed")) == "ready", m.read("l", "status")
    log = m.read("l", "log")
    path = os.path.join(wd, "lightning_logs/version_0/checkpoints/epoch=3-step=39.ckpt")
    assert "resumed from %s at epoch 4" % path in log, log
    _, kv = m.status("l")
    assert kv["resumed"] == "from epoch 3", kv
    # checkpoints = 1 prunes TRAINFS_CHECKPOINTS; the trainer's own stay
    assert ckpts(wd) == ["epoch=%d-step=%d.ckpt" % (e, 10 * e + 9)
                         for e in range(6)], ckpts(wd)
    assert kv["weights from"] == "checkpoint of epoch 5", kv
    assert members(m, "l")["epoch=5-step=59.ckpt"].startswith(b"epoch 5 ")


def test_lightning_best_checkpoint_becomes_the_weights(m):
    wd = workdir(m)
    m.make_job("b", lightning_spec(wd, "--epochs 5 --epoch-ms 5 "
                                   "--values 0.9,0.4,0.2,0.6,0.7",
                                   monitor="val_loss", mode="min"))
    assert m.control("b", "start") == 0
    assert m.wait_state("b", ("ready", "failed")) == "ready", m.read("b", "status")
    _, kv = m.status("b")
    assert kv["weights from"] == "checkpoint of epoch 2", kv
    assert kv["checkpoint"] == "epoch 4", kv
    got = members(m, "b")
    assert set(got) == {"epoch=2-step=29.ckpt", "trainfs.json"}, got
    assert json.loads(got["trainfs.json"])["weights_from"] == {"checkpoint": 2}
    assert len(ckpts(wd)) == 5


def test_checkpoints_from_never_follows_links_nor_counts_them(m):
    wd = workdir(m)
    os.makedirs(os.path.join(wd, "ck"))
    outside = tempfile.mkdtemp(dir=m.dir)
    with open(os.path.join(outside, "epoch5.pt"), "w") as f:
        f.write("outside")
    # epoch 5 is reported, but its only "checkpoints" are links
    os.symlink(os.path.join(outside, "epoch5.pt"), os.path.join(wd, "ck", "epoch5.pt"))
    os.symlink(outside, os.path.join(wd, "linked"))
    script = os.path.join(wd, "train.py")
    with open(script, "w") as f:
        f.write("import os\n"
                "for e in range(1, 6):\n"
                "    if e < 5: open('ck/epoch%d.pt' % e, 'w').write(str(e))\n"
                "    open(os.environ['TRAINFS_METRICS'], 'a').write("
                "'epoch=%d loss=1\\n' % e)\n")
    m.make_job("k", spec("%s %s" % (PY, script), workdir=wd, epochs=9,
                         checkpoints_from="*/epoch{epoch}.pt"))
    assert m.control("k", "start") == 0
    assert m.wait_state("k", ("ready", "failed")) == "ready", m.read("k", "status")
    _, kv = m.status("k")
    assert kv["epoch"] == "5/9", kv
    assert kv["weights from"] == "checkpoint of epoch 4", kv
    assert members(m, "k").keys() == {"epoch4.pt", "trainfs.json"}
    assert members(m, "k")["epoch4.pt"] == b"4"
    assert os.path.exists(os.path.join(outside, "epoch5.pt"))


def test_lightning_killed_by_the_stop_is_ready_with_its_newest_checkpoint(m):
    wd = workdir(m)
    m.make_job("s", lightning_spec(wd, "--epochs 100000 --epoch-ms 30"))
    assert m.control("s", "start") == 0
    m.wait_epoch("s", 3)
    assert m.control("s", "stop") == 0
    assert m.wait_state("s", ("ready", "failed")) == "ready", m.read("s", "status")
    _, kv = m.status("s")
    assert kv["reason"] == "stopped-early", kv
    e = int(kv["weights from"].rsplit(" ", 1)[1])
    assert e >= 3 and kv["checkpoint"] == "epoch %d" % e, kv
    name = "epoch=%d-step=%d.ckpt" % (e, 10 * e + 9)
    assert set(members(m, "s")) == {name, "trainfs.json"}
    assert len(ckpts(wd)) >= e + 1  # none deleted


def test_checkpoints_from_of_another_user_are_scanned_as_that_user(m):
    wd = workdir(m, owner=65534)
    m.remount(["-o", "allow_other"])

    def nobody(cmd, text=None):
        return subprocess.run(["runuser", "-u", "nobody", "--", "sh", "-c", cmd],
                              input=text, text=True).returncode

    assert nobody("mkdir '%s'" % m.job("n")) == 0
    assert nobody("cat > '%s'" % m.job("n", "spec"),
                  lightning_spec(wd, "--epochs 4 --epoch-ms 5 --values 0.5,0.2,0.3,0.4",
                                 monitor="val_loss", mode="min")) == 0
    assert nobody("echo start > '%s'" % m.job("n", "control")) == 0
    assert m.wait_state("n", ("ready", "failed")) == "ready", m.read("n", "status")
    _, kv = m.status("n")
    assert kv["weights from"] == "checkpoint of epoch 1", kv
    assert set(members(m, "n")) == {"epoch=1-step=19.ckpt", "trainfs.json"}
    st = os.stat(os.path.join(wd, "lightning_logs/version_0/checkpoints/epoch=1-step=19.ckpt"))
    assert st.st_uid == 65534


# ---- with metrics_from -----------------------------------------------------

REPLAY = os.path.join(ROOT, "tests", "data", "ultralytics_v8_3_results.csv")


def test_ultralytics_replay_auto_stops_on_map_and_packs_best_pt(m):
    """The results.csv of a real Ultralytics 8.3 training, row by row as
    `yolo train` appends it, with best.pt saved whenever mAP50-95 improves:
    trainfs reads it (metrics_from), stops on metrics/mAP50-95(B) five
    epochs after its best (epoch 2), the trainer dies of SIGTERM, and
    best.pt (weights) is packed."""
    wd = workdir(m)
    m.make_job("r", spec("%s %s --replay %s --epoch-ms 100" % (PY, YOLO, REPLAY),
                         workdir=wd, epochs=14, patience=5,
                         metrics_from="runs/detect/train/results.csv",
                         monitor="metrics/mAP50-95(B)", weights=BEST))
    assert m.control("r", "start") == 0
    assert m.wait_state("r", ("ready", "failed"), timeout=30) == "ready", \
        m.read("r", "status") + m.read("r", "log")[-1000:]
    _, kv = m.status("r")
    assert kv["reason"] == "converged", kv
    assert kv["best"] == "metrics/mAP50-95(B) 0.53833 at epoch 2", kv
    assert kv["message"].startswith("training converged at epoch 7 of 14"), kv
    assert kv["weights from"] == BEST, kv
    assert "converged" in m.tags("r") and "stopped-early" in m.tags("r")
    got = members(m, "r")
    assert got["best.pt"] == b"epoch 2 mAP50-95 0.53833\n", got
    header = m.read("r", "metrics").splitlines()[0].split(",")
    assert "metrics/mAP50-95(B)" in header and "lr/pg0" in header, header


def test_lightning_csvlogger_counted_from_0_matches_its_checkpoint_names(m):
    """Lightning's metrics.csv counts from 0, so its epoch 0 is shown as 1
    and epoch=0-step=9.ckpt is the checkpoint of the shown epoch 1."""
    wd = workdir(m)
    cmd = ('echo "resume epoch [$TRAINFS_RESUME_EPOCH]"; '
           '%s %s --epochs 4 --epoch-ms 5 --values 0.5,0.2,0.3,0.4 --fail-at 2 '
           '${TRAINFS_RESUME_FROM:+--ckpt_path "$TRAINFS_RESUME_FROM"}'
           % (PY, LIGHTNING))
    m.make_job("z", spec(cmd, workdir=wd, monitor="val_loss", mode="min",
                         metrics_from="lightning_logs/version_0/metrics.csv",
                         checkpoints_from=LIGHTNING_PATTERN, epochs=4))
    assert m.control("z", "start") == 0
    assert m.wait_state("z", ("ready", "failed")) == "failed"
    _, kv = m.status("z")
    assert kv["epoch"] == "3/4" and kv["checkpoint"] == "epoch 3", kv
    assert kv["best"] == "val_loss 0.2 at epoch 2", kv
    assert m.control("z", "resume") == 0
    assert m.wait_state("z", ("ready", "failed")) == "ready", m.read("z", "status")
    path = os.path.join(wd, "lightning_logs/version_0/checkpoints/epoch=2-step=29.ckpt")
    log = m.read("z", "log")
    assert "resumed from %s at epoch 3" % path in log, log
    assert "resume epoch [2]" in log, log  # the trainer's own numbering
    _, kv = m.status("z")
    assert kv["epoch"] == "4/4" and kv["weights from"] == "checkpoint of epoch 2", kv
    assert set(members(m, "z")) == {"epoch=1-step=19.ckpt", "trainfs.json"}
