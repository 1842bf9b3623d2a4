#!/usr/bin/env python3
"""Scriptable fake trainer for the trainfs tests.

Run as ``python3 tests/trainers/trainer.py [FLAGS]`` in a trainfs job (the
spec's ``command``).  Python 3 standard library only; it writes nothing but
``$TRAINFS_OUTPUT`` and ``$TRAINFS_METRICS`` and needs no HOME, so it runs
under /usr/bin/python3 as any user, nobody included.

Environment (trainfs(1), the trainer's side):
  TRAINFS_OUTPUT     required: where weights.bin and ckpt/ are written
  TRAINFS_METRICS    required: one metrics line per epoch is appended here,
                     each with a single os.write() on an O_APPEND descriptor
  TRAINFS_STOP_FILE  polled each epoch (and while sleeping) with --poll-stop
  TRAINFS_JOB        only echoed by --print and --report
  TRAINFS_CHECKPOINTS  where --checkpoint-every writes epoch-E folders
                     (and --orphan-checkpoint, --tmp-checkpoint, --plant-link
                     plant theirs); required by those flags
  TRAINFS_RESUME_FROM, TRAINFS_RESUME_EPOCH  when set (a resume), the
                     folder's epoch.txt must say that epoch; training goes
                     on with epoch N+1 ("resumed from epoch N" on stdout)
  TRAINFS_EPOCHS     the target epochs, with --target-from-env
A missing TRAINFS_OUTPUT or TRAINFS_METRICS is an error (exit 2), so a
supervisor that forgets them is caught.

Each epoch E (1, 2, ...; N+1, ... after a resume from N): compute the
values, write the checkpoint if --save each, append the metrics line (after
any bad lines due), write TRAINFS_CHECKPOINTS/epoch-E if --checkpoint-every
says so, print with --print, exit 3 if --fail-at E, then sleep out the rest
of --epoch-ms.  A stop request (a signal
under --on-term save, or the stop file under --poll-stop) is acted on at
the end of the current epoch or at once while sleeping: the checkpoint is
written (whatever --save says), "stop requested: saved checkpoint at epoch
E (SIGTERM)" (or "(stop file)") is printed, and the exit status is 0.

Flags:
  --epochs N          epochs to run (default 5, or the number of --values)
  --epoch-ms MS       minimum wall time per epoch in ms (default 20; 0 ok)
  --values V1,V2,...  the monitored metric's value for epochs 1, 2, ...;
                      the last one repeats after the list runs out; any
                      float() spelling, nan and inf included.  Without it
                      the metric is a decreasing loss, 1/E
  --metric NAME       name of the monitored metric (default "loss")
  --extra N1,N2,...   more metrics on every line, value 1 - 1/(E+1)
  --format kv|json    "epoch=3 loss=0.5" (default) or {"epoch": 3, ...}
                      (JSON writes nan/inf as NaN/Infinity, as Python does)
  --on-term MODE      what the stop signals (--signals) do:
                        save    finish the epoch, checkpoint, exit 0 (default)
                        ignore  SIG_IGN: keep going, must be SIGKILLed
                        die     the default action: killed by the signal
  --signals S1,S2     the stop signals --on-term applies to (default
                      TERM,INT); names with or without SIG, or numbers
  --poll-stop         check TRAINFS_STOP_FILE; when it exists, save + exit 0
  --save none|each|end  when to write the checkpoint, $TRAINFS_OUTPUT/
                      weights.bin plus ckpt/epoch-E.txt (default each);
                      a stop under save/poll-stop always writes one
  --weights-bytes N   size of weights.bin (default 4096); its bytes depend
                      only on the epoch, so archives can be compared
  --exit N            exit status at the normal end (default 0)
  --forever           never finish: epochs go on until the trainer is stopped
  --fork-child        fork a child in the same process group that ignores
                      the stop signals and sleeps (at most --child-max-s
                      seconds, default 600, so a broken test leaks nothing
                      for long); only SIGKILL ends it sooner
  --child-max-s S     the child's lifetime cap (default 600)
  --bad-lines K       also append K malformed metrics lines, spread over the
                      epochs (several kinds, one longer than 64 KiB)
  --print             a line per epoch on stdout and one on stderr
  --report NAME       at start write $TRAINFS_OUTPUT/NAME: JSON with pid,
                      ppid, pgid, sid, uid, gid, euid, egid, cwd, argv, umask
                      and the whole environment
  --checkpoint-every K  after the metrics line of every K-th epoch, write
                      the folder TRAINFS_CHECKPOINTS/epoch-E (as epoch-E.tmp.PID,
                      then renamed): weights.bin (--checkpoint-bytes, bytes
                      that depend only on E) and epoch.txt ("E\n")
  --checkpoint-bytes N  size of a checkpoint's weights.bin (default 4096)
  --orphan-checkpoint E  at start, a whole epoch-E folder whose metrics line
                      has not come (and never does unless the run gets to E)
  --tmp-checkpoint E  at start, a folder epoch-E.tmp with weights in it,
                      never renamed
  --plant-link NAME=TARGET  at start, a symbolic link TRAINFS_CHECKPOINTS/NAME
                      -> TARGET (repeatable), e.g. epoch-2=/some/root/folder
  --link-inside TARGET  every checkpoint folder also holds a symbolic link
                      "escape" -> TARGET (deleting it must not follow it)
  --fail-at E         exit 3 right after epoch E's line and checkpoint, on
                      a first run only (a resumed run goes past E)
  --target-from-env   take the target epochs from TRAINFS_EPOCHS when set

Exit status: 0 (or --exit N) at the end, 0 after a requested stop, 2 on bad
usage or a failed write (the reason on stderr).
"""

