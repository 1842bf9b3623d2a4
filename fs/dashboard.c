/*
 * dashboard: index.html and summary.csv (see dashboard.h).
 *
 * Both files are rendered from a snapshot, never from the jobs themselves,
 * so a job's lock is held only while its summary is copied.  The
 * page is one self-contained HTML file: inline CSS, inline SVG sparklines,
 * no script and no network, so it opens from file:// in any browser and
 * reloads itself with <meta http-equiv="refresh">.  With many jobs it
 * shows the newest DASH_HTML_FULL row by row and counts every job by
 * state; summary.csv always has every job.
 *
 * Every text that came from a user or a trainer (job names are any UTF-8,
 * errors quote trainer output) is HTML-escaped in the page, and
 * percent-encoded where it is part of a link.  summary.csv keeps every
 * value exactly as the job has it (a job named "=1+1" is that name, which
 * a script must find again), quoted by RFC 4180 rules; a spreadsheet user
 * imports its columns as text.
 */
#include <errno.h>
#include <math.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fs/dashboard.h"
#include "util/text.h"
#include "jobs/core/job.h"

/* ---- the snapshot and its arena ---- */

struct dash_chunk {
	struct dash_chunk *next;
	size_t used, cap;
	char data[];
};

struct dash_snapshot {
	struct dash_job *jobs;
	size_t n, cap;
	struct dash_sweep *sweeps;
	size_t nsweeps, capsweeps;
	int64_t now_ns;
	struct dash_chunk *chunks;
};

#define DASH_CHUNK (64 * 1024)

struct dash_snapshot *dash_snapshot_new(int64_t now_ns)
{
	struct dash_snapshot *s = calloc(1, sizeof *s);
	if (s)
		s->now_ns = now_ns;
	return s;
}

void dash_snapshot_free(struct dash_snapshot *s)
{
	if (!s)
		return;
	while (s->chunks) {
		struct dash_chunk *c = s->chunks;
		s->chunks = c->next;
		free(c);
	}
	free(s->jobs);
	free(s);
}

void *dash_alloc(struct dash_snapshot *s, size_t n)
{
	struct dash_chunk *c = s->chunks;
	n = (n + 7) & ~(size_t)7;
	if (!c || c->cap - c->used < n) {
		size_t cap = n > DASH_CHUNK ? n : DASH_CHUNK;
		c = malloc(sizeof *c + cap);
		if (!c)
			return NULL;
		c->used = 0;
		c->cap = cap;
		c->next = s->chunks;
		s->chunks = c;
	}
	void *p = c->data + c->used;
	c->used += n;
	memset(p, 0, n);
	return p;
}

const char *dash_strdup(struct dash_snapshot *s, const char *str)
{
	if (!str)
		return NULL;
	size_t n = strlen(str) + 1;
	char *p = dash_alloc(s, n);
	if (p)
		memcpy(p, str, n);
	return p;
}

struct dash_job *dash_new_job(struct dash_snapshot *s)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 64;
		struct dash_job *j = realloc(s->jobs, cap * sizeof *j);
		if (!j)
			return NULL;
		s->jobs = j;
		s->cap = cap;
	}
	struct dash_job *d = &s->jobs[s->n++];
	memset(d, 0, sizeof *d);
	d->epoch = -1;
	d->best_epoch = -1;
	d->progress = -1;
	return d;
}

struct dash_sweep *dash_add_sweep(struct dash_snapshot *s, const char *name,
				  const char *state, const char *trials,
				  const char *best, const char *epochs,
				  const char *error)
{
	if (s->nsweeps == s->capsweeps) {
		size_t cap = s->capsweeps ? 2 * s->capsweeps : 8;
		struct dash_sweep *ns = dash_alloc(s, cap * sizeof *ns);
		if (!ns)
			return NULL;
		if (s->nsweeps)
			memcpy(ns, s->sweeps, s->nsweeps * sizeof *ns);
		s->sweeps = ns; /* the old array stays in the arena */
		s->capsweeps = cap;
	}
	struct dash_sweep *d = &s->sweeps[s->nsweeps];
	*d = (struct dash_sweep){
		dash_strdup(s, name),	dash_strdup(s, state),
		dash_strdup(s, trials), dash_strdup(s, best),
		dash_strdup(s, epochs), dash_strdup(s, error),
	};
	if (!d->name || !d->state)
		return NULL;
	s->nsweeps++;
	return d;
}

