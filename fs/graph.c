/*
 * graph: the training graph as a standalone SVG (no scripts, no external
 * references), made to stay readable when metrics differ in scale.
 *
 * Small multiples: metrics are grouped into panels by name, with a
 * "val_", "train_", "test_" ... prefix dropped, so loss and val_loss share
 * a panel and lr or grad_norm get one of their own; each panel has its
 * own y axis, logarithmic when its values are all positive and span two
 * decades or more (a learning rate), else linear with "nice" ticks.  All
 * panels share the x axis, from the first to the last reported epoch (not
 * the target), and the monitored metric's panel comes first.  Each metric
 * is one <polyline data-metric="NAME"> in the picture's own units.
 *
 * An epoch whose value is nan or inf is marked (a cross on the panel's
 * floor for nan, a triangle on its ceiling or floor for +inf or -inf) and
 * not bridged: the line is clipped out between the finite points around
 * it, so the one polyline of the metric shows a gap there.  (At a pixel
 * column that holds finite values of the metric too, there is no gap to
 * show; the mark remains.)
 *
 * Bounded for any input: every value is mapped to a fraction of its
 * panel's range in floating point (never a cast of a double to an
 * integer before clamping), tick loops run at most MAX_TICKS times, and
 * each metric is decimated to at most two points (its minimum and
 * maximum) per pixel column, so any number of epochs makes a file of the
 * same size, drawn in time linear in the rows.
 */
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs/fs.h"
#include "util/number.h"
#include "util/text.h"

#define W 960	       /* the picture's width */
#define TITLE_H 50     /* title and subtitle */
#define FOOT_H 24      /* the "epoch" caption */
#define CELL_PAD 10    /* around the grid */
#define AXIS_W 58      /* y tick labels, left of each plot */
#define RIGHT_W 16     /* right of each plot */
#define LEGEND_LINE 16 /* one line of a panel's legend */
#define XTICKS_H 30    /* x tick labels, below each plot */
#define MAX_TICKS 32   /* nice steps give at most about twice the ticks asked */
#define CHAR_W 6.4     /* a generous guess of a character's width at 11px */
#define LOG_W 64       /* "log scale", right of the legend */

static const char *const palette[] = {
	"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
	"#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f",
};

/* One metric in a panel, and the decimated points of its line. */
struct series {
	int col;
	int nonfinite; /* epochs whose value is nan or inf */
	int have_last;
	double last; /* the last finite value reported */
};

/* A panel: metrics of one group against one y axis. */
struct panel {
	const char *key; /* the group's name (a column's, not owned) */
	struct series *s;
	int ns;
	int log;       /* y is log10 of the value */
	double lo, hi; /* y range (log10 of it when log) */
	int legend_lines;
	double left, top, pw, ph; /* the plot area */
};

struct graph {
	const struct job *job;
	struct panel *p;
	int np;
	double x0, x1; /* the epochs shown */
	int ncol;      /* panels per row */
	double height;
	int nonfinite_any;
};

/* ---- text ---- */

/* S as XML text (text_markup()). */
static void xml_text(FILE *f, const char *s)
{
	text_markup(f, s, strlen(s));
}

/* S as XML text, cut (at a character boundary, with an ellipsis) to MAX
 * characters. */
static void xml_text_cut(FILE *f, const char *s, size_t max)
{
	size_t n = 0, i;
	for (i = 0; s[i]; i++)
		if (((unsigned char)s[i] & 0xc0) != 0x80 && n++ == max)
			break;
	text_markup(f, s, i);
	if (s[i])
		fputs("\xe2\x80\xa6", f);
}

/* Characters (not bytes) of UTF-8 S. */
static size_t text_chars(const char *s)
{
	size_t n = 0;
	for (; *s; s++)
		n += ((unsigned char)*s & 0xc0) != 0x80;
	return n;
}

/* ---- scales ---- */

static double clamp(double v, double lo, double hi)
{
	return !(v >= lo) ? lo : v > hi ? hi : v; /* nan gives lo */
}

