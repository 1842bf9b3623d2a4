#!/bin/sh
# Installs the Debian packages trainfs needs to build, run and test, when
# any is missing.  As root it runs apt-get; otherwise it prints the one
# command to run.  One line per purpose: build and run; tests and
# sanitizers; the formatter (make fmt, make check-fmt); the private Slurm of tests/slurm/cluster.sh; the everyday
# tools the tests drive (editors, tmux, rsync, gio); the PyTorch example
# (examples/pytorch_digits.py: about 875 MB with its dependencies); the
# graph test's SVG renderer; meson, ninja-build, dpkg-dev and
# debian-archive-keyring fetch, check and build libfuse 3.17 where the
# system's is older (tools/libfuse.sh).
set -e
PKGS="build-essential pkg-config fuse3 libfuse3-dev libsqlite3-dev
libarchive-dev libarchive-tools zstd python3 procps valgrind clang libclang-rt-14-dev
clang-format
slurm-wlm munge
vim nano tmux rsync libglib2.0-bin
python3-torch python3-sklearn
librsvg2-bin
man-db groff-base chromium attr
pcmanfm xvfb x11-apps xdotool imagemagick
meson ninja-build dpkg-dev debian-archive-keyring"
missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = 0 ]; then
	echo "trainfs: installing:$missing"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends $missing >/dev/null
else
	echo "trainfs: missing packages:$missing"
	echo "run: sudo apt-get install -y$missing"
	exit 1
fi
