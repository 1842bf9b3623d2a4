/*
 * Tests for pack: packs a real folder (nested folder, empty file, 3 MiB of
 * pseudo-random bytes, a link to /etc/passwd, a dangling link, a fifo, a
 * trainer's own trainfs.json) with each compression, reads the tarball
 * back with libarchive and with GNU tar, and checks the failure paths: a
 * full disk, a closed pipe, a missing folder, an unreadable file and the
 * packer process's switch to the job owner.
 */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "jobs/artifacts/pack.h"
#include "test.h"

#define BIG_SIZE (3 * 1024 * 1024)
#define MANIFEST "{\"job\": \"t\", \"epoch\": 3, \"reason\": \"completed\"}"
#define NOBODY 65534

static char tmp_root[64];

/* Writes LEN bytes to a new file PATH with MODE; 0 or -1. */
static int put_file(const char *path, const void *data, size_t len, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
	int rc = 0;

	if (fd < 0)
		return -1;
	if (len && write(fd, data, len) != (ssize_t)len)
		rc = -1;
	if (close(fd) < 0)
		rc = -1;
	return rc;
}

/* Reads all of PATH into a malloc'd, NUL-terminated buffer; NULL on error. */
static char *slurp(const char *path, size_t *lenp)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t len = 0, cap = 0, n;

	if (!f)
		return NULL;
	do {
		if (cap - len < 65536) {
			cap = cap ? cap * 2 : 65536;
			buf = realloc(buf, cap + 1);
			if (!buf)
				break;
		}
		n = fread(buf + len, 1, cap - len, f);
		len += n;
	} while (n > 0);
	fclose(f);
	if (buf)
		buf[len] = '\0';
	if (lenp)
		*lenp = len;
	return buf;
}

/* Fills BUF with xorshift bytes, so a mix-up of offsets shows. */
static void fill_random(unsigned char *buf, size_t len)
{
	uint64_t x = 0x9e3779b97f4a7c15ull;

	for (size_t i = 0; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		buf[i] = (unsigned char)x;
	}
}

static unsigned char *big;

static unsigned char *big_data(void)
{
	if (!big) {
		big = malloc(BIG_SIZE);
		if (big)
			fill_random(big, BIG_SIZE);
	}
	return big;
}

/* Makes a fresh, world-readable folder below tmp_root; returns its path. */
static char *new_dir(const char *name)
{
	static char path[128];

	if (!tmp_root[0]) {
		strcpy(tmp_root, "/tmp/test_pack.XXXXXX");
		if (!mkdtemp(tmp_root))
			return NULL;
		if (chmod(tmp_root, 0755) < 0)
			return NULL;
	}
	snprintf(path, sizeof path, "%s/%s", tmp_root, name);
	if (mkdir(path, 0755) < 0)
		return NULL;
	return path;
}

/* Builds the sample output folder at DIR; 0 or -1. */
static int make_sample(const char *dir)
{
	char p[256];
	int rc = 0;

	snprintf(p, sizeof p, "%s/model.bin", dir);
	rc |= put_file(p, "weights!", 8, 0644);
	snprintf(p, sizeof p, "%s/empty", dir);
	rc |= put_file(p, "", 0, 0600);
	snprintf(p, sizeof p, "%s/trainfs.json", dir);
	rc |= put_file(p, "trainer's own", 13, 0644);
	snprintf(p, sizeof p, "%s/ckpt", dir);
	rc |= mkdir(p, 0750);
	snprintf(p, sizeof p, "%s/ckpt/epoch3.pt", dir);
	rc |= put_file(p, big_data(), BIG_SIZE, 0640);
	snprintf(p, sizeof p, "%s/ckpt/trainfs.json", dir);
	rc |= put_file(p, "nested", 6, 0644);
	snprintf(p, sizeof p, "%s/passwd", dir);
	rc |= symlink("/etc/passwd", p);
	snprintf(p, sizeof p, "%s/ckpt/dangling", dir);
	rc |= symlink("../no/such/file", p);
	snprintf(p, sizeof p, "%s/fifo", dir);
	rc |= mkfifo(p, 0644);
	return rc ? -1 : 0;
}

