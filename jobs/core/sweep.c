/*
 * sweep: the sweeps in memory and their store rows, and what users do to
 * them: create, remove, chmod, write the spec, control (its verbs in one
 * command table); and the copies readers render from (sweeps_view, the
 * curves).  The thread that makes trials and prunes them is
 * sweep_run.c; the text of a sweep's files is made in fs/.  The design
 * is in sweep.h.
 *
 * Locks: each function takes s->lock itself, for bookkeeping only, and
 * takes the store lock inside it; never a job's lock or the registry's.
 */
#include "jobs/core/sweep.h"

#include <assert.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jobs/core/registry.h"
#include "jobs/core/sweep_i.h"
#include "util/lock.h"
#include "util/log.h"
#include "util/text.h"
#include "util/vec.h"

static const char *const sweep_state_names[SW_COUNT] = {
	"created", "running", "stopping", "done", "cancelled",
};

/* ---- small helpers ---- */

void sweep_trial_name(long t, char *buf, size_t len)
{
	snprintf(buf, len, "%03ld", t);
}

long sweep_trial_number(const char *name)
{
	char *end;
	size_t n = strlen(name);
	if (n < 3 || n > 9 || name[0] < '0' || name[0] > '9')
		return 0;
	long t = strtol(name, &end, 10);
	if (*end || t < 1)
		return 0;
	char canon[24];
	sweep_trial_name(t, canon, sizeof canon);
	return strcmp(canon, name) ? 0 : t;
}

int sweep_name_valid(const char *name, size_t len)
{
	return len <= SWEEP_NAME_MAX && job_name_valid(name, len);
}

struct sweep *sweep_find(struct sweeps *s, int64_t id)
{
	for (size_t i = 0; i < s->n; i++)
		if (s->list[i]->rec.id == id && !s->list[i]->removed)
			return s->list[i];
	return NULL;
}

static void parse_spec(struct sweep *w)
{
	char err[512];
	if (w->spec_ok)
		sweep_spec_free(&w->spec);
	w->spec_ok = 0;
	free(w->rec.error);
	w->rec.error = NULL;
	if (!w->rec.spec)
		return;
	if (sweep_spec_parse(w->rec.spec, w->rec.spec_len, &w->spec, err,
			     sizeof err) == 0)
		w->spec_ok = 1;
	else
		w->rec.error = strdup(err);
}

static void sweep_free(struct sweep *w)
{
	if (!w)
		return;
	for (long i = 0; i < w->rec.trials_created; i++)
		free(w->trials[i].curve);
	free(w->trials);
	free(w->rungs);
	if (w->spec_ok)
		sweep_spec_free(&w->spec);
	store_sweep_record_free(&w->rec);
	free(w);
}

int sweep_save(struct sweeps *s, struct sweep *w)
{
	w->rec.mtime_ns = now_ns();
	return store_put_sweep(s->store, &w->rec);
}

/* Room for trial numbers up to N; new ones zeroed (not made yet). */
int sweep_trials_room(struct sweep *w, long n)
{
	if (n <= w->rec.trials_created)
		return 0;
	struct trial *nt = realloc(w->trials, (size_t)n * sizeof *nt);
	if (!nt)
		return -ENOMEM;
	for (long i = w->rec.trials_created; i < n; i++)
		nt[i] = (struct trial){ .t = i + 1,
					.last_epoch = -1,
					.best_epoch = -1,
					.state = ST_CREATED };
	w->trials = nt;
	return 0;
}

int sweep_rungs_add(struct sweep *w, long rung, long t, double value)
{
	if (VEC_RESERVE(w->rungs, w->caprungs, w->nrungs + 1))
		return -ENOMEM;
	w->rungs[w->nrungs++] = (struct rung_value){ rung, t, value };
	return 0;
}

int sweep_rung_has(const struct sweep *w, long rung, long t)
{
	for (size_t i = 0; i < w->nrungs; i++)
		if (w->rungs[i].rung == rung && w->rungs[i].t == t)
			return 1;
	return 0;
}

