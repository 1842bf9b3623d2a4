"""Sweeps: MOUNT/sweeps/NAME with a spec, control, status, trials.csv,
graph.svg, trials/T and best links; trials are ordinary jobs NAME-001...
made `parallel` at a time and pruned by the median rule or ASHA, every
decision surviving a remount and kill -9.

The trainer is tests/trainers/curve_trainer.py, whose curve is known:
val_loss(e) = final + exp(-e / tau).  A low `final` with a large `tau`
starts behind and ends ahead."""
import csv
import errno
import io
import os
import re
import time

from harness import PY, ROOT, errno_of, readable_copy

CURVE = readable_copy(os.path.join(ROOT, "tests", "trainers",
                                   "curve_trainer.py"))


def sweep(m, name, *parts):
    return m.path("sweeps", name, *parts)


def write(path, text):
    try:
        fd = os.open(path, os.O_WRONLY | os.O_TRUNC)
    except OSError as e:
        return e.errno
    try:
        os.write(fd, text.encode())
        os.close(fd)
    except OSError as e:
        return e.errno
    return 0


def read(path):
    with open(path) as f:
        return f.read()


def status(m, name):
    lines = read(sweep(m, name, "status")).splitlines()
    return lines[0], dict(l.split(": ", 1) for l in lines[1:])


def wait_sweep(m, name, states, timeout=60):
    deadline = time.monotonic() + timeout
    s = None
    while time.monotonic() < deadline:
        s = status(m, name)[0]
        if s in states:
            return s
        time.sleep(0.05)
    raise AssertionError("sweep %s: %r, wanted %r\n%s\n%s" % (
        name, s, states, read(sweep(m, name, "status")),
        read(sweep(m, name, "trials.csv"))))


def wait_job(m, name, timeout=30):
    deadline = time.monotonic() + timeout
    while not os.path.exists(m.job(name)):
        assert time.monotonic() < deadline, "no job " + name
        time.sleep(0.02)


def trials(m, name):
    return list(csv.DictReader(io.StringIO(read(sweep(m, name, "trials.csv")))))


GRID = """command = {py} {curve} --final {{final}} --tau {{tau}} --epoch-ms {ms}
monitor = val_loss
mode = min
epochs = 9
param.final = 0.5, 0.1, 0.3
param.tau = 1, 3
search = grid
parallel = {parallel}
prune = {prune}
"""


def grid_spec(prune="asha", parallel=2, ms=40):
    return GRID.format(py=PY, curve=CURVE, prune=prune, parallel=parallel,
                       ms=ms)


