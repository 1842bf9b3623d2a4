/*
 * Unit tests of jobs/run/slurm.c: the argv trainfs gives Slurm's commands, the
 * runner that executes them as a job's owner, and the parsers, fed with
 * output copied from Slurm 22.05 on a private cluster
 * (tests/slurm/cluster.sh).
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "jobs/run/slurm.h"
#include "tests/unit/test.h"

static size_t argc_of(char **argv)
{
	size_t n = 0;
	while (argv && argv[n])
		n++;
	return n;
}

static void option_keys(void)
{
	static const char *const known[] = {
		"partition", "account", "qos",		 "time",
		"nodes",     "ntasks",	"cpus_per_task", "mem",
		"gres",	     "gpus",	"constraint",
	};
	for (size_t i = 0; i < sizeof known / sizeof *known; i++)
		CHECK(slurm_option_known(known[i]));
	CHECK(!slurm_option_known("cpus-per-task"));
	CHECK(!slurm_option_known("wrap"));
	CHECK(!slurm_option_known("output"));
	CHECK(!slurm_option_known(""));
	CHECK(!slurm_option_known("Partition"));
	CHECK(slurm_option_value_ok("gpu:1") == 0);
	CHECK(slurm_option_value_ok("a b; rm -rf /") == 0);
	CHECK(slurm_option_value_ok("a\nb") == -EINVAL);
	CHECK(slurm_option_value_ok("a\r") == -EINVAL);
}

static void sbatch_argv(void)
{
	struct slurm_option opts[] = {
		{ "cpus_per_task", "4" },
		{ "gres", "gpu:1" },
		{ "partition", "a b;$(reboot)" },
	};
	struct slurm_submit s = {
		.self_exe = "/usr/local/bin/trainfs",
		.job_dir = "/store/jobs/it's",
		.job_name = "trainfs-7",
		.log = "/store/jobs/7/log",
		.chdir = "/work",
		.opts = opts,
		.nopts = 3,
	};
	char **argv = NULL;
	CHECK(slurm_sbatch_argv(&s, &argv) == 0);
	CHECK(argc_of(argv) == 12);
	if (argc_of(argv) == 12) {
		CHECK_STR(argv[0], "sbatch");
		CHECK_STR(argv[1], "--parsable");
		CHECK_STR(argv[2], "--job-name=trainfs-7");
		CHECK_STR(argv[3], "--output=/store/jobs/7/log");
		CHECK_STR(argv[4], "--open-mode=append");
		CHECK_STR(argv[5], "--no-requeue");
		CHECK_STR(argv[6], "--export=ALL");
		CHECK_STR(argv[7], "--chdir=/work");
		CHECK_STR(argv[8], "--cpus-per-task=4");
		CHECK_STR(argv[9], "--gres=gpu:1");
		/* One argument, whatever it holds: no shell sees it. */
		CHECK_STR(argv[10], "--partition=a b;$(reboot)");
		CHECK_STR(argv[11], "--wrap=exec '/usr/local/bin/trainfs' "
				    "__shim --slurm '/store/jobs/it'\\''s'");
	}
	slurm_argv_free(argv);

	s.chdir = NULL;
	s.nopts = 0;
	CHECK(slurm_sbatch_argv(&s, &argv) == 0);
	CHECK(argc_of(argv) == 8);
	slurm_argv_free(argv);

	struct slurm_option bad_key[] = { { "wrap", "rm -rf /" } };
	s.opts = bad_key;
	s.nopts = 1;
	argv = (char **)1;
	CHECK(slurm_sbatch_argv(&s, &argv) == -EINVAL);
	struct slurm_option bad_value[] = { { "qos", "x\n#SBATCH --uid=0" } };
	s.opts = bad_value;
	CHECK(slurm_sbatch_argv(&s, &argv) == -EINVAL);
}

static void job_name(void)
{
	char buf[32];
	slurm_job_name("resnet-50.v2_a", buf, sizeof buf);
	CHECK_STR(buf, "trainfs-resnet-50.v2_a");
	slurm_job_name("a b=c|d\te\xc3\xa9", buf, sizeof buf);
	CHECK_STR(buf, "trainfs-a_b_c_d_e__");
	slurm_job_name("0123456789012345678901234567890", buf, sizeof buf);
	CHECK_STR(buf, "trainfs-01234567890123456789012");
	slurm_job_name("", buf, sizeof buf);
	CHECK_STR(buf, "trainfs-");
	slurm_job_name("x y", buf, 5);
	CHECK_STR(buf, "trai");
}

static void sh_quote(void)
{
	char *q;
	CHECK_STR(q = slurm_sh_quote(""), "''");
	free(q);
	CHECK_STR(q = slurm_sh_quote("/a b/c"), "'/a b/c'");
	free(q);
	CHECK_STR(q = slurm_sh_quote("'"), "''\\'''");
	free(q);
	CHECK_STR(q = slurm_sh_quote("$x`y`\\"), "'$x`y`\\'");
	free(q);
}

/*
 * N9: root's SLURM_* and SBATCH_* (a partition, an account, a comment, a
 * debug flag) never reach a Slurm command, sbatch, or through sbatch's
 * --export the batch job and its trainer: only PATH and SLURM_CONF do.
 */