void sweep_notify(struct sweeps *s, int64_t id, const char *new_job)
{
	lock_take(&s->lock);
	sweeps_changed_fn fn = s->changed;
	void *arg = s->changed_arg;
	lock_drop(&s->lock);
	if (fn)
		fn(arg, id, new_job);
}

/* ---- loading ---- */

static int load_sweep(void *arg, struct sweep_record *r)
{
	struct sweeps *s = arg;
	struct sweep *w = calloc(1, sizeof *w);
	if (!w || VEC_RESERVE(s->list, s->cap, s->n + 1)) {
		free(w);
		return -ENOMEM;
	}
	long made = r->trials_created;
	w->rec = *r;
	memset(r, 0, sizeof *r); /* the strings are w's now */
	w->rec.trials_created = 0;
	if (sweep_trials_room(w, made)) {
		sweep_free(w);
		return -ENOMEM;
	}
	w->rec.trials_created = made;
	for (long i = 0; i < made; i++)
		w->trials[i].gone = 1; /* until its row says which job */
	parse_spec(w);
	s->list[s->n++] = w;
	return 0;
}

static int load_trial(void *arg, int64_t sweep, long t, int64_t job,
		      long judged)
{
	struct sweep *w = sweep_find(arg, sweep);
	if (!w || t < 1 || t > w->rec.trials_created)
		return 0;
	w->trials[t - 1].job = job;
	w->trials[t - 1].judged = judged;
	w->trials[t - 1].gone = job == 0;
	return 0;
}

static int load_rung(void *arg, int64_t sweep, long rung, long t, double value)
{
	struct sweep *w = sweep_find(arg, sweep);
	return w ? sweep_rungs_add(w, rung, t, value) : 0;
}

int sweeps_load(struct jobs *j, struct sweeps **out)
{
	struct sweeps *s = calloc(1, sizeof *s);
	if (!s)
		return -ENOMEM;
	s->jobs = j;
	s->store = j->store;
	lock_init(&s->lock, LOCK_SWEEPS);
	lock_init(&s->wake_lock, LOCK_SWEEPS_WAKE);
	pthread_cond_init(&s->wake, NULL);
	int rc = store_load_sweeps(s->store, load_sweep, load_trial, load_rung,
				   s);
	if (rc) {
		sweeps_close(s);
		return rc;
	}
	*out = s;
	return 0;
}

void sweeps_on_change(struct sweeps *s, sweeps_changed_fn fn, void *arg)
{
	lock_take(&s->lock);
	s->changed = fn;
	s->changed_arg = arg;
	lock_drop(&s->lock);
}

/* ---- what users do ---- */

int sweeps_find(struct sweeps *s, const char *name, int64_t *id)
{
	int rc = -ENOENT;
	lock_take(&s->lock);
	for (size_t i = 0; i < s->n; i++)
		if (!s->list[i]->removed &&
		    !strcmp(s->list[i]->rec.name, name)) {
			*id = s->list[i]->rec.id;
			rc = 0;
			break;
		}
	lock_drop(&s->lock);
	return rc;
}

static struct sweep *find_name(struct sweeps *s, const char *name)
{
	for (size_t i = 0; i < s->n; i++)
		if (!s->list[i]->removed && !strcmp(s->list[i]->rec.name, name))
			return s->list[i];
	return NULL;
}

int sweeps_create(struct sweeps *s, const char *name, uid_t uid, gid_t gid,
		  mode_t mode, int64_t *id)
{
	if (!sweep_name_valid(name, strlen(name)))
		return -EINVAL;
	struct sweep *w = calloc(1, sizeof *w);
	if (!w)
		return -ENOMEM;
	w->rec.name = strdup(name);
	w->rec.uid = uid;
	w->rec.gid = gid;
	w->rec.mode = (mode & 0755) | 0700;
	w->rec.state = SW_CREATED;
	w->rec.created_ns = w->rec.mtime_ns = now_ns();
	lock_take(&s->lock);
	int grown = VEC_RESERVE(s->list, s->cap, s->n + 1);
	int rc = !w->rec.name || grown ? -ENOMEM :
		 find_name(s, name)    ? -EEXIST :
					 store_create_sweep(s->store, &w->rec);
	if (rc) {
		lock_drop(&s->lock);
		sweep_free(w);
		return rc;
	}
	s->list[s->n++] = w;
	*id = w->rec.id;
	lock_drop(&s->lock);
	return 0;
}

