/*
 * ownpaths: the rules a spec's `weights` and `checkpoints_from` values
 * must follow (ownpaths.h), apart from the code that matches them on disk
 * (jobs/artifacts/ownfiles.c), so that the spec parser stays pure.
 */
#include <ctype.h>
#include <limits.h>
#include <string.h>

#include "jobs/model/ownpaths.h"

static int is_dotdot(const char *c, size_t len)
{
	return len == 2 && c[0] == '.' && c[1] == '.';
}

/* Why the relative path P (LEN bytes) cannot be matched, or NULL. */
static const char *path_problem(const char *p, size_t len)
{
	if (!len)
		return "must not be empty";
	if (p[0] == '/')
		return "not relative to the workdir";
	for (size_t i = 0; i < len;) {
		size_t j = i;
		while (j < len && p[j] != '/')
			j++;
		if (is_dotdot(p + i, j - i))
			return "must not contain '..'";
		i = j + 1;
	}
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)p[i] < 0x20 || p[i] == 0x7f)
			return "must not contain control characters";
	return len >= PATH_MAX ? "too long" : NULL;
}

const char *ownpaths_weights_problem(const char *value)
{
	const char *p = value, *why;
	int words = 0;
	while (*p) {
		size_t n;
		p += strspn(p, " \t");
		if (!*p)
			break;
		n = strcspn(p, " \t");
		if ((why = path_problem(p, n)))
			return why;
		words++;
		p += n;
	}
	return words ? NULL : "must not be empty";
}

const char *ownpaths_pattern_problem(const char *pattern)
{
	size_t len = strlen(pattern);
	const char *why, *at = strstr(pattern, EPOCH_TOKEN);
	if (strpbrk(pattern, " \t"))
		return "must not contain white space";
	if ((why = path_problem(pattern, len)))
		return why;
	if (!at || strstr(at + EPOCH_TOKEN_LEN, EPOCH_TOKEN))
		return "must contain {epoch} once";
	return NULL;
}

/* Whether NAME can be a match at all: no control characters. */