struct dash_job *dash_jobs(const struct dash_snapshot *s, size_t *n)
{
	*n = s->n;
	return s->jobs;
}

size_t dash_spark_sample(const double *v, size_t n, double *out, size_t max)
{
	if (max == 0 || n == 0)
		return 0;
	if (n <= max) {
		memcpy(out, v, n * sizeof *v);
		return n;
	}
	if (max == 1) {
		out[0] = v[n - 1];
		return 1;
	}
	for (size_t i = 0; i < max; i++)
		out[i] = v[i * (n - 1) / (max - 1)];
	return max;
}

void dash_resolve_owners(struct dash_snapshot *s)
{
	/* A handful of users own most jobs: remember the last few. */
	struct {
		uid_t uid;
		const char *name;
	} seen[16];
	size_t nseen = 0, next = 0;
	char buf[4096];

	for (size_t i = 0; i < s->n; i++) {
		struct dash_job *d = &s->jobs[i];
		size_t k;
		if (d->owner)
			continue;
		for (k = 0; k < nseen && seen[k].uid != d->uid; k++)
			;
		if (k < nseen) {
			d->owner = seen[k].name;
			continue;
		}
		struct passwd pw, *res = NULL;
		const char *name = NULL;
		if (getpwuid_r(d->uid, &pw, buf, sizeof buf, &res) == 0 && res)
			name = dash_strdup(s, res->pw_name);
		d->owner = name; /* NULL: shown as the number */
		k = nseen < 16 ? nseen++ : next++ % 16;
		seen[k].uid = d->uid;
		seen[k].name = name;
	}
}

/* ---- formatting helpers ---- */

const char dash_csv_header[] =
	"job,state,owner,epoch,epochs,monitor,best,best_epoch,reason,tags,"
	"created,started,finished,weights,gpus,sweep";

static const char *const state_names[] = {
	"created",   "queued", "running",   "stopping",
	"packaging", "ready",  "cancelled", "failed",
};
#define NSTATES (sizeof state_names / sizeof state_names[0])

static const char *dash_state_name(int s)
{
	return s >= 0 && (size_t)s < NSTATES ? state_names[s] : "unknown";
}

char *dash_format_number(double v, char *buf, size_t len)
{
	if (isnan(v))
		snprintf(buf, len, "nan");
	else if (isinf(v))
		snprintf(buf, len, v < 0 ? "-inf" : "inf");
	else
		snprintf(buf, len, "%.6g", v == 0 ? 0.0 : v); /* no "-0" */
	return buf;
}

static void digits(char *p, long v, int n)
{
	while (n-- > 0) {
		p[n] = (char)('0' + v % 10);
		v /= 10;
	}
}

/*
 * NS as RFC 3339 UTC, the same text as job_format_time() (a unit test
 * compares them), or "" for 0; without gmtime and strftime, which cost
 * a third of summary.csv's time with 10,000 jobs.
 */