/* Where V lies between LO and HI (any finite doubles, LO < HI), 0..1. */
static double fraction(double v, double lo, double hi)
{
	double span = hi - lo, f;
	if (isfinite(span) && span > 0)
		f = (v - lo) / span;
	else /* the span overflows: halve everything first */
		f = (v * 0.5 - lo * 0.5) / (hi * 0.5 - lo * 0.5);
	return isnan(f) ? 0.5 : clamp(f, 0, 1);
}

static double value_y(const struct panel *p, double v)
{
	double t = p->log ? log10(v) : v;
	return p->top + p->ph * (1 - fraction(t, p->lo, p->hi));
}

static double epoch_x(const struct graph *g, const struct panel *p, double e)
{
	return p->left + p->pw * fraction(e, g->x0, g->x1);
}

/*
 * A tick step of 1, 2 or 5 times a power of ten giving about N ticks
 * between LO and HI; 0 when there is none (a span too small or too large
 * for doubles).
 */
static double nice_step(double lo, double hi, int n)
{
	double span = hi - lo, raw;
	raw = isfinite(span) ? span / n : (hi * 0.5 - lo * 0.5) / n * 2;
	if (!isfinite(raw) || !(raw > 0))
		return 0;
	double p = pow(10, floor(log10(raw)));
	if (!isfinite(p) || !(p > 0))
		return 0;
	double m = raw / p;
	double step = (m < 1.5 ? 1 : m < 3.5 ? 2 : m < 7.5 ? 5 : 10) * p;
	return isfinite(step) && step > 0 ? step : 0;
}

/* The panel's y range from its finite values LO..HI (ANY: some seen). */
static void panel_range(struct panel *p, int any, double lo, double hi)
{
	if (!any) {
		p->lo = 0;
		p->hi = 1;
		return;
	}
	/* Positive and two decades or more: a log axis, whole decades. */
	if (lo > 0 && hi / lo >= 100) {
		p->log = 1;
		p->lo = floor(log10(lo));
		p->hi = ceil(log10(hi));
		return;
	}
	if (!(hi > lo)) { /* one value: centred */
		double d = fabs(lo) * 0.1;
		if (!isfinite(d) || !(d > 0) || lo - d == lo)
			d = lo == 0 || fabs(lo) < 1 ? 1 : fabs(lo) * 0.1;
		hi = lo + d;
		lo = lo - d;
		if (!isfinite(hi))
			hi = DBL_MAX;
		if (!isfinite(lo))
			lo = -DBL_MAX;
	}
	/* Widen to whole ticks when that stays finite. */
	double step = nice_step(lo, hi, 4);
	if (step > 0) {
		double a = floor(lo / step) * step, b = ceil(hi / step) * step;
		if (isfinite(a) && isfinite(b) && a <= lo && b >= hi && a < b) {
			lo = a;
			hi = b;
		}
	}
	p->lo = lo;
	p->hi = hi;
}

/* ---- layout ---- */

/* The name of the group metric NAME belongs to: its stem. */
static const char *group_of(const char *name)
{
	static const char *const prefixes[] = {
		"val_",	  "val/",   "valid_",	 "validation_",
		"train_", "train/", "test_",	 "test/",
		"eval_",  "eval/",  "training_",
	};
	for (size_t i = 0; i < sizeof prefixes / sizeof *prefixes; i++) {
		size_t n = strlen(prefixes[i]);
		if (!strncmp(name, prefixes[i], n) && name[n])
			return name + n;
	}
	return name;
}

static void graph_free(struct graph *g)
{
	for (int i = 0; i < g->np; i++)
		free(g->p[i].s);
	free(g->p);
}

/* Puts every column into a panel, the monitored one's first. */
static int make_panels(struct graph *g)
{
	const struct job_table *t = &g->job->table;
	int mon = g->job->monitor_col;
	g->p = calloc(t->ncolumns, sizeof *g->p);
	if (!g->p)
		return -ENOMEM;
	for (int k = -1; k < t->ncolumns; k++) {
		int c = k < 0 ? mon : k; /* the monitored column first */
		if (c < 0 || c >= t->ncolumns || (k >= 0 && c == mon))
			continue;
		const char *key = group_of(t->columns[c]);
		int i;
		for (i = 0; i < g->np; i++)
			if (!strcmp(g->p[i].key, key))
				break;
		struct panel *p = &g->p[i];
		if (i == g->np) {
			g->np++;
			p->key = key;
		}
		struct series *s = realloc(p->s, (p->ns + 1) * sizeof *s);
		if (!s)
			return -ENOMEM;
		p->s = s;
		memset(&s[p->ns], 0, sizeof *s);
		s[p->ns++].col = c;
	}
	return 0;
}

