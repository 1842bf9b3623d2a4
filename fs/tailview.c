/*
 * tailview: the continuation a follower of `metrics` reads after a
 * rendering with a new header (tailview.h).  Rows are counted, not
 * compared: a follower has seen the first T->rows rows of the table, and
 * the table only grows (a restart that clears it starts a new table: all
 * its rows are due, after its header).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fs/tailview.h"

/* Lines ending in '\n' in TEXT[0..LEN). */
static size_t count_lines(const char *text, size_t len)
{
	size_t n = 0;
	for (const char *p = text; (p = memchr(p, '\n', text + len - p)); p++)
		n++;
	return n;
}

/* Length of the first line of TEXT, its '\n' included. */
static size_t line_len(const char *text, size_t len)
{
	const char *nl = memchr(text, '\n', len);
	return nl ? (size_t)(nl - text) + 1 : len;
}

/* Where row I (0-based) starts in the rows of TEXT after its header. */
static size_t row_at(const char *text, size_t len, size_t i)
{
	size_t at = line_len(text, len);
	while (i-- > 0 && at < len)
		at += line_len(text + at, len - at);
	return at;
}

void tail_view_reset(struct tail_view *t)
{
	t->started = 0;
}

int tail_view_follow(struct tail_view *t, char **buf, size_t *len,
		     const char *text, size_t tlen)
{
	if (!t->started) { /* *BUF is one rendering: its header, its rows */
		t->header_at = 0;
		t->rows = *len ? count_lines(*buf, *len) - 1 : 0;
		t->started = 1;
	}
	size_t hlen = line_len(text, tlen);
	size_t nrows =
		count_lines(text, tlen) - (hlen && text[hlen - 1] == '\n');
	const char *old = *buf + t->header_at;
	size_t olen = line_len(old, *len - t->header_at);
	int same = olen == hlen && !memcmp(old, text, hlen);
	if (nrows < t->rows) { /* a new table */
		t->rows = 0;
		same = 0;
	}
	size_t from = row_at(text, tlen, t->rows);
	size_t add = (same ? 0 : hlen) + (tlen - from);
	if (add == 0 || (same && from >= tlen))
		return 0;
	char *grown = realloc(*buf, *len + add);
	if (!grown)
		return -ENOMEM;
	size_t at = *len;
	if (!same) {
		memcpy(grown + at, text, hlen);
		t->header_at = at;
		at += hlen;
	}
	memcpy(grown + at, text + from, tlen - from);
	*buf = grown;
	*len = at + (tlen - from);
	t->rows = nrows;
	return 1;
}
