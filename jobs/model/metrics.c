/*
 * metrics: the one parser of the trainer's metrics lines, the bounded line
 * splitter that feeds it, the auto-stop policy, and the one number
 * formatter.
 *
 * A line is copied once into a NUL-terminated buffer, so strtod() never
 * reads past it, and then read by one of two small hand-written scanners:
 * "name=value" tokens split on spaces, tabs and commas, or, when the line
 * starts with '{', a JSON object whose names are decoded with JSON's
 * escapes.  A JSON value that is a string, true, false, null, an array or
 * an object is skipped, not taken: nested values are walked with a stack
 * of at most METRICS_JSON_DEPTH_MAX brackets, without recursion, so a line
 * of 30,000 '[' costs a bounded stack and is refused, not a crash.  Both
 * scanners hand each number pair to one function that applies the rules
 * every format shares: the name rule (after trimming the blanks around
 * the name), epoch a whole number up to
 * METRICS_EPOCH_MAX, every other value a number as metrics_number_ok()
 * spells it, checked before strtod() so that hex, "nan(...)" and trailing
 * junk are refused.  Duplicate names are found by sorting, so a 64 KiB
 * line of distinct names costs n log n, not n^2.
 *
 * A pair with a bad name or value is left out and the rest of the line
 * taken (metrics_leave_out()); only a line without a valid epoch, or bad
 * JSON, is refused whole.  A name given twice keeps its last value.
 *
 * Every refusal writes its reason once, where it is found; text from the
 * line in a reason goes through metrics_quote(), so a reason is one short
 * line of printable ASCII whatever the trainer wrote.
 *
 * The 64 KiB rule is the splitter's, on the bytes the trainer wrote; the
 * parser takes a line of any length.  A stored row is a parsed line written
 * back ("epoch=5 a=1e+05" for "epoch=5 a=1e5"), which can be longer than
 * the line it came from, and it must read back when trainfs restarts.
 *
 * The auto-stop comparison is Keras' and Lightning's: in max mode a value
 * improves when value - min_delta > best, in min mode when
 * value + min_delta < best; a tie, or a NaN, is never greater.
 */
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "jobs/model/metrics.h"

#define METRICS_EPOCH "epoch"
/* Bytes of the line's own text shown in a reason. */
#define METRICS_QUOTE_MAX 20

/* One line being parsed: the result so far, its capacity, the reason. */
struct metrics_parser {
	struct metrics_line *out;
	size_t cap;
	int have_epoch;
	int left_out; /* pairs left out of the line (bad name or value) */
	char *why;
	size_t whylen;
};

/*
 * Writes S (N bytes) into OUT (LEN >= 1 bytes) for a reason: printable
 * ASCII but '\\' as it is, other bytes as \xNN, the first
 * METRICS_QUOTE_MAX bytes only, then "...".  Returns OUT.
 */
static char *metrics_quote(char *out, size_t len, const char *s, size_t n)
{
	size_t o = 0, i;

	for (i = 0; i < n && i < METRICS_QUOTE_MAX && o + 5 < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c >= 0x20 && c < 0x7f && c != '\\')
			out[o++] = (char)c;
		else
			o += (size_t)snprintf(out + o, len - o, "\\x%02x", c);
	}
	if (i < n && o + 4 <= len) {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o] = '\0';
	return out;
}

/* Writes the reason a line is malformed, if the caller wants it; -1. */
static int __attribute__((format(printf, 2, 3)))
metrics_refuse(struct metrics_parser *p, const char *fmt, ...)
{
	va_list ap;

	if (!p->why || p->whylen == 0 || p->why[0])
		return -1; /* the first reason found is the one shown */
	va_start(ap, fmt);
	vsnprintf(p->why, p->whylen, fmt, ap);
	va_end(ap);
	return -1;
}

/*
 * A pair is left out and the rest of the line taken: counts it, keeps the
 * first reason as metrics_refuse() does, and returns 0 (go on).
 */
static int __attribute__((format(printf, 2, 3)))
metrics_leave_out(struct metrics_parser *p, const char *fmt, ...)
{
	va_list ap;

	p->left_out++;
	if (!p->why || p->whylen == 0 || p->why[0])
		return 0;
	va_start(ap, fmt);
	vsnprintf(p->why, p->whylen, fmt, ap);
	va_end(ap);
	return 0;
}

