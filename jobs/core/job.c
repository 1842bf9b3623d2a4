/*
 * job: one job in memory, its stored record and what is derived from it,
 * and the operations on a job as a folder (create, rename, the spec,
 * remove).  The user's commands are control.c's, resume.c's, restart.c's
 * and tags.c's; the supervisor (supervisor.c and its files, supervisor.h)
 * performs the transitions no user asks for through job_set_state() and
 * job_stop().
 *
 * Memory is the truth for readers, the store for restarts.  A user's
 * change is committed to the store first and made in memory only once the
 * commit succeeded; the supervisor's moves (job_set_state()) change memory
 * even when the store fails, since the trainer's end happened all the
 * same.  Every function here is called with the job's lock held, except
 * the jobs_*() entry points, which take it.
 */
#include <assert.h>
#include <errno.h>
#include <stddef.h>
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

#include "jobs/core/access.h"
#include "jobs/core/registry.h"
#include "jobs/run/source.h"
#include "util/lock.h"
#include "util/log.h"
#include "util/utf8.h"
#include "util/text.h"

static const char *const system_tags[] = {
	"stopped-early", "converged", "completed",
	"cancelled",	 "failed",    "ready",
};

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
					 job->events[i].reason ?
						 job->events[i].reason :
						 "");
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

/* ---- one job in memory ---- */

/*
 * Finds and locks job ID for UID to change.  Returns the job (let go with
 * jobs_unlock_job), or NULL with *rc set to -ENOENT or -EACCES.
 */
struct job *jobs_lock_to_change(struct jobs *j, int64_t id, uid_t uid, int *rc)
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

/* Parses the stored spec into job->spec, or sets spec_error. */
void job_parse_spec(struct job *job)
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
int job_has_tag(const struct job *job, const char *tag)
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