def test_grid_with_asha_prunes_and_keeps_weights(m):
    os.mkdir(sweep(m, "g"))
    assert sorted(os.listdir(sweep(m, "g"))) == [
        "control", "graph.svg", "spec", "status", "trials", "trials.csv"]
    assert write(sweep(m, "g", "spec"), grid_spec()) == 0
    st, kv = status(m, "g")
    assert st == "created" and kv["trials"] == "6 (6 to come)", kv
    assert write(sweep(m, "g", "control"), "start\n") == 0
    assert wait_sweep(m, "g", ("done",)) == "done"
    rows = trials(m, "g")
    assert [r["trial"] for r in rows] == ["001", "002", "003", "004", "005", "006"]
    assert list(rows[0].keys()) == ["trial", "job", "state", "reason", "final",
                                    "tau", "best", "best_epoch", "epochs_run"]
    # The grid in the spec's order, the last param fastest.
    assert [(r["final"], r["tau"]) for r in rows] == [
        ("0.5", "1"), ("0.5", "3"), ("0.1", "1"), ("0.1", "3"),
        ("0.3", "1"), ("0.3", "3")]
    pruned = [r for r in rows if r["reason"] == "pruned"]
    assert pruned, rows
    # The best configuration (final 0.1, tau 1) is never pruned.
    best = [r for r in rows if (r["final"], r["tau"]) == ("0.1", "1")][0]
    assert best["reason"] == "completed", rows
    assert os.readlink(sweep(m, "g", "best")) == "../../jobs/g-003"
    assert os.readlink(sweep(m, "g", "trials", "005")) == "../../../jobs/g-005"
    st, kv = status(m, "g")
    assert re.fullmatch(r"6 \((\d+ pruned, )?\d+ ready\)", kv["trials"]), kv
    assert kv["best"] == "trial 003 (final=0.1 tau=1) val_loss 0.100123 at epoch 9", kv
    run = sum(int(r["epochs_run"]) for r in rows)
    assert kv["epochs"] == "%d run of 54 without pruning (%d%% saved)" % (
        run, round(100 * (1 - run / 54))), kv
    # A pruned trial is a ready job with its weights, as a stop leaves it.
    p = pruned[0]["job"]
    st, jkv = m.status(p)
    assert st == "ready" and jkv["reason"] == "pruned", jkv
    assert re.fullmatch(r"pruned at epoch \d+: val_loss [0-9.]+ was not in "
                        r"the best 1/3 at epoch \d+", jkv["message"]), jkv
    assert set(m.tags(p)) >= {"stopped-early", "pruned", "ready"}
    assert os.path.exists(m.job(p, "weights", p + ".tar"))
    assert jkv["sweep"].startswith("g, trial %s: final=" % p[-3:]), jkv
    svg = read(sweep(m, "g", "graph.svg"))
    assert svg.count("<polyline data-trial=") == 6
    assert 'data-trial="003" class="trial best"' in svg
    assert re.search(r'<circle data-trial="%s" class="pruned"' % p[-3:], svg)


def test_median_rule(m):
    os.mkdir(sweep(m, "md"))
    spec = grid_spec(prune="median", parallel=1, ms=10)
    spec += "prune.startup = 2\n"
    assert write(sweep(m, "md", "spec"), spec) == 0
    assert write(sweep(m, "md", "control"), "start") == 0
    wait_sweep(m, "md", ("done",))
    rows = trials(m, "md")
    # One at a time: trials 1 and 2 run whole (startup), then the worse
    # ones stop early; the best goes on to the end.
    assert rows[0]["reason"] == rows[1]["reason"] == "completed", rows
    assert rows[2]["reason"] == "completed", rows
    assert any(r["reason"] == "pruned" for r in rows[3:]), rows
    p = [r for r in rows if r["reason"] == "pruned"][0]["job"]
    msg = m.status(p)[1]["message"]
    assert re.fullmatch(r"pruned at epoch \d+: val_loss [0-9.]+ was worse "
                        r"than the median [0-9.]+ at epoch \d+", msg), msg


RANDOM = """command = {py} {curve} --final {{final}} --tau {{tau}} --epoch-ms 5 --epochs 2
monitor = val_loss
mode = min
param.final = uniform(0.1, 0.9)
param.tau = int(1, 5)
trials = 4
seed = 7
parallel = 4
"""


def test_random_search_is_seeded(m):
    for name in ("r1", "r2"):
        os.mkdir(sweep(m, name))
        assert write(sweep(m, name, "spec"), RANDOM.format(py=PY, curve=CURVE)) == 0
        assert write(sweep(m, name, "control"), "start") == 0
    for name in ("r1", "r2"):
        wait_sweep(m, name, ("done",))
    a = [(r["final"], r["tau"]) for r in trials(m, "r1")]
    b = [(r["final"], r["tau"]) for r in trials(m, "r2")]
    assert a == b and len(set(a)) == 4, (a, b)
    for f, t in a:
        assert 0.1 <= float(f) <= 0.9 and len(f.split(".")[-1]) <= 6
        assert t in ("1", "2", "3", "4", "5")
    # The trainer got its values: in command and as TRAINFS_PARAM_*.
    spec = m.read("r1-001", "spec")
    assert "--final %s --tau %s" % a[0] in spec
    assert "env.TRAINFS_PARAM_final = %s" % a[0][0] in spec
    assert status(m, "r1")[1]["seed"] == "7"


