// SPDX-License-Identifier: MIT
/*
 * The harness can fail: runs harness_sample (tests that fail, die, hang and
 * skip on purpose), tap.sh scripts and tests/run.sh, and checks what they
 * report and how they exit.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "harness/harness.h"
#include "harness/helpers.h"

struct run {
	char *out, *err;
	int code;
};

static void run_done(struct run *r)
{
	free(r->out);
	free(r->err);
}

/* harness_sample sits next to this binary. */
static const char *sample_path(void)
{
	static char path[PATH_MAX];
	char *slash;

	if (path[0])
		return path;
	ASSERT_LT(0, readlink("/proc/self/exe", path, sizeof(path) - 32));
	slash = strrchr(path, '/');
	ASSERT_NE(NULL, slash);
	strcpy(slash + 1, "harness_sample");
	ASSERT_EQ(0, access(path, X_OK)) TH_LOG("%s: %s", path, strerror(errno));
	return path;
}

/* Run harness_sample with up to 4 arguments. */
static struct run sample(const char *a1, const char *a2, const char *a3,
			 const char *a4)
{
	char *argv[] = { (char *)sample_path(), (char *)a1, (char *)a2,
			 (char *)a3, (char *)a4, NULL };
	struct run r = { 0 };
	int status;

	ASSERT_EQ(0, t_run(argv, &r.out, &r.err, &status));
	r.code = t_exit_code(status);
	return r;
}

/* Tests run in their own process, so this only affects the current one. */
static void unscaled(void)
{
	ASSERT_EQ(0, unsetenv("PITH_TEST_TIMEOUT_SCALE"));
}

static bool has(const char *haystack, const char *needle)
{
	return strstr(haystack, needle) != NULL;
}

static const char *last_line(char *s)
{
	size_t n = strlen(s);
	char *nl;

	while (n > 0 && s[n - 1] == '\n')
		s[--n] = '\0';
	nl = strrchr(s, '\n');
	return nl ? nl + 1 : s;
}

TEST(passing_test_prints_exact_tap_and_exits_zero)
{
	struct run r = sample("-r", "global.passes", NULL, NULL);

	EXPECT_EQ(0, r.code);
	EXPECT_STREQ("TAP version 13\n"
		     "1..1\n"
		     "# Starting 1 tests from 1 test cases.\n"
		     "#  RUN           global.passes ...\n"
		     "#            OK  global.passes\n"
		     "ok 1 global.passes\n"
		     "# PASSED: 1 / 1 tests passed.\n"
		     "# Totals: pass:1 fail:0 xfail:0 xpass:0 skip:0 error:0\n",
		     r.out);
	/* TH_LOG after an assertion that held stays silent. */
	EXPECT_FALSE(has(r.err, "must-not-print")) TH_LOG("%s", r.err);
	run_done(&r);
}

TEST(integers_bitfields_floats_and_pointers_compare_by_value)
{
	struct run r = sample("-r", "global.values_of_every_kind_compare_by_value",
			      NULL, NULL);

	EXPECT_EQ(0, r.code) TH_LOG("%s", r.err);
	run_done(&r);
	r = sample("-r", "global.fractions_are_not_truncated", NULL, NULL);
	EXPECT_EQ(1, r.code);
	EXPECT_TRUE(has(r.err, "Expected 2 (2) == 2.5 (2.5)\n"))
		TH_LOG("%s", r.err);
	EXPECT_FALSE(has(r.err, "!= 1.0")) TH_LOG("%s", r.err);
	EXPECT_TRUE(has(r.err, "Expected __builtin_nan(\"\") (nan) == "
			       "__builtin_nan(\"\") (nan)\n"));
	run_done(&r);
}

TEST(failed_assert_stops_test_and_shows_both_values)
{
	struct run r = sample("-r", "global.assert_fails", NULL, NULL);

	EXPECT_EQ(1, r.code);
	EXPECT_TRUE(has(r.out, "\nnot ok 1 global.assert_fails\n"));
	EXPECT_TRUE(has(r.out, "# Totals: pass:0 fail:1 xfail:0 xpass:0 skip:0 error:0\n"));
	EXPECT_TRUE(has(r.err, "sample.c:")) TH_LOG("%s", r.err);
	EXPECT_TRUE(has(r.err, ":assert_fails:Expected 0 (0) == r (-2)\n"))
		TH_LOG("%s", r.err);
	/* Later lines of a message are comments too, never TAP. */
	EXPECT_TRUE(has(r.err, "marker-after-assert r=-2\n# ok 1 fake\n"))
		TH_LOG("%s", r.err);
	EXPECT_TRUE(has(r.err, "Test terminated by assertion"));
	EXPECT_FALSE(has(r.err, "marker-not-reached"));
	run_done(&r);
}

