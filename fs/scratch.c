/*
 * scratch: editors' temporary and swap files in a job folder (".spec.swp",
 * "4913", "spec~", "sedAbC123", ".goutputstream-XYZ").  Any name that is
 * not one of the job's own files can be created there; it lives in memory
 * only (at most SCRATCH_BYTES each, SCRATCH_PER_JOB per job), behaves like
 * a plain file (read, write, truncate, chmod, chown to its owner, touch,
 * rename, unlink) and is gone after an unmount.  dir.c turns a rename of
 * one onto `spec` into a spec write.
 *
 * They are trainfs's memory, so who makes them is bounded: SCRATCH_PER_JOB
 * files per job (unlinked ones still open count), and what they allocate
 * is charged to the uid that made them (usermem.c), with the specs it
 * writes and the renderings it holds open, SCRATCH_USER_BYTES in all
 * (ENOSPC past either), however many jobs the user makes.
 *
 * Scratch files have inode numbers of their own (SCRATCH_INO_BIT set), so
 * they never collide with the computed inodes of job files.  One mutex,
 * the scratch lock, protects the list and every file's contents; it is
 * never held while the registry lock is taken (lock order: registry, then
 * scratch), and all work under it is bounded by SCRATCH_BYTES.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "fs/fs.h"
#include "util/lock.h"

struct scratch_file {
	fuse_ino_t ino;
	int64_t job;
	char *name; /* NULL once unlinked (kept while open) */
	char *data;
	size_t len, cap;
	mode_t mode;
	uid_t uid;
	gid_t gid;
	uid_t payer; /* who made it: charged its allocation (usermem.c) */
	struct timespec atime, mtime, ctime;
	int nopen;
	fuse_ino_t alias; /* renamed onto the job file of this inode */
	struct scratch_file *next;
};

/* Aliases kept per job (one per save by rename onto spec), oldest dropped. */
#define SCRATCH_ALIASES 32

struct scratches {
	struct lock lock; /* the scratch lock: the list and all contents */
	struct scratch_file *head;
	fuse_ino_t next_ino;
};

struct scratches *scratches_new(void)
{
	struct scratches *s = calloc(1, sizeof *s);
	if (!s)
		return NULL;
	lock_init(&s->lock, LOCK_SCRATCH);
	s->next_ino = SCRATCH_INO_BIT | 1;
	return s;
}

/* Lets go of F's contents and their charge. */
static void drop_data(struct scratch_file *f)
{
	usermem_uncharge(f->payer, f->cap);
	free(f->data);
	f->data = NULL;
	f->len = f->cap = 0;
}

static void file_free(struct scratch_file *f)
{
	drop_data(f);
	free(f->name);
	free(f);
}

void scratches_free(struct scratches *s)
{
	if (!s)
		return;
	while (s->head) {
		struct scratch_file *f = s->head;
		s->head = f->next;
		file_free(f);
	}
	lock_destroy(&s->lock);
	free(s);
}

/* The file named NAME in job JOB, or of inode INO (NAME NULL).  Locked. */
static struct scratch_file **find(struct scratches *s, int64_t job,
				  const char *name, fuse_ino_t ino)
{
	struct scratch_file **p;
	for (p = &s->head; *p; p = &(*p)->next) {
		struct scratch_file *f = *p;
		if (name ? f->name && f->job == job && !strcmp(f->name, name) :
			   f->ino == ino)
			return p;
	}
	return NULL;
}

/* Unlinks *P; frees it unless open.  Locked. */
static void drop(struct scratch_file **p)
{
	struct scratch_file *f = *p;
	if (f->nopen) {
		free(f->name);
		f->name = NULL;
		return;
	}
	*p = f->next;
	file_free(f);
}

/*
 * Charges F's maker for growing its allocation to CAP bytes: 1, or 0 when
 * that would take the maker past its share of the daemon's memory
 * (SCRATCH_USER_BYTES with everything else it holds).  Locked.
 */
static int charge_growth(struct scratch_file *f, size_t cap)
{
	return cap <= f->cap || !usermem_charge(f->payer, cap - f->cap);
}

