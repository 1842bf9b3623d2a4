/*
 * Unit tests for jobs/core/sweep.c's command table: the verbs control lists as
 * allowed in each state of a sweep, and the states' names.
 */
#include "tests/unit/test.h"
#include "jobs/core/sweep.h"

static const char *allowed(int state)
{
	static char buf[64];
	sweep_allowed(state, buf, sizeof buf);
	return buf;
}

static void allowed_by_state(void)
{
	CHECK_STR(allowed(SW_CREATED), "start");
	CHECK_STR(allowed(SW_RUNNING), "stop cancel"); /* start: a repeat */
	CHECK_STR(allowed(SW_STOPPING), "cancel");
	CHECK_STR(allowed(SW_DONE), "none");
	CHECK_STR(allowed(SW_CANCELLED), "none");
	CHECK_STR(allowed(SW_COUNT), "none");
	char small[4];
	sweep_allowed(SW_RUNNING, small, sizeof small);
	CHECK_STR(small, "sto");
}

static void state_names(void)
{
	CHECK_STR(sweep_state_name(SW_CREATED), "created");
	CHECK_STR(sweep_state_name(SW_STOPPING), "stopping");
	CHECK_STR(sweep_state_name(SW_CANCELLED), "cancelled");
	CHECK_STR(sweep_state_name(-1), "unknown");
}

TEST_MAIN("sweep", TEST(allowed_by_state), TEST(state_names))
