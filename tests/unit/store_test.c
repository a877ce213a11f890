// SPDX-License-Identifier: MIT
/* store: sealed memfd buffers, items as slices, sets holding references. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness/harness.h"
#include "harness/helpers.h"
#include "store/store.h"

/*
 * These are the memfd backend's contract (seals, /proc names); the
 * /dev/pith_xfer backend has its own tests, so keep it out even where the
 * module is loaded.
 */
static void __attribute__((constructor)) use_memfd_backend(void)
{
	setenv("PITH_STORE_BACKEND", "memfd", 1);
}

static bool fd_open(int fd)
{
	return fcntl(fd, F_GETFD) >= 0;
}

FIXTURE(buf)
{
	struct buffer *b;
};

FIXTURE_SETUP(buf)
{
	ASSERT_EQ(0, buffer_new("store-test", 16, &self->b));
}

FIXTURE_TEARDOWN(buf)
{
	buffer_unref(self->b);
}

TEST_F(buf, new_buffer_is_zero_filled_memfd_with_cloexec)
{
	const char *data;
	char link[64], target[128];
	ssize_t n;

	EXPECT_EQ(16, self->b->size);
	EXPECT_EQ(1, self->b->refs);
	EXPECT_FALSE(self->b->sealed);
	EXPECT_FALSE(self->b->xfer);
	EXPECT_EQ(FD_CLOEXEC, fcntl(self->b->fd, F_GETFD) & FD_CLOEXEC);
	snprintf(link, sizeof(link), "/proc/self/fd/%d", self->b->fd);
	n = readlink(link, target, sizeof(target) - 1);
	ASSERT_LT(0, n);
	target[n] = '\0';
	EXPECT_EQ(0, strncmp(target, "/memfd:store-test", 17))
		TH_LOG("fd points to %s", target);
	ASSERT_EQ(0, buffer_seal(self->b));
	ASSERT_EQ(0, buffer_data(self->b, (const void **)&data));
	for (int i = 0; i < 16; i++)
		EXPECT_EQ(0, data[i]) TH_LOG("byte %d", i);
}

TEST_F(buf, written_bytes_read_back_after_seal)
{
	const char *data;
	uint64_t created = store_stats.buffers_created;
	uint64_t written = store_stats.bytes_written;

	ASSERT_EQ(0, buffer_write(self->b, 0, "hello", 5));
	ASSERT_EQ(0, buffer_write(self->b, 10, "world!", 6));
	EXPECT_EQ(written + 11, store_stats.bytes_written);
	EXPECT_EQ(created, store_stats.buffers_created);
	EXPECT_EQ(-EPERM, buffer_data(self->b, (const void **)&data));
	ASSERT_EQ(0, buffer_seal(self->b));
	EXPECT_TRUE(self->b->sealed);
	ASSERT_EQ(0, buffer_data(self->b, (const void **)&data));
	EXPECT_EQ(0, memcmp(data, "hello\0\0\0\0\0world!", 16));
}

TEST_F(buf, write_outside_buffer_is_erange)
{
	EXPECT_EQ(-ERANGE, buffer_write(self->b, 12, "12345", 5));
	EXPECT_EQ(-ERANGE, buffer_write(self->b, 17, "", 0));
	EXPECT_EQ(-ERANGE, buffer_write(self->b, UINT64_MAX, "x", 1));
	EXPECT_EQ(0, buffer_write(self->b, 16, "", 0));
	EXPECT_EQ(0, buffer_write(self->b, 11, "12345", 5));
}

TEST_F(buf, seal_fails_with_ebusy_while_writable_mapping_exists)
{
	void *w = mmap(NULL, 16, PROT_READ | PROT_WRITE, MAP_SHARED,
		       self->b->fd, 0);

	ASSERT_NE(MAP_FAILED, w);
	EXPECT_EQ(-EBUSY, buffer_seal(self->b));
	EXPECT_FALSE(self->b->sealed);
	ASSERT_EQ(0, munmap(w, 16));
	EXPECT_EQ(0, buffer_seal(self->b));
	EXPECT_TRUE(self->b->sealed);
}