/* The x range, and each panel's y range, in one pass over the rows. */
static void measure(struct graph *g)
{
	const struct job_table *t = &g->job->table;
	double v;
	for (size_t i = 0; i < t->nrows; i++) {
		double e = (double)t->epochs[i];
		if (!i || e < g->x0)
			g->x0 = e;
		if (!i || e > g->x1)
			g->x1 = e;
	}
	if (!(g->x1 > g->x0)) { /* one epoch: in the middle */
		double d = fmax(0.5, fabs(g->x0) * 1e-9); /* past rounding */
		g->x0 -= d;
		g->x1 += d;
	}
	for (int k = 0; k < g->np; k++) {
		struct panel *p = &g->p[k];
		double lo = 0, hi = 0;
		int any = 0;
		for (int j = 0; j < p->ns; j++) {
			struct series *s = &p->s[j];
			for (size_t i = 0; i < t->nrows; i++) {
				if (!job_cell(g->job, i, s->col, &v))
					continue;
				if (!isfinite(v)) {
					s->nonfinite++;
					continue;
				}
				s->last = v;
				s->have_last = 1;
				if (!any || v < lo)
					lo = v;
				if (!any || v > hi)
					hi = v;
				any = 1;
			}
			g->nonfinite_any |= s->nonfinite > 0;
		}
		panel_range(p, any, lo, hi);
	}
}

/* The width, in characters, of a legend entry. */
static size_t entry_chars(const struct graph *g, const struct series *s)
{
	return text_chars(g->job->table.columns[s->col]) + 14 +
	       (s->nonfinite ? 14 : 0);
}

/* Panel positions: a grid of NCOL columns, rows as tall as they need. */
static void place(struct graph *g)
{
	g->ncol = g->np <= 1 ? 1 : g->np <= 4 ? 2 : 3;
	double cw = (W - 2.0 * CELL_PAD) / g->ncol;
	double ph = g->ncol == 1 ? 260 : 170;
	double y = TITLE_H;
	for (int r = 0; r * g->ncol < g->np; r++) {
		int lines = 1;
		for (int k = r * g->ncol; k < g->np && k < (r + 1) * g->ncol;
		     k++) {
			struct panel *p = &g->p[k];
			double room = cw - AXIS_W - RIGHT_W, used = 0;
			p->legend_lines = 1;
			for (int j = 0; j < p->ns; j++) {
				double w =
					22 + CHAR_W * entry_chars(g, &p->s[j]);
				if (used > 0 && used + w > room) {
					p->legend_lines++;
					used = 0;
				}
				used += w;
			}
			if (p->log && used + LOG_W > room)
				p->legend_lines++; /* "log scale" on a line */
			if (p->legend_lines > lines)
				lines = p->legend_lines;
		}
		for (int k = r * g->ncol; k < g->np && k < (r + 1) * g->ncol;
		     k++) {
			struct panel *p = &g->p[k];
			p->left = CELL_PAD + (k % g->ncol) * cw + AXIS_W;
			p->pw = cw - AXIS_W - RIGHT_W;
			p->top = y + 8 + lines * LEGEND_LINE;
			p->ph = ph;
		}
		y += 8 + lines * LEGEND_LINE + ph + XTICKS_H;
	}
	g->height = ceil(y + FOOT_H);
}

/* ---- drawing ---- */

/*
 * TEXT at X, Y anchored by ANCHOR (start, middle, end) with the extra
 * attributes STYLE, moved as needed to lie inside the picture (by a
 * generous guess of its width).
 */
