/*
 * Unit tests of the GPU pool: the --gpus list, finding NVIDIA GPUs in a
 * made-up /proc and /dev, and the scheduling order with backfill.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "jobs/core/gpu_run.h"
#include "jobs/model/gpus.h"
#include "tests/unit/test.h"

static void parse_list(void)
{
	struct gpu_pool p;
	char err[128], buf[GPUS_TEXT_MAX];
	CHECK(gpus_parse_list("0,1,2,3", &p, err, sizeof err) == 0);
	CHECK(p.n == 4);
	CHECK_STR(gpus_format(p.ids, p.n, ',', buf, sizeof buf), "0,1,2,3");
	CHECK(gpus_parse_list("3:1:2", &p, err, sizeof err) == 0);
	CHECK_STR(gpus_format(p.ids, p.n, ';', buf, sizeof buf), "3;1;2");
	CHECK(gpus_parse_list("none", &p, err, sizeof err) == 0 && p.n == 0);
	CHECK(gpus_parse_list("0,x", &p, err, sizeof err) == -1);
	CHECK_STR(err, "bad GPU id 'x'");
	CHECK(gpus_parse_list("0,,1", &p, err, sizeof err) == -1);
	CHECK(gpus_parse_list("", &p, err, sizeof err) == -1);
	CHECK(gpus_parse_list("1,1", &p, err, sizeof err) == -1);
	CHECK_STR(err, "GPU 1 is listed twice");
	CHECK(gpus_parse_list("-1", &p, err, sizeof err) == -1);
	CHECK(gpus_parse_list("10000", &p, err, sizeof err) == -1);
}

static void held(void)
{
	int ids[GPUS_MAX];
	CHECK(gpus_parse_held("1,3", ids, GPUS_MAX) == 2);
	CHECK(ids[0] == 1 && ids[1] == 3);
	CHECK(gpus_parse_held("", ids, GPUS_MAX) == 0);
	CHECK(gpus_parse_held(NULL, ids, GPUS_MAX) == 0);
	CHECK(gpus_parse_held("2,junk,5", ids, GPUS_MAX) == 2);
	CHECK(ids[1] == 5);
}

static void make(const char *path, int dir)
{
	if (dir)
		CHECK(mkdir(path, 0700) == 0);
	else
		CHECK(fclose(fopen(path, "w")) == 0);
}

static void detect(void)
{
	char root[] = "/tmp/test_gpus.XXXXXX", p[256], d[256], f[300];
	struct gpu_pool pool;
	CHECK(mkdtemp(root) != NULL);
	snprintf(p, sizeof p, "%s/proc", root);
	snprintf(d, sizeof d, "%s/dev", root);
	make(d, 1);
	/* No /proc folder and no device: none. */
	CHECK(gpus_detect(p, d, &pool) == 0 && pool.n == 0);
	/* /dev/nvidiaN only: nvidiactl and nvidia-uvm are no GPU. */
	const char *devs[] = { "nvidia0", "nvidia1", "nvidiactl", "nvidia-uvm",
			       "nvidia" };
	for (size_t i = 0; i < 5; i++) {
		snprintf(f, sizeof f, "%s/%s", d, devs[i]);
		make(f, 0);
	}
	CHECK(gpus_detect(p, d, &pool) == 0 && pool.n == 2);
	/* The driver's folder wins: one folder per GPU. */
	make(p, 1);
	const char *buses[] = { "0000:01:00.0", "0000:21:00.0",
				"0000:41:00.0" };
	for (size_t i = 0; i < 3; i++) {
		snprintf(f, sizeof f, "%s/%s", p, buses[i]);
		make(f, 1);
	}
	CHECK(gpus_detect(p, d, &pool) == 0 && pool.n == 3);
	CHECK(pool.ids[0] == 0 && pool.ids[2] == 2);
	char cmd[300];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
	CHECK(system(cmd) == 0);
}

static struct gpus_queued q_of(int64_t t, int64_t id, long need, int local)
{
	struct gpus_queued q = {
		.queued_ns = t, .job_id = id, .need = need, .local = local
	};
	return q;
}

/* The entry of job ID in Q (sorted by gpus_schedule). */
static struct gpus_queued *find(struct gpus_queued *q, size_t n, int64_t id)
{
	for (size_t i = 0; i < n; i++)
		if (q[i].job_id == id)
			return &q[i];
	return NULL;
}