/* Opens a new file below tmp_root for reading and writing; fd or -1. */
static int new_file(const char *name, char *path, size_t pathlen)
{
	snprintf(path, pathlen, "%s/%s", tmp_root, name);
	return open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
}

/* Checks PROGRESS is "progress N" lines, N rising, ending at 100. */
static void check_progress(const char *progress)
{
	const char *s = progress;
	int last = -1, n, lines = 0;

	CHECK(s != NULL);
	if (!s)
		return;
	while (*s) {
		int used = 0;

		CHECK(sscanf(s, "progress %d\n%n", &n, &used) == 1 && used > 0);
		if (used <= 0)
			return;
		CHECK(n > last && n >= 0 && n <= 100);
		last = n;
		lines++;
		s += used;
	}
	CHECK(last == 100);
	CHECK(lines >= 1);
}

/* What a packed sample must hold, entry by entry. */
struct seen {
	int model, empty, ckpt, big, nested, passwd, dangling, manifest;
	int other, after_manifest;
};

/* Reads the data of the current entry of A into a malloc'd buffer. */
static char *read_data(struct archive *a, size_t size)
{
	char *buf = malloc(size + 1);
	size_t got = 0;
	la_ssize_t n;

	if (!buf)
		return NULL;
	while ((n = archive_read_data(a, buf + got, size + 1 - got)) > 0)
		got += (size_t)n;
	CHECK(n == 0);
	CHECK(got == size);
	return buf;
}

/* Reads the tarball at PATH back and checks every entry of the sample. */
static void check_sample_archive(const char *path, int filter)
{
	struct archive *a = archive_read_new();
	struct archive_entry *e;
	struct seen s = { 0 };
	char order[512] = "";
	int r;

	CHECK(a != NULL);
	if (!a)
		return;
	CHECK(archive_read_support_filter_all(a) == ARCHIVE_OK);
	CHECK(archive_read_support_format_all(a) == ARCHIVE_OK);
	r = archive_read_open_filename(a, path, 65536);
	CHECK(r == ARCHIVE_OK);
	if (r != ARCHIVE_OK) {
		fprintf(stderr, "%s\n", archive_error_string(a));
		archive_read_free(a);
		return;
	}
	while ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK) {
		const char *name = archive_entry_pathname(e);
		size_t size = (size_t)archive_entry_size(e);
		mode_t type = archive_entry_filetype(e);
		char *data = NULL;

		if (s.manifest)
			s.after_manifest++;
		if (strlen(order) + strlen(name) + 2 < sizeof order) {
			strcat(order, name);
			strcat(order, " ");
		}
		if (type == AE_IFREG)
			data = read_data(a, size);
		CHECK(strncmp(name, "./", 2) != 0 && name[0] != '/');
		if (!strcmp(name, "model.bin")) {
			s.model++;
			CHECK(type == AE_IFREG && size == 8);
			CHECK(data && !memcmp(data, "weights!", 8));
			CHECK((archive_entry_perm(e) & 07777) == 0644);
			CHECK(archive_entry_uid(e) == getuid());
		} else if (!strcmp(name, "empty")) {
			s.empty++;
			CHECK(type == AE_IFREG && size == 0);
			CHECK((archive_entry_perm(e) & 07777) == 0600);
		} else if (!strcmp(name, "ckpt/") || !strcmp(name, "ckpt")) {
			s.ckpt++;
			CHECK(type == AE_IFDIR);
			CHECK((archive_entry_perm(e) & 07777) == 0750);
		} else if (!strcmp(name, "ckpt/epoch3.pt")) {
			s.big++;
			CHECK(type == AE_IFREG && size == BIG_SIZE);
			CHECK(data && !memcmp(data, big_data(), BIG_SIZE));
			CHECK(archive_entry_mtime(e) > 0);
		} else if (!strcmp(name, "ckpt/trainfs.json")) {
			s.nested++;
			CHECK(type == AE_IFREG && size == 6);
			CHECK(data && !memcmp(data, "nested", 6));
		} else if (!strcmp(name, "passwd")) {
			s.passwd++;
			CHECK(type == AE_IFLNK && size == 0);
			CHECK_STR(archive_entry_symlink(e), "/etc/passwd");
		} else if (!strcmp(name, "ckpt/dangling")) {
			s.dangling++;
			CHECK(type == AE_IFLNK);
			CHECK_STR(archive_entry_symlink(e), "../no/such/file");
		} else if (!strcmp(name, "trainfs.json")) {
			s.manifest++;
			CHECK(type == AE_IFREG && size == strlen(MANIFEST));
			CHECK(data &&
			      !memcmp(data, MANIFEST, strlen(MANIFEST)));
			CHECK((archive_entry_perm(e) & 07777) == 0644);
		} else {
			fprintf(stderr, "unexpected entry '%s'\n", name);
			s.other++;
		}
		free(data);
	}
	CHECK(r == ARCHIVE_EOF);
	CHECK(archive_filter_code(a, 0) == filter);
	CHECK((archive_format(a) & ARCHIVE_FORMAT_BASE_MASK) ==
	      ARCHIVE_FORMAT_TAR);
	CHECK(s.model == 1 && s.empty == 1 && s.ckpt == 1 && s.big == 1);
	CHECK(s.nested == 1 && s.passwd == 1 && s.dangling == 1);
	CHECK(s.manifest == 1 && s.after_manifest == 0 && s.other == 0);
	/* Name order, whatever readdir() says, so packs are repeatable. */
	CHECK_STR(order, "ckpt/ ckpt/dangling ckpt/epoch3.pt ckpt/trainfs.json "
			 "empty model.bin passwd trainfs.json ");
	CHECK(archive_read_free(a) == ARCHIVE_OK);
}

