/*
 * job: the registry of jobs and the operations a user performs on them
 * (create, spec, control, tags, remove).  The supervisor (supervisor.c)
 * performs the transitions no user asks for.
 *
 * Memory is the truth for readers, the store for restarts: a change is made
 * in memory and written through in one transaction before the call
 * returns.  Refusals go through refuse(), which records "last refused" and
 * returns the errno, so every refused write looks alike everywhere.
 */
#include <errno.h>
#include <stdint.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "jobs/access.h"
#include "jobs/ckpt_run.h"
#include "jobs/gpu_run.h"
#include "jobs/registry.h"
#include "jobs/restart.h"
#include "jobs/tablecap.h"
#include "jobs/source.h"
#include "jobs/workdir.h"
#include "util/lock.h"
#include "util/log.h"
#include "util/utf8.h"
#include "util/text.h"

static const char *const system_tags[] = {
	"stopped-early", "converged", "completed",
	"cancelled",     "failed",    "ready",
};

int64_t job_now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_REALTIME, &t);
	return (int64_t)t.tv_sec * 1000000000LL + t.tv_nsec;
}

char *job_format_time(int64_t ns, char *buf, size_t len)
{
	time_t secs = (time_t)(ns / 1000000000LL);
	struct tm tm;
	if (!gmtime_r(&secs, &tm) ||
	    !strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(buf, len, "?");
	return buf;
}

/*
 * UTF-8 (util/utf8.c decides), no '/' and no control character, and no
 * character that lies about the text: noncharacters, and the format and
 * separator characters (Cf, Zl, Zp) that reorder or break it.
 */
int job_name_valid(const char *name, size_t len)
{
	if (!name || len < 1 || len > JOB_NAME_MAX || name[0] == '.')
		return 0;
	for (size_t i = 0; i < len;) {
		unsigned int cp;
		size_t step = utf8_decode(name + i, len - i, &cp);
		if (!step || cp == '/' || utf8_is_control(cp) ||
		    utf8_is_noncharacter(cp) || utf8_is_format(cp))
			return 0;
		i += step;
	}
	return 1;
}

int tag_name_valid(const char *name, size_t len)
{
	if (!name || len < 1 || len > TAG_NAME_MAX || name[0] == '.')
		return 0;
	for (size_t i = 0; i < len; i++) {
		char c = name[i];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		      (c >= '0' && c <= '9') || c == '.' || c == '_' ||
		      c == '-'))
			return 0;
	}
	return 1;
}

static int is_system_tag(const char *t)
{
	for (size_t i = 0; i < sizeof system_tags / sizeof *system_tags; i++)
		if (!strcmp(t, system_tags[i]))
			return 1;
	return 0;
}

int job_tag_is_system(const char *name)
{
	return is_system_tag(name);
}

int job_may_change(const struct job *job, uid_t uid)
{
	return uid == 0 || uid == job->rec.uid;
}

long job_last_epoch(const struct job *job)
{
	return (long)job->rec.last_epoch;
}

char *job_message(const struct job *job, char *buf, size_t len)
{
	long e = job_last_epoch(job);
	buf[0] = '\0';
	if (job->rec.state == ST_READY && job->rec.reason &&
	    !strcmp(job->rec.reason, "stopped-early")) {
		/* The last stop: was it the one ahead of the time limit? */
		for (size_t i = job->nevents; i-- > 0;)
			if (!strcmp(job->events[i].state, "stopping")) {
				if (job->events[i].reason &&
				    !strcmp(job->events[i].reason,
					    JOB_TIME_LIMIT_STOP))
					snprintf(buf, len, "%s",
						 JOB_TIME_LIMIT_STOP);
				break;
			}
		return buf;
	}
	if (job->rec.state == ST_READY && job->rec.reason &&
	    !strcmp(job->rec.reason, "pruned")) {
		/* The pruner's sentence is its stop's event reason. */
		for (size_t i = job->nevents; i-- > 0;)
			if (!strcmp(job->events[i].state, "stopping")) {
				snprintf(buf, len, "%s",
					 job->events[i].reason
						 ? job->events[i].reason
						 : "");
				break;
			}
		return buf;
	}
	if (job->rec.state != ST_READY || !job->rec.reason ||
	    strcmp(job->rec.reason, "converged") != 0)
		return buf;
	if (job->spec.epochs > 0) {
		long skipped = job->spec.epochs - e;
		snprintf(buf, len,
			 "training converged at epoch %ld of %ld; %ld "
			 "unnecessary epochs skipped",
			 e, job->spec.epochs, skipped > 0 ? skipped : 0);
	} else {
		snprintf(buf, len, "training converged at epoch %ld", e);
	}
	return buf;
}

/* ---- the registry ---- */

static size_t name_hash(const char *s)
{
	size_t h = 1469598103934665603ULL;
	while (*s)
		h = (h ^ (unsigned char)*s++) * 1099511628211ULL;
	return h;
}

static int names_grow(struct jobs *j)
{
	size_t cap = j->cap_names ? j->cap_names * 2 : 1024;
	struct job **t = calloc(cap, sizeof *t);
	if (!t)
		return -ENOMEM;
	for (size_t i = 0; i < j->n; i++) {
		size_t h = name_hash(j->list[i]->rec.name) & (cap - 1);
		while (t[h])
			h = (h + 1) & (cap - 1);
		t[h] = j->list[i];
	}
	free(j->by_name);
	j->by_name = t;
	j->cap_names = cap;
	return 0;
}

/*
 * Takes JOB out of the name index without allocating (linear probing's
 * backward shift: each later entry of the run moves into the hole when
 * its home slot allows).
 */
static void names_remove(struct jobs *j, const struct job *job)
{
	size_t mask = j->cap_names - 1;
	size_t hole = name_hash(job->rec.name) & mask;
	while (j->by_name[hole] != job)
		hole = (hole + 1) & mask;
	for (size_t i = (hole + 1) & mask; j->by_name[i]; i = (i + 1) & mask) {
		size_t home = name_hash(j->by_name[i]->rec.name) & mask;
		/* Movable unless home lies cyclically in (hole, i]. */
		if (((i - home) & mask) >= ((i - hole) & mask)) {
			j->by_name[hole] = j->by_name[i];
			hole = i;
		}
	}
	j->by_name[hole] = NULL;
}

/* Puts JOB in the name index (room is there: see registry_add). */
static void names_insert(struct jobs *j, struct job *job)
{
	size_t h = name_hash(job->rec.name) & (j->cap_names - 1);
	while (j->by_name[h])
		h = (h + 1) & (j->cap_names - 1);
	j->by_name[h] = job;
}

/* Adds JOB with the list's reference.  Registry lock held (or loading). */
static int registry_add(struct jobs *j, struct job *job)
{
	if (j->n == j->cap) {
		size_t cap = j->cap ? j->cap * 2 : 64;
		struct job **l = realloc(j->list, cap * sizeof *l);
		if (!l)
			return -ENOMEM;
		j->list = l;
		j->cap = cap;
	}
	if ((j->n + 1) * 2 >= j->cap_names && names_grow(j))
		return -ENOMEM;
	j->list[j->n++] = job;
	job->refs++;
	names_insert(j, job);
	return 0;
}

