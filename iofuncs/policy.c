// SPDX-License-Identifier: MIT
/* Policy keys of I/O stages, and deny-by-default for internal addresses. */
#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "iofuncs/policy.h"
#include "lib/array.h"
#include "lib/hostport.h"
#include "lib/macro.h"

int iofuncs_check_policy(const char *io, const char *key, struct err *e)
{
	if (!strcmp(io, "http") || !strcmp(key, "concurrency"))
		return 0;
	if (!strcmp(key, "retries") || !strcmp(key, "backoff"))
		return err_set(e, EINVAL,
			       "%s takes no \"%s\" (only http retries requests)",
			       io, key);
	return err_set(e, EINVAL,
		       "%s takes no \"%s\" (only http has a per-request \"timeout\")",
		       io, key);
}

struct range4 {
	uint32_t net, mask;
	const char *what;
};

/* Special-purpose IPv4 ranges (RFC 6890) that reach this host, its
 * network or nothing public. */
static const struct range4 ranges4[] = {
	{ 0x00000000, 0xff000000, "a 'this network' address (0.0.0.0/8)" },
	{ 0x0a000000, 0xff000000, "a private address (10.0.0.0/8)" },
	{ 0x64400000, 0xffc00000, "a shared address (100.64.0.0/10)" },
	{ 0x7f000000, 0xff000000, "a loopback address (127.0.0.0/8)" },
	{ 0xa9fe0000, 0xffff0000, "a link-local address (169.254.0.0/16)" },
	{ 0xac100000, 0xfff00000, "a private address (172.16.0.0/12)" },
	{ 0xc0000000, 0xffffff00, "an IETF protocol address (192.0.0.0/24)" },
	{ 0xc0a80000, 0xffff0000, "a private address (192.168.0.0/16)" },
	{ 0xc6120000, 0xfffe0000, "a benchmarking address (198.18.0.0/15)" },
	{ 0xe0000000, 0xf0000000, "a multicast address (224.0.0.0/4)" },
	{ 0xf0000000, 0xf0000000, "a reserved address (240.0.0.0/4)" },
};

static bool internal4(uint32_t a, const char **ret_what)
{
	for (size_t i = 0; i < ARRAY_SIZE(ranges4); i++)
		if ((a & ranges4[i].mask) == ranges4[i].net) {
			*ret_what = ranges4[i].what;
			return true;
		}
	return false;
}

static bool internal6(const struct in6_addr *a, const char **ret_what)
{
	const uint8_t *b = a->s6_addr;
	static const uint8_t nat64[12] = { 0x00, 0x64, 0xff, 0x9b };
	static const uint8_t zero[10] = {};
	uint32_t v4;

	if (IN6_IS_ADDR_LOOPBACK(a)) {
		*ret_what = "a loopback address (::1)";
		return true;
	}
	if (IN6_IS_ADDR_UNSPECIFIED(a)) {
		*ret_what = "the unspecified address (::)";
		return true;
	}
	/* ::ffff:a.b.c.d, ::a.b.c.d, 64:ff9b::a.b.c.d carry an IPv4 address */
	if (IN6_IS_ADDR_V4MAPPED(a) || IN6_IS_ADDR_V4COMPAT(a) ||
	    !memcmp(b, nat64, sizeof(nat64)) ||
	    (!memcmp(b, zero, sizeof(zero)) && b[10] == 0 && b[11] == 0)) {
		memcpy(&v4, b + 12, 4);
		return internal4(ntohl(v4), ret_what);
	}
	if ((b[0] & 0xfe) == 0xfc) {
		*ret_what = "a unique local address (fc00::/7)";
		return true;
	}
	if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80) {
		*ret_what = "a link-local address (fe80::/10)";
		return true;
	}
	if (b[0] == 0xfe && (b[1] & 0xc0) == 0xc0) {
		*ret_what = "a site-local address (fec0::/10)";
		return true;
	}
	if (b[0] == 0xff) {
		*ret_what = "a multicast address (ff00::/8)";
		return true;
	}
	if (b[0] == 0x20 && b[1] == 0x02) {
		/* 6to4: 2002:a.b.c.d::/48 */
		memcpy(&v4, b + 2, 4);
		return internal4(ntohl(v4), ret_what);
	}
	return false;
}

bool netaddr_internal(const struct sockaddr *sa, const char **ret_what)
{
	const char *what = NULL;
	bool r = false;

	if (sa->sa_family == AF_INET)
		r = internal4(ntohl(((const struct sockaddr_in *)sa)
					    ->sin_addr.s_addr),
			      &what);
	else if (sa->sa_family == AF_INET6)
		r = internal6(&((const struct sockaddr_in6 *)sa)->sin6_addr,
			      &what);
	else {
		what = "not an IP address";
		r = true;
	}
	if (ret_what)
		*ret_what = what;
	return r;
}

struct allow {
	char host[HOSTPORT_HOST_MAX];
	uint16_t port; /* 0: any */
};

