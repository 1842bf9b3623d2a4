/*
 * render: the text of each dynamic file, made from the job in memory (or,
 * for metrics and graph.svg, from a copy of it) once per change of the
 * job by renders.c, which shares it among the file's readers.  The
 * wording of status, control, tags, metrics and events is here and
 * nowhere else, and so is the size of metrics, counted from the table
 * without rendering it.
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs/fs.h"
#include "fs/owner_name.h"
#include "util/number.h"
#include "util/text.h"

const struct job_file job_files[] = {
	{ "spec", N_SPEC, VIEW_SPEC },
	{ "control", N_CONTROL, VIEW_CONTROL },
	{ "status", N_STATUS, VIEW_STATUS },
	{ "tags", N_TAGS, VIEW_TAGS },
	{ "metrics", N_METRICS, VIEW_METRICS },
	{ "graph.svg", N_GRAPH, VIEW_STATUS }, /* its title shows the state */
	{ "log", N_LOG, VIEW_LOG },
	{ "events", N_EVENTS, VIEW_EVENTS },
	{ "wait", N_WAIT, VIEW_STATUS },
	{ "weights", N_WEIGHTS, VIEW_WEIGHTS },
};
const size_t job_nfiles = sizeof job_files / sizeof job_files[0];

/*
 * "owner: NAME (UID)", or the bare uid where the uid has no name (or its
 * lookup, made off this lock by owner_name.c, has not answered yet).
 */
static void render_owner(FILE *f, uid_t uid)
{
	char name[OWNER_NAME_MAX];
	if (owner_name(uid, name, sizeof name))
		fprintf(f, "owner: %s (%lu)\n", name, (unsigned long)uid);
	else
		fprintf(f, "owner: %lu\n", (unsigned long)uid);
}

/* Status lines of JOB's weights: the tarball, where it came from. */
static void render_weights(FILE *f, const struct job *job)
{
	const struct job_record *r = &job->rec;
	char shown[PATH_MAX];
	if (!job_weights_name(job, shown, sizeof shown))
		fprintf(f, "weights: weights/%s\n", shown);
	if (r->state == ST_READY) {
		if (job->spec_ok && job->spec.weights)
			fprintf(f, "weights from: %s\n", job->spec.weights);
		else if (r->weights_from >= 0)
			fprintf(f, "weights from: checkpoint of epoch %lld\n",
				(long long)r->weights_from);
		else
			fprintf(f, "weights from: output\n");
	}
	if (r->checkpoint >= 0)
		fprintf(f, "checkpoint: epoch %lld\n",
			(long long)r->checkpoint);
	if (r->resumed_from >= 0)
		fprintf(f, "resumed: from epoch %lld\n",
			(long long)r->resumed_from);
}

/* Status lines of where JOB's metrics come from and the lines refused. */
static void render_metrics_source(FILE *f, const struct job *job)
{
	const struct job_record *r = &job->rec;
	if (r->bad_lines > 0) {
		fprintf(f, "bad metric lines: %lld", (long long)r->bad_lines);
		if (r->bad_why) {
			char why[2 * METRICS_WHY_MAX];
			text_escape(why, sizeof why, r->bad_why,
				    strlen(r->bad_why), 0);
			fprintf(f, " (last: line %lld: %s)",
				(long long)r->bad_line, why);
		}
		fputc('\n', f);
	}
	if (job->spec_ok && job->spec.metrics_from) {
		char from[2 * PATH_MAX];
		text_escape(from, sizeof from, job->spec.metrics_from,
			    strlen(job->spec.metrics_from), 0);
		fprintf(f, "metrics from: %s%s\n", from,
			r->source_pos ? "" : " (not found yet)");
	}
}

