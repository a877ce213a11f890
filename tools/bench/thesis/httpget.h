/* SPDX-License-Identifier: MIT */
/* A blocking HTTP/1.1 GET on a kept-alive connection, for the contenders
 * that do their own I/O (Content-Length bodies only: nginx's static files),
 * and the loop of threads that fetch the logs with it (threads.c, the
 * rig's check rigcheck.c). */
#ifndef THESIS_HTTPGET_H
#define THESIS_HTTPGET_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int http_connect(unsigned port)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_port = htons((uint16_t)port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int one = 1, fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* GET path on fd; the body in *buf (grown as needed), its length returned;
 * -1 on any error or a status other than 200. */
static long http_get(int fd, const char *path, char **buf, size_t *cap)
{
	char req[512];
	size_t have = 0, head = 0, want;
	int n = snprintf(req, sizeof(req),
			 "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", path);
	const char *cl;
	char *end;

	if (write(fd, req, (size_t)n) != n)
		return -1;
	for (;;) {
		ssize_t r;

		if (*cap - have < 65536) {
			*cap = *cap * 2 + 65536;
			*buf = realloc(*buf, *cap + 1);
			if (!*buf)
				return -1;
		}
		r = read(fd, *buf + have, *cap - have);
		if (r <= 0)
			return -1;
		have += (size_t)r;
		(*buf)[have] = '\0';
		if (!head) {
			end = strstr(*buf, "\r\n\r\n");
			if (!end)
				continue;
			head = (size_t)(end - *buf) + 4;
			if (strncmp(*buf, "HTTP/1.1 200", 12))
				return -1;
			cl = strcasestr(*buf, "\r\nContent-Length:");
			if (!cl || cl > end)
				return -1;
			want = strtoul(cl + 17, NULL, 10);
		}
		if (head && have >= head + want)
			break;
	}
	memmove(*buf, *buf + head, want);
	return (long)want;
}

static inline double http_now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* What each log fetched is given to: its number, its name ("00042.log"),
 * its body and the request's round trip in seconds; nonzero stops the
 * thread and fails the fetch. */
typedef int http_log_fn(size_t i, const char *name, const char *body,
			size_t len, double secs);

struct http_fetch {
	unsigned port;
	size_t n_logs;
	http_log_fn *each;
	atomic_size_t next;
	atomic_int failed;
};

static inline void *http_fetch_thread(void *arg)
{
	struct http_fetch *f = arg;
	char *body = NULL, path[64], name[32];
	size_t cap = 0;
	int fd = http_connect(f->port);

	if (fd < 0) {
		f->failed = 1;
		return NULL;
	}
	for (;;) {
		size_t i = atomic_fetch_add(&f->next, 1);
		double t0;
		long len;

		if (i >= f->n_logs)
			break;
		snprintf(name, sizeof(name), "%05zu.log", i);
		snprintf(path, sizeof(path), "/logs/%s", name);
		t0 = http_now();
		len = http_get(fd, path, &body, &cap);
		if (len < 0 ||
		    f->each(i, name, body, (size_t)len, http_now() - t0)) {
			f->failed = 1;
			break;
		}
	}
	close(fd);
	free(body);
	return NULL;
}

/* GET /logs/00000.log ... n_logs-1 from 127.0.0.1:port on `threads`
 * kept-alive connections, a thread each, every log taken by the next thread
 * free; each() for every body. 0, or -1 when a request or each() failed. */
static inline int http_fetch_logs(unsigned port, size_t n_logs,
				  unsigned threads, http_log_fn *each)
{
	struct http_fetch f = { .port = port, .n_logs = n_logs, .each = each };
	pthread_t *t = calloc(threads + 1, sizeof(*t));

	if (!t)
		return -1;
	for (unsigned i = 0; i < threads; i++)
		pthread_create(&t[i], NULL, http_fetch_thread, &f);
	for (unsigned i = 0; i < threads; i++)
		pthread_join(t[i], NULL);
	free(t);
	return f.failed ? -1 : 0;
}

#endif
