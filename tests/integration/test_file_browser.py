"""A real file browser on the mount (issue "every job at a glance"):
pcmanfm under Xvfb opens by-state/ready, shows the ready jobs' links, and
trainfs keeps answering; a screenshot is kept as a test artifact."""
import os
import shutil
import signal
import subprocess
import tempfile
import time

from harness import ROOT

ARTIFACTS = os.path.join(ROOT, "build", "test-artifacts")


def test_pcmanfm_shows_ready_jobs(m):
    for tool in ("pcmanfm", "Xvfb", "xdotool", "xwd"):
        if not shutil.which(tool):
            raise AssertionError("%s is needed (tools/deps.sh)" % tool)
    for name in ("alpha", "beta"):
        m.make_job(name, trainer_args="--epochs 2 --epoch-ms 5", start=True)
    m.make_job("gamma")  # created: not in by-state/ready
    for name in ("alpha", "beta"):
        m.wait_state(name, "ready")
    assert sorted(os.listdir(m.path("by-state", "ready"))) == ["alpha", "beta"]
    home = tempfile.mkdtemp(prefix="trainfs-test-home-")
    # A free display, told by Xvfb itself once it is ready.
    xvfb = subprocess.Popen(["Xvfb", "-displayfd", "1", "-screen", "0",
                             "1024x600x24", "-nolisten", "tcp"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    display = ":" + xvfb.stdout.readline().decode().strip()
    env = dict(os.environ, DISPLAY=display, HOME=home,
               XDG_CONFIG_HOME=os.path.join(home, ".config"),
               XDG_RUNTIME_DIR=home)
    browser = None
    try:
        win = ""
        for attempt in range(2):  # a first start can lose a race with X
            browser = subprocess.Popen(["pcmanfm", "--no-desktop",
                                        m.path("by-state", "ready")], env=env,
                                       stdout=subprocess.DEVNULL,
                                       stderr=subprocess.PIPE)
            deadline = time.monotonic() + 30
            while not win and browser.poll() is None and \
                    time.monotonic() < deadline:
                win = subprocess.run(["xdotool", "search", "--name", "ready"],
                                     env=env, stdout=subprocess.PIPE,
                                     text=True).stdout.strip()
                time.sleep(0.3)
            if win:
                break
        assert win, "no pcmanfm window for by-state/ready"
        time.sleep(2.0)  # it lists the folder and reads the links
        assert browser.poll() is None, browser.stderr.read().decode()[-2000:]
        t = time.monotonic()
        assert m.state("alpha") == "ready"
        assert time.monotonic() - t < 1.0
        os.makedirs(ARTIFACTS, exist_ok=True)
        shot = os.path.join(ARTIFACTS, "pcmanfm-by-state-ready.xwd")
        subprocess.run(["xwd", "-root", "-silent", "-out", shot], env=env,
                       check=True)
        assert os.path.getsize(shot) > 100000
        if os.path.exists("/usr/bin/convert"):
            subprocess.run(["/usr/bin/convert", shot, shot[:-4] + ".png"])
    finally:
        if browser:
            browser.send_signal(signal.SIGTERM)
            try:
                browser.wait(timeout=5)
            except subprocess.TimeoutExpired:
                browser.kill()
        xvfb.terminate()
        xvfb.wait(timeout=10)
        shutil.rmtree(home, ignore_errors=True)