static void render_status(FILE *f, const struct job *job)
{
	const struct job_record *r = &job->rec;
	char t[64], num[NUMBER_DISPLAY_MAX], msg[256];
	long epoch = job_last_epoch(job);

	fprintf(f, "%s\n", state_name(r->state));
	if (epoch >= 0) {
		if (job->spec.epochs > 0)
			fprintf(f, "epoch: %ld/%ld\n", epoch, job->spec.epochs);
		else
			fprintf(f, "epoch: %ld\n", epoch);
	}
	if (job->spec.monitor && job->policy.have_best)
		fprintf(f, "best: %s %s at epoch %ld\n", job->spec.monitor,
			number_display(job->policy.best, num, sizeof num),
			job->policy.best_epoch);
	if (r->state == ST_RUNNING && job->spec.patience > 0)
		fprintf(f, "patience: %ld/%ld epochs without improvement\n",
			job->policy.waited, job->spec.patience);
	if (r->state == ST_READY && r->reason)
		fprintf(f, "reason: %s\n", r->reason);
	if (*job_message(job, msg, sizeof msg))
		fprintf(f, "message: %s\n", msg);
	render_weights(f, job);
	if (r->state == ST_PACKAGING)
		fprintf(f, "progress: %d%%\n", job->progress);
	if (r->state == ST_STOPPING && r->kill_at_ns)
		fprintf(f, "kill at: %s\n",
			job_format_time(r->kill_at_ns, t, sizeof t));
	render_metrics_source(f, job);
	if (r->state == ST_FAILED && r->error)
		fprintf(f, "error: %s\n", r->error);
	else if (r->state == ST_CREATED && r->spec && job->spec_error)
		fprintf(f, "error: %s\n", job->spec_error);
	else if (r->state == ST_CREATED && r->error) /* a refused start */
		fprintf(f, "error: %s\n", r->error);
	if (state_has_trainer(r->state) && r->gpus)
		fprintf(f, "gpus: %s\n", r->gpus);
	if (r->state == ST_QUEUED && *job->waiting)
		fprintf(f, "waiting: %s\n", job->waiting);
	if (job->exec_line)
		fprintf(f, "slurm: %s\n", job->exec_line);
	else if (r->slurm_id > 0)
		fprintf(f, "slurm: job %lld\n", (long long)r->slurm_id);
	if (job->sweep)
		fprintf(f, "sweep: %s\n", job->sweep);
	render_owner(f, r->uid);
	fprintf(f, "created: %s\n",
		job_format_time(r->created_ns, t, sizeof t));
	if (r->started_ns)
		fprintf(f, "started: %s\n",
			job_format_time(r->started_ns, t, sizeof t));
	if (r->finished_ns &&
	    (state_is_final(r->state) || r->state == ST_PACKAGING))
		fprintf(f, "finished: %s\n",
			job_format_time(r->finished_ns, t, sizeof t));
}

static void render_control(FILE *f, const struct job *job)
{
	char allowed[64];
	fprintf(f, "allowed: %s\n",
		state_allowed_commands_but(
			job->rec.state,
			job->rec.checkpoint < 0 ? 1u << CMD_RESUME : 0, allowed,
			sizeof allowed));
	if (job->rec.last_refused)
		fprintf(f, "last refused: %s\n", job->rec.last_refused);
}

static void render_tags(FILE *f, const struct job *job)
{
	for (size_t i = 0; i < job->ntags; i++)
		fprintf(f, "%s\n", job->tags[i].name);
}

static void render_metrics(FILE *f, const struct job *job)
{
	const struct job_table *t = &job->table;
	char num[64];
	double v;
	fputs("epoch", f);
	for (int c = 0; c < t->ncolumns; c++)
		fprintf(f, ",%s", t->columns[c]);
	fputc('\n', f);
	for (size_t i = 0; i < t->nrows; i++) {
		fprintf(f, "%ld", t->epochs[i]);
		for (int c = 0; c < t->ncolumns; c++) {
			fputc(',', f);
			if (job_cell(job, i, c, &v))
				fputs(metrics_format_number(v, num, sizeof num),
				      f);
		}
		fputc('\n', f);
	}
}

static void render_events(FILE *f, const struct job *job)
{
	char t[64];
	for (size_t i = 0; i < job->nevents; i++)
		fprintf(f, "%s %s %s\n",
			job_format_time(job->events[i].time_ns, t, sizeof t),
			job->events[i].state, job->events[i].reason);
}

int render(const struct job *job, enum node_kind kind, char **out, size_t *len)
{
	if (kind == N_GRAPH)
		return render_graph(job, out, len);
	FILE *f = open_memstream(out, len);
	if (!f)
		return -ENOMEM;
	switch (kind) {
	case N_STATUS:
	case N_WAIT:
		render_status(f, job);
		break;
	case N_CONTROL:
		render_control(f, job);
		break;
	case N_TAGS:
		render_tags(f, job);
		break;
	case N_METRICS:
		render_metrics(f, job);
		break;
	case N_EVENTS:
		render_events(f, job);
		break;
	case N_SPEC:
		if (job->rec.spec)
			fwrite(job->rec.spec, 1, job->rec.spec_len, f);
		break;
	default:
		break;
	}
	if (fclose(f) != 0) {
		free(*out);
		*out = NULL;
		return -ENOMEM;
	}
	return 0;
}

size_t render_metrics_size(const struct job *job)
{
	const struct job_table *t = &job->table;
	size_t n = strlen("epoch\n");
	for (int c = 0; c < t->ncolumns; c++)
		n += 1 + strlen(t->columns[c]);
	/* a row: its epoch, a comma per column, the values, a newline */
	return n + t->epoch_chars + t->nrows * ((size_t)t->ncolumns + 1) +
	       t->value_chars;
}