static int may_change(const struct sweep *w, uid_t uid)
{
	return uid == 0 || uid == w->rec.uid;
}

int sweeps_remove(struct sweeps *s, int64_t id, uid_t uid)
{
	lock_take(&s->lock);
	struct sweep *w = sweep_find(s, id);
	int rc = !w		     ? -ENOENT :
		 !may_change(w, uid) ? -EACCES :
		 w->rec.state == SW_RUNNING || w->rec.state == SW_STOPPING ?
				       -EBUSY :
				       store_delete_sweep(s->store, id);
	if (!rc)
		w->removed = 1; /* freed at close: a reader may hold its id */
	lock_drop(&s->lock);
	return rc;
}

int sweeps_attr(struct sweeps *s, int64_t id, struct sweep_attr *a)
{
	lock_take(&s->lock);
	struct sweep *w = sweep_find(s, id);
	if (w) {
		*a = (struct sweep_attr){
			.uid = w->rec.uid,
			.gid = w->rec.gid,
			.mode = w->rec.mode,
			.mtime_ns = w->rec.mtime_ns,
			.created_ns = w->rec.created_ns,
			.ntrials = w->rec.trials_created,
		};
		for (long i = 0; i < w->rec.trials_created; i++)
			if (w->trials[i].best_epoch >= 0)
				a->has_best = 1;
	}
	lock_drop(&s->lock);
	return w ? 0 : -ENOENT;
}

int sweeps_names(struct sweeps *s, char ***names, int64_t **ids, size_t *n)
{
	lock_take(&s->lock);
	char **nm = calloc(s->n + 1, sizeof *nm);
	int64_t *id = calloc(s->n + 1, sizeof *id);
	size_t k = 0;
	int rc = nm && id ? 0 : -ENOMEM;
	for (size_t i = 0; !rc && i < s->n; i++) {
		if (s->list[i]->removed)
			continue;
		id[k] = s->list[i]->rec.id;
		if (!(nm[k++] = strdup(s->list[i]->rec.name)))
			rc = -ENOMEM;
	}
	lock_drop(&s->lock);
	if (rc) {
		sweeps_names_free(nm, id, k);
		return rc;
	}
	*names = nm;
	*ids = id;
	*n = k;
	return 0;
}

void sweeps_names_free(char **names, int64_t *ids, size_t n)
{
	for (size_t i = 0; names && i < n; i++)
		free(names[i]);
	free(names);
	free(ids);
}

int sweeps_chmod(struct sweeps *s, int64_t id, uid_t uid, mode_t mode)
{
	lock_take(&s->lock);
	struct sweep *w = sweep_find(s, id);
	int rc = !w ? -ENOENT : !may_change(w, uid) ? -EPERM : 0;
	if (!rc) {
		unsigned before = w->rec.mode;
		w->rec.mode = (mode & 0755) | 0700;
		if ((rc = sweep_save(s, w))) /* the store first */
			w->rec.mode = before;
	}
	lock_drop(&s->lock);
	return rc;
}

int sweeps_write_spec(struct sweeps *s, int64_t id, uid_t uid, const char *text,
		      size_t len)
{
	char *copy = malloc(len + 1);
	if (!copy)
		return -ENOMEM;
	memcpy(copy, text, len);
	copy[len] = 0;
	lock_take(&s->lock);
	struct sweep *w = sweep_find(s, id);
	int rc = !w			    ? -ENOENT :
		 !may_change(w, uid)	    ? -EACCES :
		 w->rec.state != SW_CREATED ? -EACCES :
					      0;
	if (rc) {
		lock_drop(&s->lock);
		free(copy);
		return rc;
	}
	char *old = w->rec.spec;
	size_t oldlen = w->rec.spec_len;
	w->rec.spec = copy;
	w->rec.spec_len = len;
	rc = sweep_save(s, w);
	if (rc) { /* the store first: a failed commit changes nothing */
		w->rec.spec = old;
		w->rec.spec_len = oldlen;
		free(copy);
	} else {
		free(old);
		parse_spec(w);
		rc = w->spec_ok ? 0 : -EINVAL;
		if (sweep_save(s, w)) /* the error status shows */
			log_error("sweep '%s': cannot store its spec's error",
				  w->rec.name);
	}
	lock_drop(&s->lock);
	return rc;
}