static void label(FILE *f, const struct graph *g, double x, double y,
		  const char *anchor, const char *style, const char *text)
{
	double half = CHAR_W * text_chars(text) / 2, lo, hi;
	if (2 * half > W - 2) /* too wide: from the left edge */
		anchor = "start";
	if (!strcmp(anchor, "middle"))
		lo = half + 1, hi = W - half - 1;
	else if (!strcmp(anchor, "end"))
		lo = 2 * half + 1, hi = W - 1;
	else
		lo = 1, hi = W - 2 * half - 1;
	x = clamp(x, lo, hi > lo ? hi : lo);
	y = clamp(y, 12, g->height - 2);
	fprintf(f, "<text x='%.1f' y='%.1f' text-anchor='%s'%s%s>", x, y,
		anchor, *style ? " " : "", style);
	xml_text(f, text);
	fputs("</text>\n", f);
}

static void y_axis(FILE *f, const struct graph *g, const struct panel *p)
{
	char num[NUMBER_DISPLAY_MAX], prev[NUMBER_DISPLAY_MAX] = "";
	double first, step;

	if (p->log) { /* whole decades, at most MAX_TICKS / 2 of them */
		step = ceil((p->hi - p->lo) / 5);
		first = p->lo;
	} else {
		step = nice_step(p->lo, p->hi, 4);
		first = step > 0 ? ceil(p->lo / step) * step : p->lo;
	}
	if (!(step > 0) || !isfinite(first)) { /* the ends only */
		step = 0;
		first = p->lo;
	}
	double t = first;
	for (int i = 0; i < MAX_TICKS; i++, t = step ? t + step : p->hi) {
		/* t + step, not first + i * step, which may overflow */
		if (i && (step ? t > p->hi + step * 1e-9 : i > 1))
			break;
		if (!isfinite(t))
			break;
		double at = !p->log && step && fabs(t) < step * 1e-9 ? 0 : t;
		double y = p->top + p->ph * (1 - fraction(at, p->lo, p->hi));
		if (p->log && (at > 300 || at < -300))
			snprintf(num, sizeof num, "1e%d", (int)at);
		else
			number_display(p->log ? pow(10, at) : at, num,
				       sizeof num); /* 0, not 1.3e-17 */
		if (!strcmp(num, prev))
			continue; /* finer than 6 digits show */
		memcpy(prev, num, sizeof prev);
		fprintf(f,
			"<line x1='%.1f' y1='%.1f' x2='%.1f' y2='%.1f' "
			"stroke='#e3e3e3'/>\n",
			p->left, y, p->left + p->pw, y);
		label(f, g, p->left - 6, y + 4, "end",
		      "font-size='11' fill='#555'", num);
	}
}

static void x_axis(FILE *f, const struct graph *g, const struct panel *p)
{
	char num[NUMBER_DISPLAY_MAX];
	int n = (int)(p->pw / 100) + 1;
	double step = nice_step(g->x0, g->x1, n < 2 ? 2 : n);
	if (step > 0 && step < 1)
		step = 1; /* epochs are whole */
	double first = step > 0 ? ceil(g->x0 / step) * step : g->x0;
	if (!(step > 0) || !isfinite(first)) {
		step = 0;
		first = g->x0;
	}
	double e = first;
	for (int i = 0; i < MAX_TICKS; i++, e = step ? e + step : g->x1) {
		if (i && (step ? e > g->x1 : i > 1))
			break;
		if (!isfinite(e))
			break;
		double x = epoch_x(g, p, e);
		fprintf(f,
			"<line x1='%.1f' y1='%.1f' x2='%.1f' y2='%.1f' "
			"stroke='#efefef'/>\n",
			x, p->top, x, p->top + p->ph);
		fprintf(f,
			"<line x1='%.1f' y1='%.1f' x2='%.1f' y2='%.1f' "
			"stroke='#888'/>\n",
			x, p->top + p->ph, x, p->top + p->ph + 4);
		/* Whole epochs as they are; only beyond 10 digits rounded. */
		if (fabs(e) < 1e10)
			snprintf(num, sizeof num, "%.0f", e + 0.0); /* no -0 */
		else
			number_display(e, num, sizeof num);
		label(f, g, x, p->top + p->ph + 16, "middle",
		      "font-size='11' fill='#555'", num);
	}
}