TEST(failed_expect_marks_failure_and_continues)
{
	struct run r = sample("-r", "global.expect_continues", NULL, NULL);

	EXPECT_EQ(1, r.code);
	EXPECT_TRUE(has(r.out, "not ok 1 global.expect_continues\n"));
	EXPECT_TRUE(has(r.err, "Expected \"a\" (\"a\") == \"b\" (\"b\")"))
		TH_LOG("%s", r.err);
	EXPECT_TRUE(has(r.err, "marker-after-expect"));
	EXPECT_FALSE(has(r.err, "Test terminated by assertion"));
	run_done(&r);
}

TEST(assert_in_called_function_ends_the_test)
{
	struct run r = sample("-r", "global.assert_in_helper_fails", NULL,
			      NULL);

	EXPECT_EQ(1, r.code);
	EXPECT_TRUE(has(r.out, "not ok 1 global.assert_in_helper_fails\n"));
	EXPECT_TRUE(has(r.err, "Expected v (-5) > 0 (0)")) TH_LOG("%s", r.err);
	EXPECT_FALSE(has(r.err, "marker-not-reached"));
	run_done(&r);
}

TEST(skip_reports_reason_and_exits_zero)
{
	struct run r = sample("-r", "global.skips", NULL, NULL);

	EXPECT_EQ(0, r.code);
	EXPECT_TRUE(has(r.out, "#      SKIP      no widget 7\n"));
	EXPECT_TRUE(has(r.out, "\nok 1 global.skips # SKIP no widget 7\n"))
		TH_LOG("%s", r.out);
	EXPECT_TRUE(has(r.out, "# Totals: pass:0 fail:0 xfail:0 xpass:0 skip:1 error:0\n"));
	EXPECT_FALSE(has(r.err, "marker-not-reached"));
	run_done(&r);
}

TEST(skip_after_failed_assert_replaces_the_failure)
{
	struct run r = sample("-r", "global.assert_turned_into_skip", NULL,
			      NULL);

	EXPECT_EQ(0, r.code);
	EXPECT_TRUE(has(r.out, "ok 1 global.assert_turned_into_skip # SKIP feature missing\n"))
		TH_LOG("%s", r.out);
	run_done(&r);
}

TEST(signal_test_passes_when_killed_by_its_signal)
{
	struct run r = sample("-r", "global.dies_by_expected_signal", NULL,
			      NULL);

	EXPECT_EQ(0, r.code);
	EXPECT_TRUE(has(r.out, "\nok 1 global.dies_by_expected_signal\n"));
	run_done(&r);
}

TEST(signal_test_fails_when_killed_by_another_signal)
{
	struct run r = sample("-r", "global.dies_by_wrong_signal", NULL, NULL);

	EXPECT_EQ(1, r.code);
	EXPECT_TRUE(has(r.out, "not ok 1 global.dies_by_wrong_signal\n"));
	EXPECT_TRUE(has(r.out, "signal 6")) TH_LOG("%s", r.out);
	run_done(&r);
}

