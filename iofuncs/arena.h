/* SPDX-License-Identifier: MIT */
/*
 * Output arenas: store buffers that I/O functions fill in place. Small items
 * share a memfd (one fd for thousands of files or responses), a large item
 * gets a buffer of its own; every buffer is written through pith's mapping
 * (buffer_new_mapped(), recycled when it can be), shrunk to what was used,
 * then sealed.
 */
#ifndef PITH_IOFUNCS_ARENA_H
#define PITH_IOFUNCS_ARENA_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "store/store.h"

/*
 * memfd chunks are sparse until touched and are shrunk to what was used;
 * /dev/pith_xfer buffers get all their pages at creation and cannot shrink,
 * so their chunks are small.
 */
#define ARENA_CHUNK (64ull << 20)	/* shared memfd chunk, at most */
/* The first shared chunk; each next one twice the last, up to the most:
 * the store charges a chunk's whole size while it is filled (--max-store),
 * so a run of a few small files is not charged 64 MiB. */
#define ARENA_CHUNK_FIRST (1ull << 20)
#define ARENA_OWN_MIN (4ull << 20)	/* from here on an item gets its own */
#define ARENA_XFER_CHUNK (1ull << 20)
#define ARENA_XFER_OWN_MIN (256ull << 10)
#define ARENA_POPULATE_MIN (64ull << 10) /* prefault reservations this big */
/* arena_own_items() (memfd backend): from here on an item gets its own;
 * the smaller ones share chunks of ARENA_ITEM_CHUNK */
#define ARENA_ITEM_MIN (16ull << 10)
#define ARENA_ITEM_CHUNK (1ull << 20)

struct arena_chunk {
	struct buffer *buf;	/* NULL once given away (arena_chunk_drop()) */
	char *map;	/* writable mapping (the store's), NULL once finished */
	uint64_t cap, used;
	size_t inflight;	/* reservations not kept yet */
	size_t users;		/* streaming: outputs in it not delivered yet */
	bool sealed;
};

/* Reserved bytes of an arena, to be filled by the I/O function. */
struct arena_span {
	struct buffer *buf;	/* no reference: the arena holds it until arena_done() */
	uint64_t off;		/* in buf */
	char *ptr;		/* writable until arena_finish() */
	size_t chunk, id;	/* the arena's */
	uint64_t len;
};

/*
 * Chunks and reservations are numbered from the arena's start; the arrays
 * hold those from `base` and `pending_base` on: once half of them (1,024
 * at least) is a prefix of chunks given away (arena_chunk_drop()), or of
 * reservations kept or abandoned, the prefix goes. A streaming run of
 * 100,000 items keeps the entries of the items in flight, not of every
 * item it had.
 */
struct arena {
	char name[64];	/* memfd name */
	struct arena_chunk *chunks; /* chunk i at chunks[i - base] */
	size_t n, cap;	/* n: chunks made; cap: of the array */
	size_t base, dropped_upto; /* chunks before dropped_upto: given away */
	struct arena_span *pending; /* reservations; len 0 once kept */
	size_t n_pending, pending_cap; /* n_pending: made since the finish */
	size_t pending_base, done_upto; /* before done_upto: kept/abandoned */
	ssize_t open;	/* chunk taking small items, -1: none */
	size_t sealed_upto; /* chunks before it are sealed (arena_seal_idle) */
	uint64_t chunk, own_min; /* by store backend, see above */
	/* arena_own_items(): from own_any on an item gets its own buffer
	 * whatever the count; from own_min on only while the buffers in use
	 * hold fewer than own_open descriptors (store_stats.fds_in_use). */
	uint64_t own_any, own_open;
	uint64_t grow;	/* the next shared chunk's size (ARENA_CHUNK_FIRST) */
	/* Fault reserved ranges in at once: only when the sizes are trusted
	 * (file.read's statx), never for sizes a server claims. */
	bool prefault;
};

void arena_init(struct arena *a, const char *label);
/*
 * Items the caller bounds in number (a streaming run under the engine's
 * window): each of at least ARENA_ITEM_MIN bytes gets a buffer of its own,
 * its size rounded up to whole pages (a recycled one fits the next item of
 * about its size), so its pages go when its last reader is done rather
 * than with the last item of a shared chunk, and a recycled buffer brings
 * back its own pages, not the high-water mark of a chunk. Costs a
 * descriptor per such item while it lives (two once shared with a
 * consumer), so only while the store's buffers in use hold fewer
 * descriptors than half of RLIMIT_NOFILE's soft limit (the engine's window
 * keeps the items under a quarter)
 * (the caller bounds the items by bytes, not by count: a 64 MiB window of
 * 20 KiB files is 3,000 items); past it an item shares a chunk, as
 * before. The smaller items share chunks of
 * ARENA_ITEM_CHUNK, not ARENA_CHUNK: the store charges a chunk's whole
 * size while it is open (--max-store), and a recycled one keeps the pages
 * it ever had. The memfd backend only.
 */
void arena_own_items(struct arena *a);
/* All the arena will take is `bytes` (a job's inline inputs): chunks no
 * larger, in whole pages, as the store charges a chunk's whole size. */
void arena_expect(struct arena *a, uint64_t bytes);
/* Chunk i (from arena_chunk_of(), a span's .chunk, or .open). */
static inline struct arena_chunk *arena_chunk(struct arena *a, size_t i)
{
	return &a->chunks[i - a->base];
}
/*
 * `len` writable bytes at ret->ptr, which will be bytes [ret->off, ret->off
 * + len) of ret->buf. Buffers may be recycled (BUFFER_UNZEROED): until
 * arena_keep() says the span was filled, arena_finish() zeroes it.
 */
int arena_reserve(struct arena *a, uint64_t len, struct arena_span *ret);
/* Every byte of the span was written: arena_finish() leaves it as is. */
void arena_keep(struct arena *a, const struct arena_span *s);
/* The span will not be filled after all (a failed attempt that is tried
 * again): its bytes are zeroed now and it no longer holds its chunk open.
 * A no-op for a span already kept or abandoned, or never reserved. */
void arena_abandon(struct arena *a, const struct arena_span *s);
/* Copy `len` bytes in: arena_reserve() + memcpy. */
int arena_put(struct arena *a, const void *data, uint64_t len,
	      struct buffer **ret_buf, uint64_t *ret_off);
/* Zero the spans never kept, shrink each buffer to its used size and seal
 * it. */
int arena_finish(struct arena *a);
/*
 * Streaming (items handed on one by one): the chunk holding buf (searched
 * from the newest), or -1; stop filling the open shared chunk, so it can be
 * sealed once its reservations are kept; seal every chunk that takes no
 * more bytes and has no reservation in flight (returns how many were
 * sealed, or -errno); drop the arena's reference to a sealed chunk.
 */
ssize_t arena_chunk_of(const struct arena *a, const struct buffer *buf);
void arena_close_open(struct arena *a);
int arena_seal_idle(struct arena *a);
void arena_chunk_drop(struct arena *a, size_t chunk);
/* Unmap and drop the arena's references (items keep theirs). */
void arena_done(struct arena *a);

#endif
