/*
 * Unit tests of the metrics_from decoders and their reader: the CSV
 * decoder (jobs/model/src_csv.c) line by line, the JSON lines guard
 * (jobs/model/src_jsonl.c), TFRecord frames and Event protocol buffers
 * (jobs/model/src_tfevents.c) built here byte by byte, and the reader
 * (jobs/run/source.c) on the real programs' logs of tests/data: Ultralytics'
 * results.csv (padded and not), Keras' and Lightning's CSVLogger files,
 * TensorBoard folders; then growth, rewrites, a corrupt stretch, an
 * incomplete last frame and a position taken up again.  Run from the
 * repository's top folder.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "jobs/run/source.h"
#include "jobs/model/src_csv.h"
#include "jobs/model/src_jsonl.h"
#include "jobs/model/src_tfevents.h"
#include "tests/unit/test.h"

static struct metrics_line ml;
static char why[METRICS_WHY_MAX];

/* The value of NAME in ml, or -12345 when it is missing. */
static double value(const char *name)
{
	for (size_t i = 0; i < ml.n; i++)
		if (!strcmp(ml.m[i].name, name))
			return ml.m[i].value;
	return -12345;
}

static int csv(struct src_csv *c, const char *line)
{
	metrics_line_free(&ml);
	return src_csv_line(c, line, strlen(line), &ml, why, sizeof why);
}

static void test_csv_lines(void)
{
	struct src_csv c = { .epoch_col = -1 };

	/* padded names and values, CRLF */
	CHECK(csv(&c, "   epoch,  train/box_loss , metrics/mAP50(B) \r") ==
	      SRC_CSV_HEADER);
	CHECK(csv(&c, "     0,   1.5 ,  0.25\r") == SRC_CSV_ROW);
	CHECK(ml.epoch == 0 && ml.n == 2 && value("train/box_loss") == 1.5 &&
	      value("metrics/mAP50(B)") == 0.25);
	/* empty cells are no value; text cells are left out quietly */
	CHECK(csv(&c, "1,,0.5") == SRC_CSV_ROW);
	CHECK(ml.epoch == 1 && ml.n == 1 && value("metrics/mAP50(B)") == 0.5);
	CHECK(csv(&c, "2,a.jpg,0.5,9,9") == SRC_CSV_ROW && ml.n == 1);
	CHECK(csv(&c, "") == SRC_CSV_BLANK);
	CHECK(csv(&c, " \r") == SRC_CSV_BLANK);
	/* a row without an epoch is refused whole */
	CHECK(csv(&c, ",1,2") == -1);
	CHECK_STR(why, "no epoch");
	CHECK(csv(&c, "1.5,1,2") == -1);
	CHECK_STR(why, "epoch '1.5' is not a whole number");
	CHECK(csv(&c, "3.0,1,2") == SRC_CSV_ROW && ml.epoch == 3);
	/* a new header, as a trainer that starts a new table writes it */
	CHECK(csv(&c, "Epoch,loss,val_loss") == SRC_CSV_HEADER);
	CHECK(csv(&c, "7,0.1,0.2") == SRC_CSV_ROW);
	CHECK(ml.epoch == 7 && value("loss") == 0.1 &&
	      value("val_loss") == 0.2);
	/* no epoch column: the row number; bad names counted on the header;
	   pandas' unnamed index column left out quietly */
	CHECK(csv(&c, ",date,acc,a b") == SRC_CSV_HEADER_BAD);
	CHECK_STR(why, "bad metric name 'a b'");
	CHECK(csv(&c, "0,2024-01-01,0.5,3") == SRC_CSV_ROW);
	CHECK(ml.epoch == 1 && ml.n == 1 && value("acc") == 0.5);
	CHECK(csv(&c, "1,2024-01-02,0.6,3") == SRC_CSV_ROW && ml.epoch == 2);
	/* quoted cells, "" inside */
	CHECK(csv(&c, "\"epoch\",\"a,b\",\"c\"\"d\",\"loss\"") ==
	      SRC_CSV_HEADER_BAD);
	CHECK(csv(&c, "\"4\",1,2,\" 0.5 \"") == SRC_CSV_ROW);
	CHECK(ml.epoch == 4 && ml.n == 1 && value("loss") == 0.5);
	/* a name given twice keeps its last value */
	CHECK(csv(&c, "epoch,a,a") == SRC_CSV_HEADER);
	CHECK(csv(&c, "1,1,2") == SRC_CSV_ROW);
	metrics_line_free(&ml);
	src_csv_free(&c);
}

