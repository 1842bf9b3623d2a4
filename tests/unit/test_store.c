/*
 * Tests for the store's folder walker: tree_remove() removes a tree
 * 1,100 levels deep with only 64 descriptors, never follows a symbolic
 * link out of the tree, and reports what it cannot remove.  And the
 * checkpoint columns of schema 4 (checkpoint, weights_from, resumed_from),
 * tag removal and the dropping of metrics rows that a resume does; a
 * job's Slurm id is kept, and a version 2 store gains it.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "store/store.h"
#include "util/tree.h"
#include "test.h"

static char root[64];
static int rootfd = -1;

static void setup(void)
{
	snprintf(root, sizeof root, "/tmp/trainfs-unit-store-XXXXXX");
	CHECK(mkdtemp(root) != NULL);
	rootfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	CHECK(rootfd >= 0);
}

static int put(int dfd, const char *name)
{
	int fd = openat(dfd, name, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		return -1;
	return close(fd);
}

/* Makes NAME in ROOTFD a chain of DEPTH folders "d" with files beside. */
static int make_deep(const char *name, int depth)
{
	int fd, sub;
	if (mkdirat(rootfd, name, 0755) < 0 ||
	    (fd = openat(rootfd, name, O_RDONLY | O_DIRECTORY)) < 0)
		return -1;
	for (int i = 0; i < depth; i++) {
		if (put(fd, "f") < 0 || mkdirat(fd, "d", 0755) < 0 ||
		    (sub = openat(fd, "d", O_RDONLY | O_DIRECTORY)) < 0) {
			close(fd);
			return -1;
		}
		close(fd);
		fd = sub;
	}
	close(fd);
	return 0;
}

static void test_deep_tree_few_descriptors(void)
{
	struct rlimit old, low = { 64, 64 };
	setup();
	CHECK(make_deep("deep", 1100) == 0);
	CHECK(getrlimit(RLIMIT_NOFILE, &old) == 0);
	low.rlim_max = old.rlim_max;
	CHECK(setrlimit(RLIMIT_NOFILE, &low) == 0);
	int rc = tree_remove(rootfd, "deep");
	CHECK(setrlimit(RLIMIT_NOFILE, &old) == 0);
	CHECK(rc == 0);
	if (rc)
		fprintf(stderr, "tree_remove: %s\n", strerror(-rc));
	CHECK(faccessat(rootfd, "deep", F_OK, AT_SYMLINK_NOFOLLOW) < 0 &&
	      errno == ENOENT);
}

static void test_links_not_followed(void)
{
	int fd;
	CHECK(mkdirat(rootfd, "outside", 0755) == 0);
	fd = openat(rootfd, "outside", O_RDONLY | O_DIRECTORY);
	CHECK(fd >= 0 && put(fd, "keep") == 0);
	close(fd);
	CHECK(mkdirat(rootfd, "t", 0755) == 0);
	fd = openat(rootfd, "t", O_RDONLY | O_DIRECTORY);
	CHECK(fd >= 0);
	char target[128];
	snprintf(target, sizeof target, "%s/outside", root);
	CHECK(symlinkat(target, fd, "link") == 0);
	CHECK(mkdirat(fd, "wide", 0755) == 0);
	int w = openat(fd, "wide", O_RDONLY | O_DIRECTORY);
	for (int i = 0; i < 500; i++) {
		char n[16];
		snprintf(n, sizeof n, "%d", i);
		if (i % 5)
			CHECK(put(w, n) == 0);
		else
			CHECK(mkdirat(w, n, 0700) == 0);
	}
	close(w);
	close(fd);
	CHECK(tree_remove(rootfd, "t") == 0);
	CHECK(faccessat(rootfd, "t", F_OK, AT_SYMLINK_NOFOLLOW) < 0);
	CHECK(faccessat(rootfd, "outside/keep", F_OK, 0) == 0);
	/* A link as the top: removed, not followed. */
	CHECK(symlinkat(target, rootfd, "toplink") == 0);
	CHECK(tree_remove(rootfd, "toplink") == 0);
	CHECK(faccessat(rootfd, "outside/keep", F_OK, 0) == 0);
	CHECK(tree_remove(rootfd, "nothing-here") == 0);
}

