/*
 * sweep_spec: parsing a sweep's spec (the rules are in sweep_spec.h).  One
 * pass over the lines sorts the search keys from the job's; the job's are
 * then checked by spec_parse(), and the search is checked against them
 * (monitor, epochs, the command's {NAME}s).
 */
#include "jobs/model/sweep_spec.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jobs/model/spec.h"

#define PARAM_PREFIX "param."

enum search_key {
	SK_TRIALS,
	SK_SEARCH,
	SK_SEED,
	SK_PARALLEL,
	SK_PRUNE,
	SK_MIN_EPOCHS,
	SK_FACTOR,
	SK_STARTUP,
	SK_COUNT
};

static const char *const search_keys[SK_COUNT] = {
	"trials", "search",	      "seed",	      "parallel",
	"prune",  "prune.min_epochs", "prune.factor", "prune.startup",
};

struct parser {
	struct sweep_spec s;
	unsigned long key_line[SK_COUNT];
	unsigned long command_line;
	char *err;
	size_t errlen;
};

static int __attribute__((format(printf, 2, 3)))
fail(struct parser *p, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(p->err, p->errlen, fmt, ap);
	va_end(ap);
	return -1;
}

/* A whole number from MIN to MAX, all of V. */
static int whole(const char *v, long min, long max, long *out)
{
	char *end;
	errno = 0;
	long x = strtol(v, &end, 10);
	if (end == v || *end || errno || x < min || x > max)
		return -1;
	*out = x;
	return 0;
}

static int set_key(struct parser *p, enum search_key k, const char *v,
		   unsigned long line)
{
	struct sweep_spec *s = &p->s;
	const char *why = NULL;
	char *end;
	switch (k) {
	case SK_TRIALS:
		if (whole(v, 1, SWEEP_TRIALS_MAX, &s->trials))
			why = "not a whole number from 1 to 100000";
		break;
	case SK_SEARCH:
		if (!strcmp(v, "grid") || !strcmp(v, "random"))
			s->grid = !strcmp(v, "grid");
		else
			why = "not random or grid";
		break;
	case SK_SEED:
		errno = 0;
		s->seed = strtoull(v, &end, 10);
		if (end == v || *end || errno || *v == '-')
			why = "not a whole number";
		s->has_seed = 1;
		break;
	case SK_PARALLEL:
		if (whole(v, 1, 10000, &s->parallel))
			why = "not a whole number from 1 to 10000";
		break;
	case SK_PRUNE:
		if (!strcmp(v, "none"))
			s->prune = SWEEP_PRUNE_NONE;
		else if (!strcmp(v, "median"))
			s->prune = SWEEP_PRUNE_MEDIAN;
		else if (!strcmp(v, "asha"))
			s->prune = SWEEP_PRUNE_ASHA;
		else
			why = "not none, median or asha";
		break;
	case SK_MIN_EPOCHS:
		if (whole(v, 1, 1000000000L, &s->min_epochs))
			why = "not a whole number of at least 1";
		break;
	case SK_FACTOR:
		if (whole(v, 2, 1000000, &s->factor))
			why = "not a whole number of at least 2";
		break;
	case SK_STARTUP:
		if (whole(v, 0, 100000, &s->startup))
			why = "not a whole number";
		break;
	case SK_COUNT:
		break;
	}
	if (why)
		return fail(p, "spec line %lu: bad value '%s' for '%s': %s",
			    line, v, search_keys[k], why);
	return 0;
}

static int add_param(struct parser *p, const char *name, const char *v,
		     unsigned long line)
{
	struct sweep_spec *s = &p->s;
	char why[160];
	for (size_t i = 0; i < s->nparams; i++)
		if (!strcmp(s->params[i].name, name))
			return fail(p,
				    "spec line %lu: duplicate key 'param.%s'",
				    line, name);
	if (s->nparams == SWEEP_PARAMS_MAX)
		return fail(p, "spec line %lu: more than %d params", line,
			    SWEEP_PARAMS_MAX);
	struct sweep_param *np =
		realloc(s->params, (s->nparams + 1) * sizeof *np);
	if (!np)
		return fail(p, "spec: out of memory");
	s->params = np;
	int rc = sweep_param_parse(name, v, &s->params[s->nparams], why,
				   sizeof why);
	if (rc == -ENOMEM)
		return fail(p, "spec: out of memory");
	if (rc)
		return fail(p, "spec line %lu: %s", line, why);
	s->nparams++;
	return 0;
}

