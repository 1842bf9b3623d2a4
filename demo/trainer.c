// SPDX-License-Identifier: MIT
/*
 * demo/trainer.c - the bundled demo trainer for trainfs.
 *
 * Design
 * ------
 * A real, if small, learning job that needs nothing but libc and libm, so
 * `make run` can show trainfs end to end on any machine:
 *
 *   data   "two moons": two interleaved half circles in the plane with
 *          Gaussian noise, generated from a fixed seed (the same data on
 *          every run, whatever --seed says), split 80/20 into a training
 *          and a validation set.
 *   model  a 2-layer perceptron: 2 inputs -> HIDDEN tanh units -> 1
 *          sigmoid output, trained with binary cross-entropy.
 *   solver plain mini-batch SGD (batch 32, reshuffled every epoch from
 *          --seed), gradients written out by hand.
 *
 * The defaults are tuned so that validation loss falls quickly, then
 * flattens out: with "monitor = val_loss, mode = min, patience = 5,
 * min_delta = 0.001" trainfs auto-stops the demo job well before epoch 100.
 *
 * The trainfs contract (trainfs(1), the trainer's side):
 *
 *   TRAINFS_OUTPUT     directory for weights; every epoch model.bin and
 *                      model.json are replaced atomically (write NAME.tmp,
 *                      fsync, rename, fsync the directory), so whatever
 *                      moment the job is stopped or killed at, the
 *                      directory holds one complete checkpoint.
 *   TRAINFS_METRICS    one "epoch=E loss=L val_loss=V accuracy=A" line per
 *                      epoch, appended with a single write() on an
 *                      O_APPEND descriptor, after that epoch's checkpoint.
 *   TRAINFS_STOP_FILE  polled after every epoch and while sleeping.
 *   TRAINFS_CHECKPOINTS
 *                      after each epoch's metrics line, a checkpoint folder
 *                      epoch-N: model.bin, model.json and state.bin (the
 *                      shuffling state, so a resumed run goes on exactly as
 *                      an unbroken one), written as epoch-N.tmp, fsynced
 *                      and renamed, so epoch-N is always whole.
 *   TRAINFS_RESUME_FROM, TRAINFS_RESUME_EPOCH
 *                      after a resume: load that checkpoint folder and go
 *                      on with epoch N+1.
 *   TRAINFS_EPOCHS     the target epochs, over --epochs when set (trainfs
 *                      passes the spec's epochs, raised by resume epochs=N).
 *   SIGTERM, SIGINT    set a flag; the current epoch is finished and
 *                      checkpointed, then the trainer exits 0.
 *
 * Without the variables it runs by hand: output in ./out, metrics in
 * ./metrics.txt, no stop file, no checkpoints.
 *
 * Exit status: 0 after the last epoch or after a requested stop; 2 on a
 * bad option or any failed system call (the reason is on stderr).
 *
 * model.bin layout (native byte order, named in model.json):
 *   char magic[4] = "TFMD"; uint32 version = 1, inputs = 2, hidden,
 *   outputs = 1, epoch; then doubles w1[hidden][2], b1[hidden],
 *   w2[hidden], b2.
 * state.bin: char magic[4] = "TFST"; uint64 rng; uint32 n; uint32 order[n].
 */

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define N_SAMPLES 600 /* whole data set */
#define N_TRAIN 480   /* the rest is validation */
#define BATCH 32
#define NOISE 0.25		     /* std dev of the Gaussian noise */
#define DATA_SEED 0x7261696e66735ULL /* fixed: same data every run */
#define MAX_HIDDEN 4096
#define POLL_MS 100 /* stop-file poll while sleeping */

struct opts {
	long epochs;
	long epoch_ms;
	double lr;
	long hidden;
	unsigned long long seed;
};

struct sample {
	double x[2];
	double y; /* 0 or 1 */
};

struct model {
	int hidden;
	double *w1; /* [hidden][2] */
	double *b1; /* [hidden] */
	double *w2; /* [hidden] */
	double b2;
};

