"""Every job at once: MOUNT/summary.csv read with Python's csv module, and
MOUNT/index.html parsed as HTML: states (the green check for ready),
links that lead to the job's files, the sparkline, counts by state, true
sizes, and freshness after a change."""
import csv
import io
import os
import re
import urllib.parse
from html.parser import HTMLParser

HEADER = ("job,state,owner,epoch,epochs,monitor,best,best_epoch,reason,tags,"
          "created,started,finished,weights,gpus,sweep").split(",")
TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


def read_file(m, name):
    with open(m.path(name), "rb") as f:
        data = f.read()
    assert os.stat(m.path(name)).st_size == len(data)  # the true size
    return data.decode()


def rows(m):
    r = list(csv.reader(io.StringIO(read_file(m, "summary.csv"), newline="")))
    assert r[0] == HEADER
    return {row[0]: dict(zip(HEADER, row)) for row in r[1:]}


class Page(HTMLParser):
    def __init__(self):
        super().__init__()
        self.links, self.meta, self.badges, self.svgs = [], [], [], 0
        self.text = []
        self._badge = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "a" and "href" in a:
            self.links.append(a["href"])
        if tag == "meta":
            self.meta.append(a)
        if tag == "svg":
            self.svgs += 1
        if tag == "span" and "badge" in a.get("class", ""):
            self._badge = []

    def handle_endtag(self, tag):
        if tag == "span" and self._badge is not None:
            self.badges.append("".join(self._badge).strip())
            self._badge = None

    def handle_data(self, data):
        self.text.append(data)
        if self._badge is not None:
            self._badge.append(data)


def page(m):
    p = Page()
    p.feed(read_file(m, "index.html"))
    p.close()
    return p


def jobs_in_order(p):
    order = []
    for l in p.links:
        name = l.split("/")[1] if l.startswith("jobs/") else None
        if name and name not in order:
            order.append(name)
    return order


def finished_jobs(m):
    m.make_job("good", trainer_args="--epochs 3 --metric loss --values "
                                    "0.5939748287200928,0.7,0.8",
               epochs=3, monitor="loss", mode="min")
    m.control("good", "start")
    m.make_job("bad", trainer_args="--epochs 2 --exit 3")
    m.control("bad", "start")
    m.make_job("idle")
    m.wait_state("good", "ready")
    m.wait_state("bad", "failed")


def test_summary_csv(m):
    assert rows(m) == {}
    assert "summary.csv" in os.listdir(m.mnt)
    assert "index.html" in os.listdir(m.mnt)
    finished_jobs(m)
    r = rows(m)
    assert set(r) == {"good", "bad", "idle"}
    g = r["good"]
    assert g["state"] == "ready" and g["epoch"] == "3" and g["epochs"] == "3"
    assert g["monitor"] == "loss" and g["best"] == "0.593975", g
    assert g["best_epoch"] == "1" and g["reason"] == "completed"
    assert "ready" in g["tags"].split(";") and "completed" in g["tags"]
    assert g["weights"] == "jobs/good/weights/good.tar"
    assert os.path.exists(m.path(g["weights"]))
    for k in ("created", "started", "finished"):
        assert TIME.match(g[k]), g
    assert g["owner"] in ("root", str(os.getuid()))
    b = r["bad"]
    assert b["state"] == "failed" and b["weights"] == "" and b["best"] == ""
    assert "failed" in b["tags"].split(";")
    i = r["idle"]
    assert i["state"] == "created"
    assert [i[k] for k in ("epoch", "epochs", "monitor", "best", "started",
                           "finished", "weights")] == [""] * 7
    # a change shows at the next read
    m.control("idle", "start")
    m.wait_state("idle", ("running", "ready", "failed"))
    assert rows(m)["idle"]["state"] != "created"


def test_index_html(m):
    p = page(m)
    assert {"http-equiv": "refresh", "content": "5"} in p.meta
    assert "No jobs yet" in "".join(p.text)
    finished_jobs(m)
    p = page(m)
    assert "\u2713 ready" in p.badges, p.badges   # the green check
    assert "\u2717 failed" in p.badges or any("failed" in b for b in p.badges)
    # counts of every state in use, then one badge per job
    assert any(re.match(r"ready\s*1$", b.replace("\u2713", "").strip())
               for b in p.badges), p.badges
    # every link is relative and leads to a file of the mount
    for href in p.links:
        assert not urllib.parse.urlparse(href).scheme, href
        assert os.path.exists(m.path(urllib.parse.unquote(href))), href
    for f in ("graph.svg", "status", "weights/good.tar"):
        assert "jobs/good/" + f in p.links
    assert "jobs/bad/weights/bad.tar" not in p.links
    assert p.svgs >= 1  # the sparkline of good's loss
    text = "".join(p.text)
    assert "trainer exited with status 3" in text
    assert "0.593975" in text
    # newest first, and fresh after a change
    order = jobs_in_order(p)
    assert order == ["idle", "bad", "good"], order
    m.make_job("newer")
    p = page(m)
    assert jobs_in_order(p)[0] == "newer"


def test_dashboard_read_only(m):
    import errno
    for name in ("index.html", "summary.csv"):
        try:
            open(m.path(name), "w").close()
            assert False, "writable"
        except OSError as e:
            assert e.errno in (errno.EACCES, errno.EPERM)
        assert os.stat(m.path(name)).st_mode & 0o222 == 0


CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))), "build", "test-artifacts")


def chromium(*args):
    import subprocess
    p = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
                        "--no-first-run", "--user-data-dir=" + ARTIFACTS +
                        "/chromium-profile"] + list(args),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, timeout=120)
    assert p.returncode == 0, p.stderr[-2000:]
    return p.stdout


def test_index_in_a_browser(m):
    """Debian's chromium opens the page from the mount (file://): the DOM
    has every job and its state, and a screenshot is kept in
    build/test-artifacts/index.png."""
    assert os.path.exists(CHROMIUM), "chromium is missing: make deps"
    os.makedirs(ARTIFACTS, exist_ok=True)
    finished_jobs(m)
    url = "file://" + urllib.parse.quote(m.path("index.html"))
    dom = chromium("--dump-dom", url)
    p = Page()
    p.feed(dom)
    assert "\u2713 ready" in p.badges, p.badges
    assert jobs_in_order(p) == ["idle", "bad", "good"]
    png = os.path.join(ARTIFACTS, "index.png")
    if os.path.exists(png):
        os.unlink(png)
    chromium("--window-size=1400,500", "--screenshot=" + png, url)
    with open(png, "rb") as f:
        head = f.read(8)
    assert head == b"\x89PNG\r\n\x1a\n" and os.path.getsize(png) > 10000