/* Records a refused control write; returns ERR. */
static int refuse(struct sweeps *s, struct sweep *w, int err, const char *text,
		  size_t n, const char *why)
{
	char *copy = text_refusal(text, n, why);
	log_warn("sweep '%s': refused %s\n", w->rec.name,
		 copy ? copy : "a control write (out of memory)");
	if (copy) {
		free(w->rec.last_refused);
		w->rec.last_refused = copy;
		if (sweep_save(s, w))
			log_error("sweep '%s': cannot store a refusal",
				  w->rec.name);
	}
	return err;
}

/*
 * The control verbs of a sweep, one row each: its name and its column of
 * the state table, STATE -> the next state, the same state for a repeat
 * that changes nothing, or -1 (EBUSY).  control's "allowed:" line lists
 * the verbs that move the state (sweep_allowed).
 */
enum sweep_verb { SV_START, SV_STOP, SV_CANCEL, SV_COUNT };
static const struct {
	const char *name;
	signed char next[SW_COUNT]; /* created running stopping done cancelled */
} sweep_verbs[SV_COUNT] = {
	[SV_START] = { "start", { SW_RUNNING, SW_RUNNING, -1, -1, -1 } },
	[SV_STOP] = { "stop", { -1, SW_STOPPING, SW_STOPPING, -1, -1 } },
	[SV_CANCEL] = { "cancel",
			{ -1, SW_CANCELLED, SW_CANCELLED, -1, SW_CANCELLED } },
};

/* The verb TEXT names (white space around it ignored), or -1. */
static int sweep_command(const char *text, size_t n)
{
	while (n && (text[n - 1] == '\n' || text[n - 1] == ' ' ||
		     text[n - 1] == '\t' || text[n - 1] == '\r'))
		n--;
	while (n && (*text == ' ' || *text == '\t'))
		text++, n--;
	for (int i = 0; i < SV_COUNT; i++)
		if (n == strlen(sweep_verbs[i].name) &&
		    !memcmp(text, sweep_verbs[i].name, n))
			return i;
	return -1;
}

const char *sweep_state_name(int state)
{
	return (unsigned)state < SW_COUNT ? sweep_state_names[state] :
					    "unknown";
}

void sweep_allowed(int state, char *buf, size_t len)
{
	size_t o = 0;
	buf[0] = 0;
	for (int i = 0; (unsigned)state < SW_COUNT && i < SV_COUNT; i++) {
		int to = sweep_verbs[i].next[state];
		if (to >= 0 && to != state && o < len)
			o += (size_t)snprintf(buf + o, len - o, "%s%s",
					      o ? " " : "",
					      sweep_verbs[i].name);
	}
	if (!buf[0])
		snprintf(buf, len, "none");
}

