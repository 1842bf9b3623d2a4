#!/bin/sh
# A private one-node Slurm cluster for trainfs's tests, without systemd.
#
#   cluster.sh start DIR    bring it up (state, logs, config all in DIR)
#   cluster.sh stop DIR     scancel every job, wait, stop the daemons
#   cluster.sh status DIR   say whether it runs; exit 0 if it does
#
# Everything is private to DIR, so two clusters (two test runs) can live
# on one machine and neither touches the other nor a system one: its own
# munged on its own socket and key (slurm.conf's AuthInfo=socket=...), its
# own slurmctld and slurmd on free TCP ports, state, spool, logs and pid
# files in DIR.  `stop` signals only the pids recorded in DIR's pid files,
# and only when that pid still runs the daemon it should.
#
# After `start`, DIR/env holds "export SLURM_CONF=DIR/slurm.conf": every
# Slurm command (sbatch, squeue, scancel, scontrol, sinfo) needs it.
# Needs root and the Debian packages slurm-wlm and munge.
set -eu

START_TIMEOUT=${SLURM_START_TIMEOUT:-60} # seconds until the node is idle
STOP_TIMEOUT=${SLURM_STOP_TIMEOUT:-30}   # seconds for jobs and daemons to go

die() {
	echo "cluster.sh: $*" >&2
	exit 1
}

usage() {
	echo "usage: cluster.sh start|stop|status DIR" >&2
	exit 2
}

[ $# -eq 2 ] || usage
CMD=$1
mkdir -p "$2" 2>/dev/null || true
[ -d "$2" ] || die "cannot make folder '$2'"
DIR=$(cd "$2" && pwd)
CONF=$DIR/slurm.conf
MUNGE_DIR=$DIR/munge
SOCK=$MUNGE_DIR/munge.socket
export SLURM_CONF="$CONF"

# Prints the pid in pid file $1 if that process still runs program $2 with
# this cluster's own file ($CONF, or munged's socket) on its command line:
# a pid reused by another cluster's daemon is never taken for ours.
live_pid() {
	[ -s "$1" ] || return 1
	pid=$(cat "$1" 2>/dev/null) || return 1
	case $pid in '' | *[!0-9]*) return 1 ;; esac
	exe=$(readlink "/proc/$pid/exe" 2>/dev/null) || return 1
	case $(basename "$exe") in "$2"*) ;; *) return 1 ;; esac
	mark=$CONF
	[ "$2" = munged ] && mark=$SOCK
	tr '\0' '\n' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$mark" ||
		return 1
	echo "$pid"
}

# Waits up to $1 seconds for the command "$2..." to succeed.
wait_for() {
	t=$1
	shift
	end=$(($(date +%s) + t))
	while ! "$@" >/dev/null 2>&1; do
		[ "$(date +%s)" -lt "$end" ] || return 1
		sleep 0.2
	done
}

node_idle() {
	sinfo -h -N -o %T 2>/dev/null | grep -qx idle
}

queue_empty() {
	out=$(squeue -h -o %i 2>/dev/null) || return 1
	[ -z "$out" ]
}

pid_gone() {
	! live_pid "$1" "$2" >/dev/null
}

# Two free TCP ports on 127.0.0.1, "CTLD SLURMD".
free_ports() {
	python3 -c '
import socket
ss = []
for _ in range(2):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    ss.append(s)
print(*(s.getsockname()[1] for s in ss))'
}

show_log() {
	[ -f "$1" ] && { echo "--- last lines of $1:" >&2; tail -n 15 "$1" >&2; }
	return 0
}

# A start that failed half-way stops what it started, then says why.
start_failed() {
	cmd_stop >/dev/null 2>&1 || true
	die "$@"
}

start_munge() {
	if live_pid "$MUNGE_DIR/munged.pid" munged >/dev/null; then
		return 0
	fi
	id munge >/dev/null 2>&1 || die "no user 'munge' (install the package munge)"
	mkdir -p "$MUNGE_DIR"
	chown munge:munge "$MUNGE_DIR"
	chmod 0755 "$MUNGE_DIR" # clients of every user reach the socket
	if [ ! -s "$MUNGE_DIR/munge.key" ]; then
		if command -v mungekey >/dev/null 2>&1; then
			mungekey --create --keyfile="$MUNGE_DIR/munge.key" ||
				die "mungekey could not create a key"
		else
			dd if=/dev/urandom of="$MUNGE_DIR/munge.key" bs=1024 \
				count=1 2>/dev/null || die "cannot create a munge key"
		fi
	fi
	chown munge:munge "$MUNGE_DIR/munge.key"
	chmod 0600 "$MUNGE_DIR/munge.key"
	rm -f "$SOCK" "$SOCK.lock"
	runuser -u munge -- /usr/sbin/munged --socket="$SOCK" \
		--key-file="$MUNGE_DIR/munge.key" \
		--pid-file="$MUNGE_DIR/munged.pid" \
		--log-file="$MUNGE_DIR/munged.log" \
		--seed-file="$MUNGE_DIR/munged.seed" ||
		{ show_log "$MUNGE_DIR/munged.log"; start_failed "munged did not start"; }
	wait_for 10 sh -c "munge -n -S '$SOCK' | unmunge -S '$SOCK'" ||
		{ show_log "$MUNGE_DIR/munged.log"; start_failed "munged does not answer on $SOCK"; }
}

