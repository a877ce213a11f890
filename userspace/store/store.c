// SPDX-License-Identifier: MIT
/* memfd-backed buffers, items and sets. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "lib/array.h"
#include "lib/macro.h"
#include "store/store.h"
#include "store/xfer.h"

#ifndef MFD_NOEXEC_SEAL
#define MFD_NOEXEC_SEAL 0x0008U
#endif

struct store_stats store_stats;
static uint64_t next_id = 1;

static int memfd_new(const char *name)
{
	static int noexec = MFD_NOEXEC_SEAL;
	int fd;

	fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING | noexec);
	if (fd < 0 && errno == EINVAL && noexec) {
		/* Kernels before 6.3 do not know MFD_NOEXEC_SEAL. */
		noexec = 0;
		fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
	}
	return fd < 0 ? negative_errno() : fd;
}

int buffer_new(const char *name, uint64_t size, struct buffer **ret)
{
	_cleanup_close_ int fd = -1;
	struct buffer *b;
	bool xfer = false;

	if (xfer_available()) {
		fd = xfer_buffer_new(size);
		xfer = fd >= 0;
		if (fd == -EFBIG) /* above the module's limit */
			fd = -1;
		else if (fd < 0)
			return fd;
	}
	if (!xfer) {
		fd = memfd_new(name ? name : "pith");
		if (fd < 0)
			return fd;
		if (size && ftruncate(fd, (off_t)size) < 0)
			return negative_errno();
	}
	b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	b->refs = 1;
	b->fd = TAKE_FD(fd);
	b->xfer = xfer;
	b->size = size;
	b->id = next_id++;
	store_stats.buffers_created++;
	*ret = b;
	return 0;
}

int buffer_write(struct buffer *b, uint64_t off, const void *data, size_t len)
{
	const char *p = data;

	if (b->sealed)
		return -EPERM;
	if (off > b->size || len > b->size - off)
		return -ERANGE;
	while (len) {
		ssize_t n = pwrite(b->fd, p, len, (off_t)off);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return negative_errno();
		}
		p += n, off += (uint64_t)n, len -= (size_t)n;
		store_stats.bytes_written += (uint64_t)n;
	}
	return 0;
}

int buffer_seal(struct buffer *b)
{
	if (b->sealed)
		return 0;
	if (b->xfer) {
		int r = xfer_buffer_seal(b->fd);

		if (r < 0)
			return r;
	} else if (fcntl(b->fd, F_ADD_SEALS,
			 F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE |
				 F_SEAL_SEAL) < 0) {
		return negative_errno();
	}
	b->sealed = true;
	return 0;
}

const char *store_backend(void)
{
	return xfer_available() ? "pith_xfer" : "memfd";
}

const char *store_backend_status(void)
{
	return xfer_status();
}

int buffer_data(struct buffer *b, const void **ret)
{
	void *p;

	if (!b->sealed)
		return -EPERM;
	if (!b->map) {
		if (b->size == 0) {
			b->map = "";
		} else {
			p = mmap(NULL, b->size, PROT_READ, MAP_SHARED, b->fd,
				 0);
			if (p == MAP_FAILED)
				return negative_errno();
			b->map = p;
		}
	}
	*ret = b->map;
	return 0;
}

struct buffer *buffer_ref(struct buffer *b)
{
	if (b)
		b->refs++;
	return b;
}

struct buffer *buffer_unref(struct buffer *b)
{
	if (!b || --b->refs > 0)
		return NULL;
	if (b->map && b->size)
		munmap((void *)b->map, b->size);
	safe_close(b->fd);
	free(b);
	return NULL;
}

struct set *set_new(const char *name)
{
	struct set *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->name = strdup(name ? name : "");
	if (!s->name) {
		free(s);
		return NULL;
	}
	return s;
}

struct set *set_free(struct set *s)
{
	if (!s)
		return NULL;
	for (size_t i = 0; i < s->n; i++) {
		free(s->items[i].name);
		buffer_unref(s->items[i].buf);
	}
	free(s->items);
	free(s->name);
	free(s);
	return NULL;
}

int set_add(struct set *s, const char *name, bool keyed, uint64_t key,
	    struct buffer *buf, uint64_t off, uint64_t len)
{
	struct item *it;

	if (off > buf->size || len > buf->size - off)
		return -ERANGE;
	if (ARRAY_GROW(s->items, s->cap, s->n, 8) < 0)
		return -ENOMEM;
	it = &s->items[s->n];
	it->name = strdup(name ? name : "");
	if (!it->name)
		return -ENOMEM;
	it->keyed = keyed;
	it->key = key;
	it->buf = buffer_ref(buf);
	it->off = off;
	it->len = len;
	s->n++;
	return 0;
}

int set_add_item(struct set *s, const struct item *it)
{
	return set_add(s, it->name, it->keyed, it->key, it->buf, it->off,
		       it->len);
}

int item_data(const struct item *it, const void **ret)
{
	const void *p;
	int r = buffer_data(it->buf, &p);

	if (r < 0)
		return r;
	*ret = (const char *)p + it->off;
	return 0;
}
