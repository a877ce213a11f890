/* SPDX-License-Identifier: MIT */
/*
 * The store owns all data: buffers (memfd-backed, written once, then sealed
 * read-only), items (a slice of a buffer with a name and an optional key) and
 * sets (ordered lists of items). Passing a set from one stage to the next
 * copies no byte: items hold references to buffers.
 */
#ifndef PITH_STORE_STORE_H
#define PITH_STORE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct buffer {
	int refs;
	int fd;		/* memfd (or /dev/pith_xfer buffer), O_CLOEXEC */
	uint64_t size;
	uint64_t id;	/* unique within the process, never reused */
	bool sealed;
	bool xfer;	/* fd is a /dev/pith_xfer buffer */
	bool pooled;	/* recycled, never F_SEAL_WRITE'd: see buffer_new_mapped() */
	const void *map; /* read-only mapping in pith, made on first use */
	const void *rmap; /* pooled: pith's read-only mapping, wcap bytes long,
			     kept from one use to the next */
	char *wmap;	/* buffer_new_mapped(): pith's mapping, wcap bytes long */
	uint64_t wcap;
	uint64_t stale;	/* BUFFER_UNZEROED: bytes [0, stale) are a past use's */
	uint64_t held;	/* pooled: bytes [0, held) may have pages (every use
			   wrote below it); past `size` they are all zero */
	uint64_t charged; /* bytes counted in store_stats.bytes_held */
	int ro_fd;	/* pooled and sealed: a read-only reopening, else -1 */
	bool packed;	/* buffer_pack(): pith's memory, no descriptor (fd -1) */
};

/* A new writable buffer of `size` bytes (zero-filled). `name` is for
 * /proc/PID/fd readers only. */
int buffer_new(const char *name, uint64_t size, struct buffer **ret);
/*
 * A new buffer of `size` bytes and, at *ret_map, a writable mapping of it in
 * pith, for pith's own writers (the I/O functions), valid until
 * buffer_seal(). On memfd it comes from a pool of released buffers when one
 * fits, which keeps their pages and mapping: such a buffer is never
 * F_SEAL_WRITE'd (that seal cannot be undone). Instead pith reads it, once
 * sealed, through a read-only mapping of its own (buffer_data()), and
 * consumers get buffer_share_fd(), a read-only reopening whose mappings can
 * never be made writable; *ret_map is the writer's alone, and is not to be
 * used after buffer_seal(). When the last reference goes, the buffer is
 * kept for reuse, with its pages and both mappings.
 *
 * The buffer is zero-filled, unless flags has BUFFER_UNZEROED: then a
 * recycled buffer keeps the bytes of its last use in [0, b->stale), and the
 * caller must overwrite or zero them before sealing (what the arena does).
 */
#define BUFFER_UNZEROED 1u
int buffer_new_mapped(const char *name, uint64_t size, unsigned int flags,
		      struct buffer **ret, void **ret_map);
/*
 * Small items of many producers packed into shared buffers: room for `len`
 * bytes (at most STORE_PACK_MAX) at *ret_off of *ret (a new reference; the
 * item made of it holds its own), writable at *ret_map until the caller
 * returns to the event loop, 16-byte aligned. A packed buffer is pith's own
 * memory, not a descriptor: a job of 100,000 small outputs holds a handful
 * of them and no fd. Consumers never map items this small (they get copies
 * of every item under PITH_PAGE_ITEM_MIN), and buffer_share_fd() refuses a
 * packed buffer. It is born sealed: bytes once handed out are never written
 * again. It is freed when its last item is, so items released together
 * (a stage's outputs, consumed by the next) free their buffers together.
 */
#define STORE_PACK_MAX (64ull << 10)
int buffer_pack(uint64_t len, struct buffer **ret, uint64_t *ret_off,
		void **ret_map);
/* Cut an unsealed buffer to its first `size` bytes; the bytes past it read
 * as zero from then on. The caller wrote nothing past `size` (a pooled
 * buffer keeps its pages: only a past use's bytes there are zeroed, and
 * the descriptor's file keeps its length). /dev/pith_xfer buffers keep
 * their size (items are slices of them). */
int buffer_shrink(struct buffer *b, uint64_t size);
/* Copy bytes in before sealing (job inputs only: counts in store_stats). */
int buffer_write(struct buffer *b, uint64_t off, const void *data, size_t len);
/* Make the buffer immutable: no write, no resize, no unsealing. Idempotent.
 * memfd: -EBUSY while any process still maps it writable. pith_xfer: every
 * writable mapping, in every process, is revoked (its next access raises
 * SIGBUS), so unmap yours first, as with a memfd. The mapping of
 * buffer_new_mapped() is dealt with here: unmapped, or for a pooled buffer
 * made read-only. */