/*
 * Line LINE (N bytes): a search key is taken (1), a job key or a blank
 * line left for the job's parser (0), or an error (-1).
 */
static int take_line(struct parser *p, const char *text, size_t n,
		     unsigned long line)
{
	const char *k, *v;
	size_t kl, vl;
	if (spec_line_pair(text, n, &k, &kl, &v, &vl) != 1)
		return 0;
	char key[80], val[1024];
	if (kl >= sizeof key)
		return 0;
	memcpy(key, k, kl);
	key[kl] = 0;
	if (!strcmp(key, "command"))
		p->command_line = line;
	int param = !strncmp(key, PARAM_PREFIX, strlen(PARAM_PREFIX));
	int i = 0;
	while (i < SK_COUNT && strcmp(key, search_keys[i]))
		i++;
	if (!param && i == SK_COUNT) {
		if (!strncmp(key, "prune.", 6))
			return fail(p, "spec line %lu: unknown key '%s'", line,
				    key);
		return 0;
	}
	if (vl >= sizeof val)
		return fail(p, "spec line %lu: the value of '%s' is too long",
			    line, key);
	memcpy(val, v, vl);
	val[vl] = 0;
	if (param)
		return add_param(p, key + strlen(PARAM_PREFIX), val, line) ?
			       -1 :
			       1;
	if (p->key_line[i])
		return fail(p, "spec line %lu: duplicate key '%s'", line, key);
	p->key_line[i] = line;
	return set_key(p, (enum search_key)i, val, line) ? -1 : 1;
}

/* Copies TEXT's lines to the job text, search lines left blank. */
static int split(struct parser *p, const char *text, size_t len)
{
	char *out = malloc(len + 1);
	if (!out)
		return fail(p, "spec: out of memory");
	size_t w = 0;
	unsigned long line = 1;
	for (size_t b = 0; b < len; line++) {
		const char *nl = memchr(text + b, '\n', len - b);
		size_t e = nl ? (size_t)(nl - text) : len;
		size_t n = e - b;
		if (n && text[b + n - 1] == '\r')
			n--;
		int taken = take_line(p, text + b, n, line);
		if (taken < 0) {
			free(out);
			return -1;
		}
		if (!taken) {
			memcpy(out + w, text + b, e - b);
			w += e - b;
		}
		if (nl)
			out[w++] = '\n';
		b = e + (nl != NULL);
	}
	out[w] = 0;
	p->s.job_text = out;
	p->s.job_len = w;
	return 0;
}

/* The search checked against the job spec J. */
static int check(struct parser *p, const struct spec *j)
{
	struct sweep_spec *s = &p->s;
	if (!j->monitor)
		return fail(p, "spec: 'monitor' is required for a sweep");
	s->monitor = strdup(j->monitor);
	if (!s->monitor)
		return fail(p, "spec: out of memory");
	s->maximize = !j->mode_min;
	s->epochs = j->epochs;
	char *cmd = NULL, missing[SWEEP_PARAM_NAME_MAX + 2];
	int rc = sweep_substitute(j->command, s->params, s->nparams, NULL, &cmd,
				  missing, sizeof missing);
	free(cmd);
	if (rc == -EINVAL)
		return fail(p, "spec line %lu: '{%s}' has no param.%s",
			    p->command_line, missing, missing);
	if (rc)
		return fail(p, "spec: out of memory");
	if (s->prune == SWEEP_PRUNE_ASHA && !s->epochs)
		return fail(p, "spec: prune = asha needs 'epochs'");
	if (s->grid) {
		for (size_t i = 0; i < s->nparams; i++)
			if (s->params[i].dist != SWEEP_LIST)
				return fail(p,
					    "spec: search = grid needs "
					    "lists: param.%s is not one",
					    s->params[i].name);
		if (!s->nparams)
			return fail(p, "spec: search = grid needs a param");
		size_t n = sweep_grid_size(s->params, s->nparams);
		if (!n)
			return fail(p, "spec: the grid has more than %d trials",
				    SWEEP_GRID_MAX);
		s->trials = (long)n;
	} else if (!p->key_line[SK_TRIALS]) {
		return fail(p, "spec: 'trials' is required for a random "
			       "search");
	}
	return 0;
}