write_conf() {
	ports=$(free_ports) || die "cannot find free TCP ports"
	# shellcheck disable=SC2086 # two words on purpose
	set -- $ports
	cpus=$(nproc)
	mkdir -p "$DIR/state" "$DIR/spool" "$DIR/log" "$DIR/run"
	cat >"$CONF.tmp" <<EOF
# Written by tests/slurm/cluster.sh: a private one-node cluster.
ClusterName=trainfs-test
SlurmctldHost=localhost
SlurmctldPort=$1
SlurmdPort=$2
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$SOCK
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
ReturnToService=2
KillWait=5
MinJobAge=300
SlurmctldTimeout=30
SlurmdTimeout=30
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/run/slurmctld.pid
SlurmdPidFile=$DIR/run/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
NodeName=localhost NodeHostname=localhost NodeAddr=127.0.0.1 CPUs=$cpus State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
EOF
	mv "$CONF.tmp" "$CONF"
	chmod 0644 "$CONF"
}

cmd_start() {
	[ "$(id -u)" = 0 ] || die "must run as root"
	for p in slurmctld slurmd munged sbatch squeue sinfo; do
		command -v $p >/dev/null 2>&1 ||
			PATH=$PATH:/usr/sbin command -v $p >/dev/null 2>&1 ||
			die "'$p' not found (install the packages slurm-wlm and munge)"
	done
	chmod 0755 "$DIR" # the job owner's Slurm commands read the config
	# munged runs as munge, jobs as their owners: all must reach DIR.
	runuser -u nobody -- test -x "$DIR" 2>/dev/null ||
		die "other users cannot reach '$DIR' (a parent folder is closed): use a folder under /tmp"
	if cmd_status >/dev/null 2>&1; then
		echo "cluster.sh: already running in $DIR"
		cat "$DIR/env"
		return 0
	fi
	t0=$(date +%s.%N)
	start_munge
	if ! live_pid "$DIR/run/slurmctld.pid" slurmctld >/dev/null; then
		# A new config (new ports): an slurmd left of a run whose
		# slurmctld died would still talk to the old ones.
		if pid=$(live_pid "$DIR/run/slurmd.pid" slurmd); then
			kill -TERM "$pid" 2>/dev/null || true
			wait_for "$STOP_TIMEOUT" pid_gone "$DIR/run/slurmd.pid" slurmd ||
				kill -KILL "$pid" 2>/dev/null || true
		fi
		write_conf
		rm -rf "$DIR/state"/* "$DIR/spool"/*
		/usr/sbin/slurmctld -i -f "$CONF" ||
			{ show_log "$DIR/log/slurmctld.log"; start_failed "slurmctld did not start"; }
	fi
	if ! live_pid "$DIR/run/slurmd.pid" slurmd >/dev/null; then
		/usr/sbin/slurmd -f "$CONF" -N localhost ||
			{ show_log "$DIR/log/slurmd.log"; start_failed "slurmd did not start"; }
	fi
	echo "export SLURM_CONF=$CONF" >"$DIR/env.tmp"
	mv "$DIR/env.tmp" "$DIR/env"
	chmod 0644 "$DIR/env"
	if ! wait_for "$START_TIMEOUT" node_idle; then
		show_log "$DIR/log/slurmctld.log"
		show_log "$DIR/log/slurmd.log"
		start_failed "the node is not idle after ${START_TIMEOUT}s (sinfo: $(sinfo -h -N -o '%T %E' 2>&1 | tr '\n' ' '))"
	fi
	t1=$(date +%s.%N)
	echo "cluster.sh: up in $(echo "$t1 - $t0" | awk '{printf "%.1f", $1 - $3}' 2>/dev/null || echo ?)s, $(nproc) cpus, partition debug"
	cat "$DIR/env"
}

cmd_stop() {
	[ "$(id -u)" = 0 ] || die "must run as root"
	[ -f "$CONF" ] || { echo "cluster.sh: no cluster in $DIR"; return 0; }
	if live_pid "$DIR/run/slurmctld.pid" slurmctld >/dev/null; then
		# Every job of every user, pending ones too (scancel has no "all").
		ids=$(squeue -h -o %i 2>/dev/null | tr '\n' ' ')
		# shellcheck disable=SC2086 # one argument per id
		[ -z "$ids" ] || scancel --quiet $ids 2>/dev/null || true
		wait_for "$STOP_TIMEOUT" queue_empty ||
			echo "cluster.sh: jobs still queued after ${STOP_TIMEOUT}s:" \
				"$(squeue -h -o '%i %T' 2>&1 | tr '\n' ' ')" >&2
	fi
	for d in slurmd:"$DIR/run/slurmd.pid" slurmctld:"$DIR/run/slurmctld.pid" \
		munged:"$MUNGE_DIR/munged.pid"; do
		name=${d%%:*}
		file=${d#*:}
		pid=$(live_pid "$file" "$name") || continue
		kill -TERM "$pid" 2>/dev/null || true
		if ! wait_for "$STOP_TIMEOUT" pid_gone "$file" "$name"; then
			echo "cluster.sh: $name ($pid) ignored TERM for ${STOP_TIMEOUT}s: KILL" >&2
			kill -KILL "$pid" 2>/dev/null || true
		fi
	done
	rm -f "$SOCK" "$SOCK.lock"
	echo "cluster.sh: stopped $DIR"
}

cmd_status() {
	[ -f "$CONF" ] || { echo "not started"; return 1; }
	rc=0
	for d in munged:"$MUNGE_DIR/munged.pid" slurmctld:"$DIR/run/slurmctld.pid" \
		slurmd:"$DIR/run/slurmd.pid"; do
		name=${d%%:*}
		if pid=$(live_pid "${d#*:}" "$name"); then
			echo "$name: running ($pid)"
		else
			echo "$name: not running"
			rc=1
		fi
	done
	[ $rc = 0 ] && echo "node: $(sinfo -h -N -o %T 2>&1)"
	return $rc
}

case $CMD in
start) cmd_start ;;
stop) cmd_stop ;;
status) cmd_status ;;
*) usage ;;
esac