struct grads {
	double *w1, *b1, *w2;
	double b2;
};

struct eval {
	double loss;
	double accuracy;
};

static volatile sig_atomic_t stop_signal;

static const char *prog = "trainer";

static void die(const char *fmt, ...)
	__attribute__((format(printf, 1, 2), noreturn));

static void die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(2);
}

static void on_signal(int sig)
{
	stop_signal = sig;
}

/* ---- random numbers: splitmix64, deterministic on every platform ---- */

static uint64_t rng_next(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* uniform in [0, 1) */
static double rng_uniform(uint64_t *s)
{
	return (rng_next(s) >> 11) * (1.0 / 9007199254740992.0);
}

static double rng_gauss(uint64_t *s)
{
	double u1 = 1.0 - rng_uniform(s); /* (0, 1]: log() is finite */
	double u2 = rng_uniform(s);

	return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

/* ---- data ---- */

static void make_moons(struct sample *d, int n)
{
	uint64_t s = DATA_SEED;
	int i;

	for (i = 0; i < n; i++) {
		double t = M_PI * rng_uniform(&s);

		if (i % 2 == 0) {
			d[i].x[0] = cos(t);
			d[i].x[1] = sin(t);
			d[i].y = 0.0;
		} else {
			d[i].x[0] = 1.0 - cos(t);
			d[i].x[1] = 0.5 - sin(t);
			d[i].y = 1.0;
		}
		d[i].x[0] += NOISE * rng_gauss(&s);
		d[i].x[1] += NOISE * rng_gauss(&s);
	}
	/* shuffle before the split so both sets hold both classes */
	for (i = n - 1; i > 0; i--) {
		int j = (int)(rng_next(&s) % (uint64_t)(i + 1));
		struct sample t = d[i];

		d[i] = d[j];
		d[j] = t;
	}
}

/* ---- model ---- */

static void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n, size);

	if (!p)
		die("out of memory");
	return p;
}

static void model_init(struct model *m, int hidden, uint64_t *s)
{
	double scale1 = 1.0; /* Xavier-ish for 2 inputs */
	double scale2 = 1.0 / sqrt(hidden);
	int j;

	m->hidden = hidden;
	m->w1 = xcalloc(2 * (size_t)hidden, sizeof(double));
	m->b1 = xcalloc(hidden, sizeof(double));
	m->w2 = xcalloc(hidden, sizeof(double));
	m->b2 = 0.0;
	for (j = 0; j < hidden; j++) {
		m->w1[2 * j] = scale1 * rng_gauss(s);
		m->w1[2 * j + 1] = scale1 * rng_gauss(s);
		m->w2[j] = scale2 * rng_gauss(s);
	}
}

/* Forward pass: fills the hidden activations h[] and returns the logit. */
static double forward(const struct model *m, const double *x, double *h)
{
	double z = m->b2;
	int j;

	for (j = 0; j < m->hidden; j++) {
		h[j] = tanh(m->w1[2 * j] * x[0] + m->w1[2 * j + 1] * x[1] +
			    m->b1[j]);
		z += m->w2[j] * h[j];
	}
	return z;
}

/* Binary cross-entropy of a logit, computed without overflow. */
static double bce(double z, double y)
{
	return fmax(z, 0.0) - z * y + log1p(exp(-fabs(z)));
}

static double sigmoid(double z)
{
	if (z >= 0)
		return 1.0 / (1.0 + exp(-z));
	return exp(z) / (1.0 + exp(z));
}

