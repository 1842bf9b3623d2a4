/*
 * sweep_graph: a sweep's graph.svg, every trial's monitored metric on one
 * picture.  One <polyline data-trial="T"> per trial in the picture's own
 * units (no transforms), the best trial drawn wide, pruned trials dimmed
 * with a mark (<circle data-trial="T" class="pruned">) where they were
 * pruned.  Values that are not finite are left out; the axes span the
 * epochs reported and the finite values seen.  Bounded: one pass per
 * point, coordinates clamped to the view box.
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

#define W 800
#define H 420
#define LEFT 70
#define RIGHT 20
#define TOP 40
#define BOTTOM 40

struct range {
	long e0, e1;
	double v0, v1;
};

static int cmp_epoch(const void *a, const void *b)
{
	const struct prune_point *x = a, *y = b;
	return (x->epoch > y->epoch) - (x->epoch < y->epoch);
}

static struct range range_of(const struct sweep_curves *c)
{
	struct range r = { 0, 0, 0, 0 };
	int any = 0;
	for (size_t i = 0; i < c->n; i++)
		for (size_t k = 0; k < c->trials[i].n; k++) {
			const struct prune_point *p = &c->trials[i].points[k];
			if (!isfinite(p->value))
				continue;
			if (!any || p->epoch < r.e0)
				r.e0 = p->epoch;
			if (!any || p->epoch > r.e1)
				r.e1 = p->epoch;
			if (!any || p->value < r.v0)
				r.v0 = p->value;
			if (!any || p->value > r.v1)
				r.v1 = p->value;
			any = 1;
		}
	if (r.e1 == r.e0)
		r.e1 = r.e0 + 1;
	if (!(r.v1 - r.v0 > 0) || !isfinite(r.v1 - r.v0)) {
		double pad = fabs(r.v0) > 0 ? fabs(r.v0) / 10 : 1;
		r.v0 -= pad;
		r.v1 += pad;
	}
	return r;
}

static double x_of(const struct range *r, long e)
{
	return LEFT + (double)(e - r->e0) / (double)(r->e1 - r->e0) *
			      (W - LEFT - RIGHT);
}

static double y_of(const struct range *r, double v)
{
	double f = (v - r->v0) / (r->v1 - r->v0);
	if (!(f >= 0))
		f = 0;
	if (f > 1)
		f = 1;
	return H - BOTTOM - f * (H - TOP - BOTTOM);
}

static void escape(FILE *f, const char *s)
{
	text_markup(f, s, strlen(s));
}

static void trial(FILE *f, const struct range *r, const struct sweep_curve *t,
		  long best)
{
	struct prune_point *p = malloc((t->n + 1) * sizeof *p);
	if (!p)
		return;
	if (t->n) /* no points: NULL */
		memcpy(p, t->points, t->n * sizeof *p);
	qsort(p, t->n, sizeof *p, cmp_epoch);
	int is_best = t->t == best, pruned = t->pruned_at > 0;
	fprintf(f,
		"<polyline data-trial=\"%03ld\" class=\"trial%s%s\" fill=\"none\""
		" stroke=\"%s\" stroke-width=\"%s\" opacity=\"%s\" points=\"",
		t->t, is_best ? " best" : "", pruned ? " pruned" : "",
		is_best ? "#d62728" :
		pruned	? "#7f7f7f" :
			  "#1f77b4",
		is_best ? "3" : "1.5", pruned ? "0.4" : "1");
	double px = 0, py = 0;
	int have = 0;
	for (size_t k = 0; k < t->n; k++) {
		if (!isfinite(p[k].value))
			continue;
		fprintf(f, "%s%.1f,%.1f", have ? " " : "", x_of(r, p[k].epoch),
			y_of(r, p[k].value));
		if (pruned && p[k].epoch <= t->pruned_at) {
			px = x_of(r, p[k].epoch);
			py = y_of(r, p[k].value);
		}
		have = 1;
	}
	fputs("\"/>\n", f);
	if (pruned && have && px > 0)
		fprintf(f,
			"<circle data-trial=\"%03ld\" class=\"pruned\" cx=\"%.1f\""
			" cy=\"%.1f\" r=\"4\" fill=\"#7f7f7f\"><title>trial %03ld"
			" pruned at epoch %ld</title></circle>\n",
			t->t, px, py, t->t, t->pruned_at);
	free(p);
}

int sweep_graph_render(const struct sweep_curves *c, char **out, size_t *len)
{
	char *buf = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&buf, &n);
	if (!f)
		return -ENOMEM;
	struct range r = range_of(c);
	char lo[NUMBER_DISPLAY_MAX], hi[NUMBER_DISPLAY_MAX];
	fprintf(f,
		"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\""
		" height=\"%d\" viewBox=\"0 0 %d %d\" font-family=\"sans-serif\""
		" font-size=\"12\">\n<title>",
		W, H, W, H);
	escape(f, c->monitor);
	fprintf(f,
		" of every trial</title>\n"
		"<rect width=\"%d\" height=\"%d\" fill=\"white\"/>\n"
		"<text x=\"%d\" y=\"22\" font-size=\"14\">",
		W, H, LEFT);
	escape(f, c->monitor);
	fprintf(f, " (%s) of %zu trials", c->maximize ? "max" : "min", c->n);
	if (c->best)
		fprintf(f, "; best: trial %03ld", c->best);
	fprintf(f,
		"</text>\n"
		"<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"black\"/>\n"
		"<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"black\"/>\n",
		LEFT, H - BOTTOM, W - RIGHT, H - BOTTOM, LEFT, TOP, LEFT,
		H - BOTTOM);
	fprintf(f,
		"<text x=\"%d\" y=\"%d\" text-anchor=\"end\">%s</text>\n"
		"<text x=\"%d\" y=\"%d\" text-anchor=\"end\">%s</text>\n"
		"<text x=\"%d\" y=\"%d\">epoch %ld</text>\n"
		"<text x=\"%d\" y=\"%d\" text-anchor=\"end\">epoch %ld</text>\n",
		LEFT - 6, TOP + 4, number_display(r.v1, hi, sizeof hi),
		LEFT - 6, H - BOTTOM, number_display(r.v0, lo, sizeof lo), LEFT,
		H - BOTTOM + 18, r.e0, W - RIGHT, H - BOTTOM + 18, r.e1);
	/* The best last, so it is drawn on top. */
	for (size_t i = 0; i < c->n; i++)
		if (c->trials[i].t != c->best)
			trial(f, &r, &c->trials[i], c->best);
	for (size_t i = 0; i < c->n; i++)
		if (c->trials[i].t == c->best)
			trial(f, &r, &c->trials[i], c->best);
	fputs("</svg>\n", f);
	if (fclose(f) || !buf) {
		free(buf);
		return -ENOMEM;
	}
	*out = buf;
	*len = n;
	return 0;
}
