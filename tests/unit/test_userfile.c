/*
 * Unit tests for util/userfile.c: what a user could put where trainfs
 * reads its files is refused at once (a FIFO, a link, a device, a file
 * under a write lease), and a regular file is opened; for util/reap.c: a
 * child that ignores nothing is gone without the caller waiting.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tests/unit/test.h"
#include "util/reap.h"
#include "util/userfile.h"

static char dir[64];

static void path(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "%s/%s", dir, name);
}

static void regular_file_opens(void)
{
	char p[128];
	path(p, sizeof p, "log");
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	CHECK(fd >= 0 && write(fd, "hi\n", 3) == 3);
	close(fd);
	fd = userfile_open(AT_FDCWD, p, O_RDONLY);
	CHECK(fd >= 0);
	char b[8] = "";
	CHECK(fd >= 0 && read(fd, b, sizeof b) == 3);
	CHECK((fcntl(fd, F_GETFL) & O_NONBLOCK) != 0);
	close(fd);
	struct stat st;
	CHECK(userfile_stat(p, &st) == 0 && st.st_size == 3);
	int dfd = open(dir, O_RDONLY | O_DIRECTORY);
	mode_t mode = 0;
	CHECK(userfile_local(dfd, "log", &mode) == 0 && S_ISREG(mode));
	fd = userfile_open(dfd, "log", O_RDONLY);
	CHECK(fd >= 0);
	close(fd);
	close(dfd);
}

static void fifo_is_refused_at_once(void)
{
	char p[128];
	path(p, sizeof p, "exit");
	CHECK(mkfifo(p, 0600) == 0);
	CHECK(userfile_open(AT_FDCWD, p, O_RDONLY) == -EINVAL);
	unlink(p);
}

static void link_and_missing_are_refused(void)
{
	char p[128], q[128];
	path(p, sizeof p, "link");
	path(q, sizeof q, "log");
	CHECK(symlink(q, p) == 0);
	CHECK(userfile_open(AT_FDCWD, p, O_RDONLY) == -ELOOP);
	unlink(p);
	path(p, sizeof p, "none");
	CHECK(userfile_open(AT_FDCWD, p, O_RDONLY) == -ENOENT);
	/* A device: refused as one, or as a mount's (/dev's) content. */
	int rc = userfile_open(AT_FDCWD, "/dev/null", O_RDONLY);
	CHECK(rc == -EINVAL || rc == -EXDEV);
}

static void folder_only_with_o_directory(void)
{
	char p[128];
	path(p, sizeof p, "sub");
	CHECK(mkdir(p, 0700) == 0);
	int fd = userfile_open(AT_FDCWD, p, O_RDONLY | O_DIRECTORY);
	CHECK(fd >= 0);
	close(fd);
	CHECK(userfile_open(AT_FDCWD, p, O_RDONLY) == -EINVAL);
	rmdir(p);
}

static void mount_point_is_another_filesystem(void)
{
	/* /proc is a mount point of its own wherever these tests run. */
	int fd = open("/", O_RDONLY | O_DIRECTORY);
	mode_t mode = 0;
	CHECK(userfile_local(fd, "proc", &mode) == -EXDEV);
	close(fd);
	CHECK(userfile_open(AT_FDCWD, "/proc", O_RDONLY | O_DIRECTORY) ==
	      -EXDEV);
}

static void lease_answers_at_once(void)
{
	char p[128];
	int ready[2];
	path(p, sizeof p, "leased");
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	close(fd);
	CHECK(pipe(ready) == 0);
	pid_t pid = fork();
	if (pid == 0) { /* the lease holder: another process */
		signal(SIGIO, SIG_IGN);
		int lfd = open(p, O_RDONLY);
		int ok = lfd >= 0 && fcntl(lfd, F_SETLEASE, F_WRLCK) == 0;
		(void)!write(ready[1], ok ? "y" : "n", 1);
		pause();
		_exit(0);
	}
	char c = 0;
	CHECK(read(ready[0], &c, 1) == 1);
	if (c == 'y') {
		struct timespec a, b;
		clock_gettime(CLOCK_MONOTONIC, &a);
		CHECK(userfile_open(AT_FDCWD, p, O_RDONLY) == -EWOULDBLOCK);
		clock_gettime(CLOCK_MONOTONIC, &b);
		CHECK(b.tv_sec - a.tv_sec < 1);
	} else {
		fprintf(stderr,
			"lease_answers_at_once: no lease here, skipped\n");
	}
	reap_later(pid);
	CHECK(waitpid(pid, NULL, WNOHANG) < 0); /* reaped already */
	close(ready[0]);
	close(ready[1]);
	unlink(p);
}

int main(void)
{
	snprintf(dir, sizeof dir, "/tmp/trainfs-userfile-XXXXXX");
	if (!mkdtemp(dir))
		return 1;
	static const struct test_case tests[] = {
		TEST(regular_file_opens),
		TEST(fifo_is_refused_at_once),
		TEST(link_and_missing_are_refused),
		TEST(folder_only_with_o_directory),
		TEST(mount_point_is_another_filesystem),
		TEST(lease_answers_at_once),
	};
	int rc = test_run_all("userfile", tests, sizeof tests / sizeof *tests);
	char p[128];
	path(p, sizeof p, "log");
	unlink(p);
	rmdir(dir);
	return rc;
}
