/*
 * Unit tests of jobs/model/metrics.c: both line formats and every way a line is
 * malformed, the bounded line splitter (including megabytes of garbage fed
 * in odd chunks), and number formatting (the auto-stop policy's tests are
 * test_autostop.c's).
 */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "jobs/model/metrics.h"
#include "tests/unit/test.h"

static struct metrics_line ml;
static char why[METRICS_WHY_MAX];

/* Parses LEN bytes of LINE into ml; returns metrics_parse_line's result. */
static int parse_n(const char *line, size_t len)
{
	metrics_line_free(&ml);
	memset(why, 'x', sizeof why);
	return metrics_parse_line(line, len, &ml, why, sizeof why);
}

/* Parses the C string LINE into ml; returns metrics_parse_line's result. */
static int parse(const char *line)
{
	int rc = parse_n(line, strlen(line));

	if (rc == 0 && why[0] != '\0')
		fprintf(stderr, "parsed with a reason: %s\n", line);
	return rc == 0 && why[0] != '\0' ? -2 : rc;
}

/* Returns whether LINE is malformed and leaves ml zeroed and a reason. */
static int malformed(const char *line)
{
	static const struct metrics_line zero;
	int rc = parse(line);

	if (rc == 0)
		fprintf(stderr, "parsed, should not have: %s\n", line);
	return rc == -1 && memcmp(&ml, &zero, sizeof ml) == 0 &&
	       why[0] != '\0' && memchr(why, '\0', sizeof why) != NULL;
}

/*
 * Returns whether LINE is taken with pairs left out: its epoch kept,
 * a reason given, N metrics left.
 */
static int left_out(const char *line, size_t n)
{
	int rc = parse_n(line, strlen(line));

	if (rc != 1)
		fprintf(stderr, "not taken with pairs left out (%d): %s\n", rc,
			line);
	return rc == 1 && why[0] != '\0' && ml.n == n &&
	       memchr(why, '\0', sizeof why) != NULL;
}

/* The reason pairs of LINE were left out ("(none)" when none were). */
static const char *left_reason(const char *line)
{
	return parse_n(line, strlen(line)) == 1 ? why : "(none)";
}

/* The reason LINE is malformed ("(parsed)" when it is not). */
static const char *reason(const char *line)
{
	return malformed(line) ? why : "(parsed)";
}

/* The value of metric NAME in ml, or -12345 when it is missing. */
static double value(const char *name)
{
	size_t i;

	for (i = 0; i < ml.n; i++)
		if (!strcmp(ml.m[i].name, name))
			return ml.m[i].value;
	return -12345;
}

static void test_pairs(void)
{
	CHECK(parse("epoch=12 loss=0.31 mAP=0.712") == 0);
	CHECK(ml.epoch == 12);
	CHECK(ml.n == 2);
	if (ml.n == 2) {
		CHECK_STR(ml.m[0].name, "loss");
		CHECK(ml.m[0].value == 0.31);
		CHECK_STR(ml.m[1].name, "mAP");
		CHECK(ml.m[1].value == 0.712);
	}

	/* tabs, runs of blanks, surrounding white space, '\r' */
	CHECK(parse("  loss=1.5\t\tepoch=0 \t acc=-2e-3 \r") == 0);
	CHECK(ml.epoch == 0 && ml.n == 2);
	CHECK(value("loss") == 1.5 && value("acc") == -2e-3);

	/* commas apart pairs too, with or without blanks */
	CHECK(parse("epoch=4, loss=0.6") == 0);
	CHECK(ml.epoch == 4 && ml.n == 1 && value("loss") == 0.6);
	CHECK(parse("epoch=5,loss=0.5,,acc=1,") == 0);
	CHECK(ml.epoch == 5 && ml.n == 2 && value("acc") == 1);

	/* names: letters, digits, _ . - /, led by a letter or _ */
	CHECK(parse("epoch=1 val/loss=1 top-1.acc=2 _x=3 A9=4") == 0);
	CHECK(ml.n == 4 && value("val/loss") == 1 && value("top-1.acc") == 2);
	CHECK(value("_x") == 3 && value("A9") == 4);

	/* only the epoch */
	CHECK(parse("epoch=7") == 0);
	CHECK(ml.epoch == 7 && ml.n == 0 && ml.m == NULL);

	/* the epoch: a whole number up to 1e9, however it is written */
	CHECK(parse("epoch=1000000000") == 0);
	CHECK(ml.epoch == 1000000000L);
	CHECK(parse("epoch=007 a=1") == 0);
	CHECK(ml.epoch == 7);
	CHECK(parse("epoch=12.0 a=1") == 0);
	CHECK(ml.epoch == 12);
	CHECK(parse("epoch=1e3") == 0);
	CHECK(ml.epoch == 1000);
	CHECK(parse("epoch=-0") == 0);
	CHECK(ml.epoch == 0);
}

