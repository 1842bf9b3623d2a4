/*
 * sweep_run: the sweeps' thread, which makes trials as places free up and
 * prunes the ones clearly behind (the model it works on is sweep.c's).
 *
 * Its round (tick) for each sweep that has work: copy the trials' job ids
 * (sweeps lock), read each trial's job under that job's lock alone (state,
 * best, last epoch and, when it changed, its monitored curve), then decide
 * under the sweeps lock (pruning verdicts, trial numbers to use, trials
 * left created to start, stop and cancel to pass on, done) and store each
 * decision, and last act on the jobs with no sweeps lock held.  A round is
 * every 100 ms, or at once when a control write or a trial's new epoch
 * wakes it (sweeps_poke).  The load (sweeps_open) ends with a round that
 * reads every trial and decides nothing, before the thread starts and
 * before any reader sees a sweep.
 *
 * Locks: s->lock is never held while a job's lock or the registry lock is
 * taken; the store lock may be taken inside it.  wake_lock is a leaf.
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jobs/model/prune.h"
#include "jobs/core/registry.h"
#include "jobs/core/sweep_i.h"
#include "util/lock.h"
#include "util/log.h"
#include "util/vec.h"

#define TICK_NS (100 * 1000 * 1000)

/* ---- reading the trials ---- */

/* The epoch in "pruned at epoch E: ..." of JOB's last stop, or 0. */
static long pruned_epoch(const struct job *job)
{
	for (size_t i = job->nevents; i-- > 0;) {
		const struct job_event *e = &job->events[i];
		if (strcmp(e->state, "stopping"))
			continue;
		if (e->reason && !strncmp(e->reason, "pruned at epoch ", 16))
			return strtol(e->reason + 16, NULL, 10);
		return 0;
	}
	return 0;
}

/*
 * Reads what the sweep needs of trial job ID (or of the job called NAME,
 * a trial made before a crash could store its id) into *OUT, with that
 * job's lock alone; the curve only when the job changed since SEEN (then
 * *CURVE_READ is set and OUT->curve is new).  Returns 0 or -ENOENT.
 */
static int read_trial(struct jobs *j, int64_t id, const char *name, uid_t owner,
		      unsigned long seen, const char *line, const char *sweep,
		      struct trial *out, int *curve_read)
{
	*curve_read = 0;
	if (!id && name) {
		jobs_lock(j);
		struct job *f = jobs_find_name(j, name);
		id = f ? f->rec.id : 0;
		jobs_unlock(j);
	}
	struct job *job = id ? jobs_lock_job(j, id) : NULL;
	if (!job)
		return -ENOENT;
	if (job->rec.uid != owner) { /* a job of that name, not the trial */
		jobs_unlock_job(j, job);
		return -ENOENT;
	}
	out->job = id;
	if (line && (!job->sweep || strcmp(job->sweep, line))) {
		char *l = strdup(line), *n = strdup(sweep);
		if (l && n) {
			free(job->sweep);
			free(job->sweep_name);
			job->sweep = l;
			job->sweep_name = n;
			job_touch(j, job, VIEW_BIT(VIEW_STATUS));
		} else {
			free(l);
			free(n);
		}
	}
	snprintf(out->name, sizeof out->name, "%s", job->rec.name);
	out->state = job->rec.state;
	snprintf(out->reason, sizeof out->reason, "%s",
		 job->rec.reason && job->rec.state == ST_READY ?
			 job->rec.reason :
			 "");
	out->pruned = job->rec.reason && !strcmp(job->rec.reason, "pruned");
	out->pruned_at = out->pruned ? pruned_epoch(job) : 0;
	out->last_epoch = job_last_epoch(job);
	out->best = job->rec.best;
	out->best_epoch = (long)job->rec.best_epoch;
	out->seen = job->changes;
	if (job->changes != seen || !seen) {
		*curve_read = 1;
		out->curve = NULL;
		out->ncurve = 0;
		if (jobs_load_metrics(j, job) == 0 && job->monitor_col >= 0 &&
		    job->table.nrows) {
			out->curve =
				malloc(job->table.nrows * sizeof *out->curve);
			for (size_t r = 0; out->curve && r < job->table.nrows;
			     r++) {
				double v;
				if (job_cell(job, r, job->monitor_col, &v))
					out->curve[out->ncurve++] =
						(struct prune_point){
							job->table.epochs[r], v
						};
			}
		}
	}
	jobs_unlock_job(j, job);
	return 0;
}

