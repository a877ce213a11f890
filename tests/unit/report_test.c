// SPDX-License-Identifier: MIT
/* A stage report's instance entries: 32 bytes each, the details of the
 * failed ones (and of long ones) beside them, read back whole. */
#include <string.h>

#include "engine/engine.h"
#include "harness/harness.h"

FIXTURE(rep)
{
	struct stage_report sr;
};

FIXTURE_SETUP(rep)
{
	self->sr = (struct stage_report){ .t0_ns = 1000000000ull };
	ASSERT_EQ(0, instance_reserve(&self->sr, 8));
	self->sr.n_instances = 8;
	for (size_t i = 0; i < 8; i++)
		instance_init(&self->sr, i);
}

FIXTURE_TEARDOWN(rep)
{
	instance_free_all(&self->sr);
}

TEST(entry_is_32_bytes)
{
	EXPECT_EQ(32, sizeof(struct instance_entry));
}

TEST_F(rep, fresh_entry_reads_as_not_run)
{
	struct instance_report ir;

	instance_get(&self->sr, 3, &ir);
	EXPECT_EQ(INSTANCE_PENDING, ir.state);
	EXPECT_NULL(ir.reason);
	EXPECT_STREQ("", instance_reason(&ir));
	EXPECT_NULL(ir.note);
	EXPECT_EQ(-1, ir.syscall);
	EXPECT_EQ(0, ir.exit_status);
	EXPECT_EQ(0, ir.signal);
	EXPECT_EQ(0, ir.start_ns);
	EXPECT_EQ(0, ir.end_ns);
	EXPECT_EQ(0, ir.spawn_ns);
	EXPECT_EQ(0, ir.run_ns);
}

/* Times keep their nanoseconds: ordering tests compare them across
 * stages, whose entries have different bases. */
TEST_F(rep, times_round_trip_to_the_nanosecond)
{
	struct instance_report ir;
	uint64_t t0 = self->sr.t0_ns;

	instance_set_start(&self->sr, 1, t0);
	instance_set_end(&self->sr, 1, t0 + 123456789012ull);
	instance_set_times(&self->sr, 1, 4321, UINT32_MAX);
	instance_set_state(&self->sr, 1, INSTANCE_OK);
	instance_get(&self->sr, 1, &ir);
	EXPECT_EQ(INSTANCE_OK, ir.state);
	EXPECT_EQ(t0, ir.start_ns);
	EXPECT_EQ(t0 + 123456789012ull, ir.end_ns);
	EXPECT_EQ(4321, ir.spawn_ns);
	EXPECT_EQ(UINT32_MAX, ir.run_ns);
	EXPECT_EQ(t0, instance_start_ns(&self->sr, 1));
	EXPECT_EQ(t0 + 123456789012ull, instance_end_ns(&self->sr, 1));
	EXPECT_NULL(self->sr.instances[1].detail);
	/* An end at the base is not "never". */
	instance_set_end(&self->sr, 2, t0);
	EXPECT_EQ(t0, instance_end_ns(&self->sr, 2));
}

/* A run of 4.3 s or more does not fit the entry: it gets a side block,
 * and the report says it exactly. */
TEST_F(rep, long_times_are_kept_whole)
{
	struct instance_report ir;

	instance_set_times(&self->sr, 0, 7, 3600ull * 1000000000ull);
	instance_set_state(&self->sr, 0, INSTANCE_OK);
	instance_get(&self->sr, 0, &ir);
	EXPECT_EQ(INSTANCE_OK, ir.state);
	EXPECT_EQ(7, ir.spawn_ns);
	EXPECT_EQ(3600ull * 1000000000ull, ir.run_ns);
	EXPECT_NULL(ir.reason);
	EXPECT_EQ(-1, ir.syscall);
	EXPECT_TRUE(self->sr.instances[0].detail != NULL);
}

TEST_F(rep, failure_details_beside_the_entry)
{
	struct sandbox_note note = { .valid = true, .status = 5 };
	struct instance_report ir;
	char long_reason[2 * ERR_MAX];

	strcpy(note.set, "out");
	instance_set_times(&self->sr, 4, 10, 20);
	instance_set_failed(&self->sr, 4, "exited with status 5", 5, 0, -1,
			    &note);
	instance_get(&self->sr, 4, &ir);
	EXPECT_EQ(INSTANCE_FAILED, ir.state);
	EXPECT_STREQ("exited with status 5", instance_reason(&ir));
	EXPECT_EQ(5, ir.exit_status);
	EXPECT_EQ(0, ir.signal);
	EXPECT_EQ(-1, ir.syscall);
	ASSERT_TRUE(ir.note != NULL);
	EXPECT_STREQ("out", ir.note->set);
	EXPECT_EQ(10, ir.spawn_ns);
	EXPECT_EQ(20, ir.run_ns);

	/* A second failure replaces the reason, cut like before. */
	memset(long_reason, 'x', sizeof(long_reason) - 1);
	long_reason[sizeof(long_reason) - 1] = '\0';
	instance_set_failed(&self->sr, 4, long_reason, 0, 9, 257, NULL);
	instance_get(&self->sr, 4, &ir);
	EXPECT_EQ(ERR_MAX - 1, strlen(instance_reason(&ir)));
	EXPECT_EQ(9, ir.signal);
	EXPECT_EQ(257, ir.syscall);
	ASSERT_TRUE(ir.note != NULL); /* the first note stays */

	/* An invalid note is none. */
	note.valid = false;
	instance_set_failed(&self->sr, 5, "x", 0, 0, -1, &note);
	instance_get(&self->sr, 5, &ir);
	EXPECT_NULL(ir.note);

	/* The neighbours kept no details. */
	EXPECT_NULL(self->sr.instances[3].detail);
	instance_get(&self->sr, 3, &ir);
	EXPECT_EQ(INSTANCE_PENDING, ir.state);
	EXPECT_NULL(ir.reason);
}

