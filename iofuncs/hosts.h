/* SPDX-License-Identifier: MIT */
/* Host names to addresses without DNS: numeric hosts and /etc/hosts. */
#ifndef PITH_IOFUNCS_HOSTS_H
#define PITH_IOFUNCS_HOSTS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "lib/err.h"

struct hosts;

/* Parse the text of a hosts(5) file (`path` names it in messages); parsing
 * stops at a NUL byte or after 4 MiB. */
int hosts_parse(const char *path, const char *text, size_t len,
		struct hosts **ret, struct err *e);
struct hosts *hosts_free(struct hosts *h); /* NULL-safe */

/*
 * IPv4 and IPv6 literals first, then the first line of the table naming
 * `name` (case-insensitive). -ENOENT with "cannot resolve 'x': not in
 * /etc/hosts (pith does no DNS)".
 */
int hosts_resolve(const struct hosts *h, const char *name, uint16_t port,
		  struct sockaddr_storage *ret, socklen_t *ret_len,
		  struct err *e);

#endif
