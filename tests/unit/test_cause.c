/*
 * Unit tests of jobs/model/cause: the words of a failed trainer's error,
 * the shell's own statuses named, the log's last non-empty line escaped
 * and read from its end only.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "jobs/model/cause.h"
#include "tests/unit/test.h"

/* A log holding TEXT (N bytes) in a fresh temporary file; caller unlinks. */
static char *log_of(const char *text, size_t n)
{
	static char path[64];
	snprintf(path, sizeof path, "/tmp/trainfs-test-cause-XXXXXX");
	int fd = mkstemp(path);
	CHECK(fd >= 0);
	CHECK(write(fd, text, n) == (ssize_t)n);
	close(fd);
	return path;
}

static void test_statuses(void)
{
	char buf[256];
	CHECK_STR(cause_describe(buf, sizeof buf, 127, 0, NULL),
		  "trainer exited with status 127 (command not found)");
	CHECK_STR(cause_describe(buf, sizeof buf, 126, 0, NULL),
		  "trainer exited with status 126 (command cannot be run)");
	CHECK_STR(cause_describe(buf, sizeof buf, 3, 0, NULL),
		  "trainer exited with status 3");
	CHECK_STR(cause_describe(buf, sizeof buf, 0, 9, "/no/such/log"),
		  "killed by signal 9");
}

static void test_last_line(void)
{
	char buf[256];
	const char text[] = "epoch 1\nTraceback:\n  boom \x1b[31m\n\n  \n";
	char *path = log_of(text, sizeof text - 1);
	CHECK_STR(cause_describe(buf, sizeof buf, 1, 0, path),
		  "trainer exited with status 1: boom \\x1b[31m");
	unlink(path);
	path = log_of("\n \n", 3);
	CHECK_STR(cause_log_last_line(buf, sizeof buf, path), "");
	unlink(path);
}

static void test_reads_the_end_only(void)
{
	char buf[64];
	size_t n = 3 * CAUSE_LOG_TAIL;
	char *text = malloc(n);
	memset(text, 'x', n);
	memcpy(text + n - 6, "\nlast\n", 6);
	char *path = log_of(text, n);
	CHECK_STR(cause_log_last_line(buf, sizeof buf, path), "last");
	unlink(path);
	/* a last line longer than the tail: its end only, cut to BUF */
	text[n - 6] = 'y';
	path = log_of(text, n);
	CHECK(strlen(cause_log_last_line(buf, sizeof buf, path)) < sizeof buf);
	unlink(path);
	free(text);
}

TEST_MAIN("cause", TEST(test_statuses), TEST(test_last_line),
	  TEST(test_reads_the_end_only))