static void test_numbers(void)
{
	CHECK(parse("epoch=1 a=1e-5 b=.5 c=5. d=-0.25 e=1E+3 f=+2 g=0") == 0);
	CHECK(value("a") == 1e-5 && value("b") == 0.5 && value("c") == 5);
	CHECK(value("d") == -0.25 && value("e") == 1000 && value("f") == 2);
	CHECK(value("g") == 0);

	CHECK(parse("epoch=1 a=nan b=NaN c=NAN d=-nan") == 0);
	CHECK(isnan(value("a")) && isnan(value("b")) && isnan(value("c")));
	CHECK(isnan(value("d")));

	CHECK(parse("epoch=1 a=inf b=-inf c=+inf d=Infinity e=-Infinity "
		    "f=INF g=infinity") == 0);
	CHECK(value("a") == INFINITY && value("b") == -INFINITY);
	CHECK(value("c") == INFINITY && value("d") == INFINITY);
	CHECK(value("e") == -INFINITY && value("f") == INFINITY);
	CHECK(value("g") == INFINITY);

	/* out of range reads as a number, as Python's float() does */
	CHECK(parse("epoch=1 big=1e999 small=1e-999") == 0);
	CHECK(value("big") == INFINITY && value("small") == 0);
}

static void test_json(void)
{
	CHECK(parse("{\"epoch\": 12, \"loss\": 0.31, \"mAP\": 0.712}") == 0);
	CHECK(ml.epoch == 12 && ml.n == 2);
	if (ml.n == 2) {
		CHECK_STR(ml.m[0].name, "loss");
		CHECK(ml.m[0].value == 0.31);
		CHECK_STR(ml.m[1].name, "mAP");
		CHECK(ml.m[1].value == 0.712);
	}

	CHECK(parse("{\"epoch\":3,\"loss\":1}") == 0);
	CHECK(ml.epoch == 3 && value("loss") == 1);
	CHECK(parse("  { \"loss\" : -1.5e-3 ,\t\"epoch\" : 0 }  \r") == 0);
	CHECK(ml.epoch == 0 && value("loss") == -1.5e-3);
	CHECK(parse("{\"epoch\": 4}") == 0);
	CHECK(ml.epoch == 4 && ml.n == 0);
	CHECK(parse("{\"epoch\": 2.0, \"loss\": 1}") == 0);
	CHECK(ml.epoch == 2 && value("loss") == 1);

	/* what Python's json.dumps writes for float('nan') and friends */
	CHECK(parse("{\"epoch\": 1, \"a\": NaN, \"b\": Infinity, "
		    "\"c\": -Infinity}") == 0);
	CHECK(isnan(value("a")) && value("b") == INFINITY);
	CHECK(value("c") == -INFINITY);

	/* escapes in names */
	CHECK(parse("{\"epoch\": 1, \"m\\u0041P\": 0.5, \"val\\/loss\": 2, "
		    "\"\\u0078\": 4}") == 0);
	CHECK(value("mAP") == 0.5 && value("val/loss") == 2);
	CHECK(value("x") == 4);
	CHECK(parse("{\"\\u0065poch\": 5}") == 0);
	CHECK(ml.epoch == 5);
}

/* Fields that are not numbers are not metrics: left out, the line kept. */
static void test_json_left_out(void)
{
	CHECK(parse("{\"epoch\": 1, \"phase\": \"train\", \"loss\": 0.5}") ==
	      0);
	CHECK(ml.epoch == 1 && ml.n == 1 && value("loss") == 0.5);
	CHECK(parse("{\"epoch\": 1, \"lr\": null, \"t\": true, \"f\": false}") ==
	      0);
	CHECK(ml.epoch == 1 && ml.n == 0);
	CHECK(parse("{\"epoch\": 1, \"o\": {\"x\": 1, \"y\": [1, {\"z\": "
		    "\"}]\"}]}, \"a\": [], \"b\": {}, \"loss\": 2}") == 0);
	CHECK(ml.epoch == 1 && ml.n == 1 && value("loss") == 2);
	/* a string may hold anything JSON allows, brackets and quotes too */
	CHECK(parse("{\"s\": \"a\\\"]}\\\\\", \"epoch\": 3}") == 0);
	CHECK(ml.epoch == 3 && ml.n == 0);
	/* the name of a field left out is not held to the metric name rule */
	CHECK(parse("{\"epoch\": 1, \"@x y\": \"z\", \"\\u00e9\": null, "
		    "\"\": []}") == 0);
	CHECK(ml.epoch == 1 && ml.n == 0);
	/* a field that is not a number can't be the epoch */
	CHECK_STR(reason("{\"epoch\": \"1\"}"), "no epoch");
	CHECK_STR(reason("{\"epoch\": null, \"loss\": 1}"), "no epoch");
}

/* Nested values are skipped with a bounded stack: deep is refused. */
static void test_json_nesting(void)
{
	char line[1024];
	size_t len, i;

	/* 63 levels inside the line's object: fine */
	len = (size_t)snprintf(line, sizeof line, "{\"epoch\": 1, \"a\": ");
	for (i = 0; i < METRICS_JSON_DEPTH_MAX - 1; i++)
		line[len++] = i % 2 ? '{' : '[';
	for (i = METRICS_JSON_DEPTH_MAX - 1; i-- > 0;)
		line[len++] = i % 2 ? '}' : ']';
	line[len++] = '}';
	line[len] = '\0';
	CHECK(parse(line) == 0 && ml.epoch == 1);

	/* one more: refused with its reason */
	len = (size_t)snprintf(line, sizeof line, "{\"epoch\": 1, \"a\": ");
	for (i = 0; i < METRICS_JSON_DEPTH_MAX; i++)
		line[len++] = '[';
	for (i = 0; i < METRICS_JSON_DEPTH_MAX; i++)
		line[len++] = ']';
	line[len++] = '}';
	line[len] = '\0';
	CHECK_STR(reason(line), "JSON nested deeper than 64 levels");

	/* brackets that do not match, or never close */
	CHECK(malformed("{\"epoch\": 1, \"a\": [}"));
	CHECK(malformed("{\"epoch\": 1, \"a\": {]}"));
	CHECK(malformed("{\"epoch\": 1, \"a\": [[]}"));
	CHECK(malformed("{\"epoch\": 1, \"a\": [\"]\"}"));
	CHECK(malformed("{\"epoch\": 1, \"a\": [\"\\q\"]}"));
}

