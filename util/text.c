/*
 * text: see text.h.  One pass over the bytes; a UTF-8 sequence is checked
 * whole (no overlong forms, no surrogates, nothing past U+10FFFF) before
 * it is copied, so a stray lead byte cannot swallow what follows.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/text.h"

/* Length of the valid UTF-8 character at S (N bytes left), 0 if none. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
	size_t len;
	unsigned cp;
	if (s[0] < 0xc2 || s[0] > 0xf4)
		return 0;
	len = s[0] < 0xe0 ? 2 : s[0] < 0xf0 ? 3 : 4;
	if (len > n)
		return 0;
	cp = s[0] & (0x7f >> len);
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		return 0;
	if (cp >= 0x80 && cp <= 0x9f)
		return 0; /* C1 controls: escaped byte by byte */
	return len;
}

char *text_escape(char *out, size_t len, const char *in, size_t n, int flags)
{
	const unsigned char *s = (const unsigned char *)in;
	size_t o = 0, i = 0;
	if (!len)
		return out;
	while (i < n) {
		char esc[8];
		const char *piece;
		size_t plen, u;
		if (s[i] >= 0x20 && s[i] < 0x7f) {
			piece = in + i;
			plen = 1;
		} else if (s[i] >= 0x80 && !(flags & TEXT_ASCII) &&
			   (u = utf8_len(s + i, n - i))) {
			piece = in + i;
			plen = u;
		} else {
			if (s[i] == '\r')
				strcpy(esc, "\\r");
			else if (s[i] == '\n')
				strcpy(esc, "\\n");
			else if (s[i] == '\t')
				strcpy(esc, "\\t");
			else
				snprintf(esc, sizeof esc, "\\x%02x", s[i]);
			piece = esc;
			plen = strlen(esc);
			if (o + plen >= len)
				break;
			memcpy(out + o, piece, plen);
			o += plen;
			i++;
			continue;
		}
		if (o + plen >= len)
			break;
		memcpy(out + o, piece, plen);
		o += plen;
		i += plen;
	}
	out[o] = '\0';
	return out;
}

void text_csv_field(FILE *f, const char *v)
{
	if (!v)
		return;
	if (!v[strcspn(v, ",\"\r\n")]) {
		fputs(v, f);
		return;
	}
	fputc('"', f);
	for (; *v; v++) {
		if (*v == '"')
			fputc('"', f);
		fputc(*v, f);
	}
	fputc('"', f);
}

void text_markup(FILE *f, const char *s, size_t n)
{
	for (size_t i = 0; i < n && s[i]; i++) {
		unsigned char c = (unsigned char)s[i];
		switch (c) {
		case '&':
			fputs("&amp;", f);
			break;
		case '<':
			fputs("&lt;", f);
			break;
		case '>':
			fputs("&gt;", f);
			break;
		case '"':
			fputs("&quot;", f);
			break;
		case '\'':
			fputs("&#39;", f);
			break;
		default:
			if ((c < 0x20 && c != '\t') || c == 0x7f)
				fprintf(f, "&#%d;",
					c == 0x7f ? 0x2421 : 0x2400 + c);
			else
				fputc(c, f);
		}
	}
}

void text_quote(char *out, size_t len, const char *text, size_t n)
{
	/* The white space control writes may carry. */
	while (n && *text && strchr(" \t\n\r\v\f", *text)) {
		text++;
		n--;
	}
	while (n && text[n - 1] && strchr(" \t\n\r\v\f", text[n - 1]))
		n--;
	int cut = n > 64 && len >= 4;
	text_escape(out, cut ? len - 3 : len, text, cut ? 64 : n, TEXT_ASCII);
	if (cut)
		strcat(out, "...");
}

char *text_refusal(const char *text, size_t n, const char *why)
{
	char q[300], esc[1024], msg[1400];
	text_quote(q, sizeof q, text, n);
	/* The reason may quote a spec error (UTF-8 kept): control is ASCII. */
	text_escape(esc, sizeof esc, why, strlen(why), TEXT_ASCII);
	snprintf(msg, sizeof msg, "'%s': %s", q, esc);
	return strdup(msg);
}
