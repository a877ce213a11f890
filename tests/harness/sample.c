// SPDX-License-Identifier: MIT
/*
 * Tests that pass, fail, skip, die and hang on purpose: harness_test runs
 * this program and checks what the harness reports for each of them.
 */
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>
#include <unistd.h>

#include "harness/harness.h"

TEST(passes)
{
	size_t zero = 0;
	unsigned int one = 1;
	int *p = NULL;

	/* By value, not by C's conversions: -1 < (size_t)0 holds here. */
	ASSERT_LT(-1, zero);
	ASSERT_GT(one, -1);
	ASSERT_EQ(0, zero) TH_LOG("must-not-print");
	ASSERT_NE(-1, one);
	ASSERT_LE(1, one);
	ASSERT_GE(one, 1);
	ASSERT_NULL(p);
	ASSERT_TRUE(one);
	ASSERT_FALSE(zero);
	ASSERT_STREQ("pith", "pith");
	ASSERT_STRNE("pith", NULL);
	EXPECT_EQ(1, one);
	/* A block right after an assertion compiles without warnings. */
	{
		int inner = 1;

		ASSERT_EQ(1, inner);
	}
	if (one)
		ASSERT_EQ(1, one);
	else
		ASSERT_EQ(0, one);
}

struct flags {
	unsigned int small : 3;
	int negative : 4;
};

TEST(values_of_every_kind_compare_by_value)
{
	struct flags f = { .small = 5, .negative = -3 };
	double ratio = 2.5;
	const char *s = "ab";

	ASSERT_EQ(5, f.small);
	ASSERT_EQ(-3, f.negative);
	ASSERT_GT(ratio, 2.0);
	ASSERT_LT(ratio, 3);
	ASSERT_EQ(0.25, 0.25f);
	ASSERT_LT(s, s + 1);
	ASSERT_EQ('b', s[1]);
}

TEST(fractions_are_not_truncated)
{
	EXPECT_EQ(2, 2.5);
	EXPECT_NE(__builtin_nan(""), 1.0);
	EXPECT_EQ(__builtin_nan(""), __builtin_nan(""));
}

TEST(assert_fails)
{
	int r = -2;

	ASSERT_EQ(0, r) TH_LOG("marker-after-assert r=%d\nok 1 fake", r);
	TH_LOG("marker-not-reached");
}

TEST(expect_continues)
{
	EXPECT_STREQ("a", "b");
	TH_LOG("marker-after-expect");
}

static void check_positive(int v)
{
	ASSERT_GT(v, 0);
}

TEST(assert_in_helper_fails)
{
	check_positive(-5);
	TH_LOG("marker-not-reached");
}

TEST(skips)
{
	SKIP(return, "no widget %d", 7);
	TH_LOG("marker-not-reached");
}

TEST(assert_turned_into_skip)
{
	ASSERT_EQ(0, -1)
		SKIP(return, "feature missing");
}

TEST_SIGNAL(dies_by_expected_signal, SIGSEGV)
{
	raise(SIGSEGV);
}

TEST_SIGNAL(dies_by_wrong_signal, SIGSEGV)
{
	abort();
}

TEST_SIGNAL(returns_instead_of_dying, SIGSEGV)
{
}

TEST_TIMEOUT(hangs, 1)
{
	pause();
}

/* The child sleeps in the test's process group; the harness must kill it. */
TEST(leaves_child_behind)
{
	pid_t pid = fork();

	ASSERT_LE(0, pid);
	if (pid == 0) {
		sleep(1000);
		_exit(0);
	}
	printf("# stray pid %d\n", (int)pid);
	fflush(stdout);
}

FIXTURE(counter)
{
	int value;
};

FIXTURE_VARIANT(counter)
{
	int start;
};

FIXTURE_VARIANT_ADD(counter, one)
{
	.start = 1,
};

FIXTURE_VARIANT_ADD(counter, two)
{
	.start = 2,
};

FIXTURE_SETUP(counter)
{
	self->value = variant->start;
}

FIXTURE_TEARDOWN(counter)
{
	TH_LOG("teardown ran value=%d", self->value);
}

TEST_F(counter, is_one)
{
	ASSERT_EQ(1, self->value);
	self->value = 10;
}

TEST_F(counter, is_positive)
{
	ASSERT_LT(0, self->value);
}

FIXTURE(unready)
{
	int unused;
};

FIXTURE_SETUP(unready)
{
	SKIP(return, "setup cannot run here");
}

FIXTURE_TEARDOWN(unready)
{
	TH_LOG("unready teardown ran");
}

TEST_F(unready, body)
{
	TH_LOG("marker-not-reached");
}

TEST_HARNESS_MAIN
