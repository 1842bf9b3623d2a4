# Fuzzing: libFuzzer harnesses for the parsers that read what users and
# trainers write: the spec (fuzz_spec), control writes and the state
# table (fuzz_control), metrics lines with their splitter (fuzz_metrics),
# a sweep's spec with its draws and the pruning rules (fuzz_sweep), and
# the decoders of a trainer's own log (fuzz_csv, fuzz_jsonl,
# fuzz_tfevents: TFRecord frames and Event protocol buffers);
# and for the renderer of what a trainer's numbers become, graph.svg
# (fuzz_graph).  They are built with clang, apart from the main build, into
# $(BUILD)/fuzz.
#
#   make fuzz        runs each harness for FUZZ_SECONDS (default 60) on a
#                    scratch corpus in $(BUILD)/fuzz/corpus/TARGET, seeded
#                    from tests/fuzz/corpus/TARGET, which it never writes;
#                    crashing inputs land in $(BUILD)/fuzz/crashes/
#   make fuzz-merge  adds the scratch inputs that reach new code to the
#                    corpus in the repo (libFuzzer -merge=1)
#   make fuzz-check  runs every corpus and regression input once, then each
#                    harness at random for FUZZ_CHECK_SECONDS (default 3);
#                    `make test` runs it first
#
# A crash is fixed, then its input is kept in tests/fuzz/regressions/TARGET
# under a name that says what it broke, and run by every fuzz-check.

FUZZ_CC            ?= clang
FUZZ_SECONDS       ?= 60
FUZZ_CHECK_SECONDS ?= 3
FUZZ_FLAGS         ?=
FUZZ_DIR           := $(BUILD)/fuzz
FUZZ_PKG_CFLAGS     = $(shell $(FUSE_PKG) --cflags fuse3 2>/dev/null) \
                      $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
FUZZ_TARGETS       := spec control metrics graph sweep csv jsonl tfevents
FUZZ_BIN           := $(FUZZ_TARGETS:%=$(FUZZ_DIR)/fuzz_%)
FUZZ_ALL_CFLAGS     = -g -O1 -std=gnu11 -Wall -Wextra -Werror -I. \
                      -D_GNU_SOURCE -fno-omit-frame-pointer \
                      -fsanitize=address,undefined \
                      -fno-sanitize-recover=undefined

# Runs one harness: its input size limit, dictionary and output (run.sh).
FUZZ_RUN = sh tests/fuzz/run.sh

.PHONY: fuzz fuzz-check fuzz-merge

# The sanitizer rerun of the suite (check-asan) does not repeat them: the
# harnesses always run under AddressSanitizer and UBSan.
test: $(if $(SAN),,fuzz-check)

fuzz-check: $(FUZZ_BIN)
	@fail=0; for t in $(FUZZ_TARGETS); do \
	  $(FUZZ_RUN) check $$t $(FUZZ_DIR) $(FUZZ_CHECK_SECONDS) || fail=1; \
	done; exit $$fail

fuzz: $(FUZZ_BIN)
	@fail=0; for t in $(FUZZ_TARGETS); do \
	  $(FUZZ_RUN) fuzz $$t $(FUZZ_DIR) $(FUZZ_SECONDS) $(FUZZ_FLAGS) || fail=1; \
	done; exit $$fail

fuzz-merge: $(FUZZ_BIN)
	@for t in $(FUZZ_TARGETS); do \
	  $(FUZZ_RUN) merge $$t $(FUZZ_DIR) 0 || exit 1; \
	done

# Only the parsers get coverage feedback: the harnesses' own checks would
# only slow libFuzzer down and steer it towards themselves.
$(FUZZ_DIR)/fuzz_spec: $(FUZZ_DIR)/jobs/model/spec.o $(FUZZ_DIR)/jobs/model/spec_values.o \
  $(FUZZ_DIR)/jobs/model/metrics.o \
  $(FUZZ_DIR)/util/utf8.o $(FUZZ_DIR)/util/text.o \
  $(FUZZ_DIR)/jobs/model/ownpaths.o
$(FUZZ_DIR)/fuzz_control: $(FUZZ_DIR)/jobs/model/state.o
$(FUZZ_DIR)/fuzz_metrics: $(FUZZ_DIR)/jobs/model/metrics.o
$(FUZZ_DIR)/fuzz_sweep: $(FUZZ_DIR)/jobs/model/sweep_spec.o \
  $(FUZZ_DIR)/jobs/model/sweep_plan.o $(FUZZ_DIR)/jobs/model/prune.o \
  $(FUZZ_DIR)/jobs/model/spec.o $(FUZZ_DIR)/jobs/model/spec_values.o \
  $(FUZZ_DIR)/jobs/model/metrics.o \
  $(FUZZ_DIR)/util/utf8.o $(FUZZ_DIR)/util/text.o $(FUZZ_DIR)/util/number.o \
  $(FUZZ_DIR)/jobs/model/ownpaths.o