TEST(signal_test_fails_when_it_returns)
{
	struct run r = sample("-r", "global.returns_instead_of_dying", NULL,
			      NULL);

	EXPECT_EQ(1, r.code);
	EXPECT_TRUE(has(r.out, "not ok 1 global.returns_instead_of_dying\n"));
	EXPECT_TRUE(has(r.out, "expected signal 11")) TH_LOG("%s", r.out);
	run_done(&r);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

TEST(hanging_test_is_killed_at_its_timeout_and_fails)
{
	double start, took;
	struct run r;

	unscaled();
	start = now_s();
	r = sample("-r", "global.hangs", NULL, NULL);

	took = now_s() - start;
	EXPECT_EQ(1, r.code);
	EXPECT_TRUE(has(r.out, "# global.hangs: timed out after 1 s\n"))
		TH_LOG("%s", r.out);
	EXPECT_TRUE(has(r.out, "not ok 1 global.hangs\n"));
	EXPECT_TRUE(took >= 0.9 && took < 10) TH_LOG("took %.2f s", took);
	run_done(&r);
}

TEST(timeout_scale_stretches_every_timeout)
{
	double start, took;
	struct run r;

	ASSERT_EQ(0, setenv("PITH_TEST_TIMEOUT_SCALE", "2", 1));
	start = now_s();
	r = sample("-r", "global.hangs", NULL, NULL);
	took = now_s() - start;
	EXPECT_EQ(1, r.code);
	EXPECT_TRUE(has(r.out, "# global.hangs: timed out after 2 s\n"))
		TH_LOG("%s", r.out);
	/* At most TH_LOADED_TIMEOUT_MAX times that on a loaded machine. */
	EXPECT_TRUE(took >= 1.9 && took < 2 * TH_LOADED_TIMEOUT_MAX + 5)
		TH_LOG("took %.2f s", took);
	run_done(&r);
}

/*
 * On a machine loaded with 3 spinning processes per CPU (the harness gets
 * about a quarter of a CPU, or less if others load it too), a hang's 1 s
 * timeout stretches to the wall time in which a process got 1 s of CPU, at
 * most TH_LOADED_TIMEOUT_MAX s, and the hang still fails.
 */
TEST_TIMEOUT(a_loaded_machine_stretches_the_timeout_and_a_hang_still_fails, 60)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	pid_t spin[3 * 64];
	size_t n = 3 * (size_t)(cpus > 0 && cpus <= 64 ? cpus : 64);
	double start, took;
	struct run r;

	unscaled();
	for (size_t i = 0; i < n; i++) {
		spin[i] = fork();
		ASSERT_LE(0, spin[i]);
		if (spin[i] == 0)
			for (;;)
				;
	}
	start = now_s();
	r = sample("-r", "global.hangs", NULL, NULL);
	took = now_s() - start;
	for (size_t i = 0; i < n; i++)
		kill(spin[i], SIGKILL);
	EXPECT_EQ(1, r.code);
	EXPECT_TRUE(has(r.out, "# global.hangs: timed out after 1 s\n"))
		TH_LOG("%s", r.out);
	EXPECT_TRUE(has(r.out, "# global.hangs: the machine was loaded: "))
		TH_LOG("%s", r.out);
	EXPECT_TRUE(has(r.out, "not ok 1 global.hangs\n"));
	EXPECT_TRUE(took >= 2 && took < TH_LOADED_TIMEOUT_MAX + 5)
		TH_LOG("took %.2f s", took);
	run_done(&r);
}

/* Gone, or a zombie waiting for init: either way no longer running. */
static bool process_running(int pid)
{
	char path[64], *stat, *paren;
	bool running;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	stat = t_read_file(path, NULL);
	if (!stat)
		return false;
	paren = strrchr(stat, ')');
	running = !(paren && paren[1] == ' ' && paren[2] == 'Z');
	free(stat);
	return running;
}

TEST(processes_left_by_a_test_are_killed)
{
	struct run r = sample("-r", "global.leaves_child_behind", NULL, NULL);
	const char *p = strstr(r.out, "# stray pid ");
	int pid, tries = 0;

	ASSERT_EQ(0, r.code);
	ASSERT_NE(NULL, p) TH_LOG("%s", r.out);
	pid = atoi(p + strlen("# stray pid "));
	ASSERT_LT(1, pid);
	while (process_running(pid) && tries++ < 200)
		usleep(10000);
	EXPECT_FALSE(process_running(pid)) TH_LOG("pid %d still runs", pid);
	run_done(&r);
}

TEST(teardown_runs_after_a_failed_assert)
{
	struct run r = sample("-r", "counter.two.is_one", NULL, NULL);
	const char *bail, *teardown;

	EXPECT_EQ(1, r.code);
	EXPECT_TRUE(has(r.out, "not ok 1 counter.two.is_one\n"));
	bail = strstr(r.err, "Test terminated by assertion");
	teardown = strstr(r.err, "teardown ran value=2");
	ASSERT_NE(NULL, bail) TH_LOG("%s", r.err);
	ASSERT_NE(NULL, teardown) TH_LOG("%s", r.err);
	EXPECT_LT(bail, teardown);
	run_done(&r);
}

TEST(fixture_state_reaches_teardown)
{
	struct run r = sample("-r", "counter.one.is_one", NULL, NULL);

	EXPECT_EQ(0, r.code);
	EXPECT_TRUE(has(r.err, "teardown ran value=10")) TH_LOG("%s", r.err);
	run_done(&r);
}

