#!/usr/bin/python3
"""A plain PyTorch trainer that logs as PyTorch Lightning does, and knows
nothing of trainfs.

It writes what Lightning's CSVLogger and ModelCheckpoint(save_top_k=-1)
write, in its working folder:
  lightning_logs/version_0/metrics.csv   a header, then per epoch (counted
      from 0) a training row (epoch, step, train_loss) and a validation row
      (epoch, step, val_acc, val_loss), each with the other's cells empty
  lightning_logs/version_0/checkpoints/epoch=E-step=S.ckpt   each epoch
and resumes like Trainer.fit(ckpt_path=...) with --ckpt_path.  SIGTERM
kills it (no handler), as it kills most training scripts.

Under trainfs, with no change (Debian's torch is for /usr/bin/python3):

    command = /usr/bin/python3 examples/digits_csvlogger.py ${TRAINFS_RESUME_FROM:+--ckpt_path "$TRAINFS_RESUME_FROM"}
    workdir = /path/to/a/folder/of/its/own
    epochs  = 30
    metrics_from = lightning_logs/version_0/metrics.csv
    monitor = val_loss
    mode    = min
    patience = 5
    checkpoints_from = lightning_logs/version_0/checkpoints/epoch={epoch}-step=*.ckpt
"""
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch  # noqa: E402
from torch.utils.data import DataLoader  # noqa: E402

import digits_data  # noqa: E402

COLUMNS = ["epoch", "step", "train_loss", "val_acc", "val_loss"]


def row(**cells):
    return ",".join(("%g" % cells[c]) if c in cells else "" for c in COLUMNS) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--lr", type=float, default=1e-2)
    ap.add_argument("--epoch-sleep", type=float, default=0.0)
    ap.add_argument("--ckpt_path")
    a = ap.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(1)
    train, val = digits_data.split()
    net = digits_data.model()
    opt = torch.optim.Adam(net.parameters(), lr=a.lr)
    first, step = 0, 0
    if a.ckpt_path:
        ck = torch.load(a.ckpt_path)
        net.load_state_dict(ck["state_dict"])
        opt.load_state_dict(ck["optimizer_states"][0])
        first, step = ck["epoch"] + 1, ck["global_step"]
        print("Restoring states from the checkpoint path at %s" % a.ckpt_path, flush=True)
    log = os.path.join("lightning_logs", "version_0")
    ckdir = os.path.join(log, "checkpoints")
    os.makedirs(ckdir, exist_ok=True)
    path = os.path.join(log, "metrics.csv")
    fresh = not a.ckpt_path or not os.path.exists(path)
    csv = open(path, "w" if fresh else "a")
    if fresh:
        csv.write(",".join(COLUMNS) + "\n")
    loader = DataLoader(train, batch_size=128, shuffle=True,
                        generator=torch.Generator().manual_seed(first))
    for epoch in range(first, a.epochs):
        loss = digits_data.train_epoch(net, opt, loader)
        step += len(loader)
        val_loss, val_acc = digits_data.evaluate(net, val)
        csv.write(row(epoch=epoch, step=step - 1, train_loss=loss))
        csv.write(row(epoch=epoch, step=step - 1, val_acc=val_acc, val_loss=val_loss))
        csv.flush()
        name = "epoch=%d-step=%d.ckpt" % (epoch, step)
        torch.save({"epoch": epoch, "global_step": step, "state_dict": net.state_dict(),
                    "optimizer_states": [opt.state_dict()]},
                   os.path.join(ckdir, "." + name + ".part"))
        os.replace(os.path.join(ckdir, "." + name + ".part"), os.path.join(ckdir, name))
        print("Epoch %d: train_loss %.4f val_loss %.4f val_acc %.4f"
              % (epoch, loss, val_loss, val_acc), flush=True)
        if a.epoch_sleep:
            time.sleep(a.epoch_sleep)


if __name__ == "__main__":
    main()
