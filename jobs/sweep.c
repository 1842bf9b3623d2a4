/*
 * sweep: sweeps in memory, their store rows, and the thread that makes
 * trials and prunes them (the design is in sweep.h).
 *
 * The thread's round (tick) for each sweep that has work: copy the trials'
 * job ids (sweeps lock), read each trial's job under that job's lock alone
 * (state, best, last epoch and, when it changed, its monitored curve),
 * then decide under the sweeps lock (pruning verdicts, trial numbers to
 * use, stop/cancel to pass on, done) and store each decision, and last act
 * on the jobs with no sweeps lock held.  A round is every 100 ms, or at
 * once when a control write wakes it.
 */
#include "jobs/sweep.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jobs/prune.h"
#include "jobs/registry.h"
#include "jobs/sweep_spec.h"
#include "store/sweeps.h"
#include "util/lock.h"
#include "util/log.h"
#include "util/number.h"
#include "util/text.h"

#define TICK_NS (100 * 1000 * 1000)

static const char *const sweep_state_names[SW_COUNT] = {
	"created", "running", "stopping", "done", "cancelled",
};

/* What the thread last read of a trial's job. */
struct trial {
	long t;               /* its number */
	int64_t job;          /* 0: not made (or could not be) */
	long judged;          /* the last epoch the pruner judged */
	int gone;             /* its job was removed, or never made */
	char name[JOB_NAME_MAX + 1];
	int state;            /* enum job_state */
	int pruned;           /* ready (or on its way) by pruning */
	long pruned_at;       /* the epoch judged then, or 0 */
	char reason[32];
	long last_epoch;      /* -1: none */
	double best;
	long best_epoch;      /* -1: none */
	unsigned long seen;   /* the job's changes when CURVE was read */
	struct prune_point *curve;
	size_t ncurve;
};

struct rung_value {
	long rung, t;
	double value;
};

struct sweep {
	struct sweep_record rec;
	struct sweep_spec spec; /* valid when spec_ok */
	int spec_ok;
	struct trial *trials;   /* trials[t - 1]; rec.trials_created of them */
	struct rung_value *rungs;
	size_t nrungs, caprungs;
	int removed;
	int passed_on;          /* stop or cancel passed to the trials */
};

struct sweeps {
	/* The thread's wake-up: a leaf lock, taken with nothing else after
	 * it, so sweeps_poke() may be called with the store and registry
	 * locks held (a trial's ingest) while the thread holds s->lock and
	 * waits for the store (a deadlock when both shared s->lock). */
	struct lock wake_lock;
	pthread_cond_t wake;    /* under wake_lock */
	int woken, quit;        /* under wake_lock */
	struct lock lock;   /* everything below but the thread's own */
	pthread_t thread;
	int running;
	struct jobs *jobs;
	struct store *store;
	struct sweep **list;    /* by id */
	size_t n;
	sweeps_changed_fn changed;
	void *changed_arg;
};

/* ---- small helpers ---- */

static int64_t now_ns(void)
{
	return job_now_ns();
}

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

static struct sweep *find(struct sweeps *s, int64_t id)
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

static int save(struct sweeps *s, struct sweep *w)
{
	w->rec.mtime_ns = now_ns();
	return store_put_sweep(s->store, &w->rec);
}

/* Room for trial numbers up to N; new ones zeroed (not made yet). */
static int trials_room(struct sweep *w, long n)
{
	if (n <= w->rec.trials_created)
		return 0;
	struct trial *nt = realloc(w->trials, (size_t)n * sizeof *nt);
	if (!nt)
		return -ENOMEM;
	for (long i = w->rec.trials_created; i < n; i++)
		nt[i] = (struct trial){ .t = i + 1, .last_epoch = -1,
					.best_epoch = -1, .state = ST_CREATED };
	w->trials = nt;
	return 0;
}