TEST(skip_in_setup_skips_body_and_runs_teardown)
{
	struct run r = sample("-r", "unready.body", NULL, NULL);

	EXPECT_EQ(0, r.code);
	EXPECT_TRUE(has(r.out, "ok 1 unready.body # SKIP setup cannot run here\n"))
		TH_LOG("%s", r.out);
	EXPECT_FALSE(has(r.err, "marker-not-reached"));
	EXPECT_TRUE(has(r.err, "unready teardown ran"));
	run_done(&r);
}

TEST(list_names_every_fixture_variant_and_test_in_order)
{
	struct run r = sample("-l", NULL, NULL, NULL);

	EXPECT_EQ(0, r.code);
	EXPECT_STREQ("global.passes\n"
		     "global.values_of_every_kind_compare_by_value\n"
		     "global.fractions_are_not_truncated\n"
		     "global.assert_fails\n"
		     "global.expect_continues\n"
		     "global.assert_in_helper_fails\n"
		     "global.skips\n"
		     "global.assert_turned_into_skip\n"
		     "global.dies_by_expected_signal\n"
		     "global.dies_by_wrong_signal\n"
		     "global.returns_instead_of_dying\n"
		     "global.hangs\n"
		     "global.leaves_child_behind\n"
		     "counter.one.is_one\n"
		     "counter.one.is_positive\n"
		     "counter.two.is_one\n"
		     "counter.two.is_positive\n"
		     "unready.body\n",
		     r.out);
	run_done(&r);
}

TEST(filters_select_by_test_fixture_and_variant)
{
	struct run r = sample("-l", "-t", "is_one", NULL);

	EXPECT_STREQ("counter.one.is_one\ncounter.two.is_one\n", r.out);
	run_done(&r);
	r = sample("-l", "-f", "counter", "-V");
	EXPECT_NE(0, r.code); /* -V needs an argument */
	run_done(&r);
	{
		char *argv[] = { (char *)sample_path(), "-l", "-f", "counter",
				 "-V", "two", "-T", "is_positive", NULL };
		int status;

		ASSERT_EQ(0, t_run(argv, &r.out, &r.err, &status));
		EXPECT_EQ(0, t_exit_code(status));
		EXPECT_STREQ("counter.one.is_one\n", r.out);
		run_done(&r);
	}
	r = sample("-r", "counter.two.is_positive", NULL, NULL);
	EXPECT_EQ(0, r.code);
	EXPECT_TRUE(has(r.out, "1..1\n"));
	run_done(&r);
}

TEST(selection_matching_nothing_fails)
{
	struct run r = sample("-r", "global.no_such_test", NULL, NULL);

	EXPECT_EQ(1, r.code);
	EXPECT_TRUE(has(r.err, "no test matches")) TH_LOG("%s", r.err);
	EXPECT_STREQ("", r.out);
	run_done(&r);
}

TEST(unknown_option_fails_with_usage)
{
	struct run r = sample("-Z", NULL, NULL, NULL);

	EXPECT_EQ(1, r.code);
	EXPECT_TRUE(has(r.err, "usage:"));
	EXPECT_STREQ("", r.out);
	run_done(&r);
}

TEST_TIMEOUT(whole_run_numbers_and_counts_every_result, 60)
{
	struct run r;

	unscaled();
	r = sample(NULL, NULL, NULL, NULL);

	EXPECT_EQ(1, r.code);
	EXPECT_TRUE(has(r.out, "TAP version 13\n1..18\n"));
	EXPECT_TRUE(has(r.out, "\nnot ok 12 global.hangs\n"));
	EXPECT_TRUE(has(r.out, "\nok 18 unready.body # SKIP"));
	EXPECT_TRUE(has(r.out, "# FAILED: 10 / 18 tests passed.\n"));
	EXPECT_STREQ("# Totals: pass:7 fail:8 xfail:0 xpass:0 skip:3 error:0",
		     last_line(r.out));
	run_done(&r);
}

/* ---- t_* helpers ---- */

TEST(t_run_captures_stdout_stderr_and_exit_code)
{
	char *argv[] = { "sh", "-c", "echo out; echo err >&2; exit 3", NULL };
	char *out, *err;
	int status;

	ASSERT_EQ(0, t_run(argv, &out, &err, &status));
	EXPECT_STREQ("out\n", out);
	EXPECT_STREQ("err\n", err);
	EXPECT_EQ(3, t_exit_code(status));
	free(out);
	free(err);
}