static void command_env(void)
{
	char *env[] = { "HOME=/root",
			"PATH=/opt/slurm/bin:/usr/bin",
			"SLURM_CONF=/etc/slurm/test.conf",
			"SLURM_TIME_FORMAT=relative",
			"SBATCH_ACCOUNT=ml",
			"SBATCH_PARTITION=roots",
			"SLURM_ROOT_SECRET=hunter2",
			"SLURM_JOB_ID=7",
			"CUDA_VISIBLE_DEVICES=0",
			"LD_PRELOAD=/tmp/evil.so",
			"XSLURM_X=1",
			NULL };
	char **out = NULL;
	CHECK(slurm_command_env(env, &out) == 0);
	CHECK(argc_of(out) == 3);
	if (argc_of(out) == 3) {
		CHECK_STR(out[0], "PATH=/opt/slurm/bin:/usr/bin");
		CHECK_STR(out[1], "SLURM_CONF=/etc/slurm/test.conf");
		CHECK_STR(out[2], "SLURM_TIME_FORMAT=standard");
	}
	slurm_argv_free(out);

	CHECK(slurm_submit_env(env, &out) == 0);
	CHECK(argc_of(out) == 2);
	if (argc_of(out) == 2) {
		CHECK_STR(out[0], "PATH=/opt/slurm/bin:/usr/bin");
		CHECK_STR(out[1], "SLURM_CONF=/etc/slurm/test.conf");
	}
	/* What the trainer gets: the batch job's environment is sbatch's
	 * (--export=ALL) plus what Slurm sets for the allocation. */
	char *batch[8] = { 0 }, *launch[] = { "TRAINFS_JOB=a", NULL }, **te;
	size_t nb = 0;
	for (size_t i = 0; out && out[i] && nb < 5; i++)
		batch[nb++] = out[i];
	batch[nb++] = "SLURM_JOB_ID=41";
	batch[nb++] = "SLURMD_NODENAME=node1";
	CHECK(slurm_trainer_env(launch, batch, &te) == 0);
	for (size_t i = 0; te && te[i]; i++) {
		CHECK(strncmp(te[i], "SBATCH_", 7) != 0);
		CHECK(strcmp(te[i], "SLURM_ROOT_SECRET=hunter2") != 0);
		CHECK(strcmp(te[i], "SLURM_JOB_ID=7") != 0);
		CHECK(strncmp(te[i], "SLURM_TIME_FORMAT=", 18) != 0);
	}
	CHECK(argc_of(te) == 3); /* TRAINFS_JOB, SLURM_CONF, SLURM_JOB_ID */
	slurm_argv_free(te);
	slurm_argv_free(out);

	char *clean[] = { NULL };
	CHECK(slurm_command_env(clean, &out) == 0);
	CHECK(argc_of(out) == 2);
	if (argc_of(out) == 2) {
		CHECK(!strncmp(out[0], "PATH=/", 6));
		CHECK_STR(out[1], "SLURM_TIME_FORMAT=standard");
	}
	slurm_argv_free(out);
}

/* A trainer of trainfs's own user inherits its environment, not its
 * SLURM_* and SBATCH_*; what the spec's env.* sets stays. */
static void launch_env(void)
{
	char *own[] = { "HOME=/root", "SLURM_ROOT=1", "SBATCH_PARTITION=r",
			"SLURM_CONF=/etc/slurm.conf", NULL };
	char *env[] = { "HOME=/root",
			"SLURM_ROOT=1",
			"SBATCH_PARTITION=r",
			"SLURM_CONF=/etc/slurm.conf",
			"SLURM_MINE=2",
			"TRAINFS_JOB=a",
			NULL };
	char **out = NULL;
	CHECK(slurm_launch_env(env, own, &out) == 0);
	CHECK(argc_of(out) == 3);
	if (argc_of(out) == 3) {
		CHECK_STR(out[0], "HOME=/root");
		CHECK_STR(out[1], "SLURM_MINE=2");
		CHECK_STR(out[2], "TRAINFS_JOB=a");
	}
	slurm_argv_free(out);
}

static void trainer_env(void)
{
	char *trainer[] = { "TRAINFS_JOB=a", "CUDA_VISIBLE_DEVICES=3",
			    "PATH=/bin", NULL };
	char *batch[] = { "SLURM_JOB_ID=41",
			  "CUDA_VISIBLE_DEVICES=0,1",
			  "ROCR_VISIBLE_DEVICES=1",
			  "HOME=/home/x",
			  "PATH=/usr/bin",
			  "SLURM_CPUS_PER_TASK=4",
			  NULL };
	char **out = NULL;
	CHECK(slurm_trainer_env(trainer, batch, &out) == 0);
	CHECK(argc_of(out) == 6);
	if (argc_of(out) == 6) {
		CHECK_STR(out[0], "TRAINFS_JOB=a");
		CHECK_STR(out[1], "CUDA_VISIBLE_DEVICES=3"); /* env. wins */
		CHECK_STR(out[2], "PATH=/bin");
		CHECK_STR(out[3], "SLURM_JOB_ID=41");
		CHECK_STR(out[4], "ROCR_VISIBLE_DEVICES=1");
		CHECK_STR(out[5], "SLURM_CPUS_PER_TASK=4");
	}
	slurm_argv_free(out);
	char *none[] = { NULL };
	CHECK(slurm_trainer_env(none, none, &out) == 0);
	CHECK(out && argc_of(out) == 0);
	slurm_argv_free(out);
}

static void exit_status(void)
{
	CHECK(slurm_exit_status(0, 0) == 0);
	CHECK(slurm_exit_status(3, 0) == 3);
	CHECK(slurm_exit_status(-1, 9) == 137);
	CHECK(slurm_exit_status(-1, 15) == 143);
}