/* One epoch of mini-batch SGD; returns the mean training loss. */
static double train_epoch(struct model *m, struct grads *g,
			  const struct sample *d, int *order, int n, double lr,
			  double *h, uint64_t *s)
{
	double total = 0.0;
	int i, j, start;

	for (i = n - 1; i > 0; i--) {
		int k = (int)(rng_next(s) % (uint64_t)(i + 1));
		int t = order[i];

		order[i] = order[k];
		order[k] = t;
	}

	for (start = 0; start < n; start += BATCH) {
		int end = start + BATCH < n ? start + BATCH : n;
		double step = lr / (end - start);

		memset(g->w1, 0, 2 * (size_t)m->hidden * sizeof(double));
		memset(g->b1, 0, (size_t)m->hidden * sizeof(double));
		memset(g->w2, 0, (size_t)m->hidden * sizeof(double));
		g->b2 = 0.0;

		for (i = start; i < end; i++) {
			const struct sample *p = &d[order[i]];
			double z = forward(m, p->x, h);
			double dz = sigmoid(z) - p->y; /* dLoss/dz */

			total += bce(z, p->y);
			g->b2 += dz;
			for (j = 0; j < m->hidden; j++) {
				double dh = dz * m->w2[j] * (1.0 - h[j] * h[j]);

				g->w2[j] += dz * h[j];
				g->b1[j] += dh;
				g->w1[2 * j] += dh * p->x[0];
				g->w1[2 * j + 1] += dh * p->x[1];
			}
		}

		m->b2 -= step * g->b2;
		for (j = 0; j < m->hidden; j++) {
			m->w2[j] -= step * g->w2[j];
			m->b1[j] -= step * g->b1[j];
			m->w1[2 * j] -= step * g->w1[2 * j];
			m->w1[2 * j + 1] -= step * g->w1[2 * j + 1];
		}
	}
	return total / n;
}

static struct eval evaluate(const struct model *m, const struct sample *d,
			    int n, double *h)
{
	struct eval e = { 0.0, 0.0 };
	int i, right = 0;

	for (i = 0; i < n; i++) {
		double z = forward(m, d[i].x, h);

		e.loss += bce(z, d[i].y);
		if ((z >= 0.0) == (d[i].y > 0.5))
			right++;
	}
	e.loss /= n;
	e.accuracy = (double)right / n;
	return e;
}

/* ---- files ---- */

static void write_all(int fd, const void *buf, size_t len, const char *path)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t r = write(fd, p, len);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			die("write %s: %s", path, strerror(errno));
		}
		p += r;
		len -= (size_t)r;
	}
}

static void fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		die("open %s: %s", dir, strerror(errno));
	if (fsync(fd) < 0 && errno != EINVAL)
		die("fsync %s: %s", dir, strerror(errno));
	if (close(fd) < 0)
		die("close %s: %s", dir, strerror(errno));
}

/* Replace DIR/NAME with BUF atomically: NAME.tmp, fsync, rename. */
static void write_atomic(const char *dir, const char *name, const void *buf,
			 size_t len)
{
	char path[4096], tmp[4096];
	int fd;

	if (snprintf(path, sizeof(path), "%s/%s", dir, name) >=
		    (int)sizeof(path) ||
	    snprintf(tmp, sizeof(tmp), "%s/%s.tmp", dir, name) >=
		    (int)sizeof(tmp))
		die("%s: path too long", dir);

	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		die("open %s: %s", tmp, strerror(errno));
	write_all(fd, buf, len, tmp);
	if (fsync(fd) < 0)
		die("fsync %s: %s", tmp, strerror(errno));
	if (close(fd) < 0)
		die("close %s: %s", tmp, strerror(errno));
	if (rename(tmp, path) < 0)
		die("rename %s to %s: %s", tmp, path, strerror(errno));
}

static void put_u32(unsigned char **p, uint32_t v)
{
	memcpy(*p, &v, sizeof(v));
	*p += sizeof(v);
}

static void put_doubles(unsigned char **p, const double *v, size_t n)
{
	memcpy(*p, v, n * sizeof(double));
	*p += n * sizeof(double);
}

/* Print a number the way trainfs reads it: "nan" and "inf" spelled out. */
static const char *num(char *buf, size_t len, double v)
{
	if (isnan(v))
		snprintf(buf, len, "nan");
	else if (isinf(v))
		snprintf(buf, len, v > 0 ? "inf" : "-inf");
	else
		snprintf(buf, len, "%.6f", v);
	return buf;
}

