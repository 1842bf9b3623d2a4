/*
 * text: showing text that came from a trainer or its files (file names,
 * log lines) without letting it act on a terminal or a parser: control
 * characters are escaped, never passed on raw.
 */
#ifndef TRAINFS_TEXT_H
#define TRAINFS_TEXT_H

#include <stddef.h>
#include <stdio.h>

/* text_escape() flags */
#define TEXT_ASCII 1 /* escape every byte past ASCII too: plain ASCII out */

/*
 * Writes the N bytes of IN into OUT (LEN bytes, always NUL-terminated when
 * LEN > 0) with control characters escaped: \r \n \t as those two
 * characters, the other C0 controls, DEL, the C1 controls (U+0080 to
 * U+009F) and bytes that are not UTF-8 as \xNN (ESC is \x1b); with
 * TEXT_ASCII in FLAGS, every byte past ASCII as \xNN.  Printable ASCII and
 * valid UTF-8 stay as they are, backslashes too, so escaping escaped text
 * changes nothing.  Output that does not fit is cut before an escape or a
 * character, never inside one.  Returns OUT.
 */
char *text_escape(char *out, size_t len, const char *in, size_t n, int flags);

/*
 * Quotes the N bytes of TEXT into OUT (LEN bytes) for a message: white
 * space trimmed at both ends, cut at 64 bytes with "..." after it, and
 * escaped as by text_escape() with TEXT_ASCII.
 */
void text_quote(char *out, size_t len, const char *text, size_t n);

/*
 * The message for a refused control write, "'TEXT': WHY": TEXT (N bytes)
 * quoted by text_quote(), WHY escaped to plain ASCII.  Returns a string
 * the caller frees (and logs), or NULL when out of memory.
 */
char *text_refusal(const char *text, size_t n, const char *why);

/*
 * Writes V (NULL: nothing) to F as one CSV field (RFC 4180): quoted, its
 * quotes doubled, when it holds a comma, a quote or a line break.
 */
void text_csv_field(FILE *f, const char *v);

/*
 * Writes the first N bytes of S (up to a NUL) to F as HTML or XML text,
 * in an element or a quoted attribute alike: & < > " ' as references,
 * and a control character (tab kept) as its Unicode picture (U+2400 +
 * the code, U+2421 for DEL), so nothing a trainer names can end the
 * markup or hide in it.
 */
void text_markup(FILE *f, const char *s, size_t n);

#endif
