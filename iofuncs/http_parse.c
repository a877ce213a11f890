// SPDX-License-Identifier: MIT
/* HTTP/1.1 requests from items and responses from untrusted servers. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "iofuncs/http_parse.h"
#include "lib/macro.h"

/* RFC 9110 tchar */
static bool is_tchar(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || strchr("!#$%&'*+-.^_`|~", c);
}

static bool is_token(const char *s, size_t n)
{
	if (!n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!is_tchar((unsigned char)s[i]) || !s[i])
			return false;
	return true;
}

/* Field values: visible characters, spaces and tabs, obs-text. */
static bool is_field_value(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return false;
	}
	return true;
}

/* One line of [p, end): its length without the line end, and where the
 * next line starts. false when there is no line end. */
static bool next_line(const char *p, const char *end, size_t *ret_len,
		      const char **ret_next)
{
	const char *nl = memchr(p, '\n', (size_t)(end - p));
	size_t n;

	if (!nl)
		return false;
	n = (size_t)(nl - p);
	if (n && p[n - 1] == '\r')
		n--;
	*ret_len = n;
	*ret_next = nl + 1;
	return true;
}

static void trim(const char **s, size_t *n)
{
	while (*n && (**s == ' ' || **s == '\t'))
		(*s)++, (*n)--;
	while (*n && ((*s)[*n - 1] == ' ' || (*s)[*n - 1] == '\t'))
		(*n)--;
}

static bool parse_u64(const char *s, size_t n, uint64_t *ret)
{
	uint64_t v = 0;

	if (!n || n > 19)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	*ret = v;
	return true;
}

struct wbuf {
	char *p;
	size_t len, cap;
	bool oom;
};

static void wput(struct wbuf *w, const char *s, size_t n)
{
	if (w->oom)
		return;
	if (w->len + n + 1 > w->cap) {
		size_t cap = MAX(w->cap * 2, w->len + n + 256);
		char *np = realloc(w->p, cap);

		if (!np) {
			w->oom = true;
			return;
		}
		w->p = np;
		w->cap = cap;
	}
	memcpy(w->p + w->len, s, n);
	w->len += n;
	w->p[w->len] = '\0';
}

static void wputs(struct wbuf *w, const char *s)
{
	wput(w, s, strlen(s));
}

static int parse_authority(const char *a, size_t n, struct http_request *r,
			   struct err *e)
{
	const char *port = NULL;
	size_t hl;
	uint64_t pv = 80;

	if (memchr(a, '@', n))
		return err_set(e, EINVAL,
			       "user names in URLs are not supported");
	if (n && a[0] == '[') {
		const char *close = memchr(a, ']', n);

		if (!close)
			return err_set(e, EINVAL, "unterminated '[' in the URL's host");
		hl = (size_t)(close - a - 1);
		if (hl >= sizeof(r->host))
			return err_set(e, EINVAL, "host name too long");
		memcpy(r->host, a + 1, hl);
		r->host[hl] = '\0';
		if (close + 1 < a + n) {
			if (close[1] != ':')
				return err_set(e, EINVAL, "bad URL authority");
			port = close + 2;
		}
	} else {
		const char *colon = memchr(a, ':', n);

		hl = colon ? (size_t)(colon - a) : n;
		if (hl >= sizeof(r->host))
			return err_set(e, EINVAL, "host name too long");
		memcpy(r->host, a, hl);
		r->host[hl] = '\0';
		if (colon)
			port = colon + 1;
	}
	if (!r->host[0])
		return err_set(e, EINVAL, "the URL has no host");
	for (const char *c = r->host; *c; c++)
		if (!(is_tchar((unsigned char)*c) || *c == ':'))
			return err_set(e, EINVAL, "bad character in the URL's host");
	if (port && (!parse_u64(port, (size_t)(a + n - port), &pv) || pv == 0 ||
		     pv > 65535))
		return err_set(e, EINVAL, "bad port in the URL");
	r->port = (uint16_t)pv;
	return 0;
}

int http_request_parse(const void *data, size_t len, struct http_request *ret,
		       struct err *e)
{
	const char *p = data, *end = p + len, *next, *sp1, *sp2, *url, *auth;
	struct wbuf w = {};
	struct http_request r = {};
	bool has_host = false, has_length = false;
	uint64_t length = 0;
	size_t n, mlen, ulen;
	int rc;