int sweep_spec_parse(const char *text, size_t len, struct sweep_spec *out,
		     char *err, size_t errlen)
{
	struct parser p = { .err = err, .errlen = errlen };
	p.s.parallel = 1;
	p.s.min_epochs = 1;
	p.s.factor = 3;
	p.s.startup = 5;
	memset(out, 0, sizeof *out);
	if (errlen)
		err[0] = 0;
	struct spec j = { 0 };
	if (split(&p, text, len))
		goto bad;
	if (spec_parse(p.s.job_text, p.s.job_len, &j, err, errlen))
		goto bad;
	int rc = check(&p, &j);
	spec_free(&j);
	if (rc)
		goto bad;
	*out = p.s;
	return 0;
bad:
	sweep_spec_free(&p.s);
	return -1;
}

void sweep_spec_free(struct sweep_spec *s)
{
	for (size_t i = 0; i < s->nparams; i++)
		sweep_param_free(&s->params[i]);
	free(s->params);
	free(s->monitor);
	free(s->job_text);
	memset(s, 0, sizeof *s);
}

int sweep_trial_spec(const struct sweep_spec *s, uint64_t seed,
		     unsigned long trial, char (*values)[SWEEP_VALUE_MAX],
		     char **text, size_t *len)
{
	int rc = sweep_trial_values(s->params, s->nparams, s->grid, seed, trial,
				    values);
	if (rc)
		return rc;
	/* The job text with its command line substituted: every {NAME} of
	 * the text is in that line, since only command keeps braces that
	 * matter, and other lines pass through untouched. */
	size_t cap = s->job_len + 1;
	for (size_t i = 0; i < s->nparams; i++)
		cap += 40 + strlen(s->params[i].name) + 2 * SWEEP_VALUE_MAX;
	char missing[SWEEP_PARAM_NAME_MAX + 2];
	char *buf = NULL;
	size_t w = 0;
	const char *t = s->job_text;
	for (size_t b = 0; b < s->job_len;) {
		const char *nl = memchr(t + b, '\n', s->job_len - b);
		size_t e = nl ? (size_t)(nl - t) + 1 : s->job_len;
		const char *k, *v;
		size_t kl, vl;
		char *line = strndup(t + b, e - b), *sub = NULL;
		if (!line)
			goto nomem;
		size_t n = e - b - (nl != NULL);
		if (spec_line_pair(t + b, n, &k, &kl, &v, &vl) == 1 &&
		    kl == 7 && !memcmp(k, "command", 7)) {
			rc = sweep_substitute(line, s->params, s->nparams,
					      values, &sub, missing,
					      sizeof missing);
			if (rc) {
				free(line);
				free(buf);
				return rc;
			}
			free(line);
			line = sub;
		}
		size_t ll = strlen(line);
		char *nb = realloc(buf, cap + w + ll);
		if (!nb) {
			free(line);
			goto nomem;
		}
		buf = nb;
		memcpy(buf + w, line, ll);
		w += ll;
		free(line);
		b = e;
	}
	if (!buf && !(buf = malloc(cap)))
		return -ENOMEM;
	if (w && buf[w - 1] != '\n')
		buf[w++] = '\n';
	for (size_t i = 0; i < s->nparams; i++)
		w += (size_t)sprintf(buf + w, "env.TRAINFS_PARAM_%s = %s\n",
				     s->params[i].name, values[i]);
	*text = buf;
	*len = w;
	return 0;
nomem:
	free(buf);
	return -ENOMEM;
}