static void test_json_malformed(void)
{
	CHECK(malformed("{\"epoch\": 1, \"a\": 1,}"));
	CHECK(malformed("{\"epoch\": 1 \"a\": 1}"));
	CHECK(malformed("{\"epoch\" 1}"));
	CHECK(malformed("{\"epoch\": }"));
	CHECK(malformed("{\"epoch\": 1"));
	CHECK(malformed("{\"epoch\": 1}}"));
	CHECK(malformed("{\"epoch\": 1} x"));
	CHECK(malformed("{\"epoch\": 1}{\"epoch\": 2}"));
	CHECK(malformed("{epoch: 1}"));
	CHECK(malformed("{'epoch': 1}"));
	CHECK(malformed("{}"));
	CHECK(malformed("{"));
	CHECK(malformed("{\"epoch"));
	CHECK(left_out("{\"epoch\": 1, \"\": 2}", 0));
	CHECK(left_out("{\"epoch\": 1, \"a\": 2, \"a\": 3}", 1) &&
	      value("a") == 3);
	CHECK(malformed("{\"epoch\": 1, \"epoch\": 1}"));
	CHECK(left_out("{\"epoch\": 1, \"a\": 12abc}", 0));
	CHECK(malformed("{\"epoch\": 1, \"a\": 1\"x\"}"));
	CHECK(left_out("{\"epoch\": 1, \"a\": tru}", 0));
	CHECK(malformed("{\"epoch\": 1, \"s\": \"a\x01\"}"));
	CHECK(malformed("[1, 2]"));
	/* names that decode to characters the rule refuses */
	CHECK(left_out("{\"epoch\": 1, \"a b\": 2}", 0));
	CHECK(left_out("{\"epoch\": 1, \"a\\u0020b\": 2}", 0));
	CHECK(left_out("{\"epoch\": 1, \"a,b\": 2}", 0));
	CHECK(left_out("{\"epoch\": 1, \"a=b\": 2}", 0));
	CHECK(left_out("{\"epoch\": 1, \"a\\\"b\": 2}", 0));
	CHECK(left_out("{\"epoch\": 1, \"a\\\\b\": 2}", 0));
	CHECK(left_out("{\"epoch\": 1, \"a\\nb\": 2}", 0));
	CHECK(left_out("{\"epoch\": 1, \"a\\tb\": 2}", 0));
	CHECK(left_out("{\"epoch\": 1, \"\\u00e9\": 2}", 0));
	CHECK(left_out("{\"epoch\": 1, \"\\ud83d\\ude00\": 2}", 0));
	CHECK(left_out("{\"epoch\": 1, \"\\u0000\": 2}", 0));
	CHECK(left_out("{\"epoch\": 1, \"\xc3\xa9\": 2}", 0));
	CHECK(malformed("{\"epoch\": 1, \"a\tb\": 2}")); /* raw control */
	CHECK(left_out("{\"epoch\": 1, \"=1+1\": 2}", 0));
	/* bad JSON escapes */
	CHECK(malformed("{\"epoch\": 1, \"a\\x\": 2}"));
	CHECK(malformed("{\"epoch\": 1, \"a\\u00\": 2}"));
	CHECK(malformed("{\"epoch\": 1, \"a\\u00g1\": 2}"));
	CHECK(malformed("{\"epoch\": 1, \"a\\"));
	CHECK(malformed("{\"epoch\": 1, \"a\\u12"));
}

