/* SPDX-License-Identifier: MIT */
/* A blocking HTTP/1.1 GET on a kept-alive connection, for the contenders
 * that do their own I/O (Content-Length bodies only: nginx's static files). */
#ifndef THESIS_HTTPGET_H
#define THESIS_HTTPGET_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
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

#endif
