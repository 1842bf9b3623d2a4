# Hardening rules, included by the Makefile.  The hardening tests proper
# (tests/integration/test_hardening.py) run in `make test`; these two are
# longer and run on demand.
#
#   make valgrind   trainfs, its shims and its packer under memcheck for a
#                   short use; fails on any error or definite leak
#   make soak       a few minutes of load: 50 jobs, 32 readers, kill -9s;
#                   SOAK_JOBS, SOAK_READERS, SOAK_SEED change it
#   make check-tsan the whole suite (unit and integration) under
#                   ThreadSanitizer, built in build/tsan; fails on any
#                   report but those tests/tsan.supp explains
#   make check-layers  fails when an include or a call points the wrong
#                   way between util/ store/ jobs/ fs/, or two modules call
#                   each other (tools/check-layers.sh, tools/layers.allow)

VALGRIND ?= valgrind --leak-check=full --errors-for-leak-kinds=definite \
	    --error-exitcode=99
SOAK_ARGS ?= $(if $(SOAK_JOBS),--jobs $(SOAK_JOBS)) \
	     $(if $(SOAK_READERS),--readers $(SOAK_READERS)) \
	     $(if $(SOAK_SEED),--seed $(SOAK_SEED))

.PHONY: valgrind soak check-tsan check-layers

valgrind: all
	python3 tests/valgrind.py --trainfs ./$(BIN) --valgrind "$(VALGRIND)"

soak: all
	python3 tests/soak.py --trainfs ./$(BIN) $(SOAK_ARGS)

# TSAN_OPTIONS reaches trainfs and its shims through the test harness's
# environment.  The demo trainer is not rebuilt: it is not part of trainfs.
TSAN_SUPP := $(CURDIR)/tests/tsan.supp
check-tsan: demo/trainer
	TSAN_OPTIONS="suppressions=$(TSAN_SUPP) second_deadlock_stack=1 $(TSAN_OPTIONS)" \
	$(MAKE) BUILD=build/tsan BIN=build/tsan/trainfs CFLAGS="-O1 -g" \
	  SAN="-fsanitize=thread -fno-omit-frame-pointer" test

check-layers: $(FS_OBJ) $(LIB_OBJ)
	sh tools/check-layers.sh $(BUILD)
