/*
 * Tests for util/text: control characters escaped, UTF-8 kept, bad bytes
 * escaped, escaping twice the same as once, and cuts never inside an
 * escape or a character.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test.h"
#include "util/text.h"

static const char *esc(const char *in, size_t n)
{
	static char out[256];
	return text_escape(out, sizeof out, in, n, 0);
}

#define ESC(s) esc(s, sizeof(s) - 1)

static void test_controls(void)
{
	CHECK_STR(ESC("plain name.bin"), "plain name.bin");
	CHECK_STR(ESC("x\r\x1b[31mred"), "x\\r\\x1b[31mred");
	CHECK_STR(ESC("a\nb\tc"), "a\\nb\\tc");
	CHECK_STR(ESC("nul\0end"), "nul\\x00end");
	CHECK_STR(ESC("del\x7f"), "del\\x7f");
	CHECK_STR(ESC("back\\slash"), "back\\slash");
}

static void test_utf8(void)
{
	CHECK_STR(ESC("mod\xc3\xa8le-\xc3\xbc \xe2\x9c\x93"),
		  "mod\xc3\xa8le-\xc3\xbc \xe2\x9c\x93");
	/* C1 CSI (U+009B) acts on some terminals: escaped. */
	CHECK_STR(ESC("a\xc2\x9b"
		      "31m"),
		  "a\\xc2\\x9b31m");
	/* Not UTF-8: a lone lead byte, an overlong '/', a surrogate. */
	CHECK_STR(ESC("\xc3(x"), "\\xc3(x");
	CHECK_STR(ESC("\xc0\xaf"), "\\xc0\\xaf");
	CHECK_STR(ESC("\xed\xa0\x80"), "\\xed\\xa0\\x80");
	CHECK_STR(ESC("cut\xe2\x9c"), "cut\\xe2\\x9c");
}

static void test_ascii(void)
{
	char out[64];
	text_escape(out, sizeof out, "mod\xc3\xa8le\r\\", 9, TEXT_ASCII);
	CHECK_STR(out, "mod\\xc3\\xa8le\\r\\");
}

static void test_idempotent(void)
{
	char once[256], twice[256];
	const char in[] = "x\r\x1b\xc2\x9b\xff\\r\xc3\xa8";
	text_escape(once, sizeof once, in, sizeof in - 1, 0);
	text_escape(twice, sizeof twice, once, strlen(once), 0);
	CHECK_STR(once, twice);
}

static void test_cut(void)
{
	char out[6];
	text_escape(out, sizeof out, "ab\x1b", 3, 0);
	CHECK_STR(out, "ab"); /* "\x1b" does not fit: left out whole */
	text_escape(out, sizeof out, "abcd\xc3\xa8", 6, 0);
	CHECK_STR(out, "abcd");
	text_escape(out, 1, "abc", 3, 0);
	CHECK_STR(out, "");
	CHECK_STR(text_escape(out, sizeof out, "abcdefgh", 8, 0), "abcde");
}

static void test_refusal(void)
{
	char *m = text_refusal(" \tstop now\n", 11, "not allowed while done");
	CHECK(m != NULL);
	CHECK_STR(m, "'stop now': not allowed while done");
	free(m);
	/* 2 + 80 bytes: cut at 64 bytes with "...", non-ASCII escaped. */
	char text[83] = "\xc3\xa9";
	memset(text + 2, 'x', 80);
	text[82] = 0;
	m = text_refusal(text, 82, "spec: '\xc3\xa9' unknown");
	CHECK(m != NULL);
	char want[200] = "'\\xc3\\xa9";
	memset(want + 9, 'x', 62);
	strcpy(want + 71, "...': spec: '\\xc3\\xa9' unknown");
	CHECK_STR(m, want);
	free(m);
	/* 64 bytes exactly: no cut. */
	char q[100];
	text_quote(q, sizeof q, text + 2, 64);
	CHECK(strlen(q) == 64 && !strchr(q, '.'));
}

/* One escaper for HTML and XML: markup, controls as their pictures. */
static void test_markup(void)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	const char in[] = "<a href=\"x\">&'\t\n\x1b\x7f\xe2\x9c\x93</a>";
	text_markup(f, in, sizeof in - 1);
	text_markup(f, "cut here", 3);
	fclose(f);
	CHECK_STR(buf, "&lt;a href=&quot;x&quot;&gt;&amp;&#39;\t&#9226;&#9243;"
		       "&#9249;\xe2\x9c\x93&lt;/a&gt;cut");
	free(buf);
}

TEST_MAIN("text", TEST(test_controls), TEST(test_utf8), TEST(test_idempotent),
	  TEST(test_ascii), TEST(test_cut), TEST(test_refusal),
	  TEST(test_markup))
