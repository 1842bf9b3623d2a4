/*
 * loop: the tight syscall loops and small helper processes of the trainfs
 * benchmark (tests/bench/bench.py), in C so that no interpreter overhead
 * hides what the filesystem costs.  Every measuring command prints one line
 * of "key=value" fields on stdout; times are CLOCK_MONOTONIC nanoseconds.
 *
 *   loop openread PATH N        open + read (to EOF) + close, N times: ns/op
 *   loop stat PATH N            lstat N times: ns/op
 *   loop lsl DIR                readdir + lstat of each entry (ls -l): ns, entries
 *   loop readfile PATH          read to EOF with 1 MiB reads: ns, bytes
 *   loop dropcache PATH         posix_fadvise(DONTNEED) of PATH's page cache
 *   loop gen PATH BYTES [SEED]  writes BYTES of float32-like pseudo-random
 *                               data (real, barely compressible data, fast)
 *   loop sigtrainer RECORD      a trainer: SIGTERM/SIGINT handler notes the
 *                               time of receipt, written to RECORD; writes
 *                               $TRAINFS_OUTPUT/weights.bin (if set), then
 *                               RECORD.ready, and waits for the signal
 *   loop metricsclock PATH N US appends N lines "epoch=E t=NOW_NS", one
 *                               write(2) each, US microseconds apart
 *   loop metricsflood PATH N [TIMES]  appends N lines "epoch=E loss=V"
 *                               as fast as it can, one write(2) each; writes
 *                               "start=NS end=NS" to TIMES (and stdout)
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static int64_t now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000000000LL + t.tv_nsec;
}

static void die(const char *what, const char *path)
{
	fprintf(stderr, "loop: %s %s: %s\n", what, path ? path : "",
		strerror(errno));
	exit(1);
}

static long long arg_num(const char *s)
{
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno || *end || end == s || v < 0) {
		fprintf(stderr, "loop: bad number '%s'\n", s);
		exit(2);
	}
	return v;
}

static int write_all(int fd, const char *p, size_t len)
{
	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Writes TEXT to PATH through a temporary file and a rename. */
static void write_file_atomic(const char *path, const char *text)
{
	char tmp[4096];
	snprintf(tmp, sizeof tmp, "%s.tmp", path);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || write_all(fd, text, strlen(text)) < 0 || close(fd) < 0 ||
	    rename(tmp, path) < 0)
		die("writing", path);
}

static int cmd_openread(const char *path, long long n)
{
	static char buf[1 << 16];
	long long bytes = 0;
	int64_t t0 = now_ns();
	for (long long i = 0; i < n; i++) {
		int fd = open(path, O_RDONLY);
		if (fd < 0)
			die("open", path);
		ssize_t r;
		while ((r = read(fd, buf, sizeof buf)) > 0)
			bytes += r;
		if (r < 0)
			die("read", path);
		close(fd);
	}
	int64_t t = now_ns() - t0;
	printf("ns_per_op=%.1f ops=%lld bytes_per_op=%lld\n",
	       (double)t / (double)n, n, n ? bytes / n : 0);
	return 0;
}

static int cmd_stat(const char *path, long long n)
{
	struct stat st;
	int64_t t0 = now_ns();
	for (long long i = 0; i < n; i++)
		if (lstat(path, &st) < 0)
			die("lstat", path);
	int64_t t = now_ns() - t0;
	printf("ns_per_op=%.1f ops=%lld size=%lld\n", (double)t / (double)n, n,
	       (long long)st.st_size);
	return 0;
}