char *dash_format_time(int64_t ns, char *buf, size_t len)
{
	if (ns <= 0 || len < 21) {
		if (len)
			buf[0] = '\0';
		return buf;
	}
	int64_t secs = ns / 1000000000LL, days = secs / 86400;
	long rem = (long)(secs % 86400);
	if (days > 2932896) /* past 9999-12-31: as job_format_time() */
		return job_format_time(ns, buf, len);
	/* days to a civil date (Howard Hinnant's days_from_civil, inverted) */
	int64_t z = days + 719468, era = z / 146097;
	long doe = (long)(z - era * 146097);
	long yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	long doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	long mp = (5 * doy + 2) / 153;
	long d = doy - (153 * mp + 2) / 5 + 1;
	long m = mp < 10 ? mp + 3 : mp - 9;
	long y = (long)(yoe + era * 400) + (m <= 2);
	memcpy(buf, "0000-00-00T00:00:00Z", 21);
	digits(buf, y, 4);
	digits(buf + 5, m, 2);
	digits(buf + 8, d, 2);
	digits(buf + 11, rem / 3600, 2);
	digits(buf + 14, rem / 60 % 60, 2);
	digits(buf + 17, rem % 60, 2);
	return buf;
}

#define format_time dash_format_time

static void owner_text(const struct dash_job *d, char *buf, size_t len)
{
	if (d->owner)
		snprintf(buf, len, "%s", d->owner);
	else
		snprintf(buf, len, "%lu", (unsigned long)d->uid);
}

static int finish(FILE *f, char **out)
{
	if (fclose(f) != 0) {
		free(*out);
		*out = NULL;
		return -ENOMEM;
	}
	return 0;
}

/* ---- summary.csv ---- */

int dash_render_csv(const struct dash_snapshot *s, char **out, size_t *len)
{
	FILE *f = open_memstream(out, len);
	char num[64], t[64];
	if (!f)
		return -ENOMEM;
	fputs(dash_csv_header, f);
	fputc('\n', f);
	for (size_t i = 0; i < s->n; i++) {
		const struct dash_job *d = &s->jobs[i];
		text_csv_field(f, d->name);
		fprintf(f, ",%s,", dash_state_name(d->state));
		owner_text(d, num, sizeof num);
		text_csv_field(f, num);
		fputc(',', f);
		if (d->epoch >= 0)
			fprintf(f, "%ld", d->epoch);
		fputc(',', f);
		if (d->epochs > 0)
			fprintf(f, "%ld", d->epochs);
		fputc(',', f);
		text_csv_field(f, d->monitor);
		fputc(',', f);
		if (d->monitor && d->have_best) {
			fputs(dash_format_number(d->best, num, sizeof num), f);
			fprintf(f, ",%ld", d->best_epoch);
		} else {
			fputc(',', f);
		}
		fputc(',', f);
		text_csv_field(f, d->reason);
		fputc(',', f);
		/* tags are A-Z a-z 0-9 . _ -: never quoted */
		for (size_t k = 0; k < d->ntags; k++) {
			if (k)
				fputc(';', f);
			text_csv_field(f, d->tags[k]);
		}
		fprintf(f, ",%s", format_time(d->created_ns, t, sizeof t));
		fprintf(f, ",%s", format_time(d->started_ns, t, sizeof t));
		fprintf(f, ",%s,", format_time(d->finished_ns, t, sizeof t));
		if (d->weights) { /* relative to the mount */
			char *w;
			if (asprintf(&w, "jobs/%s/weights/%s", d->name,
				     d->weights) < 0) {
				fclose(f);
				free(*out);
				*out = NULL;
				return -ENOMEM;
			}
			text_csv_field(f, w);
			free(w);
		}
		fputc(',', f);
		for (const char *g = d->gpus; g && *g; g++) /* digits, commas */
			fputc(*g == ',' ? ';' : *g, f);
		fputc(',', f);
		if (d->sweep)
			text_csv_field(f, d->sweep);
		fputc('\n', f);
	}
	return finish(f, out);
}

/* ---- index.html ---- */

static void html_text(FILE *f, const char *v)
{
	if (v)
		text_markup(f, v, strlen(v));
}

/* A path segment: everything but RFC 3986's unreserved characters encoded. */
static void url_segment(FILE *f, const char *v)
{
	static const char hex[] = "0123456789ABCDEF";
	for (; *v; v++) {
		unsigned char c = (unsigned char)*v;
		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '.' ||
		    c == '_' || c == '~')
			fputc(c, f);
		else
			fprintf(f, "%%%c%c", hex[c >> 4], hex[c & 15]);
	}
}

