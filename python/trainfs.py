"""trainfs: the trainer's side of trainfs, for any Python training loop.

One file, standard library only.  Use it by path::

    sys.path.insert(0, "/path/to/trainfs/python")
    import trainfs

or copy this file next to your script (or into site-packages).

A PyTorch loop that trainfs can stop, pick the best epoch of, and resume::

    import trainfs
    start = 1
    rp = trainfs.resume_point()          # (folder, epoch) after `resume`
    if rp:
        state = torch.load(os.path.join(rp[0], "state.pt"))
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        start = rp[1] + 1
    for epoch in range(start, trainfs.target_epochs(100) + 1):
        loss, acc = train_one_epoch(), evaluate()
        trainfs.report(epoch, loss=loss, val_acc=acc)   # the metrics line
        with trainfs.checkpoint(epoch) as folder:        # then its checkpoint
            torch.save({"model": model.state_dict(),
                        "opt": opt.state_dict()},
                       os.path.join(folder, "state.pt"))
        if trainfs.stop_requested():
            break

What trainfs gives a trainer (SPEC "The trainer's side") and what each
function does with it:

  TRAINFS_METRICS      report() appends one JSON line per call, in one write
  TRAINFS_STOP_FILE    stop_requested() looks for it; SIGTERM (and SIGINT)
                       set a flag instead of killing the process
  TRAINFS_CHECKPOINTS  checkpoint() writes epoch-N.tmp, fsyncs it and renames
                       it to epoch-N, so trainfs never sees half of one
  TRAINFS_RESUME_FROM, TRAINFS_RESUME_EPOCH   resume_point()
  TRAINFS_EPOCHS       target_epochs()
  TRAINFS_OUTPUT       output_dir(): what it holds at the end is packed when
                       no checkpoint is kept

Outside trainfs (none of the variables set) every function is harmless:
report() writes nothing, stop_requested() only sees signals, checkpoint()
calls nothing and keeps nothing, resume_point() is None, target_epochs()
is its default.  The signal handlers are installed by the first call of any
function here (or by install_stop_handler()), from the main thread only.
"""

import contextlib
import errno
import json
import os
import shutil
import signal
import threading

__all__ = [
    "report", "stop_requested", "checkpoint", "resume_point",
    "first_epoch", "target_epochs", "output_dir", "checkpoints_dir",
    "install_stop_handler", "in_trainfs",
]

_stop_signal = None
_handlers_installed = False
_lock = threading.Lock()


def in_trainfs():
    """Whether this process runs as a trainfs job (TRAINFS_JOB is set)."""
    return bool(os.environ.get("TRAINFS_JOB"))


def _env(name):
    v = os.environ.get(name)
    return v if v else None


def _on_signal(signum, frame):
    global _stop_signal
    _stop_signal = signum


def install_stop_handler(signals=(signal.SIGTERM, signal.SIGINT)):
    """Makes SIGNALS set the stop flag instead of ending the process.

    trainfs sends the spec's stop_signal (TERM unless the spec says
    otherwise: pass that one here too) and SIGKILL after `grace` seconds.
    Called by every other function the first time; call it yourself, early,
    for other signals.  Only the main thread may install handlers: from
    another thread this does nothing and returns False.
    """
    global _handlers_installed
    if threading.current_thread() is not threading.main_thread():
        return False
    with _lock:
        for s in signals:
            signal.signal(s, _on_signal)
        _handlers_installed = True
    return True


def _ready():
    if not _handlers_installed:
        install_stop_handler()


def _number(v):
    """V as a number trainfs takes, or None for what is not a metric."""
    if isinstance(v, (bool, str, bytes)) or v is None:
        return None  # not metrics: trainfs would leave them out anyway
    if isinstance(v, int):
        return v
    try:
        return float(v)  # floats, numpy scalars, 0-d tensors
    except (TypeError, ValueError):
        return None


def report(epoch, **metrics):
    """Appends the metrics line of EPOCH: {"epoch": E, "loss": ..., ...}.

    EPOCH is a whole number (>= 0).  Values are numbers (nan and inf are
    fine: they never count as an improvement); tensors and numpy scalars are
    turned into floats; what is not a number (a string, a boolean, None, a
    list) is not a metric and is left out of the line.  Metric names are 1 to 64 characters of letters, digits and
    "_ . - /", starting with a letter or "_".  Several calls for one epoch
    (a training line, then a validation line) make one row.  The line goes
    out in one write() on an O_APPEND descriptor, so it is in the file when
    report() returns.  Returns the line written (without the newline), or
    None outside trainfs (no TRAINFS_METRICS).
    """
    _ready()
    if isinstance(epoch, bool) or int(epoch) != epoch or epoch < 0:
        raise ValueError("epoch must be a whole number >= 0, not %r" % (epoch,))
    row = {"epoch": int(epoch)}
    for k, v in metrics.items():
        n = _number(v)
        if n is not None:
            row[k] = n
    line = json.dumps(row, allow_nan=True)
    path = _env("TRAINFS_METRICS")
    if not path:
        return None
    data = (line + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC,
                 0o600)
    try:
        n = os.write(fd, data)
        if n != len(data):
            raise OSError("short write to %s: %d of %d bytes" % (path, n, len(data)))
    finally:
        os.close(fd)
    return line