TEST_F(buf, sealed_buffer_refuses_every_kind_of_change)
{
	const char *data;

	ASSERT_EQ(0, buffer_write(self->b, 0, "abc", 3));
	ASSERT_EQ(0, buffer_seal(self->b));
	EXPECT_EQ(0, buffer_seal(self->b)); /* idempotent */
	EXPECT_EQ(-EPERM, buffer_write(self->b, 0, "xyz", 3));
	/* Not only our API: the memfd itself refuses. */
	EXPECT_EQ(-1, pwrite(self->b->fd, "xyz", 3, 0));
	EXPECT_EQ(EPERM, errno);
	EXPECT_EQ(-1, ftruncate(self->b->fd, 4));
	EXPECT_EQ(EPERM, errno);
	EXPECT_EQ(-1, ftruncate(self->b->fd, 64));
	EXPECT_EQ(EPERM, errno);
	EXPECT_EQ(MAP_FAILED, mmap(NULL, 16, PROT_READ | PROT_WRITE,
				   MAP_SHARED, self->b->fd, 0));
	/* F_SEAL_SEAL: no seal can be added or removed any more. */
	EXPECT_EQ(-1, fcntl(self->b->fd, F_ADD_SEALS, F_SEAL_FUTURE_WRITE));
	EXPECT_EQ(EPERM, errno);
	ASSERT_EQ(0, buffer_data(self->b, (const void **)&data));
	EXPECT_EQ(0, memcmp(data, "abc", 3));
}

TEST(empty_buffer_has_readable_empty_data)
{
	struct buffer *b;
	const void *data = NULL;

	ASSERT_EQ(0, buffer_new(NULL, 0, &b));
	ASSERT_EQ(0, buffer_seal(b));
	EXPECT_EQ(0, buffer_data(b, &data));
	EXPECT_NE(NULL, data);
	buffer_unref(b);
}

TEST(buffer_ids_are_unique)
{
	struct buffer *a, *b;

	ASSERT_EQ(0, buffer_new("a", 1, &a));
	ASSERT_EQ(0, buffer_new("b", 1, &b));
	EXPECT_NE(a->id, b->id);
	EXPECT_NE(0, a->id);
	buffer_unref(a);
	buffer_unref(b);
}

TEST(buffer_is_freed_only_after_last_set_releases_it)
{
	struct set *s1 = set_new("s1"), *s2 = set_new("s2");
	struct buffer *b;
	int fd;

	ASSERT_NE(NULL, s1);
	ASSERT_NE(NULL, s2);
	ASSERT_EQ(0, buffer_new("shared", 8, &b));
	fd = b->fd;
	ASSERT_EQ(0, set_add(s1, "x", false, 0, b, 0, 8));
	ASSERT_EQ(0, set_add(s1, "y", false, 0, b, 2, 2));
	ASSERT_EQ(0, set_add_item(s2, &s1->items[0]));
	EXPECT_EQ(4, b->refs);
	EXPECT_EQ(NULL, buffer_unref(b)); /* creator lets go */
	EXPECT_EQ(3, b->refs);
	EXPECT_TRUE(fd_open(fd));
	EXPECT_EQ(NULL, set_free(s1));
	EXPECT_EQ(1, s2->items[0].buf->refs);
	EXPECT_TRUE(fd_open(fd)) TH_LOG("buffer freed while s2 holds it");
	EXPECT_EQ(NULL, set_free(s2));
	EXPECT_FALSE(fd_open(fd)) TH_LOG("memfd still open: buffer leaked");
	EXPECT_EQ(NULL, set_free(NULL));
	EXPECT_EQ(NULL, buffer_unref(NULL));
}

