/*
 * Unit tests of the checkpoints folder and its retention (jobs/artifacts/checkpoint.c):
 * the name rule, the scan of a real folder (links, files, ".tmp" folders and
 * checkpoints without their metrics line ignored), keep best and keep last,
 * checkpoints = N over 1,000 epochs, and the prune helper run for real as
 * the user nobody against a planted symbolic link to a root-owned folder.
 *
 * The test binary is its own prune helper: run as "test_checkpoint __prune
 * ...", it is checkpoint_prune_main(), as "trainfs __prune" is.
 */
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "jobs/artifacts/checkpoint.h"
#include "util/tree.h"
#include "tests/unit/test.h"

#define SELF "/proc/self/exe"

static char root[64];

/* A fresh folder for one test (0711, so nobody can pass through). */
static int fresh_dir(const char *name, char *path, size_t len)
{
	snprintf(path, len, "%s/%s", root, name);
	if (mkdir(path, 0711) < 0)
		return -1;
	return open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

static void make_checkpoint(int dirfd, long epoch)
{
	char name[CHECKPOINT_NAME_MAX];
	checkpoint_name(epoch, name);
	CHECK(mkdirat(dirfd, name, 0700) == 0);
	int d = openat(dirfd, name, O_RDONLY | O_DIRECTORY);
	CHECK(d >= 0);
	int f = openat(d, "model.bin", O_WRONLY | O_CREAT, 0600);
	CHECK(f >= 0 && write(f, "w", 1) == 1);
	close(f);
	close(d);
}

static int exists(int dirfd, const char *name)
{
	struct stat st;
	return fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

static void names(void)
{
	char buf[CHECKPOINT_NAME_MAX];
	CHECK(checkpoint_epoch_of("epoch-0") == 0);
	CHECK(checkpoint_epoch_of("epoch-12") == 12);
	CHECK(checkpoint_epoch_of("epoch-1000000000") == 1000000000);
	CHECK(checkpoint_epoch_of("epoch-1000000001") == -1);
	CHECK(checkpoint_epoch_of("epoch-99999999999999999999") == -1);
	CHECK(checkpoint_epoch_of("epoch-") == -1);
	CHECK(checkpoint_epoch_of("epoch-5.tmp") == -1);
	CHECK(checkpoint_epoch_of("epoch-05x") == -1);
	CHECK(checkpoint_epoch_of("epoch-05") == -1);
	CHECK(checkpoint_epoch_of("epoch-00") == -1);
	CHECK(checkpoint_epoch_of("epoch--1") == -1);
	CHECK(checkpoint_epoch_of("epoch-+1") == -1);
	CHECK(checkpoint_epoch_of("epoch- 1") == -1);
	CHECK(checkpoint_epoch_of("epoch-1 ") == -1);
	CHECK(checkpoint_epoch_of("Epoch-1") == -1);
	CHECK(checkpoint_epoch_of("epoch1") == -1);
	CHECK(checkpoint_epoch_of(".epoch-1") == -1);
	CHECK(checkpoint_epoch_of("") == -1);
	/* temporary names, for cleaning up only */
	CHECK(checkpoint_epoch_of_prefix("epoch-5") == 5);
	CHECK(checkpoint_epoch_of_prefix("epoch-5.tmp") == 5);
	CHECK(checkpoint_epoch_of_prefix("epoch-5.old") == 5);
	CHECK(checkpoint_epoch_of_prefix("epoch-5.tmp.1234") == 5);
	CHECK(checkpoint_epoch_of_prefix("epoch-5.") == -1);
	CHECK(checkpoint_epoch_of_prefix("epoch-05.tmp") == -1);
	CHECK(checkpoint_epoch_of_prefix("epoch-.tmp") == -1);
	CHECK(checkpoint_epoch_of_prefix("epoch-5x.tmp") == -1);
	CHECK(checkpoint_epoch_of_prefix("epoch-5.tmp/../../x") == -1);
	CHECK(checkpoint_epoch_of_prefix("epoch-99999999999.tmp") == -1);
	CHECK(checkpoint_epoch_of_prefix("other") == -1);
	CHECK_STR(checkpoint_name(0, buf), "epoch-0");
	CHECK_STR(checkpoint_name(1000000000, buf), "epoch-1000000000");
	CHECK(checkpoint_epoch_of(checkpoint_name(77, buf)) == 77);
}

/* Every kind of entry that must not count, beside real checkpoints. */
static void scan_ignores_what_is_not_a_checkpoint(void)
{
	char dir[128];
	int d = fresh_dir("scan", dir, sizeof dir);
	CHECK(d >= 0);
	for (long e = 1; e <= 5; e++)
		make_checkpoint(d, e);
	CHECK(mkdirat(d, "epoch-6.tmp", 0700) == 0); /* being written */
	CHECK(mkdirat(d, "epoch-", 0700) == 0);
	CHECK(mkdirat(d, "epoch-05x", 0700) == 0);
	CHECK(mkdirat(d, "epoch-03", 0700) == 0);
	int f = openat(d, "epoch-7", O_WRONLY | O_CREAT, 0600); /* a file */
	CHECK(f >= 0);
	close(f);
	CHECK(symlinkat("/", d, "epoch-8") == 0); /* a link to a folder */
	CHECK(symlinkat("epoch-1", d, "epoch-9") == 0);

	long *list = NULL, last = 4;
	size_t n = 0;
	/* epoch 5 has no metrics line yet */
	CHECK(checkpoint_scan(d, checkpoint_upto, &last, &list, &n) == 0);
	CHECK(n == 4);
	for (size_t i = 0; i < n && i < 4; i++)
		CHECK(list[i] == (long)i + 1);
	free(list);
	/* its line arrives */
	last = 5;
	CHECK(checkpoint_scan(d, checkpoint_upto, &last, &list, &n) == 0);
	CHECK(n == 5 && list[4] == 5);
	free(list);
	/* no predicate: every complete name, then filtered apart */
	CHECK(checkpoint_scan(d, NULL, NULL, &list, &n) == 0);
	CHECK(n == 5);
	last = 2;
	CHECK(checkpoint_filter(list, n, checkpoint_upto, &last) == 2);
	free(list);
	/* an empty folder */
	char empty[128];
	int e = fresh_dir("scan-empty", empty, sizeof empty);
	CHECK(checkpoint_scan(e, NULL, NULL, &list, &n) == 0);
	CHECK(n == 0 && list == NULL);
	close(e);
	close(d);
}

static void plan_check(const long *epochs, size_t n, enum checkpoint_keep keep,
		       long best, long newest, long want_weights,
		       const char *want_drop)
{
	struct checkpoint_plan p;
	char got[256] = "";
	size_t used = 0;
	CHECK(checkpoint_plan(epochs, n, keep, best, newest, &p) == 0);
	for (size_t i = 0; i < p.ndrop; i++)
		used += snprintf(got + used, sizeof got - used, "%s%ld",
				 i ? " " : "", p.drop[i]);
	CHECK(p.weights == want_weights);
	CHECK(p.newest == (n ? epochs[n - 1] : -1));
	CHECK_STR(got, want_drop);
	checkpoint_plan_free(&p);
}

static void keep_best_and_keep_last(void)
{
	const long e[] = { 1, 2, 3, 4, 5, 6 };
	/* keep best: the best epoch's checkpoint, the newest one besides */
	plan_check(e, 6, CHECKPOINT_KEEP_BEST, 3, 1, 3, "1 2 4 5");
	plan_check(e, 6, CHECKPOINT_KEEP_BEST, 3, 2, 3, "1 2 4");
	plan_check(e, 6, CHECKPOINT_KEEP_BEST, 6, 1, 6, "1 2 3 4 5");
	/* the best epoch has no checkpoint: the newest one */
	const long odd[] = { 1, 3, 5 };
	plan_check(odd, 3, CHECKPOINT_KEEP_BEST, 4, 1, 5, "1 3");
	/* no best yet (no monitor) */
	plan_check(e, 6, CHECKPOINT_KEEP_BEST, -1, 1, 6, "1 2 3 4 5");
	/* keep last: the newest; the best one is still kept */
	plan_check(e, 6, CHECKPOINT_KEEP_LAST, 3, 1, 6, "1 2 4 5");
	plan_check(e, 6, CHECKPOINT_KEEP_LAST, -1, 2, 6, "1 2 3 4");
	/* checkpoints = 0: only the best (and the weights' one) */
	plan_check(e, 6, CHECKPOINT_KEEP_BEST, 3, 0, 3, "1 2 4 5 6");
	plan_check(e, 6, CHECKPOINT_KEEP_LAST, 3, 0, 6, "1 2 4 5");
	plan_check(e, 6, CHECKPOINT_KEEP_LAST, -1, 0, 6, "1 2 3 4 5");
	/* checkpoints = all, or more than there are */
	plan_check(e, 6, CHECKPOINT_KEEP_BEST, 3, CHECKPOINT_KEEP_ALL, 3, "");
	plan_check(e, 6, CHECKPOINT_KEEP_BEST, 3, 100, 3, "");
	/* nothing yet */
	plan_check(NULL, 0, CHECKPOINT_KEEP_BEST, 3, 1, -1, "");
	/* one */
	plan_check(e, 1, CHECKPOINT_KEEP_BEST, 1, 0, 1, "");
}

/* Counts the entries of DIRFD whose name is a checkpoint's. */
static size_t count_checkpoints(int dirfd)
{
	long *list;
	size_t n;
	if (checkpoint_scan(dirfd, NULL, NULL, &list, &n))
		return (size_t)-1;
	free(list);
	return n;
}

/*
 * A trainer that checkpoints every epoch for 1,000 epochs, with the best
 * moving now and then; after each epoch the supervisor scans, plans and
 * prunes.  At no time are more than N + 1 complete checkpoints on disk, a
 * ".tmp" folder and a checkpoint ahead of its metrics line are never
 * touched, and the end holds exactly the best and the newest N.
 */
static void bounded_over_1000_epochs(void)
{
	static const long ns[] = { 0, 1, 3 };
	for (size_t k = 0; k < sizeof ns / sizeof ns[0]; k++) {
		char dir[128], name[32];
		long keep_n = ns[k], best = -1, max_seen = 0;
		snprintf(name, sizeof name, "bounded-%ld", keep_n);
		int d = fresh_dir(name, dir, sizeof dir);
		CHECK(d >= 0);
		CHECK(mkdirat(d, "epoch-1001.tmp", 0700) == 0);
		make_checkpoint(d, 1002); /* its metrics line never comes */
		srand(42 + (unsigned)keep_n);
		for (long e = 1; e <= 1000; e++) {
			make_checkpoint(d, e);
			if (best < 0 || rand() % 20 == 0)
				best = e;
			long *list;
			size_t n;
			struct checkpoint_plan p;
			CHECK(checkpoint_scan(d, checkpoint_upto, &e, &list,
					      &n) == 0);
			CHECK(checkpoint_plan(list, n, CHECKPOINT_KEEP_BEST,
					      best, keep_n, &p) == 0);
			CHECK(p.weights == best);
			for (size_t i = 0; i < p.ndrop; i++)
				CHECK(tree_remove(d, checkpoint_name(p.drop[i],
								     name)) ==
				      0);
			checkpoint_plan_free(&p);
			free(list);
			size_t now = count_checkpoints(d) - 1; /* 1002 */
			if ((long)now > max_seen)
				max_seen = (long)now;
		}
		CHECK(max_seen <= keep_n + 1);
		CHECK(exists(d, "epoch-1001.tmp"));
		CHECK(exists(d, "epoch-1002"));
		CHECK(exists(d, checkpoint_name(best, name)));
		for (long e = 1000; e > 1000 - keep_n; e--)
			CHECK(exists(d, checkpoint_name(e, name)));
		CHECK((long)count_checkpoints(d) ==
		      1 + keep_n + (best <= 1000 - keep_n));
		close(d);
	}
}

/*
 * Before a resume from epoch 3: everything named for a later epoch goes,
 * whole or not, links too (as links); the rest stays.
 */
static void stale_after_resume_point(void)
{
	char dir[128], victim[128], err[256];
	int d = fresh_dir("stale", dir, sizeof dir);
	int v = fresh_dir("stale-victim", victim, sizeof victim);
	int f = openat(v, "precious", O_WRONLY | O_CREAT, 0600);
	CHECK(f >= 0);
	close(f);
	for (long e = 1; e <= 5; e++)
		make_checkpoint(d, e);
	CHECK(mkdirat(d, "epoch-6.tmp", 0700) == 0);
	CHECK(mkdirat(d, "epoch-2.tmp", 0700) == 0);
	CHECK(symlinkat(victim, d, "epoch-7") == 0);
	CHECK(symlinkat(victim, d, "epoch-8.old") == 0);
	CHECK(mkdirat(d, "unrelated", 0700) == 0);
	char **names;
	size_t n;
	CHECK(checkpoint_scan_after(d, 3, &names, &n) == 0);
	CHECK(n == 5);
	CHECK(checkpoint_prune_names(SELF, dir, getuid(), getgid(), names, n,
				     err, sizeof err) == 0);
	CHECK_STR(err, "");
	checkpoint_names_free(names, n);
	CHECK(exists(d, "epoch-1") && exists(d, "epoch-3") &&
	      exists(d, "epoch-2.tmp") && exists(d, "unrelated"));
	CHECK(!exists(d, "epoch-4") && !exists(d, "epoch-5") &&
	      !exists(d, "epoch-6.tmp") && !exists(d, "epoch-7") &&
	      !exists(d, "epoch-8.old"));
	CHECK(exists(v, "precious"));
	CHECK(checkpoint_scan_after(d, 3, &names, &n) == 0);
	CHECK(n == 0);
	checkpoint_names_free(names, n);
	/* names the helper refuses */
	char *bad[] = { "unrelated", "epoch-1/../../x", "..", "epoch-1." };
	CHECK(checkpoint_prune_names(SELF, dir, getuid(), getgid(), bad, 4, err,
				     sizeof err) < 0);
	CHECK(strstr(err, "is not a checkpoint name") != NULL);
	CHECK(exists(d, "unrelated") && exists(d, "epoch-1"));
	close(v);
	close(d);
}

/* The helper deletes what it is told, as the caller's own user. */
static void prune_helper_deletes(void)
{
	char dir[128], err[256];
	int d = fresh_dir("prune-own", dir, sizeof dir);
	for (long e = 1; e <= 4; e++)
		make_checkpoint(d, e);
	/* a deep tree with a link inside */
	CHECK(mkdirat(d, "epoch-2/a", 0700) == 0);
	CHECK(mkdirat(d, "epoch-2/a/b", 0700) == 0);
	CHECK(symlinkat("/etc", d, "epoch-2/a/b/etc") == 0);
	const long drop[] = { 1, 2, 3 };
	CHECK(checkpoint_prune(SELF, dir, getuid(), getgid(), drop, 3, err,
			       sizeof err) == 0);
	CHECK_STR(err, "");
	CHECK(!exists(d, "epoch-1") && !exists(d, "epoch-2") &&
	      !exists(d, "epoch-3"));
	CHECK(exists(d, "epoch-4"));
	CHECK(access("/etc/passwd", F_OK) == 0);
	/* already gone is no error */
	CHECK(checkpoint_prune(SELF, dir, getuid(), getgid(), drop, 1, err,
			       sizeof err) == 0);
	/* a relative folder is refused before anything runs */
	CHECK(checkpoint_prune(SELF, "rel", getuid(), getgid(), drop, 1, err,
			       sizeof err) == -EINVAL);
	/* a name that is not a checkpoint's is refused by the helper */
	char *argv[] = { "trainfs", "__prune", dir, "0", "0", "../x", NULL };
	char uid[16], gid[16];
	snprintf(uid, sizeof uid, "%u", (unsigned)getuid());
	snprintf(gid, sizeof gid, "%u", (unsigned)getgid());
	argv[3] = uid;
	argv[4] = gid;
	pid_t pid = fork();
	if (pid == 0) {
		int fd = open("/dev/null", O_WRONLY);
		dup2(fd, 2);
		_exit(checkpoint_prune_main(6, argv));
	}
	int status;
	CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
	      WEXITSTATUS(status) == 1);
	close(d);
}

/*
 * Run as nobody: a checkpoints folder of nobody's holding a link to a
 * root-owned folder named like a checkpoint, a real checkpoint with a link
 * to that folder inside, and a root-owned folder named like a checkpoint.
 * Nothing of root's may be deleted, and the links are not followed.
 */
static void prune_as_nobody_never_follows_links(void)
{
	struct passwd *pw = getpwnam("nobody");
	if (geteuid() != 0 || !pw) {
		printf("prune_as_nobody: skipped (needs root and nobody)\n");
		return;
	}
	char dir[128], target[128], err[256], path[256];
	int t = fresh_dir("root-owned", target, sizeof target);
	CHECK(t >= 0);
	int f = openat(t, "precious", O_WRONLY | O_CREAT, 0644);
	CHECK(f >= 0 && write(f, "x", 1) == 1);
	close(f);
	CHECK(mkdirat(t, "sub", 0755) == 0);

	int d = fresh_dir("prune-nobody", dir, sizeof dir);
	CHECK(d >= 0);
	CHECK(fchown(d, pw->pw_uid, pw->pw_gid) == 0);
	CHECK(fchmod(d, 0700) == 0);
	make_checkpoint(d, 1);
	CHECK(symlinkat(target, d, "epoch-1/escape") == 0);
	snprintf(path, sizeof path, "%s/epoch-1", dir);
	CHECK(chown(path, pw->pw_uid, pw->pw_gid) == 0);
	snprintf(path, sizeof path, "%s/epoch-1/model.bin", dir);
	CHECK(chown(path, pw->pw_uid, pw->pw_gid) == 0);
	CHECK(symlinkat(target, d, "epoch-2") == 0); /* planted */
	make_checkpoint(d, 3); /* root's, inside nobody's folder */

	/* the scan never counts the link */
	long *list;
	size_t n;
	CHECK(checkpoint_scan(d, NULL, NULL, &list, &n) == 0);
	CHECK(n == 2 && list[0] == 1 && list[1] == 3);
	free(list);

	const long drop[] = { 1, 2 };
	CHECK(checkpoint_prune(SELF, dir, pw->pw_uid, pw->pw_gid, drop, 2, err,
			       sizeof err) == 0);
	CHECK_STR(err, "");
	CHECK(!exists(d, "epoch-1"));
	CHECK(!exists(d, "epoch-2")); /* the link itself, not its target */
	CHECK(exists(t, "precious") && exists(t, "sub"));

	/* root's checkpoint: nobody may not empty it; it says why */
	const long three[] = { 3 };
	CHECK(checkpoint_prune(SELF, dir, pw->pw_uid, pw->pw_gid, three, 1, err,
			       sizeof err) == -EIO);
	CHECK(strstr(err, "cannot delete 'epoch-3'") != NULL);
	CHECK(strstr(err, "Permission denied") != NULL);
	CHECK(exists(d, "epoch-3/model.bin"));

	/* a checkpoints folder that is itself a link is not opened */
	snprintf(path, sizeof path, "%s/linked", root);
	CHECK(symlink(target, path) == 0);
	CHECK(checkpoint_prune(SELF, path, pw->pw_uid, pw->pw_gid, three, 1,
			       err, sizeof err) == -EIO);
	CHECK(strstr(err, "cannot open") != NULL);
	CHECK(exists(t, "precious"));
	close(d);
	close(t);
}

int main(int argc, char **argv)
{
	static const struct test_case cases[] = {
		TEST(names),
		TEST(scan_ignores_what_is_not_a_checkpoint),
		TEST(keep_best_and_keep_last),
		TEST(bounded_over_1000_epochs),
		TEST(stale_after_resume_point),
		TEST(prune_helper_deletes),
		TEST(prune_as_nobody_never_follows_links),
	};
	if (argc >= 2 && !strcmp(argv[1], "__prune"))
		return checkpoint_prune_main(argc, argv);
	/* tmpfs where there is one: a thousand epochs of mkdir and rmdir */
	const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
	snprintf(root, sizeof root, "%s/trainfs-ckpt-XXXXXX", base);
	if (!mkdtemp(root) || chmod(root, 0711) < 0) {
		perror("mkdtemp");
		return 1;
	}
	int rc = test_run_all("checkpoint", cases,
			      sizeof cases / sizeof cases[0]);
	int fd = open(base, O_RDONLY | O_DIRECTORY);
	if (tree_remove(fd, root + strlen(base) + 1) != 0)
		fprintf(stderr, "cannot remove %s\n", root);
	close(fd);
	return rc;
}
