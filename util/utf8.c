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

int utf8_is_noncharacter(unsigned int cp)
{
	/* U+FDD0..U+FDEF, and the last two code points of every plane. */
	return (cp >= 0xfdd0 && cp <= 0xfdef) || (cp & 0xfffe) == 0xfffe;
}

/*
 * The code points of general category Cf (format: soft hyphen, zero
 * widths, the bidirectional marks and overrides, tag characters, ...) as
 * of Unicode 15.1, with Zl (U+2028) and Zp (U+2029), which lie inside one
 * of its runs.  Sorted, for a binary search.
 */
static const struct {
	unsigned int lo, hi;
} format_ranges[] = {
	{ 0x00ad, 0x00ad },   { 0x0600, 0x0605 },   { 0x061c, 0x061c },
	{ 0x06dd, 0x06dd },   { 0x070f, 0x070f },   { 0x0890, 0x0891 },
	{ 0x08e2, 0x08e2 },   { 0x180e, 0x180e },   { 0x200b, 0x200f },
	{ 0x2028, 0x202e },   { 0x2060, 0x2064 },   { 0x2066, 0x206f },
	{ 0xfeff, 0xfeff },   { 0xfff9, 0xfffb },   { 0x110bd, 0x110bd },
	{ 0x110cd, 0x110cd }, { 0x13430, 0x1343f }, { 0x1bca0, 0x1bca3 },
	{ 0x1d173, 0x1d17a }, { 0xe0001, 0xe0001 }, { 0xe0020, 0xe007f },
};

int utf8_is_format(unsigned int cp)
{
	size_t lo = 0, hi = sizeof format_ranges / sizeof *format_ranges;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (cp < format_ranges[mid].lo)
			hi = mid;
		else if (cp > format_ranges[mid].hi)
			lo = mid + 1;
		else
			return 1;
	}
	return 0;
}
