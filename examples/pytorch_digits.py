#!/usr/bin/python3
"""A real PyTorch trainer for trainfs: handwritten digits, in seconds.

Data: scikit-learn's digits (1,797 8x8 images, 10 classes; shipped inside
Debian's python3-sklearn, no download), split 80/20 with a fixed seed.
Model: a small MLP (64 -> WIDTH -> 10, WIDTH 128 by default), Adam (lr
0.01 by default), batches of 128, a DataLoader with 2 workers.

It uses python/trainfs.py, so under trainfs it:
  - reports `loss`, `val_loss` and `val_acc` every epoch (TRAINFS_METRICS);
  - then saves a checkpoint folder epoch-N (TRAINFS_CHECKPOINTS) holding
    model.pt (the model's state_dict: the weights users load) and
    train_state.pt (optimizer, random generators, epoch: what resume needs);
  - resumes from TRAINFS_RESUME_FROM / TRAINFS_RESUME_EPOCH, takes its target
    from TRAINFS_EPOCHS, stops cleanly on SIGTERM or the stop file;
  - writes its last weights to TRAINFS_OUTPUT/model.pt as well.

A spec for it (Debian's torch is for /usr/bin/python3):

    command  = /usr/bin/python3 examples/pytorch_digits.py
    workdir  = /path/to/trainfs
    epochs   = 30
    monitor  = val_loss
    mode     = min
    patience = 5

By hand, without trainfs: `/usr/bin/python3 examples/pytorch_digits.py`
(nothing is checkpointed unless TRAINFS_CHECKPOINTS is set).

    --lr LR           Adam's learning rate (default: TRAINFS_PARAM_lr, else 0.01)
    --width N         the hidden layer's width (default: TRAINFS_PARAM_width,
                      else 128); examples/sweep/ searches over both
    --score FOLDER    loads FOLDER/model.pt (any width), prints
                      {"val_acc": ..., "val_loss": ...}
    --fail-at N       exits 3 right after reporting and checkpointing epoch N
                      (for tests of failed jobs and resume)
"""
import argparse
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "python"))
import trainfs  # noqa: E402  (by path: the repository's python/ folder)

# Install the stop handler before the slow imports: a stop may come early.
trainfs.install_stop_handler()

import torch  # noqa: E402
from torch.utils.data import DataLoader  # noqa: E402

# The data, the model and one epoch, shared with the examples that have no
# trainfs code in them.
from digits_data import evaluate, model, split as data, train_epoch  # noqa: E402


def score(folder):
    _, val = data()
    state = torch.load(os.path.join(folder, "model.pt"))
    net = model(state["0.weight"].shape[0])  # the width the weights have
    net.load_state_dict(state)
    net.eval()
    loss, acc = evaluate(net, val)
    print(json.dumps({"val_loss": loss, "val_acc": acc}))


def save_checkpoint(folder, net, opt, gen, epoch):
    torch.save(net.state_dict(), os.path.join(folder, "model.pt"))
    torch.save({"optimizer": opt.state_dict(), "torch_rng": torch.get_rng_state(),
                "loader_rng": gen.get_state(), "epoch": epoch},
               os.path.join(folder, "train_state.pt"))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--epochs", type=int, default=30,
                    help="target epochs when TRAINFS_EPOCHS is not set")
    # A sweep's trial gets its values as TRAINFS_PARAM_lr and
    # TRAINFS_PARAM_width (and in its command, where the spec puts {lr}).
    ap.add_argument("--lr", type=float,
                    default=float(os.environ.get("TRAINFS_PARAM_lr", 1e-2)))
    ap.add_argument("--width", type=int,
                    default=int(os.environ.get("TRAINFS_PARAM_width", 128)))
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--epoch-sleep", type=float, default=0.0,
                    help="seconds to sleep after each epoch (slower, for tests)")
    ap.add_argument("--fail-at", type=int, default=0)
    ap.add_argument("--score", metavar="FOLDER")
    a = ap.parse_args()
    torch.set_num_threads(1)  # small model: threads cost more than they give
    if a.score:
        return score(a.score)

    torch.manual_seed(a.seed)
    train, val = data()
    net = model(a.width)
    opt = torch.optim.Adam(net.parameters(), lr=a.lr)
    gen = torch.Generator().manual_seed(a.seed)
    start = 1
    rp = trainfs.resume_point()
    if rp:
        folder, epoch = rp
        net.load_state_dict(torch.load(os.path.join(folder, "model.pt")))
        st = torch.load(os.path.join(folder, "train_state.pt"))
        opt.load_state_dict(st["optimizer"])
        torch.set_rng_state(st["torch_rng"])
        gen.set_state(st["loader_rng"])
        start = epoch + 1
        print("resumed from %s: epoch %d" % (folder, epoch), flush=True)
    loader = DataLoader(train, batch_size=a.batch, shuffle=True, generator=gen,
                        num_workers=a.workers, persistent_workers=a.workers > 0)
    target = trainfs.target_epochs(a.epochs)
    out = trainfs.output_dir()
    t0 = time.monotonic()
    for epoch in range(start, target + 1):
        loss = train_epoch(net, opt, loader)
        val_loss, val_acc = evaluate(net, val)
        trainfs.report(epoch, loss=loss, val_loss=val_loss, val_acc=val_acc)
        with trainfs.checkpoint(epoch) as folder:
            save_checkpoint(folder, net, opt, gen, epoch)
        print("epoch %d/%d loss %.4f val_loss %.4f val_acc %.4f (%.1fs)"
              % (epoch, target, loss, val_loss, val_acc,
                 time.monotonic() - t0), flush=True)
        if epoch == a.fail_at:
            print("failing on purpose at epoch %d" % epoch, flush=True)
            sys.exit(3)
        if trainfs.stop_requested():
            print("stop requested after epoch %d" % epoch, flush=True)
            break
        if a.epoch_sleep:
            time.sleep(a.epoch_sleep)
    torch.save(net.state_dict(), os.path.join(out, "model.pt"))


if __name__ == "__main__":
    main()
