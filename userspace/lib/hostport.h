/* SPDX-License-Identifier: MIT */
/*
 * "host[:port]" as written in a job's "allow_hosts" and on pith's command
 * line: a host name, an IPv4 literal, or an IPv6 literal (bracketed when a
 * port follows), then an optional port.
 */
#ifndef PITH_LIB_HOSTPORT_H
#define PITH_LIB_HOSTPORT_H

#include <stddef.h>
#include <stdint.h>

#define HOSTPORT_HOST_MAX 256	/* with the NUL */

/*
 * Parse s[0..len). On success *ret_port is the port, 0 when none was
 * given (any port), and ret_host (HOSTPORT_HOST_MAX bytes) the host without
 * brackets, lower-cased. Returns NULL, or why it is not a host[:port].
 */
const char *hostport_parse(const char *s, size_t len, char *ret_host,
			   uint16_t *ret_port);

#endif