struct job *jobs_find(struct jobs *j, int64_t id)
{
	size_t lo = 0, hi = j->n;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (j->list[mid]->rec.id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < j->n && j->list[lo]->rec.id == id ? j->list[lo] : NULL;
}

struct job *jobs_find_name(struct jobs *j, const char *name)
{
	if (!j->cap_names)
		return NULL;
	size_t h = name_hash(name) & (j->cap_names - 1);
	while (j->by_name[h]) {
		if (!strcmp(j->by_name[h]->rec.name, name))
			return j->by_name[h];
		h = (h + 1) & (j->cap_names - 1);
	}
	return NULL;
}

struct job **jobs_list(struct jobs *j, size_t *n)
{
	*n = j->n;
	return j->list;
}

void jobs_lock(struct jobs *j)
{
	lock_take(&j->lock);
	j->lock_owner = pthread_self();
	j->lock_held = 1;
}

void jobs_unlock(struct jobs *j)
{
	jobs_assert_locked(j);
	j->lock_held = 0;
	lock_drop(&j->lock);
}

int jobs_claim_pid(struct jobs *j, const char *mountpoint)
{
	return store_claim_pid(j->store, mountpoint);
}

void job_lock(struct job *job)
{
	lock_take(&job->lock);
	job->lock_owner = pthread_self();
	job->lock_held = 1;
}

void job_unlock(struct job *job)
{
	job_assert_locked(job);
	job->lock_held = 0;
	lock_drop(&job->lock);
}

int job_trylock(struct job *job)
{
	if (lock_trytake(&job->lock))
		return 0;
	job->lock_owner = pthread_self();
	job->lock_held = 1;
	return 1;
}

static void job_free(struct job *job);

struct job *jobs_get(struct jobs *j, int64_t id)
{
	jobs_lock(j);
	struct job *job = jobs_find(j, id);
	if (job)
		job->refs++;
	jobs_unlock(j);
	return job;
}

void jobs_put(struct jobs *j, struct job *job)
{
	if (!job)
		return;
	jobs_lock(j);
	int last = --job->refs == 0;
	jobs_unlock(j);
	if (last)
		job_free(job); /* removed, and nobody can find it any more */
}

int jobs_visit(struct jobs *j, int (*fn)(void *arg, struct job *job),
	       void *arg)
{
	size_t n, dead = 0;
	int rc = 0;
	jobs_lock(j);
	n = j->n;
	struct job **all = malloc((n ? n : 1) * sizeof *all);
	if (!all) {
		jobs_unlock(j);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		all[i] = j->list[i];
		all[i]->refs++;
	}
	jobs_unlock(j);
	for (size_t i = 0; i < n && !rc; i++) {
		job_lock(all[i]);
		if (!all[i]->removed)
			rc = fn(arg, all[i]);
		job_unlock(all[i]);
	}
	/* Let go of them all at once; free the ones removed meanwhile after. */
	jobs_lock(j);
	for (size_t i = 0; i < n; i++)
		if (--all[i]->refs == 0)
			all[dead++] = all[i];
	jobs_unlock(j);
	for (size_t i = 0; i < dead; i++)
		job_free(all[i]);
	free(all);
	return rc;
}

struct job *jobs_lock_job(struct jobs *j, int64_t id)
{
	struct job *job = jobs_get(j, id);
	if (!job)
		return NULL;
	job_lock(job);
	if (job->removed) { /* rmdir won the race */
		job_unlock(job);
		jobs_put(j, job);
		return NULL;
	}
	return job;
}

void jobs_unlock_job(struct jobs *j, struct job *job)
{
	job_unlock(job);
	jobs_put(j, job);
}

void jobs_on_change(struct jobs *j, jobs_changed_fn fn, void *arg)
{
	jobs_lock(j);
	j->changed = fn;
	j->changed_arg = arg;
	jobs_unlock(j);
}

int jobs_path(struct jobs *j, const struct job *job, const char *rel,
	      char *buf, size_t len)
{
	return store_job_path(j->store, job->rec.id, rel, buf, len);
}

/* ---- one job in memory ---- */

static struct job *job_new(void)
{
	struct job *job = calloc(1, sizeof *job);
	if (!job)
		return NULL;
	lock_init(&job->lock, LOCK_JOB);
	pthread_cond_init(&job->idle, NULL);
	job->monitor_col = -1;
	job->packer_fd = -1;
	job->weights_tmp_fd = -1;
	job->metrics_fd = -1;
	return job;
}

static void job_free(struct job *job)
{
	if (!job)
		return;
	store_record_free(&job->rec);
	spec_free(&job->spec);
	free(job->spec_error);
	for (size_t i = 0; i < job->ntags; i++)
		free(job->tags[i].name);
	free(job->tags);
	for (size_t i = 0; i < job->nevents; i++) {
		free(job->events[i].state);
		free(job->events[i].reason);
	}
	free(job->events);
	for (int i = 0; i < job->table.ncolumns; i++)
		free(job->table.columns[i]);
	free(job->table.columns);
	free(job->table.index);
	free(job->table.epochs);
	watch_index_free(&job->table.by_epoch);
	free(job->table.cells);
	free(job->splitter);
	source_free(job->source);
	free(job->pack_error);
	free(job->ckpt_resume_path);
	job_table_keep(job);
	free(job->exec_line);
	free(job->sweep);
	free(job->sweep_name);
	free(job->exec_error);
	if (job->run)
		job->exec->ops->release(job->run);
	if (job->packer_fd >= 0)
		close(job->packer_fd);
	if (job->weights_tmp_fd >= 0)
		close(job->weights_tmp_fd);
	if (job->metrics_fd >= 0)
		close(job->metrics_fd);
	lock_destroy(&job->lock);
	pthread_cond_destroy(&job->idle);
	free(job);
}

/* Parses the stored spec into job->spec, or sets spec_error. */
static void job_parse_spec(struct job *job)
{
	char err[512];
	const char *text = job->rec.spec ? job->rec.spec : "";
	spec_free(&job->spec);
	free(job->spec_error);
	job->spec_error = NULL;
	job->spec_ok = spec_parse(text, job->rec.spec ? job->rec.spec_len : 0,
				  &job->spec, err, sizeof err) == 0;
	if (!job->spec_ok)
		job->spec_error = strdup(err);
	autostop_init(&job->policy, job->spec.mode_min, job->spec.min_delta,
		      job->spec.patience);
	/* What the policy had seen lives on in the record. */
	job->policy.have_best = job->rec.best_epoch >= 0;
	job->policy.best = job->rec.best;
	job->policy.best_epoch = job->rec.best_epoch;
	job->policy.waited = job->rec.waited;
	job->policy_before_ok = 0; /* a change of the last row replays all */
	job->monitor_col = -1;
	for (int c = 0; job->spec.monitor && c < job->table.ncolumns; c++)
		if (!strcmp(job->table.columns[c], job->spec.monitor))
			job->monitor_col = c;
}

/* Whether JOB has TAG, system or user. */
static int job_has_tag(const struct job *job, const char *tag)
{
	for (size_t i = 0; i < job->ntags; i++)
		if (!strcmp(job->tags[i].name, tag))
			return 1;
	return 0;
}

int job_add_tag(struct job *job, const char *tag, int system)
{
	if (job_has_tag(job, tag))
		return 0;
	struct job_tag *t = realloc(job->tags, (job->ntags + 1) * sizeof *t);
	if (!t)
		return -ENOMEM;
	job->tags = t;
	if (!(t[job->ntags].name = strdup(tag)))
		return -ENOMEM;
	t[job->ntags++].system = system;
	return 0;
}

int job_add_event(struct job *job, int64_t time_ns, const char *state,
		  const char *reason)
{
	struct job_event *e =
		realloc(job->events, (job->nevents + 1) * sizeof *e);
	if (!e)
		return -ENOMEM;
	job->events = e;
	e[job->nevents].time_ns = time_ns;
	e[job->nevents].state = strdup(state);
	e[job->nevents].reason = strdup(reason);
	if (!e[job->nevents].state || !e[job->nevents].reason) {
		free(e[job->nevents].state);
		free(e[job->nevents].reason);
		return -ENOMEM;
	}
	job->nevents++;
	return 0;
}

/*
 * The bit pattern of a cell no line reported: a NaN with a payload that
 * strtod never makes, so a reported nan stays a value.
 */
static const uint64_t missing_bits = 0x7ff4dead0000beefULL;

static int cell_missing(double v)
{
	uint64_t b;
	memcpy(&b, &v, sizeof b);
	return b == missing_bits;
}

static double cell_missing_value(void)
{
	double v;
	memcpy(&v, &missing_bits, sizeof v);
	return v;
}

int job_cell(const struct job *job, size_t row, int col, double *v)
{
	const struct job_table *t = &job->table;
	if (row >= t->nrows || col < 0 || col >= t->ncolumns)
		return 0;
	*v = t->cells[row * t->stride + col];
	return !cell_missing(*v);
}

/* The column of NAME, or -1. */
static int column_find(const struct job_table *t, const char *name)
{
	if (!t->cap_index)
		return -1;
	size_t mask = t->cap_index - 1;
	for (size_t h = name_hash(name) & mask; t->index[h];
	     h = (h + 1) & mask)
		if (!strcmp(t->columns[t->index[h] - 1], name))
			return t->index[h] - 1;
	return -1;
}

/* Rebuilds the index of the first ncolumns names with CAP slots. */
static int index_rebuild(struct job_table *t, int cap)
{
	int *x = calloc(cap, sizeof *x);
	if (!x)
		return -ENOMEM;
	for (int c = 0; c < t->ncolumns; c++) {
		size_t h = name_hash(t->columns[c]) & (cap - 1);
		while (x[h])
			h = (h + 1) & (cap - 1);
		x[h] = c + 1;
	}
	free(t->index);
	t->index = x;
	t->cap_index = cap;
	return 0;
}

/*
 * Makes room for one more column: the names array and the row stride grow
 * by doubling (the cells re-strided then, the new cells missing), so a
 * table of N names is re-strided about log2(N) times in all.
 */
static int column_room(struct job_table *t)
{
	if (t->ncolumns < t->stride)
		return 0;
	int stride = t->stride ? t->stride * 2 : 8;
	if (stride > JOB_COLUMNS_MAX)
		stride = JOB_COLUMNS_MAX;
	char **c = realloc(t->columns, stride * sizeof *c);
	if (!c)
		return -ENOMEM;
	t->columns = c;
	if (t->cap) {
		double *cells = malloc(t->cap * stride * sizeof *cells);
		if (!cells)
			return -ENOMEM;
		for (size_t r = 0; r < t->nrows; r++) {
			if (t->stride)
				memcpy(&cells[r * stride],
				       &t->cells[r * t->stride],
				       t->stride * sizeof *cells);
			for (int k = t->stride; k < stride; k++)
				cells[r * stride + k] = cell_missing_value();
		}
		free(t->cells);
		t->cells = cells;
	}
	t->stride = stride;
	return 0;
}

/* The column of NAME, added when new (its cells are missing already). */
static int job_column(struct job *job, const char *name)
{
	struct job_table *t = &job->table;
	int c = column_find(t, name);
	if (c >= 0)
		return c;
	if (t->ncolumns >= JOB_COLUMNS_MAX)
		return -E2BIG;
	if (column_room(t))
		return -ENOMEM;
	if ((t->ncolumns + 1) * 2 > t->cap_index &&
	    index_rebuild(t, t->cap_index ? t->cap_index * 2 : 32))
		return -ENOMEM;
	if (!(t->columns[t->ncolumns] = strdup(name)))
		return -ENOMEM;
	c = t->ncolumns++;
	size_t mask = t->cap_index - 1, h = name_hash(name) & mask;
	while (t->index[h])
		h = (h + 1) & mask;
	t->index[h] = c + 1;
	if (job->spec.monitor && !strcmp(name, job->spec.monitor))
		job->monitor_col = c;
	return c;
}

void job_table_truncate(struct job *job, size_t nrows, int ncols)
{
	struct job_table *t = &job->table;
	job_assert_locked(job);
	if (nrows < t->nrows) {
		t->nrows = nrows;
		if (!nrows) /* else the caller puts the counts right */
			t->epoch_chars = t->nvalues = t->name_chars =
				t->value_chars = 0;
		/* Never grows here: nothing to allocate, nothing to fail. */
		watch_index_rebuild(&t->by_epoch, t->epochs, nrows);
	}
	if (ncols < t->ncolumns) {
		/* Rows kept never had a value there: the cells stay missing. */
		for (int c = ncols; c < t->ncolumns; c++)
			free(t->columns[c]);
		t->ncolumns = ncols;
		/* The index rebuilt in place, without allocating. */
		memset(t->index, 0, t->cap_index * sizeof *t->index);
		for (int c = 0; c < ncols; c++) {
			size_t mask = t->cap_index - 1;
			size_t h = name_hash(t->columns[c]) & mask;
			while (t->index[h])
				h = (h + 1) & mask;
			t->index[h] = c + 1;
		}
		if (job->monitor_col >= ncols)
			job->monitor_col = -1;
	}
}

/*
 * Appends ML to the table; returns its row, -E2BIG when it would add names
 * past JOB_COLUMNS_MAX, -EFBIG past the table's bound (tablecap.c;
 * nothing added either way), or -ENOMEM.
 */
static long table_add(struct job *job, const struct metrics_line *ml)
{
	struct job_table *t = &job->table;
	int cols[ml->n ? ml->n : 1];
	size_t fresh = 0, names = 0, chars = 0;
	for (size_t i = 0; i < ml->n; i++) { /* names in a line are distinct */
		if (column_find(t, ml->m[i].name) < 0 &&
		    t->ncolumns + ++fresh > JOB_COLUMNS_MAX)
			return -E2BIG;
		names += strlen(ml->m[i].name);
		chars += tablecap_number_chars(ml->m[i].value);
	}
	size_t echars = tablecap_epoch_chars(ml->epoch);
	if (!tablecap_admits(t->nrows + 1, t->ncolumns + fresh,
			     tablecap_stored(t) + strlen("epoch=") + echars +
				     ml->n * strlen(" =") + names + chars))
		return -EFBIG;
	for (size_t i = 0; i < ml->n; i++)
		if ((cols[i] = job_column(job, ml->m[i].name)) < 0)
			return cols[i];
	if (t->nrows == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 16;
		long *e = realloc(t->epochs, cap * sizeof *e);
		if (!e)
			return -ENOMEM;
		t->epochs = e;
		if (t->stride) {
			double *cells = realloc(t->cells,
						cap * t->stride * sizeof *cells);
			if (!cells)
				return -ENOMEM;
			t->cells = cells;
		}
		t->cap = cap;
	}
	size_t row = t->nrows;
	t->epochs[row] = ml->epoch;
	if (watch_index_add(&t->by_epoch, t->epochs, row + 1, row))
		return -ENOMEM;
	t->nrows++;
	for (int c = 0; c < t->stride; c++)
		t->cells[row * t->stride + c] = cell_missing_value();
	for (size_t i = 0; i < ml->n; i++)
		t->cells[row * t->stride + cols[i]] = ml->m[i].value;
	t->epoch_chars += echars;
	t->nvalues += ml->n;
	t->name_chars += names;
	t->value_chars += chars;
	return (long)row;
}

/*
 * What a failed commit puts back: the rows and columns there were, the
 * policy, and a copy of each older row changed since (its cells of the
 * columns there were; later columns were missing in it).
 */
struct job_undo_row {
	size_t row;
	double *cells;
};

struct job_undo {
	size_t nrows;
	int ncols;
	size_t counts[4]; /* the table's text counts (tablecap.c) */
	struct autostop policy, before;
	int before_ok;
	struct job_undo_row *rows;
	size_t n, cap;
};

int job_table_mark(struct job *job)
{
	job_assert_locked(job);
	job_table_keep(job);
	struct job_undo *u = calloc(1, sizeof *u);
	if (!u)
		return -ENOMEM;
	u->nrows = job->table.nrows;
	u->ncols = job->table.ncolumns;
	u->counts[0] = job->table.epoch_chars;
	u->counts[1] = job->table.nvalues;
	u->counts[2] = job->table.name_chars;
	u->counts[3] = job->table.value_chars;
	u->policy = job->policy;
	u->before = job->policy_before;
	u->before_ok = job->policy_before_ok;
	job->undo = u;
	return 0;
}

void job_table_keep(struct job *job)
{
	struct job_undo *u = job->undo;
	if (!u)
		return;
	for (size_t i = 0; i < u->n; i++)
		free(u->rows[i].cells);
	free(u->rows);
	free(u);
	job->undo = NULL;
}

void job_table_undo(struct job *job)
{
	struct job_undo *u = job->undo;
	struct job_table *t = &job->table;
	job_assert_locked(job);
	if (!u)
		return;
	for (size_t i = 0; i < u->n; i++) {
		double *cells = &t->cells[u->rows[i].row * t->stride];
		memcpy(cells, u->rows[i].cells, u->ncols * sizeof *cells);
		for (int c = u->ncols; c < t->stride; c++)
			cells[c] = cell_missing_value();
	}
	job_table_truncate(job, u->nrows, u->ncols);
	t->epoch_chars = u->counts[0];
	t->nvalues = u->counts[1];
	t->name_chars = u->counts[2];
	t->value_chars = u->counts[3];
	job->policy = u->policy;
	job->policy_before = u->before;
	job->policy_before_ok = u->before_ok;
	job_table_keep(job);
}

/* Keeps a copy of older row ROW for job_table_undo(), once. */
static int undo_save_row(struct job *job, size_t row)
{
	struct job_undo *u = job->undo;
	if (!u || row >= u->nrows)
		return 0;
	for (size_t i = 0; i < u->n; i++)
		if (u->rows[i].row == row)
			return 0;
	if (u->n == u->cap) {
		size_t cap = u->cap ? u->cap * 2 : 8;
		struct job_undo_row *r = realloc(u->rows, cap * sizeof *r);
		if (!r)
			return -ENOMEM;
		u->rows = r;
		u->cap = cap;
	}
	double *c = malloc((u->ncols ? u->ncols : 1) * sizeof *c);
	if (!c)
		return -ENOMEM;
	memcpy(c, &job->table.cells[row * job->table.stride],
	       u->ncols * sizeof *c);
	u->rows[u->n].row = row;
	u->rows[u->n++].cells = c;
	return 0;
}

/*
 * Fills in and replaces row ROW's values with ML's.  Returns 1 when a
 * value changed, 0, -E2BIG (past JOB_COLUMNS_MAX names), -EFBIG (past the
 * table's bound; nothing changed either way) or -ENOMEM.
 */
static int table_merge(struct job *job, size_t row, const struct metrics_line *ml)
{
	struct job_table *t = &job->table;
	size_t fresh = 0, added = 0, names = 0, chars = 0, gone = 0;
	int changed = 0;
	double old;
	for (size_t i = 0; i < ml->n; i++) {
		int c = column_find(t, ml->m[i].name);
		if (c < 0 && t->ncolumns + ++fresh > JOB_COLUMNS_MAX)
			return -E2BIG;
		chars += tablecap_number_chars(ml->m[i].value);
		if (c >= 0 && job_cell(job, row, c, &old)) {
			gone += tablecap_number_chars(old);
		} else {
			added++;
			names += strlen(ml->m[i].name);
		}
	}
	if (!tablecap_admits(t->nrows, t->ncolumns + fresh,
			     tablecap_stored(t) + added * strlen(" =") +
				     names + chars - gone))
		return -EFBIG;
	for (size_t i = 0; i < ml->n; i++) {
		int c = column_find(t, ml->m[i].name);
		if (c >= 0 && job_cell(job, row, c, &old) &&
		    !memcmp(&old, &ml->m[i].value, sizeof old))
			continue; /* as it was, bit for bit */
		if (!changed && undo_save_row(job, row))
			return -ENOMEM;
		if ((c = job_column(job, ml->m[i].name)) < 0)
			return c;
		t->cells[row * t->stride + c] = ml->m[i].value;
		changed = 1;
	}
	if (changed) { /* unchanged cells were counted out and in alike */
		t->nvalues += added;
		t->name_chars += names;
		t->value_chars = t->value_chars + chars - gone;
	}
	return changed;
}

/* The monitored value of a row, for the policy (watch_row_fn). */
static int table_monitor(void *arg, size_t row, long *epoch, double *value)
{
	struct job *job = arg;
	*epoch = job->table.epochs[row];
	return job_cell(job, row, job->monitor_col, value);
}

/*
 * Copies into *FIT the pairs of ML that fit: those whose name has a
 * column, and new names while the job has room for them.  Returns how
 * many were left out; FIT->m is malloc'd when any were (the caller
 * frees it), else FIT is ML itself.  -ENOMEM.
 */
static long table_fit_names(const struct job *job,
			    const struct metrics_line *ml,
			    struct metrics_line *fit)
{
	const struct job_table *t = &job->table;
	size_t fresh = 0, k = 0;
	long out = 0;
	*fit = *ml;
	for (size_t i = 0; i < ml->n; i++)
		if (column_find(t, ml->m[i].name) < 0 &&
		    t->ncolumns + ++fresh > JOB_COLUMNS_MAX)
			out++;
	if (!out)
		return 0;
	if (!(fit->m = malloc(ml->n * sizeof *fit->m)))
		return -ENOMEM;
	fresh = 0;
	for (size_t i = 0; i < ml->n; i++)
		if (column_find(t, ml->m[i].name) >= 0 ||
		    t->ncolumns + ++fresh <= JOB_COLUMNS_MAX)
			fit->m[k++] = ml->m[i];
	fit->n = k;
	return out;
}

static int job_add_fitted(struct job *job, const struct metrics_line *ml,
			  size_t *rowp);

int job_add_row(struct job *job, const struct metrics_line *ml, size_t *rowp)
{
	struct metrics_line fit;
	job_assert_locked(job);
	long out = table_fit_names(job, ml, &fit);
	if (out < 0)
		return (int)out;
	int r = job_add_fitted(job, &fit, rowp);
	if (out) {
		free(fit.m);
		if (r >= 0)
			r |= JOB_ROW_TOO_MANY;
	}
	return r;
}

/* job_add_row() of a line whose names all fit. */
static int job_add_fitted(struct job *job, const struct metrics_line *ml,
			  size_t *rowp)
{
	struct job_table *t = &job->table;
	long row = watch_index_find(&t->by_epoch, t->epochs, ml->epoch);
	int appended = row < 0;
	if (appended) {
		if ((row = table_add(job, ml)) < 0)
			return (int)row;
	} else {
		int r = table_merge(job, row, ml);
		if (r <= 0)
			return r; /* nothing changed: nothing to store */
	}
	*rowp = row;
	struct watch_policy p = { .now = job->policy,
				  .before = job->policy_before,
				  .before_ok = job->policy_before_ok };
	autostop_init(&p.base, job->spec.mode_min, job->spec.min_delta,
		      job->spec.patience);
	int stop = watch_policy_update(&p, t->nrows, row, appended,
				       table_monitor, job);
	job->policy = p.now;
	job->policy_before = p.before;
	job->policy_before_ok = p.before_ok;
	job->rec.nrows = t->nrows;
	job->rec.last_epoch = t->epochs[t->nrows - 1];
	job->rec.best = job->policy.best;
	job->rec.best_epoch = job->policy.have_best ? job->policy.best_epoch
						    : -1;
	job->rec.waited = job->policy.waited;
	return JOB_ROW_CHANGED | (stop ? JOB_ROW_STOP : 0);
}

char *job_row_line(const struct job *job, size_t row)
{
	const struct job_table *t = &job->table;
	size_t cap = 64, len;
	char *s = malloc(cap), num[64];
	double v;
	if (!s)
		return NULL;
	len = snprintf(s, cap, "epoch=%ld", t->epochs[row]);
	for (int c = 0; c < t->ncolumns; c++) {
		if (!job_cell(job, row, c, &v))
			continue;
		metrics_format_number(v, num, sizeof num);
		size_t need = len + strlen(t->columns[c]) + strlen(num) + 3;
		if (need > cap) {
			cap = need * 2;
			char *n = realloc(s, cap);
			if (!n) {
				free(s);
				return NULL;
			}
			s = n;
		}
		len += snprintf(s + len, cap - len, " %s=%s", t->columns[c],
				num);
	}
	return s;
}

/* Adds a stored row to the table, as it was (no policy, no record). */
static int load_row(void *arg, int64_t id, const char *line)
{
	struct job *job = arg;
	struct metrics_line ml;
	(void)id;
	if (metrics_parse_line(line, strlen(line), &ml, NULL, 0) < 0) {
		log_warn( "job '%s': stored metrics row "
			"unreadable, skipped\n", job->rec.name);
		return 0;
	}
	long row = table_add(job, &ml);
	metrics_line_free(&ml);
	return row < 0 && row != -E2BIG && row != -EFBIG ? (int)row : 0;
}

/* Adds a stored row and replays the policy over it (schema 1 stores). */
static int replay_row(void *arg, int64_t id, const char *line)
{
	struct job *job = arg;
	struct metrics_line ml;
	(void)id;
	if (metrics_parse_line(line, strlen(line), &ml, NULL, 0) < 0)
		return 0;
	size_t row;
	int rc = job_add_row(job, &ml, &row);
	metrics_line_free(&ml);
	return rc < 0 && rc != -E2BIG && rc != -EFBIG ? rc : 0;
}

int jobs_load_metrics(struct jobs *j, struct job *job)
{
	job_assert_locked(job);
	if (job->table.loaded)
		return 0;
	int rc = store_load_job_metrics(j->store, job->rec.id, load_row, job);
	if (rc) {
		log_error( "job '%s': cannot load its "
			"metrics: %s\n", job->rec.name, strerror(-rc));
		job_table_truncate(job, 0, 0); /* the next try starts afresh */
		return rc;
	}
	job->table.loaded = 1;
	return 0;
}

/* ---- writing through ---- */

void job_touch(struct jobs *j, struct job *job, unsigned views)
{
	int64_t t = job_now_ns();
	job_assert_locked(job);
	for (int v = 0; v < STORE_MTIMES; v++)
		if (views & VIEW_BIT(v))
			job->rec.mtime_ns[v] = t;
	job->changes++;
	jobs_lock(j); /* changed may be swapped; the callback only queues */
	if (j->changed)
		j->changed(j->changed_arg, job, views);
	jobs_unlock(j);
}

int job_save(struct jobs *j, struct job *job)
{
	job_assert_locked(job);
	return store_put_job(j->store, &job->rec);
}

/* Stores TAGS as system tags of job ID, then commits. */
static int store_commit_tags(struct store *s, int64_t id,
			     const char *const *tags)
{
	int rc;
	for (size_t i = 0; tags && tags[i]; i++)
		if ((rc = store_put_tag(s, id, tags[i], 1)))
			return rc;
	return store_commit(s);
}

/*
 * The time of a state change made now: the clock's, or the moment it
 * happened while trainfs was away (EVENT_AT_NS), never before the job's
 * last event, so the events stay in order.
 */
static int64_t event_time(const struct job *job)
{
	int64_t t = job->event_at_ns ? job->event_at_ns : job_now_ns();
	if (job->nevents && t < job->events[job->nevents - 1].time_ns)
		t = job->events[job->nevents - 1].time_ns;
	return t;
}

int job_set_state(struct jobs *j, struct job *job, enum job_state to,
		  const char *reason, const char *const *tags)
{
	int64_t now = event_time(job);
	int rc;
	job_assert_locked(job);
	if (!state_move_ok(job->rec.state, to)) {
		log_error( "job '%s': no move from '%s' to "
			"'%s' in the lifecycle\n", job->rec.name,
			state_name(job->rec.state), state_name(to));
		return -EINVAL;
	}
	job->rec.state = to;
	job_add_event(job, now, state_name(to), reason);
	for (size_t i = 0; tags && tags[i]; i++)
		job_add_tag(job, tags[i], 1);
	unsigned views = VIEW_BIT(VIEW_STATUS) | VIEW_BIT(VIEW_CONTROL) |
			 VIEW_BIT(VIEW_EVENTS) | VIEW_BIT(VIEW_SPEC);
	if (tags)
		views |= VIEW_BIT(VIEW_TAGS);
	if (to == ST_READY)
		views |= VIEW_BIT(VIEW_WEIGHTS);
	job_touch(j, job, views);
	if ((rc = store_begin(j->store)))
		goto fail;
	if ((rc = store_put_job(j->store, &job->rec)) ||
	    (rc = store_put_event(j->store, job->rec.id, now, state_name(to),
				  reason)) ||
	    (rc = store_commit_tags(j->store, job->rec.id, tags))) {
		store_rollback(j->store);
		goto fail;
	}
	return 0;
fail:
	log_error( "job '%s': cannot store state '%s'\n",
		job->rec.name, state_name(to));
	return rc;
}

/* Quotes TEXT for a message: trimmed, capped at 64 bytes, plain ASCII. */
static void quote(char *out, size_t len, const char *text, size_t n)
{
	/* The white space control writes may carry (command_parse's). */
	while (n && strchr(" \t\n\r\v\f", *text) && *text) {
		text++;
		n--;
	}
	while (n && text[n - 1] && strchr(" \t\n\r\v\f", text[n - 1]))
		n--;
	int cut = n > 64;
	if (len < 4)
		cut = 0;
	text_escape(out, cut ? len - 3 : len, text, cut ? 64 : n,
		    TEXT_ASCII);
	if (cut)
		strcat(out, "...");
}

/*
 * Records a refused control write ("'TEXT': WHY") and returns ERR.  The
 * job's state and everything else stay as they were.
 */
static int refuse(struct jobs *j, struct job *job, int err, const char *text,
		  size_t n, const char *fmt, ...)
{
	char q[300], why[600], esc[1024], msg[1400];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, sizeof why, fmt, ap);
	va_end(ap);
	quote(q, sizeof q, text, n);
	/* The reason may quote a spec error (UTF-8 kept): control is ASCII. */
	text_escape(esc, sizeof esc, why, strlen(why), TEXT_ASCII);
	snprintf(msg, sizeof msg, "'%s': %s", q, esc);
	log_warn( "job '%s': refused %s\n", job->rec.name, msg);
	char *copy = strdup(msg);
	if (copy) {
		free(job->rec.last_refused);
		job->rec.last_refused = copy;
		job_touch(j, job, VIEW_BIT(VIEW_CONTROL));
		job_save(j, job);
	}
	return err;
}