/* The decimated line of one metric: per pixel column, its extremes. */
struct column {
	double lo, hi, lo_e, hi_e, bad_e;
	unsigned char finite, nan, pinf, ninf;
	unsigned char alone; /* no line reaches it from either side: a dot */
};

/*
 * Fills COLS (NB of them) from the rows of column S->col: finite values'
 * minimum and maximum, and which non-finite values occur.
 */
static void decimate(const struct graph *g, const struct series *s,
		     struct column *cols, int nb)
{
	const struct job_table *t = &g->job->table;
	double v, span = g->x1 - g->x0, scale = nb / span;
	int exact = isfinite(scale) && scale > 0; /* else fraction() */
	for (size_t i = 0; i < t->nrows; i++) {
		if (!job_cell(g->job, i, s->col, &v))
			continue;
		double e = (double)t->epochs[i];
		double at = exact ? (e - g->x0) * scale :
				    fraction(e, g->x0, g->x1) * nb;
		int b = (int)clamp(at, 0, nb - 1); /* clamped, then cast */
		struct column *c = &cols[b];
		if (!isfinite(v)) {
			if (!c->nan && !c->pinf && !c->ninf)
				c->bad_e = e;
			if (isnan(v))
				c->nan = 1;
			else if (v > 0)
				c->pinf = 1;
			else
				c->ninf = 1;
			continue;
		}
		if (!c->finite || v < c->lo) {
			c->lo = v;
			c->lo_e = e;
		}
		if (!c->finite || v > c->hi) {
			c->hi = v;
			c->hi_e = e;
		}
		c->finite = 1;
	}
	/* A finite column with a gap (or nothing) on both sides is alone. */
	int prev = -1, pending = 0, open_left = 1;
	for (int b = 0; b <= nb; b++) {
		if (b < nb && !cols[b].finite) {
			pending |= cols[b].nan | cols[b].pinf | cols[b].ninf;
			continue;
		}
		int open = prev < 0 || pending || b == nb;
		if (prev >= 0)
			cols[prev].alone = open_left && open &&
					   cols[prev].lo == cols[prev].hi;
		open_left = open;
		prev = b;
		pending = 0;
	}
}

/*
 * The clip path that hides the line between the finite points around
 * each run of non-finite-only columns; writes nothing (and returns 0)
 * when there is no such run, else returns 1 with the path named ID.
 */
static int gap_clip(FILE *f, const struct graph *g, const struct panel *p,
		    const struct column *cols, int nb, int id)
{
	double last_x = -1, from = p->left - 4;
	int pending = 0, any = 0;
	for (int b = 0; b < nb; b++) {
		const struct column *c = &cols[b];
		if (!c->finite) {
			pending |= c->nan | c->pinf | c->ninf;
			continue;
		}
		double x = epoch_x(g, p, fmin(c->lo_e, c->hi_e));
		if (pending && last_x >= 0 && x > last_x) {
			if (!any)
				fprintf(f, "<clipPath id='gap%d'>", id);
			any = 1;
			fprintf(f,
				"<rect x='%.1f' y='%.1f' width='%.1f' "
				"height='%.1f'/>",
				from, p->top - 4, last_x - from, p->ph + 8);
			from = x;
		}
		pending = 0;
		last_x = epoch_x(g, p, fmax(c->lo_e, c->hi_e));
	}
	if (any)
		fprintf(f,
			"<rect x='%.1f' y='%.1f' width='%.1f' "
			"height='%.1f'/></clipPath>\n",
			from, p->top - 4, p->left + p->pw + 4 - from,
			p->ph + 8);
	return any;
}