def test_bad_specs_and_control(m):
    os.mkdir(sweep(m, "b"))
    path = sweep(m, "b", "spec")
    assert write(path, "command = t {width}\nmonitor = a\ntrials = 2\n") == errno.EINVAL
    st, kv = status(m, "b")
    assert st == "created" and kv["error"] == "spec line 1: '{width}' has no param.width"
    assert write(sweep(m, "b", "control"), "start") == errno.EINVAL
    assert write(path, "command = t\ntrials = 2\n") == errno.EINVAL
    assert status(m, "b")[1]["error"] == "spec: 'monitor' is required for a sweep"
    assert write(path, "command = t\nmonitor = a\ntrials = 2\nprune = asha\n") == errno.EINVAL
    assert status(m, "b")[1]["error"] == "spec: prune = asha needs 'epochs'"
    assert write(sweep(m, "b", "control"), "explode") == errno.EINVAL
    assert "last refused: 'explode': unknown command" in read(sweep(m, "b", "control"))
    assert write(sweep(m, "b", "control"), "stop") == errno.EBUSY
    assert write(path, "command = true\nmonitor = a\ntrials = 1\n") == 0
    assert "error" not in status(m, "b")[1]
    # mkdir of a bad name, rmdir when created.
    assert errno_of(os.mkdir, sweep(m, "bad\u202ename")) == errno.EINVAL
    assert errno_of(os.mkdir, sweep(m, ".hidden")) == errno.EINVAL
    assert errno_of(os.mkdir, sweep(m, "b")) == errno.EEXIST
    os.rmdir(sweep(m, "b"))
    assert not os.path.exists(sweep(m, "b"))


def test_refusal_quoted_as_a_job_quotes_it(m):
    """A refused sweep control write is shown as a job's is: the text
    trimmed of white space, cut at 64 bytes with '...', plain ASCII."""
    os.mkdir(sweep(m, "q"))
    m.make_job("j")
    text = "  \u00e9" + "x" * 80 + " \n"
    assert write(sweep(m, "q", "control"), text) == errno.EINVAL
    assert write(m.path("jobs", "j", "control"), text) == errno.EINVAL
    want = "last refused: '\\xc3\\xa9" + "x" * 62 + "...': unknown command"
    assert want in read(sweep(m, "q", "control"))
    assert want in read(m.path("jobs", "j", "control"))


def test_stop_and_cancel(m):
    spec = grid_spec(prune="none", parallel=2, ms=300)
    for name in ("s", "c"):
        os.mkdir(sweep(m, name))
        assert write(sweep(m, name, "spec"), spec) == 0
        assert write(sweep(m, name, "control"), "start") == 0
    # Both of s's trials (parallel 2) have saved weights before the stop,
    # or one stopped before its first epoch would rightly fail.
    for j in ("s-001", "s-002", "c-001"):
        wait_job(m, j)
        m.wait_epoch(j, 1)
    assert errno_of(os.rmdir, sweep(m, "s")) == errno.EBUSY
    assert write(sweep(m, "s", "control"), "stop") == 0
    assert write(sweep(m, "s", "control"), "stop") == 0  # a repeat: no change
    assert write(sweep(m, "c", "control"), "cancel") == 0
    assert wait_sweep(m, "s", ("done",)) == "done"
    assert wait_sweep(m, "c", ("cancelled",)) == "cancelled"
    rows = trials(m, "s")
    assert len(rows) == 2, rows  # no new trials after stop
    for r in rows:
        assert r["state"] == "ready" and r["reason"] == "stopped-early", rows
    for r in trials(m, "c"):
        m.wait_state(r["job"], ("cancelled",))
    assert write(sweep(m, "c", "control"), "cancel") == 0
    assert write(sweep(m, "c", "control"), "start") == errno.EBUSY
    os.rmdir(sweep(m, "s"))  # done: removable, its trials stay jobs
    assert m.state("s-001") == "ready"


