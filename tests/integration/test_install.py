"""Installed like a filesystem: `make install DESTDIR=...` puts trainfs and
its man page in place (man reads it, groff finds nothing to warn about),
`make uninstall` takes them away, and mount.fuse3 (what `mount -t
fuse.trainfs` and /etc/fstab run) mounts the installed binary with the
store as the source and trainfs options inside -o."""
import os
import subprocess
import time

import harness
from harness import PY, ROOT, TRAINER, kill_store_processes, unmount

MOUNT_FUSE = "/sbin/mount.fuse3"


def install(m, destdir, *extra):
    """make install of the binary under test (never rebuilt here: -o)."""
    subprocess.run(["make", "-s", "-C", ROOT, "install", "DESTDIR=" + destdir,
                    "BIN=" + harness.TRAINFS, "-o", harness.TRAINFS] +
                   list(extra), check=True, stdout=subprocess.PIPE)


def test_make_install(m):
    d = os.path.join(m.dir, "dest")
    install(m, d, "PREFIX=/usr")
    binary = os.path.join(d, "usr/bin/trainfs")
    page = os.path.join(d, "usr/share/man/man1/trainfs.1")
    assert os.stat(binary).st_mode & 0o777 == 0o755
    assert os.stat(page).st_mode & 0o777 == 0o644
    out = subprocess.run([binary, "--help"], stdout=subprocess.PIPE,
                         text=True, check=True).stdout
    assert out.startswith("usage: trainfs MOUNTPOINT")
    p = subprocess.run(["man", "-l", page], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True,
                       env=dict(os.environ, MANPAGER="cat", PAGER="cat",
                                MANWIDTH="80"))
    assert p.returncode == 0, p.stderr
    assert "trainfs - a filesystem in which every training job" in p.stdout
    for word in ("index.html", "summary.csv", "TRAINFS_OUTPUT", "EXIT STATUS",
                 "min_delta", "weights from", "fuse.trainfs"):
        assert word in p.stdout, word
    g = subprocess.run(["groff", "-man", "-Tutf8", "-ww", "-z", page],
                       stderr=subprocess.PIPE, text=True)
    assert g.returncode == 0 and g.stderr == "", g.stderr
    subprocess.run(["make", "-s", "-C", ROOT, "uninstall", "DESTDIR=" + d,
                    "PREFIX=/usr"], check=True)
    assert not os.path.exists(binary) and not os.path.exists(page)


def mounted_type(mnt):
    with open("/proc/mounts") as f:
        for line in f:
            fields = line.split()
            if fields[1] == mnt:
                return fields[2]
    return None


def helper_mount(m, d, source, mnt, opts):
    """Runs mount.fuse3 as mount(8) does for type fuse.trainfs; mount(8)
    clears PATH, so /bin/sh finds /usr/local/bin/trainfs: here the
    DESTDIR's instead."""
    env = {"PATH": os.path.join(d, "usr/local/bin") + ":/usr/bin:/bin",
           "HOME": m.dir}
    p = subprocess.run([MOUNT_FUSE, source, mnt, "-o", opts,
                        "-t", "fuse.trainfs"], env=env,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True, timeout=30)
    assert p.returncode == 0, p.stdout
    assert mounted_type(mnt) == "fuse.trainfs"