static void marks_nonfinite(FILE *f, const struct graph *g,
			    const struct panel *p, const struct series *s,
			    const struct column *cols, int nb,
			    const char *color)
{
	double floor_y = p->top + p->ph - 6, ceil_y = p->top + 6;
	if (!s->nonfinite)
		return;
	fprintf(f, "<path data-nonfinite='");
	xml_text(f, g->job->table.columns[s->col]);
	fprintf(f, "' fill='%s' stroke='%s' stroke-width='1.8' d='", color,
		color);
	for (int b = 0; b < nb; b++) {
		const struct column *c = &cols[b];
		double x = epoch_x(g, p, c->bad_e);
		if (c->nan) /* a cross */
			fprintf(f, "M%.1f,%.1fl7,7m0,-7l-7,7", x - 3.5,
				floor_y - 3.5);
		if (c->pinf) /* a triangle pointing up, on the ceiling */
			fprintf(f, "M%.1f,%.1fl4,7h-8z", x, ceil_y - 4);
		if (c->ninf) /* pointing down, on the floor */
			fprintf(f, "M%.1f,%.1fl4,-7h-8z", x, floor_y + 4);
	}
	fputs("'/>\n", f);
}

static int series_draw(FILE *f, const struct graph *g, const struct panel *p,
		       const struct series *s, int *clip_id)
{
	int nb = (int)p->pw, mon = s->col == g->job->monitor_col;
	const char *color = palette[s->col % 10];
	struct column *cols = calloc(nb, sizeof *cols);
	if (!cols)
		return -ENOMEM;
	decimate(g, s, cols, nb);
	int clipped = gap_clip(f, g, p, cols, nb, *clip_id);
	fputs("<polyline data-metric='", f);
	xml_text(f, g->job->table.columns[s->col]);
	fprintf(f,
		"' fill='none' stroke='%s' stroke-width='%s' "
		"stroke-linejoin='round' stroke-linecap='round'",
		color, mon ? "2.4" : "1.6");
	if (clipped)
		fprintf(f, " clip-path='url(#gap%d)'", (*clip_id)++);
	fputs(" points='", f);
	for (int b = 0, n = 0; b < nb; b++) {
		const struct column *c = &cols[b];
		if (!c->finite)
			continue;
		double e1 = c->lo_e, v1 = c->lo, e2 = c->hi_e, v2 = c->hi;
		if (e1 > e2) { /* in the order of the epochs */
			e1 = c->hi_e, v1 = c->hi;
			e2 = c->lo_e, v2 = c->lo;
		}
		fprintf(f, "%s%.1f,%.1f", n++ ? " " : "", epoch_x(g, p, e1),
			value_y(p, v1));
		if (c->lo != c->hi)
			fprintf(f, " %.1f,%.1f", epoch_x(g, p, e2),
				value_y(p, v2));
	}
	fputs("'><title>", f);
	xml_text(f, g->job->table.columns[s->col]);
	fputs("</title></polyline>\n", f);
	/* A point no line reaches would not show: a dot does. */
	int dots = 0;
	for (int b = 0; b < nb; b++) {
		if (!cols[b].alone)
			continue;
		if (!dots++)
			fprintf(f, "<path fill='%s' d='", color);
		fprintf(f, "M%.1f,%.1fm-3,0a3,3 0 1,0 6,0a3,3 0 1,0 -6,0",
			epoch_x(g, p, cols[b].lo_e), value_y(p, cols[b].lo));
	}
	if (dots)
		fputs("'/>\n", f);
	marks_nonfinite(f, g, p, s, cols, nb, color);
	free(cols);
	return 0;
}

static void legend(FILE *f, const struct graph *g, const struct panel *p)
{
	char num[NUMBER_DISPLAY_MAX], text[64];
	double room = p->pw, x = 0,
	       y = p->top - 8 - (p->legend_lines - 1) * LEGEND_LINE;
	int max = (int)((room - 22) / CHAR_W) - 14;
	if (p->log) /* on the last line, at the right */
		label(f, g, p->left + p->pw, p->top - 8, "end",
		      "font-size='10' fill='#888'", "log scale");
	for (int j = 0; j < p->ns; j++) {
		const struct series *s = &p->s[j];
		const char *name = g->job->table.columns[s->col];
		int mon = s->col == g->job->monitor_col;
		double w = 22 + CHAR_W * entry_chars(g, s);
		if (x > 0 && x + w > room) {
			x = 0;
			y += LEGEND_LINE;
		}
		double lx = p->left + x;
		fprintf(f,
			"<line x1='%.1f' y1='%.1f' x2='%.1f' y2='%.1f' "
			"stroke='%s' stroke-width='%s'/>\n",
			lx, y - 4, lx + 16, y - 4, palette[s->col % 10],
			mon ? "3" : "2");
		/* Too long for the panel: cut, the whole name in a title. */
		fprintf(f,
			"<text x='%.1f' y='%.1f' font-size='12' "
			"xml:space='preserve'%s><title>",
			lx + 21, y, mon ? " font-weight='bold'" : "");
		xml_text(f, name);
		fputs("</title>", f);
		xml_text_cut(f, name, max > 8 ? (size_t)max : 8);
		if (s->have_last) {
			fprintf(f, "<tspan fill='#666' font-weight='normal'> ");
			xml_text(f, number_display(s->last, num, sizeof num));
			fputs("</tspan>", f);
		}
		if (s->nonfinite) {
			snprintf(text, sizeof text, " (%d nan/inf)",
				 s->nonfinite);
			fprintf(f,
				"<tspan fill='#c0392b' "
				"font-weight='normal'>%s</tspan>",
				text);
		}
		fputs("</text>\n", f);
		x += w;
	}
}