TEST_F(rep, cancelled_has_no_details)
{
	struct instance_report ir;

	instance_set_state(&self->sr, 6, INSTANCE_CANCELLED);
	instance_get(&self->sr, 6, &ir);
	EXPECT_EQ(INSTANCE_CANCELLED, ir.state);
	EXPECT_STREQ("cancelled", instance_state_name(ir.state));
	EXPECT_NULL(self->sr.instances[6].detail);
}

/*
 * A report that keeps only what failures need (`pith run` without --json)
 * lets go of the entries of the instances that ended well, in order, as
 * the stage grows the way the engine grows it (room doubling, entries set
 * up as instances start): 100,000 instances that end well hold a few
 * thousand entries at most; the failed one, the ones after it and the
 * unfinished keep theirs; every dropped one reads as ended well.
 */
TEST(failures_only_report_drops_what_ended_well)
{
	struct stage_report sr = { .t0_ns = 1000000000ull,
				   .failures_only = true };
	const size_t n = 100000, failed = 60000, running = 90000;
	struct instance_report ir;
	size_t most = 0, cap = 0;

	for (size_t i = 0; i < n; i++) {
		if (i + 1 > cap) {
			cap = cap ? cap * 2 : 16;
			ASSERT_EQ(0, instance_reserve(&sr, cap));
		}
		sr.n_instances = i + 1;
		instance_init(&sr, i);
		instance_set_start(&sr, i, sr.t0_ns + i);
		if (i == failed) {
			instance_set_failed(&sr, i, "exited with status 3", 3,
					    0, -1, NULL);
			continue;
		}
		if (i == running)
			continue;
		instance_set_times(&sr, i, 5, 7);
		instance_set_state(&sr, i, INSTANCE_OK);
		/* Its own entry stays for the rest of its step. */
		EXPECT_EQ(sr.t0_ns + i, instance_start_ns(&sr, i));
		instance_set_end(&sr, i, sr.t0_ns + i + 1);
		if (i < failed)
			most = sr.n_instances - sr.base > most ?
				       sr.n_instances - sr.base : most;
	}
	/* Before the failure: the held entries stay bounded. */
	EXPECT_LT(most, 4096 * 2);
	EXPECT_LE(sr.base, failed);
	EXPECT_LT(failed - sr.base, 4096 * 2);
	TH_LOG("entries held at most %zu before the failure; %zu at the end",
	       most, sr.n_instances - sr.base);

	instance_get(&sr, 17, &ir); /* dropped */
	EXPECT_EQ(INSTANCE_OK, ir.state);
	EXPECT_EQ(INSTANCE_OK, instance_state(&sr, 17));
	EXPECT_NULL(ir.reason);
	EXPECT_EQ(0, ir.start_ns);
	/* Setting a dropped entry does nothing. */
	instance_set_state(&sr, 17, INSTANCE_CANCELLED);
	instance_set_failed(&sr, 17, "late", 1, 0, -1, NULL);
	EXPECT_EQ(INSTANCE_OK, instance_state(&sr, 17));

	instance_get(&sr, failed, &ir);
	EXPECT_EQ(INSTANCE_FAILED, ir.state);
	EXPECT_STREQ("exited with status 3", instance_reason(&ir));
	EXPECT_EQ(3, ir.exit_status);
	EXPECT_EQ(sr.t0_ns + failed, ir.start_ns);

	instance_get(&sr, failed + 1, &ir); /* after the failure: kept */
	EXPECT_EQ(INSTANCE_OK, ir.state);
	EXPECT_EQ(sr.t0_ns + failed + 1, ir.start_ns);
	EXPECT_EQ(5, ir.spawn_ns);
	EXPECT_EQ(7, ir.run_ns);
	EXPECT_EQ(INSTANCE_PENDING, instance_state(&sr, running));
	EXPECT_EQ(INSTANCE_OK, instance_state(&sr, n - 1));
	instance_free_all(&sr);
}

/* Without failures_only nothing is dropped. */
TEST(full_report_keeps_every_entry)
{
	struct stage_report sr = { .t0_ns = 1000000000ull };
	const size_t n = 20000;

	ASSERT_EQ(0, instance_reserve(&sr, n));
	sr.n_instances = n;
	for (size_t i = 0; i < n; i++) {
		instance_init(&sr, i);
		instance_set_start(&sr, i, sr.t0_ns + i);
		instance_set_state(&sr, i, INSTANCE_OK);
	}
	EXPECT_EQ(0, sr.base);
	EXPECT_EQ(sr.t0_ns + 3, instance_start_ns(&sr, 3));
	instance_free_all(&sr);
}

TEST_HARNESS_MAIN
