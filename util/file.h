/*
 * file: writing files whole (file.c).  Every function returns 0 or -errno
 * and leaves errno set as the failing call did.
 */
#ifndef TRAINFS_FILE_H
#define TRAINFS_FILE_H

#include <stddef.h>
#include <sys/types.h>

#include "util/compiler.h"

/*
 * write(2) until all LEN bytes of BUF are written, again after EINTR.
 * 0, or -errno with errno set (-EIO for a write that wrote nothing).
 */
MUST_CHECK int file_write_all(int fd, const void *buf, size_t len);

/*
 * Writes PATH atomically (temp PATH.tmp, fsync, rename, fsync of the
 * folder), mode 0600, never through a link at PATH.tmp.  0 or -errno.
 */
MUST_CHECK int file_write_atomic(const char *path, const void *buf, size_t len);

/* Makes PATH's missing parents with PARENT_MODE and PATH with MODE. */
MUST_CHECK int file_mkdir_p(const char *path, mode_t parent_mode, mode_t mode);

#endif
