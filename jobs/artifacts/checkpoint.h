/*
 * checkpoint: the trainer's checkpoints folder (TRAINFS_CHECKPOINTS) as
 * trainfs sees it, and the retention rule: the best checkpoint and the
 * newest `checkpoints` ones are kept, the others deleted.
 *
 * Three steps, none of which takes a lock or touches the job list, so the
 * supervisor runs the slow ones (reading a folder, deleting trees) with no
 * lock that readers of other jobs need:
 *
 *   checkpoint_scan()   lists the complete checkpoints of a folder: entries
 *                       named exactly "epoch-N" that are directories (a
 *                       symbolic link never counts), whose epoch has a
 *                       metrics row (a predicate of the caller's);
 *   checkpoint_plan()   from that list, keep (best|last), the best epoch and
 *                       `checkpoints`, decides which one becomes the weights
 *                       and which ones to delete: pure, no system calls;
 *   checkpoint_prune()  deletes them in a helper process, "trainfs __prune",
 *                       that drops to the job's owner and never follows a
 *                       symbolic link (tree_remove()); in-process
 *                       when trainfs is the owner already.
 *
 * Names: "epoch-" then N in canonical decimal: digits only, no sign, no
 * leading zero ("epoch-0" is epoch 0, "epoch-05" is not a checkpoint), N at
 * most CHECKPOINT_EPOCH_MAX (the metrics epoch bound).  So each epoch has
 * exactly one name, and a name can be rebuilt from its number.
 */
#ifndef TRAINFS_CHECKPOINT_H
#define TRAINFS_CHECKPOINT_H

#include <stddef.h>
#include <sys/types.h>
#include "util/compiler.h"

#define CHECKPOINT_EPOCH_MAX 1000000000L
/* "epoch-" + 10 digits + NUL */
#define CHECKPOINT_NAME_MAX 17
/* `checkpoints = all`: keep every one. */
#define CHECKPOINT_KEEP_ALL (-1L)

enum checkpoint_keep { CHECKPOINT_KEEP_BEST, CHECKPOINT_KEEP_LAST };

/*
 * The epoch of a checkpoint folder NAME ("epoch-12" gives 12), or -1 when
 * NAME is not exactly a checkpoint name ("epoch-12.tmp", "epoch-",
 * "epoch-012", "epoch-+1", "epoch-1 ").
 */
long checkpoint_epoch_of(const char *name);

/*
 * The epoch of NAME when it is a checkpoint's name or one of its temporary
 * names: "epoch-N", or "epoch-N." followed by anything without a '/'
 * ("epoch-5.tmp", "epoch-5.old", "epoch-5.tmp.1234"), N canonical as above.
 * Else -1.  For cleaning up, never for counting.
 */
long checkpoint_epoch_of_prefix(const char *name);

/* Writes "epoch-N" into buf (CHECKPOINT_NAME_MAX bytes); returns buf. */
char *checkpoint_name(long epoch, char buf[CHECKPOINT_NAME_MAX]);

/* Whether epoch E has a metrics row, as the caller knows it. */
typedef int (*checkpoint_has_metrics_fn)(void *ctx, long epoch);

/* A predicate: CTX points to a long, the last reported epoch (-1: none). */
int checkpoint_upto(void *ctx, long epoch);

/*
 * Lists the complete checkpoints in the folder DIRFD (which it does not
 * close): every entry named exactly "epoch-N" that is a directory by
 * fstatat(AT_SYMLINK_NOFOLLOW), and for which HAS(CTX, N) is true (HAS NULL:
 * every one).  *out gets a malloc'd array of the epochs in ascending order
 * (NULL when there are none), owned by the caller; *n its length.  Returns
 * 0, or a negative errno (the folder cannot be read; -ENOMEM).  Entries
 * that vanish while it reads are skipped.
 */
MUST_CHECK int checkpoint_scan(int dirfd, checkpoint_has_metrics_fn has,
			       void *ctx, long **out, size_t *n);

/*
 * Keeps, of the ascending EPOCHS, those for which HAS(CTX, epoch) is true,
 * in place.  Returns the new length.  (checkpoint_scan() with HAS NULL,
 * then this under the job's lock, splits the folder read from the lookup.)
 */
size_t checkpoint_filter(long *epochs, size_t n, checkpoint_has_metrics_fn has,
			 void *ctx);

