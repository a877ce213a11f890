// SPDX-License-Identifier: MIT
/* memfd-backed buffers, items and sets. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "lib/array.h"
#include "lib/macro.h"
#include "lib/probe.h"
#include "store/pool.h"
#include "store/store.h"
#include "store/xfer.h"

#ifndef MFD_NOEXEC_SEAL
#define MFD_NOEXEC_SEAL 0x0008U
#endif

struct store_stats store_stats;
static uint64_t next_id = 1;
static uint64_t limit_bytes; /* 0: not set yet */
static _Thread_local char limit_msg[160]; /* pithd runs jobs on threads */

void store_set_limit(uint64_t bytes)
{
	limit_bytes = bytes;
}

uint64_t store_limit(void)
{
	if (!limit_bytes) {
		long pages = sysconf(_SC_PHYS_PAGES);
		long psize = sysconf(_SC_PAGESIZE);

		limit_bytes = pages > 0 && psize > 0 ?
				      (uint64_t)pages * (uint64_t)psize / 4 * 3 :
				      UINT64_MAX;
	}
	return limit_bytes;
}

const char *store_strerror(int r)
{
	if (r == -ENOBUFS && limit_msg[0])
		return limit_msg;
	return strerror(-r);
}

/* Count `size` more bytes as held, or refuse them. Atomic: pithd runs
 * several jobs at once, on threads, over the one store. */
static int charge(uint64_t size)
{
	uint64_t max = store_limit();
	uint64_t held = __atomic_load_n(&store_stats.bytes_held,
					__ATOMIC_RELAXED);
	uint64_t peak;

	do {
		if (size > max - MIN(held, max)) {
			__atomic_add_fetch(&store_stats.limit_refusals, 1,
					   __ATOMIC_RELAXED);
			snprintf(limit_msg, sizeof(limit_msg),
				 "the store would hold %llu bytes, more than its limit of %llu (--max-store; default three quarters of the RAM)",
				 (unsigned long long)(held + size),
				 (unsigned long long)max);
			return -ENOBUFS;
		}
	} while (!__atomic_compare_exchange_n(&store_stats.bytes_held, &held,
					      held + size, true,
					      __ATOMIC_RELAXED,
					      __ATOMIC_RELAXED));
	held += size;
	peak = __atomic_load_n(&store_stats.bytes_held_peak, __ATOMIC_RELAXED);
	while (peak < held &&
	       !__atomic_compare_exchange_n(&store_stats.bytes_held_peak,
					    &peak, held, true, __ATOMIC_RELAXED,
					    __ATOMIC_RELAXED))
		;
	return 0;
}