/* How many "trainfs.json" members the archive at PATH has; 0 if none. */
static int count_manifests(const char *path)
{
	struct archive *a = archive_read_new();
	struct archive_entry *e;
	int n = 0;

	if (!a)
		return -1;
	archive_read_support_filter_all(a);
	archive_read_support_format_all(a);
	if (archive_read_open_filename(a, path, 65536) == ARCHIVE_OK) {
		while (archive_read_next_header(a, &e) == ARCHIVE_OK)
			n += !strcmp(archive_entry_pathname(e), "trainfs.json");
	}
	archive_read_free(a);
	return n;
}

/* Runs CMD through the shell; its exit status, or -1. */
static int run(const char *cmd)
{
	int st = system(cmd);

	if (st < 0 || !WIFEXITED(st))
		return -1;
	return WEXITSTATUS(st);
}

/* GNU tar must list and extract the tarball at PATH just the same. */
static void check_with_gnu_tar(const char *path, const char *src)
{
	char cmd[4096], out[256], *listing;

	snprintf(out, sizeof out, "%s/listing", tmp_root);
	snprintf(cmd, sizeof cmd, "tar -tvf '%s' > '%s' 2>&1", path, out);
	CHECK(run(cmd) == 0);
	listing = slurp(out, NULL);
	CHECK(listing != NULL);
	if (listing) {
		CHECK(strstr(listing, " passwd -> /etc/passwd\n") != NULL);
		CHECK(strstr(listing, " ckpt/dangling -> ../no/such/file\n"));
		CHECK(strstr(listing, " 3145728 ") != NULL);
		CHECK(strstr(listing, " ckpt/epoch3.pt\n") != NULL);
		CHECK(strstr(listing, " ./") == NULL);
		CHECK(strstr(listing, "fifo") == NULL);
		if (test_failed_checks)
			fputs(listing, stderr);
		free(listing);
	}
	snprintf(cmd, sizeof cmd,
		 "rm -rf '%s/x' && mkdir '%s/x' && tar -xf '%s' -C '%s/x' && "
		 "cmp '%s/x/ckpt/epoch3.pt' '%s/ckpt/epoch3.pt' && "
		 "test -L '%s/x/passwd' && cmp '%s/x/model.bin' "
		 "'%s/model.bin' && test ! -e '%s/x/fifo'",
		 tmp_root, tmp_root, path, tmp_root, tmp_root, src, tmp_root,
		 tmp_root, src, tmp_root);
	CHECK(run(cmd) == 0);
}

