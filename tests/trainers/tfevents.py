"""A small TensorBoard event file writer in the standard library alone,
for tests and examples (Debian's python3-torch has no tensorboard).

It writes what torch.utils.tensorboard's SummaryWriter and TensorFlow's
tf.summary write, by the format's definition:
- a file events.out.tfevents.TIME.HOST.PID.N in the log folder, starting
  with an Event holding file_version "brain.Event:2";
- TFRecord frames: uint64 length, uint32 masked CRC32C of the length,
  the data, uint32 masked CRC32C of the data, little-endian; masked(crc)
  = ((crc >> 15) | (crc << 17)) + 0xa282ead8 (mod 2**32);
- Event {double wall_time = 1; int64 step = 2; string file_version = 3;
  Summary summary = 5}, Summary {repeated Value value = 1}, Value {string
  tag = 1; float simple_value = 2; TensorProto tensor = 8;
  SummaryMetadata metadata = 9}, TensorProto {DataType dtype = 1
  (DT_FLOAT 1, DT_DOUBLE 2); TensorShapeProto tensor_shape = 2; repeated
  float float_val = 5 [packed]; repeated double double_val = 6 [packed]}.
Scalars go as simple_value (torch) or as a 0-d tensor with the "scalars"
plugin's metadata (TF2 / Keras).
"""
import os
import socket
import struct
import time

_POLY = 0x82F63B78
_TABLE = []
for _i in range(256):
    _c = _i
    for _ in range(8):
        _c = (_c >> 1) ^ _POLY if _c & 1 else _c >> 1
    _TABLE.append(_c)


def crc32c(data, crc=0):
    crc ^= 0xFFFFFFFF
    for b in data:
        crc = _TABLE[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def masked_crc(data):
    c = crc32c(data)
    return (((c >> 15) | (c << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def _varint(n):
    n &= (1 << 64) - 1
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _key(num, wire):
    return _varint(num << 3 | wire)


def _len_field(num, data):
    return _key(num, 2) + _varint(len(data)) + data


def scalar_value(tag, value, tensor=False, double=False):
    """A Summary.Value holding one scalar."""
    v = _len_field(1, tag.encode())
    if not tensor:
        return v + _key(2, 5) + struct.pack("<f", value)
    if double:
        t = _key(1, 0) + _varint(2) + _len_field(2, b"") + \
            _len_field(6, struct.pack("<d", value))
    else:
        t = _key(1, 0) + _varint(1) + _len_field(2, b"") + \
            _len_field(5, struct.pack("<f", value))
    meta = _len_field(1, _len_field(1, b"scalars"))
    return v + _len_field(8, t) + _len_field(9, meta)


def event(step, values=(), file_version=None, wall_time=None):
    e = _key(1, 1) + struct.pack("<d", wall_time or time.time())
    if step:  # proto3 leaves a default value out, as TensorFlow does
        e += _key(2, 0) + _varint(step)
    if file_version:
        e += _len_field(3, file_version.encode())
    if values:
        e += _len_field(5, b"".join(_len_field(1, v) for v in values))
    return e


def frame(data, bad_crc=False):
    head = struct.pack("<Q", len(data))
    crc = masked_crc(data) ^ (1 if bad_crc else 0)
    return head + struct.pack("<I", masked_crc(head)) + data + \
        struct.pack("<I", crc)


class Writer:
    """One event file in LOGDIR, written frame by frame and flushed."""

    def __init__(self, logdir, n=0):
        os.makedirs(logdir, exist_ok=True)
        name = "events.out.tfevents.%d.%s.%d.%d" % (
            time.time(), socket.gethostname(), os.getpid(), n)
        self.path = os.path.join(logdir, name)
        self.f = open(self.path, "ab")
        self.frame(event(0, file_version="brain.Event:2"))

    def raw(self, data):
        self.f.write(data)
        self.f.flush()

    def frame(self, data, bad_crc=False, partial=False):
        fr = frame(data, bad_crc)
        self.raw(fr[:len(fr) - 3] if partial else fr)

    def scalar(self, tag, value, step, tensor=False, double=False,
               partial=False):
        self.frame(event(step, [scalar_value(tag, value, tensor, double)]),
                   partial=partial)

    def close(self):
        self.f.close()