/* Every malformed line says why, in words the status can show. */
static void test_reasons(void)
{
	CHECK_STR(left_reason("epoch=1 phase=train"),
		  "value of 'phase' is not a number");
	CHECK_STR(reason("loss=0.5"), "no epoch");
	CHECK_STR(left_reason("epoch=1 @SUM(A1)=1"),
		  "bad metric name '@SUM(A1)'");
	CHECK_STR(left_reason("{\"epoch\": 1, \"@SUM(A1)\": 1}"),
		  "bad metric name '@SUM(A1)'");
	CHECK_STR(reason("epoch=9999999999"),
		  "epoch 9999999999 is over 1000000000");
	CHECK_STR(reason("epoch=1000000001"),
		  "epoch 1000000001 is over 1000000000");
	CHECK_STR(reason("epoch=1e400"), "epoch 1e400 is over 1000000000");
	CHECK_STR(reason("epoch=12.5"), "epoch '12.5' is not a whole number");
	CHECK_STR(reason("epoch=nan"), "epoch 'nan' is not a whole number");
	CHECK_STR(reason("epoch=x"), "epoch 'x' is not a whole number");
	CHECK_STR(reason("epoch=-1"), "epoch -1 is negative");
	CHECK_STR(reason("epoch=1 epoch=2"), "epoch given twice");
	CHECK_STR(left_reason("epoch=1 a=1 a=2"), "metric 'a' given twice");
	CHECK_STR(left_reason("epoch=1 loss"), "'loss' is not name=value");
	/* a line without an epoch gives the first reason found */
	CHECK_STR(reason("2,0.5,0.3"), "'2' is not name=value");
	CHECK_STR(reason("{\"epoch\": 1,}"), "bad JSON at byte 13");
	CHECK_STR(reason(""), "blank line");
	/* the trainer's bytes are escaped and capped in a reason */
	CHECK_STR(left_reason("epoch=1 \x1b[31m=1"),
		  "bad metric name '\\x1b[31m'");
	CHECK_STR(left_reason("epoch=1 \xc3\xa9=1"),
		  "bad metric name '\\xc3\\xa9'");
	CHECK_STR(left_reason("epoch=1 +aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa=1"),
		  "bad metric name '+aaaaaaaaaaaaaaaaaaa...'");
	/* the longest reason fits METRICS_WHY_MAX whole */
	CHECK_STR(reason("epoch=\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01"
			 "\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01"),
		  "epoch '\\x01\\x01\\x01\\x01\\x01\\x01\\x01\\x01\\x01"
		  "\\x01\\x01\\x01\\x01\\x01\\x01\\x01\\x01\\x01\\x01"
		  "\\x01...' is not a whole number");
	CHECK_STR(reason("epoch=\x01\x02\x03"),
		  "epoch '\\x01\\x02\\x03' is not a whole number");
	/* the first problem is the one given */
	CHECK_STR(left_reason("epoch=1 a=x @=1"),
		  "value of 'a' is not a number");
	CHECK_STR(METRICS_WHY_OVERLONG, "line longer than 64 KiB");

	/* no buffer, or a small one, changes nothing but what fits */
	CHECK(metrics_parse_line("epoch=1 a=x", 11, &ml, NULL, 0) == 1);
	metrics_line_free(&ml);
	CHECK(metrics_parse_line("epoch=1 a=x", 11, &ml, NULL, 99) == 1);
	metrics_line_free(&ml);
	memset(why, 'x', sizeof why);
	CHECK(metrics_parse_line("epoch=1 a=x", 11, &ml, why, 6) == 1);
	metrics_line_free(&ml);
	CHECK_STR(why, "value");
	memset(why, 'x', sizeof why);
	CHECK(metrics_parse_line("epoch=1 a=1", 11, &ml, why, 1) == 0);
	CHECK(why[0] == '\0');
	metrics_line_free(&ml);
}

/* The name rule of metrics (trainfs(1), the trainer's side). */
static void test_names(void)
{
	char name[80];

	CHECK(metrics_name_valid("loss", 4));
	CHECK(metrics_name_valid("val/loss", 8));
	CHECK(metrics_name_valid("_", 1));
	CHECK(metrics_name_valid("a-b.c_d/e9", 10));
	CHECK(!metrics_name_valid("", 0));
	CHECK(!metrics_name_valid(NULL, 0));
	CHECK(!metrics_name_valid("=A1", 3));
	CHECK(!metrics_name_valid("+A1", 3));
	CHECK(!metrics_name_valid("-A1", 3));
	CHECK(!metrics_name_valid("@A1", 3));
	CHECK(!metrics_name_valid("1a", 2));
	CHECK(!metrics_name_valid(".a", 2));
	CHECK(!metrics_name_valid("/a", 2));
	CHECK(!metrics_name_valid("a b", 3));
	/* the names real trainers write */
	CHECK(metrics_name_valid("a:b", 3));
	CHECK(metrics_name_valid("metrics/mAP50-95(B)", 19));
	CHECK(metrics_name_valid("lr/pg0", 6));
	CHECK(metrics_name_valid("acc[top5]", 9));
	CHECK(metrics_name_valid("err%", 4));
	CHECK(!metrics_name_valid("(B)", 3));
	CHECK(!metrics_name_valid("%a", 2));
	CHECK(!metrics_name_valid("a;b", 3));
	CHECK(!metrics_name_valid("a{b}", 4));
	CHECK(!metrics_name_valid("a#b", 3));
	CHECK(!metrics_name_valid("a\\b", 3));
	CHECK(!metrics_name_valid("a,b", 3));
	CHECK(!metrics_name_valid("a\"b", 3));
	CHECK(!metrics_name_valid("\xc3\xa9", 2));
	CHECK(!metrics_name_valid("a\0b", 3));
	memset(name, 'n', sizeof name);
	CHECK(metrics_name_valid(name, 64));
	CHECK(!metrics_name_valid(name, 65));
}