int buffer_seal(struct buffer *b);
/* Read-only view of a sealed buffer in pith's address space. */
int buffer_data(struct buffer *b, const void **ret);
/* The descriptor to give a consumer of a sealed buffer: mappable read-only
 * only. Owned by the buffer; a pooled buffer opens it on first use, so this
 * returns -errno when that fails; a packed buffer has none (-EBADF). */
int buffer_share_fd(struct buffer *b);
/* A new read-only open of the buffer's file (through /proc/self/fd), the
 * caller's to close: no mapping of it can ever be made writable. -errno. */
int buffer_reopen_ro(const struct buffer *b);
/* After pages of an unsealed buffer were given back (holes punched): count
 * only `bytes` of it as held from now on. */
void buffer_set_charge(struct buffer *b, uint64_t bytes);
struct buffer *buffer_ref(struct buffer *b);
struct buffer *buffer_unref(struct buffer *b); /* NULL-safe, returns NULL */

struct item {
	char *name;
	bool keyed;
	uint64_t key;
	struct buffer *buf; /* holds a reference */
	uint64_t off, len;
};

struct set {
	char *name;
	struct item *items;
	size_t n, cap;
	uint64_t charged; /* of store_stats.bytes_held: its items and names */
};

struct set *set_new(const char *name);
struct set *set_free(struct set *s); /* NULL-safe, returns NULL */
/* Drop its items (their references and charge); keep its name and the
 * items' array, for a set filled again. */
void set_clear(struct set *s);
/* Append an item referencing buf[off, off+len); takes a new reference.
 * The item and its name count as held bytes (-ENOBUFS past the limit). */
int set_add(struct set *s, const char *name, bool keyed, uint64_t key,
	    struct buffer *buf, uint64_t off, uint64_t len);
/* Copy `len` bytes into a new sealed buffer (named `name` too) and append
 * all of it as an item (job inputs only: counts in store_stats). */
int set_add_copy(struct set *s, const char *name, bool keyed, uint64_t key,
		 const void *data, size_t len);
/* Append a copy of an item (same buffer, new reference). */
int set_add_item(struct set *s, const struct item *it);
/* The bytes of an item (buffer must be sealed). */
int item_data(const struct item *it, const void **ret);

/* Where buffers come from: "pith_xfer" (the kernel module, see
 * Documentation/kmod.md) or "memfd". Decided once per process. */
const char *store_backend(void);
/* One line for `pith doctor`: the backend and its details, or why the
 * module is not used. */
const char *store_backend_status(void);
/* One line for `pith doctor`: what the buffer pool keeps (PITH_STORE_POOL,
 * a size: "0" turns the pool off). */
const char *store_pool_status(void);
/* The pool keeps at most the sum of what its users declared (none: only
 * PITH_STORE_POOL's bound): a recycled buffer saves its page faults only
 * when it is taken again soon, so each running job's engine adds its
 * prefetch window, the bytes of I/O buffers it has live at once, and takes
 * it back when it ends (jobs run at once on pithd's threads). Buffers
 * already idle stay until taken. */
void store_pool_bound_add(int64_t bytes);
/* -EINVAL when PITH_STORE_POOL is set to what is not a size (the pool is
 * off then). */
int store_pool_check(void);

/*
 * The bytes all live buffers may hold together (their sizes; a buffer whose
 * pages were partly released counts what it keeps), with the items of sets
 * and their names. Creating a buffer past
 * it fails with -ENOBUFS; store_strerror() names the limit then. Default:
 * three quarters of the RAM; 0 sets the default again.
 */
void store_set_limit(uint64_t bytes);
uint64_t store_limit(void);
/* strerror(-r), except for -ENOBUFS from the store's limit: "the store
 * holds N bytes, the limit is M (--max-store)". */
const char *store_strerror(int r);

struct store_stats {
	uint64_t buffers_created;
	uint64_t bytes_written; /* by buffer_write(): ingestion, never stage to stage */
	uint64_t buffers_recycled; /* buffer_new_mapped() served from the pool */
	uint64_t buffers_packed; /* packed buffers made (buffer_pack()) */
	uint64_t items_packed;	 /* room given by buffer_pack() */
	uint64_t bytes_copied;	/* small items copied by the sandbox: into
				   input copy areas, out of contexts */
	uint64_t bytes_held;	/* by live buffers, see store_set_limit() */
	uint64_t bytes_held_peak;
	uint64_t limit_refusals; /* buffers refused by the limit */
	/* Descriptors held by buffers in use, the pool's idle ones not
	 * counted: a buffer's own and, once shared with a consumer, a pooled
	 * buffer's read-only one (buffer_share_fd()), two for such a
	 * buffer. arena_own_items() gives an item a buffer of its own only
	 * while these leave room under RLIMIT_NOFILE. Atomic. */
	uint64_t fds_in_use;
};
extern struct store_stats store_stats;

#endif
