"""Every example of README.md and of the manual page's EXAMPLES, run
against a real mount, so an example that has gone wrong fails a test.

Examples are the fenced blocks of README.md and the .EX/.EE blocks of
man/trainfs.1's EXAMPLES.  Each is one of:
  session  lines "$ COMMAND" each followed by what it prints: every
           command runs under bash (in the folder that holds the mount as
           mnt/, ~/train being the mount itself), must succeed, and must
           print what is shown (a state line exactly, "key: value" lines
           by their keys, other lines exactly); a read that shows a state
           is retried for a few seconds, as a person would type it again
  script   lines of commands on mnt/: each runs and must succeed, unless
           its comment says what error it prints
  spec     "key = value" lines: written to a job's spec, they must be
           accepted as written
  skipped  the rest, each named in SKIPPED with why it cannot run here;
           a new block that is none of these fails
/home/me/project, the examples' project folder, is a folder of the test
with a train.py that trains until it is stopped.
"""
import os
import re
import subprocess
import time

from harness import PY, ROOT, TRAINER, readable_copy, unmount

README = os.path.join(ROOT, "README.md")
MAN = os.path.join(ROOT, "man", "trainfs.1")
STATES = ("created", "queued", "running", "stopping", "packaging", "ready",
          "cancelled", "failed")

# Blocks that cannot run on a test's mount, by their first line, and why.
SKIPPED = {
    "make run     # installs what is missing (as root), builds, mounts ./mnt, starts the demo job":
        "the quick start itself: test_docs.test_demo_paces_itself runs its job",
    "trainfs MOUNTPOINT [--store DIR] [--max-running N] [--max-jobs-per-user N]":
        "a synopsis",
    "MOUNT/": "a picture of the tree",
    "make && sudo make install          # /usr/local/bin/trainfs, /usr/local/share/man/man1/trainfs.1":
        "installs system-wide: test_install.py installs into a DESTDIR",
    "# /etc/fstab": "an fstab line: test_install.py mounts the way mount does",
    "sudo mkdir -p /srv/trainfs /mnt/train && sudo chmod 711 /srv/trainfs":
        "system folders and mount(8): test_install.py",
    "# /etc/systemd/system/trainfs.service": "a systemd unit (no systemd here)",
    "sudo systemctl daemon-reload && sudo systemctl enable --now trainfs":
        "systemd (no systemd here)",
    "SLURM_CONF=/etc/slurm/slurm.conf trainfs /mnt/train --store /shared/trainfs --executor slurm":
        "a site's Slurm: test_slurm.py mounts its private cluster",
    "fs/      the FUSE face (low-level API): nodes and inodes, the operations":
        "a picture of the source tree",
    "make test        # unit + fuzz check + integration; ends with \"N passed, N failed\"":
        "the test suite itself",
    "make soak        # 50 jobs, 32 readers, kill -9s and a remount, a few minutes; checks all agrees":
        "long runs beside the suite",
    "/srv/trainfs  /mnt/train  fuse.trainfs  allow_other,max_running=2  0  0":
        "an fstab line: test_install.py mounts the way mount does",
    "# mount -t fuse.trainfs /srv/trainfs /mnt/train -o allow_other":
        "mount(8) of /srv/trainfs: test_install.py",
    "mkdir mnt/sweeps/digits":
        "the digits sweep, minutes of PyTorch: test_sweep_example.py runs "
        "examples/sweep/spec on a real mount",
    "command  = /usr/bin/python3 examples/pytorch_digits.py --lr {lr} --width {width} --workers 0":
        "a sweep's spec (not a job's): test_sweep_example.py uses it as "
        "examples/sweep/spec",
    "$ cat mnt/sweeps/digits/status":
        "the digits sweep's output: test_sweeps.py checks each line's form",
}


