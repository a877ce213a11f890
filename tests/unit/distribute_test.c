// SPDX-License-Identifier: MIT
/* Distribution of input sets to instances: all, each, keyed, cross product. */
#include <stdio.h>
#include <string.h>

#include "engine/distribute.h"
#include "harness/harness.h"

/* A sealed set of n one-byte items named i0..; keys[i] < 0 means no key. */
static struct set *mkset(const char *name, size_t n, const int *keys)
{
	struct set *s = set_new(name);
	struct buffer *b = NULL;

	if (buffer_new("t", n ? n : 1, &b) < 0 || buffer_seal(b) < 0)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		char nm[16];

		snprintf(nm, sizeof(nm), "i%zu", i);
		if (set_add(s, nm, keys && keys[i] >= 0,
			    keys && keys[i] >= 0 ? (uint64_t)keys[i] : 0, b, i,
			    1) < 0)
			return NULL;
	}
	buffer_unref(b);
	return s;
}

static struct job_stage_input in(const char *param, enum job_mode m)
{
	return (struct job_stage_input){ .param = (char *)param, .mode = m };
}

/* "i0,i2|i1" : the item names of each parameter of one instance. */
static void names(const struct distribution *d, size_t inst, char *out,
		  size_t len)
{
	size_t o = 0;

	out[0] = 0;
	for (size_t p = 0; p < d->n_params; p++) {
		const struct set *s = d->instances[inst][p];

		for (size_t i = 0; i < s->n; i++)
			o += (size_t)snprintf(out + o, len - o, "%s%s",
					      i ? "," : "", s->items[i].name);
		if (p + 1 < d->n_params)
			o += (size_t)snprintf(out + o, len - o, "|");
	}
}

TEST(all_gives_one_instance_with_the_whole_set)
{
	struct job_stage_input ins[] = { in("x", JOB_MODE_ALL) };
	struct job_stage st = { .name = "s", .inputs = ins, .n_inputs = 1 };
	struct set *sets[] = { mkset("docs", 3, NULL) };
	struct distribution d;
	char buf[128];

	ASSERT_EQ(0, distribute(&st, sets, &d));
	ASSERT_EQ(1, d.n_instances);
	names(&d, 0, buf, sizeof(buf));
	EXPECT_STREQ("i0,i1,i2", buf);
	EXPECT_STREQ("x", d.instances[0][0]->name);
	distribution_done(&d);
	set_free(sets[0]);
}

TEST(each_gives_one_instance_per_item_in_order)
{
	struct job_stage_input ins[] = { in("x", JOB_MODE_EACH) };
	struct job_stage st = { .name = "s", .inputs = ins, .n_inputs = 1 };
	struct set *sets[] = { mkset("docs", 3, NULL) };
	struct distribution d;
	char buf[128];

	ASSERT_EQ(0, distribute(&st, sets, &d));
	ASSERT_EQ(3, d.n_instances);
	for (size_t i = 0; i < 3; i++) {
		char want[8];

		snprintf(want, sizeof(want), "i%zu", i);
		names(&d, i, buf, sizeof(buf));
		EXPECT_STREQ(want, buf);
	}
	/* Instances share the buffers: no byte is copied. */
	EXPECT_EQ(sets[0]->items[1].buf, d.instances[1][0]->items[0].buf);
	distribution_done(&d);
	set_free(sets[0]);
}

TEST(keyed_groups_by_key_in_order_of_first_appearance)
{
	int keys[] = { 7, 3, 7, -1, 3, 0 }; /* -1: no key, counts as 0 */
	struct job_stage_input ins[] = { in("x", JOB_MODE_KEYED) };
	struct job_stage st = { .name = "s", .inputs = ins, .n_inputs = 1 };
	struct set *sets[] = { mkset("docs", 6, keys) };
	struct distribution d;
	char buf[128];

	ASSERT_EQ(0, distribute(&st, sets, &d));
	ASSERT_EQ(3, d.n_instances);
	names(&d, 0, buf, sizeof(buf));
	EXPECT_STREQ("i0,i2", buf);
	names(&d, 1, buf, sizeof(buf));
	EXPECT_STREQ("i1,i4", buf);
	names(&d, 2, buf, sizeof(buf));
	EXPECT_STREQ("i3,i5", buf);
	distribution_done(&d);
	set_free(sets[0]);
}

TEST(cross_product_varies_the_last_input_fastest)
{
	struct job_stage_input ins[] = { in("a", JOB_MODE_EACH),
					 in("b", JOB_MODE_ALL),
					 in("c", JOB_MODE_EACH) };
	struct job_stage st = { .name = "s", .inputs = ins, .n_inputs = 3 };
	struct set *sets[] = { mkset("A", 2, NULL), mkset("B", 2, NULL),
			       mkset("C", 3, NULL) };
	struct distribution d;
	char buf[128];

	ASSERT_EQ(0, distribute(&st, sets, &d));
	ASSERT_EQ(6, d.n_instances);
	names(&d, 0, buf, sizeof(buf));
	EXPECT_STREQ("i0|i0,i1|i0", buf);
	names(&d, 1, buf, sizeof(buf));
	EXPECT_STREQ("i0|i0,i1|i1", buf);
	names(&d, 5, buf, sizeof(buf));
	EXPECT_STREQ("i1|i0,i1|i2", buf);
	distribution_done(&d);
	for (size_t i = 0; i < 3; i++)
		set_free(sets[i]);
}

TEST(an_empty_input_set_gives_zero_instances)
{
	static const enum job_mode modes[] = { JOB_MODE_ALL, JOB_MODE_EACH,
					       JOB_MODE_KEYED };

	for (size_t m = 0; m < 3; m++) {
		struct job_stage_input ins[] = { in("a", JOB_MODE_EACH),
						 in("b", modes[m]) };
		struct job_stage st = { .name = "s", .inputs = ins,
					.n_inputs = 2 };
		struct set *sets[] = { mkset("A", 2, NULL), mkset("B", 0, NULL) };
		struct distribution d;

		ASSERT_EQ(0, distribute(&st, sets, &d));
		EXPECT_EQ(0, d.n_instances) TH_LOG("mode %s",
						   job_mode_name(modes[m]));
		distribution_done(&d);
		set_free(sets[0]);
		set_free(sets[1]);
	}
}

TEST_HARNESS_MAIN
