/* SPDX-License-Identifier: MIT */
/*
 * The I/O policy of a stage: which policy keys each I/O function takes, and
 * where outbound HTTP may go (internal addresses are refused unless the job
 * or the command line allows them by host[:port]).
 */
#ifndef PITH_IOFUNCS_POLICY_H
#define PITH_IOFUNCS_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "lib/err.h"

/* The job validator's job_io_policy_check_fn: http takes "concurrency",
 * "retries", "timeout" and "backoff"; file.read and file.write only
 * "concurrency". */
int iofuncs_check_policy(const char *io, const char *key, struct err *e);

/* Is `sa` an internal address by its range alone? Then *ret_what says
 * which ("a loopback address", "a private address", ...). IPv4-mapped,
 * -compatible and NAT64 IPv6 addresses are judged by the IPv4 address they
 * carry. */
bool netaddr_internal(const struct sockaddr *sa, const char **ret_what);

struct netpolicy;

/* The allow list (entries as hostport_parse() takes them, checked again
 * here) and this host's own addresses (getifaddrs), read now. */
int netpolicy_new(const char *const *allow, size_t n_allow,
		  struct netpolicy **ret, struct err *e);
struct netpolicy *netpolicy_free(struct netpolicy *p); /* NULL-safe */

/*
 * May a connection to `sa` (resolved from `host`, as written in the URL,
 * and `port`) be made? 0, or -EACCES with a message naming the address,
 * why it is internal, and how to allow it.
 */
int netpolicy_check(const struct netpolicy *p, const char *host,
		    uint16_t port, const struct sockaddr *sa, struct err *e);

#endif
