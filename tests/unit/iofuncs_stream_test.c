// SPDX-License-Identifier: MIT
/* Streaming runs of I/O functions (what the engine uses): items handed on
 * one by one, sealed, exactly once; the credit that holds items back. */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "harness/harness.h"
#include "harness/helpers.h"
#include "iofuncs/arena.h"
#include "unit/iofuncs_util.h"

#define N_FILES 60

struct stream {
	struct iofunc_run *run;
	struct set *got;	/* delivered items, in delivery order */
	size_t *index;		/* input index of got->items[j] */
	size_t started, delivered, max_ahead, limit;
	bool done, out_of_order;
};

static bool may_start(void *data)
{
	struct stream *st = data;

	if (st->started - st->delivered >= st->limit)
		return false;
	st->started++;
	if (st->started - st->delivered > st->max_ahead)
		st->max_ahead = st->started - st->delivered;
	return true;
}

static void on_item(struct iofunc_run *run, size_t i, void *data)
{
	struct stream *st = data;
	struct buffer *buf;
	uint64_t off, len;

	if (!iofunc_run_item_output(run, i, 0, &buf, &off, &len))
		return;
	if (st->got->n && st->index[st->got->n - 1] > i)
		st->out_of_order = true;
	st->index[st->got->n] = i;
	set_add(st->got, "x", false, 0, buf, off, len);
	st->delivered++;
	iofunc_run_resume(run);
}

static void on_done(struct iofunc_run *run, void *data)
{
	(void)run;
	((struct stream *)data)->done = true;
}

static bool is_done(void *data)
{
	return ((struct stream *)data)->done;
}

TEST(read_hands_each_file_on_sealed_once_within_the_credit)
{
	char *dir = t_tmpdir();
	struct set *in = set_new("in"), *out = set_new("out0");
	struct set *outs[] = { out, NULL };
	struct stream st = { .got = set_new("got"), .limit = 3 };
	struct iofunc_ctx ctx;
	struct loop *l = NULL;
	struct err e = {};
	bool seen[N_FILES] = {};

	ASSERT_NE(NULL, dir);
	st.index = calloc(N_FILES, sizeof(size_t));
	for (size_t i = 0; i < N_FILES; i++) {
		char name[32], *p;
		/* Mixed sizes: shared chunks and buffers of their own. */
		size_t len = i % 7 == 0 ? (5u << 20) : 100 + i;
		char *data = malloc(len);

		snprintf(name, sizeof(name), "f%zu", i);
		memset(data, 'a' + (int)(i % 26), len);
		p = t_strdupf("%s/%s", dir, name);
		ASSERT_EQ(0, t_write_file(p, data, len));
		ASSERT_EQ(0, t_set_add_str(in, name, name));
		free(p);
		free(data);
	}
	ASSERT_EQ(0, loop_new(64, &l, &e));
	iofunc_ctx_init(&ctx);
	ctx.data_root_fd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	ctx.concurrency = 8;
	ctx.item = on_item;
	ctx.may_start = may_start;
	ctx.stream_data = &st;
	ASSERT_EQ(0, iofunc_start(l, iofunc_lookup("file.read"), &ctx, in,
				  outs, on_done, &st, &st.run, &e))
		TH_LOG("%s", e.msg);
	ASSERT_EQ(0, loop_run_until(l, is_done, &st));
	EXPECT_EQ(0, iofunc_run_n_failed(st.run));
	/* Every file once, sealed, its own bytes; nothing appended at the
	 * end; every item asked the credit before it started (with a credit
	 * of 3, delivery only at the end would never finish). */
	ASSERT_EQ(N_FILES, st.got->n);
	EXPECT_EQ(0, out->n);
	EXPECT_EQ(N_FILES, st.started);
	for (size_t j = 0; j < st.got->n; j++) {
		const struct item *it = &st.got->items[j];
		size_t i = st.index[j];
		const char *p;

		ASSERT_GT(N_FILES, i);
		EXPECT_FALSE(seen[i]);
		seen[i] = true;
		EXPECT_TRUE(it->buf->sealed);
		EXPECT_EQ(i % 7 == 0 ? (5u << 20) : 100 + i, it->len);
		ASSERT_EQ(0, item_data(it, (const void **)&p));
		EXPECT_EQ('a' + (int)(i % 26), p[0]);
		EXPECT_EQ('a' + (int)(i % 26), p[it->len - 1]);
	}
	/* Released by the run: the references left are the test's own. */
	st.run = iofunc_run_free(st.run);
	for (size_t j = 0; j < st.got->n; j++)
		EXPECT_LE(1, st.got->items[j].buf->refs);
	set_free(st.got);
	set_free(in);
	set_free(out);
	free(st.index);
	close(ctx.data_root_fd);
	loop_free(l);
	t_rm_rf(dir);
	free(dir);
}

/* A retried attempt abandons its reservation: the chunk must still seal
 * (streaming delivers its other items) and hold none of those bytes. */
TEST(abandoned_span_lets_its_chunk_seal_and_is_zeroed)
{
	struct arena a;
	struct arena_span kept, gone;
	const char *p;

	arena_init(&a, "t");
	ASSERT_EQ(0, arena_reserve(&a, 100, &kept));
	ASSERT_EQ(0, arena_reserve(&a, 200, &gone));
	ASSERT_EQ(kept.buf, gone.buf); /* one shared chunk */
	memset(kept.ptr, 'k', 100);
	memset(gone.ptr, 'g', 200);
	arena_keep(&a, &kept);
	arena_close_open(&a);
	EXPECT_EQ(0, arena_seal_idle(&a)); /* gone is still in flight */
	arena_abandon(&a, &gone);
	arena_abandon(&a, &gone); /* twice: a no-op */
	EXPECT_EQ(1, arena_seal_idle(&a));
	ASSERT_TRUE(kept.buf->sealed);
	ASSERT_EQ(0, item_data(&(struct item){ .buf = kept.buf, .len = 300 },
			       (const void **)&p));
	EXPECT_EQ('k', p[99]);
	for (size_t i = 100; i < 300; i++)
		ASSERT_EQ(0, p[i]);
	arena_done(&a);
}

TEST_HARNESS_MAIN
