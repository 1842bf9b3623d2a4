#!/usr/bin/env python3
"""The sweeps' figures on a real mount: the same random search (one seed)
run with prune = none, median and asha through trainfs, with real trainer
processes (tests/trainers/curve_trainer.py, the synthetic family of
tests/bench/sweep_sim.c), `parallel` at a time.  For each: epochs run,
wall time, and whether the configuration that is best without pruning was
found (its final value against the unpruned best's).

  sweep_bench.py --trainfs ./trainfs [--trials 27] [--epochs 27]
                 [--epoch-ms 30] [--parallel 2] [--seed 1]
"""
import argparse
import csv
import io
import os
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CURVE = os.path.join(ROOT, "tests", "trainers", "curve_trainer.py")

SPEC = """command = /usr/bin/python3 {curve} --lr {{lr}} --width {{width}} --epoch-ms {ms}
monitor = val_loss
mode = min
epochs = {epochs}
param.lr = loguniform(1e-4, 1e-1)
param.width = int(8, 64)
trials = {trials}
seed = {seed}
parallel = {parallel}
prune = {prune}
{extra}"""


def read(path):
    with open(path) as f:
        return f.read()


def write(path, text):
    with open(path, "w") as f:
        f.write(text)


def run_sweep(mnt, name, a, prune, extra=""):
    d = os.path.join(mnt, "sweeps", name)
    os.mkdir(d)
    write(os.path.join(d, "spec"), SPEC.format(
        curve=CURVE, ms=a.epoch_ms, epochs=a.epochs, trials=a.trials,
        seed=a.seed, parallel=a.parallel, prune=prune, extra=extra))
    t0 = time.monotonic()
    write(os.path.join(d, "control"), "start\n")
    deadline = t0 + 1800
    while read(os.path.join(d, "status")).split("\n", 1)[0] != "done":
        if time.monotonic() > deadline:
            raise SystemExit("sweep %s did not finish" % name)
        time.sleep(0.1)
    wall = time.monotonic() - t0
    rows = list(csv.DictReader(io.StringIO(read(os.path.join(d, "trials.csv")))))
    run = sum(int(r["epochs_run"]) for r in rows)
    best = min((r for r in rows if r["best"]), key=lambda r: float(r["best"]))
    return run, wall, best


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--trainfs", default=os.path.join(ROOT, "trainfs"))
    p.add_argument("--trials", type=int, default=27)
    p.add_argument("--epochs", type=int, default=27)
    p.add_argument("--epoch-ms", type=int, default=30)
    p.add_argument("--parallel", type=int, default=2)
    p.add_argument("--seed", type=int, default=1)
    a = p.parse_args()
    tmp = tempfile.mkdtemp(prefix="trainfs-bench-sweeps-")
    mnt, store = os.path.join(tmp, "mnt"), os.path.join(tmp, "store")
    os.mkdir(mnt)
    proc = subprocess.Popen([a.trainfs, mnt, "--store", store, "-f"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(200):
            if os.path.isdir(os.path.join(mnt, "sweeps")):
                break
            time.sleep(0.05)
        print("sweeps on trainfs: %d trials of random search (seed %d), %d "
              "epochs of %d ms, parallel %d" % (a.trials, a.seed, a.epochs,
                                                a.epoch_ms, a.parallel))
        print("%-22s %10s %8s %9s  %s" % ("prune", "epochs", "of none",
                                          "wall (s)", "best found"))
        ref = None
        for name, prune, extra in (("none", "none", ""),
                                   ("median", "median", ""),
                                   ("asha", "asha", ""),
                                   ("asha-3", "asha", "prune.min_epochs = 3\n")):
            run, wall, best = run_sweep(mnt, name, a, prune, extra)
            if ref is None:
                ref = (run, best)
            same = (best["lr"], best["width"]) == (ref[1]["lr"], ref[1]["width"])
            label = prune + (" (min_epochs 3)" if extra else "")
            print("%-22s %10d %7.0f%% %9.1f  %s (lr=%s width=%s val_loss %s; "
                  "unpruned best %s)" % (label, run, 100.0 * run / ref[0], wall,
                                         "yes" if same else "no", best["lr"],
                                         best["width"], best["best"],
                                         ref[1]["best"]))
            sys.stdout.flush()
    finally:
        subprocess.run(["fusermount3", "-u", mnt], stderr=subprocess.DEVNULL)
        proc.terminate()
        proc.wait(timeout=30)
        subprocess.run(["pkill", "-f", store], stderr=subprocess.DEVNULL)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