TEST(item_data_points_at_its_slice_of_the_buffer)
{
	struct set *s = set_new("slices");
	struct buffer *b;
	const char *d;

	ASSERT_NE(NULL, s);
	ASSERT_EQ(0, buffer_new("text", 11, &b));
	ASSERT_EQ(0, buffer_write(b, 0, "alpha beta!", 11));
	ASSERT_EQ(0, set_add(s, "first", true, 7, b, 0, 5));
	ASSERT_EQ(0, set_add(s, "second", false, 0, b, 6, 4));
	ASSERT_EQ(0, set_add(s, "empty", false, 0, b, 11, 0));
	EXPECT_EQ(-ERANGE, set_add(s, "past", false, 0, b, 8, 4));
	EXPECT_EQ(-ERANGE, set_add(s, "far", false, 0, b, 12, 0));
	EXPECT_EQ(3, s->n);
	/* Items of an unsealed buffer have no data yet. */
	EXPECT_EQ(-EPERM, item_data(&s->items[0], (const void **)&d));
	ASSERT_EQ(0, buffer_seal(b));
	buffer_unref(b);

	ASSERT_EQ(0, item_data(&s->items[0], (const void **)&d));
	EXPECT_EQ(0, memcmp(d, "alpha", 5));
	EXPECT_STREQ("first", s->items[0].name);
	EXPECT_TRUE(s->items[0].keyed);
	EXPECT_EQ(7, s->items[0].key);
	ASSERT_EQ(0, item_data(&s->items[1], (const void **)&d));
	EXPECT_EQ(0, memcmp(d, "beta", 4));
	EXPECT_EQ(6, s->items[1].off);
	EXPECT_EQ(4, s->items[1].len);
	EXPECT_FALSE(s->items[1].keyed);
	ASSERT_EQ(0, item_data(&s->items[2], (const void **)&d));
	EXPECT_EQ(0, s->items[2].len);
	set_free(s);
}

TEST(set_grows_past_its_initial_capacity)
{
	struct set *s = set_new(NULL);
	struct buffer *b;
	const char *d;

	ASSERT_NE(NULL, s);
	EXPECT_STREQ("", s->name);
	ASSERT_EQ(0, buffer_new("bytes", 100, &b));
	for (int i = 0; i < 100; i++) {
		char c = (char)i;
		char name[16];

		ASSERT_EQ(0, buffer_write(b, (uint64_t)i, &c, 1));
		snprintf(name, sizeof(name), "i%d", i);
		ASSERT_EQ(0, set_add(s, name, true, (uint64_t)i, b,
				     (uint64_t)i, 1));
	}
	ASSERT_EQ(0, buffer_seal(b));
	EXPECT_EQ(101, b->refs);
	buffer_unref(b);
	ASSERT_EQ(100, s->n);
	for (size_t i = 0; i < s->n; i++) {
		ASSERT_EQ(0, item_data(&s->items[i], (const void **)&d));
		EXPECT_EQ((char)i, d[0]);
		EXPECT_EQ(i, s->items[i].key);
	}
	EXPECT_STREQ("i99", s->items[99].name);
	set_free(s);
}


/* ---- the pool of released buffers (buffer_new_mapped) -------------------- */

#define PAGE 4096

/* A sealed pooled buffer of `size` bytes of `fill`, released at once. */
static void release_filled(uint64_t size, int fill, char **ret_map)
{
	struct buffer *b;
	void *map;

	if (buffer_new_mapped("pool-test", size, 0, &b, &map) < 0)
		abort();
	memset(map, fill, size);
	if (buffer_seal(b) < 0)
		abort();
	if (ret_map)
		*ret_map = map;
	buffer_unref(b);
}

TEST(released_buffer_is_reused_zeroed_with_its_pages_and_mapping)
{
	uint64_t recycled = store_stats.buffers_recycled;
	struct buffer *b;
	char *old;
	void *map;

	release_filled(64 * PAGE, 'o', &old);
	ASSERT_EQ(0, buffer_new_mapped("again", 64 * PAGE, 0, &b, &map));
	EXPECT_EQ(recycled + 1, store_stats.buffers_recycled);
	EXPECT_EQ(old, map) TH_LOG("not the released buffer's mapping");
	EXPECT_EQ(64 * PAGE, b->size);
	EXPECT_EQ(1, b->refs);
	EXPECT_FALSE(b->sealed);
	EXPECT_EQ(0, b->stale);
	EXPECT_TRUE(t_all_bytes(map, 64 * PAGE, 0)) TH_LOG("old bytes left");
	buffer_unref(b);
}

TEST(unzeroed_reuse_names_the_old_bytes_and_zeroes_past_its_size)
{
	const uint64_t size = 3 * PAGE + 100;
	struct buffer *b;
	const char *ro;
	void *map;

	release_filled(6 * PAGE, 'o', NULL);
	ASSERT_EQ(0, buffer_new_mapped("dirty", size, BUFFER_UNZEROED, &b,
				       &map));
	EXPECT_EQ(size, b->stale);
	EXPECT_TRUE(t_all_bytes(map, size, 'o'));
	/* Cut to `size`: the rest of its last page is zero, for consumers
	 * map whole pages. */
	EXPECT_TRUE(t_all_bytes((char *)map + size, PAGE - 100, 0));
	memset(map, 'n', size);
	ASSERT_EQ(0, buffer_seal(b));
	ASSERT_EQ(0, buffer_data(b, (const void **)&ro));
	EXPECT_TRUE(t_all_bytes(ro, size, 'n'));
	buffer_unref(b);
}