struct own {
	int family;
	uint8_t a[16];
};

struct netpolicy {
	struct allow *allow;
	size_t n_allow;
	struct own *own;	/* this host's addresses */
	size_t n_own, cap_own;
};

struct netpolicy *netpolicy_free(struct netpolicy *p)
{
	if (!p)
		return NULL;
	free(p->allow);
	free(p->own);
	free(p);
	return NULL;
}

DEFINE_TRIVIAL_CLEANUP_FUNC(struct netpolicy *, netpolicy_free);

/* The address bytes of sa: 4 or 16, 0 for another family. */
static size_t addr_bytes(const struct sockaddr *sa, const uint8_t **ret)
{
	if (sa->sa_family == AF_INET) {
		*ret = (const uint8_t *)&((const struct sockaddr_in *)sa)
			       ->sin_addr;
		return 4;
	}
	if (sa->sa_family == AF_INET6) {
		*ret = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
		return 16;
	}
	return 0;
}

int netpolicy_new(const char *const *allow, size_t n_allow,
		  struct netpolicy **ret, struct err *e)
{
	_cleanup_(netpolicy_freep) struct netpolicy *p = NULL;
	struct ifaddrs *ifa = NULL;

	p = calloc(1, sizeof(*p));
	if (!p)
		return err_set(e, ENOMEM, "out of memory");
	p->allow = calloc(n_allow ? n_allow : 1, sizeof(*p->allow));
	if (!p->allow)
		return err_set(e, ENOMEM, "out of memory");
	for (size_t i = 0; i < n_allow; i++) {
		const char *why = hostport_parse(allow[i], strlen(allow[i]),
						 p->allow[i].host,
						 &p->allow[i].port);

		if (why)
			return err_set(e, EINVAL,
				       "allowed host '%.100s': %s", allow[i],
				       why);
	}
	p->n_allow = n_allow;
	/* A public address of this host reaches its local services too. */
	if (getifaddrs(&ifa) == 0) {
		for (struct ifaddrs *i = ifa; i; i = i->ifa_next) {
			const uint8_t *b;
			size_t n;

			if (!i->ifa_addr)
				continue;
			n = addr_bytes(i->ifa_addr, &b);
			if (!n)
				continue;
			if (ARRAY_GROW(p->own, p->cap_own, p->n_own, 8) < 0) {
				freeifaddrs(ifa);
				return err_set(e, ENOMEM, "out of memory");
			}
			p->own[p->n_own].family = i->ifa_addr->sa_family;
			memset(p->own[p->n_own].a, 0, 16);
			memcpy(p->own[p->n_own].a, b, n);
			p->n_own++;
		}
		freeifaddrs(ifa);
	} else {
		return err_errno(e, errno, "cannot list this host's addresses");
	}
	*ret = TAKE_PTR(p);
	return 0;
}

static bool is_own(const struct netpolicy *p, const struct sockaddr *sa)
{
	const uint8_t *b;
	size_t n = addr_bytes(sa, &b);

	for (size_t i = 0; n && i < p->n_own; i++)
		if (p->own[i].family == sa->sa_family &&
		    !memcmp(p->own[i].a, b, n))
			return true;
	return false;
}

static bool allowed(const struct netpolicy *p, const char *host,
		    uint16_t port, const struct sockaddr *sa)
{
	char addr[INET6_ADDRSTRLEN] = "";
	const uint8_t *b;
	size_t n = addr_bytes(sa, &b);

	if (n)
		inet_ntop(sa->sa_family, b, addr, sizeof(addr));
	for (size_t i = 0; i < p->n_allow; i++) {
		const struct allow *a = &p->allow[i];
		uint8_t ab[16];

		if (a->port && a->port != port)
			continue;
		/* The name as written in the URL, or the address itself. */
		if (!strcasecmp(a->host, host))
			return true;
		if (n && inet_pton(sa->sa_family, a->host, ab) == 1 &&
		    !memcmp(ab, b, n))
			return true;
	}
	return false;
}

int netpolicy_check(const struct netpolicy *p, const char *host,
		    uint16_t port, const struct sockaddr *sa, struct err *e)
{
	char addr[INET6_ADDRSTRLEN] = "?", hp[300];
	const char *what = NULL;
	const uint8_t *b;
	size_t n = addr_bytes(sa, &b);
	bool v6 = strchr(host, ':') != NULL;

	if (!netaddr_internal(sa, &what)) {
		if (!is_own(p, sa))
			return 0;
		what = "an address of this host";
	}
	if (allowed(p, host, port, sa))
		return 0;
	if (n)
		inet_ntop(sa->sa_family, b, addr, sizeof(addr));
	snprintf(hp, sizeof(hp), "%s%s%s:%u", v6 ? "[" : "", host,
		 v6 ? "]" : "", port);
	return err_set(e, EACCES,
		       "%s: refused: %s is %s; internal addresses need \"allow_hosts\": [\"%s\"] in the job or --allow-host %s",
		       hp, addr, what, hp, hp);
}