static void test_failure_is_reported(void)
{
	if (geteuid() == 0)
		return; /* root removes from read-only folders too */
	int fd;
	CHECK(mkdirat(rootfd, "ro", 0755) == 0);
	CHECK(mkdirat(rootfd, "ro/sub", 0755) == 0);
	fd = openat(rootfd, "ro/sub", O_RDONLY | O_DIRECTORY);
	CHECK(put(fd, "x") == 0);
	close(fd);
	CHECK(fchmodat(rootfd, "ro/sub", 0555, 0) == 0);
	CHECK(tree_remove(rootfd, "ro") == -EACCES);
	CHECK(fchmodat(rootfd, "ro/sub", 0755, 0) == 0);
	CHECK(tree_remove(rootfd, "ro") == 0);
}

struct seen {
	struct job_record rec;
	int tags, has_failed, rows;
	char last[64];
};

static int seen_job(void *arg, struct job_record *rec)
{
	((struct seen *)arg)->rec = *rec;
	store_record_free(rec);
	return 0;
}

static int seen_tag(void *arg, int64_t id, const char *tag, int system)
{
	struct seen *s = arg;
	(void)id;
	(void)system;
	s->tags++;
	s->has_failed |= !strcmp(tag, "failed");
	return 0;
}

static int seen_metric(void *arg, int64_t id, const char *line)
{
	struct seen *s = arg;
	(void)id;
	s->rows++;
	snprintf(s->last, sizeof s->last, "%s", line);
	return 0;
}

static void test_checkpoint_columns_and_resume(void)
{
	char dir[PATH_MAX];
	struct store *st = NULL;
	struct job_record r = { 0 };
	struct seen seen = { 0 };
	snprintf(dir, sizeof dir, "%s/db", root);
	CHECK(store_open(dir, &st) == 0);
	if (!st)
		return;
	snprintf(r.name, sizeof r.name, "j");
	r.uid = getuid();
	r.gid = getgid();
	CHECK(store_create_job(st, &r) == 0);
	r.last_epoch = 4;
	r.best_epoch = -1;
	r.checkpoint = 3;
	r.weights_from = 2;
	r.resumed_from = 1;
	CHECK(store_put_job(st, &r) == 0);
	CHECK(store_put_tag(st, r.id, "failed", 1) == 0);
	CHECK(store_put_tag(st, r.id, "mine", 0) == 0);
	for (int e = 1; e <= 4; e++) {
		char line[32];
		snprintf(line, sizeof line, "epoch=%d loss=1", e);
		CHECK(store_put_metric(st, r.id, e - 1, line) == 0);
	}
	CHECK(store_remove_tag(st, r.id, "failed") == 0);
	CHECK(store_remove_tag(st, r.id, "never") == 0);
	CHECK(store_delete_metrics_from(st, r.id, 3) == 0);
	store_close(st);
	st = NULL;
	CHECK(store_open(dir, &st) == 0);
	if (!st)
		return;
	CHECK(store_load_jobs(st, seen_job, &seen) == 0);
	CHECK(seen.rec.checkpoint == 3 && seen.rec.weights_from == 2 &&
	      seen.rec.resumed_from == 1);
	CHECK(store_load_tags(st, seen_tag, &seen) == 0);
	CHECK(seen.tags == 1 && !seen.has_failed);
	CHECK(store_load_job_metrics(st, seen.rec.id, seen_metric, &seen) == 0);
	CHECK(seen.rows == 3 && !strcmp(seen.last, "epoch=3 loss=1"));
	store_close(st);
	char cmd[PATH_MAX + 16];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	CHECK(system(cmd) == 0);
}

static int keep_id(void *arg, struct job_record *r)
{
	*(int64_t *)arg = r->slurm_id;
	store_record_free(r);
	return 0;
}