/* Names as Ultralytics, Keras and Hugging Face write them, trimmed. */
static void test_real_names(void)
{
	CHECK(parse("epoch=3 metrics/mAP50-95(B)=0.41 lr/pg0=0.01") == 0);
	CHECK(ml.epoch == 3 && value("metrics/mAP50-95(B)") == 0.41 &&
	      value("lr/pg0") == 0.01);
	CHECK(parse("{\"epoch\": 2, \"  train/box_loss \": 1.5, "
		    "\"eval/loss\": 0.5}") == 0);
	CHECK(ml.n == 2 && value("train/box_loss") == 1.5 &&
	      value("eval/loss") == 0.5);
	/* blanks inside a name still break it */
	CHECK(left_out("{\"epoch\": 2, \"a b\": 1, \"c\": 2}", 1));
	CHECK(value("c") == 2);
	/* a bad pair is left out, the rest taken, whatever its place */
	CHECK(left_out("epoch=4 loss=0.3 phase=train mAP=0.7", 2));
	CHECK(ml.epoch == 4 && value("loss") == 0.3 && value("mAP") == 0.7);
	CHECK_STR(why, "value of 'phase' is not a number");
	metrics_line_free(&ml);
}

static void test_malformed(void)
{
	static const struct metrics_line zero;
	const char nul[] = "epoch=1 loss=0.5\0 acc=1";
	const char nul_name[] = "epoch=1 lo\0ss=0.5";
	char name[200], line[300];

	/* missing, fractional, negative, too large and odd epochs */
	CHECK(malformed("loss=0.5 mAP=0.7"));
	CHECK(malformed("epoch=12.5 loss=1"));
	CHECK(malformed("epoch=-1 loss=1"));
	CHECK(malformed("epoch=nan"));
	CHECK(malformed("epoch=inf"));
	CHECK(malformed("epoch=-inf"));
	CHECK(malformed("epoch="));
	CHECK(malformed("epoch=0x10"));
	CHECK(malformed("epoch=1000000001"));
	CHECK(malformed("epoch=9223372036854775807"));
	CHECK(malformed("epoch=99999999999999999999"));
	CHECK(malformed("{\"epoch\": 12.5}"));
	CHECK(malformed("{\"epoch\": -1}"));
	CHECK(malformed("{\"epoch\": NaN}"));
	CHECK(malformed("{\"epoch\": 1e10}"));
	CHECK(malformed("{\"loss\": 1}"));

	/* bad numbers: the pair is left out, the line taken */
	CHECK(left_out("epoch=1 loss=abc", 0));
	CHECK(left_out("epoch=1 loss=", 0));
	CHECK(left_out("epoch=1 loss= 0.5", 0));
	CHECK(left_out("epoch=1 loss=1.2.3", 0));
	CHECK(left_out("epoch=1 loss=0x10", 0));
	CHECK(left_out("epoch=1 loss=1e", 0));
	CHECK(left_out("epoch=1 loss=1e+", 0));
	CHECK(left_out("epoch=1 loss=--1", 0));
	CHECK(left_out("epoch=1 loss=.", 0));
	CHECK(left_out("epoch=1 loss=-", 0));
	CHECK(left_out("epoch=1 loss=nan(123)", 0));
	CHECK(left_out("epoch=1 loss=infinit", 0));
	CHECK(left_out("epoch=1 loss=nana", 0));
	CHECK(left_out("epoch=1 loss=1_000", 0));
	CHECK(left_out("epoch=1 loss=\"0.5\"", 0));
	CHECK(left_out("epoch=1 loss=0.5=1", 0));
	CHECK(left_out("epoch=1 loss=null", 0));

	/* bad tokens and names */
	CHECK(left_out("epoch=1 loss", 0));
	CHECK(left_out("epoch=1 =0.5", 0));
	CHECK(left_out("epoch=1 a,b=0.5", 1) && value("b") == 0.5);
	CHECK(left_out("epoch=1 a\"b=0.5", 0));
	CHECK(left_out("epoch=1 \xc3\xa9=0.5", 0));
	CHECK(left_out("epoch=1 a\x01=0.5", 0));
	CHECK(left_out("epoch=1 a#b=1", 0));
	CHECK(left_out("epoch=1 =SUM(A1)=1", 0));
	CHECK(left_out("epoch=1 -x=1", 0));
	CHECK(left_out("epoch=1 loss=1 loss=2", 1) && value("loss") == 2);
	CHECK(malformed("epoch=1 epoch=2"));
	CHECK(malformed("Epoch=1"));
	CHECK(malformed("epoch 1"));
	CHECK(malformed("epoch=1\nloss=2"));
	CHECK(malformed("Epoch 1/10 - loss: 0.31"));

	memset(name, 'n', 64);
	name[64] = '\0';
	snprintf(line, sizeof line, "epoch=1 %s=1", name);
	CHECK(parse(line) == 0 && ml.n == 1 && strlen(ml.m[0].name) == 64);
	snprintf(line, sizeof line, "{\"epoch\": 1, \"%s\": 1}", name);
	CHECK(parse(line) == 0 && ml.n == 1 && strlen(ml.m[0].name) == 64);
	memset(name, 'n', 65);
	name[65] = '\0';
	snprintf(line, sizeof line, "epoch=1 %s=1", name);
	CHECK(left_out(line, 0));
	snprintf(line, sizeof line, "{\"epoch\": 1, \"%s\": 1}", name);
	CHECK(left_out(line, 0));

	/* blank lines */
	CHECK(malformed(""));
	CHECK(malformed("   \t \r"));
	CHECK(parse_n(NULL, 0) == -1);

	/* NUL bytes */
	CHECK(parse_n(nul, sizeof nul - 1) == 1 && value("loss") == -12345);
	CHECK(parse_n(nul_name, sizeof nul_name - 1) == 1 && ml.n == 0);
	CHECK(parse_n("\0epoch=1", 9) == -1);
	CHECK(memcmp(&ml, &zero, sizeof ml) == 0);
	CHECK(parse_n("\0", 1) == -1);
	/* but a line need not be NUL-terminated: only LEN bytes count */
	CHECK(parse_n(nul, 16) == 0);
	CHECK(ml.epoch == 1 && ml.n == 1 && value("loss") == 0.5);
	CHECK(parse_n("epoch=12 loss=3.25e7", 17) == 0);
	CHECK(ml.epoch == 12 && value("loss") == 3.2);
	metrics_line_free(&ml);
	metrics_line_free(&ml);
	CHECK(ml.m == NULL && ml.n == 0);
}