static void save_checkpoint(const char *dir, const struct model *m,
			    const struct opts *o, long epoch,
			    const struct eval *val)
{
	size_t h = (size_t)m->hidden;
	size_t len = 4 + 5 * sizeof(uint32_t) + (4 * h + 1) * sizeof(double);
	unsigned char *buf = xcalloc(1, len), *p = buf;
	uint32_t one = 1;
	char json[1024], a[32], b[32];
	int n;

	memcpy(p, "TFMD", 4);
	p += 4;
	put_u32(&p, 1); /* version */
	put_u32(&p, 2); /* inputs */
	put_u32(&p, (uint32_t)m->hidden);
	put_u32(&p, 1); /* outputs */
	put_u32(&p, (uint32_t)epoch);
	put_doubles(&p, m->w1, 2 * h);
	put_doubles(&p, m->b1, h);
	put_doubles(&p, m->w2, h);
	put_doubles(&p, &m->b2, 1);
	write_atomic(dir, "model.bin", buf, len);
	free(buf);

	n = snprintf(json, sizeof(json),
		     "{\n"
		     "  \"format\": \"trainfs-demo-mlp\",\n"
		     "  \"version\": 1,\n"
		     "  \"file\": \"model.bin\",\n"
		     "  \"byte_order\": \"%s\",\n"
		     "  \"dtype\": \"float64\",\n"
		     "  \"header_bytes\": %zu,\n"
		     "  \"layers\": [\n"
		     "    {\"type\": \"dense\", \"in\": 2, \"out\": %d, "
		     "\"activation\": \"tanh\", \"params\": [\"w1[%d][2]\", "
		     "\"b1[%d]\"]},\n"
		     "    {\"type\": \"dense\", \"in\": %d, \"out\": 1, "
		     "\"activation\": \"sigmoid\", \"params\": [\"w2[%d]\", "
		     "\"b2\"]}\n"
		     "  ],\n"
		     "  \"task\": \"two moons, binary classification\",\n"
		     "  \"epoch\": %ld,\n"
		     "  \"learning_rate\": %g,\n"
		     "  \"seed\": %llu,\n"
		     "  \"val_loss\": %s,\n"
		     "  \"accuracy\": %s\n"
		     "}\n",
		     *(unsigned char *)&one ? "little" : "big",
		     (size_t)(4 + 5 * sizeof(uint32_t)), m->hidden, m->hidden,
		     m->hidden, m->hidden, m->hidden, epoch, o->lr, o->seed,
		     isfinite(val->loss) ? num(a, sizeof(a), val->loss) :
					   "null",
		     num(b, sizeof(b), val->accuracy));
	if (n < 0 || n >= (int)sizeof(json))
		die("model.json too long");
	write_atomic(dir, "model.json", json, (size_t)n);
	fsync_dir(dir);
}

/* ---- checkpoints (TRAINFS_CHECKPOINTS) ---- */

