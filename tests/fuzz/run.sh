#!/bin/sh
# Runs one libFuzzer harness for tests/fuzz/fuzz.mk and prints one line of
# what it did; on a crash, the end of libFuzzer's log and where the input
# was saved.  The repo's corpus and regressions are only ever read, except
# by "merge", which adds to the corpus what reaches new code.
#
#   run.sh check TARGET DIR SECONDS   corpus + regressions once, then SECONDS at random
#   run.sh fuzz TARGET DIR SECONDS [LIBFUZZER_FLAG...]
#   run.sh merge TARGET DIR 0
#
# DIR is the build directory of the harnesses ($(BUILD)/fuzz).
set -u
mode=$1 t=$2 dir=$3 secs=$4
shift 4
bin=$dir/fuzz_$t
corpus=tests/fuzz/corpus/$t
regress=tests/fuzz/regressions/$t
log=$dir/$mode-$t.log

# The longest input each gets: a spec of a few hundred lines, a page-sized
# control write, metrics past METRICS_LINE_MAX so overlong lines occur, and
# for the graph a few hundred rows (cycled up to 10^6 by the harness).
case $t in
spec) max_len=16384 ;;
control) max_len=4096 ;;
metrics) max_len=70000 ;;
graph) max_len=16384 ;;
csv|jsonl) max_len=70000 ;;
tfevents) max_len=16384 ;;
*) echo "fuzz: unknown target '$t'" >&2; exit 2 ;;
esac
[ -d "$corpus" ] || { echo "fuzz: no corpus '$corpus'" >&2; exit 2; }
seeds=$corpus
[ -d "$regress" ] && seeds="$seeds $regress"
mkdir -p "$dir/crashes"
# A hang fails at -timeout; the graph's 10^6-epoch inputs take seconds
# under ASan on a busy machine, so it gets more.
timeout=10
[ "$t" = graph ] && timeout=30
flags="-max_len=$max_len -timeout=$timeout -dict=tests/fuzz/$t.dict
-artifact_prefix=$dir/crashes/$t- -print_final_stats=1"

# Prints the value of libFuzzer's final "stat::NAME: N" line.
stat() {
	sed -n "s/^stat::$1: *//p" "$log" | tail -n 1
}

# Prints why the run failed, from libFuzzer's log.
failed() {
	tail -n 30 "$log" >&2
	echo "fuzz $t: FAILED; log: $log; input: $(ls -t "$dir"/crashes/$t-* 2>/dev/null | head -n 1)" >&2
	exit 1
}

# The graph's 10^6-epoch inputs are for the replay (check) only: fuzzing
# on them would spend its time there.
[ "$mode" = check ] || export FUZZ_GRAPH_MAX_ROWS=4096

case $mode in
check)
	scratch=$dir/check/$t
	rm -rf "$scratch"
	mkdir -p "$scratch"
	n=$(find $seeds -type f | wc -l)
	# shellcheck disable=SC2086
	"$bin" $flags -max_total_time="$secs" "$scratch" $seeds >"$log" 2>&1 ||
		failed
	echo "fuzz $t: $n corpus and regression inputs ok, then" \
	     "$(stat number_of_executed_units) random runs in ${secs}s ok"
	;;
fuzz)
	work=$dir/corpus/$t
	mkdir -p "$work"
	cp "$corpus"/* "$work"/
	echo "fuzz $t: fuzzing for ${secs}s (log: $log)"
	# shellcheck disable=SC2086
	"$bin" $flags -max_total_time="$secs" "$@" "$work" $seeds >"$log" 2>&1 ||
		failed
	echo "fuzz $t: $(stat number_of_executed_units) runs" \
	     "($(stat average_exec_per_sec)/s), $(stat new_units_added) new" \
	     "inputs, $(grep -o 'cov: [0-9]*' "$log" | tail -n 1), no crash"
	;;
merge)
	[ -d "$dir/corpus/$t" ] || { echo "fuzz $t: nothing to merge; run make fuzz"; exit 0; }
	before=$(ls "$corpus" | wc -l)
	# shellcheck disable=SC2086
	"$bin" -merge=1 -max_len=$max_len "$corpus" "$dir/corpus/$t" >"$log" 2>&1 ||
		failed
	echo "fuzz $t: corpus $before -> $(ls "$corpus" | wc -l) inputs"
	;;
*)
	echo "fuzz: unknown mode '$mode'" >&2
	exit 2
	;;
esac
