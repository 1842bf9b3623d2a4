# The benchmark suite (tests/bench/bench.py): `make bench` mounts trainfs on
# fresh stores, measures every figure of the performance issue against its
# native baseline and prints a table (and appends bench-results/results.csv).
# It never fails on a timing (a MISSED target is only reported); it fails
# only when a figure cannot be measured at all.  BENCH_ARGS passes options:
#   make bench BENCH_ARGS="-k pack,ingest"      a subset (see --list)
#   make bench-quick                            100 MiB, 1,000 jobs: a smoke run

BENCH_LOOP := $(BUILD)/bench/loop
BENCH_ARGS ?=

.PHONY: bench bench-quick

$(BENCH_LOOP): tests/bench/loop.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -std=gnu11 -Wall -Wextra -Werror -D_GNU_SOURCE -o $@ $<

bench: all $(BENCH_LOOP)
	python3 tests/bench/bench.py --trainfs ./$(BIN) --loop $(BENCH_LOOP) $(BENCH_ARGS)

bench-quick: all $(BENCH_LOOP)
	python3 tests/bench/bench.py --trainfs ./$(BIN) --loop $(BENCH_LOOP) --quick $(BENCH_ARGS)