/* ---- what users do ---- */

/*
 * Finds and locks job ID for UID to change.  Returns the job (let go with
 * jobs_unlock_job), or NULL with *rc set to -ENOENT or -EACCES.
 */
static struct job *lock_to_change(struct jobs *j, int64_t id, uid_t uid,
				  int *rc)
{
	struct job *job = jobs_lock_job(j, id);
	if (!job) {
		*rc = -ENOENT;
	} else if (!job_may_change(job, uid)) {
		*rc = -EACCES;
		jobs_unlock_job(j, job);
	} else {
		return job;
	}
	return NULL;
}

int jobs_create(struct jobs *j, const char *name, uid_t uid, gid_t gid,
		mode_t mode, int64_t *id)
{
	int rc;
	/* FUSE passes names up to 1024 bytes: past NAME_MAX is what any
	 * filesystem says */
	if (strlen(name) > NAME_MAX)
		return -ENAMETOOLONG;
	if (!job_name_valid(name, strlen(name))) {
		char q[300];
		quote(q, sizeof q, name, strlen(name));
		log_warn( "refused mkdir '%s': a job name is 1 "
			"to 240 bytes of UTF-8 without '/', control, format "
			"or noncharacters, not starting with '.'\n", q);
		return -EINVAL;
	}
	jobs_lock(j);
	int taken = jobs_find_name(j, name) != NULL;
	long mine = 0;
	if (!taken && uid != 0 && j->cfg.max_jobs_per_user > 0)
		for (size_t i = 0; i < j->n; i++) /* owners never change */
			mine += j->list[i]->rec.uid == uid;
	jobs_unlock(j);
	if (taken)
		return -EEXIST;
	if (uid != 0 && j->cfg.max_jobs_per_user > 0 &&
	    mine >= j->cfg.max_jobs_per_user) {
		log_warn("refused mkdir '%s' of uid %lu: it has %ld jobs, the "
			 "most --max-jobs-per-user allows", name,
			 (unsigned long)uid, mine);
		return -EDQUOT;
	}
	struct job *job = job_new();
	if (!job)
		return -ENOMEM;
	/* Nobody can find it before registry_add: its lock is free. */
	job_lock(job);
	snprintf(job->rec.name, sizeof job->rec.name, "%s", name);
	job->rec.uid = uid;
	job->rec.gid = gid;
	job->rec.mode = job_mode_from(mode);
	job->rec.state = ST_CREATED;
	job->rec.created_ns = job_now_ns();
	job->rec.last_epoch = -1;
	job->rec.best_epoch = -1;
	job->rec.checkpoint = -1;
	job->rec.weights_from = -1;
	job->rec.resumed_from = -1;
	job->table.loaded = 1; /* a new job has no rows to load */
	for (int v = 0; v < STORE_MTIMES; v++)
		job->rec.mtime_ns[v] = job->rec.created_ns;
	job_parse_spec(job);
	/* The store's unique name decides between two mkdirs of one name. */
	if ((rc = store_begin(j->store)))
		goto fail;
	if ((rc = store_create_job(j->store, &job->rec)) ||
	    (rc = store_put_job(j->store, &job->rec)) ||
	    (rc = store_put_event(j->store, job->rec.id, job->rec.created_ns,
				  "created", "mkdir")) ||
	    (rc = store_commit(j->store))) {
		store_rollback(j->store);
		goto fail;
	}
	job_add_event(job, job->rec.created_ns, "created", "mkdir");
	jobs_lock(j);
	/* A job of that name still listed is one an rmdir is taking away. */
	rc = jobs_find_name(j, name) ? -EEXIST : registry_add(j, job);
	jobs_unlock(j);
	if (rc) {
		store_delete_job(j->store, job->rec.id);
		goto fail;
	}
	*id = job->rec.id;
	job_touch(j, job, ~0u);
	job_unlock(job);
	return 0;
fail:
	job_unlock(job);
	job_free(job);
	return rc;
}

