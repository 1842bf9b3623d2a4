/*
 * src_jsonl: the decoder of a trainer's JSON lines log: one JSON object
 * per line, read as a metrics line in JSON ({"epoch": 3, "loss": 0.5}),
 * by the one metrics parser.  Pure: no I/O, no locks.  Anything else on a
 * line (a Python repr, a "name=value" line) is not a JSON object, so a
 * text log named by mistake shows as bad lines, not as metrics.
 */
#ifndef TRAINFS_SRC_JSONL_H
#define TRAINFS_SRC_JSONL_H

#include <stddef.h>

#include "jobs/model/metrics.h"
#include "util/compiler.h"

/*
 * Takes LINE (LEN bytes, no newline).  Returns 2 for a blank line (no
 * row), else what metrics_parse_line() returns (0 a row, 1 a row with
 * pairs left out, -1 refused, each with the reason in WHY), and -1 with
 * "not a JSON object" for a line that does not start with '{'.
 */
MUST_CHECK int src_jsonl_line(const char *line, size_t len,
			      struct metrics_line *out, char *why,
			      size_t whylen);

#endif
