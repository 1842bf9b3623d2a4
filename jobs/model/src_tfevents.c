/*
 * src_tfevents: TFRecord frames and the few protocol buffer messages of a
 * TensorBoard event (src_tfevents.h).
 *
 * The protocol buffer reader is a cursor over a byte range: each field is
 * a varint key (number << 3 | wire type) and a value: a varint (type 0),
 * 8 bytes (1), a length and that many bytes (2), or 4 bytes (5); groups
 * (3, 4) are refused.  A length-delimited field becomes a sub-cursor that
 * is checked to lie inside its parent, so no read leaves the frame.
 * CRC32C is computed bytewise from a table built on first use (the
 * frames of scalar summaries are a few dozen bytes).
 */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jobs/model/src_tfevents.h"

static uint32_t crc_table[256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++)
			c = c & 1 ? (c >> 1) ^ 0x82f63b78u : c >> 1;
		crc_table[i] = c;
	}
}

uint32_t tfrec_crc32c(uint32_t crc, const void *p, size_t n)
{
	const unsigned char *b = p;

	pthread_once(&crc_once, crc_init);
	crc = ~crc;
	while (n--)
		crc = crc_table[(crc ^ *b++) & 0xff] ^ (crc >> 8);
	return ~crc;
}

uint32_t tfrec_masked_crc(const void *p, size_t n)
{
	uint32_t c = tfrec_crc32c(0, p, n);

	return ((c >> 15) | (c << 17)) + 0xa282ead8u;
}

static uint32_t le32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static uint64_t le64(const unsigned char *p)
{
	return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}

int tfrec_header(const unsigned char *h, uint64_t *len)
{
	if (tfrec_masked_crc(h, 8) != le32(h + 8))
		return -1;
	*len = le64(h);
	return 0;
}

int tfrec_data_ok(const unsigned char *d, size_t n, const unsigned char *footer)
{
	return tfrec_masked_crc(d, n) == le32(footer) ? 0 : -1;
}

/* ---- protocol buffers ---- */

struct pb {
	const unsigned char *p, *end;
};

/* One field: its number, wire type, and value (V, or the bytes in SUB). */
struct pb_field {
	uint64_t num;
	int type;
	uint64_t v;
	struct pb sub;
};

static int pb_varint(struct pb *b, uint64_t *v)
{
	*v = 0;
	for (int shift = 0; shift < 64; shift += 7) {
		if (b->p == b->end)
			return -1;
		unsigned char c = *b->p++;
		*v |= (uint64_t)(c & 0x7f) << shift;
		if (!(c & 0x80))
			return 0;
	}
	return -1; /* more than 10 bytes */
}

/* Reads the next field of B into *F: 1, 0 at the end, -1 malformed. */
static int pb_next(struct pb *b, struct pb_field *f)
{
	uint64_t key, len;

	if (b->p == b->end)
		return 0;
	if (pb_varint(b, &key))
		return -1;
	f->num = key >> 3;
	f->type = (int)(key & 7);
	switch (f->type) {
	case 0:
		return pb_varint(b, &f->v) ? -1 : 1;
	case 1:
		if (b->end - b->p < 8)
			return -1;
		f->v = le64(b->p);
		b->p += 8;
		return 1;
	case 5:
		if (b->end - b->p < 4)
			return -1;
		f->v = le32(b->p);
		b->p += 4;
		return 1;
	case 2:
		if (pb_varint(b, &len) || len > (uint64_t)(b->end - b->p))
			return -1;
		f->sub.p = b->p;
		f->sub.end = b->p + len;
		b->p += len;
		return 1;
	default:
		return -1;
	}
}

/*
 * A float as the double of its shortest decimal that reads back as the
 * same float: 0.54f is 0.54, not 0.5400000214576721, as TensorBoard and
 * the trainer that logged 0.54 show it.
 */
static double as_float(uint32_t bits)
{
	char text[32];
	float f;

	memcpy(&f, &bits, sizeof f);
	if (!isfinite(f))
		return (double)f;
	for (int prec = 1; prec <= 9; prec++) {
		snprintf(text, sizeof text, "%.*g", prec, (double)f);
		if (strtof(text, NULL) == f)
			return strtod(text, NULL);
	}
	return (double)f;
}

static double as_double(uint64_t bits)
{
	double d;

	memcpy(&d, &bits, sizeof d);
	return d;
}

#define DT_FLOAT 1
#define DT_DOUBLE 2

/*
 * Reads a TensorProto: 1 with its one value in *V when it is a float or
 * double scalar, 0 when it is anything else, -1 malformed.
 */
static int pb_tensor(struct pb t, double *v)
{
	struct pb_field f;
	uint64_t dtype = 0;
	size_t count = 0;
	int r;

	while ((r = pb_next(&t, &f)) > 0) {
		size_t len = (size_t)(f.sub.end - f.sub.p);
		if (f.num == 1 && f.type == 0) {
			dtype = f.v;
		} else if (f.num == 5 && f.type == 5) {
			*v = as_float((uint32_t)f.v);
			count++;
		} else if (f.num == 5 && f.type == 2 && len % 4 == 0) {
			if (len == 4)
				*v = as_float(le32(f.sub.p));
			count += len / 4;
		} else if (f.num == 6 && f.type == 1) {
			*v = as_double(f.v);
			count++;
		} else if (f.num == 6 && f.type == 2 && len % 8 == 0) {
			if (len == 8)
				*v = as_double(le64(f.sub.p));
			count += len / 8;
		} else if (f.num == 4 && f.type == 2) {
			if (len == 4)
				*v = as_float(le32(f.sub.p));
			else if (len == 8)
				*v = as_double(le64(f.sub.p));
			count += len == 4 || len == 8 ? 1 : 2;
		}
	}
	if (r < 0)
		return -1;
	return count == 1 && (dtype == DT_FLOAT || dtype == DT_DOUBLE);
}