/*
 * Lists what a resume from epoch AFTER must clear away in the folder DIRFD:
 * every entry, of any type (links too), whose checkpoint_epoch_of_prefix()
 * is above AFTER: checkpoints of the epochs that will be trained again,
 * whole or not, and their temporary folders.  Left there, a stale epoch-M
 * would count again, with the old run's weights, once the resumed trainer
 * reports epoch M (and would make its rename onto epoch-M fail).  *names
 * gets a malloc'd array of malloc'd names (free with
 * checkpoint_names_free()), *n its length.  Returns 0 or a negative errno.
 */
MUST_CHECK int checkpoint_scan_after(int dirfd, long after, char ***names,
				     size_t *n);

void checkpoint_names_free(char **names, size_t n);

/* What retention decides for one list of complete checkpoints. */
struct checkpoint_plan {
	long weights; /* the epoch whose checkpoint becomes the weights; -1: none */
	long newest; /* the newest kept (status "checkpoint: epoch N"); -1: none */
	long *drop; /* epochs to delete, ascending; malloc'd, NULL when none */
	size_t ndrop;
};

/*
 * Decides, for the complete checkpoints EPOCHS (N of them, ascending, no
 * repeats), which becomes the weights and which to delete.  The weights:
 * with KEEP best, the checkpoint of BEST_EPOCH (-1: no best yet), or the
 * newest one if that epoch has none; with KEEP last, the newest one.  Kept:
 * the best epoch's checkpoint, the NEWEST newest ones (CHECKPOINT_KEEP_ALL:
 * all of them), and always the weights' one; every other is in drop.
 * Returns 0 and fills *plan (release it with checkpoint_plan_free()), or
 * -ENOMEM.
 */
MUST_CHECK int checkpoint_plan(const long *epochs, size_t n,
			       enum checkpoint_keep keep, long best_epoch,
			       long newest, struct checkpoint_plan *plan);

/* How long the pruner process may take before it is stopped. */
#define CHECKPOINT_PRUNE_MS 10000

/* Frees plan->drop and empties *plan; safe on a zeroed plan. */
void checkpoint_plan_free(struct checkpoint_plan *plan);

/*
 * Deletes the checkpoints EPOCHS (N of them) of the folder DIR as the user
 * UID/GID: runs "SELF_EXE __prune DIR UID GID epoch-N..." and waits for it
 * (or, when trainfs runs as UID/GID already, deletes them itself: the same
 * rights, without a process per epoch).  DIR is an absolute path, opened
 * O_NOFOLLOW by the owner.  Blocks for as long as the deletion takes, up
 * to CHECKPOINT_PRUNE_MS for the helper (then it is killed: -ETIMEDOUT):
 * call it with no lock held.  The deletion never enters another
 * filesystem (a mount of the owner's is left, with an error).  Returns 0,
 * or a negative errno (-EIO when the helper failed) with the first error
 * in ERR ("cannot delete 'epoch-3': Permission denied").
 */
MUST_CHECK int checkpoint_prune(const char *self_exe, const char *dir,
				uid_t uid, gid_t gid, const long *epochs,
				size_t n, char *err, size_t errlen);

/*
 * The same for NAMES (N of them), each a name checkpoint_epoch_of_prefix()
 * accepts (what checkpoint_scan_after() lists).
 */
MUST_CHECK int checkpoint_prune_names(const char *self_exe, const char *dir,
				      uid_t uid, gid_t gid, char *const *names,
				      size_t n, char *err, size_t errlen);

/*
 * The helper process: "trainfs __prune DIR UID GID NAME...".  DIR is an
 * absolute path, or the number of a descriptor it inherited open on the
 * folder.  As root it drops to UID/GID with that user's groups (and checks
 * root cannot be regained); as anyone else UID must be its own.  Then it
 * opens DIR O_DIRECTORY|O_NOFOLLOW and removes each NAME that
 * checkpoint_epoch_of_prefix() accepts with tree_remove(), which
 * never follows a link (a link is removed, not its target).  Other names
 * are refused.  Exits 0 when every one
 * is gone, else writes "error MESSAGE" lines to stderr and exits 1 (after
 * trying every name).
 */
int checkpoint_prune_main(int argc, char **argv);

#endif
