/*
 * Unit tests of util/beneath.c: opens under a folder descriptor never
 * follow a link, never climb with "..", and a file written anew there is
 * never written through a link planted at its name; both with openat2
 * and with the O_NOFOLLOW walk used where the kernel lacks it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/unit/test.h"
#include "util/beneath.h"

static char root[64];

static int setup(void)
{
	char p[128];
	snprintf(root, sizeof root, "/tmp/trainfs-unit-beneath-XXXXXX");
	if (!mkdtemp(root))
		return -1;
	snprintf(p, sizeof p, "%s/d", root);
	if (mkdir(p, 0700) < 0)
		return -1;
	snprintf(p, sizeof p, "%s/d/f", root);
	int fd = open(p, O_WRONLY | O_CREAT, 0600);
	if (fd < 0)
		return -1;
	close(fd);
	snprintf(p, sizeof p, "%s/d/link", root);
	if (symlink("/etc/passwd", p) < 0)
		return -1;
	snprintf(p, sizeof p, "%s/dirlink", root);
	return symlink("d", p);
}

static void cases(void)
{
	int dir = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC), fd;
	CHECK(dir >= 0);
	CHECK((fd = beneath_open(dir, "d/f", O_RDONLY | O_CLOEXEC, 0)) >= 0);
	if (fd >= 0)
		close(fd);
	CHECK(beneath_open(dir, "d/link", O_RDONLY | O_CLOEXEC, 0) == -ELOOP);
	fd = beneath_open(dir, "dirlink/f", O_RDONLY | O_CLOEXEC, 0);
	CHECK(fd == -ELOOP || fd == -ENOTDIR);
	fd = beneath_open(dir, "d/../../etc/passwd", O_RDONLY | O_CLOEXEC, 0);
	CHECK(fd == -EXDEV);
	CHECK(beneath_open(dir, "/etc/passwd", O_RDONLY, 0) == -EINVAL);
	CHECK(beneath_open(dir, "d/none", O_RDONLY, 0) == -ENOENT);

	/* A link planted at the final name is replaced, not written through. */
	int d = beneath_open(dir, "d", O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
	CHECK(d >= 0);
	CHECK(symlinkat("f", d, "rec") == 0);
	CHECK(beneath_write_new(d, "rec", "x", 1, (uid_t)-1, (gid_t)-1) == 0);
	struct stat st, f;
	CHECK(fstatat(d, "rec", &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	      S_ISREG(st.st_mode) && st.st_size == 1);
	CHECK(fstatat(d, "f", &f, 0) == 0 && f.st_size == 0);
	/* One planted at the temporary name is refused, not followed. */
	CHECK(symlinkat("f", d, "rec2.tmp") == 0);
	CHECK(unlinkat(d, "rec2.tmp", 0) == 0); /* as the writer does first */
	CHECK(symlinkat("f", d, "rec2.tmp") == 0);
	CHECK(beneath_write_new(d, "rec2", "y", 1, (uid_t)-1, (gid_t)-1) == 0);
	CHECK(fstatat(d, "f", &f, 0) == 0 && f.st_size == 0);
	CHECK(beneath_write_new(d, "../x", "y", 1, (uid_t)-1, (gid_t)-1) ==
	      -EINVAL);
	unlinkat(d, "rec", 0);
	unlinkat(d, "rec2", 0);
	close(d);
	close(dir);
}

static void test_openat2(void)
{
	beneath_force_walk(0);
	cases();
}

static void test_walk(void)
{
	beneath_force_walk(1);
	cases();
	beneath_force_walk(0);
}

static void test_setup(void)
{
	CHECK(setup() == 0);
}

static void test_cleanup(void)
{
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
	CHECK(system(cmd) == 0);
}

TEST_MAIN("beneath", TEST(test_setup), TEST(test_openat2), TEST(test_walk),
	  TEST(test_cleanup))
