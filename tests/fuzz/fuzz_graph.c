/*
 * fuzz_graph: libFuzzer harness for the renderer of graph.svg (fs/graph.c)
 * and the display number formatter it uses (util/number.c).
 *
 * The input makes a job's metrics table through the same call the
 * supervisor uses (job_add_row), in one of two ways chosen by its first
 * byte:
 *
 *  - text: the rest is a trainer's metrics file, each line parsed by
 *    metrics_parse_line() ("epoch=1 a=1e308 b=-1e308", names with & < ');
 *  - binary: raw rows (an int64 epoch, then one raw double per column) so
 *    any bit pattern reaches the renderer: +-DBL_MAX, subnormals, every
 *    nan, epochs up to LONG_MAX and below 0, repeated (cycling through the
 *    rows) up to 1,000,000 rows, so one epoch and 10^6 epochs both occur.
 *
 * The job's state, stop reason, target epochs and monitored metric come
 * from the first bytes too.  Beyond "does not crash" and "ends within
 * libFuzzer's -timeout" (the loop of issue 8, finding 1), it checks that
 * the SVG:
 *
 *  - is one <svg> document with a viewBox, every '<' opening a tag and
 *    every '&' an entity (metric names are escaped);
 *  - draws each metric as exactly one <polyline> with data-metric;
 *  - puts every coordinate (points, x, y, x1..y2, cx, cy) on a finite
 *    number inside the viewBox: labels and lines stay in the picture;
 *  - has no more than about two points per pixel column per metric, so
 *    its size does not grow with the number of epochs.
 *
 * And that number_display() gives at most 6 significant digits, reads
 * back within rounding of the value, and never "-0".
 */
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs/fs.h"
#include "jobs/model/metrics.h"
#include "jobs/core/registry.h"
#include "tests/fuzz/fuzz.h"
#include "util/lock.h"
#include "util/number.h"

#define MAX_COLS 8
#define MAX_ROWS 1000000
#define MANY_ROWS 4096 /* more than pixel columns: decimation at work */
#define MAX_TEXT_COLS 64

static void check_display(double v)
{
	char buf[NUMBER_DISPLAY_MAX], *end;
	int digits = 0;

	FUZZ_CHECK(number_display(v, buf, sizeof buf) == buf);
	FUZZ_CHECK(strlen(buf) < sizeof buf - 1);
	if (isnan(v)) {
		FUZZ_CHECK(!strcmp(buf, "nan"));
		return;
	}
	if (isinf(v)) {
		FUZZ_CHECK(!strcmp(buf, v < 0 ? "-inf" : "inf"));
		return;
	}
	FUZZ_CHECK(strcmp(buf, "-0") != 0);
	double r = strtod(buf, &end);
	FUZZ_CHECK(*end == '\0');
	for (const char *p = buf; *p && *p != 'e'; p++)
		if (*p >= '0' && *p <= '9' && (digits || *p != '0'))
			digits++;
	FUZZ_CHECK(digits <= NUMBER_DISPLAY_DIGITS);
	/* Half a unit of the 6th digit, and of a subnormal's last bit. */
	FUZZ_CHECK(fabs(r - v) <= fabs(v) * 5.000001e-6 + 5e-324);
}

/* The value of attribute NAME='...' at P (just past "NAME='"). */
static double number_at(const char **p)
{
	char *end;
	double v = strtod(*p, &end);
	FUZZ_CHECK(end != *p);
	*p = end;
	return v;
}

static int is_coordinate(const char *name, size_t n, int *vertical)
{
	static const char *const xs[] = { "x", "x1", "x2", "cx" };
	static const char *const ys[] = { "y", "y1", "y2", "cy" };
	for (size_t i = 0; i < 4; i++) {
		if (strlen(xs[i]) == n && !memcmp(name, xs[i], n)) {
			*vertical = 0;
			return 1;
		}
		if (strlen(ys[i]) == n && !memcmp(name, ys[i], n)) {
			*vertical = 1;
			return 1;
		}
	}
	return 0;
}

/*
 * Whether P starts a numeric character reference of a character XML
 * allows ("&#39;", a control's picture "&#9243;").
 */
static int char_ref(const char *p)
{
	long c = 0;
	int n = 0;
	if (strncmp(p, "&#", 2))
		return 0;
	for (p += 2; *p >= '0' && *p <= '9' && n < 8; p++, n++)
		c = c * 10 + (*p - '0');
	return n > 0 && *p == ';' &&
	       (c == 9 || c == 10 || c == 13 || (c >= 0x20 && c < 0xd800) ||
		(c >= 0xe000 && c <= 0xfffd));
}

