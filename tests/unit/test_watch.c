/*
 * Unit tests of jobs/run/watch.c and jobs/model/cause.c: the policy over rows as
 * they stand (a row filled in, the last row replaced, an older row
 * changed), the epoch index, rewrite detection of a real file (truncated,
 * renamed over, rewritten in place), the shim's follower, and the words of
 * a failed trainer's error.
 */
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "jobs/model/cause.h"
#include "jobs/run/watch.h"
#include "tests/unit/test.h"

struct series {
	long epochs[64];
	double v[64];
	int has[64];
	size_t n;
};

static int series_row(void *arg, size_t row, long *epoch, double *value)
{
	struct series *s = arg;
	*epoch = s->epochs[row];
	*value = s->v[row];
	return s->has[row];
}

/* Sets (or adds) the value of EPOCH; returns the policy's answer. */
static int put(struct series *s, struct watch_policy *p, long epoch, double v)
{
	size_t r = 0;
	while (r < s->n && s->epochs[r] != epoch)
		r++;
	int appended = r == s->n;
	if (appended)
		s->epochs[s->n++] = epoch;
	s->v[r] = v;
	s->has[r] = 1;
	return watch_policy_update(p, s->n, r, appended, series_row, s);
}

static void test_policy_rows_as_they_stand(void)
{
	struct series s = { 0 };
	struct watch_policy p;
	watch_policy_init(&p, 0, 0, 2);
	CHECK(put(&s, &p, 1, 0.5) == 0);
	CHECK(put(&s, &p, 2, 0.9) == 0);
	CHECK(p.now.best_epoch == 2);
	/* The last row replaced: observed again from before it. */
	CHECK(put(&s, &p, 2, 0.4) == 0);
	CHECK(p.now.best == 0.5 && p.now.best_epoch == 1 && p.now.waited == 1);
	CHECK(put(&s, &p, 3, 0.45) == 1); /* two epochs without improvement */
	/* An older row changed: recomputed from every row. */
	CHECK(put(&s, &p, 1, 0.1) == 0);
	CHECK(p.now.best == 0.45 && p.now.best_epoch == 3 && p.now.waited == 0);
	/* A row without the monitor is not observed. */
	s.epochs[s.n] = 4;
	s.has[s.n++] = 0;
	CHECK(watch_policy_update(&p, s.n, s.n - 1, 1, series_row, &s) == 0);
	CHECK(p.now.waited == 0);
	CHECK(put(&s, &p, 4, 0.2) == 0 && p.now.waited == 1);
}

static void test_policy_base(void)
{
	/* A series that starts with what was observed before (the shim). */
	struct series s = { 0 };
	struct watch_policy p;
	watch_policy_init(&p, 1, 0, 3);
	p.base.have_best = 1;
	p.base.best = 1.0;
	p.base.best_epoch = 4;
	p.base.waited = 2;
	p.now = p.base;
	CHECK(put(&s, &p, 5, 1.0) == 1); /* a tie never improves */
	CHECK(put(&s, &p, 5, 0.5) == 0 && p.now.best_epoch == 5);
}

static void test_index(void)
{
	static long epochs[5000];
	struct watch_index x = { 0 };
	CHECK(watch_index_find(&x, epochs, 3) == -1);
	for (size_t r = 0; r < 5000; r++) {
		epochs[r] = (long)(r * 7 % 5003);
		CHECK(watch_index_add(&x, epochs, r + 1, r) == 0);
	}
	int ok = 1;
	for (size_t r = 0; r < 5000; r++)
		ok &= watch_index_find(&x, epochs, epochs[r]) == (long)r;
	CHECK(ok);
	CHECK(watch_index_find(&x, epochs, 5003) == -1);
	CHECK(watch_index_rebuild(&x, epochs, 10) == 0);
	CHECK(watch_index_find(&x, epochs, epochs[9]) == 9);
	CHECK(watch_index_find(&x, epochs, epochs[10]) == -1);
	watch_index_free(&x);
}

static char dir[] = "/tmp/trainfs-watch-XXXXXX";

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	fputs(text, f);
	fclose(f);
}

