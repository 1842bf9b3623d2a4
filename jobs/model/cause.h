/*
 * cause: the words of a failed trainer's `error`: how it ended, the cause
 * where one is known (the shell's 127 and 126), then the log's last line,
 * escaped ("trainer exited with status 127 (command not found): sh: 1:
 * /no/such/trainer: not found").
 */
#ifndef TRAINFS_CAUSE_H
#define TRAINFS_CAUSE_H

#include <stddef.h>

/* How much of the log's end is read for its last line. */
#define CAUSE_LOG_TAIL 4096

/*
 * Writes into BUF (LEN bytes) the error of a trainer that ended with exit
 * CODE, or was killed by SIGNAL (> 0), followed by the last non-empty line
 * of the log at LOG_PATH (NULL or unreadable: nothing follows), with
 * control characters escaped.  Reads at most CAUSE_LOG_TAIL bytes.
 * Returns BUF.
 */
char *cause_describe(char *buf, size_t len, int code, int signal,
		     const char *log_path);

/* The last non-empty line of the log at PATH, escaped, into BUF; "" if none. */
char *cause_log_last_line(char *buf, size_t len, const char *path);

#endif
