/*
 * pack_main: the packer process, "trainfs __pack SRC_DIR COMPRESSION UID
 * GID MANIFEST [weights VALUE | checkpoint PATTERN EPOCH]".  It checks its
 * arguments, drops to the job owner's uid, gid and groups before reading
 * anything, picks what to pack (the output folder, the files a `weights`
 * value names, or one checkpoint) and has pack.c write the tarball to its
 * stdout, which trainfs opened for it.  It reports "progress NN" lines and
 * one last "error MSG" or "fail MSG" line on stderr, a pipe trainfs
 * reads; its exit status says whether the tarball is whole (and synced).
 *
 * It runs alone in its own process: no locks.
 */
#include <errno.h>
#include <fcntl.h>
#include <locale.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "jobs/artifacts/ownfiles.h"
#include "jobs/artifacts/pack.h"
#include "store/store.h"
#include "util/file.h"
#include "util/privs.h"
#include "util/text.h"

/*
 * Writes "KIND MSG\n" to stderr and returns 1, the packer's exit status.
 * KIND "error": packing failed; "fail": the job has no weights to pack
 * (a `weights` path matched nothing), said to the user as it is.
 */
static int pack_say(const char *kind, const char *fmt, va_list ap)
{
	char line[1024], msg[1024];
	size_t k = strlen(kind);
	int n = vsnprintf(msg, sizeof msg, fmt, ap);

	if (n < 0)
		n = 0;
	if (n > (int)sizeof msg - 1)
		n = (int)sizeof msg - 1;
	memcpy(line, kind, k);
	line[k++] = ' ';
	/* File names are the trainer's: one line, no control characters. */
	text_escape(line + k, sizeof line - k - 1, msg, (size_t)n, 0);
	n = (int)strlen(line);
	line[n++] = '\n';
	/* If stderr is gone too, the exit status still says it failed. */
	(void)!file_write_all(2, line, (size_t)n);
	return 1;
}

static int pack_die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int pack_die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	pack_say("error", fmt, ap);
	va_end(ap);
	return 1;
}

static int pack_nothing(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));
static int pack_nothing(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	pack_say("fail", fmt, ap);
	va_end(ap);
	return 1;
}

/*
 * The match modes of pack_main(): ARGV[7] is "weights VALUE" or
 * "checkpoint PATTERN EPOCH" and ARGV[2] the workdir.  Runs as the owner.
 */
static int pack_matches_main(int argc, char **argv,
			     enum compression compression)
{
	struct ownfile *m = NULL;
	size_t n = 0;
	char err[1024];
	int rc, nolinks = !strcmp(argv[7], "checkpoint");
	int wdfd = open(argv[2], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (wdfd < 0 || fchdir(wdfd) < 0)
		return pack_die("cannot open the workdir '%s': %s", argv[2],
				strerror(errno));
	if (!nolinks && argc == 9) {
		rc = ownfiles_weights(wdfd, argv[8], &m, &n, err, sizeof err);
		if (rc)
			return rc > 0 ? pack_nothing("%s", err) :
					pack_die("%s", err);
	} else if (nolinks && argc == 10) {
		char *end;
		long e = strtol(argv[9], &end, 10);
		if ((rc = ownfiles_scan(wdfd, argv[8], &m, &n)))
			return pack_die("cannot scan '%s': %s", argv[8],
					strerror(-rc));
		size_t k = 0;
		for (size_t i = 0; i < n; i++) {
			if (m[i].epoch == e && !*end) {
				struct ownfile t = m[k];
				m[k++] = m[i];
				m[i] = t;
			}
		}
		if (!k) {
			ownfiles_free(m, n);
			return pack_die("the checkpoint '%s' of epoch %s is "
					"gone",
					argv[8], argv[9]);
		}
		for (size_t i = k; i < n; i++)
			free(m[i].path);
		n = k;
	} else {
		return pack_die("usage: trainfs __pack WORKDIR COMPRESSION UID "
				"GID MANIFEST (weights VALUE | checkpoint "
				"PATTERN EPOCH)");
	}
	rc = pack_run_matches(wdfd, m, n, nolinks, 1, compression, argv[6], 2,
			      err, sizeof err);
	ownfiles_free(m, n);
	close(wdfd);
	return rc < 0 ? pack_die("%s", err) : 0;
}

int pack_main(int argc, char **argv)
{
	enum compression compression;
	unsigned int uid, gid;
	char err[1024];

	if (argc < 7 || (argc > 7 && argc < 9))
		return pack_die("usage: trainfs __pack SRC_DIR COMPRESSION "
				"UID GID MANIFEST");
	if (!strcmp(argv[3], "none"))
		compression = COMPRESS_NONE;
	else if (!strcmp(argv[3], "gzip"))
		compression = COMPRESS_GZIP;
	else if (!strcmp(argv[3], "zstd"))
		compression = COMPRESS_ZSTD;
	else
		return pack_die("unknown compression '%s'", argv[3]);
	if (privs_parse_id(argv[4], &uid) < 0)
		return pack_die("bad uid '%s'", argv[4]);
	if (privs_parse_id(argv[5], &gid) < 0)
		return pack_die("bad gid '%s'", argv[5]);

	/*
	 * Lets libarchive store UTF-8 names as UTF-8 pax names.  Without this
	 * locale they are stored as raw bytes (hdrcharset=BINARY), still
	 * readable, so a failure here is no error.
	 */
	(void)setlocale(LC_CTYPE, "C.UTF-8");

	/* A vanished reader should be an error message, not a silent death. */
	if (signal(SIGPIPE, SIG_IGN) == SIG_ERR)
		return pack_die("cannot ignore SIGPIPE: %s", strerror(errno));

	if (geteuid() == 0) {
		if (uid != 0 && privs_drop(uid, gid, err, sizeof err) < 0)
			return pack_die("%s", err);
	} else if (uid != getuid() || uid != geteuid()) {
		return pack_die("cannot switch to uid %u", uid);
	}

	if (argc > 7)
		return pack_matches_main(argc, argv, compression);
	if (pack_run(argv[2], 1, compression, argv[6], 2, err, sizeof err) < 0)
		return pack_die("%s", err);
	return 0;
}