static int rungs_add(struct sweep *w, long rung, long t, double value)
{
	if (w->nrungs == w->caprungs) {
		size_t cap = w->caprungs ? 2 * w->caprungs : 16;
		struct rung_value *nr = realloc(w->rungs, cap * sizeof *nr);
		if (!nr)
			return -ENOMEM;
		w->rungs = nr;
		w->caprungs = cap;
	}
	w->rungs[w->nrungs++] = (struct rung_value){ rung, t, value };
	return 0;
}

static int rung_has(const struct sweep *w, long rung, long t)
{
	for (size_t i = 0; i < w->nrungs; i++)
		if (w->rungs[i].rung == rung && w->rungs[i].t == t)
			return 1;
	return 0;
}

static void notify(struct sweeps *s, int64_t id, const char *new_job)
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
	struct sweep **nl = realloc(s->list, (s->n + 1) * sizeof *nl);
	if (!w || !nl) {
		free(w);
		if (nl)
			s->list = nl;
		return -ENOMEM;
	}
	s->list = nl;
	long made = r->trials_created;
	w->rec = *r;
	memset(r, 0, sizeof *r); /* the strings are w's now */
	w->rec.trials_created = 0;
	if (trials_room(w, made)) {
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
	struct sweep *w = find(arg, sweep);
	if (!w || t < 1 || t > w->rec.trials_created)
		return 0;
	w->trials[t - 1].job = job;
	w->trials[t - 1].judged = judged;
	w->trials[t - 1].gone = job == 0;
	return 0;
}

static int load_rung(void *arg, int64_t sweep, long rung, long t,
		     double value)
{
	struct sweep *w = find(arg, sweep);
	return w ? rungs_add(w, rung, t, value) : 0;
}

int sweeps_open(struct jobs *j, struct sweeps **out)
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

