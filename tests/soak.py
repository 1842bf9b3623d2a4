#!/usr/bin/env python3
"""make soak: a few minutes of load on one mount, then every check.

50 jobs (--jobs) are made over a minute and a half, each with a fate: run to
completion, fail, converge (auto-stop), be stopped, be stopped while it
ignores the signal, be cancelled (with children that ignore signals), or
have stop and cancel written at once from 8 threads.  They report metrics
in both formats, with bad lines, and pack with every compression.  All the
while 32 readers (--readers) list jobs/ and read every file, checking that
each read is one whole rendering and that no job goes back in its
lifecycle; 8 waiters block on `wait` and are interrupted.  Twice trainfs is
killed with kill -9 and once unmounted cleanly, and remounted: the store's
committed states must come back, no further behind.

At the end every job is final and the states, tags, events, tarballs
(read to their end, manifest included), the store's folders and the
database all agree; nothing is left running and no child is left unreaped.
Prints what it did as it goes and a summary.  Exits 1 on any failure.

  tests/soak.py --trainfs ./trainfs [--jobs 50] [--readers 32] [--seed N]
"""
import argparse
import errno
import os
import random
import sqlite3
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "integration"))
import harness  # noqa: E402
from harness import PY, TRAINER  # noqa: E402
import test_hardening as th  # noqa: E402

FATES = ["complete", "fail", "auto", "stop", "stop-ignoring", "cancel", "race"]


class Gate:
    """Lets readers run, or holds them all out while trainfs is remounted."""

    def __init__(self):
        self.cv = threading.Condition()
        self.paused = False
        self.active = 0
        self.generation = 0  # remounts so far

    def enter(self):
        with self.cv:
            while self.paused:
                self.cv.wait()
            self.active += 1
            return self.generation

    def leave(self):
        with self.cv:
            self.active -= 1
            self.cv.notify_all()

    def pause(self):
        with self.cv:
            self.paused = True
            while self.active:
                self.cv.wait()

    def resume(self):
        with self.cv:
            self.paused = False
            self.generation += 1
            self.cv.notify_all()