int job_add_tags(struct job *job, const char *const *tags)
{
	int rc = 0;
	for (size_t i = 0; tags && tags[i] && !rc; i++)
		rc = job_add_tag(job, tags[i], 1);
	return rc;
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

/* What a move to TO with TAGS shows anew. */
static unsigned move_views(enum job_state to, int tags)
{
	unsigned views = VIEW_BIT(VIEW_STATUS) | VIEW_BIT(VIEW_CONTROL) |
			 VIEW_BIT(VIEW_EVENTS) | VIEW_BIT(VIEW_SPEC);
	if (tags)
		views |= VIEW_BIT(VIEW_TAGS);
	if (to == ST_READY)
		views |= VIEW_BIT(VIEW_WEIGHTS);
	return views;
}

int job_set_state(struct jobs *j, struct job *job, enum job_state to,
		  const char *reason, const char *const *tags)
{
	int64_t now = event_time(job);
	int rc;
	job_assert_locked(job);
	if (!state_move_ok(job->rec.state, to)) {
		log_error("job '%s': no move from '%s' to "
			  "'%s' in the lifecycle\n",
			  job->rec.name, state_name(job->rec.state),
			  state_name(to));
		return -EINVAL;
	}
	job->rec.state = to;
	/*
	 * Out of memory: the event and tags are stored below all the same,
	 * and shown once the job is loaded again.
	 */
	(void)!job_add_event(job, now, state_name(to), reason);
	for (size_t i = 0; tags && tags[i]; i++)
		(void)!job_add_tag(job, tags[i], 1);
	job_touch(j, job, move_views(to, tags != NULL));
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
	log_error("job '%s': cannot store state '%s'\n", job->rec.name,
		  state_name(to));
	return rc;
}

/* The strings of record R, for the loops below. */
#define RECORD_STRINGS(r)                                                  \
	{                                                                  \
		&(r)->spec, &(r)->reason, &(r)->error, &(r)->last_refused, \
			&(r)->weights, &(r)->bad_why, &(r)->gpus,          \
			&(r)->source_pos                                   \
	}

/* Copies the bytes of struct job_record from field A up to field B. */
#define RECORD_COPY(to, from, a, b)                                   \
	memcpy((char *)(to) + offsetof(struct job_record, a),         \
	       (const char *)(from) + offsetof(struct job_record, a), \
	       offsetof(struct job_record, b) -                       \
		       offsetof(struct job_record, a))

/*
 * TO takes FROM, but for what readers take with no lock at all: uid, gid
 * and created_ns (fixed when the job is made) are not written again, and
 * mode is stored atomically (job_mode() loads it so).  The id and name
 * are read under the registry's lock, which the caller holds.
 */
static void record_copy(struct job_record *to, const struct job_record *from)
{
	assert(to->uid == from->uid && to->gid == from->gid);
	RECORD_COPY(to, from, id, uid);
	RECORD_COPY(to, from, state, created_ns);
	RECORD_COPY(to, from, started_ns, mode);
	memcpy(&to->gpus, &from->gpus,
	       sizeof *to - offsetof(struct job_record, gpus));
	if (to->created_ns != from->created_ns)
		to->created_ns = from->created_ns;
	if (__atomic_load_n(&to->mode, __ATOMIC_RELAXED) != from->mode)
		__atomic_store_n(&to->mode, from->mode, __ATOMIC_RELEASE);
}

void job_record_take(struct jobs *j, struct job *job, struct job_record *next)
{
	struct job_record was = job->rec;
	char **old[] = RECORD_STRINGS(&was), **new[] = RECORD_STRINGS(next);
	jobs_lock(j);
	record_copy(&job->rec, next);
	jobs_unlock(j);
	for (size_t i = 0; i < sizeof old / sizeof *old; i++)
		if (*old[i] != *new[i])
			free(*old[i]);
}

void job_record_drop(const struct job *job, struct job_record *next)
{
	char *const *old[] = RECORD_STRINGS(&job->rec);
	char **new[] = RECORD_STRINGS(next);
	for (size_t i = 0; i < sizeof old / sizeof *old; i++)
		if (*old[i] != *new[i]) {
			free(*new[i]);
			*new[i] = *old[i];
		}
}

/* Removes the system tags UNTAGS (NULL-terminated, or NULL) of job ID. */
static int store_remove_tags(struct store *s, int64_t id,
			     const char *const *untags)
{
	int rc;
	for (size_t i = 0; untags && untags[i]; i++)
		if ((rc = store_remove_tag(s, id, untags[i])))
			return rc;
	return 0;
}

int job_commit_move(struct jobs *j, struct job *job, struct job_record *next,
		    const char *why, const char *const *tags,
		    const char *const *untags)
{
	int64_t now = event_time(job);
	enum job_state to = next->state;
	unsigned views = move_views(to, tags || untags);
	int rc;
	job_assert_locked(job);
	if (!state_move_ok(job->rec.state, to)) {
		log_error("job '%s': no move from '%s' to '%s' in the "
			  "lifecycle\n",
			  job->rec.name, state_name(job->rec.state),
			  state_name(to));
		job_record_drop(job, next);
		return -EINVAL;
	}
	for (int v = 0; v < STORE_MTIMES; v++) /* as job_touch() sets them */
		if (views & VIEW_BIT(v))
			next->mtime_ns[v] = now;
	if ((rc = store_begin(j->store)))
		goto fail;
	if ((rc = store_put_job(j->store, next)) ||
	    (rc = store_put_event(j->store, job->rec.id, now, state_name(to),
				  why)) ||
	    (rc = store_remove_tags(j->store, job->rec.id, untags)) ||
	    (rc = store_commit_tags(j->store, job->rec.id, tags))) {
		store_rollback(j->store);
		goto fail;
	}
	job_record_take(j, job, next);
	for (size_t i = 0; untags && untags[i]; i++)
		job_remove_tag(job, untags[i]);
	if (job_add_event(job, now, state_name(to), why) < 0 ||
	    job_add_tags(job, tags) < 0)
		log_error("job '%s': out of memory for its events or tags "
			  "until the next mount\n",
			  job->rec.name);
	job_touch(j, job, views);
	return 0;
fail:
	job_record_drop(job, next);
	log_error("job '%s': cannot store state '%s': %s\n", job->rec.name,
		  state_name(to), strerror(-rc));
	return rc;
}

/*
 * Records a refused control write ("'TEXT': WHY") and returns ERR.  The
 * job's state and everything else stay as they were.
 */
int job_refuse(struct jobs *j, struct job *job, int err, const char *text,
	       size_t n, const char *fmt, ...)
{
	char why[600];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, sizeof why, fmt, ap);
	va_end(ap);
	char *copy = text_refusal(text, n, why);
	log_warn("job '%s': refused %s\n", job->rec.name,
		 copy ? copy : "a control write (out of memory)");
	if (copy) {
		free(job->rec.last_refused);
		job->rec.last_refused = copy;
		job_touch(j, job, VIEW_BIT(VIEW_CONTROL));
		job_save_logged(j, job);
	}
	return err;
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
		text_quote(q, sizeof q, name, strlen(name));
		log_warn("refused mkdir '%s': a job name is 1 "
			 "to 240 bytes of UTF-8 without '/', control, format "
			 "or noncharacters, not starting with '.'\n",
			 q);
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
			 "most --max-jobs-per-user allows",
			 name, (unsigned long)uid, mine);
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
	/* Out of memory: the event is stored, and shown after a reload. */
	(void)!job_add_event(job, job->rec.created_ns, "created", "mkdir");
	jobs_lock(j);
	/* A job of that name still listed is one an rmdir is taking away. */
	rc = jobs_find_name(j, name) ? -EEXIST : registry_add(j, job);
	jobs_unlock(j);
	if (rc) {
		if (store_delete_job(j->store, job->rec.id))
			log_error(
				"job '%s': cannot delete the row of a refused mkdir",
				name);
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
	char old[sizeof((struct job_record *)0)->name];
	if (!job_name_valid(name, strlen(name)))
		return -EINVAL;
	struct job *job = jobs_lock_to_change(j, id, uid, &rc);
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
		registry_name_remove(j, job);
		snprintf(job->rec.name, sizeof job->rec.name, "%s", name);
		registry_name_insert(j, job);
	}
	jobs_unlock(j);
	if (rc)
		goto out;
	if ((rc = job_save(j, job))) {
		jobs_lock(j);
		registry_name_remove(j, job);
		snprintf(job->rec.name, sizeof job->rec.name, "%s", old);
		registry_name_insert(j, job);
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
		rc = -lock_timedwait(&job->idle, &job->lock, &until);
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
	struct job *job = jobs_lock_to_change(j, id, uid, &rc);
	if (!job)
		return rc;
	if (!state_allows_rmdir(job->rec.state)) {
		log_warn("job '%s': refused rmdir: not allowed "
			 "while %s\n",
			 job->rec.name, state_name(job->rec.state));
		rc = -EBUSY;
		goto out;
	}
	/* A cancelled trainer may still be dying; give it a moment. */
	if ((rc = job_wait_idle(job, 5)))
		goto out;
	if ((rc = store_delete_job(j->store, id))) {
		log_error("job '%s': cannot delete: %s\n", job->rec.name,
			  strerror(-rc));
		goto out;
	}
	jobs_lock(j);
	size_t i = 0;
	while (j->list[i] != job)
		i++;
	memmove(&j->list[i], &j->list[i + 1], (j->n - i - 1) * sizeof *j->list);
	j->n--;
	registry_name_remove(j, job);
	job->removed = 1;
	job->refs--; /* the list's; ours keeps it until jobs_put() */
	jobs_unlock(j);
	lock_take(&j->listen_lock);
	if (j->changed)
		j->changed(j->changed_arg, job, ~0u);
	lock_drop(&j->listen_lock);
out:
	jobs_unlock_job(j, job);
	return rc;
}