int job_weights_name(const struct job *job, char *buf, size_t len)
{
	static const char *const suffixes[] = { ".tar.zst", ".tar.gz", ".tar" };
	const char *w = job->rec.weights;
	if (job->rec.state != ST_READY || !w)
		return -ENOENT;
	size_t wl = strlen(w);
	for (size_t i = 0; i < sizeof suffixes / sizeof *suffixes; i++) {
		size_t sl = strlen(suffixes[i]);
		if (wl >= sl && !strcmp(w + wl - sl, suffixes[i])) {
			int n = snprintf(buf, len, "%s%s", job->rec.name,
					 suffixes[i]);
			return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
		}
	}
	return -ENOENT;
}

int jobs_rename(struct jobs *j, int64_t id, uid_t uid, const char *name)
{
	int rc = 0;
	char old[sizeof ((struct job_record *)0)->name];
	if (!job_name_valid(name, strlen(name)))
		return -EINVAL;
	struct job *job = lock_to_change(j, id, uid, &rc);
	if (!job)
		return rc;
	if (!strcmp(job->rec.name, name))
		goto out;
	snprintf(old, sizeof old, "%s", job->rec.name);
	/* The name index reads every job's name: both change together. */
	jobs_lock(j);
	if (jobs_find_name(j, name)) {
		rc = -EEXIST;
	} else {
		names_remove(j, job);
		snprintf(job->rec.name, sizeof job->rec.name, "%s", name);
		names_insert(j, job);
	}
	jobs_unlock(j);
	if (rc)
		goto out;
	if ((rc = job_save(j, job))) {
		jobs_lock(j);
		names_remove(j, job);
		snprintf(job->rec.name, sizeof job->rec.name, "%s", old);
		names_insert(j, job);
		jobs_unlock(j);
		goto out;
	}
	log_info("job '%s': renamed to '%s'", old, name);
	job_touch(j, job, VIEW_BIT(VIEW_STATUS) | VIEW_BIT(VIEW_WEIGHTS));
out:
	jobs_unlock_job(j, job);
	return rc;
}