/* Checks the SVG text S of LEN bytes drawn for NCOLS metrics. */
static void check_svg(const char *s, size_t len, int ncols)
{
	double w, h;
	int polylines = 0, with_metric = 0;
	const char *p, *end = s + len;

	FUZZ_CHECK(len > 0 && s[len - 1] == '\n');
	FUZZ_CHECK(!memcmp(s, "<?xml", 5));
	FUZZ_CHECK(len >= 8 && !memcmp(end - 7, "</svg>\n", 7));
	p = strstr(s, "viewBox='0 0 ");
	FUZZ_CHECK(p != NULL);
	p += strlen("viewBox='0 0 ");
	w = number_at(&p);
	h = number_at(&p);
	FUZZ_CHECK(w > 0 && h > 0 && w <= 4000 && h <= 1e6);
	FUZZ_CHECK(memchr(s, '\0', len) == NULL);

	for (p = s; p < end; p++) {
		if (*p == '&') {
			FUZZ_CHECK(!strncmp(p, "&amp;", 5) ||
				   !strncmp(p, "&lt;", 4) ||
				   !strncmp(p, "&gt;", 4) ||
				   !strncmp(p, "&quot;", 6) || char_ref(p));
			continue;
		}
		if (*p != '<')
			continue;
		p++;
		FUZZ_CHECK(*p == '?' || *p == '/' || (*p >= 'a' && *p <= 'z'));
		if (!strncmp(p, "polyline ", 9))
			polylines++;
		/* The attributes of this tag, up to its '>'. */
		const char *tag_end = memchr(p, '>', end - p);
		FUZZ_CHECK(tag_end != NULL);
		for (const char *a = p; a < tag_end; a++) {
			if (*a != '=' || a[1] != '\'')
				continue;
			const char *name = a;
			while (name > p && name[-1] != ' ')
				name--;
			size_t n = a - name;
			const char *v = a + 2;
			const char *close = memchr(v, '\'', tag_end - v);
			int vertical;
			FUZZ_CHECK(close != NULL);
			if (n == 11 && !memcmp(name, "data-metric", 11))
				with_metric++;
			if (n == 6 && !memcmp(name, "points", 6)) {
				size_t npts = 0;
				while (v < close) {
					while (*v == ' ')
						v++;
					if (v >= close)
						break;
					double x = number_at(&v);
					FUZZ_CHECK(*v == ',');
					v++;
					double y = number_at(&v);
					FUZZ_CHECK(isfinite(x) && isfinite(y));
					FUZZ_CHECK(x >= 0 && x <= w);
					FUZZ_CHECK(y >= 0 && y <= h);
					npts++;
				}
				FUZZ_CHECK(npts <= 2 * (size_t)w + 2);
			} else if (is_coordinate(name, n, &vertical)) {
				double c = number_at(&v);
				FUZZ_CHECK(v == close);
				FUZZ_CHECK(isfinite(c));
				FUZZ_CHECK(c >= 0 && c <= (vertical ? h : w));
			}
			a = close;
		}
		p = tag_end;
	}
	FUZZ_CHECK(polylines == ncols);
	FUZZ_CHECK(with_metric == ncols);
	/* Decimated: the size depends on the metrics, not the epochs. */
	FUZZ_CHECK(len <= 64 * 1024 + (size_t)ncols * 64 * 1024);
}

static void free_job(struct job *job)
{
	for (int i = 0; i < job->table.ncolumns; i++)
		free(job->table.columns[i]);
	free(job->table.columns);
	free(job->table.epochs);
	watch_index_free(&job->table.by_epoch);
	free(job->table.cells);
	free(job->table.index);
	free(job->rec.reason);
}

/* Adds the lines of the metrics text D (N bytes); returns 0 or -1. */
static int add_text(struct job *job, const uint8_t *d, size_t n)
{
	const char *s = (const char *)d, *end = s + n;
	while (s < end) {
		const char *nl = memchr(s, '\n', end - s);
		size_t len = nl ? (size_t)(nl - s) : (size_t)(end - s);
		struct metrics_line ml;
		if (len && metrics_parse_line(s, len, &ml, NULL, 0) >= 0) {
			if (job->table.ncolumns + ml.n > MAX_TEXT_COLS) {
				metrics_line_free(&ml);
				return 0; /* enough to draw */
			}
			for (size_t i = 0; i < ml.n; i++)
				check_display(ml.m[i].value);
			size_t row;
			if (job_add_row(job, &ml, &row) < 0) {
				metrics_line_free(&ml);
				return -1;
			}
			metrics_line_free(&ml);
		}
		s += len + 1;
	}
	return 0;
}

