/*
 * pack: writes a job's weights tarball.  The packer runs in its own process
 * ("trainfs __pack ..."), as the job's owner, so it reads the trainer's
 * output with the owner's rights only; trainfs opens the temporary file
 * and gives it to the owner (so the owner's disk quota applies); the
 * packer fsyncs it before it exits 0 (trainfs's thread that serves every
 * job never waits for that disk), and then trainfs renames it into
 * weights/, so no reader ever sees a partial archive.  Files with holes are stored sparse.
 */
#ifndef TRAINFS_PACK_H
#define TRAINFS_PACK_H

#include <stddef.h>

#include "jobs/model/spec.h"
#include "util/compiler.h"

/*
 * Writes a POSIX (pax) tar of the files below SRC_DIR, at the archive's top
 * level (names relative to SRC_DIR, no leading "./"), followed by a member
 * "trainfs.json" holding MANIFEST, to OUT_FD, compressed as COMPRESSION.
 * Symbolic links are stored as links, never followed; directories,
 * regular files and links are kept, other kinds are skipped.  Reports
 * progress as a whole percentage of file bytes packed: writes "progress
 * NN\n" to PROGRESS_FD (if >= 0) each time the number changes.  Returns 0,
 * or -1 with a message in err such as "No space left on device" or
 * "cannot read 'model.bin': Permission denied".
 */
MUST_CHECK int pack_run(const char *src_dir, int out_fd,
			enum compression compression, const char *manifest,
			int progress_fd, char *err, size_t errlen);

struct ownfile;

/*
 * The same for the N matches ROOTS in the workdir WDFD (ownfiles.h): each
 * at the archive's top level under its last name, a regular file as it
 * is, a folder with its content (links inside stored as links).  Each
 * match is opened again without leaving the workdir (NOLINKS: without
 * following any link); one that leads out of it fails the pack ("'x.pt'
 * leads out of the workdir"), one that vanished is left out.
 */
MUST_CHECK int pack_run_matches(int wdfd, const struct ownfile *roots, size_t n,
				int nolinks, int out_fd,
				enum compression compression,
				const char *manifest, int progress_fd,
				char *err, size_t errlen);

/*
 * The packer process: "trainfs __pack SRC_DIR COMPRESSION UID GID MANIFEST"
 * with the temporary tarball open on stdout and a pipe on stderr.  Drops to
 * UID/GID (with that user's groups) when run as root, then pack_run().
 * Progress lines go to stderr; on failure it writes "error MESSAGE\n" there
 * and exits 1.  COMPRESSION is none, gzip or zstd.
 *
 * "trainfs __pack WORKDIR COMPRESSION UID GID MANIFEST weights VALUE"
 * packs what the `weights` VALUE matches in WORKDIR (ownfiles_weights());
 * when a path of it matched nothing it writes "fail no weights were
 * saved: 'PATH' matched nothing" and exits 1.  "... checkpoint PATTERN
 * EPOCH" packs the matches of the `checkpoints_from` PATTERN whose
 * {epoch} is EPOCH, in the trainer's own numbering.
 */
int pack_main(int argc, char **argv);

#endif