def readme_blocks():
    """(first line number, language, text) of each fenced block."""
    out, cur = [], None
    with open(README) as f:
        for n, line in enumerate(f, 1):
            s = line.strip()
            if s.startswith("```"):
                if cur is None:
                    cur = (n + 1, s[3:].strip(), [])
                else:
                    # Blocks indented in a list item lose that indent.
                    lines = cur[2]
                    ind = min((len(l) - len(l.lstrip()) for l in lines
                               if l.strip()), default=0)
                    out.append((cur[0], cur[1],
                                "".join(l[ind:] for l in lines)))
                    cur = None
            elif cur is not None:
                cur[2].append(line)
    return out


def unroff(line):
    for a, b in (("\\(ti", "~"), ("\\(aq", "'"), ("\\-", "-"), ("\\e", "\\")):
        line = line.replace(a, b)
    return line


def man_examples():
    out, cur, section = [], None, ""
    with open(MAN) as f:
        for n, line in enumerate(f, 1):
            if line.startswith(".SH"):
                section = line[3:].strip()
            elif section == "EXAMPLES" and line.startswith(".EX"):
                cur = (n + 1, "", [])
            elif cur is not None and line.startswith(".EE"):
                out.append((cur[0], cur[1], "".join(cur[2])))
                cur = None
            elif cur is not None:
                cur[2].append(unroff(line))
    return out


SPEC_LINE = re.compile(r"^\s*(#.*)?$|^[A-Za-z_.]+\s*=\s*\S")


def kind(lang, text):
    lines = text.splitlines()
    if lang:
        return "skipped"  # code of a language of its own (python)
    if lines[0] in SKIPPED:
        return "skipped"
    if any(l.startswith("$ ") for l in lines):
        return "session"
    if all(SPEC_LINE.match(l) for l in lines):
        return "spec"
    if "mnt/" in text:
        return "script"
    return "unknown"


def all_blocks():
    return ([("README.md:%d" % n, lang, t) for n, lang, t in readme_blocks()] +
            [("trainfs.1:%d" % n, lang, t) for n, lang, t in man_examples()])


def project(m):
    """/home/me/project of the examples: a train.py that trains until it
    is stopped (and saves when it is)."""
    d = os.path.join(m.dir, "project")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "train.py"), "w") as f:
        f.write("import os, sys\nos.execv(%r, [%r, %r, '--forever', "
                "'--epoch-ms', '50'])\n" % (PY, PY, TRAINER))
    os.chmod(d, 0o755)
    return d


def bash(m, cmd, env):
    cmd = cmd.replace("/home/me/project", project(m))
    cmd = cmd.replace("~/train", m.mnt)
    return subprocess.run(["/bin/bash", "-c", cmd], cwd=m.dir, env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, timeout=60)


def shows(want, got):
    """Whether output GOT agrees with WANT, the lines an example shows."""
    g = got.splitlines()
    if not want:
        return True
    if want[0] in STATES:
        if not g or g[0] != want[0]:
            return False
        want, g = want[1:], g[1:]
    keys = {l.split(": ", 1)[0] for l in g if ": " in l}
    for w in want:
        if ": " in w and not w.startswith(" "):
            if w.split(": ", 1)[0] not in keys:
                return False
        elif w not in g:
            return False
    return True


def session(text):
    """[(command, [lines it shows])] of a session block."""
    steps = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        l = lines[i]
        i += 1
        if not l.startswith("$ "):
            steps[-1][1].append(l)
            continue
        cmd = l[2:]
        while cmd.endswith("\\") and i < len(lines):
            cmd = cmd + "\n" + lines[i]  # bash joins them
            i += 1
        steps.append((cmd, []))
    return steps


def run_session(m, where, text, env):
    for cmd, want in session(text):
        cmd = re.sub(r"\s+#[^'\"]*$", "", cmd)  # a trailing comment
        deadline = time.monotonic() + 15
        while True:
            p = bash(m, cmd, env)
            if p.returncode == 0 and shows(want, p.stdout):
                break
            retry = want and want[0] in STATES and cmd.startswith("cat ")
            if not retry or time.monotonic() > deadline:
                raise AssertionError(
                    "%s: %r exited %d and printed\n%s%s\nwhere the example "
                    "shows\n%s" % (where, cmd, p.returncode, p.stdout,
                                   p.stderr, "\n".join(want)))
            time.sleep(0.2)


