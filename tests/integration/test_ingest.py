"""What real trainers write: several lines per epoch make one row, files
rewritten each epoch, the reason of the last bad line, the cause of a
failure, a workdir the owner cannot enter, auto-stop while unmounted."""
import os
import sqlite3
import time

from harness import downgrade_to_schema_2, PY


def write_trainer(m, name, body):
    path = os.path.join(m.dir, name)
    with open(path, "w") as f:
        f.write(body)
    os.chmod(path, 0o755)
    return path


def rows(m, name):
    lines = m.read(name, "metrics").splitlines()
    head = lines[0].split(",")
    return head, [dict(zip(head, l.split(","))) for l in lines[1:]]


TRAIN_VAL = r'''
import json, os, sys, time
vals = [float(v) for v in sys.argv[1].split(",")]
with open(os.environ["TRAINFS_METRICS"], "a") as f:
    for e, v in enumerate(vals, 1):
        f.write(json.dumps({"epoch": e, "phase": "train", "loss": 1.0 / e}) + "\n")
        f.flush()
        time.sleep(0.03)
        f.write(json.dumps({"epoch": float(e), "phase": "val", "val_acc": v}) + "\n")
        f.flush()
        time.sleep(0.03)
open(os.path.join(os.environ["TRAINFS_OUTPUT"], "w.bin"), "w").write("x")
'''


def test_train_and_val_lines_make_one_row(m):
    t = write_trainer(m, "tv.py", TRAIN_VAL)
    m.make_job("j", spec="command = %s %s 0.5,0.6,0.55,0.58\nepochs = 4\n"
               "monitor = val_acc\nmode = max\n" % (PY, t), start=True)
    m.wait_state("j", "ready")
    head, r = rows(m, "j")
    assert head == ["epoch", "loss", "val_acc"], head
    assert [x["epoch"] for x in r] == ["1", "2", "3", "4"], r
    assert r[1]["loss"] == "0.5" and r[1]["val_acc"] == "0.6", r
    st, kv = m.status("j")
    assert kv["best"] == "val_acc 0.6 at epoch 2", kv
    assert kv["epoch"] == "4/4", kv
    # Stored one per epoch: a remount shows the same rows.
    before = m.read("j", "metrics")
    m.remount()
    assert m.read("j", "metrics") == before
    db = sqlite3.connect(os.path.join(m.store, "trainfs.db"))
    n = db.execute("SELECT count(*) FROM metrics").fetchone()[0]
    db.close()
    assert n == 4, n


LATER_REPLACES = r'''
import os, time
open(os.path.join(os.environ["TRAINFS_OUTPUT"], "w.bin"), "w").write("x")
lines = ["epoch=1 acc=0.5", "epoch=2 acc=0.9", "epoch=2 acc=0.4",
         "epoch=3 acc=0.45", "epoch=1 loss=2", "epoch=4 acc=0.46"]
with open(os.environ["TRAINFS_METRICS"], "a") as f:
    for l in lines:
        f.write(l + "\n"); f.flush(); time.sleep(0.05)
time.sleep(5)
'''


def test_later_line_replaces_and_best_follows(m):
    t = write_trainer(m, "lr.py", LATER_REPLACES)
    # acc 0.9 at epoch 2 is replaced by 0.4: best is 0.5 at epoch 1, and
    # epochs 2, 3, 4 do not improve on it: patience 3 stops at epoch 4.
    m.make_job("j", spec="command = %s %s\nepochs = 10\nmonitor = acc\n"
               "patience = 3\n" % (PY, t), start=True)
    m.wait_state("j", "ready")
    head, r = rows(m, "j")
    assert [x["epoch"] for x in r] == ["1", "2", "3", "4"], r
    assert r[0]["loss"] == "2" and r[0]["acc"] == "0.5", r
    assert r[1]["acc"] == "0.4", r
    st, kv = m.status("j")
    assert kv["best"] == "acc 0.5 at epoch 1", kv
    assert kv["reason"] == "converged", kv


REWRITE = r'''
import json, os, sys, time
# pandas-style: the whole frame written again each epoch
# (DataFrame.to_json(path, orient="records", lines=True)).
mode = sys.argv[1]
path = os.environ["TRAINFS_METRICS"]
records = []
for e in range(1, 7):
    records.append({"epoch": e, "loss": round(1.0 / e, 4), "phase": "train",
                    "lr": None})
    text = "".join(json.dumps(r) + "\n" for r in records)
    if mode == "rename":
        with open(path + ".tmp", "w") as f:
            f.write(text)
        os.rename(path + ".tmp", path)
    else:
        with open(path, "w") as f:
            f.write(text)
    time.sleep(0.08)
open(os.path.join(os.environ["TRAINFS_OUTPUT"], "w.bin"), "w").write("x")
'''


