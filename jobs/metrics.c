/*
 * metrics: the one parser of the trainer's metrics lines, the bounded line
 * splitter that feeds it, the auto-stop policy, and the one number
 * formatter.
 *
 * A line is copied once into a NUL-terminated buffer, so strtod() never
 * reads past it, and then read by one of two small hand-written scanners:
 * "name=value" tokens split on spaces and tabs, or, when the line starts
 * with '{', a flat JSON object whose names are decoded with JSON's escapes
 * and whose values are bare number tokens (a string, object, array, true,
 * false or null is not a number, so the line is malformed).  Both scanners
 * hand each pair to one function that applies the rules every format
 * shares: the name rule, epoch a whole number written as digits, every
 * other value a number as metrics_number_ok() spells it, checked before
 * strtod() so that hex, "nan(...)" and trailing junk are refused.
 * Duplicate names are found by sorting, so a 64 KiB line of distinct names
 * costs n log n, not n^2.
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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "metrics.h"

#define METRICS_EPOCH "epoch"

/* One line being parsed: the result so far and its capacity. */
struct metrics_parser {
	struct metrics_line *out;
	size_t cap;
	int have_epoch;
};

/* Returns whether NAME (N bytes) follows the name rule of metrics.h. */
static int metrics_name_ok(const char *name, size_t n)
{
	size_t i;

	if (n == 0 || n > METRICS_NAME_MAX)
		return 0;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)name[i];

		if (c <= ' ' || c > '~' || c == ',' || c == '"' || c == '=')
			return 0;
	}
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

/* Reads S (N bytes, digits only) as a whole number; returns 0 or -1. */
static int metrics_epoch(const char *s, size_t n, long *out)
{
	long v = 0;
	size_t i;

	if (n == 0)
		return -1;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		if (v > (LONG_MAX - (s[i] - '0')) / 10)
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
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
	struct metric *m;
	char *end;
	double v;

	if (!metrics_name_ok(name, n))
		return -1;
	if (n == strlen(METRICS_EPOCH) && !memcmp(name, METRICS_EPOCH, n)) {
		if (p->have_epoch)
			return -1;
		p->have_epoch = 1;
		return metrics_epoch(val, vlen, &l->epoch);
	}
	if (!metrics_number_ok(val, vlen))
		return -1;
	v = strtod(val, &end);
	if (end != val + vlen)
		return -1;
	if (l->n == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 8;

		m = realloc(l->m, cap * sizeof *m);
		if (!m)
			return -1;
		l->m = m;
		p->cap = cap;
	}
	l->m[l->n].name = strndup(name, n);
	if (!l->m[l->n].name)
		return -1;
	l->m[l->n].value = v;
	l->n++;
	return 0;
}

