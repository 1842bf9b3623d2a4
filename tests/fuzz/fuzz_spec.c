/*
 * fuzz_spec: libFuzzer harness for the spec parser (jobs/model/spec.c).
 *
 * The input is a spec file, byte for byte.  Every parse is held to what
 * spec.h promises, not only to "does not crash":
 *
 *  - a good spec has sane fields: command set and non-empty, workdir
 *    absolute, epochs/patience >= 0, min_delta and grace finite and >= 0
 *    (never -0), a signal from 1 to 64 that has a name or a number, a
 *    known compression, stop_to, keep and executor, checkpoints >= 0,
 *    slurm options of SPEC's list that never repeat, with slurm_time what
 *    spec_slurm_time() makes of slurm.time, env names that are variable
 *    names and never repeat, and every string valid one-line text without
 *    surrounding blanks;
 *  - spec_slurm_argv() gives "--OPTION=VALUE" for each slurm option;
 *  - spec_with_epochs() keeps a good spec good, with the new epochs and
 *    every other field as it was, and leaves a text without an epochs
 *    line as it was, with one line appended;
 *  - a good spec written back out as "key=value" lines parses to the same
 *    spec (what the parser accepts, it can read back);
 *  - a bad spec leaves *out zeroed and a non-empty one-line message that
 *    starts with "spec", and a line number no larger than the text has;
 *  - the result does not depend on the err buffer: no buffer, a short one
 *    (which gets a prefix of the message) or a long one;
 *  - the same text with CRLF line ends, or a comment line appended, parses
 *    to the same result.
 */
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jobs/model/metrics.h"
#include "jobs/model/spec.h"
#include "tests/fuzz/fuzz.h"

#define ERR_LEN 512

/* Checks that S is one line of text as the spec requires of values. */
static void check_text(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	for (; *p; p++)
		FUZZ_CHECK(*p == '\t' || (*p >= 0x20 && *p != 0x7f));
}

/* Checks that S has no spaces or tabs at either end. */
static void check_trimmed(const char *s)
{
	size_t n = strlen(s);

	if (!n)
		return;
	FUZZ_CHECK(s[0] != ' ' && s[0] != '\t');
	FUZZ_CHECK(s[n - 1] != ' ' && s[n - 1] != '\t');
}

/* The sbatch options a spec may set (SPEC "Slurm"), '_' made '-'. */
static const char *const slurm_options[] = {
	"partition",	 "account", "qos",  "time", "nodes",	  "ntasks",
	"cpus-per-task", "mem",	    "gres", "gpus", "constraint",
};

/* Checks S's slurm options, their argv and slurm_time. */
static void check_slurm(const struct spec *s)
{
	int seen[sizeof slurm_options / sizeof slurm_options[0]] = { 0 };
	int have_time = 0;
	char **argv, want[64];
	size_t i, k;
	long sec;

	FUZZ_CHECK((s->nslurm == 0) == (s->slurm == NULL));
	for (i = 0; i < s->nslurm; i++) {
		for (k = 0; k < sizeof slurm_options / sizeof *slurm_options;
		     k++)
			if (!strcmp(s->slurm[i].option, slurm_options[k]))
				break;
		FUZZ_CHECK(k < sizeof slurm_options / sizeof *slurm_options);
		FUZZ_CHECK(!seen[k]++);
		FUZZ_CHECK(s->slurm[i].value && *s->slurm[i].value);
		check_text(s->slurm[i].value);
		check_trimmed(s->slurm[i].value);
		if (!strcmp(s->slurm[i].option, "time")) {
			have_time = 1;
			FUZZ_CHECK(spec_slurm_time(s->slurm[i].value, &sec) ==
				   0);
			FUZZ_CHECK(sec == s->slurm_time && sec >= 0);
		}
	}
	if (!have_time)
		FUZZ_CHECK(s->slurm_time == 0);
	argv = spec_slurm_argv(s);
	FUZZ_CHECK(argv != NULL);
	for (i = 0; i < s->nslurm; i++) {
		FUZZ_CHECK(argv[i] != NULL);
		snprintf(want, sizeof want, "--%s=", s->slurm[i].option);
		FUZZ_CHECK(!strncmp(argv[i], want, strlen(want)));
		FUZZ_CHECK(!strcmp(argv[i] + strlen(want), s->slurm[i].value));
	}
	FUZZ_CHECK(argv[s->nslurm] == NULL);
	spec_argv_free(argv);
}