static void first_come(void)
{
	struct gpu_pool pool;
	char err[64], w[64];
	CHECK(gpus_parse_list("0,1,2", &pool, err, sizeof err) == 0);
	/* Two jobs of 2 GPUs on 3: the first queued runs, on 0,1. */
	struct gpus_queued q[] = { q_of(20, 1, 2, 1), q_of(10, 2, 2, 1) };
	long r = gpus_schedule(&pool, NULL, 0, 0, 0, q, 2);
	CHECK(r == 1);
	CHECK(find(q, 2, 2)->launch && !strcmp(find(q, 2, 2)->ids, "0,1"));
	CHECK(!find(q, 2, 1)->launch);
	CHECK_STR(gpus_waiting(find(q, 2, 1), r, 0, w, sizeof w),
		  "2 GPUs (1 free)");
	/* Held ids are not free; the first free ones in pool order go. */
	int held[] = { 0, 2 };
	struct gpus_queued one[] = { q_of(1, 3, 1, 1) };
	gpus_schedule(&pool, held, 2, 1, 0, one, 1);
	CHECK(one[0].launch && !strcmp(one[0].ids, "1"));
	struct gpus_queued two[] = { q_of(1, 3, 2, 1) };
	gpus_schedule(&pool, held, 2, 1, 0, two, 1);
	CHECK(!two[0].launch);
	CHECK_STR(gpus_waiting(&two[0], 1, 0, w, sizeof w), "2 GPUs (1 free)");
	struct gpus_queued single[] = { q_of(1, 3, 1, 1) };
	int all[] = { 0, 1, 2 };
	gpus_schedule(&pool, all, 3, 1, 0, single, 1);
	CHECK_STR(gpus_waiting(&single[0], 1, 0, w, sizeof w),
		  "1 GPU (0 free)");
}

static void backfill(void)
{
	struct gpu_pool pool;
	char err[64];
	CHECK(gpus_parse_list("0,1,2,3", &pool, err, sizeof err) == 0);
	int held[] = { 0, 1 };
	/* A 3-GPU job first cannot run on 2 free; the 1-GPU job behind it does. */
	struct gpus_queued q[] = { q_of(1, 1, 3, 1), q_of(2, 2, 1, 1),
				   q_of(3, 3, 0, 1), q_of(4, 4, 2, 1) };
	long r = gpus_schedule(&pool, held, 2, 1, 0, q, 4);
	CHECK(!find(q, 4, 1)->launch);
	CHECK(find(q, 4, 1)->wait == GPUS_WAIT_GPUS);
	CHECK(find(q, 4, 2)->launch && !strcmp(find(q, 4, 2)->ids, "2"));
	CHECK(find(q, 4, 3)->launch && !strcmp(find(q, 4, 3)->ids, ""));
	CHECK(!find(q, 4, 4)->launch); /* one left */
	CHECK(r == 3);
	/* The job order is the queue's, not the array's. */
	CHECK(q[0].job_id == 1 && q[3].job_id == 4);
}

static void slots(void)
{
	struct gpu_pool pool;
	char err[64], w[64];
	CHECK(gpus_parse_list("0,1", &pool, err, sizeof err) == 0);
	/* --max-running 2 with one running: one more, then a free slot. */
	struct gpus_queued q[] = { q_of(1, 1, 0, 1), q_of(2, 2, 1, 1),
				   q_of(3, 3, 5, 0) };
	long r = gpus_schedule(&pool, NULL, 0, 1, 2, q, 3);
	CHECK(r == 2);
	CHECK(find(q, 3, 1)->launch);
	CHECK(!find(q, 3, 2)->launch && find(q, 3, 2)->wait == GPUS_WAIT_SLOT);
	CHECK_STR(gpus_waiting(find(q, 3, 2), r, 2, w, sizeof w),
		  "a free slot (2 of 2 running)");
	/* Slurm jobs need no slot and no GPU of this machine. */
	CHECK(find(q, 3, 3)->launch && !strcmp(find(q, 3, 3)->ids, ""));
	/* No queue at all (no array either): the running count stays. */
	CHECK(gpus_schedule(&pool, NULL, 0, 2, 2, NULL, 0) == 2);
	/* Ties in time go to the older job. */
	struct gpus_queued t[] = { q_of(5, 9, 1, 1), q_of(5, 8, 1, 1) };
	gpus_schedule(&pool, NULL, 0, 0, 1, t, 2);
	CHECK(find(t, 2, 8)->launch && !find(t, 2, 9)->launch);
}

static void slurm_count(void)
{
	CHECK(gpus_slurm_count(2, 0) == 2);
	CHECK(gpus_slurm_count(2, 1) == 0);
	CHECK(gpus_slurm_count(0, 0) == 0);
}

/* The sbatch option of a spec: gpus = N, unless slurm.gpus or slurm.gres. */
static const char *slurm_opt_of(const char *spec_text, char *buf, size_t len)
{
	static struct job job;
	char err[256];
	spec_free(&job.spec);
	CHECK(spec_parse(spec_text, strlen(spec_text), &job.spec, err,
			 sizeof err) == 0);
	return gpu_run_slurm_opt(&job, buf, len);
}

static void slurm_option(void)
{
	char b[32];
	CHECK_STR(slurm_opt_of("command = x\ngpus = 2\n", b, sizeof b),
		  "gpus=2");
	CHECK_STR(slurm_opt_of("command = x\n", b, sizeof b), "");
	CHECK_STR(slurm_opt_of("command = x\ngpus = 0\n", b, sizeof b), "");
	CHECK_STR(
		slurm_opt_of("command = x\ngpus = 2\nslurm.gres = gpu:a100:1\n",
			     b, sizeof b),
		"");
	CHECK_STR(slurm_opt_of("command = x\ngpus = 2\nslurm.gpus = 4\n", b,
			       sizeof b),
		  "");
	slurm_opt_of("command = x\n", b, sizeof b); /* frees the last spec */
}

TEST_MAIN("gpus", TEST(parse_list), TEST(held), TEST(detect), TEST(first_come),
	  TEST(backfill), TEST(slots), TEST(slurm_count), TEST(slurm_option))