	/* NUL bytes are refused in the head by the checks of each part, and
	 * allowed in the body. */
	if (!next_line(p, end, &n, &next))
		return err_set(e, EINVAL,
			       "the request has no line end after its request line");
	sp1 = memchr(p, ' ', n);
	sp2 = sp1 ? memchr(sp1 + 1, ' ', (size_t)(p + n - sp1 - 1)) : NULL;
	if (!sp1 || !sp2)
		return err_set(e, EINVAL,
			       "bad request line (want 'METHOD http://host:port/path HTTP/1.1')");
	mlen = (size_t)(sp1 - p);
	if (!is_token(p, mlen) || mlen >= sizeof(r.method))
		return err_set(e, EINVAL, "bad method in the request line");
	memcpy(r.method, p, mlen);
	r.head = strcmp(r.method, "HEAD") == 0;
	if ((size_t)(p + n - sp2 - 1) != 8 || memcmp(sp2 + 1, "HTTP/1.1", 8))
		return err_set(e, EINVAL,
			       "bad version in the request line (want HTTP/1.1)");
	url = sp1 + 1;
	ulen = (size_t)(sp2 - url);
	if (ulen >= 8 && !strncasecmp(url, "https://", 8))
		return err_set(e, EPROTONOSUPPORT,
			       "https is not supported (plain http:// only)");
	if (ulen < 7 || strncasecmp(url, "http://", 7))
		return err_set(e, EINVAL,
			       "the request target must be an absolute http:// URL");
	auth = url + 7;
	for (n = 0; auth + n < sp2 && auth[n] != '/' && auth[n] != '?'; n++)
		;
	rc = parse_authority(auth, n, &r, e);
	if (rc < 0)
		return rc;
	for (const char *c = auth + n; c < sp2; c++)
		if ((unsigned char)*c <= 0x20 || *c == 0x7f)
			return err_set(e, EINVAL, "bad character in the URL's path");

	wput(&w, r.method, mlen);
	wputs(&w, " ");
	if (auth + n == sp2 || auth[n] == '?')
		wputs(&w, "/");
	wput(&w, auth + n, (size_t)(sp2 - auth - n));
	wputs(&w, " HTTP/1.1\r\n");

	/* Header lines, up to the empty line. */
	for (p = next;;) {
		const char *colon, *v;
		size_t vl;

		if (!next_line(p, end, &n, &next)) {
			if (p == end)	/* no empty line: no body either */
				break;
			free(w.p);
			return err_set(e, EINVAL, "the request's last header line has no line end");
		}
		if (n == 0) {
			p = next;
			break;
		}
		colon = memchr(p, ':', n);
		if (!colon || !is_token(p, (size_t)(colon - p))) {
			free(w.p);
			return err_set(e, EINVAL, "bad header line in the request");
		}
		v = colon + 1;
		vl = (size_t)(p + n - v);
		trim(&v, &vl);
		if (!is_field_value(v, vl)) {
			free(w.p);
			return err_set(e, EINVAL,
				       "control character in a request header value");
		}
		mlen = (size_t)(colon - p);
		if (mlen == 4 && !strncasecmp(p, "host", 4)) {
			/* Two Hosts: which one a proxy or server takes is
			 * anyone's guess (RFC 9112 3.2: a 400). */
			if (has_host) {
				free(w.p);
				return err_set(e, EINVAL,
					       "the request has two Host headers (ambiguous)");
			}
			has_host = true;
		}
		if (mlen == 17 && !strncasecmp(p, "transfer-encoding", 17)) {
			free(w.p);
			return err_set(e, EINVAL,
				       "request bodies are sent with Content-Length (no Transfer-Encoding)");
		}
		if (mlen == 14 && !strncasecmp(p, "content-length", 14)) {
			/* Even an equal second one: where the body ends must
			 * be said once (request smuggling lives on the
			 * difference between two readings). */
			if (has_length) {
				free(w.p);
				return err_set(e, EINVAL,
					       "the request has two Content-Length headers (ambiguous framing)");
			}
			if (!parse_u64(v, vl, &length)) {
				free(w.p);
				return err_set(e, EINVAL, "bad Content-Length in the request");
			}
			has_length = true;
		}
		if (mlen == 10 && !strncasecmp(p, "connection", 10) &&
		    vl == 5 && !strncasecmp(v, "close", 5))
			r.close = true;
		wput(&w, p, mlen);
		wputs(&w, ": ");
		wput(&w, v, vl);
		wputs(&w, "\r\n");
		p = next;
	}
	if (p > end)
		p = end;
	if (has_length && length != (uint64_t)(end - p)) {
		free(w.p);
		return err_set(e, EINVAL,
			       "the request's Content-Length (%llu) is not the size of its body (%zu)",
			       (unsigned long long)length, (size_t)(end - p));
	}
	if (!has_host) {
		char hdr[300];
		bool v6 = strchr(r.host, ':') != NULL;

		if (r.port == 80)
			snprintf(hdr, sizeof(hdr), "Host: %s%s%s\r\n",
				 v6 ? "[" : "", r.host, v6 ? "]" : "");
		else
			snprintf(hdr, sizeof(hdr), "Host: %s%s%s:%u\r\n",
				 v6 ? "[" : "", r.host, v6 ? "]" : "",
				 r.port);
		wputs(&w, hdr);
	}
	if (!has_length && end > p) {
		char hdr[64];

		snprintf(hdr, sizeof(hdr), "Content-Length: %zu\r\n",
			 (size_t)(end - p));
		wputs(&w, hdr);
	}
	wputs(&w, "\r\n");
	wput(&w, p, (size_t)(end - p));
	if (w.oom) {
		free(w.p);
		return err_set(e, ENOMEM, "out of memory");
	}
	r.wire = w.p;
	r.wire_len = w.len;
	*ret = r;
	return 0;
}