int sweeps_control(struct sweeps *s, int64_t id, uid_t uid, const char *text,
		   size_t len)
{
	lock_take(&s->lock);
	struct sweep *w = sweep_find(s, id);
	int rc = 0;
	if (!w || !may_change(w, uid)) {
		lock_drop(&s->lock);
		return w ? -EACCES : -ENOENT;
	}
	int cmd = sweep_command(text, len);
	if (cmd < 0) {
		rc = refuse(s, w, -EINVAL, text, len, "unknown command");
		goto out;
	}
	int to = sweep_verbs[cmd].next[w->rec.state];
	if (to < 0) {
		char why[80];
		snprintf(why, sizeof why, "not allowed while %s",
			 sweep_state_names[w->rec.state]);
		rc = refuse(s, w, -EBUSY, text, len, why);
		goto out;
	}
	if (to == w->rec.state)
		goto out;
	if (cmd == SV_START && !w->spec_ok) {
		rc = refuse(s, w, -EINVAL, text, len,
			    w->rec.error ? w->rec.error : "no spec");
		goto out;
	}
	struct sweep_record before = w->rec;
	w->rec.state = to;
	if (cmd == SV_START) {
		w->rec.started_ns = now_ns();
		if (!w->spec.has_seed && !w->rec.has_seed) {
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			uint64_t st = (uint64_t)ts.tv_nsec ^
				      ((uint64_t)ts.tv_sec << 20) ^
				      (uint64_t)w->rec.id;
			w->rec.seed = sweep_rand_next(&st) % 1000000000;
			w->rec.has_seed = 1;
		} else if (w->spec.has_seed) {
			w->rec.seed = w->spec.seed;
			w->rec.has_seed = 1;
		}
	}
	if (to == SW_CANCELLED)
		w->rec.finished_ns = now_ns();
	w->passed_on = 0;
	rc = sweep_save(s, w);
	if (rc) /* the store first: a failed commit changes nothing */
		w->rec = before;
	sweeps_poke(s);
out:
	lock_drop(&s->lock);
	return rc;
}

/* ---- reading ---- */

/* The best trial (ties to the lower number), or NULL. */
static const struct trial *best_trial(const struct sweep *w)
{
	const struct trial *b = NULL;
	int max = w->spec_ok ? w->spec.maximize : 1;
	for (long i = 0; i < w->rec.trials_created; i++) {
		const struct trial *t = &w->trials[i];
		if (t->gone || t->best_epoch < 0 || isnan(t->best))
			continue;
		if (!b || (max ? t->best > b->best : t->best < b->best))
			b = t;
	}
	return b;
}

int sweeps_trial_job(struct sweeps *s, int64_t id, long t, char *buf,
		     size_t len)
{
	int rc = -ENOENT;
	lock_take(&s->lock);
	struct sweep *w = sweep_find(s, id);
	const struct trial *tr = NULL;
	if (w && t == 0)
		tr = best_trial(w);
	else if (w && t >= 1 && t <= w->rec.trials_created)
		tr = &w->trials[t - 1];
	if (tr && !tr->gone && tr->name[0]) {
		snprintf(buf, len, "%s", tr->name);
		rc = 0;
	}
	lock_drop(&s->lock);
	return rc;
}

void sweep_params_text(const struct sweep_spec *spec, uint64_t seed, long t,
		       char *buf, size_t len)
{
	char(*v)[SWEEP_VALUE_MAX] = calloc(spec->nparams + 1, SWEEP_VALUE_MAX);
	buf[0] = 0;
	if (!v)
		return;
	if (!sweep_trial_values(spec->params, spec->nparams, spec->grid, seed,
				(unsigned long)t, v)) {
		size_t o = 0;
		for (size_t i = 0; i < spec->nparams && o < len; i++)
			o += (size_t)snprintf(buf + o, len - o, "%s%s=%s",
					      i ? " " : "",
					      spec->params[i].name, v[i]);
	}
	free(v);
}

int sweeps_curves(struct sweeps *s, int64_t id, struct sweep_curves *c)
{
	memset(c, 0, sizeof *c);
	lock_take(&s->lock);
	struct sweep *w = sweep_find(s, id);
	int rc = w ? 0 : -ENOENT;
	long n = w ? w->rec.trials_created : 0;
	if (w && n) {
		c->trials = calloc((size_t)n, sizeof *c->trials);
		rc = c->trials ? 0 : -ENOMEM;
	}
	for (long i = 0; !rc && i < n; i++) {
		const struct trial *t = &w->trials[i];
		struct sweep_curve *o = &c->trials[c->n++];
		o->t = t->t;
		o->pruned_at = t->pruned ? t->pruned_at : 0;
		if (t->ncurve) {
			o->points = malloc(t->ncurve * sizeof *o->points);
			if (!o->points) {
				rc = -ENOMEM;
				break;
			}
			memcpy(o->points, t->curve,
			       t->ncurve * sizeof *o->points);
			o->n = t->ncurve;
		}
	}
	if (!rc && w) {
		const struct trial *b = best_trial(w);
		c->best = b ? b->t : 0;
		c->maximize = w->spec_ok ? w->spec.maximize : 1;
		snprintf(c->monitor, sizeof c->monitor, "%s",
			 w->spec_ok ? w->spec.monitor : "");
	}
	lock_drop(&s->lock);
	if (rc)
		sweeps_curves_free(c);
	return rc;
}