def env_for(m):
    env = dict(os.environ)
    env["PATH"] = os.path.dirname(os.path.abspath(m.proc.args[0])) + ":" + env["PATH"]
    env["TRAINFS_STORE"] = m.store
    return env



def test_examples_are_known(m):
    unknown = [(w, t.splitlines()[0]) for w, lang, t in all_blocks()
               if kind(lang, t) == "unknown"]
    assert not unknown, "examples neither run nor skipped: %r" % unknown
    assert len(man_examples()) >= 3 and len(readme_blocks()) >= 10


def demo_spec(pace_ms):
    """The spec tools/run.sh gives `make run`'s demo job, at PACE_MS."""
    text = open(os.path.join(ROOT, "tools", "run.sh")).read()
    spec = text.split("<<SPEC\n", 1)[1].split("\nSPEC\n", 1)[0] + "\n"
    demo = readable_copy(os.path.join(ROOT, "demo", "trainer"))
    spec = spec.replace("$TOP/demo/trainer", demo)
    if pace_ms is not None:
        spec = spec.replace("--epochs 300", "--epochs 300 --epoch-ms %d" % pace_ms)
    return spec


def test_readme_sessions(m):
    m.make_job("demo", spec=demo_spec(30), start=True)
    m.wait_epoch("demo", 2)
    env = env_for(m)
    for where, lang, text in all_blocks():
        if where.startswith("README") and kind(lang, text) == "session":
            run_session(m, where, text, env)


def test_readme_scripts(m):
    env = env_for(m)
    for where, lang, text in all_blocks():
        if kind(lang, text) != "script":
            continue
        for line in text.splitlines():
            cmd, _, comment = line.partition("  #")
            if not cmd.strip():
                continue
            p = bash(m, cmd, env)
            if "error" in comment:  # the example says it fails
                assert p.returncode != 0, (where, line)
                assert comment.split(":")[-1].strip() in p.stderr, (where, line, p.stderr)
            else:
                assert p.returncode == 0, (where, line, p.stderr)
                if cmd.startswith("echo start"):
                    time.sleep(0.5)


def test_spec_examples(m):
    n = 0
    for where, lang, text in all_blocks():
        if kind(lang, text) != "spec":
            continue
        n += 1
        name = "spec%d" % n
        os.mkdir(m.job(name))
        assert m.write(name, "spec", text.replace("/home/me/project", project(m))) == 0, where
        assert "error" not in m.status(name)[1], (where, m.read(name, "status"))
    assert n >= 1


def test_man_examples(m):
    # The example mounts by itself, on the default store.
    env = env_for(m)
    m.unmount()
    for where, lang, text in all_blocks():
        if where.startswith("trainfs.1") and kind(lang, text) == "session":
            try:
                run_session(m, where, text, env)
            finally:
                if os.path.ismount(m.mnt):
                    unmount(m.mnt)


def test_demo_paces_itself(m):
    """`make run`'s demo job as tools/run.sh writes it: slow enough to try
    `stop` for minutes (at 3 s an epoch), and `stop` keeps its weights."""
    m.make_job("demo", spec=demo_spec(None), start=True)
    m.wait_epoch("demo", 1, timeout=10)
    time.sleep(2)
    assert m.wait_epoch("demo", 1) == 1  # still epoch 1 after 2 s more
    assert m.control("demo", "stop") == 0
    m.wait_state("demo", "ready", timeout=30)
    assert m.status("demo")[1]["reason"] == "stopped-early"


def test_the_two_commands_install_what_is_missing_first(m):
    """`make run` and `make test` each work alone on a fresh machine: both
    run tools/deps.sh before anything is built."""
    for target in ("run", "test"):
        p = subprocess.run(["make", "-n", "-C", ROOT, target],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True, timeout=60)
        first = [l for l in p.stdout.splitlines() if not l.startswith("make")]
        assert first and first[0] == "sh tools/deps.sh", (target, p.stdout)
