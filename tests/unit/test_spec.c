/*
 * Unit tests of jobs/spec.c: every key and its default, every form of
 * error message, comments, CRLF, NUL bytes and other bytes that are not
 * text, duplicates, and random bytes that must never crash the parser.
 */
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "jobs/spec.h"
#include "tests/unit/test.h"

static char err[512];

/* Parses the C string TEXT into *s; returns spec_parse's result. */
static int parse(const char *text, struct spec *s)
{
	memset(err, 'x', sizeof err);
	return spec_parse(text, strlen(text), s, err, sizeof err);
}

/* Returns the error message TEXT gives, after checking the parse failed. */
static const char *parse_err(const char *text)
{
	struct spec s;
	static const struct spec zero;

	if (parse(text, &s) != -1) {
		spec_free(&s);
		return "(parsed)";
	}
	if (memcmp(&s, &zero, sizeof s) != 0)
		return "(spec not zeroed)";
	return err;
}

static void test_minimal_and_defaults(void)
{
	struct spec s;

	CHECK(parse("command = echo hi\n", &s) == 0);
	CHECK_STR(err, "");
	CHECK_STR(s.command, "echo hi");
	CHECK(s.workdir == NULL);
	CHECK(s.epochs == 0);
	CHECK(s.monitor == NULL);
	CHECK(s.mode_min == 0);
	CHECK(s.patience == 0);
	CHECK(s.min_delta == 0);
	CHECK(s.stop_signal == SIGTERM);
	CHECK(s.grace == 60);
	CHECK(s.compression == COMPRESS_NONE);
	CHECK(s.env == NULL && s.nenv == 0);
	spec_free(&s);
	CHECK(s.command == NULL);
	spec_free(&s); /* twice is fine: it was zeroed */
}

static void test_every_key(void)
{
	struct spec s;
	const char *text =
		"command   = python3 train.py --data coco.yaml  # required\n"
		"workdir   = /home/me/project\n"
		"epochs    = 100          # target epochs\n"
		"monitor   = mAP          # the metric\n"
		"mode      = min\n"
		"patience  = 10\n"
		"min_delta = 0.001\n"
		"stop_signal = INT\n"
		"grace     = 2.5\n"
		"compression = zstd\n"
		"env.CUDA_VISIBLE_DEVICES = 0   # any env.NAME\n"
		"env.EMPTY =\n"
		"env._x1 = a = b\n";

	CHECK(parse(text, &s) == 0);
	CHECK_STR(s.command, "python3 train.py --data coco.yaml");
	CHECK_STR(s.workdir, "/home/me/project");
	CHECK(s.epochs == 100);
	CHECK_STR(s.monitor, "mAP");
	CHECK(s.mode_min == 1);
	CHECK(s.patience == 10);
	CHECK(s.min_delta == 0.001);
	CHECK(s.stop_signal == SIGINT);
	CHECK(s.grace == 2.5);
	CHECK(s.compression == COMPRESS_ZSTD);
	CHECK(s.nenv == 3);
	if (s.nenv == 3) {
		CHECK_STR(s.env[0].name, "CUDA_VISIBLE_DEVICES");
		CHECK_STR(s.env[0].value, "0");
		CHECK_STR(s.env[1].name, "EMPTY");
		CHECK_STR(s.env[1].value, "");
		CHECK_STR(s.env[2].name, "_x1");
		CHECK_STR(s.env[2].value, "a = b");
	}
	spec_free(&s);
	CHECK(s.env == NULL && s.nenv == 0 && s.monitor == NULL);
}