/* ---- deciding ---- */

enum action_kind { A_PRUNE, A_MAKE, A_START, A_STOP, A_CANCEL };

struct action {
	enum action_kind kind;
	long t;
	int64_t job;
	char *text; /* A_PRUNE: the message; A_MAKE, A_START: the trial's spec */
	size_t len;
	char name[JOB_NAME_MAX + 1];
};

struct actions {
	struct action *a;
	size_t n, cap;
};

static struct action *act(struct actions *l, enum action_kind k, long t,
			  int64_t job)
{
	if (VEC_RESERVE(l->a, l->cap, l->n + 1))
		return NULL;
	struct action *a = &l->a[l->n++];
	*a = (struct action){ .kind = k, .t = t, .job = job };
	return a;
}

static struct prune_curve curve_of(const struct trial *t)
{
	return (struct prune_curve){ t->curve, t->ncurve };
}

static void prune_one(struct sweeps *s, struct sweep *w, struct trial *t,
		      const struct prune_verdict *v, struct actions *l)
{
	char msg[300];
	prune_message(msg, sizeof msg, w->spec.monitor,
		      w->spec.prune == SWEEP_PRUNE_ASHA, w->spec.factor, v);
	struct action *a = act(l, A_PRUNE, t->t, t->job);
	if (!a || !(a->text = strdup(msg))) {
		if (a)
			l->n--;
		return;
	}
	(void)s;
	t->pruned = 1;
	t->pruned_at = v->epoch;
}

static int cmp_point_epoch(const void *a, const void *b)
{
	const struct prune_point *x = a, *y = b;
	return (x->epoch > y->epoch) - (x->epoch < y->epoch);
}

/* The median rule for each epoch a running trial reported since last judged. */
static void judge_median(struct sweeps *s, struct sweep *w, struct actions *l)
{
	long n = w->rec.trials_created;
	struct prune_curve *others = calloc((size_t)n + 1, sizeof *others);
	if (!others)
		return;
	for (long i = 0; i < n; i++) {
		struct trial *t = &w->trials[i];
		if (t->gone || t->pruned || t->state != ST_RUNNING)
			continue;
		size_t k = 0;
		for (long o = 0; o < n; o++)
			if (o != i && !w->trials[o].gone)
				others[k++] = curve_of(&w->trials[o]);
		struct prune_point *sorted =
			malloc((t->ncurve + 1) * sizeof *sorted);
		if (!sorted)
			break;
		if (t->ncurve) /* a curve of none may be NULL */
			memcpy(sorted, t->curve, t->ncurve * sizeof *sorted);
		qsort(sorted, t->ncurve, sizeof *sorted, cmp_point_epoch);
		long judged = t->judged;
		struct prune_curve mine = curve_of(t);
		for (size_t p = 0; p < t->ncurve && !t->pruned; p++) {
			long e = sorted[p].epoch;
			if (e <= judged || e < w->spec.min_epochs)
				continue;
			judged = e;
			struct prune_verdict v;
			if (prune_median(&mine, e, others, k, w->spec.maximize,
					 (int)w->spec.startup, &v) &&
			    v.prune)
				prune_one(s, w, t, &v, l);
		}
		free(sorted);
		if (judged != t->judged &&
		    !store_put_trial(s->store, w->rec.id, t->t, t->job, judged))
			t->judged = judged;
	}
	free(others);
}

