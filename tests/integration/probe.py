"""A probe of one job's answers while another job misbehaves: Probe(path)
reads PATH (another job's status) every 20 ms in a thread, and worst() is
its longest read so far, counting one still waiting, so a read stuck for
good shows as a growing number instead of a hung test.  background() and
settle() start and, whatever happened, reap the misbehaving side: settle
aborts wedged FUSE connections (a user's mount, then trainfs's own) so a
test always finishes.
"""
import subprocess
import threading
import time

import hangfs


class Probe:
    """Reads PATH every 20 ms in a thread until stop(); worst() is the
    longest read in seconds, counting one still waiting."""

    def __init__(self, path):
        self.path = path
        self.worst_done = 0.0
        self.started = None  # of the read under way
        self.reads = 0
        self.quit = False
        self.t = threading.Thread(target=self.loop, daemon=True)
        self.t.start()

    def loop(self):
        while not self.quit:
            self.started = time.monotonic()
            try:
                with open(self.path, "rb") as f:
                    f.read()
            except OSError:
                pass
            took = time.monotonic() - self.started
            self.started = None
            self.worst_done = max(self.worst_done, took)
            self.reads += 1
            time.sleep(0.02)

    def worst(self):
        s = self.started
        return max(self.worst_done, time.monotonic() - s if s else 0.0)

    def stop(self):
        self.quit = True
        self.t.join(timeout=2)


def background(argv, **kw):
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, **kw)


def settle(procs, m, mounts=()):
    """Cleanup: aborts each of MOUNTS (paths), then trainfs's own
    connection if a process is still stuck, then reaps PROCS."""
    for d in mounts:
        hangfs.abort(d)
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline and any(p.poll() is None for p in procs):
        time.sleep(0.05)
    if any(p.poll() is None for p in procs):
        hangfs.abort(m.mnt)
    for p in procs:
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