# The decoders of a trainer's own log (metrics_from), each with the metrics
# parser whose rules they share.
$(FUZZ_DIR)/fuzz_csv: $(FUZZ_DIR)/jobs/model/src_csv.o $(FUZZ_DIR)/jobs/model/metrics.o
$(FUZZ_DIR)/fuzz_jsonl: $(FUZZ_DIR)/jobs/model/src_jsonl.o $(FUZZ_DIR)/jobs/model/metrics.o
$(FUZZ_DIR)/fuzz_tfevents: $(FUZZ_DIR)/jobs/model/src_tfevents.o \
  $(FUZZ_DIR)/jobs/model/metrics.o
$(FUZZ_DIR)/fuzz_tfevents: FUZZ_LIBS = -lpthread
# The renderer draws a real job table, so it links the job model (without
# coverage: only the drawing and the number formatter steer the fuzzer).
FUZZ_GRAPH_PLAIN := $(filter-out util/number.c,$(LIB_SRC))
$(FUZZ_DIR)/fuzz_graph: $(FUZZ_DIR)/fs/graph.o $(FUZZ_DIR)/util/number.o \
  $(FUZZ_GRAPH_PLAIN:%.c=$(FUZZ_DIR)/plain/%.o)
$(FUZZ_DIR)/fuzz_graph: FUZZ_LIBS = $(LDLIBS)

$(FUZZ_BIN): $(FUZZ_DIR)/%: $(FUZZ_DIR)/%.o
	$(FUZZ_CC) $(FUZZ_ALL_CFLAGS) -fsanitize=fuzzer -o $@ $^ -lm $(FUZZ_LIBS)

$(FUZZ_DIR)/jobs/%.o: jobs/%.c | $(FUZZ_DIR)/toolchain.ok
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_ALL_CFLAGS) -fsanitize=fuzzer-no-link -MMD -MP \
	  -c -o $@ $<

$(FUZZ_DIR)/fs/%.o: fs/%.c | $(FUZZ_DIR)/toolchain.ok
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_ALL_CFLAGS) $(FUZZ_PKG_CFLAGS) \
	  -fsanitize=fuzzer-no-link -MMD -MP -c -o $@ $<

$(FUZZ_DIR)/util/%.o: util/%.c | $(FUZZ_DIR)/toolchain.ok
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_ALL_CFLAGS) -fsanitize=fuzzer-no-link -MMD -MP \
	  -c -o $@ $<

$(FUZZ_DIR)/plain/%.o: %.c | $(FUZZ_DIR)/toolchain.ok
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_ALL_CFLAGS) $(FUZZ_PKG_CFLAGS) -MMD -MP -c -o $@ $<

$(FUZZ_DIR)/%.o: tests/fuzz/%.c | $(FUZZ_DIR)/toolchain.ok
	$(FUZZ_CC) $(FUZZ_ALL_CFLAGS) $(FUZZ_PKG_CFLAGS) -MMD -MP -c -o $@ $<

-include $(wildcard $(FUZZ_DIR)/*.d $(FUZZ_DIR)/jobs/*/*.d $(FUZZ_DIR)/fs/*.d \
  $(FUZZ_DIR)/util/*.d $(FUZZ_DIR)/plain/*/*.d)

# Fails loudly, with the packages to install, when clang or its libFuzzer
# runtime is missing (Debian 12: clang and libclang-rt-14-dev).
$(FUZZ_DIR)/toolchain.ok:
	@mkdir -p $(FUZZ_DIR)
	@printf '%s\n' '#include <stddef.h>' '#include <stdint.h>' \
	  'int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)' \
	  '{ (void)d; (void)n; return 0; }' > $(FUZZ_DIR)/probe.c
	@$(FUZZ_CC) -fsanitize=fuzzer,address,undefined -o $(FUZZ_DIR)/probe \
	  $(FUZZ_DIR)/probe.c >$(FUZZ_DIR)/probe.log 2>&1 || { \
	  echo "fuzz: '$(FUZZ_CC)' cannot build libFuzzer harnesses" \
	       "(see $(FUZZ_DIR)/probe.log)" >&2; \
	  echo "fuzz: install clang and its libFuzzer runtime: make deps," \
	       "or: sudo apt-get install -y clang libclang-rt-14-dev" >&2; \
	  exit 1; }
	@touch $@