static void test_long_lines(void)
{
	size_t cap = METRICS_LINE_MAX + 64, len = 0, i;
	char *line = malloc(cap);

	CHECK(line != NULL);
	if (!line)
		return;
	/* METRICS_NAMES_MAX distinct names fit in one line ... */
	len = (size_t)snprintf(line, cap, "epoch=3");
	for (i = 0; i < METRICS_NAMES_MAX - 1; i++)
		len += (size_t)snprintf(line + len, cap - len,
					" m%zu_long_name_of_a_metric=%zu", i,
					i);
	CHECK(len < METRICS_LINE_MAX);
	CHECK(parse_n(line, len) == 0);
	CHECK(ml.n == i && ml.epoch == 3);
	CHECK(value("m432_long_name_of_a_metric") == 432);
	/* and a repeat among them is found */
	len += (size_t)snprintf(line + len, cap - len,
				" m17_long_name_of_a_metric=1");
	CHECK(parse_n(line, len) == 1 && ml.n == i);
	CHECK_STR(why, "metric 'm17_long_name_of_a_metric' given twice");
	CHECK(value("m17_long_name_of_a_metric") == 1);
	/* the 1,000th is fine, one more is too many */
	len -= strlen(" m17_long_name_of_a_metric=1");
	len += (size_t)snprintf(line + len, cap - len, " y=1");
	CHECK(parse_n(line, len) == 0 && ml.n == METRICS_NAMES_MAX);
	len += (size_t)snprintf(line + len, cap - len, " z=1");
	CHECK(parse_n(line, len) == 1 && ml.n == METRICS_NAMES_MAX);
	CHECK_STR(why, "too many metric names");
	CHECK(value("y") == 1 && value("z") == -12345);

	/*
	 * exactly METRICS_LINE_MAX bytes is a line, and so is one more: the
	 * 64 KiB rule is the splitter's (test_splitter_overlong), as stored
	 * rows may be longer (test_written_back_longer)
	 */
	memset(line, ' ', cap);
	memcpy(line, "epoch=1", 7);
	memcpy(line + METRICS_LINE_MAX - 3, "a=1", 3);
	CHECK(parse_n(line, METRICS_LINE_MAX) == 0);
	CHECK(ml.n == 1 && value("a") == 1);
	line[METRICS_LINE_MAX] = '2';
	CHECK(parse_n(line, METRICS_LINE_MAX + 1) == 0);
	CHECK(ml.n == 1 && value("a") == 12);
	free(line);
}

/*
 * Found by fuzz_metrics (tests/fuzz/regressions/metrics/
 * written-back-row-longer-than-64k): a line within 64 KiB whose numbers
 * jobs/core/job.c stores in their shortest form ("12e5" as "1200000") made a
 * row longer than 64 KiB, which the parser then refused, so the row was
 * lost at the next mount.  A row written back must always read back.
 */
static void test_written_back_longer(void)
{
	size_t cap = 2 * METRICS_LINE_MAX, len, back_len, i, n;
	char *line = malloc(cap), *back = malloc(cap), num[32];

	CHECK(line != NULL && back != NULL);
	if (!line || !back)
		goto out;
	/* 1,000 names of 59 bytes, each "=12e5": 65 bytes a pair */
	len = (size_t)snprintf(line, cap, "epoch=5");
	for (n = 0; n < METRICS_NAMES_MAX; n++)
		len += (size_t)snprintf(line + len, cap - len, " m%058zu=12e5",
					n);
	CHECK(len <= METRICS_LINE_MAX);
	CHECK(parse_n(line, len) == 0);
	CHECK(ml.n == n && value("m0000000000000000000000000000000000000000"
				 "000000000000000000") == 1.2e6);

	/* written back as jobs/core/job.c's job_row_line() does */
	back_len = (size_t)snprintf(back, cap, "epoch=%ld", ml.epoch);
	for (i = 0; i < ml.n; i++) {
		metrics_format_number(ml.m[i].value, num, sizeof num);
		back_len += (size_t)snprintf(back + back_len, cap - back_len,
					     " %s=%s", ml.m[i].name, num);
	}
	CHECK_STR(num, "1200000");
	CHECK(back_len > METRICS_LINE_MAX && back_len < cap);
	CHECK(parse_n(back, back_len) == 0);
	CHECK(ml.n == n && ml.epoch == 5);
out:
	free(line);
	free(back);
}

struct collected {
	size_t lines, overlong, empty, parsed, bad;
	char last[64];
};