static void test_values_accepted(void)
{
	struct spec s;

	CHECK(parse("command=x\nmode=max\nepochs=1\npatience=0\n", &s) == 0);
	CHECK(s.mode_min == 0 && s.epochs == 1 && s.patience == 0);
	spec_free(&s);

	CHECK(parse("command=x\nmin_delta=0\ngrace=0\n", &s) == 0);
	CHECK(s.min_delta == 0 && s.grace == 0);
	spec_free(&s);

	CHECK(parse("command=x\nmin_delta=1e-3\ngrace=-0\n", &s) == 0);
	CHECK(s.min_delta == 0.001 && s.grace == 0 && !signbit(s.grace));
	spec_free(&s);

	CHECK(parse("command=x\nmin_delta=.5\ngrace=3.\n", &s) == 0);
	CHECK(s.min_delta == 0.5 && s.grace == 3);
	spec_free(&s);

	CHECK(parse("command=x\ncompression=gzip\n", &s) == 0);
	CHECK(s.compression == COMPRESS_GZIP);
	spec_free(&s);

	CHECK(parse("command=x\ncompression=none\n", &s) == 0);
	CHECK(s.compression == COMPRESS_NONE);
	spec_free(&s);

	CHECK(parse("command=x\nepochs=007\n", &s) == 0);
	CHECK(s.epochs == 7);
	spec_free(&s);

	CHECK(parse("command=x\nmonitor=val/loss_top-1.5\n", &s) == 0);
	CHECK_STR(s.monitor, "val/loss_top-1.5");
	spec_free(&s);

	/* a value may hold '#' when it is not after white space */
	CHECK(parse("command=x\nmonitor=mAP#50\n", &s) == 0);
	CHECK_STR(s.monitor, "mAP#50");
	spec_free(&s);

	/* UTF-8 text is fine in a value */
	CHECK(parse("command = echo 'h\xc3\xa9llo \xe2\x9c\x93'\n"
		    "workdir = /home/\xc3\xa9t\xc3\xa9\n", &s) == 0);
	CHECK_STR(s.command, "echo 'h\xc3\xa9llo \xe2\x9c\x93'");
	CHECK_STR(s.workdir, "/home/\xc3\xa9t\xc3\xa9");
	spec_free(&s);
}

static void test_monitor_length(void)
{
	char text[512], name[200];
	struct spec s;

	memset(name, 'm', 128);
	name[128] = '\0';
	snprintf(text, sizeof text, "command=x\nmonitor=%s\n", name);
	CHECK(parse(text, &s) == 0);
	CHECK(s.monitor && strlen(s.monitor) == 128);
	spec_free(&s);

	memset(name, 'm', 129);
	name[129] = '\0';
	snprintf(text, sizeof text, "command=x\nmonitor=%s\n", name);
	CHECK(parse(text, &s) == -1);
	CHECK(strstr(err, "spec line 2: bad value 'mmm") == err);
	CHECK(strstr(err, "' for 'monitor': longer than 128 characters") != NULL);
}

static void test_signals(void)
{
	static const struct {
		const char *text;
		int sig;
	} ok[] = {
		{ "TERM", SIGTERM },  { "INT", SIGINT },     { "HUP", SIGHUP },
		{ "QUIT", SIGQUIT },  { "USR1", SIGUSR1 },   { "USR2", SIGUSR2 },
		{ "KILL", SIGKILL },  { "SIGTERM", SIGTERM }, { "SIGINT", SIGINT },
		{ "SIGKILL", SIGKILL }, { "SIGUSR1", SIGUSR1 }, { "term", SIGTERM },
		{ "sigusr2", SIGUSR2 }, { "1", 1 },	     { "15", 15 },
		{ "64", 64 },
	};
	static const char *const bad[] = { "0", "65", "-1", "FOO", "SIG",
					   "SIG15", "TERM2", "1.0", "" };
	char text[128], want[256];
	struct spec s;
	size_t i;

	for (i = 0; i < sizeof ok / sizeof ok[0]; i++) {
		snprintf(text, sizeof text, "command=x\nstop_signal = %s\n",
			 ok[i].text);
		CHECK(parse(text, &s) == 0);
		CHECK(s.stop_signal == ok[i].sig);
		spec_free(&s);
	}
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		snprintf(text, sizeof text, "command=x\nstop_signal = %s\n",
			 bad[i]);
		snprintf(want, sizeof want,
			 "spec line 2: bad value '%s' for 'stop_signal': "
			 "expected TERM, INT, HUP, QUIT, USR1, USR2, KILL or a "
			 "number from 1 to 64", bad[i]);
		CHECK_STR(parse_err(text), want);
	}

	CHECK_STR(spec_signal_name(SIGTERM), "TERM");
	CHECK_STR(spec_signal_name(SIGINT), "INT");
	CHECK_STR(spec_signal_name(SIGHUP), "HUP");
	CHECK_STR(spec_signal_name(SIGQUIT), "QUIT");
	CHECK_STR(spec_signal_name(SIGUSR1), "USR1");
	CHECK_STR(spec_signal_name(SIGUSR2), "USR2");
	CHECK_STR(spec_signal_name(SIGKILL), "KILL");
	CHECK(spec_signal_name(0) == NULL);
	CHECK(spec_signal_name(SIGALRM) == NULL);
	CHECK(spec_signal_name(-1) == NULL);
}