int jobs_chmod(struct jobs *j, int64_t id, uid_t uid, mode_t mode)
{
	int rc;
	struct job *job = jobs_lock_job(j, id);
	if (!job)
		return -ENOENT;
	if (!job_may_change(job, uid)) {
		jobs_unlock_job(j, job);
		return -EPERM;
	}
	mode_t old = job->rec.mode, to = job_mode_from(mode);
	if (to == old)
		goto out;
	__atomic_store_n(&job->rec.mode, to, __ATOMIC_RELEASE);
	if ((rc = job_save(j, job))) {
		__atomic_store_n(&job->rec.mode, old, __ATOMIC_RELEASE);
		log_error("job '%s': cannot store its mode %04o", job->rec.name,
			  (unsigned)to);
		jobs_unlock_job(j, job);
		return rc;
	}
	log_info("job '%s': mode %04o (was %04o)", job->rec.name, (unsigned)to,
		 (unsigned)old);
	/* No file's text changed; who may see the job did (dashboards). */
	job_touch(j, job, 0);
out:
	jobs_unlock_job(j, job);
	return 0;
}

int jobs_write_spec(struct jobs *j, int64_t id, uid_t uid, const char *text,
		    size_t len)
{
	int rc = 0;
	struct job *job = jobs_lock_to_change(j, id, uid, &rc);
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
	/* Stored first: a spec the store cannot take changes nothing. */
	struct job_record next = job->rec;
	next.spec = copy;
	next.spec_len = len;
	if (job->rec.state == ST_CREATED) /* a refused start's error goes */
		next.error = NULL;
	next.mtime_ns[VIEW_SPEC] = next.mtime_ns[VIEW_STATUS] = job_now_ns();
	if ((rc = store_put_job(j->store, &next))) {
		job_record_drop(job, &next);
		goto out;
	}
	job_record_take(j, job, &next);
	job_parse_spec(job);
	job_touch(j, job, VIEW_BIT(VIEW_SPEC) | VIEW_BIT(VIEW_STATUS));
	if (!job->spec_ok) {
		/*
		 * Not for an empty spec: a shell's `echo ... > spec` closes a
		 * duplicate of the truncated file before it writes, and that
		 * close stores the empty spec (as `: > spec` must).
		 */
		if (len)
			log_warn("job '%s': %s", job->rec.name,
				 job->spec_error ? job->spec_error :
						   "bad spec");
		rc = -EINVAL;
	}
out:
	jobs_unlock_job(j, job);
	return rc;
}

void job_signal(struct jobs *j, struct job *job, enum exec_verb verb)
{
	(void)j;
	job_assert_locked(job);
	if (!job->run)
		return; /* sv_recover() or launch.c sends it once it is there */
	int rc = job->exec->ops->signal(job->run, verb);
	if (rc)
		log_error("job '%s': cannot %s its trainer: %s", job->rec.name,
			  verb == EXEC_STOP ? "stop" : "cancel", strerror(-rc));
}

int64_t job_kill_at(const struct job *job)
{
	/* Capped as the shim caps it: 1e300 seconds means "never". */
	double grace = job->spec.grace < GRACE_MAX ? job->spec.grace :
						     GRACE_MAX;
	return job_now_ns() + (int64_t)(grace * 1e9);
}

int job_stop(struct jobs *j, struct job *job, const char *reason,
	     const char *why, const char *const *tags)
{
	job->rec.kill_at_ns = job_kill_at(job);
	free(job->rec.reason);
	job->rec.reason = strdup(reason);
	/* Ask the shim first: the stop must not wait for the disk. */
	job_signal(j, job, EXEC_STOP);
	return job_set_state(j, job, ST_STOPPING, why, tags);
}
