/*
 * spec: the one parser of a job's "key = value" spec file.
 *
 * The text is cut into lines at '\n' (a '\r' before it is dropped, and a
 * UTF-8 byte order mark at the very start is skipped).  Every line is first
 * checked as text: a NUL byte, a control character other than tab, or bytes
 * that are not UTF-8 make the spec bad, so no caller ever sees them in a
 * value.  Then a comment is cut off: '#' starts one at the start of a line
 * or after white space, so "echo a#b" keeps its '#'.  What is left is blank
 * or "key = value"; key and value are trimmed of spaces and tabs and the
 * key is looked up, case-sensitively, in one table.  Each value is checked
 * by its key's rule and stored in a struct spec built on the side, which
 * is handed to the caller only when the whole text is good.
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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/text.h"
#include "metrics.h"
#include "spec.h"

enum spec_key {
	KEY_COMMAND,
	KEY_WORKDIR,
	KEY_EPOCHS,
	KEY_MONITOR,
	KEY_MODE,
	KEY_PATIENCE,
	KEY_MIN_DELTA,
	KEY_STOP_SIGNAL,
	KEY_GRACE,
	KEY_COMPRESSION,
	KEY_COUNT
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
	[KEY_GRACE] = "grace",
	[KEY_COMPRESSION] = "compression",
};

/* The signals a spec may name; numbers 1..SPEC_SIGNAL_MAX are also taken. */
static const struct {
	const char *name;
	int sig;
} spec_signals[] = {
	{ "TERM", SIGTERM }, { "INT", SIGINT },	  { "HUP", SIGHUP },
	{ "QUIT", SIGQUIT }, { "USR1", SIGUSR1 }, { "USR2", SIGUSR2 },
	{ "KILL", SIGKILL },
};
#define SPEC_SIGNAL_MAX 64

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

/*
 * Returns the length of the valid UTF-8 sequence at S (at most N bytes
 * available), or 0 when it is not one: overlong forms, surrogates and
 * code points past U+10FFFF are refused.
 */
static size_t utf8_seq_len(const unsigned char *s, size_t n)
{
	unsigned int cp, min;
	size_t need, i;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		need = 1;
		cp = s[0] & 0x1f;
		min = 0x80;
	} else if ((s[0] & 0xf0) == 0xe0) {
		need = 2;
		cp = s[0] & 0x0f;
		min = 0x800;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		need = 3;
		cp = s[0] & 0x07;
		min = 0x10000;
	} else {
		return 0;
	}
	if (n < need + 1)
		return 0;
	for (i = 1; i <= need; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return need + 1;
}

