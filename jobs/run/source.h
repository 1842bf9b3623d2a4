/*
 * source: a job's metrics_from, the trainer's own log, followed as it
 * grows: a CSV file with a header (src_csv.h), a JSON lines file
 * (src_jsonl.h), or a TensorBoard folder or event file (src_tfevents.h),
 * told apart by their content.  It owns the I/O of the decoders: files
 * are opened with the job owner's rights (util/fsowner.h: never through
 * a link at the last component, never a FIFO or device, regular files
 * only), read in bounded steps, and read again from the start when the
 * trainer rewrites them (rows already taken stay: the caller merges).
 *
 * No locks of its own: the caller (the supervisor, under the job's lock)
 * calls one source from one thread at a time.  Where it was read up to is
 * a short text (source_pos()) that the caller commits with the rows a step
 * gave and hands back to source_restore() after a remount or a failed
 * commit, so every row is taken once and none lost.
 *
 * A source whose first epoch is 0 (Keras, Lightning, most TensorBoard
 * logs) counts from 0: every epoch of it is taken one higher.
 */
#ifndef TRAINFS_SOURCE_H
#define TRAINFS_SOURCE_H

#include <stdint.h>
#include <sys/types.h>

#include "jobs/model/metrics.h"
#include "util/compiler.h"

/* What one step reads at most: bytes and records (lines or frames). */
#define SOURCE_STEP_BYTES (256 * 1024)
#define SOURCE_STEP_RECORDS 2000
/* Event files followed in one folder, and folders deep below it. */
#define SOURCE_FILES_MAX 256
#define SOURCE_DEPTH_MAX 4

struct source;

/*
 * Hands over one record of the source: ML a row (epoch already shifted)
 * with RC 0, or with RC 1 when pairs of it were left out; ML NULL and RC
 * -1 for a record refused whole.  WHY: the reason when RC is not 0
 * ("results.csv: bad metric name 'a b'"); LINE: the record's number in its
 * file, from 1 (a line, or a TFRecord frame).
 */
typedef void (*source_take_fn)(void *arg, const struct metrics_line *ml, int rc,
			       const char *why, int64_t line);

/*
 * A source for PATH (absolute), read as UID/GID.  NULL when out of
 * memory.  It starts as never read: call source_restore() with what was
 * committed.
 */
struct source *source_new(const char *path, uid_t uid, gid_t gid);

/*
 * Goes back to POS, a text source_pos() gave (NULL: never found, from the
 * start).  Files are opened again on the next step.  Returns 0, or
 * -EINVAL for a text it cannot read (it then starts from scratch).
 */
MUST_CHECK int source_restore(struct source *s, const char *pos);

/*
 * Reads one bounded step, handing every record to FN.  FINAL: the trainer
 * has ended, so a last line without a newline is taken and an incomplete
 * last frame is counted.  Returns 1 when more is waiting, 0 when all was
 * read, or -errno (logged by the caller; the next step tries again).
 */
MUST_CHECK int source_step(struct source *s, int final, source_take_fn fn,
			   void *arg);

/* Whether the file or folder was ever found. */
int source_found(const struct source *s);

/* Where it was read up to, malloc'd (the caller frees); NULL: not found yet
 * or out of memory (ENOMEM in errno then). */
char *source_pos(const struct source *s);

/* Closes and frees S; NULL is fine. */
void source_free(struct source *s);

/*
 * Whether the source whose position text is POS (what source_pos() gave,
 * as the job's record keeps it) counts from 0, so that its epochs are
 * taken one higher: 1; 0 when it does not, when no row was taken yet, or
 * for a NULL or unreadable POS.  For the trainer's own checkpoint names,
 * which number epochs as its log does.
 */
int source_pos_from_zero(const char *pos);

#endif
