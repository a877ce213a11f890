/* SPDX-License-Identifier: MIT */
/*
 * HTTP/1.1 text handling for the http I/O function: requests written by
 * users (as item bytes) and responses from servers that may be hostile.
 * Pure functions on memory, no I/O.
 */
#ifndef PITH_IOFUNCS_HTTP_PARSE_H
#define PITH_IOFUNCS_HTTP_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/err.h"

#define HTTP_MAX_HEADERS 100
#define HTTP_MAX_INTERIM 8	/* 1xx responses skipped before the final one */

struct http_request {
	char method[16];
	char host[256];		/* as written: name, IPv4, or IPv6 without [] */
	uint16_t port;
	bool head;		/* HEAD: the response has no body */
	bool close;		/* the user asked for Connection: close */
	char *wire;		/* the bytes to send */
	size_t wire_len;
};

/*
 * Parse "GET http://host:port/path HTTP/1.1", header lines, an empty line
 * and a body, and build the request to send: origin-form target, a Host
 * header unless given, Content-Length for a body. Messages say what is
 * wrong, e.g. "https is not supported (plain http:// only)".
 */
int http_request_parse(const void *data, size_t len, struct http_request *ret,
		       struct err *e);
void http_request_done(struct http_request *r);

/* What the header block of a response says. */
struct http_head {
	size_t len;		/* bytes of status line + headers + empty line */
	int status;
	bool http10;
	bool chunked;
	bool has_length;
	uint64_t length;	/* Content-Length */
	bool keep_alive;	/* the connection may carry another request */
};

/*
 * Look for a complete header block at the start of buf. Returns 1 and
 * fills *h when found, 0 when more bytes are needed, -EBADMSG/-E2BIG with a
 * message for a malformed or oversized block (max: bytes allowed).
 */
int http_head_parse(const char *buf, size_t len, size_t max,
		    struct http_head *h, struct err *e);

/* Does a response with this status to this request carry a body? */
bool http_has_body(const struct http_head *h, bool head_request);

/* Incremental chunked-body decoder. */
struct http_chunked {
	int state;
	uint64_t left;		/* bytes left in the current chunk */
	unsigned digits;
	size_t line;		/* bytes of the current size/trailer line */
	size_t trailer;		/* bytes of trailers so far */
	uint64_t total;		/* decoded body bytes */
};

/*
 * Decode in[0..len): data bytes are passed to out(data, ptr, n) (which
 * returns 0 or -errno). *consumed gets the bytes used. Returns 1 at the end
 * of the body (bytes after it are not consumed), 0 when more input is
 * needed, -EBADMSG/-E2BIG with a message, or out()'s error.
 */
int http_chunked_feed(struct http_chunked *c, const char *in, size_t len,
		      size_t *consumed, uint64_t max_body, uint64_t max_trailer,
		      int (*out)(void *data, const char *p, size_t n),
		      void *data, struct err *e);

#endif
