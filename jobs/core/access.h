/*
 * access: who else may read a job.  A job folder's mode decides it, as for
 * any folder: the owner's bits are always rwx, group and others get at most
 * r and x (never w: only the owner or root changes a job), and a user who is
 * neither the owner nor root reads the job when the class it falls in
 * (group if it is in the job's group, else others) has both r and x.  mkdir
 * gives the mode (the umask applied), the owner or root may change it at
 * any time, and the store keeps it.  Every file of the job shows the mode
 * its folder allows, and whatever shows jobs (dashboards, by-state/,
 * by-tag/) shows a reader only the jobs this says it may read.
 *
 * The mode is the one part of a job's record that may be read without the
 * job's lock: it is written under the lock with an atomic store and read
 * with an atomic load (job_mode), since an access check must not wait for
 * a job's work.  The owner and group are fixed at creation.
 */
#ifndef TRAINFS_ACCESS_H
#define TRAINFS_ACCESS_H

#include <stddef.h>
#include <sys/types.h>

#include "jobs/core/job.h"
#include "util/compiler.h"

/* What jobs stored before modes were show: open to every user. */
#define JOB_MODE_OPEN 0755

/*
 * The mode a job folder gets when MODE is asked for (by mkdir, its umask
 * applied, or chmod): the owner's rwx, and of group and others only r, x.
 */
mode_t job_mode_from(mode_t mode);

/* JOB's folder mode, with or without its lock. */
mode_t job_mode(const struct job *job);

/*
 * Whether user UID, a member of the NGIDS groups GIDS (its primary group
 * among them), may read JOB: its owner, root, or a user whose class has r
 * and x in the job's mode.  Needs no lock.
 */
int job_readable_by(const struct job *job, uid_t uid, const gid_t *gids,
		    size_t ngids);

/*
 * Whether job_readable_by() for UID may depend on its groups: the job's
 * mode opens it to its group and not to others, and UID is neither its
 * owner nor root.  A caller reads a user's groups only then.
 */
int job_access_needs_groups(const struct job *job, uid_t uid);

/* Whether JOB is open to every user (others have r and x). */
int job_open_to_all(const struct job *job);

/*
 * The permission bits a file of JOB shows when it would otherwise show
 * BASE: the owner's as they are, group's and others' only as the folder
 * lets that class read the job.
 */
mode_t job_file_mode(const struct job *job, mode_t base);

/*
 * chmod of job ID's folder by UID (job.c): the mode becomes job_mode_from(MODE),
 * stored.  -EPERM for a user other than the owner or root (as chmod(2)),
 * -ENOENT, or the store's error (the mode is then as it was).
 */
MUST_CHECK int jobs_chmod(struct jobs *j, int64_t id, uid_t uid, mode_t mode);

#endif
