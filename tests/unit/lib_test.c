// SPDX-License-Identifier: MIT
/* lib: size and duration parsing, error messages that travel with -errno. */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "harness/harness.h"
#include "harness/helpers.h"
#include "lib/err.h"
#include "lib/units.h"

static const struct {
	const char *in;
	uint64_t bytes;
} good_sizes[] = {
	{ "0", 0 },
	{ "4096", 4096 },
	{ "10B", 10 },
	{ "64KiB", 64 * 1024 },
	{ "16MiB", 16ULL << 20 },
	{ "1GiB", 1ULL << 30 },
	{ "1.5MiB", 1572864 },
	{ "0.5KiB", 512 },
	{ "2K", 2048 },
	{ "3M", 3ULL << 20 },
	{ "4G", 4ULL << 30 },
	{ "16777216GiB", 1ULL << 54 },
};

TEST(parse_size_accepts_plain_and_binary_units)
{
	for (size_t i = 0; i < ARRAY_SIZE(good_sizes); i++) {
		uint64_t v = 12345;

		EXPECT_EQ(0, parse_size(good_sizes[i].in, &v))
			TH_LOG("input \"%s\"", good_sizes[i].in);
		EXPECT_EQ(good_sizes[i].bytes, v)
			TH_LOG("input \"%s\"", good_sizes[i].in);
	}
}

TEST(parse_size_rejects_malformed_input_without_writing_result)
{
	static const char *const bad[] = {
		"", "MiB", "abc", "-1", "-1KiB", " 1", "1 MiB", "1.5",
		"1.3KiB", "12XB", "16mib", "1KiBx", "inf", "nan", ".",
		"0x10", "1e3", "0x1p4KiB", "+1",
	};

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		uint64_t v = 777;

		EXPECT_EQ(-EINVAL, parse_size(bad[i], &v))
			TH_LOG("input \"%s\"", bad[i]);
		EXPECT_EQ(777, v) TH_LOG("input \"%s\"", bad[i]);
	}
	EXPECT_EQ(-EINVAL, parse_size(NULL, &(uint64_t){ 0 }));
}

TEST(parse_size_reports_overflow_as_erange)
{
	uint64_t v = 777;

	EXPECT_EQ(-ERANGE, parse_size("17179869184GiB", &v)); /* 2^64 */
	EXPECT_EQ(-ERANGE, parse_size("99999999999999999999999", &v));
	EXPECT_EQ(777, v);
	EXPECT_EQ(0, parse_size("17179869183GiB", &v));
	EXPECT_EQ(17179869183ULL << 30, v);
}

static const struct {
	const char *in;
	uint64_t ms;
} good_durations[] = {
	{ "2s", 2000 },
	{ "150ms", 150 },
	{ "1.5s", 1500 },
	{ "1m", 60000 },
	{ "0ms", 0 },
	{ "0s", 0 },
	{ "500us", 1 },		/* rounded up: never shorter than asked */
	{ "1001us", 2 },
	{ "2000us", 2 },
	{ "0.0001s", 1 },
	{ "0.5m", 30000 },
};

TEST(parse_duration_accepts_units_and_rounds_up)
{
	for (size_t i = 0; i < ARRAY_SIZE(good_durations); i++) {
		uint64_t v = 12345;

		EXPECT_EQ(0, parse_duration_ms(good_durations[i].in, &v))
			TH_LOG("input \"%s\"", good_durations[i].in);
		EXPECT_EQ(good_durations[i].ms, v)
			TH_LOG("input \"%s\"", good_durations[i].in);
	}
}

TEST(parse_duration_rejects_missing_or_unknown_units)
{
	static const char *const bad[] = {
		"", "2", "s", "ms", "2h", "2 s", "-1s", "1S", "2sec",
		"1.5.5s", " 2s", "inf", "nan", "0x10s", "1e3ms", "1e30s",
		".s", "+2s",
	};

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		uint64_t v = 777;

		EXPECT_EQ(-EINVAL, parse_duration_ms(bad[i], &v))
			TH_LOG("input \"%s\"", bad[i]);
		EXPECT_EQ(777, v) TH_LOG("input \"%s\"", bad[i]);
	}
	EXPECT_EQ(-EINVAL, parse_duration_ms(NULL, &(uint64_t){ 0 }));
}