static void test_compression_suffix(void)
{
	CHECK_STR(spec_compression_suffix(COMPRESS_NONE), "");
	CHECK_STR(spec_compression_suffix(COMPRESS_GZIP), ".gz");
	CHECK_STR(spec_compression_suffix(COMPRESS_ZSTD), ".zst");
}

static void test_comments_and_blanks(void)
{
	struct spec s;
	const char *text = "# a spec\n"
			   "\n"
			   "   \t \n"
			   "   # indented comment = not a key\n"
			   "\t#tab comment\n"
			   "command = echo a#b   # run it\n"
			   "epochs = 100   # target\n"
			   "patience = 3\t# tab before\n"
			   "monitor = loss#1\n"
			   "#\n";

	CHECK(parse(text, &s) == 0);
	CHECK_STR(s.command, "echo a#b");
	CHECK(s.epochs == 100);
	CHECK(s.patience == 3);
	CHECK_STR(s.monitor, "loss#1");
	spec_free(&s);

	/* a comment right after '=' leaves an empty value */
	CHECK_STR(parse_err("command = # nothing\n"),
		  "spec line 1: bad value '' for 'command': must not be empty");
	/* a line that is a comment after the key is not 'key = value' */
	CHECK_STR(parse_err("command = x\nepochs # = 3\n"),
		  "spec line 2: expected 'key = value'");
}

static void test_line_endings(void)
{
	struct spec s;

	CHECK(parse("command = echo hi\r\nepochs = 5\r\n\r\n# c\r\n"
		    "mode = min\r\n", &s) == 0);
	CHECK_STR(s.command, "echo hi");
	CHECK(s.epochs == 5);
	CHECK(s.mode_min == 1);
	spec_free(&s);

	/* no newline at the end */
	CHECK(parse("epochs = 5\ncommand = run", &s) == 0);
	CHECK_STR(s.command, "run");
	spec_free(&s);

	/* CRLF and no final newline; the '\r' is not part of the value */
	CHECK(parse("command = run\r\nworkdir = /tmp\r", &s) == 0);
	CHECK_STR(s.workdir, "/tmp");
	spec_free(&s);

	/* a UTF-8 byte order mark from a Windows editor */
	CHECK(parse("\xef\xbb\xbf" "command = run\n", &s) == 0);
	CHECK_STR(s.command, "run");
	spec_free(&s);

	/* a lone '\r' inside a line is a control character */
	CHECK_STR(parse_err("command = a\rb\n"),
		  "spec line 1: contains a control character");
}

static void test_not_nul_terminated(void)
{
	const char text[] = "command = run\nepochs = 12junk";
	struct spec s;

	/* only the first 25 bytes: "...epochs = 12" */
	CHECK(spec_parse(text, 25, &s, err, sizeof err) == 0);
	CHECK(s.epochs == 12);
	spec_free(&s);

	CHECK(spec_parse(NULL, 0, &s, err, sizeof err) == -1);
	CHECK_STR(err, "spec: 'command' is required");
	CHECK(spec_parse("", 0, &s, err, sizeof err) == -1);
	CHECK_STR(err, "spec: 'command' is required");
}

static void test_error_forms(void)
{
	CHECK_STR(parse_err("command = x\nepoch = 3\n"),
		  "spec line 2: unknown key 'epoch'");
	CHECK_STR(parse_err("command = x\n\nepochs = abc\n"),
		  "spec line 3: bad value 'abc' for 'epochs': not a whole number");
	CHECK_STR(parse_err("command = x\n#\n\n\njust some words\n"),
		  "spec line 5: expected 'key = value'");
	CHECK_STR(parse_err("epochs = 3\n"), "spec: 'command' is required");
	CHECK_STR(parse_err("# nothing but comments\n\n"),
		  "spec: 'command' is required");
	CHECK_STR(parse_err("command = x\n\n\nepochs = 3\nepochs = 4\n"),
		  "spec line 5: duplicate key 'epochs'");
	CHECK_STR(parse_err("command = x\n\n\n\n\nmode = x\n"),
		  "spec line 6: bad value 'x' for 'mode': expected max or min");
	CHECK_STR(parse_err("command = x\n= 3\n"),
		  "spec line 2: expected 'key = value'");
	CHECK_STR(parse_err("command = x\n   =\n"),
		  "spec line 2: expected 'key = value'");

	/* keys are case-sensitive */
	CHECK_STR(parse_err("Command = x\n"),
		  "spec line 1: unknown key 'Command'");
	CHECK_STR(parse_err("command = x\nENV.X = 1\n"),
		  "spec line 2: unknown key 'ENV.X'");
	CHECK_STR(parse_err("command = x\nmin delta = 1\n"),
		  "spec line 2: unknown key 'min delta'");

	/* the first bad line wins */
	CHECK_STR(parse_err("command = x\nfoo = 1\nepochs = abc\n"),
		  "spec line 2: unknown key 'foo'");
	/* a bad line is reported before a missing command */
	CHECK_STR(parse_err("epochs = 0\n"),
		  "spec line 1: bad value '0' for 'epochs': must be at least 1");
	/* a duplicate with a bad value is a duplicate */
	CHECK_STR(parse_err("command = x\ncommand = \n"),
		  "spec line 2: duplicate key 'command'");
}