int job_wait_idle(struct job *job, int seconds)
{
	struct timespec until;
	int rc = 0;
	job_assert_locked(job);
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += seconds;
	while (job->busy && rc == 0) {
		job->lock_held = 0;
		rc = -lock_timedwait(&job->idle, &job->lock, &until);
		job->lock_owner = pthread_self();
		job->lock_held = 1;
	}
	return rc ? -EBUSY : 0;
}

/*
 * rmdir: the job leaves the store's database and the registry, so nobody
 * finds it any more; its folder goes to the trash (one rename) for the
 * deleter; the memory goes with the last reference.  Only this job's lock
 * is held over the waiting and the store's delete.
 */
int jobs_remove(struct jobs *j, int64_t id, uid_t uid)
{
	int rc = 0;
	struct job *job = lock_to_change(j, id, uid, &rc);
	if (!job)
		return rc;
	if (!state_allows_rmdir(job->rec.state)) {
		log_warn( "job '%s': refused rmdir: not allowed "
			"while %s\n", job->rec.name, state_name(job->rec.state));
		rc = -EBUSY;
		goto out;
	}
	/* A cancelled trainer may still be dying; give it a moment. */
	if ((rc = job_wait_idle(job, 5)))
		goto out;
	if ((rc = store_delete_job(j->store, id))) {
		log_error( "job '%s': cannot delete: %s\n",
			job->rec.name, strerror(-rc));
		goto out;
	}
	jobs_lock(j);
	size_t i = 0;
	while (j->list[i] != job)
		i++;
	memmove(&j->list[i], &j->list[i + 1], (j->n - i - 1) * sizeof *j->list);
	j->n--;
	names_remove(j, job);
	job->removed = 1;
	job->refs--; /* the list's; ours keeps it until jobs_put() */
	if (j->changed)
		j->changed(j->changed_arg, job, ~0u);
	jobs_unlock(j);
out:
	jobs_unlock_job(j, job);
	return rc;
}