/* Adds raw rows from D: NCOLS doubles after an int64 epoch, cycled. */
static int add_binary(struct job *job, const uint8_t *d, size_t n, int ncols,
		      size_t rows, int raw_epochs)
{
	size_t rec = 8 + 8 * (size_t)ncols, nrec = n / rec;
	char names[MAX_COLS][8];
	struct metric m[MAX_COLS];
	struct metrics_line ml = { 0, (size_t)ncols, m };
	if (!nrec)
		return 0;
	for (int c = 0; c < ncols; c++) {
		/* Names that need escaping, and the monitored one. */
		snprintf(names[c], sizeof names[c],
			 c == 0 ? "loss" :
			 c == 1 ? "a<&'%d" :
				  "m%d",
			 c);
		m[c].name = names[c];
	}
	for (size_t i = 0; i < rows; i++) {
		const uint8_t *r = d + (i % nrec) * rec;
		int64_t e;
		memcpy(&e, r, 8);
		ml.epoch = raw_epochs ? (long)e : (long)i;
		for (int c = 0; c < ncols; c++)
			memcpy(&m[c].value, r + 8 + 8 * c, 8);
		if (i < nrec)
			for (int c = 0; c < ncols; c++)
				check_display(m[c].value);
		size_t row;
		if (job_add_row(job, &ml, &row) < 0)
			return -1;
	}
	return 0;
}

/*
 * Byte 0: bit 0 binary, bit 1 raw epochs, bit 2 a monitored metric
 * ("loss"), bit 3 mode min, bits 4-5 the reason (none, stopped-early,
 * converged, completed), bits 6-7 the state (running, ready, stopping,
 * failed).  Byte 1: target epochs (0, or 1..255 times 4).  Binary only:
 * byte 2 the columns (1..MAX_COLS), bytes 3-4 the rows: up to MANY_ROWS,
 * or MAX_ROWS when byte 3 is 0xff.  Seconds of ASan work each, those are
 * for the replay of the corpus: while fuzzing (run.sh sets
 * FUZZ_GRAPH_MAX_ROWS) they are cut to MANY_ROWS, or the fuzzer would
 * spend its time on them.
 */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const reasons[] = { NULL, "stopped-early",
					       "converged", "completed" };
	static const enum job_state states[] = { ST_RUNNING, ST_READY,
						 ST_STOPPING, ST_FAILED };
	struct job job;
	char *out = NULL;
	size_t len = 0;
	int rc;

	if (size < 2)
		return 0;
	memset(&job, 0, sizeof job);
	lock_init(&job.lock, LOCK_JOB);
	job_lock(&job); /* the table is the job's: job_add_row asserts it */
	job.monitor_col = -1;
	job.rec.last_epoch = -1;
	job.rec.best_epoch = -1;
	snprintf(job.rec.name, sizeof job.rec.name, "fuzz <&> job");
	uint8_t flags = data[0];
	job.rec.state = states[flags >> 6];
	if (reasons[(flags >> 4) & 3])
		FUZZ_CHECK(
			(job.rec.reason = strdup(reasons[(flags >> 4) & 3])));
	job.spec.epochs = data[1] * 4L;
	if (flags & 4) {
		job.spec.monitor = "loss";
		job.spec.mode_min = !!(flags & 8);
		job.policy.mode_min = job.spec.mode_min;
		job.policy.patience = 3;
	}
	if (flags & 1) {
		if (size < 5)
			goto done;
		int ncols = 1 + data[2] % MAX_COLS;
		static long max_rows = -1;
		if (max_rows < 0) {
			const char *env = getenv("FUZZ_GRAPH_MAX_ROWS");
			max_rows = env ? atol(env) : MAX_ROWS;
		}
		size_t rows = data[3] == 0xff ?
				      (size_t)max_rows :
				      ((size_t)data[3] << 8 | data[4]) %
					      (MANY_ROWS + 1);
		rc = add_binary(&job, data + 5, size - 5, ncols, rows,
				flags & 2);
	} else {
		rc = add_text(&job, data + 2, size - 2);
	}
	FUZZ_CHECK(rc == 0);
	FUZZ_CHECK(render_graph(&job, &out, &len) == 0);
	/* FUZZ_GRAPH_SVG=FILE keeps the picture, to look at a corpus input. */
	const char *keep = getenv("FUZZ_GRAPH_SVG");
	FILE *k = keep ? fopen(keep, "w") : NULL;
	if (k) {
		fwrite(out, 1, len, k);
		fclose(k);
	}
	check_svg(out, len, job.table.ncolumns);
	free(out);
done:
	job_unlock(&job);
	lock_destroy(&job.lock);
	free_job(&job);
	return 0;
}
