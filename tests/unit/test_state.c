/*
 * Unit tests of the lifecycle table: every state x command cell against
 * the SPEC's control table, the supervisor's own moves, and the parsing of
 * control writes.
 */
#include <errno.h>
#include <string.h>

#include "jobs/model/state.h"
#include "tests/unit/test.h"

#define SAME (-1)

/* The SPEC's table, written out independently of jobs/model/state.c. */
/*
 * resume: "allowed in ready, failed, with a checkpoint"; the checkpoint
 * part is the job model's (state.h), so the table allows it by state.
 * "Repeating what is already under way ... start or resume while queued or
 * running" is SAME.  restart: "ready, failed, cancelled"; nothing says
 * a restart repeats what is under way, so elsewhere it is EBUSY.
 */
/* clang-format off */
static const int want[ST_COUNT][CMD_COUNT] = {
	/*                start      stop         cancel        resume     restart */
	[ST_CREATED]   = { ST_QUEUED, -EBUSY,      -EBUSY,       -EBUSY,    -EBUSY },
	[ST_QUEUED]    = { SAME,      -EBUSY,      ST_CANCELLED, SAME,      -EBUSY },
	[ST_RUNNING]   = { SAME,      ST_STOPPING, ST_CANCELLED, SAME,      -EBUSY },
	[ST_STOPPING]  = { -EBUSY,    SAME,        ST_CANCELLED, -EBUSY,    -EBUSY },
	[ST_PACKAGING] = { -EBUSY,    SAME,        ST_CANCELLED, -EBUSY,    -EBUSY },
	[ST_READY]     = { -EBUSY,    -EBUSY,      -EBUSY,       ST_QUEUED, ST_QUEUED },
	[ST_CANCELLED] = { -EBUSY,    -EBUSY,      SAME,         -EBUSY,    ST_QUEUED },
	[ST_FAILED]    = { -EBUSY,    -EBUSY,      -EBUSY,       ST_QUEUED, ST_QUEUED },
};
/* clang-format on */

static void every_cell(void)
{
	for (int s = 0; s < ST_COUNT; s++)
		for (int c = 0; c < CMD_COUNT; c++) {
			enum job_state next = ST_COUNT;
			int rc = state_apply(s, c, &next);
			if (want[s][c] < -1) {
				CHECK(rc == want[s][c]);
			} else {
				CHECK(rc == 0);
				CHECK(next ==
				      (want[s][c] == SAME ?
					       (enum job_state)s :
					       (enum job_state)want[s][c]));
			}
		}
}

static void names(void)
{
	const char *n[] = { "created",	 "queued", "running",	"stopping",
			    "packaging", "ready",  "cancelled", "failed" };
	for (int s = 0; s < ST_COUNT; s++) {
		CHECK_STR(state_name(s), n[s]);
		CHECK(state_from_name(n[s]) == s);
	}
	CHECK(state_from_name("bogus") == -1);
}

static void parsing(void)
{
	CHECK(command_parse("restart\n", 8) == CMD_RESTART);
	CHECK(command_parse("restart now", 11) == -1);
	CHECK_STR(command_name(CMD_RESTART), "restart");
	CHECK(command_parse("start", 5) == CMD_START);
	CHECK(command_parse("start\n", 6) == CMD_START);
	CHECK(command_parse("  stop \t\r\n", 10) == CMD_STOP);
	CHECK(command_parse("stop-early\n", 11) == CMD_STOP);
	CHECK(command_parse("cancel", 6) == CMD_CANCEL);
	CHECK(command_parse("", 0) == -1);
	CHECK(command_parse("\n", 1) == -1);
	CHECK(command_parse("Start", 5) == -1);
	CHECK(command_parse("start now", 9) == -1);
	CHECK(command_parse("start\nstop", 10) == -1);
	CHECK(command_parse("sta", 3) == -1);
	CHECK(command_parse("start\0", 6) == -1);
	CHECK(command_parse("explode", 7) == -1);
	CHECK(command_parse("resume", 6) == CMD_RESUME);
	CHECK(command_parse(" resume\n", 8) == CMD_RESUME);
	CHECK(command_parse("Resume", 6) == -1);
}

static void parsing_resume_epochs(void)
{
	long n = -5;
#define P(s) command_parse_epochs(s, strlen(s), &n)
	CHECK(P("resume") == CMD_RESUME && n == 0);
	CHECK(P("resume epochs=150") == CMD_RESUME && n == 150);
	CHECK(P("  resume \t epochs=7\n") == CMD_RESUME && n == 7);
	CHECK(P("resume epochs=1000000000") == CMD_RESUME && n == 1000000000);
	n = -5;
	CHECK(P("start") == CMD_START && n == 0);
	CHECK(P("resume epochs=1000000001") == -1);
	CHECK(P("resume epochs=99999999999999999999999") == -1);
	CHECK(P("resume epochs=0") == -1);
	CHECK(P("resume epochs=") == -1);
	CHECK(P("resume epochs=-3") == -1);
	CHECK(P("resume epochs=+3") == -1);
	CHECK(P("resume epochs=3x") == -1);
	CHECK(P("resume epochs=3.0") == -1);
	CHECK(P("resume epochs = 3") == -1);
	CHECK(P("resume epochs=3 epochs=4") == -1);
	CHECK(P("resumeepochs=3") == -1);
	CHECK(P("resume\nepochs=3") == -1);
	CHECK(P("resume now") == -1);
	CHECK(P("resume EPOCHS=3") == -1);
	CHECK(P("start epochs=3") == -1);
	CHECK(command_parse("resume epochs=12", 16) == CMD_RESUME);
	CHECK(command_parse_epochs("resume epochs=12", 16, NULL) == CMD_RESUME);
	/* the length is the write's: a NUL inside is not the end */
	CHECK(command_parse_epochs("resume epochs=1\0", 16, &n) == -1);
#undef P
}