/* The best point of the monitored metric, in panel P. */
static void mark_best(FILE *f, const struct graph *g, const struct panel *p)
{
	const struct job *job = g->job;
	char num[NUMBER_DISPLAY_MAX], text[96];
	if (!job->policy.have_best || !isfinite(job->policy.best))
		return;
	if (p->log && !(job->policy.best > 0))
		return;
	double x = epoch_x(g, p, (double)job->policy.best_epoch);
	double y = value_y(p, job->policy.best);
	fprintf(f,
		"<line x1='%.1f' y1='%.1f' x2='%.1f' y2='%.1f' "
		"stroke='#333' stroke-dasharray='2,3'/>\n",
		x, p->top, x, p->top + p->ph);
	fprintf(f,
		"<circle cx='%.1f' cy='%.1f' r='5' fill='none' "
		"stroke='#111' stroke-width='2'/>\n",
		x, y);
	snprintf(text, sizeof text, "best %s at %ld",
		 number_display(job->policy.best, num, sizeof num),
		 job->policy.best_epoch);
	double w = CHAR_W * text_chars(text);
	int right = x + 8 + w <= p->left + p->pw;
	double ly = y - 9 >= p->top + 12 ? y - 9 : y + 18;
	label(f, g, right ? x + 8 : x - 8,
	      clamp(ly, p->top + 12, p->top + p->ph - 4),
	      right ? "start" : "end",
	      "font-size='11' font-weight='bold' fill='#111' "
	      "paint-order='stroke' stroke='white' stroke-width='3'",
	      text);
}

/* What stopped the job before its target, or NULL. */
static const char *stop_word(const struct job *job)
{
	const char *r = job->rec.reason;
	if (r && !strcmp(r, "converged"))
		return "converged";
	if (r && !strcmp(r, "stopped-early"))
		return "stopped";
	if (job->rec.state == ST_CANCELLED)
		return "cancelled";
	return NULL;
}

/* The stop, as a dashed line in every panel, said in the first. */
static void mark_stop(FILE *f, const struct graph *g, const struct panel *p,
		      int first)
{
	char text[64];
	const char *word = stop_word(g->job);
	long e = job_last_epoch(g->job);
	if (!word || e < 0)
		return;
	double x = epoch_x(g, p, (double)e);
	fprintf(f,
		"<line x1='%.1f' y1='%.1f' x2='%.1f' y2='%.1f' "
		"stroke='#c0392b' stroke-width='1.5' "
		"stroke-dasharray='6,4'/>\n",
		x, p->top, x, p->top + p->ph);
	if (!first)
		return;
	snprintf(text, sizeof text, "%s at %ld", word, e);
	label(f, g, x - 5, p->top + 14, "end",
	      "font-size='11' font-weight='bold' fill='#c0392b' "
	      "paint-order='stroke' stroke='white' stroke-width='3'",
	      text);
}

