# trainfs: training jobs as files.  `make` builds ./trainfs; `make test`
# runs every test; `make run` installs what is missing, builds, mounts at
# ./mnt and starts the demo job.

PKGS     := sqlite3 libarchive
CC       ?= cc
CFLAGS   ?= -O2 -g
SAN      ?=
BUILD    ?= build
BIN      ?= trainfs

# libfuse.  FUSE passthrough (the kernel reads weights itself) needs 3.17.
#   LIBFUSE=auto     (default) the system's if it is 3.17 or newer, else
#                    Debian 13's 3.17, fetched, checked and built once into
#                    build/libfuse by tools/libfuse.sh, linked statically
#   LIBFUSE=system   the system's, whatever its version (older than 3.17:
#                    no passthrough; weights are read by splice)
#   LIBFUSE=bundled  the fetched one even where the system's would do
LIBFUSE     ?= auto
LIBFUSE_DIR := build/libfuse
LIBFUSE_PC  := $(LIBFUSE_DIR)/install/lib/pkgconfig/fuse3.pc
ifeq ($(LIBFUSE),auto)
FUSE_FROM := $(if $(shell pkg-config --atleast-version=3.17 fuse3 2>/dev/null \
               && echo y),system,bundled)
else ifneq ($(filter system bundled,$(LIBFUSE)),)
FUSE_FROM := $(LIBFUSE)
else
$(error LIBFUSE must be auto, system or bundled, not '$(LIBFUSE)')
endif
ifeq ($(FUSE_FROM),bundled)
# Only libfuse3.a is in that folder, so -lfuse3 links it statically.
FUSE_PKG  = PKG_CONFIG_PATH=$(LIBFUSE_DIR)/install/lib/pkgconfig \
            pkg-config --static
FUSE_DEP := $(LIBFUSE_PC)
else
FUSE_PKG  = pkg-config
FUSE_DEP :=
endif
# Which libfuse $(BUILD) was compiled against: switching recompiles.
FUSE_STAMP := $(BUILD)/.libfuse-$(FUSE_FROM)

ALL_CFLAGS = $(CFLAGS) $(SAN) -std=gnu11 -Wall -Wextra -Werror -I. \
             -D_GNU_SOURCE $(shell $(FUSE_PKG) --cflags fuse3 2>/dev/null) \
             $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LDLIBS   += $(shell $(FUSE_PKG) --libs fuse3 2>/dev/null) \
            $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lpthread -lm

# One list per layer; the arrows point fs -> jobs -> store.
LIB_SRC  := $(wildcard jobs/*/*.c store/*.c util/*.c)
FS_SRC   := $(wildcard fs/*.c)
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o)
FS_OBJ   := $(FS_SRC:%.c=$(BUILD)/%.o)
UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)

.PHONY: all test unit integration run stop check-asan valgrind deps clean \
	distclean libfuse fmt check-fmt

all: $(BIN) demo/trainer

$(BIN): $(FS_OBJ) $(LIB_OBJ)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

demo/trainer: demo/trainer.c
	$(CC) $(ALL_CFLAGS) -o $@ $< -lm

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/tests/%: tests/unit/%.c $(LIB_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# The dashboard's renderers are tested alone (they need no FUSE).
$(BUILD)/tests/test_dashboard: $(BUILD)/fs/dashboard.o
$(BUILD)/tests/test_tailview: $(BUILD)/fs/tailview.o

-include $(LIB_OBJ:.o=.d) $(FS_OBJ:.o=.d)

$(FS_OBJ) $(LIB_OBJ): $(FUSE_STAMP)

$(FUSE_STAMP): $(FUSE_DEP)
	@mkdir -p $(BUILD)
	@rm -f $(BUILD)/.libfuse-*
	@touch $@

$(LIBFUSE_PC):
	sh tools/libfuse.sh $(LIBFUSE_DIR)

libfuse: $(LIBFUSE_PC)

# Every test: the unit tests of each module, then the integration tests
# that mount for real.  The last line says "N passed, N failed".  Like
# `make run`, it first installs what is missing (deps), then builds in a
# make of its own, which sees the libraries just installed.
test: deps
	@$(MAKE) --no-print-directory all $(UNIT_BIN)
	python3 tests/run.py --unit $(UNIT_BIN) --trainfs ./$(BIN)

unit: $(UNIT_BIN)
	python3 tests/run.py --unit $(UNIT_BIN) --no-integration

integration: all
	python3 tests/run.py --trainfs ./$(BIN)

# The same suite under AddressSanitizer and UndefinedBehaviorSanitizer.
# The demo trainer is not rebuilt: it is not part of trainfs.
check-asan: demo/trainer
	$(MAKE) BUILD=build/asan BIN=build/asan/trainfs CFLAGS="-O1 -g" \
	  SAN="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" \
	  test

deps:
	@sh tools/deps.sh

# One layout for the C code (.clang-format: the kernel's style, as
# libfuse keeps it).  `make fmt` applies it; `make check-fmt` (in CI)
# fails on any file it would change.
FMT_SRC := $(wildcard fs/*.[ch] jobs/*/*.[ch] store/*.[ch] util/*.[ch] \
	     demo/*.c tests/unit/*.[ch] tests/fuzz/*.[ch] tests/bench/*.[ch])

fmt:
	clang-format -i $(FMT_SRC)

check-fmt:
	clang-format --dry-run --Werror $(FMT_SRC)

run: deps
	@$(MAKE) --no-print-directory all
	@sh tools/run.sh

stop:
	@sh tools/run.sh --stop

# The fetched libfuse (build/libfuse) outlives `make clean`.
clean:
	find build -mindepth 1 -maxdepth 1 ! -name libfuse -exec rm -rf {} + \
	  2>/dev/null || true
	rm -f $(BIN) demo/trainer

distclean: clean
	rm -rf build

# Fuzzing (tests/fuzz) and benchmarks (tests/bench) keep their rules beside
# their code.
-include tests/fuzz/fuzz.mk
-include tests/bench/bench.mk
-include tests/hardening.mk
# make test's fuzz check needs clang: after deps, even under -j.
fuzz-check: | deps

# Installing like any filesystem: `make install` (PREFIX, DESTDIR) puts
# trainfs where mount.fuse3 finds it (mount -t fuse.trainfs, /etc/fstab)
# and the man page where man finds it.
PREFIX  ?= /usr/local
BINDIR  ?= $(PREFIX)/bin
MANDIR  ?= $(PREFIX)/share/man

.PHONY: install uninstall

install: $(BIN)
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1
	install -m 0755 $(BIN) $(DESTDIR)$(BINDIR)/trainfs
	install -m 0644 man/trainfs.1 $(DESTDIR)$(MANDIR)/man1/trainfs.1

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/trainfs $(DESTDIR)$(MANDIR)/man1/trainfs.1
