"""The data and model the digits examples share, with no trainfs in it.

Data: scikit-learn's digits (1,797 8x8 images, 10 classes, shipped inside
Debian's python3-sklearn, no download), split 80/20 with a fixed seed.
Model: a small MLP (64 -> WIDTH -> 10, WIDTH 128 by default).
"""
import gzip
import importlib.util
import os

import torch
from torch import nn
from torch.utils.data import TensorDataset

SPLIT_SEED = 20261130


def digits():
    """(pixels, labels) as float and long tensors, read straight from the
    file python3-sklearn ships (importing scikit-learn costs seconds)."""
    spec = importlib.util.find_spec("sklearn")
    for d in (spec.submodule_search_locations or []) if spec else []:
        path = os.path.join(d, "datasets", "data", "digits.csv.gz")
        if os.path.exists(path):
            with gzip.open(path, "rt") as f:
                rows = [[float(v) for v in l.split(",")] for l in f if l.strip()]
            t = torch.tensor(rows)
            return t[:, :-1], t[:, -1].long()
    from sklearn.datasets import load_digits
    d = load_digits()
    return torch.tensor(d.data, dtype=torch.float32), torch.tensor(d.target)


def split():
    """(train, val) TensorDatasets: pixels scaled to [0, 1], a fixed split."""
    x, y = digits()
    x = x / 16.0
    perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(SPLIT_SEED))
    n = int(len(x) * 0.8)
    return TensorDataset(x[perm[:n]], y[perm[:n]]), TensorDataset(x[perm[n:]], y[perm[n:]])


def model(width=128):
    return nn.Sequential(nn.Linear(64, width), nn.ReLU(), nn.Linear(width, 10))


def train_epoch(net, opt, loader):
    """One pass over LOADER; the mean training loss."""
    net.train()
    total, n = 0.0, 0
    for x, y in loader:
        opt.zero_grad()
        loss = nn.functional.cross_entropy(net(x), y)
        loss.backward()
        opt.step()
        total += loss.item() * len(y)
        n += len(y)
    return total / n


def evaluate(net, val):
    """(val_loss, val_acc) of NET on VAL."""
    net.eval()
    x, y = val.tensors
    with torch.no_grad():
        out = net(x)
        return (nn.functional.cross_entropy(out, y).item(),
                (out.argmax(1) == y).float().mean().item())