def test_rewritten_metrics_file(m):
    t = write_trainer(m, "rw.py", REWRITE)
    for mode in ("truncate", "rename"):
        m.make_job(mode, spec="command = %s %s %s\nepochs = 6\n"
                   "monitor = loss\nmode = min\n" % (PY, t, mode), start=True)
    for mode in ("truncate", "rename"):
        m.wait_state(mode, "ready")
        head, r = rows(m, mode)
        assert head == ["epoch", "loss"], (mode, head)
        assert [x["epoch"] for x in r] == [str(e) for e in range(1, 7)], (mode, r)
        st, kv = m.status(mode)
        assert kv["epoch"] == "6/6" and "bad metric lines" not in kv, kv
        assert kv["best"] == "loss 0.1667 at epoch 6", kv


BAD_LINES = r'''
import os
with open(os.environ["TRAINFS_METRICS"], "w") as f:
    f.write("epoch=1 loss=0.5\n")
    f.write("loss=0.4\n")
    f.write("\n")
    f.write("epoch=2 phase=train\n")
    f.write("epoch=3 loss=0.3\n")
import time
time.sleep(0.6)
with open(os.environ["TRAINFS_METRICS"], "w") as f:  # rewritten: from line 1
    f.write("epoch=1 loss=0.5\n")
    f.write("epoch=4 note=\x1b[31m\n")
open(os.path.join(os.environ["TRAINFS_OUTPUT"], "w.bin"), "w").write("x")
'''


def test_bad_metric_lines_reason(m):
    t = write_trainer(m, "bad.py", BAD_LINES)
    m.make_job("j", spec="command = %s %s\n" % (PY, t), start=True)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        kv = m.status("j")[1]
        if kv.get("bad metric lines", "").startswith("2 "):
            break
        time.sleep(0.02)
    assert kv["bad metric lines"] == \
        "2 (last: line 4: value of 'phase' is not a number)", kv
    m.wait_state("j", "ready")
    kv = m.status("j")[1]
    assert kv["bad metric lines"] == \
        "3 (last: line 2: value of 'note' is not a number)" or \
        kv["bad metric lines"].startswith("3 (last: line 2: "), kv
    assert "\x1b" not in m.read("j", "status")
    m.remount()
    assert m.status("j")[1]["bad metric lines"] == kv["bad metric lines"]


def test_error_names_the_cause(m):
    m.make_job("nf", spec="command = /no/such/trainer\n", start=True)
    m.make_job("nx", spec="command = %s\n" % os.path.join(m.dir, "runner.pid"),
               start=True)
    m.make_job("ex", spec="command = echo 'fine so far'; printf 'bad \\033[1m"
               "thing\\n\\n\\n'; exit 3\n", start=True)
    m.make_job("k9", spec="command = echo dying; kill -9 $$\n", start=True)
    for n in ("nf", "nx", "ex", "k9"):
        m.wait_state(n, "failed")
    assert m.status("nf")[1]["error"] == (
        "trainer exited with status 127 (command not found): "
        "sh: 1: /no/such/trainer: not found"), m.status("nf")
    err = m.status("nx")[1]["error"]
    assert err.startswith("trainer exited with status 126 (command cannot "
                          "be run): sh: 1: "), err
    assert err.endswith("Permission denied"), err
    assert m.status("ex")[1]["error"] == \
        "trainer exited with status 3: bad \\x1b[1mthing", m.status("ex")
    assert m.status("k9")[1]["error"] == "killed by signal 9: dying", \
        m.status("k9")


def test_workdir_owner_cannot_enter(m):
    m.make_job("j", spec="command = true\nworkdir = /no/such/dir\n")
    assert m.control("j", "start") == 22  # EINVAL
    st, kv = m.status("j")
    assert st == "created"
    assert kv["error"] == "workdir '/no/such/dir': No such file or directory", kv
    assert "workdir" in m.read("j", "control")
    assert m.write("j", "spec", "command = true\nworkdir = %s\n" % m.dir) == 0
    assert "error" not in m.status("j")[1]
    assert m.control("j", "start") == 0


UNMOUNTED = r'''
import os, signal, sys, time
stopped = []
signal.signal(signal.SIGTERM, lambda *a: stopped.append(1))
vals = [0.5, 0.6, 0.7, 0.7, 0.69, 0.7, 0.68, 0.7, 0.7, 0.7]
with open(os.environ["TRAINFS_METRICS"], "a") as f:
    for e in range(1, 41):
        stop = stopped or os.path.exists(os.environ["TRAINFS_STOP_FILE"])
        if stop:
            break
        v = vals[e - 1] if e <= len(vals) else 0.65
        f.write("epoch=%d mAP=%s\n" % (e, v)); f.flush()
        time.sleep(0.15)
open(os.path.join(os.environ["TRAINFS_OUTPUT"], "w.bin"), "w").write("x")
print("ended at", e, "stop" if stop else "done", flush=True)
'''


