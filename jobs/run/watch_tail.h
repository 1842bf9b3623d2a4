/*
 * watch_tail: whether a followed file was rewritten (truncated, replaced,
 * or overwritten in place) since it was read up to some offset, told by
 * the last bytes taken.  For the metrics file (ingest, the shim) and a
 * metrics_from source alike; no locks.
 */
#ifndef TRAINFS_WATCH_TAIL_H
#define TRAINFS_WATCH_TAIL_H

#include <stddef.h>
#include <stdint.h>
#include "util/compiler.h"

/* The last bytes taken from a followed file, to tell a rewrite. */
#define WATCH_TAIL 64
struct watch_tail {
	unsigned char b[WATCH_TAIL];
	size_t n; /* 0: unknown (nothing compared) */
};

/* Records that the N bytes of DATA were read right after the tail. */
void watch_tail_note(struct watch_tail *t, const char *data, size_t n);

/*
 * Whether the file open at *FD, of which READ bytes were taken (ending
 * with TAIL), was rewritten: PATH is another file now (replaced by a
 * rename; *FD is then closed and PATH opened instead), the file is
 * shorter than READ (truncated), or its bytes before READ are not TAIL
 * any more.  Returns 1 (read it again from 0), 0, or -errno (*FD is
 * left as it was).  *FD -1: PATH is opened, returns 1 when it exists.
 */
MUST_CHECK int watch_tail_rewritten(int *fd, const char *path, int64_t read,
				    const struct watch_tail *tail);

#endif