void sweeps_curves_free(struct sweep_curves *c)
{
	for (size_t i = 0; i < c->n; i++)
		free(c->trials[i].points);
	free(c->trials);
	memset(c, 0, sizeof *c);
}

/* Copies trial T for readers. */
static struct sweep_trial_view trial_view(const struct trial *t)
{
	struct sweep_trial_view v = {
		.t = t->t,
		.job = t->job,
		.gone = t->gone,
		.state = t->state,
		.pruned = t->pruned,
		.last_epoch = t->last_epoch,
		.best = t->best,
		.best_epoch = t->best_epoch,
	};
	memcpy(v.name, t->name, sizeof v.name);
	memcpy(v.reason, t->reason, sizeof v.reason);
	return v;
}

/* Copies W's record for readers into V (its strings new): 0 or -ENOMEM. */
static int view_record(const struct sweep *w, struct sweep_view *v)
{
	v->state = w->rec.state;
	v->seed = w->rec.seed;
	v->has_seed = w->rec.has_seed;
	v->spec_ok = w->spec_ok;
	v->ntrials = w->rec.trials_created;
	const struct trial *b = best_trial(w);
	v->best = b ? b->t : 0;
	if ((w->rec.error && !(v->error = strdup(w->rec.error))) ||
	    (w->rec.last_refused &&
	     !(v->last_refused = strdup(w->rec.last_refused))))
		return -ENOMEM;
	if (w->rec.spec) {
		if (!(v->spec_text = malloc(w->rec.spec_len + 1)))
			return -ENOMEM;
		memcpy(v->spec_text, w->rec.spec, w->rec.spec_len);
		v->spec_text[w->rec.spec_len] = 0;
		v->spec_len = w->rec.spec_len;
	}
	return 0;
}

int sweeps_view(struct sweeps *s, int64_t id, struct sweep_view *v)
{
	memset(v, 0, sizeof *v);
	lock_take(&s->lock);
	struct sweep *w = sweep_find(s, id);
	int rc = w ? view_record(w, v) : -ENOENT;
	if (!rc && v->ntrials &&
	    !(v->trials = calloc((size_t)v->ntrials, sizeof *v->trials)))
		rc = -ENOMEM;
	for (long i = 0; !rc && i < v->ntrials; i++)
		v->trials[i] = trial_view(&w->trials[i]);
	lock_drop(&s->lock);
	/* The spec parsed again, from the copy, with no lock held. */
	char err[512];
	if (!rc && v->spec_ok &&
	    sweep_spec_parse(v->spec_text, v->spec_len, &v->spec, err,
			     sizeof err))
		v->spec_ok = 0;
	if (rc)
		sweeps_view_free(v);
	return rc;
}

void sweeps_view_free(struct sweep_view *v)
{
	if (v->spec_ok)
		sweep_spec_free(&v->spec);
	free(v->error);
	free(v->last_refused);
	free(v->spec_text);
	free(v->trials);
	memset(v, 0, sizeof *v);
}

void sweeps_poke(struct sweeps *s)
{
	lock_take(&s->wake_lock);
	s->woken = 1;
	pthread_cond_signal(&s->wake);
	lock_drop(&s->wake_lock);
}

void sweeps_close(struct sweeps *s)
{
	if (!s)
		return;
	assert(!s->running);
	for (size_t i = 0; i < s->n; i++)
		sweep_free(s->list[i]);
	free(s->list);
	lock_destroy(&s->lock);
	lock_destroy(&s->wake_lock);
	pthread_cond_destroy(&s->wake);
	free(s);
}