def test_auto_stop_while_unmounted(m):
    t = write_trainer(m, "um.py", UNMOUNTED)
    m.make_job("j", spec="command = %s %s\nepochs = 40\nmonitor = mAP\n"
               "patience = 3\ngrace = 5\n" % (PY, t), start=True)
    m.wait_state("j", "running")
    m.unmount()
    log = os.path.join(m.store, "jobs", "1", "log")
    deadline = time.monotonic() + 20
    text = ""
    while time.monotonic() < deadline:
        with open(log) as f:
            text = f.read()
        if "ended at" in text:
            break
        time.sleep(0.05)
    # Best 0.7 at epoch 3; epochs 4, 5, 6 do not improve: stop after 6.
    assert "ended at" in text and "stop" in text, text
    ended = int(text.split("ended at")[1].split()[0])
    assert ended <= 10, text
    # The shim's record of it, written whole.
    with open(os.path.join(m.store, "jobs", "1", "autostop")) as f:
        rec = f.read()
    assert rec.startswith("epoch 6\nwaited "), rec
    m.start()
    m.wait_state("j", "ready")
    st, kv = m.status("j")
    assert kv["reason"] == "converged", kv
    e = int(kv["epoch"].split("/")[0])
    assert 6 <= e <= 8 and e == ended - 1, (kv, text)
    assert kv["best"] == "mAP 0.7 at epoch 3", kv
    assert kv["message"] == ("training converged at epoch %d of 40; "
                             "%d unnecessary epochs skipped" % (e, 40 - e)), kv
    assert "stopped-early" in m.tags("j") and "converged" in m.tags("j")


def test_workdir_checked_with_the_owners_rights(m):
    import subprocess
    m.remount(["-o", "allow_other"])
    closed = os.path.join(m.dir, "closed")
    os.mkdir(closed, 0o700)  # root's: nobody cannot enter it
    code = ("import os\nos.mkdir(%r)\nfd = os.open(%r, os.O_WRONLY | os.O_TRUNC)\n"
            "os.write(fd, b'command = true\\nworkdir = %s\\n')\nos.close(fd)\n"
            "fd = os.open(%r, os.O_WRONLY)\n"
            "try:\n    os.write(fd, b'start\\n'); print('ok')\n"
            "except OSError as e:\n    print(e.errno)\n"
            % (m.job("n"), m.job("n", "spec"), closed, m.job("n", "control")))
    p = subprocess.run([PY, "-c", code], user=65534, group=65534,
                       extra_groups=[], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True, timeout=60, cwd="/")
    assert p.stdout.strip() == "22", (p.stdout, p.stderr)
    st, kv = m.status("n")
    assert st == "created"
    assert kv["error"] == "workdir '%s': Permission denied" % closed, kv


def test_schema_2_store_is_migrated(m):
    m.make_job("j", spec="command = printf 'epoch=1 a=1\\nbad\\n' >> "
               "$TRAINFS_METRICS; echo w > $TRAINFS_OUTPUT/w\n", start=True)
    m.wait_state("j", "ready")
    m.unmount()
    downgrade_to_schema_2(m.store)
    m.start()
    kv = m.status("j")[1]
    assert kv["bad metric lines"] == "1" and kv["epoch"] == "1", kv
    db = sqlite3.connect(os.path.join(m.store, "trainfs.db"))
    assert db.execute("PRAGMA user_version").fetchone()[0] == 8
    db.close()


SPLIT_BY_RESTART = r'''
import os, sys, time
go = sys.argv[1]
open(os.path.join(os.environ["TRAINFS_OUTPUT"], "w.bin"), "w").write("x")
with open(os.environ["TRAINFS_METRICS"], "a") as f:
    f.write("epoch=1 loss=0.9\nepoch=1 acc=0.5\nepoch=2 loss=0.8\n"); f.flush()
    while not os.path.exists(go):
        time.sleep(0.02)
    f.write("epoch=2 acc=0.6\nepoch=1 acc=0.7\nepoch=3 loss=0.7 acc=0.65\n")
'''


def test_one_row_per_epoch_across_a_restart(m):
    t = write_trainer(m, "split.py", SPLIT_BY_RESTART)
    go = os.path.join(m.dir, "go")
    m.make_job("j", spec="command = %s %s %s\nepochs = 3\nmonitor = acc\n"
               % (PY, t, go), start=True)
    m.wait_epoch("j", 2)
    m.remount()
    with open(go, "w"):
        pass
    m.wait_state("j", "ready")
    assert m.read("j", "metrics") == \
        "epoch,loss,acc\n1,0.9,0.7\n2,0.8,0.6\n3,0.7,0.65\n"
    # Epoch 1's 0.7 (reported last) is the best as the rows stand.
    assert m.status("j")[1]["best"] == "acc 0.7 at epoch 1"
    m.remount()
    assert m.read("j", "metrics") == \
        "epoch,loss,acc\n1,0.9,0.7\n2,0.8,0.6\n3,0.7,0.65\n"
    db = sqlite3.connect(os.path.join(m.store, "trainfs.db"))
    assert db.execute("SELECT count(*) FROM metrics").fetchone()[0] == 3
    db.close()