/* "jobs/NAME/FILE" as an href value. */
static void job_link(FILE *f, const struct dash_job *d, const char *file,
		     const char *file2)
{
	fputs("jobs/", f);
	url_segment(f, d->name);
	fputc('/', f);
	fputs(file, f);
	if (file2)
		url_segment(f, file2);
}

/* "3 min ago" from NS to NOW. */
static char *ago(int64_t now, int64_t ns, char *buf, size_t len)
{
	int64_t s = (now - ns) / 1000000000LL;
	if (s < 0)
		s = 0;
	if (s < 60) /* the page is redrawn once a minute when nothing changes */
		snprintf(buf, len, "just now");
	else if (s < 3600)
		snprintf(buf, len, "%lld min ago", (long long)(s / 60));
	else if (s < 86400 * 2)
		snprintf(buf, len, "%lld h ago", (long long)(s / 3600));
	else
		snprintf(buf, len, "%lld days ago", (long long)(s / 86400));
	return buf;
}

static const char *const badge_mark[] = {
	"&#9675;", /* created: ○ */
	"&#9719;", /* queued: ◷ */
	"&#9679;", /* running: ● */
	"&#9632;", /* stopping: ■ */
	"&#8987;", /* packaging: ⌛ */
	"\xe2\x9c\x93", /* ready: the character U+2713 itself (UTF-8), not an entity */
	"&#8856;",  /* cancelled: ⊘ */
	"&#10007;", /* failed: ✗ */
};

static void badge(FILE *f, int state, long count)
{
	const char *name = dash_state_name(state);
	fprintf(f, "<span class=\"badge s-%s\">%s %s", name,
		state >= 0 && (size_t)state < NSTATES ? badge_mark[state] : "",
		name);
	if (count >= 0)
		fprintf(f, " <b>%ld</b>", count);
	fputs("</span>", f);
}

#define SPARK_W 120
#define SPARK_H 28

/* An inline SVG line of the points; nan and inf break it. */
static void sparkline(FILE *f, const struct dash_job *d)
{
	double lo = INFINITY, hi = -INFINITY;
	size_t n = d->nspark, finite = 0;
	for (size_t i = 0; i < n; i++)
		if (isfinite(d->spark[i])) {
			lo = fmin(lo, d->spark[i]);
			hi = fmax(hi, d->spark[i]);
			finite++;
		}
	if (!finite)
		return;
	char num[64];
	fprintf(f,
		"<svg class=\"spark\" width=\"%d\" height=\"%d\" "
		"viewBox=\"0 0 %d %d\" role=\"img\"><title>",
		SPARK_W, SPARK_H, SPARK_W, SPARK_H);
	html_text(f, d->monitor);
	fprintf(f, ": %s", dash_format_number(lo, num, sizeof num));
	fprintf(f, " to %s</title>", dash_format_number(hi, num, sizeof num));
	double span = hi - lo;
	if (!isfinite(span)) { /* -1e308 to 1e308: draw half of each */
		lo /= 2;
		hi /= 2;
		span = hi - lo;
	}
	int open = 0;
	double lx = 0, ly = 0;
	for (size_t i = 0; i < n; i++) {
		double v = d->spark[i];
		if (!isfinite(v)) {
			if (open)
				fputs("\"/>", f);
			open = 0;
			double x = n > 1 ? 2 + (SPARK_W - 4) * (double)i /
							   (double)(n - 1) :
					   SPARK_W / 2.0;
			fprintf(f,
				"<line class=\"gap\" x1=\"%.1f\" y1=\"2\" "
				"x2=\"%.1f\" y2=\"%d\"/>",
				x, x, SPARK_H - 2);
			continue;
		}
		double x = n > 1 ? 2 + (SPARK_W - 4) * (double)i /
						   (double)(n - 1) :
				   SPARK_W / 2.0;
		double y = span > 0 ? (SPARK_H - 3) - (SPARK_H -
						       6) * ((v / 2 - lo / 2) /
							     (span / 2)) :
				      SPARK_H / 2.0;
		if (!isfinite(y))
			y = SPARK_H / 2.0;
		fprintf(f, "%s%.1f,%.1f", open ? " " : "<polyline points=\"", x,
			y);
		open = 1;
		lx = x;
		ly = y;
	}
	if (open)
		fputs("\"/>", f);
	fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"2\"/></svg>", lx, ly);
}