static int env_name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Checks the fields of a spec that parsed. */
static void check_good(const struct spec *s)
{
	char **names;
	size_t i;

	FUZZ_CHECK(s->command && *s->command);
	check_text(s->command);
	check_trimmed(s->command);
	if (s->workdir) {
		FUZZ_CHECK(s->workdir[0] == '/');
		FUZZ_CHECK(strlen(s->workdir) < PATH_MAX);
		check_text(s->workdir);
		check_trimmed(s->workdir);
	}
	FUZZ_CHECK(s->epochs >= 0);
	if (s->monitor) {
		size_t n = strlen(s->monitor);

		FUZZ_CHECK(n >= 1 && n <= METRICS_NAME_MAX);
		FUZZ_CHECK(metrics_name_valid(s->monitor, n));
	}
	FUZZ_CHECK(s->stop_to == SPEC_STOP_TO_MAIN ||
		   s->stop_to == SPEC_STOP_TO_GROUP);
	FUZZ_CHECK(s->keep == SPEC_KEEP_BEST || s->keep == SPEC_KEEP_LAST);
	FUZZ_CHECK(s->checkpoints >= 0);
	FUZZ_CHECK(s->executor == SPEC_EXECUTOR_DEFAULT ||
		   s->executor == SPEC_EXECUTOR_LOCAL ||
		   s->executor == SPEC_EXECUTOR_SLURM);
	check_slurm(s);
	FUZZ_CHECK(s->mode_min == 0 || s->mode_min == 1);
	FUZZ_CHECK(s->patience >= 0);
	FUZZ_CHECK(isfinite(s->min_delta) && s->min_delta >= 0 &&
		   !signbit(s->min_delta));
	FUZZ_CHECK(isfinite(s->grace) && s->grace >= 0 && !signbit(s->grace));
	FUZZ_CHECK(s->stop_signal >= 1 && s->stop_signal <= 64);
	if (spec_signal_name(s->stop_signal))
		FUZZ_CHECK(spec_signal_number(spec_signal_name(
				   s->stop_signal)) == s->stop_signal);
	FUZZ_CHECK(s->compression == COMPRESS_NONE ||
		   s->compression == COMPRESS_GZIP ||
		   s->compression == COMPRESS_ZSTD);
	FUZZ_CHECK((s->nenv == 0) == (s->env == NULL));
	if (!s->nenv)
		return;
	names = malloc(s->nenv * sizeof *names);
	FUZZ_CHECK(names != NULL);
	for (i = 0; i < s->nenv; i++) {
		const char *p = s->env[i].name;

		FUZZ_CHECK(p && s->env[i].value);
		FUZZ_CHECK((*p >= 'A' && *p <= 'Z') ||
			   (*p >= 'a' && *p <= 'z') || *p == '_');
		for (; *p; p++)
			FUZZ_CHECK((*p >= 'A' && *p <= 'Z') ||
				   (*p >= 'a' && *p <= 'z') ||
				   (*p >= '0' && *p <= '9') || *p == '_');
		check_text(s->env[i].value);
		check_trimmed(s->env[i].value);
		names[i] = s->env[i].name;
	}
	qsort(names, s->nenv, sizeof *names, env_name_cmp);
	for (i = 1; i < s->nenv; i++)
		FUZZ_CHECK(strcmp(names[i - 1], names[i]) != 0);
	free(names);
}

/* Checks the message of a spec that did not parse; TEXT had LINES lines. */
static void check_bad(const struct spec *s, const char *err,
		      unsigned long lines)
{
	static const struct spec zero;
	unsigned long n;

	FUZZ_CHECK(memcmp(s, &zero, sizeof *s) == 0);
	FUZZ_CHECK(memchr(err, '\0', ERR_LEN) != NULL);
	FUZZ_CHECK(!strncmp(err, "spec", 4));
	check_text(err);
	if (sscanf(err, "spec line %lu:", &n) == 1)
		FUZZ_CHECK(n >= 1 && n <= lines);
}

static int str_eq(const char *a, const char *b)
{
	return (!a && !b) || (a && b && !strcmp(a, b));
}

