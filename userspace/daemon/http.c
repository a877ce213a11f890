// SPDX-License-Identifier: MIT
/* The HTTP/1.1 subset of pithd: request heads in, status lines out. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "daemon/http.h"

static const char *find_crlf(const char *p, const char *end)
{
	for (; p + 1 < end; p++)
		if (p[0] == '\r' && p[1] == '\n')
			return p;
	return NULL;
}

static bool token_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	       (c >= '0' && c <= '9') || strchr("!#$%&'*+-.^_`|~", c);
}

int http_parse_head(const char *buf, size_t len, struct http_request *req)
{
	const char *end = buf + len, *p = buf, *eol, *sp1, *sp2;
	bool have_length = false;

	*req = (struct http_request){};
	/* Find the blank line first: nothing is decided on a partial head. */
	for (const char *q = buf; q + 3 < end; q++)
		if (!memcmp(q, "\r\n\r\n", 4)) {
			req->head_len = (size_t)(q + 4 - buf);
			break;
		}
	if (!req->head_len)
		return len >= HTTP_HEAD_MAX ? 413 : 0;
	if (req->head_len > HTTP_HEAD_MAX)
		return 413;
	end = buf + req->head_len - 2;

	eol = find_crlf(p, end);
	sp1 = memchr(p, ' ', (size_t)(eol - p));
	if (!sp1 || sp1 == p || (size_t)(sp1 - p) >= sizeof(req->method))
		return 400;
	sp2 = memchr(sp1 + 1, ' ', (size_t)(eol - sp1 - 1));
	if (!sp2 || sp2 == sp1 + 1 || sp2[1 + 0] == 0)
		return 400;
	for (const char *q = p; q < sp1; q++)
		if (!token_char(*q))
			return 400;
	memcpy(req->method, p, (size_t)(sp1 - p));
	if ((size_t)(eol - sp2 - 1) != 8 || memcmp(sp2 + 1, "HTTP/1.", 7))
		return eol - sp2 - 1 >= 5 && !memcmp(sp2 + 1, "HTTP/", 5) ?
			       505 :
			       400;
	{
		const char *target = sp1 + 1, *qm;
		size_t tlen = (size_t)(sp2 - target), plen;

		if (target[0] != '/')
			return 400;
		qm = memchr(target, '?', tlen);
		plen = qm ? (size_t)(qm - target) : tlen;
		if (plen >= sizeof(req->path) ||
		    (qm && tlen - plen - 1 >= sizeof(req->query)))
			return 400;
		memcpy(req->path, target, plen);
		if (qm)
			memcpy(req->query, qm + 1, tlen - plen - 1);
		for (size_t i = 0; i < tlen; i++)
			if ((unsigned char)target[i] <= ' ' ||
			    (unsigned char)target[i] >= 0x7f)
				return 400;
	}

	for (p = eol + 2; p < end; p = eol + 2) {
		const char *colon, *v, *ve;

		eol = find_crlf(p, end + 2);
		if (!eol)
			return 400;
		colon = memchr(p, ':', (size_t)(eol - p));
		if (!colon || colon == p)
			return 400;
		for (const char *q = p; q < colon; q++)
			if (!token_char(*q))
				return 400;
		for (v = colon + 1; v < eol && (*v == ' ' || *v == '\t'); v++)
			;
		for (ve = eol; ve > v && (ve[-1] == ' ' || ve[-1] == '\t');
		     ve--)
			;
		if ((size_t)(colon - p) == 14 &&
		    !strncasecmp(p, "Content-Length", 14)) {
			size_t n = 0;

			if (v == ve || have_length)
				return 400;
			for (const char *q = v; q < ve; q++) {
				if (*q < '0' || *q > '9' ||
				    n > (((size_t)-1) - 9) / 10)
					return 400;
				n = n * 10 + (size_t)(*q - '0');
			}
			req->content_length = n;
			have_length = true;
		} else if ((size_t)(colon - p) == 17 &&
			   !strncasecmp(p, "Transfer-Encoding", 17)) {
			return (size_t)(ve - v) == 7 &&
					       !strncasecmp(v, "chunked", 7) ?
				       411 :
				       501;
		}
	}
	req->has_body = have_length && req->content_length > 0;
	return 1;
}

bool http_query_get(const char *query, const char *key, char *val,
		    size_t size)
{
	size_t klen = strlen(key);

	for (const char *p = query; p && *p;) {
		const char *amp = strchr(p, '&');
		size_t n = amp ? (size_t)(amp - p) : strlen(p);

		if (n > klen && !strncmp(p, key, klen) && p[klen] == '=') {
			snprintf(val, size, "%.*s", (int)(n - klen - 1),
				 p + klen + 1);
			return true;
		}
		if (n == klen && !strncmp(p, key, klen)) {
			snprintf(val, size, "%s", "");
			return true;
		}
		p = amp ? amp + 1 : NULL;
	}
	return false;
}

const char *http_reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 201: return "Created";
	case 202: return "Accepted";
	case 400: return "Bad Request";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 409: return "Conflict";
	case 410: return "Gone";
	case 411: return "Length Required";
	case 413: return "Content Too Large";
	case 422: return "Unprocessable Content";
	case 429: return "Too Many Requests";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 503: return "Service Unavailable";
	case 505: return "HTTP Version Not Supported";
	default: return "Unknown";
	}
}
