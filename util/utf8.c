/*
 * utf8: one decoder, so every rule that takes text refuses the same bytes.
 * A sequence is read whole: its lead byte says how many continuation
 * bytes follow, and the decoded value is then checked against the
 * smallest value that needs that many bytes (no overlong forms), against
 * the surrogates and against U+10FFFF.
 */
#include "util/utf8.h"

/* Decodes the sequence at S (N bytes readable); 0 when it is not one. */
size_t utf8_decode(const char *text, size_t n, unsigned int *cp)
{
	const unsigned char *s = (const unsigned char *)text;
	unsigned int c, min;
	size_t need, i;

	if (n == 0)
		return 0;
	if (s[0] < 0x80) {
		c = s[0];
		need = 0;
		min = 0;
	} else if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		c = s[0] & 0x1f;
		need = 1;
		min = 0x80;
	} else if ((s[0] & 0xf0) == 0xe0) {
		c = s[0] & 0x0f;
		need = 2;
		min = 0x800;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		c = s[0] & 0x07;
		need = 3;
		min = 0x10000;
	} else {
		return 0;
	}
	if (n < need + 1)
		return 0;
	for (i = 1; i <= need; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = c << 6 | (s[i] & 0x3f);
	}
	if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	if (cp)
		*cp = c;
	return need + 1;
}

int utf8_is_control(unsigned int cp)
{
	return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f);
}
