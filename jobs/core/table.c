/*
 * table: a job's metrics in memory (struct job_table in job.h) and its
 * undo log.  A row per reported epoch, a column per metric name, cells
 * row-major with a stride that doubles, a hash index of the names.
 *
 * A change that the store may refuse is bracketed: job_table_mark()
 * records the rows, columns and policy as they are, job_add_row() saves a
 * copy of each older row before changing it, and job_table_undo() puts
 * all back after a failed commit (job_table_keep() after a good one).
 * Every function is called with the job's lock held and takes no other
 * lock; jobs_load_metrics() reads the store (its own lock).
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
#include "jobs/core/tablecap.h"
#include "util/log.h"

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
	for (size_t h = jobs_name_hash(name) & mask; t->index[h];
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
		size_t h = jobs_name_hash(t->columns[c]) & (cap - 1);
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
	size_t mask = t->cap_index - 1, h = jobs_name_hash(name) & mask;
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
		(void)!watch_index_rebuild(&t->by_epoch, t->epochs, nrows);
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
			size_t h = jobs_name_hash(t->columns[c]) & mask;
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
			double *cells = realloc(
				t->cells, cap * t->stride * sizeof *cells);
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

void job_metrics_undo(struct job *job, const struct job_record *was,
		      char *bad_why_was)
{
	job_table_undo(job);
	if (job->rec.bad_why != bad_why_was) {
		free(job->rec.bad_why);
		job->rec.bad_why = bad_why_was;
	}
	job->rec.nrows = was->nrows;
	job->rec.last_epoch = was->last_epoch;
	job->rec.best = was->best;
	job->rec.best_epoch = was->best_epoch;
	job->rec.waited = was->waited;
	job->rec.bad_lines = was->bad_lines;
	job->rec.bad_line = was->bad_line;
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
static int table_merge(struct job *job, size_t row,
		       const struct metrics_line *ml)
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
			     tablecap_stored(t) + added * strlen(" =") + names +
				     chars - gone))
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
	job->rec.best_epoch = job->policy.have_best ? job->policy.best_epoch :
						      -1;
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
		log_warn("job '%s': stored metrics row "
			 "unreadable, skipped\n",
			 job->rec.name);
		return 0;
	}
	long row = table_add(job, &ml);
	metrics_line_free(&ml);
	return row < 0 && row != -E2BIG && row != -EFBIG ? (int)row : 0;
}

int jobs_load_metrics(struct jobs *j, struct job *job)
{
	job_assert_locked(job);
	if (job->table.loaded)
		return 0;
	int rc = store_load_job_metrics(j->store, job->rec.id, load_row, job);
	if (rc) {
		log_error("job '%s': cannot load its "
			  "metrics: %s\n",
			  job->rec.name, strerror(-rc));
		job_table_truncate(job, 0, 0); /* the next try starts afresh */
		return rc;
	}
	job->table.loaded = 1;
	return 0;
}

/* Adds (SIGN 1) or takes away (-1) row ROW's counts in JOB's table. */
static void tablecap_count_row(struct job *job, size_t row, int sign)
{
	struct job_table *t = &job->table;
	size_t e = tablecap_epoch_chars(t->epochs[row]), n = 0, names = 0,
	       chars = 0;
	double v;
	for (int c = 0; c < t->ncolumns; c++) {
		if (!job_cell(job, row, c, &v))
			continue;
		n++;
		names += strlen(t->columns[c]);
		chars += tablecap_number_chars(v);
	}
	if (sign > 0) {
		t->epoch_chars += e;
		t->nvalues += n;
		t->name_chars += names;
		t->value_chars += chars;
	} else {
		t->epoch_chars -= e;
		t->nvalues -= n;
		t->name_chars -= names;
		t->value_chars -= chars;
	}
}

/*
 * Drops the table's rows whose epoch is above FROM (in place, order kept);
 * returns the first row that changed: the store's rows from there on are
 * written again.
 */
size_t job_table_drop_after(struct job *job, long from)
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
	(void)!watch_index_rebuild(&t->by_epoch, t->epochs, keep);
	return first < keep ? first : keep;
}

/* Replays the policy over the rows left, with patience counted afresh. */
void job_policy_replay(struct job *job)
{
	double v;
	autostop_init(&job->policy, job->spec.mode_min, job->spec.min_delta,
		      job->spec.patience);
	for (size_t i = 0; i < job->table.nrows; i++)
		if (job_cell(job, i, job->monitor_col, &v))
			autostop_observe(&job->policy, job->table.epochs[i], v);
	job->policy.waited = 0;
	job->rec.best = job->policy.best;
	job->rec.best_epoch = job->policy.have_best ? job->policy.best_epoch :
						      -1;
	job->rec.waited = 0;
	/* The last row has no saved state before it: redo from the rows. */
	job->policy_before_ok = 0;
}