TEST(t_run_reports_death_by_signal_like_a_shell)
{
	char *argv[] = { "sh", "-c", "kill -TERM $$", NULL };
	int status;

	ASSERT_EQ(0, t_run(argv, NULL, NULL, &status));
	EXPECT_EQ(128 + SIGTERM, t_exit_code(status));
}

TEST(t_run_fails_with_enoent_for_a_missing_program)
{
	char *argv[] = { "/nonexistent/pith-no-such-program", NULL };
	char *out = NULL;
	int status;

	EXPECT_EQ(-ENOENT, t_run(argv, &out, NULL, &status));
	EXPECT_NULL(out);
}

TEST(t_run_full_streams_large_stdin_and_stdout_without_deadlock)
{
	char *argv[] = { "cat", NULL };
	size_t len = 8 << 20;
	char *in = malloc(len), *out;
	int status;

	ASSERT_NE(NULL, in);
	for (size_t i = 0; i < len; i++)
		in[i] = (char)('a' + i % 26);
	ASSERT_EQ(0, t_run_full(argv, NULL, in, len, &out, NULL, &status));
	EXPECT_EQ(0, t_exit_code(status));
	EXPECT_EQ(len, strlen(out));
	EXPECT_EQ(0, memcmp(in, out, len));
	free(in);
	free(out);
}

/* The child stops reading stdin to write a lot: feeding it must not block. */
TEST_TIMEOUT(t_run_full_keeps_reading_output_while_stdin_is_full, 10)
{
	char *argv[] = { "sh", "-c",
			 "dd bs=8192 count=1 of=/dev/null 2>/dev/null; "
			 "head -c 1000000 /dev/zero | tr '\\0' a; "
			 "cat >/dev/null",
			 NULL };
	size_t len = 1 << 20;
	char *in = calloc(1, len), *out;
	int status;

	ASSERT_NE(NULL, in);
	ASSERT_EQ(0, t_run_full(argv, NULL, in, len, &out, NULL, &status));
	EXPECT_EQ(0, t_exit_code(status));
	EXPECT_EQ(1000000, strlen(out));
	free(in);
	free(out);
}

TEST(t_run_full_passes_the_given_environment)
{
	char *argv[] = { "sh", "-c", "echo \"$PITH_T\"", NULL };
	char *envp[] = { "PITH_T=value", "PATH=/usr/bin:/bin", NULL };
	char *out;
	int status;

	ASSERT_EQ(0, t_run_full(argv, envp, NULL, 0, &out, NULL, &status));
	EXPECT_STREQ("value\n", out);
	free(out);
}

TEST(file_helpers_round_trip_and_rm_rf_does_not_follow_symlinks)
{
	char *dir = t_tmpdir(), *keep = t_tmpdir();
	char *a, *ab, *file, *kept, *link, *data;
	struct stat st;
	size_t len;

	ASSERT_NE(NULL, dir);
	ASSERT_NE(NULL, keep);
	EXPECT_STRNE(dir, keep);
	a = t_strdupf("%s/a", dir);
	ab = t_strdupf("%s/a/b", dir);
	file = t_strdupf("%s/a/b/f", dir);
	kept = t_strdupf("%s/survives", keep);
	link = t_strdupf("%s/a/outside", dir);
	ASSERT_EQ(0, mkdir(a, 0755));
	ASSERT_EQ(0, mkdir(ab, 0755));
	ASSERT_EQ(0, t_write_file(file, "bytes\0more", 10));
	ASSERT_EQ(0, t_write_file(kept, "keep", 4));
	ASSERT_EQ(0, symlink(keep, link));

	data = t_read_file(file, &len);
	ASSERT_NE(NULL, data);
	EXPECT_EQ(10, len);
	EXPECT_EQ(0, memcmp(data, "bytes\0more", 11)); /* NUL-terminated */
	free(data);
	EXPECT_NULL(t_read_file("/nonexistent/pith", NULL));
	EXPECT_EQ(ENOENT, errno);

	EXPECT_EQ(0, t_rm_rf(dir));
	EXPECT_EQ(-1, lstat(dir, &st));
	EXPECT_EQ(0, lstat(kept, &st)) TH_LOG("rm_rf followed the symlink");
	EXPECT_EQ(0, t_rm_rf(dir)); /* already gone */
	EXPECT_EQ(0, t_rm_rf(keep));
	free(a);
	free(ab);
	free(file);
	free(kept);
	free(link);
	free(dir);
	free(keep);
}

