/*
 * src_csv: a trainer's CSV log, line by line, into metrics lines
 * (src_csv.h).
 *
 * A line is cut into cells once, in place in a copy: a quoted cell is
 * unquoted where it lies, so no cell costs more than the line itself, and
 * a line holds at most METRICS_LINE_MAX bytes (the splitter's bound), so
 * at most that many cells.  Columns past METRICS_NAMES_MAX are ignored.
 * Names follow the metric name rule (metrics_name_valid()) after
 * trimming; values are read by the same rules as metrics lines
 * (metrics_read_number(), metrics_read_epoch()).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "jobs/model/src_csv.h"

/* One cell of a line: where it starts in the copy, its length. */
struct cell {
	char *s;
	size_t n;
};

static int csv_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

/* Trims blanks around the cell. */
static void cell_trim(struct cell *c)
{
	while (c->n && csv_blank(c->s[0])) {
		c->s++;
		c->n--;
	}
	while (c->n && csv_blank(c->s[c->n - 1]))
		c->n--;
}

/*
 * Cuts S (N bytes, a copy the caller owns) into at most MAX cells at
 * commas outside quotes; a quoted cell is unquoted in place ("" is one
 * quote).  Returns the number of cells (at least 1).
 */
static size_t csv_cells(char *s, size_t n, struct cell *cells, size_t max)
{
	size_t i = 0, k = 0;

	while (k < max) {
		struct cell *c = &cells[k++];
		size_t start = i;

		while (i < n && csv_blank(s[i]))
			i++;
		if (i < n && s[i] == '"') {
			char *w = s + i;
			c->s = w;
			for (i++; i < n; i++) {
				if (s[i] == '"' && i + 1 < n && s[i + 1] == '"')
					i++;
				else if (s[i] == '"') {
					i++;
					break;
				}
				*w++ = s[i];
			}
			c->n = (size_t)(w - c->s);
			while (i < n && s[i] != ',')
				i++; /* after the closing quote: ignored */
		} else {
			c->s = s + start;
			while (i < n && s[i] != ',')
				i++;
			c->n = (size_t)(s + i - c->s);
		}
		cell_trim(c);
		if (i >= n)
			break;
		i++; /* the comma */
	}
	return k;
}

void src_csv_reset(struct src_csv *c)
{
	for (size_t i = 0; i < c->ncols; i++)
		free(c->names[i]);
	free(c->names);
	c->names = NULL;
	c->ncols = 0;
	c->epoch_col = -1;
	c->rows = 0;
	c->have_header = 0;
}

void src_csv_free(struct src_csv *c)
{
	src_csv_reset(c);
}

/* Writes a reason into WHY (WHYLEN bytes) unless one is there. */
static void csv_why(char *why, size_t whylen, const char *fmt, const char *s,
		    size_t n)
{
	char q[24];
	size_t i, k = 0;

	if (!why || !whylen || why[0])
		return;
	for (i = 0; i < n && k < 20; i++) /* printable ASCII, capped */
		q[k++] = s[i] >= 0x20 && s[i] < 0x7f ? s[i] : '?';
	q[k] = '\0';
	snprintf(why, whylen, fmt, q, i < n ? "..." : "");
}

/* Takes CELLS as the header.  Returns SRC_CSV_HEADER(_BAD) or -1. */
static int csv_header(struct src_csv *c, const struct cell *cells, size_t n,
		      char *why, size_t whylen)
{
	int bad = 0;

	src_csv_reset(c);
	c->names = calloc(n, sizeof *c->names);
	if (!c->names)
		return -1;
	c->ncols = n;
	c->have_header = 1;
	for (size_t i = 0; i < n; i++) {
		if (c->epoch_col < 0 && cells[i].n == 5 &&
		    !strncasecmp(cells[i].s, "epoch", 5)) {
			c->epoch_col = (long)i;
			continue;
		}
		if (!metrics_name_valid(cells[i].s, cells[i].n)) {
			if (cells[i].n) {
				csv_why(why, whylen, "bad metric name '%s%s'",
					cells[i].s, cells[i].n);
				bad = 1;
			}
			continue;
		}
		if (!(c->names[i] = strndup(cells[i].s, cells[i].n)))
			return -1;
	}
	return bad ? SRC_CSV_HEADER_BAD : SRC_CSV_HEADER;
}