int jobs_write_spec(struct jobs *j, int64_t id, uid_t uid, const char *text,
		    size_t len)
{
	int rc = 0;
	struct job *job = lock_to_change(j, id, uid, &rc);
	if (!job)
		return rc;
	if (!state_allows_spec_write(job->rec.state)) {
		rc = -EACCES;
		goto out;
	}
	char *copy = malloc(len + 1);
	if (!copy) {
		rc = -ENOMEM;
		goto out;
	}
	memcpy(copy, text, len);
	copy[len] = '\0';
	free(job->rec.spec);
	job->rec.spec = copy;
	job->rec.spec_len = len;
	job_parse_spec(job);
	if (job->rec.state == ST_CREATED) { /* a refused start's error goes */
		free(job->rec.error);
		job->rec.error = NULL;
	}
	job_touch(j, job, VIEW_BIT(VIEW_SPEC) | VIEW_BIT(VIEW_STATUS));
	if ((rc = job_save(j, job)))
		goto out;
	if (!job->spec_ok) {
		/*
		 * Not for an empty spec: a shell's `echo ... > spec` closes a
		 * duplicate of the truncated file before it writes, and that
		 * close stores the empty spec (as `: > spec` must).
		 */
		if (len)
			log_warn("job '%s': %s", job->rec.name,
				 job->spec_error ? job->spec_error : "bad spec");
		rc = -EINVAL;
	}
out:
	jobs_unlock_job(j, job);
	return rc;
}

void jobs_wake(struct jobs *j)
{
	char c = 1;
	if (write(j->wake[1], &c, 1) < 0 && errno != EAGAIN)
		log_error("cannot wake the supervisor: %s", strerror(errno));
}

void job_signal(struct jobs *j, struct job *job, enum exec_verb verb)
{
	(void)j;
	job_assert_locked(job);
	if (!job->run)
		return; /* recover() sends it once the trainer is found */
	int rc = job->exec->ops->signal(job->run, verb);
	if (rc)
		log_error("job '%s': cannot %s its trainer: %s", job->rec.name,
			  verb == EXEC_STOP ? "stop" : "cancel", strerror(-rc));
}

/*
 * For a TEXT that would start job ID: copies its workdir under the lock,
 * lets go, then checks it into *C.  Anything else leaves *C empty.
 */
static void start_precheck(struct jobs *j, int64_t id, uid_t uid,
			   const char *text, size_t len, struct start_check *c)
{
	long epochs = 0;
	enum job_state next;
	uid_t owner = 0;
	gid_t group = 0;
	int cmd = command_parse_epochs(text, len, &epochs), rc = 0;
	if (cmd < 0 || cmd == CMD_RESUME)
		return;
	struct job *job = lock_to_change(j, id, uid, &rc);
	if (!job)
		return;
	if (state_apply(job->rec.state, cmd, &next) == 0 &&
	    next == ST_QUEUED && job->spec_ok && job->spec.workdir) {
		c->dir = strdup(job->spec.workdir);
		owner = job->rec.uid;
		group = job->rec.gid;
	}
	jobs_unlock_job(j, job);
	if (c->dir)
		c->rc = workdir_check(j->self_exe, j->cfg.mountpoint, c->dir,
				      owner, group);
}

/* Refuses a start with EINVAL and WHY, which status shows as its error. */
static int refuse_start(struct jobs *j, struct job *job, const char *text,
			size_t len, const char *why)
{
	free(job->rec.error);
	job->rec.error = strdup(why);
	job_touch(j, job, VIEW_BIT(VIEW_STATUS));
	return refuse(j, job, -EINVAL, text, len, "%s", why);
}

static int control_start(struct jobs *j, struct job *job, const char *text,
			 size_t len, const struct start_check *c)
{
	char why[PATH_MAX + 128];
	int rc = job_runnable(j, job, c, why, sizeof why);
	/* A bad spec shows in status already; the other reasons are kept. */
	if (rc == -EINVAL && job->spec_ok)
		return refuse_start(j, job, text, len, why);
	if (rc)
		return refuse(j, job, rc, text, len, "%s", why);
	free(job->rec.error); /* a refused start's */
	job->rec.error = NULL;
	rc = job_set_state(j, job, ST_QUEUED, "start", NULL);
	jobs_wake(j);
	return rc;
}

