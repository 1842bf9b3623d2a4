#!/bin/sh
# `make run`: mounts trainfs at ./mnt on a store in ./.store and starts the
# bundled demo job.  `make stop` (this script with --stop) unmounts; the
# demo trainer keeps running until it is stopped or ends, as any job does.
set -e
cd "$(dirname "$0")/.."
TOP=$(pwd)
MNT=$TOP/mnt
STORE=$TOP/.store

if [ "$1" = --stop ]; then
	if mountpoint -q "$MNT" 2>/dev/null; then
		fusermount3 -u "$MNT" && echo "unmounted $MNT"
	else
		fusermount3 -u -z "$MNT" 2>/dev/null || true
		echo "$MNT is not mounted"
	fi
	exit 0
fi

mkdir -p "$MNT"
if ! ls "$MNT" >/dev/null 2>&1; then
	# A daemon that died leaves "Transport endpoint is not connected".
	fusermount3 -u -z "$MNT" 2>/dev/null || true
fi
if mountpoint -q "$MNT"; then
	echo "trainfs is already mounted at $MNT"
else
	./trainfs "$MNT" --store "$STORE"
	echo "mounted trainfs at $MNT (store: $STORE)"
fi

# A fresh demo job: demo, or demo-2, demo-3... when an earlier one is done.
name=demo
n=1
while [ -d "$MNT/jobs/$name" ]; do
	state=$(head -n 1 "$MNT/jobs/$name/status")
	case $state in
	created|queued|running|stopping|packaging) break ;;
	esac
	n=$((n + 1))
	name=demo-$n
done
J=$MNT/jobs/$name
if [ ! -d "$J" ]; then
	mkdir "$J"
	cat > "$J/spec" <<SPEC
# The bundled demo: a small neural network learning two interleaved half-moons.
command   = $TOP/demo/trainer --epochs 300
epochs    = 300
monitor   = val_loss
mode      = min
patience  = 8
min_delta = 0.001
grace     = 10
SPEC
fi
[ "$(head -n 1 "$J/status")" = created ] && echo start > "$J/control"
sleep 1

cat <<EOF2

The demo job '$name' is training.  Try:

  cat mnt/jobs/$name/status          # state, epoch, best so far
  cat mnt/jobs/$name/metrics         # one CSV row per epoch
  xdg-open mnt/jobs/$name/graph.svg  # the training graph (any browser)
  cat mnt/jobs/$name/wait            # blocks until the job is done
  echo stop > mnt/jobs/$name/control # stop early and keep the weights
  tar -tf mnt/jobs/$name/weights/$name.tar

It trains at three seconds an epoch.  Left alone it stops itself after
about four minutes, once val_loss stops improving, and hands over
its best epoch's checkpoint ("weights from: checkpoint of epoch N" in
status); "echo resume epochs=400 > mnt/jobs/$name/control" trains it on.
Unmount with: make stop   (or: fusermount3 -u mnt)

EOF2
head -n 3 "$J/status"
