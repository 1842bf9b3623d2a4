/*
 * access: who else may read a job, from its folder's mode, as for any
 * folder: the owner and root always; a member of the job's group by the
 * group's r and x; anyone else by others' r and x.  Files show the bits
 * their folder allows; a folder never gives w to group or others.
 */
#include <stdlib.h>

#include "jobs/core/access.h"
#include "tests/unit/test.h"

static struct job job_of(uid_t uid, gid_t gid, mode_t mode)
{
	struct job job;
	memset(&job, 0, sizeof job);
	job.rec.uid = uid;
	job.rec.gid = gid;
	job.rec.mode = job_mode_from(mode);
	return job;
}

/* JOB_OF(...) as a pointer, for one check (a static: tests run one by one). */
static struct job *jp(uid_t uid, gid_t gid, mode_t mode)
{
	static struct job job;
	job = job_of(uid, gid, mode);
	return &job;
}

static void test_mode_from(void)
{
	CHECK(job_mode_from(0777) == 0755);
	CHECK(job_mode_from(0000) == 0700);
	CHECK(job_mode_from(0750) == 0750);
	CHECK(job_mode_from(06777) == 0755);  /* no set-id, no sticky bit */
	CHECK(job_mode_from(040705) == 0705); /* the file type is dropped */
}

static void test_readable_by(void)
{
	gid_t staff[] = { 100, 4242 }, other[] = { 100 };
	struct job priv = job_of(1000, 4242, 0700);
	CHECK(job_readable_by(&priv, 1000, NULL, 0)); /* its owner */
	CHECK(job_readable_by(&priv, 0, NULL, 0));    /* root */
	CHECK(!job_readable_by(&priv, 1001, staff, 2));
	struct job grp = job_of(1000, 4242, 0750);
	CHECK(job_readable_by(&grp, 1001, staff, 2));
	CHECK(!job_readable_by(&grp, 1001, other, 1));
	/* a member of the group is judged by the group's bits alone */
	struct job oth = job_of(1000, 4242, 0705);
	CHECK(!job_readable_by(&oth, 1001, staff, 2));
	CHECK(job_readable_by(&oth, 1001, other, 1));
	/* r without x (or x without r) is not enough */
	struct job half = job_of(1000, 4242, 0741);
	CHECK(!job_readable_by(&half, 1001, staff, 2));
	CHECK(!job_readable_by(&half, 1001, other, 1));
	CHECK(job_readable_by(jp(1000, 4242, 0755), 1001, NULL, 0));
}

static void test_needs_groups(void)
{
	struct job grp = job_of(1000, 4242, 0750);
	CHECK(job_access_needs_groups(&grp, 1001));
	CHECK(!job_access_needs_groups(&grp, 1000)); /* the owner */
	CHECK(!job_access_needs_groups(&grp, 0));
	CHECK(!job_access_needs_groups(jp(1000, 4242, 0755), 1001));
	CHECK(!job_access_needs_groups(jp(1000, 4242, 0700), 1001));
	CHECK(job_access_needs_groups(jp(1000, 4242, 0705), 1001));
	CHECK(job_open_to_all(jp(1000, 4242, 0755)));
	CHECK(!job_open_to_all(jp(1000, 4242, 0750)));
}

static void test_file_mode(void)
{
	CHECK(job_file_mode(jp(1, 1, 0755), 0644) == 0644);
	CHECK(job_file_mode(jp(1, 1, 0700), 0644) == 0600);
	CHECK(job_file_mode(jp(1, 1, 0750), 0444) == 0440);
	CHECK(job_file_mode(jp(1, 1, 0705), 0555) == 0505);
	CHECK(job_file_mode(jp(1, 1, 0740), 0444) == 0400); /* no x */
}

TEST_MAIN("access", TEST(test_mode_from), TEST(test_readable_by),
	  TEST(test_needs_groups), TEST(test_file_mode))
