/*
 * utf8: the one UTF-8 decoder, for the rules that take text from users
 * (spec lines, job names).  It refuses what RFC 3629 refuses: overlong
 * forms, surrogates (U+D800..U+DFFF), code points past U+10FFFF, stray
 * continuation bytes and sequences cut short.
 */
#ifndef TRAINFS_UTF8_H
#define TRAINFS_UTF8_H

#include <stddef.h>

/*
 * Returns the length (1 to 4) of the valid UTF-8 sequence at S, of which
 * N >= 1 bytes may be read, and stores its code point in *CP (CP may be
 * NULL); returns 0 when S does not start a valid sequence.
 */
size_t utf8_decode(const char *s, size_t n, unsigned int *cp);

/* Whether CP is a control character: C0, DEL or C1 (U+0080..U+009F). */
int utf8_is_control(unsigned int cp);

/*
 * Whether CP is a Unicode noncharacter: U+FDD0..U+FDEF and U+xFFFE,
 * U+xFFFF of every plane (U+FFFE, U+10FFFF, ...).
 */
int utf8_is_noncharacter(unsigned int cp);

/*
 * Whether CP reorders, hides or breaks text: general category Cf
 * (U+200B, U+202E, U+FEFF, ...), Zl (U+2028) or Zp (U+2029).
 */
int utf8_is_format(unsigned int cp);

#endif