int job_stop(struct jobs *j, struct job *job, const char *reason,
	     const char *why, const char *const *tags)
{
	/* Capped as the shim caps it: 1e300 seconds means "never". */
	double grace = job->spec.grace < GRACE_MAX ? job->spec.grace : GRACE_MAX;
	job->rec.kill_at_ns = job_now_ns() + (int64_t)(grace * 1e9);
	free(job->rec.reason);
	job->rec.reason = strdup(reason);
	/* Ask the shim first: the stop must not wait for the disk. */
	job_signal(j, job, EXEC_STOP);
	return job_set_state(j, job, ST_STOPPING, why, tags);
}

static int control_stop(struct jobs *j, struct job *job)
{
	return job_stop(j, job, "stopped-early", "stop requested",
			(const char *[]){ "stopped-early", NULL });
}

/* ---- resume ---- */

/* The system tags a resume takes away (SPEC "Checkpoints"). */
static const char *const resume_untags[] = {
	"ready", "stopped-early", "converged", "completed", "failed", NULL
};

void job_remove_tag(struct job *job, const char *tag)
{
	for (size_t i = 0; i < job->ntags; i++)
		if (!strcmp(job->tags[i].name, tag)) {
			free(job->tags[i].name);
			memmove(&job->tags[i], &job->tags[i + 1],
				(job->ntags - i - 1) * sizeof *job->tags);
			job->ntags--;
			return;
		}
}

/*
 * Drops the table's rows whose epoch is above FROM (in place, order kept);
 * returns the first row that changed: the store's rows from there on are
 * written again.
 */
static size_t table_drop_after(struct job *job, long from)
{
	struct job_table *t = &job->table;
	size_t keep = 0, first = t->nrows;
	for (size_t i = 0; i < t->nrows; i++) {
		if (t->epochs[i] > from) {
			if (first == t->nrows)
				first = i;
			tablecap_count_row(job, i, -1);
			continue;
		}
		if (keep != i) {
			t->epochs[keep] = t->epochs[i];
			memmove(&t->cells[keep * t->stride],
				&t->cells[i * t->stride],
				t->stride * sizeof *t->cells);
		}
		keep++;
	}
	t->nrows = keep;
	/* Never grows here: nothing to allocate, nothing to fail. */
	watch_index_rebuild(&t->by_epoch, t->epochs, keep);
	return first < keep ? first : keep;
}

/* Replays the policy over the rows left, with patience counted afresh. */
static void policy_replay(struct job *job)
{
	double v;
	autostop_init(&job->policy, job->spec.mode_min, job->spec.min_delta,
		      job->spec.patience);
	for (size_t i = 0; i < job->table.nrows; i++)
		if (job_cell(job, i, job->monitor_col, &v))
			autostop_observe(&job->policy, job->table.epochs[i], v);
	job->policy.waited = 0;
	job->rec.best = job->policy.best;
	job->rec.best_epoch = job->policy.have_best ? job->policy.best_epoch
						    : -1;
	job->rec.waited = 0;
	/* The last row has no saved state before it: redo from the rows. */
	job->policy_before_ok = 0;
}

/*
 * resume (ready or failed, "with a checkpoint"): queued again, from the
 * newest kept checkpoint N.  All checks first (a refused write changes
 * nothing); then the memory and the store in one transaction; the old
 * tarball goes last (a crash before that leaves a file the next packing
 * replaces).  Checkpoints past N are cleared at launch (ckpt_launch), from
 * the stored resumed_from, so a kill -9 anywhere in between still resumes.
 */
static int control_resume(struct jobs *j, struct job *job, const char *text,
			  size_t len, long epochs)
{
	char tarball[PATH_MAX] = "", why[64];
	long from = job->rec.checkpoint;
	int rc;
	if (from < 0)
		return refuse(j, job, -EBUSY, text, len,
			      "no checkpoint to resume from");
	if (!job->spec_ok)
		return refuse(j, job, -EINVAL, text, len, "%s",
			      job->spec_error ? job->spec_error : "bad spec");
	if (epochs && epochs <= job_last_epoch(job))
		return refuse(j, job, -EINVAL, text, len,
			      "epochs=%ld is not above the last reported "
			      "epoch %ld", epochs, job_last_epoch(job));
	if (getuid() != 0 && getuid() != job->rec.uid)
		return refuse(j, job, -EACCES, text, len,
			      "trainfs cannot run jobs as uid %lu",
			      (unsigned long)job->rec.uid);
	char need[128];
	if (gpu_run_check(j, job, need, sizeof need))
		return refuse(j, job, -EINVAL, text, len, "%s", need);
	if ((rc = jobs_load_metrics(j, job)))
		return refuse(j, job, rc, text, len, "cannot load its metrics");
	char *spec = NULL;
	size_t spec_len = 0;
	if (epochs && !(spec = spec_with_epochs(job->rec.spec, job->rec.spec_len,
						epochs, &spec_len)))
		return -ENOMEM;
	if (job->rec.weights) {
		char rel[JOB_NAME_MAX + 32];
		if (snprintf(rel, sizeof rel, "weights/%s", job->rec.weights) >=
			    (int)sizeof rel ||
		    jobs_path(j, job, rel, tarball, sizeof tarball))
			tarball[0] = '\0';
	}

	/*
	 * The resumed trainer appends to the metrics file: what the last run
	 * wrote is behind it, also lines it could not store (a full disk).
	 */
	char mpath[PATH_MAX];
	struct stat mst;
	if (!jobs_path(j, job, "metrics.txt", mpath, sizeof mpath) &&
	    lstat(mpath, &mst) == 0 && S_ISREG(mst.st_mode) &&
	    mst.st_size > job->rec.metrics_offset)
		job->rec.metrics_offset = mst.st_size;

	/* What a restart must not take for the last run's. */
	ckpt_resume_files(j, job);
	if (spec) {
		free(job->rec.spec);
		job->rec.spec = spec;
		job->rec.spec_len = spec_len;
		job_parse_spec(job);
	}
	size_t first = table_drop_after(job, from);
	policy_replay(job);
	job->rec.nrows = job->table.nrows;
	job->rec.last_epoch = from;
	for (size_t i = 0; resume_untags[i]; i++)
		job_remove_tag(job, resume_untags[i]);
	free(job->rec.weights);
	job->rec.weights = NULL;
	free(job->rec.reason);
	job->rec.reason = NULL;
	free(job->rec.error);
	job->rec.error = NULL;
	job->rec.finished_ns = 0;
	job->rec.kill_at_ns = 0;
	job->rec.weights_from = -1;
	job->rec.resumed_from = from;
	job->hidden = 0; /* rm -r's hiding was of the old run's files */
	job->rec.state = ST_QUEUED;
	job->resumes++;
	snprintf(why, sizeof why, "resumed from epoch %ld", from);
	int64_t now = job_now_ns();
	job_add_event(job, now, state_name(ST_QUEUED), why);
	job_touch(j, job, ~0u);

	if ((rc = store_begin(j->store)))
		goto fail;
	if ((rc = store_put_job(j->store, &job->rec)) ||
	    (rc = store_put_event(j->store, job->rec.id, now,
				  state_name(ST_QUEUED), why)) ||
	    (rc = store_delete_metrics_from(j->store, job->rec.id, first)))
		goto rollback;
	for (size_t i = 0; resume_untags[i]; i++)
		if ((rc = store_remove_tag(j->store, job->rec.id,
					   resume_untags[i])))
			goto rollback;
	for (size_t i = first; i < job->table.nrows; i++) {
		char *line = job_row_line(job, i);
		rc = line ? store_put_metric(j->store, job->rec.id, i, line)
			  : -ENOMEM;
		free(line);
		if (rc)
			goto rollback;
	}
	if ((rc = store_commit(j->store)))
		goto fail;
	if (tarball[0] && unlink(tarball) < 0 && errno != ENOENT)
		log_warn("job '%s': cannot remove its old tarball: %s\n",
			 job->rec.name, strerror(errno));
	log_info("job '%s': %s\n", job->rec.name, why);
	jobs_wake(j);
	return 0;
rollback:
	store_rollback(j->store);
fail:
	log_error("job '%s': cannot store its resume: %s\n", job->rec.name,
		  strerror(-rc));
	jobs_wake(j);
	return rc;
}