TEST(parse_duration_reports_overflow_as_erange)
{
	uint64_t v = 777;

	EXPECT_EQ(-ERANGE, parse_duration_ms("99999999999999999ms", &v));
	EXPECT_EQ(-ERANGE,
		  parse_duration_ms("1000000000000000000000000000000s", &v));
	EXPECT_EQ(777, v);
}

TEST(err_set_formats_message_and_returns_negative_errno)
{
	struct err e = { { 0 } };

	EXPECT_EQ(-ENOENT, err_set(&e, ENOENT, "no stage named '%s'", "cuont"));
	EXPECT_STREQ("no stage named 'cuont'", e.msg);
	EXPECT_EQ(-EBUSY, err_set(NULL, EBUSY, "ignored %d", 1));
}

TEST(err_prefix_prepends_context_and_keeps_return_value)
{
	struct err e = { { 0 } };
	int r = err_set(&e, EINVAL, "bad size \"%s\"", "12XB");

	EXPECT_EQ(-EINVAL, err_prefix(&e, r, "stages[%d].memory", 1));
	EXPECT_STREQ("stages[1].memory: bad size \"12XB\"", e.msg);
	EXPECT_EQ(-EINVAL, err_prefix(&e, r, "job.json"));
	EXPECT_STREQ("job.json: stages[1].memory: bad size \"12XB\"", e.msg);
	EXPECT_EQ(-E2BIG, err_prefix(NULL, -E2BIG, "x"));
}

TEST(err_messages_are_truncated_not_overrun)
{
	struct err e;
	char longs[2 * ERR_MAX];

	memset(&e, 'Z', sizeof(e));
	memset(longs, 'a', sizeof(longs) - 1);
	longs[sizeof(longs) - 1] = '\0';
	EXPECT_EQ(-ENAMETOOLONG, err_set(&e, ENAMETOOLONG, "%s", longs));
	EXPECT_EQ(ERR_MAX - 1, strlen(e.msg));
	err_prefix(&e, 0, "prefix");
	EXPECT_EQ(ERR_MAX - 1, strlen(e.msg));
	EXPECT_EQ(0, strncmp(e.msg, "prefix: aaa", 11));
}

TEST(err_errno_names_the_call_and_the_errno_either_way_round)
{
	struct err e = { { 0 } };

	EXPECT_EQ(-ENOENT, err_errno(&e, ENOENT, "cannot open %s", "x.json"));
	EXPECT_STREQ("cannot open x.json: No such file or directory", e.msg);
	EXPECT_EQ(-EACCES, err_errno(&e, -EACCES, "cannot map"));
	EXPECT_STREQ("cannot map: Permission denied", e.msg);
	EXPECT_EQ(-EIO, err_errno(&e, 0, "lost"));
	EXPECT_STREQ("lost: Input/output error", e.msg);
}

TEST(cut_messages_end_in_an_ellipsis)
{
	struct err e = { { 0 } };
	char longs[2 * ERR_MAX], small[8];

	memset(longs, 'a', sizeof(longs) - 1);
	longs[sizeof(longs) - 1] = '\0';
	err_set(&e, EINVAL, "%s", longs);
	EXPECT_EQ(0, strcmp(e.msg + ERR_MAX - 4, "..."));
	err_set(&e, EINVAL, "short");
	err_append(&e, ": %s", longs);
	EXPECT_EQ(ERR_MAX - 1, strlen(e.msg));
	EXPECT_EQ(0, strncmp(e.msg, "short: aaa", 10));
	EXPECT_EQ(0, strcmp(e.msg + ERR_MAX - 4, "..."));
	err_errno(&e, EPERM, "%s", longs);
	EXPECT_EQ(0, strcmp(e.msg + ERR_MAX - 4, "..."));
	err_copy(small, sizeof(small), "reason too long");
	EXPECT_STREQ("reas...", small);
	err_copy(small, sizeof(small), "fits");
	EXPECT_STREQ("fits", small);
}

TEST(err_prefix_never_leaves_an_empty_message)
{
	struct err e = { { 0 } };

	EXPECT_EQ(-EPERM, err_prefix(&e, -EPERM, "sandbox"));
	EXPECT_STREQ("sandbox: Operation not permitted", e.msg);
	EXPECT_TRUE(t_err_filled(-EPERM, e.msg));
	EXPECT_FALSE(t_err_filled(-EPERM, ""));
	EXPECT_TRUE(t_err_filled(0, ""));
}

TEST_HARNESS_MAIN