static int cmd_lsl(const char *dir)
{
	struct stat st;
	long long entries = 0;
	int64_t t0 = now_ns();
	DIR *d = opendir(dir);
	if (!d)
		die("opendir", dir);
	int fd = dirfd(d);
	struct dirent *de;
	errno = 0;
	while ((de = readdir(d))) {
		if (fstatat(fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			die("lstat in", dir);
		entries++;
		errno = 0;
	}
	if (errno)
		die("readdir", dir);
	closedir(d);
	int64_t t = now_ns() - t0;
	printf("ns=%lld entries=%lld\n", (long long)t, entries);
	return 0;
}

static int cmd_readfile(const char *path)
{
	size_t sz = 1 << 20;
	char *buf = malloc(sz);
	long long bytes = 0;
	if (!buf)
		die("malloc", NULL);
	int64_t t0 = now_ns();
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		die("open", path);
	ssize_t r;
	while ((r = read(fd, buf, sz)) > 0)
		bytes += r;
	if (r < 0)
		die("read", path);
	close(fd);
	int64_t t = now_ns() - t0;
	printf("ns=%lld bytes=%lld mib_per_s=%.1f\n", (long long)t, bytes,
	       t ? (double)bytes / (1 << 20) / ((double)t / 1e9) : 0.0);
	free(buf);
	return 0;
}

static int cmd_dropcache(const char *path)
{
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		die("open", path);
	fdatasync(fd);
	int rc = posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
	close(fd);
	if (rc) {
		errno = rc;
		die("posix_fadvise", path);
	}
	printf("dropped=1\n");
	return 0;
}

/*
 * Float32 values like trained weights: small, normal-ish magnitudes with
 * random mantissas.  zstd finds a little redundancy in the exponents and
 * none in the mantissas, as with real weights.
 */
static int cmd_gen(const char *path, long long bytes, uint64_t seed)
{
	size_t sz = 1 << 20;
	float *buf = malloc(sz);
	uint64_t x = seed * 0x9E3779B97F4A7C15ULL + 0x2545F4914F6CDD1DULL;
	if (!buf)
		die("malloc", NULL);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		die("open", path);
	int64_t t0 = now_ns();
	long long left = bytes;
	while (left > 0) {
		for (size_t i = 0; i < sz / sizeof *buf; i++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			int32_t r = (int32_t)(x >> 32);
			buf[i] = (float)r * (0.05f / 2147483648.0f);
		}
		size_t n = left < (long long)sz ? (size_t)left : sz;
		if (write_all(fd, (const char *)buf, n) < 0)
			die("write", path);
		left -= (long long)n;
	}
	if (close(fd) < 0)
		die("close", path);
	printf("ns=%lld bytes=%lld\n", (long long)(now_ns() - t0), bytes);
	free(buf);
	return 0;
}

static volatile sig_atomic_t got_signal;
static int64_t signal_ns;

static void on_stop(int sig)
{
	if (!got_signal) {
		signal_ns = now_ns(); /* clock_gettime is async-signal-safe */
		got_signal = sig;
	}
}

static int cmd_sigtrainer(const char *record)
{
	char path[4096], text[128];
	struct sigaction sa;
	sigset_t block, old;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_stop;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	/* Block the stop signals until the ready file exists, so no signal
	 * is lost between the check and the wait. */
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigprocmask(SIG_BLOCK, &block, &old);

	const char *out = getenv("TRAINFS_OUTPUT");
	if (out && *out) {
		snprintf(path, sizeof path, "%s/weights.bin", out);
		int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
			      0644);
		if (fd < 0 || write_all(fd, "weights\n", 8) < 0 ||
		    close(fd) < 0)
			die("writing", path);
	}
	snprintf(path, sizeof path, "%s.ready", record);
	snprintf(text, sizeof text, "%d\n", (int)getpid());
	write_file_atomic(path, text);

	alarm(600); /* a broken benchmark leaks nothing for long */
	sigset_t wait_mask = old;
	sigdelset(&wait_mask, SIGTERM);
	sigdelset(&wait_mask, SIGINT);
	while (!got_signal)
		sigsuspend(&wait_mask); /* returns after the handler ran */
	snprintf(text, sizeof text, "%lld\n", (long long)signal_ns);
	write_file_atomic(record, text);
	return 0;
}

static void sleep_until(int64_t t)
{
	int64_t left;
	while ((left = t - now_ns()) > 0) {
		struct timespec ts = { left / 1000000000LL,
				       left % 1000000000LL };
		nanosleep(&ts, NULL);
	}
}

static int cmd_metricsclock(const char *path, long long n, long long us)
{
	char line[128];
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		die("open", path);
	int64_t next = now_ns();
	for (long long e = 1; e <= n; e++) {
		sleep_until(next);
		int len = snprintf(line, sizeof line, "epoch=%lld t=%lld\n", e,
				   (long long)now_ns());
		if (write_all(fd, line, (size_t)len) < 0)
			die("write", path);
		next += us * 1000;
	}
	close(fd);
	return 0;
}

static int cmd_metricsflood(const char *path, long long n, const char *times)
{
	char line[128], text[128];
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		die("open", path);
	int64_t t0 = now_ns();
	for (long long e = 1; e <= n; e++) {
		int len = snprintf(line, sizeof line,
				   "epoch=%lld loss=%.4f acc=%.4f\n", e,
				   1.0 / (double)(e % 1000 + 1),
				   1.0 - 1.0 / (double)(e % 977 + 2));
		if (write_all(fd, line, (size_t)len) < 0)
			die("write", path);
	}
	int64_t t1 = now_ns();
	close(fd);
	snprintf(text, sizeof text, "start=%lld end=%lld lines=%lld\n",
		 (long long)t0, (long long)t1, n);
	if (times)
		write_file_atomic(times, text);
	fputs(text, stdout);
	return 0;
}

static void usage(void)
{
	fputs("usage: loop openread PATH N | stat PATH N | lsl DIR |"
	      " readfile PATH | dropcache PATH | gen PATH BYTES [SEED] |"
	      " sigtrainer RECORD | metricsclock PATH N US |"
	      " metricsflood PATH N [TIMES]\n",
	      stderr);
	exit(2);
}

int main(int argc, char **argv)
{
	if (argc < 3)
		usage();
	const char *cmd = argv[1];
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (!strcmp(cmd, "openread") && argc == 4)
		return cmd_openread(argv[2], arg_num(argv[3]));
	if (!strcmp(cmd, "stat") && argc == 4)
		return cmd_stat(argv[2], arg_num(argv[3]));
	if (!strcmp(cmd, "lsl") && argc == 3)
		return cmd_lsl(argv[2]);
	if (!strcmp(cmd, "readfile") && argc == 3)
		return cmd_readfile(argv[2]);
	if (!strcmp(cmd, "dropcache") && argc == 3)
		return cmd_dropcache(argv[2]);
	if (!strcmp(cmd, "gen") && (argc == 4 || argc == 5))
		return cmd_gen(argv[2], arg_num(argv[3]),
			       argc == 5 ? (uint64_t)arg_num(argv[4]) : 1);
	if (!strcmp(cmd, "sigtrainer") && argc == 3)
		return cmd_sigtrainer(argv[2]);
	if (!strcmp(cmd, "metricsclock") && argc == 5)
		return cmd_metricsclock(argv[2], arg_num(argv[3]),
					arg_num(argv[4]));
	if (!strcmp(cmd, "metricsflood") && (argc == 4 || argc == 5))
		return cmd_metricsflood(argv[2], arg_num(argv[3]),
					argc == 5 ? argv[4] : NULL);
	usage();
	return 2;
}
