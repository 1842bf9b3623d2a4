/*
 * Unit tests of jobs/model/spec.c: every key and its default, every form of
 * error message, comments, CRLF, NUL bytes and other bytes that are not
 * text, duplicates, and random bytes that must never crash the parser.
 */
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "jobs/model/spec.h"
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
	CHECK(s.stop_to == SPEC_STOP_TO_MAIN);
	CHECK(s.keep == SPEC_KEEP_LAST); /* no monitor */
	CHECK(s.checkpoints == 1);
	CHECK(s.executor == SPEC_EXECUTOR_DEFAULT);
	CHECK(s.slurm == NULL && s.nslurm == 0 && s.slurm_time == 0);
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
	/* the shell sees the whole line after '=', its comment too */
	CHECK_STR(s.command, "python3 train.py --data coco.yaml  # required");
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
	CHECK(parse("command=x\nenv.A=mAP#50 # c\n", &s) == 0);
	CHECK(s.nenv == 1 && !strcmp(s.env[0].value, "mAP#50"));
	spec_free(&s);

	/* UTF-8 text is fine in a value */
	CHECK(parse("command = echo 'h\xc3\xa9llo \xe2\x9c\x93'\n"
		    "workdir = /home/\xc3\xa9t\xc3\xa9\n",
		    &s) == 0);
	CHECK_STR(s.command, "echo 'h\xc3\xa9llo \xe2\x9c\x93'");
	CHECK_STR(s.workdir, "/home/\xc3\xa9t\xc3\xa9");
	spec_free(&s);
}

static void test_monitor_length(void)
{
	char text[512], name[200];
	struct spec s;

	memset(name, 'm', 64);
	name[64] = '\0';
	snprintf(text, sizeof text, "command=x\nmonitor=%s\n", name);
	CHECK(parse(text, &s) == 0);
	CHECK(s.monitor && strlen(s.monitor) == 64);
	spec_free(&s);

	memset(name, 'm', 65);
	name[65] = '\0';
	snprintf(text, sizeof text, "command=x\nmonitor=%s\n", name);
	CHECK(parse(text, &s) == -1);
	CHECK(strstr(err, "spec line 2: bad value 'mmm") == err);
	CHECK(strstr(err, "' for 'monitor': not a metric name (1 to 64 ") !=
	      NULL);
}

