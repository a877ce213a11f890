// SPDX-License-Identifier: MIT
/*
 * Reuse of what a reaped fresh worker leaves: its plan socketpair, its
 * epoll fd and its context, kept in the sandbox for the next instance when
 * they hold nothing of it (sb->spare_sock, sb->spare_epfd, sb->spare_ctx:
 * nothing else touches them).
 */
#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/macro.h"
#include "sandbox/internal.h"

static int reuse_take_pair(struct sandbox *sb, int sv[2])
{
	if (sb->n_spare_sock) {
		sb->n_spare_sock--;
		sv[0] = sb->spare_sock[sb->n_spare_sock][0];
		sv[1] = sb->spare_sock[sb->n_spare_sock][1];
		return 0;
	}
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return negative_errno();
	return 0;
}

int reuse_take_sock(struct sandbox_proc *p, struct err *e)
{
	int sv[2], r = reuse_take_pair(p->sb, sv);

	if (r < 0)
		return err_errno(e, -r, "socketpair");
	p->sock = sv[0];
	p->sock_peer = sv[1];
	return 0;
}

/*
 * Reuse of the plan socketpair. Once the worker is reaped, nothing but pith
 * holds either end: the worker's fd 0 died with it (the trampoline closed
 * it before the function's first instruction; only the loader, trusted
 * code, ever used it), and the clone child closed its copies before exec
 * The pair carries nothing of the instance when both queues are empty:
 * read_socket() read the worker's messages up to EAGAIN (p->sock is still
 * open), and a peek at the worker's end finds no unread part of the plan
 * (a loader that failed early leaves some, with its fds: such a pair is
 * closed; a loader that sent "ready" read all of its plan before, and
 * nobody writes that end after it: no peek then). The next instance then
 * gets a pair in the state socketpair() gives, without creating and
 * freeing two sockets per instance.
 */
void reuse_release_sock(struct sandbox_proc *p)
{
	struct sandbox *sb = p->sb;
	char c;

	if (p->finished && p->sock >= 0 && p->sock_peer >= 0 &&
	    sb->n_spare_sock < REUSE_SOCK_MAX &&
	    (p->handed_off ||
	     (recv(p->sock_peer, &c, 1, MSG_DONTWAIT | MSG_PEEK) < 0 &&
	      errno == EAGAIN))) {
		sb->spare_sock[sb->n_spare_sock][0] = p->sock;
		sb->spare_sock[sb->n_spare_sock][1] = p->sock_peer;
		sb->n_spare_sock++;
		p->sock = p->sock_peer = -1;
		return;
	}
	p->sock = safe_close(p->sock);
	p->sock_peer = safe_close(p->sock_peer);
}

int reuse_take_epfd(struct sandbox_proc *p, struct err *e)
{
	struct sandbox *sb = p->sb;

	if (sb->has_spare_epfd) {
		p->epfd = sb->spare_epfd;
		sb->has_spare_epfd = false;
	} else {
		p->epfd = epoll_create1(EPOLL_CLOEXEC);
	}
	if (p->epfd < 0)
		return err_errno(e, errno, "epoll_create1");
	return 0;
}

/* The epoll fd, once finish() took the listener out of it and closed the
 * pidfd (which removes it), is empty: the next instance can use it. */
void reuse_release_epfd(struct sandbox_proc *p)
{
	struct sandbox *sb = p->sb;

	if (p->epfd >= 0 && p->epfd_empty && !sb->has_spare_epfd) {
		sb->spare_epfd = p->epfd;
		sb->has_spare_epfd = true;
		p->epfd = -1;
		return;
	}
	p->epfd = safe_close(p->epfd);
}

/*
 * Contexts. A fresh instance's context is a memfd of its context size and
 * the input area past it (PLAN_F_AREA), which its worker maps read-write
 * and, the area, read-only from ctx_ro, a read-only open of the memfd.
 * Once that worker is reaped, and
 * when no output stays in the context (collect.c seals a context an output
 * keeps pages of: a sealed one is never reused) and nothing else holds a
 * reference (pith's own, the instance's, is the last), no process but
 * pith maps it: its worker's address space went with its exit, a zygote
 * maps no context (its children map only their pooled slots), pith's private
 * view for the collection is unmapped. Then every byte of it goes back to
 * zero (warm_zero_ctx(), as for a parked warm worker: the memfd's data
 * extents zeroed by stores or punched out; in the input area, which only
 * pith writes, the bytes pith copied there), which is what a new memfd of
 * that size reads as (security.md, "Zygotes"). The next fresh instance of
 * the same size gets it, with pith's read-write mapping: its descriptor
 * and small items are written by stores (context.c), its outputs read
 * through the mapping (collect.c), and no memfd_create, ftruncate, mmap,
 * munmap or close per instance, and no copy buffer for its small items.
 */