def test_control_lists_the_verbs_allowed_now(m):
    """control's "allowed:" line comes from the sweep's command table: the
    verbs that move it on from its state (a repeat is not listed)."""
    def allowed():
        return read(sweep(m, "v", "control")).splitlines()[0]
    os.mkdir(sweep(m, "v"))
    assert allowed() == "allowed: start"
    assert write(sweep(m, "v", "spec"), grid_spec(prune="none", parallel=1,
                                                   ms=300)) == 0
    assert write(sweep(m, "v", "control"), "start") == 0
    assert allowed() == "allowed: stop cancel"
    wait_job(m, "v-001")
    assert write(sweep(m, "v", "control"), "stop") == 0
    assert allowed() in ("allowed: cancel", "allowed: none")
    assert wait_sweep(m, "v", ("done",)) == "done"
    assert allowed() == "allowed: none"
    assert write(sweep(m, "v", "control"), "cancel") == errno.EBUSY
    assert "last refused: 'cancel': not allowed while done" in read(
        sweep(m, "v", "control"))


def test_decisions_survive_kill9_and_no_trial_number_twice(m):
    os.mkdir(sweep(m, "k"))
    assert write(sweep(m, "k", "spec"), grid_spec(ms=150)) == 0
    assert write(sweep(m, "k", "control"), "start") == 0
    wait_job(m, "k-001")
    m.wait_epoch("k-001", 2)
    m.kill9()
    time.sleep(1.0)  # trials run on, unpruned, while unmounted
    m.start()
    wait_sweep(m, "k", ("done",), timeout=90)
    rows = trials(m, "k")
    assert [r["trial"] for r in rows] == ["001", "002", "003", "004", "005", "006"]
    assert sorted(os.listdir(m.path("jobs"))) == ["k-00%d" % i for i in range(1, 7)]
    assert any(r["reason"] == "pruned" for r in rows), rows
    m.remount()
    after = trials(m, "k")
    assert after == rows, [(a, b) for a, b in zip(rows, after) if a != b]
    assert status(m, "k")[0] == "done"


def test_a_trial_made_but_not_started_before_a_kill_is_started(m):
    """A kill -9 between a trial's job made and its start leaves that job
    created, its spec missing or partly written: the next mount writes the
    trial's spec and starts it, once, so the sweep ends.  The store is made
    as such a kill leaves it: trial 1's job made with no spec, trial 2's
    with the first bytes of some spec and its id not stored yet."""
    import sqlite3
    spec = grid_spec(ms=20)
    os.mkdir(sweep(m, "w"))
    assert write(sweep(m, "w", "spec"), spec) == 0
    os.mkdir(m.job("w-001"))
    os.mkdir(m.job("w-002"))
    assert m.write("w-002", "spec", "command = %s %s" % (PY, CURVE)) == 0
    m.unmount()
    db = sqlite3.connect(os.path.join(m.store, "trainfs.db"))
    sid = db.execute("SELECT id FROM sweeps WHERE name = 'w'").fetchone()[0]
    job1 = db.execute("SELECT id FROM jobs WHERE name = 'w-001'").fetchone()[0]
    db.execute("UPDATE sweeps SET state = 1, seed = 7, has_seed = 1,"
               " trials_created = 2 WHERE id = ?", (sid,))
    db.executemany("INSERT INTO sweep_trials (sweep_id, trial, job_id)"
                   " VALUES (?, ?, ?)", [(sid, 1, job1), (sid, 2, 0)])
    db.commit()
    db.close()
    m.start()
    wait_sweep(m, "w", ("done",), timeout=60)
    rows = trials(m, "w")
    names = ["w-%03d" % i for i in range(1, 7)]
    assert [r["job"] for r in rows] == names, rows
    assert all(r["state"] == "ready" for r in rows), rows
    assert sorted(os.listdir(m.path("jobs"))) == names
    for r in rows[:2]:
        text = m.read(r["job"], "spec")
        assert "--final %s --tau %s" % (r["final"], r["tau"]) in text, text
        assert "env.TRAINFS_PARAM_tau = %s\n" % r["tau"] in text, text
        starts = [e for e in m.read(r["job"], "events").splitlines()
                  if e.endswith(" queued start")]
        assert len(starts) == 1, m.read(r["job"], "events")