static void test_jsonl(void)
{
	CHECK(src_jsonl_line("", 0, &ml, why, sizeof why) == 2);
	CHECK(src_jsonl_line("epoch=1 a=2", 11, &ml, why, sizeof why) == -1);
	CHECK_STR(why, "not a JSON object");
	const char *l = "{\"epoch\": 2, \"eval/loss\": 0.5, \"x y\": 1}";
	CHECK(src_jsonl_line(l, strlen(l), &ml, why, sizeof why) == 1);
	CHECK(ml.epoch == 2 && value("eval/loss") == 0.5 && ml.n == 1);
	metrics_line_free(&ml);
}

/* ---- TFRecord and Event, byte by byte ---- */

struct buf {
	unsigned char b[4096];
	size_t n;
};

static void put(struct buf *b, const void *p, size_t n)
{
	memcpy(b->b + b->n, p, n);
	b->n += n;
}

static void varint(struct buf *b, uint64_t v)
{
	do {
		unsigned char c = v & 0x7f;
		v >>= 7;
		c |= v ? 0x80 : 0;
		put(b, &c, 1);
	} while (v);
}

static void field_bytes(struct buf *b, int num, const struct buf *sub)
{
	varint(b, (uint64_t)num << 3 | 2);
	varint(b, sub->n);
	put(b, sub->b, sub->n);
}

/* A Summary.Value: simple_value, or a float/double tensor. */
static void scalar(struct buf *sum, const char *tag, double v, int kind)
{
	struct buf val = { .n = 0 }, t = { .n = 0 }, vals = { .n = 0 };

	varint(&val, 1 << 3 | 2);
	varint(&val, strlen(tag));
	put(&val, tag, strlen(tag));
	if (kind == 0) {
		float f = (float)v;
		varint(&val, 2 << 3 | 5);
		put(&val, &f, 4);
	} else {
		varint(&t, 1 << 3 | 0);
		varint(&t, kind == 1 ? 1 : 2); /* DT_FLOAT, DT_DOUBLE */
		if (kind == 1) {
			float f = (float)v;
			put(&vals, &f, 4);
			field_bytes(&t, 5, &vals);
		} else if (kind == 2) {
			put(&vals, &v, 8);
			field_bytes(&t, 6, &vals);
		} else { /* tensor_content of a double */
			put(&vals, &v, 8);
			field_bytes(&t, 4, &vals);
		}
		field_bytes(&val, 8, &t);
	}
	field_bytes(sum, 1, &val);
}

static void event(struct buf *ev, int64_t step, const struct buf *sum)
{
	double wall = 1733580000.0;

	ev->n = 0;
	varint(ev, 1 << 3 | 1);
	put(ev, &wall, 8);
	if (step) {
		varint(ev, 2 << 3 | 0);
		varint(ev, (uint64_t)step);
	}
	if (sum)
		field_bytes(ev, 5, sum);
}

static void frame(struct buf *out, const struct buf *data, int bad)
{
	uint64_t len = data->n;
	uint32_t c = tfrec_masked_crc(&len, 8);

	put(out, &len, 8);
	put(out, &c, 4);
	put(out, data->b, data->n);
	c = tfrec_masked_crc(data->b, data->n) ^ (bad ? 1 : 0);
	put(out, &c, 4);
}

