// SPDX-License-Identifier: MIT
/*
 * A TCP proxy on 127.0.0.1 that holds every chunk a client sends for DELAY
 * milliseconds before passing it to the upstream, so each request (and so
 * each response) comes DELAY later: a server DELAY away, without touching
 * the shared loopback device. Responses are relayed at once. One thread,
 * epoll; prints its port.
 *
 *   thesis-delay-proxy UPSTREAM_PORT DELAY_MS
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BUF (256u << 10)

struct chunk {
	struct chunk *next; /* the global queue, in deadline order */
	struct pair *p;
	uint64_t due;
	size_t len;
	char data[];
};

struct pair {
	int cfd, ufd;
	char *down;		/* upstream -> client bytes not yet written */
	size_t down_off, down_len;
	unsigned queued;	/* chunks of this pair in the queue */
	int closing;
	struct pair *next_dead;
};

static struct chunk *head, *tail;
static struct pair *dead; /* freed after the batch of events they may be in */
static int ep;

static uint64_t now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000 + (uint64_t)t.tv_nsec / 1000000;
}

static void pair_close(struct pair *p)
{
	if (p->closing)
		return;
	p->closing = 1;
	close(p->cfd);
	close(p->ufd);
	if (!p->queued) {
		p->next_dead = dead;
		dead = p;
	}
}

static void set_events(struct pair *p)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = p };

	/* While the client has not taken a response, read no more of it. */
	if (p->down_len) {
		struct epoll_event cv = { .events = EPOLLOUT | EPOLLIN,
					  .data.ptr = p };

		epoll_ctl(ep, EPOLL_CTL_MOD, p->cfd, &cv);
		epoll_ctl(ep, EPOLL_CTL_DEL, p->ufd, NULL);
	} else {
		epoll_ctl(ep, EPOLL_CTL_MOD, p->cfd, &ev);
		ev.data.ptr = (char *)p + 1; /* odd: the upstream side */
		if (epoll_ctl(ep, EPOLL_CTL_MOD, p->ufd, &ev) < 0)
			epoll_ctl(ep, EPOLL_CTL_ADD, p->ufd, &ev);
	}
}

static void flush_down(struct pair *p)
{
	while (p->down_len) {
		ssize_t w = write(p->cfd, p->down + p->down_off, p->down_len);

		if (w < 0 && errno == EAGAIN)
			break;
		if (w <= 0) {
			pair_close(p);
			return;
		}
		p->down_off += (size_t)w;
		p->down_len -= (size_t)w;
	}
	if (!p->down_len)
		p->down_off = 0;
	set_events(p);
}

static void from_upstream(struct pair *p)
{
	ssize_t r = read(p->ufd, p->down, BUF);

	if (r <= 0) {
		pair_close(p);
		return;
	}
	p->down_off = 0;
	p->down_len = (size_t)r;
	flush_down(p);
}

static void from_client(struct pair *p, uint64_t delay)
{
	char buf[16384];
	ssize_t r = read(p->cfd, buf, sizeof(buf));
	struct chunk *c;

	if (r < 0 && errno == EAGAIN)
		return;
	if (r <= 0) {
		pair_close(p);
		return;
	}
	c = malloc(sizeof(*c) + (size_t)r);
	if (!c)
		abort();
	memcpy(c->data, buf, (size_t)r);
	c->len = (size_t)r;
	c->p = p;
	c->due = now_ms() + delay;
	c->next = NULL;
	if (tail)
		tail->next = c;
	else
		head = c;
	tail = c;
	p->queued++;
}

static void release_due(void)
{
	uint64_t now = now_ms();

	while (head && head->due <= now) {
		struct chunk *c = head;
		struct pair *p = c->p;

		head = c->next;
		if (!head)
			tail = NULL;
		p->queued--;
		/* Requests are small: the upstream takes them at once. */
		if (!p->closing && write(p->ufd, c->data, c->len) != (ssize_t)c->len)
			pair_close(p);
		if (p->closing && !p->queued) {
			p->next_dead = dead;
			dead = p;
		}
		free(c);
	}
	while (dead) {
		struct pair *p = dead;

		dead = p->next_dead;
		free(p->down);
		free(p);
	}
}

int main(int argc, char **argv)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct sockaddr_in up = a;
	socklen_t alen = sizeof(a);
	uint64_t delay;
	int lfd, one = 1;

	if (argc != 3)
		return 2;
	up.sin_port = htons((uint16_t)atoi(argv[1]));
	delay = strtoull(argv[2], NULL, 10);
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(lfd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    listen(lfd, 4096) < 0 ||
	    getsockname(lfd, (struct sockaddr *)&a, &alen) < 0) {
		perror("thesis-delay-proxy");
		return 1;
	}
	printf("%u\n", ntohs(a.sin_port));
	fflush(stdout);
	ep = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event lev = { .events = EPOLLIN, .data.ptr = NULL };
	epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &lev);
	for (;;) {
		struct epoll_event evs[256];
		int timeout = -1, n;

		if (head) {
			uint64_t now = now_ms();

			timeout = head->due > now ? (int)(head->due - now) : 0;
		}
		n = epoll_wait(ep, evs, 256, timeout);
		for (int i = 0; i < n; i++) {
			uintptr_t v = (uintptr_t)evs[i].data.ptr;
			struct pair *p = (struct pair *)(v & ~(uintptr_t)1);

			if (!v) {
				int cfd;

				while ((cfd = accept4(lfd, NULL, NULL,
						      SOCK_NONBLOCK |
							      SOCK_CLOEXEC)) >= 0) {
					struct epoll_event ev = { .events = EPOLLIN };
					int ufd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

					setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
					setsockopt(ufd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
					if (connect(ufd, (struct sockaddr *)&up, sizeof(up)) < 0) {
						close(cfd);
						close(ufd);
						continue;
					}
					p = calloc(1, sizeof(*p));
					p->down = malloc(BUF);
					p->cfd = cfd;
					p->ufd = ufd;
					ev.data.ptr = p;
					epoll_ctl(ep, EPOLL_CTL_ADD, cfd, &ev);
					ev.data.ptr = (char *)p + 1;
					epoll_ctl(ep, EPOLL_CTL_ADD, ufd, &ev);
				}
				continue;
			}
			if (p->closing)
				continue;
			if (v & 1)
				from_upstream(p);
			else if (evs[i].events & EPOLLOUT)
				flush_down(p);
			else if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
				from_client(p, delay);
		}
		release_due();
	}
}