/* Whether CELLS read as a header: no number in them, some name. */
static int csv_looks_like_header(const struct cell *cells, size_t n)
{
	int names = 0;
	double v;

	for (size_t i = 0; i < n; i++) {
		if (cells[i].n &&
		    !metrics_read_number(cells[i].s, cells[i].n, &v))
			return 0;
		names |= metrics_name_valid(cells[i].s, cells[i].n);
	}
	return names;
}

/* Appends NAME = V to OUT; -1 when out of memory. */
static int csv_put(struct metrics_line *out, size_t *cap, const char *name,
		   double v)
{
	if (out->n == *cap) {
		size_t ncap = *cap ? *cap * 2 : 16;
		struct metric *m = realloc(out->m, ncap * sizeof *m);
		if (!m)
			return -1;
		out->m = m;
		*cap = ncap;
	}
	if (!(out->m[out->n].name = strdup(name)))
		return -1;
	out->m[out->n++].value = v;
	return 0;
}

/* Takes CELLS as a data row into OUT.  Returns SRC_CSV_ROW or -1. */
static int csv_row(struct src_csv *c, const struct cell *cells, size_t n,
		   struct metrics_line *out, char *why, size_t whylen)
{
	size_t cap = 0;
	double v;

	if (c->epoch_col >= 0) {
		const struct cell *e =
			(size_t)c->epoch_col < n ? &cells[c->epoch_col] : NULL;
		if (!e || !e->n) {
			if (why && whylen)
				snprintf(why, whylen, "no epoch");
			return -1;
		}
		if (metrics_read_epoch(e->s, e->n, &out->epoch, why, whylen))
			return -1;
	} else if (c->rows >= METRICS_EPOCH_MAX) {
		if (why && whylen)
			snprintf(why, whylen, "more than %ld rows",
				 METRICS_EPOCH_MAX);
		return -1;
	} else {
		out->epoch = c->rows + 1;
	}
	for (size_t i = 0; i < n && i < c->ncols; i++) {
		if (!c->names[i] || !cells[i].n ||
		    metrics_read_number(cells[i].s, cells[i].n, &v))
			continue; /* no value, or not a number: quietly */
		if (csv_put(out, &cap, c->names[i], v)) {
			if (why && whylen)
				snprintf(why, whylen, "out of memory");
			return -1;
		}
	}
	c->rows++;
	return SRC_CSV_ROW;
}

int src_csv_line(struct src_csv *c, const char *line, size_t len,
		 struct metrics_line *out, char *why, size_t whylen)
{
	size_t max = METRICS_NAMES_MAX + 1, n;
	struct cell *cells;
	char *copy;
	int rc;

	memset(out, 0, sizeof *out);
	if (why && whylen)
		why[0] = '\0';
	while (len && csv_blank(line[len - 1]))
		len--;
	n = 0;
	while (n < len && csv_blank(line[n]))
		n++;
	if (n == len)
		return SRC_CSV_BLANK;
	/* cells there can be at most: one more than the commas */
	for (size_t i = 0, commas = 0; i < len; i++)
		if (line[i] == ',' && ++commas + 1 >= max)
			break;
		else if (i == len - 1)
			max = commas + 1;
	copy = malloc(len + 1);
	cells = malloc(max * sizeof *cells);
	if (!copy || !cells) {
		free(copy);
		free(cells);
		if (why && whylen)
			snprintf(why, whylen, "out of memory");
		return -1;
	}
	memcpy(copy, line, len);
	copy[len] = '\0';
	n = csv_cells(copy, len, cells, max);
	if (n > METRICS_NAMES_MAX)
		n = METRICS_NAMES_MAX; /* columns past it are ignored */
	if (!c->have_header || csv_looks_like_header(cells, n))
		rc = csv_header(c, cells, n, why, whylen);
	else
		rc = csv_row(c, cells, n, out, why, whylen);
	if (rc < 0) {
		metrics_line_free(out);
		if (why && whylen && !why[0])
			snprintf(why, whylen, "out of memory");
	}
	free(copy);
	free(cells);
	return rc;
}