/* Pages, not mapping sizes, meet: an arena chunk is mapped large and used
 * for a few pages, and a smaller copy area may take those pages. What the
 * taker may not see: any byte of the past use, in its size or past it
 * (consumers map whole pages). */
static char *release_chunk(uint64_t cap, uint64_t used, int fill)
{
	struct buffer *b;
	void *map;

	if (buffer_new_mapped("chunk", cap, BUFFER_UNZEROED, &b, &map) < 0)
		abort();
	memset(map, fill, used);
	if (buffer_shrink(b, used) < 0 || buffer_seal(b) < 0)
		abort();
	buffer_unref(b);
	return map;
}

TEST(a_smaller_buffer_takes_a_chunks_pages_and_sees_none_of_its_bytes)
{
	uint64_t recycled = store_stats.buffers_recycled;
	struct buffer *b;
	char *old;
	void *map;

	old = release_chunk(256 * PAGE, 8 * PAGE + 7, 'o');
	ASSERT_EQ(0, buffer_new_mapped("small", 16 * PAGE, 0, &b, &map));
	EXPECT_EQ(recycled + 1, store_stats.buffers_recycled);
	EXPECT_EQ(old, map) TH_LOG("not the released chunk's pages");
	EXPECT_EQ(16 * PAGE, b->size);
	EXPECT_EQ(0, b->stale);
	EXPECT_TRUE(t_all_bytes(map, 256 * PAGE, 0)) TH_LOG("old bytes left");
	buffer_unref(b);
	/* Unzeroed and smaller than the past use: the old bytes it may
	 * overwrite are named, and none past its size is left. */
	old = release_chunk(256 * PAGE, 8 * PAGE + 7, 'o');
	ASSERT_EQ(0, buffer_new_mapped("dirty", 6 * PAGE + 5, BUFFER_UNZEROED,
				       &b, &map));
	EXPECT_EQ(old, map);
	EXPECT_EQ(6 * PAGE + 5, b->stale);
	EXPECT_TRUE(t_all_bytes(map, 6 * PAGE + 5, 'o'));
	EXPECT_TRUE(t_all_bytes((char *)map + 6 * PAGE + 5,
				250 * PAGE - 5, 0)) TH_LOG("old bytes past it");
	buffer_unref(b);
	/* Not when zeroing the past use's bytes past the size costs more
	 * than its pages save. */
	old = release_chunk(256 * PAGE, 64 * PAGE, 'o');
	ASSERT_EQ(0, buffer_new_mapped("tiny", 4 * PAGE, 0, &b, &map));
	EXPECT_NE(old, map);
	buffer_unref(b);
}

/* Cut to what was used, a recycled buffer keeps its pages (the next use
 * faults none in) and shows zeros past its size; past 8 MiB more than it
 * uses, the pages go. */
TEST(cut_keeps_the_pages_and_zeroes_the_past_use_past_the_size)
{
	struct buffer *b;
	const char *d;
	char path[64];
	struct stat st;
	void *map;

	release_filled(64 * PAGE, 'o', NULL);
	ASSERT_EQ(0, buffer_new_mapped("cut", 64 * PAGE, BUFFER_UNZEROED, &b,
				       &map));
	memset(map, 'n', 100);
	ASSERT_EQ(0, buffer_shrink(b, 100));
	EXPECT_EQ(100, b->size);
	ASSERT_EQ(0, buffer_seal(b));
	ASSERT_EQ(0, buffer_data(b, (const void **)&d));
	EXPECT_TRUE(t_all_bytes(d, 100, 'n'));
	EXPECT_TRUE(t_all_bytes(d + 100, 64 * PAGE - 100, 0));
	snprintf(path, sizeof(path), "/proc/self/fd/%d", b->fd);
	ASSERT_EQ(0, stat(path, &st));
	EXPECT_LE(64 * PAGE, (uint64_t)st.st_blocks * 512) TH_LOG("pages freed");
	buffer_unref(b);

	release_filled(4096 * PAGE, 'o', NULL); /* 16 MiB */
	ASSERT_EQ(0, buffer_new_mapped("trim", 4096 * PAGE, BUFFER_UNZEROED,
				       &b, &map));
	memset(map, 'n', 100);
	ASSERT_EQ(0, buffer_shrink(b, 100));
	ASSERT_EQ(0, buffer_seal(b));
	ASSERT_EQ(0, buffer_data(b, (const void **)&d));
	EXPECT_TRUE(t_all_bytes(d + 100, PAGE - 100, 0));
	snprintf(path, sizeof(path), "/proc/self/fd/%d", b->fd);
	ASSERT_EQ(0, stat(path, &st));
	EXPECT_GE(4 * PAGE, (uint64_t)st.st_blocks * 512) TH_LOG("pages kept");
	EXPECT_TRUE(t_all_bytes(d + PAGE, 4095 * PAGE, 0));
	buffer_unref(b);
}