static const char html_head[] =
	"<!DOCTYPE html>\n"
	"<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
	"<meta http-equiv=\"refresh\" content=\"%d\">\n"
	"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
	"<title>trainfs: %zu jobs</title>\n"
	"<style>\n"
	":root{color-scheme:light dark;--fg:#1f2328;--mute:#656d76;--bg:#fff;"
	"--row:#f6f8fa;--line:#d0d7de;--bar:#2f81f7;--ok:#1a7f37;--bad:#cf222e;"
	"--warn:#9a6700;--run:#0969da}\n"
	"@media (prefers-color-scheme:dark){:root{--fg:#e6edf3;--mute:#8d96a0;"
	"--bg:#0d1117;--row:#161b22;--line:#30363d;--ok:#3fb950;--bad:#f85149;"
	"--warn:#d29922;--run:#58a6ff}}\n"
	"body{font:14px/1.4 system-ui,-apple-system,'Segoe UI',sans-serif;"
	"margin:0;padding:16px 24px;color:var(--fg);background:var(--bg)}\n"
	"h1{font-size:20px;margin:0 0 4px}\n"
	".sub{color:var(--mute);margin:0 0 12px}\n"
	".counts{display:flex;flex-wrap:wrap;gap:6px;margin:0 0 16px}\n"
	"table{border-collapse:collapse;width:100%%}\n"
	"th{text-align:left;font-weight:600;color:var(--mute);font-size:12px;"
	"text-transform:uppercase;letter-spacing:.04em;border-bottom:1px solid "
	"var(--line);padding:6px 8px;white-space:nowrap}\n"
	"td{border-bottom:1px solid var(--line);padding:6px 8px;"
	"vertical-align:middle}\n"
	"tr:hover td{background:var(--row)}\n"
	".name{font-weight:600;min-width:9em;overflow-wrap:anywhere}\n"
	".name a{color:inherit;text-decoration:none}\n"
	".name a:hover{text-decoration:underline}\n"
	".owner,.when,.num{color:var(--mute);font-size:12px;white-space:nowrap;"
	"font-weight:400}\n"
	".badge{display:inline-block;border-radius:999px;padding:1px 9px;"
	"font-size:12px;font-weight:600;white-space:nowrap;border:1px solid "
	"currentColor}\n"
	".s-ready{color:var(--ok)}.s-failed{color:var(--bad)}"
	".s-running{color:var(--run)}.s-stopping,.s-packaging{color:var(--warn)}"
	".s-created,.s-queued,.s-cancelled{color:var(--mute)}\n"
	"td .s-ready{background:var(--ok);color:#fff;border-color:var(--ok)}\n"
	".r-ready .bar>i{background:var(--ok)}.r-failed .bar>i{background:var(--bad)}"
	".r-cancelled .bar>i{background:var(--mute)}\n"
	".bar{width:110px;height:6px;border-radius:3px;background:var(--line);"
	"overflow:hidden}\n"
	".bar>i{display:block;height:100%%;background:var(--bar)}\n"
	".tag{display:inline-block;font-size:11px;padding:0 6px;margin:1px;"
	"border-radius:4px;background:var(--row);border:1px solid var(--line)}\n"
	".msg{max-width:34em;font-size:13px}.err{color:var(--bad)}\n"
	".links a{margin-right:8px;white-space:nowrap}\n"
	".spark polyline{fill:none;stroke:var(--bar);stroke-width:1.5}\n"
	".spark circle{fill:var(--bar)}\n"
	".spark .gap{stroke:var(--bad);stroke-dasharray:2 2}\n"
	".more{color:var(--mute);margin:12px 0}\n"
	"</style>\n</head>\n<body>\n";

