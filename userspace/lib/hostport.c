// SPDX-License-Identifier: MIT
/* Parsing "host[:port]" for allow lists of HTTP destinations. */
#include <arpa/inet.h>
#include <ctype.h>
#include <string.h>

#include "lib/hostport.h"

static const char *port_parse(const char *p, size_t n, uint16_t *ret)
{
	unsigned long v = 0;

	if (!n || n > 5)
		return "bad port (want 1 to 65535)";
	for (size_t i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return "bad port (want 1 to 65535)";
		v = v * 10 + (unsigned long)(p[i] - '0');
	}
	if (v < 1 || v > 65535)
		return "bad port (want 1 to 65535)";
	*ret = (uint16_t)v;
	return NULL;
}

const char *hostport_parse(const char *s, size_t len, char *ret_host,
			   uint16_t *ret_port)
{
	const char *host = s, *colon;
	size_t hl;
	struct in6_addr a6;

	*ret_port = 0;
	if (!len)
		return "empty host";
	if (memchr(s, '\0', len))
		return "NUL byte in the host";
	if (s[0] == '[') {
		const char *close = memchr(s, ']', len);

		if (!close)
			return "unterminated '[' (write [v6] or [v6]:port)";
		host = s + 1;
		hl = (size_t)(close - host);
		if (close + 1 < s + len) {
			if (close[1] != ':')
				return "expected ':port' after ']'";
			if (port_parse(close + 2, (size_t)(s + len - close - 2),
				       ret_port))
				return "bad port (want 1 to 65535)";
		}
		if (hl >= HOSTPORT_HOST_MAX)
			return "host too long";
		memcpy(ret_host, host, hl);
		ret_host[hl] = '\0';
		if (inet_pton(AF_INET6, ret_host, &a6) != 1)
			return "not an IPv6 address between '[' and ']'";
		goto lower;
	}
	colon = memchr(s, ':', len);
	if (colon && memchr(colon + 1, ':', (size_t)(s + len - colon - 1))) {
		/* Several colons: an IPv6 literal without a port. */
		if (len >= HOSTPORT_HOST_MAX)
			return "host too long";
		memcpy(ret_host, s, len);
		ret_host[len] = '\0';
		if (inet_pton(AF_INET6, ret_host, &a6) != 1)
			return "not an IPv6 address (write [v6]:port with a port)";
		goto lower;
	}
	hl = colon ? (size_t)(colon - s) : len;
	if (colon && port_parse(colon + 1, (size_t)(s + len - colon - 1),
				ret_port))
		return "bad port (want 1 to 65535)";
	if (!hl)
		return "empty host";
	if (hl >= HOSTPORT_HOST_MAX)
		return "host too long";
	for (size_t i = 0; i < hl; i++)
		if (!isalnum((unsigned char)s[i]) && !strchr("-._", s[i]))
			return "bad character in the host (letters, digits, '-', '.', '_')";
	memcpy(ret_host, s, hl);
	ret_host[hl] = '\0';
lower:
	for (char *c = ret_host; *c; c++)
		*c = (char)tolower((unsigned char)*c);
	return NULL;
}