/* ASHA: record each trial's value at each rung it reached, judging the running. */
static void judge_asha(struct sweeps *s, struct sweep *w, struct actions *l)
{
	long rungs[PRUNE_RUNGS_MAX];
	size_t nr = prune_asha_rungs(w->spec.min_epochs, w->spec.factor,
				     w->spec.epochs, rungs);
	for (long i = 0; i < w->rec.trials_created; i++) {
		struct trial *t = &w->trials[i];
		if (t->gone)
			continue;
		struct prune_curve mine = curve_of(t);
		for (size_t r = 0; r < nr; r++) {
			double value;
			long at;
			if (t->pruned && t->pruned_at &&
			    rungs[r] > t->pruned_at)
				break; /* it never reached the later rungs */
			if (sweep_rung_has(w, rungs[r], t->t))
				continue;
			if (!prune_value_at_rung(&mine, rungs[r], &value, &at))
				break;
			/* The store first: a value recorded is one counted. */
			if (store_put_rung(s->store, w->rec.id, rungs[r], t->t,
					   value) ||
			    sweep_rungs_add(w, rungs[r], t->t, value))
				return;
			if (t->pruned || t->state != ST_RUNNING)
				continue;
			double *vals = malloc(w->nrungs * sizeof *vals);
			size_t nv = 0;
			for (size_t k = 0; vals && k < w->nrungs; k++)
				if (w->rungs[k].rung == rungs[r])
					vals[nv++] = w->rungs[k].value;
			struct prune_verdict v;
			if (vals && prune_asha(value, vals, nv, w->spec.factor,
					       w->spec.maximize, &v)) {
				v.epoch = rungs[r];
				prune_one(s, w, t, &v, l);
			}
			free(vals);
			if (t->pruned)
				break;
		}
	}
}

/* A place is held from a trial's creation until it is final. */
static int holds_place(const struct trial *t)
{
	return !t->gone && !state_is_final((enum job_state)t->state);
}

/* Trial T's job spec into *TEXT (malloc'd) of *LEN bytes: 0, or -errno. */
static int trial_spec(const struct sweep *w, long t, char **text, size_t *len)
{
	char(*v)[SWEEP_VALUE_MAX] =
		calloc(w->spec.nparams + 1, SWEEP_VALUE_MAX);
	int rc = v ? sweep_trial_spec(&w->spec, w->rec.seed, (unsigned long)t,
				      v, text, len) :
		     -ENOMEM;
	free(v);
	return rc;
}

/*
 * A trial's job still created while the sweep runs was made but never
 * started (trainfs killed in between, its spec missing or partly
 * written): it is given the trial's spec and started, as a new trial is.
 * Each mount's thread tries a trial's start once: one refused shows in
 * the job's status and holds the trial's place, as a new trial's does.
 */
static void start_left(struct sweep *w, struct actions *l)
{
	for (long i = 0; i < w->rec.trials_created; i++) {
		struct trial *t = &w->trials[i];
		char *text = NULL;
		size_t len = 0;
		if (t->gone || !t->job || t->tried || t->state != ST_CREATED)
			continue;
		if (trial_spec(w, t->t, &text, &len))
			return;
		struct action *a = act(l, A_START, t->t, t->job);
		if (!a) {
			free(text);
			return;
		}
		a->text = text;
		a->len = len;
		snprintf(a->name, sizeof a->name, "%s", t->name);
		t->tried = 1;
	}
}

/* New trials while places are free: each number stored before it is made. */
static void make_trials(struct sweeps *s, struct sweep *w, struct actions *l)
{
	long places = 0;
	for (long i = 0; i < w->rec.trials_created; i++)
		places += holds_place(&w->trials[i]);
	while (places < w->spec.parallel &&
	       w->rec.trials_created < w->spec.trials) {
		long t = w->rec.trials_created + 1;
		char *text = NULL;
		size_t len = 0;
		if (sweep_trials_room(w, t) || trial_spec(w, t, &text, &len))
			return;
		w->rec.trials_created = t;
		if (sweep_save(s, w) ||
		    store_put_trial(s->store, w->rec.id, t, 0, 0)) {
			w->rec.trials_created = t - 1;
			free(text);
			return;
		}
		struct action *a = act(l, A_MAKE, t, 0);
		if (!a) {
			free(text);
			return;
		}
		a->text = text;
		a->len = len;
		snprintf(a->name, sizeof a->name, "%s-%03ld", w->rec.name, t);
		snprintf(w->trials[t - 1].name, sizeof w->trials[t - 1].name,
			 "%s", a->name);
		w->trials[t - 1].tried = 1;
		places++;
	}
}