static void sbatch_output(void)
{
	long long id = 0;
	CHECK(slurm_parse_sbatch("41\n", &id) == 0 && id == 41);
	CHECK(slurm_parse_sbatch("12345;cluster-a\n", &id) == 0 && id == 12345);
	CHECK(slurm_parse_sbatch("7", &id) == 0 && id == 7);
	CHECK(slurm_parse_sbatch("", &id) == -EINVAL);
	CHECK(slurm_parse_sbatch("\n", &id) == -EINVAL);
	CHECK(slurm_parse_sbatch("0\n", &id) == -EINVAL);
	CHECK(slurm_parse_sbatch("Submitted batch job 41\n", &id) == -EINVAL);
	CHECK(slurm_parse_sbatch("41\n42\n", &id) == -EINVAL);
	CHECK(slurm_parse_sbatch("99999999999999999999999\n", &id) == -EINVAL);

	char buf[128];
	/* As Slurm 22.05 printed it for --partition=gpu. */
	slurm_sbatch_error("sbatch: error: invalid partition specified: gpu\n"
			   "sbatch: error: Batch job submission failed: "
			   "Invalid partition name specified\n",
			   1 << 8, buf, sizeof buf);
	CHECK_STR(buf, "sbatch: error: invalid partition specified: gpu");
	slurm_sbatch_error("sbatch: warning: x\nsbatch: error: bad\n", 1 << 8,
			   buf, sizeof buf);
	CHECK_STR(buf, "sbatch: error: bad");
	slurm_sbatch_error("\n  something odd  \r\n", 1 << 8, buf, sizeof buf);
	CHECK_STR(buf, "something odd");
	slurm_sbatch_error("", 2 << 8, buf, sizeof buf);
	CHECK_STR(buf, "sbatch exited with status 2");
	slurm_sbatch_error(NULL, SIGKILL, buf, sizeof buf);
	CHECK_STR(buf, "sbatch killed by signal 9");
	slurm_sbatch_error("sbatch: error: a long message\n", 1 << 8, buf, 10);
	CHECK_STR(buf, "sbatch: e");
}

static void squeue_argv(void)
{
	long long ids[] = { 3, 41, 9000000000LL };
	char **argv = NULL;
	CHECK(slurm_squeue_argv(ids, 3, &argv) == 0);
	CHECK(argc_of(argv) == 5);
	if (argc_of(argv) == 5) {
		CHECK_STR(argv[0], "squeue");
		CHECK_STR(argv[1], "--noheader");
		CHECK_STR(argv[2], "--states=all");
		CHECK_STR(argv[3], "--format=%i|%T|%L|%N|%r");
		CHECK_STR(argv[4], "--jobs=3,41,9000000000");
	}
	slurm_argv_free(argv);
	CHECK(slurm_squeue_argv(ids, 0, &argv) == -EINVAL);

	long long many[1000];
	for (int i = 0; i < 1000; i++)
		many[i] = 1000000 + i;
	CHECK(slurm_squeue_argv(many, 1000, &argv) == 0);
	CHECK(argc_of(argv) == 5 && strlen(argv[4]) == 7 + 1000 * 8 - 1);
	slurm_argv_free(argv);
}

static void squeue_output(void)
{
	struct slurm_queue_entry *e = NULL;
	size_t n = 0;
	const char *out = "4|PENDING|1:00|(null)|Resources\n"
			  "3|RUNNING|UNLIMITED|localhost|None\n"
			  "1|COMPLETED|0:00|localhost|None\n"
			  "5|FAILED|UNLIMITED|localhost|JobLaunchFailure\n"
			  "7_1|RUNNING|1:00|n1|None\n" /* array: not ours */
			  "8+0|RUNNING|1:00|n1|None\n" /* het job */
			  "garbage\n"
			  "9|PENDING\n" /* cut short */
			  "10|PENDING|1-02:03:04||ReqNodeNotAvail, "
			  "UnavailableNodes:n[1-2]|x\n"
			  "11|RUNNING|5:00|node[01-04]|None\n"
			  /* past its limit, before slurmctld noticed */
			  "12|RUNNING|INVALID|localhost|None\n"
			  "13|TIMEOUT|INVALID|localhost|TimeLimit";
	CHECK(slurm_parse_squeue(out, &e, &n) == 0);
	CHECK(n == 8);
	if (n == 8) {
		CHECK(e[0].id == 4);
		CHECK_STR(e[0].state, "PENDING");
		CHECK_STR(e[0].reason, "Resources");
		CHECK(e[0].time_left == 60);
		CHECK(e[1].id == 3 && e[1].time_left == -1);
		CHECK_STR(e[1].node, "localhost");
		CHECK(e[2].id == 1 && e[2].time_left == 0);
		CHECK_STR(e[3].reason, "JobLaunchFailure");
		CHECK(e[4].id == 10);
		CHECK(e[4].time_left == 86400 + 2 * 3600 + 3 * 60 + 4);
		CHECK_STR(e[4].node, "");
		CHECK_STR(e[4].reason,
			  "ReqNodeNotAvail, UnavailableNodes:n[1-2]|x");
		CHECK(e[5].id == 11);
		CHECK_STR(e[5].node, "node[01-04]");
		CHECK(e[6].id == 12 && e[6].time_left == 0);
		CHECK_STR(e[7].state, "TIMEOUT");
		CHECK_STR(e[7].reason, "TimeLimit");
	}
	free(e);
	CHECK(slurm_parse_squeue("", &e, &n) == 0 && n == 0 && !e);
	CHECK(slurm_parse_squeue(NULL, &e, &n) == 0 && n == 0);

	CHECK(slurm_invalid_job_id("slurm_load_jobs error: Invalid job id "
				   "specified\n"));
	CHECK(!slurm_invalid_job_id("squeue: error: Unable to contact slurm "
				    "controller (connect failure)\n"));
	CHECK(!slurm_invalid_job_id(NULL));

	CHECK(slurm_job_already_over("scancel: error: Kill job error on job "
				     "id 3: Invalid job id specified\n"));
	CHECK(slurm_job_already_over("scancel: error: Kill job error on job "
				     "id 3: Job/step already completing or "
				     "completed\n"));
	CHECK(!slurm_job_already_over("scancel: error: Unable to contact "
				      "slurm controller (connect failure)\n"));
	CHECK(!slurm_job_already_over(NULL));
}

