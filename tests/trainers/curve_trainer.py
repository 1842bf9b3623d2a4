#!/usr/bin/env python3
"""A trainer whose learning curve is known: the sweeps' tests and benchmark.

  curve_trainer.py --final F --tau T [--epochs N] [--epoch-ms MS] [--metric M]
  curve_trainer.py --lr LR --width W [...]

Epoch e (1, 2, ...) reports M = F + exp(-e / T) (a loss: lower is better),
so a configuration with a low F but a large T starts behind and ends ahead:
the case pruning must not get wrong.  With --lr and --width, F and T come
from the synthetic benchmark's family (tests/bench/sweep_sim.c): with
x = log10(lr), T = 1 + 2 (-x - 1) / 3 and F = 0.1 + 0.15 (x + 2.5)^2 +
0.1 ((W - 40) / 24)^2: a high learning rate learns fast and ends worse.  Each epoch saves TRAINFS_OUTPUT/
weights.txt; SIGTERM (a stop, or pruning) ends the epoch and exits 0.
Python's standard library only, so it runs as any user.
"""
import argparse
import math
import os
import signal
import sys
import time

stop = False


def on_term(signum, frame):
    global stop
    stop = True


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--final", type=float)
    p.add_argument("--tau", type=float)
    p.add_argument("--lr", type=float)
    p.add_argument("--width", type=float)
    p.add_argument("--epochs", type=int, default=0)
    p.add_argument("--epoch-ms", type=float, default=20.0)
    p.add_argument("--metric", default="val_loss")
    a = p.parse_args()
    if a.lr is not None:
        x = math.log10(a.lr)
        a.tau = 1 + 2 * (-x - 1) / 3
        a.final = (0.1 + 0.15 * (x + 2.5) ** 2
                   + 0.1 * ((a.width - 40) / 24) ** 2)
    if a.final is None or a.tau is None:
        p.error("--final and --tau, or --lr and --width, are required")
    signal.signal(signal.SIGTERM, on_term)
    epochs = a.epochs or int(os.environ.get("TRAINFS_EPOCHS", "10"))
    out = os.environ["TRAINFS_OUTPUT"]
    fd = os.open(os.environ["TRAINFS_METRICS"],
                 os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    for e in range(1, epochs + 1):
        v = a.final + math.exp(-e / a.tau)
        with open(os.path.join(out, "weights.txt"), "w") as f:
            f.write("epoch %d %s=%r\n" % (e, a.metric, v))
        os.write(fd, ("epoch=%d %s=%r\n" % (e, a.metric, v)).encode())
        end = time.monotonic() + a.epoch_ms / 1000.0
        while not stop and time.monotonic() < end:
            time.sleep(min(0.005, max(0.0, end - time.monotonic())))
        if stop:
            break
    return 0


if __name__ == "__main__":
    sys.exit(main())