void http_request_done(struct http_request *r)
{
	free(r->wire);
	r->wire = NULL;
}

/* The header block ends at the first empty line. */
static const char *find_head_end(const char *buf, size_t len)
{
	const char *end = buf + len;

	for (const char *p = buf; (p = memchr(p, '\n', (size_t)(end - p)));
	     p++) {
		size_t rest = (size_t)(end - p - 1);

		if (rest >= 1 && p[1] == '\n')
			return p + 2;
		if (rest >= 2 && p[1] == '\r' && p[2] == '\n')
			return p + 3;
	}
	return NULL;
}

int http_head_parse(const char *buf, size_t len, size_t max,
		    struct http_head *h, struct err *e)
{
	const char *end = find_head_end(buf, MIN(len, max)), *p, *next = NULL;
	size_t n = 0, headers = 0;
	bool conn_close = false, conn_keep = false, has_te = false;

	/* Fail early on something that is not HTTP at all. */
	if (memcmp(buf, "HTTP/", MIN(len, (size_t)5)))
		return err_set(e, EBADMSG,
			       "not an HTTP response (it does not start with 'HTTP/')");
	if (!end) {
		if (len >= max)
			return err_set(e, E2BIG,
				       "response headers exceed %zu bytes", max);
		return 0;
	}
	memset(h, 0, sizeof(*h));
	h->len = (size_t)(end - buf);
	next_line(buf, end, &n, &next);
	/* HTTP/1.x SP 3DIGIT [SP reason] */
	if (n < 12 || memcmp(buf, "HTTP/1.", 7) ||
	    (buf[7] != '0' && buf[7] != '1') || buf[8] != ' ' ||
	    buf[9] < '1' || buf[9] > '5' || buf[10] < '0' || buf[10] > '9' ||
	    buf[11] < '0' || buf[11] > '9' || (n > 12 && buf[12] != ' '))
		return err_set(e, EBADMSG, "bad status line in the response");
	if (!is_field_value(buf, n))
		return err_set(e, EBADMSG, "control character in the status line");
	h->http10 = buf[7] == '0';
	h->status = (buf[9] - '0') * 100 + (buf[10] - '0') * 10 + (buf[11] - '0');

	for (p = next; p < end; p = next) {
		const char *colon, *v;
		size_t nl, vl;

		next_line(p, end, &n, &next);
		if (n == 0)
			break;
		if (++headers > HTTP_MAX_HEADERS)
			return err_set(e, E2BIG,
				       "more than %d header lines in the response",
				       HTTP_MAX_HEADERS);
		if (p[0] == ' ' || p[0] == '\t')
			return err_set(e, EBADMSG,
				       "obsolete header line folding in the response");
		colon = memchr(p, ':', n);
		if (!colon || !is_token(p, (size_t)(colon - p)))
			return err_set(e, EBADMSG, "bad header line in the response");
		nl = (size_t)(colon - p);
		v = colon + 1;
		vl = (size_t)(p + n - v);
		trim(&v, &vl);
		if (!is_field_value(v, vl))
			return err_set(e, EBADMSG,
				       "control character in a response header");
		if (nl == 14 && !strncasecmp(p, "content-length", 14)) {
			uint64_t l;

			if (!parse_u64(v, vl, &l))
				return err_set(e, EBADMSG,
					       "bad Content-Length in the response");
			if (h->has_length && l != h->length)
				return err_set(e, EBADMSG,
					       "conflicting Content-Length headers in the response");
			h->has_length = true;
			h->length = l;
		} else if (nl == 17 && !strncasecmp(p, "transfer-encoding", 17)) {
			if (has_te || vl != 7 || strncasecmp(v, "chunked", 7))
				return err_set(e, EBADMSG,
					       "unsupported Transfer-Encoding in the response (only chunked)");
			has_te = h->chunked = true;
		} else if (nl == 10 && !strncasecmp(p, "connection", 10)) {
			if (vl == 5 && !strncasecmp(v, "close", 5))
				conn_close = true;
			else if (vl == 10 && !strncasecmp(v, "keep-alive", 10))
				conn_keep = true;
		}
	}
	if (h->chunked && h->has_length)
		return err_set(e, EBADMSG,
			       "the response has both Content-Length and Transfer-Encoding");
	h->keep_alive = !conn_close && (!h->http10 || conn_keep);
	return 1;
}