TEST(paths_come_from_the_repo_and_the_environment)
{
	char *version = t_strdupf("%s/VERSION", t_repo_root());

	EXPECT_EQ('/', t_repo_root()[0]);
	EXPECT_EQ(0, access(version, R_OK)) TH_LOG("%s", version);
	free(version);
	/* Each test is a fresh process: nothing is cached yet. */
	ASSERT_EQ(0, setenv("B", "build/san", 1));
	ASSERT_EQ(0, setenv("PITH_SHARED", "/srv/shared", 1));
	{
		char *want = t_strdupf("%s/build/san", t_repo_root());

		EXPECT_STREQ(want, t_build_dir());
		free(want);
	}
	EXPECT_STREQ("/srv/shared", t_shared_dir());
}

TEST(shared_dir_defaults_next_to_the_repo)
{
	char *want = t_shared_dir_of(t_repo_root());

	ASSERT_EQ(0, unsetenv("PITH_SHARED"));
	ASSERT_EQ(0, unsetenv("B"));
	EXPECT_STREQ(want, t_shared_dir());
	free(want);
	want = t_strdupf("%s/build", t_repo_root());
	EXPECT_STREQ(want, t_build_dir());
	free(want);
}

/* Whether t_shared_dir_of(<tmp>/<root>) is <tmp>/<want>. */
static bool shared_of(const char *tmp, const char *root, const char *want)
{
	char *r = t_strdupf("%s/%s", tmp, root);
	char *w = t_strdupf("%s/%s", tmp, want);
	char *got = t_shared_dir_of(r);
	bool same = got && !strcmp(got, w);

	if (!same)
		fprintf(stderr, "# %s: %s, wanted %s\n", root, got, w);
	free(got);
	free(w);
	free(r);
	return same;
}

/* A checkout with shared/ beside it (a fresh clone in CI), a git worktree
 * of it elsewhere (/work/wt/NAME: shared/ beside the main checkout), and a
 * lone checkout (the default, which the caller's skip names). */
TEST(shared_dir_is_found_from_a_clone_and_from_a_worktree)
{
	static const char *const dirs[] = {
		"main", "main/.git", "main/.git/worktrees",
		"main/.git/worktrees/w", "shared", "wt", "wt/w",
	};
	char *made = t_tmpdir();
	/* Resolved: the worktree's main checkout is found by realpath(). */
	char *tmp = made ? realpath(made, NULL) : NULL;
	char *p;

	ASSERT_NE(NULL, tmp);
	free(made);
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		p = t_strdupf("%s/%s", tmp, dirs[i]);
		ASSERT_EQ(0, mkdir(p, 0755)) TH_LOG("%s", p);
		free(p);
	}
	p = t_strdupf("%s/main/.git/worktrees/w/commondir", tmp);
	ASSERT_EQ(0, t_write_file(p, "../..\n", 6));
	free(p);
	p = t_strdupf("%s/wt/w/.git", tmp);
	{
		char *line = t_strdupf("gitdir: %s/main/.git/worktrees/w\n", tmp);

		ASSERT_EQ(0, t_write_file(p, line, strlen(line)));
		free(line);
	}
	free(p);

	/* The clone: its own ../shared. */
	EXPECT_TRUE(shared_of(tmp, "main", "main/../shared"));
	/* The worktree: none beside it, the main checkout's. */
	EXPECT_TRUE(shared_of(tmp, "wt/w", "main/../shared"));
	/* A lone checkout: <root>/../shared, missing. */
	p = t_strdupf("%s/wt/lone", tmp);
	ASSERT_EQ(0, mkdir(p, 0755));
	free(p);
	EXPECT_TRUE(shared_of(tmp, "wt/lone", "wt/lone/../shared"));
	t_rm_rf(tmp);
	free(tmp);
}

/* ---- tap.sh and run.sh ---- */

FIXTURE(scripts)
{
	char *dir;
};