def test_a_trial_whose_start_is_refused_is_tried_once(m):
    """A trial whose start is refused (its workdir does not exist) stays
    created, its error in its status, holding its place: the start is
    tried once when the trial is made and once more at each mount, never
    again round after round.  stop ends the sweep."""
    spec = grid_spec() + "workdir = /nonexistent/trainfs-sweep\n"
    os.mkdir(sweep(m, "q"))
    assert write(sweep(m, "q", "spec"), spec) == 0
    assert write(sweep(m, "q", "control"), "start") == 0
    wait_job(m, "q-002")

    def refusals(t):
        return m.log().count("sweep trial 'q-%03d': cannot start it" % t)

    for mounts in (1, 2):
        deadline = time.monotonic() + 10
        while refusals(1) + refusals(2) < 2 * mounts:
            assert time.monotonic() < deadline, m.log()[-3000:]
            time.sleep(0.05)
        time.sleep(1.5)  # some 15 rounds
        assert (refusals(1), refusals(2)) == (mounts, mounts), m.log()[-3000:]
        rows = trials(m, "q")
        assert [(r["job"], r["state"]) for r in rows] == [
            ("q-001", "created"), ("q-002", "created")], rows
        assert "workdir" in m.status("q-001")[1].get("error", "")
        assert status(m, "q")[0] == "running"
        if mounts == 1:
            m.remount()
    assert write(sweep(m, "q", "control"), "stop") == 0
    assert wait_sweep(m, "q", ("done",)) == "done"


def test_a_remount_shows_the_whole_sweep_at_once(m):
    """What a reader sees of a sweep in the first instant of a mount is the
    sweep as loaded, each trial linked to its job, never a half-loaded one
    (each trial 'created' with no job, best unknown).  Many trials of many
    epochs each make reading them all take a while."""
    spec = """command = {py} {curve} --final {{final}} --tau {{tau}} --epoch-ms 1
monitor = val_loss
mode = min
epochs = 30
param.final = uniform(0.1, 0.9)
param.tau = int(1, 9)
trials = 24
seed = 5
parallel = 6
prune = none
""".format(py=PY, curve=CURVE)
    os.mkdir(sweep(m, "r"))
    assert write(sweep(m, "r", "spec"), spec) == 0
    assert write(sweep(m, "r", "control"), "start") == 0
    wait_sweep(m, "r", ("done",), timeout=90)
    # Once the thread has read every trial's last epoch.
    deadline = time.monotonic() + 30
    while any(r["epochs_run"] != "30" for r in trials(m, "r")):
        assert time.monotonic() < deadline, trials(m, "r")
        time.sleep(0.05)
    rows = trials(m, "r")
    assert [r["job"] for r in rows] == ["r-%03d" % i for i in range(1, 25)]
    assert all(r["state"] == "ready" and r["best"] for r in rows), rows
    best = os.readlink(sweep(m, "r", "best"))
    for _ in range(20):
        m.remount()
        after = trials(m, "r")
        assert after == rows, [(a, b) for a, b in zip(rows, after) if a != b]
        assert os.readlink(sweep(m, "r", "best")) == best
        assert status(m, "r")[0] == "done"


