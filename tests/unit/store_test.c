// SPDX-License-Identifier: MIT
/* store: sealed memfd buffers, items as slices, sets holding references. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "harness/harness.h"
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

TEST_HARNESS_MAIN
