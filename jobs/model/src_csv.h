/*
 * src_csv: the decoder of a trainer's own CSV log (Ultralytics'
 * results.csv, Keras' and Lightning's CSVLogger, pandas' to_csv), one line
 * at a time, into metrics lines.  Pure: no I/O, no locks; the caller
 * splits the file into lines (line_splitter, so a line costs at most
 * METRICS_LINE_MAX bytes) and numbers them.
 *
 * The first line that is not blank is the header: one metric name per
 * column, trimmed (older Ultralytics pads names and values with spaces).
 * The column named "epoch" (any case) is the epoch; without one, the
 * epoch is the data row's number, from 1.  In a data row an empty cell is
 * no value (Lightning writes a training row and a validation row per
 * epoch, each half empty), a cell that is not a number is left out
 * quietly (a date, a file name), cells past the header's are ignored.  A
 * line with no number in it whose cells are names is a new header, taken
 * as it is (a trainer that starts a new table in the same file).
 * Columns whose name breaks the metric name rule are left out: quietly
 * when the name is empty (pandas' index column), else counted once, on
 * the header line.  Cells may be quoted as RFC 4180 writes them
 * ("a,b", "say ""hi""").
 */
#ifndef TRAINFS_SRC_CSV_H
#define TRAINFS_SRC_CSV_H

#include <stddef.h>

#include "jobs/model/metrics.h"
#include "util/compiler.h"

struct src_csv {
	char **names; /* per column: its metric name, or NULL: left out */
	size_t ncols;
	long epoch_col; /* the column of "epoch", or -1: the row number */
	long rows;	/* data rows taken since the header */
	int have_header;
};

/* What src_csv_line() made of a line. */
enum {
	SRC_CSV_ROW,	    /* *out is a row */
	SRC_CSV_HEADER,	    /* a header, all taken: no row */
	SRC_CSV_HEADER_BAD, /* a header with bad names left out (WHY): no row */
	SRC_CSV_BLANK,	    /* nothing: a blank line */
};

/* Forgets the header: the next line read is a header again. */
void src_csv_reset(struct src_csv *c);

/*
 * Takes LINE (LEN bytes, no newline; a trailing '\r' is ignored).
 * Returns an SRC_CSV_* value, or -1 for a data row that is refused whole
 * (no valid epoch) or when memory ran out, with the reason in WHY
 * (METRICS_WHY_MAX bytes).  A row goes to *OUT, which the caller frees
 * with metrics_line_free(); *OUT is zeroed otherwise.
 */
MUST_CHECK int src_csv_line(struct src_csv *c, const char *line, size_t len,
			    struct metrics_line *out, char *why, size_t whylen);

/* Frees the header; the decoder is then as zeroed. */
void src_csv_free(struct src_csv *c);

#endif
