/*
 * spec_values: the rules for a spec's values, apart from the parser
 * (spec.c) that cuts the text into keys and values: whole numbers,
 * decimal numbers, metric names, environment names, Slurm times and
 * signals by name or number (the names of `kill -l`, with the real-time
 * ones worked out from SIGRTMIN and SIGRTMAX at run time).  Each rule
 * returns why a value is bad, in words a user reads after "spec line N:".
 *
 * Pure functions on strings: no state, no locks.
 */
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "jobs/model/metrics.h"
#include "jobs/model/spec.h"
#include "jobs/model/spec_values.h"

/*
 * The signals of `kill -l` by name, without SIG; the real-time ones are
 * RTMIN, RTMIN+N and RTMAX-N, worked out from SIGRTMIN and SIGRTMAX (which
 * glibc decides at run time).  Numbers 1..SIGRTMAX are also taken.
 */
static const struct {
	const char *name;
	int sig;
} spec_signals[] = {
	{ "HUP", SIGHUP },	 { "INT", SIGINT },	  { "QUIT", SIGQUIT },
	{ "ILL", SIGILL },	 { "TRAP", SIGTRAP },	  { "ABRT", SIGABRT },
	{ "BUS", SIGBUS },	 { "FPE", SIGFPE },	  { "KILL", SIGKILL },
	{ "USR1", SIGUSR1 },	 { "SEGV", SIGSEGV },	  { "USR2", SIGUSR2 },
	{ "PIPE", SIGPIPE },	 { "ALRM", SIGALRM },	  { "TERM", SIGTERM },
	{ "STKFLT", SIGSTKFLT }, { "CHLD", SIGCHLD },	  { "CONT", SIGCONT },
	{ "STOP", SIGSTOP },	 { "TSTP", SIGTSTP },	  { "TTIN", SIGTTIN },
	{ "TTOU", SIGTTOU },	 { "URG", SIGURG },	  { "XCPU", SIGXCPU },
	{ "XFSZ", SIGXFSZ },	 { "VTALRM", SIGVTALRM }, { "PROF", SIGPROF },
	{ "WINCH", SIGWINCH },	 { "IO", SIGIO },	  { "POLL", SIGPOLL },
	{ "PWR", SIGPWR },	 { "SYS", SIGSYS },
};

/* `kill -l` names of the real-time signals, from SIGRTMIN on. */
static const char *const spec_rt_names[] = {
	"RTMIN",    "RTMIN+1",	"RTMIN+2",  "RTMIN+3",	"RTMIN+4",  "RTMIN+5",
	"RTMIN+6",  "RTMIN+7",	"RTMIN+8",  "RTMIN+9",	"RTMIN+10", "RTMIN+11",
	"RTMIN+12", "RTMIN+13", "RTMIN+14", "RTMIN+15", "RTMAX-14", "RTMAX-13",
	"RTMAX-12", "RTMAX-11", "RTMAX-10", "RTMAX-9",	"RTMAX-8",  "RTMAX-7",
	"RTMAX-6",  "RTMAX-5",	"RTMAX-4",  "RTMAX-3",	"RTMAX-2",  "RTMAX-1",
	"RTMAX",
};

/*
 * Reads V, digits only, as a whole number >= MIN into *out.  Returns NULL,
 * or the reason it is not one: BELOW_MIN for a smaller (or negative) one.
 */
