#!/usr/bin/env python3
"""A trainer shaped like a PyTorch one with DataLoader workers: the main
process forks WORKERS children (in its process group) that die at once on
SIGTERM, as DataLoader workers do; on SIGTERM the main process finishes
its epoch, checks that every worker is still alive (a real DataLoader
raises "worker (pid N) is killed by signal: Terminated" otherwise), saves
weights saying so, ends its workers itself and exits 0.

Writes $TRAINFS_OUTPUT/weights.json: {"epoch": E, "workers_alive": K}.
Args: [WORKERS] (default 2).  Standard library only.
"""
import json
import os
import signal
import sys
import time

workers = int(sys.argv[1]) if len(sys.argv) > 1 else 2
out = os.environ["TRAINFS_OUTPUT"]
metrics = os.environ["TRAINFS_METRICS"]

kids = []
for _ in range(workers):
    pid = os.fork()
    if pid == 0:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            time.sleep(0.05)
        os._exit(0)
    kids.append(pid)

stop = False


def on_term(signum, frame):
    global stop
    stop = True


signal.signal(signal.SIGTERM, on_term)
epoch = 0
while not stop and epoch < 10000:
    epoch += 1
    with open(metrics, "a") as f:
        f.write("epoch=%d loss=%g\n" % (epoch, 1.0 / epoch))
    time.sleep(0.03)
time.sleep(0.2)  # a worker killed by the stop signal is dead by now
alive = 0
for k in kids:
    pid, status = os.waitpid(k, os.WNOHANG)
    alive += pid == 0
with open(os.path.join(out, "weights.json"), "w") as f:
    json.dump({"epoch": epoch, "workers_alive": alive}, f)
for k in kids:
    try:
        os.kill(k, signal.SIGKILL)
        os.waitpid(k, 0)
    except OSError:
        pass
sys.exit(0 if alive == len(kids) else 1)