static void test_rewritten(void)
{
	char path[256], tmp[256];
	struct watch_tail t = { .n = 0 };
	int fd = -1;
	snprintf(path, sizeof path, "%s/m", dir);
	snprintf(tmp, sizeof tmp, "%s/m.tmp", dir);
	write_file(path, "epoch=1 a=1\n");
	CHECK(watch_tail_rewritten(&fd, path, 0, &t) == 1 && fd >= 0);
	watch_tail_note(&t, "epoch=1 a=1\n", 12);
	CHECK(watch_tail_rewritten(&fd, path, 12, &t) == 0);
	/* Appended to: not rewritten. */
	FILE *f = fopen(path, "a");
	fputs("epoch=2 a=2\n", f);
	fclose(f);
	CHECK(watch_tail_rewritten(&fd, path, 12, &t) == 0);
	/* Rewritten in place, longer and different before the offset. */
	write_file(path, "epoch=1 a=9\nepoch=2 a=2\nepoch=3 a=3\n");
	CHECK(watch_tail_rewritten(&fd, path, 12, &t) == 1);
	/* Truncated. */
	write_file(path, "e");
	CHECK(watch_tail_rewritten(&fd, path, 12, &t) == 1);
	/* Renamed over. */
	int old = fd;
	write_file(tmp, "epoch=1 a=1\n");
	CHECK(rename(tmp, path) == 0);
	t.n = 0;
	CHECK(watch_tail_rewritten(&fd, path, 1, &t) == 1 && fd >= 0);
	(void)old;
	close(fd);
}

static void test_follow(void)
{
	char path[256];
	struct watch_follow w;
	struct watch_policy p;
	snprintf(path, sizeof path, "%s/f", dir);
	write_file(path, "epoch=1 loss=1\nepoch=1 val=0.5\nepoch=2 val=0.7\n"
			 "epoch=2 val=0.4\nbad\nepoch=3 val=0.45\n");
	watch_policy_init(&p, 0, 0, 2);
	CHECK(watch_follow_init(&w, path, "val", &p) == 0);
	CHECK(watch_follow_step(&w, 1 << 20) == 1);
	CHECK(w.stop_epoch == 3 && w.n == 3);
	watch_follow_free(&w);
	/* Rewritten whole each epoch: the same rows, no stop yet. */
	write_file(path, "{\"epoch\": 1, \"val\": 0.5, \"phase\": \"x\"}\n");
	watch_policy_init(&p, 0, 0, 2);
	CHECK(watch_follow_init(&w, path, "val", &p) == 0);
	CHECK(watch_follow_step(&w, 1 << 20) == 0);
	write_file(
		path,
		"{\"epoch\": 1, \"val\": 0.5}\n{\"epoch\": 2, \"val\": 0.4}\n");
	CHECK(watch_follow_step(&w, 1 << 20) == 0);
	CHECK(w.n == 2 && w.policy.now.waited == 1);
	watch_follow_free(&w);
}

static void test_cause(void)
{
	char path[256], buf[1024];
	snprintf(path, sizeof path, "%s/log", dir);
	write_file(path,
		   "starting\nsh: 1: /no/such/trainer: not found\n\n  \n");
	CHECK_STR(cause_describe(buf, sizeof buf, 127, 0, path),
		  "trainer exited with status 127 (command not found): "
		  "sh: 1: /no/such/trainer: not found");
	CHECK_STR(cause_describe(buf, sizeof buf, 126, 0, NULL),
		  "trainer exited with status 126 (command cannot be run)");
	write_file(path, "");
	CHECK_STR(cause_describe(buf, sizeof buf, 0, 9, path),
		  "killed by signal 9");
	write_file(path, "x\r\n\x1b[31mred\n");
	CHECK_STR(cause_describe(buf, sizeof buf, 3, 0, path),
		  "trainer exited with status 3: \\x1b[31mred");
	/* A huge log: its last 4 KiB only, one long line cut to them. */
	FILE *f = fopen(path, "w");
	for (int i = 0; i < 100000; i++)
		fputc('a', f);
	fclose(f);
	cause_log_last_line(buf, sizeof buf, path);
	CHECK(strlen(buf) == sizeof buf - 1);
}

int main(void)
{
	if (!mkdtemp(dir))
		return 1;
	static const struct test_case t[] = {
		TEST(test_policy_rows_as_they_stand),
		TEST(test_policy_base),
		TEST(test_index),
		TEST(test_rewritten),
		TEST(test_follow),
		TEST(test_cause),
	};
	int rc = test_run_all("watch", t, sizeof t / sizeof *t);
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	if (system(cmd))
		rc = 1;
	return rc;
}