def test_mount_helper(m):
    d = os.path.join(m.dir, "dest")
    install(m, d)
    store = os.path.join(m.dir, "store2")
    store3 = os.path.join(m.dir, "store3")
    mnt = os.path.join(m.dir, "mnt2")
    mnt3 = os.path.join(m.dir, "mnt3")
    os.mkdir(mnt)
    os.mkdir(mnt3)
    try:
        # the source is the store; trainfs options ride in -o with
        # the FUSE ones and those mount.fuse3 itself drops
        helper_mount(m, d, store, mnt,
                     "allow_other,max_running=1,nofail,_netdev")
        assert os.path.exists(os.path.join(store, "trainfs.db"))
        jobs = os.path.join(mnt, "jobs")
        for name in ("a", "b"):
            os.mkdir(os.path.join(jobs, name))
            with open(os.path.join(jobs, name, "spec"), "w") as f:
                f.write("command = %s %s --forever --epoch-ms 20\n" %
                        (PY, TRAINER))
            with open(os.path.join(jobs, name, "control"), "w") as f:
                f.write("start\n")

        def state(name):
            with open(os.path.join(jobs, name, "status")) as f:
                return f.readline().strip()
        deadline = time.monotonic() + 20
        while state("a") != "running" and time.monotonic() < deadline:
            time.sleep(0.05)
        assert state("a") == "running"
        time.sleep(0.5)
        assert state("b") == "queued"  # max_running=1 reached trainfs
        for name in ("a", "b"):
            with open(os.path.join(jobs, name, "control"), "w") as f:
                f.write("cancel\n")

        # "none": the default store, here given by store= in -o
        helper_mount(m, d, "none", mnt3, "store=" + store3)
        assert os.path.isdir(os.path.join(mnt3, "jobs"))
        assert os.path.exists(os.path.join(store3, "trainfs.db"))
    finally:
        for p in (mnt, mnt3):
            if mounted_type(p):
                subprocess.run(["fusermount3", "-u", p])
        deadline = time.monotonic() + 5
        while any(mounted_type(p) for p in (mnt, mnt3)) and \
                time.monotonic() < deadline:
            time.sleep(0.05)
        for p in (mnt, mnt3):
            unmount(p)
        kill_store_processes(store)
        kill_store_processes(store3)


def test_too_many_arguments(m):
    p = subprocess.run([harness.TRAINFS, "a", "b", "c"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True)
    assert p.returncode == 2
    assert "unexpected argument 'c'" in p.stderr


def test_sigterm_is_a_clean_stop(m):
    """systemctl stop sends SIGTERM: trainfs unmounts and exits 0, as an
    unmount makes it do, so the service does not end as failed."""
    import signal
    m.proc.send_signal(signal.SIGTERM)
    assert m.proc.wait(timeout=10) == 0
    m.proc = None
    assert not os.path.ismount(m.mnt)


def test_daemon_deletes_and_exits(m):
    """Without -f (make run, mount -t fuse.trainfs): the daemon, not the
    process that forked it, empties the trash of a removed job, and an
    unmount ends it."""
    import re
    store = os.path.join(m.dir, "store2")
    mnt = os.path.join(m.dir, "mnt2")
    os.mkdir(mnt)
    pid = None
    try:
        p = subprocess.run([harness.TRAINFS, mnt, "--store", store],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True, timeout=30)
        assert p.returncode == 0, p.stdout
        # The daemon logs its pid once mounted, maybe after its parent exits.
        deadline = time.monotonic() + 10
        while pid is None:
            with open(os.path.join(store, "trainfs.log")) as f:
                found = re.findall(r"pid (\d+)\)", f.read())
            if found:
                pid = int(found[-1])
            else:
                assert time.monotonic() < deadline, "no pid in the log"
                time.sleep(0.05)
        job = os.path.join(mnt, "jobs", "gone")
        os.mkdir(job)
        ids = os.listdir(os.path.join(store, "jobs"))
        assert len(ids) == 1, ids
        os.rmdir(job)
        trash = os.path.join(store, "trash")
        deadline = time.monotonic() + 10
        while (os.path.exists(os.path.join(store, "jobs", ids[0])) or
               (os.path.isdir(trash) and os.listdir(trash))) and \
                time.monotonic() < deadline:
            time.sleep(0.05)
        left = os.listdir(trash) if os.path.isdir(trash) else []
        assert not left and not os.path.exists(
            os.path.join(store, "jobs", ids[0])), left
        subprocess.run(["fusermount3", "-u", mnt], check=True)
        deadline = time.monotonic() + 10
        while os.path.exists("/proc/%d" % pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        with open("/proc/%d/stat" % pid) if os.path.exists("/proc/%d" % pid) \
                else open(os.devnull) as f:
            st = f.read()
        assert not st or st.split()[2] == "Z", "daemon still running: " + st
    finally:
        unmount(mnt)
        kill_store_processes(store)
