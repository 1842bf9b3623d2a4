/*
 * log: the one logger of trainfs (libfuse's fuse_log() and conmon's
 * nwarn/nexit are the models).  Every message of the daemon goes through
 * it: to STORE/trainfs.log once log_open() has named the file, and to
 * stderr in the foreground (or before a file is open).  The file is
 * bounded: past LOG_FILE_MAX bytes it is renamed to trainfs.log.1 (the
 * one before is dropped) and a new one begun, so it cannot fill the disk.
 *
 * Lines read "2026-11-30T10:00:00Z error: job 'x': cannot ..." in the
 * file and "trainfs: error: job 'x': cannot ..." on stderr: lowercase,
 * what went wrong first, the subject quoted (git's habit).
 */
#ifndef TRAINFS_LOG_H
#define TRAINFS_LOG_H

#define LOG_FILE_MAX (4 * 1024 * 1024)

/*
 * LOG_FATAL is for the few messages that end trainfs before it serves
 * (a store in use, a store others can write): on stderr they read
 * "trainfs: MSG", exactly as the SPEC words them.
 */
enum log_level { LOG_FATAL, LOG_ERROR, LOG_WARNING, LOG_INFO, LOG_DEBUG };

/*
 * Sends messages to PATH (appended, 0600) as well as, when TO_STDERR, to
 * stderr.  Returns 0 or -errno (the logger then keeps to stderr).
 */
int log_open(const char *path, int to_stderr);
/* Closes the file; messages go to stderr again. */
void log_close(void);
/* Whether messages also go to stderr (off once daemonized). */
void log_to_stderr(int on);
/* Messages below LEVEL are dropped (default LOG_INFO). */
void log_set_level(enum log_level level);

void log_msg(enum log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define log_fatal(...) log_msg(LOG_FATAL, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARNING, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)

#endif