static void uncharge_bytes(uint64_t size)
{
	uint64_t held = __atomic_load_n(&store_stats.bytes_held,
					__ATOMIC_RELAXED);

	while (!__atomic_compare_exchange_n(&store_stats.bytes_held, &held,
					    held - MIN(size, held), true,
					    __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		;
}

static void uncharge(struct buffer *b)
{
	uncharge_bytes(b->charged);
	b->charged = 0;
}

void buffer_set_charge(struct buffer *b, uint64_t bytes)
{
	uncharge(b);
	/* less than before: never refused */
	__atomic_add_fetch(&store_stats.bytes_held, bytes, __ATOMIC_RELAXED);
	b->charged = bytes;
}

static void fds_add(int n)
{
	__atomic_add_fetch(&store_stats.fds_in_use, (uint64_t)(int64_t)n,
			   __ATOMIC_RELAXED);
}

static void ro_close(struct buffer *b)
{
	if (b->ro_fd >= 0)
		fds_add(-1);
	b->ro_fd = safe_close(b->ro_fd);
}

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

static int buffer_create(const char *name, uint64_t size, struct buffer **ret)
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
	b->ro_fd = -1;
	b->xfer = xfer;
	b->size = size;
	b->id = __atomic_fetch_add(&next_id, 1, __ATOMIC_RELAXED);
	store_stats.buffers_created++;
	fds_add(1);
	PROBE_BUFFER_ALLOC(b, size, PROBE_BACKEND_OF(b));
	*ret = b;
	return 0;
}

int buffer_new(const char *name, uint64_t size, struct buffer **ret)
{
	int r = charge(size);

	if (r < 0)
		return r;
	r = buffer_create(name, size, ret);
	if (r < 0) {
		uncharge_bytes(size);
		return r;
	}
	(*ret)->charged = size;
	return 0;
}

static void buffer_destroy(struct buffer *b)
{
	uncharge(b);
	if (b->map && b->size && b->map != b->wmap && b->map != b->rmap)
		munmap((void *)b->map, b->size);
	if (b->rmap)
		munmap((void *)b->rmap, b->wcap);
	if (b->wmap)
		munmap(b->wmap, b->wcap);
	ro_close(b);
	if (b->fd >= 0)
		fds_add(-1);
	safe_close(b->fd);
	free(b);
}

int buffer_new_mapped(const char *name, uint64_t size, unsigned int flags,
		      struct buffer **ret, void **ret_map)
{
	struct buffer *b = NULL;
	void *p;
	int r;

	if (size && !xfer_available())
		b = pool_take(size);
	if (b)
		fds_add(1);
	if (b && (r = charge(size)) < 0) {
		buffer_destroy(b);
		return r;
	}
	if (b) {
		b->charged = size;
		/* Its writable mapping kept, its file as long as that
		 * (wcap), its pages kept: no ftruncate, which would free
		 * them. Past its last size everything is zero already;
		 * a past use's bytes past the new size are zeroed here. */
		if (b->size > size)
			memset(b->wmap + size, 0, b->size - size);
		b->stale = MIN(b->size, size);
		if (!(flags & BUFFER_UNZEROED)) {
			memset(b->wmap, 0, b->stale);
			b->stale = 0;
		}
		b->refs = 1;
		b->size = size;
		b->id = __atomic_fetch_add(&next_id, 1, __ATOMIC_RELAXED);
		store_stats.buffers_created++;
		store_stats.buffers_recycled++;
		PROBE_BUFFER_ALLOC(b, size, PROBE_BACKEND_POOLED);
	} else {
		r = buffer_new(name, size, &b);
		if (r < 0)
			return r;
		if (size) {
			p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED,
				 b->fd, 0);
			if (p == MAP_FAILED) {
				r = negative_errno();
				buffer_destroy(b);
				return r;
			}
			b->wmap = p;
			b->wcap = size;
			/* Not with the module: its buffers are used
			 * then, and a memfd here would never be. */
			b->pooled = !b->xfer && !xfer_available() &&
				    pool_enabled();
		}
	}
	*ret = b;
	*ret_map = b->wmap;
	return 0;
}

/* A packed buffer's size: a few pages per buffer, a few buffers per
 * 10,000 small items. */
#define PACK_SIZE (1ull << 20)

/* Per thread: pithd runs jobs at once, each on its thread, and buffer
 * references are not atomic; a packed buffer stays with one thread. */
static _Thread_local struct buffer *pack_cur; /* the packer's reference */
static _Thread_local uint64_t pack_used;

int buffer_pack(uint64_t len, struct buffer **ret, uint64_t *ret_off,
		void **ret_map)
{
	uint64_t off = ALIGN_UP(pack_used, 16);
	struct buffer *b;
	void *p;
	int r;

	if (len > STORE_PACK_MAX)
		return -E2BIG;
	if (!pack_cur || off + len > pack_cur->size) {
		/* Anonymous memory: only the pages written are ever made. */
		p = mmap(NULL, PACK_SIZE, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED)
			return negative_errno();
		b = calloc(1, sizeof(*b));
		if (!b) {
			munmap(p, PACK_SIZE);
			return -ENOMEM;
		}
		b->refs = 1;
		b->fd = -1;
		b->ro_fd = -1;
		b->packed = true;
		b->sealed = true;
		b->size = PACK_SIZE;
		b->map = p;
		b->id = __atomic_fetch_add(&next_id, 1, __ATOMIC_RELAXED);
		store_stats.buffers_created++;
		store_stats.buffers_packed++;
		PROBE_BUFFER_ALLOC(b, PACK_SIZE, PROBE_BACKEND_MEMFD);
		buffer_unref(pack_cur);
		pack_cur = b;
		off = 0;
	}
	/* The bytes given out count as held, until the buffer goes. */
	r = charge(len);
	if (r < 0)
		return r;
	pack_cur->charged += len;
	pack_used = off + len;
	store_stats.items_packed++;
	*ret = buffer_ref(pack_cur);
	*ret_off = off;
	*ret_map = (char *)pack_cur->map + off;
	return 0;
}

