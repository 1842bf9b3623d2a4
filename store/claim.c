/*
 * claim: one trainfs per store, and the grace a newcomer gives one that is
 * leaving.  The holder keeps an exclusive flock() on STORE/lock and writes
 * its pid there, and once mounted its mount point ("PID\nMOUNT\n").  A
 * holder whose mount point is no longer mounted has been unmounted and is
 * only finishing its exit (closing the database, letting its threads go),
 * so a newcomer waits for the lock, up to CLAIM_WAIT_MS, instead of
 * refusing the store: `fusermount3 -u MOUNT; trainfs MOUNT ...` in a
 * script works.  A holder still mounted, or not yet mounted, is refused at
 * once.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "store/store.h"

#define CLAIM_WAIT_MS 10000
#define CLAIM_POLL_MS 20

/* Undoes mountinfo's octal escapes (\040 for a space) in place. */
static void unescape_octal(char *s)
{
	char *w = s;
	for (char *r = s; *r; r++) {
		if (r[0] == '\\' && r[1] >= '0' && r[1] <= '7' && r[2] >= '0' &&
		    r[2] <= '7' && r[3] >= '0' && r[3] <= '7') {
			*w++ = (char)((r[1] - '0') * 64 + (r[2] - '0') * 8 +
				      (r[3] - '0'));
			r += 3;
		} else {
			*w++ = *r;
		}
	}
	*w = '\0';
}

/* Whether MOUNT is a FUSE mount point now.  -errno if that is unknown. */
static int fuse_mounted_at(const char *mount)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char *line = NULL;
	size_t cap = 0;
	int found = 0;
	if (!f)
		return -errno;
	while (!found && getline(&line, &cap, f) > 0) {
		/* ID PARENT MAJ:MIN ROOT MOUNT OPTIONS ... - FSTYPE ... */
		char *field[5], *save = NULL, *p = line;
		int n = 0;
		while (n < 5 && (field[n] = strtok_r(p, " ", &save)))
			p = NULL, n++;
		char *dash = n == 5 ? strstr(save ? save : "", " - ") : NULL;
		if (!dash)
			continue;
		unescape_octal(field[4]);
		found = !strcmp(field[4], mount) &&
			!strncmp(dash + 3, "fuse", 4);
	}
	free(line);
	fclose(f);
	return found;
}

int store_lock_text(char *buf, size_t len, const char *mountpoint)
{
	char abs[PATH_MAX];
	int n;
	if (mountpoint && realpath(mountpoint, abs))
		n = snprintf(buf, len, "%ld\n%s\n", (long)getpid(), abs);
	else
		n = snprintf(buf, len, "%ld\n", (long)getpid());
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : n;
}

/* Whether the holder that wrote TEXT has been unmounted (it is leaving). */
static int holder_leaving(const char *text)
{
	const char *nl = strchr(text, '\n');
	if (!nl || !nl[1])
		return 0; /* not mounted yet: it is starting, not leaving */
	char mount[PATH_MAX];
	snprintf(mount, sizeof mount, "%.*s", (int)strcspn(nl + 1, "\n"),
		 nl + 1);
	return fuse_mounted_at(mount) == 0;
}

static void sleep_ms(long ms)
{
	struct timespec t = { ms / 1000, ms % 1000 * 1000000L };
	while (nanosleep(&t, &t) < 0 && errno == EINTR)
		;
}

int store_claim_lock(int fd, char *text, size_t len)
{
	for (long waited = 0;; waited += CLAIM_POLL_MS) {
		if (flock(fd, LOCK_EX | LOCK_NB) == 0)
			return 0;
		if (errno != EWOULDBLOCK)
			return -errno;
		ssize_t n = pread(fd, text, len - 1, 0);
		if (n < 0)
			return -errno;
		text[n] = '\0';
		if (waited >= CLAIM_WAIT_MS || !holder_leaving(text))
			return -EBUSY;
		sleep_ms(CLAIM_POLL_MS);
	}
}
