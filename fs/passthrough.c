/*
 * passthrough: the connection's capabilities (init), and FUSE passthrough
 * of the files the store holds for real, the log and the tarball: the
 * kernel reads them itself (libfuse 3.17+, CONFIG_FUSE_PASSTHROUGH,
 * CAP_SYS_ADMIN).  Where it cannot, or once the kernel refused, they are
 * read by splice from the store's file (file.c).
 *
 * Locks: backing_lock protects the list of backing files and whether new
 * opens try passthrough; it is taken alone, never with a job's lock.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fs/fs.h"
#include "util/lock.h"
#include "util/log.h"

/*
 * A store file the kernel reads by passthrough for inode INO.  The kernel
 * allows one backing file per inode and, while it has one, every open of
 * the inode must use it: so all opens of INO share one backing id,
 * counted, given back at the last release.
 */
struct backing {
	struct backing *next;
	fuse_ino_t ino;
	dev_t dev;  /* which file it is: a resumed job's new tarball */
	ino_t file; /* has the same inode here but is another file */
	int id;	    /* the kernel's backing id */
	int refs;   /* open handles using it */
};

/*
 * Has the kernel read H (the log or a tarball, open on H->fd) by
 * passthrough from its store file, if INO already has a backing file or
 * passthrough is on; if the kernel refuses, passthrough is turned off for
 * inodes opened from then on (they read by splice) and the log says so.
 * 0, or -EBUSY when INO's backing file is an older file still open (the
 * kernel allows one per inode): a resumed job's new tarball while its old
 * one is still being read.
 */
int passthrough_attach(struct trainfs *fs, fuse_req_t req, fuse_ino_t ino,
		       struct handle *h, struct fuse_file_info *fi)
{
#if TRAINFS_PASSTHROUGH
	struct stat st;
	struct backing *b, **p;
	int rc = 0;
	if (fstat(h->fd, &st) < 0)
		return -errno;
	lock_take(&fs->backing_lock);
	for (p = &fs->backings; *p && (*p)->ino != ino; p = &(*p)->next)
		;
	b = *p;
	if (b && (b->dev != st.st_dev || b->file != st.st_ino)) {
		if (b->refs > 0) {
			rc = -EBUSY;
			goto out;
		}
		fuse_passthrough_close(req, b->id); /* idle, of an older file */
		*p = b->next;
		free(b);
		b = NULL;
	}
	if (!b && fs->passthrough) {
		int id = fuse_passthrough_open(req, h->fd);
		if (id <= 0) {
			log_warn(
				"reads of weights: splice (passthrough of '%s' "
				"failed: %s)",
				ino_kind(ino) == N_LOG ? "log" : "weights",
				strerror(errno));
			fs->passthrough = 0;
			goto out;
		}
		if (!(b = calloc(1, sizeof *b))) {
			fuse_passthrough_close(req, id);
			goto out; /* splice will do */
		}
		b->ino = ino;
		b->dev = st.st_dev;
		b->file = st.st_ino;
		b->id = id;
		b->next = fs->backings;
		fs->backings = b;
	}
	if (b) {
		b->refs++;
		h->backing = b;
		fi->backing_id = b->id;
		fi->direct_io = 0;  /* it would override passthrough */
		fi->keep_cache = 0; /* not allowed with it */
	}
out:
	lock_drop(&fs->backing_lock);
	return rc;
#else
	(void)fs, (void)req, (void)ino, (void)h, (void)fi;
	return 0;
#endif
}

/*
 * H is released: the last release of its inode gives the backing file
 * back to the kernel.  REQ is NULL when the open never reached the
 * kernel: the idle backing is kept for the next open (or the unmount).
 */
void passthrough_detach(struct trainfs *fs, fuse_req_t req, struct handle *h)
{
#if TRAINFS_PASSTHROUGH
	struct backing *b = h->backing;
	if (!b)
		return;
	h->backing = NULL;
	lock_take(&fs->backing_lock);
	if (--b->refs == 0 && req) {
		fuse_passthrough_close(req, b->id);
		for (struct backing **p = &fs->backings; *p; p = &(*p)->next)
			if (*p == b) {
				*p = b->next;
				break;
			}
		free(b);
	}
	lock_drop(&fs->backing_lock);
#else
	(void)fs, (void)req, (void)h;
#endif
}

/* Asks for capability FLAG of CONN (libfuse 3.17 has 64-bit flags). */
static void conn_want(struct fuse_conn_info *conn, uint64_t flag, int on)
{
#if FUSE_USE_VERSION >= 317
	if (on)
		fuse_set_feature_flag(conn, flag);
	else
		fuse_unset_feature_flag(conn, flag);
#else
	if (on)
		conn->want |= flag;
	else
		conn->want &= ~flag;
#endif
}

static int conn_capable(const struct fuse_conn_info *conn, uint64_t flag)
{
#if FUSE_USE_VERSION >= 317
	return (conn->capable_ext & flag) != 0;
#else
	return (conn->capable & flag) != 0;
#endif
}

/* Whether we have CAP_SYS_ADMIN, which passthrough needs. */
static int has_sys_admin(void)
{
	char line[256];
	unsigned long long caps = 0;
	FILE *f = fopen("/proc/self/status", "re");
	if (!f)
		return 0;
	while (fgets(line, sizeof line, f))
		if (sscanf(line, "CapEff: %llx", &caps) == 1)
			break;
	fclose(f);
	return (caps >> 21) & 1; /* CAP_SYS_ADMIN */
}

void op_init(void *userdata, struct fuse_conn_info *conn)
{
	struct trainfs *fs = userdata;
	const char *why = NULL;

	/* Writes must reach us before they return, so refusals are seen. */
	conn_want(conn, FUSE_CAP_WRITEBACK_CACHE, 0);
	/* by-state/ and by-tag/ links: byview.c invalidates them */
	if (conn_capable(conn, FUSE_CAP_CACHE_SYMLINKS))
		conn_want(conn, FUSE_CAP_CACHE_SYMLINKS, 1);
	if (conn_capable(conn, FUSE_CAP_SPLICE_WRITE)) {
		conn_want(conn, FUSE_CAP_SPLICE_WRITE, 1);
		conn_want(conn, FUSE_CAP_SPLICE_MOVE, 1);
	}
#if TRAINFS_PASSTHROUGH
	if (!conn_capable(conn, FUSE_CAP_PASSTHROUGH)) {
		why = "the kernel does not offer FUSE passthrough";
	} else if (!has_sys_admin()) {
		why = "passthrough needs CAP_SYS_ADMIN";
	} else {
		conn_want(conn, FUSE_CAP_PASSTHROUGH, 1);
		/* The store may be on overlayfs (a container's disk). */
		conn->max_backing_stack_depth = FUSE_BACKING_STACKED_OVER;
	}
#else
	(void)has_sys_admin;
	why = "trainfs was built with a libfuse older than 3.17";
#endif
	lock_take(&fs->backing_lock);
	fs->passthrough = !why;
	lock_drop(&fs->backing_lock);
	if (why)
		log_info("reads of weights: splice (%s)", why);
	else
		log_info("reads of weights: passthrough");
}

void passthrough_free(struct trainfs *fs)
{
	/* The kernel closed the backing files with the connection. */
	while (fs->backings) {
		struct backing *b = fs->backings;
		fs->backings = b->next;
		free(b);
	}
	lock_destroy(&fs->backing_lock);
}
