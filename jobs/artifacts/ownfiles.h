/*
 * ownfiles: the files a trainer saves on its own, in its workdir, as the
 * spec names them: `weights = PATH ...` (paths or shell wildcards) and
 * `checkpoints_from = PATTERN` (one file or folder per epoch, the epoch
 * number where PATTERN says {epoch}).
 *
 * Everything here runs as the job's owner (the packer, the scan helper
 * "trainfs __ckscan", or trainfs itself when it is the owner already), so
 * a trainer can name only files it could read.  Neither matcher follows a
 * symbolic link out of the workdir:
 *
 *   ownfiles_weights()  expands each PATH with glob(3) inside the workdir,
 *                       then opens each match with openat2(RESOLVE_BENEATH):
 *                       a match whose resolved location leaves the workdir
 *                       is refused, with an error;
 *   ownfiles_scan()     walks PATTERN one component at a time with openat
 *                       (O_NOFOLLOW), never following a link at all, never
 *                       entering a folder of another filesystem (told by
 *                       statx(AT_STATX_DONT_SYNC), which asks nothing of a
 *                       mount that might not answer), and takes each
 *                       regular file or folder the last component matches.
 *
 * Patterns: `*`, `?` and `[...]` as in the shell (fnmatch with FNM_PERIOD:
 * a leading dot must be written), relative to the workdir, no `..`.
 * `{epoch}` stands for one or more decimal digits, read as the epoch.
 */
#ifndef TRAINFS_OWNFILES_H
#define TRAINFS_OWNFILES_H

#include <stddef.h>
#include <sys/types.h>
#include "util/compiler.h"

/* More matches than this of one pattern are left out (bounds one scan). */
#define OWNFILES_MAX_MATCHES 10000

/* One file or folder matched in the workdir. */
struct ownfile {
	char *path; /* relative to the workdir, malloc'd */
	long epoch; /* the number {epoch} stood for; -1 without {epoch} */
	long long mtime_ns;
};

/*
 * Whether NAME matches the pattern component PAT, in which "{epoch}" may
 * stand once for a run of digits: sets *epoch to that number (at most
 * 1,000,000,000; leading zeros allowed), or -1 when PAT has no {epoch}.
 * Returns 1 or 0.
 */
int ownfiles_match(const char *pat, const char *name, long *epoch);

/*
 * Finds PATTERN's matches in the workdir WDFD (not closed), as described
 * above.  *out gets a malloc'd array (free with ownfiles_free()), sorted by
 * epoch then path, *n its length.  Returns 0 (no match is not an error)
 * or a negative errno (-ENOMEM).
 */
MUST_CHECK int ownfiles_scan(int wdfd, const char *pattern,
			     struct ownfile **out, size_t *n);

/*
 * Expands a `weights` VALUE in the workdir WDFD, which must be the
 * process's working folder too (glob(3) reads it from there).  Every match
 * is opened with openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS), so a
 * link is followed only while it stays inside the workdir.  Of matches
 * with the same last name (runs/a/best.pt, runs/b/best.pt) the most
 * recently modified one is kept: the tarball holds one member per name.
 * Returns 0 with *out, *n set; 1 when a PATH matched nothing (ERR: "no
 * weights were saved: 'PATH' matched nothing"); -1 with ERR set on any
 * other failure ("'x.pt' leads out of the workdir").
 */
MUST_CHECK int ownfiles_weights(int wdfd, const char *value,
				struct ownfile **out, size_t *n, char *err,
				size_t errlen);

/* Frees N entries of LIST and LIST; safe on NULL. */
void ownfiles_free(struct ownfile *list, size_t n);

/*
 * Opens PATH (relative to WDFD) for reading, never leaving the workdir;
 * with NOLINKS, following no link at all.  Returns the fd or -errno
 * (-EXDEV: it leads out of the workdir).
 */
MUST_CHECK int ownfiles_open(int wdfd, const char *path, int nolinks);

/*
 * The scan as the job's owner: runs "SELF_EXE __ckscan WORKDIR UID GID
 * PATTERN" and reads its matches (or scans in this process when it runs as
 * UID/GID already).  Waits at most OWNFILES_SCAN_SECONDS for the helper
 * (a workdir on a filesystem that does not answer: -ETIMEDOUT, the helper
 * killed and reaped later).  Returns 0 with *out, *n as ownfiles_scan(),
 * or -errno.
 */
#define OWNFILES_SCAN_SECONDS 10
MUST_CHECK int ownfiles_scan_as(const char *self_exe, const char *workdir,
				uid_t uid, gid_t gid, const char *pattern,
				struct ownfile **out, size_t *n);

/*
 * The helper process: "trainfs __ckscan WORKDIR UID GID PATTERN".  Drops
 * to UID/GID when root, scans, and writes one "EPOCH PATH" line per match
 * to stdout.  Exits 0, or 1 with "error MESSAGE" on stderr.
 */
int ownfiles_scan_main(int argc, char **argv);

#endif
