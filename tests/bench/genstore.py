#!/usr/bin/env python3
"""Fills a fresh trainfs store with many finished jobs, fast, for the benchmark.

    python3 tests/bench/genstore.py STORE --jobs 10000 --epochs 100

It writes what trainfs's schema version 1 stores (store/schema.c,
schema_v1, PRAGMA user_version = 1) for jobs that ran to the end, in one
transaction, and lets trainfs upgrade the store to its current schema on
the first mount, as it must for any user's old store.  bench.py makes that
first mount untimed, so the timed mounts see a store in trainfs's own,
current format, whatever the version:

  jobs     one row per job, state 5 (ready), reason "completed", a spec,
           weights "NAME.tar"; final, so no mount launches anything
  events   created, queued, running, packaging, ready
  tags     completed, ready (system tags)
  metrics  EPOCHS canonical rows per job: "epoch=E loss=L acc=A"
  STORE/jobs/ID/           the job folder, with output/, an empty log and
                           metrics.txt, and weights/NAME.tar: hard links to
                           one small real tarball, so 10,000 jobs cost
                           almost no disk

KEEP IN STEP WITH store/schema.c.  SCHEMA_V1 below is a verbatim copy of
schema_v1 there and the rows follow its columns and the state numbers of
jobs/model/state.h (created 0, queued 1, running 2, stopping 3, packaging 4,
ready 5, cancelled 6, failed 7).  check_source() compares SCHEMA_V1 with
store/schema.c and the database's user_version with SCHEMA_VERSION, and this
script refuses to run when either differs: then update it.  (Newer schema
versions need no change here as long as trainfs upgrades version 1.)
"""
import argparse
import io
import os
import re
import sqlite3
import struct
import sys
import tarfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SCHEMA_C = os.path.join(os.path.dirname(os.path.dirname(HERE)), "store",
                       "schema.c")
SCHEMA_VERSION = 1
ST_READY = 5
STORE_MTIMES = 8  # store/store.h: the mtimes blob is 8 native int64s

# store/schema.c, schema_v1, verbatim
SCHEMA_V1 = (
    "CREATE TABLE jobs ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " name TEXT NOT NULL UNIQUE,"
    " uid INTEGER NOT NULL, gid INTEGER NOT NULL,"
    " state INTEGER NOT NULL,"
    " spec TEXT,"
    " created_ns INTEGER NOT NULL DEFAULT 0,"
    " started_ns INTEGER NOT NULL DEFAULT 0,"
    " finished_ns INTEGER NOT NULL DEFAULT 0,"
    " kill_at_ns INTEGER NOT NULL DEFAULT 0,"
    " reason TEXT, error TEXT, last_refused TEXT, weights TEXT,"
    " bad_lines INTEGER NOT NULL DEFAULT 0,"
    " metrics_offset INTEGER NOT NULL DEFAULT 0,"
    " mtimes BLOB);"
    "CREATE TABLE events ("
    " job_id INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,"
    " seq INTEGER PRIMARY KEY AUTOINCREMENT,"
    " time_ns INTEGER NOT NULL, state TEXT NOT NULL, reason TEXT NOT NULL);"
    "CREATE INDEX events_job ON events(job_id, seq);"
    "CREATE TABLE tags ("
    " job_id INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,"
    " seq INTEGER PRIMARY KEY AUTOINCREMENT,"
    " tag TEXT NOT NULL, system INTEGER NOT NULL,"
    " UNIQUE (job_id, tag));"
    "CREATE TABLE metrics ("
    " job_id INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,"
    " seq INTEGER NOT NULL, line TEXT NOT NULL,"
    " PRIMARY KEY (job_id, seq)) WITHOUT ROWID;")


class SchemaMismatch(Exception):
    pass


def check_source(path=SCHEMA_C):
    """Raises SchemaMismatch unless store/schema.c's schema_v1 is SCHEMA_V1.
    Returns False (nothing checked) when the source is not there."""
    try:
        with open(path) as f:
            src = f.read()
    except OSError:
        return False
    m = re.search(r'schema_v1\[\]\s*=\s*((?:"(?:[^"\\]|\\.)*"\s*)+);', src)
    if not m:
        raise SchemaMismatch("no schema_v1 in %s: update tests/bench/"
                             "genstore.py to match it" % path)
    text = "".join(re.findall(r'"((?:[^"\\]|\\.)*)"', m.group(1)))
    if text != SCHEMA_V1:
        raise SchemaMismatch("schema_v1 in %s differs from SCHEMA_V1 in "
                             "tests/bench/genstore.py: update genstore.py"
                             % path)
    return True