static int metrics_name_char(char c, int first)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_' ||
	       (!first && ((c >= '0' && c <= '9') || strchr(".-/()[]:%", c)) &&
		c != '\0');
}

/* Whether C is white space trimmed around a name. */
static int metrics_blank(char c)
{
	return c == ' ' || c == '\t';
}

/* Returns whether NAME (N bytes) follows the name rule of metrics.h. */
int metrics_name_valid(const char *name, size_t n)
{
	size_t i;

	if (!name || n == 0 || n > METRICS_NAME_MAX)
		return 0;
	for (i = 0; i < n; i++)
		if (!metrics_name_char(name[i], i == 0))
			return 0;
	return 1;
}

/*
 * Returns whether S (N bytes) is a number: [+-] then nan, inf or infinity
 * in any case, or digits with an optional point and exponent.
 */
static int metrics_number_ok(const char *s, size_t n)
{
	size_t i = 0, digits = 0;

	if (i < n && (s[i] == '+' || s[i] == '-'))
		i++;
	if ((n - i == 3 && !strncasecmp(s + i, "nan", 3)) ||
	    (n - i == 3 && !strncasecmp(s + i, "inf", 3)) ||
	    (n - i == 8 && !strncasecmp(s + i, "infinity", 8)))
		return 1;
	for (; i < n && s[i] >= '0' && s[i] <= '9'; i++)
		digits++;
	if (i < n && s[i] == '.')
		for (i++; i < n && s[i] >= '0' && s[i] <= '9'; i++)
			digits++;
	if (!digits)
		return 0;
	if (i < n && (s[i] == 'e' || s[i] == 'E')) {
		i++;
		if (i < n && (s[i] == '+' || s[i] == '-'))
			i++;
		if (i == n || s[i] < '0' || s[i] > '9')
			return 0;
		while (i < n && s[i] >= '0' && s[i] <= '9')
			i++;
	}
	return i == n;
}

/*
 * Reads the number token VAL (VLEN bytes, followed by a byte that cannot
 * continue a number) into *out; returns 0, or -1 when it is not one.
 */
static int metrics_number(const char *val, size_t vlen, double *out)
{
	char *end;

	if (!metrics_number_ok(val, vlen))
		return -1;
	*out = strtod(val, &end);
	return end == val + vlen ? 0 : -1;
}

/* Bytes of a number token read outside a line (longer: not a number). */
#define METRICS_TOKEN_MAX 512

int metrics_read_number(const char *s, size_t n, double *out)
{
	char tok[METRICS_TOKEN_MAX + 1];

	if (n > METRICS_TOKEN_MAX)
		return -1;
	memcpy(tok, s, n);
	tok[n] = '\0';
	return metrics_number(tok, n, out);
}

/* Reads the epoch token VAL: a whole number, 0..METRICS_EPOCH_MAX. */
static int metrics_epoch(struct metrics_parser *p, const char *val, size_t vlen)
{
	char q[METRICS_WHY_MAX];
	double v;

	metrics_quote(q, sizeof q, val, vlen);
	if (metrics_number(val, vlen, &v) || isnan(v) ||
	    (isfinite(v) && v != floor(v)))
		return metrics_refuse(p, "epoch '%s' is not a whole number", q);
	if (v < 0)
		return metrics_refuse(p, "epoch %s is negative", q);
	if (v > (double)METRICS_EPOCH_MAX)
		return metrics_refuse(p, "epoch %s is over %ld", q,
				      METRICS_EPOCH_MAX);
	p->out->epoch = (long)v;
	return 0;
}

int metrics_read_epoch(const char *s, size_t n, long *epoch, char *why,
		       size_t whylen)
{
	struct metrics_line l = { 0 };
	struct metrics_parser p = { .out = &l,
				    .why = why,
				    .whylen = why ? whylen : 0 };
	char tok[METRICS_TOKEN_MAX + 1];

	if (p.whylen)
		why[0] = '\0';
	if (n > METRICS_TOKEN_MAX)
		n = METRICS_TOKEN_MAX; /* too long for a number: refused */
	memcpy(tok, s, n);
	tok[n] = '\0';
	if (metrics_epoch(&p, tok, n))
		return -1;
	*epoch = l.epoch;
	return 0;
}

