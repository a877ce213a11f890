// SPDX-License-Identifier: MIT
/*
 * The http I/O function: each item is a request; connect, send and every
 * receive are io_uring operations with a linked timeout; connections are
 * kept alive and reused per address; responses are parsed as untrusted input
 * with bounded header and body sizes.
 */
#include <netinet/in.h>
#include <stdarg.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>

#include "iofuncs/hosts.h"
#include "iofuncs/http_parse.h"
#include "iofuncs/internal.h"
#include "iofuncs/loadfile.h"
#include "iofuncs/policy.h"
#include "lib/probe.h"

#define RX_MIN (16u << 10)
#define RX_MAX (16u << 20)
/* What one receive takes while the header block is not complete: the
 * bytes past the headers in it are copied into the body's place, so a
 * receive of all of rx (64 KiB) copied most of a 64 KiB body twice (kernel
 * to rx, rx to the arena); the rest goes straight into the body. Larger
 * header blocks take more receives, up to rx_cap. */
#define RX_HEAD_READ (4u << 10)
#define BACKOFF_MAX_MS 10000 /* the doubling stops here */

enum cstate { C_IDLE, C_CONNECT, C_SEND, C_RECV, C_BACKOFF };
enum bmode { B_NONE, B_LENGTH, B_CHUNKED, B_EOF };

struct pool;

struct conn {
	struct loop_op op;
	struct hstate *hs;
	struct pool *pool;
	struct conn *next_idle, *next_all;
	int fd;
	enum cstate state;
	bool busy;		/* an op is in flight */
	bool reused;		/* carried a request before this one */
	bool retried;		/* the one retry of a reused connection */
	unsigned attempt;	/* 1 for the first, counting retries */
	bool timer_total;	/* the linked timeout is the total deadline */
	uint64_t timer_ms;
	int rcvbuf;		/* SO_RCVBUF we set, 0: the kernel's autotuning */

	/* the request */
	size_t idx;
	struct http_request req;
	char where[300];	/* "host:port" for messages */
	uint64_t deadline;
	size_t sent;

	/* the response */
	char *rx;
	size_t rx_len, rx_cap;
	uint64_t rx_total;
	bool head_done;
	int interim;
	struct http_head head;
	enum bmode mode;
	struct arena_span body;	/* B_LENGTH: the body's place in the arena */
	uint64_t want, got;
	struct http_chunked ch;
	char *heap;		/* B_CHUNKED, B_EOF: decoded body */
	size_t heap_len, heap_cap;
};

/* Idle connections to one address. */
struct pool {
	struct sockaddr_storage addr;
	socklen_t len;
	struct conn *idle;
	struct pool *next;
};

struct hstate {
	struct iofunc_run *run;
	struct hosts *hosts;	/* NULL until read */
	struct loadfile *hosts_lf; /* pith's own read of the hosts file */
	const char *hosts_paths[1];
	int hosts_err;		/* it could not be read: why in hosts_e */
	struct err hosts_e;
	struct netpolicy *net;	/* where requests may go */
	struct pool *pools;
	struct conn *conns;
	/* Closed connections, each with its receive buffer, for the next
	 * request to any address: a request whose connection was not kept
	 * (a failure, a server that closes) leaves its conn here, so a run
	 * has at most `concurrency` of them, not one per such request. */
	struct conn *spare;
	size_t next;
	unsigned active;
};

static void conn_cb(struct loop_op *op, int res, uint32_t flags);
static void start_more(struct hstate *hs);

static struct hstate *HS(struct iofunc_run *run)
{
	return run->impl;
}

static void conn_close(struct conn *c)
{
	c->fd = safe_close(c->fd);
	c->reused = false;
}

static void response_reset(struct conn *c)
{
	c->rx_len = 0;
	c->rx_total = 0;
	c->head_done = false;
	c->interim = 0;
	c->mode = B_NONE;
	c->body = (struct arena_span){};
	c->want = c->got = 0;
	memset(&c->ch, 0, sizeof(c->ch));
	c->heap_len = 0;
	c->sent = 0;
}