static void test_bad_values(void)
{
	static const struct {
		const char *line, *msg;
	} cases[] = {
		{ "command =", "bad value '' for 'command': must not be empty" },
		{ "workdir = relative/dir",
		  "bad value 'relative/dir' for 'workdir': not an absolute path" },
		{ "workdir =", "bad value '' for 'workdir': not an absolute path" },
		{ "epochs = 0", "bad value '0' for 'epochs': must be at least 1" },
		{ "epochs = -1", "bad value '-1' for 'epochs': must be at least 1" },
		{ "epochs = 1.5",
		  "bad value '1.5' for 'epochs': not a whole number" },
		{ "epochs = 1e3",
		  "bad value '1e3' for 'epochs': not a whole number" },
		{ "epochs = +3", "bad value '+3' for 'epochs': not a whole number" },
		{ "epochs =", "bad value '' for 'epochs': not a whole number" },
		{ "epochs = 1 2",
		  "bad value '1 2' for 'epochs': not a whole number" },
		{ "epochs = 99999999999999999999",
		  "bad value '99999999999999999999' for 'epochs': too large" },
		{ "patience = -1",
		  "bad value '-1' for 'patience': must not be negative" },
		{ "patience = ten",
		  "bad value 'ten' for 'patience': not a whole number" },
		{ "min_delta = -0.1",
		  "bad value '-0.1' for 'min_delta': must not be negative" },
		{ "min_delta = nan",
		  "bad value 'nan' for 'min_delta': not a finite number" },
		{ "min_delta = inf",
		  "bad value 'inf' for 'min_delta': not a finite number" },
		{ "min_delta = -Infinity",
		  "bad value '-Infinity' for 'min_delta': not a finite number" },
		{ "min_delta = 1e999",
		  "bad value '1e999' for 'min_delta': too large" },
		{ "min_delta = 0x10",
		  "bad value '0x10' for 'min_delta': not a number" },
		{ "min_delta = 1e", "bad value '1e' for 'min_delta': not a number" },
		{ "min_delta = .", "bad value '.' for 'min_delta': not a number" },
		{ "min_delta = abc",
		  "bad value 'abc' for 'min_delta': not a number" },
		{ "min_delta =", "bad value '' for 'min_delta': not a number" },
		{ "grace = -5", "bad value '-5' for 'grace': must not be negative" },
		{ "grace = 5s", "bad value '5s' for 'grace': not a number" },
		{ "grace = inf",
		  "bad value 'inf' for 'grace': not a finite number" },
		{ "mode = MAX", "bad value 'MAX' for 'mode': expected max or min" },
		{ "mode =", "bad value '' for 'mode': expected max or min" },
		{ "compression = xz",
		  "bad value 'xz' for 'compression': expected none, gzip or zstd" },
		{ "compression = GZIP",
		  "bad value 'GZIP' for 'compression': expected none, gzip or "
		  "zstd" },
		{ "monitor =", "bad value '' for 'monitor': must not be empty" },
		{ "monitor = val loss",
		  "bad value 'val loss' for 'monitor': not a metric name "
		  "(printable ASCII without space, ',', '\"' or '=')" },
		{ "monitor = a,b",
		  "bad value 'a,b' for 'monitor': not a metric name "
		  "(printable ASCII without space, ',', '\"' or '=')" },
		{ "monitor = a\"b",
		  "bad value 'a\"b' for 'monitor': not a metric name "
		  "(printable ASCII without space, ',', '\"' or '=')" },
		{ "monitor = a=b",
		  "bad value 'a=b' for 'monitor': not a metric name "
		  "(printable ASCII without space, ',', '\"' or '=')" },
		{ "monitor = \xc3\xa9",
		  "bad value '\xc3\xa9' for 'monitor': not a metric name "
		  "(printable ASCII without space, ',', '\"' or '=')" },
		{ "env.1X = 1", "bad key 'env.1X': not a variable name" },
		{ "env. = 1", "bad key 'env.': not a variable name" },
		{ "env.A-B = 1", "bad key 'env.A-B': not a variable name" },
		{ "env.A B = 1", "bad key 'env.A B': not a variable name" },
	};
	char text[256], want[512];
	size_t i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		/* command last, so that 'command =' is checked as a value */
		snprintf(text, sizeof text, "# c\n%s\ncommand = x\n",
			 cases[i].line);
		if (!strncmp(cases[i].line, "command", 7))
			snprintf(text, sizeof text, "# c\n%s\n", cases[i].line);
		snprintf(want, sizeof want, "spec line 2: %s", cases[i].msg);
		CHECK_STR(parse_err(text), want);
	}
}