static void predicates(void)
{
	for (int s = 0; s < ST_COUNT; s++) {
		int final = s == ST_READY || s == ST_CANCELLED ||
			    s == ST_FAILED;
		CHECK(state_is_final(s) == final);
		CHECK(state_allows_rmdir(s) == (final || s == ST_CREATED));
		/* writable when created or final */
		CHECK(state_allows_spec_write(s) == (s == ST_CREATED || final));
		CHECK(state_has_trainer(s) ==
		      (s == ST_RUNNING || s == ST_STOPPING));
	}
}

static void supervisor_moves(void)
{
	CHECK(state_move_ok(ST_QUEUED, ST_RUNNING));
	CHECK(state_move_ok(ST_RUNNING, ST_PACKAGING));
	CHECK(state_move_ok(ST_STOPPING, ST_PACKAGING));
	CHECK(state_move_ok(ST_PACKAGING, ST_READY));
	CHECK(state_move_ok(ST_RUNNING, ST_FAILED));
	CHECK(!state_move_ok(ST_READY, ST_RUNNING));
	CHECK(!state_move_ok(ST_CANCELLED, ST_READY));
	CHECK(!state_move_ok(ST_CREATED, ST_RUNNING));
	/* Commands count as moves too. */
	CHECK(state_move_ok(ST_CREATED, ST_QUEUED));
	CHECK(state_move_ok(ST_PACKAGING, ST_CANCELLED));
	CHECK(!state_move_ok(ST_RUNNING, ST_RUNNING));
	/* Only resume and restart leave a final state, to queued. */
	for (int a = 0; a < ST_COUNT; a++)
		for (int b = 0; b < ST_COUNT; b++)
			if (state_is_final(a))
				CHECK(state_move_ok(a, b) == (b == ST_QUEUED));
}

static void allowed_lists(void)
{
	char buf[64];
	CHECK_STR(state_allowed_commands(ST_CREATED, buf, sizeof buf), "start");
	CHECK_STR(state_allowed_commands(ST_RUNNING, buf, sizeof buf),
		  "stop cancel");
	CHECK_STR(state_allowed_commands(ST_QUEUED, buf, sizeof buf), "cancel");
	CHECK_STR(state_allowed_commands(ST_PACKAGING, buf, sizeof buf),
		  "cancel");
	CHECK_STR(state_allowed_commands(ST_READY, buf, sizeof buf),
		  "resume restart");
	CHECK_STR(state_allowed_commands(ST_FAILED, buf, sizeof buf),
		  "resume restart");
	CHECK_STR(state_allowed_commands(ST_CANCELLED, buf, sizeof buf),
		  "restart");
	/* the job model leaves out what it refuses now (no checkpoint) */
	CHECK_STR(state_allowed_commands_but(ST_READY, 1u << CMD_RESUME, buf,
					     sizeof buf),
		  "restart");
	CHECK_STR(state_allowed_commands_but(ST_RUNNING, 1u << CMD_RESUME, buf,
					     sizeof buf),
		  "stop cancel");
	CHECK_STR(state_allowed_commands_but(ST_RUNNING, 1u << CMD_STOP, buf,
					     sizeof buf),
		  "cancel");
}

/*
 * Found by fuzz_control (tests/fuzz/regressions/control/
 * allowed-commands-short-buffer-said-none): when the first allowed command
 * did not fit, the list said "none" (cut short) instead of a prefix of it,
 * and a zero-length buffer was written to.
 */
static void allowed_lists_short_buffer(void)
{
	char buf[8];
	memset(buf, 'z', sizeof buf);
	CHECK_STR(state_allowed_commands(ST_CREATED, buf, 3), "st");
	CHECK_STR(state_allowed_commands(ST_RUNNING, buf, 6), "stop ");
	CHECK_STR(state_allowed_commands(ST_RUNNING, buf, 5), "stop");
	CHECK_STR(state_allowed_commands(ST_CREATED, buf, 3), "st");
	CHECK_STR(state_allowed_commands(ST_READY, buf, 4), "res");
	memset(buf, 'z', sizeof buf);
	state_allowed_commands(ST_CREATED, buf, 0);
	CHECK(buf[0] == 'z');
}

TEST_MAIN("state", TEST(every_cell), TEST(names), TEST(parsing),
	  TEST(parsing_resume_epochs), TEST(predicates), TEST(supervisor_moves),
	  TEST(allowed_lists), TEST(allowed_lists_short_buffer))