/* Parses the "epoch=12 loss=0.31" form of S (N bytes); returns 0 or -1. */
static int metrics_parse_pairs(struct metrics_parser *p, const char *s,
			       size_t n)
{
	const char *tok, *eq;
	size_t i = 0, len;

	while (i < n) {
		while (i < n && (s[i] == ' ' || s[i] == '\t'))
			i++;
		if (i == n)
			break;
		tok = s + i;
		while (i < n && s[i] != ' ' && s[i] != '\t')
			i++;
		len = (size_t)(s + i - tok);
		eq = memchr(tok, '=', len);
		if (!eq)
			return -1;
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
 * Decodes the JSON string at S[*i] (the opening quote) into NAME, which
 * holds METRICS_NAME_MAX bytes, and sets *len.  Moves *i past the closing
 * quote.  Returns 0, or -1 for bad JSON or a name the rule refuses: every
 * character it refuses (controls, non-ASCII, '"') is refused here whether
 * it was written raw or escaped, so surrogates need no pairing.
 */
static int json_name(const char *s, size_t n, size_t *i, char *name,
		     size_t *len)
{
	size_t k = 0, j = *i + 1;
	unsigned int c;
	int h, d;

	while (j < n && s[j] != '"') {
		c = (unsigned char)s[j++];
		if (c == '\\') {
			if (j == n)
				return -1;
			switch (s[j++]) {
			case '"':
				c = '"';
				break;
			case '\\':
				c = '\\';
				break;
			case '/':
				c = '/';
				break;
			case 'b':
				c = '\b';
				break;
			case 'f':
				c = '\f';
				break;
			case 'n':
				c = '\n';
				break;
			case 'r':
				c = '\r';
				break;
			case 't':
				c = '\t';
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
		if (c <= ' ' || c > '~' || c == ',' || c == '"' || c == '=')
			return -1;
		if (k == METRICS_NAME_MAX)
			return -1;
		name[k++] = (char)c;
	}
	if (j == n)
		return -1;
	*i = j + 1;
	*len = k;
	return 0;
}

static int json_token_char(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
	       (c >= 'A' && c <= 'Z') || c == '+' || c == '-' || c == '.';
}

/* Parses the flat JSON object form of S (N bytes); returns 0 or -1. */
static int metrics_parse_json(struct metrics_parser *p, const char *s, size_t n)
{
	char name[METRICS_NAME_MAX];
	size_t i = 1, nlen, start;

	json_skip_ws(s, n, &i);
	if (i < n && s[i] == '}') {
		i++;
	} else {
		for (;;) {
			json_skip_ws(s, n, &i);
			if (i == n || s[i] != '"')
				return -1;
			if (json_name(s, n, &i, name, &nlen))
				return -1;
			json_skip_ws(s, n, &i);
			if (i == n || s[i] != ':')
				return -1;
			i++;
			json_skip_ws(s, n, &i);
			/* a string, object or array has no token: malformed */
			start = i;
			while (i < n && json_token_char(s[i]))
				i++;
			if (i == start)
				return -1;
			if (metrics_put(p, name, nlen, s + start, i - start))
				return -1;
			json_skip_ws(s, n, &i);
			if (i < n && s[i] == ',') {
				i++;
				continue;
			}
			if (i < n && s[i] == '}') {
				i++;
				break;
			}
			return -1;
		}
	}
	json_skip_ws(s, n, &i);
	return i == n ? 0 : -1;
}

static int metrics_name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Returns 1 if two metrics of L share a name, 0 if not, -1 out of memory. */
static int metrics_duplicates(const struct metrics_line *l)
{
	char **names;
	size_t i;
	int dup = 0;

	if (l->n < 2)
		return 0;
	names = malloc(l->n * sizeof *names);
	if (!names)
		return -1;
	for (i = 0; i < l->n; i++)
		names[i] = l->m[i].name;
	qsort(names, l->n, sizeof *names, metrics_name_cmp);
	for (i = 1; i < l->n && !dup; i++)
		dup = !strcmp(names[i - 1], names[i]);
	free(names);
	return dup;
}

/*
 * Parses one metrics line.  Returns 0 with *out filled (the caller frees
 * it with metrics_line_free), or -1 with *out zeroed when the line is
 * malformed or memory ran out.
 */
int metrics_parse_line(const char *line, size_t len, struct metrics_line *out)
{
	struct metrics_parser p = { .out = out };
	size_t b = 0, e = len;
	char *copy;
	int rc;

	memset(out, 0, sizeof *out);
	if (!line)
		return -1;
	while (e > 0 && (line[e - 1] == ' ' || line[e - 1] == '\t' ||
			 line[e - 1] == '\r'))
		e--;
	while (b < e && (line[b] == ' ' || line[b] == '\t'))
		b++;
	if (b == e)
		return -1;
	copy = malloc(e - b + 1);
	if (!copy)
		return -1;
	memcpy(copy, line + b, e - b);
	copy[e - b] = '\0';

	if (copy[0] == '{')
		rc = metrics_parse_json(&p, copy, e - b);
	else
		rc = metrics_parse_pairs(&p, copy, e - b);
	if (!rc && (!p.have_epoch || metrics_duplicates(out)))
		rc = -1;
	free(copy);
	if (rc)
		metrics_line_free(out);
	return rc;
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
