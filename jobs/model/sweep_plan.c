/*
 * sweep_plan: parsing `param.` values, drawing and enumerating trials, and
 * substituting {NAME} in a command (the rules are in sweep_plan.h).  The
 * random numbers are splitmix64's (Steele, Lea and Flood, 2014): small,
 * fast, and the same on every machine, which rand() is not.
 */
#include "jobs/model/sweep_plan.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

uint64_t sweep_rand_next(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* A number in [0, 1) with 53 random bits. */
static double rand_unit(uint64_t *state)
{
	return (double)(sweep_rand_next(state) >> 11) * 0x1.0p-53;
}

static int fail(char *why, size_t whylen, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, whylen, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

int sweep_param_name_ok(const char *name)
{
	size_t n = strlen(name);
	if (n < 1 || n > SWEEP_PARAM_NAME_MAX ||
	    isdigit((unsigned char)name[0]))
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)name[i]) && name[i] != '_')
			return 0;
	return 1;
}

static const char *skip_space(const char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	return s;
}

/* A whole number or a number, the whole of S[0..LEN) after trimming. */
static int parse_number(const char *s, size_t len, double *out)
{
	char buf[64];
	while (len && (*s == ' ' || *s == '\t'))
		s++, len--;
	while (len && (s[len - 1] == ' ' || s[len - 1] == '\t'))
		len--;
	if (len == 0 || len >= sizeof buf)
		return -1;
	memcpy(buf, s, len);
	buf[len] = 0;
	char *end;
	errno = 0;
	double v = strtod(buf, &end);
	if (*end || errno || !isfinite(v))
		return -1;
	*out = v;
	return 0;
}

/* `uniform(A, B)` and its kin: KIND's arguments into P->lo, P->hi. */
static int parse_range(const char *value, const char *kind,
		       struct sweep_param *p, char *why, size_t whylen)
{
	const char *open = value + strlen(kind);
	const char *comma = strchr(open, ',');
	const char *close = strrchr(open, ')');
	if (*open != '(' || !comma || !close || close < comma ||
	    *skip_space(close + 1))
		return fail(why, whylen, "param.%s: expected %s(A, B)", p->name,
			    kind);
	if (parse_number(open + 1, comma - open - 1, &p->lo) ||
	    parse_number(comma + 1, close - comma - 1, &p->hi))
		return fail(why, whylen,
			    "param.%s: %s's bounds must be numbers", p->name,
			    kind);
	if (!(p->lo < p->hi))
		return fail(why, whylen, "param.%s: %s needs A < B", p->name,
			    kind);
	if (p->dist == SWEEP_LOGUNIFORM && !(p->lo > 0))
		return fail(why, whylen, "param.%s: loguniform needs 0 < A < B",
			    p->name);
	if (p->dist == SWEEP_INT &&
	    (p->lo != floor(p->lo) || p->hi != floor(p->hi) ||
	     fabs(p->lo) > 1e15 || fabs(p->hi) > 1e15))
		return fail(why, whylen, "param.%s: int needs whole numbers",
			    p->name);
	return 0;
}

/* A list value: a number, or a word of A-Z a-z 0-9 . _ - */
static int item_ok(const char *s, size_t len)
{
	double v;
	if (parse_number(s, len, &v) == 0)
		return 1;
	for (size_t i = 0; i < len; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '.' &&
		    s[i] != '_' && s[i] != '-')
			return 0;
	return 1;
}

/* `2, 4, 8` into P->items. */
static int parse_list(const char *value, struct sweep_param *p, char *why,
		      size_t whylen)
{
	size_t cap = 1;
	for (const char *c = value; *c; c++)
		cap += *c == ',';
	if (cap > SWEEP_LIST_MAX)
		return fail(why, whylen, "param.%s: more than %d values",
			    p->name, SWEEP_LIST_MAX);
	p->items = calloc(cap, sizeof *p->items);
	if (!p->items)
		return -ENOMEM;
	const char *s = value;
	for (;;) {
		s = skip_space(s);
		size_t len = 0;
		while (s[len] && s[len] != ',')
			len++;
		size_t t = len;
		while (t && (s[t - 1] == ' ' || s[t - 1] == '\t'))
			t--;
		if (t == 0 || t >= SWEEP_VALUE_MAX)
			return fail(why, whylen, "param.%s: %s list value",
				    p->name, t ? "too long a" : "an empty");
		if (!item_ok(s, t))
			return fail(why, whylen,
				    "param.%s: '%.*s' is not a number "
				    "or a word of A-Z a-z 0-9 . _ -",
				    p->name, (int)t, s);
		memcpy(p->items[p->nitems++], s, t);
		if (!s[len])
			return 0;
		s += len + 1;
	}
}