static void test_duplicates(void)
{
	static const char *const keys[] = {
		"command = y", "workdir = /b", "epochs = 2", "monitor = b",
		"mode = min", "patience = 2", "min_delta = 2",
		"stop_signal = INT", "grace = 2", "compression = gzip",
	};
	const char *first = "command = x\nworkdir = /a\nepochs = 1\n"
			    "monitor = a\nmode = max\npatience = 1\n"
			    "min_delta = 1\nstop_signal = TERM\ngrace = 1\n"
			    "compression = none\n";
	char text[512], want[128], key[32];
	size_t i;

	for (i = 0; i < sizeof keys / sizeof keys[0]; i++) {
		snprintf(text, sizeof text, "%s%s\n", first, keys[i]);
		snprintf(key, sizeof key, "%s", keys[i]);
		*strchr(key, ' ') = '\0';
		snprintf(want, sizeof want, "spec line 11: duplicate key '%s'",
			 key);
		CHECK_STR(parse_err(text), want);
	}

	CHECK_STR(parse_err("command = x\nenv.A = 1\nenv.B = 2\nenv.A = 1\n"),
		  "spec line 4: duplicate key 'env.A'");
	/* env names are case-sensitive, like the environment */
	{
		struct spec s;

		CHECK(parse("command = x\nenv.A = 1\nenv.a = 2\n", &s) == 0);
		CHECK(s.nenv == 2);
		spec_free(&s);
	}
	/* an env repeat before another error is the first error ... */
	CHECK_STR(parse_err("command = x\nenv.A = 1\nenv.A = 2\nepochs = x\n"),
		  "spec line 3: duplicate key 'env.A'");
	/* ... and after it is not */
	CHECK_STR(parse_err("command = x\nenv.A = 1\nepochs = x\nenv.A = 2\n"),
		  "spec line 3: bad value 'x' for 'epochs': not a whole number");
	/* of several repeats, the earliest line is reported */
	CHECK_STR(parse_err("command = x\nenv.Z = 1\nenv.A = 1\nenv.Z = 1\n"
			    "env.A = 1\n"),
		  "spec line 4: duplicate key 'env.Z'");
}

static void test_many_env(void)
{
	size_t n = 20000, i, len = 0, cap = n * 32 + 64;
	char *text = malloc(cap);
	struct spec s;

	CHECK(text != NULL);
	if (!text)
		return;
	len += snprintf(text + len, cap - len, "command = x\n");
	for (i = 0; i < n; i++)
		len += snprintf(text + len, cap - len, "env.V%zu = %zu\n", i, i);
	CHECK(spec_parse(text, len, &s, err, sizeof err) == 0);
	CHECK(s.nenv == n);
	if (s.nenv == n) {
		CHECK_STR(s.env[12345].name, "V12345");
		CHECK_STR(s.env[12345].value, "12345");
	}
	spec_free(&s);

	len += snprintf(text + len, cap - len, "env.V777 = again\n");
	CHECK(spec_parse(text, len, &s, err, sizeof err) == -1);
	snprintf(text, cap, "spec line %zu: duplicate key 'env.V777'", n + 2);
	CHECK_STR(err, text);
	free(text);
}

