"""A FUSE filesystem that never answers: `python3 hangfs.py DIR` mounts on
DIR through a raw /dev/fuse descriptor, answers the kernel's INIT, prints
"ready" and then answers nothing, so every later request on DIR waits
until the connection is aborted (/sys/fs/fuse/connections/N/abort) or
this process dies.  It stands for a user's own FUSE mount that is stopped
(SIGSTOP) or hung, planted where trainfs reads a trainer's files.

Helpers for the tests: hang_mount(dir) starts one and returns its
process; fuse_conn(dir) is the connection number N of the mount at DIR
(read from /proc/self/mountinfo, never by asking the mount); abort(dir)
aborts it and detaches it.
"""
import ctypes
import os
import struct
import subprocess
import sys
import time

FUSE_INIT = 26
MS_NOSUID, MS_NODEV = 2, 4
MNT_DETACH = 2


def serve(target):
    fd = os.open("/dev/fuse", os.O_RDWR)
    libc = ctypes.CDLL(None, use_errno=True)
    opts = "fd=%d,rootmode=40000,user_id=0,group_id=0,allow_other" % fd
    if libc.mount(b"hangfs", target.encode(), b"fuse.hangfs",
                  MS_NOSUID | MS_NODEV, opts.encode()) != 0:
        e = ctypes.get_errno()
        sys.exit("hangfs: cannot mount on '%s': %s" % (target, os.strerror(e)))
    req = os.read(fd, 1 << 20)
    _, opcode, unique = struct.unpack_from("<IIQ", req)
    assert opcode == FUSE_INIT, opcode
    # fuse_init_out: major 7, minor 31, max_readahead, flags,
    # max_background, congestion_threshold, max_write, time_gran, ...
    body = struct.pack("<IIIIHHIIHHI7I", 7, 31, 0, 0, 12, 10, 4096, 1,
                       0, 0, 0, *([0] * 7))
    os.write(fd, struct.pack("<IiQ", 16 + len(body), 0, unique) + body)
    print("ready", flush=True)
    while True:  # holds the descriptor: the mount stays, answering nothing
        time.sleep(3600)


def fuse_conn(target):
    """The FUSE connection number of the mount at TARGET, or None."""
    target = os.path.abspath(target)
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            mnt = fields[4].replace("\\040", " ")
            if mnt == target:
                return int(fields[2].split(":")[1])
    return None


def fusectl():
    """/sys/fs/fuse/connections, mounted first if it is not."""
    d = "/sys/fs/fuse/connections"
    if not os.path.ismount(d):
        subprocess.run(["mount", "-t", "fusectl", "none", d],
                       stderr=subprocess.DEVNULL)
    return d


def abort(target):
    """Aborts the FUSE connection at TARGET (if any) and detaches it.  The
    number is read again here: a number freed by an earlier abort may
    already belong to another mount."""
    d = fusectl()
    n = fuse_conn(target)
    if n is None:
        return
    try:
        with open("%s/%d/abort" % (d, n), "w") as f:
            f.write("1")
    except OSError:
        pass
    libc = ctypes.CDLL(None, use_errno=True)
    libc.umount2(os.path.abspath(target).encode(), MNT_DETACH)


def hang_mount(target):
    """Mounts a hangfs on TARGET; returns its process (kill it after abort)."""
    p = subprocess.Popen([sys.executable, os.path.abspath(__file__), target],
                         stdout=subprocess.PIPE, text=True)
    line = p.stdout.readline()
    if line.strip() != "ready":
        p.kill()
        p.wait()
        raise AssertionError("hangfs did not mount on %s" % target)
    return p


if __name__ == "__main__":
    serve(sys.argv[1])
