/* SPDX-License-Identifier: MIT */
/*
 * The small HTTP/1.1 subset pithd speaks: one request per connection
 * (answers say "Connection: close"), bodies sized by Content-Length only.
 * Parsing is separate from I/O so that tests can feed it any bytes.
 */
#ifndef PITH_DAEMON_HTTP_H
#define PITH_DAEMON_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#define HTTP_HEAD_MAX 16384

struct http_request {
	char method[16];
	char path[1024];   /* without the query */
	char query[1024];  /* after '?', or "" */
	size_t head_len;   /* bytes up to and including the blank line */
	size_t content_length;
	bool has_body;
};

/*
 * Parse the head of a request from buf[0..len). Returns 1 with `req` filled
 * when the head is complete, 0 when more bytes are needed, or an HTTP
 * status for a request to refuse (400, 411 chunked bodies, 413 head too
 * large, 501 unknown transfer coding, 505 version).
 */
int http_parse_head(const char *buf, size_t len, struct http_request *req);

/* The value of `key` in a query string "a=1&b=2" into val; false if absent. */
bool http_query_get(const char *query, const char *key, char *val,
		    size_t size);

const char *http_reason(int status);

#endif