static void pack_each(enum compression c, const char *name, int filter,
		      int gnu_tar)
{
	static char src[128];
	char out[256], prog[256], err[256] = "x", *progress;
	int fd, pfd;

	if (!src[0]) {
		char *dir = new_dir("sample");

		CHECK(dir != NULL);
		if (!dir)
			return;
		snprintf(src, sizeof src, "%s", dir);
		CHECK(make_sample(src) == 0);
	}
	fd = new_file(name, out, sizeof out);
	pfd = new_file("progress", prog, sizeof prog);
	CHECK(fd >= 0 && pfd >= 0);
	CHECK(pack_run(src, fd, c, MANIFEST, pfd, err, sizeof err) == 0);
	CHECK_STR(err, "");
	CHECK(close(fd) == 0 && close(pfd) == 0);
	progress = slurp(prog, NULL);
	check_progress(progress);
	free(progress);
	check_sample_archive(out, filter);
	if (gnu_tar)
		check_with_gnu_tar(out, src);
}

static void test_pack_none(void)
{
	pack_each(COMPRESS_NONE, "w.tar", ARCHIVE_FILTER_NONE, 1);
}

static void test_pack_gzip(void)
{
	pack_each(COMPRESS_GZIP, "w.tar.gz", ARCHIVE_FILTER_GZIP, 1);
}

static void test_pack_zstd(void)
{
	pack_each(COMPRESS_ZSTD, "w.tar.zst", ARCHIVE_FILTER_ZSTD, 1);
}

/* A folder with no files still gets the manifest, and progress 100. */
static void test_pack_empty_folder(void)
{
	char *src = new_dir("nothing"), out[256], prog[256], err[256];
	char cmd[1024], *progress, *listing;
	int fd, pfd;

	CHECK(src != NULL);
	if (!src)
		return;
	fd = new_file("nothing.tar", out, sizeof out);
	pfd = new_file("progress", prog, sizeof prog);
	CHECK(pack_run(src, fd, COMPRESS_NONE, "{}", pfd, err, sizeof err) ==
	      0);
	CHECK(close(fd) == 0 && close(pfd) == 0);
	progress = slurp(prog, NULL);
	CHECK_STR(progress, "progress 100\n");
	free(progress);
	snprintf(cmd, sizeof cmd, "tar -tf '%s' > '%s/listing'", out, tmp_root);
	CHECK(run(cmd) == 0);
	snprintf(prog, sizeof prog, "%s/listing", tmp_root);
	listing = slurp(prog, NULL);
	CHECK_STR(listing, "trainfs.json\n");
	free(listing);
}

/* A full disk fails with the write's own errno text. */
static void test_pack_disk_full(void)
{
	char *src = new_dir("full"), p[256], err[256] = "";
	int fd = open("/dev/full", O_WRONLY);

	CHECK(src != NULL && fd >= 0);
	if (!src || fd < 0)
		return;
	snprintf(p, sizeof p, "%s/big", src);
	CHECK(put_file(p, big_data(), BIG_SIZE, 0644) == 0);
	CHECK(pack_run(src, fd, COMPRESS_NONE, MANIFEST, -1, err, sizeof err) ==
	      -1);
	CHECK(strstr(err, "No space left on device") != NULL);
	CHECK(close(fd) == 0);

	/* Small enough to sit in libarchive's buffer until the close. */
	fd = open("/dev/full", O_WRONLY);
	CHECK(pack_run(src, fd, COMPRESS_ZSTD, "{}", -1, err, sizeof err) ==
	      -1);
	CHECK(strstr(err, "No space left on device") != NULL);
	CHECK(close(fd) == 0);
	fd = open("/dev/full", O_WRONLY);
	CHECK(pack_run(new_dir("full-empty"), fd, COMPRESS_GZIP, "{}", -1, err,
		       sizeof err) == -1);
	CHECK(strstr(err, "No space left on device") != NULL);
	CHECK(close(fd) == 0);
}