static void durations(void)
{
	long s = 0;
	CHECK(slurm_parse_duration("UNLIMITED", &s) == 0 && s == -1);
	CHECK(slurm_parse_duration("Partition_Limit", &s) == 0 && s == -1);
	CHECK(slurm_parse_duration("00:01:00", &s) == 0 && s == 60);
	CHECK(slurm_parse_duration("1-00:00:00", &s) == 0 && s == 86400);
	CHECK(slurm_parse_duration("2-03", &s) == 0 &&
	      s == 2 * 86400 + 3 * 3600);
	CHECK(slurm_parse_duration("2-03:04", &s) == 0 &&
	      s == 2 * 86400 + 3 * 3600 + 4 * 60);
	CHECK(slurm_parse_duration("4:05", &s) == 0 && s == 245);
	CHECK(slurm_parse_duration("0:00", &s) == 0 && s == 0);
	CHECK(slurm_parse_duration("30", &s) == 0 && s == 1800);
	CHECK(slurm_parse_duration("", &s) == -EINVAL);
	CHECK(slurm_parse_duration("INVALID", &s) == -EINVAL);
	CHECK(slurm_parse_duration("1:2:3:4", &s) == -EINVAL);
	CHECK(slurm_parse_duration("1::2", &s) == -EINVAL);
	CHECK(slurm_parse_duration("-1", &s) == -EINVAL);
	CHECK(slurm_parse_duration("1:-2", &s) == -EINVAL);
	CHECK(slurm_parse_duration("5x", &s) == -EINVAL);
}

/* `scontrol show job 1` after `scancel --signal=TERM --full 1`, verbatim. */
static const char scontrol_ended[] =
	"JobId=1 JobName=t1\n"
	"   UserId=root(0) GroupId=root(0) MCS_label=N/A\n"
	"   Priority=4294901759 Nice=0 Account=(null) QOS=(null)\n"
	"   JobState=COMPLETED Reason=None Dependency=(null)\n"
	"   Requeue=1 Restarts=0 BatchFlag=1 Reboot=0 ExitCode=0:0\n"
	"   RunTime=00:00:04 TimeLimit=UNLIMITED TimeMin=N/A\n"
	"   SubmitTime=2026-11-30T10:13:59 EligibleTime=2026-11-30T10:13:59\n"
	"   AccrueTime=2026-11-30T10:13:59\n"
	"   StartTime=2026-11-30T10:14:01 EndTime=2026-11-30T10:14:05 "
	"Deadline=N/A\n"
	"   SuspendTime=None SecsPreSuspend=0 LastSchedEval=2026-11-30T10:14:01"
	" Scheduler=Main\n"
	"   Partition=debug AllocNode:Sid=localhost:5213\n"
	"   ReqNodeList=(null) ExcNodeList=(null)\n"
	"   NodeList=localhost\n"
	"   BatchHost=localhost\n"
	"   NumNodes=1 NumCPUs=1 NumTasks=1 CPUs/Task=1 ReqB:S:C:T=0:0:*:*\n"
	"   Command=./job.sh\n"
	"   WorkDir=/tmp/slurm-helper-c1/w\n"
	"   StdOut=/tmp/slurm-helper-c1/w/t1.log\n"
	"   Power=\n"
	"   \n";

static void scontrol_output(void)
{
	struct slurm_job_info i;
	CHECK(slurm_parse_scontrol(scontrol_ended, &i) == 0);
	CHECK(i.id == 1);
	CHECK_STR(i.state, "COMPLETED");
	CHECK_STR(i.reason, "None");
	CHECK_STR(i.nodes, "localhost");
	CHECK(i.exit_code == 0 && i.exit_signal == 0);
	CHECK(i.time_limit == -1);
	struct tm tm = { .tm_year = 126,
			 .tm_mon = 10,
			 .tm_mday = 30,
			 .tm_hour = 10,
			 .tm_min = 14,
			 .tm_sec = 1,
			 .tm_isdst = -1 };
	CHECK(i.start == mktime(&tm));

	/* The -o layout, other fields first, a name with spaces and '='. */
	const char *one =
		"JobId=6 JobName=a b ExitCode=1:1 JobState=BAD|c "
		"UserId=nobody(65534) ExitCode=2:9 JobState=CANCELLED "
		"Reason=Resources NodeList=(null) TimeLimit=1-00:00:00 "
		"StartTime=Unknown JobState=RUNNING\n";
	/* Only a name with white space (never slurm_job_name()'s) can
	 * put a field first; a field never starts inside a word. */
	CHECK(slurm_parse_scontrol(one, &i) == 0);
	CHECK(i.id == 6);
	CHECK_STR(i.state, "BAD|c"); /* the first occurrence wins */
	CHECK(i.exit_code == 1 && i.exit_signal == 1);
	CHECK_STR(i.reason, "Resources");
	CHECK_STR(i.nodes, "");
	CHECK(i.time_limit == 86400);
	CHECK(i.start == 0);

	const char *wrapped = "JobId=9\n JobState=OUT_OF_MEMORY\tReason=\n"
			      "   ExitCode=0:125 XExitCode=5:5\n";
	CHECK(slurm_parse_scontrol(wrapped, &i) == 0);
	CHECK_STR(i.state, "OUT_OF_MEMORY");
	CHECK_STR(i.reason, "");
	CHECK(i.exit_code == 0 && i.exit_signal == 125);
	CHECK(i.time_limit == -1);

	CHECK(slurm_parse_scontrol("slurm_load_jobs error: Invalid job id "
				   "specified\n",
				   &i) == -EINVAL);
	CHECK(slurm_parse_scontrol("JobId=1 JobName=x\n", &i) == -EINVAL);
	CHECK(slurm_parse_scontrol("JobId=x1 JobState=RUNNING", &i) == -EINVAL);
	CHECK(slurm_parse_scontrol("MyJobId=1 JobState=RUNNING", &i) ==
	      -EINVAL);
	CHECK(slurm_parse_scontrol("", &i) == -EINVAL);
	CHECK(slurm_parse_scontrol(NULL, &i) == -EINVAL);
}