/* Checks that two parsed specs are the same field by field. */
static void check_same(const struct spec *a, const struct spec *b)
{
	size_t i;

	FUZZ_CHECK(str_eq(a->command, b->command));
	FUZZ_CHECK(str_eq(a->workdir, b->workdir));
	FUZZ_CHECK(a->epochs == b->epochs);
	FUZZ_CHECK(str_eq(a->monitor, b->monitor));
	FUZZ_CHECK(a->mode_min == b->mode_min);
	FUZZ_CHECK(a->patience == b->patience);
	FUZZ_CHECK(a->min_delta == b->min_delta);
	FUZZ_CHECK(a->stop_signal == b->stop_signal);
	FUZZ_CHECK(a->grace == b->grace);
	FUZZ_CHECK(a->compression == b->compression);
	FUZZ_CHECK(a->stop_to == b->stop_to);
	FUZZ_CHECK(a->keep == b->keep);
	FUZZ_CHECK(a->checkpoints == b->checkpoints);
	FUZZ_CHECK(a->executor == b->executor);
	FUZZ_CHECK(a->slurm_time == b->slurm_time);
	FUZZ_CHECK(a->nslurm == b->nslurm);
	for (i = 0; i < a->nslurm && i < b->nslurm; i++) {
		FUZZ_CHECK(!strcmp(a->slurm[i].option, b->slurm[i].option));
		FUZZ_CHECK(!strcmp(a->slurm[i].value, b->slurm[i].value));
	}
	FUZZ_CHECK(a->nenv == b->nenv);
	for (i = 0; i < a->nenv && i < b->nenv; i++) {
		FUZZ_CHECK(!strcmp(a->env[i].name, b->env[i].name));
		FUZZ_CHECK(!strcmp(a->env[i].value, b->env[i].value));
	}
}

/* Writes S back out as a spec and checks that it parses to S again. */
static void check_round_trip(const struct spec *s)
{
	static const char *const comp[] = { "none", "gzip", "zstd" };
	static const char *const executor[] = { "", "local", "slurm" };
	struct text t = { 0 };
	struct spec again;
	char err[ERR_LEN], *p;
	size_t i;

	text_add(&t, "command=%s\n", s->command);
	if (s->workdir)
		text_add(&t, "workdir=%s\n", s->workdir);
	if (s->epochs)
		text_add(&t, "epochs=%ld\n", s->epochs);
	if (s->monitor)
		text_add(&t, "monitor=%s\n", s->monitor);
	text_add(&t, "mode=%s\n", s->mode_min ? "min" : "max");
	text_add(&t, "patience=%ld\n", s->patience);
	text_add(&t, "min_delta=%.17g\n", s->min_delta);
	text_add(&t, "stop_signal=%d\n", s->stop_signal);
	text_add(&t, "grace=%.17g\n", s->grace);
	text_add(&t, "compression=%s\n", comp[s->compression]);
	text_add(&t, "stop_to=%s\n",
		 s->stop_to == SPEC_STOP_TO_GROUP ? "group" : "main");
	text_add(&t, "keep=%s\n", s->keep == SPEC_KEEP_BEST ? "best" : "last");
	if (s->checkpoints == SPEC_CHECKPOINTS_ALL)
		text_add(&t, "checkpoints=all\n");
	else
		text_add(&t, "checkpoints=%ld\n", s->checkpoints);
	if (s->executor != SPEC_EXECUTOR_DEFAULT)
		text_add(&t, "executor=%s\n", executor[s->executor]);
	for (i = 0; i < s->nslurm; i++) {
		text_add(&t, "slurm.");
		for (p = s->slurm[i].option; *p; p++)
			text_add(&t, "%c", *p == '-' ? '_' : *p);
		text_add(&t, "=%s\n", s->slurm[i].value);
	}
	for (i = 0; i < s->nenv; i++)
		text_add(&t, "env.%s=%s\n", s->env[i].name, s->env[i].value);
	if (spec_parse(t.s, t.len, &again, err, sizeof err)) {
		fprintf(stderr, "written back:\n%s\nerror: %s\n", t.s, err);
		FUZZ_CHECK(!"a parsed spec written back parses");
	}
	check_same(s, &again);
	spec_free(&again);
	free(t.s);
}

/*
 * Parses TEXT (LEN bytes) again and checks that it gives WANT_RC, the
 * same spec as WANT and the same message as WANT_ERR.
 */
