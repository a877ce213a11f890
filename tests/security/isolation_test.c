// SPDX-License-Identifier: MIT
/*
 * What lives on of an instance after its collection, and how its outputs
 * reach a consumer: small outputs are copied out of the context, large
 * ones keep only their own pages of it and are mapped, not copied, into
 * the next instance. Run with the snoop function (tests/security/fn/).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness/harness.h"
#include "harness/helpers.h"
#include "security/t_sandbox.h"

#define MEMORY (16ull << 20)

static const struct elf_image *snoop(void)
{
	static struct elf_image *img;
	struct err e = { { 0 } };
	char *path;

	if (img)
		return img;
	path = t_strdupf("%s/tests/fn/snoop", t_build_dir());
	if (!path || elf_image_load(-100 /* AT_FDCWD */, path, &img, &e) < 0) {
		fprintf(stderr, "# cannot load %s: %s\n", path, e.msg);
		abort();
	}
	free(path);
	return img;
}

/* Run snoop with one input set (may be NULL) and one output set, whose
 * name picks what it does; returns that output set. */
static struct set *run(struct sandbox *sb, const char *mode, struct set *in)
{
	struct set *inputs[1] = { in };
	const char *outputs[1] = { mode };
	struct sandbox_request req = {
		.image = snoop(),
		.limits = { .memory = MEMORY, .timeout_ms = T_TIMEOUT_MS },
		.inputs = inputs,
		.n_inputs = in ? 1 : 0,
		.outputs = outputs,
		.n_outputs = 1,
	};
	struct sandbox_proc *p = NULL;
	struct err e = { { 0 } };
	struct set **sets, *s;
	size_t n;

	if (sandbox_run(sb, &req, &p, &e) < 0) {
		fprintf(stderr, "# sandbox_run: %s\n", e.msg);
		return NULL;
	}
	if (sandbox_proc_result(p)->status != SANDBOX_OK) {
		fprintf(stderr, "# %s: %s\n", mode, t_reason(p));
		sandbox_proc_free(p);
		return NULL;
	}
	sets = sandbox_proc_take_outputs(p, &n);
	sandbox_proc_free(p); /* the outputs must not need it */
	s = sets[0];
	free(sets);
	return s;
}

static const struct item *find(const struct set *s, const char *name)
{
	for (size_t i = 0; i < s->n; i++)
		if (!strcmp(s->items[i].name, name))
			return &s->items[i];
	return NULL;
}

/* Bytes of memory the buffer's pages take. */
static uint64_t resident(const struct buffer *b)
{
	struct stat st;

	return fstat(b->fd, &st) < 0 ? UINT64_MAX : (uint64_t)st.st_blocks * 512;
}

FIXTURE(iso)
{
	struct sandbox *sb;
};

FIXTURE_SETUP(iso)
{
	self->sb = t_sandbox(false);
}

FIXTURE_TEARDOWN(iso)
{
	sandbox_free(self->sb);
}

TEST_F(iso, small_outputs_do_not_keep_the_context)
{
	struct set *s = run(self->sb, "fan", NULL);
	const void *d;

	ASSERT_NE(NULL, s);
	ASSERT_EQ(100000, s->n);
	for (size_t i = 0; i < s->n; i++) {
		/* One buffer of the instance's small outputs, not its
		 * 16 MiB context. */
		ASSERT_EQ(s->items[0].buf, s->items[i].buf);
		ASSERT_EQ(10, s->items[i].len);
	}
	EXPECT_GE(2ull << 20, s->items[0].buf->size);
	EXPECT_TRUE(s->items[0].buf->sealed);
	ASSERT_EQ(0, item_data(&s->items[99999], &d));
	EXPECT_EQ(0, memcmp(d, "0123456789", 10));
	set_free(s);
}

