/*
 * graph: the training graph as a standalone SVG: one line per metric over
 * epochs on shared axes with "nice" ticks, the monitored metric drawn
 * thicker with its best point marked, and the stop epoch marked when the
 * job was stopped early.  Long runs are decimated to at most two points
 * (the minimum and maximum) per horizontal pixel, so the file stays small
 * with any number of epochs.  No scripts, no external references.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs/fs.h"

#define W 800
#define H 450
#define ML 70 /* margins */
#define MR 160
#define MT 40
#define MB 50
#define PW (W - ML - MR)
#define PH (H - MT - MB)

static const char *const palette[] = {
	"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
	"#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
};

static void xml_text(FILE *f, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '&': fputs("&amp;", f); break;
		case '<': fputs("&lt;", f); break;
		case '>': fputs("&gt;", f); break;
		case '"': fputs("&quot;", f); break;
		case '\'': fputs("&apos;", f); break;
		default: fputc(*s, f);
		}
	}
}

/* A tick step of 1, 2 or 5 times a power of ten giving about N ticks. */
static double nice_step(double span, int n)
{
	double raw = span / n, p = pow(10, floor(log10(raw))), m = raw / p;
	return (m < 1.5 ? 1 : m < 3.5 ? 2 : m < 7.5 ? 5 : 10) * p;
}

struct frame {
	double x0, x1, y0, y1;
};

static double px(const struct frame *fr, double x)
{
	return ML + (x - fr->x0) / (fr->x1 - fr->x0) * PW;
}

static double py(const struct frame *fr, double y)
{
	return MT + PH - (y - fr->y0) / (fr->y1 - fr->y0) * PH;
}

static void axes(FILE *f, const struct frame *fr)
{
	double step = nice_step(fr->y1 - fr->y0, 6);
	/* Ticks are whole multiples of the step, printed with its decimals. */
	int decimals = step < 1 ? (int)ceil(-log10(step) - 1e-9) : 0;
	fprintf(f, "<rect x='%d' y='%d' width='%d' height='%d' fill='white' "
		"stroke='#444'/>\n", ML, MT, PW, PH);
	for (long k = (long)ceil(fr->y0 / step); k * step <= fr->y1; k++) {
		double y = py(fr, k * step);
		fprintf(f, "<line x1='%d' y1='%.1f' x2='%d' y2='%.1f' "
			"stroke='#ddd'/>\n", ML, y, ML + PW, y);
		fprintf(f, "<text x='%d' y='%.1f' text-anchor='end' "
			"font-size='11'>%.*f</text>\n", ML - 6, y + 4, decimals,
			k == 0 ? 0.0 : k * step);
	}
	step = nice_step(fr->x1 - fr->x0, 8);
	if (step < 1)
		step = 1;
	for (long k = (long)ceil(fr->x0 / step); k * step <= fr->x1; k++) {
		double x = px(fr, k * step);
		fprintf(f, "<line x1='%.1f' y1='%d' x2='%.1f' y2='%d' "
			"stroke='#444'/>\n", x, MT + PH, x, MT + PH + 5);
		fprintf(f, "<text x='%.1f' y='%d' text-anchor='middle' "
			"font-size='11'>%.0f</text>\n", x, MT + PH + 18, k * step);
	}
	fprintf(f, "<text x='%d' y='%d' text-anchor='middle' font-size='12'>"
		"epoch</text>\n", ML + PW / 2, H - 12);
}

/* The line of column C, at most two points per pixel column. */
static void series(FILE *f, const struct job *job, const struct frame *fr,
		   int c, int thick)
{
	const struct job_table *t = &job->table;
	int bucket = -1, npts = 0;
	double lo = 0, hi = 0, v;
	long lo_e = 0, hi_e = 0;
	fprintf(f, "<polyline fill='none' stroke='%s' stroke-width='%s' "
		"stroke-linejoin='round' points='",
		palette[c % 10], thick ? "3" : "1.5");
	for (size_t i = 0; i <= t->nrows; i++) {
		int ok = i < t->nrows && job_cell(job, i, c, &v) && isfinite(v);
		int b = ok ? (int)px(fr, t->epochs[i]) : bucket;
		/* A new pixel column, or the end: draw the one before. */
		if (npts && (b != bucket || i == t->nrows)) {
			if (lo_e <= hi_e)
				fprintf(f, "%.1f,%.1f %.1f,%.1f ", px(fr, lo_e),
					py(fr, lo), px(fr, hi_e), py(fr, hi));
			else
				fprintf(f, "%.1f,%.1f %.1f,%.1f ", px(fr, hi_e),
					py(fr, hi), px(fr, lo_e), py(fr, lo));
			npts = 0;
		}
		if (!ok)
			continue;
		if (!npts || v < lo) {
			lo = v;
			lo_e = t->epochs[i];
		}
		if (!npts || v > hi) {
			hi = v;
			hi_e = t->epochs[i];
		}
		npts++;
		bucket = b;
	}
	fputs("'/>\n", f);
}

