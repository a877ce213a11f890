// SPDX-License-Identifier: MIT
/* Host names to addresses without DNS: numeric hosts and /etc/hosts. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "iofuncs/hosts.h"
#include "lib/array.h"
#include "lib/macro.h"

#define HOSTS_MAX_BYTES (4 << 20) /* parsed; the rest is ignored */

struct hosts_entry {
	char *name;
	int family;
	union {
		struct in_addr v4;
		struct in6_addr v6;
	} addr;
};

struct hosts {
	char *path;
	struct hosts_entry *v;
	size_t n, cap;
};

struct hosts *hosts_free(struct hosts *h)
{
	if (!h)
		return NULL;
	for (size_t i = 0; i < h->n; i++)
		free(h->v[i].name);
	free(h->v);
	free(h->path);
	free(h);
	return NULL;
}

static int add(struct hosts *h, const char *name, int family,
	       const void *addr)
{
	struct hosts_entry *en;

	if (ARRAY_GROW(h->v, h->cap, h->n, 16) < 0)
		return -ENOMEM;
	en = &h->v[h->n];
	en->name = strdup(name);
	if (!en->name)
		return -ENOMEM;
	en->family = family;
	memcpy(&en->addr, addr,
	       family == AF_INET ? sizeof(struct in_addr) :
				   sizeof(struct in6_addr));
	h->n++;
	return 0;
}

static int parse_line(struct hosts *h, char *line)
{
	char *save = NULL, *tok, *hash = strchr(line, '#');
	union {
		struct in_addr v4;
		struct in6_addr v6;
	} a;
	int family;

	if (hash)
		*hash = '\0';
	tok = strtok_r(line, " \t\r", &save);
	if (!tok)
		return 0;
	if (inet_pton(AF_INET, tok, &a.v4) == 1)
		family = AF_INET;
	else if (inet_pton(AF_INET6, tok, &a.v6) == 1)
		family = AF_INET6;
	else
		return 0; /* not an address: skip the line, as glibc does */
	while ((tok = strtok_r(NULL, " \t\r", &save))) {
		int r = add(h, tok, family, &a);

		if (r < 0)
			return r;
	}
	return 0;
}

int hosts_parse(const char *path, const char *text, size_t len,
		struct hosts **ret, struct err *e)
{
	_cleanup_free_ char *copy = NULL;
	struct hosts *h;
	char *line, *save = NULL;
	int r = 0;

	len = MIN(len, (size_t)HOSTS_MAX_BYTES);
	h = calloc(1, sizeof(*h));
	copy = malloc(len + 1);
	if (!h || !copy || !(h->path = strdup(path))) {
		hosts_free(h);
		return err_set(e, ENOMEM, "out of memory");
	}
	memcpy(copy, text, len);
	copy[len] = '\0';
	for (line = strtok_r(copy, "\n", &save); line && r >= 0;
	     line = strtok_r(NULL, "\n", &save))
		r = parse_line(h, line);
	if (r < 0) {
		hosts_free(h);
		return err_set(e, -r, "out of memory");
	}
	*ret = h;
	return 0;
}

int hosts_resolve(const struct hosts *h, const char *name, uint16_t port,
		  struct sockaddr_storage *ret, socklen_t *ret_len,
		  struct err *e)
{
	struct sockaddr_in *s4 = (struct sockaddr_in *)ret;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ret;
	const struct hosts_entry *en = NULL;

	memset(ret, 0, sizeof(*ret));
	if (inet_pton(AF_INET, name, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons(port);
		*ret_len = sizeof(*s4);
		return 0;
	}
	if (inet_pton(AF_INET6, name, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(port);
		*ret_len = sizeof(*s6);
		return 0;
	}
	for (size_t i = 0; h && i < h->n && !en; i++)
		if (!strcasecmp(h->v[i].name, name))
			en = &h->v[i];
	if (!en)
		return err_set(e, ENOENT,
			       "cannot resolve '%s': not in %s (pith does no DNS)",
			       name, h ? h->path : "/etc/hosts");
	if (en->family == AF_INET) {
		s4->sin_family = AF_INET;
		s4->sin_addr = en->addr.v4;
		s4->sin_port = htons(port);
		*ret_len = sizeof(*s4);
	} else {
		s6->sin6_family = AF_INET6;
		s6->sin6_addr = en->addr.v6;
		s6->sin6_port = htons(port);
		*ret_len = sizeof(*s6);
	}
	return 0;
}