/* Returns why LINE is not text ("contains a NUL byte"), or NULL if it is. */
static const char *spec_text_problem(const char *line, size_t n)
{
	const unsigned char *s = (const unsigned char *)line;
	size_t i = 0, step;

	while (i < n) {
		if (s[i] == '\0')
			return "contains a NUL byte";
		if ((s[i] < 0x20 && s[i] != '\t') || s[i] == 0x7f)
			return "contains a control character";
		step = utf8_seq_len(s + i, n - i);
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
 * Reads V, digits only, as a whole number >= MIN into *out.  Returns NULL,
 * or the reason it is not one: BELOW_MIN for a smaller (or negative) one.
 */
static const char *spec_whole(const char *v, long min, const char *below_min,
			      long *out)
{
	const char *p = v;
	long n = 0;

	if (*p == '-' && p[1] >= '0' && p[1] <= '9') {
		for (p++; *p >= '0' && *p <= '9'; p++)
			;
		return *p ? "not a whole number" : below_min;
	}
	if (!*p)
		return "not a whole number";
	for (; *p; p++) {
		if (*p < '0' || *p > '9')
			return "not a whole number";
		if (n > (LONG_MAX - (*p - '0')) / 10)
			return "too large";
		n = n * 10 + (*p - '0');
	}
	if (n < min)
		return below_min;
	*out = n;
	return NULL;
}

/*
 * Reads V as a finite decimal number >= 0 ("0.001", "2.5e-3") into *out.
 * Returns NULL, or the reason it is not one.  Hex and nan/inf, which
 * strtod() would take, are refused.
 */
static const char *spec_number(const char *v, double *out)
{
	const char *p = v, *s = v;
	size_t digits = 0;
	char *end;
	double d;

	if (*s == '+' || *s == '-')
		s++;
	if (!strcasecmp(s, "nan") || !strcasecmp(s, "inf") ||
	    !strcasecmp(s, "infinity"))
		return "not a finite number";
	for (p = s; *p >= '0' && *p <= '9'; p++)
		digits++;
	if (*p == '.')
		for (p++; *p >= '0' && *p <= '9'; p++)
			digits++;
	if (digits && (*p == 'e' || *p == 'E')) {
		p++;
		if (*p == '+' || *p == '-')
			p++;
		if (*p < '0' || *p > '9')
			return "not a number";
		while (*p >= '0' && *p <= '9')
			p++;
	}
	if (!digits || *p)
		return "not a number";
	d = strtod(v, &end);
	if (*end)
		return "not a number";
	if (isinf(d))
		return "too large";
	if (d < 0)
		return "must not be negative";
	*out = d + 0.0; /* -0 reads as 0 */
	return NULL;
}

/* Returns the signal V names ("TERM", "SIGTERM", "15"), or 0. */
static int spec_signal(const char *v)
{
	const char *name = v;
	long n = 0;
	size_t i;

	if (!strncasecmp(name, "SIG", 3))
		name += 3;
	for (i = 0; i < sizeof spec_signals / sizeof spec_signals[0]; i++)
		if (!strcasecmp(name, spec_signals[i].name))
			return spec_signals[i].sig;
	if (spec_whole(v, 1, "", &n) || n > SPEC_SIGNAL_MAX)
		return 0;
	return (int)n;
}

/* Returns why V is not a metric name, or NULL; the rule of metrics.h. */
static const char *spec_metric_name(const char *v)
{
	size_t n = strlen(v), i;

	if (n == 0)
		return "must not be empty";
	if (n > METRICS_NAME_MAX)
		return "longer than 128 characters";
	for (i = 0; i < n; i++)
		if (v[i] <= ' ' || v[i] > '~' || v[i] == ',' || v[i] == '"' ||
		    v[i] == '=')
			return "not a metric name (printable ASCII without "
			       "space, ',', '\"' or '=')";
	return NULL;
}

static int spec_env_char(char c, int first)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_' ||
	       (!first && c >= '0' && c <= '9');
}

/* Returns whether NAME is [A-Za-z_][A-Za-z0-9_]*. */
static int spec_env_name_ok(const char *name)
{
	const char *p;

	if (!spec_env_char(*name, 1))
		return 0;
	for (p = name + 1; *p; p++)
		if (!spec_env_char(*p, 0))
			return 0;
	return 1;
}

/*
 * Stores *VAL (NUL-terminated, trimmed) as KEY's value in S.  Returns NULL,
 * or the reason the value is bad.  A string value is taken over: *VAL is
 * set to NULL and S owns it.
 */
static const char *spec_set(struct spec *s, enum spec_key key, char **val)
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
	case KEY_EPOCHS:
		return spec_whole(v, 1, "must be at least 1", &s->epochs);
	case KEY_MONITOR:
		why = spec_metric_name(v);
		if (why)
			return why;
		s->monitor = *val;
		*val = NULL;
		return NULL;
	case KEY_MODE:
		if (!strcmp(v, "max"))
			s->mode_min = 0;
		else if (!strcmp(v, "min"))
			s->mode_min = 1;
		else
			return "expected max or min";
		return NULL;
	case KEY_PATIENCE:
		return spec_whole(v, 0, "must not be negative", &s->patience);
	case KEY_MIN_DELTA:
		return spec_number(v, &s->min_delta);
	case KEY_STOP_SIGNAL:
		s->stop_signal = spec_signal(v);
		if (!s->stop_signal)
			return "expected TERM, INT, HUP, QUIT, USR1, USR2, KILL "
			       "or a number from 1 to 64";
		return NULL;
	case KEY_GRACE:
		return spec_number(v, &s->grace);
	case KEY_COMPRESSION:
		if (!strcmp(v, "none"))
			s->compression = COMPRESS_NONE;
		else if (!strcmp(v, "gzip"))
			s->compression = COMPRESS_GZIP;
		else if (!strcmp(v, "zstd"))
			s->compression = COMPRESS_ZSTD;
		else
			return "expected none, gzip or zstd";
		return NULL;
	case KEY_COUNT:
		break;
	}
	return "unknown key";
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
		spec_error(p, "spec line %lu: duplicate key '" SPEC_ENV_PREFIX
			      "%s'", first, name);
	free(seen);
	return first ? 1 : 0;
}

/*
 * Parses line LINENO (N bytes, no newline) into P's spec.  Returns 0, or
 * -1 after writing the message.
 */
static int spec_parse_line(struct spec_parser *p, unsigned long lineno,
			   const char *line, size_t n)
{
	const char *why, *kb, *ke, *vb, *ve, *eq;
	char *key = NULL, *val = NULL;
	int key_i, rc = -1;

	why = spec_text_problem(line, n);
	if (why) {
		spec_error(p, "spec line %lu: %s", lineno, why);
		return -1;
	}
	kb = line;
	ve = line + spec_strip_comment(line, n);
	spec_trim(&kb, &ve);
	if (kb == ve)
		return 0;
	eq = memchr(kb, '=', (size_t)(ve - kb));
	if (!eq) {
		spec_error(p, "spec line %lu: expected 'key = value'", lineno);
		return -1;
	}
	ke = eq;
	vb = eq + 1;
	spec_trim(&kb, &ke);
	spec_trim(&vb, &ve);
	if (kb == ke) {
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
			spec_error(p, "spec line %lu: bad key '%s': not a "
				      "variable name", lineno, key);
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
	if (spec_env_duplicates(&p))
		goto fail;
	if (!p.s.command) {
		spec_error(&p, "spec: 'command' is required");
		goto fail;
	}
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
	free(s->monitor);
	for (i = 0; i < s->nenv; i++) {
		free(s->env[i].name);
		free(s->env[i].value);
	}
	free(s->env);
	memset(s, 0, sizeof *s);
}

/* Returns a static name ("TERM") for SIG, or NULL for one a spec can't name. */
const char *spec_signal_name(int sig)
{
	size_t i;

	for (i = 0; i < sizeof spec_signals / sizeof spec_signals[0]; i++)
		if (spec_signals[i].sig == sig)
			return spec_signals[i].name;
	return NULL;
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