void sweeps_poke(struct sweeps *s)
{
	lock_take(&s->wake_lock);
	s->woken = 1;
	pthread_cond_signal(&s->wake);
	lock_drop(&s->wake_lock);
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
		if (!s->list[i]->removed && !strcmp(s->list[i]->rec.name, name)) {
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
	struct sweep **nl = realloc(s->list, (s->n + 1) * sizeof *nl);
	if (nl)
		s->list = nl;
	int rc = !w->rec.name || !nl ? -ENOMEM
		 : find_name(s, name)  ? -EEXIST
				       : store_create_sweep(s->store, &w->rec);
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
	struct sweep *w = find(s, id);
	int rc = !w			      ? -ENOENT
		 : !may_change(w, uid)	      ? -EACCES
		 : w->rec.state == SW_RUNNING ||
				 w->rec.state == SW_STOPPING
			 ? -EBUSY
			 : store_delete_sweep(s->store, id);
	if (!rc)
		w->removed = 1; /* freed at close: a reader may hold its id */
	lock_drop(&s->lock);
	return rc;
}

int sweeps_attr(struct sweeps *s, int64_t id, struct sweep_attr *a)
{
	lock_take(&s->lock);
	struct sweep *w = find(s, id);
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
	struct sweep *w = find(s, id);
	int rc = !w ? -ENOENT : !may_change(w, uid) ? -EPERM : 0;
	if (!rc) {
		unsigned before = w->rec.mode;
		w->rec.mode = (mode & 0755) | 0700;
		if ((rc = save(s, w))) /* the store first */
			w->rec.mode = before;
	}
	lock_drop(&s->lock);
	return rc;
}

int sweeps_write_spec(struct sweeps *s, int64_t id, uid_t uid,
		      const char *text, size_t len)
{
	char *copy = malloc(len + 1);
	if (!copy)
		return -ENOMEM;
	memcpy(copy, text, len);
	copy[len] = 0;
	lock_take(&s->lock);
	struct sweep *w = find(s, id);
	int rc = !w			      ? -ENOENT
		 : !may_change(w, uid)	      ? -EACCES
		 : w->rec.state != SW_CREATED ? -EACCES
					      : 0;
	if (rc) {
		lock_drop(&s->lock);
		free(copy);
		return rc;
	}
	char *old = w->rec.spec;
	size_t oldlen = w->rec.spec_len;
	w->rec.spec = copy;
	w->rec.spec_len = len;
	rc = save(s, w);
	if (rc) { /* the store first: a failed commit changes nothing */
		w->rec.spec = old;
		w->rec.spec_len = oldlen;
		free(copy);
	} else {
		free(old);
		parse_spec(w);
		rc = w->spec_ok ? 0 : -EINVAL;
		if (save(s, w)) /* the error status shows */
			log_error("sweep '%s': cannot store its spec's error",
				  w->rec.name);
	}
	lock_drop(&s->lock);
	return rc;
}

/* Records a refused control write; returns ERR. */
static int refuse(struct sweeps *s, struct sweep *w, int err,
		  const char *text, size_t n, const char *why)
{
	char q[200], msg[800];
	while (n && (text[n - 1] == '\n' || text[n - 1] == ' ' ||
		     text[n - 1] == '\t'))
		n--;
	while (n && (*text == ' ' || *text == '\t'))
		text++, n--;
	text_escape(q, sizeof q, text, n < 100 ? n : 100, TEXT_ASCII);
	snprintf(msg, sizeof msg, "'%s': %s", q, why);
	char *copy = strdup(msg);
	if (copy) {
		free(w->rec.last_refused);
		w->rec.last_refused = copy;
		if (save(s, w))
			log_error("sweep '%s': cannot store a refusal",
				  w->rec.name);
	}
	return err;
}

/* The command TEXT names: 0 start, 1 stop, 2 cancel, -1 none. */
static int sweep_command(const char *text, size_t n)
{
	while (n && (text[n - 1] == '\n' || text[n - 1] == ' ' ||
		     text[n - 1] == '\t' || text[n - 1] == '\r'))
		n--;
	while (n && (*text == ' ' || *text == '\t'))
		text++, n--;
	static const char *const names[] = { "start", "stop", "cancel" };
	for (int i = 0; i < 3; i++)
		if (n == strlen(names[i]) && !memcmp(text, names[i], n))
			return i;
	return -1;
}

/*
 * The state table of a sweep: STATE x command -> the next state, the
 * same state for a repeat that changes nothing, or -1 (EBUSY).
 */
static int sweep_next(int state, int cmd)
{
	static const signed char next[SW_COUNT][3] = {
		/*               start       stop         cancel */
		[SW_CREATED] = { SW_RUNNING, -1, -1 },
		[SW_RUNNING] = { SW_RUNNING, SW_STOPPING, SW_CANCELLED },
		[SW_STOPPING] = { -1, SW_STOPPING, SW_CANCELLED },
		[SW_DONE] = { -1, -1, -1 },
		[SW_CANCELLED] = { -1, -1, SW_CANCELLED },
	};
	return next[state][cmd];
}

int sweeps_control(struct sweeps *s, int64_t id, uid_t uid, const char *text,
		   size_t len)
{
	lock_take(&s->lock);
	struct sweep *w = find(s, id);
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
	int to = sweep_next(w->rec.state, cmd);
	if (to < 0) {
		char why[80];
		snprintf(why, sizeof why, "not allowed while %s",
			 sweep_state_names[w->rec.state]);
		rc = refuse(s, w, -EBUSY, text, len, why);
		goto out;
	}
	if (to == w->rec.state)
		goto out;
	if (cmd == 0 && !w->spec_ok) {
		rc = refuse(s, w, -EINVAL, text, len,
			    w->rec.error ? w->rec.error : "no spec");
		goto out;
	}
	struct sweep_record before = w->rec;
	w->rec.state = to;
	if (cmd == 0) {
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
	rc = save(s, w);
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
	struct sweep *w = find(s, id);
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

/* The trial's params "lr=0.00312 depth=4" into BUF. */
static void trial_params(const struct sweep *w, long t, char *buf,
			 size_t len)
{
	char (*v)[SWEEP_VALUE_MAX] =
		calloc(w->spec.nparams + 1, SWEEP_VALUE_MAX);
	buf[0] = 0;
	if (!v)
		return;
	if (!sweep_trial_values(w->spec.params, w->spec.nparams, w->spec.grid,
				w->rec.seed, (unsigned long)t, v)) {
		size_t o = 0;
		for (size_t i = 0; i < w->spec.nparams && o < len; i++)
			o += (size_t)snprintf(buf + o, len - o, "%s%s=%s",
					      i ? " " : "",
					      w->spec.params[i].name, v[i]);
	}
	free(v);
}

static void render_status(const struct sweep *w, FILE *f)
{
	fprintf(f, "%s\n", sweep_state_names[w->rec.state]);
	if (w->rec.error) {
		char esc[1024];
		text_escape(esc, sizeof esc, w->rec.error,
			    strlen(w->rec.error), 0);
		fprintf(f, "error: %s\n", esc);
	}
	if (!w->spec_ok)
		return;
	long n[6] = { 0 }; /* running pruned ready cancelled failed */
	long run = 0;
	for (long i = 0; i < w->rec.trials_created; i++) {
		const struct trial *t = &w->trials[i];
		run += t->last_epoch > 0 ? t->last_epoch : 0;
		if (t->gone || t->state == ST_FAILED)
			n[4]++;
		else if (t->state == ST_CANCELLED)
			n[3]++;
		else if (t->state == ST_READY)
			n[t->pruned ? 1 : 2]++;
		else
			n[0]++;
	}
	long total = w->spec.trials;
	long to_come = w->rec.state == SW_RUNNING || w->rec.state == SW_CREATED
			       ? total - w->rec.trials_created
			       : 0;
	if (w->rec.state != SW_RUNNING && w->rec.state != SW_CREATED)
		total = w->rec.trials_created; /* no more will be made */
	static const char *const what[] = { "running", "pruned", "ready",
					    "cancelled", "failed" };
	fprintf(f, "trials: %ld (", total);
	const char *sep = "";
	for (int i = 0; i < 5; i++)
		if (n[i]) {
			fprintf(f, "%s%ld %s", sep, n[i], what[i]);
			sep = ", ";
		}
	if (to_come > 0)
		fprintf(f, "%s%ld to come", sep, to_come);
	fprintf(f, ")\n");
	const struct trial *b = best_trial(w);
	if (b) {
		char params[512], v[NUMBER_DISPLAY_MAX];
		trial_params(w, b->t, params, sizeof params);
		fprintf(f, "best: trial %03ld (%s) %s %s at epoch %ld\n", b->t,
			params, w->spec.monitor,
			number_display(b->best, v, sizeof v), b->best_epoch);
	}
	if (w->spec.epochs > 0 && total > 0) {
		long all = total * w->spec.epochs;
		long saved = lround(100.0 * (1.0 - (double)run / (double)all));
		fprintf(f, "epochs: %ld run of %ld without pruning (%ld%% saved)\n",
			run, all, saved);
	}
	if (w->rec.has_seed)
		fprintf(f, "seed: %llu\n", (unsigned long long)w->rec.seed);
}


static void render_trials_csv(const struct sweep *w, FILE *f,
			      const struct sweep_reader *who)
{
	fputs("trial,job,state,reason", f);
	for (size_t i = 0; w->spec_ok && i < w->spec.nparams; i++) {
		fputc(',', f);
		text_csv_field(f, w->spec.params[i].name);
	}
	fputs(",best,best_epoch,epochs_run\n", f);
	char (*v)[SWEEP_VALUE_MAX] =
		w->spec_ok ? calloc(w->spec.nparams + 1, SWEEP_VALUE_MAX)
			   : NULL;
	for (long i = 0; i < w->rec.trials_created; i++) {
		const struct trial *t = &w->trials[i];
		if (who && t->job && !who->may_read(who->arg, t->job))
			continue; /* a trial its reader may not read */
		fprintf(f, "%03ld,", t->t);
		text_csv_field(f, t->name);
		fprintf(f, ",%s,%s",
			t->gone ? "failed" : state_name((enum job_state)t->state),
			t->pruned ? "pruned" : t->reason);
		if (v && !sweep_trial_values(w->spec.params, w->spec.nparams,
					     w->spec.grid, w->rec.seed,
					     (unsigned long)t->t, v))
			for (size_t k = 0; k < w->spec.nparams; k++) {
				fputc(',', f);
				text_csv_field(f, v[k]);
			}
		char b[NUMBER_DISPLAY_MAX] = "";
		if (t->best_epoch >= 0)
			number_display(t->best, b, sizeof b);
		fprintf(f, ",%s,", b);
		if (t->best_epoch >= 0)
			fprintf(f, "%ld", t->best_epoch);
		fprintf(f, ",%ld\n", t->last_epoch > 0 ? t->last_epoch : 0);
	}
	free(v);
}

static void render_control(const struct sweep *w, FILE *f)
{
	static const char *const allowed[SW_COUNT] = {
		[SW_CREATED] = "start", [SW_RUNNING] = "stop cancel",
		[SW_STOPPING] = "cancel", [SW_DONE] = "none",
		[SW_CANCELLED] = "none",
	};
	fprintf(f, "allowed: %s\n", allowed[w->rec.state]);
	if (w->rec.last_refused)
		fprintf(f, "last refused: %s\n", w->rec.last_refused);
}

int sweeps_curves(struct sweeps *s, int64_t id, struct sweep_curves *c)
{
	memset(c, 0, sizeof *c);
	lock_take(&s->lock);
	struct sweep *w = find(s, id);
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

int sweeps_render(struct sweeps *s, int64_t id, enum sweep_file file,
		  char **out, size_t *len)
{
	return sweeps_render_for(s, id, file, NULL, out, len);
}

int sweeps_render_for(struct sweeps *s, int64_t id, enum sweep_file file,
		      const struct sweep_reader *who, char **out, size_t *len)
{
	char *buf = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&buf, &n);
	if (!f)
		return -ENOMEM;
	lock_take(&s->lock);
	struct sweep *w = find(s, id);
	if (w) {
		switch (file) {
		case SF_SPEC:
			if (w->rec.spec)
				fwrite(w->rec.spec, 1, w->rec.spec_len, f);
			break;
		case SF_CONTROL:
			render_control(w, f);
			break;
		case SF_STATUS:
			render_status(w, f);
			break;
		case SF_TRIALS_CSV:
			render_trials_csv(w, f, who);
			break;
		case SF_GRAPH:
		case SF_COUNT:
			break;
		}
	}
	lock_drop(&s->lock);
	if (fclose(f) || !buf) {
		free(buf);
		return -ENOMEM;
	}
	if (!w) {
		free(buf);
		return -ENOENT;
	}
	*out = buf;
	*len = n;
	return 0;
}

/* ---- the thread: reading the trials ---- */

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
static int read_trial(struct jobs *j, int64_t id, const char *name,
		      uid_t owner, unsigned long seen, const char *line,
		      const char *sweep, struct trial *out, int *curve_read)
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
		 job->rec.reason && job->rec.state == ST_READY ? job->rec.reason
							       : "");
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
			out->curve = malloc(job->table.nrows *
					    sizeof *out->curve);
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

/* ---- the thread: deciding ---- */

enum action_kind { A_PRUNE, A_MAKE, A_STOP, A_CANCEL };

struct action {
	enum action_kind kind;
	long t;
	int64_t job;
	char *text;   /* A_PRUNE: the message; A_MAKE: the trial's spec */
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
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 8;
		struct action *na = realloc(l->a, cap * sizeof *na);
		if (!na)
			return NULL;
		l->a = na;
		l->cap = cap;
	}
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
static void judge_median(struct sweeps *s, struct sweep *w,
			 struct actions *l)
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
			if (t->pruned && t->pruned_at && rungs[r] > t->pruned_at)
				break; /* it never reached the later rungs */
			if (rung_has(w, rungs[r], t->t))
				continue;
			if (!prune_value_at_rung(&mine, rungs[r], &value, &at))
				break;
			/* The store first: a value recorded is one counted. */
			if (store_put_rung(s->store, w->rec.id, rungs[r], t->t,
					   value) ||
			    rungs_add(w, rungs[r], t->t, value))
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

/* New trials while places are free: each number stored before it is made. */
static void make_trials(struct sweeps *s, struct sweep *w, struct actions *l)
{
	long places = 0;
	for (long i = 0; i < w->rec.trials_created; i++)
		places += holds_place(&w->trials[i]);
	while (places < w->spec.parallel &&
	       w->rec.trials_created < w->spec.trials) {
		long t = w->rec.trials_created + 1;
		if (trials_room(w, t))
			return;
		char (*v)[SWEEP_VALUE_MAX] =
			calloc(w->spec.nparams + 1, SWEEP_VALUE_MAX);
		char *text = NULL;
		size_t len = 0;
		if (!v || sweep_trial_spec(&w->spec, w->rec.seed,
					   (unsigned long)t, v, &text, &len)) {
			free(v);
			return;
		}
		free(v);
		w->rec.trials_created = t;
		if (save(s, w) || store_put_trial(s->store, w->rec.id, t, 0, 0)) {
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
	if (w->rec.state == SW_RUNNING && w->rec.trials_created < w->spec.trials)
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
		if (save(s, w))
			w->rec.state = before;
	}
}

/* ---- the thread: acting ---- */

static void make_trial(struct sweeps *s, int64_t sweep, uid_t uid, gid_t gid,
		       mode_t mode, struct action *a)
{
	struct jobs *j = s->jobs;
	int64_t id = 0;
	int rc = jobs_create(j, a->name, uid, gid, mode, &id);
	if (!rc) {
		rc = jobs_write_spec(j, id, uid, a->text, a->len);
		if (!rc)
			rc = jobs_control(j, id, uid, "start", 5);
		if (rc)
			log_error("sweep trial '%s': cannot start it: %s",
				  a->name, strerror(-rc));
		rc = 0; /* the job exists: a failed start shows in its status */
	} else {
		log_error("sweep trial '%s': cannot make it: %s", a->name,
			  strerror(-rc));
	}
	if (id)
		notify(s, sweep, a->name);
	lock_take(&s->lock);
	struct sweep *w = find(s, sweep);
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
				job_stop(j, job, "pruned", a->text,
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
		case A_STOP:
		case A_CANCEL: {
			const char *c = a->kind == A_STOP ? "stop" : "cancel";
			int rc = jobs_control(j, a->job, 0, c, strlen(c));
			if (rc && rc != -EBUSY && rc != -ENOENT)
				log_error("sweep: cannot %s trial %03ld: %s",
					  c, a->t, strerror(-rc));
			break;
		}
		}
		free(a->text);
	}
	free(l->a);
}

/* One round for sweep ID. */
static void tick_sweep(struct sweeps *s, int64_t id)
{
	lock_take(&s->lock);
	struct sweep *w = find(s, id);
	long n = w ? w->rec.trials_created : 0;
	struct trial *peek = calloc((size_t)n + 1, sizeof *peek);
	if (!w || !peek) {
		lock_drop(&s->lock);
		free(peek);
		return;
	}
	uid_t uid = w->rec.uid;
	gid_t gid = w->rec.gid;
	mode_t mode = w->rec.mode; /* the trials take the sweep's */
	char *sweep = strdup(w->rec.name);
	char **lines = calloc((size_t)n + 1, sizeof *lines);
	for (long i = 0; i < n; i++) {
		char params[1024];
		if (lines && w->spec_ok) {
			trial_params(w, i + 1, params, sizeof params);
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

	int *fresh = calloc((size_t)n + 1, sizeof *fresh);
	int *found = calloc((size_t)n + 1, sizeof *found);
	for (long i = 0; fresh && found && i < n; i++)
		found[i] = read_trial(s->jobs, peek[i].job,
				      peek[i].job ? NULL : peek[i].name, uid,
				      peek[i].seen, lines ? lines[i] : NULL,
				      sweep ? sweep : "", &peek[i],
				      &fresh[i]) == 0;
	for (long i = 0; lines && i < n; i++)
		free(lines[i]);
	free(lines);
	free(sweep);

	struct actions l = { 0 };
	lock_take(&s->lock);
	w = find(s, id);
	for (long i = 0; w && fresh && found && i < n &&
			 i < w->rec.trials_created;
	     i++) {
		struct trial *t = &w->trials[i];
		if (!found[i]) {
			/* Removed, or never made: no job to read. */
			t->gone = t->job != 0 || t->gone;
			continue;
		}
		if (!t->job && peek[i].job) /* adopted after a crash */
			store_put_trial(s->store, id, t->t, peek[i].job,
					t->judged);
		struct prune_point *curve = t->curve;
		size_t ncurve = t->ncurve;
		long judged = t->judged;
		*t = peek[i];
		t->judged = judged;
		t->gone = 0;
		if (fresh[i]) {
			free(curve);
		} else {
			t->curve = curve;
			t->ncurve = ncurve;
		}
		peek[i].curve = NULL;
	}
	if (w)
		decide(s, w, &l);
	lock_drop(&s->lock);
	for (long i = 0; i < n; i++)
		free(peek[i].curve);
	free(peek);
	free(fresh);
	free(found);
	enact(s, id, uid, gid, mode, &l);
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
		lock_take(&s->lock);
		size_t n = s->n;
		int64_t *ids = calloc(n + 1, sizeof *ids);
		for (size_t i = 0; ids && i < n; i++)
			ids[i] = s->list[i]->removed ? 0 : s->list[i]->rec.id;
		lock_drop(&s->lock);
		for (size_t i = 0; ids && i < n; i++)
			if (ids[i])
				tick_sweep(s, ids[i]);
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

void sweeps_close(struct sweeps *s)
{
	if (!s)
		return;
	if (s->running) {
		lock_take(&s->wake_lock);
		s->quit = 1;
		pthread_cond_signal(&s->wake);
		lock_drop(&s->wake_lock);
		pthread_join(s->thread, NULL);
	}
	for (size_t i = 0; i < s->n; i++)
		sweep_free(s->list[i]);
	free(s->list);
	lock_destroy(&s->lock);
	lock_destroy(&s->wake_lock);
	pthread_cond_destroy(&s->wake);
	free(s);
}

/* ---- the dashboard's view ---- */

/* The value of "KEY: " in status TEXT, malloc'd, or NULL. */
static char *status_value(const char *text, const char *key)
{
	size_t k = strlen(key);
	for (const char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
		if (!strncmp(l, key, k) && l[k] == ':' && l[k + 1] == ' ') {
			const char *v = l + k + 2, *e = strchr(v, '\n');
			return strndup(v, e ? (size_t)(e - v) : strlen(v));
		}
	return NULL;
}

int sweeps_summaries(struct sweeps *s, struct sweep_summary **out, size_t *n)
{
	char **names;
	int64_t *ids;
	size_t count;
	int rc = sweeps_names(s, &names, &ids, &count);
	if (rc)
		return rc;
	struct sweep_summary *v = calloc(count + 1, sizeof *v);
	size_t k = 0;
	for (size_t i = 0; v && i < count; i++) {
		char *text;
		size_t len;
		struct sweep_attr a;
		if (sweeps_render(s, ids[i], SF_STATUS, &text, &len) ||
		    sweeps_attr(s, ids[i], &a))
			continue; /* removed meanwhile */
		struct sweep_summary *m = &v[k++];
		m->name = names[i];
		names[i] = NULL;
		m->uid = a.uid;
		m->gid = a.gid;
		m->mode = a.mode;
		const char *nl = strchr(text, '\n');
		m->state = strndup(text, nl ? (size_t)(nl - text) : len);
		m->trials = status_value(text, "trials");
		m->best = status_value(text, "best");
		m->epochs = status_value(text, "epochs");
		m->error = status_value(text, "error");
		free(text);
	}
	sweeps_names_free(names, ids, count);
	if (!v)
		return -ENOMEM;
	*out = v;
	*n = k;
	return 0;
}

void sweeps_summaries_free(struct sweep_summary *v, size_t n)
{
	for (size_t i = 0; v && i < n; i++) {
		free(v[i].name);
		free(v[i].state);
		free(v[i].trials);
		free(v[i].best);
		free(v[i].epochs);
		free(v[i].error);
	}
	free(v);
}