/* A reader that went away: EPIPE, reported, and no SIGPIPE death. */
static void test_pack_closed_pipe(void)
{
	char *src = new_dir("pipe"), p[256], err[256] = "";
	void (*old)(int) = signal(SIGPIPE, SIG_IGN);
	int fds[2];

	CHECK(src != NULL && old != SIG_ERR && pipe(fds) == 0);
	if (!src)
		return;
	snprintf(p, sizeof p, "%s/big", src);
	CHECK(put_file(p, big_data(), BIG_SIZE, 0644) == 0);
	CHECK(close(fds[0]) == 0);
	CHECK(pack_run(src, fds[1], COMPRESS_GZIP, MANIFEST, -1, err,
		       sizeof err) == -1);
	CHECK_STR(err, "Broken pipe");
	CHECK(close(fds[1]) == 0);
	CHECK(signal(SIGPIPE, old) != SIG_ERR);
}

static void test_pack_missing_folder(void)
{
	char err[256] = "", want[256], path[128];
	int fd = open("/dev/null", O_WRONLY);

	snprintf(path, sizeof path, "%s/no-such-folder", tmp_root);
	snprintf(want, sizeof want,
		 "cannot open output folder '%s': No such file or directory",
		 path);
	CHECK(pack_run(path, fd, COMPRESS_NONE, "{}", -1, err, sizeof err) ==
	      -1);
	CHECK_STR(err, want);

	/* The folder itself may not be a link either. */
	snprintf(path, sizeof path, "%s/link-to-folder", tmp_root);
	CHECK(symlink("/etc", path) == 0);
	CHECK(pack_run(path, fd, COMPRESS_NONE, "{}", -1, err, sizeof err) ==
	      -1);
	CHECK(strstr(err, "cannot open output folder") != NULL);
	CHECK(close(fd) == 0);
}

/*
 * Runs pack_main(ARGV) in a child with OUT_FD as stdout; returns its exit
 * status and what it wrote to stderr in ERRBUF.  As root, the child first
 * becomes AS_UID when that is not -1.
 */
static int run_pack_main(char **argv, int out_fd, uid_t as_uid, char *errbuf,
			 size_t errlen)
{
	int fds[2], st;
	size_t got = 0;
	ssize_t n;
	pid_t pid;

	if (pipe(fds) < 0)
		return -1;
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		if (dup2(out_fd, 1) < 0 || dup2(fds[1], 2) < 0)
			_exit(99);
		close(fds[0]);
		if (as_uid != (uid_t)-1 &&
		    (setgid(as_uid) < 0 || setuid(as_uid) < 0))
			_exit(98);
		_exit(pack_main(7, argv));
	}
	close(fds[1]);
	while (got + 1 < errlen &&
	       (n = read(fds[0], errbuf + got, errlen - 1 - got)) > 0)
		got += (size_t)n;
	errbuf[got] = '\0';
	close(fds[0]);
	if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st))
		return -1;
	return WEXITSTATUS(st);
}

/*
 * The packer process reads as the job's owner: a file the owner cannot
 * read fails the pack with its name; readable ones pack, and the manifest
 * is owned by the owner.  As root the owner is "nobody"; as anyone else
 * it is the user, with the file made unreadable.
 */