static void fill_stat(const struct scratch_file *f, struct stat *st)
{
	memset(st, 0, sizeof *st);
	st->st_ino = f->ino;
	st->st_mode = S_IFREG | (f->mode & 07777);
	st->st_nlink = f->name ? 1 : 0;
	st->st_uid = f->uid;
	st->st_gid = f->gid;
	st->st_size = f->len;
	st->st_blksize = 4096;
	st->st_blocks = (f->len + 511) / 512;
	st->st_atim = f->atime;
	st->st_mtim = f->mtime;
	st->st_ctim = f->ctime;
}

int scratch_lookup(struct scratches *s, int64_t job, const char *name,
		   struct stat *st)
{
	lock_take(&s->lock);
	struct scratch_file **p = find(s, job, name, 0);
	if (p)
		fill_stat(*p, st);
	lock_drop(&s->lock);
	return p ? 0 : -ENOENT;
}

int scratch_create(struct scratches *s, int64_t job, const char *name,
		   mode_t mode, uid_t uid, gid_t gid, struct stat *st)
{
	int n = 0, rc = 0;
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	lock_take(&s->lock);
	for (struct scratch_file *f = s->head; f; f = f->next)
		n += f->job == job &&
		     !f->alias; /* open after an unlink: still here */
	struct scratch_file *f = NULL;
	if (find(s, job, name, 0))
		rc = -EEXIST;
	else if (n >= SCRATCH_PER_JOB)
		rc = -ENOSPC;
	else if (!(f = calloc(1, sizeof *f)) || !(f->name = strdup(name)))
		rc = -ENOMEM;
	if (!rc) {
		f->ino = s->next_ino++;
		f->job = job;
		f->mode = mode & 07777;
		f->uid = uid;
		f->payer = uid;
		f->gid = gid;
		f->atime = f->mtime = f->ctime = now;
		f->nopen = 1; /* create opens it */
		f->next = s->head;
		s->head = f;
		fill_stat(f, st);
	} else if (f) {
		free(f);
	}
	lock_drop(&s->lock);
	return rc;
}

int scratch_getattr(struct scratches *s, fuse_ino_t ino, struct stat *st)
{
	lock_take(&s->lock);
	struct scratch_file **p = find(s, 0, NULL, ino);
	if (p)
		fill_stat(*p, st);
	lock_drop(&s->lock);
	return p ? 0 : -ENOENT;
}

int scratch_alias(struct scratches *s, int64_t job, const char *name,
		  fuse_ino_t target)
{
	int rc = 0, n = 0;
	lock_take(&s->lock);
	struct scratch_file **p = find(s, job, name, 0);
	if (!p) {
		rc = -ENOENT;
		goto out;
	}
	struct scratch_file *f = *p;
	free(f->name);
	f->name = NULL;
	drop_data(f);
	f->alias = target;
	/* Bounded: the oldest aliases of the job go (the list is newest first). */
	for (p = &s->head; *p;) {
		if ((*p)->job == job && (*p)->alias && ++n > SCRATCH_ALIASES &&
		    !(*p)->nopen) {
			struct scratch_file *old = *p;
			*p = old->next;
			file_free(old);
		} else {
			p = &(*p)->next;
		}
	}
out:
	lock_drop(&s->lock);
	return rc;
}

fuse_ino_t scratch_alias_of(struct scratches *s, fuse_ino_t ino)
{
	lock_take(&s->lock);
	struct scratch_file **p = find(s, 0, NULL, ino);
	fuse_ino_t t = p ? (*p)->alias : 0;
	lock_drop(&s->lock);
	return t;
}

int64_t scratch_job(struct scratches *s, fuse_ino_t ino)
{
	lock_take(&s->lock);
	struct scratch_file **p = find(s, 0, NULL, ino);
	int64_t job = p ? (*p)->job : 0;
	lock_drop(&s->lock);
	return job;
}

static struct timespec stamp(const struct timespec *given, int now_flag)
{
	struct timespec t;
	if (!now_flag && given)
		return *given;
	clock_gettime(CLOCK_REALTIME, &t);
	return t;
}

