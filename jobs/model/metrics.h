/*
 * metrics: the one parser of the trainer's metrics lines, the bounded line
 * splitter that feeds it, the auto-stop policy, and the one number
 * formatter.
 *
 * A line is either "epoch=12 loss=0.31 mAP=0.712" (pairs apart by white
 * space or commas) or a JSON object {"epoch": 12, "loss": 0.31}.  epoch is
 * a whole number from 0 to METRICS_EPOCH_MAX ("12.0" counts as 12); every
 * other value is a number, where nan/inf/-inf (and JSON's NaN, Infinity,
 * -Infinity as Python writes them) are numbers.  JSON fields whose value is
 * a string, true, false, null, an array or an object are not metrics and
 * are left out.  A pair whose name breaks the name rule or whose value is
 * not a number is left out and the rest of the line taken; the caller
 * still counts the line and shows the reason.  A line without a valid
 * epoch (or bad JSON) is malformed: the caller skips it whole.
 */
#ifndef TRAINFS_METRICS_H
#define TRAINFS_METRICS_H

#include <stddef.h>
#include "util/compiler.h"

/* Longest metrics line, newline excluded; longer lines are malformed. */
#define METRICS_LINE_MAX (64 * 1024)
/* Longest metric name. */
#define METRICS_NAME_MAX 64
/* Most metric names a job (and so one line) may have. */
#define METRICS_NAMES_MAX 1000
/* Largest epoch; a larger one is malformed. */
#define METRICS_EPOCH_MAX 1000000000L
/* Deepest nesting of arrays and objects in a JSON line. */
#define METRICS_JSON_DEPTH_MAX 64
/* Room for the reason a line is malformed, NUL included. */
#define METRICS_WHY_MAX 128
/* The reason for a line the splitter reports as overlong. */
#define METRICS_WHY_OVERLONG "line longer than 64 KiB"

struct metric {
	char *name; /* follows metrics_name_valid() */
	double value;
};

struct metrics_line {
	long epoch;
	size_t n; /* number of metrics besides epoch */
	struct metric *m;
};

/*
 * Whether NAME (N bytes) is a metric name: 1 to METRICS_NAME_MAX letters,
 * digits or "_.-/()[]:%", starting with a letter or '_' (so no CSV
 * formula: '=', '+', '-' and '@' never lead): "metrics/mAP50-95(B)",
 * "lr/pg0".  The parsers trim blanks around a name before asking.
 */
int metrics_name_valid(const char *name, size_t n);

/*
 * Parses one line of LEN bytes (no trailing newline; a trailing '\r' and
 * surrounding white space are ignored).  Returns 0 and fills *out (release
 * with metrics_line_free), 1 the same when pairs were left out (the first
 * one's reason in WHY), or -1 for a malformed line, leaving *out zeroed
 * and, when WHY is not NULL, the reason in WHY (WHYLEN bytes, always
 * NUL-terminated; METRICS_WHY_MAX always suffice): "no epoch", "value of
 * 'phase' is not a number", "bad metric name '@SUM(A1)'", "epoch
 * 9999999999 is over 1000000000".  Names and values in a reason are
 * quoted with control and non-ASCII bytes escaped (\x1b) and capped.
 * A blank line is malformed too; callers skip blank lines before asking.
 */
MUST_CHECK int metrics_parse_line(const char *line, size_t len,
				  struct metrics_line *out, char *why,
				  size_t whylen);

/*
 * Reads S (N bytes, no blanks around) as a metrics value by the rules of
 * a line ("0.5", "1e-05", "nan", "-inf"; not hex, not "1_000") into *OUT.
 * Returns 0, or -1 when it is not a number.
 */
MUST_CHECK int metrics_read_number(const char *s, size_t n, double *out);

/*
 * Reads S (N bytes) as an epoch: a whole number from 0 to
 * METRICS_EPOCH_MAX ("12.0" counts as 12).  Returns 0 with *EPOCH set, or
 * -1 with the reason in WHY as metrics_parse_line() gives it.
 */
MUST_CHECK int metrics_read_epoch(const char *s, size_t n, long *epoch,
				  char *why, size_t whylen);

/*
 * Leaves out every metric of L that a later one of the same name replaces
 * (the last value of a name given twice is kept).  *DUP: the name of the
 * first one left out (inside L), or NULL.  Returns how many were left
 * out, or -1 when memory ran out (L unchanged).
 */
MUST_CHECK long metrics_line_dedupe(struct metrics_line *l, const char **dup);

/* Frees what metrics_parse_line() allocated; safe on a zeroed line. */
void metrics_line_free(struct metrics_line *l);

/*
 * Splits a byte stream into lines with memory bounded by METRICS_LINE_MAX:
 * a line longer than that is reported once, as overlong, when its newline
 * arrives, and its bytes are never held.
 */
struct line_splitter {
	char buf[METRICS_LINE_MAX + 1];
	size_t len;
	int overlong; /* the current line is already too long */
};

/*
 * Called for each complete line: LINE/LEN without the newline, OVERLONG
 * set (and LINE NULL) for a line that was too long.
 */
typedef void (*line_fn)(void *arg, const char *line, size_t len, int overlong);

/* Feeds LEN bytes of DATA; calls FN for each line completed by them. */
void line_splitter_feed(struct line_splitter *s, const char *data, size_t len,
			line_fn fn, void *arg);

/*
 * The auto-stop policy (as Keras' and Lightning's EarlyStopping): an
 * observed value improves when it beats the best so far by MORE than
 * min_delta in the direction of mode (ties never do); the first finite
 * value always improves; NaN and infinities never do.
 */
struct autostop {
	int mode_min; /* 0: higher is better, 1: lower is better */
	double min_delta;
	long patience; /* 0: never stop */
	int have_best;
	double best;
	long best_epoch;
	long waited; /* reported epochs in a row without improvement */
};

/* Starts a policy; nothing observed yet. */
void autostop_init(struct autostop *a, int mode_min, double min_delta,
		   long patience);

/*
 * Observes the monitored VALUE reported at EPOCH.  Returns 1 when the job
 * should stop now (patience > 0 and waited >= patience), else 0.
 */
int autostop_observe(struct autostop *a, long epoch, double value);

/*
 * Formats V as the shortest decimal that reads back as the same double
 * ("0.712", "1e-05", "nan", "inf", "-inf") into buf; returns buf.
 */
char *metrics_format_number(double v, char *buf, size_t len);

#endif