TEST_F(iso, large_output_keeps_only_its_pages)
{
	struct set *s = run(self->sb, "secrets", NULL);
	const struct item *big, *small, *crafted;
	int seals;

	ASSERT_NE(NULL, s);
	big = find(s, "big");
	small = find(s, "small");
	crafted = find(s, "crafted");
	ASSERT_NE(NULL, big);
	ASSERT_NE(NULL, small);
	ASSERT_NE(NULL, crafted);
	/* The SDK put it on pages of its own: it stays in the context (the
	 * memory the image's writable segments leave)... */
	EXPECT_EQ(MEMORY - elf_image_writable_size(snoop()), big->buf->size);
	EXPECT_EQ(0, big->off % 4096);
	seals = fcntl(big->buf->fd, F_GET_SEALS);
	EXPECT_TRUE(seals >= 0 && (seals & F_SEAL_WRITE));
	/* ...with the hand-made item (large too, its last page shared with
	 * a secret)... */
	EXPECT_EQ(big->buf, crafted->buf);
	/* ...and keeps only their pages (25 and 18); the arena with the
	 * secrets, the stack and the descriptor are given back. */
	EXPECT_GE((25 + 18) * 4096, resident(big->buf))
		TH_LOG("the context keeps %llu bytes",
		       (unsigned long long)resident(big->buf));
	/* The small ones are copied out into a buffer of their own. */
	EXPECT_NE(big->buf, small->buf);
	EXPECT_EQ(12, small->len);
	set_free(s);
}

TEST_F(iso, large_inputs_are_mapped_and_small_ones_copied)
{
	struct set *s = run(self->sb, "secrets", NULL);
	struct set *one = set_new("in"), *count;
	uint64_t copied;
	const void *d;

	ASSERT_NE(NULL, s);
	ASSERT_EQ(0, set_add_item(one, find(s, "big")));
	copied = store_stats.bytes_copied;
	count = run(self->sb, "count", one);
	ASSERT_NE(NULL, count);
	/* Mapped, not copied: the only bytes copied are the 9 of the count's
	 * own small output ("1 100003\n"), out of its context. */
	EXPECT_EQ(copied + 9, store_stats.bytes_copied);
	ASSERT_EQ(0, item_data(&count->items[0], &d));
	EXPECT_EQ(0, memcmp(d, "1 100003\n", 9));
	set_free(count);
	set_free(one);

	/* Its last page is shared: its 17 whole pages are mapped, the 368
	 * bytes of the last one copied alone onto a page of their own. */
	one = set_new("in");
	ASSERT_EQ(0, set_add_item(one, find(s, "crafted")));
	copied = store_stats.bytes_copied;
	count = run(self->sb, "count", one);
	ASSERT_NE(NULL, count);
	EXPECT_EQ(copied + 70000 % 4096 + 8, store_stats.bytes_copied);
	ASSERT_EQ(0, item_data(&count->items[0], &d));
	EXPECT_EQ(0, memcmp(d, "1 70000\n", 8));
	set_free(count);
	set_free(one);

	one = set_new("in");
	ASSERT_EQ(0, set_add_item(one, find(s, "small")));
	copied = store_stats.bytes_copied;
	count = run(self->sb, "count", one);
	ASSERT_NE(NULL, count);
	/* 12 bytes into the copy area, and the count's "1 12\n" out. */
	EXPECT_EQ(copied + 12 + 5, store_stats.bytes_copied);
	set_free(count);
	set_free(one);
	set_free(s);
}

TEST_F(iso, copy_area_from_the_pool_shows_no_past_bytes)
{
	struct set *in = set_new("in"), *leaks;
	struct buffer *b = NULL;
	char *map, item[50001];

	/* A released buffer of the pool, full of someone's secrets. */
	ASSERT_EQ(0, buffer_new_mapped("t-secrets", 256 << 10, 0, &b,
				       (void **)&map));
	if (!b->pooled) {
		buffer_unref(b);
		set_free(in);
		SKIP(return, "the store's pool is off (PITH_STORE_POOL=0)");
	}
	for (size_t i = 0; i + 8 <= 256 << 10; i += 8)
		memcpy(map + i, "SECRET-x", 8);
	ASSERT_EQ(0, buffer_seal(b));
	buffer_unref(b); /* back to the pool */
	/* Four small items, 15 bytes apart in the copy area, which the
	 * pool serves from that buffer. */
	memset(item, 'i', sizeof(item));
	for (int i = 0; i < 4; i++) {
		char name[8];

		snprintf(name, sizeof(name), "i%d", i);
		ASSERT_EQ(0, set_add_copy(in, name, false, 0, item,
					  sizeof(item)));
	}
	leaks = run(self->sb, "leaks", in);
	ASSERT_NE(NULL, leaks);
	ASSERT_EQ(4, leaks->n);
	for (size_t i = 0; i < 4; i++) {
		const void *d;

		ASSERT_EQ(0, item_data(&leaks->items[i], &d));
		EXPECT_EQ(0, memcmp(d, "none", 4))
			TH_LOG("%s read %.*s", leaks->items[i].name,
			       (int)leaks->items[i].len, (const char *)d);
	}
	set_free(leaks);
	set_free(in);
}

