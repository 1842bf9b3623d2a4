#!/usr/bin/python3
"""Measures pruning on the digits sweep (examples/sweep/spec) on a real
mount: the same random search (the same seed, so the same trials) run with
prune = none, median and asha, one sweep after the other, and a table of
epochs run, wall time and whether the configuration that is best without
pruning was found (its best val_loss and the val_acc at that epoch,
against the unpruned best's).

  examples/sweep/measure.py [--trainfs ./trainfs] [--trials 12]
                            [--epochs 27] [--parallel 2] [--seed 1]

It mounts trainfs on a fresh store in /tmp, unmounts it at the end and
removes the store.  Needs Debian's python3-torch and python3-sklearn.
"""
import argparse
import csv
import io
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def read(path):
    with open(path) as f:
        return f.read()


def write(path, text):
    with open(path, "w") as f:
        f.write(text)


def spec_text(trials, epochs, parallel, seed, prune):
    """examples/sweep/spec with this clone as workdir and the given keys."""
    keys = {"workdir": ROOT, "trials": trials, "epochs": epochs,
            "parallel": parallel, "seed": seed, "prune": prune}
    out = []
    for line in read(os.path.join(HERE, "spec")).splitlines():
        m = re.match(r"\s*([a-z_.]+)\s*=", line)
        if m and m.group(1) in keys:
            line = "%s = %s" % (m.group(1), keys[m.group(1)])
        out.append(line)
    return "\n".join(out) + "\n"


def trials_csv(mnt, name):
    d = os.path.join(mnt, "sweeps", name)
    return list(csv.DictReader(io.StringIO(read(os.path.join(d, "trials.csv")))))


def metric_at(mnt, job, epoch, metric):
    rows = csv.DictReader(io.StringIO(read(os.path.join(mnt, "jobs", job, "metrics"))))
    for r in rows:
        if r["epoch"] == str(epoch):
            return float(r[metric])
    return float("nan")


def run_sweep(mnt, name, text, timeout=3600):
    d = os.path.join(mnt, "sweeps", name)
    os.mkdir(d)
    write(os.path.join(d, "spec"), text)
    t0 = time.monotonic()
    write(os.path.join(d, "control"), "start\n")
    while read(os.path.join(d, "status")).split("\n", 1)[0] != "done":
        if time.monotonic() - t0 > timeout:
            raise SystemExit("sweep %s did not finish:\n%s"
                             % (name, read(os.path.join(d, "status"))))
        time.sleep(0.2)
    return time.monotonic() - t0


def best_row(rows):
    done = [r for r in rows if r["best"]]
    # ties go to the lower trial number, as the sweep's own `best` does
    return min(done, key=lambda r: (float(r["best"]), r["trial"]))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--trainfs", default=os.path.join(ROOT, "trainfs"))
    ap.add_argument("--trials", type=int, default=12)
    ap.add_argument("--epochs", type=int, default=27)
    ap.add_argument("--parallel", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="trainfs-sweep-measure-")
    mnt, store = os.path.join(tmp, "mnt"), os.path.join(tmp, "store")
    os.mkdir(mnt)
    proc = subprocess.Popen([os.path.abspath(a.trainfs), mnt, "--store", store, "-f"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(400):
            if os.path.isdir(os.path.join(mnt, "sweeps")):
                break
            time.sleep(0.05)
        else:
            raise SystemExit("trainfs did not mount")
        print("digits sweep: %d trials of random search (seed %d) over lr and "
              "width, %d epochs, parallel %d; load average %s"
              % (a.trials, a.seed, a.epochs, a.parallel,
                 read("/proc/loadavg").split()[0]))
        print()
        print("| prune | epochs run | of none | wall time | best found | "
              "its val_loss / val_acc | unpruned best's val_loss / val_acc |")
        print("| --- | --- | --- | --- | --- | --- | --- |")
        ref = None
        for prune in ("none", "median", "asha"):
            wall = run_sweep(mnt, prune, spec_text(a.trials, a.epochs,
                                                   a.parallel, a.seed, prune))
            rows = trials_csv(mnt, prune)
            run = sum(int(r["epochs_run"]) for r in rows)
            best = best_row(rows)
            acc = metric_at(mnt, best["job"], best["best_epoch"], "val_acc")
            if ref is None:
                ref = (run, best, acc)
            rbest = ref[1]
            same = (best["lr"], best["width"]) == (rbest["lr"], rbest["width"])
            # what became of the unpruned best configuration in this sweep
            fate = [r for r in rows
                    if (r["lr"], r["width"]) == (rbest["lr"], rbest["width"])][0]
            found = "yes" if same else "no (it was %s at epoch %s)" % (
                fate["reason"], fate["epochs_run"])
            print("| %s | %d | %.0f%% | %.0f s | %s: trial %s, lr=%s width=%s | "
                  "%s / %.4f | %s / %.4f |"
                  % (prune, run, 100.0 * run / ref[0], wall, found,
                     best["trial"], best["lr"], best["width"], best["best"],
                     acc, rbest["best"], ref[2]))
            sys.stdout.flush()
        print()
        print("load average at the end: %s" % read("/proc/loadavg").split()[0])
    finally:
        subprocess.run(["fusermount3", "-u", mnt], stderr=subprocess.DEVNULL)
        proc.terminate()
        proc.wait(timeout=60)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