/* stop and cancel of the sweep, passed on to trials not yet final. */
static void pass_on(struct sweep *w, struct actions *l)
{
	for (long i = 0; i < w->rec.trials_created; i++) {
		struct trial *t = &w->trials[i];
		if (t->gone || !t->job || state_is_final(t->state) ||
		    t->state == ST_CREATED)
			continue;
		if (w->rec.state == SW_CANCELLED)
			act(l, A_CANCEL, t->t, t->job);
		else if (t->state == ST_QUEUED)
			act(l, A_CANCEL, t->t, t->job);
		else if (t->state == ST_RUNNING)
			act(l, A_STOP, t->t, t->job);
	}
}

/* Whether every trial that will ever be is final. */
static int all_final(const struct sweep *w)
{
	if (w->rec.state == SW_RUNNING &&
	    w->rec.trials_created < w->spec.trials)
		return 0;
	for (long i = 0; i < w->rec.trials_created; i++) {
		const struct trial *t = &w->trials[i];
		if (!t->gone && !state_is_final(t->state) &&
		    !(t->state == ST_CREATED && w->rec.state != SW_RUNNING))
			return 0;
	}
	return 1;
}

static void decide(struct sweeps *s, struct sweep *w, struct actions *l)
{
	if (!w->spec_ok || w->removed)
		return;
	if (w->rec.state == SW_RUNNING) {
		if (w->spec.prune == SWEEP_PRUNE_MEDIAN)
			judge_median(s, w, l);
		else if (w->spec.prune == SWEEP_PRUNE_ASHA)
			judge_asha(s, w, l);
		start_left(w, l);
		make_trials(s, w, l);
	} else if (w->spec.prune == SWEEP_PRUNE_ASHA &&
		   w->rec.state != SW_CREATED) {
		judge_asha(s, w, l); /* values still count at the rungs */
	}
	if (w->rec.state == SW_STOPPING || w->rec.state == SW_CANCELLED)
		pass_on(w, l);
	if ((w->rec.state == SW_RUNNING || w->rec.state == SW_STOPPING) &&
	    all_final(w)) {
		int before = w->rec.state;
		w->rec.state = SW_DONE;
		w->rec.finished_ns = now_ns();
		if (sweep_save(s, w))
			w->rec.state = before;
	}
}

/* ---- acting ---- */

/*
 * Writes A's spec into trial job ID and starts it; a failure is logged
 * once (a refused start shows in the job's status).
 */
static void start_trial(struct jobs *j, int64_t id, uid_t uid,
			const struct action *a)
{
	int rc = jobs_write_spec(j, id, uid, a->text, a->len);
	if (!rc)
		rc = jobs_control(j, id, uid, "start", 5);
	if (rc)
		log_error("sweep trial '%s': cannot start it: %s", a->name,
			  strerror(-rc));
}

static void make_trial(struct sweeps *s, int64_t sweep, uid_t uid, gid_t gid,
		       mode_t mode, struct action *a)
{
	struct jobs *j = s->jobs;
	int64_t id = 0;
	int rc = jobs_create(j, a->name, uid, gid, mode, &id);
	if (!rc) {
		start_trial(j, id, uid, a);
	} else {
		log_error("sweep trial '%s': cannot make it: %s", a->name,
			  strerror(-rc));
	}
	if (id)
		sweep_notify(s, sweep, a->name);
	lock_take(&s->lock);
	struct sweep *w = sweep_find(s, sweep);
	if (w && a->t <= w->rec.trials_created) {
		struct trial *t = &w->trials[a->t - 1];
		t->job = id;
		t->gone = id == 0;
		t->state = id ? ST_QUEUED : ST_FAILED;
		if (id && store_put_trial(s->store, sweep, a->t, id, t->judged))
			log_error("sweep trial '%s': cannot store its job",
				  a->name);
	}
	lock_drop(&s->lock);
}