TEST(sealed_pooled_buffer_is_read_only_for_its_consumers)
{
	struct buffer *b;
	int fd, sealfd;
	void *map, *p;

	ASSERT_EQ(0, buffer_new_mapped("consumed", 4 * PAGE, 0, &b, &map));
	ASSERT_TRUE(b->pooled);
	EXPECT_EQ(b->fd, buffer_share_fd(b)); /* unsealed: nothing to share */
	memcpy(map, "data", 4);
	ASSERT_EQ(0, buffer_seal(b));
	/* No second descriptor until a consumer maps it. */
	EXPECT_EQ(-1, b->ro_fd);
	fd = buffer_share_fd(b);
	ASSERT_NE(b->fd, fd);
	EXPECT_EQ(fd, buffer_share_fd(b)); /* opened once */
	EXPECT_EQ(O_RDONLY, fcntl(fd, F_GETFL) & O_ACCMODE);
	EXPECT_EQ(FD_CLOEXEC, fcntl(fd, F_GETFD) & FD_CLOEXEC);
	/* A consumer cannot map it writable, nor make its mapping so. */
	EXPECT_EQ(MAP_FAILED, mmap(NULL, PAGE, PROT_READ | PROT_WRITE,
				   MAP_SHARED, fd, 0));
	EXPECT_EQ(EACCES, errno);
	p = mmap(NULL, PAGE, PROT_READ, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	EXPECT_EQ(0, memcmp(p, "data", 4));
	EXPECT_EQ(-1, mprotect(p, PAGE, PROT_READ | PROT_WRITE));
	EXPECT_EQ(EACCES, errno);
	munmap(p, PAGE);
	EXPECT_EQ(-1, pwrite(fd, "x", 1, 0));
	EXPECT_EQ(EBADF, errno);
	EXPECT_EQ(-1, ftruncate(fd, 0));
	/* No kernel seal: the buffer goes back to the pool. */
	sealfd = fcntl(b->fd, F_GET_SEALS);
	EXPECT_EQ(0, sealfd & F_SEAL_WRITE);
	buffer_unref(b);
	EXPECT_FALSE(fd_open(fd)) TH_LOG("the consumers' fd outlived its use");
}

/* pith reads a sealed pooled buffer through a read-only mapping of its
 * own (the writer's mapping is not it), kept from one use to the next. */
TEST_SIGNAL(pith_cannot_write_a_sealed_pooled_buffer, SIGSEGV)
{
	struct buffer *b;
	const void *ro, *again;
	void *map;

	ASSERT_EQ(0, buffer_new_mapped("frozen", PAGE, 0, &b, &map));
	memcpy(map, "old", 3);
	ASSERT_EQ(0, buffer_seal(b));
	ASSERT_EQ(0, buffer_data(b, &ro));
	ASSERT_NE(map, ro);
	buffer_unref(b);
	ASSERT_EQ(0, buffer_new_mapped("frozen", PAGE, 0, &b, &map));
	ASSERT_EQ(0, buffer_seal(b));
	ASSERT_EQ(0, buffer_data(b, &again));
	ASSERT_EQ(ro, again) TH_LOG("the read-only mapping was not kept");
	ASSERT_TRUE(t_all_bytes(again, PAGE, 0)); /* and zeroed */
	*(volatile char *)again = 'x';
}

TEST(unsealed_buffer_is_not_kept)
{
	uint64_t recycled = store_stats.buffers_recycled;
	struct buffer *b;
	void *map;

	ASSERT_EQ(0, buffer_new_mapped("abandoned", 4 * PAGE, 0, &b, &map));
	buffer_unref(b); /* never sealed: a writer gave up */
	ASSERT_EQ(0, buffer_new_mapped("fresh", 4 * PAGE, 0, &b, &map));
	EXPECT_EQ(recycled, store_stats.buffers_recycled);
	buffer_unref(b);
}

TEST(pool_keeps_no_more_than_PITH_STORE_POOL)
{
	uint64_t recycled = store_stats.buffers_recycled;
	struct buffer *a, *b;
	void *map;

	setenv("PITH_STORE_POOL", "96KiB", 1);
	EXPECT_EQ(0, strncmp(store_pool_status(), "keeps up to 0 MiB", 17))
		TH_LOG("%s", store_pool_status());
	ASSERT_EQ(0, buffer_new_mapped("a", 16 * PAGE, 0, &a, &map));
	ASSERT_EQ(0, buffer_new_mapped("b", 16 * PAGE, 0, &b, &map));
	ASSERT_EQ(0, buffer_seal(a));
	ASSERT_EQ(0, buffer_seal(b));
	buffer_unref(a);
	buffer_unref(b); /* 128 KiB: past the bound, freed */
	ASSERT_EQ(0, buffer_new_mapped("a", 16 * PAGE, 0, &a, &map));
	ASSERT_EQ(0, buffer_new_mapped("b", 16 * PAGE, 0, &b, &map));
	EXPECT_EQ(recycled + 1, store_stats.buffers_recycled);
	buffer_unref(a);
	buffer_unref(b);
}

#define IDLE_N 48
#define IDLE_NOFILE 256

/*
 * The store counts the descriptors its buffers in use hold, a shared
 * pooled buffer's read-only one included (arena_own_items() gives items
 * buffers of their own only while these leave room), and the pool keeps at
 * most an eighth of RLIMIT_NOFILE idle: a streamed fetch of 100,000 logs
 * under `ulimit -n 1024` held 708 memfds (256 idle, 226 in use and their
 * 226 read-only reopenings, counted as 226) besides 256 sockets, and failed.
 */
TEST(pool_and_shared_buffers_count_their_descriptors_against_the_limit)
{
	struct rlimit rl = { IDLE_NOFILE, IDLE_NOFILE };
	uint64_t before = store_stats.fds_in_use;
	struct buffer *b[IDLE_N];
	void *map;

	ASSERT_EQ(0, setrlimit(RLIMIT_NOFILE, &rl));
	store_pool_bound_add(IDLE_N * 4 * PAGE); /* as a run starts: its window */
	for (int i = 0; i < IDLE_N; i++) {
		ASSERT_EQ(0, buffer_new_mapped("idle", 4 * PAGE, 0, &b[i], &map));
		ASSERT_EQ(0, buffer_seal(b[i]));
		ASSERT_LE(0, buffer_share_fd(b[i]));
	}
	EXPECT_EQ(before + 2 * IDLE_N, store_stats.fds_in_use);
	EXPECT_EQ(2 * IDLE_N, t_fds_linked("/memfd:idle ", 1024, NULL));
	for (int i = 0; i < IDLE_N; i++)
		buffer_unref(b[i]);
	EXPECT_EQ(before, store_stats.fds_in_use);
	EXPECT_EQ(IDLE_NOFILE / 8, t_fds_linked("/memfd:idle ", 1024, NULL))
		TH_LOG("idle buffers kept past an eighth of RLIMIT_NOFILE");
	/* Taken again, each holds its descriptor in use once more. */
	ASSERT_EQ(0, buffer_new_mapped("idle", 4 * PAGE, 0, &b[0], &map));
	EXPECT_EQ(before + 1, store_stats.fds_in_use);
	buffer_unref(b[0]);
	store_pool_bound_add(-(int64_t)(IDLE_N * 4 * PAGE));
}

TEST(PITH_STORE_POOL_0_seals_in_the_kernel_and_keeps_nothing)
{
	uint64_t recycled = store_stats.buffers_recycled;
	struct buffer *b;
	void *map;

	setenv("PITH_STORE_POOL", "0", 1);
	EXPECT_STREQ("off (PITH_STORE_POOL=0)", store_pool_status());
	ASSERT_EQ(0, buffer_new_mapped("kernel-sealed", PAGE, 0, &b, &map));
	EXPECT_FALSE(b->pooled);
	ASSERT_EQ(0, buffer_seal(b));
	EXPECT_EQ(b->fd, buffer_share_fd(b));
	EXPECT_NE(0, fcntl(b->fd, F_GET_SEALS) & F_SEAL_WRITE);
	buffer_unref(b);
	release_filled(PAGE, 'o', NULL);
	ASSERT_EQ(0, buffer_new_mapped("again", PAGE, 0, &b, &map));
	EXPECT_EQ(recycled, store_stats.buffers_recycled);
	buffer_unref(b);
}

TEST(PITH_STORE_POOL_that_is_not_a_size_is_reported)
{
	setenv("PITH_STORE_POOL", "lots", 1);
	EXPECT_STREQ("off (PITH_STORE_POOL=lots is not a size)",
		     store_pool_status());
}

TEST(store_limit_refuses_a_buffer_and_names_the_limit)
{
	uint64_t held = store_stats.bytes_held;
	struct buffer *a = NULL, *b = NULL, *c = NULL;
	void *map;

	store_set_limit(held + (1 << 20));
	ASSERT_EQ(0, buffer_new("limit-a", 768 << 10, &a));
	EXPECT_EQ(held + (768 << 10), store_stats.bytes_held);
	/* 768 KiB + 512 KiB > 1 MiB: refused, through either constructor. */
	EXPECT_EQ(-ENOBUFS, buffer_new("limit-b", 512 << 10, &b));
	EXPECT_EQ(-ENOBUFS, buffer_new_mapped("limit-b", 512 << 10, 0, &b, &map));
	EXPECT_NE(NULL, strstr(store_strerror(-ENOBUFS), "--max-store"))
		TH_LOG("%s", store_strerror(-ENOBUFS));
	EXPECT_EQ(held + (768 << 10), store_stats.bytes_held);
	/* Giving bytes back makes room again. */
	buffer_unref(a);
	EXPECT_EQ(held, store_stats.bytes_held);
	ASSERT_EQ(0, buffer_new("limit-c", 512 << 10, &c));
	buffer_set_charge(c, 4096);
	EXPECT_EQ(held + 4096, store_stats.bytes_held);
	buffer_unref(c);
	EXPECT_EQ(held, store_stats.bytes_held);
	store_set_limit(0);
	EXPECT_LT(held + (1 << 20), store_limit());
}

TEST(store_limit_counts_items_and_their_names)
{
	struct buffer *b = NULL;
	struct set *s = set_new("names");
	uint64_t held;
	char name[201];
	int r = 0, n = 0;

	ASSERT_EQ(0, buffer_new("names", 1, &b));
	ASSERT_EQ(0, buffer_seal(b));
	held = store_stats.bytes_held;
	memset(name, 'n', 200);
	name[200] = 0;
	/* Each item costs its name (201 bytes) and its entry: 4 KiB holds
	 * 10 to 16 of them, not the 100 asked for. */
	store_set_limit(held + 4096);
	while (n < 100 && (r = set_add(s, name, false, 0, b, 0, 1)) == 0)
		n++;
	EXPECT_EQ(-ENOBUFS, r);
	EXPECT_LE(10, n) TH_LOG("%d items", n);
	EXPECT_GE(16, n) TH_LOG("%d items", n);
	EXPECT_LE(held + (uint64_t)n * 201, store_stats.bytes_held);
	set_free(s);
	EXPECT_EQ(held, store_stats.bytes_held);
	store_set_limit(0);
	buffer_unref(b);
}

/*
 * A set of one item holds room for one: an instance's or an I/O item's
 * outputs, thousands of which wait in their slots behind a late item
 * (round 11). A set's first room was 8 items (384 bytes), most of a
 * one-item set's 512 bytes of heap (176 now).
 */
TEST(one_item_sets_hold_room_for_one_item)
{
	enum { N = 10000 };
	struct set **sets = calloc(N, sizeof(*sets));
	struct buffer *b = NULL;
	size_t base, grew;

	ASSERT_NE(NULL, sets);
	ASSERT_EQ(0, buffer_new("one", 1, &b));
	ASSERT_EQ(0, buffer_seal(b));
	base = t_heap_used();
	for (size_t i = 0; i < N; i++) {
		sets[i] = set_new("out");
		ASSERT_NE(NULL, sets[i]);
		ASSERT_EQ(0, set_add(sets[i], "item", false, 0, b, 0, 1));
	}
	grew = t_heap_used() - base;
	TH_LOG("%d one-item sets: %zu bytes of heap each", N, grew / N);
	EXPECT_EQ(1, sets[0]->cap);
	/* The set, its name, one item and its name, and the allocator's
	 * headers: under 200 bytes (384 for the 8 items' room alone before). */
	EXPECT_GT(200u * N, grew);
	for (size_t i = 0; i < N; i++)
		set_free(sets[i]);
	free(sets);
	buffer_unref(b);
}

static int count_fds(void)
{
	int n = 0;

	for (int fd = 0; fd < 4096; fd++)
		n += fd_open(fd);
	return n;
}

TEST(packed_small_items_share_buffers_and_hold_no_descriptor)
{
	struct set *s = set_new("packed");
	struct buffer *first = NULL;
	int fds = count_fds();
	uint64_t packed = store_stats.buffers_packed;

	ASSERT_NE(NULL, s);
	for (int i = 0; i < 10000; i++) {
		struct buffer *b;
		uint64_t off;
		char *p;

		ASSERT_EQ(0, buffer_pack(100, &b, &off, (void **)&p));
		EXPECT_EQ(0, off % 16);
		EXPECT_TRUE(b->sealed);
		EXPECT_EQ(-1, b->fd);
		memset(p, 'a' + i % 26, 100);
		ASSERT_EQ(0, set_add(s, "x", false, 0, b, off, 100));
		buffer_unref(b);
		if (!first)
			first = s->items[0].buf;
	}
	/* 10,000 items of 112 bytes: two 1 MiB buffers, no descriptor. */
	EXPECT_GE(packed + 2, store_stats.buffers_packed);
	EXPECT_EQ(fds, count_fds());
	EXPECT_EQ(-EBADF, buffer_share_fd(first));
	for (size_t i = 0; i < s->n; i++) {
		const char *d;

		ASSERT_EQ(0, item_data(&s->items[i], (const void **)&d));
		ASSERT_EQ('a' + i % 26, d[0]);
		ASSERT_EQ('a' + i % 26, d[99]);
		if (i && s->items[i].buf == s->items[i - 1].buf)
			ASSERT_LE(s->items[i - 1].off + 100, s->items[i].off);
	}
	set_free(s);
}

TEST(packed_buffer_goes_with_its_last_item)
{
	struct set *s = set_new("packed");
	struct buffer *b;
	uint64_t off, held, n = 0;
	void *p;

	ASSERT_NE(NULL, s);
	/* Start a fresh packed buffer, fill it, and move on to the next. */
	ASSERT_EQ(0, buffer_pack(STORE_PACK_MAX, &b, &off, &p));
	buffer_unref(b);
	held = store_stats.bytes_held;
	ASSERT_EQ(0, buffer_pack(STORE_PACK_MAX, &b, &off, &p));
	while (off != 0 || n == 0) {
		ASSERT_EQ(0, set_add(s, "x", false, 0, b, off, 1));
		buffer_unref(b);
		n++;
		ASSERT_EQ(0, buffer_pack(STORE_PACK_MAX, &b, &off, &p));
	}
	buffer_unref(b);
	EXPECT_LT(1, n);
	EXPECT_LE(held + n * STORE_PACK_MAX, store_stats.bytes_held);
	/* The items were the last to hold the full buffer: it is gone. */
	set_free(s);
	EXPECT_GT(held + 2 * STORE_PACK_MAX, store_stats.bytes_held);
	EXPECT_EQ(-E2BIG, buffer_pack(STORE_PACK_MAX + 1, &b, &off, &p));
}

TEST(store_limit_refuses_packed_room)
{
	struct buffer *b;
	uint64_t off;
	void *p;

	store_set_limit(store_stats.bytes_held + 100);
	EXPECT_EQ(-ENOBUFS, buffer_pack(200, &b, &off, &p));
	EXPECT_NE(NULL, strstr(store_strerror(-ENOBUFS), "--max-store"));
	store_set_limit(0);
}

TEST_HARNESS_MAIN
