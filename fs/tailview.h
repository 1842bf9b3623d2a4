/*
 * tailview: what a reader that keeps reading at the end of `metrics`
 * (tail -f, less +F, a program polling with read()) is given when the
 * job's next rendering does not extend the text it has read: a new metric
 * added a column, so the header and every row changed.  Such a follower
 * gets the new header line, then the rows after those it has seen, so it
 * never stops seeing rows; a reader that reads from the start, or that has
 * not yet hit the end once (cat), always gets one CSV with one header.
 */
#ifndef TRAINFS_TAILVIEW_H
#define TRAINFS_TAILVIEW_H

#include <stddef.h>
#include "util/compiler.h"

struct tail_view {
	int at_end;	  /* a read at the end returned nothing: a follower */
	int started;	  /* the text read is not one rendering any more */
	size_t header_at; /* where the last header line shown starts */
	size_t rows;	  /* rows (data lines) shown so far */
};

/*
 * Appends to *BUF (*LEN bytes, malloc'd; the text read so far) what a
 * follower is due from the rendering TEXT (TLEN bytes): the header line if
 * it differs from the last one shown, then the rows past those shown.
 * Returns 1 if *BUF grew, 0 if nothing was due, -ENOMEM.
 */
MUST_CHECK int tail_view_follow(struct tail_view *t, char **buf, size_t *len,
				const char *text, size_t tlen);

/* The text read is one rendering again (read from the start). */
void tail_view_reset(struct tail_view *t);

#endif
