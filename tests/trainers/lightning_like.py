#!/usr/bin/env python3
"""A trainer in the shape of PyTorch Lightning with its CSVLogger and
ModelCheckpoint(save_top_k=-1), for the tests of trainfs'
`checkpoints_from` key: it knows nothing of trainfs but what a user puts
on its command line.

Like Lightning 2.x it counts epochs from 0 and writes, in its working
folder, lightning_logs/version_0/metrics.csv (a training row and a
validation row per epoch, each with the other's cells empty) and
lightning_logs/version_0/checkpoints/epoch=E-step=S.ckpt at the end of
each epoch.  With --ckpt_path (Trainer.fit(ckpt_path=...)) it loads that
file and goes on with the epoch after the one saved in it.

Flags:
  --epochs N        epochs to run in all (default 5)
  --epoch-ms MS     wall time per epoch (default 20)
  --steps N         optimizer steps per epoch (default 10)
  --values V,...    val_loss of epochs 0, 1, ...; the last repeats
  --fail-at E       exit 3 after epoch E's checkpoint
  --ckpt_path PATH  resume from this checkpoint
  --metrics-file F  also append "epoch=E val_loss=V" lines to F (for tests
                    that read metrics without metrics_from)
"""
import argparse
import os
import sys
import time


def save(path, data):
    with open(path + ".tmp", "wb") as f:
        f.write(data)
    os.replace(path + ".tmp", path)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--epoch-ms", type=float, default=20)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--values", default="")
    ap.add_argument("--fail-at", type=int)
    ap.add_argument("--ckpt_path")
    ap.add_argument("--metrics-file")
    a = ap.parse_args()
    values = [float(v) for v in a.values.split(",") if v]
    log = os.path.join("lightning_logs", "version_0")
    ckdir = os.path.join(log, "checkpoints")
    os.makedirs(ckdir, exist_ok=True)
    first = 0
    if a.ckpt_path:
        with open(a.ckpt_path) as f:
            first = int(f.read().split()[1]) + 1
        print("resumed from %s at epoch %d" % (a.ckpt_path, first), flush=True)
    csv_path = os.path.join(log, "metrics.csv")
    new = not os.path.exists(csv_path)
    csv = open(csv_path, "a")
    if new:
        csv.write("epoch,step,train_loss,val_loss\n")
    for e in range(first, a.epochs):
        time.sleep(a.epoch_ms / 1000)
        step = (e + 1) * a.steps - 1
        v = values[min(e, len(values) - 1)] if values else 1 / (e + 1)
        csv.write("%d,%d,%.4f,\n" % (e, step, 2 * v))
        csv.write("%d,%d,,%.4f\n" % (e, step, v))
        csv.flush()
        if a.metrics_file:
            with open(a.metrics_file, "a") as f:
                f.write("epoch=%d val_loss=%r\n" % (e, v))
        save(os.path.join(ckdir, "epoch=%d-step=%d.ckpt" % (e, step)),
             ("epoch %d step %d val_loss %r\n" % (e, step, v)).encode())
        print("Epoch %d: val_loss %.4f" % (e, v), flush=True)
        if a.fail_at is not None and e == a.fail_at:
            sys.exit(3)


if __name__ == "__main__":
    main()
