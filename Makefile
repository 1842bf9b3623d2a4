# trainfs: training jobs as files.  `make` builds ./trainfs; `make test`
# runs every test; `make run` installs what is missing, builds, mounts at
# ./mnt and starts the demo job.

PKGS     := fuse3 sqlite3 libarchive
CC       ?= cc
CFLAGS   ?= -O2 -g
SAN      ?=
ALL_CFLAGS = $(CFLAGS) $(SAN) -std=gnu11 -Wall -Wextra -Werror -I. \
             -D_GNU_SOURCE $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LDLIBS   += $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lpthread -lm
BUILD    ?= build
BIN      ?= trainfs

# One list per layer; the arrows point fs -> jobs -> store.
LIB_SRC  := $(wildcard jobs/*.c store/*.c util/*.c)
FS_SRC   := $(wildcard fs/*.c)
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o)
FS_OBJ   := $(FS_SRC:%.c=$(BUILD)/%.o)
UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)

.PHONY: all test unit integration run stop check-asan valgrind deps clean

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

-include $(LIB_OBJ:.o=.d) $(FS_OBJ:.o=.d)

# Every test: the unit tests of each module, then the integration tests
# that mount for real.  The last line says "N passed, N failed".
test: all $(UNIT_BIN)
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

run: deps all
	@sh tools/run.sh

stop:
	@sh tools/run.sh --stop

clean:
	rm -rf build $(BIN) demo/trainer

# Fuzzing (tests/fuzz) and benchmarks (tests/bench) keep their rules beside
# their code.
-include tests/fuzz/fuzz.mk
-include tests/bench/bench.mk
-include tests/hardening.mk

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
