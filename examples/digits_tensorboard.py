#!/usr/bin/python3
"""A plain PyTorch trainer that logs to TensorBoard, and knows nothing of
trainfs.

Debian's python3-torch comes without the tensorboard package, so this
script writes the event files itself, as torch.utils.tensorboard's
SummaryWriter does: RUNDIR/events.out.tfevents.TIME.HOST.PID, a sequence
of TFRecord frames (a little-endian uint64 length, its masked CRC-32C,
the data, the data's masked CRC-32C), each holding an Event protocol
buffer: the first with file_version "brain.Event:2", then one per scalar
with wall_time, step (the epoch, counted from 0) and a Summary whose value
has a tag and a simple_value.  Scalars go, as Keras' TensorBoard callback
puts them, to RUNDIR/train (epoch_loss) and RUNDIR/validation (epoch_loss,
epoch_accuracy).  The best model so far is saved as best.pt.

Under trainfs, with no change (Debian's torch is for /usr/bin/python3):

    command = /usr/bin/python3 examples/digits_tensorboard.py
    workdir = /path/to/a/folder/of/its/own
    epochs  = 30
    metrics_from = logs
    monitor = validation/epoch_loss
    mode    = min
    patience = 5
    weights = best.pt
"""
import argparse
import os
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch  # noqa: E402
from torch.utils.data import DataLoader  # noqa: E402

import digits_data  # noqa: E402


def _crc32c_table():
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_TABLE = _crc32c_table()


def crc32c(data):
    """CRC-32C (Castagnoli), as TFRecord uses: crc32c(b"123456789") is
    0xE3069283."""
    c = 0xFFFFFFFF
    for b in data:
        c = _TABLE[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def masked_crc(data):
    c = crc32c(data)
    return ((((c >> 15) | (c << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def field(number, wire, payload):
    """One protocol buffer field: its key, then PAYLOAD as the wire type says."""
    key = varint(number << 3 | wire)
    if wire == 2:
        return key + varint(len(payload)) + payload
    return key + payload


def event(step=0, tag=None, value=None, version=None):
    """An Event message: wall_time (1, double), step (2, int64),
    file_version (3, string) or summary (5: Summary, whose value (1) holds
    tag (1, string) and simple_value (2, float))."""
    msg = field(1, 1, struct.pack("<d", time.time())) + field(2, 0, varint(step))
    if version:
        return msg + field(3, 2, version.encode())
    v = field(1, 2, tag.encode()) + field(2, 5, struct.pack("<f", value))
    return msg + field(5, 2, field(1, 2, v))


class EventWriter:
    def __init__(self, folder):
        os.makedirs(folder, exist_ok=True)
        name = "events.out.tfevents.%d.%s.%d.0" % (time.time(), socket.gethostname(),
                                                   os.getpid())
        self.f = open(os.path.join(folder, name), "ab")
        self.write(event(version="brain.Event:2"))

    def write(self, data):
        head = struct.pack("<Q", len(data))
        self.f.write(head + struct.pack("<I", masked_crc(head)) + data +
                     struct.pack("<I", masked_crc(data)))
        self.f.flush()

    def scalar(self, tag, value, step):
        self.write(event(step, tag, value))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--lr", type=float, default=1e-2)
    ap.add_argument("--logdir", default="logs")
    ap.add_argument("--epoch-sleep", type=float, default=0.0)
    a = ap.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(1)
    train, val = digits_data.split()
    net = digits_data.model()
    opt = torch.optim.Adam(net.parameters(), lr=a.lr)
    loader = DataLoader(train, batch_size=128, shuffle=True,
                        generator=torch.Generator().manual_seed(1))
    tw = EventWriter(os.path.join(a.logdir, "train"))
    vw = EventWriter(os.path.join(a.logdir, "validation"))
    best = None
    for epoch in range(a.epochs):
        loss = digits_data.train_epoch(net, opt, loader)
        val_loss, val_acc = digits_data.evaluate(net, val)
        if best is None or val_loss < best:
            best = val_loss
            torch.save(net.state_dict(), ".best.pt.part")
            os.replace(".best.pt.part", "best.pt")
        tw.scalar("epoch_loss", loss, epoch)
        vw.scalar("epoch_loss", val_loss, epoch)
        vw.scalar("epoch_accuracy", val_acc, epoch)
        print("Epoch %d/%d loss %.4f val_loss %.4f val_accuracy %.4f"
              % (epoch + 1, a.epochs, loss, val_loss, val_acc), flush=True)
        if a.epoch_sleep:
            time.sleep(a.epoch_sleep)


if __name__ == "__main__":
    main()
