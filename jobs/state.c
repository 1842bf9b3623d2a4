/*
 * state: the lifecycle table.  Rows are states, columns are the commands a
 * user writes to control.  A cell is the next state, SAME for "already
 * under way: succeed and change nothing", or BUSY for "not now" (EBUSY).
 * Everything else about the lifecycle is derived from this table and the
 * short list of supervisor transitions below it.
 */
#include <errno.h>
#include <string.h>
#include <stdio.h>

#include "jobs/state.h"

#define SAME (-1)
#define BUSY (-2)

static const int table[ST_COUNT][CMD_COUNT] = {
	/*                start       stop         cancel */
	[ST_CREATED]   = { ST_QUEUED, BUSY,        BUSY },
	[ST_QUEUED]    = { SAME,      BUSY,        ST_CANCELLED },
	[ST_RUNNING]   = { SAME,      ST_STOPPING, ST_CANCELLED },
	[ST_STOPPING]  = { BUSY,      SAME,        ST_CANCELLED },
	[ST_PACKAGING] = { BUSY,      SAME,        ST_CANCELLED },
	[ST_READY]     = { BUSY,      BUSY,        BUSY },
	[ST_CANCELLED] = { BUSY,      BUSY,        SAME },
	[ST_FAILED]    = { BUSY,      BUSY,        BUSY },
};

/* What the supervisor does by itself: launch, a trainer ending, packing. */
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

static const char *const names[ST_COUNT] = {
	"created", "queued", "running", "stopping",
	"packaging", "ready", "cancelled", "failed",
};

static const char *const commands[CMD_COUNT] = { "start", "stop", "cancel" };

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

int command_parse(const char *text, unsigned long len)
{
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
	return -1;
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
	return s == ST_CREATED;
}

/*
 * A short BUF gets a prefix of the list: "none" only when nothing is
 * allowed, never because the first command did not fit.
 */
char *state_allowed_commands(enum job_state s, char *buf, unsigned long len)
{
	size_t used = 0;
	int any = 0;
	if (!len)
		return buf;
	buf[0] = '\0';
	for (int c = 0; c < CMD_COUNT; c++) {
		enum job_state next;
		/* Offer what changes something, not what merely repeats. */
		if (state_apply(s, c, &next) == 0 && next != s) {
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
