/*
 * fuzz_control: libFuzzer harness for the control command parser and the
 * lifecycle table (jobs/model/state.c).
 *
 * The input is one write to a job's control file, byte for byte, as
 * jobs/core/job.c hands it over: command_parse() and then state_apply() in
 * every state.  Beyond "does not crash", it checks:
 *
 *  - command_parse() agrees with the SPEC read literally: white space
 *    around one of start, stop, stop-early, cancel, resume, restart or
 *    "resume epochs=N" (N 1 to 1e9 in digits), nothing else;
 *  - a parsed command is in the enum and its name parses back to it;
 *  - state_apply() answers 0 or -EBUSY for a command, -EINVAL for what is
 *    not one, and its next state is in the enum, never "created", equal to
 *    the state or one state_move_ok() allows, and final states stay put
 *    but for resume from ready or failed and restart from any of them;
 *  - state_allowed_commands() lists exactly the commands that change the
 *    state, and with a short buffer writes a NUL-terminated prefix;
 *  - state_from_name() on the input is -1 or names it exactly.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "jobs/model/state.h"
#include "tests/fuzz/fuzz.h"

static int is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' ||
	       c == '\f';
}

/* The SPEC's control rule, written out apart from jobs/model/state.c. */
static int expected_command(const char *text, size_t len, long *epochs)
{
	static const struct {
		const char *word;
		int cmd;
	} words[] = {
		{ "start", CMD_START },	    { "stop", CMD_STOP },
		{ "stop-early", CMD_STOP }, { "cancel", CMD_CANCEL },
		{ "resume", CMD_RESUME },   { "restart", CMD_RESTART },
	};
	size_t b = 0, e = len, i;

	*epochs = 0;
	while (b < e && is_space(text[b]))
		b++;
	while (e > b && is_space(text[e - 1]))
		e--;
	for (i = 0; i < sizeof words / sizeof words[0]; i++)
		if (e - b == strlen(words[i].word) &&
		    !memcmp(text + b, words[i].word, e - b))
			return words[i].cmd;
	/* "resume", blanks, "epochs=", digits worth 1 to 1e9 */
	if (e - b > 6 && !memcmp(text + b, "resume", 6) &&
	    (text[b + 6] == ' ' || text[b + 6] == '\t')) {
		size_t p = b + 6, digits;
		double n = 0;

		while (p < e && (text[p] == ' ' || text[p] == '\t'))
			p++;
		if (e - p <= 7 || memcmp(text + p, "epochs=", 7))
			return -1;
		for (p += 7, digits = 0; p < e; p++, digits++) {
			if (text[p] < '0' || text[p] > '9')
				return -1;
			n = n * 10 + (text[p] - '0');
		}
		if (!digits || n < 1 || n > 1e9)
			return -1;
		*epochs = (long)n;
		return CMD_RESUME;
	}
	return -1;
}

/* Checks state_apply() of command C (maybe not one) in every state. */
static void check_apply(int c)
{
	enum job_state s, next;
	int rc;

	for (s = 0; s < ST_COUNT; s++) {
		next = (enum job_state) - 7;
		rc = state_apply(s, (enum job_command)c, &next);
		if (c < 0 || c >= CMD_COUNT) {
			FUZZ_CHECK(rc == -EINVAL);
			FUZZ_CHECK(next == (enum job_state) - 7);
			continue;
		}
		FUZZ_CHECK(rc == 0 || rc == -EBUSY);
		if (rc) {
			FUZZ_CHECK(next == (enum job_state) - 7);
			continue;
		}
		FUZZ_CHECK((unsigned)next < ST_COUNT);
		FUZZ_CHECK(next != ST_CREATED);
		FUZZ_CHECK(next == s || state_move_ok(s, next));
		if (state_is_final(s) && c != CMD_RESUME && c != CMD_RESTART)
			FUZZ_CHECK(next == s);
		if (c == CMD_RESTART)
			FUZZ_CHECK(next == ST_QUEUED && state_is_final(s));
		if (c == CMD_RESUME && next != s)
			FUZZ_CHECK(next == ST_QUEUED &&
				   (s == ST_READY || s == ST_FAILED));
		if (c == CMD_CANCEL)
			FUZZ_CHECK(next == ST_CANCELLED);
	}
}

/* Checks the list of allowed commands in S, whole and cut at LEN bytes. */
static void check_allowed(enum job_state s, size_t len)
{
	char full[64], whole[64], cut[64], *word, *save = NULL;
	unsigned seen = 0, want = 0;
	enum job_state next;
	int c;

	state_allowed_commands(s, full, sizeof full);
	FUZZ_CHECK(memchr(full, '\0', sizeof full) != NULL);
	memcpy(whole, full, sizeof whole);
	for (c = 0; c < CMD_COUNT; c++)
		if (state_apply(s, c, &next) == 0 && next != s)
			want |= 1u << c;
	if (!want)
		FUZZ_CHECK(!strcmp(full, "none"));
	else
		for (word = strtok_r(full, " ", &save); word;
		     word = strtok_r(NULL, " ", &save)) {
			c = command_parse(word, strlen(word));
			FUZZ_CHECK(c >= 0 && !strcmp(word, command_name(c)));
			FUZZ_CHECK(!(seen & (1u << c)));
			seen |= 1u << c;
		}
	if (want)
		FUZZ_CHECK(seen == want);

	memset(cut, 'z', sizeof cut);
	state_allowed_commands(s, cut, 0);
	FUZZ_CHECK(cut[0] == 'z');
	state_allowed_commands(s, cut, len);
	FUZZ_CHECK(memchr(cut, '\0', len) != NULL);
	FUZZ_CHECK(cut[len] == 'z' || len == sizeof cut);
	FUZZ_CHECK(!strncmp(cut, whole, strlen(cut)));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	struct fuzz_rng rng;
	const char *name;
	enum job_state s;
	char *copy;
	int c, st;

	long epochs = -1, want_epochs;

	c = command_parse(text, size);
	FUZZ_CHECK(c == expected_command(text, size, &want_epochs));
	FUZZ_CHECK(command_parse_epochs(text, size, &epochs) == c);
	FUZZ_CHECK(epochs == want_epochs);
	if (c >= 0) {
		FUZZ_CHECK(c < CMD_COUNT);
		name = command_name(c);
		FUZZ_CHECK(strcmp(name, "unknown") != 0);
		FUZZ_CHECK(command_parse(name, strlen(name)) == c);
	}
	check_apply(c);

	fuzz_rng_init(&rng, data, size);
	for (s = 0; s < ST_COUNT; s++) {
		FUZZ_CHECK(state_from_name(state_name(s)) == (int)s);
		check_allowed(s, 1 + (size_t)fuzz_rng_below(&rng, 63));
	}

	/* out-of-range numbers, as a corrupt store might hold, are refused */
	if (size >= sizeof st) {
		memcpy(&st, data, sizeof st);
		if (st < 0 || st >= ST_COUNT) {
			enum job_state next;

			FUZZ_CHECK(!strcmp(state_name(st), "unknown"));
			FUZZ_CHECK(state_apply(st, CMD_CANCEL, &next) ==
				   -EINVAL);
		}
	}

	copy = malloc(size + 1);
	FUZZ_CHECK(copy != NULL);
	memcpy(copy, data, size);
	copy[size] = '\0';
	st = state_from_name(copy);
	FUZZ_CHECK(st == -1 || !strcmp(state_name(st), copy));
	free(copy);
	return 0;
}
