"""Following `metrics` as it grows (tail -f, or a program that keeps
reading at the end), across a new column: the follower gets the new header
line, then the rows after those it has seen, so it never stops seeing
rows; `cat metrics` still shows one CSV with one header."""
import os
import subprocess
import time

# Epoch 1 reports loss; epoch 2 adds acc (a new column); then epoch 3.
STEPS = """command = sleep %(first)s; \
echo 'epoch=1 loss=0.5' >> "$TRAINFS_METRICS"; sleep %(gap)s; \
echo 'epoch=2 loss=0.4 acc=0.6' >> "$TRAINFS_METRICS"; sleep %(gap)s; \
echo 'epoch=3 loss=0.3 acc=0.7' >> "$TRAINFS_METRICS"; sleep %(gap)s; \
echo w > "$TRAINFS_OUTPUT/w"
"""


def start(m, first=0, gap=1.5):
    m.make_job("j", spec=STEPS % {"first": first, "gap": gap}, start=True)


def follow(path, until, timeout=20):
    """Reads PATH to its end, then keeps reading at the end (as tail -f
    does) until UNTIL(text) holds; returns all it read."""
    text = ""
    deadline = time.monotonic() + timeout
    with open(path) as f:
        while time.monotonic() < deadline:
            chunk = f.read()
            text += chunk
            if until(text):
                return text
            if not chunk:
                time.sleep(0.05)
    raise AssertionError("follower stopped seeing rows:\n" + text)


def test_a_follower_sees_rows_after_a_new_column(m):
    start(m)
    m.wait_epoch("j", 1)
    text = follow(m.job("j", "metrics"), lambda t: "\n3," in t)
    assert text == ("epoch,loss\n1,0.5\n"
                    "epoch,loss,acc\n2,0.4,0.6\n3,0.3,0.7\n"), text
    assert m.read("j", "metrics") == "epoch,loss,acc\n1,0.5,\n2,0.4,0.6\n3,0.3,0.7\n"


def test_a_follower_of_an_empty_file_sees_the_first_row(m):
    start(m, first=1.5)
    m.wait_state("j", "running")
    assert m.read("j", "metrics") == "epoch\n"
    text = follow(m.job("j", "metrics"), lambda t: "\n2," in t)
    assert text.startswith("epoch\nepoch,loss\n1,0.5\nepoch,loss,acc\n2,0.4,0.6\n"), text


def test_cat_shows_one_csv_while_columns_arrive(m):
    start(m, gap=0.3)
    m.wait_state("j", "running")
    while m.state("j") == "running":
        text = m.read("j", "metrics")
        assert text.count("epoch") == 1, text
        lines = text.splitlines()
        assert all(l.count(",") == lines[0].count(",") for l in lines), text
    m.wait_state("j", "ready")


def test_gnu_tail_f_keeps_showing_rows_after_a_new_column(m):
    """GNU tail polls FUSE files by their size."""
    start(m)
    m.wait_epoch("j", 1)
    out = os.path.join(m.dir, "tail.out")
    with open(out, "w") as f:
        p = subprocess.Popen(["tail", "-s", "0.2", "-n", "+1", "-f",
                              m.job("j", "metrics")], stdout=f,
                             stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        text = ""
        while time.monotonic() < deadline and "\n2,0.4,0.6\n" not in text:
            time.sleep(0.1)
            text = open(out).read()
    finally:
        p.kill()
        p.wait()
    assert text.startswith("epoch,loss\n1,0.5\n"), text
    # GNU tail reads as many bytes as the size grew: a row may come one
    # row late (row 2 with row 3).
    assert text == "epoch,loss\n1,0.5\nepoch,loss,acc\n2,0.4,0.6\n", text