static void collect(void *arg, const char *line, size_t len, int overlong)
{
	struct collected *c = arg;
	struct metrics_line l;

	c->lines++;
	if (overlong) {
		c->overlong++;
		if (line != NULL || len != 0)
			c->bad += 1000000;
		return;
	}
	if (len == 0)
		c->empty++;
	if (line[len] != '\0')
		c->bad += 1000000;
	snprintf(c->last, sizeof c->last, "%.*s", (int)len, line);
	if (metrics_parse_line(line, len, &l, NULL, 0) == 0) {
		c->parsed++;
		metrics_line_free(&l);
	} else {
		c->bad++;
	}
}

static void test_splitter(void)
{
	static struct line_splitter s;
	const char *text = "epoch=1 a=1\n\nepoch=2 a=2\r\n{\"epoch\": 3}\nxx\n"
			   "epoch=4";
	struct collected c;
	size_t i, n = strlen(text);

	/* all at once: the last line waits for its newline */
	memset(&c, 0, sizeof c);
	memset(&s, 0, sizeof s);
	line_splitter_feed(&s, text, n, collect, &c);
	CHECK(c.lines == 5 && c.empty == 1 && c.parsed == 3 && c.bad == 2);
	CHECK_STR(c.last, "xx");
	CHECK(s.len == 7);
	line_splitter_feed(&s, "\n", 1, collect, &c);
	CHECK(c.lines == 6 && c.parsed == 4);
	CHECK_STR(c.last, "epoch=4");

	/* a byte at a time gives the same lines */
	memset(&c, 0, sizeof c);
	memset(&s, 0, sizeof s);
	for (i = 0; i < n; i++)
		line_splitter_feed(&s, text + i, 1, collect, &c);
	line_splitter_feed(&s, "\n", 1, collect, &c);
	CHECK(c.lines == 6 && c.empty == 1 && c.parsed == 4 && c.bad == 2);

	/* nothing fed, nothing called */
	memset(&c, 0, sizeof c);
	line_splitter_feed(&s, "", 0, collect, &c);
	CHECK(c.lines == 0);
}

static void test_splitter_overlong(void)
{
	static struct line_splitter s;
	size_t big = 3 * METRICS_LINE_MAX, i;
	char *data = malloc(big);
	struct collected c;

	CHECK(data != NULL);
	if (!data)
		return;
	memset(&c, 0, sizeof c);
	memset(&s, 0, sizeof s);

	/* exactly METRICS_LINE_MAX bytes: a line (all of data is 'x': no
	 * newline the heap left there may end the overlong line below) */
	memset(data, 'x', big);
	line_splitter_feed(&s, data, METRICS_LINE_MAX, collect, &c);
	line_splitter_feed(&s, "\n", 1, collect, &c);
	CHECK(c.lines == 1 && c.overlong == 0);

	/* one byte more: overlong, reported once, at its newline */
	line_splitter_feed(&s, data, METRICS_LINE_MAX, collect, &c);
	line_splitter_feed(&s, "y", 1, collect, &c);
	CHECK(c.lines == 1 && s.overlong == 1 && s.len == 0);
	line_splitter_feed(&s, data, big, collect, &c); /* still going */
	CHECK(c.lines == 1);
	line_splitter_feed(&s, "z\nepoch=9 a=1\n", 14, collect, &c);
	CHECK(c.lines == 3 && c.overlong == 1 && c.parsed == 1);
	CHECK_STR(c.last, "epoch=9 a=1");

	/* an overlong line in one chunk, followed by a good one */
	memset(&c, 0, sizeof c);
	memset(data, 'q', big);
	data[big - 13] = '\n';
	memcpy(data + big - 12, "epoch=5 b=2\n", 12);
	line_splitter_feed(&s, data, big, collect, &c);
	CHECK(c.lines == 2 && c.overlong == 1 && c.parsed == 1);

	/* overlong lines fed in small chunks never grow the buffer */
	memset(&c, 0, sizeof c);
	memset(data, 'r', big);
	for (i = 0; i < big; i += 1000) {
		line_splitter_feed(&s, data + i,
				   big - i < 1000 ? big - i : 1000, collect,
				   &c);
		CHECK(s.len <= METRICS_LINE_MAX);
	}
	line_splitter_feed(&s, "\n", 1, collect, &c);
	CHECK(c.lines == 1 && c.overlong == 1);
	free(data);
}