static void test_tfrecord(void)
{
	/* CRC32C's check value, and TensorFlow's first header */
	CHECK(tfrec_crc32c(0, "123456789", 9) == 0xe3069283u);
	unsigned char h[12] = { 0x18, 0, 0,    0,    0,	   0,
				0,    0, 0xa3, 0x7f, 0x4b, 0x22 };
	uint64_t len = 0;
	CHECK(tfrec_header(h, &len) == 0 && len == 24);
	h[0] = 0x19;
	CHECK(tfrec_header(h, &len) == -1);
}

/* tfevent_decode() into ml, freeing what ml held. */
static int tfd(const unsigned char *d, size_t n, const char *prefix)
{
	metrics_line_free(&ml);
	return tfevent_decode(d, n, prefix, &ml, why, sizeof why);
}

static void test_tfevent(void)
{
	struct buf sum = { .n = 0 }, ev;

	scalar(&sum, "epoch_loss", 0.5, 0);
	scalar(&sum, "epoch_acc", 0.25, 1);
	scalar(&sum, "lr", 0.125, 2);
	scalar(&sum, "x", 0.75, 3);
	scalar(&sum, "bad tag", 1, 0);
	scalar(&sum, "epoch", 4, 0);
	event(&ev, 3, &sum);
	CHECK(tfd(ev.b, ev.n, "validation") == 1);
	CHECK_STR(why, "bad metric name 'bad tag'");
	CHECK(ml.epoch == 3 && ml.n == 5);
	CHECK(value("validation/epoch_loss") == 0.5);
	CHECK(value("validation/epoch_acc") == 0.25);
	CHECK(value("validation/lr") == 0.125 && value("validation/x") == 0.75);
	/* a tag "epoch" is the step, not a metric, without a prefix */
	CHECK(tfd(ev.b, ev.n, "") == 1);
	CHECK(value("epoch") == -12345 && value("epoch_loss") == 0.5);
	/* floats as their shortest decimal */
	sum.n = 0;
	scalar(&sum, "a", 0.54, 0);
	event(&ev, 0, &sum);
	CHECK(tfd(ev.b, ev.n, NULL) == 0);
	CHECK(ml.epoch == 0 && value("a") == 0.54);
	/* no scalar: the file_version event */
	event(&ev, 0, NULL);
	CHECK(tfd(ev.b, ev.n, NULL) == 2);
	/* cut anywhere, it is refused, never read past */
	sum.n = 0;
	scalar(&sum, "loss", 1, 2);
	event(&ev, 300, &sum);
	for (size_t cut = 1; cut < ev.n; cut++) {
		unsigned char *copy = malloc(cut);
		memcpy(copy, ev.b, cut);
		int rc = tfevent_decode(copy, cut, NULL, &ml, why, sizeof why);
		CHECK(rc == -1 || rc == 2 || rc == 0);
		metrics_line_free(&ml);
		free(copy);
	}
	/* a step out of range */
	event(&ev, 2000000000, &sum);
	CHECK(tfd(ev.b, ev.n, NULL) == -1);
	CHECK_STR(why, "step 2000000000 is out of 0..1000000000");
	/* a group wire type is malformed */
	unsigned char group[] = { 0x0b, 0x0c };
	CHECK(tfd(group, 2, NULL) == -1);
	CHECK_STR(why, "not an Event protocol buffer");
	metrics_line_free(&ml);
}

/* ---- the reader on files ---- */

struct got {
	long epochs[64];
	double v[64];
	size_t n;
	int bad;
	char why[METRICS_WHY_MAX];
	int64_t line;
	const char *name;
};

static void take(void *arg, const struct metrics_line *l, int rc, const char *w,
		 int64_t line)
{
	struct got *g = arg;

	if (rc) {
		g->bad++;
		snprintf(g->why, sizeof g->why, "%s", w);
		g->line = line;
	}
	if (!l || g->n == 64)
		return;
	g->epochs[g->n] = l->epoch;
	g->v[g->n] = NAN;
	for (size_t i = 0; i < l->n; i++)
		if (!strcmp(l->m[i].name, g->name))
			g->v[g->n] = l->m[i].value;
	g->n++;
}