/* The progress cell's inside: epoch/epochs as a bar, packing's percent. */
static void html_progress(FILE *f, const struct dash_job *d)
{
	if (d->epoch >= 0 || d->epochs > 0) {
		long e = d->epoch >= 0 ? d->epoch : 0;
		if (d->epochs > 0) {
			double pct = 100.0 * (double)e / (double)d->epochs;
			if (pct > 100)
				pct = 100;
			fprintf(f,
				"<div class=\"bar\" title=\"%ld of %ld "
				"epochs\"><i style=\"width:%.1f%%\"></i></div>"
				"<span class=\"num\">%ld/%ld</span>",
				e, d->epochs, pct, e, d->epochs);
		} else {
			fprintf(f, "<span class=\"num\">epoch %ld</span>", e);
		}
	}
	if (d->progress >= 0)
		fprintf(f, "<div class=\"num\">packing %d%%</div>",
			d->progress);
	if (d->gpus) {
		fputs("<div class=\"num\">GPUs ", f);
		html_text(f, d->gpus);
		fputs("</div>", f);
	}
}

/* The time cell after its "<td": its title (every time), its text (ago). */
static void html_when(FILE *f, const struct dash_snapshot *s,
		      const struct dash_job *d)
{
	char t[64], when[64];
	fputs(" class=\"when\" title=\"created ", f);
	fputs(format_time(d->created_ns, t, sizeof t), f);
	if (d->started_ns)
		fprintf(f, ", started %s",
			format_time(d->started_ns, t, sizeof t));
	if (d->finished_ns)
		fprintf(f, ", finished %s",
			format_time(d->finished_ns, t, sizeof t));
	fputs("\">", f);
	if (d->finished_ns)
		fprintf(f, "finished %s",
			ago(s->now_ns, d->finished_ns, when, sizeof when));
	else if (d->started_ns)
		fprintf(f, "started %s",
			ago(s->now_ns, d->started_ns, when, sizeof when));
	else
		fprintf(f, "created %s",
			ago(s->now_ns, d->created_ns, when, sizeof when));
}

static void html_row(FILE *f, const struct dash_snapshot *s,
		     const struct dash_job *d)
{
	char num[64];

	fprintf(f, "<tr class=\"r-%s\">\n<td>", dash_state_name(d->state));
	badge(f, d->state, -1);
	fputs("</td>\n<td class=\"name\"><a href=\"", f);
	job_link(f, d, "status", NULL);
	fputs("\">", f);
	html_text(f, d->name);
	fputs("</a><div class=\"owner\">", f);
	owner_text(d, num, sizeof num);
	html_text(f, num);
	fputs("</div></td>\n<td>", f);
	html_progress(f, d);
	fputs("</td>\n<td class=\"num\">", f);
	if (d->monitor && d->have_best) {
		html_text(f, d->monitor);
		fprintf(f, " <b>%s</b><br>at epoch %ld",
			dash_format_number(d->best, num, sizeof num),
			d->best_epoch);
	} else if (d->monitor) {
		html_text(f, d->monitor);
	}
	fputs("</td>\n<td>", f);
	if (d->nspark)
		sparkline(f, d);
	fputs("</td>\n<td>", f);
	for (size_t k = 0; k < d->ntags; k++) {
		fputs("<span class=\"tag\">", f);
		html_text(f, d->tags[k]);
		fputs("</span>", f);
	}
	fputs("</td>\n<td class=\"msg", f);
	if (d->error) {
		fputs(" err\">", f);
		html_text(f, d->error);
	} else {
		fputs("\">", f);
		html_text(f, d->message);
	}
	fputs("</td>\n<td", f);
	html_when(f, s, d);
	fputs("</td>\n<td class=\"links\"><a href=\"", f);
	job_link(f, d, "graph.svg", NULL);
	fputs("\">graph</a><a href=\"", f);
	job_link(f, d, "status", NULL);
	fputs("\">status</a>", f);
	if (d->weights) {
		fputs("<a href=\"", f);
		job_link(f, d, "weights/", d->weights);
		fputs("\" download>weights</a>", f);
	}
	fputs("</td>\n</tr>\n", f);
}

