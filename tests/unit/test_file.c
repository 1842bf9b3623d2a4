/*
 * Unit tests of util/file.c: file_write_all() writes everything or says
 * why not with -errno and errno both (a full disk, a reader gone);
 * file_write_atomic() replaces a file whole, 0600, leaves no temp behind
 * and never writes through a link planted at its temp name;
 * file_mkdir_p() makes the missing parents with their own mode.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/unit/test.h"
#include "util/file.h"

static char root[64];

static void test_setup(void)
{
	snprintf(root, sizeof root, "/tmp/trainfs-unit-file-XXXXXX");
	CHECK(mkdtemp(root) != NULL);
	signal(SIGPIPE, SIG_IGN);
	umask(022);
}

/* Reads PATH whole into BUF (LEN bytes); its length or -1. */
static ssize_t slurp(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n, got = 0;
	if (fd < 0)
		return -1;
	while ((n = read(fd, buf + got, len - got)) > 0)
		got += n;
	close(fd);
	return n < 0 ? -1 : got;
}

static void test_write_all(void)
{
	static char big[3 << 20], back[3 << 20];
	char path[128];
	int p[2];
	for (size_t i = 0; i < sizeof big; i++)
		big[i] = (char)(i * 7);
	snprintf(path, sizeof path, "%s/big", root);
	int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	CHECK(fd >= 0);
	CHECK(file_write_all(fd, big, sizeof big) == 0);
	close(fd);
	CHECK(slurp(path, back, sizeof back) == (ssize_t)sizeof big);
	CHECK(memcmp(big, back, sizeof big) == 0);

	/* A reader gone: -EPIPE, and errno says so too. */
	CHECK(pipe(p) == 0);
	close(p[0]);
	errno = 0;
	CHECK(file_write_all(p[1], "x", 1) == -EPIPE);
	CHECK(errno == EPIPE);
	close(p[1]);

	/* A full disk. */
	if ((fd = open("/dev/full", O_WRONLY | O_CLOEXEC)) >= 0) {
		CHECK(file_write_all(fd, "x", 1) == -ENOSPC);
		CHECK(errno == ENOSPC);
		close(fd);
	}
}

static void test_write_atomic(void)
{
	char path[128], tmp[160], buf[64];
	struct stat st;
	snprintf(path, sizeof path, "%s/rec", root);
	snprintf(tmp, sizeof tmp, "%s.tmp", path);
	CHECK(file_write_atomic(path, "first\n", 6) == 0);
	CHECK(file_write_atomic(path, "second\n", 7) == 0);
	CHECK(slurp(path, buf, sizeof buf) == 7);
	CHECK(memcmp(buf, "second\n", 7) == 0);
	CHECK(stat(path, &st) == 0 && (st.st_mode & 07777) == 0600);
	CHECK(access(tmp, F_OK) < 0 && errno == ENOENT);

	/* A link at the temp name is not followed: its target stays. */
	char victim[128];
	snprintf(victim, sizeof victim, "%s/victim", root);
	CHECK(file_write_atomic(victim, "keep", 4) == 0);
	CHECK(symlink(victim, tmp) == 0);
	CHECK(file_write_atomic(path, "third\n", 6) == -ELOOP);
	CHECK(slurp(victim, buf, sizeof buf) == 4);
	CHECK(memcmp(buf, "keep", 4) == 0);
	CHECK(slurp(path, buf, sizeof buf) == 7); /* the old one whole */

	/* No folder: -ENOENT. */
	snprintf(path, sizeof path, "%s/none/rec", root);
	CHECK(file_write_atomic(path, "x", 1) == -ENOENT);
}

static void test_mkdir_p(void)
{
	char path[160];
	struct stat st;
	snprintf(path, sizeof path, "%s/a/b/c", root);
	CHECK(file_mkdir_p(path, 0755, 0711) == 0);
	CHECK(stat(path, &st) == 0 && S_ISDIR(st.st_mode) &&
	      (st.st_mode & 0777) == 0711);
	snprintf(path, sizeof path, "%s/a/b", root);
	CHECK(stat(path, &st) == 0 && (st.st_mode & 0700) == 0700);
	snprintf(path, sizeof path, "%s/a/b/c", root);
	CHECK(file_mkdir_p(path, 0755, 0711) == 0);	 /* there already */
	snprintf(path, sizeof path, "%s/big/sub", root); /* a file above */
	CHECK(file_mkdir_p(path, 0755, 0711) == -ENOTDIR);
}

static void test_cleanup(void)
{
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
	CHECK(system(cmd) == 0);
}

TEST_MAIN("file", TEST(test_setup), TEST(test_write_all),
	  TEST(test_write_atomic), TEST(test_mkdir_p), TEST(test_cleanup))
