/*
 * access: who else may read a job, from the mode of its folder (access.h
 * says the rule).  The checks here need no lock: the owner and group are
 * fixed at creation and the mode is read with an atomic load, so the FUSE
 * face may ask on every open and read without waiting for a job's work.
 */
#include <errno.h>

#include "jobs/core/access.h"
#include "jobs/core/registry.h"
#include "util/log.h"

#define CLASS_RX_GROUP 0050
#define CLASS_RX_OTHER 0005

mode_t job_mode_from(mode_t mode)
{
	return 0700 | (mode & (CLASS_RX_GROUP | CLASS_RX_OTHER));
}

mode_t job_mode(const struct job *job)
{
	return __atomic_load_n(&job->rec.mode, __ATOMIC_ACQUIRE);
}

static int in_groups(gid_t gid, const gid_t *gids, size_t ngids)
{
	for (size_t i = 0; i < ngids; i++)
		if (gids[i] == gid)
			return 1;
	return 0;
}

int job_readable_by(const struct job *job, uid_t uid, const gid_t *gids,
		    size_t ngids)
{
	mode_t mode = job_mode(job);
	if (uid == 0 || uid == job->rec.uid)
		return 1;
	/* As for any file: a member of the group is judged by the group's bits. */
	if (in_groups(job->rec.gid, gids, ngids))
		return (mode & CLASS_RX_GROUP) == CLASS_RX_GROUP;
	return (mode & CLASS_RX_OTHER) == CLASS_RX_OTHER;
}

int job_access_needs_groups(const struct job *job, uid_t uid)
{
	mode_t mode = job_mode(job);
	return uid != 0 && uid != job->rec.uid &&
	       ((mode & CLASS_RX_GROUP) == CLASS_RX_GROUP) !=
		       ((mode & CLASS_RX_OTHER) == CLASS_RX_OTHER);
}

int job_open_to_all(const struct job *job)
{
	return (job_mode(job) & (CLASS_RX_GROUP | CLASS_RX_OTHER)) ==
	       (CLASS_RX_GROUP | CLASS_RX_OTHER);
}

mode_t job_file_mode(const struct job *job, mode_t base)
{
	mode_t mode = job_mode(job), keep = 0700;
	if ((mode & CLASS_RX_GROUP) == CLASS_RX_GROUP)
		keep |= 0070;
	if ((mode & CLASS_RX_OTHER) == CLASS_RX_OTHER)
		keep |= 0007;
	return base & keep;
}
