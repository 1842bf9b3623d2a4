"""Hardening: tests that try hard to break trainfs through the mount.

Random writes to control, spec and tags of jobs in every state; stop and
cancel racing from many threads; rmdir racing start and cancel; readers
racing state changes; the store's disk filling up while packing; kill -9
at random moments and in the crash windows between two steps; trainers
that leave processes behind or output that cannot be read; a huge grace.

Randomized tests print their seed; rerun one with the same inputs:
  TRAINFS_SEED=N python3 tests/run.py --trainfs ./trainfs -k NAME
Heavier variants of the same checks are in tests/soak.py (make soak).
"""
import errno
import json
import os
import random
import re
import signal
import sqlite3
import subprocess
import threading
import time

from harness import PY, TRAINER, errno_of, kill_store_processes, unmount

STATES = ("created", "queued", "running", "stopping", "packaging", "ready",
          "cancelled", "failed")
FINAL = ("ready", "cancelled", "failed")
SPEC_WRITABLE = ("created",) + FINAL  # "writable when created or final"
RANK = {s: min(i, 5) for i, s in enumerate(STATES)}  # lifecycle order

# The SPEC's control table: state -> command -> next state, SAME or BUSY.
BUSY, SAME = "busy", "same"
TABLE = {
    "created": {"start": "queued", "stop": BUSY, "cancel": BUSY},
    "queued": {"start": SAME, "stop": BUSY, "cancel": "cancelled"},
    "running": {"start": SAME, "stop": "stopping", "cancel": "cancelled"},
    "stopping": {"start": BUSY, "stop": SAME, "cancel": "cancelled"},
    "packaging": {"start": BUSY, "stop": SAME, "cancel": "cancelled"},
    "ready": {"start": BUSY, "stop": BUSY, "cancel": BUSY},
    "cancelled": {"start": BUSY, "stop": BUSY, "cancel": SAME},
    "failed": {"start": BUSY, "stop": BUSY, "cancel": BUSY},
}
# Every move of the lifecycle: the table's, and the supervisor's own.
MOVES = {(a, n) for a, row in TABLE.items() for n in row.values()
         if n not in (BUSY, SAME)} | {
    ("queued", "running"), ("queued", "failed"), ("running", "stopping"),
    ("running", "packaging"), ("running", "failed"),
    ("stopping", "packaging"), ("stopping", "failed"),
    ("packaging", "ready"), ("packaging", "failed")}
COMMANDS = {b"start": "start", b"stop": "stop", b"stop-early": "stop",
            b"cancel": "cancel"}
WS = b" \t\n\r\x0b\x0c"  # what "surrounding white space" is in control
SYSTEM_TAGS = {"stopped-early", "converged", "completed", "cancelled",
               "failed", "ready"}
NAME_RE = re.compile(rb"[A-Za-z0-9._-]{1,64}\Z")
NAME_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-"


def seeded(what):
    """A random generator with a printed seed (TRAINFS_SEED replays it)."""
    env = os.environ.get("TRAINFS_SEED")
    seed = int(env) if env else random.SystemRandom().randrange(1 << 32)
    print("%s: seed %d (replay: TRAINFS_SEED=%d python3 tests/run.py "
          "--trainfs ./trainfs -k %s)" % (what, seed, seed, what), flush=True)
    return random.Random(seed)


# ---- what is running, and what the store holds --------------------------

def _read(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return b""


def job_id(m, name):
    """The job's store id: trainfs's inode of a job folder is id << 4."""
    return os.stat(m.job(name)).st_ino >> 4


def job_dir(m, jid):
    return os.path.join(m.store, "jobs", str(jid))


def store_processes(m, jid=None):
    """Live processes working for the store's jobs (or job JID): trainers
    and whatever they started (by TRAINFS_OUTPUT in their environment),
    shims and packers (by their command line).  [(pid, command)]"""
    pat = re.compile(re.escape((m.store + "/jobs/").encode()) +
                     (str(jid).encode() if jid else rb"\d+") + rb"[/\0]")
    out = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid() or \
                (m.proc and int(pid) == m.proc.pid):
            continue
        stat = _read("/proc/%s/stat" % pid)
        if not stat or stat[stat.rfind(b")") + 2:][:1] == b"Z":
            continue
        cmd = _read("/proc/%s/cmdline" % pid)
        if pat.search(cmd + b"\0") or pat.search(_read("/proc/%s/environ" % pid)):
            out.append((int(pid), cmd.replace(b"\0", b" ").decode(errors="replace")))
    return out


def wait_no_processes(m, jid=None, timeout=5):
    deadline = time.monotonic() + timeout
    while True:
        left = store_processes(m, jid)
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.02)


def zombie_children(pid):
    """Children of PID that exited and were never reaped."""
    out = []
    for p in os.listdir("/proc"):
        st = _read("/proc/%s/stat" % p) if p.isdigit() else b""
        rest = st[st.rfind(b")") + 2:].split()
        if len(rest) > 1 and rest[0] == b"Z" and int(rest[1]) == pid:
            out.append(int(p))
    return out


def temp_files(d):
    """Temporary files (*.tmp) in a job folder, its weights/ included, not
    in the trainer's own output/ and work/."""
    found = []
    for sub in ("", "weights"):
        try:
            found += [os.path.join(sub, f) for f in os.listdir(os.path.join(d, sub))
                      if f.endswith(".tmp")]
        except OSError:
            pass
    return found


def tar_members(path):
    """The member names of a tarball (any compression), read to its end
    by libarchive; raises if it is not a whole archive."""
    p = subprocess.run(["bsdtar", "-tf", path], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True, timeout=60)
    assert p.returncode == 0, "%s: not a whole tarball: %s" % (path, p.stderr)
    return p.stdout.split()


def tar_manifest(path):
    p = subprocess.run(["bsdtar", "-xOf", path, "trainfs.json"],
                       stdout=subprocess.PIPE, timeout=60, check=True)
    return json.loads(p.stdout)


def find_packer(m, jid):
    for pid, cmd in store_processes(m, jid):
        if " __pack " in cmd:
            return pid
    return None


def check_final_job(m, name, jid=None):
    """Checks the invariants of a final job, in the mount and in the store
    (JID: its store id, when it cannot be looked up).  Returns its state,
    status and, when ready, the tarball's member names."""
    st, kv = m.status(name)
    tags = m.tags(name)
    listing = os.listdir(m.job(name, "weights"))
    jid = jid or job_id(m, name)
    d = job_dir(m, jid)
    assert st in FINAL, (name, st)
    events = [l.split()[1] for l in m.read(name, "events").splitlines()]
    assert events[-1] == st, (name, events)
    for a, b in zip(events, events[1:]):
        assert (a, b) in MOVES, (name, events)
    if st == "ready":
        assert "ready" in tags and "cancelled" not in tags and "failed" not in tags, (name, tags)
        assert kv["reason"] in ("stopped-early", "converged", "completed"), kv
        assert kv["reason"] in tags
        assert listing == [kv["weights"].split("/", 1)[1]], (name, listing, kv)
        tar = m.job(name, "weights", listing[0])
        members = tar_members(tar)
        manifest = tar_manifest(tar)
        assert manifest["job"] == name and manifest["reason"] == kv["reason"]
        assert os.listdir(os.path.join(d, "weights")) == listing
    else:
        assert listing == [], (name, st, listing)
        assert "ready" not in tags, (name, tags)
        wdir = os.path.join(d, "weights")
        assert not os.path.isdir(wdir) or os.listdir(wdir) == [], os.listdir(wdir)
        members = []
    if st == "cancelled":
        assert "cancelled" in tags and "failed" not in tags, (name, tags)
        deadline = time.monotonic() + 5
        while os.path.exists(os.path.join(d, "output")) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert not os.path.exists(os.path.join(d, "output")), "%s: output kept" % name
        assert not os.path.exists(os.path.join(d, "work")), "%s: work kept" % name
    if st == "failed":
        assert "failed" in tags and "cancelled" not in tags, (name, tags)
        assert kv.get("error"), (name, kv)
    assert temp_files(d) == [], (name, temp_files(d))
    left = wait_no_processes(m, jid)
    assert not left, "%s (%s): still running: %s" % (name, st, left)
    return st, kv, members


# ---- random writes to every writable file, in every state ----------------

