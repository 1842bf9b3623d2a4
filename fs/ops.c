/*
 * ops: the operations table, the table of contents of the filesystem.
 * Each handler turns a request into a call on jobs/ and the result into an
 * errno; the rules (who may, when, what next) are in jobs/.  They live in
 * one file per kind of operation, as the kernel's own FUSE client splits
 * them:
 *
 *   node.c         lookup, getattr, setattr: paths to nodes, attributes
 *   dir.c          mkdir, rmdir, create, unlink, rename, readlink, ...
 *   readdir.c      opendir, readdir(plus), releasedir: listing snapshots
 *   file.c         open, read, write, poll, flush, release
 *   handle.c       what an open file or folder holds, and the list of them
 *   passthrough.c  init (the connection's capabilities), passthrough
 *   xattr.c        the extended attributes of job folders
 *   sweepfs.c      everything under sweeps/ (the handlers hand it over)
 *
 * The kernel may cache names and attributes for a day, and contents where
 * no reader can see a torn rendering: notify.c invalidates exactly what a
 * change made stale, before the write that made it returns.
 *
 * Locks (jobs/core/registry.h): a request about one job's files takes that
 * job's lock only (jobs_lock_job), so it never waits for another job's
 * work; the registry lock is taken alone, for names and listings.
 */
#include "fs/fs.h"

const struct fuse_lowlevel_ops trainfs_ops = {
	.init = op_init,     /* the connection: passthrough.c */
	.lookup = op_lookup, /* nodes and attributes: node.c */
	.getattr = op_getattr,
	.setattr = op_setattr,
	.mkdir = op_mkdir, /* what changes a folder: dir.c */
	.rmdir = op_rmdir,
	.mknod = op_mknod,
	.create = op_create,
	.unlink = op_unlink,
	.symlink = op_symlink,
	.readlink = op_readlink,
	.link = op_link,
	.rename = op_rename,
	.setxattr = op_setxattr, /* the extended attributes: xattr.c */
	.getxattr = op_getxattr,
	.listxattr = op_listxattr,
	.removexattr = op_removexattr,
	.opendir = op_opendir, /* listings: readdir.c */
	.readdir = op_readdir,
	.readdirplus = op_readdirplus,
	.releasedir = op_releasedir,
	.open = op_open, /* open files: file.c */
	.read = op_read,
	.write = op_write,
	.flush = op_flush,
	.release = op_release,
	.poll = op_poll,
};