def stop_requested():
    """Whether a stop was asked for: a stop signal came, or the stop file exists.

    Poll it once per epoch (or per step); when true, finish or drop the
    current step, save what you want kept, and return.
    """
    _ready()
    if _stop_signal is not None:
        return True
    path = _env("TRAINFS_STOP_FILE")
    return bool(path) and os.path.exists(path)


def checkpoints_dir():
    """TRAINFS_CHECKPOINTS, or None outside trainfs."""
    return _env("TRAINFS_CHECKPOINTS")


def output_dir(default="./out"):
    """TRAINFS_OUTPUT (created if missing), or DEFAULT outside trainfs."""
    path = _env("TRAINFS_OUTPUT") or default
    os.makedirs(path, exist_ok=True)
    return path


def _fsync_path(path, directory=False):
    flags = os.O_RDONLY | os.O_CLOEXEC | (os.O_DIRECTORY if directory else 0)
    fd = os.open(path, flags)
    try:
        os.fsync(fd)
    except OSError as e:  # some filesystems cannot fsync a directory
        if not directory or e.errno != errno.EINVAL:
            raise
    finally:
        os.close(fd)


def _fsync_tree(root):
    for dirpath, dirnames, filenames in os.walk(root):
        for f in filenames:
            p = os.path.join(dirpath, f)
            if not os.path.islink(p) and os.path.isfile(p):
                _fsync_path(p)
        _fsync_path(dirpath, directory=True)


def _remove(path):
    """Removes PATH, a folder or not, never following a symbolic link."""
    if os.path.islink(path) or not os.path.isdir(path):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
    else:
        shutil.rmtree(path, ignore_errors=True)  # rmtree does not follow links


def _commit(tmp, final):
    """Renames the folder TMP to FINAL, replacing an older FINAL."""
    try:
        os.rename(tmp, final)
    except OSError:
        if not os.path.lexists(final):
            raise
        # epoch-N left by a run before a resume from an older epoch
        old = final + ".old"
        _remove(old)
        os.rename(final, old)
        os.rename(tmp, final)
        _remove(old)
    _fsync_path(os.path.dirname(final), directory=True)


@contextlib.contextmanager
def _checkpoint_folder(epoch):
    root = checkpoints_dir()
    if root is None:
        # Outside trainfs: a scratch folder, dropped afterwards.
        import tempfile
        tmp = tempfile.mkdtemp(prefix="trainfs-checkpoint-")
        try:
            yield tmp
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return
    os.makedirs(root, mode=0o700, exist_ok=True)
    name = "epoch-%d" % epoch
    tmp = os.path.join(root, name + ".tmp")
    final = os.path.join(root, name)
    _remove(tmp)  # a crash's leftover
    os.mkdir(tmp, 0o700)
    try:
        yield tmp
        _fsync_tree(tmp)
        _commit(tmp, final)
    except BaseException:
        _remove(tmp)
        raise


def checkpoint(epoch, save_fn=None):
    """Saves the checkpoint of EPOCH as TRAINFS_CHECKPOINTS/epoch-N.

    Call it after report(EPOCH, ...): trainfs counts a checkpoint only once
    the metrics line of its epoch has arrived.  Two ways::

        trainfs.checkpoint(epoch, lambda folder: torch.save(sd, folder + "/m.pt"))

        with trainfs.checkpoint(epoch) as folder:
            torch.save(sd, os.path.join(folder, "m.pt"))

    The files go into a folder named epoch-N.tmp, which is fsynced and then
    renamed to epoch-N (an older epoch-N is replaced), so a folder named
    epoch-N is always whole.  If the save raises, the temporary folder is
    removed and the exception goes on.  With SAVE_FN, returns the final
    folder (None outside trainfs, where SAVE_FN is not called at all);
    without it, returns the context manager.
    """
    _ready()
    if isinstance(epoch, bool) or int(epoch) != epoch or epoch < 0:
        raise ValueError("epoch must be a whole number >= 0, not %r" % (epoch,))
    epoch = int(epoch)
    if save_fn is None:
        return _checkpoint_folder(epoch)
    if checkpoints_dir() is None:
        return None
    with _checkpoint_folder(epoch) as folder:
        save_fn(folder)
    return os.path.join(checkpoints_dir(), "epoch-%d" % epoch)


def resume_point():
    """(folder, epoch) of the checkpoint to load after `resume`, or None.

    The trainer loads that folder and goes on with epoch + 1.
    """
    _ready()
    folder = _env("TRAINFS_RESUME_FROM")
    epoch = _env("TRAINFS_RESUME_EPOCH")
    if not folder or epoch is None:
        return None
    try:
        n = int(epoch)
    except ValueError:
        raise ValueError("TRAINFS_RESUME_EPOCH is not a whole number: %r" % epoch)
    return folder, n


def first_epoch(default=1):
    """The first epoch to train: the resume epoch + 1, else DEFAULT."""
    rp = resume_point()
    return rp[1] + 1 if rp else default


def target_epochs(default=None):
    """TRAINFS_EPOCHS (the spec's epochs, raised by `resume epochs=N`), else DEFAULT."""
    _ready()
    v = _env("TRAINFS_EPOCHS")
    if v is None:
        return default
    n = int(v)
    if n < 1:
        raise ValueError("TRAINFS_EPOCHS is not a whole number >= 1: %r" % v)
    return n
