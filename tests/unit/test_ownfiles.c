/*
 * Unit tests of the trainer's own files (jobs/artifacts/ownfiles.c): the {epoch}
 * matcher against real trainers' names (Lightning, Hugging Face,
 * Ultralytics, Keras), the spec's checks of `weights` and
 * `checkpoints_from`, the checkpoint scan of a real folder (links to files
 * and folders never counted nor entered, files and folders both taken),
 * and the `weights` matcher: wildcards, the newest of one name, a link out
 * of the workdir refused, nothing matched.  The scan helper runs for real:
 * this binary is "__ckscan" when asked, as trainfs is.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "jobs/artifacts/ownfiles.h"
#include "jobs/model/ownpaths.h"
#include "util/tree.h"
#include "tests/unit/test.h"

static char root[64];

static void put(int dfd, const char *path, const char *text)
{
	int fd = openat(dfd, path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	CHECK(fd >= 0);
	if (fd >= 0) {
		CHECK(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
		close(fd);
	}
}

static long ep(const char *pat, const char *name)
{
	long e;
	return ownfiles_match(pat, name, &e) ? e : -2;
}

static void matcher(void)
{
	CHECK(ep("epoch={epoch}-step=*.ckpt", "epoch=3-step=39.ckpt") == 3);
	CHECK(ep("epoch={epoch}-step=*.ckpt", "epoch=12-step=130-v1.ckpt") ==
	      12);
	CHECK(ep("epoch={epoch}-step=*.ckpt", "last.ckpt") == -2);
	CHECK(ep("epoch={epoch}-step=*.ckpt", "epoch=-step=3.ckpt") == -2);
	CHECK(ep("checkpoint-{epoch}", "checkpoint-500") == 500);
	CHECK(ep("checkpoint-{epoch}", "checkpoint-500.tmp") == -2);
	CHECK(ep("epoch{epoch}.pt", "epoch7.pt") == 7);
	CHECK(ep("weights.{epoch}.h5", "weights.05.h5") == 5);
	CHECK(ep("*{epoch}.pt", "model12.pt") == 12);
	CHECK(ep("epoch{epoch}.pt", "epoch99999999999.pt") == -2); /* > 1e9 */
	CHECK(ep("*", ".hidden") == -2); /* a leading dot is written */
	CHECK(ep("*", "version_0") == -1);
	CHECK(ep("*", "bad\nname") == -2);
}

static void spec_checks(void)
{
	CHECK(!ownpaths_weights_problem("runs/*/weights/best.pt"));
	CHECK(!ownpaths_weights_problem(" best.pt\tlast.pt "));
	CHECK_STR(ownpaths_weights_problem("/x/best.pt"),
		  "not relative to the workdir");
	CHECK_STR(ownpaths_weights_problem("a/../b"), "must not contain '..'");
	CHECK_STR(ownpaths_weights_problem("  "), "must not be empty");
	CHECK(!ownpaths_pattern_problem(
		"lightning_logs/*/checkpoints/epoch={epoch}-step=*.ckpt"));
	CHECK_STR(ownpaths_pattern_problem("ck/last.pt"),
		  "must contain {epoch} once");
	CHECK_STR(ownpaths_pattern_problem("{epoch}/{epoch}"),
		  "must contain {epoch} once");
	CHECK_STR(ownpaths_pattern_problem("../ck/{epoch}"),
		  "must not contain '..'");
	CHECK_STR(ownpaths_pattern_problem("a b/{epoch}"),
		  "must not contain white space");
}

/* A workdir with Lightning's layout, a link to a file and to a folder. */
static int lightning_dir(void)
{
	char path[128];
	snprintf(path, sizeof path, "%s/work", root);
	CHECK(mkdir(path, 0755) == 0);
	int wd = open(path, O_RDONLY | O_DIRECTORY);
	CHECK(mkdirat(wd, "lightning_logs", 0755) == 0);
	CHECK(mkdirat(wd, "lightning_logs/version_0", 0755) == 0);
	CHECK(mkdirat(wd, "lightning_logs/version_0/checkpoints", 0755) == 0);
	put(wd, "lightning_logs/version_0/checkpoints/epoch=0-step=9.ckpt",
	    "0");
	put(wd, "lightning_logs/version_0/checkpoints/epoch=2-step=29.ckpt",
	    "2");
	CHECK(mkdirat(wd,
		      "lightning_logs/version_0/checkpoints/epoch=1-step=19.ckpt",
		      0755) == 0); /* a folder counts as a checkpoint too */
	CHECK(symlinkat(
		      "/etc/passwd", wd,
		      "lightning_logs/version_0/checkpoints/epoch=5-step=59.ckpt") ==
	      0);
	CHECK(symlinkat("version_0", wd, "lightning_logs/version_1") == 0);
	CHECK(symlinkat("/", wd, "lightning_logs/version_2") == 0);
	return wd;
}

