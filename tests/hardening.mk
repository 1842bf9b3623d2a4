# Hardening rules, included by the Makefile.  The hardening tests proper
# (tests/integration/test_hardening.py) run in `make test`; these two are
# longer and run on demand.
#
#   make valgrind   trainfs, its shims and its packer under memcheck for a
#                   short use; fails on any error or definite leak
#   make soak       a few minutes of load: 50 jobs, 32 readers, kill -9s;
#                   SOAK_JOBS, SOAK_READERS, SOAK_SEED change it

VALGRIND ?= valgrind --leak-check=full --errors-for-leak-kinds=definite \
	    --error-exitcode=99
SOAK_ARGS ?= $(if $(SOAK_JOBS),--jobs $(SOAK_JOBS)) \
	     $(if $(SOAK_READERS),--readers $(SOAK_READERS)) \
	     $(if $(SOAK_SEED),--seed $(SOAK_SEED))

.PHONY: valgrind soak

valgrind: all
	python3 tests/valgrind.py --trainfs ./$(BIN) --valgrind "$(VALGRIND)"

soak: all
	python3 tests/soak.py --trainfs ./$(BIN) $(SOAK_ARGS)