static int control_cancel(struct jobs *j, struct job *job)
{
	enum job_state was = job->rec.state;
	/* A queued job that ran before (a resume): nothing else deletes it. */
	if (was == ST_QUEUED && !job->busy && job->rec.resumed_from >= 0) {
		int rc = store_trash(j->store, job->rec.id, "output");
		if (rc)
			log_error("job '%s': cannot delete its output: %s\n",
				  job->rec.name, strerror(-rc));
		ckpt_delete(j, job);
	} else if (was == ST_QUEUED && job->rec.resumed_from >= 0) {
		/* The run before the resume is still being reaped: the
		 * supervisor deletes it all once the job is idle. */
		job->delete_when_idle = 1;
	}
	/* A queued job may have a run too: pending on Slurm. */
	if (state_has_trainer(was) || job->run)
		job_signal(j, job, EXEC_CANCEL);
	/* A packer of a job no longer packaging is killed by the supervisor. */
	int rc = job_set_state(j, job, ST_CANCELLED, "cancel requested",
			       (const char *[]){ "cancelled", NULL });
	jobs_wake(j); /* a slot may be free; output to delete; a packer */
	return rc;
}

int jobs_control(struct jobs *j, int64_t id, uid_t uid, const char *text,
		 size_t len)
{
	int rc = 0;
	struct start_check check = { 0 };
	start_precheck(j, id, uid, text, len, &check);
	struct job *job = lock_to_change(j, id, uid, &rc);
	if (!job) {
		free(check.dir);
		return rc;
	}
	long epochs = 0;
	int cmd = command_parse_epochs(text, len, &epochs);
	if (cmd < 0) {
		rc = refuse(j, job, -EINVAL, text, len, "unknown command");
		goto out;
	}
	enum job_state next;
	if (state_apply(job->rec.state, cmd, &next) < 0) {
		rc = refuse(j, job, -EBUSY, text, len, "not allowed while %s",
			    state_name(job->rec.state));
		goto out;
	}
	if (next == (enum job_state)job->rec.state)
		goto out; /* already under way */
	if (cmd == CMD_RESUME) {
		rc = control_resume(j, job, text, len, epochs);
		goto out;
	}
	if (cmd == CMD_RESTART) {
		char why[PATH_MAX + 128];
		rc = job_restart(j, job, &check, why, sizeof why);
		if (rc && *why)
			rc = refuse(j, job, rc, text, len, "%s", why);
		goto out;
	}
	switch (next) {
	case ST_QUEUED:
		rc = control_start(j, job, text, len, &check);
		break;
	case ST_STOPPING:
		rc = control_stop(j, job);
		break;
	case ST_CANCELLED:
		rc = control_cancel(j, job);
		break;
	default:
		rc = -EINVAL; /* the table offers nothing else */
	}
out:
	jobs_unlock_job(j, job);
	free(check.dir);
	return rc;
}

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

int jobs_write_tags(struct jobs *j, int64_t id, uid_t uid, const char *text,
		    size_t len, int clear)
{
	int rc = 0;
	char name[TAG_NAME_MAX + 1];
	struct job *job = lock_to_change(j, id, uid, &rc);
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
		if (!name[0] || is_system_tag(name)) {
			rc = -EINVAL;
			log_warn( "job '%s': refused tag: %s\n",
				job->rec.name, name[0] ? "system tags are "
				"set by trainfs" : "not a valid name");
			goto out;
		}
		if (!job_has_tag(job, name) && ++user > JOB_USER_TAGS_MAX) {
			rc = -EFBIG;
			log_warn( "job '%s': refused tags: more "
				"than %d\n", job->rec.name, JOB_USER_TAGS_MAX);
			goto out;
		}
	}
	if ((rc = store_begin(j->store)))
		goto out;
	if (clear) {
		size_t keep = 0;
		for (size_t i = 0; i < job->ntags; i++) {
			if (job->tags[i].system)
				job->tags[keep++] = job->tags[i];
			else
				free(job->tags[i].name);
		}
		job->ntags = keep;
		if ((rc = store_clear_user_tags(j->store, job->rec.id)))
			goto fail;
	}
	for (size_t pos = 0; next_tag(text, len, &pos, name);)
		if ((rc = job_add_tag(job, name, 0)) ||
		    (rc = store_put_tag(j->store, job->rec.id, name, 0)))
			goto fail;
	job_touch(j, job, VIEW_BIT(VIEW_TAGS));
	if ((rc = job_save(j, job)) || (rc = store_commit(j->store)))
		goto fail;
	goto out;
fail:
	store_rollback(j->store);
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

/* ---- loading ---- */

struct loader {
	struct jobs *j;
	int rc;
};

static int load_job(void *arg, struct job_record *rec)
{
	struct loader *l = arg;
	struct job *job = job_new();
	if (!job) {
		store_record_free(rec);
		return -ENOMEM;
	}
	job->rec = *rec;
	job->rec.mode = job_mode_from(rec->mode);
	job_parse_spec(job);
	if (registry_add(l->j, job)) {
		job_free(job);
		return -ENOMEM;
	}
	return 0;
}

static int load_event(void *arg, int64_t id, int64_t t, const char *state,
		      const char *reason)
{
	struct job *job = jobs_find(((struct loader *)arg)->j, id);
	if (job && !strncmp(reason, "resumed from ", 13))
		job->resumes++;
	return job ? job_add_event(job, t, state, reason) : 0;
}

static int load_tag(void *arg, int64_t id, const char *tag, int system)
{
	struct job *job = jobs_find(((struct loader *)arg)->j, id);
	return job ? job_add_tag(job, tag, system) : 0;
}

/*
 * A job from a schema 1 store has no derived values yet: derive them from
 * its metrics, once, and store them.
 */
static int derive_from_metrics(struct jobs *j, struct job *job)
{
	job->rec.nrows = 0;
	job->rec.last_epoch = -1;
	job->rec.best_epoch = -1;
	job->rec.waited = 0;
	job_parse_spec(job);
	int rc = store_load_job_metrics(j->store, job->rec.id, replay_row, job);
	if (rc)
		return rc;
	job->table.loaded = 1;
	return job_save(j, job);
}

int jobs_open(const struct jobs_config *cfg, struct jobs **out)
{
	int rc;
	struct jobs *j = calloc(1, sizeof *j);
	if (!j)
		return -ENOMEM;
	lock_init(&j->lock, LOCK_REGISTRY);
	j->cfg = *cfg;
	j->wake[0] = j->wake[1] = -1;
	j->store_dir = strdup(cfg->store_dir);
	j->self_exe = strdup(cfg->self_exe);
	if (!j->store_dir || !j->self_exe ||
	    !(j->local = exec_local_new(j->self_exe)) ||
	    !(j->slurm = exec_slurm_new(j->self_exe))) {
		rc = -ENOMEM;
		goto fail;
	}
	j->cfg.store_dir = j->store_dir;
	j->cfg.self_exe = j->self_exe;
	if ((rc = store_open(cfg->store_dir, &j->store)))
		goto fail;
	if (pipe2(j->wake, O_CLOEXEC | O_NONBLOCK) < 0) {
		rc = -errno;
		goto fail;
	}
	struct loader l = { .j = j };
	if ((rc = names_grow(j)) || (rc = store_load_jobs(j->store, load_job, &l)) ||
	    (rc = store_load_events(j->store, load_event, &l)) ||
	    (rc = store_load_tags(j->store, load_tag, &l)))
		goto fail;
	for (size_t i = 0; i < j->n; i++) {
		if (j->list[i]->rec.nrows >= 0)
			continue;
		job_lock(j->list[i]);
		rc = derive_from_metrics(j, j->list[i]);
		job_unlock(j->list[i]);
		if (rc)
			goto fail;
	}
	*out = j;
	return 0;
fail:
	jobs_close(j);
	return rc;
}

void jobs_close(struct jobs *j)
{
	if (!j)
		return;
	if (j->supervising) {
		jobs_lock(j);
		j->quit = 1;
		jobs_unlock(j);
		jobs_wake(j);
		pthread_join(j->supervisor, NULL);
	}
	for (size_t i = 0; i < j->n; i++)
		job_free(j->list[i]);
	free(j->list);
	free(j->by_name);
	store_close(j->store);
	if (j->wake[0] >= 0)
		close(j->wake[0]);
	if (j->wake[1] >= 0)
		close(j->wake[1]);
	free(j->store_dir);
	free(j->self_exe);
	if (j->local)
		j->local->ops->close(j->local);
	if (j->slurm)
		j->slurm->ops->close(j->slurm);
	lock_destroy(&j->lock);
	free(j);
}