static void scan(void)
{
	struct ownfile *m = NULL;
	size_t n = 0;
	int wd = lightning_dir();
	CHECK(ownfiles_scan(
		      wd,
		      "lightning_logs/*/checkpoints/epoch={epoch}-step=*.ckpt",
		      &m, &n) == 0);
	CHECK(n == 3);
	if (n == 3) {
		CHECK(m[0].epoch == 0 && m[1].epoch == 1 && m[2].epoch == 2);
		CHECK_STR(
			m[2].path,
			"lightning_logs/version_0/checkpoints/epoch=2-step=29.ckpt");
	}
	ownfiles_free(m, n);
	/* the same through the helper, as the owner (here: ourselves) */
	char path[128];
	snprintf(path, sizeof path, "%s/work", root);
	CHECK(ownfiles_scan_as(
		      "/proc/self/exe", path, geteuid(), getegid(),
		      "lightning_logs/version_0/checkpoints/epoch={epoch}-*",
		      &m, &n) == 0);
	CHECK(n == 3);
	ownfiles_free(m, n);
	if (geteuid() == 0) {
		/* as nobody, in the helper: what nobody may read, no more */
		CHECK(ownfiles_scan_as(
			      "/proc/self/exe", path, 65534, 65534,
			      "lightning_logs/*/checkpoints/epoch={epoch}-*",
			      &m, &n) == 0);
		CHECK(n == 3);
		ownfiles_free(m, n);
		CHECK(fchmodat(wd, "lightning_logs/version_0/checkpoints", 0700,
			       0) == 0);
		CHECK(ownfiles_scan_as(
			      "/proc/self/exe", path, 65534, 65534,
			      "lightning_logs/*/checkpoints/epoch={epoch}-*",
			      &m, &n) == 0);
		CHECK(n == 0);
		ownfiles_free(m, n);
	}
	if (geteuid() == 0) {
		/* a folder of another filesystem is never entered */
		CHECK(mkdirat(wd, "lightning_logs/version_3", 0755) == 0);
		snprintf(path, sizeof path, "%s/work/lightning_logs/version_3",
			 root);
		if (mount("tmpfs", path, "tmpfs", 0, "size=1m") == 0) {
			int t = open(path, O_RDONLY | O_DIRECTORY);
			CHECK(mkdirat(t, "checkpoints", 0755) == 0);
			put(t, "checkpoints/epoch=9-step=99.ckpt", "9");
			close(t);
			CHECK(ownfiles_scan(wd,
					    "lightning_logs/*/checkpoints/"
					    "epoch={epoch}-step=*.ckpt",
					    &m, &n) == 0);
			CHECK(n == 3);
			ownfiles_free(m, n);
			CHECK(umount(path) == 0);
		} else {
			fprintf(stderr,
				"ownfiles: no tmpfs mount, skipped: %s\n",
				strerror(errno));
		}
	}
	/* no match is no error */
	CHECK(ownfiles_scan(wd, "nothing/{epoch}", &m, &n) == 0 && n == 0);
	close(wd);
}

static void weights(void)
{
	struct ownfile *m = NULL;
	size_t n = 0;
	char err[256], path[128];
	snprintf(path, sizeof path, "%s/w", root);
	CHECK(mkdir(path, 0755) == 0);
	int wd = open(path, O_RDONLY | O_DIRECTORY);
	CHECK(fchdir(wd) == 0);
	CHECK(mkdirat(wd, "a", 0755) == 0 && mkdirat(wd, "b", 0755) == 0);
	put(wd, "a/best.pt", "old");
	put(wd, "b/best.pt", "new");
	struct timeval old[2] = { { 1, 0 }, { 1, 0 } };
	CHECK(utimes("a/best.pt", old) == 0);
	CHECK(ownfiles_weights(wd, "*/best.pt", &m, &n, err, sizeof err) == 0);
	CHECK(n == 1);
	if (n == 1)
		CHECK_STR(m[0].path, "b/best.pt");
	ownfiles_free(m, n);
	CHECK(ownfiles_weights(wd, "*/best.pt c/*.pt", &m, &n, err,
			       sizeof err) == 1);
	CHECK_STR(err, "no weights were saved: 'c/*.pt' matched nothing");
	CHECK(symlinkat("/etc/passwd", wd, "out.pt") == 0);
	CHECK(ownfiles_weights(wd, "*.pt", &m, &n, err, sizeof err) == -1);
	CHECK_STR(err, "'out.pt' leads out of the workdir");
	CHECK(ownfiles_open(wd, "../w/a/best.pt", 0) == -EXDEV);
	int fd = ownfiles_open(wd, "a/best.pt", 1);
	CHECK(fd >= 0);
	if (fd >= 0)
		close(fd);
	CHECK(chdir("/") == 0);
	close(wd);
}

int main(int argc, char **argv)
{
	static const struct test_case cases[] = {
		TEST(matcher),
		TEST(spec_checks),
		TEST(scan),
		TEST(weights),
	};
	if (argc >= 2 && !strcmp(argv[1], "__ckscan"))
		return ownfiles_scan_main(argc, argv);
	snprintf(root, sizeof root, "/tmp/trainfs-ownfiles-XXXXXX");
	if (!mkdtemp(root) || chmod(root, 0711) < 0) {
		perror("mkdtemp");
		return 1;
	}
	int rc =
		test_run_all("ownfiles", cases, sizeof cases / sizeof cases[0]);
	int fd = open("/tmp", O_RDONLY | O_DIRECTORY);
	if (tree_remove(fd, root + 5) != 0)
		fprintf(stderr, "cannot remove %s\n", root);
	close(fd);
	return rc;
}
