# The benchmark suite (tests/bench/bench.py): `make bench` mounts trainfs on
# fresh stores, measures every figure of the performance issue against its
# native baseline and prints a table (and appends bench-results/results.csv).
# It never fails on a timing (a MISSED target is only reported); it fails
# only when a figure cannot be measured at all.  BENCH_ARGS passes options:
#   make bench BENCH_ARGS="-k pack,ingest"      a subset (see --list)
#   make bench-quick                            100 MiB, 1,000 jobs: a smoke run

BENCH_LOOP := $(BUILD)/bench/loop
BENCH_SWEEP_SIM := $(BUILD)/bench/sweep_sim
BENCH_ARGS ?=

.PHONY: bench bench-quick bench-sweeps

$(BENCH_LOOP): tests/bench/loop.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -std=gnu11 -Wall -Wextra -Werror -D_GNU_SOURCE -o $@ $<

bench: all $(BENCH_LOOP) bench-sweeps
	python3 tests/bench/bench.py --trainfs ./$(BIN) --loop $(BENCH_LOOP) $(BENCH_ARGS)

# The sweeps: the synthetic benchmark on trainfs's own pruning code (many
# seeds, simulated time), the cost of one decision with 1,000 trials, then
# the same search through a real mount (wall time with parallel = 2).
$(BENCH_SWEEP_SIM): tests/bench/sweep_sim.c jobs/model/prune.c jobs/model/sweep_plan.c \
		    util/number.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -std=gnu11 -Wall -Wextra -Werror -I. -D_GNU_SOURCE \
	  -o $@ $^ -lm

bench-sweeps: all $(BENCH_SWEEP_SIM)
	$(BENCH_SWEEP_SIM)
	python3 tests/bench/sweep_bench.py --trainfs ./$(BIN)

bench-quick: all $(BENCH_LOOP)
	python3 tests/bench/bench.py --trainfs ./$(BIN) --loop $(BENCH_LOOP) --quick $(BENCH_ARGS)