static void enact(struct sweeps *s, int64_t sweep, uid_t uid, gid_t gid,
		  mode_t mode, struct actions *l)
{
	struct jobs *j = s->jobs;
	for (size_t i = 0; i < l->n; i++) {
		struct action *a = &l->a[i];
		switch (a->kind) {
		case A_PRUNE: {
			struct job *job = jobs_lock_job(j, a->job);
			if (job && job->rec.state == ST_RUNNING) {
				log_info("job '%s': %s", job->rec.name,
					 a->text);
				/* Logged; the stop stands in memory. */
				(void)!job_stop(
					j, job, "pruned", a->text,
					(const char *[]){ "stopped-early",
							  "pruned", NULL });
			}
			if (job)
				jobs_unlock_job(j, job);
			break;
		}
		case A_MAKE:
			make_trial(s, sweep, uid, gid, mode, a);
			break;
		case A_START:
			start_trial(j, a->job, uid, a);
			sweep_notify(s, sweep, NULL);
			break;
		case A_STOP:
		case A_CANCEL: {
			const char *c = a->kind == A_STOP ? "stop" : "cancel";
			int rc = jobs_control(j, a->job, 0, c, strlen(c));
			if (rc && rc != -EBUSY && rc != -ENOENT)
				log_error("sweep: cannot %s trial %03ld: %s", c,
					  a->t, strerror(-rc));
			break;
		}
		}
		free(a->text);
	}
	free(l->a);
}

/* What a round copies of a sweep, to read its trials with no lock held. */
struct tick {
	uid_t uid;
	gid_t gid;
	mode_t mode;	    /* the trials take the sweep's */
	char *sweep;	    /* its name */
	long n;		    /* the trials made then */
	struct trial *peek; /* each trial as last known, then as read */
	char **lines;	    /* each trial's line for its job's status */
	int *fresh, *found; /* per trial: curve read anew; job found */
};

/* Copies what a round needs of sweep ID into K (zeroed): 0, or -1. */
static int tick_copy(struct sweeps *s, int64_t id, struct tick *k)
{
	lock_take(&s->lock);
	struct sweep *w = sweep_find(s, id);
	long n = k->n = w ? w->rec.trials_created : 0;
	struct trial *peek = k->peek = calloc((size_t)n + 1, sizeof *peek);
	if (!w || !peek) {
		lock_drop(&s->lock);
		free(peek);
		return -1;
	}
	k->uid = w->rec.uid;
	k->gid = w->rec.gid;
	k->mode = w->rec.mode;
	k->sweep = strdup(w->rec.name);
	char **lines = k->lines = calloc((size_t)n + 1, sizeof *lines);
	for (long i = 0; i < n; i++) {
		char params[1024];
		if (lines && w->spec_ok) {
			sweep_params_text(&w->spec, w->rec.seed, i + 1, params,
					  sizeof params);
			if (asprintf(&lines[i], "%s, trial %03ld: %s",
				     w->rec.name, i + 1, params) < 0)
				lines[i] = NULL;
		}
		peek[i] = w->trials[i];
		peek[i].curve = NULL;
		if (!peek[i].job && !peek[i].name[0])
			snprintf(peek[i].name, sizeof peek[i].name, "%s-%03ld",
				 w->rec.name, i + 1);
	}
	lock_drop(&s->lock);
	return 0;
}

/* Reads each trial of K from its job, under that job's lock alone. */
static void tick_read(struct sweeps *s, struct tick *k)
{
	struct trial *peek = k->peek;
	long n = k->n;
	int *fresh = k->fresh = calloc((size_t)n + 1, sizeof *fresh);
	int *found = k->found = calloc((size_t)n + 1, sizeof *found);
	for (long i = 0; fresh && found && i < n; i++)
		found[i] = read_trial(s->jobs, peek[i].job,
				      peek[i].job ? NULL : peek[i].name, k->uid,
				      peek[i].seen,
				      k->lines ? k->lines[i] : NULL,
				      k->sweep ? k->sweep : "", &peek[i],
				      &fresh[i]) == 0;
	for (long i = 0; k->lines && i < n; i++)
		free(k->lines[i]);
	free(k->lines);
	free(k->sweep);
	k->lines = NULL;
	k->sweep = NULL;
}

/* Takes what K read into W's trials.  With s->lock held. */
static void tick_merge(struct sweeps *s, struct sweep *w, struct tick *k)
{
	struct trial *peek = k->peek;
	int64_t id = w->rec.id;
	for (long i = 0;
	     k->fresh && k->found && i < k->n && i < w->rec.trials_created;
	     i++) {
		struct trial *t = &w->trials[i];
		if (!k->found[i]) {
			/* Removed, or never made: no job to read. */
			t->gone = t->job != 0 || t->gone;
			continue;
		}
		/* Adopted after a crash (unsaved: adopted again at the next
		 * load). */
		if (!t->job && peek[i].job)
			(void)!store_put_trial(s->store, id, t->t, peek[i].job,
					       t->judged);
		struct prune_point *curve = t->curve;
		size_t ncurve = t->ncurve;
		long judged = t->judged;
		*t = peek[i];
		t->judged = judged;
		t->gone = 0;
		if (k->fresh[i]) {
			free(curve);
		} else {
			t->curve = curve;
			t->ncurve = ncurve;
		}
		peek[i].curve = NULL;
	}
}