/* Reads PATH whole (FINAL) into G for the metric NAME. */
static void read_all(const char *path, const char *name, struct got *g)
{
	char abs[4096];
	struct source *s;

	memset(g, 0, sizeof *g);
	g->name = name;
	if (path[0] != '/' && getcwd(abs, sizeof abs))
		snprintf(abs + strlen(abs), sizeof abs - strlen(abs), "/%s",
			 path);
	else
		snprintf(abs, sizeof abs, "%s", path);
	s = source_new(abs, getuid(), getgid());
	CHECK(s != NULL);
	if (!s)
		return;
	for (int i = 0; i < 100 && source_step(s, 1, take, g) > 0; i++)
		;
	source_free(s);
}

static void test_real_logs(void)
{
	struct got g;

	/* older Ultralytics: padded, epochs from 0, shown from 1 */
	read_all("tests/data/ultralytics_v8_0_padded_results.csv",
		 "metrics/mAP50-95(B)", &g);
	CHECK(g.n == 12 && g.bad == 0 && g.epochs[0] == 1 &&
	      g.epochs[11] == 12);
	CHECK(g.v[10] == 0.40445);
	/* Ultralytics 8.3: epochs from 1 */
	read_all("tests/data/ultralytics_v8_3_results.csv",
		 "metrics/mAP50-95(B)", &g);
	CHECK(g.n == 14 && g.bad == 0 && g.epochs[0] == 1 && g.v[1] == 0.53833);
	read_all("tests/data/keras_csvlogger.csv", "val_accuracy", &g);
	CHECK(g.n == 5 && g.epochs[0] == 1 && g.epochs[4] == 5 &&
	      g.v[2] == 0.9788);
	/* Lightning: sparse rows, a validation row per epoch */
	read_all("tests/data/lightning_csvlogger_metrics.csv", "val_accuracy",
		 &g);
	CHECK(g.n == 12 && g.bad == 0 && g.epochs[0] == 1);
	CHECK(isnan(g.v[0]) && g.v[3] == 0.9761999845504761);
	CHECK(g.epochs[10] == 6);
	/* TensorBoard, Keras' layout: validation/ and train/ */
	read_all("tests/data/tensorboard", "validation/epoch_accuracy", &g);
	CHECK(g.n == 6 && g.bad == 0);
	int seen = 0;
	for (size_t i = 0; i < g.n; i++)
		if (g.epochs[i] == 2 && g.v[i] == 0.86)
			seen = 1;
	CHECK(seen);
	/* torch's writer, steps from 1: not shifted */
	read_all("tests/data/tensorboard_torch", "Loss/train", &g);
	CHECK(g.n == 3 && g.epochs[0] == 1 && g.v[1] == 0.5);
}

static char dir[] = "/tmp/trainfs-sources-XXXXXX";

static void append(const char *path, const void *p, size_t n, int trunc)
{
	int fd = open(path, O_WRONLY | O_CREAT | (trunc ? O_TRUNC : O_APPEND),
		      0600);
	CHECK(fd >= 0 && write(fd, p, n) == (ssize_t)n);
	close(fd);
}

static void test_growth_and_rewrite(void)
{
	char path[256];
	struct got g = { .name = "loss" };
	struct source *s;
	char *pos;

	snprintf(path, sizeof path, "%s/log.csv", dir);
	s = source_new(path, getuid(), getgid());
	CHECK(source_step(s, 0, take, &g) == 0 && !source_found(s));
	CHECK(source_pos(s) == NULL);
	append(path, "epoch,loss\n0,1\n1,0.", 19, 1);
	CHECK(source_step(s, 0, take, &g) == 0 && source_found(s));
	CHECK(g.n == 1 && g.epochs[0] == 1);
	append(path, "5\n", 2, 0);
	CHECK(source_step(s, 0, take, &g) >= 0);
	CHECK(g.n == 2 && g.epochs[1] == 2 && g.v[1] == 0.5);
	/* taken up again from its position: the header is read again */
	pos = source_pos(s);
	source_free(s);
	s = source_new(path, getuid(), getgid());
	CHECK(source_restore(s, pos) == 0);
	free(pos);
	append(path, "2,0.25\n", 7, 0);
	CHECK(source_step(s, 0, take, &g) >= 0);
	CHECK(g.n == 3 && g.epochs[2] == 3 && g.v[2] == 0.25);
	/* rewritten whole: read from the start */
	append(path, "epoch,loss,acc\n0,9,1\n", 21, 1);
	CHECK(source_step(s, 0, take, &g) >= 0);
	CHECK(g.n == 4 && g.epochs[3] == 1 && g.v[3] == 9);
	CHECK(source_restore(s, "garbage") == -EINVAL);
	source_free(s);
}

