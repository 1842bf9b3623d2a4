/*
 * Unit tests of the name rules of jobs/core/job.c (the tree and tags in trainfs(1))
 * and of util/utf8.c, which decides what UTF-8 is: job names are any
 * UTF-8 text but '/', NUL and control characters, tags stay a small
 * ASCII set.
 */
#include <string.h>

#include "jobs/core/job.h"
#include "tests/unit/test.h"
#include "util/utf8.h"

static int job_ok(const char *name)
{
	return job_name_valid(name, strlen(name));
}

static int tag_ok(const char *name)
{
	return tag_name_valid(name, strlen(name));
}

static void test_job_names_accepted(void)
{
	char name[JOB_NAME_MAX + 2];

	CHECK(job_ok("yolo"));
	CHECK(job_ok("my run 3"));
	CHECK(job_ok("New Folder"));
	CHECK(job_ok("mod\xc3\xa8le-\xc3\xbc"));   /* modèle-ü */
	CHECK(job_ok("\xe2\x9c\x93 done"));	   /* ✓, U+2713 */
	CHECK(job_ok("\xf0\x9f\x9a\x80"));	   /* U+1F680 */
	CHECK(job_ok("\xf4\x8f\xbf\xbd"));	   /* U+10FFFD */
	CHECK(job_ok("\xef\xbf\xbd"));		   /* U+FFFD */
	CHECK(job_ok("\xef\xb7\x8f\xef\xb7\xb0")); /* U+FDCF, U+FDF0 */
	CHECK(job_ok("\xe2\x80\x8a"));		   /* U+200A, Zs */
	CHECK(job_ok("\xd9\xa0"));		   /* U+0660, Nd */
	CHECK(job_ok("\xc2\xa0nbsp"));		   /* U+00A0 */
	CHECK(job_ok("a.b"));
	CHECK(job_ok("x."));
	CHECK(job_ok("-rf"));
	CHECK(job_ok("=SUM(A1)"));
	CHECK(job_ok("a\\b"));
	memset(name, 'n', JOB_NAME_MAX);
	CHECK(job_name_valid(name, JOB_NAME_MAX));
	CHECK(JOB_NAME_MAX == 240);
	/* 240 bytes of two-byte characters */
	for (size_t i = 0; i < JOB_NAME_MAX; i += 2)
		memcpy(name + i, "\xc3\xa9", 2);
	CHECK(job_name_valid(name, JOB_NAME_MAX));
}

static void test_job_names_refused(void)
{
	char name[JOB_NAME_MAX + 2];

	CHECK(!job_ok(""));
	CHECK(!job_name_valid(NULL, 0));
	CHECK(!job_ok("."));
	CHECK(!job_ok(".."));
	CHECK(!job_ok(".hidden"));
	CHECK(!job_ok("a/b"));
	CHECK(!job_ok("/"));
	CHECK(!job_name_valid("a\0b", 3));
	CHECK(!job_ok("a\tb"));
	CHECK(!job_ok("a\nb"));
	CHECK(!job_ok("\x1b[31mred"));
	CHECK(!job_ok("a\x7f"));
	CHECK(!job_ok("a\xc2\x80")); /* U+0080, C1 */
	CHECK(!job_ok("a\xc2\x9f")); /* U+009F, C1 */
	/* not UTF-8 */
	CHECK(!job_ok("\xff"));
	CHECK(!job_ok("\x80"));		    /* a lone continuation byte */
	CHECK(!job_ok("a\xc3"));	    /* cut short */
	CHECK(!job_ok("a\xe2\x9c"));	    /* cut short */
	CHECK(!job_ok("\xf0\x9f\x9a"));	    /* cut short */
	CHECK(!job_ok("\xc3\x28"));	    /* bad continuation */
	CHECK(!job_ok("\xc0\xaf"));	    /* overlong '/' */
	CHECK(!job_ok("\xc1\xbf"));	    /* overlong */
	CHECK(!job_ok("\xe0\x80\xaf"));	    /* overlong '/' */
	CHECK(!job_ok("\xf0\x80\x80\xaf")); /* overlong '/' */
	CHECK(!job_ok("\xed\xa0\x80"));	    /* U+D800, a surrogate */
	CHECK(!job_ok("\xed\xbf\xbf"));	    /* U+DFFF */
	CHECK(!job_ok("\xf4\x90\x80\x80")); /* past U+10FFFF */
	CHECK(!job_ok("\xf5\x80\x80\x80"));
	CHECK(!job_ok("\xfe"));
	/* noncharacters */
	CHECK(!job_ok("a\xef\xbf\xbe"));    /* U+FFFE */
	CHECK(!job_ok("a\xef\xbf\xbf"));    /* U+FFFF */
	CHECK(!job_ok("\xef\xb7\x90"));	    /* U+FDD0 */
	CHECK(!job_ok("\xef\xb7\xaf"));	    /* U+FDEF */
	CHECK(!job_ok("\xf0\x9f\xbf\xbe")); /* U+1FFFE */
	CHECK(!job_ok("\xf4\x8f\xbf\xbf")); /* U+10FFFF */
	/* format and separator characters */
	CHECK(!job_ok("abc\xe2\x80\xae"
		      "txt.exe")); /* U+202E, RLO */
	CHECK(!job_ok("a\xe2\x80\xa8"
		      "b")); /* U+2028, Zl */
	CHECK(!job_ok("a\xe2\x80\xa9"
		      "b")); /* U+2029, Zp */
	CHECK(!job_ok("a\xe2\x80\x8b"
		      "b"));		 /* U+200B, zero width space */
	CHECK(!job_ok("\xef\xbb\xbfx")); /* U+FEFF, BOM */
	CHECK(!job_ok("a\xc2\xad"));	 /* U+00AD, soft hyphen */
	CHECK(!job_ok("a\xe2\x81\xa6"
		      "b"));		    /* U+2066, LRI */
	CHECK(!job_ok("\xf3\xa0\x80\x81")); /* U+E0001, language tag */
	/* too long: 241 bytes, or a character cut at the end */
	memset(name, 'n', JOB_NAME_MAX + 1);
	CHECK(!job_name_valid(name, JOB_NAME_MAX + 1));
	memcpy(name + JOB_NAME_MAX - 1, "\xc3\xa9", 2);
	CHECK(!job_name_valid(name, JOB_NAME_MAX));
	CHECK(job_name_valid(name, JOB_NAME_MAX + 1) == 0);
}