/*
 * A pooled buffer keeps its pages past a cut (they are what the next use
 * saves in faults): the bytes a past use left past `size` are zeroed, with
 * stores, or by punching the pages out when more than SHRINK_KEEP_MAX and
 * more than `size` would be kept past it (a 64 MiB use followed by small
 * ones should not pin 64 MiB). Pages past the last use's bytes are zero
 * already: keeping them costs no stores.
 */
#define SHRINK_KEEP_MAX (8ull << 20)
static void shrink_pooled(struct buffer *b, uint64_t size)
{
	uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
	uint64_t edge = ALIGN_UP(size, page);

	b->held = MAX(b->held, size);
	if (b->held - size > MAX(size, SHRINK_KEEP_MAX) &&
	    fallocate(b->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
		      (off_t)edge, (off_t)(b->held - MIN(edge, b->held))) == 0) {
		if (b->stale > size)
			memset(b->wmap + size, 0, MIN(b->stale, edge) - size);
		b->held = MIN(edge, b->held);
	} else if (b->stale > size) {
		memset(b->wmap + size, 0, b->stale - size);
	}
	b->stale = MIN(b->stale, size);
}

int buffer_shrink(struct buffer *b, uint64_t size)
{
	if (b->sealed)
		return -EPERM;
	if (size > b->size)
		return -ERANGE;
	if (b->xfer || size == b->size)
		return 0;
	if (b->pooled) {
		shrink_pooled(b, size);
		PROBE_BUFFER_RESIZE(b, b->size, size);
		b->size = size;
		if (b->charged > MAX(size, b->held))
			buffer_set_charge(b, MAX(size, b->held));
		return 0;
	}
	if (ftruncate(b->fd, (off_t)size) < 0)
		return negative_errno();
	PROBE_BUFFER_RESIZE(b, b->size, size);
	b->size = size;
	if (b->charged > size)
		buffer_set_charge(b, size);
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

/*
 * A pooled buffer is made immutable without a kernel seal: pith reads it
 * through a read-only mapping of its own (buffer_data()), and consumers get
 * a read-only open file description (buffer_share_fd()), so no mapping of
 * theirs can ever be writable. No system call here: the writer's mapping
 * stays writable, for the writer alone (it is told not to use it after the
 * seal); making it read-only and writable again cost two mprotect calls
 * per use, each over every page kept, with a TLB shootdown (5% of pith's
 * CPU in the thesis benchmark, Documentation/security.md "Recycled I/O
 * buffers"). The reopening is made when a consumer first maps the buffer,
 * not here: most pooled buffers hold small items that consumers get copies
 * of, and one more descriptor per buffer is what ran 10,000-instance jobs
 * out of them.
 */
static int seal_pooled(struct buffer *b)
{
	static int proc_fd = -1; /* /proc/self/fd present: 1, absent: 0 */

	(void)b;
	if (proc_fd < 0)
		proc_fd = access("/proc/self/fd", F_OK) == 0;
	if (!proc_fd)
		return -ENOENT;
	return 0;
}

int buffer_seal(struct buffer *b)
{
	if (b->sealed)
		return 0;
	if (b->pooled) {
		if (seal_pooled(b) == 0) {
			b->held = MAX(b->held, b->size);
			b->sealed = true;
			PROBE_BUFFER_SEAL(b, b->size, PROBE_BACKEND_POOLED);
			return 0;
		}
		b->pooled = false; /* no /proc: the kernel seal, no reuse */
		/* Its file is as long as its mapping: cut it to its size. */
		if (b->wmap && b->wcap != b->size &&
		    ftruncate(b->fd, (off_t)b->size) < 0)
			return negative_errno();
	}
	/* A writable mapping of our own would stop either seal. */
	if (b->wmap) {
		munmap(b->wmap, b->wcap);
		b->wmap = NULL;
	}
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
	PROBE_BUFFER_SEAL(b, b->size, PROBE_BACKEND_OF(b));
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

const char *store_pool_status(void)
{
	return pool_status();
}

void store_pool_bound_add(int64_t bytes)
{
	pool_bound_add(bytes);
}

int store_pool_check(void)
{
	return pool_env_valid() ? 0 : -EINVAL;
}

int buffer_data(struct buffer *b, const void **ret)
{
	void *p;

	if (!b->sealed)
		return -EPERM;
	if (!b->map) {
		if (b->size == 0) {
			b->map = "";
		} else if (b->pooled && b->wmap) {
			/* Made once, kept while the buffer is recycled. */
			if (!b->rmap) {
				p = mmap(NULL, b->wcap, PROT_READ, MAP_SHARED,
					 b->fd, 0);
				if (p == MAP_FAILED)
					return negative_errno();
				b->rmap = p;
			}
			b->map = b->rmap;
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

int buffer_reopen_ro(const struct buffer *b)
{
	char path[32];
	int fd;

	if (b->fd < 0)
		return -EBADF;
	snprintf(path, sizeof(path), "/proc/self/fd/%d", b->fd);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	return fd < 0 ? negative_errno() : fd;
}

int buffer_share_fd(struct buffer *b)
{
	int fd;

	if (b->packed)
		return -EBADF;
	if (!b->pooled || !b->sealed)
		return b->fd;
	if (b->ro_fd >= 0)
		return b->ro_fd;
	fd = buffer_reopen_ro(b);
	if (fd >= 0) {
		b->ro_fd = fd;
		fds_add(1);
	}
	return fd;
}

struct buffer *buffer_ref(struct buffer *b)
{
	/* Atomic: a driver thread (sandbox/driver.c) references the items
	 * of its instances' inputs while the engine's thread holds them. */
	if (b)
		__atomic_add_fetch(&b->refs, 1, __ATOMIC_RELAXED);
	return b;
}

struct buffer *buffer_unref(struct buffer *b)
{
	if (!b || __atomic_sub_fetch(&b->refs, 1, __ATOMIC_ACQ_REL) > 0)
		return NULL;
	PROBE_BUFFER_RELEASE(b, b->size, PROBE_BACKEND_OF(b));
	if (b->pooled && b->sealed) {
		uncharge(b); /* the pool bounds its idle bytes itself */
		b->map = NULL; /* "" or rmap, which stays */
		/* Its consumers are gone: no process maps it but pith. Its
		 * descriptor for them goes (none would ever be shared
		 * again). */
		ro_close(b);
		if (pool_put(b)) {
			fds_add(-1);
			return NULL;
		}
	}
	buffer_destroy(b);
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
	store_stats.bytes_held -= MIN(s->charged, store_stats.bytes_held);
	free(s->items);
	free(s->name);
	free(s);
	return NULL;
}

void set_clear(struct set *s)
{
	for (size_t i = 0; i < s->n; i++) {
		free(s->items[i].name);
		buffer_unref(s->items[i].buf);
	}
	store_stats.bytes_held -= MIN(s->charged, store_stats.bytes_held);
	s->charged = 0;
	s->n = 0;
}

int set_add(struct set *s, const char *name, bool keyed, uint64_t key,
	    struct buffer *buf, uint64_t off, uint64_t len)
{
	uint64_t cost = sizeof(struct item) + strlen(name ? name : "") + 1;
	struct item *it;
	int r;

	if (off > buf->size || len > buf->size - off)
		return -ERANGE;
	/* Room for one item first, then doubling: most sets are an
	 * instance's or an I/O item's outputs of one item each, waiting in
	 * their slots (behind a late item, thousands of them); a first room
	 * of 8 gave each 336 bytes it never used. */
	if (ARRAY_GROW(s->items, s->cap, s->n, 1) < 0)
		return -ENOMEM;
	r = charge(cost);
	if (r < 0)
		return r;
	it = &s->items[s->n];
	it->name = strdup(name ? name : "");
	if (!it->name) {
		store_stats.bytes_held -= cost;
		return -ENOMEM;
	}
	s->charged += cost;
	it->keyed = keyed;
	it->key = key;
	it->buf = buffer_ref(buf);
	it->off = off;
	it->len = len;
	s->n++;
	return 0;
}

int set_add_copy(struct set *s, const char *name, bool keyed, uint64_t key,
		 const void *data, size_t len)
{
	struct buffer *b = NULL;
	int r = buffer_new(name, len, &b);

	if (r >= 0)
		r = buffer_write(b, 0, data, len);
	if (r >= 0)
		r = buffer_seal(b);
	if (r >= 0)
		r = set_add(s, name, keyed, key, b, 0, len);
	buffer_unref(b);
	return r;
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