/* Removes PATH and all below it, never following a link. */
static void remove_tree_at(int dirfd, const char *name)
{
	int fd = openat(dirfd, name,
			O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	struct dirent *de;
	DIR *d;

	if (fd < 0) {
		if (errno == ENOENT)
			return;
		if (errno != ENOTDIR && errno != ELOOP)
			die("open %s: %s", name, strerror(errno));
		if (unlinkat(dirfd, name, 0) < 0 && errno != ENOENT)
			die("unlink %s: %s", name, strerror(errno));
		return;
	}
	if (!(d = fdopendir(fd)))
		die("fdopendir %s: %s", name, strerror(errno));
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		remove_tree_at(fd, de->d_name);
	}
	closedir(d);
	if (unlinkat(dirfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
		die("rmdir %s: %s", name, strerror(errno));
}

static void save_state(const char *dir, uint64_t rng, const int *order, int n)
{
	size_t len = 4 + sizeof(uint64_t) + sizeof(uint32_t) +
		     (size_t)n * sizeof(uint32_t);
	unsigned char *buf = xcalloc(1, len), *p = buf;
	int i;

	memcpy(p, "TFST", 4);
	p += 4;
	memcpy(p, &rng, sizeof(rng));
	p += sizeof(rng);
	put_u32(&p, (uint32_t)n);
	for (i = 0; i < n; i++)
		put_u32(&p, (uint32_t)order[i]);
	write_atomic(dir, "state.bin", buf, len);
	free(buf);
}

/*
 * Writes the checkpoint of EPOCH as CKPT_DIR/epoch-N: into epoch-N.tmp
 * first, then renamed, so a folder named epoch-N is always whole.  An
 * epoch-N left by an earlier run (before a resume from an older one) is
 * replaced.
 */
static void write_checkpoint(const char *ckpt_dir, const struct model *m,
			     const struct opts *o, long epoch,
			     const struct eval *val, uint64_t rng,
			     const int *order, int n)
{
	char tmp[4096], final[4096], old[4096];
	int dfd;

	if (snprintf(tmp, sizeof(tmp), "%s/epoch-%ld.tmp", ckpt_dir, epoch) >=
		    (int)sizeof(tmp) ||
	    snprintf(final, sizeof(final), "%s/epoch-%ld", ckpt_dir, epoch) >=
		    (int)sizeof(final) ||
	    snprintf(old, sizeof(old), "epoch-%ld.old", epoch) >=
		    (int)sizeof(old))
		die("%s: path too long", ckpt_dir);
	dfd = open(ckpt_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		die("open %s: %s", ckpt_dir, strerror(errno));
	remove_tree_at(dfd, strrchr(tmp, '/') + 1); /* a crash's leftover */
	if (mkdir(tmp, 0700) < 0)
		die("mkdir %s: %s", tmp, strerror(errno));
	save_checkpoint(tmp, m, o, epoch, val);
	save_state(tmp, rng, order, n);
	fsync_dir(tmp);
	if (rename(tmp, final) < 0) {
		if (errno != ENOTEMPTY && errno != EEXIST)
			die("rename %s to %s: %s", tmp, final, strerror(errno));
		remove_tree_at(dfd, old);
		if (renameat(dfd, strrchr(final, '/') + 1, dfd, old) < 0 ||
		    rename(tmp, final) < 0)
			die("rename %s to %s: %s", tmp, final, strerror(errno));
		remove_tree_at(dfd, old);
	}
	if (fsync(dfd) < 0 && errno != EINVAL)
		die("fsync %s: %s", ckpt_dir, strerror(errno));
	close(dfd);
}

/* Reads all of DIR/NAME (at most MAX bytes) into a malloc'd buffer. */
static unsigned char *read_file(const char *dir, const char *name, size_t max,
				size_t *len)
{
	char path[4096];
	unsigned char *buf;
	size_t used = 0;
	int fd;

	if (snprintf(path, sizeof(path), "%s/%s", dir, name) >=
	    (int)sizeof(path))
		die("%s: path too long", dir);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		die("open %s: %s", path, strerror(errno));
	buf = xcalloc(1, max + 1);
	for (;;) {
		ssize_t r = read(fd, buf + used, max + 1 - used);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			die("read %s: %s", path, strerror(errno));
		if (r == 0)
			break;
		used += (size_t)r;
		if (used > max)
			die("%s: larger than %zu bytes", path, max);
	}
	close(fd);
	*len = used;
	return buf;
}

static uint32_t get_u32(const unsigned char **p)
{
	uint32_t v;

	memcpy(&v, *p, sizeof(v));
	*p += sizeof(v);
	return v;
}

/*
 * Loads the model of checkpoint folder DIR into *m (allocating it) and its
 * shuffling state into *rng and ORDER[N]; returns the epoch it holds.
 */
static long load_checkpoint(const char *dir, struct model *m, uint64_t *rng,
			    int *order, int n)
{
	size_t head = 4 + 5 * sizeof(uint32_t), len, h;
	unsigned char *buf;
	const unsigned char *p;
	uint32_t hidden, epoch;
	int i;

	buf = read_file(dir, "model.bin",
			head + (4 * MAX_HIDDEN + 1) * sizeof(double), &len);
	p = buf + 4;
	if (len < head || memcmp(buf, "TFMD", 4) || get_u32(&p) != 1 ||
	    get_u32(&p) != 2)
		die("%s/model.bin: not a demo model", dir);
	hidden = get_u32(&p);
	if (get_u32(&p) != 1 || hidden < 1 || hidden > MAX_HIDDEN)
		die("%s/model.bin: not a demo model", dir);
	epoch = get_u32(&p);
	h = hidden;
	if (len != head + (4 * h + 1) * sizeof(double))
		die("%s/model.bin: %zu bytes, not %zu", dir, len,
		    head + (4 * h + 1) * sizeof(double));
	m->hidden = (int)hidden;
	m->w1 = xcalloc(2 * h, sizeof(double));
	m->b1 = xcalloc(h, sizeof(double));
	m->w2 = xcalloc(h, sizeof(double));
	memcpy(m->w1, p, 2 * h * sizeof(double));
	p += 2 * h * sizeof(double);
	memcpy(m->b1, p, h * sizeof(double));
	p += h * sizeof(double);
	memcpy(m->w2, p, h * sizeof(double));
	p += h * sizeof(double);
	memcpy(&m->b2, p, sizeof(double));
	free(buf);

	buf = read_file(dir, "state.bin",
			4 + sizeof(uint64_t) + sizeof(uint32_t) +
				(size_t)n * sizeof(uint32_t),
			&len);
	p = buf + 4 + sizeof(uint64_t);
	if (len != 4 + sizeof(uint64_t) + sizeof(uint32_t) +
			    (size_t)n * sizeof(uint32_t) ||
	    memcmp(buf, "TFST", 4) || get_u32(&p) != (uint32_t)n)
		die("%s/state.bin: not the demo's trainer state", dir);
	memcpy(rng, buf + 4, sizeof(*rng));
	for (i = 0; i < n; i++) {
		uint32_t v = get_u32(&p);

		if (v >= (uint32_t)n)
			die("%s/state.bin: not the demo's trainer state", dir);
		order[i] = (int)v;
	}
	free(buf);
	return epoch;
}

static void append_metrics(int fd, const char *path, long epoch, double loss,
			   const struct eval *val)
{
	char line[256], a[32], b[32], c[32];
	int n;

	n = snprintf(line, sizeof(line),
		     "epoch=%ld loss=%s val_loss=%s accuracy=%s\n", epoch,
		     num(a, sizeof(a), loss), num(b, sizeof(b), val->loss),
		     num(c, sizeof(c), val->accuracy));
	if (n < 0 || n >= (int)sizeof(line))
		die("metrics line too long");
	for (;;) {
		ssize_t r = write(fd, line, (size_t)n);

		if (r == n)
			return;
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			die("write %s: %s", path, strerror(errno));
		die("write %s: short write (%zd of %d bytes)", path, r, n);
	}
}

static int stop_requested(const char *stop_file)
{
	if (stop_signal)
		return 1;
	if (!stop_file)
		return 0;
	if (access(stop_file, F_OK) == 0)
		return 1;
	if (errno != ENOENT && errno != ENOTDIR)
		die("access %s: %s", stop_file, strerror(errno));
	return 0;
}

/* ---- time ---- */

static double now_ms(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_MONOTONIC, &ts) < 0)
		die("clock_gettime: %s", strerror(errno));
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* Sleep until DEADLINE (ms), waking early for a signal or the stop file. */
static void sleep_until(double deadline, const char *stop_file)
{
	for (;;) {
		double left = deadline - now_ms();
		struct timespec ts;

		if (left <= 0 || stop_requested(stop_file))
			return;
		if (left > POLL_MS)
			left = POLL_MS;
		ts.tv_sec = (time_t)(left / 1e3);
		ts.tv_nsec = (long)((left - ts.tv_sec * 1e3) * 1e6);
		if (nanosleep(&ts, NULL) < 0 && errno != EINTR)
			die("nanosleep: %s", strerror(errno));
	}
}

/* ---- options ---- */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: %s [--epochs N] [--epoch-ms MS] [--lr X] [--hidden N] "
		"[--seed N]\n"
		"  --epochs N     epochs to train (default 100)\n"
		"  --epoch-ms MS  minimum wall time per epoch (default 3000)\n"
		"  --lr X         learning rate (default 0.5)\n"
		"  --hidden N     hidden units (default 16)\n"
		"  --seed N       seed for initial weights and shuffling "
		"(default 1)\n"
		"env: TRAINFS_OUTPUT (./out), TRAINFS_METRICS (./metrics.txt), "
		"TRAINFS_STOP_FILE (none), TRAINFS_JOB,\n"
		"     TRAINFS_EPOCHS (over --epochs), TRAINFS_CHECKPOINTS (none),\n"
		"     TRAINFS_RESUME_FROM and TRAINFS_RESUME_EPOCH (a resume)\n",
		prog);
}