/* Megabytes of random bytes in random chunks: every line counted, no crash. */
static void test_splitter_garbage(void)
{
	static const char good[] =
		"\nepoch=1 a=nan\n{\"epoch\": 2, \"a\": 1}\n";
	static struct line_splitter s;
	size_t size = 4 << 20, i, pos, newlines = 0, want_over = 0, run = 0;
	size_t goods = 0;
	uint64_t x = 0x243f6a8885a308d3ull;
	char *data = malloc(size);
	struct collected c;

	CHECK(data != NULL);
	if (!data)
		return;
	for (i = 0; i < size; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		data[i] = (char)(x >> 32);
		/* a stretch with no newline, to make overlong lines */
		if (i >= (1 << 20) && i < (1 << 20) + 200000) {
			if (data[i] == '\n')
				data[i] = 'A';
			continue;
		}
		/* and good lines among the garbage */
		if (i % 4096 < sizeof good - 1) {
			data[i] = good[i % 4096];
			goods += i % 4096 == 0;
		}
	}
	for (i = 0; i < size; i++) {
		if (data[i] == '\n') {
			newlines++;
			if (run > METRICS_LINE_MAX)
				want_over++;
			run = 0;
		} else {
			run++;
		}
	}
	CHECK(want_over >= 1);

	memset(&c, 0, sizeof c);
	memset(&s, 0, sizeof s);
	for (pos = 0; pos < size;) {
		size_t n;

		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		n = x % 100000;
		if (n > size - pos)
			n = size - pos;
		line_splitter_feed(&s, data + pos, n, collect, &c);
		pos += n;
	}
	CHECK(c.lines == newlines);
	CHECK(c.overlong == want_over);
	CHECK(c.bad < 1000000); /* no NULL line, every line NUL-terminated */
	CHECK(c.parsed + c.bad == c.lines - c.overlong);
	CHECK(c.parsed >= 2 * goods);
	free(data);
}

static const char *fmt(double v)
{
	static char buf[64];

	return metrics_format_number(v, buf, sizeof buf);
}

/*
 * The definition, by brute force: of %.1g .. %.17g, the shortest text that
 * reads back as V; on a tie, one without an exponent, else the first.
 */
static void shortest(double v, char out[64])
{
	char text[64];
	int prec;

	out[0] = '\0';
	for (prec = 1; prec <= 17; prec++) {
		snprintf(text, sizeof text, "%.*g", prec, v);
		if (strtod(text, NULL) != v)
			continue;
		if (!out[0] || strlen(text) < strlen(out) ||
		    (strlen(text) == strlen(out) && strchr(out, 'e') &&
		     !strchr(text, 'e')))
			strcpy(out, text);
	}
}

static void test_format(void)
{
	char small[4];
	uint64_t x = 0x13198a2e03707344ull;
	int i, same = 1;

	CHECK_STR(fmt(0.712), "0.712");
	CHECK_STR(fmt(1e-05), "1e-05");
	CHECK_STR(fmt(0.1 + 0.2), "0.30000000000000004");
	CHECK_STR(fmt(0.31), "0.31");
	CHECK_STR(fmt(1.0 / 3), "0.3333333333333333");
	CHECK_STR(fmt(2.0 / 3), "0.6666666666666666");
	CHECK_STR(fmt(0), "0");
	CHECK_STR(fmt(-0.0), "-0");
	CHECK_STR(fmt(1), "1");
	CHECK_STR(fmt(-2.5), "-2.5");
	CHECK_STR(fmt(100), "100");
	CHECK_STR(fmt(10000), "10000");
	CHECK_STR(fmt(123456789), "123456789");
	CHECK_STR(fmt(1e6), "1e+06");
	CHECK_STR(fmt(1e22), "1e+22");
	CHECK_STR(fmt(0.0001), "0.0001");
	CHECK_STR(fmt(5e-324), "5e-324");
	CHECK_STR(fmt(DBL_MAX), "1.7976931348623157e+308");
	CHECK_STR(fmt(NAN), "nan");
	CHECK_STR(fmt(-NAN), "nan");
	CHECK_STR(fmt(INFINITY), "inf");
	CHECK_STR(fmt(-INFINITY), "-inf");

	/* a small buffer truncates, NUL-terminated */
	CHECK(metrics_format_number(0.712, small, sizeof small) == small);
	CHECK_STR(small, "0.7");

	/* random doubles: the brute-force answer, which reads back equal */
	for (i = 0; i < 40000; i++) {
		char want[64];
		double v;

		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		if (i % 2) {
			memcpy(&v, &x, sizeof v);
		} else {
			/* short decimals, as trainers print them */
			v = (double)(x % 1000000) *
			    pow(10, (double)((int)(x >> 40) % 25 - 12));
			if (x & (1ull << 63))
				v = -v;
		}
		if (!isfinite(v))
			continue;
		shortest(v, want);
		if (strcmp(fmt(v), want) != 0) {
			fprintf(stderr, "%.17g: '%s' != '%s'\n", v, fmt(v),
				want);
			same = 0;
		}
		if (strtod(fmt(v), NULL) != v)
			same = 0;
	}
	CHECK(same);

	/* what a trainer prints comes back as printed */
	CHECK(parse("epoch=1 a=0.712 b=1e-05 c=0.30000000000000004 d=-inf") ==
	      0);
	CHECK_STR(fmt(value("a")), "0.712");
	CHECK_STR(fmt(value("b")), "1e-05");
	CHECK_STR(fmt(value("c")), "0.30000000000000004");
	CHECK_STR(fmt(value("d")), "-inf");
	metrics_line_free(&ml);
}

TEST_MAIN("metrics", TEST(test_pairs), TEST(test_numbers), TEST(test_json),
	  TEST(test_json_left_out), TEST(test_json_nesting),
	  TEST(test_json_malformed), TEST(test_reasons), TEST(test_names),
	  TEST(test_real_names), TEST(test_malformed), TEST(test_long_lines),
	  TEST(test_written_back_longer), TEST(test_splitter),
	  TEST(test_splitter_overlong), TEST(test_splitter_garbage),
	  TEST(test_format))