static void test_frames_corrupt_and_incomplete(void)
{
	char sub[256], path[300];
	struct got g = { .name = "run1/loss" };
	struct buf sum = { .n = 0 }, ev, file = { .n = 0 };
	struct source *s;

	snprintf(sub, sizeof sub, "%s/tb/run1", dir);
	snprintf(path, sizeof path, "%s/tb", dir);
	mkdir(path, 0700);
	mkdir(sub, 0700);
	snprintf(path, sizeof path, "%s/events.out.tfevents.1.h", sub);
	event(&ev, 0, NULL);
	frame(&file, &ev, 0);
	scalar(&sum, "loss", 0.5, 0);
	event(&ev, 1, &sum);
	frame(&file, &ev, 0);
	put(&file, "garbage-garbage-garbage", 23);
	frame(&file, &ev, 1); /* a bad data CRC */
	sum.n = 0;
	scalar(&sum, "loss", 0.25, 0);
	event(&ev, 2, &sum);
	frame(&file, &ev, 0);
	append(path, file.b, file.n, 1);
	/* and a frame cut short */
	file.n = 0;
	event(&ev, 3, &sum);
	frame(&file, &ev, 0);
	append(path, file.b, file.n - 5, 0);

	snprintf(path, sizeof path, "%s/tb", dir);
	s = source_new(path, getuid(), getgid());
	CHECK(source_step(s, 0, take, &g) == 0);
	CHECK(g.n == 2 && g.epochs[0] == 1 && g.epochs[1] == 2);
	CHECK(g.v[1] == 0.25);
	CHECK(g.bad == 2);
	CHECK(strstr(g.why, "bad data CRC") != NULL);
	/* the cut frame waits ... then, the trainer gone, counts */
	CHECK(source_step(s, 1, take, &g) == 0);
	CHECK(g.bad == 3 && strstr(g.why, "incomplete last record"));
	CHECK_STR(g.why,
		  "run1/events.out.tfevents.1.h: incomplete last record");
	CHECK(source_step(s, 1, take, &g) >= 0);
	CHECK(g.bad == 3);
	source_free(s);
}

static void test_not_a_regular_file(void)
{
	char path[256];
	struct got g = { .name = "x" };
	struct source *s;

	snprintf(path, sizeof path, "%s/fifo", dir);
	CHECK(mkfifo(path, 0600) == 0);
	s = source_new(path, getuid(), getgid());
	CHECK(source_step(s, 0, take, &g) < 0); /* never waits on it */
	source_free(s);
	/* a link at the last component is not followed */
	snprintf(path, sizeof path, "%s/link", dir);
	CHECK(symlink("/etc/passwd", path) == 0);
	s = source_new(path, getuid(), getgid());
	CHECK(source_step(s, 0, take, &g) < 0 && g.n == 0);
	source_free(s);
}

static void test_setup(void)
{
	CHECK(mkdtemp(dir) != NULL);
}

static void test_cleanup(void)
{
	char cmd[300];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	CHECK(system(cmd) == 0);
}

TEST_MAIN("sources", TEST(test_csv_lines), TEST(test_jsonl),
	  TEST(test_tfrecord), TEST(test_tfevent), TEST(test_real_logs),
	  TEST(test_setup), TEST(test_growth_and_rewrite),
	  TEST(test_frames_corrupt_and_incomplete),
	  TEST(test_not_a_regular_file), TEST(test_cleanup))
