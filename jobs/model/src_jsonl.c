/*
 * src_jsonl: JSON lines into metrics lines (src_jsonl.h): a guard on the
 * first byte, then the metrics parser, which already bounds what a line
 * costs (its splitter's 64 KiB, a bracket stack of fixed depth).
 */
#include <stdio.h>
#include <string.h>

#include "jobs/model/src_jsonl.h"

int src_jsonl_line(const char *line, size_t len, struct metrics_line *out,
		   char *why, size_t whylen)
{
	size_t i = 0;

	memset(out, 0, sizeof *out);
	if (why && whylen)
		why[0] = '\0';
	while (i < len && (line[i] == ' ' || line[i] == '\t' ||
			   line[i] == '\r' || line[i] == '\f'))
		i++;
	if (i == len)
		return 2;
	if (line[i] != '{') {
		if (why && whylen)
			snprintf(why, whylen, "not a JSON object");
		return -1;
	}
	return metrics_parse_line(line, len, out, why, whylen);
}
