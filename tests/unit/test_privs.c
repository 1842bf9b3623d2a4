/*
 * Unit tests of util/privs.c: privs_groups() gives a user's full group
 * list (just the gid for a uid with no name), and privs_become() and
 * privs_drop() leave a process with exactly the owner's uid, gid and
 * groups, root gone for good; each failure says its step and errno.  The
 * drops run in forked children, as root (skipped otherwise).
 */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/unit/test.h"
#include "util/privs.h"

#define NOBODY 65534
#define NO_NAME 3999999 /* a uid with no passwd entry */

static int has(const gid_t *g, int n, gid_t want)
{
	for (int i = 0; i < n; i++)
		if (g[i] == want)
			return 1;
	return 0;
}

static void test_groups(void)
{
	gid_t *g = NULL;
	int n = 0;
	CHECK(privs_groups(NO_NAME, 4242, &g, &n) == 0);
	CHECK(n == 1 && g && g[0] == 4242);
	free(g);

	/* root's entry: its groups, with the gid given added. */
	struct passwd *pw = getpwuid(0);
	CHECK(pw != NULL);
	CHECK(privs_groups(0, 4243, &g, &n) == 0);
	CHECK(n >= 1 && has(g, n, 4243));
	int want = 0;
	gid_t probe[1];
	getgrouplist(pw->pw_name, 4243, probe, &want);
	CHECK(n == want); /* the whole list, however long */
	free(g);
}

/* Runs FN in a child; its exit status (0: every check there held). */
static int in_child(int (*fn)(void))
{
	pid_t pid = fork();
	int st;
	if (pid == 0)
		_exit(fn());
	if (pid < 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st))
		return -1;
	return WEXITSTATUS(st);
}

static int become_nobody(void)
{
	gid_t g[] = { NOBODY, 100 }, got[8];
	enum privs_step step;
	if (privs_become(NOBODY, NOBODY, g, 2, &step))
		return 1;
	if (getuid() != NOBODY || geteuid() != NOBODY || getgid() != NOBODY ||
	    getegid() != NOBODY)
		return 2;
	int n = getgroups(8, got);
	if (n != 2 || !has(got, n, NOBODY) || !has(got, n, 100))
		return 3;
	if (setuid(0) == 0)
		return 4;
	/* Not root any more: the next drop fails at its first step. */
	errno = 0;
	if (privs_become(0, 0, g, 1, &step) != -EPERM || errno != EPERM ||
	    step != PRIVS_SETGROUPS)
		return 5;
	return 0;
}

static int drop_to_nobody(void)
{
	char err[128] = "";
	gid_t *want = NULL, got[256];
	int nwant = 0;
	if (privs_groups(NOBODY, NOBODY, &want, &nwant))
		return 1;
	if (privs_drop(NOBODY, NOBODY, err, sizeof err))
		return 2;
	int n = getgroups(256, got);
	if (n != nwant)
		return 3;
	for (int i = 0; i < n; i++)
		if (!has(got, n, want[i]))
			return 4;
	free(want);
	/* Once dropped, back to root is refused with the reason. */
	if (privs_drop(0, 0, err, sizeof err) != -1 ||
	    strcmp(err, "cannot switch to uid 0: Operation not permitted"))
		return 5;
	return 0;
}

static void test_become(void)
{
	if (geteuid() != 0) {
		printf("privs: not root: the drops are not tried\n");
		return;
	}
	CHECK(in_child(become_nobody) == 0);
	CHECK(in_child(drop_to_nobody) == 0);
}

TEST_MAIN("privs", TEST(test_groups), TEST(test_become))