def expect_control(data, state, spec_ok=True):
    """What the SPEC says a write of DATA to control does in STATE:
    (errno, state after)."""
    if not data:
        return 0, state  # write(2) of no bytes: nothing reaches trainfs
    cmd = COMMANDS.get(data.strip(WS))
    if cmd is None:
        return errno.EINVAL, state
    nxt = TABLE[state][cmd]
    if nxt == BUSY:
        return errno.EBUSY, state
    if nxt == SAME:
        return 0, state
    if cmd == "start" and not spec_ok:
        return errno.EINVAL, state
    return 0, nxt


TAGS_WRITE_MAX = 64 * 1024  # jobs/core/job.h: bigger writes are refused, EFBIG
USER_TAGS_MAX = 1000


def expect_tags(data):
    """The tags a write of DATA adds, in order, or None when it is refused."""
    names = []
    for line in data.split(b"\n"):
        t = line.strip(b" \t\r")
        if not t:
            continue
        if not NAME_RE.match(t) or t.startswith(b".") or t.decode() in SYSTEM_TAGS:
            return None
        names.append(t.decode())
    return names


def gen_ws(rng, most=3):
    return bytes(rng.choice(WS) for _ in range(rng.randrange(most + 1)))


def gen_huge(rng):
    """1 MiB or more, refused from its first byte on (a write this big
    reaches trainfs in pieces)."""
    size = rng.choice([65536, 1 << 20, (1 << 20) + 1, 3 << 20])
    if rng.random() < 0.5:
        return b"Z" + rng.randbytes(size - 1)
    unit = rng.choice([b"x", b"stop", b"\xff", b"/stop\n"])  # (see test_big_tags_write)
    return unit * (size // len(unit) + 1)


def gen_near_miss(rng):
    w = rng.choice(list(COMMANDS))
    k = rng.randrange(14)
    i = rng.randrange(len(w) + 1)
    c = bytes([rng.randrange(256)])
    if k == 0:
        return w[:i] + c + w[i:]                         # "stoxp"
    if k == 1:
        return w[:i] + w[i + 1:] if len(w) > 1 else w + w  # "sop"
    if k == 2:
        return w[:i] + c + w[i + 1:]
    if k == 3:
        return w + w[-1:]                                # "stopp"
    if k == 4:
        return rng.choice([w.upper(), w.title(), w.swapcase()])
    if k == 5:
        return w + rng.choice([b"\n", b" ", b";", b"\0", b"\r\n", b","]) + \
            rng.choice(list(COMMANDS))                   # "start\nstop"
    if k == 6:
        return w + b"\0" + gen_ws(rng)
    if k == 7:
        return rng.choice(["\u00a0", "\u2003", "\ufeff", "\u200b"]).encode() + w
    if k == 8:
        return w * rng.randrange(2, 5)
    if k == 9:
        return w[:rng.randrange(1, len(w))]              # "sto"
    if k == 10:
        return w[:i] + b" " + w[i:] if 0 < i < len(w) else b"st op"
    if k == 11:
        return rng.choice([b"stop_early", b"stop early", b"stopearly",
                           b"stop-early-", b"-stop", b"stop-", b"Stop-Early"])
    if k == 12:
        return b"'" + w + b"'" if rng.random() < 0.5 else b'"' + w + b'"'
    return w + b"\n\n" + w                               # the same twice


def gen_control(rng):
    k = rng.random()
    if k < 0.2:
        return rng.randbytes(rng.randrange(1, 200))
    if k < 0.5:
        return gen_ws(rng) + gen_near_miss(rng) + gen_ws(rng)
    if k < 0.72:
        return gen_ws(rng) + rng.choice(list(COMMANDS)) + gen_ws(rng)
    if k < 0.78:
        return b""
    if k < 0.82:
        return gen_huge(rng)
    if k < 0.86:  # valid, padded to beyond a page but within one write
        return gen_ws(rng) + rng.choice(list(COMMANDS)) + \
            rng.choice([b" ", b"\n", b"\t"]) * rng.choice([4095, 4096, 65536, 100000])
    return bytes(rng.randrange(32, 127) for _ in range(rng.randrange(1, 40)))


def gen_tag_name(rng, pool):
    r = rng.random()
    if r < 0.4:
        return rng.choice(pool).encode()
    if r < 0.6:
        n = rng.choice([1, 2, 63, 64]) if rng.random() < 0.3 else rng.randrange(1, 20)
        s = rng.choice(NAME_CHARS.replace(".", "")) + \
            "".join(rng.choice(NAME_CHARS) for _ in range(n - 1))
        return s.encode()
    if r < 0.7:
        return rng.choice(sorted(SYSTEM_TAGS)).encode()
    if r < 0.78:
        return b"a" * 65
    if r < 0.86:
        return rng.choice([b".hidden", b".", b".."])
    bad = rng.choice([b" ", b"/", b"\0", "\u00e9".encode(), b"*", b"\x0b", b"\x7f",
                      b"\xff", b"=", b"#"])
    name = rng.choice(pool).encode()
    i = rng.randrange(len(name) + 1)
    return name[:i] + bad + name[i:]


def gen_tags(rng, pool):
    k = rng.random()
    if k < 0.15:
        return rng.randbytes(rng.randrange(1, 120))
    if k < 0.22:
        return b""
    if k < 0.25:
        return gen_huge(rng)
    lines = []
    for _ in range(rng.randrange(1, 6)):
        r = rng.random()
        if r < 0.1:
            lines.append(gen_ws(rng))
        else:
            lines.append(rng.choice([b"", b" ", b"\t"]) + gen_tag_name(rng, pool) +
                         rng.choice([b"", b" ", b"\t", b"\r", b" \r"]))
    return b"\n".join(lines) + rng.choice([b"", b"\n", b"\n\n"])


SPEC_KEYS = [
    ("epochs", ["1", "100", "007"], ["0", "-1", "x", "1.5", "99999999999999999999"]),
    ("monitor", ["loss", "mAP", "val/acc"], ["", "a b", "x,y", "q\"", "a=b"]),
    ("mode", ["max", "min"], ["MAX", "sideways", ""]),
    ("patience", ["0", "10"], ["-3", "ten"]),
    ("min_delta", ["0", "0.001", "2.5e-3"], ["-1", "nan", "inf", "0x10", "1e999"]),
    ("stop_signal", ["TERM", "SIGINT", "usr1", "9", "64"], ["0", "65", "BOGUS"]),
    ("grace", ["0", "1.5", "60"], ["-1", "soon", "Infinity"]),
    ("compression", ["none", "gzip", "zstd"], ["xz", "GZIP", ""]),
    ("workdir", ["/tmp", "/"], ["relative/dir", ""]),
    ("env.CUDA_VISIBLE_DEVICES", ["0", "", "a=b c"], None),
]


def gen_spec(rng):
    """(bytes, True = valid, False = invalid, None = either)."""
    k = rng.random()
    if k < 0.1:
        return rng.randbytes(rng.randrange(0, 300)).replace(b"command", b"cmd"), False
    if k < 0.15:
        return b"", False
    if k < 0.2:
        return b"Z" + rng.randbytes((1 << 20) + rng.randrange(1, 1 << 20)), False
    lines = ["command = %s" % rng.choice(["true", "%s %s --epochs 1" % (PY, TRAINER),
                                         "echo a#b 'q' \"x\" $HOME", "sleep 1 && exit 3"])]
    for key, good, _ in rng.sample(SPEC_KEYS, rng.randrange(0, 5)):
        lines.append("%s = %s" % (key, rng.choice(good)))
    valid = True
    if k < 0.6:
        valid = False
        r = rng.randrange(9)
        if r == 0:
            lines.append("epoch = 3")
        elif r == 1:
            key, _, bad = rng.choice([x for x in SPEC_KEYS if x[2]])
            lines.append("%s = %s" % (key, rng.choice(bad)))
        elif r == 2:
            lines.append(lines[0])  # command twice
        elif r == 3:
            lines = lines[1:]       # no command
        elif r == 4:
            lines.append("env.1BAD = x")
        elif r == 5:
            lines.append("no equals sign here")
        elif r == 6:
            lines.append("command_x = 1")
        elif r == 7:
            lines.insert(rng.randrange(len(lines) + 1), "x = \x01")
        else:
            lines[0] = "command ="
    for _ in range(rng.randrange(3)):
        lines.insert(rng.randrange(len(lines) + 1), rng.choice(["", "# a comment", "   ", "\t# x"]))
    text = "\n".join(lines).encode() + rng.choice([b"", b"\n"])
    if valid and rng.random() < 0.2:
        text = text.replace(b"\n", b"\r\n")
    if valid and rng.random() < 0.1:
        text = b"\xef\xbb\xbf" + text
    if k > 0.9:  # a mutation: who knows
        i = rng.randrange(len(text) + 1)
        text = text[:i] + bytes([rng.randrange(256)]) + text[i + 1:]
        valid = None
    if valid is False and rng.random() < 0.2:
        i = rng.randrange(len(text) + 1)
        text = text[:i] + rng.choice([b"\0", b"\xff\xfe", b"\xc0\x80"]) + text[i:]
    return text, valid


def write_bytes(path, data, flags):
    """open + one write(2) + close, as a shell's echo does.  Returns
    (errno of open or write or 0, bytes written, errno of close or 0)."""
    try:
        fd = os.open(path, os.O_WRONLY | flags)
    except OSError as e:
        return e.errno, 0, 0
    wrote, werr, cerr = 0, 0, 0
    try:
        wrote = os.write(fd, data)
    except OSError as e:
        werr = e.errno
    try:
        os.close(fd)
    except OSError as e:
        cerr = e.errno
    return werr, wrote, cerr


def printable_line(line):
    return all(32 <= ord(c) < 127 for c in line)


def make_state_zoo(m):
    """One job in each state, held there: {name: state}.  Needs
    --max-running 2.  The packaging job's packer is stopped (SIGSTOP)."""
    zoo = {}
    m.make_job("z-ready", trainer_args="--epochs 2 --epoch-ms 5", start=True)
    m.make_job("z-failed", trainer_args="--epochs 1 --epoch-ms 5 --exit 3", start=True)
    m.wait_state("z-ready", "ready")
    m.wait_state("z-failed", "failed")
    m.make_job("z-cancelled", trainer_args="--forever --epoch-ms 10", start=True)
    assert m.control("z-cancelled", "cancel") == 0
    # 16 GiB of zeros compressed by gzip: packaging for minutes, on 64 MiB
    # of disk (one file, linked 256 times; holes would be packed at once).
    zeros = ("import os; o = os.environ['TRAINFS_OUTPUT']; "
             "open(o + '/z', 'wb').write(bytes(64 << 20)); "
             "[os.link(o + '/z', o + '/z%d' % i) for i in range(255)]")
    m.make_job("z-packaging", spec='command = %s -c "%s"\ncompression = gzip\n'
               % (PY, zeros), start=True)
    m.wait_state("z-packaging", "packaging")
    jid = job_id(m, "z-packaging")
    deadline = time.monotonic() + 5
    while find_packer(m, jid) is None and time.monotonic() < deadline:
        time.sleep(0.01)
    os.kill(find_packer(m, jid), signal.SIGSTOP)
    m.make_job("z-running", trainer_args="--forever --epoch-ms 50", start=True)
    m.make_job("z-stopping", trainer_args="--forever --epoch-ms 50 --on-term ignore",
               grace=600, start=True)
    m.wait_epoch("z-stopping", 1)
    assert m.control("z-stopping", "stop") == 0
    m.make_job("z-queued", trainer_args="--forever --epoch-ms 50", start=True)
    os.mkdir(m.job("z-created"))           # never given a spec: start is EINVAL
    os.mkdir(m.job("z-spec"))              # its spec is what the fuzz writes
    for s, n in (("created", "z-created"), ("queued", "z-queued"),
                 ("running", "z-running"), ("stopping", "z-stopping"),
                 ("packaging", "z-packaging"), ("ready", "z-ready"),
                 ("cancelled", "z-cancelled"), ("failed", "z-failed")):
        m.wait_state(n, s)
        zoo[n] = s
    zoo["z-spec"] = "created"
    return zoo


def test_random_writes_every_state(m):
    """Thousands of random writes to control, tags and spec of a job in
    each state: each is refused with the SPEC's errno or does exactly what
    the SPEC says; a refused write never changes the state; the mount
    stays up.  A command that would move the job on is kept for the end,
    where each move is made once, on purpose."""
    rng = seeded("test_random_writes_every_state")
    m.remount(["--max-running", "2"])
    zoo = make_state_zoo(m)
    names = sorted(zoo)
    tags = {n: m.tags(n) for n in names}      # the model of each tags file
    assert all(t in SYSTEM_TAGS for n in names for t in tags[n]), tags
    spec_ok = {"z-created": False, "z-spec": False}
    spec_text = {n: m.read(n, "spec").encode() for n in names}
    pool = ["t%d" % i for i in range(20)] + ["best", "v1.2", "A-z_0.9"]
    counts = {}
    moves_seen = set()
    failures = {}  # kind -> examples: the fuzz goes on after a failure
    readonly = ["status", "metrics", "events", "graph.svg", "log", "wait"]

    def check(cond, kind, detail):
        if not cond:
            raise AssertionError(kind, detail)

    def one(name, state, what):
        if what == "control":
            data = gen_control(rng)
            want, nxt = expect_control(data, state, spec_ok.get(name, True))
            if nxt != state:
                moves_seen.add((state, nxt))
                return  # a real move: made on purpose at the end
            got, wrote, cerr = write_bytes(m.job(name, "control"), data, os.O_TRUNC)
            check((got, cerr) == (want, 0), "control errno", "%s (%s): %r: got %s/%s, SPEC says %s" % (
                name, state, data[:80], errno.errorcode.get(got, got),
                errno.errorcode.get(cerr, cerr), errno.errorcode.get(want, want)))
            check(got or wrote == len(data), "control short write", (data[:80], wrote))
            if got:
                ctl = m.read(name, "control").splitlines()
                refused = [l for l in ctl if l.startswith("last refused: '")]
                check(len(refused) == 1 and all(printable_line(l) for l in ctl),
                      "control file format", ctl)
                why = "unknown command" if got == errno.EINVAL and \
                    data.strip(WS) not in COMMANDS else \
                    "not allowed while %s" % state if got == errno.EBUSY else "spec"
                check("': " + why in refused[0], "last refused reason", (data[:80], refused))
        elif what == "tags":
            data = gen_tags(rng, pool)
            trunc = rng.random() < 0.3
            werr, wrote, cerr = write_bytes(m.job(name, "tags"), data,
                                            os.O_TRUNC if trunc else os.O_APPEND)
            add = expect_tags(data) if data else []
            # Opening with truncation clears the user tags with the first
            # accepted write (or at close when nothing was written); a
            # refused write changes nothing.
            cleared = [t for t in tags[name] if t in SYSTEM_TAGS]
            user = [t for t in (cleared if trunc else tags[name])
                    if t not in SYSTEM_TAGS]
            new = {t for t in add or [] if t not in user}
            want = errno.EFBIG if len(data) > TAGS_WRITE_MAX or \
                len(user) + len(new) > USER_TAGS_MAX else \
                0 if add is not None else errno.EINVAL
            if want:
                add = None
            elif trunc:
                tags[name] = cleared
            check((werr, cerr) == (want, 0), "tags errno", "%s: %r (%d bytes): got %s, SPEC says %s" % (
                name, data[:80], len(data), errno.errorcode.get(werr, werr),
                errno.errorcode.get(want, want)))
            for t in add or []:
                if t not in tags[name]:
                    tags[name].append(t)
            got = m.tags(name)
            check(got == tags[name], "tags content", "%s: %r (%d bytes): has %s, SPEC says %s" % (
                name, data[:40], len(data), got, tags[name]))
        elif what == "spec":
            data, valid = gen_spec(rng)
            append = rng.random() < 0.1 and state == "created"
            werr, wrote, cerr = write_bytes(m.job(name, "spec"), data,
                                            os.O_APPEND if append else os.O_TRUNC)
            if state not in SPEC_WRITABLE:
                check(werr == errno.EACCES, "spec errno once started", (name, state, werr))
                check(m.read(name, "spec").encode() == spec_text[name], "spec changed", name)
                return
            stored = (spec_text[name] if append else b"") + data[:wrote]
            if len(data) > (1 << 20):
                # Refused past 1 MiB (in the piece the kernel cut there, so
                # the write may report the first pieces): the open is void,
                # nothing of it is stored, the spec stays as it was.
                check(werr == errno.EFBIG or 0 < wrote < len(data), "spec huge write",
                      (werr, wrote))
                check(cerr == 0, "spec close errno", "huge write: close gave %s" % cerr)
                check(open(m.job(name, "spec"), "rb").read() == spec_text[name],
                      "spec read back", "a refused huge write changed the spec")
                return
            else:
                check(werr == 0 and wrote == len(data), "spec write", (werr, wrote))
            if append and not data:  # nothing written: nothing to check
                check(cerr == 0, "spec close errno", "append of nothing: %s" % cerr)
                return
            if append:
                valid = None
            spec_ok[name] = cerr == 0
            check(cerr in ((errno.EINVAL,) if valid is False else (0,) if valid
                           else (0, errno.EINVAL)), "spec close errno",
                  "%r%s (%s): close gave %s" % (data[:100], "..." if len(data) > 100 else "",
                                                "appended" if append else "valid"
                                                if valid else "invalid",
                                                errno.errorcode.get(cerr, cerr)))
            back = open(m.job(name, "spec"), "rb").read()
            spec_text[name] = back
            # Stored as written, NUL bytes too.
            check(back == stored, "spec read back",
                  "wrote %r, read %r" % (stored[:80], back[:80]))
            st, kv = m.status(name)
            check(state != "created" or ("error" in kv) == (cerr != 0) and
                  (not cerr or kv["error"].startswith("spec")),
                  "status error after spec", "%r: close %s, status %s" % (
                      data[:80], errno.errorcode.get(cerr, cerr), kv.get("error")))
        else:  # files nobody may write, and truncate(2)
            f = rng.choice(readonly + ["weights", "control", "tags"] +
                           (["spec"] if name != "z-created" else []))
            if f in ("control", "tags", "spec"):
                rc = errno_of(os.truncate, m.job(name, f), 0)
                if f == "tags":
                    tags[name] = [t for t in tags[name] if t in SYSTEM_TAGS]
                    check(m.tags(name) == tags[name], "truncate tags", m.tags(name))
                if f == "spec" and state in SPEC_WRITABLE:
                    spec_text[name], spec_ok[name] = b"", False
                want = errno.EACCES if f == "spec" and state not in SPEC_WRITABLE else \
                    errno.EINVAL if f == "spec" else 0  # an empty spec lacks a command
                check(rc == want, "truncate errno", (name, f, state, rc))
            else:
                rc = write_bytes(m.job(name, f), b"start\n", 0)[0]
                check(rc == (errno.EISDIR if f == "weights" else errno.EACCES),
                      "read-only file errno", (f, rc))

    t0 = time.monotonic()
    for i in range(5000):
        name = rng.choice(names)
        r = rng.random()
        what = "control" if r < 0.5 else "tags" if r < 0.8 else \
            "spec" if r < 0.95 else "other"
        if what == "spec" and name == "z-created":
            name = "z-spec"  # z-created keeps no spec: its start is EINVAL
        state = zoo[name]
        counts[what] = counts.get(what, 0) + 1
        try:
            one(name, state, what)
        except AssertionError as e:
            kind, detail = e.args if len(e.args) == 2 else ("other", e.args)
            failures.setdefault(kind, []).append(detail)
            tags[name] = m.tags(name)  # take up again from what is there
            spec_text[name] = open(m.job(name, "spec"), "rb").read()
            spec_ok[name] = name != "z-created" and "error" not in m.status(name)[1]
        assert m.state(name) == state, "%s left %s after a %s write" % (name, state, what)
        if i % 200 == 0:
            assert m.proc.poll() is None, "trainfs died"
            assert sorted(os.listdir(m.path("jobs"))) == names
    fuzz_s = time.monotonic() - t0
    for n in names:
        assert m.state(n) == zoo[n]
        assert m.tags(n) == tags[n]
    print("random writes: %s in %.1fs; moves kept for the end: %s; failures: %s" % (
        counts, fuzz_s, sorted(moves_seen),
        {k: len(v) for k, v in failures.items()} or "none"))

    # Each move of the table, made once, with surrounding white space.
    def cmd(word):
        return gen_ws(rng) + word + gen_ws(rng)
    assert m.write("z-spec", "spec", "command = %s %s --forever --epoch-ms 20\n"
                   % (PY, TRAINER)) == 0
    assert m.write("z-spec", "control", cmd(b"start")) == 0
    assert m.state("z-spec") == "queued"  # both slots are taken
    assert m.write("z-spec", "control", cmd(b"cancel")) == 0
    assert m.state("z-spec") == "cancelled"
    assert m.write("z-packaging", "control", cmd(b"cancel")) == 0
    assert m.state("z-packaging") == "cancelled"
    assert m.write("z-stopping", "control", cmd(b"cancel")) == 0
    assert m.state("z-stopping") == "cancelled"
    m.wait_state("z-queued", "running")   # a slot is free now
    m.wait_epoch("z-queued", 1)
    assert m.write("z-queued", "control", cmd(rng.choice([b"stop", b"stop-early"]))) == 0
    assert m.state("z-queued") in ("stopping", "packaging", "ready")
    assert m.write("z-running", "control", cmd(b"cancel")) == 0
    assert m.state("z-running") == "cancelled"
    m.wait_state("z-queued", "ready")
    for n in names:
        if n != "z-created":
            check_final_job(m, n)
    assert m.proc.poll() is None
    assert not failures, "\n".join("%s (%d times), e.g.:\n  %s" % (
        k, len(v), "\n  ".join(str(x)[:300] for x in v[:3])) for k, v in failures.items())


def test_huge_tags_write_keeps_the_mount_alive(m):
    """One write of 1 MiB of short tag names (what any user may do to a job
    of theirs) must be taken or refused quickly, never hold the whole mount
    for minutes.  (Found: about 60 s with every other request blocked.)"""
    os.mkdir(m.job("t"))
    os.mkdir(m.job("other"))
    data = b"".join(b"%x\n" % i for i in range(200000))[:1 << 20]
    data = data[:data.rindex(b"\n") + 1]
    done = {}

    def writer():
        t = time.monotonic()
        try:
            done["rc"] = m.write("t", "tags", data)
        except OSError as e:  # trainfs was killed under it
            done["rc"] = e.errno
        done["s"] = time.monotonic() - t
    th = threading.Thread(target=writer, daemon=True)
    th.start()
    worst = 0.0
    deadline = time.monotonic() + 5
    while th.is_alive() and time.monotonic() < deadline:
        t = time.monotonic()
        probe = threading.Thread(target=lambda: errno_of(m.state, "other"), daemon=True)
        probe.start()
        probe.join(2.5)
        worst = max(worst, time.monotonic() - t)
        if probe.is_alive():
            break
        time.sleep(0.05)
    hung = th.is_alive()
    if hung:
        m.kill9()  # ends the write (ENOTCONN) instead of waiting it out
        th.join(10)
    assert not hung and worst < 2, (
        "a 1 MiB tags write (%d tags) held the mount: another job's status "
        "took %.1fs, the write %s" % (data.count(b"\n"), worst,
                                      "was still going after 5s" if hung
                                      else "took %.1fs" % done["s"]))
    assert done["rc"] in (0, errno.EINVAL, errno.E2BIG, errno.ENOSPC, errno.EFBIG)


def test_big_tags_write(m):
    """Tags are bounded: one write of at most 64 KiB (the kernel never cuts
    it in pieces, so "one tag per line" holds and a refused write changes
    nothing) and at most 1000 user tags; more is refused whole, EFBIG.
    (Found without the bounds: a 3 MiB write reached trainfs in 1 MiB
    pieces cut anywhere, and "alpha" became "a" and "lpha".)"""
    os.mkdir(m.job("t"))
    data = b"alpha\nbeta\n" * ((3 << 20) // 11)
    assert m.write("t", "tags", data) == errno.EFBIG
    assert m.tags("t") == []
    many = b"".join(b"tag%04d\n" % i for i in range(1000))
    assert len(many) < 64 * 1024
    assert m.write("t", "tags", many) == 0
    assert len(m.tags("t")) == 1000 and m.tags("t")[0] == "tag0000"
    assert m.write("t", "tags", b"one-more\n", mode="a") == errno.EFBIG
    assert m.write("t", "tags", b"tag0007\n", mode="a") == 0  # already there
    assert len(m.tags("t")) == 1000
    assert m.write("t", "tags", b"fresh\n") == 0  # O_TRUNC starts afresh
    assert m.tags("t") == ["fresh"]


def test_stop_and_cancel_race(m):
    """stop and cancel written at once from many threads to many jobs:
    each job ends exactly one way, never stuck, nothing left running, no
    orphan files."""
    rng = seeded("test_stop_and_cancel_race")
    names = ["r%02d" % i for i in range(12)]
    for n in names:
        m.make_job(n, trainer_args="--forever --epoch-ms 10 --weights-bytes %d"
                   % rng.choice([4096, 1 << 20, 4 << 20]),
                   compression=rng.choice(["none", "gzip"]), start=True)
    for n in names:
        m.wait_epoch(n, 1)
    ids = {n: job_id(m, n) for n in names}
    results = {n: [] for n in names}
    plan = []
    for i, n in enumerate(names):
        # Early jobs: cancel lands while stopping; late ones: after ready.
        spread = 0.06 * i
        plan += [(n, "stop", rng.uniform(0, 0.01)) for _ in range(4)]
        plan += [(n, "cancel", rng.uniform(0, spread)) for _ in range(4)]
    rng.shuffle(plan)
    barrier = threading.Barrier(len(plan))

    def worker(n, c, delay):
        barrier.wait()
        time.sleep(delay)
        results[n].append((c, m.control(n, c)))
    threads = [threading.Thread(target=worker, args=p) for p in plan]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
        assert not t.is_alive(), "a control write hung"
    outcome = {}
    for n in names:
        m.wait_state(n, FINAL, timeout=30)
        st, kv, members = check_final_job(m, n, ids[n])
        outcome[n] = st
        rcs = results[n]
        assert all(rc in (0, errno.EBUSY) for _, rc in rcs), (n, rcs)
        if st == "ready":
            assert kv["reason"] == "stopped-early"
            assert "stopped-early" in m.tags(n) and "weights.bin" in members
            assert all(rc == errno.EBUSY for c, rc in rcs if c == "cancel"), (n, rcs)
            assert any(rc == 0 for c, rc in rcs if c == "stop"), (n, rcs)
        else:
            assert st == "cancelled", (n, st, kv)
            assert any(rc == 0 for c, rc in rcs if c == "cancel"), (n, rcs)
    assert wait_no_processes(m) == []
    assert zombie_children(m.proc.pid) == []
    print("stop/cancel race: %d ready, %d cancelled" % (
        list(outcome.values()).count("ready"), list(outcome.values()).count("cancelled")))


def test_rmdir_races_start_and_cancel(m):
    """rmdir at the same moment as start: one wins and the other is refused
    cleanly; rmdir right after cancel waits for the trainer to die; nothing
    of a removed job is left in the store or running."""
    names = ["d%02d" % i for i in range(16)]
    for n in names:
        m.make_job(n, trainer_args="--forever --epoch-ms 10")
    ids = {n: job_id(m, n) for n in names}
    res = {}

    def start(n, b):
        b.wait()
        res[n, "start"] = m.control(n, "start")

    def rmdir(n, b):
        b.wait()
        res[n, "rmdir"] = errno_of(os.rmdir, m.job(n))
    threads = []
    for n in names:
        b = threading.Barrier(2)
        threads += [threading.Thread(target=start, args=(n, b)),
                    threading.Thread(target=rmdir, args=(n, b))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    survivors = []
    for n in names:
        s, r = res[n, "start"], res[n, "rmdir"]
        if r == 0:
            assert s == errno.ENOENT, (n, s, r)
            assert not os.path.exists(job_dir(m, ids[n])), n
            assert errno_of(os.stat, m.job(n)) == errno.ENOENT
        else:
            assert (s, r) == (0, errno.EBUSY), (n, s, r)
            survivors.append(n)
    assert sorted(os.listdir(m.path("jobs"))) == survivors
    for n in survivors:
        m.wait_state(n, "running")
    # cancel, and rmdir at once from another thread: it waits or is refused.
    res.clear()
    threads = []
    def cancel(n, b):
        b.wait()
        res[n, "cancel"] = m.control(n, "cancel")
    for n in survivors:
        b = threading.Barrier(2)
        threads += [threading.Thread(target=cancel, args=(n, b)),
                    threading.Thread(target=rmdir, args=(n, b))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    for n in survivors:
        assert res[n, "cancel"] in (0, errno.ENOENT), (n, res[n, "cancel"])
        if res[n, "rmdir"] == errno.EBUSY:  # it came before the cancel
            assert os.path.exists(m.job(n))
            os.rmdir(m.job(n))
        else:
            assert res[n, "rmdir"] == 0, (n, res[n, "rmdir"])
    assert os.listdir(m.path("jobs")) == []
    assert os.listdir(os.path.join(m.store, "jobs")) == []
    assert wait_no_processes(m) == []
    time.sleep(0.3)
    assert zombie_children(m.proc.pid) == [], "trainfs left its shims unreaped"


STATUS_NEEDS = {"ready": ("reason", "weights"), "failed": ("error",),
                "stopping": ("kill at",), "packaging": ("progress",)}


def check_rendering(f, text):
    """What one read of file F shows must be one whole, well-formed
    rendering."""
    if f == "status":
        lines = text.split("\n")
        assert lines[-1] == "" and lines[0] in STATES, text
        kv = dict(l.split(": ", 1) for l in lines[1:-1])
        assert "owner" in kv and "created" in kv, text
        for k in STATUS_NEEDS.get(lines[0], ()):
            assert k in kv, (k, text)
        return lines[0], int(kv["epoch"].split("/")[0]) if "epoch" in kv else 0
    if f == "metrics":
        rows = text.split("\n")
        assert rows[-1] == "" and rows[0].startswith("epoch"), text[:300]
        width = rows[0].count(",")
        epochs = []
        for r in rows[1:-1]:
            assert r.count(",") == width, (rows[0], r)
            epochs.append(int(r.split(",")[0]))
        assert epochs == list(range(1, len(epochs) + 1)), epochs
        return None, len(epochs)
    if f == "events":
        evs = [l.split(" ", 2) for l in text.splitlines()]
        assert text.endswith("\n") and evs[0][1] == "created", text
        for a, b in zip(evs, evs[1:]):
            assert (a[1], b[1]) in MOVES, text
        return evs[-1][1], len(evs)
    if f == "control":
        assert text.startswith("allowed: ") and text.endswith("\n"), text
    if f == "tags":
        assert text == "" or text.endswith("\n"), text
    if f == "graph.svg":
        assert text.startswith("<") and text.rstrip().endswith("</svg>"), text[-200:]
    return None, None


def test_readers_while_states_change(m):
    """16 readers list and read every file while jobs are made, started,
    stopped, cancelled, completed and removed: every read is one whole
    rendering, no reader sees a job go back in its lifecycle, and after a
    write (mkdir, control, rmdir) returns, the next read shows its effect.
    (Found: with the kernel's page cache, a read of status, metrics or
    graph.svg that is cut to an older size or mixes two renderings; and a
    listing of jobs/ from before a mkdir served after it, fixed since.)"""
    rng = seeded("test_readers_while_states_change")
    stop = threading.Event()
    errors, stale = [], []
    reads = [0]
    # status changes most, so it is read most.
    files = ["status"] * 5 + ["metrics", "events", "tags", "control", "graph.svg"]

    def reader(k):
        seen = {}  # (job, file) -> (state rank, count) last read
        r = random.Random(k)
        while not stop.is_set():
            try:
                jobs = os.listdir(m.path("jobs"))
            except OSError as e:
                errors.append(("ls", repr(e)))
                continue
            for n in r.sample(jobs, min(4, len(jobs))):
                f = r.choice(files)
                try:
                    with open(m.job(n, f), "rb") as fh:
                        text = fh.read().decode()
                    if r.random() < 0.2:
                        os.listdir(m.job(n, "weights"))
                except FileNotFoundError:
                    continue  # removed meanwhile
                except OSError as e:
                    errors.append((f, "%s: %r" % (n, e)))
                    continue
                try:
                    state, count = check_rendering(f, text)
                except (AssertionError, ValueError, KeyError, IndexError):
                    errors.append((f + " not whole", "%s: %r" % (n, text[-120:])))
                    continue
                reads[0] += 1
                if state is None and count is None:
                    continue
                now = (RANK.get(state, 0), count or 0)
                last = seen.get((n, f), (0, 0))
                if now < last:
                    errors.append((f + " went back", "%s: %s after %s" % (n, now, last)))
                seen[n, f] = max(now, last)

    def fresh(cond, what):
        if not cond:
            stale.append(what)

    readers = [threading.Thread(target=reader, args=(k,), daemon=True) for k in range(16)]
    for t in readers:
        t.start()
    done = []
    try:
        for wave in range(3):
            names = ["w%d-%02d" % (wave, i) for i in range(8)]
            for n in names:
                os.mkdir(m.job(n))
                fresh(n in os.listdir(m.path("jobs")), "ls after mkdir %s" % n)
                assert m.write(n, "spec", "command = %s %s --forever --epoch-ms 5 "
                               "--extra a,b,c,d,e,f --weights-bytes 100000\nepochs = 500\n"
                               % (PY, TRAINER)) == 0
                assert m.control(n, "start") == 0
                fresh(m.state(n) in ("queued", "running"), "status after start %s" % n)
            for n in names:
                m.wait_epoch(n, rng.randrange(1, 40))
            for n in names:
                c = rng.choice(["stop", "cancel", "stop"])
                assert m.control(n, c) == 0
                st = m.state(n)
                fresh(st in (("stopping", "packaging", "ready") if c == "stop"
                             else ("cancelled",)), "status after %s %s: %s" % (c, n, st))
                if c == "stop":
                    fresh("stopped-early" in m.tags(n), "tags after stop %s" % n)
            for n in names:
                m.wait_state(n, FINAL)
            for n in rng.sample(names, 4):
                os.rmdir(m.job(n))
                fresh(n not in os.listdir(m.path("jobs")), "ls after rmdir %s" % n)
                fresh(errno_of(os.stat, m.job(n, "status")) == errno.ENOENT,
                      "stat after rmdir %s" % n)
            done += [n for n in names if errno_of(os.stat, m.job(n)) == 0]
    finally:
        stop.set()
        for t in readers:
            t.join(10)
    assert not any(t.is_alive() for t in readers), "a reader hung"
    for n in done:
        check_final_job(m, n)
    kinds = {}
    for kind, example in errors:
        kinds.setdefault(kind, []).append(example)
    print("readers: %d renderings checked, %d bad (%s), %d stale after a change" % (
        reads[0], len(errors), ", ".join("%s: %d" % (k, len(v)) for k, v in kinds.items()),
        len(stale)))
    assert not errors and not stale, "\n".join(
        ["%s (%d), e.g. %s" % (k, len(v), v[0]) for k, v in kinds.items()] +
        (["stale after a change returned (%d): %s" % (len(stale), stale[:6])]
         if stale else []))


# ---- faults ------------------------------------------------------------------

def tmpfs_store(m, size="64m"):
    """Remounts M with its store on a fresh tmpfs of SIZE; returns the
    tmpfs folder.  Root only (the caller skips otherwise)."""
    m.unmount()
    d = os.path.join(m.dir, "tmpfs")
    os.mkdir(d)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%s,mode=0755" % size,
                    "tmpfs", d], check=True)
    m.store = os.path.join(d, "store")
    m.start()
    return d


def drop_tmpfs(m, d):
    """Stops trainfs and everything of the store, then unmounts the tmpfs."""
    if m.proc:
        if os.path.ismount(m.mnt):
            unmount(m.mnt)
        try:
            m.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            m.proc.kill()
            m.proc.wait()
        m.proc = None
    kill_store_processes(m.store)
    found = m.sanitizer_reports()  # before the logs go with the tmpfs
    for _ in range(50):
        if subprocess.run(["umount", d], stderr=subprocess.DEVNULL).returncode == 0:
            break
        time.sleep(0.1)
    else:
        subprocess.run(["umount", "-l", d])
    assert not found, "sanitizer report:\n" + found[:6000]


def test_disk_full_while_packing(m):
    """The store's disk fills up while packing: the job fails naming the
    lack of space, no partial tarball is ever visible, trainfs keeps
    serving, and jobs work again once space is freed."""
    if os.geteuid() != 0:
        print("SKIP test_disk_full_while_packing: mounting a tmpfs needs root")
        return
    d = tmpfs_store(m, "64m")
    try:
        seen, bad, stop = set(), [], threading.Event()

        def watch(name, wdir):
            """weights/ is empty until the job is ready, in the mount; in
            the store nothing but the temporary file is there before."""
            while not stop.is_set():
                try:
                    st = m.state(name)
                    w = os.listdir(m.job(name, "weights"))
                    stored = [f for f in os.listdir(wdir) if not f.endswith(".tmp")] \
                        if os.path.isdir(wdir) else []
                except OSError:
                    continue
                seen.add(st)
                if st != "ready" and (w or stored):
                    bad.append((st, w, stored))
        big = 'command = head -c %s /dev/urandom > "$TRAINFS_OUTPUT/w.bin"\ncompression = %s\n'
        m.make_job("full", spec=big % ("40M", "none"))
        # It writes next to nothing (the full disk is not its problem).
        m.make_job("bystander", trainer_args="--forever --epoch-ms 20 --save end")
        assert m.control("bystander", "start") == 0
        w = threading.Thread(target=watch, daemon=True, args=(
            "full", os.path.join(job_dir(m, job_id(m, "full")), "weights")))
        w.start()
        assert m.control("full", "start") == 0
        m.wait_state("full", FINAL, timeout=30)
        stop.set()
        w.join(5)
        assert not bad, "a tarball was visible before the job was ready: %s" % bad[:3]
        st, kv = m.status("full")
        assert st == "failed" and kv["error"] == "packaging: No space left on device", kv
        assert "packaging" in seen, seen
        assert set(m.tags("full")) == {"completed", "failed"}  # trained, not packed
        check_final_job(m, "full")
        # trainfs keeps serving, and the other job goes on.
        e = m.wait_epoch("bystander", 1)
        m.wait_epoch("bystander", e + 2)
        # Space freed by removing the failed job: the next job works.
        os.rmdir(m.job("full"))
        m.make_job("next", spec=big % ("20M", "gzip"), start=True)
        m.wait_state("next", FINAL, timeout=30)
        st, _, members = check_final_job(m, "next")
        assert st == "ready" and "w.bin" in members
        os.rmdir(m.job("next"))
        # A filler file outside the store takes the space; deleting it helps.
        filler = os.path.join(d, "filler")
        subprocess.run(["head", "-c", "40M", "/dev/zero"], stdout=open(filler, "wb"), check=True)
        m.make_job("again", spec=big % ("16M", "zstd"), start=True)
        m.wait_state("again", FINAL, timeout=30)
        st, kv, _ = check_final_job(m, "again")
        assert st == "failed" and kv["error"] == "packaging: No space left on device", kv
        os.unlink(filler)
        m.make_job("after", spec=big % ("16M", "zstd"), start=True)
        m.wait_state("after", FINAL, timeout=30)
        assert check_final_job(m, "after")[0] == "ready"
        assert m.control("bystander", "stop") == 0
        m.wait_state("bystander", "ready")
        assert m.proc.poll() is None
    finally:
        drop_tmpfs(m, d)


def test_disk_full_while_training(m):
    """A trainer that fills the disk: the job fails with its real exit
    status, not as a lost trainer, and the state survives a remount once
    space is freed."""
    if os.geteuid() != 0:
        print("SKIP test_disk_full_while_training: mounting a tmpfs needs root")
        return
    d = tmpfs_store(m, "16m")
    try:
        m.make_job("fill", spec='command = head -c 100M /dev/zero > "$TRAINFS_OUTPUT/w.bin"\n',
                   start=True)
        m.wait_state("fill", FINAL, timeout=30)
        st, kv = m.status("fill")
        assert st == "failed", kv
        assert kv["error"] == "trainer exited with status 1", kv
        m.kill9()  # the store could not take "failed": a crash must not lose it
        m.start()
        assert m.status("fill") == (st, kv)
        os.rmdir(m.job("fill"))  # frees the space, though the database is full
        assert os.listdir(os.path.join(m.store, "jobs")) == []
        m.make_job("ok", trainer_args="--epochs 2 --epoch-ms 5", start=True)
        m.wait_state("ok", "ready")
    finally:
        drop_tmpfs(m, d)


def test_kill9_at_random_moments(m):
    """kill -9 of trainfs (and one clean unmount) while jobs run, stop,
    pack and finish, then remount: every job ends consistent, no tarball
    is ever half-written (a partial temporary file is cleaned up), nothing
    runs twice."""
    rng = seeded("test_kill9_at_random_moments")
    # Packing 64 MiB of zeros with gzip takes a while (holes would not).
    slow = ('command = %s %s --epochs 2 --epoch-ms 5 --weights-bytes 8192 && '
            'head -c 64M /dev/zero > "$TRAINFS_OUTPUT/zeros.bin"\ncompression = gzip\n'
            % (PY, TRAINER))
    made, ids = [], {}
    for cycle in range(3):
        c = "c%d-" % cycle
        m.make_job(c + "run", trainer_args="--forever --epoch-ms 10 --on-term save", start=True)
        m.make_job(c + "stopping", trainer_args="--forever --epoch-ms 10 --on-term ignore",
                   grace=rng.choice([0.3, 1, 3]), start=True)
        m.make_job(c + "pack", spec=slow, start=True)
        m.make_job(c + "late", trainer_args="--forever --epoch-ms 10 --weights-bytes 3000000",
                   compression="zstd", start=True)
        m.make_job(c + "new", trainer_args="--epochs 3 --epoch-ms 10")
        names = [c + x for x in ("run", "stopping", "pack", "late", "new")]
        made += names
        ids.update((n, job_id(m, n)) for n in names)
        for n in names[:2] + names[3:4]:
            m.wait_epoch(n, 1)
        m.control(c + "stopping", "stop")
        m.wait_state(c + "pack", "packaging", timeout=30)
        m.control(c + "late", "stop")
        if rng.random() < 0.5:
            m.control(c + "new", "start")
        time.sleep(rng.uniform(0, 0.3))
        states = {n: m.state(n) for n in names}
        if cycle == 1:
            m.unmount()  # a clean unmount cuts packing short the same way
        else:
            m.kill9()
        # Whatever trainfs was doing, weights/ holds a whole tarball or a
        # temporary file, never a cut archive under the final name.
        for n in made:
            wdir = os.path.join(job_dir(m, ids[n]), "weights")
            for f in os.listdir(wdir) if os.path.isdir(wdir) else []:
                if not f.endswith(".tmp"):
                    tar_members(os.path.join(wdir, f))
        time.sleep(rng.uniform(0, 0.3))
        m.start()
        for n in names:
            st = m.state(n)
            assert RANK[st] >= RANK[states[n]] or st in FINAL, (n, states[n], st)
        if m.state(c + "new") == "created":
            m.control(c + "new", "start")
        if m.state(c + "run") == "running":
            assert m.control(c + "run", "stop") == 0
        print("%s cycle %d at %s" % ("unmount" if cycle == 1 else "kill -9", cycle,
                                     ", ".join("%s %s" % kv for kv in sorted(states.items()))))
    for n in made:
        m.wait_state(n, FINAL, timeout=60)
        st, kv, members = check_final_job(m, n, ids[n])
        if n.endswith(("run", "late", "new", "pack")):
            assert st == "ready", (n, st, kv)
            assert "weights.bin" in members
        epochs = [int(l.split(",")[0]) for l in m.read(n, "metrics").splitlines()[1:]]
        assert epochs == list(range(1, len(epochs) + 1)), (n, "metrics lost or doubled")
        if n.endswith("new"):  # ran exactly once
            assert epochs == [1, 2, 3], (n, epochs)
    assert wait_no_processes(m) == []


def crash_state(m, name, state, drop_events=()):
    """After kill -9: rewrites the store as trainfs would have left it had
    it died one step earlier (STATE, without the events DROP_EVENTS)."""
    db = sqlite3.connect(os.path.join(m.store, "trainfs.db"))
    jid = db.execute("SELECT id FROM jobs WHERE name=?", (name,)).fetchone()[0]
    db.execute("UPDATE jobs SET state=? WHERE id=?", (STATES.index(state), jid))
    for e in drop_events:
        db.execute("DELETE FROM events WHERE job_id=? AND state=?", (jid, e))
    db.commit()
    db.close()
    return jid


def trainer_pids(m, jid):
    return [p for p, cmd in store_processes(m, jid) if "trainer.py" in cmd and
            not cmd.startswith("/bin/sh") and not cmd.startswith("sh ")]


def test_crash_windows(m):
    """kill -9 in the windows between two steps that are not one
    transaction: after the shim started but before "running" was stored;
    after the trainer ended unwatched; after the tarball was renamed in
    but before "ready" was stored; with a partial temporary tarball; after
    rmdir deleted the row but not yet the folder."""
    # (3) Packed and renamed in, "ready" not stored.  (4) A cut temporary
    # file.  (5) Removed from the database, the folder still there.
    m.make_job("renamed", trainer_args="--epochs 2 --epoch-ms 5", start=True)
    m.make_job("partial", trainer_args="--epochs 2 --epoch-ms 5", start=True)
    m.make_job("removed", trainer_args="--epochs 2 --epoch-ms 5", start=True)
    m.wait_state("renamed", "ready")
    m.wait_state("partial", "ready")
    m.wait_state("removed", "ready")
    r_id = job_id(m, "removed")
    # (1) Launched, but the store still says queued.
    m.make_job("launched", trainer_args="--forever --epoch-ms 20", start=True)
    # (2) Launched, and the trainer finished while trainfs was dead.
    m.make_job("finished", trainer_args="--epochs 10 --epoch-ms 30", epochs=10, start=True)
    m.wait_epoch("launched", 1)
    m.wait_epoch("finished", 1)
    fin = job_id(m, "finished")
    m.kill9()
    deadline = time.monotonic() + 10
    while not os.path.exists(os.path.join(job_dir(m, fin), "exit")) and \
            time.monotonic() < deadline:
        time.sleep(0.02)
    l_id = crash_state(m, "launched", "queued", ["running"])
    crash_state(m, "finished", "queued", ["running"])
    crash_state(m, "renamed", "packaging", ["ready"])
    p_id = crash_state(m, "partial", "packaging", ["ready"])
    wdir = os.path.join(job_dir(m, p_id), "weights")
    os.unlink(os.path.join(wdir, "partial.tar"))
    with open(os.path.join(wdir, ".partial.tar.tmp"), "wb") as f:
        f.write(b"\0" * 1000)  # a cut archive
    db = sqlite3.connect(os.path.join(m.store, "trainfs.db"))
    for table, key in (("events", "job_id"), ("tags", "job_id"), ("metrics", "job_id"),
                       ("jobs", "id")):
        db.execute("DELETE FROM %s WHERE %s=?" % (table, key), (r_id,))
    db.commit()
    db.close()
    before = trainer_pids(m, l_id)
    assert len(before) == 1, before
    m.start()
    assert "removed" not in os.listdir(m.path("jobs"))
    assert not os.path.exists(job_dir(m, r_id)), "a deleted job's folder is left"
    time.sleep(0.5)
    assert m.state("launched") == "running"
    assert trainer_pids(m, l_id) == before, "the job was launched a second time"
    assert m.control("launched", "stop") == 0
    for n in ("launched", "finished", "renamed", "partial"):
        m.wait_state(n, FINAL)
        st, kv, members = check_final_job(m, n)
        assert st == "ready" and "weights.bin" in members, (n, st, kv)
    epochs = m.read("finished", "metrics").splitlines()[1:]
    assert [int(l.split(",")[0]) for l in epochs] == list(range(1, 11)), "it ran twice"
    assert m.status("finished")[1]["reason"] == "completed"


BURST = r"""import os, sys, time
time.sleep(float(sys.argv[1]))
lines = "".join("epoch=%%d loss=%%.6f acc=%%.6f\n" %% (e, 1.0 / e, 1 - 1.0 / e)
                for e in range(1, %d + 1))
with open(os.environ["TRAINFS_METRICS"], "a") as f:
    f.write(lines)
open(os.path.join(os.environ["TRAINFS_OUTPUT"], "w.bin"), "w").write("w")
"""


def test_metrics_burst_just_before_exit(m):
    """A trainer that writes megabytes of metrics lines at once and exits:
    every line is in metrics before the job moves on (SPEC), none cut.
    (Found: only the first 4 MiB were taken in, and the line cut there
    counted as an epoch: status said epoch 107 of 300000.)  Also when
    trainfs was dead while it happened."""
    rows = 150000  # about 6 MiB
    script = os.path.join(m.dir, "burst.py")
    with open(script, "w") as f:
        f.write(BURST % rows)
    m.make_job("live", spec="command = %s %s 0\nepochs = %d\n" % (PY, script, rows),
               start=True)
    m.make_job("dead", spec="command = %s %s 1\nepochs = %d\n" % (PY, script, rows),
               start=True)
    m.wait_state("dead", "running")
    m.kill9()
    time.sleep(2)  # it bursts and exits with nobody watching
    m.start()
    for n in ("live", "dead"):
        m.wait_state(n, FINAL, timeout=30)
        st, kv = m.status(n)
        assert st == "ready" and kv["epoch"] == "%d/%d" % (rows, rows), (n, kv)
        got = m.read(n, "metrics").splitlines()
        assert len(got) == rows + 1 and got[-1].startswith("%d," % rows), (n, len(got), got[-2:])


ESCAPE = r"""#!/bin/sh
# A trainer whose helpers ignore every stop signal, some of them outside
# its process group (setsid, setpgid), one a double fork.
trap '' TERM INT HUP
setsid sh -c "trap '' TERM INT HUP; exec sleep 300" &
%(py)s -c "import os, signal, time
os.setpgid(0, 0)
for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP): signal.signal(s, signal.SIG_IGN)
time.sleep(300)" &
(trap '' TERM INT HUP; sleep 301 &) &
exec %(py)s %(trainer)s --forever --epoch-ms 10 --fork-child --child-max-s 300 --on-term %(term)s
"""


def test_cancel_and_stop_leave_nothing_running(m):
    """A trainer that forks children which ignore signals, some of which
    leave its process group: cancel kills them all, and so does the end of
    a stopped job; the outcome is decided and nothing is left."""
    for n, term in (("cancel", "ignore"), ("stop", "save")):
        script = os.path.join(m.dir, "escape-%s.sh" % n)
        with open(script, "w") as f:
            f.write(ESCAPE % {"py": PY, "trainer": TRAINER, "term": term})
        os.chmod(script, 0o755)
        m.make_job(n, spec="command = %s\ngrace = 1\n" % script, start=True)
        m.wait_epoch(n, 2)
        jid = job_id(m, n)
        deadline = time.monotonic() + 10  # the shim, sh's helpers, the trainer, its child
        while len(store_processes(m, jid)) < 6 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(store_processes(m, jid)) >= 6, store_processes(m, jid)
        assert m.control(n, n) == 0
        m.wait_state(n, FINAL, timeout=15)
        st, _, _ = check_final_job(m, n)
        assert st == ("cancelled" if n == "cancel" else "ready"), st


def test_shim_killed_leaves_nothing(m):
    """A shim killed under its trainer: the job fails naming the lost
    trainer, the trainer is killed, and the shim's socket and its reserved
    exit record do not stay behind in the store."""
    m.make_job("j", trainer_args="--forever --epoch-ms 10", start=True)
    m.wait_epoch("j", 1)
    d = job_dir(m, job_id(m, "j"))
    for pid, cmd in store_processes(m):
        if " __shim " in cmd:
            os.kill(pid, signal.SIGKILL)
    m.wait_state("j", "failed")
    st, kv, _ = check_final_job(m, "j")
    assert "trainer lost" in kv["error"], kv
    assert not os.path.exists(os.path.join(d, "shim.sock"))


def test_unreadable_output_is_a_clear_failure(m):
    """Output that cannot be packed fails the job with a message naming
    what and why; the mount and other jobs go on."""
    cases = {
        # The output folder swapped for a link: never followed.
        "link": ('rm -rf "$TRAINFS_OUTPUT" && ln -s /etc "$TRAINFS_OUTPUT"',
                 "cannot open output folder"),
        # The output folder gone.
        "gone": ('rm -rf "$TRAINFS_OUTPUT"', "no weights were saved"),
        # A file in it the owner cannot read (the job runs as nobody).
        "unreadable": ('echo x > "$TRAINFS_OUTPUT/w.bin" && mkdir "$TRAINFS_OUTPUT/d" && '
                       'echo y > "$TRAINFS_OUTPUT/d/z" && chmod 000 "$TRAINFS_OUTPUT/d"',
                       "cannot read 'd'"),
        # Only things that are not weights: skipped, so nothing to pack but
        # the manifest.
        "fifo": ('mkfifo "$TRAINFS_OUTPUT/pipe" && echo x > "$TRAINFS_OUTPUT/w.bin"', None),
    }
    m.remount(["-o", "allow_other"])
    for n, (cmd, err) in cases.items():
        if n == "unreadable":
            os.chmod(m.dir, 0o755)
            code = ("import os; os.mkdir(%r); f = open(%r, 'w'); f.write(%r); f.close(); "
                    "f = open(%r, 'w'); f.write('start'); f.close()"
                    % (m.job(n), m.job(n, "spec"), "command = %s\n" % cmd, m.job(n, "control")))
            subprocess.run([PY, "-c", code], user=65534, group=65534, extra_groups=[],
                           check=True, cwd="/")
        else:
            m.make_job(n, spec="command = %s\n" % cmd, start=True)
    for n, (cmd, err) in cases.items():
        m.wait_state(n, FINAL)
        st, kv, members = check_final_job(m, n)
        if err:
            assert st == "failed" and err in kv["error"], (n, kv)
            assert "trainer" not in kv["error"], kv  # the trainer exited 0
        else:
            assert st == "ready" and members == ["w.bin", "trainfs.json"], (n, members)
    assert m.proc.poll() is None


GRACES = ("1e300", "1e12")


def stop_with_huge_grace(m, how):
    for g in GRACES:
        n = "g" + g
        m.make_job(n, trainer_args="--forever --epoch-ms 10 --on-term ignore "
                   "--metric mAP --values 0.5", grace=g, epochs=100,
                   monitor="mAP", patience=2 if how == "auto" else 0)
        assert m.control(n, "start") == 0
        m.wait_epoch(n, 1)
        if how == "stop":
            assert m.control(n, "stop") == 0
        m.wait_state(n, "stopping")
    time.sleep(0.5)
    return {g: m.status("g" + g) for g in GRACES}


def test_huge_grace_never_kills_early(m):
    """grace = 1e300 means no SIGKILL for ever: a trainer that ignores the
    stop signal keeps the job stopping (it was SIGKILLed at once)."""
    for how in ("stop", "auto"):
        for g, (st, kv) in stop_with_huge_grace(m, how).items():
            assert st == "stopping", ("grace %s, %s: SIGKILLed at once" % (g, how), st, kv)
            assert m.control("g" + g, "cancel") == 0
            m.wait_state("g" + g, "cancelled")
            os.rmdir(m.job("g" + g))


def test_huge_grace_kill_at_is_in_the_future(m):
    """status shows `kill at` for a stopping job: with a huge grace it is
    far in the future, never a date in the past from an overflow."""
    for how in ("auto", "stop"):
        for g, (st, kv) in stop_with_huge_grace(m, how).items():
            year = int(kv["kill at"][:4])
            assert year >= time.gmtime().tm_year, \
                "grace %s, %s: kill at %s" % (g, how, kv["kill at"])
            assert m.control("g" + g, "cancel") == 0
            m.wait_state("g" + g, "cancelled")
            os.rmdir(m.job("g" + g))


def test_cancel_at_once_after_start_keeps_nothing(m):
    """A cancel that comes while the job's launch is under way (on its own
    thread) cancels what it started, or stops it before it starts; either
    way the job ends cancelled with no output, as a cancelled run does."""
    rng = seeded("test_cancel_at_once_after_start_keeps_nothing")
    names = ["c%d" % i for i in range(40)]
    for n in names:
        m.make_job(n, trainer_args="--forever --epoch-ms 10")
    for n in names:
        assert m.control(n, "start") == 0
        time.sleep(rng.random() * 0.03)  # before, in or after the launch
        assert m.control(n, "cancel") == 0
    for n in names:
        deadline = time.monotonic() + 20
        d = job_dir(m, job_id(m, n))
        while os.path.exists(os.path.join(d, "output")):
            assert time.monotonic() < deadline, "%s: output kept" % n
            time.sleep(0.05)
        check_final_job(m, n)
        assert m.state(n) == "cancelled"