/* One line being built: its metrics, capacity, the reason for left-outs. */
struct tf_build {
	struct metrics_line *out;
	size_t cap;
	int left_out;
	char *why;
	size_t whylen;
	const char *prefix;
};

static void tf_why(struct tf_build *b, const char *fmt, const char *s, size_t n)
{
	char q[24];
	size_t i, k = 0;

	b->left_out = 1;
	if (!b->why || !b->whylen || b->why[0])
		return;
	for (i = 0; i < n && k < 20; i++)
		q[k++] = s[i] >= 0x20 && s[i] < 0x7f ? s[i] : '?';
	q[k] = '\0';
	snprintf(b->why, b->whylen, fmt, q, i < n ? "..." : "");
}

/* Adds TAG (N bytes) = V to the line, named with the prefix.  0 or -1. */
static int tf_put(struct tf_build *b, const char *tag, size_t n, double v)
{
	size_t plen = b->prefix ? strlen(b->prefix) : 0;
	char name[METRICS_NAME_MAX + 1];
	size_t len;

	while (n && (tag[0] == ' ' || tag[0] == '\t')) {
		tag++;
		n--;
	}
	while (n && (tag[n - 1] == ' ' || tag[n - 1] == '\t'))
		n--;
	if (!plen && n == 5 && !memcmp(tag, "epoch", 5))
		return 0; /* the step is the epoch */
	len = plen ? plen + 1 + n : n;
	if (len > METRICS_NAME_MAX) {
		tf_why(b, "bad metric name '%s%s'", tag, n);
		return 0;
	}
	if (plen) {
		memcpy(name, b->prefix, plen);
		name[plen] = '/';
	}
	memcpy(name + (plen ? plen + 1 : 0), tag, n);
	name[len] = '\0';
	if (!metrics_name_valid(name, len) || memchr(tag, '\0', n)) {
		tf_why(b, "bad metric name '%s%s'", tag, n);
		return 0;
	}
	if (b->out->n == METRICS_NAMES_MAX) {
		tf_why(b, "too many metric names%s%s", "", 0);
		return 0;
	}
	if (b->out->n == b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 8;
		struct metric *m = realloc(b->out->m, cap * sizeof *m);
		if (!m)
			return -1;
		b->out->m = m;
		b->cap = cap;
	}
	if (!(b->out->m[b->out->n].name = strdup(name)))
		return -1;
	b->out->m[b->out->n++].value = v;
	return 0;
}

/* Reads a Summary.Value into the line.  0, or -1 malformed / no memory. */
static int tf_value(struct tf_build *b, struct pb val)
{
	struct pb_field f;
	const unsigned char *tag = NULL;
	size_t tlen = 0;
	double v = 0;
	int have = 0, r;

	while ((r = pb_next(&val, &f)) > 0) {
		if (f.num == 1 && f.type == 2) {
			tag = f.sub.p;
			tlen = (size_t)(f.sub.end - f.sub.p);
		} else if (f.num == 2 && f.type == 5) {
			v = as_float((uint32_t)f.v);
			have = 2; /* simple_value wins over a tensor */
		} else if (f.num == 8 && f.type == 2 && have < 2) {
			double t;
			int s = pb_tensor(f.sub, &t);
			if (s < 0)
				return -1;
			if (s) {
				v = t;
				have = 1;
			}
		}
	}
	if (r < 0)
		return -1;
	if (!have || !tag)
		return 0; /* an image, a histogram, text: not a scalar */
	return tf_put(b, (const char *)tag, tlen, v);
}

/* Reads a Summary into the line.  0, or -1 malformed / no memory. */
static int tf_summary(struct tf_build *b, struct pb sum)
{
	struct pb_field f;
	int r;

	while ((r = pb_next(&sum, &f)) > 0)
		if (f.num == 1 && f.type == 2 && tf_value(b, f.sub))
			return -1;
	return r;
}

int tfevent_decode(const unsigned char *d, size_t n, const char *prefix,
		   struct metrics_line *out, char *why, size_t whylen)
{
	struct tf_build b = { .out = out,
			      .why = why,
			      .whylen = whylen,
			      .prefix = prefix && *prefix ? prefix : NULL };
	struct pb ev = { d, d + n }, sums[8];
	struct pb_field f;
	size_t nsum = 0;
	int64_t step = 0;
	const char *dup;
	int r;

	memset(out, 0, sizeof *out);
	if (why && whylen)
		why[0] = '\0';
	while ((r = pb_next(&ev, &f)) > 0) {
		if (f.num == 2 && f.type == 0)
			step = (int64_t)f.v;
		else if (f.num == 5 && f.type == 2 && nsum < 8)
			sums[nsum++] = f.sub;
	}
	if (r < 0)
		goto malformed;
	for (size_t i = 0; i < nsum; i++)
		if (tf_summary(&b, sums[i]))
			goto malformed;
	if (!out->n && !b.left_out) {
		metrics_line_free(out);
		return 2;
	}
	if (step < 0 || step > METRICS_EPOCH_MAX) {
		metrics_line_free(out);
		if (why && whylen)
			snprintf(why, whylen, "step %lld is out of 0..%ld",
				 (long long)step, METRICS_EPOCH_MAX);
		return -1;
	}
	out->epoch = (long)step;
	if (metrics_line_dedupe(out, &dup) > 0)
		tf_why(&b, "metric '%s%s' given twice", dup, strlen(dup));
	return b.left_out;
malformed:
	metrics_line_free(out);
	if (why && whylen)
		snprintf(why, whylen, "not an Event protocol buffer");
	return -1;
}
