// SPDX-License-Identifier: MIT
/*
 * I/O output arenas over recycled store buffers: what a failed item
 * reserved but never filled must not show a past use's bytes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness/harness.h"
#include "harness/helpers.h"
#include "iofuncs/arena.h"
#include "lib/macro.h"

static void __attribute__((constructor)) use_memfd_backend(void)
{
	setenv("PITH_STORE_BACKEND", "memfd", 1);
}

/* Fill `len` bytes of an arena with `fill`, seal, release: the buffer goes
 * back to the store's pool. */
static void fill_and_release(uint64_t len, int fill)
{
	struct arena a;
	struct arena_span s;

	arena_init(&a, "old");
	if (arena_reserve(&a, len, &s) < 0)
		abort();
	memset(s.ptr, fill, len);
	arena_keep(&a, &s);
	if (arena_finish(&a) < 0)
		abort();
	arena_done(&a);
}

TEST(span_a_failed_item_left_holds_no_old_bytes)
{
	uint64_t recycled = store_stats.buffers_recycled;
	struct buffer *buf;
	struct arena a;
	struct arena_span s;
	const char *d;

	fill_and_release(ARENA_OWN_MIN, 'o');
	arena_init(&a, "new");
	ASSERT_EQ(0, arena_reserve(&a, ARENA_OWN_MIN, &s));
	EXPECT_EQ(recycled + 1, store_stats.buffers_recycled);
	EXPECT_EQ(ARENA_OWN_MIN, s.buf->stale);
	memset(s.ptr, 'n', ARENA_OWN_MIN / 2); /* then the item fails */
	buf = buffer_ref(s.buf);
	ASSERT_EQ(0, arena_finish(&a));
	arena_done(&a);
	ASSERT_EQ(0, buffer_data(buf, (const void **)&d));
	EXPECT_TRUE(t_all_bytes(d, ARENA_OWN_MIN, 0));
	buffer_unref(buf);
}

TEST(shared_chunk_keeps_kept_spans_and_zeroes_the_rest)
{
	struct buffer *buf, *b2;
	struct arena a;
	struct arena_span s;
	uint64_t off, off2;
	const char *d;

	fill_and_release(1 << 20, 'o');
	arena_init(&a, "new");
	ASSERT_EQ(0, arena_put(&a, "abc", 3, &buf, &off));
	EXPECT_EQ(1 << 20, buf->stale) TH_LOG("the shared chunk is not recycled");
	ASSERT_EQ(0, arena_reserve(&a, 100, &s)); /* never filled */
	ASSERT_EQ(0, arena_reserve(&a, 5, &s));
	memcpy(s.ptr, "kept!", 5);
	arena_keep(&a, &s);
	ASSERT_EQ(0, arena_put(&a, "def", 3, &b2, &off2));
	EXPECT_EQ(buf, b2);
	buffer_ref(buf);
	ASSERT_EQ(0, arena_finish(&a));
	arena_done(&a);
	EXPECT_EQ(111, buf->size);
	ASSERT_EQ(0, buffer_data(buf, (const void **)&d));
	EXPECT_EQ(0, memcmp(d, "abc", 3));
	EXPECT_TRUE(t_all_bytes(d + 3, 100, 0));
	EXPECT_EQ(0, memcmp(d + 103, "kept!def", 8));
	/* Consumers map whole pages: the rest of this one is zero too, and
	 * so is the rest of the past use's MiB, whose pages the chunk keeps
	 * (its file is not cut). */
	EXPECT_TRUE(t_all_bytes(d + 111, 4096 - 111, 0));
	EXPECT_TRUE(t_all_bytes(d + 111, (1 << 20) - 111, 0));
	buffer_unref(buf);
}

TEST(fresh_buffer_span_never_filled_is_not_touched)
{
	struct arena a;
	struct arena_span s;
	struct buffer *buf;
	char path[64];
	struct stat st;

	arena_init(&a, "claimed");
	/* A server claims 256 MiB and sends nothing: no page is allocated,
	 * not even to zero it. */
	ASSERT_EQ(0, arena_reserve(&a, 256ull << 20, &s));
	EXPECT_EQ(0, s.buf->stale);
	buf = buffer_ref(s.buf);
	ASSERT_EQ(0, arena_finish(&a));
	arena_done(&a);
	snprintf(path, sizeof(path), "/proc/self/fd/%d", buf->fd);
	ASSERT_EQ(0, stat(path, &st));
	EXPECT_EQ(256ull << 20, (uint64_t)st.st_size);
	EXPECT_EQ(0, st.st_blocks) TH_LOG("%lld blocks", (long long)st.st_blocks);
	buffer_unref(buf);
}

/*
 * A streaming run's arena: every item's output closes the chunk it is in,
 * which is sealed and given away once delivered. The arena keeps the
 * entries of the chunks and reservations still in use, not of every item
 * it had; an item in flight holds back the prefix, and its span and chunk
 * keep their numbers however many went before it.
 */