static void check_same_parse(const char *text, size_t len, int want_rc,
			     const struct spec *want, const char *want_err)
{
	struct spec s;
	char err[ERR_LEN];

	FUZZ_CHECK(spec_parse(text, len, &s, err, sizeof err) == want_rc);
	FUZZ_CHECK(!strcmp(err, want_err));
	if (!want_rc)
		check_same(want, &s);
	spec_free(&s);
}

/*
 * Checks spec_with_epochs() on TEXT (LEN bytes), which parsed to RC and,
 * when RC is 0, to S.
 */
static void check_with_epochs(const char *text, size_t len, int rc,
			      const struct spec *s, struct fuzz_rng *rng)
{
	long epochs = 1 + (long)fuzz_rng_below(rng, 1000000);
	char line[64], err[ERR_LEN];
	struct spec again, want;
	size_t n, k;
	char *out;

	out = spec_with_epochs(text, len, epochs, &n);
	FUZZ_CHECK(out != NULL);
	FUZZ_CHECK(out[n] == '\0');
	if (!rc) {
		if (spec_parse(out, n, &again, err, sizeof err)) {
			fprintf(stderr, "with epochs=%ld:\n%s\nerror: %s\n",
				epochs, out, err);
			FUZZ_CHECK(!"a good spec with new epochs parses");
		}
		want = *s;
		want.epochs = epochs;
		check_same(&want, &again);
		spec_free(&again);
		if (!s->epochs) {
			/* no epochs line: the text as it was, one line more */
			k = (size_t)snprintf(line, sizeof line,
					     "epochs = %ld\n", epochs);
			FUZZ_CHECK(n >= len + k && n <= len + k + 1);
			FUZZ_CHECK(!memcmp(out, text, len));
			FUZZ_CHECK(!memcmp(out + n - k, line, k));
		}
	}
	free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	struct spec s, other;
	char err[ERR_LEN], small[ERR_LEN];
	unsigned long lines = 1;
	struct fuzz_rng rng;
	size_t i, errlen, k;
	char *crlf;
	int rc;

	for (i = 0; i < size; i++)
		lines += text[i] == '\n';
	memset(err, 'x', sizeof err);
	rc = spec_parse(text, size, &s, err, sizeof err);
	FUZZ_CHECK(rc == 0 || rc == -1);
	if (rc == 0) {
		FUZZ_CHECK(err[0] == '\0');
		check_good(&s);
		check_round_trip(&s);
	} else {
		check_bad(&s, err, lines);
		FUZZ_CHECK(err[0] != '\0');
	}

	/* the err buffer changes nothing but how much of the message fits */
	FUZZ_CHECK(spec_parse(text, size, &other, NULL, 0) == rc);
	spec_free(&other);
	memset(small, 'y', sizeof small);
	FUZZ_CHECK(spec_parse(text, size, &other, small, 0) == rc);
	FUZZ_CHECK(small[0] == 'y');
	spec_free(&other);
	fuzz_rng_init(&rng, data, size);
	errlen = 1 + (size_t)fuzz_rng_below(&rng, 48);
	memset(small, 'y', sizeof small);
	FUZZ_CHECK(spec_parse(text, size, &other, small, errlen) == rc);
	FUZZ_CHECK(memchr(small, '\0', errlen) != NULL);
	FUZZ_CHECK(!strncmp(small, err, strlen(small)));
	FUZZ_CHECK(strlen(small) == errlen - 1 || !strcmp(small, err));
	if (!rc)
		check_same(&s, &other);
	spec_free(&other);

	check_with_epochs(text, size, rc, &s, &rng);

	/* a comment line at the end changes nothing */
	crlf = malloc(2 * size + 16);
	FUZZ_CHECK(crlf != NULL);
	memcpy(crlf, text, size);
	k = size;
	if (k && crlf[k - 1] != '\n')
		crlf[k++] = '\n';
	memcpy(crlf + k, "# end\n", 6);
	check_same_parse(crlf, k + 6, rc, &s, err);

	/* and neither do CRLF line ends, where there was no CR before */
	if (!memchr(text, '\r', size)) {
		for (i = 0, k = 0; i < size; i++) {
			if (text[i] == '\n')
				crlf[k++] = '\r';
			crlf[k++] = text[i];
		}
		check_same_parse(crlf, k, rc, &s, err);
	}
	free(crlf);
	spec_free(&s);
	return 0;
}