int scratch_setattr(struct scratches *s, fuse_ino_t ino, const struct stat *a,
		    int to_set, uid_t owner, gid_t group, struct stat *st)
{
	int rc = 0;
	lock_take(&s->lock);
	struct scratch_file **p = find(s, 0, NULL, ino);
	struct scratch_file *f = p ? *p : NULL;
	if (!f) {
		rc = -ENOENT;
		goto out;
	}
	/* chown only to the job's owner (sed -i, cp -p) or as it is. */
	if (((to_set & FUSE_SET_ATTR_UID) && a->st_uid != f->uid &&
	     a->st_uid != owner) ||
	    ((to_set & FUSE_SET_ATTR_GID) && a->st_gid != f->gid &&
	     a->st_gid != group))
		rc = -EPERM;
	if (to_set & FUSE_SET_ATTR_SIZE) {
		if ((size_t)a->st_size > SCRATCH_BYTES)
			rc = -EFBIG;
		else if (!rc && (size_t)a->st_size > f->cap &&
			 !charge_growth(f, a->st_size))
			rc = -ENOSPC;
		else if (!rc && (size_t)a->st_size > f->cap) {
			char *d = realloc(f->data, a->st_size);
			if (!d) {
				usermem_uncharge(f->payer, a->st_size - f->cap);
				rc = -ENOMEM;
			} else {
				f->data = d;
				f->cap = a->st_size;
			}
		}
	}
	if (rc)
		goto out;
	if (to_set & FUSE_SET_ATTR_SIZE) {
		if ((size_t)a->st_size > f->len)
			memset(f->data + f->len, 0, a->st_size - f->len);
		f->len = a->st_size;
		f->mtime = stamp(NULL, 1);
	}
	if (to_set & FUSE_SET_ATTR_MODE)
		f->mode = a->st_mode & 07777;
	if (to_set & FUSE_SET_ATTR_UID)
		f->uid = a->st_uid;
	if (to_set & FUSE_SET_ATTR_GID)
		f->gid = a->st_gid;
	if (to_set & (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_ATIME_NOW))
		f->atime = stamp(&a->st_atim, to_set & FUSE_SET_ATTR_ATIME_NOW);
	if (to_set & (FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_MTIME_NOW))
		f->mtime = stamp(&a->st_mtim, to_set & FUSE_SET_ATTR_MTIME_NOW);
	f->ctime = stamp(NULL, 1);
	fill_stat(f, st);
out:
	lock_drop(&s->lock);
	return rc;
}

int scratch_open(struct scratches *s, fuse_ino_t ino, int trunc)
{
	lock_take(&s->lock);
	struct scratch_file **p = find(s, 0, NULL, ino);
	if (p) {
		(*p)->nopen++;
		if (trunc) {
			(*p)->len = 0;
			(*p)->mtime = (*p)->ctime = stamp(NULL, 1);
		}
	}
	lock_drop(&s->lock);
	return p ? 0 : -ENOENT;
}

void scratch_release(struct scratches *s, fuse_ino_t ino)
{
	lock_take(&s->lock);
	struct scratch_file **p = find(s, 0, NULL, ino);
	if (p && --(*p)->nopen <= 0 && !(*p)->name && !(*p)->alias) {
		(*p)->nopen = 0;
		drop(p);
	}
	lock_drop(&s->lock);
}

ssize_t scratch_read(struct scratches *s, fuse_ino_t ino, char *buf,
		     size_t size, off_t off)
{
	ssize_t n = -ENOENT;
	lock_take(&s->lock);
	struct scratch_file **p = find(s, 0, NULL, ino);
	if (p) {
		struct scratch_file *f = *p;
		n = off < 0 || (size_t)off >= f->len ?
			    0 :
			    (ssize_t)(f->len - off < size ? f->len - off :
							    size);
		if (n > 0)
			memcpy(buf, f->data + off, n);
	}
	lock_drop(&s->lock);
	return n;
}