static void states(void)
{
	enum slurm_end end;
	CHECK(slurm_phase_of("PENDING", &end) == SLURM_PHASE_QUEUED &&
	      end == SLURM_END_NONE);
	CHECK(slurm_phase_of("REQUEUED", &end) == SLURM_PHASE_QUEUED);
	static const char *const running[] = { "RUNNING", "CONFIGURING",
					       "COMPLETING", "SUSPENDED" };
	for (size_t k = 0; k < sizeof running / sizeof *running; k++) {
		CHECK(slurm_phase_of(running[k], &end) == SLURM_PHASE_RUNNING);
		CHECK(end == SLURM_END_NONE);
	}
	CHECK(slurm_phase_of("COMPLETED", &end) == SLURM_PHASE_ENDED &&
	      end == SLURM_END_COMPLETED);
	CHECK(slurm_phase_of("FAILED", &end) == SLURM_PHASE_ENDED &&
	      end == SLURM_END_FAILED);
	static const char *const by_slurm[] = {
		"CANCELLED",	 "TIMEOUT",   "NODE_FAIL", "PREEMPTED",
		"OUT_OF_MEMORY", "BOOT_FAIL", "DEADLINE",
	};
	for (size_t k = 0; k < sizeof by_slurm / sizeof *by_slurm; k++) {
		CHECK(slurm_phase_of(by_slurm[k], &end) == SLURM_PHASE_ENDED);
		CHECK(end == SLURM_END_BY_SLURM);
	}
	CHECK(slurm_phase_of("CANCELLED by 0", &end) == SLURM_PHASE_ENDED &&
	      end == SLURM_END_BY_SLURM);
	CHECK(slurm_phase_of("COMPLETING+", NULL) == SLURM_PHASE_RUNNING);
	CHECK(slurm_phase_of("RUNNING\n", NULL) == SLURM_PHASE_RUNNING);
	CHECK(slurm_phase_of("", &end) == SLURM_PHASE_UNKNOWN &&
	      end == SLURM_END_NONE);
	CHECK(slurm_phase_of("RUN", NULL) == SLURM_PHASE_UNKNOWN);
	CHECK(slurm_phase_of("RUNNINGX", NULL) == SLURM_PHASE_UNKNOWN);
	CHECK(slurm_phase_of("pending", NULL) == SLURM_PHASE_UNKNOWN);
}

static void status_line(void)
{
	char buf[64];
	slurm_status_line(41, SLURM_PHASE_QUEUED, "Resources", "", buf,
			  sizeof buf);
	CHECK_STR(buf, "job 41 PENDING (Resources)");
	slurm_status_line(41, SLURM_PHASE_QUEUED, "", NULL, buf, sizeof buf);
	CHECK_STR(buf, "job 41 PENDING (None)");
	slurm_status_line(41, SLURM_PHASE_RUNNING, "None", "gpu07", buf,
			  sizeof buf);
	CHECK_STR(buf, "job 41 on gpu07");
	slurm_status_line(41, SLURM_PHASE_RUNNING, "None", "", buf, sizeof buf);
	CHECK_STR(buf, "job 41");
	slurm_status_line(41, SLURM_PHASE_ENDED, "None", "gpu07", buf,
			  sizeof buf);
	CHECK_STR(buf, "job 41");
	slurm_status_line(41, SLURM_PHASE_RUNNING, "", "gpu07", buf, 6);
	CHECK_STR(buf, "job 4");
}