/*
 * Applies the shared rules to NAME (N bytes) and the value token VAL (VLEN
 * bytes, inside the NUL-terminated copy of the line, followed by a byte
 * that cannot continue a number).  Returns 0, or -1 when the pair is
 * malformed or memory ran out.
 */
static int metrics_put(struct metrics_parser *p, const char *name, size_t n,
		       const char *val, size_t vlen)
{
	struct metrics_line *l = p->out;
	char q[METRICS_WHY_MAX];
	struct metric *m;
	double v;

	while (n > 0 && metrics_blank(name[0])) {
		name++;
		n--;
	}
	while (n > 0 && metrics_blank(name[n - 1]))
		n--;
	if (!metrics_name_valid(name, n))
		return metrics_leave_out(p, "bad metric name '%s'",
					 metrics_quote(q, sizeof q, name, n));
	if (n == strlen(METRICS_EPOCH) && !memcmp(name, METRICS_EPOCH, n)) {
		if (p->have_epoch)
			return metrics_refuse(p, "epoch given twice");
		p->have_epoch = 1;
		return metrics_epoch(p, val, vlen);
	}
	if (metrics_number(val, vlen, &v))
		return metrics_leave_out(p, "value of '%.*s' is not a number",
					 (int)n, name);
	if (l->n == METRICS_NAMES_MAX)
		return metrics_leave_out(p, "too many metric names");
	if (l->n == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 8;

		m = realloc(l->m, cap * sizeof *m);
		if (!m)
			return metrics_refuse(p, "out of memory");
		l->m = m;
		p->cap = cap;
	}
	l->m[l->n].name = strndup(name, n);
	if (!l->m[l->n].name)
		return metrics_refuse(p, "out of memory");
	l->m[l->n].value = v;
	l->n++;
	return 0;
}

static int metrics_pair_sep(char c)
{
	return c == ' ' || c == '\t' || c == ',';
}

/* Parses the "epoch=12, loss=0.31" form of S (N bytes); returns 0 or -1. */
static int metrics_parse_pairs(struct metrics_parser *p, const char *s,
			       size_t n)
{
	char q[METRICS_WHY_MAX];
	const char *tok, *eq;
	size_t i = 0, len;

	while (i < n) {
		while (i < n && metrics_pair_sep(s[i]))
			i++;
		if (i == n)
			break;
		tok = s + i;
		while (i < n && !metrics_pair_sep(s[i]))
			i++;
		len = (size_t)(s + i - tok);
		eq = memchr(tok, '=', len);
		if (!eq) {
			metrics_leave_out(p, "'%s' is not name=value",
					  metrics_quote(q, sizeof q, tok, len));
			continue;
		}
		if (metrics_put(p, tok, (size_t)(eq - tok), eq + 1,
				len - (size_t)(eq - tok) - 1))
			return -1;
	}
	return 0;
}

static void json_skip_ws(const char *s, size_t n, size_t *i)
{
	while (*i < n && (s[*i] == ' ' || s[*i] == '\t' || s[*i] == '\n' ||
			  s[*i] == '\r'))
		(*i)++;
}