/* The sweeps, newest first: state, trials, the best trial, epochs saved. */
static void sweeps_table(FILE *f, const struct dash_snapshot *s)
{
	if (!s->nsweeps)
		return;
	fputs("<h2>sweeps</h2>\n<table class=\"sweeps\">\n<thead><tr>"
	      "<th>state</th><th>sweep</th><th>trials</th><th>best</th>"
	      "<th>epochs</th><th>files</th></tr></thead>\n<tbody>\n",
	      f);
	for (size_t i = s->nsweeps; i-- > 0;) {
		const struct dash_sweep *w = &s->sweeps[i];
		fprintf(f, "<tr data-sweep=\"");
		html_text(f, w->name);
		fputs("\"><td>", f);
		html_text(f, w->state);
		fputs("</td><td>", f);
		html_text(f, w->name);
		fputs("</td><td>", f);
		html_text(f, w->trials ? w->trials : "");
		fputs("</td><td>", f);
		html_text(f, w->best ? w->best : w->error ? w->error : "");
		fputs("</td><td>", f);
		html_text(f, w->epochs ? w->epochs : "");
		fputs("</td><td>", f);
		const char *files[] = { "graph.svg", "status", "trials.csv" };
		for (size_t k = 0; k < 3; k++) {
			fputs(k ? " &middot; <a href=\"sweeps/" :
				  "<a href=\"sweeps/",
			      f);
			url_segment(f, w->name);
			fprintf(f, "/%s\">%s</a>", files[k], files[k]);
		}
		fputs("</td></tr>\n", f);
	}
	fputs("</tbody>\n</table>\n<h2>jobs</h2>\n", f);
}

int dash_render_html(const struct dash_snapshot *s, char **out, size_t *len)
{
	FILE *f = open_memstream(out, len);
	long counts[NSTATES] = { 0 };
	char t[64];
	if (!f)
		return -ENOMEM;
	for (size_t i = 0; i < s->n; i++)
		if (s->jobs[i].state >= 0 && (size_t)s->jobs[i].state < NSTATES)
			counts[s->jobs[i].state]++;

	fprintf(f, html_head, DASH_REFRESH_SECONDS, s->n);
	fprintf(f,
		"<h1>trainfs</h1>\n<p class=\"sub\">%zu job%s &middot; "
		"as of %s &middot; reloads every %d s &middot; "
		"<a href=\"summary.csv\">summary.csv</a></p>\n",
		s->n, s->n == 1 ? "" : "s", format_time(s->now_ns, t, sizeof t),
		DASH_REFRESH_SECONDS);
	fputs("<div class=\"counts\">", f);
	for (size_t k = 0; k < NSTATES; k++)
		if (counts[k])
			badge(f, (int)k, counts[k]);
	fputs("</div>\n", f);
	sweeps_table(f, s);
	if (!s->n) {
		fputs("<p class=\"more\">No jobs yet: <code>mkdir "
		      "jobs/NAME</code> makes one.</p>\n",
		      f);
		fputs("</body>\n</html>\n", f);
		return finish(f, out);
	}
	fputs("<table>\n<thead><tr><th>state</th><th>job</th>"
	      "<th>progress</th><th>best</th><th>trend</th><th>tags</th>"
	      "<th>message</th><th>when</th><th>files</th></tr></thead>\n"
	      "<tbody>\n",
	      f);
	size_t shown = 0;
	for (size_t i = s->n; i-- > 0 && shown < DASH_HTML_FULL; shown++)
		html_row(f, s, &s->jobs[i]);
	fputs("</tbody>\n</table>\n", f);
	if (shown < s->n)
		fprintf(f,
			"<p class=\"more\">The newest %zu jobs are shown; "
			"%zu older ones are counted above and listed in "
			"<a href=\"summary.csv\">summary.csv</a>.</p>\n",
			shown, s->n - shown);
	fputs("</body>\n</html>\n", f);
	return finish(f, out);
}