import argparse
import hashlib
import json
import math
import os
import shutil
import signal
import sys
import time

MAX_LINE = 64 * 1024


def die(msg):
    sys.stderr.write("trainer.py: %s\n" % msg)
    sys.stderr.flush()
    os._exit(2)


def parse_signal(name):
    name = name.strip()
    if name.isdigit():
        return signal.Signals(int(name))
    name = name.upper()
    if not name.startswith("SIG"):
        name = "SIG" + name
    try:
        return signal.Signals[name]
    except KeyError:
        raise argparse.ArgumentTypeError("unknown signal %r" % name)


def parse_args(argv):
    p = argparse.ArgumentParser(
        prog="trainer.py", epilog=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--epochs", type=int)
    p.add_argument("--epoch-ms", type=float, default=20.0)
    p.add_argument("--values")
    p.add_argument("--metric", default="loss")
    p.add_argument("--extra", default="")
    p.add_argument("--format", choices=("kv", "json"), default="kv")
    p.add_argument("--on-term", choices=("save", "ignore", "die"),
                   default="save")
    p.add_argument("--signals", default="TERM,INT")
    p.add_argument("--poll-stop", action="store_true")
    p.add_argument("--save", choices=("none", "each", "end"), default="each")
    p.add_argument("--weights-bytes", type=int, default=4096)
    p.add_argument("--exit", type=int, default=0, dest="exit_code")
    p.add_argument("--forever", action="store_true")
    p.add_argument("--fork-child", action="store_true")
    p.add_argument("--child-max-s", type=float, default=600.0)
    p.add_argument("--bad-lines", type=int, default=0)
    p.add_argument("--print", action="store_true", dest="do_print")
    p.add_argument("--report")
    p.add_argument("--checkpoint-every", type=int, default=0)
    p.add_argument("--checkpoint-bytes", type=int, default=4096)
    p.add_argument("--orphan-checkpoint", type=int)
    p.add_argument("--tmp-checkpoint", type=int)
    p.add_argument("--plant-link", action="append", default=[])
    p.add_argument("--link-inside")
    p.add_argument("--fail-at", type=int, default=0)
    p.add_argument("--target-from-env", action="store_true")
    a = p.parse_args(argv)
    for link in a.plant_link:
        if "=" not in link or "/" in link.split("=", 1)[0]:
            p.error("--plant-link takes NAME=TARGET")
    if a.checkpoint_every < 0 or a.checkpoint_bytes < 0:
        p.error("negative --checkpoint-every or --checkpoint-bytes")

    try:
        a.values = ([float(v) for v in a.values.split(",")]
                    if a.values else None)
    except ValueError as e:
        p.error("--values: %s" % e)
    if a.epochs is None:
        a.epochs = len(a.values) if a.values else 5
    a.extra = [n for n in a.extra.split(",") if n]
    names = ["epoch", a.metric] + a.extra
    if len(set(names)) != len(names):
        p.error("metric names repeat: %s" % ",".join(names))
    try:
        a.signals = [parse_signal(s) for s in a.signals.split(",") if s]
    except (argparse.ArgumentTypeError, ValueError) as e:
        p.error("--signals: %s" % e)
    if a.epochs < 0 or a.epoch_ms < 0 or a.bad_lines < 0 or \
            a.weights_bytes < 0 or not 0 <= a.exit_code <= 255:
        p.error("negative count or exit status out of 0..255")
    if a.report and (os.sep in a.report or a.report in (".", "..")):
        p.error("--report takes a plain file name")
    return a


# ---- what gets written -------------------------------------------------

def metric_value(a, epoch):
    if a.values:
        return a.values[min(epoch, len(a.values)) - 1]
    return round(1.0 / epoch, 6)


def kv_number(v):
    if math.isnan(v):
        return "nan"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return repr(v)


def metrics_line(a, epoch):
    vals = [(a.metric, metric_value(a, epoch))]
    vals += [(n, round(1.0 - 1.0 / (epoch + 1), 6)) for n in a.extra]
    if a.format == "json":
        d = {"epoch": epoch}
        d.update(vals)
        return json.dumps(d) + "\n"
    return " ".join(["epoch=%d" % epoch] +
                    ["%s=%s" % (n, kv_number(v)) for n, v in vals]) + "\n"


def bad_line(i, epoch):
    kinds = [
        lambda: "epoch=%d loss=oops\n" % epoch,
        lambda: "this is not a metrics line\n",
        lambda: "epoch=1.5 loss=0.3\n",
        lambda: '{"epoch": %d, "=loss": 1}\n' % epoch,  # a CSV formula
        lambda: '{"epoch": %d, "loss": \n' % epoch,
        lambda: "epoch=%d loss=0.5 pad=%s\n" % (epoch, "1" * (MAX_LINE + 16)),
        lambda: "loss=0.25 epoch=\n",
    ]
    return kinds[i % len(kinds)]()


def write_line(fd, path, line):
    data = line.encode()
    try:
        n = os.write(fd, data)
    except OSError as e:
        die("write %s: %s" % (path, e.strerror))
    if n != len(data):
        die("write %s: short write (%d of %d bytes)" % (path, n, len(data)))


def weight_bytes(epoch, size):
    seed = hashlib.sha256(b"trainfs test weights, epoch %d" % epoch).digest()
    block = b"".join(hashlib.sha256(seed + bytes([i])).digest()
                     for i in range(128))                   # 4 KiB
    reps, rest = divmod(size, len(block))
    return block, reps, block[:rest]


def save_checkpoint(a, out, epoch):
    path = os.path.join(out, "weights.bin")
    tmp = path + ".tmp"
    try:
        block, reps, rest = weight_bytes(epoch, a.weights_bytes)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            with os.fdopen(fd, "wb", closefd=False) as f:
                for _ in range(reps):
                    f.write(block)
                f.write(rest)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
        ckpt = os.path.join(out, "ckpt")
        os.makedirs(ckpt, exist_ok=True)
        with open(os.path.join(ckpt, "epoch-%d.txt" % epoch), "w") as f:
            f.write("epoch=%d %s=%s\n" % (epoch, a.metric,
                                          kv_number(metric_value(a, epoch))))
    except OSError as e:
        die("saving checkpoint in %s: %s" % (out, e))


def write_checkpoint_folder(a, root, epoch, name=None):
    """TRAINFS_CHECKPOINTS/epoch-E, written as NAME.tmp then renamed; with
    NAME (a .tmp name), left under that name."""
    final = os.path.join(root, name or "epoch-%d" % epoch)
    # its own temporary name is never --tmp-checkpoint's epoch-E.tmp
    tmp = final if name else "%s.tmp.%d" % (final, os.getpid())
    try:
        os.mkdir(tmp, 0o700)
        block, reps, rest = weight_bytes(epoch, a.checkpoint_bytes)
        with open(os.path.join(tmp, "weights.bin"), "wb") as f:
            for _ in range(reps):
                f.write(block)
            f.write(rest)
            f.flush()
            os.fsync(f.fileno())
        with open(os.path.join(tmp, "epoch.txt"), "w") as f:
            f.write("%d\n" % epoch)
        if a.link_inside:
            os.symlink(a.link_inside, os.path.join(tmp, "escape"))
        if not name:
            os.rename(tmp, final)
    except OSError as e:
        die("writing checkpoint %s: %s" % (final, e))


def resume_epoch():
    """The epoch to go on from (TRAINFS_RESUME_*), checked, or 0."""
    folder = os.environ.get("TRAINFS_RESUME_FROM")
    if not folder:
        return 0
    try:
        n = int(os.environ["TRAINFS_RESUME_EPOCH"])
        with open(os.path.join(folder, "epoch.txt")) as f:
            held = int(f.read())
    except (KeyError, ValueError, OSError) as e:
        die("cannot resume from %s: %s" % (folder, e))
    if held != n:
        die("%s holds epoch %d, not %d" % (folder, held, n))
    return n


def write_report(a, out, argv):
    info = {
        "pid": os.getpid(), "ppid": os.getppid(),
        "pgid": os.getpgid(0), "sid": os.getsid(0),
        "uid": os.getuid(), "gid": os.getgid(),
        "euid": os.geteuid(), "egid": os.getegid(),
        "groups": os.getgroups(), "cwd": os.getcwd(), "argv": argv,
        "umask": os.umask(0o022), "env": dict(os.environ),
    }
    os.umask(info["umask"])
    try:
        with open(os.path.join(out, a.report), "w") as f:
            json.dump(info, f, indent=1, sort_keys=True)
            f.write("\n")
    except OSError as e:
        die("writing report: %s" % e)


# ---- stopping ------------------------------------------------------------

class Stop:
    signum = 0
    stop_file = None

    @classmethod
    def handler(cls, signum, frame):
        cls.signum = signum

    @classmethod
    def requested(cls):
        if cls.signum:
            return True
        return bool(cls.stop_file) and os.path.lexists(cls.stop_file)


def install_signals(a):
    for s in a.signals:
        if a.on_term == "save":
            signal.signal(s, Stop.handler)
        elif a.on_term == "ignore":
            signal.signal(s, signal.SIG_IGN)
        else:
            signal.signal(s, signal.SIG_DFL)


def fork_child(a, fds):
    pid = os.fork()
    if pid:
        return pid
    # the child: same process group, deaf to the stop signals
    try:
        for s in set(a.signals) | {signal.SIGTERM, signal.SIGINT}:
            signal.signal(s, signal.SIG_IGN)
        for fd in fds:
            os.close(fd)
        end = time.monotonic() + a.child_max_s
        while time.monotonic() < end:
            time.sleep(min(1.0, max(0.0, end - time.monotonic())))
    finally:
        os._exit(0)


def sleep_until(deadline):
    while True:
        left = deadline - time.monotonic()
        if left <= 0 or Stop.requested():
            return
        time.sleep(min(left, 0.005))


# ---- main ------------------------------------------------------------------

def main(argv):
    a = parse_args(argv[1:])
    out = os.environ.get("TRAINFS_OUTPUT")
    metrics = os.environ.get("TRAINFS_METRICS")
    if not out or not metrics:
        die("TRAINFS_OUTPUT and TRAINFS_METRICS must be set")
    if a.poll_stop:
        Stop.stop_file = os.environ.get("TRAINFS_STOP_FILE") or None
        if not Stop.stop_file:
            die("--poll-stop: TRAINFS_STOP_FILE is not set")
    job = os.environ.get("TRAINFS_JOB", "?")
    ckpts = os.environ.get("TRAINFS_CHECKPOINTS") or None
    if (a.checkpoint_every or a.orphan_checkpoint is not None or
            a.tmp_checkpoint is not None or a.plant_link) and not ckpts:
        die("checkpoint flags need TRAINFS_CHECKPOINTS")
    if a.target_from_env and os.environ.get("TRAINFS_EPOCHS"):
        a.epochs = int(os.environ["TRAINFS_EPOCHS"])

    install_signals(a)
    try:
        mfd = os.open(metrics, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    except OSError as e:
        die("open %s: %s" % (metrics, e.strerror))
    if a.report:
        write_report(a, out, argv)
    if a.fork_child:
        fork_child(a, [mfd])
    if ckpts:
        os.makedirs(ckpts, mode=0o700, exist_ok=True)
    for link in a.plant_link:
        name, target = link.split("=", 1)
        try:
            os.symlink(target, os.path.join(ckpts, name))
        except OSError as e:
            die("--plant-link %s: %s" % (link, e))
    if a.orphan_checkpoint is not None:
        write_checkpoint_folder(a, ckpts, a.orphan_checkpoint)
    if a.tmp_checkpoint is not None:
        write_checkpoint_folder(a, ckpts, a.tmp_checkpoint,
                                "epoch-%d.tmp" % a.tmp_checkpoint)

    bad_done = 0
    epoch = resume_epoch()
    resumed = epoch > 0
    if epoch:
        print("resumed from epoch %d" % epoch, flush=True)
    while a.forever or epoch < a.epochs:
        epoch += 1
        start = time.monotonic()

        if a.save == "each":
            save_checkpoint(a, out, epoch)
        if a.forever or a.epochs == 0:
            bad_due = min(a.bad_lines, epoch)
        else:
            bad_due = -(-a.bad_lines * epoch // a.epochs)     # ceiling
        while bad_done < bad_due:
            write_line(mfd, metrics, bad_line(bad_done, epoch))
            bad_done += 1
        write_line(mfd, metrics, metrics_line(a, epoch))
        if a.checkpoint_every and epoch % a.checkpoint_every == 0:
            stale = os.path.join(ckpts, "epoch-%d" % epoch)
            if os.path.lexists(stale):  # left by a run before a resume
                print("replacing stale epoch-%d" % epoch, flush=True)
                if os.path.islink(stale) or not os.path.isdir(stale):
                    os.unlink(stale)
                else:
                    shutil.rmtree(stale)
            write_checkpoint_folder(a, ckpts, epoch)
        if a.do_print:
            total = "inf" if a.forever else str(a.epochs)
            print("[%s] epoch %d/%s %s=%s" % (job, epoch, total, a.metric,
                  kv_number(metric_value(a, epoch))), flush=True)
            print("[%s] stderr: epoch %d done" % (job, epoch),
                  file=sys.stderr, flush=True)

        if epoch == a.fail_at and not resumed:
            print("failing on purpose at epoch %d" % epoch, flush=True)
            return 3
        if a.forever or epoch < a.epochs:
            sleep_until(start + a.epoch_ms / 1000.0)
        if Stop.requested():
            save_checkpoint(a, out, epoch)
            why = ("signal %s" % signal.Signals(Stop.signum).name
                   if Stop.signum else "stop file")
            print("stop requested: saved checkpoint at epoch %d (%s)"
                  % (epoch, why), flush=True)
            return 0

    if a.save == "end" and epoch > 0:
        save_checkpoint(a, out, epoch)
    if a.do_print:
        print("[%s] finished %d epochs, exit %d" % (job, epoch, a.exit_code),
              flush=True)
    return a.exit_code


if __name__ == "__main__":
    sys.exit(main(sys.argv))