class Soak:
    def __init__(self, a):
        self.a = a
        self.rng = random.Random(a.seed)
        self.m = harness.Mount("soak", args=["--max-running", "12"])
        self.gate = Gate()
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.errors = {}        # kind -> [examples]
        self.counts = {}        # what was done -> how many times
        self.jobs = {}          # name -> {"fate", "id", "actions": [(cmd, rc)]}
        self.t0 = time.monotonic()

    # ---- bookkeeping ----

    def say(self, msg):
        print("[%6.1fs] %s" % (time.monotonic() - self.t0, msg), flush=True)

    def count(self, what, n=1):
        with self.lock:
            self.counts[what] = self.counts.get(what, 0) + n

    def error(self, kind, example):
        with self.lock:
            self.errors.setdefault(kind, []).append(example)

    # ---- the jobs ----

    def spec_for(self, name, fate):
        r = self.rng
        args = ["--epoch-ms", str(r.choice([10, 20, 40, 80]))]
        keys = {"compression": r.choice(["none", "gzip", "zstd"])}
        if r.random() < 0.4:
            args += ["--format", "json"]
        if r.random() < 0.3:
            args += ["--bad-lines", str(r.randrange(1, 4))]
        if r.random() < 0.5:
            args += ["--extra", "acc,f1"]
        if r.random() < 0.3:
            args += ["--weights-bytes", str(r.choice([1 << 16, 1 << 20, 3 << 20]))]
        if fate == "complete":
            e = r.randrange(3, 40)
            args += ["--epochs", str(e)]
            keys["epochs"] = e
        elif fate == "fail":
            args += ["--epochs", str(r.randrange(1, 10)), "--exit", "3", "--print"]
        elif fate == "auto":
            args += ["--forever", "--values", "1,0.8,0.6,0.5,0.5,0.5,0.5,0.5"]
            keys.update(epochs=1000, monitor="loss", mode="min", patience=3)
        elif fate == "stop-ignoring":
            args += ["--forever", "--on-term", "ignore"]
            keys["grace"] = 1
        elif fate == "cancel":
            args += ["--forever", "--fork-child", "--child-max-s", "300"]
        else:
            args += ["--forever"]
        lines = ["command = %s %s %s" % (PY, TRAINER, " ".join(args))]
        lines += ["%s = %s" % kv for kv in keys.items()]
        return "\n".join(lines) + "\n"

    def make(self, name, fate):
        m = self.m
        os.mkdir(m.job(name))
        assert m.write(name, "spec", self.spec_for(name, fate)) == 0, name
        if self.rng.random() < 0.3:
            assert m.write(name, "tags", "soak\nbatch-%d\n" % (len(self.jobs) // 10)) == 0
        rc = m.control(name, "start")
        assert rc == 0, (name, rc)
        with self.lock:
            self.jobs[name] = {"fate": fate, "id": th.job_id(m, name), "actions": []}
        self.count("made")

    def act(self, name):
        """The job's planned action; returns False to try again later."""
        m, job = self.m, self.jobs[name]
        fate = job["fate"]
        if fate in ("stop", "stop-ignoring", "cancel", "race") and \
                m.state(name) in ("queued", "created"):
            if fate != "cancel":
                return False  # wait until it runs
        if fate in ("stop", "stop-ignoring"):
            # Stopped before its first epoch a trainer has saved nothing
            # and rightly fails: a stop is tried once it reported one.
            try:
                if "epoch" not in m.status(name)[1]:
                    return False
            except OSError:
                return False
            job["actions"].append(("stop", m.control(name, "stop")))
        elif fate == "cancel":
            job["actions"].append(("cancel", m.control(name, "cancel")))
        elif fate == "race":
            out = []
            b = threading.Barrier(8)
            late = self.rng.choice([0, 0.05, 0.2, 0.5])  # the cancels' head start, or not

            def w(c, delay):
                b.wait()
                time.sleep(delay)
                out.append((c, m.control(name, c)))
            ts = [threading.Thread(target=w, args=(c, self.rng.uniform(0, late)
                                                    if c == "cancel" else 0))
                  for c in ["stop", "cancel"] * 4]
            for t in ts:
                t.start()
            for t in ts:
                t.join(30)
            job["actions"] += out
        self.count("actions")
        return True

    # ---- readers and waiters ----

    def reader(self, k):
        r = random.Random(self.a.seed * 100 + k)
        files = ["status"] * 4 + ["metrics", "events", "tags", "control", "graph.svg", "log"]
        seen, gen = {}, -1
        m = self.m
        while not self.stop.is_set():
            g = self.gate.enter()
            try:
                if g != gen:
                    seen, gen = {}, g  # a crash may take back what was never stored
                names = os.listdir(m.path("jobs"))
                self.count("listings")
                for n in r.sample(names, min(5, len(names))):
                    f = r.choice(files)
                    try:
                        with open(m.job(n, f), "rb") as fh:
                            data = fh.read()
                        if r.random() < 0.2:
                            st = os.stat(m.job(n, f))
                            if f not in ("log",) and st.st_size < 0:
                                self.error("stat", (n, f))
                            os.listdir(m.job(n, "weights"))
                    except FileNotFoundError:
                        continue
                    self.count("reads")
                    if f == "log":
                        continue
                    try:
                        state, cnt = th.check_rendering(f, data.decode())
                    except Exception:  # noqa: BLE001 - any failure is the finding
                        self.error(f + " not whole", (n, data[-100:]))
                        continue
                    if state is None and cnt is None:
                        continue
                    now = (th.RANK.get(state, 0), cnt or 0)
                    if now < seen.get((n, f), (0, 0)):
                        self.error(f + " went back", (n, now, seen[n, f]))
                    seen[n, f] = max(now, seen.get((n, f), (0, 0)))
            except OSError as e:
                self.error("reader " + errno.errorcode.get(e.errno, str(e.errno)), repr(e))
            finally:
                self.gate.leave()

    def waiter(self, k):
        r = random.Random(self.a.seed * 1000 + k)
        m = self.m
        while not self.stop.is_set():
            self.gate.enter()
            try:
                with self.lock:
                    names = list(self.jobs)
                if not names:
                    continue
                n = r.choice(names)
                p = subprocess.run(["timeout", "-s", "INT", str(r.choice([0.3, 1, 3])),
                                    "cat", m.job(n, "wait")],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                if p.returncode == 0:
                    first = p.stdout.decode().split("\n")[0]
                    if first not in th.FINAL:
                        self.error("wait answered before final", (n, p.stdout[:100]))
                    self.count("waits answered")
                elif p.returncode == 124:
                    self.count("waits interrupted")
                elif b"No such file" not in p.stderr:
                    self.error("wait", (n, p.returncode, p.stderr[:200]))
            finally:
                self.gate.leave()
            time.sleep(0.05)

    # ---- crashes ----

    def store_states(self):
        db = sqlite3.connect(os.path.join(self.m.store, "trainfs.db"))
        try:
            return {n: th.STATES[s] for n, s in db.execute("SELECT name, state FROM jobs")}
        finally:
            db.close()

    def crash(self, clean):
        m = self.m
        self.gate.pause()
        try:
            if clean:
                # Waiters are out (the gate); nothing holds a file open.
                m.unmount()
            else:
                m.kill9()
            stored = self.store_states()
            time.sleep(self.rng.uniform(0, 1))
            m.start()
            back = {n: m.state(n) for n in os.listdir(m.path("jobs"))}
            assert set(back) == set(stored), (set(back) ^ set(stored))
            for n, s in stored.items():
                if th.RANK[back[n]] < th.RANK[s] and back[n] not in th.FINAL:
                    self.error("state lost in a crash", (n, s, back[n]))
            self.say("%s and remount: %d jobs back (%s)" % (
                "clean unmount" if clean else "kill -9", len(back),
                ", ".join("%d %s" % (list(back.values()).count(s), s)
                          for s in th.STATES if s in back.values())))
            self.count("remounts")
        finally:
            self.gate.resume()

    # ---- the run ----

    def run(self):
        a, r, m = self.a, self.rng, self.m
        fates = [FATES[i % len(FATES)] for i in range(a.jobs)]
        r.shuffle(fates)
        spread = 90.0
        plan = sorted((r.uniform(0, spread), "make", "s%02d-%s" % (i, f), f)
                      for i, f in enumerate(fates))
        crashes = [25.0, 50.0, 75.0]
        crash_kinds = [False, True, False]  # kill -9, clean, kill -9
        self.say("seed %d: %d jobs (%s) over %.0fs, %d readers, 8 waiters, "
                 "kill -9 at %.0fs and %.0fs, clean unmount at %.0fs" % (
                     a.seed, a.jobs, ", ".join("%d %s" % (fates.count(f), f)
                                               for f in FATES),
                     spread, a.readers, crashes[0], crashes[2], crashes[1]))
        threads = [threading.Thread(target=self.reader, args=(k,), daemon=True)
                   for k in range(a.readers)]
        threads += [threading.Thread(target=self.waiter, args=(k,), daemon=True)
                    for k in range(8)]
        for t in threads:
            t.start()
        pending = []   # (when, name) of actions
        start = time.monotonic()
        while plan or pending or crashes:
            now = time.monotonic() - start
            if crashes and now >= crashes[0]:
                crashes.pop(0)
                self.crash(crash_kinds.pop(0))
                continue
            if plan and now >= plan[0][0]:
                _, _, name, fate = plan.pop(0)
                self.make(name, fate)
                if fate in ("stop", "stop-ignoring", "cancel", "race"):
                    pending.append((now + r.uniform(0.2, 8), name))
                    pending.sort()
                if len(self.jobs) % 10 == 0:
                    self.say("%d jobs made; %s" % (len(self.jobs), self.tally()))
                continue
            if pending and now >= pending[0][0]:
                when, name = pending.pop(0)
                if not self.act(name):
                    pending.append((now + 0.5, name))
                    pending.sort()
                continue
            time.sleep(0.01)
        self.say("all made and acted on; %s" % self.tally())
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            states = [m.state(n) for n in self.jobs]
            if all(s in th.FINAL for s in states):
                break
            time.sleep(0.5)
        self.stop.set()
        for t in threads:
            t.join(30)
        self.say("all final: %s; readers and waiters done" % self.tally())
        self.check()

    def tally(self):
        states = []
        for n in self.jobs:
            try:
                states.append(self.m.state(n))
            except OSError:
                states.append("?")
        return ", ".join("%d %s" % (states.count(s), s) for s in th.STATES + ("?",)
                         if s in states)

    def check(self):
        m = self.m
        outcome = {}
        for n, job in sorted(self.jobs.items()):
            try:
                st, kv, members = th.check_final_job(m, n, job["id"])
            except AssertionError as e:
                self.error("final job", (n, str(e)[:300]))
                continue
            fate, acts = job["fate"], job["actions"]
            outcome[n] = st
            if any(rc not in (0, errno.EBUSY) for _, rc in acts):
                self.error("control errno", (n, acts))
            want = {"complete": ("ready", "completed"), "fail": ("failed", None),
                    "auto": ("ready", "converged"), "stop": ("ready", "stopped-early"),
                    "stop-ignoring": ("ready", "stopped-early"),
                    "cancel": ("cancelled", None)}.get(fate)
            if fate == "race":
                want = ("ready", "stopped-early") if st == "ready" else ("cancelled", None)
                if st == "ready" and any(c == "cancel" and rc == 0 for c, rc in acts):
                    self.error("race: cancel took but job ready", (n, acts))
            if (st, kv.get("reason")) != want:
                self.error("outcome", (n, fate, st, kv))
                continue
            if st == "ready":
                man = th.tar_manifest(m.job(n, "weights", os.listdir(m.job(n, "weights"))[0]))
                epoch = int(kv["epoch"].split("/")[0])
                if man["epoch"] != epoch or man["reason"] != kv["reason"]:
                    self.error("manifest", (n, man, kv))
                if "weights.bin" not in members:
                    self.error("tarball", (n, members))
            # SPEC: the cause, then the log's last line.
            if st == "failed" and not kv["error"].startswith(
                    "trainer exited with status 3"):
                self.error("failure", (n, kv))
            if fate == "auto" and "converged" not in m.tags(n):
                self.error("tags", (n, m.tags(n)))
            rows = m.read(n, "metrics").splitlines()[1:]
            if rows and "epoch" in kv and int(rows[-1].split(",")[0]) != \
                    int(kv["epoch"].split("/")[0]):
                self.error("metrics vs status", (n, rows[-1], kv["epoch"]))
        # The database says what the mount says.
        db = sqlite3.connect(os.path.join(m.store, "trainfs.db"))
        try:
            for name, state, weights, jid in db.execute(
                    "SELECT name, state, weights, id FROM jobs"):
                if th.STATES[state] != m.state(name):
                    self.error("store vs mount", (name, th.STATES[state], m.state(name)))
                tags = [t for (t,) in db.execute(
                    "SELECT tag FROM tags WHERE job_id=? ORDER BY seq", (jid,))]
                if sorted(tags) != sorted(m.tags(name)):
                    self.error("store tags", (name, tags, m.tags(name)))
                listing = os.listdir(m.job(name, "weights"))
                if (weights and [weights] != listing) or (not weights and listing):
                    self.error("store weights", (name, weights, listing))
        finally:
            db.close()
        if sorted(os.listdir(os.path.join(m.store, "jobs"))) != \
                sorted(str(j["id"]) for j in self.jobs.values()):
            self.error("store folders", os.listdir(os.path.join(m.store, "jobs")))
        left = th.wait_no_processes(m)
        if left:
            self.error("left running", left[:5])
        time.sleep(0.5)
        if th.zombie_children(m.proc.pid):
            self.error("unreaped children", th.zombie_children(m.proc.pid))
        self.outcome = outcome

    def report(self):
        print("\nsoak summary (seed %d, %.0fs):" % (self.a.seed, time.monotonic() - self.t0))
        print("  did: " + ", ".join("%s %d" % kv for kv in sorted(self.counts.items())))
        out = list(getattr(self, "outcome", {}).values())
        print("  outcomes: " + ", ".join("%d %s" % (out.count(s), s)
                                         for s in th.FINAL if s in out))
        if not self.errors:
            print("  no problems found")
        for kind, ex in sorted(self.errors.items()):
            print("  PROBLEM %s (%d), e.g. %s" % (kind, len(ex), str(ex[0])[:300]))
        return not self.errors


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--trainfs", default="./trainfs")
    ap.add_argument("--jobs", type=int, default=50)
    ap.add_argument("--readers", type=int, default=32)
    ap.add_argument("--seed", type=int, default=None)
    a = ap.parse_args()
    if a.seed is None:
        a.seed = random.SystemRandom().randrange(1 << 32)
    harness.TRAINFS = os.path.abspath(a.trainfs)
    harness.cleanup_stale()
    s = Soak(a)
    ok = False
    try:
        s.run()
        ok = True
    except Exception:  # noqa: BLE001 - reported below
        import traceback
        traceback.print_exc()
        s.error("soak aborted", "see the traceback")
        print("---- trainfs log ----\n" + s.m.log()[-3000:])
    finally:
        s.stop.set()
        try:
            s.m.close()
        except AssertionError as e:
            s.error("sanitizer", str(e)[:500])
    ok = s.report() and ok
    print("soak: %s (replay: make soak SOAK_SEED=%d)" % ("passed" if ok else "FAILED", a.seed))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