/* ---- the snapshot of a job, with its lock held ---- */

int dash_add_job(struct dash_snapshot *s, const struct job *job,
		 enum dash_what what)
{
	if (what == DASH_STATE_ONLY) {
		struct dash_job *d = dash_new_job(s);
		if (!d)
			return -ENOMEM;
		d->name = "";
		d->state = job->rec.state;
		return 0;
	}
	const struct job_record *r = &job->rec;
	char msg[256];
	struct dash_job *d = dash_new_job(s);
	if (!d)
		return -ENOMEM;
	d->name = dash_strdup(s, r->name);
	d->state = r->state;
	d->uid = r->uid;
	d->epoch = job_last_epoch(job);
	d->epochs = job->spec_ok ? job->spec.epochs : 0;
	d->monitor = job->spec_ok ? dash_strdup(s, job->spec.monitor) : NULL;
	d->have_best = job->policy.have_best;
	d->best = job->policy.best;
	d->best_epoch = job->policy.best_epoch;
	d->reason = r->state == ST_READY ? dash_strdup(s, r->reason) : NULL;
	d->created_ns = r->created_ns;
	d->started_ns = r->started_ns;
	if (state_is_final(r->state) || r->state == ST_PACKAGING)
		d->finished_ns = r->finished_ns;
	d->weights = r->state == ST_READY ? dash_strdup(s, r->weights) : NULL;
	d->sweep = dash_strdup(s, job->sweep_name);
	if (*job_message(job, msg, sizeof msg))
		d->message = dash_strdup(s, msg);
	if (r->state == ST_FAILED && r->error)
		d->error = dash_strdup(s, r->error);
	else if (r->state == ST_CREATED && r->spec && job->spec_error)
		d->error = dash_strdup(s, job->spec_error);
	d->progress = r->state == ST_PACKAGING ? job->progress : -1;
	if (state_has_trainer(r->state) && r->gpus &&
	    !(d->gpus = dash_strdup(s, r->gpus)))
		return -ENOMEM;
	if (!d->name)
		return -ENOMEM;
	if (job->ntags) {
		d->tags = dash_alloc(s, job->ntags * sizeof *d->tags);
		if (!d->tags)
			return -ENOMEM;
		for (size_t k = 0; k < job->ntags; k++)
			if (!(d->tags[k] = dash_strdup(s, job->tags[k].name)))
				return -ENOMEM;
		d->ntags = job->ntags;
	}
	const struct job_table *t = &job->table;
	if (what == DASH_WITH_SPARK && t->loaded && job->monitor_col >= 0 &&
	    t->nrows) {
		/* the rows that report the monitored metric, sampled */
		size_t step = t->nrows > DASH_SPARK_MAX * 4 ?
				      t->nrows / (DASH_SPARK_MAX * 4) :
				      1;
		double vals[DASH_SPARK_MAX * 4 + 8];
		size_t nv = 0;
		const size_t room = sizeof vals / sizeof vals[0] - 1;
		for (size_t row = 0; row < t->nrows && nv < room; row += step) {
			double v;
			if (job_cell(job, row, job->monitor_col, &v))
				vals[nv++] = v;
		}
		double last; /* the newest value always shows */
		if (step > 1 && (t->nrows - 1) % step &&
		    job_cell(job, t->nrows - 1, job->monitor_col, &last))
			vals[nv++] = last;
		double *sp = dash_alloc(s, DASH_SPARK_MAX * sizeof *sp);
		if (!sp)
			return -ENOMEM;
		d->nspark = dash_spark_sample(vals, nv, sp, DASH_SPARK_MAX);
		d->spark = sp;
	}
	return 0;
}