static void judge_end(void)
{
	char buf[128];
	/* What trainfs asked for wins over whatever Slurm says. */
	CHECK(slurm_judge_end(5, "CANCELLED", "None", SLURM_ASKED_CANCEL, 0, 0,
			      0, buf, sizeof buf) == SLURM_VERDICT_CANCELLED);
	CHECK(slurm_judge_end(5, "CANCELLED", "None", SLURM_ASKED_STOP, 1, -1,
			      9, buf, sizeof buf) == SLURM_VERDICT_EXIT);
	CHECK(slurm_judge_end(5, "COMPLETED", "None", SLURM_ASKED_STOP, 1, 0, 0,
			      buf, sizeof buf) == SLURM_VERDICT_EXIT);
	/* The trainer's own end: judged as on this machine. */
	CHECK(slurm_judge_end(5, "COMPLETED", "None", SLURM_ASKED_NOTHING, 1, 0,
			      0, buf, sizeof buf) == SLURM_VERDICT_EXIT);
	CHECK(slurm_judge_end(5, "FAILED", "NonZeroExitCode",
			      SLURM_ASKED_NOTHING, 1, 3, 0, buf,
			      sizeof buf) == SLURM_VERDICT_EXIT);
	CHECK(slurm_judge_end(5, "COMPLETED", "None", SLURM_ASKED_NOTHING, 0, 0,
			      0, buf, sizeof buf) == SLURM_VERDICT_EXIT);
	CHECK(slurm_judge_end(5, NULL, NULL, SLURM_ASKED_NOTHING, 1, 0, 0, buf,
			      sizeof buf) == SLURM_VERDICT_EXIT);
	/* Slurm's own ends. */
	CHECK(slurm_judge_end(41, "NODE_FAIL", "None", SLURM_ASKED_NOTHING, 0,
			      0, 0, buf, sizeof buf) == SLURM_VERDICT_FAILED);
	CHECK_STR(buf, "slurm job 41 ended: NODE_FAIL");
	CHECK(slurm_judge_end(41, "CANCELLED", "None", SLURM_ASKED_NOTHING, 1,
			      -1, 15, buf, sizeof buf) == SLURM_VERDICT_FAILED);
	CHECK_STR(buf, "slurm job 41 ended: CANCELLED; killed by signal 15");
	CHECK(slurm_judge_end(41, "TIMEOUT", "None", SLURM_ASKED_NOTHING, 1, 2,
			      0, buf, sizeof buf) == SLURM_VERDICT_FAILED);
	CHECK_STR(buf, "slurm job 41 ended: TIMEOUT; trainer exited with "
		       "status 2");
	CHECK(slurm_judge_end(7, "FAILED", "JobLaunchFailure",
			      SLURM_ASKED_NOTHING, 0, 0, 0, buf,
			      sizeof buf) == SLURM_VERDICT_FAILED);
	CHECK_STR(buf, "slurm job 7 ended: FAILED (JobLaunchFailure)");
	CHECK(slurm_judge_end(7, "OUT_OF_MEMORY\n", NULL, SLURM_ASKED_NOTHING,
			      0, 0, 0, buf,
			      sizeof buf) == SLURM_VERDICT_FAILED);
	CHECK_STR(buf, "slurm job 7 ended: OUT_OF_MEMORY");
	CHECK(slurm_judge_end(7, "", NULL, SLURM_ASKED_NOTHING, 0, 0, 0, buf,
			      sizeof buf) == SLURM_VERDICT_FAILED);
	CHECK_STR(buf, "slurm job 7 ended: UNKNOWN");
	CHECK(slurm_judge_end(7, "PREEMPTED", NULL, SLURM_ASKED_NOTHING, 0, 0,
			      0, buf, 12) == SLURM_VERDICT_FAILED);
	CHECK_STR(buf, "slurm job 7");
}

static char *const clean_env[] = { "PATH=/usr/bin:/bin", "ONLY=this", NULL };

static void run_collects(void)
{
	struct slurm_output o;
	char *argv[] = { "sh", "-c",
			 "echo out; echo err >&2; echo \"$ONLY $HOME\"; exit 3",
			 NULL };
	CHECK(slurm_run(argv, clean_env, getuid(), getgid(), 5000, &o) == 0);
	CHECK(WIFEXITED(o.status) && WEXITSTATUS(o.status) == 3);
	CHECK_STR(o.out, "out\nthis \n");
	CHECK_STR(o.err, "err\n");
	CHECK(o.out_len == 10 && !o.truncated);
	slurm_output_free(&o);

	/* Much more than a pipe holds, on both pipes at once. */
	char *big[] = {
		"sh", "-c",
		"head -c 300000 /dev/zero; head -c 200000 /dev/zero >&2", NULL
	};
	CHECK(slurm_run(big, clean_env, getuid(), getgid(), 10000, &o) == 0);
	CHECK(o.out_len == 300000 && o.err_len == 200000);
	CHECK(WIFEXITED(o.status) && WEXITSTATUS(o.status) == 0);
	slurm_output_free(&o);

	/* stdin is /dev/null: a command that reads it does not hang. */
	char *cat[] = { "cat", NULL };
	CHECK(slurm_run(cat, clean_env, getuid(), getgid(), 5000, &o) == 0);
	CHECK(o.out_len == 0 && o.out && !o.out[0]);
	slurm_output_free(&o);

	char *absent[] = { "no-such-slurm-command", NULL };
	CHECK(slurm_run(absent, clean_env, getuid(), getgid(), 1000, &o) ==
	      -ENOENT);
	slurm_output_free(&o);
	char *absent_path[] = { "/nonexistent/sbatch", NULL };
	CHECK(slurm_run(absent_path, clean_env, getuid(), getgid(), 1000, &o) ==
	      -ENOENT);
	slurm_output_free(&o);
}

/*
 * A daemon may run with descriptors 0-2 closed: the pipes then get those
 * numbers, and the command must still see its output on 1 and 2.
 */
static void run_with_std_fds_closed(void)
{
	int res[2];
	if (pipe(res) < 0) {
		CHECK(!"pipe");
		return;
	}
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		struct slurm_output o;
		char *argv[] = { "sh", "-c", "echo out; echo err >&2", NULL };
		char ok = 'n';
		close(0);
		close(1);
		close(2);
		if (slurm_run(argv, clean_env, getuid(), getgid(), 5000, &o) ==
			    0 &&
		    !strcmp(o.out, "out\n") && !strcmp(o.err, "err\n"))
			ok = 'y';
		if (write(res[1], &ok, 1) != 1)
			_exit(2);
		_exit(0);
	}
	close(res[1]);
	char ok = 0;
	CHECK(read(res[0], &ok, 1) == 1 && ok == 'y');
	close(res[0]);
	int st;
	CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) &&
	      WEXITSTATUS(st) == 0);
}

