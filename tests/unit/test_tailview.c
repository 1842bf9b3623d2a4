/*
 * Tests for fs/tailview: what a follower of metrics reads on after a
 * rendering that does not extend the text it has read: the new header,
 * then the rows after those it has seen; nothing when nothing is due; a
 * table cleared and started again shown whole, after its header.
 */
#include <stdlib.h>
#include <string.h>

#include "fs/tailview.h"
#include "test.h"

/* Follows from SEEN through each rendering of NEXT; returns the text read. */
static char *follow(const char *seen, const char *const *next)
{
	struct tail_view t = { 0 };
	size_t len = strlen(seen);
	char *buf = malloc(len + 1);
	memcpy(buf, seen, len);
	for (; *next; next++)
		CHECK(tail_view_follow(&t, &buf, &len, *next, strlen(*next)) >=
		      0);
	buf = realloc(buf, len + 1);
	buf[len] = '\0';
	return buf;
}

static void test_new_column(void)
{
	char *s =
		follow("epoch,loss\n1,0.5\n",
		       (const char *const[]){
			       "epoch,loss,acc\n1,0.5,\n2,0.4,0.6\n",
			       "epoch,loss,acc\n1,0.5,\n2,0.4,0.6\n3,0.3,0.7\n",
			       NULL });
	CHECK_STR(s, "epoch,loss\n1,0.5\nepoch,loss,acc\n2,0.4,0.6\n"
		     "3,0.3,0.7\n");
	free(s);
}

static void test_empty_file(void)
{
	char *s = follow("epoch\n",
			 (const char *const[]){ "epoch,loss\n1,0.5\n", NULL });
	CHECK_STR(s, "epoch\nepoch,loss\n1,0.5\n");
	free(s);
}

static void test_nothing_due(void)
{
	struct tail_view t = { 0 };
	size_t len = 17;
	char *buf = strdup("epoch,loss\n1,0.5\n");
	CHECK(tail_view_follow(&t, &buf, &len, "epoch,loss\n1,0.6\n", 17) == 0);
	CHECK(len == 17);
	free(buf);
}

static void test_restarted_table(void)
{
	char *s = follow("epoch,loss\n1,0.5\n2,0.4\n",
			 (const char *const[]){ "epoch,acc\n1,0.9\n", NULL });
	CHECK_STR(s, "epoch,loss\n1,0.5\n2,0.4\nepoch,acc\n1,0.9\n");
	free(s);
}

TEST_MAIN("tailview", TEST(test_new_column), TEST(test_empty_file),
	  TEST(test_nothing_due), TEST(test_restarted_table))