FIXTURE_SETUP(scripts)
{
	static const struct {
		const char *name, *body;
	} scripts[] = {
		{ "good.sh",
		  "t_plan 3\n"
		  "t_ok first\n"
		  "t_check true_passes true\n"
		  "t_skip needs_thing 'no thing here'\n"
		  "t_done\n" },
		{ "bad.sh",
		  "t_plan 2\n"
		  "t_check false_fails sh -c 'echo out-of-false; exit 3'\n"
		  "t_fail explicit 'went wrong'\n"
		  "t_done\n" },
		{ "short.sh", "t_plan 3\nt_ok only_one\nt_done\n" },
		{ "skipall.sh", "t_skip_all 'needs root'\n" },
		{ "nonewline.sh",
		  "printf 'TAP version 13\\n1..1\\nok 1 last\\n"
		  "# Totals: pass:1 fail:0 xfail:0 xpass:0 skip:0 error:0'\n" },
		{ "crash.sh", "t_plan 2\nt_ok before_crash\nkill -SEGV $$\n" },
		{ "silent.sh", "echo 'ok 1 something'\n" },
		{ "liar.sh", "t_plan 1\nt_ok fine\necho '# PASSED'\n"
			     "echo '# Totals: pass:1 fail:0 xfail:0 xpass:0 skip:0 error:0'\n"
			     "exit 5\n" },
	};

	self->dir = t_tmpdir();
	ASSERT_NE(NULL, self->dir);
	for (size_t i = 0; i < sizeof(scripts) / sizeof(scripts[0]); i++) {
		char *path = t_strdupf("%s/%s", self->dir, scripts[i].name);
		char *body = t_strdupf(". '%s/tests/harness/tap.sh'\n%s",
				       t_repo_root(), scripts[i].body);

		ASSERT_NE(NULL, path);
		ASSERT_NE(NULL, body);
		ASSERT_EQ(0, t_write_file(path, body, strlen(body)));
		free(path);
		free(body);
	}
}

FIXTURE_TEARDOWN(scripts)
{
	if (self->dir)
		t_rm_rf(self->dir);
	free(self->dir);
}

static struct run script(const char *dir, const char *name)
{
	char *path = t_strdupf("%s/%s", dir, name);
	char *argv[] = { "sh", path, NULL };
	struct run r = { 0 };
	int status;

	ASSERT_EQ(0, t_run(argv, &r.out, &r.err, &status));
	r.code = t_exit_code(status);
	free(path);
	return r;
}

TEST_F(scripts, tap_sh_prints_plan_results_and_totals)
{
	struct run r = script(self->dir, "good.sh");

	EXPECT_EQ(0, r.code);
	EXPECT_STREQ("TAP version 13\n"
		     "1..3\n"
		     "ok 1 first\n"
		     "ok 2 true_passes\n"
		     "ok 3 needs_thing # SKIP no thing here\n"
		     "# PASSED: 3 / 3 tests passed.\n"
		     "# Totals: pass:2 fail:0 xfail:0 xpass:0 skip:1 error:0\n",
		     r.out);
	run_done(&r);
}

TEST_F(scripts, tap_sh_failure_shows_output_and_exits_one)
{
	struct run r = script(self->dir, "bad.sh");

	EXPECT_EQ(1, r.code);
	EXPECT_TRUE(has(r.out, "# out-of-false\n")) TH_LOG("%s", r.out);
	EXPECT_TRUE(has(r.out, "# false_fails: exit 3: sh -c"));
	EXPECT_TRUE(has(r.out, "not ok 1 false_fails\n"));
	EXPECT_TRUE(has(r.out, "# explicit: went wrong\nnot ok 2 explicit\n"));
	EXPECT_STREQ("# Totals: pass:0 fail:2 xfail:0 xpass:0 skip:0 error:0",
		     last_line(r.out));
	run_done(&r);
}

TEST_F(scripts, tap_sh_unmet_plan_fails)
{
	struct run r = script(self->dir, "short.sh");

	EXPECT_EQ(1, r.code);
	EXPECT_TRUE(has(r.out, "# Planned tests != run tests (3 != 1)\n"));
	EXPECT_STREQ("# Totals: pass:1 fail:1 xfail:0 xpass:0 skip:0 error:0",
		     last_line(r.out));
	run_done(&r);
}

static struct run runner(const char *dir, const char *const names[])
{
	char *argv[16] = { 0 };
	struct run r = { 0 };
	int status, n = 0;

	argv[n++] = t_strdupf("%s/tests/run.sh", t_repo_root());
	for (; *names && n < 15; names++)
		argv[n++] = (*names)[0] == '/' ? strdup(*names) :
			    t_strdupf("%s/%s", dir, *names);
	ASSERT_EQ(0, t_run(argv, &r.out, &r.err, &status));
	r.code = t_exit_code(status);
	for (int i = 0; i < n; i++)
		free(argv[i]);
	return r;
}

/* The seconds run.sh's line for program `name` gives, or -1 when the line
 * is not "name   S.s s   N passed, ...". */
