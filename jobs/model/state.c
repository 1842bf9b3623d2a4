/*
 * state: the lifecycle table.  Rows are states, columns are the commands a
 * user writes to control.  A cell is the next state, SAME for "already
 * under way: succeed and change nothing", or BUSY for "not now" (EBUSY).
 * Everything else about the lifecycle is derived from this table and the
 * short list of supervisor transitions below it.
 *
 * resume and restart are the ways out of a final state: resume takes ready
 * or failed back to queued (from a checkpoint), restart takes ready,
 * failed or cancelled back to queued from the beginning.  The table knows
 * states only; "with a checkpoint" is the job model's to check before it
 * asks (state.h, state_apply()).
 */
#include <errno.h>
#include <string.h>
#include <stdio.h>

#include "jobs/model/state.h"

#define SAME (-1)
#define BUSY (-2)

/* clang-format off */
static const int table[ST_COUNT][CMD_COUNT] = {
	/*                start       stop         cancel        resume     restart */
	[ST_CREATED]   = { ST_QUEUED, BUSY,        BUSY,         BUSY,      BUSY },
	[ST_QUEUED]    = { SAME,      BUSY,        ST_CANCELLED, SAME,      BUSY },
	[ST_RUNNING]   = { SAME,      ST_STOPPING, ST_CANCELLED, SAME,      BUSY },
	[ST_STOPPING]  = { BUSY,      SAME,        ST_CANCELLED, BUSY,      BUSY },
	[ST_PACKAGING] = { BUSY,      SAME,        ST_CANCELLED, BUSY,      BUSY },
	[ST_READY]     = { BUSY,      BUSY,        BUSY,         ST_QUEUED, ST_QUEUED },
	[ST_CANCELLED] = { BUSY,      BUSY,        SAME,         BUSY,      ST_QUEUED },
	[ST_FAILED]    = { BUSY,      BUSY,        BUSY,         ST_QUEUED, ST_QUEUED },
};
/* clang-format on */

/* What the supervisor does by itself: launch, a trainer ending, packing. */
/* clang-format off */
static const struct {
	enum job_state from, to;
} moves[] = {
	{ ST_QUEUED, ST_RUNNING },     /* a slot is free */
	{ ST_QUEUED, ST_FAILED },      /* the launch failed */
	{ ST_RUNNING, ST_STOPPING },   /* auto-stop */
	{ ST_RUNNING, ST_PACKAGING },  /* exit 0 */
	{ ST_RUNNING, ST_FAILED },     /* non-zero exit, lost trainer */
	{ ST_STOPPING, ST_PACKAGING }, /* stopped with weights */
	{ ST_STOPPING, ST_FAILED },    /* stopped without weights */
	{ ST_PACKAGING, ST_READY },
	{ ST_PACKAGING, ST_FAILED },
};
/* clang-format on */

static const char *const names[ST_COUNT] = {
	"created",   "queued", "running",   "stopping",
	"packaging", "ready",  "cancelled", "failed",
};

static const char *const commands[CMD_COUNT] = { "start", "stop", "cancel",
						 "resume", "restart" };

const char *state_name(enum job_state s)
{
	return (unsigned)s < ST_COUNT ? names[s] : "unknown";
}

int state_from_name(const char *name)
{
	for (int i = 0; i < ST_COUNT; i++)
		if (strcmp(names[i], name) == 0)
			return i;
	return -1;
}

static int is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' ||
	       c == '\f';
}

/* Reads "epochs=N" (exactly LEN bytes) into *out; returns 0 or -1. */
static int parse_epochs_arg(const char *t, unsigned long len, long *out)
{
	long n = 0;
	if (len <= 7 || memcmp(t, "epochs=", 7) != 0)
		return -1;
	for (unsigned long i = 7; i < len; i++) {
		if (t[i] < '0' || t[i] > '9')
			return -1;
		n = n * 10 + (t[i] - '0');
		if (n > COMMAND_EPOCHS_MAX)
			return -1;
	}
	if (n < 1)
		return -1;
	*out = n;
	return 0;
}

int command_parse_epochs(const char *text, unsigned long len, long *epochs)
{
	long n = 0;
	if (epochs)
		*epochs = 0;
	while (len && is_space(*text)) {
		text++;
		len--;
	}
	while (len && is_space(text[len - 1]))
		len--;
	for (int i = 0; i < CMD_COUNT; i++)
		if (len == strlen(commands[i]) &&
		    memcmp(text, commands[i], len) == 0)
			return i;
	if (len == 10 && memcmp(text, "stop-early", 10) == 0)
		return CMD_STOP;
	/* "resume", blanks, "epochs=N" */
	if (len > 6 && memcmp(text, "resume", 6) == 0 &&
	    (text[6] == ' ' || text[6] == '\t')) {
		unsigned long i = 6;
		while (i < len && (text[i] == ' ' || text[i] == '\t'))
			i++;
		if (parse_epochs_arg(text + i, len - i, &n) == 0) {
			if (epochs)
				*epochs = n;
			return CMD_RESUME;
		}
	}
	return -1;
}

int command_parse(const char *text, unsigned long len)
{
	return command_parse_epochs(text, len, NULL);
}

const char *command_name(enum job_command c)
{
	return (unsigned)c < CMD_COUNT ? commands[c] : "unknown";
}

int state_apply(enum job_state s, enum job_command c, enum job_state *next)
{
	if ((unsigned)s >= ST_COUNT || (unsigned)c >= CMD_COUNT)
		return -EINVAL;
	int cell = table[s][c];
	if (cell == BUSY)
		return -EBUSY;
	*next = cell == SAME ? s : (enum job_state)cell;
	return 0;
}

int state_move_ok(enum job_state a, enum job_state b)
{
	enum job_state next;
	for (size_t i = 0; i < sizeof moves / sizeof moves[0]; i++)
		if (moves[i].from == a && moves[i].to == b)
			return 1;
	for (int c = 0; c < CMD_COUNT; c++)
		if (a != b && state_apply(a, c, &next) == 0 && next == b)
			return 1;
	return 0;
}

int state_is_final(enum job_state s)
{
	return s == ST_READY || s == ST_CANCELLED || s == ST_FAILED;
}

int state_has_trainer(enum job_state s)
{
	return s == ST_RUNNING || s == ST_STOPPING;
}

int state_allows_rmdir(enum job_state s)
{
	return s == ST_CREATED || state_is_final(s);
}

int state_allows_spec_write(enum job_state s)
{
	/* Created, or final: a failed job is fixed in place, then restarted. */
	return s == ST_CREATED || state_is_final(s);
}

/*
 * A short BUF gets a prefix of the list: "none" only when nothing is
 * allowed, never because the first command did not fit.
 */
char *state_allowed_commands(enum job_state s, char *buf, unsigned long len)
{
	return state_allowed_commands_but(s, 0, buf, len);
}

char *state_allowed_commands_but(enum job_state s, unsigned refused, char *buf,
				 unsigned long len)
{
	size_t used = 0;
	int any = 0;
	if (!len)
		return buf;
	buf[0] = '\0';
	for (int c = 0; c < CMD_COUNT; c++) {
		enum job_state next;
		/* Offer what changes something, not what merely repeats. */
		if (state_apply(s, c, &next) == 0 && next != s &&
		    !(refused & (1u << c))) {
			any = 1;
			int n = snprintf(buf + used, len - used, "%s%s",
					 used ? " " : "", commands[c]);
			if (n < 0 || (size_t)n >= len - used)
				break;
			used += n;
		}
	}
	if (!any)
		snprintf(buf, len, "none");
	return buf;
}