static void test_slurm_id_kept_and_migrated(void)
{
	char dir[128], db[160];
	struct store *st = NULL;
	struct job_record r = { 0 };
	int64_t got = -1;
	sqlite3 *h;
	snprintf(dir, sizeof dir, "%s/st", root);
	CHECK(store_open(dir, &st) == 0);
	snprintf(r.name, sizeof r.name, "j");
	r.uid = getuid();
	r.gid = getgid();
	CHECK(store_create_job(st, &r) == 0);
	r.slurm_id = 41;
	r.nrows = 0;
	r.last_epoch = r.best_epoch = -1;
	CHECK(store_put_job(st, &r) == 0);
	store_close(st);
	CHECK(store_open(dir, &st) == 0);
	CHECK(store_load_jobs(st, keep_id, &got) == 0);
	CHECK(got == 41);
	store_close(st);
	/* Back to version 2: the column is gone; opening brings it back. */
	snprintf(db, sizeof db, "%s/trainfs.db", dir);
	CHECK(sqlite3_open(db, &h) == SQLITE_OK);
	CHECK(sqlite3_exec(h,
			   "ALTER TABLE jobs DROP COLUMN metrics_lines;"
			   "ALTER TABLE jobs DROP COLUMN metrics_ino;"
			   "ALTER TABLE jobs DROP COLUMN bad_line;"
			   "ALTER TABLE jobs DROP COLUMN bad_why;"
			   "ALTER TABLE jobs DROP COLUMN checkpoint;"
			   "ALTER TABLE jobs DROP COLUMN weights_from;"
			   "ALTER TABLE jobs DROP COLUMN resumed_from;"
			   "ALTER TABLE jobs DROP COLUMN slurm_id;"
			   "ALTER TABLE jobs DROP COLUMN mode;"
			   "ALTER TABLE jobs DROP COLUMN gpus;"
			   "ALTER TABLE jobs DROP COLUMN source_pos;"
			   "DROP TABLE sweep_rungs;"
			   "DROP TABLE sweep_trials;"
			   "DROP TABLE sweeps;"
			   "PRAGMA user_version = 2",
			   NULL, NULL, NULL) == SQLITE_OK);
	sqlite3_close(h);
	CHECK(store_open(dir, &st) == 0);
	got = -1;
	CHECK(store_load_jobs(st, keep_id, &got) == 0);
	CHECK(got == 0);
	store_close(st);
	CHECK(tree_remove(rootfd, "st") == 0);
}

static int keep_gpus(void *arg, struct job_record *r)
{
	snprintf(arg, 16, "%s", r->gpus ? r->gpus : "(none)");
	store_record_free(r);
	return 0;
}

/* The GPUs a trainer holds outlive the process that handed them out. */
static void test_gpus_kept(void)
{
	char dir[PATH_MAX], got[16];
	struct store *st;
	struct job_record r = { 0 };
	snprintf(dir, sizeof dir, "%s/gp", root);
	CHECK(store_open(dir, &st) == 0);
	snprintf(r.name, sizeof r.name, "g");
	r.uid = getuid();
	r.gid = getgid();
	CHECK(store_create_job(st, &r) == 0);
	r.gpus = "1,3";
	CHECK(store_put_job(st, &r) == 0);
	store_close(st);
	CHECK(store_open(dir, &st) == 0);
	CHECK(store_load_jobs(st, keep_gpus, got) == 0);
	CHECK_STR(got, "1,3");
	r.gpus = NULL;
	CHECK(store_put_job(st, &r) == 0);
	CHECK(store_load_jobs(st, keep_gpus, got) == 0);
	CHECK_STR(got, "(none)");
	store_close(st);
	CHECK(tree_remove(rootfd, "gp") == 0);
}

static void test_cleanup(void)
{
	CHECK(tree_remove(rootfd, "outside") == 0);
	close(rootfd);
	CHECK(rmdir(root) == 0);
}

TEST_MAIN("store", TEST(test_deep_tree_few_descriptors),
	  TEST(test_links_not_followed), TEST(test_failure_is_reported),
	  TEST(test_checkpoint_columns_and_resume),
	  TEST(test_slurm_id_kept_and_migrated), TEST(test_gpus_kept),
	  TEST(test_cleanup))