static void test_pack_main_as_owner(void)
{
	char *src = new_dir("owner"), p[256], out[256], ebuf[4096];
	char uid[16], gid[16];
	char *argv[] = {
		"trainfs", "__pack", src, "none", uid, gid, "{}", NULL
	};
	uid_t owner = geteuid() == 0 ? NOBODY : getuid();
	gid_t group = geteuid() == 0 ? NOBODY : getgid();
	struct archive *a;
	struct archive_entry *e;
	char *tail;
	int fd, found = 0;

	CHECK(src != NULL);
	if (!src)
		return;
	snprintf(uid, sizeof uid, "%u", (unsigned)owner);
	snprintf(gid, sizeof gid, "%u", (unsigned)group);
	snprintf(p, sizeof p, "%s/ok.bin", src);
	CHECK(put_file(p, "ok", 2, 0644) == 0);
	fd = new_file("owner.tar", out, sizeof out);
	CHECK(fd >= 0);

	CHECK(run_pack_main(argv, fd, (uid_t)-1, ebuf, sizeof ebuf) == 0);
	CHECK(strstr(ebuf, "progress 100\n") != NULL);
	CHECK(strstr(ebuf, "error") == NULL);
	a = archive_read_new();
	CHECK(archive_read_support_format_all(a) == ARCHIVE_OK);
	CHECK(archive_read_open_filename(a, out, 10240) == ARCHIVE_OK);
	while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
		if (!strcmp(archive_entry_pathname(e), "trainfs.json")) {
			found++;
			CHECK(archive_entry_uid(e) == owner);
			CHECK(archive_entry_gid(e) == group);
		}
	}
	CHECK(found == 1);
	CHECK(archive_read_free(a) == ARCHIVE_OK);

	snprintf(p, sizeof p, "%s/secret.bin", src);
	CHECK(put_file(p, "secret", 6, geteuid() == 0 ? 0600 : 0) == 0);
	CHECK(ftruncate(fd, 0) == 0 && lseek(fd, 0, SEEK_SET) == 0);
	CHECK(run_pack_main(argv, fd, (uid_t)-1, ebuf, sizeof ebuf) == 1);
	/* Progress lines may come first; the error is the last line. */
	tail = strstr(ebuf, "error ");
	CHECK_STR(tail, "error cannot read 'secret.bin': Permission denied\n");
	/* Nothing that could pass for a whole archive was left behind. */
	CHECK(count_manifests(out) == 0);
	CHECK(close(fd) == 0);
}

/* Bad arguments, and a user that is not root asking for another uid. */
static void test_pack_main_refusals(void)
{
	char *src = new_dir("refuse"), ebuf[1024];
	char *bad_comp[] = { "trainfs", "__pack", src,	"bzip2",
			     "0",	"0",	  "{}", NULL };
	char *bad_uid[] = { "trainfs", "__pack", src,  "none",
			    "-1",      "0",	 "{}", NULL };
	char *as_root[] = { "trainfs", "__pack", src,  "none",
			    "0",       "0",	 "{}", NULL };
	int fd = open("/dev/null", O_WRONLY);

	CHECK(src != NULL && fd >= 0);
	CHECK(run_pack_main(bad_comp, fd, (uid_t)-1, ebuf, sizeof ebuf) == 1);
	CHECK_STR(ebuf, "error unknown compression 'bzip2'\n");
	CHECK(run_pack_main(bad_uid, fd, (uid_t)-1, ebuf, sizeof ebuf) == 1);
	CHECK_STR(ebuf, "error bad uid '-1'\n");
	CHECK(run_pack_main(as_root, fd, geteuid() == 0 ? NOBODY : (uid_t)-1,
			    ebuf, sizeof ebuf) == 1);
	CHECK_STR(ebuf, "error cannot switch to uid 0\n");
	CHECK(close(fd) == 0);
}

#define SPARSE_SIZE (300LL << 20)
#define SPARSE_MID (150LL << 20)

