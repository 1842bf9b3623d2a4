/*
 * sweep_render: the text of a sweep's files (status, control, spec,
 * trials.csv; graph.svg is sweep_graph.c's) and the dashboard's summary
 * of each sweep.  Each is made from a copy of the sweep (sweeps_view),
 * taken under the sweeps' lock by jobs/core/sweep.c, so formatting and the
 * reader's checks (who may read which trial) run with no lock held.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs/fs.h"
#include "jobs/core/sweep.h"
#include "util/number.h"
#include "util/text.h"

/* ---- a sweep's files ---- */

static void render_status(const struct sweep_view *w, FILE *f)
{
	fprintf(f, "%s\n", sweep_state_name(w->state));
	if (w->error) {
		char esc[1024];
		text_escape(esc, sizeof esc, w->error, strlen(w->error), 0);
		fprintf(f, "error: %s\n", esc);
	}
	if (!w->spec_ok)
		return;
	long n[6] = { 0 }; /* running pruned ready cancelled failed */
	long run = 0;
	for (long i = 0; i < w->ntrials; i++) {
		const struct sweep_trial_view *t = &w->trials[i];
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
	long to_come = w->state == SW_RUNNING || w->state == SW_CREATED ?
			       total - w->ntrials :
			       0;
	if (w->state != SW_RUNNING && w->state != SW_CREATED)
		total = w->ntrials; /* no more will be made */
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
	const struct sweep_trial_view *b = w->best ? &w->trials[w->best - 1] :
						     NULL;
	if (b) {
		char params[512], v[NUMBER_DISPLAY_MAX];
		sweep_params_text(&w->spec, w->seed, b->t, params,
				  sizeof params);
		fprintf(f, "best: trial %03ld (%s) %s %s at epoch %ld\n", b->t,
			params, w->spec.monitor,
			number_display(b->best, v, sizeof v), b->best_epoch);
	}
	if (w->spec.epochs > 0 && total > 0) {
		long all = total * w->spec.epochs;
		long saved = lround(100.0 * (1.0 - (double)run / (double)all));
		fprintf(f,
			"epochs: %ld run of %ld without pruning (%ld%% saved)\n",
			run, all, saved);
	}
	if (w->has_seed)
		fprintf(f, "seed: %llu\n", (unsigned long long)w->seed);
}

static void render_trials_csv(const struct sweep_view *w, FILE *f,
			      const struct sweep_reader *who)
{
	fputs("trial,job,state,reason", f);
	for (size_t i = 0; w->spec_ok && i < w->spec.nparams; i++) {
		fputc(',', f);
		text_csv_field(f, w->spec.params[i].name);
	}
	fputs(",best,best_epoch,epochs_run\n", f);
	char(*v)[SWEEP_VALUE_MAX] =
		w->spec_ok ? calloc(w->spec.nparams + 1, SWEEP_VALUE_MAX) :
			     NULL;
	for (long i = 0; i < w->ntrials; i++) {
		const struct sweep_trial_view *t = &w->trials[i];
		if (who && t->job && !who->may_read(who->arg, t->job))
			continue; /* a trial its reader may not read */
		fprintf(f, "%03ld,", t->t);
		text_csv_field(f, t->name);
		fprintf(f, ",%s,%s",
			t->gone ? "failed" :
				  state_name((enum job_state)t->state),
			t->pruned ? "pruned" : t->reason);
		if (v && !sweep_trial_values(w->spec.params, w->spec.nparams,
					     w->spec.grid, w->seed,
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

static void render_control(const struct sweep_view *w, FILE *f)
{
	char allowed[64];
	sweep_allowed(w->state, allowed, sizeof allowed);
	fprintf(f, "allowed: %s\n", allowed);
	if (w->last_refused)
		fprintf(f, "last refused: %s\n", w->last_refused);
}

int sweeps_render(struct sweeps *s, int64_t id, enum sweep_file file,
		  char **out, size_t *len)
{
	return sweeps_render_for(s, id, file, NULL, out, len);
}

int sweeps_render_for(struct sweeps *s, int64_t id, enum sweep_file file,
		      const struct sweep_reader *who, char **out, size_t *len)
{
	struct sweep_view v;
	int rc = sweeps_view(s, id, &v);
	if (rc)
		return rc;
	char *buf = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&buf, &n);
	if (!f) {
		sweeps_view_free(&v);
		return -ENOMEM;
	}
	switch (file) {
	case SF_SPEC:
		if (v.spec_text)
			fwrite(v.spec_text, 1, v.spec_len, f);
		break;
	case SF_CONTROL:
		render_control(&v, f);
		break;
	case SF_STATUS:
		render_status(&v, f);
		break;
	case SF_TRIALS_CSV:
		render_trials_csv(&v, f, who);
		break;
	case SF_GRAPH:
	case SF_COUNT:
		break;
	}
	sweeps_view_free(&v);
	if (fclose(f) || !buf) {
		free(buf);
		return -ENOMEM;
	}
	*out = buf;
	*len = n;
	return 0;
}

/* ---- the dashboard's view ---- */

/* The value of "KEY: " in status TEXT, malloc'd, or NULL. */
static char *status_value(const char *text, const char *key)
{
	size_t k = strlen(key);
	for (const char *l = text; l && *l;
	     l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
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
