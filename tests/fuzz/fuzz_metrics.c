/*
 * fuzz_metrics: libFuzzer harness for the metrics line parser, the line
 * splitter, the auto-stop policy and the number formatter (jobs/model/metrics.c).
 *
 * The input is a piece of a trainer's metrics file.  It is parsed whole as
 * one line, and it is fed through line_splitter_feed() in chunks whose
 * sizes come from a random stream seeded by the input (so a saved crash
 * replays the same chunks), each line it yields being parsed in turn.
 * Beyond "does not crash", it checks:
 *
 *  - a parsed line has 0 <= epoch <= METRICS_EPOCH_MAX, at most
 *    METRICS_NAMES_MAX metric names that follow the rule of metrics.h
 *    (checked here against the rule spelled out again), none of them
 *    "epoch" and none twice, and an empty reason;
 *  - a malformed line leaves *out zeroed and gives a reason: one line of
 *    printable ASCII that fits METRICS_WHY_MAX; no buffer, or a short one,
 *    changes nothing but how much of it is written;
 *  - a parsed line written back as jobs/core/job.c stores it ("epoch=E
 *    name=VALUE ..." with metrics_format_number), and as JSON, parses to
 *    the same line: a row stored is a row that can be read back;
 *  - blanks before and a '\r' after a line change nothing;
 *  - the splitter yields exactly the lines of the input cut at '\n', a
 *    line longer than METRICS_LINE_MAX as one overlong report, whatever
 *    the chunk sizes;
 *  - metrics_format_number() reads back as the same double for finite
 *    values (also for doubles taken raw from the input), gives nan/inf/
 *    -inf otherwise, is idempotent and truncates to a prefix;
 *  - the auto-stop policy keeps its best finite, never gets worse, and
 *    asks to stop exactly when patience epochs passed without improving.
 */
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jobs/model/metrics.h"
#include "tests/fuzz/fuzz.h"

#define NUM_LEN 32 /* metrics_format_number: 32 bytes always suffice */

static int same_double(double a, double b)
{
	return (isnan(a) && isnan(b)) || (a == b && signbit(a) == signbit(b));
}