static void test_bad_text(void)
{
	const char nul[] = "command = x\nepochs = 1\0 2\n";
	const char nul_in_comment[] = "command = x\n# a \0 b\n";
	struct spec s;

	CHECK(spec_parse(nul, sizeof nul - 1, &s, err, sizeof err) == -1);
	CHECK_STR(err, "spec line 2: contains a NUL byte");
	CHECK(s.command == NULL);
	CHECK(spec_parse(nul_in_comment, sizeof nul_in_comment - 1, &s, err,
			 sizeof err) == -1);
	CHECK_STR(err, "spec line 2: contains a NUL byte");
	CHECK(spec_parse("\0", 1, &s, err, sizeof err) == -1);
	CHECK_STR(err, "spec line 1: contains a NUL byte");

	CHECK_STR(parse_err("command = x\nepochs = \x1b[31m\n"),
		  "spec line 2: contains a control character");
	CHECK_STR(parse_err("command = x\x7f\n"),
		  "spec line 1: contains a control character");
	CHECK_STR(parse_err("command = \xff\n"), "spec line 1: not valid UTF-8");
	CHECK_STR(parse_err("command = \xc3\n"), "spec line 1: not valid UTF-8");
	CHECK_STR(parse_err("command = \xc0\xaf\n"), /* overlong '/' */
		  "spec line 1: not valid UTF-8");
	CHECK_STR(parse_err("command = \xed\xa0\x80\n"), /* a surrogate */
		  "spec line 1: not valid UTF-8");
	CHECK_STR(parse_err("command = \xf4\x90\x80\x80\n"), /* > U+10FFFF */
		  "spec line 1: not valid UTF-8");
	CHECK_STR(parse_err("command = x\n# \xe2\x9c\n"),
		  "spec line 2: not valid UTF-8");
}

static void test_err_buffer(void)
{
	char small[8];
	struct spec s;

	memset(small, 'x', sizeof small);
	CHECK(spec_parse("epoch = 1", 9, &s, small, sizeof small) == -1);
	CHECK_STR(small, "spec li");
	/* no buffer at all is fine too */
	CHECK(spec_parse("epoch = 1", 9, &s, NULL, 0) == -1);
	CHECK(spec_parse("command = x", 11, &s, NULL, 0) == 0);
	spec_free(&s);
	memset(small, 'x', sizeof small);
	CHECK(spec_parse("command = x", 11, &s, small, sizeof small) == 0);
	CHECK_STR(small, "");
	spec_free(&s);
}

/* Random bytes and random mixes of spec pieces never crash the parser. */
static void test_random_bytes(void)
{
	static const char *const pieces[] = {
		"command", "env.", "epochs", "=", " ", "\t", "#", "\n", "\r",
		"\r\n", "1", "-", "0.5", "nan", "\0", "\xc3", "\xa9", "\xff",
		"max", "TERM", "SIG", "/", "zstd", "monitor", "mode", ",",
	};
	uint64_t x = 0x9e3779b97f4a7c15ull;
	char buf[512];
	struct spec s;
	int i, bad = 0;

	for (i = 0; i < 20000; i++) {
		size_t len = 0, want;

		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		want = x % sizeof buf;
		while (len < want) {
			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
			if (i % 2) {
				buf[len++] = (char)(x >> 24);
			} else {
				const char *p = pieces[x % (sizeof pieces /
							    sizeof pieces[0])];
				size_t n = *p ? strlen(p) : 1;

				if (len + n > want)
					break;
				memcpy(buf + len, p, n);
				len += n;
			}
		}
		err[0] = 'x';
		if (spec_parse(buf, len, &s, err, sizeof err) == 0) {
			CHECK(s.command && *s.command);
			CHECK(err[0] == '\0');
			spec_free(&s);
		} else {
			bad++;
			CHECK(!strncmp(err, "spec", 4));
			CHECK(s.command == NULL && s.nenv == 0);
		}
	}
	CHECK(bad > 0);
}

TEST_MAIN("spec", TEST(test_minimal_and_defaults), TEST(test_every_key),
	  TEST(test_values_accepted), TEST(test_monitor_length),
	  TEST(test_signals), TEST(test_compression_suffix),
	  TEST(test_comments_and_blanks), TEST(test_line_endings),
	  TEST(test_not_nul_terminated), TEST(test_error_forms),
	  TEST(test_bad_values), TEST(test_duplicates), TEST(test_many_env),
	  TEST(test_bad_text), TEST(test_err_buffer), TEST(test_random_bytes))
