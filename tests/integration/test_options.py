"""The command line (fs/options.c): each trainfs option as a long option
("--store DIR", "--store=DIR") or as a key in -o ("store=DIR", as mount(8)
passes it), the -o key winning whatever the order; bad values and unknown
options are refused with exit status 2 and a message naming the long
option."""
import os
import subprocess

import harness


def run(*args):
    return subprocess.run([harness.TRAINFS] + list(args),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, timeout=10)


def test_help_and_version_exit_0(m):
    p = run("--help")
    assert p.returncode == 0 and p.stdout.startswith("usage: trainfs"), p
    p = run("-h")
    assert p.returncode == 0 and "--max-running N" in p.stdout, p
    p = run("--version")
    assert p.returncode == 0 and p.stdout.startswith("trainfs "), p


def test_bad_values_name_the_long_option(m):
    mnt = os.path.join(m.dir, "nowhere")
    cases = [
        (["--max-running=0"], "bad value '0' for '--max-running'"),
        (["--max-running", "x"], "bad value 'x' for '--max-running'"),
        # the -o key wins over the long option, before or after it
        (["-o", "max_running=y", "--max-running", "3"],
         "bad value 'y' for '--max-running'"),
        (["--max-running", "3", "-o", "allow_other,max_running=z"],
         "bad value 'z' for '--max-running'"),
        (["-o", "executor=mars"], "expected local or slurm, not 'mars'"),
        (["--max-jobs-per-user=-1"],
         "bad value '-1' for '--max-jobs-per-user'"),
        (["--store="], "option '--store' needs a value"),
        (["--frobnicate"], "unknown option '--frobnicate'"),
    ]
    for args, said in cases:
        p = run(mnt, *args)
        assert p.returncode == 2 and said in p.stderr, (args, p.stderr)


def test_the_store_from_o_wins_over_store(m):
    """The harness passes --store STORE; -o store=OTHER is used instead,
    and --store=DIR (with '=') is read as --store DIR is."""
    other = os.path.join(m.dir, "other-store")
    m.remount(["-o", "store=" + other])
    assert os.path.exists(os.path.join(other, "trainfs.db"))
    os.mkdir(m.job("in-other"))
    third = os.path.join(m.dir, "third-store")
    m.remount(["--store=" + third])
    assert os.path.exists(os.path.join(third, "trainfs.db"))
    assert not os.path.exists(m.job("in-other"))