/* Frees what K holds. */
static void tick_free(struct tick *k)
{
	for (long i = 0; k->peek && i < k->n; i++)
		free(k->peek[i].curve);
	free(k->peek);
	free(k->fresh);
	free(k->found);
}

/*
 * One round for sweep ID: its trials read from their jobs into it, then,
 * with L, its decisions taken into L and acted on; without L (the load)
 * nothing decided.  0, or -ENOMEM when its trials could not all be read.
 */
static int tick_sweep(struct sweeps *s, int64_t id, struct actions *l)
{
	struct tick k = { 0 };
	if (tick_copy(s, id, &k))
		return -ENOMEM; /* or gone, which a round skips */
	tick_read(s, &k);
	int rc = k.fresh && k.found ? 0 : -ENOMEM;
	lock_take(&s->lock);
	struct sweep *w = sweep_find(s, id);
	if (w)
		tick_merge(s, w, &k);
	if (w && l)
		decide(s, w, l);
	lock_drop(&s->lock);
	tick_free(&k);
	if (l)
		enact(s, id, k.uid, k.gid, k.mode, l);
	return rc;
}

/* The id of each sweep (*N of them), 0 for one removed; NULL: no memory. */
static int64_t *sweep_ids(struct sweeps *s, size_t *n)
{
	lock_take(&s->lock);
	*n = s->n;
	int64_t *ids = calloc(*n + 1, sizeof *ids);
	for (size_t i = 0; ids && i < *n; i++)
		ids[i] = s->list[i]->removed ? 0 : s->list[i]->rec.id;
	lock_drop(&s->lock);
	return ids;
}

/*
 * A trial's row holds its job's id alone: what the trial shows (its job's
 * name, state, best, last epoch) is read from that job at the load, as a
 * round reads it but deciding nothing, so that no reader ever sees a
 * sweep whose trials are not linked to their jobs yet.
 */
int sweeps_open(struct jobs *j, struct sweeps **out)
{
	struct sweeps *s;
	int rc = sweeps_load(j, &s);
	if (rc)
		return rc;
	size_t n;
	int64_t *ids = sweep_ids(s, &n);
	rc = ids ? 0 : -ENOMEM;
	for (size_t i = 0; !rc && i < n; i++)
		if (ids[i])
			rc = tick_sweep(s, ids[i], NULL);
	free(ids);
	if (rc) {
		sweeps_close(s);
		return rc;
	}
	*out = s;
	return 0;
}

static void *sweeps_main(void *arg)
{
	struct sweeps *s = arg;
	for (;;) {
		lock_take(&s->wake_lock);
		int quit = s->quit;
		lock_drop(&s->wake_lock);
		if (quit)
			break;
		size_t n;
		int64_t *ids = sweep_ids(s, &n);
		for (size_t i = 0; ids && i < n; i++) {
			struct actions l = { 0 };
			if (ids[i])
				(void)tick_sweep(s, ids[i], &l);
		}
		free(ids);
		lock_take(&s->wake_lock);
		if (!s->woken && !s->quit) {
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_nsec += TICK_NS;
			if (ts.tv_nsec >= 1000000000L) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000L;
			}
			lock_timedwait(&s->wake, &s->wake_lock, &ts);
		}
		s->woken = 0;
		lock_drop(&s->wake_lock);
	}
	return NULL;
}

int sweeps_start(struct sweeps *s)
{
	int rc = pthread_create(&s->thread, NULL, sweeps_main, s);
	if (rc)
		return -rc;
	s->running = 1;
	return 0;
}

void sweeps_stop(struct sweeps *s)
{
	if (!s || !s->running)
		return;
	lock_take(&s->wake_lock);
	s->quit = 1;
	pthread_cond_signal(&s->wake);
	lock_drop(&s->wake_lock);
	pthread_join(s->thread, NULL);
	s->running = 0;
}