static int panel_draw(FILE *f, const struct graph *g, const struct panel *p,
		      int first, int *clip_id)
{
	/* A group (never transformed) names the panel and its plot area. */
	fprintf(f,
		"<g class='panel' data-scale='%s'>\n"
		"<rect class='plot' x='%.1f' y='%.1f' width='%.1f' "
		"height='%.1f' fill='white' stroke='#bbb'/>\n",
		p->log ? "log" : "linear", p->left, p->top, p->pw, p->ph);
	legend(f, g, p);
	y_axis(f, g, p);
	x_axis(f, g, p);
	for (int j = p->ns - 1; j >= 0; j--) /* the first (monitored) on top */
		if (series_draw(f, g, p, &p->s[j], clip_id) < 0) {
			fputs("</g>\n", f);
			return -ENOMEM;
		}
	for (int j = 0; j < p->ns; j++)
		if (p->s[j].col == g->job->monitor_col)
			mark_best(f, g, p);
	mark_stop(f, g, p, first);
	fputs("</g>\n", f);
	return 0;
}

static void title(FILE *f, const struct graph *g)
{
	const struct job *job = g->job;
	char num[NUMBER_DISPLAY_MAX], text[160];
	long e = job_last_epoch(job);
	size_t max = (W - 2 * CELL_PAD) / 9 - 30; /* 15px characters */
	fprintf(f,
		"<text x='%d' y='22' font-size='15' font-weight='bold' "
		"xml:space='preserve'>",
		CELL_PAD);
	xml_text_cut(f, job->rec.name, max);
	fprintf(f, "<tspan font-weight='normal' fill='#555'> \xe2\x80\x94 %s",
		state_name(job->rec.state));
	if (e >= 0 && job->spec.epochs > 0)
		fprintf(f, ", epoch %ld/%ld", e, job->spec.epochs);
	else if (e >= 0)
		fprintf(f, ", epoch %ld", e);
	fputs("</tspan></text>\n", f);
	if (job->spec.monitor && job->policy.have_best) {
		snprintf(text, sizeof text, "best %.64s %s at epoch %ld",
			 job->spec.monitor,
			 number_display(job->policy.best, num, sizeof num),
			 job->policy.best_epoch);
		label(f, g, CELL_PAD, 40, "start", "font-size='12' fill='#333'",
		      text);
	}
	if (g->nonfinite_any)
		label(f, g, W - CELL_PAD, 40, "end",
		      "font-size='11' fill='#c0392b'",
		      "\xc3\x97 nan, \xe2\x96\xb2 inf, \xe2\x96\xbc -inf: "
		      "marked, not joined");
}

int render_graph(const struct job *job, char **out, size_t *len)
{
	struct graph g = { .job = job, .height = 300 };
	int rc = 0, clip_id = 0;
	FILE *f;

	if (job->table.nrows && job->table.ncolumns) {
		if ((rc = make_panels(&g)) < 0) {
			graph_free(&g);
			return rc;
		}
		measure(&g);
		place(&g);
	}
	f = open_memstream(out, len);
	if (!f) {
		graph_free(&g);
		return -ENOMEM;
	}
	fprintf(f,
		"<?xml version='1.0' encoding='UTF-8'?>\n"
		"<svg xmlns='http://www.w3.org/2000/svg' width='%d' "
		"height='%.0f' viewBox='0 0 %d %.0f' "
		"font-family='DejaVu Sans, Helvetica, Arial, sans-serif'>\n",
		W, g.height, W, g.height);
	fprintf(f, "<rect width='%d' height='%.0f' fill='#fafafa'/>\n", W,
		g.height);
	title(f, &g);
	if (!g.np)
		fprintf(f,
			"<text x='%d' y='%d' text-anchor='middle' "
			"font-size='14' fill='#777'>no metrics yet</text>\n",
			W / 2, 150);
	for (int k = 0; k < g.np && rc == 0; k++)
		rc = panel_draw(f, &g, &g.p[k], k == 0, &clip_id);
	if (g.np)
		fprintf(f,
			"<text x='%d' y='%.0f' text-anchor='middle' "
			"font-size='12' fill='#555'>epoch</text>\n",
			W / 2, g.height - 8);
	fputs("</svg>\n", f);
	graph_free(&g);
	if (fclose(f) != 0 || rc < 0) {
		free(*out);
		*out = NULL;
		return -ENOMEM;
	}
	return 0;
}
