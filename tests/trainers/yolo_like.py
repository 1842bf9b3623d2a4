#!/usr/bin/env python3
"""A trainer in the shape of Ultralytics YOLO (`yolo train`), for the
tests of trainfs' `weights` and `metrics_from` keys: it knows nothing of
trainfs.

Like Ultralytics 8.x it writes, in its working folder,
runs/detect/train/results.csv (a header with Ultralytics' column names,
then one row per epoch, counted from 1, appended and flushed as each epoch
ends) and runs/detect/train/weights/last.pt every epoch and best.pt
whenever mAP50-95 improves.  It installs no signal handler: SIGTERM kills
it (the default action), as it kills `yolo train`.

Flags:
  --epochs N       epochs to run (default 5)
  --forever        never finish
  --epoch-ms MS    wall time per epoch (default 20)
  --values V,...   metrics/mAP50-95(B) of epochs 1, 2, ...; the last repeats
  --replay CSV     take the rows (header included) from a real results.csv
                   instead, one per epoch
  --pad            pad names and values with spaces, as Ultralytics before
                   8.1 did
"""
import argparse
import os
import time

COLUMNS = ["epoch", "train/box_loss", "train/cls_loss", "train/dfl_loss",
           "metrics/precision(B)", "metrics/recall(B)", "metrics/mAP50(B)",
           "metrics/mAP50-95(B)", "val/box_loss", "val/cls_loss",
           "val/dfl_loss", "lr/pg0", "lr/pg1", "lr/pg2"]


def save(path, data):
    """torch.save's result appears whole (written aside, then renamed)."""
    with open(path + ".tmp", "wb") as f:
        f.write(data)
    os.replace(path + ".tmp", path)


def synthetic_rows(values, epochs, forever):
    e = 0
    while forever or e < epochs:
        e += 1
        m = values[min(e, len(values)) - 1] if values else 1 - 1 / (e + 1)
        yield [str(e), "%.5f" % (1.5 / e), "%.5f" % (2.0 / e), "%.5f" % (1.2 / e),
               "%.5f" % (m + 0.1), "%.5f" % (m + 0.05), "%.5f" % (m + 0.2),
               "%.5f" % m, "%.5f" % (1.4 / e), "%.5f" % (1.9 / e),
               "%.5f" % (1.1 / e), "0.00033", "0.00033", "0.00033"]


def replay_rows(path):
    with open(path) as f:
        lines = [l.rstrip("\r\n") for l in f if l.strip()]
    return [c.strip() for c in lines[0].split(",")], \
        [[c.strip() for c in l.split(",")] for l in lines[1:]]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--forever", action="store_true")
    ap.add_argument("--epoch-ms", type=float, default=20)
    ap.add_argument("--values", default="")
    ap.add_argument("--replay")
    ap.add_argument("--pad", action="store_true")
    a = ap.parse_args()
    run = os.path.join("runs", "detect", "train")
    os.makedirs(os.path.join(run, "weights"), exist_ok=True)
    if a.replay:
        header, rows = replay_rows(a.replay)
    else:
        header = COLUMNS
        rows = synthetic_rows([float(v) for v in a.values.split(",") if v],
                              a.epochs, a.forever)
    col = header.index("metrics/mAP50-95(B)")
    width = 25 if a.pad else 0
    csv = open(os.path.join(run, "results.csv"), "w")
    csv.write(",".join(h.rjust(width) for h in header) + "\n")
    csv.flush()
    best = None
    for row in rows:
        time.sleep(a.epoch_ms / 1000)
        e, m = int(float(row[0])), float(row[col])
        weights = ("epoch %d mAP50-95 %s\n" % (e, row[col])).encode()
        save(os.path.join(run, "weights", "last.pt"), weights)
        if best is None or m > best:
            best = m
            save(os.path.join(run, "weights", "best.pt"), weights)
        csv.write(",".join(v.rjust(width) for v in row) + "\n")
        csv.flush()
        print("epoch %d/%s mAP50-95 %s" % (e, a.epochs, row[col]), flush=True)
    csv.close()


if __name__ == "__main__":
    main()