/* The request on c ended; c goes back to its pool or is closed. */
static void request_end(struct conn *c, bool keep)
{
	struct hstate *hs = c->hs;

	http_request_done(&c->req);
	c->idx = SIZE_MAX;
	c->state = C_IDLE;
	if (keep && c->fd >= 0 && !hs->run->cancelled) {
		c->reused = true;
		c->next_idle = c->pool->idle;
		c->pool->idle = c;
	} else {
		conn_close(c);
		if (!c->busy) { /* else its completion is still to come */
			c->next_idle = hs->spare;
			hs->spare = c;
		}
	}
	/* Give large heap buffers back between requests. */
	if (c->heap_cap > (1u << 20)) {
		free(c->heap);
		c->heap = NULL;
		c->heap_cap = 0;
	}
	hs->active--;
}

static void _printf_(3, 4) conn_fail(struct conn *c, int err, const char *fmt,
				     ...)
{
	struct iofunc_run *run = c->hs->run;
	char msg[ERR_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (c->attempt > 1)
		iofunc_item_fail(run, c->idx, err, "http: %s (%u attempts)",
				 msg, c->attempt);
	else
		iofunc_item_fail(run, c->idx, err, "http: %s", msg);
	request_end(c, false);
}

static void conn_ok(struct conn *c)
{
	struct iofunc_run *run = c->hs->run;
	struct buffer *buf;
	uint64_t off;
	bool keep;
	int r;

	if (c->mode == B_LENGTH) {
		arena_keep(&run->arena, &c->body);
		iofunc_item_out(run, c->idx, 1, c->body.buf, c->body.off,
				c->want);
	} else {
		r = arena_put(&run->arena, c->heap, c->heap_len, &buf, &off);
		if (r < 0)
			return conn_fail(c, r, "%s: cannot store the body: %s",
					 c->where, iofunc_strerror(r));
		iofunc_item_out(run, c->idx, 1, buf, off, c->heap_len);
	}
	iofunc_item_ok(run, c->idx);
	keep = c->head.keep_alive && !c->req.close && c->mode != B_EOF &&
	       c->rx_len == 0;
	request_end(c, keep);
}

/* Queue `prep`ared sqe linked to a timeout: the phase's own limit or what
 * is left of the total deadline, whichever is shorter. */
static bool conn_submit(struct conn *c, struct io_uring_sqe *sqe,
			uint64_t phase_ms)
{
	struct iofunc_run *run = c->hs->run;
	uint64_t now = loop_now_ms();
	struct io_uring_sqe *t = loop_sqe_next(run->loop, sqe);

	if (now >= c->deadline) {
		/* Both SQEs become NOPs nobody waits for. */
		io_uring_prep_nop(sqe);
		loop_sqe_set_op(run->loop, sqe, NULL);
		loop_sqe_set_op(run->loop, t, NULL);
		conn_fail(c, -ETIMEDOUT, "%s: total timeout of %llu ms exceeded",
			  c->where,
			  (unsigned long long)run->ctx.total_timeout_ms);
		return false;
	}
	c->timer_total = c->deadline - now < phase_ms;
	c->timer_ms = c->timer_total ? c->deadline - now : phase_ms;
	sqe->flags |= IOSQE_IO_LINK;
	loop_prep_link_timeout(run->loop, t, c->timer_ms);
	loop_sqe_set_op(run->loop, t, NULL);
	c->op.cb = conn_cb;
	loop_sqe_set_op(run->loop, sqe, &c->op);
	c->busy = true;
	run->ops++;
	return true;
}

static void conn_send(struct conn *c)
{
	struct iofunc_run *run = c->hs->run;
	struct io_uring_sqe *sqe = loop_sqe(run->loop, 2);

	if (!sqe)
		return conn_fail(c, -EBUSY, "%s: cannot queue the send",
				 c->where);
	c->state = C_SEND;
	io_uring_prep_send(sqe, c->fd, c->req.wire + c->sent,
			   c->req.wire_len - c->sent, MSG_NOSIGNAL);
	conn_submit(c, sqe, run->ctx.read_timeout_ms);
}

static void conn_recv(struct conn *c)
{
	struct iofunc_run *run = c->hs->run;
	struct io_uring_sqe *sqe = loop_sqe(run->loop, 2);

	if (!sqe)
		return conn_fail(c, -EBUSY, "%s: cannot queue the receive",
				 c->where);
	c->state = C_RECV;
	if (c->rx_len == c->rx_cap && !(c->head_done && c->mode == B_LENGTH)) {
		/* Only a header block can fill rx (bodies are consumed). */
		io_uring_prep_nop(sqe);
		loop_sqe_set_op(run->loop, sqe, NULL);
		loop_sqe_set_op(run->loop, loop_sqe_next(run->loop, sqe), NULL);
		return conn_fail(c, -E2BIG, "%s: response headers exceed %zu bytes",
				 c->where, c->rx_cap);
	}
	if (c->head_done && c->mode == B_LENGTH)
		io_uring_prep_recv(sqe, c->fd, c->body.ptr + c->got,
				   (size_t)MIN(c->want - c->got, (uint64_t)1 << 30),
				   0);
	else
		io_uring_prep_recv(sqe, c->fd, c->rx + c->rx_len,
				   c->head_done ? c->rx_cap - c->rx_len :
						  MIN(c->rx_cap - c->rx_len,
						      (size_t)RX_HEAD_READ),
				   0);
	conn_submit(c, sqe, run->ctx.read_timeout_ms);
}

static void conn_connect(struct conn *c)
{
	struct iofunc_run *run = c->hs->run;
	struct io_uring_sqe *sqe;
	struct err e = {};
	int one = 1;

	/* Every connection, retries included, goes where the policy says. */
	if (netpolicy_check(c->hs->net, c->req.host, c->req.port,
			    (const struct sockaddr *)&c->pool->addr, &e) < 0)
		return conn_fail(c, -EACCES, "%s", e.msg);
	c->fd = socket(c->pool->addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC,
		       IPPROTO_TCP);
	if (c->fd < 0)
		return conn_fail(c, negative_errno(), "socket: %s",
				 iofunc_strerror(errno));
	/* Requests go out in one send; don't hold back small ones. */
	(void)setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->rcvbuf = 0;
	c->reused = false;
	sqe = loop_sqe(run->loop, 2);
	if (!sqe)
		return conn_fail(c, -EBUSY, "connect %s: cannot queue",
				 c->where);
	c->state = C_CONNECT;
	io_uring_prep_connect(sqe, c->fd, (struct sockaddr *)&c->pool->addr,
			      c->pool->len);
	conn_submit(c, sqe, run->ctx.connect_timeout_ms);
}

/* A reused connection the server had closed: one more try on a new one. */
static bool conn_retry(struct conn *c, int err)
{
	if (!c->reused || c->retried || c->rx_total)
		return false;
	c->retried = true;
	PROBE_IO_RETRY(c->hs->run, c->hs->run->fn->name, c->idx, 1, err);
	conn_close(c);
	response_reset(c);
	conn_connect(c);
	return true;
}

/* RFC 9110 9.2.2: a repeated idempotent request has the effect of one. */
static bool idempotent(const char *method)
{
	static const char *const m[] = { "GET",	    "HEAD",  "PUT",
					 "DELETE", "OPTIONS", "TRACE" };

	for (size_t i = 0; i < ARRAY_SIZE(m); i++)
		if (!strcmp(method, m[i]))
			return true;
	return false;
}

/* Forget what an attempt recorded of the response (its head). */
static void attempt_forget(struct conn *c)
{
	iofunc_item_forget(c->hs->run, c->idx);
	/* A body reserved and not filled must not hold its chunk open (the
	 * engine's streaming seals a chunk once nothing is in flight). */
	arena_abandon(&c->hs->run->arena, &c->body);
}

/*
 * The attempt failed in a way another attempt may not (a connection
 * failure, a reset, a close before the response was complete, a 5xx): when
 * the request is idempotent and retries are left, close the connection and
 * try again on a new one after the backoff. Returns true when it will.
 */
static bool conn_retry_later(struct conn *c, int why)
{
	struct iofunc_run *run = c->hs->run;
	uint64_t delay = run->ctx.backoff_ms;
	uint32_t rnd = 0;
	int r;

	if (run->cancelled || c->attempt > run->ctx.retries ||
	    !idempotent(c->req.method))
		return false;
	for (unsigned i = 1; i < c->attempt && delay < BACKOFF_MAX_MS; i++)
		delay *= 2;
	delay = MIN(delay, (uint64_t)BACKOFF_MAX_MS);
	/* Jitter in [delay/2, delay]: retries of many requests that failed
	 * together do not come back together. */
	if (delay > 1 && getrandom(&rnd, sizeof(rnd), GRND_NONBLOCK) > 0)
		delay = delay / 2 + rnd % (delay / 2 + 1);
	PROBE_IO_RETRY(run, run->fn->name, c->idx, c->attempt + 1, why);
	conn_close(c);
	attempt_forget(c);
	response_reset(c);
	c->attempt++;
	c->state = C_BACKOFF;
	c->op.cb = conn_cb;
	r = loop_timeout(run->loop, &c->op, delay ? delay : 1);
	if (r < 0)
		return false;
	c->busy = true;
	run->ops++;
	return true;
}

/* Errors of a connection that a new connection may not have. */
static bool retryable_errno(int err)
{
	return err == -ECONNREFUSED || err == -ECONNRESET || err == -EPIPE ||
	       err == -ECONNABORTED || err == -EHOSTUNREACH ||
	       err == -ENETUNREACH || err == -ENETDOWN;
}

static int heap_put(void *data, const char *p, size_t n)
{
	struct conn *c = data;
	uint64_t max = c->hs->run->ctx.max_body_bytes;

	if (!n)
		return 0;
	if (c->heap_len + n > max)
		return -E2BIG;
	if (c->heap_len + n > c->heap_cap) {
		size_t cap = MAX(c->heap_cap * 2, c->heap_len + n);
		char *h;

		cap = (size_t)MIN((uint64_t)MAX(cap, 4096), max);
		h = realloc(c->heap, cap);
		if (!h)
			return -ENOMEM;
		c->heap = h;
		c->heap_cap = cap;
	}
	memcpy(c->heap + c->heap_len, p, n);
	c->heap_len += n;
	return 0;
}

static void rx_consume(struct conn *c, size_t n)
{
	memmove(c->rx, c->rx + n, c->rx_len - n);
	c->rx_len -= n;
}

/*
 * A body of known length: let the kernel queue all of it, up to
 * HTTP_RCVBUF_MAX, so the server sends it in one go. Left to autotuning,
 * which sizes the window by what the reader drained per round trip, the
 * window stays small on fast links and the server waits for us at every
 * turn (1 MiB bodies over loopback: 2.4x, see
 * Documentation/benchmarks/iofuncs.md).
 * Bodies up to HTTP_RCVBUF_MIN keep the autotuned buffer. The kernel caps
 * the size at net.core.rmem_max.
 */
#define HTTP_RCVBUF_MIN (128u << 10)
#define HTTP_RCVBUF_MAX (2u << 20)

static void conn_fit_rcvbuf(struct conn *c, uint64_t len)
{
	int v = (int)MIN(len, (uint64_t)HTTP_RCVBUF_MAX);

	if (len <= HTTP_RCVBUF_MIN || v <= c->rcvbuf)
		return;
	if (setsockopt(c->fd, SOL_SOCKET, SO_RCVBUF, &v, sizeof(v)) == 0)
		c->rcvbuf = v;
}

/* The header block is complete: keep it, decide how the body is framed. */
static void head_done(struct conn *c)
{
	struct iofunc_run *run = c->hs->run;
	struct buffer *buf;
	uint64_t off;
	int r;

	r = arena_put(&run->arena, c->rx, c->head.len, &buf, &off);
	if (r < 0)
		return conn_fail(c, r, "%s: cannot store the head: %s",
				 c->where, iofunc_strerror(r));
	iofunc_item_out(run, c->idx, 0, buf, off, c->head.len);
	rx_consume(c, c->head.len);
	c->head_done = true;

	if (!http_has_body(&c->head, c->req.head)) {
		c->mode = B_NONE;
	} else if (c->head.chunked) {
		c->mode = B_CHUNKED;
	} else if (c->head.has_length) {
		if (c->head.length > run->ctx.max_body_bytes)
			return conn_fail(c, -E2BIG,
					 "%s: body of %llu bytes exceeds the limit of %llu bytes",
					 c->where,
					 (unsigned long long)c->head.length,
					 (unsigned long long)run->ctx.max_body_bytes);
		c->mode = B_LENGTH;
		c->want = c->head.length;
		r = arena_reserve(&run->arena, c->want, &c->body);
		if (r < 0)
			return conn_fail(c, r, "%s: cannot store the body: %s",
					 c->where, iofunc_strerror(r));
		conn_fit_rcvbuf(c, c->want - MIN(c->want, (uint64_t)c->rx_len));
	} else {
		c->mode = B_EOF;
	}
}

/* Bytes arrived in rx (or in dst for B_LENGTH): advance the response.
 * Returns true when the request ended (ok or failed). */
static bool conn_process(struct conn *c)
{
	struct iofunc_run *run = c->hs->run;
	struct err e = {};
	size_t used, n;
	int r;

	while (!c->head_done) {
		r = http_head_parse(c->rx, c->rx_len,
				    (size_t)run->ctx.max_header_bytes, &c->head,
				    &e);
		if (r < 0) {
			conn_fail(c, r, "%s: %s", c->where, e.msg);
			return true;
		}
		if (r == 0)
			return false;
		if (c->head.status == 101) {
			conn_fail(c, -EPROTO,
				  "%s: the server switched protocols (101), not supported",
				  c->where);
			return true;
		}
		if (c->head.status >= 200) {
			PROBE_HTTP_RESPONSE(c->where, c->idx, c->head.status);
			if (c->head.status >= 500 &&
			    conn_retry_later(c, c->head.status))
				return true;
			head_done(c);
			if (c->state == C_IDLE) /* failed */
				return true;
			break;
		}
		if (++c->interim > HTTP_MAX_INTERIM) {
			conn_fail(c, -EPROTO,
				  "%s: more than %d interim (1xx) responses",
				  c->where, HTTP_MAX_INTERIM);
			return true;
		}
		rx_consume(c, c->head.len);
	}

	switch (c->mode) {
	case B_NONE:
		conn_ok(c);
		return true;
	case B_LENGTH:
		if (c->rx_len) {
			n = (size_t)MIN((uint64_t)c->rx_len, c->want - c->got);
			memcpy(c->body.ptr + c->got, c->rx, n);
			c->got += n;
			rx_consume(c, n);
		}
		if (c->got < c->want)
			return false;
		conn_ok(c);
		return true;
	case B_CHUNKED:
		r = http_chunked_feed(&c->ch, c->rx, c->rx_len, &used,
				      run->ctx.max_body_bytes,
				      run->ctx.max_header_bytes, heap_put, c,
				      &e);
		if (r == -E2BIG && !e.msg[0])
			snprintf(e.msg, sizeof(e.msg), "body exceeds %llu bytes",
				 (unsigned long long)run->ctx.max_body_bytes);
		if (r < 0) {
			conn_fail(c, r, "%s: %s", c->where,
				  e.msg[0] ? e.msg : iofunc_strerror(r));
			return true;
		}
		rx_consume(c, used);
		if (r == 0)
			return false;
		conn_ok(c);
		return true;
	case B_EOF:
		r = heap_put(c, c->rx, c->rx_len);
		if (r < 0) {
			if (r == -E2BIG)
				conn_fail(c, r, "%s: body exceeds %llu bytes",
					  c->where,
					  (unsigned long long)run->ctx.max_body_bytes);
			else
				conn_fail(c, r, "%s: %s", c->where,
					  iofunc_strerror(r));
			return true;
		}
		c->rx_len = 0;
		return false;
	}
	return false;
}

static void conn_eof(struct conn *c)
{
	if ((!c->head_done || c->mode == B_LENGTH || c->mode == B_CHUNKED) &&
	    !(c->reused && !c->retried && !c->rx_total) &&
	    conn_retry_later(c, -EPIPE))
		return;
	switch (c->head_done ? c->mode : B_NONE) {
	case B_LENGTH:
		return conn_fail(c, -EPIPE,
				 "%s: truncated body: connection closed after %llu of %llu bytes",
				 c->where, (unsigned long long)c->got,
				 (unsigned long long)c->want);
	case B_CHUNKED:
		return conn_fail(c, -EPIPE,
				 "%s: truncated chunked body: connection closed after %llu bytes",
				 c->where, (unsigned long long)c->ch.total);
	case B_EOF:
		c->head.keep_alive = false;
		return conn_ok(c);
	default:
		if (conn_retry(c, -EPIPE))
			return;
		if (!c->rx_total)
			return conn_fail(c, -EPIPE,
					 "%s: connection closed without a response",
					 c->where);
		return conn_fail(c, -EPIPE,
				 "%s: connection closed in the response headers (after %llu bytes)",
				 c->where, (unsigned long long)c->rx_total);
	}
}

static void conn_timeout(struct conn *c, const char *phase)
{
	struct iofunc_run *run = c->hs->run;

	if (c->timer_total)
		return conn_fail(c, -ETIMEDOUT,
				 "%s %s: total timeout of %llu ms exceeded",
				 phase, c->where,
				 (unsigned long long)run->ctx.total_timeout_ms);
	if (c->state == C_CONNECT)
		return conn_fail(c, -ETIMEDOUT,
				 "connect %s: timed out after %llu ms",
				 c->where, (unsigned long long)c->timer_ms);
	if (c->state == C_SEND)
		return conn_fail(c, -ETIMEDOUT,
				 "send to %s: the server took nothing for %llu ms",
				 c->where, (unsigned long long)c->timer_ms);
	return conn_fail(c, -ETIMEDOUT, "%s %s: no data for %llu ms",
			 phase, c->where, (unsigned long long)c->timer_ms);
}

static void conn_step(struct conn *c, int res)
{
	const char *phase = c->state == C_CONNECT ? "connect" :
			    c->state == C_SEND	  ? "send to" :
						    "receive from";

	if (c->state == C_BACKOFF) { /* the wait before a retry is over */
		c->deadline = loop_now_ms() + c->hs->run->ctx.total_timeout_ms;
		return conn_connect(c);
	}
	if (res == -ECANCELED && c->state == C_CONNECT && !c->timer_total &&
	    conn_retry_later(c, -ETIMEDOUT))
		return;
	if (res == -ECANCELED)
		return conn_timeout(c, phase);
	if (res < 0 && (res == -EPIPE || res == -ECONNRESET) && conn_retry(c, res))
		return;
	if (res < 0 && retryable_errno(res) && conn_retry_later(c, res))
		return;
	if (res < 0)
		return conn_fail(c, res, "%s %s: %s", phase, c->where,
				 iofunc_strerror(res));
	switch (c->state) {
	case C_CONNECT:
		return conn_send(c);
	case C_SEND:
		c->sent += (size_t)res;
		if (c->sent < c->req.wire_len)
			return conn_send(c);
		return conn_recv(c);
	case C_RECV:
		if (res == 0)
			return conn_eof(c);
		c->rx_total += (uint64_t)res;
		if (c->head_done && c->mode == B_LENGTH)
			c->got += (uint64_t)res;
		else
			c->rx_len += (size_t)res;
		if (!conn_process(c))
			conn_recv(c);
		return;
	default:
		return;
	}
}

static void conn_cb(struct loop_op *op, int res, uint32_t flags)
{
	struct conn *c = container_of(op, struct conn, op);
	struct hstate *hs = c->hs;
	struct iofunc_run *run = hs->run;

	(void)flags;
	run->ops--;
	c->busy = false;
	if (run->cancelled)
		conn_fail(c, -ECANCELED, "%s: cancelled", c->where);
	else
		conn_step(c, res);
	start_more(hs);
	iofunc_run_maybe_done(run);
}

static struct pool *pool_get(struct hstate *hs,
			     const struct sockaddr_storage *a, socklen_t len)
{
	struct pool *p;

	for (p = hs->pools; p; p = p->next)
		if (p->len == len && !memcmp(&p->addr, a, len))
			return p;
	p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	memcpy(&p->addr, a, len);
	p->len = len;
	p->next = hs->pools;
	hs->pools = p;
	return p;
}

static struct conn *conn_get(struct hstate *hs, struct pool *p)
{
	struct iofunc_run *run = hs->run;
	struct conn *c = p->idle;

	if (c) {
		p->idle = c->next_idle;
		return c;
	}
	c = hs->spare;
	if (c) {
		hs->spare = c->next_idle;
		return c;
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->rx_cap = (size_t)MAX((uint64_t)RX_MIN,
				MIN(run->ctx.max_header_bytes, (uint64_t)RX_MAX));
	c->rx = malloc(c->rx_cap);
	if (!c->rx) {
		free(c);
		return NULL;
	}
	c->hs = hs;
	c->fd = -1;
	c->idx = SIZE_MAX;
	c->next_all = hs->conns;
	hs->conns = c;
	return c;
}

static void start_item(struct hstate *hs, size_t i)
{
	struct iofunc_run *run = hs->run;
	const struct item *it = iofunc_input(run, i);
	struct http_request req;
	struct sockaddr_storage addr;
	socklen_t alen;
	struct err e = {};
	struct pool *p;
	struct conn *c;
	const void *data;
	int r;

	r = item_data(it, &data);
	if (r < 0)
		return iofunc_item_fail(run, i, r, "http: cannot map the request");
	r = http_request_parse(data, it->len, &req, &e);
	if (r < 0)
		return iofunc_item_fail(run, i, r, "http: %s", e.msg);
	r = hosts_resolve(hs->hosts, req.host, req.port, &addr, &alen, &e);
	if (r >= 0) /* checked after resolution: the address is what counts */
		r = netpolicy_check(hs->net, req.host, req.port,
				    (const struct sockaddr *)&addr, &e);
	if (r < 0) {
		http_request_done(&req);
		return iofunc_item_fail(run, i, r, "http: %s", e.msg);
	}
	p = pool_get(hs, &addr, alen);
	c = p ? conn_get(hs, p) : NULL;
	if (!c) {
		http_request_done(&req);
		return iofunc_item_fail(run, i, -ENOMEM, "http: out of memory");
	}
	c->pool = p;
	c->req = req;
	c->idx = i;
	c->retried = false;
	c->attempt = 1;
	if (strchr(req.host, ':'))
		snprintf(c->where, sizeof(c->where), "[%s]:%u", req.host,
			 req.port);
	else
		snprintf(c->where, sizeof(c->where), "%s:%u", req.host,
			 req.port);
	c->deadline = loop_now_ms() + run->ctx.total_timeout_ms;
	response_reset(c);
	hs->active++;
	PROBE_HTTP_REQUEST(c->where, i, c->fd >= 0);
	if (c->fd >= 0)
		conn_send(c);
	else
		conn_connect(c);
}

static void start_more(struct hstate *hs)
{
	struct iofunc_run *run = hs->run;

	if (!hs->hosts && !hs->hosts_err && !run->cancelled)
		return; /* the hosts file is still being read */
	while (hs->active < run->ctx.concurrency && hs->next < run->n &&
	       iofunc_may_start(run)) {
		size_t i = hs->next++;

		PROBE_IO_ITEM_START(run, run->fn->name, i, run->ctx.stage);
		if (run->cancelled)
			iofunc_item_fail(run, i, -ECANCELED, "http: cancelled");
		else if (hs->hosts_err)
			iofunc_item_fail(run, i, hs->hosts_err, "http: %s",
					 hs->hosts_e.msg);
		else
			start_item(hs, i);
	}
}

static const char *hosts_path(const struct iofunc_run *run)
{
	return run->ctx.hosts_path ? run->ctx.hosts_path : "/etc/hosts";
}

/* The hosts file is in (or missing: an empty table): start the requests. */
static void hosts_read(struct loadfile *lf, void *data)
{
	struct hstate *hs = data;
	struct iofunc_run *run = hs->run;
	const char *text = "", *msg = NULL;
	struct buffer *buf;
	uint64_t off, len = 0;
	struct err e = {};
	size_t i;
	int r;

	run->ops--;
	r = loadfile_error(lf, &i, &msg);
	if (r == -ENOENT) {
		r = 0;
	} else if (r < 0) {
		err_set(&e, -r, "hosts file %s", msg);
	} else {
		loadfile_file(lf, 0, &buf, &off, &len);
		r = buffer_data(buf, (const void **)&text);
		if (r < 0)
			err_set(&e, -r, "cannot map %s", hosts_path(run));
		else
			text += off;
	}
	if (r >= 0)
		r = hosts_parse(hosts_path(run), text, (size_t)len, &hs->hosts,
				&e);
	if (r < 0) {
		hs->hosts_err = r;
		hs->hosts_e = e;
	}
	start_more(hs);
	iofunc_run_maybe_done(run);
}

/*
 * Read the hosts file on the loop like every other file, with pith's own
 * reader: the operator's path, not a job's, so it is taken as written.
 */
static int hosts_start(struct hstate *hs, struct err *e)
{
	const char *path = hosts_path(hs->run);
	const struct loadfile_opts o = {
		.dirfd = AT_FDCWD,
		.label = "hosts",
		.probe_stage = PROBE_IO_HOSTS,
	};
	int r;

	hs->hosts_paths[0] = path;
	r = loadfile_start(hs->run->loop, &o, hs->hosts_paths, 1, hosts_read,
			   hs, &hs->hosts_lf, e);
	if (r < 0)
		return err_prefix(e, r, "cannot read %s", path);
	hs->run->ops++;
	return 0;
}

static int http_start(struct iofunc_run *run, struct err *e)
{
	struct hstate *hs = calloc(1, sizeof(*hs));
	int r;

	if (!hs)
		return err_set(e, ENOMEM, "out of memory");
	run->impl = hs;
	hs->run = run;
	if (!run->n) /* no request: no name to look up */
		return hosts_parse(hosts_path(run), "", 0, &hs->hosts, e);
	r = netpolicy_new(run->ctx.allow_hosts, run->ctx.n_allow_hosts,
			  &hs->net, e);
	if (r < 0)
		return err_prefix(e, r, "http");
	r = hosts_start(hs, e);
	if (r < 0)
		return err_prefix(e, r, "http");
	return 0;
}

static void http_cancel(struct iofunc_run *run)
{
	struct hstate *hs = HS(run);

	if (hs->hosts_lf && !hs->hosts && !hs->hosts_err)
		loadfile_cancel(hs->hosts_lf);
	for (struct conn *c = hs->conns; c; c = c->next_all)
		if (c->busy)
			loop_cancel(run->loop, &c->op);
	start_more(hs); /* fails what has not started */
}

static void http_resume(struct iofunc_run *run)
{
	start_more(HS(run));
}

static void http_free(struct iofunc_run *run)
{
	struct hstate *hs = HS(run);

	if (!hs)
		return;
	while (hs->conns) {
		struct conn *c = hs->conns;

		hs->conns = c->next_all;
		safe_close(c->fd);
		http_request_done(&c->req);
		free(c->rx);
		free(c->heap);
		free(c);
	}
	while (hs->pools) {
		struct pool *p = hs->pools;

		hs->pools = p->next;
		free(p);
	}
	hosts_free(hs->hosts);
	netpolicy_free(hs->net);
	loadfile_free(hs->hosts_lf);
	free(hs);
	run->impl = NULL;
}

const struct iofunc iofunc_http = {
	.name = "http",
	.min_outputs = 2,
	.max_outputs = 2,
	.start = http_start,
	.cancel = http_cancel,
	.free = http_free,
	.resume = http_resume,
};