static void legend(FILE *f, const struct job *job)
{
	for (int c = 0; c < job->table.ncolumns && c < 20; c++) {
		int y = MT + 10 + c * 18;
		int mon = c == job->monitor_col;
		fprintf(f, "<line x1='%d' y1='%d' x2='%d' y2='%d' stroke='%s' "
			"stroke-width='%d'/>\n", ML + PW + 12, y, ML + PW + 32,
			y, palette[c % 10], mon ? 3 : 2);
		fprintf(f, "<text x='%d' y='%d' font-size='12'%s>",
			ML + PW + 38, y + 4, mon ? " font-weight='bold'" : "");
		xml_text(f, job->table.columns[c]);
		fputs("</text>\n", f);
	}
}

static void marks(FILE *f, const struct job *job, const struct frame *fr)
{
	char num[64];
	const struct job_record *r = &job->rec;
	if (job->monitor_col >= 0 && job->policy.have_best) {
		double x = px(fr, job->policy.best_epoch);
		double y = py(fr, job->policy.best);
		fprintf(f, "<circle cx='%.1f' cy='%.1f' r='5' fill='none' "
			"stroke='black' stroke-width='2'/>\n", x, y);
		fprintf(f, "<text x='%.1f' y='%.1f' font-size='11'>best ", x + 7,
			y - 7);
		xml_text(f, metrics_format_number(job->policy.best, num,
						  sizeof num));
		fprintf(f, " at %ld</text>\n", job->policy.best_epoch);
	}
	int stopped = r->reason && (!strcmp(r->reason, "stopped-early") ||
				    !strcmp(r->reason, "converged"));
	if (stopped && job->table.nrows) {
		double x = px(fr, job_last_epoch(job));
		fprintf(f, "<line x1='%.1f' y1='%d' x2='%.1f' y2='%d' "
			"stroke='#d62728' stroke-dasharray='6,4'/>\n", x, MT, x,
			MT + PH);
		fprintf(f, "<text x='%.1f' y='%d' font-size='11' "
			"fill='#d62728' text-anchor='end'>%s at %ld</text>\n",
			x - 4, MT + 14,
			!strcmp(r->reason, "converged") ? "converged" : "stopped",
			job_last_epoch(job));
	}
}

static void frame_of(const struct job *job, struct frame *fr)
{
	const struct job_table *t = &job->table;
	int any = 0;
	double v;
	fr->x0 = fr->x1 = 0;
	fr->y0 = fr->y1 = 0;
	for (size_t i = 0; i < t->nrows; i++) {
		if (!i || t->epochs[i] < fr->x0)
			fr->x0 = t->epochs[i];
		if (!i || t->epochs[i] > fr->x1)
			fr->x1 = t->epochs[i];
		for (int c = 0; c < t->ncolumns; c++) {
			if (!job_cell(job, i, c, &v) || !isfinite(v))
				continue;
			if (!any || v < fr->y0)
				fr->y0 = v;
			if (!any || v > fr->y1)
				fr->y1 = v;
			any = 1;
		}
	}
	if (job->spec.epochs > 0 && job->spec.epochs > fr->x1)
		fr->x1 = job->spec.epochs;
	if (fr->x1 <= fr->x0)
		fr->x1 = fr->x0 + 1;
	double pad = (fr->y1 - fr->y0) * 0.05;
	if (pad <= 0)
		pad = fabs(fr->y0) > 0 ? fabs(fr->y0) * 0.1 : 1;
	fr->y0 -= pad;
	fr->y1 += pad;
}

int render_graph(const struct job *job, char **out, size_t *len)
{
	struct frame fr;
	long e = job_last_epoch(job);
	FILE *f = open_memstream(out, len);
	if (!f)
		return -ENOMEM;
	fprintf(f, "<?xml version='1.0' encoding='UTF-8'?>\n"
		"<svg xmlns='http://www.w3.org/2000/svg' width='%d' "
		"height='%d' viewBox='0 0 %d %d' font-family='sans-serif'>\n",
		W, H, W, H);
	fprintf(f, "<rect width='%d' height='%d' fill='#fafafa'/>\n", W, H);
	fprintf(f, "<text x='%d' y='24' font-size='15'>", ML);
	xml_text(f, job->rec.name);
	fprintf(f, ": %s", state_name(job->rec.state));
	if (e >= 0 && job->spec.epochs > 0)
		fprintf(f, ", epoch %ld/%ld", e, job->spec.epochs);
	else if (e >= 0)
		fprintf(f, ", epoch %ld", e);
	fputs("</text>\n", f);
	if (!job->table.nrows) {
		fprintf(f, "<text x='%d' y='%d' text-anchor='middle' "
			"font-size='14' fill='#777'>no metrics yet</text>\n",
			W / 2, H / 2);
	} else {
		frame_of(job, &fr);
		axes(f, &fr);
		for (int c = 0; c < job->table.ncolumns; c++)
			if (c != job->monitor_col)
				series(f, job, &fr, c, 0);
		if (job->monitor_col >= 0) /* on top */
			series(f, job, &fr, job->monitor_col, 1);
		marks(f, job, &fr);
		legend(f, job);
	}
	fputs("</svg>\n", f);
	if (fclose(f) != 0) {
		free(*out);
		*out = NULL;
		return -ENOMEM;
	}
	return 0;
}