/*
 * A 300 MiB file with 4 bytes at its start and 6 in its middle: the
 * tarball holds the data only (GNU sparse 1.0 in pax), a reader gets the
 * whole file back, holes as zeros, and GNU tar extracts it sparse.
 */
static void test_pack_sparse(void)
{
	char *dir = new_dir("sparse"), src[128], p[256], out[256], cmd[1024];
	char err[256] = "x";
	struct archive *a;
	struct archive_entry *e;
	struct stat st;
	int fd, found = 0;

	CHECK(dir != NULL);
	if (!dir)
		return;
	snprintf(src, sizeof src, "%s", dir);
	snprintf(p, sizeof p, "%s/sparse.bin", src);
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	CHECK(fd >= 0);
	CHECK(pwrite(fd, "head", 4, 0) == 4);
	CHECK(pwrite(fd, "middle", 6, SPARSE_MID) == 6);
	CHECK(ftruncate(fd, SPARSE_SIZE) == 0);
	CHECK(close(fd) == 0);
	snprintf(p, sizeof p, "%s/dense.bin", src);
	CHECK(put_file(p, "dense", 5, 0644) == 0);

	fd = new_file("sparse.tar", out, sizeof out);
	CHECK(fd >= 0);
	CHECK(pack_run(src, fd, COMPRESS_NONE, MANIFEST, -1, err, sizeof err) ==
	      0);
	CHECK_STR(err, "");
	CHECK(fstat(fd, &st) == 0 && st.st_size < (1 << 20));
	CHECK(close(fd) == 0);

	a = archive_read_new();
	archive_read_support_format_all(a);
	CHECK(archive_read_open_filename(a, out, 10240) == ARCHIVE_OK);
	while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
		const void *blk;
		size_t len;
		la_int64_t off;
		uint64_t data = 0;
		if (strcmp(archive_entry_pathname(e), "sparse.bin"))
			continue;
		found = 1;
		CHECK(archive_entry_size(e) == SPARSE_SIZE);
		while (archive_read_data_block(a, &blk, &len, &off) ==
		       ARCHIVE_OK) {
			data += len;
			if (off == 0 && len >= 4)
				CHECK(!memcmp(blk, "head", 4));
			if (off <= SPARSE_MID &&
			    off + (la_int64_t)len >= SPARSE_MID + 6)
				CHECK(!memcmp((const char *)blk +
						      (SPARSE_MID - off),
					      "middle", 6));
		}
		CHECK(data < (1 << 20));
	}
	CHECK(found);
	archive_read_free(a);

	snprintf(cmd, sizeof cmd,
		 "rm -rf '%s/xs' && mkdir '%s/xs' && tar -xf '%s' -C '%s/xs' "
		 "&& test $(stat -c %%s '%s/xs/sparse.bin') = %lld "
		 "&& test $(du -k '%s/xs/sparse.bin' | cut -f1) -lt 1024 "
		 "&& test \"$(dd if='%s/xs/sparse.bin' bs=1 skip=%lld count=6 "
		 "2>/dev/null)\" = middle && rm -rf '%s/xs'",
		 tmp_root, tmp_root, out, tmp_root, tmp_root, SPARSE_SIZE,
		 tmp_root, tmp_root, SPARSE_MID, tmp_root);
	CHECK(run(cmd) == 0);
}

static void test_cleanup(void)
{
	char cmd[128];

	snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp_root);
	CHECK(tmp_root[0] && run(cmd) == 0);
	free(big);
	big = NULL;
}

TEST_MAIN("pack", TEST(test_pack_none), TEST(test_pack_gzip),
	  TEST(test_pack_zstd), TEST(test_pack_empty_folder),
	  TEST(test_pack_disk_full), TEST(test_pack_closed_pipe),
	  TEST(test_pack_missing_folder), TEST(test_pack_main_as_owner),
	  TEST(test_pack_main_refusals), TEST(test_pack_sparse),
	  TEST(test_cleanup))
