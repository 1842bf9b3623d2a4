/*
 * spec: the one parser of a job's "key = value" spec file.
 *
 * The text is cut into lines at '\n' (a '\r' before it is dropped, and a
 * UTF-8 byte order mark at the very start is skipped).  Every line is first
 * checked as text: a NUL byte, a control character other than tab, or bytes
 * that are not UTF-8 make the spec bad, so no caller ever sees them in a
 * value.  A '#' at the start of a line or after white space starts a
 * comment, so "echo a#b" keeps its '#'; a comment before the first '='
 * makes the line a comment (or not "key = value").  The value of command
 * is the exception: the shell reads the whole line after '=', quotes and
 * comments included, so "echo '# x'" is not cut.  spec_split_line() is
 * that one rule, used by the parser and by spec_with_epochs(), which finds
 * the epochs line as the parser does and swaps only its value.  Key and
 * value are trimmed of spaces and tabs and the key is looked up,
 * case-sensitively, in one table; the slurm.* keys are in it too, each
 * one sbatch option, so any other slurm. key is unknown.  Each value is
 * checked by its key's rule (spec_values.c) and stored in a struct spec built on the side,
 * which is handed to the caller only when the whole text is good.  keep's
 * default depends on monitor, so it is set at the end.
 *
 * The first bad line wins, as a user fixing a spec reads from the top.
 * Fixed keys remember the line they were seen on, so a duplicate is caught
 * when it is read; env.NAME keys can be many, so their duplicates are found
 * by one sort at the end (or at the first other error, to still report the
 * earliest line), which keeps a huge spec from costing n^2 comparisons.
 */
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "jobs/model/metrics.h"
#include "jobs/model/spec.h"
#include "jobs/model/spec_values.h"
#include "util/text.h"
#include "util/utf8.h"
#include "jobs/model/ownpaths.h"

#define SPEC_SLURM_PREFIX "slurm."

enum spec_key {
	KEY_COMMAND,
	KEY_WORKDIR,
	KEY_EPOCHS,
	KEY_MONITOR,
	KEY_MODE,
	KEY_PATIENCE,
	KEY_MIN_DELTA,
	KEY_STOP_SIGNAL,
	KEY_STOP_TO,
	KEY_GRACE,
	KEY_COMPRESSION,
	KEY_KEEP,
	KEY_CHECKPOINTS,
	KEY_EXECUTOR,
	KEY_GPUS,
	KEY_METRICS_FROM,
	KEY_WEIGHTS,
	KEY_CHECKPOINTS_FROM,
	KEY_SLURM_FIRST,
	KEY_SLURM_TIME = KEY_SLURM_FIRST + 3,
	KEY_COUNT = KEY_SLURM_FIRST + 11
};

static const char *const spec_key_names[KEY_COUNT] = {
	[KEY_COMMAND] = "command",
	[KEY_WORKDIR] = "workdir",
	[KEY_EPOCHS] = "epochs",
	[KEY_MONITOR] = "monitor",
	[KEY_MODE] = "mode",
	[KEY_PATIENCE] = "patience",
	[KEY_MIN_DELTA] = "min_delta",
	[KEY_STOP_SIGNAL] = "stop_signal",
	[KEY_STOP_TO] = "stop_to",
	[KEY_GRACE] = "grace",
	[KEY_COMPRESSION] = "compression",
	[KEY_KEEP] = "keep",
	[KEY_CHECKPOINTS] = "checkpoints",
	[KEY_EXECUTOR] = "executor",
	[KEY_GPUS] = "gpus",
	[KEY_METRICS_FROM] = "metrics_from",
	[KEY_WEIGHTS] = "weights",
	[KEY_CHECKPOINTS_FROM] = "checkpoints_from",
	/* the sbatch options a spec may set, as SPEC's "Slurm" lists them */
	[KEY_SLURM_FIRST + 0] = SPEC_SLURM_PREFIX "partition",
	[KEY_SLURM_FIRST + 1] = SPEC_SLURM_PREFIX "account",
	[KEY_SLURM_FIRST + 2] = SPEC_SLURM_PREFIX "qos",
	[KEY_SLURM_TIME] = SPEC_SLURM_PREFIX "time",
	[KEY_SLURM_FIRST + 4] = SPEC_SLURM_PREFIX "nodes",
	[KEY_SLURM_FIRST + 5] = SPEC_SLURM_PREFIX "ntasks",
	[KEY_SLURM_FIRST + 6] = SPEC_SLURM_PREFIX "cpus_per_task",
	[KEY_SLURM_FIRST + 7] = SPEC_SLURM_PREFIX "mem",
	[KEY_SLURM_FIRST + 8] = SPEC_SLURM_PREFIX "gres",
	[KEY_SLURM_FIRST + 9] = SPEC_SLURM_PREFIX "gpus",
	[KEY_SLURM_FIRST + 10] = SPEC_SLURM_PREFIX "constraint",
};