ssize_t scratch_write(struct scratches *s, fuse_ino_t ino, const char *data,
		      size_t size, off_t off, int append)
{
	ssize_t rc = size;
	lock_take(&s->lock);
	struct scratch_file **p = find(s, 0, NULL, ino);
	struct scratch_file *f = p ? *p : NULL;
	if (!f) {
		rc = -ENOENT;
		goto out;
	}
	if (append)
		off = f->len;
	if (off < 0 || (size_t)off + size > SCRATCH_BYTES) {
		rc = -EFBIG;
		goto out;
	}
	size_t end = off + size;
	if (end > f->cap) {
		size_t cap = end * 2 < SCRATCH_BYTES ? end * 2 : SCRATCH_BYTES;
		/* no slack near the limit */
		if (!charge_growth(f, cap) && !charge_growth(f, cap = end)) {
			rc = -ENOSPC;
			goto out;
		}
		char *d = realloc(f->data, cap);
		if (!d) {
			usermem_uncharge(f->payer, cap - f->cap);
			rc = -ENOMEM;
			goto out;
		}
		f->data = d;
		f->cap = cap;
	}
	if ((size_t)off > f->len)
		memset(f->data + f->len, 0, off - f->len);
	memcpy(f->data + off, data, size);
	if (end > f->len)
		f->len = end;
	f->mtime = f->ctime = stamp(NULL, 1);
out:
	lock_drop(&s->lock);
	return rc;
}

int scratch_unlink(struct scratches *s, int64_t job, const char *name,
		   uid_t caller)
{
	int rc = 0;
	lock_take(&s->lock);
	struct scratch_file **p = find(s, job, name, 0);
	if (!p)
		rc = -ENOENT;
	else if (caller != 0 && caller != (*p)->uid)
		rc = -EACCES;
	else
		drop(p);
	lock_drop(&s->lock);
	return rc;
}

int scratch_rename(struct scratches *s, int64_t job, const char *from,
		   const char *to, int noreplace)
{
	int rc = 0;
	char *copy = strdup(to);
	if (!copy)
		return -ENOMEM;
	lock_take(&s->lock);
	struct scratch_file **p = find(s, job, from, 0), **q;
	if (!p) {
		rc = -ENOENT;
	} else if ((q = find(s, job, to, 0)) && *q != *p) {
		if (noreplace)
			rc = -EEXIST;
		else
			drop(q);
		p = find(s, job, from, 0); /* the list may have moved */
	}
	if (!rc) {
		free((*p)->name);
		(*p)->name = copy;
		copy = NULL;
		(*p)->ctime = stamp(NULL, 1);
	}
	lock_drop(&s->lock);
	free(copy);
	return rc;
}

int scratch_take(struct scratches *s, int64_t job, const char *name,
		 char **data, size_t *len)
{
	int rc = 0;
	lock_take(&s->lock);
	struct scratch_file **p = find(s, job, name, 0);
	if (!p) {
		rc = -ENOENT;
	} else if (!(*data = malloc((*p)->len + 1))) {
		rc = -ENOMEM;
	} else {
		memcpy(*data, (*p)->data, (*p)->len);
		*len = (*p)->len;
	}
	lock_drop(&s->lock);
	return rc;
}

int scratch_list(struct scratches *s, int64_t job,
		 int (*fn)(void *arg, const char *name, fuse_ino_t ino),
		 void *arg)
{
	int rc = 0;
	lock_take(&s->lock);
	for (struct scratch_file *f = s->head; f && !rc; f = f->next)
		if (f->job == job && f->name)
			rc = fn(arg, f->name, f->ino);
	lock_drop(&s->lock);
	return rc;
}

void scratch_forget_job(struct scratches *s, int64_t job)
{
	lock_take(&s->lock);
	struct scratch_file **p = &s->head;
	while (*p) {
		if ((*p)->job == job && ((*p)->name || (*p)->alias)) {
			struct scratch_file *before = *p;
			drop(p);
			if (*p == before) /* kept while open */
				p = &(*p)->next;
		} else {
			p = &(*p)->next;
		}
	}
	lock_drop(&s->lock);
}
