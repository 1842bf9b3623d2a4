/*
 * state: the lifecycle of a job, in one table.
 *
 * Every place that asks "may this command run now, and what follows?" asks
 * state_apply().  Transitions the supervisor makes on its own (a trainer
 * exits, packaging ends) are listed beside it, and state_move_ok() checks
 * every change of state against both: one description of the lifecycle.
 */
#ifndef TRAINFS_STATE_H
#define TRAINFS_STATE_H

#include "util/compiler.h"

enum job_state {
	ST_CREATED,
	ST_QUEUED,
	ST_RUNNING,
	ST_STOPPING,
	ST_PACKAGING,
	ST_READY,
	ST_CANCELLED,
	ST_FAILED,
	ST_COUNT
};

enum job_command {
	CMD_START,
	CMD_STOP,
	CMD_CANCEL,
	CMD_RESUME,
	CMD_RESTART,
	CMD_COUNT
};

/* The largest N of "resume epochs=N" (the metrics epoch bound). */
#define COMMAND_EPOCHS_MAX 1000000000L

/* The state's name as status shows it ("running"); never NULL for a valid state. */
const char *state_name(enum job_state s);

/* The state named NAME, or -1. */
int state_from_name(const char *name);

/*
 * Parses a control write: surrounding white space is ignored, "stop-early"
 * is "stop", "resume epochs=N" is "resume" with an argument.  Returns the
 * command, or -1 for an unknown one (or a bad argument: "resume epochs=",
 * "resume epochs=0", "resume epochs=-3", "resume now").  *epochs (when
 * EPOCHS is not NULL) gets N for "resume epochs=N", else 0.  N is digits
 * only, 1 to COMMAND_EPOCHS_MAX; one or more blanks (space, tab) part
 * "resume" from "epochs=N", nothing parts "epochs", "=" and N.  Whether N
 * is above the job's last reported epoch is the job model's check.
 */
int command_parse_epochs(const char *text, unsigned long len, long *epochs);

/* command_parse_epochs() without the argument. */
int command_parse(const char *text, unsigned long len);

/* The command's name ("start"). */
const char *command_name(enum job_command c);

/*
 * Looks COMMAND up in state S.  Returns 0 and sets *next (which equals S
 * when the command repeats what is already under way), or a negative errno:
 * -EBUSY when the command is not allowed in S.
 *
 * resume: the table allows it by state alone (ready and failed give
 * queued; queued and running are "same").  Users may resume a ready or
 * failed job only "with a checkpoint" (trainfs(1)): that is the job model's check, made
 * before it asks this table, with the same -EBUSY; so is "epochs=N above
 * the last reported epoch" (-EINVAL).  A repeated "resume epochs=N" while
 * queued or running changes nothing, N included.
 */
MUST_CHECK int state_apply(enum job_state s, enum job_command c,
			   enum job_state *next);

/*
 * Whether the lifecycle has a move from A to B at all: by a command of the
 * table or by one of the supervisor's own moves.
 */
int state_move_ok(enum job_state a, enum job_state b);

/*
 * ready, cancelled and failed: the trainer is gone and nothing changes the
 * job by itself (rmdir allowed, wait answers).  Only a user's resume
 * (ready, failed) or restart (ready, failed, cancelled) moves it on again,
 * to queued.
 */
int state_is_final(enum job_state s);

/* Whether a trainer process may exist in this state. */
int state_has_trainer(enum job_state s);

/* Whether rmdir may delete the job: created or final. */
int state_allows_rmdir(enum job_state s);

/* Whether the spec may be written: created or final (fixed, then restarted). */
int state_allows_spec_write(enum job_state s);

/*
 * Writes the commands allowed in S, space-separated, into buf ("stop
 * cancel"), or "none".  Returns buf.
 */
char *state_allowed_commands(enum job_state s, char *buf, unsigned long len);

/*
 * The same, leaving out the commands in the bit mask REFUSED (1u << CMD_X)
 * that the job model refuses now: 1u << CMD_RESUME for a ready or failed
 * job without a checkpoint.
 */
char *state_allowed_commands_but(enum job_state s, unsigned refused, char *buf,
				 unsigned long len);

#endif
