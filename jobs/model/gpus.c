/*
 * gpus: the pool of GPUs, finding NVIDIA GPUs, and the scheduling order
 * (first come, with backfill).  See gpus.h for the model; nothing here
 * knows a job, a lock or the store.
 *
 * Scheduling is one greedy pass in the order jobs were queued: each job
 * that fits now (a slot, and as many free GPUs as it needs) runs now,
 * each that does not waits and lets the later ones try.  A big job can
 * thus wait while small ones pass it; that is the rule users asked for
 * (no GPU idle while something could run), not an accident.
 */
#include <ctype.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jobs/model/gpus.h"

/* Reads one id of LEN bytes at T into *ID; 0 or -1. */
static int parse_id(const char *t, size_t len, int *id)
{
	int v = 0;
	if (len == 0 || len > 4)
		return -1;
	for (size_t i = 0; i < len; i++) {
		if (!isdigit((unsigned char)t[i]))
			return -1;
		v = v * 10 + (t[i] - '0');
	}
	*id = v;
	return v <= GPUS_ID_MAX ? 0 : -1;
}

static int pool_has(const struct gpu_pool *pool, int id)
{
	for (size_t i = 0; i < pool->n; i++)
		if (pool->ids[i] == id)
			return 1;
	return 0;
}

int gpus_parse_list(const char *text, struct gpu_pool *pool, char *err,
		    size_t errlen)
{
	const char *p = text;
	pool->n = 0;
	if (!strcmp(text, "none"))
		return 0;
	for (;;) {
		size_t len = strcspn(p, ",:");
		int id;
		if (parse_id(p, len, &id)) {
			snprintf(err, errlen, "bad GPU id '%.*s'",
				 (int)(len < 32 ? len : 32), p);
			return -1;
		}
		if (pool_has(pool, id)) {
			snprintf(err, errlen, "GPU %d is listed twice", id);
			return -1;
		}
		if (pool->n == GPUS_MAX) {
			snprintf(err, errlen, "more than %d GPUs", GPUS_MAX);
			return -1;
		}
		pool->ids[pool->n++] = id;
		if (!p[len])
			return 0;
		p += len + 1;
	}
}

/* Whether NAME is "nvidia" then digits only (not nvidiactl, nvidia-uvm). */
static int is_nvidia_device(const char *name)
{
	if (strncmp(name, "nvidia", 6) || !name[6])
		return 0;
	for (const char *c = name + 6; *c; c++)
		if (!isdigit((unsigned char)*c))
			return 0;
	return 1;
}

/*
 * Counts the entries of DIR that are a GPU: every folder but . and ..
 * (DEVICES 0), or every nvidiaN (DEVICES 1).  -1 when DIR cannot be read.
 */
static long count_entries(const char *dir, int devices)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	long n = 0;
	if (!d)
		return -1;
	while ((de = readdir(d))) {
		if (devices ?
			    is_nvidia_device(de->d_name) :
			    de->d_name[0] != '.' && (de->d_type == DT_DIR ||
						     de->d_type == DT_UNKNOWN))
			n++;
	}
	closedir(d);
	return n;
}

int gpus_detect(const char *proc_dir, const char *dev_dir,
		struct gpu_pool *pool)
{
	long n = count_entries(proc_dir, 0);
	if (n < 0)
		n = count_entries(dev_dir, 1);
	pool->n = 0;
	for (long i = 0; i < n && i < GPUS_MAX; i++)
		pool->ids[pool->n++] = (int)i;
	return 0;
}

char *gpus_format(const int *ids, size_t n, char sep, char *buf, size_t len)
{
	size_t used = 0;
	if (!len)
		return buf;
	buf[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		int w = snprintf(buf + used, len - used, "%s%d",
				 i ? (char[]){ sep, 0 } : "", ids[i]);
		if (w < 0 || (size_t)w >= len - used) {
			buf[used] = '\0'; /* whole ids only */
			break;
		}
		used += w;
	}
	return buf;
}

size_t gpus_parse_held(const char *text, int *ids, size_t max)
{
	size_t n = 0;
	const char *p = text;
	while (p && *p && n < max) {
		size_t len = strcspn(p, ",");
		if (parse_id(p, len, &ids[n]) == 0)
			n++;
		p += len + (p[len] ? 1 : 0);
	}
	return n;
}

static int queued_cmp(const void *a, const void *b)
{
	const struct gpus_queued *x = a, *y = b;
	if (x->queued_ns != y->queued_ns)
		return x->queued_ns < y->queued_ns ? -1 : 1;
	return (x->job_id > y->job_id) - (x->job_id < y->job_id);
}

/* The pool's ids that nobody holds, in pool order, into FREE; how many. */
static size_t free_ids(const struct gpu_pool *pool, const int *held,
		       size_t nheld, int *free)
{
	size_t n = 0;
	for (size_t i = 0; i < pool->n; i++) {
		size_t k = 0;
		while (k < nheld && held[k] != pool->ids[i])
			k++;
		if (k == nheld)
			free[n++] = pool->ids[i];
	}
	return n;
}

/* Gives Q the first NEED of the NFREE ids in FREE and takes them out. */
static void take_ids(struct gpus_queued *q, int *free, size_t *nfree)
{
	size_t need = (size_t)q->need;
	gpus_format(free, need, ',', q->ids, sizeof q->ids);
	memmove(free, free + need, (*nfree - need) * sizeof *free);
	*nfree -= need;
}

long gpus_schedule(const struct gpu_pool *pool, const int *held, size_t nheld,
		   long running, long max_running, struct gpus_queued *q,
		   size_t n)
{
	int free[GPUS_MAX];
	size_t nfree = free_ids(pool, held, nheld, free);
	if (n > 1) /* Q may be NULL when empty */
		qsort(q, n, sizeof *q, queued_cmp);
	for (size_t i = 0; i < n; i++) {
		q[i].launch = 0;
		q[i].ids[0] = '\0';
		q[i].wait = GPUS_WAIT_NONE;
		q[i].free = (long)nfree;
		if (!q[i].local) {
			q[i].launch = 1;
		} else if (q[i].need > (long)nfree) {
			q[i].wait = GPUS_WAIT_GPUS;
		} else if (max_running > 0 && running >= max_running) {
			q[i].wait = GPUS_WAIT_SLOT;
		} else {
			q[i].launch = 1;
			running++;
			if (q[i].need > 0)
				take_ids(&q[i], free, &nfree);
		}
	}
	return running;
}

char *gpus_waiting(const struct gpus_queued *q, long running, long max_running,
		   char *buf, size_t len)
{
	if (!len)
		return buf;
	if (q->wait == GPUS_WAIT_GPUS)
		snprintf(buf, len, "%ld GPU%s (%ld free)", q->need,
			 q->need == 1 ? "" : "s", q->free);
	else if (q->wait == GPUS_WAIT_SLOT)
		snprintf(buf, len, "a free slot (%ld of %ld running)", running,
			 max_running);
	else
		buf[0] = '\0';
	return buf;
}

long gpus_slurm_count(long need, int has_own)
{
	return has_own ? 0 : need;
}
