/*
 * Unit tests of fs/dashboard.c: summary.csv and index.html rendered from
 * hand-made snapshots, and the time both take for 10,000 jobs (printed,
 * never asserted: the machine is shared).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fs/dashboard.h"
#include "jobs/core/job.h"
#include "tests/unit/test.h"

#define T0 1795000000LL /* 2026-11-18T11:06:40Z */
#define NS 1000000000LL

static size_t count(const char *hay, const char *needle)
{
	size_t n = 0;
	for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

/* A ready job, a failed one and a created one with awkward names. */
static struct dash_snapshot *sample(void)
{
	struct dash_snapshot *s = dash_snapshot_new((T0 + 600) * NS);
	static const char *tags[] = { "converged", "stopped-early", "ready",
				      "mine" };
	static const double spark[] = { 0.9, 0.5, NAN, 0.3, 0.25 };

	struct dash_job *d = dash_new_job(s);
	d->name = "yolo";
	d->state = ST_READY;
	d->uid = 0;
	d->owner = "root";
	d->epoch = 37;
	d->epochs = 100;
	d->monitor = "val_loss";
	d->have_best = 1;
	d->best = 0.5939748287200928;
	d->best_epoch = 27;
	d->reason = "converged";
	d->tags = tags;
	d->ntags = 4;
	d->created_ns = T0 * NS;
	d->started_ns = (T0 + 1) * NS;
	d->finished_ns = (T0 + 300) * NS;
	d->weights = "yolo.tar";
	d->message = "training converged at epoch 37 of 100; 63 unnecessary "
		     "epochs skipped";
	d->spark = spark;
	d->nspark = 5;

	d = dash_new_job(s);
	d->name = "=HYPERLINK(\"x\"),\n<b>&'";
	d->state = ST_FAILED;
	d->uid = 4242;
	d->created_ns = (T0 + 10) * NS;
	d->started_ns = (T0 + 11) * NS;
	d->finished_ns = (T0 + 12) * NS;
	d->error = "trainer exited with status 3: <oops> \"x\"";

	d = dash_new_job(s);
	d->name = "modèle-ü my run";
	d->state = ST_CREATED;
	d->uid = 1000;
	d->owner = "me";
	d->created_ns = (T0 + 20) * NS;
	d->sweep = "lr sweep";
	dash_add_sweep(s, "lr sweep", "running", "4 (2 running, 2 to come)",
		       "trial 001 (lr=0.1) loss 0.5 at epoch 3", NULL, NULL);
	return s;
}

static void test_csv(void)
{
	struct dash_snapshot *s = sample();
	struct dash_job *d = dash_new_job(s);
	d->name = "gpu";
	d->state = ST_RUNNING;
	d->uid = 1000;
	d->owner = "me";
	d->created_ns = (T0 + 30) * NS;
	d->gpus = "1,3";
	char *out = NULL;
	size_t len = 0;
	CHECK(dash_render_csv(s, &out, &len) == 0);
	CHECK(out && strlen(out) == len);
	const char *want =
		"job,state,owner,epoch,epochs,monitor,best,best_epoch,reason,"
		"tags,created,started,finished,weights,gpus,sweep\n"
		"yolo,ready,root,37,100,val_loss,0.593975,27,converged,"
		"converged;stopped-early;ready;mine,2026-11-18T11:06:40Z,"
		"2026-11-18T11:06:41Z,2026-11-18T11:11:40Z,jobs/yolo/weights/yolo.tar,,\n"
		"\"=HYPERLINK(\"\"x\"\"),\n<b>&'\",failed,4242,,,,,,,,"
		"2026-11-18T11:06:50Z,2026-11-18T11:06:51Z,"
		"2026-11-18T11:06:52Z,,,\n"
		"modèle-ü my run,created,me,,,,,,,,2026-11-18T11:07:00Z,,,,,lr sweep\n"
		"gpu,running,me,,,,,,,,2026-11-18T11:07:10Z,,,,1;3,\n";
	CHECK_STR(out, want);
	free(out);
	dash_snapshot_free(s);
}

static void test_csv_empty(void)
{
	struct dash_snapshot *s = dash_snapshot_new(T0 * NS);
	char *out = NULL;
	size_t len = 0;
	CHECK(dash_render_csv(s, &out, &len) == 0);
	CHECK_STR(out,
		  "job,state,owner,epoch,epochs,monitor,best,best_epoch,"
		  "reason,tags,created,started,finished,weights,gpus,sweep\n");
	free(out);
	CHECK(dash_render_html(s, &out, &len) == 0);
	CHECK(strstr(out, "No jobs yet") != NULL);
	CHECK(strstr(out, "</html>") != NULL);
	free(out);
	dash_snapshot_free(s);
}

static void test_numbers(void)
{
	char b[64];
	CHECK_STR(dash_format_number(0.5939748287200928, b, sizeof b),
		  "0.593975");
	CHECK_STR(dash_format_number(1e-4, b, sizeof b), "0.0001");
	CHECK_STR(dash_format_number(1.5e-7, b, sizeof b), "1.5e-07");
	CHECK_STR(dash_format_number(1234567.0, b, sizeof b), "1.23457e+06");
	CHECK_STR(dash_format_number(12.0, b, sizeof b), "12");
	CHECK_STR(dash_format_number(-0.0, b, sizeof b), "0");
	CHECK_STR(dash_format_number(NAN, b, sizeof b), "nan");
	CHECK_STR(dash_format_number(-INFINITY, b, sizeof b), "-inf");
	CHECK_STR(dash_format_number(1e308, b, sizeof b), "1e+308");
}

/* The same text as job_format_time(), the one the rest of trainfs uses. */
static void test_times(void)
{
	char a[64], b[64];
	uint64_t t = 1;
	CHECK_STR(dash_format_time(0, a, sizeof a), "");
	for (int i = 0; i < 200000; i++) {
		t = t * 6364136223846793005ULL + 1442695040888963407ULL;
		int64_t ns =
			(int64_t)(t % (uint64_t)INT64_MAX) + 1; /* to 2262 */
		if (i < 100)
			ns = (int64_t)i * 86400 * 366 * NS + NS;
		dash_format_time(ns, a, sizeof a);
		job_format_time(ns, b, sizeof b);
		CHECK_STR(a, b);
		if (strcmp(a, b))
			break;
	}
	CHECK_STR(dash_format_time((int64_t)951782400 * NS, a, sizeof a),
		  "2000-02-29T00:00:00Z");
}

static void test_html(void)
{
	struct dash_snapshot *s = sample();
	char *out = NULL;
	size_t len = 0;
	CHECK(dash_render_html(s, &out, &len) == 0);
	CHECK(out && strlen(out) == len);
	CHECK(strstr(out, "<meta http-equiv=\"refresh\" content=\"5\">"));
	CHECK(strstr(out, "<meta charset=\"utf-8\">"));
	/* the green check, the character itself */
	CHECK(strstr(out, "class=\"badge s-ready\">\xe2\x9c\x93 ready"));
	/* nothing from a name or an error reaches the page raw */
	CHECK(!strstr(out, "<b>&'"));
	CHECK(!strstr(out, "<oops>"));
	CHECK(strstr(out,
		     "=HYPERLINK(&quot;x&quot;),&#9226;&lt;b&gt;&amp;&#39;"));
	CHECK(strstr(out, "status 3: &lt;oops&gt; &quot;x&quot;"));
	/* links are relative and percent-encoded */
	CHECK(strstr(out, "href=\"jobs/yolo/graph.svg\""));
	CHECK(strstr(out, "href=\"jobs/yolo/status\""));
	CHECK(strstr(out, "href=\"jobs/yolo/weights/yolo.tar\""));
	CHECK(strstr(out,
		     "href=\"jobs/mod%C3%A8le-%C3%BC%20my%20run/graph.svg\""));
	/* a sweep: its status lines and links to its files */
	CHECK(strstr(out, "<tr data-sweep=\"lr sweep\"><td>running</td>"));
	CHECK(strstr(out, "trial 001 (lr=0.1) loss 0.5 at epoch 3"));
	CHECK(strstr(out, "href=\"sweeps/lr%20sweep/graph.svg\""));
	CHECK(strstr(out, "href=\"jobs/%3DHYPERLINK%28%22x%22%29%2C%0A%3Cb%3E"
			  "%26%27/status\""));
	CHECK(!strstr(out, "http://") && !strstr(out, "https://"));
	CHECK(!strstr(out, "<script"));
	/* newest first */
	const char *a = strstr(out, "modèle-ü my run</a>");
	const char *b = strstr(out, ">yolo</a>");
	CHECK(a && b && a < b);
	/* progress, best with 6 digits, tags, message, counts */
	CHECK(strstr(out, "width:37.0%"));
	CHECK(strstr(out, "37/100"));
	CHECK(strstr(out, "<b>0.593975</b>"));
	CHECK(strstr(out, "<span class=\"tag\">stopped-early</span>"));
	CHECK(strstr(out, "63 unnecessary epochs skipped"));
	CHECK(strstr(out, "ready <b>1</b>"));
	CHECK(strstr(out, "failed <b>1</b>"));
	CHECK(strstr(out, "created <b>1</b>"));
	CHECK(strstr(out, "4242")); /* an owner without a name: the uid */
	CHECK(strstr(out, "finished 5 min ago"));
	/* the sparkline: an inline SVG, broken (and marked) at the nan */
	CHECK(count(out, "<svg class=\"spark\"") == 1);
	CHECK(count(out, "<polyline") == 2);
	CHECK(count(out, "class=\"gap\"") == 1);
	CHECK(strstr(out, "<title>val_loss: 0.25 to 0.9</title>"));
	/* balanced rows and cells */
	CHECK(count(out, "<tr") == count(out, "</tr>"));
	CHECK(strstr(out, "<tr class=\"r-ready\">"));
	CHECK(count(out, "<td") == count(out, "</td>"));
	CHECK(count(out, "<td") == 3 * 9 + 6); /* 3 jobs, 1 sweep */
	free(out);
	dash_snapshot_free(s);
}

static void fill_many(struct dash_snapshot *s, size_t n, int with_spark)
{
	static const char *tags[] = { "ready", "completed", "baseline" };
	for (size_t i = 0; i < n; i++) {
		struct dash_job *d = dash_new_job(s);
		char name[64];
		snprintf(name, sizeof name, "job-%05zu", i);
		d->name = dash_strdup(s, name);
		d->state = (int)(i % ST_COUNT);
		d->uid = (uid_t)(1000 + i % 3);
		d->epoch = (long)(i % 100);
		d->epochs = 100;
		d->monitor = "val_loss";
		d->have_best = 1;
		d->best = 1.0 / (double)(i + 1);
		d->best_epoch = (long)(i % 100);
		d->tags = tags;
		d->ntags = 3;
		d->created_ns = (T0 + (int64_t)i) * NS;
		d->started_ns = (T0 + (int64_t)i + 1) * NS;
		d->message = "training converged at epoch 37 of 100; 63 "
			     "unnecessary epochs skipped";
		if (with_spark) {
			double v[200], *sp = dash_alloc(s, DASH_SPARK_MAX *
								   sizeof *sp);
			for (int k = 0; k < 200; k++)
				v[k] = exp(-k / 30.0) + 0.01 * (double)(i % 7);
			d->nspark =
				dash_spark_sample(v, 200, sp, DASH_SPARK_MAX);
			d->spark = sp;
		}
	}
}

static void test_many_jobs(void)
{
	struct dash_snapshot *s = dash_snapshot_new((T0 + 20000) * NS);
	char *out = NULL;
	size_t len = 0;
	fill_many(s, 1000, 1);
	CHECK(dash_render_html(s, &out, &len) == 0);
	/* the newest DASH_HTML_FULL in full, every job counted */
	CHECK(count(out, "<tr class=") == DASH_HTML_FULL);
	CHECK(strstr(out, ">job-00999</a>") != NULL);
	CHECK(strstr(out, ">job-00699</a>") == NULL);
	CHECK(strstr(out, ">job-00700</a>") != NULL);
	CHECK(strstr(out, "700 older ones"));
	CHECK(strstr(out, "ready <b>125</b>"));
	CHECK(strstr(out, "running <b>125</b>"));
	free(out);
	CHECK(dash_render_csv(s, &out, &len) == 0);
	CHECK(count(out, "\n") == 1001);
	free(out);
	dash_snapshot_free(s);
}

static void test_spark_sample(void)
{
	double v[1000], o[DASH_SPARK_MAX];
	for (int i = 0; i < 1000; i++)
		v[i] = i;
	CHECK(dash_spark_sample(v, 1000, o, DASH_SPARK_MAX) == DASH_SPARK_MAX);
	CHECK(o[0] == 0 && o[DASH_SPARK_MAX - 1] == 999);
	for (int i = 1; i < DASH_SPARK_MAX; i++)
		CHECK(o[i] > o[i - 1]);
	CHECK(dash_spark_sample(v, 3, o, DASH_SPARK_MAX) == 3);
	CHECK(o[2] == 2);
	CHECK(dash_spark_sample(v, 0, o, DASH_SPARK_MAX) == 0);
}

/* Extreme values draw inside the picture, and a flat line is fine. */
static void test_spark_extremes(void)
{
	struct dash_snapshot *s = dash_snapshot_new(T0 * NS);
	static const double huge[] = { -1e308, 1e308, 5e-324, INFINITY };
	static const double flat[] = { 2, 2, 2 };
	struct dash_job *d = dash_new_job(s);
	d->name = "huge";
	d->monitor = "m";
	d->spark = huge;
	d->nspark = 4;
	d = dash_new_job(s);
	d->name = "flat";
	d->monitor = "m";
	d->spark = flat;
	d->nspark = 3;
	char *out = NULL;
	size_t len = 0;
	CHECK(dash_render_html(s, &out, &len) == 0);
	CHECK(!strstr(out, "nan,") && !strstr(out, "inf,"));
	CHECK(!strstr(out, ",nan") && !strstr(out, ",inf") &&
	      !strstr(out, ",-nan"));
	CHECK(strstr(out, "points=\"2.0,14.0 60.0,14.0 118.0,14.0\""));
	free(out);
	dash_snapshot_free(s);
}

static double ms_since(clockid_t clk, const struct timespec *a)
{
	struct timespec b;
	clock_gettime(clk, &b);
	return (double)(b.tv_sec - a->tv_sec) * 1e3 +
	       (double)(b.tv_nsec - a->tv_nsec) / 1e6;
}

/* The renderers alone with 10,000 jobs: printed, goals 50 ms / 100 ms. */
static void bench_10000(void)
{
	struct dash_snapshot *s = dash_snapshot_new((T0 + 20000) * NS);
	char *out = NULL;
	size_t len = 0, csv_len = 0;
	double csv[2] = { 1e9, 1e9 }, html[2] = { 1e9, 1e9 };
	static const clockid_t clk[2] = { CLOCK_MONOTONIC,
					  CLOCK_THREAD_CPUTIME_ID };
	fill_many(s, 10000, 1);
	for (int r = 0; r < 5; r++) {
		struct timespec t[2];
		for (int c = 0; c < 2; c++)
			clock_gettime(clk[c], &t[c]);
		CHECK(dash_render_csv(s, &out, &csv_len) == 0);
		for (int c = 0; c < 2; c++)
			csv[c] = fmin(csv[c], ms_since(clk[c], &t[c]));
		free(out);
		for (int c = 0; c < 2; c++)
			clock_gettime(clk[c], &t[c]);
		CHECK(dash_render_html(s, &out, &len) == 0);
		for (int c = 0; c < 2; c++)
			html[c] = fmin(html[c], ms_since(clk[c], &t[c]));
		free(out);
	}
	printf("dashboard, 10,000 jobs (best of 5, wall / cpu): summary.csv "
	       "%.2f / %.2f ms (%zu bytes, goal 50 ms), index.html %.2f / "
	       "%.2f ms (%zu bytes, goal 100 ms)\n",
	       csv[0], csv[1], csv_len, html[0], html[1], len);
	dash_snapshot_free(s);
}

TEST_MAIN("dashboard", TEST(test_csv), TEST(test_csv_empty), TEST(test_numbers),
	  TEST(test_times), TEST(test_html), TEST(test_many_jobs),
	  TEST(test_spark_sample), TEST(test_spark_extremes), TEST(bench_10000))