TEST_F(iso, items_from_5000_buffers_run_in_one_instance)
{
	struct set *in = set_new("in"), *count;
	const void *d;

	/* 100,000 items of 10 bytes, 20 in each of 5,000 buffers: more
	 * buffers than an instance may map, all copied into one area. */
	for (int b = 0; b < 5000; b++) {
		struct buffer *buf = NULL;

		ASSERT_EQ(0, buffer_new("t-many", 200, &buf));
		ASSERT_EQ(0, buffer_write(buf, 0,
					  "01234567890123456789012345678901234567890123456789"
					  "01234567890123456789012345678901234567890123456789"
					  "01234567890123456789012345678901234567890123456789"
					  "01234567890123456789012345678901234567890123456789",
					  200));
		ASSERT_EQ(0, buffer_seal(buf));
		for (int i = 0; i < 20; i++)
			ASSERT_EQ(0, set_add(in, "", false, 0, buf, 10 * i, 10));
		buffer_unref(buf);
	}
	count = run(self->sb, "count", in);
	ASSERT_NE(NULL, count);
	ASSERT_EQ(0, item_data(&count->items[0], &d));
	EXPECT_EQ(0, memcmp(d, "100000 1000000\n", 15))
		TH_LOG("%.*s", (int)count->items[0].len, (const char *)d);
	set_free(count);
	set_free(in);
}

static bool warm_on(struct sandbox *sb)
{
	struct sandbox_layer l[32];
	size_t n = sandbox_layers(sb, l, 32);

	for (size_t i = 0; i < n; i++)
		if (!strcmp(l[i].name, "warm-workers"))
			return l[i].active;
	return false;
}

TEST_F(iso, warm_worker_gets_mapped_split_and_copied_inputs)
{
	struct set *s = run(self->sb, "secrets", NULL);
	struct set *in = set_new("in");
	struct set *inputs[1] = { in };
	const char *outputs[1] = { "count" };
	struct sandbox_request req = {
		.image = snoop(),
		.limits = { .memory = MEMORY, .timeout_ms = T_TIMEOUT_MS },
		.inputs = inputs,
		.n_inputs = 1,
		.outputs = outputs,
		.n_outputs = 1,
	};

	if (!warm_on(self->sb)) {
		set_free(in);
		set_free(s);
		SKIP(return, "warm workers are off on this host");
	}
	ASSERT_NE(NULL, s);
	/* Mapped (big), split (crafted: its last page copied), copied. */
	ASSERT_EQ(0, set_add_item(in, find(s, "big")));
	ASSERT_EQ(0, set_add_item(in, find(s, "crafted")));
	ASSERT_EQ(0, set_add_item(in, find(s, "small")));
	for (int i = 0; i < 3; i++) {
		struct sandbox_proc *p = NULL;
		struct err e = { { 0 } };
		const struct set *out;
		const void *d;

		ASSERT_EQ(0, sandbox_run(self->sb, &req, &p, &e)) TH_LOG("%s", e.msg);
		ASSERT_EQ(SANDBOX_OK, sandbox_proc_result(p)->status)
			TH_LOG("%s", t_reason(p));
		if (i)
			EXPECT_TRUE(sandbox_proc_warm(p));
		out = sandbox_proc_result(p)->outputs[0];
		ASSERT_EQ(0, item_data(&out->items[0], &d));
		EXPECT_EQ(0, memcmp(d, "3 170015\n", 9))
			TH_LOG("%.*s", (int)out->items[0].len, (const char *)d);
		sandbox_proc_free(p);
	}
	set_free(in);
	set_free(s);
}

TEST_HARNESS_MAIN