def test_another_user_cannot_drive_a_sweep(m):
    m.remount(["-o", "allow_other"])
    os.mkdir(sweep(m, "mine"))
    assert write(sweep(m, "mine", "spec"), grid_spec()) == 0
    import subprocess
    code = ("import os, errno\n"
            "def w(p, t):\n"
            "    try:\n"
            "        fd = os.open(p, os.O_WRONLY | os.O_TRUNC); os.write(fd, t); os.close(fd); return 0\n"
            "    except OSError as e:\n"
            "        return e.errno\n"
            "print(w(%r, b'start'), w(%r, b'command = x'))\n"
            % (sweep(m, "mine", "control"), sweep(m, "mine", "spec")))
    p = subprocess.run([PY, "-c", code], user=65534, group=65534,
                       extra_groups=[], capture_output=True, text=True,
                       timeout=30, cwd="/")
    assert p.stdout.split() == [str(errno.EACCES)] * 2, p.stdout + p.stderr
    assert status(m, "mine")[0] == "created"


def test_a_private_sweep_and_its_trials(m):
    m.remount(["-o", "allow_other"])
    os.mkdir(sweep(m, "p"), 0o700)
    assert os.stat(sweep(m, "p")).st_mode & 0o777 == 0o700
    spec = grid_spec(prune="none", parallel=1, ms=5)
    assert write(sweep(m, "p", "spec"), spec) == 0
    assert write(sweep(m, "p", "control"), "start") == 0
    wait_job(m, "p-001")
    import subprocess
    code = ("import os\n"
            "def e(f, *a):\n"
            "    try:\n"
            "        f(*a); return 0\n"
            "    except OSError as x:\n"
            "        return x.errno\n"
            "print(e(open, %r), e(os.listdir, %r), e(open, %r))\n"
            % (sweep(m, "p", "status"), sweep(m, "p"),
               m.job("p-001", "status")))
    def as_nobody():
        p = subprocess.run([PY, "-c", code], user=65534, group=65534,
                           extra_groups=[], capture_output=True, text=True,
                           timeout=30, cwd="/")
        return p.stdout.split()
    assert as_nobody() == [str(errno.EACCES)] * 3
    # The owner opens it; the trial it makes from then on is open too.
    os.chmod(sweep(m, "p"), 0o755)
    assert os.stat(sweep(m, "p", "status")).st_mode & 0o777 == 0o444
    assert as_nobody()[:2] == ["0", "0"]
    assert errno_of(os.chmod, sweep(m, "p", "status"), 0o666) == errno.EPERM
    wait_sweep(m, "p", ("done",))
    # trials.csv shows nobody only the trials it may read: not the first,
    # made while the sweep was private.
    rows = subprocess.run([PY, "-c", "print(open(%r).read())"
                           % sweep(m, "p", "trials.csv")], user=65534,
                          group=65534, extra_groups=[], capture_output=True,
                          text=True, timeout=30, cwd="/").stdout
    assert rows.startswith("trial,job,state,reason,final,tau,"), rows
    assert "\n001," not in rows and "\n001," in read(sweep(m, "p", "trials.csv"))


def test_many_fast_trials_never_hang(m):
    """Trials whose epochs come every few ms, so an ingest (holding the
    store and the registry) wakes the sweeps' thread while that thread
    makes a trial: once a deadlock that froze the whole mount."""
    spec = """command = {py} {curve} --final {{final}} --tau {{tau}} --epoch-ms 2
monitor = val_loss
mode = min
epochs = 27
param.final = uniform(0.1, 0.9)
param.tau = int(1, 9)
trials = 40
seed = 3
parallel = 4
prune = median
prune.startup = 2
""".format(py=PY, curve=CURVE)
    for name in ("f1", "f2"):
        os.mkdir(sweep(m, name))
        assert write(sweep(m, name, "spec"), spec) == 0
        assert write(sweep(m, name, "control"), "start") == 0
    for name in ("f1", "f2"):
        wait_sweep(m, name, ("done",), timeout=90)
    assert len(trials(m, "f1")) == 40