static long parse_long(const char *opt, const char *s, long min, long max)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max)
		die("%s: '%s' is not a whole number from %ld to %ld", opt, s,
		    min, max);
	return v;
}

static void parse_opts(int argc, char **argv, struct opts *o)
{
	static const struct option longs[] = {
		{ "epochs", required_argument, NULL, 'e' },
		{ "epoch-ms", required_argument, NULL, 'm' },
		{ "lr", required_argument, NULL, 'l' },
		{ "hidden", required_argument, NULL, 'H' },
		{ "seed", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	char *end;
	int c;

	o->epochs = 100;
	o->epoch_ms =
		3000; /* about four minutes to converge: time to try stop */
	o->lr = 0.5;
	o->hidden = 16;
	o->seed = 1;

	while ((c = getopt_long(argc, argv, "", longs, NULL)) != -1) {
		switch (c) {
		case 'e':
			o->epochs =
				parse_long("--epochs", optarg, 1, 1000000000L);
			break;
		case 'm':
			o->epoch_ms =
				parse_long("--epoch-ms", optarg, 0, 86400000L);
			break;
		case 'l':
			errno = 0;
			o->lr = strtod(optarg, &end);
			if (errno || end == optarg || *end ||
			    !isfinite(o->lr) || o->lr <= 0)
				die("--lr: '%s' is not a positive number",
				    optarg);
			break;
		case 'H':
			o->hidden =
				parse_long("--hidden", optarg, 1, MAX_HIDDEN);
			break;
		case 's':
			o->seed = (unsigned long long)parse_long(
				"--seed", optarg, 0, LONG_MAX);
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			exit(2);
		}
	}
	if (optind < argc) {
		fprintf(stderr, "%s: unexpected argument '%s'\n", prog,
			argv[optind]);
		usage(stderr);
		exit(2);
	}
}

static const char *env_or(const char *name, const char *fallback)
{
	const char *v = getenv(name);

	return v && *v ? v : fallback;
}

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void say(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	if (fflush(stdout) == EOF || ferror(stdout))
		die("writing to stdout: %s", strerror(errno));
}

int main(int argc, char **argv)
{
	struct sample *data;
	struct model m;
	struct grads g;
	struct opts o;
	struct sigaction sa;
	const char *out_dir, *metrics_path, *stop_file, *job, *ckpt_dir;
	const char *resume_from;
	uint64_t rng;
	double *h;
	int *order;
	int metrics_fd, i;
	long epoch, first = 1;

	if (argv[0] && *argv[0])
		prog = argv[0];
	parse_opts(argc, argv, &o);

	out_dir = env_or("TRAINFS_OUTPUT", "./out");
	metrics_path = env_or("TRAINFS_METRICS", "./metrics.txt");
	stop_file = env_or("TRAINFS_STOP_FILE", NULL);
	job = env_or("TRAINFS_JOB", "(by hand)");
	ckpt_dir = env_or("TRAINFS_CHECKPOINTS", NULL);
	resume_from = env_or("TRAINFS_RESUME_FROM", NULL);
	if (env_or("TRAINFS_EPOCHS", NULL))
		o.epochs = parse_long("TRAINFS_EPOCHS",
				      getenv("TRAINFS_EPOCHS"), 1, 1000000000L);

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	if (sigemptyset(&sa.sa_mask) < 0 || sigaction(SIGTERM, &sa, NULL) < 0 ||
	    sigaction(SIGINT, &sa, NULL) < 0)
		die("sigaction: %s", strerror(errno));

	if (mkdir(out_dir, 0755) < 0 && errno != EEXIST)
		die("mkdir %s: %s", out_dir, strerror(errno));
	if (ckpt_dir && mkdir(ckpt_dir, 0700) < 0 && errno != EEXIST)
		die("mkdir %s: %s", ckpt_dir, strerror(errno));
	metrics_fd = open(metrics_path,
			  O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	if (metrics_fd < 0)
		die("open %s: %s", metrics_path, strerror(errno));

	data = xcalloc(N_SAMPLES, sizeof(*data));
	make_moons(data, N_SAMPLES);

	order = xcalloc(N_TRAIN, sizeof(int));
	for (i = 0; i < N_TRAIN; i++)
		order[i] = i;
	rng = o.seed * 0x2545f4914f6cdd1dULL + 1;
	if (resume_from) {
		long want = parse_long("TRAINFS_RESUME_EPOCH",
				       env_or("TRAINFS_RESUME_EPOCH", ""), 0,
				       1000000000L);
		long got =
			load_checkpoint(resume_from, &m, &rng, order, N_TRAIN);

		if (got != want)
			die("%s holds epoch %ld, not %ld", resume_from, got,
			    want);
		o.hidden = m.hidden;
		first = want + 1;
		say("resumed from %s: epoch %ld\n", resume_from, want);
	} else {
		model_init(&m, (int)o.hidden, &rng);
	}
	g.w1 = xcalloc(2 * (size_t)o.hidden, sizeof(double));
	g.b1 = xcalloc(o.hidden, sizeof(double));
	g.w2 = xcalloc(o.hidden, sizeof(double));
	h = xcalloc(o.hidden, sizeof(double));

	say("job %s: 2-%ld-1 MLP on two moons (%d train, %d validation), "
	    "lr %g, %ld epochs\n",
	    job, o.hidden, N_TRAIN, N_SAMPLES - N_TRAIN, o.lr, o.epochs);

	for (epoch = first; epoch <= o.epochs; epoch++) {
		double start = now_ms();
		double loss;
		struct eval val;

		loss = train_epoch(&m, &g, data, order, N_TRAIN, o.lr, h, &rng);
		val = evaluate(&m, data + N_TRAIN, N_SAMPLES - N_TRAIN, h);

		save_checkpoint(out_dir, &m, &o, epoch, &val);
		append_metrics(metrics_fd, metrics_path, epoch, loss, &val);
		if (ckpt_dir)
			write_checkpoint(ckpt_dir, &m, &o, epoch, &val, rng,
					 order, N_TRAIN);
		say("epoch %ld/%ld loss %.4f val_loss %.4f accuracy %.3f\n",
		    epoch, o.epochs, loss, val.loss, val.accuracy);

		if (epoch < o.epochs)
			sleep_until(start + o.epoch_ms, stop_file);
		if (stop_requested(stop_file)) {
			say("stop requested: saved checkpoint at epoch %ld\n",
			    epoch);
			break;
		}
		if (epoch == o.epochs)
			say("training finished: saved checkpoint at epoch "
			    "%ld\n",
			    epoch);
	}

	if (close(metrics_fd) < 0)
		die("close %s: %s", metrics_path, strerror(errno));
	free(order);
	free(h);
	free(g.w1);
	free(g.b1);
	free(g.w2);
	free(m.w1);
	free(m.b1);
	free(m.w2);
	free(data);
	return 0;
}