#define SPEC_ENV_PREFIX "env."

/* One parse in progress: the spec being built and what was seen so far. */
struct spec_parser {
	struct spec s;
	unsigned long key_line[KEY_COUNT]; /* 0: not seen yet */
	unsigned long *env_line;	   /* line of each s.env[i] */
	size_t env_cap;
	char *err;
	size_t errlen;
};

/* Writes a message into the caller's err buffer, if it has one. */
static void __attribute__((format(printf, 2, 3)))
spec_error(struct spec_parser *p, const char *fmt, ...)
{
	va_list ap;
	char msg[1024], esc[4096];

	if (!p->err || p->errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	/* It quotes what was written, and status shows it to every user. */
	text_escape(esc, sizeof esc, msg, strlen(msg), 0);
	snprintf(p->err, p->errlen, "%s", esc);
}

/* Returns why LINE is not text ("contains a NUL byte"), or NULL if it is. */
static const char *spec_text_problem(const char *line, size_t n)
{
	size_t i = 0, step;

	while (i < n) {
		unsigned char c = (unsigned char)line[i];

		if (c == '\0')
			return "contains a NUL byte";
		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return "contains a control character";
		step = utf8_decode(line + i, n - i, NULL);
		if (step == 0)
			return "not valid UTF-8";
		i += step;
	}
	return NULL;
}

static int spec_is_blank(char c)
{
	return c == ' ' || c == '\t';
}

/* Returns the length of LINE without its comment, if it has one. */
static size_t spec_strip_comment(const char *line, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (line[i] == '#' && (i == 0 || spec_is_blank(line[i - 1])))
			return i;
	return n;
}

/* Narrows [*b, *e) to leave out surrounding spaces and tabs. */
static void spec_trim(const char **b, const char **e)
{
	while (*b < *e && spec_is_blank(**b))
		(*b)++;
	while (*e > *b && spec_is_blank((*e)[-1]))
		(*e)--;
}

/*
 * Appends the sbatch option of slurm key KEY (the key without "slurm.",
 * '_' made '-') with value *VAL to S, taking over *VAL.  Returns NULL, or
 * the reason it could not.
 */
static const char *spec_add_slurm(struct spec *s, const char *key, char **val)
{
	struct spec_slurm *sl;
	char *opt, *c;

	sl = realloc(s->slurm, (s->nslurm + 1) * sizeof *sl);
	if (!sl)
		return "out of memory";
	s->slurm = sl;
	opt = strdup(key + strlen(SPEC_SLURM_PREFIX));
	if (!opt)
		return "out of memory";
	for (c = opt; *c; c++)
		if (*c == '_')
			*c = '-';
	sl[s->nslurm].option = opt;
	sl[s->nslurm].value = *val;
	s->nslurm++;
	*val = NULL;
	return NULL;
}

/* Takes *VAL over into *DST unless WHY says it is bad; returns WHY. */
static const char *spec_take(char **dst, char **val, const char *why)
{
	if (why)
		return why;
	free(*dst);
	*dst = *val;
	*val = NULL;
	return NULL;
}

/*
 * Stores *VAL as the value of KEY, a key whose value is text kept as it
 * is (a command, a path, a pattern, a metric's name) in S.  Returns NULL,
 * or the reason the value is bad; taken over as spec_set() says.
 */
static const char *spec_set_text(struct spec *s, enum spec_key key, char **val)
{
	const char *v = *val, *why;

	switch (key) {
	case KEY_COMMAND:
		if (!*v)
			return "must not be empty";
		s->command = *val;
		*val = NULL;
		return NULL;
	case KEY_WORKDIR:
		if (v[0] != '/')
			return "not an absolute path";
		if (strlen(v) >= PATH_MAX)
			return "too long";
		s->workdir = *val;
		*val = NULL;
		return NULL;
	case KEY_METRICS_FROM:
		if (!*v)
			return "must not be empty";
		if (strlen(v) >= PATH_MAX)
			return "too long";
		s->metrics_from = *val;
		*val = NULL;
		return NULL;
	case KEY_MONITOR:
		why = spec_metric_name(v);
		if (why)
			return why;
		s->monitor = *val;
		*val = NULL;
		return NULL;
	case KEY_WEIGHTS:
		return spec_take(&s->weights, val, ownpaths_weights_problem(v));
	case KEY_CHECKPOINTS_FROM:
		return spec_take(&s->checkpoints_from, val,
				 ownpaths_pattern_problem(v));
	default:
		return "unknown key";
	}
}

/*
 * The keys whose value is one of a few words (mode = max or min, ...):
 * the Nth word sets the int-sized field at FIELD of struct spec to the
 * Nth value.
 */
static const struct word_key {
	enum spec_key key;
	size_t field;
	const char *words[4]; /* NULL-ended */
	int values[3];
	const char *expected;
} word_keys[] = {
	{ KEY_MODE,
	  offsetof(struct spec, mode_min),
	  { "max", "min" },
	  { 0, 1 },
	  "expected max or min" },
	{ KEY_STOP_TO,
	  offsetof(struct spec, stop_to),
	  { "main", "group" },
	  { SPEC_STOP_TO_MAIN, SPEC_STOP_TO_GROUP },
	  "expected main or group" },
	{ KEY_COMPRESSION,
	  offsetof(struct spec, compression),
	  { "none", "gzip", "zstd" },
	  { COMPRESS_NONE, COMPRESS_GZIP, COMPRESS_ZSTD },
	  "expected none, gzip or zstd" },
	{ KEY_KEEP,
	  offsetof(struct spec, keep),
	  { "best", "last" },
	  { SPEC_KEEP_BEST, SPEC_KEEP_LAST },
	  "expected best or last" },
	{ KEY_EXECUTOR,
	  offsetof(struct spec, executor),
	  { "local", "slurm" },
	  { SPEC_EXECUTOR_LOCAL, SPEC_EXECUTOR_SLURM },
	  "expected local or slurm" },
};

_Static_assert(sizeof(int) == sizeof(enum spec_stop_to) &&
		       sizeof(int) == sizeof(enum compression) &&
		       sizeof(int) == sizeof(enum spec_keep) &&
		       sizeof(int) == sizeof(enum spec_executor),
	       "the word keys' fields are int-sized");

/*
 * Stores V as the value of KEY, a key of word_keys, in S.  Returns NULL,
 * or the reason V is not one of its words.
 */
static const char *spec_set_word(struct spec *s, enum spec_key key,
				 const char *v)
{
	for (size_t i = 0; i < sizeof word_keys / sizeof *word_keys; i++) {
		const struct word_key *w = &word_keys[i];
		if (w->key != key)
			continue;
		for (size_t k = 0; w->words[k]; k++)
			if (!strcmp(v, w->words[k])) {
				memcpy((char *)s + w->field, &w->values[k],
				       sizeof(int));
				return NULL;
			}
		return w->expected;
	}
	return "unknown key";
}

/*
 * Stores *VAL (NUL-terminated, trimmed) as KEY's value in S.  Returns NULL,
 * or the reason the value is bad.  A string value is taken over: *VAL is
 * set to NULL and S owns it.  Numbers are read here; text and words by
 * spec_set_text() and spec_set_word().
 */
static const char *spec_set(struct spec *s, enum spec_key key, char **val)
{
	const char *v = *val, *why;

	if (key >= KEY_SLURM_FIRST && key < KEY_COUNT) {
		/* one line of text already: no newline, no NUL */
		if (!*v)
			return "must not be empty";
		if (key == KEY_SLURM_TIME && spec_slurm_time(v, &s->slurm_time))
			return "not a Slurm time (minutes, MM:SS, HH:MM:SS, "
			       "D-HH, D-HH:MM, D-HH:MM:SS or UNLIMITED)";
		return spec_add_slurm(s, spec_key_names[key], val);
	}
	switch (key) {
	case KEY_COMMAND:
	case KEY_WORKDIR:
	case KEY_METRICS_FROM:
	case KEY_MONITOR:
	case KEY_WEIGHTS:
	case KEY_CHECKPOINTS_FROM:
		return spec_set_text(s, key, val);
	case KEY_EPOCHS:
		return spec_whole(v, 1, "must be at least 1", &s->epochs);
	case KEY_PATIENCE:
		return spec_whole(v, 0, "must not be negative", &s->patience);
	case KEY_MIN_DELTA:
		return spec_number(v, &s->min_delta);
	case KEY_STOP_SIGNAL:
		s->stop_signal = spec_signal_number(v);
		if (!s->stop_signal)
			return "expected a signal name of `kill -l` (TERM, "
			       "SIGINT, WINCH, RTMIN+3, ...) or a number from "
			       "1 to 64";
		return NULL;
	case KEY_GRACE:
		return spec_number(v, &s->grace);
	case KEY_CHECKPOINTS:
		if (!strcmp(v, "all")) {
			s->checkpoints = SPEC_CHECKPOINTS_ALL;
			return NULL;
		}
		why = spec_whole(v, 0, "must not be negative", &s->checkpoints);
		return why && !strcmp(why, "not a whole number") ?
			       "expected a whole number or all" :
			       why;
	case KEY_GPUS:
		why = spec_whole(v, 0, "must not be negative", &s->gpus);
		return why		       ? why :
		       s->gpus > SPEC_GPUS_MAX ? "too many GPUs" :
						 NULL;
	default:
		return spec_set_word(s, key, v);
	}
}

/*
 * Appends NAME=*VAL, read on LINENO, to the environment of P's spec and
 * takes over both strings.  Returns 0, or -1 when out of memory (the
 * strings are then still the caller's).
 */
static int spec_add_env(struct spec_parser *p, char *name, char *value,
			unsigned long lineno)
{
	struct spec_env *env;
	unsigned long *lines;
	size_t cap;

	if (p->s.nenv == p->env_cap) {
		cap = p->env_cap ? p->env_cap * 2 : 8;
		env = realloc(p->s.env, cap * sizeof *env);
		if (!env)
			return -1;
		p->s.env = env;
		lines = realloc(p->env_line, cap * sizeof *lines);
		if (!lines)
			return -1;
		p->env_line = lines;
		p->env_cap = cap;
	}
	p->s.env[p->s.nenv].name = name;
	p->s.env[p->s.nenv].value = value;
	p->env_line[p->s.nenv] = lineno;
	p->s.nenv++;
	return 0;
}

struct spec_env_seen {
	const char *name;
	unsigned long line;
};

static int spec_env_seen_cmp(const void *a, const void *b)
{
	const struct spec_env_seen *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	if (c)
		return c;
	return (x->line > y->line) - (x->line < y->line);
}

/*
 * Looks for an env.NAME given twice.  Returns 0 if there is none, 1 after
 * reporting the earliest repeat, -1 after reporting lack of memory.
 */
static int spec_env_duplicates(struct spec_parser *p)
{
	struct spec_env_seen *seen;
	unsigned long first = 0;
	const char *name = NULL;
	size_t i;

	if (p->s.nenv < 2)
		return 0;
	seen = calloc(p->s.nenv, sizeof *seen);
	if (!seen) {
		spec_error(p, "spec: out of memory");
		return -1;
	}
	for (i = 0; i < p->s.nenv; i++) {
		seen[i].name = p->s.env[i].name;
		seen[i].line = p->env_line[i];
	}
	qsort(seen, p->s.nenv, sizeof *seen, spec_env_seen_cmp);
	for (i = 1; i < p->s.nenv; i++) {
		if (strcmp(seen[i].name, seen[i - 1].name))
			continue;
		if (!first || seen[i].line < first) {
			first = seen[i].line;
			name = seen[i].name;
		}
	}
	if (first)
		spec_error(p,
			   "spec line %lu: duplicate key '" SPEC_ENV_PREFIX
			   "%s'",
			   first, name);
	free(seen);
	return first ? 1 : 0;
}

/*
 * trainfs sets CUDA_VISIBLE_DEVICES to the GPUs it hands a job with a
 * gpus key: a spec that also sets it by hand says two things.  Returns 0,
 * or 1 after reporting it at the later of the two lines.
 */
static int spec_gpus_conflict(struct spec_parser *p)
{
	unsigned long gpus = p->key_line[KEY_GPUS];
	for (size_t i = 0; gpus && i < p->s.nenv; i++)
		if (!strcmp(p->s.env[i].name, "CUDA_VISIBLE_DEVICES")) {
			unsigned long at =
				p->env_line[i] > gpus ? p->env_line[i] : gpus;
			spec_error(p,
				   "spec line %lu: 'gpus' and "
				   "'" SPEC_ENV_PREFIX "CUDA_VISIBLE_DEVICES' "
				   "cannot both be set (trainfs sets it to "
				   "the GPUs it hands out)",
				   at);
			return 1;
		}
	return 0;
}

enum spec_line_kind { SPEC_LINE_BAD = -1, SPEC_LINE_BLANK, SPEC_LINE_PAIR };

/*
 * Finds the key [*kb, *ke) and the value [*vb, *ve) of LINE (N bytes of
 * text), both trimmed.  A comment ('#' at the start or after a blank) is
 * cut off everywhere but in the value of command, which the shell reads
 * whole.  Returns SPEC_LINE_BLANK for a blank or comment line,
 * SPEC_LINE_BAD when there is no "key =" before any comment.
 */
static enum spec_line_kind spec_split_line(const char *line, size_t n,
					   const char **kb, const char **ke,
					   const char **vb, const char **ve)
{
	size_t cut = spec_strip_comment(line, n);
	const char *b = line, *e = line + cut, *eq;

	spec_trim(&b, &e);
	if (b == e)
		return SPEC_LINE_BLANK;
	eq = memchr(b, '=', (size_t)(e - b));
	if (!eq)
		return SPEC_LINE_BAD;
	*kb = b;
	*ke = eq;
	spec_trim(kb, ke);
	if (*kb == *ke)
		return SPEC_LINE_BAD;
	*vb = eq + 1;
	*ve = (size_t)(*ke - *kb) == strlen(spec_key_names[KEY_COMMAND]) &&
			      !memcmp(*kb, spec_key_names[KEY_COMMAND],
				      (size_t)(*ke - *kb)) ?
		      line + n :
		      e;
	spec_trim(vb, ve);
	return SPEC_LINE_PAIR;
}

/*
 * Parses line LINENO (N bytes, no newline) into P's spec.  Returns 0, or
 * -1 after writing the message.
 */
static int spec_parse_line(struct spec_parser *p, unsigned long lineno,
			   const char *line, size_t n)
{
	const char *why, *kb, *ke, *vb, *ve;
	char *key = NULL, *val = NULL;
	enum spec_line_kind kind;
	int key_i, rc = -1;

	why = spec_text_problem(line, n);
	if (why) {
		spec_error(p, "spec line %lu: %s", lineno, why);
		return -1;
	}
	kind = spec_split_line(line, n, &kb, &ke, &vb, &ve);
	if (kind == SPEC_LINE_BLANK)
		return 0;
	if (kind == SPEC_LINE_BAD) {
		spec_error(p, "spec line %lu: expected 'key = value'", lineno);
		return -1;
	}
	key = strndup(kb, (size_t)(ke - kb));
	val = strndup(vb, (size_t)(ve - vb));
	if (!key || !val) {
		spec_error(p, "spec: out of memory");
		goto out;
	}

	if (!strncmp(key, SPEC_ENV_PREFIX, strlen(SPEC_ENV_PREFIX))) {
		char *name = strdup(key + strlen(SPEC_ENV_PREFIX));

		if (!name) {
			spec_error(p, "spec: out of memory");
			goto out;
		}
		if (!spec_env_name_ok(name)) {
			spec_error(p,
				   "spec line %lu: bad key '%s': not a "
				   "variable name",
				   lineno, key);
			free(name);
			goto out;
		}
		if (spec_add_env(p, name, val, lineno)) {
			spec_error(p, "spec: out of memory");
			free(name);
			goto out;
		}
		val = NULL;
		rc = 0;
		goto out;
	}

	for (key_i = 0; key_i < KEY_COUNT; key_i++)
		if (!strcmp(key, spec_key_names[key_i]))
			break;
	if (key_i == KEY_COUNT) {
		spec_error(p, "spec line %lu: unknown key '%s'", lineno, key);
		goto out;
	}
	if (p->key_line[key_i]) {
		spec_error(p, "spec line %lu: duplicate key '%s'", lineno, key);
		goto out;
	}
	p->key_line[key_i] = lineno;
	why = spec_set(&p->s, (enum spec_key)key_i, &val);
	if (why && !strcmp(why, "out of memory")) {
		spec_error(p, "spec: out of memory");
		goto out;
	}
	if (why) {
		spec_error(p, "spec line %lu: bad value '%s' for '%s': %s",
			   lineno, val, key, why);
		goto out;
	}
	rc = 0;
out:
	free(key);
	free(val);
	return rc;
}

/*
 * Parses LEN bytes of TEXT.  Returns 0 and fills *out (the caller frees it
 * with spec_free), or -1 with *out zeroed and the first problem in err.
 */
int spec_parse(const char *text, size_t len, struct spec *out, char *err,
	       size_t errlen)
{
	struct spec_parser p;
	unsigned long lineno = 0;
	const char *line, *nl;
	size_t pos = 0, n;

	memset(out, 0, sizeof *out);
	memset(&p, 0, sizeof p);
	p.s.stop_signal = SIGTERM;
	p.s.grace = 60;
	p.s.checkpoints = 1;
	p.err = err;
	p.errlen = errlen;
	if (err && errlen)
		err[0] = '\0';
	if (!text)
		len = 0;

	if (len >= 3 && !memcmp(text, "\xef\xbb\xbf", 3))
		pos = 3;
	while (pos < len) {
		line = text + pos;
		nl = memchr(line, '\n', len - pos);
		n = nl ? (size_t)(nl - line) : len - pos;
		pos += n + (nl ? 1 : 0);
		lineno++;
		if (n && line[n - 1] == '\r')
			n--;
		if (spec_parse_line(&p, lineno, line, n)) {
			/* an earlier env repeat is the first error */
			spec_env_duplicates(&p);
			goto fail;
		}
	}
	if (spec_env_duplicates(&p) || spec_gpus_conflict(&p))
		goto fail;
	if (!p.s.command) {
		spec_error(&p, "spec: 'command' is required");
		goto fail;
	}
	if (!p.key_line[KEY_KEEP])
		p.s.keep = p.s.monitor ? SPEC_KEEP_BEST : SPEC_KEEP_LAST;
	free(p.env_line);
	*out = p.s;
	return 0;
fail:
	free(p.env_line);
	spec_free(&p.s);
	return -1;
}

/* Frees every string and the env array of *s, then zeroes it. */
void spec_free(struct spec *s)
{
	size_t i;

	if (!s)
		return;
	free(s->command);
	free(s->workdir);
	free(s->weights);
	free(s->checkpoints_from);
	free(s->monitor);
	free(s->metrics_from);
	for (i = 0; i < s->nenv; i++) {
		free(s->env[i].name);
		free(s->env[i].value);
	}
	free(s->env);
	for (i = 0; i < s->nslurm; i++) {
		free(s->slurm[i].option);
		free(s->slurm[i].value);
	}
	free(s->slurm);
	memset(s, 0, sizeof *s);
}

/* Returns the static suffix for C; "" for none or an unknown value. */
const char *spec_compression_suffix(enum compression c)
{
	switch (c) {
	case COMPRESS_GZIP:
		return ".gz";
	case COMPRESS_ZSTD:
		return ".zst";
	case COMPRESS_NONE:
		break;
	}
	return "";
}

/* Returns "--OPTION=VALUE" for each slurm key of S, NULL-terminated. */
char **spec_slurm_argv(const struct spec *s)
{
	char **argv = calloc(s->nslurm + 1, sizeof *argv);
	size_t i;

	if (!argv)
		return NULL;
	for (i = 0; i < s->nslurm; i++) {
		if (asprintf(&argv[i], "--%s=%s", s->slurm[i].option,
			     s->slurm[i].value) < 0) {
			argv[i] = NULL;
			spec_argv_free(argv);
			return NULL;
		}
	}
	return argv;
}

/* Frees a NULL-terminated array of strings and the strings; NULL is fine. */
void spec_argv_free(char **argv)
{
	size_t i;

	if (!argv)
		return;
	for (i = 0; argv[i]; i++)
		free(argv[i]);
	free(argv);
}

/*
 * Copies TEXT with the value of its first epochs line replaced by EPOCHS,
 * or a line appended.  Lines are found as spec_parse() finds them, so a
 * comment or another key that merely mentions epochs is left alone.
 */
char *spec_with_epochs(const char *text, size_t len, long epochs,
		       size_t *outlen)
{
	const char *line, *nl, *kb, *ke, *vb = NULL, *ve = NULL;
	const char *key = spec_key_names[KEY_EPOCHS];
	char num[32], *out;
	size_t pos = 0, n, numlen, head, tail, total;
	int found = 0;

	if (!text)
		len = 0;
	numlen = (size_t)snprintf(num, sizeof num, "%ld", epochs);
	if (len >= 3 && !memcmp(text, "\xef\xbb\xbf", 3))
		pos = 3;
	while (pos < len && !found) {
		line = text + pos;
		nl = memchr(line, '\n', len - pos);
		n = nl ? (size_t)(nl - line) : len - pos;
		pos += n + (nl ? 1 : 0);
		if (n && line[n - 1] == '\r')
			n--;
		if (spec_split_line(line, n, &kb, &ke, &vb, &ve) ==
			    SPEC_LINE_PAIR &&
		    (size_t)(ke - kb) == strlen(key) &&
		    !memcmp(kb, key, strlen(key)))
			found = 1;
	}
	if (found) {
		/* an empty value: keep the number apart from '=' and a '#' */
		int pad_before = vb == ve && !spec_is_blank(vb[-1]);
		int pad_after = vb == ve && (size_t)(ve - text) < len &&
				*ve == '#';

		head = (size_t)(vb - text);
		tail = len - (size_t)(ve - text);
		total = head + (size_t)pad_before + numlen + (size_t)pad_after +
			tail;
		out = malloc(total + 1);
		if (!out)
			return NULL;
		memcpy(out, text, head);
		if (pad_before)
			out[head++] = ' ';
		memcpy(out + head, num, numlen);
		head += numlen;
		if (pad_after)
			out[head++] = ' ';
		memcpy(out + head, ve, tail);
	} else {
		int need_nl = len > 0 && text[len - 1] != '\n';

		total = len + (size_t)need_nl + strlen(key) + 3 + numlen + 1;
		out = malloc(total + 1);
		if (!out)
			return NULL;
		if (len)
			memcpy(out, text, len);
		snprintf(out + len, total + 1 - len, "%s%s = %s\n",
			 need_nl ? "\n" : "", key, num);
	}
	out[total] = '\0';
	if (outlen)
		*outlen = total;
	return out;
}

int spec_line_pair(const char *line, size_t n, const char **key, size_t *keylen,
		   const char **value, size_t *valuelen)
{
	const char *kb, *ke, *vb, *ve;
	enum spec_line_kind kind = spec_split_line(line, n, &kb, &ke, &vb, &ve);

	if (kind != SPEC_LINE_PAIR)
		return kind == SPEC_LINE_BLANK ? 0 : -1;
	*key = kb;
	*keylen = (size_t)(ke - kb);
	*value = vb;
	*valuelen = (size_t)(ve - vb);
	return 1;
}