static void test_signals(void)
{
	static const struct {
		const char *text;
		int sig;
	} ok[] = {
		{ "TERM", SIGTERM },
		{ "INT", SIGINT },
		{ "HUP", SIGHUP },
		{ "QUIT", SIGQUIT },
		{ "USR1", SIGUSR1 },
		{ "USR2", SIGUSR2 },
		{ "KILL", SIGKILL },
		{ "SIGTERM", SIGTERM },
		{ "SIGINT", SIGINT },
		{ "SIGKILL", SIGKILL },
		{ "SIGUSR1", SIGUSR1 },
		{ "term", SIGTERM },
		{ "sigusr2", SIGUSR2 },
		{ "SigTerm", SIGTERM },
		{ "1", 1 },
		{ "15", 15 },
		{ "64", 64 },
		{ "015", 15 },
		/* every name of `kill -l`, with or without SIG */
		{ "WINCH", SIGWINCH },
		{ "SIGWINCH", SIGWINCH },
		{ "winch", SIGWINCH },
		{ "ALRM", SIGALRM },
		{ "CHLD", SIGCHLD },
		{ "CONT", SIGCONT },
		{ "STOP", SIGSTOP },
		{ "TSTP", SIGTSTP },
		{ "PWR", SIGPWR },
		{ "SYS", SIGSYS },
		{ "IO", SIGIO },
		{ "STKFLT", SIGSTKFLT },
		{ "VTALRM", SIGVTALRM },
		{ "XCPU", SIGXCPU },
		{ "URG", SIGURG },
		{ "PIPE", SIGPIPE },
		{ "SEGV", SIGSEGV },
		{ "ABRT", SIGABRT },
		{ "TRAP", SIGTRAP },
		{ "RTMIN", 34 },
		{ "RTMIN+3", 37 },
		{ "SIGRTMIN+3", 37 },
		{ "rtmin+15", 49 },
		{ "RTMAX-14", 50 },
		{ "RTMAX-1", 63 },
		{ "RTMAX", 64 },
		{ "sigrtmax", 64 },
	};
	static const char *const bad[] = {
		"0",	      "65",	 "-1",	    "FOO",	"SIG",
		"SIG15",      "TERM2",	 "1.0",	    "",		"SIG TERM",
		"RTMIN+",     "RTMIN-1", "RTMAX+1", "RTMIN+31", "RTMAX-31",
		"RTMIN+1000", "EXIT",	 "+15",
	};
	char text[128], want[256];
	struct spec s;
	size_t i;

	/* glibc's real-time range on Linux, which the table above assumes */
	CHECK(SIGRTMIN == 34 && SIGRTMAX == 64);
	for (i = 0; i < sizeof ok / sizeof ok[0]; i++) {
		snprintf(text, sizeof text, "command=x\nstop_signal = %s\n",
			 ok[i].text);
		CHECK(parse(text, &s) == 0);
		if (s.stop_signal != ok[i].sig)
			fprintf(stderr, "stop_signal %s: %d\n", ok[i].text,
				s.stop_signal);
		CHECK(s.stop_signal == ok[i].sig);
		CHECK(spec_signal_number(ok[i].text) == ok[i].sig);
		spec_free(&s);
	}
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		snprintf(text, sizeof text, "command=x\nstop_signal = %s\n",
			 bad[i]);
		snprintf(want, sizeof want,
			 "spec line 2: bad value '%s' for 'stop_signal': "
			 "expected a signal name of `kill -l` (TERM, SIGINT, "
			 "WINCH, RTMIN+3, ...) or a number from 1 to 64",
			 bad[i]);
		CHECK_STR(parse_err(text), want);
	}
	CHECK(spec_signal_number(NULL) == 0);

	CHECK_STR(spec_signal_name(SIGTERM), "TERM");
	CHECK_STR(spec_signal_name(SIGINT), "INT");
	CHECK_STR(spec_signal_name(SIGHUP), "HUP");
	CHECK_STR(spec_signal_name(SIGQUIT), "QUIT");
	CHECK_STR(spec_signal_name(SIGUSR1), "USR1");
	CHECK_STR(spec_signal_name(SIGUSR2), "USR2");
	CHECK_STR(spec_signal_name(SIGKILL), "KILL");
	CHECK_STR(spec_signal_name(SIGWINCH), "WINCH");
	CHECK_STR(spec_signal_name(SIGALRM), "ALRM");
	CHECK_STR(spec_signal_name(SIGIO), "IO");
	CHECK_STR(spec_signal_name(34), "RTMIN");
	CHECK_STR(spec_signal_name(37), "RTMIN+3");
	CHECK_STR(spec_signal_name(49), "RTMIN+15");
	CHECK_STR(spec_signal_name(50), "RTMAX-14");
	CHECK_STR(spec_signal_name(64), "RTMAX");
	CHECK(spec_signal_name(0) == NULL);
	CHECK(spec_signal_name(32) == NULL);
	CHECK(spec_signal_name(65) == NULL);
	CHECK(spec_signal_name(-1) == NULL);
	/* every name reads back as its number */
	for (i = 1; i <= 64; i++)
		if (spec_signal_name((int)i))
			CHECK(spec_signal_number(spec_signal_name((int)i)) ==
			      (int)i);
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
			   "env.X = loss#1\n"
			   "#\n";

	CHECK(parse(text, &s) == 0);
	CHECK_STR(s.command, "echo a#b   # run it");
	CHECK(s.epochs == 100);
	CHECK(s.patience == 3);
	CHECK(s.nenv == 1 && !strcmp(s.env[0].value, "loss#1"));
	spec_free(&s);

	/* a comment right after '=' leaves an empty value */
	CHECK_STR(parse_err("command = x\nepochs = # nothing\n"),
		  "spec line 2: bad value '' for 'epochs': not a whole number");
	CHECK_STR(parse_err("command =    \t\n"),
		  "spec line 1: bad value '' for 'command': must not be empty");
	/* a line that is a comment after the key is not 'key = value' */
	CHECK_STR(parse_err("command = x\nepochs # = 3\n"),
		  "spec line 2: expected 'key = value'");
}

