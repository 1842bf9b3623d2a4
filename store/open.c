/*
 * open: opening a trainfs store and closing it: where it is (its real
 * path), the one-trainfs claim, the private-store checks, the database,
 * its schema upgrade, the sweeps' orphans and the deleter thread; the
 * reverse at close.  The only file of store/ that calls all the others,
 * so that none of them calls back into it.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "store/parents.h"
#include "store/store_i.h"
#include "store/sweeps.h"
#include "util/beneath.h"
#include "util/file.h"
#include "util/lock.h"
#include "util/log.h"

/*
 * One trainfs per store: an exclusive flock() on STORE/lock, held for as
 * long as the store is open (a daemonizing fork keeps it: the lock belongs
 * to the open file, not the process) and dropped by the kernel when
 * trainfs dies, however it dies.  The file names the holder's pid, for
 * the message a second trainfs gives.  Close-on-exec, so no shim or packer
 * keeps it.  Returns 0 or -EBUSY (said on stderr) or -errno.
 */
static int store_claim(struct store *s)
{
	char path[PATH_MAX], buf[PATH_MAX + 32];
	if (snprintf(path, sizeof path, "%s/lock", s->dir) >= (int)sizeof path)
		return -ENAMETOOLONG;
	int fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	int rc = store_claim_lock(fd, buf, sizeof buf);
	if (rc) {
		close(fd);
		if (rc != -EBUSY)
			return rc;
		log_fatal("store %s is in use by pid %ld", s->dir,
			  strtol(buf, NULL, 10));
		return -EBUSY;
	}
	s->lock_fd = fd;
	return store_claim_pid(s, NULL);
}

int store_claim_pid(struct store *s, const char *mountpoint)
{
	char buf[PATH_MAX + 32];
	int n = store_lock_text(buf, sizeof buf, mountpoint);
	if (n < 0)
		return n;
	if (ftruncate(s->lock_fd, 0) < 0 || pwrite(s->lock_fd, buf, n, 0) != n)
		return -errno;
	return 0;
}

/*
 * Resolves GIVEN and checks the folders above it before and after making
 * what is missing of it.  Returns 0 and *REAL, STORE_REFUSED (said) or
 * -errno.
 */
static int store_place(const char *given, char **real)
{
	char *again = NULL;
	int rc = store_parents_check(given, real);
	if (!rc && (rc = file_mkdir_p(*real, 0755, 0711)) < 0)
		log_error("cannot create store '%s': %s", given, strerror(-rc));
	else if (!rc && !(rc = store_parents_check(*real, &again)) &&
		 strcmp(again, *real))
		rc = -EAGAIN; /* it moved meanwhile */
	free(again);
	if (rc == -EPERM)
		rc = STORE_REFUSED;
	if (rc) {
		free(*real);
		*real = NULL;
	}
	return rc;
}

int store_open(const char *store_dir, struct store **out)
{
	char path[PATH_MAX];
	int rc;
	struct store *s = calloc(1, sizeof *s);
	if (!s)
		return -ENOMEM;
	s->lock_fd = -1;
	s->dir_fd = -1;
	store_init_locks(s);
	if ((rc = store_place(store_dir, &s->dir))) {
		store_close(s);
		return rc;
	}
	if (snprintf(path, sizeof path, "%s/trainfs.db", s->dir) >=
	    (int)sizeof path) {
		rc = -ENAMETOOLONG;
		goto fail;
	}
	if ((rc = store_prepare_dir(s->dir, &s->dir_fd)) < 0)
		goto fail;
	if ((rc = store_claim(s)))
		goto fail;
	if (sqlite3_open_v2(path, &s->db,
			    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
				    SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_NOFOLLOW,
			    NULL) != SQLITE_OK) {
		rc = db_error(s, "opening the database");
		goto fail;
	}
	sqlite3_busy_timeout(s->db, 5000);
	if ((rc = exec_sql(s, "PRAGMA journal_mode=WAL;"
			      "PRAGMA synchronous=NORMAL;"
			      "PRAGMA foreign_keys=ON;")) ||
	    (rc = store_migrate(s)))
		goto fail;
	for (int i = 0; i < Q_COUNT; i++)
		if (sqlite3_prepare_v3(s->db, store_queries[i], -1,
				       SQLITE_PREPARE_PERSISTENT, &s->q[i],
				       NULL) != SQLITE_OK) {
			rc = db_error(s, "preparing a query");
			goto fail;
		}
	if ((rc = store_sweep_orphans(s)))
		goto fail;
	*out = s;
	return 0;
fail:
	store_close(s);
	return rc;
}

void store_close(struct store *s)
{
	if (!s)
		return;
	store_stop_deleter(s);
	for (int i = 0; i < Q_COUNT; i++)
		sqlite3_finalize(s->q[i]);
	sqlite3_close(s->db);
	if (s->lock_fd >= 0)
		close(s->lock_fd);
	if (s->dir_fd >= 0)
		close(s->dir_fd);
	free(s->dir);
	lock_destroy(&s->lock);
	lock_destroy(&s->trash_lock);
	pthread_cond_destroy(&s->trash_more);
	free(s);
}
