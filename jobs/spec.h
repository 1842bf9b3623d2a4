/*
 * spec: the one parser of a job's "key = value" spec file.
 *
 * A spec is stored as the user wrote it; spec_parse() is run on it when it
 * is closed and again at start.  It never fails on memory or odd bytes
 * silently: it either fills a struct spec or writes one git-style message
 * ("spec line 3: unknown key 'epoch'") and returns -1.
 */
#ifndef TRAINFS_SPEC_H
#define TRAINFS_SPEC_H

#include <stddef.h>

enum compression { COMPRESS_NONE, COMPRESS_GZIP, COMPRESS_ZSTD };

struct spec_env {
	char *name; /* variable name, e.g. CUDA_VISIBLE_DEVICES */
	char *value;
};

struct spec {
	char *command;  /* required; run by /bin/sh -c */
	char *workdir;  /* NULL: the job's scratch folder */
	long epochs;    /* 0: not set */
	char *monitor;  /* NULL: not set */
	int mode_min;   /* 0: max (default), 1: min */
	long patience;  /* 0: auto-stop off */
	double min_delta;
	int stop_signal; /* signal number; default SIGTERM */
	double grace;    /* seconds; default 60 */
	enum compression compression;
	struct spec_env *env;
	size_t nenv;
};

/*
 * Parses LEN bytes of TEXT (need not be NUL-terminated).  On success returns
 * 0 and fills *out, which the caller releases with spec_free().  On a bad
 * spec returns -1, leaves *out zeroed and writes the reason into err (always
 * NUL-terminated when errlen > 0), e.g. "spec line 2: unknown key 'epoch'",
 * "spec line 4: bad value 'x' for 'epochs': not a whole number",
 * "spec: 'command' is required".
 */
int spec_parse(const char *text, size_t len, struct spec *out, char *err,
	       size_t errlen);

/* Frees what spec_parse() allocated in *s and zeroes it; safe on a zeroed spec. */
void spec_free(struct spec *s);

/* The name of a signal number as the spec spells it ("TERM"), or NULL. */
const char *spec_signal_name(int sig);

/* The file name suffix of a compression: "", ".gz" or ".zst". */
const char *spec_compression_suffix(enum compression c);

#endif