const char *spec_whole(const char *v, long min, const char *below_min,
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
const char *spec_number(const char *v, double *out)
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

/*
 * Reads "+N" or "-N" at V (digits, at most 3) into *n; returns 0 or -1.
 * An empty V is N = 0 (plain "RTMIN").
 */
static int spec_rt_offset(const char *v, char sign, int *n)
{
	int d = 0;

	*n = 0;
	if (!*v)
		return 0;
	if (*v++ != sign || !*v)
		return -1;
	for (; *v; v++) {
		if (*v < '0' || *v > '9' || ++d > 3)
			return -1;
		*n = *n * 10 + (*v - '0');
	}
	return 0;
}

/*
 * Returns the signal V names as kill(1) takes it (bash's kill: any case,
 * with or without SIG: "TERM", "sigwinch", "RTMIN+3", "15"), or 0.
 */
int spec_signal_number(const char *v)
{
	const char *name = v;
	long n = 0;
	int off;
	size_t i;

	if (!v)
		return 0;
	if (!strncasecmp(name, "SIG", 3))
		name += 3;
	for (i = 0; i < sizeof spec_signals / sizeof spec_signals[0]; i++)
		if (!strcasecmp(name, spec_signals[i].name))
			return spec_signals[i].sig;
	if (!strncasecmp(name, "RTMIN", 5) &&
	    !spec_rt_offset(name + 5, '+', &off) && off <= SIGRTMAX - SIGRTMIN)
		return SIGRTMIN + off;
	if (!strncasecmp(name, "RTMAX", 5) &&
	    !spec_rt_offset(name + 5, '-', &off) && off <= SIGRTMAX - SIGRTMIN)
		return SIGRTMAX - off;
	if (spec_whole(v, 1, "", &n) || n > SIGRTMAX)
		return 0;
	return (int)n;
}

/* Returns why V is not a metric name, or NULL; the rule of metrics.h. */
const char *spec_metric_name(const char *v)
{
	if (!*v)
		return "must not be empty";
	if (!metrics_name_valid(v, strlen(v)))
		return "not a metric name (1 to 64 letters, digits or "
		       "'_.-/()[]:%', starting with a letter or '_')";
	return NULL;
}

/*
 * Reads S (N bytes) as 1 to 9 digits into *out; returns 0 or -1.  Nine
 * digits keep every sum of a Slurm time far inside a long.
 */
static int spec_digits(const char *s, size_t n, long *out)
{
	size_t i;

	if (n == 0 || n > 9)
		return -1;
	*out = 0;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		*out = *out * 10 + (s[i] - '0');
	}
	return 0;
}

/*
 * Reads a Slurm time limit (sbatch --time): minutes, MM:SS, HH:MM:SS,
 * D-HH, D-HH:MM, D-HH:MM:SS, or UNLIMITED/INFINITE.  Returns 0 with
 * *seconds (0 for no limit), or -1.
 */
int spec_slurm_time(const char *text, long *seconds)
{
	long f[3], days = 0;
	const char *p, *dash, *colon;
	size_t nf = 0;

	if (!text)
		return -1;
	if (!strcasecmp(text, "UNLIMITED") || !strcasecmp(text, "INFINITE")) {
		*seconds = 0;
		return 0;
	}
	p = text;
	dash = strchr(p, '-');
	if (dash) {
		if (spec_digits(p, (size_t)(dash - p), &days))
			return -1;
		p = dash + 1;
	}
	for (;;) {
		colon = strchr(p, ':');
		if (nf == 3 ||
		    spec_digits(p, colon ? (size_t)(colon - p) : strlen(p),
				&f[nf]))
			return -1;
		nf++;
		if (!colon)
			break;
		p = colon + 1;
	}
	if (dash) /* D-HH, D-HH:MM, D-HH:MM:SS */
		*seconds = days * 86400 + f[0] * 3600 +
			   (nf > 1 ? f[1] * 60 : 0) + (nf > 2 ? f[2] : 0);
	else if (nf == 1) /* minutes */
		*seconds = f[0] * 60;
	else if (nf == 2) /* MM:SS */
		*seconds = f[0] * 60 + f[1];
	else /* HH:MM:SS */
		*seconds = f[0] * 3600 + f[1] * 60 + f[2];
	return 0;
}

static int spec_env_char(char c, int first)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_' ||
	       (!first && c >= '0' && c <= '9');
}

/* Returns whether NAME is [A-Za-z_][A-Za-z0-9_]*. */
int spec_env_name_ok(const char *name)
{
	const char *p;

	if (!spec_env_char(*name, 1))
		return 0;
	for (p = name + 1; *p; p++)
		if (!spec_env_char(*p, 0))
			return 0;
	return 1;
}

/* Returns a static name ("TERM", "RTMIN+3") for SIG, or NULL. */
const char *spec_signal_name(int sig)
{
	size_t i;

	for (i = 0; i < sizeof spec_signals / sizeof spec_signals[0]; i++)
		if (spec_signals[i].sig == sig)
			return spec_signals[i].name;
	if (sig >= SIGRTMIN && sig <= SIGRTMAX &&
	    (size_t)(sig - SIGRTMIN) <
		    sizeof spec_rt_names / sizeof spec_rt_names[0]) {
		/* glibc's RTMIN may move: count RTMAX-N from the top */
		if (sig - SIGRTMIN <= 15)
			return spec_rt_names[sig - SIGRTMIN];
		if (SIGRTMAX - sig <= 14)
			return spec_rt_names[30 - (SIGRTMAX - sig)];
	}
	return NULL;
}