bool http_has_body(const struct http_head *h, bool head_request)
{
	return !head_request && h->status >= 200 && h->status != 204 &&
	       h->status != 304;
}

enum {
	CH_SIZE,	/* hex digits */
	CH_EXT,		/* ";ext" up to the line end */
	CH_SIZE_LF,	/* after CR of the size line */
	CH_DATA,
	CH_DATA_CR,	/* CRLF after data */
	CH_DATA_LF,
	CH_TRAILER,	/* trailer lines until an empty one */
	CH_TRAILER_LF,
	CH_DONE,
};

#define CHUNK_LINE_MAX 4096

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int http_chunked_feed(struct http_chunked *c, const char *in, size_t len,
		      size_t *consumed, uint64_t max_body, uint64_t max_trailer,
		      int (*out)(void *data, const char *p, size_t n),
		      void *data, struct err *e)
{
	size_t i = 0;
	int r;

	*consumed = 0;
	while (i < len && c->state != CH_DONE) {
		char ch = in[i];

		switch (c->state) {
		case CH_SIZE:
			if (hexval(ch) >= 0) {
				if (++c->digits > 15)
					return err_set(e, EBADMSG,
						       "bad chunk size (too many digits)");
				c->left = c->left * 16 + (uint64_t)hexval(ch);
				i++;
				break;
			}
			if (!c->digits)
				return err_set(e, EBADMSG,
					       "bad chunk size (not a hex number)");
			if (ch == ';' || ch == ' ' || ch == '\t') {
				c->state = CH_EXT;
				c->line = c->digits;
				break;
			}
			if (ch == '\r') {
				c->state = CH_SIZE_LF;
				i++;
				break;
			}
			if (ch == '\n') {
				c->state = CH_SIZE_LF;
				break;
			}
			return err_set(e, EBADMSG,
				       "bad chunk size (unexpected character)");
		case CH_EXT:
			if (++c->line > CHUNK_LINE_MAX)
				return err_set(e, EBADMSG, "chunk extension too long");
			if (ch == '\r' || ch == '\n')
				c->state = CH_SIZE_LF;
			i += ch != '\n';
			break;
		case CH_SIZE_LF:
			if (ch != '\n')
				return err_set(e, EBADMSG, "bad chunk size line end");
			i++;
			c->digits = 0;
			if (c->left == 0) {
				c->state = CH_TRAILER;
				c->line = 0;
				break;
			}
			if (c->left > max_body || c->total > max_body - c->left)
				return err_set(e, E2BIG,
					       "body exceeds %llu bytes",
					       (unsigned long long)max_body);
			c->state = CH_DATA;
			break;
		case CH_DATA: {
			size_t n = (size_t)MIN((uint64_t)(len - i), c->left);

			r = out(data, in + i, n);
			if (r < 0)
				return r;
			i += n;
			c->left -= n;
			c->total += n;
			if (!c->left)
				c->state = CH_DATA_CR;
			break;
		}
		case CH_DATA_CR:
			if (ch == '\r') {
				c->state = CH_DATA_LF;
				i++;
				break;
			}
			__attribute__((fallthrough));
		case CH_DATA_LF:
			if (ch != '\n')
				return err_set(e, EBADMSG,
					       "bad chunk: data longer than its size");
			c->state = CH_SIZE;
			i++;
			break;
		case CH_TRAILER:
			if (++c->trailer > max_trailer)
				return err_set(e, E2BIG, "chunked trailers too long");
			if (ch == '\r' || ch == '\n') {
				c->state = CH_TRAILER_LF;
				i += ch == '\r';
				break;
			}
			c->line++;
			i++;
			break;
		case CH_TRAILER_LF:
			if (ch != '\n')
				return err_set(e, EBADMSG, "bad trailer line end");
			i++;
			if (c->line == 0)
				c->state = CH_DONE;
			c->line = 0;
			if (c->state != CH_DONE)
				c->state = CH_TRAILER;
			break;
		}
	}
	*consumed = i;
	return c->state == CH_DONE ? 1 : 0;
}
