/*
 * xattr: the extended attributes of a job folder, for getfattr and file
 * browsers: user.trainfs.state (the state), user.xdg.tags (the tags,
 * comma-separated, as KDE's Dolphin reads and writes them) and
 * user.xdg.comment (the message or error, when there is one).
 *
 * Setting user.xdg.tags replaces the user tags (system tags named in it are
 * ignored; the job keeps its own); removing it clears them.  Nothing else
 * can be set, and only the user.* namespace exists (ENOTSUP for others).
 * They say what the job's files say, so they are read only by whoever may
 * read the job (EACCES for others: jobs/core/access.h).
 * No handler ever answers ENOSYS: the kernel would then turn extended
 * attributes off for the whole mount, and never ask again.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs/caller.h"
#include "fs/fs.h"

#define XA_STATE "user.trainfs.state"
#define XA_TAGS "user.xdg.tags"
#define XA_COMMENT "user.xdg.comment"

/*
 * The value of attribute NAME of JOB into a malloc'd *out of *len bytes
 * (no NUL).  With the job's lock held.  0, -ENODATA or -ENOMEM.
 */
static int xattr_value(const struct job *job, const char *name, char **out,
		       size_t *len)
{
	FILE *f;
	char msg[256];
	if (!(f = open_memstream(out, len)))
		return -ENOMEM;
	int rc = 0;
	if (!strcmp(name, XA_STATE)) {
		fputs(state_name(job->rec.state), f);
	} else if (!strcmp(name, XA_TAGS)) {
		for (size_t i = 0; i < job->ntags; i++)
			fprintf(f, "%s%s", i ? "," : "", job->tags[i].name);
	} else if (!strcmp(name, XA_COMMENT)) {
		if (job->rec.state == ST_FAILED && job->rec.error)
			fputs(job->rec.error, f);
		else if (job->rec.state == ST_CREATED && job->rec.spec &&
			 job->spec_error)
			fputs(job->spec_error, f);
		else if (*job_message(job, msg, sizeof msg))
			fputs(msg, f);
		else
			rc = -ENODATA;
	} else {
		rc = -ENODATA;
	}
	if (fclose(f) != 0 && !rc)
		rc = -ENOMEM;
	if (rc) {
		free(*out);
		*out = NULL;
	}
	return rc;
}

/* Answers a get or list: the length when SIZE is 0, else the bytes. */
static void reply_value(fuse_req_t req, const char *v, size_t len, size_t size)
{
	if (size == 0)
		fuse_reply_xattr(req, len);
	else if (size < len)
		fuse_reply_err(req, ERANGE);
	else
		fuse_reply_buf(req, v, len);
}

void op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	struct trainfs *fs = fuse_req_userdata(req);
	char *v = NULL;
	size_t len = 0;
	int rc = -ENODATA;
	/*
	 * Only user.* exists here.  ENOTSUP for the other namespaces lets a
	 * program stop asking: ls -l asks for security.selinux of every file
	 * and, told ENOTSUP once, takes it for the whole mount (a round trip
	 * per file otherwise: `ls -l jobs/` would cost one per job).
	 */
	if (strncmp(name, "user.", 5))
		rc = -ENOTSUP;
	else if (ino_kind(ino) == N_JOB &&
		 !(rc = fs_may_read_job(fs, req, ino_job(ino)))) {
		struct job *job = jobs_lock_job(fs->jobs, ino_job(ino));
		rc = job ? xattr_value(job, name, &v, &len) : -ENOENT;
		if (job)
			jobs_unlock_job(fs->jobs, job);
	}
	if (rc)
		fuse_reply_err(req, -rc);
	else
		reply_value(req, v, len, size);
	free(v);
}

void op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	static const char *const names[] = { XA_STATE, XA_TAGS, XA_COMMENT };
	struct trainfs *fs = fuse_req_userdata(req);
	char list[64];
	size_t used = 0;
	int rc = 0;
	if (ino_kind(ino) == N_JOB &&
	    !(rc = fs_may_read_job(fs, req, ino_job(ino)))) {
		struct job *job = jobs_lock_job(fs->jobs, ino_job(ino));
		for (size_t i = 0; job && i < 3; i++) {
			char *v = NULL;
			size_t len;
			if (xattr_value(job, names[i], &v, &len))
				continue; /* no comment: not listed */
			free(v);
			memcpy(list + used, names[i], strlen(names[i]) + 1);
			used += strlen(names[i]) + 1;
		}
		rc = job ? 0 : -ENOENT;
		if (job)
			jobs_unlock_job(fs->jobs, job);
	}
	if (rc)
		fuse_reply_err(req, -rc);
	else
		reply_value(req, list, used, size);
}

/*
 * VALUE ("a, b,ready") as the lines jobs_write_tags() takes, without the
 * system tags; a malloc'd string or NULL.
 */
static char *user_tag_lines(const char *value, size_t size, size_t *len)
{
	char *text = malloc(size + 2), *out = malloc(size + 2);
	size_t n = 0;
	if (!text || !out) {
		free(text);
		free(out);
		return NULL;
	}
	memcpy(text, value, size);
	text[size] = '\0';
	char *save = NULL;
	for (char *t = strtok_r(text, ",", &save); t;
	     t = strtok_r(NULL, ",", &save)) {
		while (*t == ' ' || *t == '\t' || *t == '\n')
			t++;
		size_t l = strlen(t);
		while (l && (t[l - 1] == ' ' || t[l - 1] == '\t' ||
			     t[l - 1] == '\n'))
			t[--l] = '\0';
		if (!l || job_tag_is_system(t))
			continue;
		memcpy(out + n, t, l);
		n += l;
		out[n++] = '\n';
	}
	out[n] = '\0';
	free(text);
	*len = n;
	return out;
}

void op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
		 const char *value, size_t size, int flags)
{
	struct trainfs *fs = fuse_req_userdata(req);
	int rc;
	(void)flags; /* XATTR_CREATE/REPLACE: the attribute always exists */
	if (ino_kind(ino) != N_JOB ||
	    (strcmp(name, XA_TAGS) && strcmp(name, XA_STATE) &&
	     strcmp(name, XA_COMMENT))) {
		fuse_reply_err(req, ENOTSUP);
		return;
	}
	if (strcmp(name, XA_TAGS)) {
		fuse_reply_err(req, EPERM); /* trainfs's own to say */
		return;
	}
	if (size > JOB_TAGS_WRITE_MAX) {
		fuse_reply_err(req, E2BIG);
		return;
	}
	size_t len;
	char *lines = user_tag_lines(value, size, &len);
	if (!lines) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	rc = jobs_write_tags(fs->jobs, ino_job(ino), fuse_req_ctx(req)->uid,
			     lines, len, 1);
	free(lines);
	notifier_sync(fs->notifier); /* the next read of tags sees it */
	fuse_reply_err(req, -rc);
}

void op_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	struct trainfs *fs = fuse_req_userdata(req);
	int rc;
	if (strncmp(name, "user.", 5) || ino_kind(ino) != N_JOB) {
		fuse_reply_err(req,
			       strncmp(name, "user.", 5) ? ENOTSUP : ENODATA);
		return;
	}
	if (strcmp(name, XA_TAGS)) {
		fuse_reply_err(req, !strcmp(name, XA_STATE) ||
						    !strcmp(name, XA_COMMENT) ?
					    EPERM :
					    ENODATA);
		return;
	}
	rc = jobs_write_tags(fs->jobs, ino_job(ino), fuse_req_ctx(req)->uid, "",
			     0, 1);
	notifier_sync(fs->notifier);
	fuse_reply_err(req, -rc);
}