static int json_hex(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * Reads the JSON string at S[*i] (the opening quote) and moves *i past the
 * closing quote.  When NAME is not NULL, the decoded string goes there (it
 * holds METRICS_NAME_MAX bytes) with its length in *len, and *fits says
 * whether it could be a metric name at all: every character the name rule
 * refuses (controls, non-ASCII, '"') is refused whether written raw or
 * escaped, so surrogates need no pairing.  Returns 0, or -1 for bad JSON.
 */
static int json_string(const char *s, size_t n, size_t *i, char *name,
		       size_t *len, int *fits)
{
	size_t k = 0, j = *i + 1;
	unsigned int c;
	int h, d, trail = 0;

	if (fits)
		*fits = 1;
	while (j < n && s[j] != '"') {
		c = (unsigned char)s[j++];
		if (c < 0x20)
			return -1; /* JSON escapes control characters */
		if (c == '\\') {
			if (j == n)
				return -1;
			switch (s[j++]) {
			case '"':
			case '\\':
			case '/':
				c = (unsigned char)s[j - 1];
				break;
			case 'b':
			case 'f':
			case 'n':
			case 'r':
			case 't':
				c = 0; /* a control: never a name */
				break;
			case 'u':
				c = 0;
				for (h = 0; h < 4; h++) {
					if (j == n)
						return -1;
					d = json_hex(s[j++]);
					if (d < 0)
						return -1;
					c = c << 4 | (unsigned int)d;
				}
				break;
			default:
				return -1;
			}
		}
		if (!name)
			continue;
		if (c == ' ' || c == '\t') { /* trimmed around the name */
			trail = k > 0;
			continue;
		}
		if (trail || k == METRICS_NAME_MAX || c == 0 || c > 0x7f ||
		    !metrics_name_char((char)c, k == 0))
			*fits = 0;
		else
			name[k++] = (char)c;
	}
	if (j == n)
		return -1;
	*i = j + 1;
	if (len)
		*len = k;
	return 0;
}

static int json_token_char(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
	       (c >= 'A' && c <= 'Z') || c == '+' || c == '-' || c == '.';
}

/*
 * Skips the array or object at S[*i] (its opening bracket) with its whole
 * content; moves *i past the closing bracket.  Returns 0, or -1 for
 * brackets that do not match, a bad string, or nesting deeper than
 * METRICS_JSON_DEPTH_MAX (whose reason it writes).
 */
static int json_skip_nested(struct metrics_parser *p, const char *s, size_t n,
			    size_t *i, int depth)
{
	char open[METRICS_JSON_DEPTH_MAX];
	int top = 0;

	while (*i < n) {
		char c = s[*i];

		if (c == '{' || c == '[') {
			if (depth + top >= METRICS_JSON_DEPTH_MAX)
				return metrics_refuse(
					p, "JSON nested deeper than %d levels",
					METRICS_JSON_DEPTH_MAX);
			open[top++] = c;
			(*i)++;
		} else if (c == '}' || c == ']') {
			if (top == 0 || open[top - 1] != (c == '}' ? '{' : '['))
				return -1;
			(*i)++;
			if (--top == 0)
				return 0;
		} else if (c == '"') {
			if (json_string(s, n, i, NULL, NULL, NULL))
				return -1;
		} else {
			(*i)++;
		}
	}
	return -1;
}

/* Whether TOKEN (N bytes) is a JSON literal that is not a number. */
static int json_literal(const char *t, size_t n)
{
	return (n == 4 && !memcmp(t, "true", 4)) ||
	       (n == 5 && !memcmp(t, "false", 5)) ||
	       (n == 4 && !memcmp(t, "null", 4));
}

/* Parses the JSON object form of S (N bytes); returns 0 or -1. */
static int metrics_parse_json(struct metrics_parser *p, const char *s, size_t n)
{
	char name[METRICS_NAME_MAX], q[METRICS_WHY_MAX];
	size_t i = 1, nlen, start, key, key_end;
	int fits;

	json_skip_ws(s, n, &i);
	if (i < n && s[i] == '}') {
		i++;
	} else {
		for (;;) {
			json_skip_ws(s, n, &i);
			if (i == n || s[i] != '"')
				goto bad;
			key = i;
			if (json_string(s, n, &i, name, &nlen, &fits))
				goto bad;
			key_end = i - 1; /* its closing quote */
			json_skip_ws(s, n, &i);
			if (i == n || s[i] != ':')
				goto bad;
			i++;
			json_skip_ws(s, n, &i);
			if (i < n && s[i] == '"') {
				if (json_string(s, n, &i, NULL, NULL, NULL))
					goto bad;
			} else if (i < n && (s[i] == '{' || s[i] == '[')) {
				if (json_skip_nested(p, s, n, &i, 1))
					goto bad;
			} else {
				start = i;
				while (i < n && json_token_char(s[i]))
					i++;
				if (i == start)
					goto bad;
				if (json_literal(s + start, i - start)) {
					/* not a metric: left out */
				} else if (!fits) {
					/* the key as written, quotes off */
					metrics_leave_out(
						p, "bad metric name '%s'",
						metrics_quote(q, sizeof q,
							      s + key + 1,
							      key_end - key -
								      1));
				} else if (metrics_put(p, name, nlen, s + start,
						       i - start)) {
					return -1;
				}
			}
			json_skip_ws(s, n, &i);
			if (i < n && s[i] == ',') {
				i++;
				continue;
			}
			if (i < n && s[i] == '}') {
				i++;
				break;
			}
			goto bad;
		}
	}
	json_skip_ws(s, n, &i);
	if (i == n)
		return 0;
bad:
	return metrics_refuse(p, "bad JSON at byte %zu", i + 1);
}

/* Orders metrics by name, then by their place in the line. */
static int metrics_name_cmp(const void *a, const void *b, void *arg)
{
	const struct metric *m = arg;
	size_t x = *(const size_t *)a, y = *(const size_t *)b;
	int c = strcmp(m[x].name, m[y].name);

	return c ? c : (x > y) - (x < y);
}

/*
 * Leaves out every metric of L that a later one of the same name replaces
 * (a name given twice keeps its last value, as JSON readers do); *DUP is
 * the kept metric's name of the first such pair, or NULL.  Returns how
 * many were left out, or -1 when memory ran out.
 */
long metrics_line_dedupe(struct metrics_line *l, const char **dup)
{
	size_t *order, i, k;
	long out = 0;

	*dup = NULL;
	if (l->n < 2)
		return 0;
	order = malloc(l->n * sizeof *order);
	if (!order)
		return -1;
	for (i = 0; i < l->n; i++)
		order[i] = i;
	qsort_r(order, l->n, sizeof *order, metrics_name_cmp, l->m);
	long kept = -1; /* the metric kept of the first name given twice */
	int first = 0;	/* in that name's run */
	for (i = 1; i < l->n; i++) {
		struct metric *m = &l->m[order[i - 1]]; /* freed only here */

		if (strcmp(m->name, l->m[order[i]].name)) {
			first = 0;
			continue;
		}
		if (kept < 0)
			first = 1;
		if (first)
			kept = (long)order[i];
		free(m->name);
		m->name = NULL;
		out++;
	}
	free(order);
	if (kept >= 0)
		*dup = l->m[kept].name;
	for (i = k = 0; i < l->n; i++)
		if (l->m[i].name)
			l->m[k++] = l->m[i];
	l->n = k;
	return out;
}

/* metrics_line_dedupe() of the line being parsed; 0, or -1 (no memory). */
static int metrics_duplicates(struct metrics_parser *p)
{
	const char *dup;
	long out = metrics_line_dedupe(p->out, &dup);

	if (out < 0)
		return metrics_refuse(p, "out of memory");
	if (out > 0)
		metrics_leave_out(p, "metric '%s' given twice", dup);
	return 0;
}

/*
 * Parses one metrics line.  Returns 0 with *out filled (the caller frees
 * it with metrics_line_free), 1 the same with pairs left out and the first
 * one's reason in WHY, or -1 with *out zeroed and the reason in WHY when
 * the line is malformed or memory ran out.
 */
int metrics_parse_line(const char *line, size_t len, struct metrics_line *out,
		       char *why, size_t whylen)
{
	struct metrics_parser p = { .out = out,
				    .why = why,
				    .whylen = why ? whylen : 0 };
	size_t b = 0, e = len;
	char *copy;
	int rc;

	memset(out, 0, sizeof *out);
	if (p.whylen)
		why[0] = '\0';
	if (!line)
		return metrics_refuse(&p, "blank line");
	while (e > 0 && (line[e - 1] == ' ' || line[e - 1] == '\t' ||
			 line[e - 1] == '\r'))
		e--;
	while (b < e && (line[b] == ' ' || line[b] == '\t'))
		b++;
	if (b == e)
		return metrics_refuse(&p, "blank line");
	copy = malloc(e - b + 1);
	if (!copy)
		return metrics_refuse(&p, "out of memory");
	memcpy(copy, line + b, e - b);
	copy[e - b] = '\0';

	if (copy[0] == '{')
		rc = metrics_parse_json(&p, copy, e - b);
	else
		rc = metrics_parse_pairs(&p, copy, e - b);
	if (!rc && !p.have_epoch)
		rc = metrics_refuse(&p, "no epoch");
	if (!rc)
		rc = metrics_duplicates(&p);
	free(copy);
	if (rc)
		metrics_line_free(out);
	return rc ? rc : p.left_out > 0;
}

/* Frees every name and the array of *l, then zeroes it. */
void metrics_line_free(struct metrics_line *l)
{
	size_t i;

	if (!l)
		return;
	for (i = 0; i < l->n; i++)
		free(l->m[i].name);
	free(l->m);
	memset(l, 0, sizeof *l);
}

/*
 * Splits DATA into lines for FN.  A zeroed splitter is ready to use.  The
 * line FN gets lives in s->buf (NUL-terminated) until FN returns.  A last
 * line with no newline stays buffered: at end of input, feed "\n" if
 * s->len or s->overlong is set.
 */
void line_splitter_feed(struct line_splitter *s, const char *data, size_t len,
			line_fn fn, void *arg)
{
	const char *nl;
	size_t n;

	while (len > 0) {
		nl = memchr(data, '\n', len);
		n = nl ? (size_t)(nl - data) : len;
		if (!s->overlong) {
			if (n > METRICS_LINE_MAX - s->len) {
				s->overlong = 1;
				s->len = 0;
			} else {
				memcpy(s->buf + s->len, data, n);
				s->len += n;
			}
		}
		if (!nl)
			return;
		if (s->overlong) {
			fn(arg, NULL, 0, 1);
		} else {
			s->buf[s->len] = '\0';
			fn(arg, s->buf, s->len, 0);
		}
		s->len = 0;
		s->overlong = 0;
		data = nl + 1;
		len -= n + 1;
	}
}

/* Starts *a with nothing observed; a negative or NaN MIN_DELTA reads as 0. */
void autostop_init(struct autostop *a, int mode_min, double min_delta,
		   long patience)
{
	memset(a, 0, sizeof *a);
	a->mode_min = mode_min ? 1 : 0;
	a->min_delta = min_delta > 0 ? min_delta : 0;
	a->patience = patience > 0 ? patience : 0;
	a->best_epoch = -1;
}

/*
 * Observes VALUE at EPOCH: a finite value that improves becomes the best
 * and resets the wait, anything else adds one epoch of waiting.  Returns
 * 1 when the job should stop now, else 0.
 */
int autostop_observe(struct autostop *a, long epoch, double value)
{
	int better;

	if (!isfinite(value))
		better = 0;
	else if (!a->have_best)
		better = 1;
	else if (a->mode_min)
		better = value + a->min_delta < a->best;
	else
		better = value - a->min_delta > a->best;

	if (better) {
		a->have_best = 1;
		a->best = value;
		a->best_epoch = epoch;
		a->waited = 0;
	} else if (a->waited < LONG_MAX) {
		a->waited++;
	}
	return a->patience > 0 && a->waited >= a->patience;
}

/*
 * Formats V into BUF (LEN bytes; 32 always suffice, less truncates) as the
 * shortest "%.Ng" text that strtod() reads back as V; of two equally short
 * ones the plain "10000" wins over "1e+04".  Returns BUF.
 */
char *metrics_format_number(double v, char *buf, size_t len)
{
	char text[32], plain[32], *e;
	int prec;
	long exp;

	if (!buf || len == 0)
		return buf;
	if (isnan(v)) {
		snprintf(buf, len, "nan");
		return buf;
	}
	if (isinf(v)) {
		snprintf(buf, len, v < 0 ? "-inf" : "inf");
		return buf;
	}
	/* %.17g always reads back, so the loop ends with a match */
	for (prec = 1; prec < DBL_DECIMAL_DIG; prec++) {
		snprintf(text, sizeof text, "%.*g", prec, v);
		if (strtod(text, NULL) == v)
			break;
	}
	if (prec == DBL_DECIMAL_DIG)
		snprintf(text, sizeof text, "%.*g", prec, v);
	/*
	 * More precision only adds digits, except that %g writes 1e+02 until
	 * the precision passes the exponent; then "100" may be as short.
	 */
	e = strchr(text, 'e');
	if (e) {
		exp = strtol(e + 1, NULL, 10);
		if (exp >= prec && exp < DBL_DECIMAL_DIG) {
			snprintf(plain, sizeof plain, "%.*g", (int)exp + 1, v);
			if (!strchr(plain, 'e') && strtod(plain, NULL) == v &&
			    strlen(plain) <= strlen(text))
				memcpy(text, plain, strlen(plain) + 1);
		}
	}
	snprintf(buf, len, "%s", text);
	return buf;
}