TEST(given_away_prefix_is_dropped)
{
	struct arena a;
	struct arena_span held, s;
	const char *d;
	struct buffer *hb;

	arena_init(&a, "stream");
	ASSERT_EQ(0, arena_reserve(&a, 10, &held)); /* in flight throughout */
	arena_close_open(&a);
	for (int i = 0; i < 5000; i++) {
		ssize_t c;

		ASSERT_EQ(0, arena_reserve(&a, 8, &s));
		memcpy(s.ptr, "itemitem", 8);
		arena_keep(&a, &s);
		arena_close_open(&a);
		ASSERT_LE(0, arena_seal_idle(&a));
		c = arena_chunk_of(&a, s.buf);
		ASSERT_EQ((ssize_t)s.chunk, c);
		ASSERT_TRUE(arena_chunk(&a, (size_t)c)->sealed);
		arena_chunk_drop(&a, (size_t)c);
	}
	/* Held back by the item in flight. */
	EXPECT_EQ(0, a.base);
	EXPECT_EQ(0, a.pending_base);
	memcpy(held.ptr, "0123456789", 10);
	hb = buffer_ref(held.buf);
	arena_keep(&a, &held);
	ASSERT_LE(0, arena_seal_idle(&a));
	arena_chunk_drop(&a, held.chunk);
	EXPECT_EQ(5001, a.base);
	EXPECT_EQ(5001, a.pending_base);
	EXPECT_GE(64, a.cap);
	EXPECT_GE(64, a.pending_cap);
	/* The next item's numbers follow. */
	ASSERT_EQ(0, arena_reserve(&a, 8, &s));
	EXPECT_EQ(5001, s.chunk);
	EXPECT_EQ(5001, s.id);
	arena_keep(&a, &s);
	arena_close_open(&a);
	ASSERT_LE(0, arena_seal_idle(&a));
	arena_chunk_drop(&a, s.chunk);
	/* Numbers go on; the finish finds the chunks it still has. */
	ASSERT_EQ(0, arena_reserve(&a, 4, &s));
	EXPECT_EQ(5002, s.chunk);
	EXPECT_EQ(5002, s.id);
	memcpy(s.ptr, "gone", 4);
	EXPECT_EQ((ssize_t)s.chunk, arena_chunk_of(&a, s.buf));
	ASSERT_EQ(0, arena_finish(&a));
	ASSERT_EQ(0, buffer_data(hb, (const void **)&d));
	EXPECT_EQ(0, memcmp(d, "0123456789", 10));
	buffer_unref(hb);
	arena_done(&a);
}

/*
 * A streaming run whose items the caller bounds (arena_own_items()): an
 * item of ARENA_ITEM_MIN bytes or more gets a buffer of its own, in whole
 * pages, so dropping one item frees (or pools) its pages and no other's;
 * smaller items share a chunk of ARENA_ITEM_CHUNK. Otherwise items share
 * chunks that start at ARENA_CHUNK_FIRST and double: a few bytes are
 * never charged as a 64 MiB chunk.
 */
TEST(own_items_get_buffers_of_their_own_in_whole_pages)
{
	uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
	struct arena_span s1, s2, h;
	struct buffer *b1, *b2;
	struct arena a;
	uint64_t held;

	arena_init(&a, "own");
	arena_own_items(&a);
	ASSERT_EQ(0, arena_reserve(&a, 60000, &s1));
	ASSERT_EQ(0, arena_reserve(&a, 60000, &s2));
	ASSERT_EQ(0, arena_reserve(&a, 100, &h));
	EXPECT_NE(s1.buf, s2.buf);
	EXPECT_NE(s1.buf, h.buf);
	EXPECT_EQ(ALIGN_UP(60000, page), s1.buf->size);
	EXPECT_EQ(ARENA_ITEM_CHUNK, h.buf->size);
	memset(s1.ptr, 'a', 60000);
	memset(s2.ptr, 'b', 60000);
	arena_keep(&a, &s1);
	arena_keep(&a, &s2);
	arena_keep(&a, &h);
	b1 = buffer_ref(s1.buf);
	b2 = buffer_ref(s2.buf);
	ASSERT_EQ(0, arena_finish(&a));
	arena_done(&a);
	EXPECT_EQ(60000, b1->size);
	held = store_stats.bytes_held;
	buffer_unref(b1); /* its item was consumed: its pages go now */
	EXPECT_EQ(held - 60000, store_stats.bytes_held);
	buffer_unref(b2);

	arena_init(&a, "shared");
	ASSERT_EQ(0, arena_reserve(&a, 60000, &s1));
	ASSERT_EQ(0, arena_reserve(&a, 60000, &s2));
	EXPECT_EQ(s1.buf, s2.buf);
	EXPECT_EQ(ARENA_CHUNK_FIRST, s1.buf->size);
	ASSERT_EQ(0, arena_reserve(&a, ARENA_CHUNK_FIRST - 100000, &h));
	EXPECT_EQ(2 * ARENA_CHUNK_FIRST, h.buf->size);
	arena_abandon(&a, &s1);
	arena_abandon(&a, &s2);
	arena_abandon(&a, &h);
	ASSERT_EQ(0, arena_finish(&a));
	arena_done(&a);
}

TEST_HARNESS_MAIN