static void test_line_endings(void)
{
	struct spec s;

	CHECK(parse("command = echo hi\r\nepochs = 5\r\n\r\n# c\r\n"
		    "mode = min\r\n",
		    &s) == 0);
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
	CHECK(parse("\xef\xbb\xbf"
		    "command = run\n",
		    &s) == 0);
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
	CHECK_STR(
		parse_err("command = x\n\nepochs = abc\n"),
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
	CHECK_STR(
		parse_err("epochs = 0\n"),
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
		{ "command =",
		  "bad value '' for 'command': must not be empty" },
		{ "workdir = relative/dir",
		  "bad value 'relative/dir' for 'workdir': not an absolute path" },
		{ "workdir =",
		  "bad value '' for 'workdir': not an absolute path" },
		{ "epochs = 0",
		  "bad value '0' for 'epochs': must be at least 1" },
		{ "epochs = -1",
		  "bad value '-1' for 'epochs': must be at least 1" },
		{ "epochs = 1.5",
		  "bad value '1.5' for 'epochs': not a whole number" },
		{ "epochs = 1e3",
		  "bad value '1e3' for 'epochs': not a whole number" },
		{ "epochs = +3",
		  "bad value '+3' for 'epochs': not a whole number" },
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
		{ "min_delta = 1e",
		  "bad value '1e' for 'min_delta': not a number" },
		{ "min_delta = .",
		  "bad value '.' for 'min_delta': not a number" },
		{ "min_delta = abc",
		  "bad value 'abc' for 'min_delta': not a number" },
		{ "min_delta =", "bad value '' for 'min_delta': not a number" },
		{ "grace = -5",
		  "bad value '-5' for 'grace': must not be negative" },
		{ "grace = 5s", "bad value '5s' for 'grace': not a number" },
		{ "grace = inf",
		  "bad value 'inf' for 'grace': not a finite number" },
		{ "mode = MAX",
		  "bad value 'MAX' for 'mode': expected max or min" },
		{ "mode =", "bad value '' for 'mode': expected max or min" },
		{ "compression = xz",
		  "bad value 'xz' for 'compression': expected none, gzip or zstd" },
		{ "compression = GZIP",
		  "bad value 'GZIP' for 'compression': expected none, gzip or "
		  "zstd" },
		{ "monitor =",
		  "bad value '' for 'monitor': must not be empty" },
		{ "monitor = val loss",
		  "bad value 'val loss' for 'monitor': not a metric name "
		  "(1 to 64 letters, digits or '_.-/()[]:%', "
		  "starting with a letter or '_')" },
		{ "monitor = a,b",
		  "bad value 'a,b' for 'monitor': not a metric name "
		  "(1 to 64 letters, digits or '_.-/()[]:%', "
		  "starting with a letter or '_')" },
		{ "monitor = a\"b",
		  "bad value 'a\"b' for 'monitor': not a metric name "
		  "(1 to 64 letters, digits or '_.-/()[]:%', "
		  "starting with a letter or '_')" },
		{ "monitor = a=b",
		  "bad value 'a=b' for 'monitor': not a metric name "
		  "(1 to 64 letters, digits or '_.-/()[]:%', "
		  "starting with a letter or '_')" },
		{ "monitor = \xc3\xa9",
		  "bad value '\xc3\xa9' for 'monitor': not a metric name "
		  "(1 to 64 letters, digits or '_.-/()[]:%', "
		  "starting with a letter or '_')" },
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
		"command = y",
		"workdir = /b",
		"epochs = 2",
		"monitor = b",
		"mode = min",
		"patience = 2",
		"min_delta = 2",
		"stop_signal = INT",
		"grace = 2",
		"compression = gzip",
		"stop_to = main",
		"keep = last",
		"checkpoints = 2",
		"executor = slurm",
		"slurm.partition = b",
		"slurm.time = 5",
		"slurm.cpus_per_task = 3",
	};
	const char *first = "command = x\nworkdir = /a\nepochs = 1\n"
			    "monitor = a\nmode = max\npatience = 1\n"
			    "min_delta = 1\nstop_signal = TERM\ngrace = 1\n"
			    "compression = none\nstop_to = group\n"
			    "keep = best\ncheckpoints = 1\nexecutor = local\n"
			    "slurm.partition = a\nslurm.time = 1\n"
			    "slurm.cpus_per_task = 2\n";
	char text[1024], want[128], key[32];
	size_t i;

	for (i = 0; i < sizeof keys / sizeof keys[0]; i++) {
		snprintf(text, sizeof text, "%s%s\n", first, keys[i]);
		snprintf(key, sizeof key, "%s", keys[i]);
		*strchr(key, ' ') = '\0';
		snprintf(want, sizeof want, "spec line 18: duplicate key '%s'",
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
	CHECK_STR(
		parse_err("command = x\nenv.A = 1\nepochs = x\nenv.A = 2\n"),
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
		len += snprintf(text + len, cap - len, "env.V%zu = %zu\n", i,
				i);
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
	CHECK_STR(parse_err("command = \xff\n"),
		  "spec line 1: not valid UTF-8");
	CHECK_STR(parse_err("command = \xc3\n"),
		  "spec line 1: not valid UTF-8");
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
		"command", "env.", "epochs",  "=",    " ",   "\t",   "#",
		"\n",	   "\r",   "\r\n",    "1",    "-",   "0.5",  "nan",
		"\0",	   "\xc3", "\xa9",    "\xff", "max", "TERM", "SIG",
		"/",	   "zstd", "monitor", "mode", ",",
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

/* A '#' is part of the value only in command. */
static void test_command_keeps_hash(void)
{
	struct spec s;

	CHECK(parse("command = python3 -c 'print(\"#1\")' # say it\n"
		    "epochs = 3 # target\n",
		    &s) == 0);
	CHECK_STR(s.command, "python3 -c 'print(\"#1\")' # say it");
	CHECK(s.epochs == 3);
	spec_free(&s);
	CHECK(parse("command=echo \"a # b\"\n", &s) == 0);
	CHECK_STR(s.command, "echo \"a # b\"");
	spec_free(&s);
	CHECK(parse("command = # only a shell comment\n", &s) == 0);
	CHECK_STR(s.command, "# only a shell comment");
	spec_free(&s);
	/* with CRLF, the CR is not the shell's */
	CHECK(parse("command = echo '#x'  \r\n", &s) == 0);
	CHECK_STR(s.command, "echo '#x'");
	spec_free(&s);
	/* a comment before '=' is still a comment */
	CHECK_STR(parse_err("command # = x\n"),
		  "spec line 1: expected 'key = value'");
	/* other keys: ' #' starts a comment, so a bad value shows without it */
	CHECK_STR(parse_err("command = x\nmode = fast # or slow\n"),
		  "spec line 2: bad value 'fast' for 'mode': expected max or "
		  "min");
}

static void test_new_keys(void)
{
	struct spec s;

	CHECK(parse("command = x\nstop_to = group\nkeep = best\n"
		    "checkpoints = 0\nexecutor = slurm\n",
		    &s) == 0);
	CHECK(s.stop_to == SPEC_STOP_TO_GROUP);
	CHECK(s.keep == SPEC_KEEP_BEST);
	CHECK(s.checkpoints == 0);
	CHECK(s.executor == SPEC_EXECUTOR_SLURM);
	spec_free(&s);

	CHECK(parse("command = x\nstop_to = main\nkeep = last\n"
		    "checkpoints = all\nexecutor = local\nmonitor = loss\n",
		    &s) == 0);
	CHECK(s.stop_to == SPEC_STOP_TO_MAIN);
	CHECK(s.keep == SPEC_KEEP_LAST); /* written: monitor changes nothing */
	CHECK(s.checkpoints == SPEC_CHECKPOINTS_ALL);
	CHECK(s.executor == SPEC_EXECUTOR_LOCAL);
	spec_free(&s);

	/* metrics_from: a path, relative or absolute, a '#' after blanks a
	   comment; a monitor named as Ultralytics names it */
	CHECK(parse("command = x\nmetrics_from = runs/detect/train/results.csv"
		    "  # Ultralytics\nmonitor = metrics/mAP50-95(B)\n",
		    &s) == 0);
	CHECK_STR(s.metrics_from, "runs/detect/train/results.csv");
	CHECK_STR(s.monitor, "metrics/mAP50-95(B)");
	spec_free(&s);
	CHECK(parse("command = x\nmetrics_from = /abs/logs\n", &s) == 0);
	CHECK_STR(s.metrics_from, "/abs/logs");
	spec_free(&s);
	CHECK_STR(parse_err("command = x\nmetrics_from =\n"),
		  "spec line 2: bad value '' for 'metrics_from': must not be "
		  "empty");

	/* keep's default follows monitor */
	CHECK(parse("command = x\nmonitor = mAP\n", &s) == 0);
	CHECK(s.keep == SPEC_KEEP_BEST && s.checkpoints == 1);
	spec_free(&s);
	CHECK(parse("command = x\ncheckpoints = 25\n", &s) == 0);
	CHECK(s.keep == SPEC_KEEP_LAST && s.checkpoints == 25);
	spec_free(&s);

	CHECK_STR(parse_err("command = x\nstop_to = children\n"),
		  "spec line 2: bad value 'children' for 'stop_to': expected "
		  "main or group");
	CHECK_STR(parse_err("command = x\nkeep = first\n"),
		  "spec line 2: bad value 'first' for 'keep': expected best or "
		  "last");
	CHECK_STR(parse_err("command = x\ncheckpoints = -1\n"),
		  "spec line 2: bad value '-1' for 'checkpoints': must not be "
		  "negative");
	CHECK_STR(parse_err("command = x\ncheckpoints = some\n"),
		  "spec line 2: bad value 'some' for 'checkpoints': expected a "
		  "whole number or all");
	CHECK_STR(parse_err("command = x\ncheckpoints = ALL\n"),
		  "spec line 2: bad value 'ALL' for 'checkpoints': expected a "
		  "whole number or all");
	CHECK_STR(parse_err("command = x\nexecutor = k8s\n"),
		  "spec line 2: bad value 'k8s' for 'executor': expected local "
		  "or slurm");
	CHECK_STR(parse_err("command = x\nexecutor =\n"),
		  "spec line 2: bad value '' for 'executor': expected local "
		  "or slurm");
}

static void test_gpus(void)
{
	struct spec s;

	CHECK(parse("command = x\n", &s) == 0 && s.gpus == 0);
	spec_free(&s);
	CHECK(parse("command = x\ngpus = 2\nenv.OTHER = 1\n", &s) == 0);
	CHECK(s.gpus == 2);
	spec_free(&s);
	CHECK_STR(parse_err("command = x\ngpus = -1\n"),
		  "spec line 2: bad value '-1' for 'gpus': must not be "
		  "negative");
	CHECK_STR(
		parse_err("command = x\ngpus = two\n"),
		"spec line 2: bad value 'two' for 'gpus': not a whole number");
	CHECK_STR(parse_err("command = x\ngpus = 1025\n"),
		  "spec line 2: bad value '1025' for 'gpus': too many GPUs");
	/* Both gpus and the variable trainfs sets from it: a bad spec. */
	CHECK_STR(parse_err("command = x\nenv.CUDA_VISIBLE_DEVICES = 0\n"
			    "gpus = 1\n"),
		  "spec line 3: 'gpus' and 'env.CUDA_VISIBLE_DEVICES' cannot "
		  "both be set (trainfs sets it to the GPUs it hands out)");
	CHECK_STR(parse_err("command = x\ngpus = 0\n"
			    "env.CUDA_VISIBLE_DEVICES = 0\n"),
		  "spec line 3: 'gpus' and 'env.CUDA_VISIBLE_DEVICES' cannot "
		  "both be set (trainfs sets it to the GPUs it hands out)");
	CHECK(parse("command = x\nenv.CUDA_VISIBLE_DEVICES = 0\n", &s) == 0);
	spec_free(&s);
}

static void test_slurm_keys(void)
{
	static const char *const keys[] = {
		"partition", "account", "qos",		 "time",
		"nodes",     "ntasks",	"cpus_per_task", "mem",
		"gres",	     "gpus",	"constraint",
	};
	char text[2048], want[256];
	size_t len, i;
	struct spec s;
	char **argv;

	len = (size_t)snprintf(text, sizeof text, "command = x\n");
	for (i = 0; i < sizeof keys / sizeof keys[0]; i++)
		len += (size_t)snprintf(text + len, sizeof text - len,
					"slurm.%s = %s\n", keys[i],
					strcmp(keys[i], "time") ? "v a l" :
								  "1-02:03:04");
	CHECK(parse(text, &s) == 0);
	CHECK(s.nslurm == sizeof keys / sizeof keys[0]);
	CHECK(s.slurm_time == 86400 + 2 * 3600 + 3 * 60 + 4);
	argv = spec_slurm_argv(&s);
	CHECK(argv != NULL);
	if (argv && s.nslurm == 11) {
		CHECK_STR(argv[0], "--partition=v a l");
		CHECK_STR(argv[3], "--time=1-02:03:04");
		CHECK_STR(argv[6], "--cpus-per-task=v a l");
		CHECK_STR(argv[10], "--constraint=v a l");
		CHECK(argv[11] == NULL);
		CHECK_STR(s.slurm[6].option, "cpus-per-task");
		CHECK_STR(s.slurm[6].value, "v a l");
	}
	spec_argv_free(argv);
	spec_free(&s);
	CHECK(s.slurm == NULL && s.nslurm == 0);

	/* one argument each, whatever the value holds: no shell */
	CHECK(parse("command = x\nslurm.gres = gpu:1 ; rm -rf / $(id) 'q'\n",
		    &s) == 0);
	argv = spec_slurm_argv(&s);
	CHECK(argv && argv[0] && argv[1] == NULL);
	if (argv && argv[0])
		CHECK_STR(argv[0], "--gres=gpu:1 ; rm -rf / $(id) 'q'");
	spec_argv_free(argv);
	spec_free(&s);

	/* none: an empty argv */
	CHECK(parse("command = x\n", &s) == 0);
	argv = spec_slurm_argv(&s);
	CHECK(argv && argv[0] == NULL);
	spec_argv_free(argv);
	spec_argv_free(NULL);
	spec_free(&s);

	/* any other slurm. key is unknown, and so are other spellings */
	CHECK_STR(parse_err("command = x\nslurm.output = /tmp/x\n"),
		  "spec line 2: unknown key 'slurm.output'");
	CHECK_STR(parse_err("command = x\nslurm.cpus-per-task = 2\n"),
		  "spec line 2: unknown key 'slurm.cpus-per-task'");
	CHECK_STR(parse_err("command = x\nslurm. = 2\n"),
		  "spec line 2: unknown key 'slurm.'");
	CHECK_STR(parse_err("command = x\nSlurm.gres = 2\n"),
		  "spec line 2: unknown key 'Slurm.gres'");
	/* bad values */
	CHECK_STR(parse_err("command = x\nslurm.gres =\n"),
		  "spec line 2: bad value '' for 'slurm.gres': must not be "
		  "empty");
	CHECK_STR(parse_err("command = x\nslurm.time = 1:2:3:4\n"),
		  "spec line 2: bad value '1:2:3:4' for 'slurm.time': not a "
		  "Slurm time (minutes, MM:SS, HH:MM:SS, D-HH, D-HH:MM, "
		  "D-HH:MM:SS or UNLIMITED)");
	/* a newline ends the line; a NUL is not text */
	CHECK_STR(parse_err("command = x\nslurm.qos = a\nb\n"),
		  "spec line 3: expected 'key = value'");
	{
		const char nul[] = "command = x\nslurm.qos = a\0b\n";

		CHECK(spec_parse(nul, sizeof nul - 1, &s, err, sizeof err) ==
		      -1);
		snprintf(want, sizeof want, "spec line 2: contains a NUL byte");
		CHECK_STR(err, want);
	}
}

/* Returns spec_with_epochs(TEXT, EPOCHS) as a static string. */
static const char *with_epochs(const char *text, long epochs)
{
	static char buf[1024];
	size_t n = 12345;
	char *out = spec_with_epochs(text, strlen(text), epochs, &n);

	if (!out)
		return "(null)";
	snprintf(buf, sizeof buf, "%s", out);
	if (n != strlen(out))
		snprintf(buf, sizeof buf, "(length %zu)", n);
	free(out);
	return buf;
}

/* `resume epochs=N` shows epochs = N in the spec, the rest as it was. */
static void test_with_epochs(void)
{
	struct spec s;
	char *out;
	size_t n;

	CHECK_STR(with_epochs("command = x\nepochs = 100\nmonitor = a\n", 150),
		  "command = x\nepochs = 150\nmonitor = a\n");
	/* spacing, comments, CRLF and other lines stay */
	CHECK_STR(with_epochs("# top\r\ncommand = run # epochs = 3\r\n"
			      "  epochs\t=  100   # target\r\nmode = max\r\n",
			      7),
		  "# top\r\ncommand = run # epochs = 3\r\n"
		  "  epochs\t=  7   # target\r\nmode = max\r\n");
	/* a comment or another key naming epochs is not the epochs line */
	CHECK_STR(with_epochs("command = x\n# epochs = 4\nenv.epochs = 5\n", 9),
		  "command = x\n# epochs = 4\nenv.epochs = 5\nepochs = 9\n");
	/* none: appended, after a newline if the text lacks one */
	CHECK_STR(with_epochs("command = x", 12), "command = x\nepochs = 12\n");
	CHECK_STR(with_epochs("", 12), "epochs = 12\n");
	/* an empty value gets the number apart from '=' and a comment */
	CHECK_STR(with_epochs("command = x\nepochs =\n", 5),
		  "command = x\nepochs = 5\n");
	CHECK_STR(with_epochs("command = x\nepochs = # c\n", 5),
		  "command = x\nepochs = 5 # c\n");
	CHECK_STR(with_epochs("\xef\xbb\xbf"
			      "epochs=1\ncommand=x",
			      2),
		  "\xef\xbb\xbf"
		  "epochs=2\ncommand=x");
	/* the result is a good spec with the new target */
	out = spec_with_epochs("command = x\nepochs = 10 # t\npatience = 2\n",
			       strlen("command = x\nepochs = 10 # t\n"
				      "patience = 2\n"),
			       400, &n);
	CHECK(out != NULL);
	if (out) {
		CHECK(spec_parse(out, n, &s, err, sizeof err) == 0);
		CHECK(s.epochs == 400 && s.patience == 2);
		spec_free(&s);
		free(out);
	}
	/* NUL bytes elsewhere are kept as they are */
	out = spec_with_epochs("a\0b\nepochs = 1\n", 15, 3, &n);
	CHECK(out && n == 15 && !memcmp(out, "a\0b\nepochs = 3\n", 15));
	free(out);
}

TEST_MAIN("spec", TEST(test_minimal_and_defaults), TEST(test_every_key),
	  TEST(test_values_accepted), TEST(test_monitor_length),
	  TEST(test_signals), TEST(test_comments_and_blanks),
	  TEST(test_line_endings), TEST(test_not_nul_terminated),
	  TEST(test_error_forms), TEST(test_bad_values), TEST(test_duplicates),
	  TEST(test_many_env), TEST(test_bad_text), TEST(test_err_buffer),
	  TEST(test_random_bytes), TEST(test_command_keeps_hash),
	  TEST(test_new_keys), TEST(test_slurm_keys), TEST(test_with_epochs),
	  TEST(test_gpus))
