/*
 * tags: a job's user tags as the tags file shows them, a line each, and a
 * write to it.  Every line is checked first; the new list of tags is built
 * beside the job's and committed to the store before the job takes it
 * over, so a refused write or a failed commit changes nothing.  With the
 * job's lock held (the store's own lock is taken after it).
 */
#include <errno.h>
#include <stdint.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "jobs/core/registry.h"
#include "util/log.h"

static int is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

/*
 * The next non-blank line of TEXT from *POS, trimmed, into NAME: returns 0
 * at the end, else 1 with NAME the tag, or "" when the line is not a valid
 * tag name.
 */
static int next_tag(const char *text, size_t len, size_t *pos,
		    char name[TAG_NAME_MAX + 1])
{
	while (*pos < len) {
		size_t e = *pos, a = *pos, b;
		while (e < len && text[e] != '\n')
			e++;
		*pos = e + 1;
		while (a < e && is_blank(text[a]))
			a++;
		for (b = e; b > a && is_blank(text[b - 1]); b--)
			;
		if (b == a)
			continue;
		name[0] = '\0';
		if (tag_name_valid(text + a, b - a)) {
			memcpy(name, text + a, b - a);
			name[b - a] = '\0';
		}
		return 1;
	}
	return 0;
}

/* A list of tags being built (the job's is taken over whole). */
struct tag_list {
	struct job_tag *tags;
	size_t n;
};

static void tag_list_free(struct tag_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->tags[i].name);
	free(l->tags);
	l->tags = NULL;
	l->n = 0;
}

/* Appends NAME unless L has it; 0 or -ENOMEM.  L has room (tags_after). */
static int tag_list_add(struct tag_list *l, const char *name, int system)
{
	for (size_t i = 0; i < l->n; i++)
		if (!strcmp(l->tags[i].name, name))
			return 0;
	if (!(l->tags[l->n].name = strdup(name)))
		return -ENOMEM;
	l->tags[l->n++].system = system;
	return 0;
}

/*
 * The tags JOB will have after the write of TEXT (its user tags gone
 * first when CLEAR), into *OUT; JOB is not changed.  0 or -ENOMEM.
 */
static int tags_after(const struct job *job, const char *text, size_t len,
		      int clear, struct tag_list *out)
{
	char name[TAG_NAME_MAX + 1];
	size_t lines = 0;
	int rc = 0;
	for (size_t pos = 0; next_tag(text, len, &pos, name);)
		lines++;
	out->n = 0;
	if (!(out->tags = malloc((job->ntags + lines + 1) * sizeof *out->tags)))
		return -ENOMEM;
	for (size_t i = 0; i < job->ntags && !rc; i++)
		if (job->tags[i].system || !clear)
			rc = tag_list_add(out, job->tags[i].name,
					  job->tags[i].system);
	for (size_t pos = 0; !rc && next_tag(text, len, &pos, name);)
		rc = tag_list_add(out, name, 0);
	return rc;
}

/*
 * Stores the write of TEXT: the user tags cleared when CLEAR, the new
 * ones, and the record with the tags' time.  One transaction.
 */
static int store_tags(struct jobs *j, struct job *job, const char *text,
		      size_t len, int clear)
{
	char name[TAG_NAME_MAX + 1];
	struct job_record rec = job->rec; /* strings shared, not freed */
	int rc = store_begin(j->store);
	if (rc)
		return rc;
	rec.mtime_ns[VIEW_TAGS] = job_now_ns();
	if (clear && (rc = store_clear_user_tags(j->store, job->rec.id)))
		goto fail;
	for (size_t pos = 0; next_tag(text, len, &pos, name);)
		if ((rc = store_put_tag(j->store, job->rec.id, name, 0)))
			goto fail;
	if ((rc = store_put_job(j->store, &rec)))
		goto fail;
	return store_commit(j->store);
fail:
	store_rollback(j->store);
	return rc;
}

int jobs_write_tags(struct jobs *j, int64_t id, uid_t uid, const char *text,
		    size_t len, int clear)
{
	int rc = 0;
	char name[TAG_NAME_MAX + 1];
	struct job *job = jobs_lock_to_change(j, id, uid, &rc);
	if (!job)
		return rc;
	/*
	 * Check every line first: a refused write changes nothing.  The
	 * bounds keep one write, and the lookups it makes, small.
	 */
	size_t user = 0;
	for (size_t i = 0; i < job->ntags; i++)
		user += !job->tags[i].system;
	if (clear)
		user = 0;
	if (len > JOB_TAGS_WRITE_MAX) {
		rc = -EFBIG;
		goto out;
	}
	for (size_t pos = 0; next_tag(text, len, &pos, name);) {
		if (!name[0] || job_tag_is_system(name)) {
			rc = -EINVAL;
			log_warn("job '%s': refused tag: %s\n", job->rec.name,
				 name[0] ? "system tags are "
					   "set by trainfs" :
					   "not a valid name");
			goto out;
		}
		if (!job_has_tag(job, name) && ++user > JOB_USER_TAGS_MAX) {
			rc = -EFBIG;
			log_warn("job '%s': refused tags: more "
				 "than %d\n",
				 job->rec.name, JOB_USER_TAGS_MAX);
			goto out;
		}
	}
	struct tag_list next = { 0 };
	if ((rc = tags_after(job, text, len, clear, &next)) ||
	    (rc = store_tags(j, job, text, len, clear))) {
		tag_list_free(&next);
		goto out;
	}
	tag_list_free(&(struct tag_list){ job->tags, job->ntags });
	job->tags = next.tags;
	job->ntags = next.n;
	job_touch(j, job, VIEW_BIT(VIEW_TAGS));
out:
	jobs_unlock_job(j, job);
	return rc;
}

int jobs_user_tags(struct jobs *j, int64_t id, char **text, size_t *len)
{
	int rc = 0;
	FILE *f = open_memstream(text, len);
	if (!f)
		return -ENOMEM;
	struct job *job = jobs_lock_job(j, id);
	for (size_t i = 0; job && i < job->ntags; i++)
		if (!job->tags[i].system)
			fprintf(f, "%s\n", job->tags[i].name);
	if (job)
		jobs_unlock_job(j, job);
	else
		rc = -ENOENT;
	if (fclose(f) != 0)
		return -ENOMEM;
	if (rc) {
		free(*text);
		*text = NULL;
	}
	return rc;
}