int sweep_param_parse(const char *name, const char *value,
		      struct sweep_param *p, char *why, size_t whylen)
{
	memset(p, 0, sizeof *p);
	if (!sweep_param_name_ok(name))
		return fail(why, whylen,
			    "param.%s: a param name is 1 to 64 of A-Z a-z "
			    "0-9 _",
			    name);
	strcpy(p->name, name);
	value = skip_space(value);
	static const struct {
		const char *kind;
		enum sweep_dist dist;
	} ranges[] = {
		{ "loguniform", SWEEP_LOGUNIFORM },
		{ "uniform", SWEEP_UNIFORM },
		{ "int", SWEEP_INT },
	};
	for (size_t i = 0; i < sizeof ranges / sizeof ranges[0]; i++) {
		size_t k = strlen(ranges[i].kind);
		if (!strncmp(value, ranges[i].kind, k) && value[k] == '(') {
			p->dist = ranges[i].dist;
			return parse_range(value, ranges[i].kind, p, why,
					   whylen);
		}
	}
	p->dist = SWEEP_LIST;
	int rc = parse_list(value, p, why, whylen);
	if (rc)
		sweep_param_free(p);
	return rc;
}

void sweep_param_free(struct sweep_param *p)
{
	free(p->items);
	p->items = NULL;
	p->nitems = 0;
}

size_t sweep_grid_size(const struct sweep_param *ps, size_t n)
{
	size_t total = 1;
	for (size_t i = 0; i < n; i++) {
		if (ps[i].dist != SWEEP_LIST || ps[i].nitems == 0)
			return 0;
		if (total > SWEEP_GRID_MAX / ps[i].nitems)
			return 0;
		total *= ps[i].nitems;
	}
	return n ? total : 0;
}

static void draw(const struct sweep_param *p, uint64_t *state,
		 char value[SWEEP_VALUE_MAX])
{
	double u = rand_unit(state);
	switch (p->dist) {
	case SWEEP_LIST:
		snprintf(value, SWEEP_VALUE_MAX, "%s",
			 p->items[(size_t)(u * (double)p->nitems)]);
		break;
	case SWEEP_UNIFORM:
		snprintf(value, SWEEP_VALUE_MAX, "%.6g",
			 p->lo + u * (p->hi - p->lo));
		break;
	case SWEEP_LOGUNIFORM:
		snprintf(value, SWEEP_VALUE_MAX, "%.6g",
			 exp(log(p->lo) + u * (log(p->hi) - log(p->lo))));
		break;
	case SWEEP_INT:
		snprintf(value, SWEEP_VALUE_MAX, "%.0f",
			 p->lo + floor(u * (p->hi - p->lo + 1)));
		break;
	}
}

int sweep_trial_values(const struct sweep_param *ps, size_t n, int grid,
		       uint64_t seed, unsigned long trial,
		       char (*values)[SWEEP_VALUE_MAX])
{
	if (trial < 1)
		return -EINVAL;
	if (grid) {
		size_t total = sweep_grid_size(ps, n);
		if (total == 0 || trial > total)
			return -EINVAL;
		size_t t = trial - 1;
		for (size_t i = n; i-- > 0;) {
			snprintf(values[i], SWEEP_VALUE_MAX, "%s",
				 ps[i].items[t % ps[i].nitems]);
			t /= ps[i].nitems;
		}
		return 0;
	}
	/* Each trial's own stream: trial T's values do not depend on how
	 * many values other trials drew. */
	uint64_t state = seed;
	state ^= sweep_rand_next(&(uint64_t){ trial * 0xd1342543de82ef95ULL });
	for (size_t i = 0; i < n; i++)
		draw(&ps[i], &state, values[i]);
	return 0;
}

/* The param named S[0..LEN), or -1. */
static long find_param(const struct sweep_param *ps, size_t n, const char *s,
		       size_t len)
{
	for (size_t i = 0; i < n; i++)
		if (strlen(ps[i].name) == len && !memcmp(ps[i].name, s, len))
			return (long)i;
	return -1;
}

/* At S, a `{NAME}` (not the shell's `${`): the name's length, else 0. */
static size_t placeholder(const char *start, const char *s)
{
	if (*s != '{' || (s > start && s[-1] == '$'))
		return 0;
	size_t len = 0;
	while (isalnum((unsigned char)s[1 + len]) || s[1 + len] == '_')
		len++;
	return len && s[1 + len] == '}' ? len : 0;
}

int sweep_substitute(const char *command, const struct sweep_param *ps,
		     size_t n, char (*values)[SWEEP_VALUE_MAX], char **out,
		     char *missing, size_t missinglen)
{
	size_t size = 1;
	for (const char *s = command; *s; s++) {
		size_t len = placeholder(command, s);
		if (!len) {
			size++;
			continue;
		}
		long i = find_param(ps, n, s + 1, len);
		if (i < 0) {
			snprintf(missing, missinglen, "%.*s", (int)len, s + 1);
			return -EINVAL;
		}
		size += values ? strlen(values[i]) : 0;
		s += len + 1;
	}
	char *buf = malloc(size), *w = buf;
	if (!buf)
		return -ENOMEM;
	for (const char *s = command; *s; s++) {
		size_t len = placeholder(command, s);
		if (!len) {
			*w++ = *s;
			continue;
		}
		long i = find_param(ps, n, s + 1, len);
		if (values) {
			strcpy(w, values[i]);
			w += strlen(values[i]);
		}
		s += len + 1;
	}
	*w = 0;
	*out = buf;
	return 0;
}