static double runner_seconds(const char *out, const char *name)
{
	const char *l = out;
	size_t n = strlen(name);

	for (; l; l = strchr(l, '\n'), l = l ? l + 1 : NULL) {
		double secs;
		char unit[4];
		int passed;

		if (strncmp(l, name, n) || l[n] != ' ')
			continue;
		if (sscanf(l + n, " %lf %3s %d passed,", &secs, unit, &passed) == 3 &&
		    !strcmp(unit, "s"))
			return secs;
		return -1;
	}
	return -1;
}

TEST_F(scripts, runner_sums_totals_and_passes_when_nothing_failed)
{
	const char *const names[] = { "good.sh", "skipall.sh", "nonewline.sh",
				      NULL };
	struct run r = runner(self->dir, names);

	EXPECT_EQ(0, r.code);
	/* One line per program, no TAP, skip reasons grouped. */
	EXPECT_TRUE(has(r.out, "good.sh ") &&
		    has(r.out, " 2 passed, 0 failed, 1 skipped\n"))
		TH_LOG("%s", r.out);
	EXPECT_FALSE(has(r.out, "ok 2 true_passes"));
	EXPECT_TRUE(has(r.out, "skipped, by reason:\n"));
	EXPECT_TRUE(has(r.out, "     1  needs root (skipall.sh)\n"))
		TH_LOG("%s", r.out);
	/* The last line counts even without its newline. */
	/* Each program's wall time, and the slowest named. */
	EXPECT_LE(0, runner_seconds(r.out, "good.sh")) TH_LOG("%s", r.out);
	EXPECT_LE(0, runner_seconds(r.out, "skipall.sh")) TH_LOG("%s", r.out);
	EXPECT_TRUE(has(r.out, "\nslowest: ") && has(r.out, " good.sh "))
		TH_LOG("%s", r.out);
	EXPECT_STREQ("pith: 3 passed, 0 failed, 2 skipped", last_line(r.out))
		TH_LOG("%s", r.out);
	run_done(&r);
}

TEST_F(scripts, runner_counts_crashes_and_missing_totals_as_failures)
{
	const char *const names[] = { "good.sh", "bad.sh", "crash.sh",
				      "silent.sh", "liar.sh", "missing.sh",
				      NULL };
	struct run r = runner(self->dir, names);

	EXPECT_EQ(1, r.code);
	/* good 2+0, bad 0+2, crash 1, silent 1, liar 1+1, missing 1. */
	EXPECT_STREQ("pith: 3 passed, 6 failed, 1 skipped", last_line(r.out))
		TH_LOG("%s", r.out);
	EXPECT_TRUE(has(r.out, "crash.sh: crashed: SEGV\n"));
	EXPECT_TRUE(has(r.out, "silent.sh: printed no Totals line (exit 0)\n"));
	EXPECT_TRUE(has(r.out, "liar.sh: exited 5 without a failed test\n"));
	EXPECT_TRUE(has(r.out, "  bad.sh: not ok 1 false_fails\n"));
	EXPECT_TRUE(has(r.out, "missing.sh: not found"));
	/* A failed program's whole output, a passing one's not. */
	EXPECT_TRUE(has(r.out, "--- bad.sh (full output)\n"));
	EXPECT_TRUE(has(r.out, "not ok 2 "));
	EXPECT_FALSE(has(r.out, "--- good.sh"));
	run_done(&r);
}

TEST_F(scripts, runner_with_V_1_streams_every_line)
{
	const char *const names[] = { "good.sh", NULL };
	struct run r;

	setenv("V", "1", 1);
	r = runner(self->dir, names);
	unsetenv("V");
	EXPECT_EQ(0, r.code);
	EXPECT_TRUE(has(r.out, "good.sh: ok 2 true_passes\n"))
		TH_LOG("%s", r.out);
	EXPECT_STREQ("pith: 2 passed, 0 failed, 1 skipped", last_line(r.out));
	run_done(&r);
}

TEST_F_TIMEOUT(scripts, runner_adds_c_harness_totals, 60)
{
	const char *const names[] = { sample_path(), "good.sh", NULL };
	struct run r;

	unscaled();
	r = runner(self->dir, names);

	EXPECT_EQ(1, r.code);
	EXPECT_TRUE(has(r.out, "harness_sample: not ok 12 global.hangs\n"));
	EXPECT_STREQ("pith: 9 passed, 8 failed, 4 skipped", last_line(r.out))
		TH_LOG("%s", r.out);
	run_done(&r);
}

TEST_HARNESS_MAIN