def small_tarball():
    """A real, tiny weights tarball (what trainfs's packer would make)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        for name, data in (("weights.bin", b"w" * 512),
                           ("trainfs.json", b'{"job": "bench"}\n')):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = int(time.time())
            t.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def fmt(v):
    """Python's repr is the shortest round-trip form, as trainfs's is."""
    return repr(float(v))


def generate(store, njobs, epochs, prefix="job"):
    """Writes a schema-1 store of NJOBS ready jobs into the new folder STORE."""
    check_source()
    jobs_dir = os.path.join(store, "jobs")
    os.makedirs(jobs_dir)  # the store must be fresh
    db = sqlite3.connect(os.path.join(store, "trainfs.db"),
                         isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")  # as trainfs keeps it
    db.execute("PRAGMA synchronous=OFF")
    db.executescript(SCHEMA_V1)
    db.execute("PRAGMA user_version = %d" % SCHEMA_VERSION)
    if db.execute("PRAGMA user_version").fetchone()[0] != SCHEMA_VERSION:
        raise SchemaMismatch("could not set user_version")

    uid, gid = os.getuid(), os.getgid()
    now = time.time_ns()
    spec = ("command = /bin/true\nepochs = %d\nmonitor = loss\nmode = min\n"
            % epochs)
    tar_src = os.path.join(store, ".bench-weights.tar")
    empty_src = os.path.join(store, ".bench-empty")
    with open(tar_src, "wb") as f:
        f.write(small_tarball())
    open(empty_src, "wb").close()

    db.execute("BEGIN")
    job_rows, event_rows, tag_rows = [], [], []
    for i in range(njobs):
        jid = i + 1
        name = "%s%05d" % (prefix, i)
        t0 = now - (njobs - i) * 1_000_000_000
        started, finished = t0 + 10_000_000, t0 + 500_000_000
        mtimes = struct.pack("=%dq" % STORE_MTIMES, *([finished] * STORE_MTIMES))
        job_rows.append((jid, name, uid, gid, ST_READY, spec, t0, started,
                         finished, 0, "completed", None, None, name + ".tar",
                         0, 0, mtimes))
        for k, (state, reason) in enumerate((
                ("created", "mkdir"), ("queued", "start"),
                ("running", "started"),
                ("packaging", "trainer exited with status 0"),
                ("ready", "weights ready"))):
            event_rows.append((jid, t0 + k * 100_000_000, state, reason))
        tag_rows += [(jid, "completed", 1), (jid, "ready", 1)]
        d = os.path.join(jobs_dir, str(jid))
        os.makedirs(os.path.join(d, "weights"), exist_ok=True)
        os.makedirs(os.path.join(d, "output"), exist_ok=True)
        os.link(tar_src, os.path.join(d, "weights", name + ".tar"))
        os.link(empty_src, os.path.join(d, "log"))
        os.link(empty_src, os.path.join(d, "metrics.txt"))
    db.executemany("INSERT INTO jobs (id, name, uid, gid, state, spec,"
                   " created_ns, started_ns, finished_ns, kill_at_ns,"
                   " reason, error, last_refused, weights, bad_lines,"
                   " metrics_offset, mtimes)"
                   " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", job_rows)
    db.executemany("INSERT INTO events (job_id, time_ns, state, reason)"
                   " VALUES (?,?,?,?)", event_rows)
    db.executemany("INSERT INTO tags (job_id, tag, system) VALUES (?,?,?)",
                   tag_rows)

    def metric_rows():
        for jid in range(1, njobs + 1):
            for e in range(1, epochs + 1):
                loss = round(1.0 / e + (jid % 7) * 0.01, 6)
                acc = round(1.0 - 1.0 / (e + 1), 6)
                yield (jid, e - 1, "epoch=%d loss=%s acc=%s"
                       % (e, fmt(loss), fmt(acc)))
    db.executemany("INSERT INTO metrics (job_id, seq, line) VALUES (?,?,?)",
                   metric_rows())
    db.execute("COMMIT")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    os.unlink(tar_src)
    os.unlink(empty_src)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("store")
    p.add_argument("--jobs", type=int, default=10000)
    p.add_argument("--epochs", type=int, default=100)
    a = p.parse_args()
    t = time.monotonic()
    try:
        generate(a.store, a.jobs, a.epochs)
    except SchemaMismatch as e:
        sys.exit("genstore: %s" % e)
    print("genstore: %d jobs x %d epochs in %.1fs"
          % (a.jobs, a.epochs, time.monotonic() - t))


if __name__ == "__main__":
    main()
