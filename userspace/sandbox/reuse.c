// SPDX-License-Identifier: MIT
/*
 * Reuse of what a reaped fresh worker leaves: its plan socketpair and its
 * epoll fd, kept in the sandbox for the next instance when they hold
 * nothing of it (sb->spare_sock, sb->spare_epfd: nothing else touches
 * them).
 */
#include <errno.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/macro.h"
#include "sandbox/internal.h"

int reuse_take_pair(struct sandbox *sb, int sv[2])
{
	if (sb->has_spare_sock) {
		sv[0] = sb->spare_sock[0];
		sv[1] = sb->spare_sock[1];
		sb->has_spare_sock = false;
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
 * (a zygote closes its copy of a spare's end before it names the spare,
 * and pith gives the pair to an instance only after that: zygote.c).
 * The pair carries nothing of the instance when both queues are empty:
 * read_socket() read the worker's messages up to EAGAIN (p->sock is still
 * open), and a peek at the worker's end finds no unread part of the plan
 * (a loader that failed early leaves some, with its fds: such a pair is
 * closed). The next instance then gets a pair in the state socketpair()
 * gives, without creating and freeing two sockets per instance.
 */
void reuse_release_sock(struct sandbox_proc *p)
{
	struct sandbox *sb = p->sb;
	char c;

	if (p->finished && p->sock >= 0 && p->sock_peer >= 0 &&
	    !sb->has_spare_sock &&
	    recv(p->sock_peer, &c, 1, MSG_DONTWAIT | MSG_PEEK) < 0 &&
	    errno == EAGAIN) {
		sb->spare_sock[0] = p->sock;
		sb->spare_sock[1] = p->sock_peer;
		sb->has_spare_sock = true;
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

void reuse_close(struct sandbox *sb)
{
	if (sb->has_spare_sock) {
		close(sb->spare_sock[0]);
		close(sb->spare_sock[1]);
		sb->has_spare_sock = false;
	}
	if (sb->has_spare_epfd)
		close(sb->spare_epfd);
	sb->has_spare_epfd = false;
}