bool reuse_take_ctx(struct sandbox_proc *p, uint64_t size)
{
	struct sandbox *sb = p->sb;
	struct buffer *b = NULL;
	int fd;

	for (unsigned i = 0; i < sb->n_spare_ctx; i++) {
		if (sb->spare_ctx[i].buf->size != size + PLAN_INPUT_AREA)
			continue;
		p->ctx = sb->spare_ctx[i].buf;
		p->ctx_map = sb->spare_ctx[i].map;
		p->ctx_ro = sb->spare_ctx[i].ro;
		sb->spare_ctx[i] = sb->spare_ctx[--sb->n_spare_ctx];
		/* Counted whole while an instance has it, as a new one. */
		buffer_set_charge(p->ctx, size + PLAN_INPUT_AREA);
		sb->ctx_reused++;
		return true;
	}
	/* A new one. The worker maps the input area from a read-only open
	 * of it, so that not even mprotect could make that mapping
	 * writable (the context's own mappings are, from the read-write
	 * descriptor): only pith writes the area (security.md, "Zygotes"). */
	if (buffer_new("pith-context", size + PLAN_INPUT_AREA, &b) < 0)
		return false;
	fd = buffer_reopen_ro(b);
	if (fd < 0) {
		buffer_unref(b);
		return false;
	}
	p->ctx = b;
	p->ctx_ro = fd;
	return true;
}

void reuse_release_ctx(struct sandbox_proc *p)
{
	struct sandbox *sb = p->sb;
	struct buffer *b = p->ctx;
	int64_t kept;

	/* Reaped (finish() ran after waitid, never for a park of a fresh
	 * instance: that kills it), and pith's alone. */
	if (p->warm || !p->finished || p->parked || !b || !p->area ||
	    p->ctx_ro < 0 ||
	    sb->n_spare_ctx == REUSE_CTX_MAX || b->refs != 1 || b->sealed ||
	    b->xfer || b->pooled || b->packed || b->fd < 0 ||
	    b->size != p->layout.size + PLAN_INPUT_AREA)
		return;
	if (!p->ctx_map) {
		void *m = mmap(NULL, b->size, PROT_READ | PROT_WRITE,
			       MAP_SHARED, b->fd, 0);

		if (m == MAP_FAILED)
			return;
		p->ctx_map = m;
	}
	/* As a parked warm worker's: the few pages the instance touched
	 * are zeroed and stay, so the next worker's first touches find them
	 * (a hole punched over all of it was a tenth of pith's CPU per
	 * fresh no-op instance, and each worker faulted new pages in). */
	kept = warm_zero_ctx(b->fd, p->ctx_map, p->layout.size,
			     p->layout.hdr_size <= (64ull << 10) ?
				     ALIGN_UP(p->layout.hdr_size, CTX_PAGE) :
				     0);
	if (kept < 0)
		return; /* the caller unmaps and frees it */
	/* The input area: the worker mapped it read-only (no mprotect, no
	 * descriptor left to map it again), so only pith wrote there, the
	 * first area_used bytes (context.c). Its pages stay, as a parked
	 * warm worker's. */
	memset(p->ctx_map + p->layout.size, 0,
	       MIN(p->area_used, (uint64_t)PLAN_INPUT_AREA));
	buffer_set_charge(b, (uint64_t)kept + PLAN_INPUT_AREA);
	sb->spare_ctx[sb->n_spare_ctx].buf = TAKE_PTR(p->ctx);
	sb->spare_ctx[sb->n_spare_ctx].map = TAKE_PTR(p->ctx_map);
	sb->spare_ctx[sb->n_spare_ctx].ro = p->ctx_ro;
	p->ctx_ro = -1;
	sb->n_spare_ctx++;
}

void reuse_flush_ctx(struct sandbox *sb)
{
	for (unsigned i = 0; i < sb->n_spare_ctx; i++) {
		munmap(sb->spare_ctx[i].map, sb->spare_ctx[i].buf->size);
		close(sb->spare_ctx[i].ro);
		buffer_unref(sb->spare_ctx[i].buf);
	}
	sb->n_spare_ctx = 0;
}

void reuse_close(struct sandbox *sb)
{
	reuse_flush_ctx(sb);
	while (sb->n_spare_sock) {
		sb->n_spare_sock--;
		close(sb->spare_sock[sb->n_spare_sock][0]);
		close(sb->spare_sock[sb->n_spare_sock][1]);
	}
	if (sb->has_spare_epfd)
		close(sb->spare_epfd);
	sb->has_spare_epfd = false;
}
