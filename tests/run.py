#!/usr/bin/env python3
"""The test runner behind `make test`.

Runs the unit-test binaries (each prints "SUITE: N passed, N failed") and
the Python unit tests of tests/python (unittest, one test a test), then
every integration test: each function test_*(m) in tests/integration/
test_*.py gets a fresh store and a real FUSE mount `m` (see harness.py),
which is unmounted and whose trainers are killed afterwards, pass or fail.
Ends with the line "N passed, N failed" and exits non-zero on any failure.

  tests/run.py --unit BIN... --trainfs ./trainfs [-k PATTERN] [--no-integration]
"""
import argparse
import importlib.util
import os
import re
import signal
import subprocess
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "integration"))

TEST_TIMEOUT = 120  # seconds; a hung test fails instead of hanging CI


class Timeout(Exception):
    pass


def on_alarm(signum, frame):
    raise Timeout("test took longer than %ds" % TEST_TIMEOUT)


def run_unit(binaries):
    passed = failed = 0
    for b in binaries:
        p = subprocess.run([b], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True, timeout=600)
        out = p.stdout
        m = re.search(r"(\d+) passed, (\d+) failed", out)
        if m:
            passed += int(m.group(1))
            failed += int(m.group(2))
        if p.returncode != 0 or not m:
            if not m:
                failed += 1
            sys.stdout.write(out)
        else:
            print(out.strip().splitlines()[-1])
    return passed, failed


def run_python():
    """Runs tests/python/test_*.py with unittest; returns (passed, failed)."""
    d = os.path.join(HERE, "python")
    if not os.path.isdir(d):
        return 0, 0
    p = subprocess.run([sys.executable, "-m", "unittest", "discover", "-s", d,
                        "-p", "test_*.py"], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True, timeout=600)
    ran = re.search(r"Ran (\d+) tests?", p.stdout)
    bad = re.search(r"FAILED \(([^)]*)\)", p.stdout)
    total = int(ran.group(1)) if ran else 0
    failed = sum(int(n) for n in re.findall(r"(?:failures|errors)=(\d+)",
                                             bad.group(1))) if bad else 0
    if p.returncode != 0 or not ran:
        sys.stdout.write(p.stdout)
        failed = max(failed, 1)
    print("python: %d passed, %d failed" % (total - failed, failed))
    return total - failed, failed


def discover(pattern):
    tests = []
    d = os.path.join(HERE, "integration")
    for f in sorted(os.listdir(d)):
        if not (f.startswith("test_") and f.endswith(".py")):
            continue
        spec = importlib.util.spec_from_file_location(f[:-3], os.path.join(d, f))
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        for name, fn in vars(mod).items():
            if name.startswith("test_") and callable(fn):
                for ex in getattr(fn, "executors", (None,)):
                    full = "%s.%s" % (f[:-3], name)
                    if ex:
                        full += "[%s]" % ex
                    if not pattern or re.search(pattern, full):
                        tests.append((full, fn, fn.__code__.co_firstlineno,
                                      ex))
    return tests


def run_integration(trainfs, pattern):
    import harness
    harness.TRAINFS = os.path.abspath(trainfs)
    harness.cleanup_stale()
    passed = failed = 0
    signal.signal(signal.SIGALRM, on_alarm)
    for full, fn, _, executor in discover(pattern):
        t0 = time.monotonic()
        m = None
        ok = False
        try:
            signal.alarm(TEST_TIMEOUT)
            cluster = None
            if executor == "slurm":
                import slurm_cluster
                cluster = slurm_cluster.cluster()
                if cluster is None:  # skipped: said why once
                    signal.alarm(0)
                    continue
            m = harness.Mount(full, cluster=cluster)
            fn(m)
            ok = True
        except BaseException as e:  # noqa: B036 - a test may raise anything
            signal.alarm(0)
            if isinstance(e, KeyboardInterrupt):
                raise
            traceback.print_exc(file=sys.stdout)
            if m:
                m.dump()
        finally:
            signal.alarm(0)
        if m:
            try:
                m.close()  # unmounts; fails the test on a sanitizer report
            except AssertionError as e:
                ok = False
                print(e)
        passed += ok
        failed += not ok
        print("%s %-60s %5.2fs" % ("ok  " if ok else "FAIL", full,
                                   time.monotonic() - t0), flush=True)
    return passed, failed


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--unit", nargs="*", default=[])
    ap.add_argument("--trainfs", default="./trainfs")
    ap.add_argument("-k", dest="pattern")
    ap.add_argument("--no-integration", action="store_true")
    a = ap.parse_args()
    passed = failed = 0
    if a.unit and not a.pattern:
        p, f = run_unit(a.unit)
        passed, failed = passed + p, failed + f
        p, f = run_python()
        passed, failed = passed + p, failed + f
    if not a.no_integration:
        p, f = run_integration(a.trainfs, a.pattern)
        passed, failed = passed + p, failed + f
    print("%d passed, %d failed" % (passed, failed))
    sys.exit(1 if failed or not passed else 0)


if __name__ == "__main__":
    main()