static long long ms_now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1000LL + t.tv_nsec / 1000000;
}

static void run_times_out(void)
{
	struct slurm_output o;
	/* A grandchild keeps the pipes open: the whole group is killed. */
	char *argv[] = { "sh", "-c", "echo started; sleep 30 & sleep 30",
			 NULL };
	long long t0 = ms_now();
	CHECK(slurm_run(argv, clean_env, getuid(), getgid(), 300, &o) ==
	      -ETIMEDOUT);
	long long took = ms_now() - t0;
	CHECK(took >= 300 && took < 10000);
	CHECK(WIFSIGNALED(o.status) && WTERMSIG(o.status) == SIGKILL);
	CHECK_STR(o.out, "started\n");
	slurm_output_free(&o);
}

static void run_as_owner(void)
{
	struct slurm_output o;
	if (getuid() != 0) {
		printf("slurm: run_as_owner skipped: not root\n");
		return;
	}
	char *argv[] = { "sh", "-c", "id -u; id -g; id -G", NULL };
	CHECK(slurm_run(argv, clean_env, 65534, 65534, 5000, &o) == 0);
	CHECK(WIFEXITED(o.status) && WEXITSTATUS(o.status) == 0);
	CHECK_STR(o.out, "65534\n65534\n65534\n");
	slurm_output_free(&o);
	/* A uid without a passwd entry: its own gid only, no root groups. */
	CHECK(slurm_run(argv, clean_env, 54321, 54322, 5000, &o) == 0);
	CHECK_STR(o.out, "54321\n54322\n54322\n");
	slurm_output_free(&o);
}

/* ---- against a real Slurm (tests/slurm/cluster.sh), when there is one ---- */

extern char **environ;

#define NOBODY 65534

struct live {
	char **env;
	char dir[64];
	char exe[128];
	char log[128];
};

/* Runs ARGV as nobody; returns the exit status, or -1 (and says why). */
static int live_run(struct live *l, char **argv, struct slurm_output *o)
{
	int rc = slurm_run(argv, l->env, NOBODY, NOBODY, 20000, o);
	if (rc) {
		fprintf(stderr, "%s: %s\n", argv[0], strerror(-rc));
		return -1;
	}
	return WIFEXITED(o->status) ? WEXITSTATUS(o->status) : -1;
}

static long long live_submit(struct live *l, const struct slurm_option *opts,
			     size_t nopts, char *err, size_t errlen)
{
	struct slurm_submit s = { .self_exe = l->exe,
				  .job_dir = l->dir,
				  .job_name = "trainfs-unit",
				  .log = l->log,
				  .opts = opts,
				  .nopts = nopts };
	struct slurm_output o;
	char **argv = NULL;
	long long id = -1;
	if (slurm_sbatch_argv(&s, &argv))
		return -1;
	int st = live_run(l, argv, &o);
	if (st == 0 && slurm_parse_sbatch(o.out, &id))
		id = -1;
	if (st != 0)
		slurm_sbatch_error(o.err, o.status, err, errlen);
	slurm_output_free(&o);
	slurm_argv_free(argv);
	return id;
}

/* Polls squeue until job ID is in PHASE (and REASON, if not NULL). */
static int live_wait(struct live *l, long long id, enum slurm_phase phase,
		     const char *reason, struct slurm_queue_entry *got)
{
	long long ids[] = { id, 999999 }; /* an unknown id changes nothing */
	char **argv = NULL;
	if (slurm_squeue_argv(ids, 2, &argv))
		return -1;
	for (int tries = 0; tries < 300; tries++) {
		struct slurm_output o;
		struct slurm_queue_entry *e = NULL;
		size_t n = 0;
		int st = live_run(l, argv, &o), found = 0;
		if (st == 0 && !slurm_parse_squeue(o.out, &e, &n))
			for (size_t i = 0; i < n; i++)
				if (e[i].id == id &&
				    slurm_phase_of(e[i].state, NULL) == phase &&
				    (!reason || !strcmp(e[i].reason, reason))) {
					*got = e[i];
					found = 1;
				}
		free(e);
		slurm_output_free(&o);
		if (found) {
			slurm_argv_free(argv);
			return 0;
		}
		usleep(100000);
	}
	slurm_argv_free(argv);
	fprintf(stderr, "slurm job %lld never reached phase %d\n", id, phase);
	return -1;
}

static int live_scancel(struct live *l, const char *how, long long id)
{
	char ids[32];
	struct slurm_output o;
	snprintf(ids, sizeof ids, "%lld", id);
	char *kill_full[] = { "scancel", "--signal=KILL", "--full", ids, NULL };
	char *urg[] = { "scancel", "--batch", "--signal=URG", ids, NULL };
	int st = live_run(l, !strcmp(how, "kill") ? kill_full : urg, &o);
	slurm_output_free(&o);
	return st;
}

static int live_scontrol(struct live *l, long long id, struct slurm_job_info *i)
{
	char ids[32];
	struct slurm_output o;
	snprintf(ids, sizeof ids, "%lld", id);
	char *argv[] = { "scontrol", "show", "job", ids, NULL };
	int st = live_run(l, argv, &o);
	int rc = st == 0 ? slurm_parse_scontrol(o.out, i) : -1;
	slurm_output_free(&o);
	return rc;
}

static int write_text(const char *path, const char *text, mode_t mode)
{
	FILE *f = fopen(path, "w");
	if (!f)
		return -1;
	fputs(text, f);
	if (fclose(f) || chmod(path, mode))
		return -1;
	return 0;
}