static void test_tag_names(void)
{
	char name[80];

	CHECK(tag_ok("best"));
	CHECK(tag_ok("v1.2_rc-3"));
	CHECK(tag_ok("stopped-early")); /* a name; system tags are job.c's */
	CHECK(!tag_ok(""));
	CHECK(!tag_name_valid(NULL, 0));
	CHECK(!tag_ok(".x"));
	CHECK(!tag_ok("my tag"));
	CHECK(!tag_ok("a/b"));
	CHECK(!tag_ok("a,b"));
	CHECK(!tag_ok("mod\xc3\xa8le"));
	memset(name, 't', sizeof name);
	CHECK(tag_name_valid(name, TAG_NAME_MAX));
	CHECK(!tag_name_valid(name, TAG_NAME_MAX + 1));
}

static void test_utf8_decode(void)
{
	unsigned int cp = 0;

	CHECK(utf8_decode("a", 1, &cp) == 1 && cp == 'a');
	CHECK(utf8_decode("\xc3\xa9", 2, &cp) == 2 && cp == 0xe9);
	CHECK(utf8_decode("\xe2\x9c\x93", 3, &cp) == 3 && cp == 0x2713);
	CHECK(utf8_decode("\xf0\x9f\x9a\x80", 4, &cp) == 4 && cp == 0x1f680);
	CHECK(utf8_decode("\xc3\xa9", 1, &cp) == 0); /* N bytes only */
	CHECK(utf8_decode("", 0, &cp) == 0);
	CHECK(utf8_decode("\xef\xbf\xbf", 3, NULL) == 3); /* U+FFFF */
	CHECK(utf8_decode("\xee\x80\x80", 3, &cp) == 3 && cp == 0xe000);
	CHECK(utf8_is_control(0) && utf8_is_control(0x1f));
	CHECK(utf8_is_control(0x7f) && utf8_is_control(0x80));
	CHECK(utf8_is_control(0x9f) && !utf8_is_control(0xa0));
	CHECK(!utf8_is_control(' ') && !utf8_is_control(0x2713));
}

static void test_utf8_noncharacters(void)
{
	unsigned int n = 0;

	for (unsigned int cp = 0; cp <= 0x10ffff; cp++)
		n += utf8_is_noncharacter(cp);
	CHECK(n == 66); /* 32 in U+FDD0..U+FDEF, 2 in each of 17 planes */
	CHECK(utf8_is_noncharacter(0xfdd0) && utf8_is_noncharacter(0xfdef));
	CHECK(!utf8_is_noncharacter(0xfdcf) && !utf8_is_noncharacter(0xfdf0));
	CHECK(utf8_is_noncharacter(0xfffe) && utf8_is_noncharacter(0x10ffff));
	CHECK(utf8_is_noncharacter(0x3fffe) && !utf8_is_noncharacter(0xfffd));
}

/* Cf, Zl and Zp as Unicode 15.1 lists them: every run, and its edges. */
static void test_utf8_format(void)
{
	static const unsigned int runs[][2] = {
		{ 0x00ad, 0x00ad },   { 0x0600, 0x0605 },
		{ 0x061c, 0x061c },   { 0x06dd, 0x06dd },
		{ 0x070f, 0x070f },   { 0x0890, 0x0891 },
		{ 0x08e2, 0x08e2 },   { 0x180e, 0x180e },
		{ 0x200b, 0x200f },   { 0x2028, 0x202e },
		{ 0x2060, 0x2064 },   { 0x2066, 0x206f },
		{ 0xfeff, 0xfeff },   { 0xfff9, 0xfffb },
		{ 0x110bd, 0x110bd }, { 0x110cd, 0x110cd },
		{ 0x13430, 0x1343f }, { 0x1bca0, 0x1bca3 },
		{ 0x1d173, 0x1d17a }, { 0xe0001, 0xe0001 },
		{ 0xe0020, 0xe007f },
	};
	unsigned int n = 0, want = 0;

	for (size_t i = 0; i < sizeof runs / sizeof *runs; i++) {
		CHECK(utf8_is_format(runs[i][0]) && utf8_is_format(runs[i][1]));
		CHECK(!utf8_is_format(runs[i][0] - 1));
		CHECK(!utf8_is_format(runs[i][1] + 1));
		want += runs[i][1] - runs[i][0] + 1;
	}
	for (unsigned int cp = 0; cp <= 0x10ffff; cp++)
		n += utf8_is_format(cp);
	CHECK(n == want && want == 172);
	CHECK(utf8_is_format(0x202e) && utf8_is_format(0x2028));
	CHECK(utf8_is_format(0x2029) && !utf8_is_format(0x2030));
	CHECK(!utf8_is_format('a') && !utf8_is_format(0x20));
}

TEST_MAIN("names", TEST(test_job_names_accepted), TEST(test_job_names_refused),
	  TEST(test_tag_names), TEST(test_utf8_decode),
	  TEST(test_utf8_noncharacters), TEST(test_utf8_format))