/* Checks metrics_format_number() on V. */
static void check_format(double v, size_t cut_len)
{
	char buf[NUM_LEN], again[NUM_LEN], cut[NUM_LEN];
	char *end;
	double r;

	memset(buf, 'x', sizeof buf);
	FUZZ_CHECK(metrics_format_number(v, buf, sizeof buf) == buf);
	FUZZ_CHECK(strlen(buf) < sizeof buf - 1); /* nothing was cut */
	if (isnan(v)) {
		FUZZ_CHECK(!strcmp(buf, "nan"));
	} else if (isinf(v)) {
		FUZZ_CHECK(!strcmp(buf, v < 0 ? "-inf" : "inf"));
	} else {
		r = strtod(buf, &end);
		FUZZ_CHECK(*end == '\0');
		FUZZ_CHECK(same_double(r, v));
		metrics_format_number(r, again, sizeof again);
		FUZZ_CHECK(!strcmp(buf, again));
	}
	memset(cut, 'x', sizeof cut);
	metrics_format_number(v, cut, cut_len);
	FUZZ_CHECK(memchr(cut, '\0', cut_len) != NULL);
	FUZZ_CHECK(!strncmp(cut, buf, strlen(cut)));
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Checks that two parsed lines are the same, metric by metric. */
static void check_same(const struct metrics_line *a,
		       const struct metrics_line *b)
{
	size_t i;

	FUZZ_CHECK(a->epoch == b->epoch);
	FUZZ_CHECK(a->n == b->n);
	for (i = 0; i < a->n && i < b->n; i++) {
		FUZZ_CHECK(!strcmp(a->m[i].name, b->m[i].name));
		FUZZ_CHECK(same_double(a->m[i].value, b->m[i].value) ||
			   (isnan(a->m[i].value) && isnan(b->m[i].value)));
	}
}

/*
 * Writes L back out, stored form or JSON, with NUMS its values formatted,
 * and checks it reads back.
 */
static void check_written_back(const struct metrics_line *l,
			       char (*nums)[NUM_LEN], int json)
{
	struct metrics_line again;
	struct text t = { 0 };
	const char *p;
	size_t i;

	text_add(&t, json ? "{\"epoch\": %ld" : "epoch=%ld", l->epoch);
	for (i = 0; i < l->n; i++) {
		if (!json) {
			text_add(&t, " %s=%s", l->m[i].name, nums[i]);
			continue;
		}
		/* '\\' is the one character of a name JSON must escape */
		text_add(&t, ", \"");
		for (p = l->m[i].name; *p; p++)
			if (*p == '\\')
				text_add(&t, "\\\\");
			else
				text_add(&t, "%c", *p);
		text_add(&t, "\": %s", nums[i]);
	}
	if (json)
		text_add(&t, "}");
	if (metrics_parse_line(t.s, t.len, &again, NULL, 0)) {
		fprintf(stderr,
			"written back (%zu bytes) does not parse: "
			"%.200s...\n",
			t.len, t.s);
		FUZZ_CHECK(!"a parsed line written back parses");
	}
	check_same(l, &again);
	metrics_line_free(&again);
	free(t.s);
}

/* Parses LINE (LEN bytes) and checks the result; returns the rc. */
static int check_line(const char *line, size_t len, struct fuzz_rng *rng,
		      struct metrics_line *out)
{
	static const struct metrics_line zero;
	struct metrics_line other;
	char why[METRICS_WHY_MAX], small[METRICS_WHY_MAX];
	char(*nums)[NUM_LEN];
	char **names;
	char *padded;
	size_t i, j, smalllen;
	int rc;

	memset(why, 'x', sizeof why);
	rc = metrics_parse_line(line, len, out, why, sizeof why);
	FUZZ_CHECK(rc == 0 || rc == 1 || rc == -1);
	FUZZ_CHECK(memchr(why, '\0', sizeof why) != NULL);
	FUZZ_CHECK(strlen(why) < sizeof why - 1); /* never cut */
	for (i = 0; why[i]; i++)
		FUZZ_CHECK(why[i] >= 0x20 && why[i] < 0x7f);
	FUZZ_CHECK(rc ? why[0] != '\0' : why[0] == '\0');
	/* 1: pairs were left out, the rest taken; -1: the line refused */

	/* the reason buffer changes nothing but what is written in it */
	FUZZ_CHECK(metrics_parse_line(line, len, &other, NULL, 0) == rc);
	metrics_line_free(&other);
	smalllen = 1 + (size_t)fuzz_rng_below(rng, 24);
	memset(small, 'y', sizeof small);
	FUZZ_CHECK(metrics_parse_line(line, len, &other, small, smalllen) ==
		   rc);
	metrics_line_free(&other);
	FUZZ_CHECK(memchr(small, '\0', smalllen) != NULL);
	FUZZ_CHECK(!strncmp(small, why, strlen(small)));
	FUZZ_CHECK(strlen(small) == smalllen - 1 || !strcmp(small, why));

	if (rc < 0) {
		FUZZ_CHECK(memcmp(out, &zero, sizeof *out) == 0);
	} else {
		FUZZ_CHECK(out->epoch >= 0 && out->epoch <= METRICS_EPOCH_MAX);
		FUZZ_CHECK(out->n <= METRICS_NAMES_MAX);
		FUZZ_CHECK(out->n == 0 || out->m != NULL);
		names = malloc((out->n + 1) * sizeof *names);
		nums = malloc((out->n + 1) * sizeof *nums);
		FUZZ_CHECK(names != NULL && nums != NULL);
		for (i = 0; i < out->n; i++) {
			const char *name = out->m[i].name;
			size_t n = strlen(name);

			FUZZ_CHECK(n >= 1 && n <= METRICS_NAME_MAX);
			FUZZ_CHECK(metrics_name_valid(name, n));
			FUZZ_CHECK((name[0] >= 'a' && name[0] <= 'z') ||
				   (name[0] >= 'A' && name[0] <= 'Z') ||
				   name[0] == '_');
			for (j = 0; j < n; j++)
				FUZZ_CHECK((name[j] >= 'a' && name[j] <= 'z') ||
					   (name[j] >= 'A' && name[j] <= 'Z') ||
					   (name[j] >= '0' && name[j] <= '9') ||
					   strchr("_.-/()[]:%", name[j]) !=
						   NULL);
			FUZZ_CHECK(strcmp(name, "epoch") != 0);
			names[i] = out->m[i].name;
			metrics_format_number(out->m[i].value, nums[i],
					      sizeof nums[i]);
			/* the full check is costly; the first few will do */
			if (i < 16)
				check_format(out->m[i].value,
					     1 + (size_t)fuzz_rng_below(
							 rng, NUM_LEN));
		}
		qsort(names, out->n, sizeof *names, name_cmp);
		for (i = 1; i < out->n; i++)
			FUZZ_CHECK(strcmp(names[i - 1], names[i]) != 0);
		free(names);
		check_written_back(out, nums, 0);
		check_written_back(out, nums, 1);
		free(nums);
	}

	/* blanks before, a CR after: the same line */
	padded = malloc(len + 3);
	FUZZ_CHECK(padded != NULL);
	padded[0] = ' ';
	padded[1] = '\t';
	memcpy(padded + 2, line, len);
	padded[len + 2] = '\r';
	FUZZ_CHECK(metrics_parse_line(padded, len + 3, &other, NULL, 0) == rc);
	if (rc >= 0)
		check_same(out, &other);
	metrics_line_free(&other);
	free(padded);
	return rc;
}

/* One line the splitter yielded, or the reference expects. */
struct piece {
	const char *line; /* NULL: overlong */
	size_t len;
};

/* What the splitter's callback sees. */
struct split {
	const struct piece *want;
	size_t nwant, got;
	struct fuzz_rng *rng;
	struct autostop policy;
};

/* Feeds the monitored value (the line's first metric) to the policy. */
static void check_autostop(struct autostop *a, const struct metrics_line *l)
{
	struct autostop before = *a;
	int stop;

	if (!l->n)
		return;
	stop = autostop_observe(a, l->epoch, l->m[0].value);
	FUZZ_CHECK(stop == (a->patience > 0 && a->waited >= a->patience));
	FUZZ_CHECK(a->waited >= 0);
	if (a->have_best) {
		FUZZ_CHECK(isfinite(a->best));
		if (before.have_best && a->mode_min)
			FUZZ_CHECK(a->best <= before.best);
		else if (before.have_best)
			FUZZ_CHECK(a->best >= before.best);
	}
	if (!isfinite(l->m[0].value))
		FUZZ_CHECK(a->waited == before.waited + 1 ||
			   before.waited == LONG_MAX);
	if (a->waited == 0)
		FUZZ_CHECK(a->best_epoch == l->epoch &&
			   same_double(a->best, l->m[0].value));
}

static void on_line(void *arg, const char *line, size_t len, int overlong)
{
	struct split *sp = arg;
	const struct piece *w;
	struct metrics_line ml;

	FUZZ_CHECK(sp->got < sp->nwant);
	w = &sp->want[sp->got++];
	if (overlong) {
		FUZZ_CHECK(line == NULL && len == 0);
		FUZZ_CHECK(w->line == NULL);
		return;
	}
	FUZZ_CHECK(line != NULL && w->line != NULL);
	FUZZ_CHECK(len == w->len && len <= METRICS_LINE_MAX);
	FUZZ_CHECK(line[len] == '\0');
	FUZZ_CHECK(!memcmp(line, w->line, len));
	if (check_line(line, len, sp->rng, &ml) >= 0)
		check_autostop(&sp->policy, &ml);
	metrics_line_free(&ml);
}

static struct line_splitter splitter;

/* Feeds DATA through the splitter in random chunks; checks every line. */
static void check_split(const char *data, size_t size, struct fuzz_rng *rng)
{
	struct split sp = { .rng = rng };
	struct piece *want;
	size_t pos = 0, n;
	const char *nl;

	/* the reference: cut at '\n'; a last line without one still counts */
	want = malloc((size + 1) * sizeof *want);
	FUZZ_CHECK(want != NULL);
	while (pos < size) {
		nl = memchr(data + pos, '\n', size - pos);
		n = nl ? (size_t)(nl - data - pos) : size - pos;
		want[sp.nwant].line = n > METRICS_LINE_MAX ? NULL : data + pos;
		want[sp.nwant].len = n > METRICS_LINE_MAX ? 0 : n;
		sp.nwant++;
		pos += n + 1;
	}
	sp.want = want;

	autostop_init(&sp.policy, (int)fuzz_rng_below(rng, 2),
		      (double)fuzz_rng_below(rng, 4) / 8,
		      (long)fuzz_rng_below(rng, 5));
	memset(&splitter, 0, sizeof splitter);
	for (pos = 0; pos < size; pos += n) {
		switch (fuzz_rng_below(rng, 4)) {
		case 0:
			n = 1;
			break;
		case 1:
			n = 1 + (size_t)fuzz_rng_below(rng, 16);
			break;
		case 2:
			n = 1 + (size_t)fuzz_rng_below(rng, 4096);
			break;
		default:
			n = 1 +
			    (size_t)fuzz_rng_below(rng, 2 * METRICS_LINE_MAX);
			break;
		}
		if (n > size - pos)
			n = size - pos;
		line_splitter_feed(&splitter, data + pos, n, on_line, &sp);
		FUZZ_CHECK(splitter.len <= METRICS_LINE_MAX);
	}
	if (splitter.len || splitter.overlong)
		line_splitter_feed(&splitter, "\n", 1, on_line, &sp);
	FUZZ_CHECK(sp.got == sp.nwant);
	free(want);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	struct metrics_line ml;
	struct fuzz_rng rng;
	double raw;
	size_t i;

	fuzz_rng_init(&rng, data, size);
	check_line(text, size, &rng, &ml);
	metrics_line_free(&ml);
	check_split(text, size, &rng);
	for (i = 0; i + sizeof raw <= size && i < 64; i += sizeof raw) {
		memcpy(&raw, data + i, sizeof raw);
		check_format(raw, 1 + (size_t)fuzz_rng_below(&rng, NUM_LEN));
	}
	return 0;
}