/*
 * The whole conversation a Slurm executor has, against a live cluster:
 * submit as the owner, a job pending on resources, cancel while pending,
 * the stop request to the batch shim (SIGURG), scontrol after the end, a
 * refused submission and squeue when no asked id is known.
 */
static void live_cluster(void)
{
	const char *conf = getenv("TRAINFS_TEST_SLURM_CONF");
	struct live l = { 0 };
	char err[256], text[512], cpus[16];
	struct slurm_queue_entry q;
	struct slurm_job_info info;
	if (!conf || getuid() != 0) {
		printf("slurm: live_cluster skipped: %s\n",
		       conf ? "not root" : "no TRAINFS_TEST_SLURM_CONF");
		return;
	}
	setenv("SLURM_CONF", conf, 1);
	CHECK(slurm_command_env(environ, &l.env) == 0);
	snprintf(l.dir, sizeof l.dir, "/tmp/test_slurm.XXXXXX");
	if (!mkdtemp(l.dir) || chmod(l.dir, 0777)) {
		CHECK(!"cannot make a folder");
		return;
	}
	snprintf(l.exe, sizeof l.exe, "%s/fake-trainfs", l.dir);
	snprintf(l.log, sizeof l.log, "%s/log", l.dir);
	/* Stands in for "trainfs __shim --slurm DIR": says who it is, then
	 * waits for the stop request. */
	CHECK(write_text(
		      l.exe,
		      "#!/bin/sh\n"
		      "trap 'echo stop requested; exit 0' URG\n"
		      "echo \"shim $* as $(id -u) pid $$ job $SLURM_JOB_ID\"\n"
		      "i=0; while [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done\n",
		      0755) == 0);

	snprintf(cpus, sizeof cpus, "%ld", sysconf(_SC_NPROCESSORS_ONLN));
	struct slurm_option all_cpus[] = { { "cpus_per_task", cpus } };
	long long a = live_submit(&l, all_cpus, 1, err, sizeof err);
	CHECK(a > 0);
	CHECK(live_wait(&l, a, SLURM_PHASE_RUNNING, NULL, &q) == 0);
	CHECK_STR(q.node, "localhost");
	long long b = live_submit(&l, all_cpus, 1, err, sizeof err);
	CHECK(b > a);
	CHECK(live_wait(&l, b, SLURM_PHASE_QUEUED, "Resources", &q) == 0);

	/* cancel while pending */
	CHECK(live_scancel(&l, "kill", b) == 0);
	CHECK(live_wait(&l, b, SLURM_PHASE_ENDED, NULL, &q) == 0);
	CHECK_STR(q.state, "CANCELLED");

	/* stop: SIGURG to the batch step's main process only */
	usleep(500000); /* the script has set its trap */
	CHECK(live_scancel(&l, "urg", a) == 0);
	CHECK(live_wait(&l, a, SLURM_PHASE_ENDED, NULL, &q) == 0);
	CHECK_STR(q.state, "COMPLETED");
	CHECK(live_scontrol(&l, a, &info) == 0);
	CHECK(info.id == a);
	CHECK_STR(info.state, "COMPLETED");
	CHECK(info.exit_code == 0 && info.exit_signal == 0);
	CHECK_STR(info.nodes, "localhost");
	CHECK(info.start > 0 && info.start <= time(NULL) + 1);
	FILE *f = fopen(l.log, "r");
	size_t n = f ? fread(text, 1, sizeof text - 1, f) : 0;
	text[n] = '\0';
	if (f)
		fclose(f);
	char want[256];
	snprintf(want, sizeof want, "shim __shim --slurm %s as 65534 pid ",
		 l.dir);
	CHECK(strstr(text, want) != NULL);
	CHECK(strstr(text, "stop requested\n") != NULL);

	/* a refused submission: sbatch's own message */
	struct slurm_option bad[] = { { "partition", "nosuch" } };
	CHECK(live_submit(&l, bad, 1, err, sizeof err) == -1);
	CHECK_STR(err, "sbatch: error: invalid partition specified: nosuch");

	/* squeue when none of the ids is known: one id fails with "Invalid
	 * job id specified", several succeed with nothing. */
	long long gone[] = { 999998, 999999 };
	char **argv = NULL;
	struct slurm_output o;
	CHECK(slurm_squeue_argv(gone, 1, &argv) == 0);
	CHECK(live_run(&l, argv, &o) == 1);
	CHECK(slurm_invalid_job_id(o.err));
	slurm_output_free(&o);
	slurm_argv_free(argv);
	CHECK(slurm_squeue_argv(gone, 2, &argv) == 0);
	CHECK(live_run(&l, argv, &o) == 0);
	CHECK_STR(o.out, "");
	slurm_output_free(&o);
	slurm_argv_free(argv);

	snprintf(text, sizeof text, "rm -rf '%s'", l.dir);
	CHECK(system(text) == 0);
	slurm_argv_free(l.env);
}

TEST_MAIN("slurm", TEST(option_keys), TEST(sbatch_argv), TEST(job_name),
	  TEST(sh_quote), TEST(command_env), TEST(launch_env),
	  TEST(trainer_env), TEST(exit_status), TEST(sbatch_output),
	  TEST(squeue_argv), TEST(squeue_output), TEST(durations),
	  TEST(scontrol_output), TEST(states), TEST(status_line),
	  TEST(judge_end), TEST(run_collects), TEST(run_with_std_fds_closed),
	  TEST(run_times_out), TEST(run_as_owner), TEST(live_cluster))
