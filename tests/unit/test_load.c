/*
 * Tests for jobs/core/load.c: jobs_open() keeps its own copies of the
 * configuration's strings (store, program, mount point), so the caller's
 * buffers may change or go away while the jobs live.
 */
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "jobs/core/registry.h"
#include "util/tree.h"
#include "test.h"

static void test_config_strings_are_copied(void)
{
	char root[64], store[128], mount[PATH_MAX], exe[PATH_MAX];
	snprintf(root, sizeof root, "/tmp/trainfs-unit-load-XXXXXX");
	CHECK(mkdtemp(root) != NULL);
	snprintf(store, sizeof store, "%s/store", root);
	snprintf(mount, sizeof mount, "%s/mnt", root);
	snprintf(exe, sizeof exe, "/proc/self/exe");
	struct jobs_config cfg = {
		.store_dir = store,
		.self_exe = exe,
		.mountpoint = mount,
	};
	struct jobs *j = NULL;
	int rc = jobs_open(&cfg, &j);
	CHECK(rc == 0);
	if (rc) {
		fprintf(stderr, "jobs_open: %s\n", strerror(-rc));
		return;
	}
	memset(store, 'x', sizeof store - 1);
	memset(mount, 'x', 32);
	memset(exe, 'x', 16);
	CHECK(j->cfg.mountpoint != mount);
	CHECK(j->cfg.store_dir != store);
	CHECK(j->cfg.self_exe != exe);
	char want[128];
	snprintf(want, sizeof want, "%s/mnt", root);
	CHECK_STR(j->cfg.mountpoint, want);
	jobs_close(j);
	/* No mount point at all is allowed too. */
	snprintf(store, sizeof store, "%s/store", root);
	snprintf(exe, sizeof exe, "/proc/self/exe");
	cfg.mountpoint = NULL;
	CHECK(jobs_open(&cfg, &j) == 0);
	if (j)
		CHECK(j->cfg.mountpoint == NULL);
	jobs_close(j);
	int fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	CHECK(fd >= 0);
	int err = tree_remove(fd, "store");
	if (err)
		fprintf(stderr, "removing '%s/store': %s\n", root,
			strerror(-err));
	CHECK(err == 0 && close(fd) == 0 && rmdir(root) == 0);
}

TEST_MAIN("load", TEST(test_config_strings_are_copied))
