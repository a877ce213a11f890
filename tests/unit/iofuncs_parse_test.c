// SPDX-License-Identifier: MIT
/* The HTTP parsers on their own: requests, heads, chunked bodies, mutations. */
#include <arpa/inet.h>

#include "harness/harness.h"
#include "iofuncs/http_parse.h"
#include "iofuncs/policy.h"

static int sink(void *data, const char *p, size_t n)
{
	char *out = data;
	size_t len = strlen(out);

	if (len + n >= 4096)
		return -E2BIG;
	memcpy(out + len, p, n);
	out[len + n] = '\0';
	return 0;
}

TEST(request_is_rewritten_to_origin_form_with_host_and_length)
{
	const char *text = "POST http://example.test:8080/a/b?x=1 HTTP/1.1\n"
			   "Accept:  text/plain  \n\nbody";
	struct http_request r;
	struct err e = {};

	ASSERT_EQ(0, http_request_parse(text, strlen(text), &r, &e)) TH_LOG("%s", e.msg);
	EXPECT_STREQ("example.test", r.host);
	EXPECT_EQ(8080, r.port);
	EXPECT_STREQ("POST /a/b?x=1 HTTP/1.1\r\nAccept: text/plain\r\n"
		     "Host: example.test:8080\r\nContent-Length: 4\r\n\r\nbody",
		     r.wire);
	http_request_done(&r);
}

TEST(request_without_path_asks_for_root_and_keeps_given_host)
{
	const char *text = "GET http://[::1]?q HTTP/1.1\r\nHost: h\r\n\r\n";
	struct http_request r;

	ASSERT_EQ(0, http_request_parse(text, strlen(text), &r, NULL));
	EXPECT_STREQ("::1", r.host);
	EXPECT_EQ(80, r.port);
	EXPECT_STREQ("GET /?q HTTP/1.1\r\nHost: h\r\n\r\n", r.wire);
	http_request_done(&r);
}

TEST(nul_is_refused_in_the_head_and_kept_in_the_body)
{
	static const char bad[] = "GET http://h/ HTTP/1.1\r\nX: a\0b\r\n\r\n";
	static const char good[] = "PUT http://h/ HTTP/1.1\r\n\r\n\0\1\0";
	struct http_request r;
	struct err e = {};

	EXPECT_EQ(-EINVAL, http_request_parse(bad, sizeof(bad) - 1, &r, &e));
	EXPECT_STREQ("control character in a request header value", e.msg);
	ASSERT_EQ(0, http_request_parse(good, sizeof(good) - 1, &r, &e));
	ASSERT_LT(3, r.wire_len);
	EXPECT_EQ(0, memcmp(r.wire + r.wire_len - 3, "\0\1\0", 3));
	EXPECT_NE(NULL, strstr(r.wire, "Content-Length: 3\r\n"));
	http_request_done(&r);
}

TEST(head_is_parsed_whole_or_asks_for_more)
{
	const char *resp = "HTTP/1.1 200 OK\r\nContent-Length: 12\r\n"
			   "Connection: keep-alive\r\n\r\nhello world!";
	size_t head_len = (size_t)(strstr(resp, "\r\n\r\n") + 4 - resp);
	struct http_head h;
	struct err e = {};

	for (size_t n = 0; n < head_len; n++)
		ASSERT_EQ(0, http_head_parse(resp, n, 65536, &h, &e))
			TH_LOG("at %zu: %s", n, e.msg);
	ASSERT_EQ(1, http_head_parse(resp, strlen(resp), 65536, &h, &e));
	EXPECT_EQ(head_len, h.len);
	EXPECT_EQ(200, h.status);
	EXPECT_TRUE(h.has_length);
	EXPECT_EQ(12, h.length);
	EXPECT_TRUE(h.keep_alive);
}

TEST(http10_closes_unless_keep_alive)
{
	struct http_head h;

	ASSERT_EQ(1, http_head_parse("HTTP/1.0 204 No\r\n\r\n", 19, 100, &h, NULL));
	EXPECT_FALSE(h.keep_alive);
	EXPECT_FALSE(http_has_body(&h, false));
	ASSERT_EQ(1, http_head_parse("HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\n\r\n",
				     43, 100, &h, NULL));
	EXPECT_TRUE(h.keep_alive);
}

TEST(chunked_body_decodes_fed_byte_by_byte)
{
	const char *body = "4\r\nWiki\r\n5;name=v\r\npedia\r\nE\r\n in\r\n\r\nchunks."
			   "\r\n0\r\nTrailer: x\r\n\r\nNEXT";
	char out[4096] = "";
	struct http_chunked c = {};
	struct err e = {};
	size_t used, total = 0;
	int r = 0;

	for (size_t i = 0; i < strlen(body) && r == 0; i++) {
		r = http_chunked_feed(&c, body + i, 1, &used, 1 << 20, 1024,
				      sink, out, &e);
		ASSERT_LE(0, r) TH_LOG("at %zu: %s", i, e.msg);
		total += used;
	}
	EXPECT_EQ(1, r);
	EXPECT_STREQ("Wikipedia in\r\n\r\nchunks.", out);
	/* "NEXT" belongs to whatever follows the body. */
	EXPECT_EQ(strlen(body) - 4, total);
}

TEST(chunk_larger_than_the_body_limit_is_refused_before_its_data)
{
	const char *body = "100000\r\n";
	char out[4096] = "";
	struct http_chunked c = {};
	struct err e = {};
	size_t used;

	EXPECT_EQ(-E2BIG, http_chunked_feed(&c, body, strlen(body), &used,
					    4096, 1024, sink, out, &e));
	EXPECT_STREQ("body exceeds 4096 bytes", e.msg);
}

/*
 * Mutated responses (bytes flipped, inserted, cut) never make the parsers
 * read or report beyond their input; run under SAN=1 for the memory side.
 */
TEST(mutated_responses_stay_within_bounds)
{
	static const char *const seeds[] = {
		"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
		"5\r\nhello\r\n6;x=y\r\n world\r\n0\r\nT: 1\r\n\r\n",
		"HTTP/1.0 404 Not Found\nServer: x\n\n",
		"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n",
	};
	uint64_t seed = 0x9e3779b97f4a7c15ull;
	char buf[512];

	for (int iter = 0; iter < 200000; iter++) {
		const char *s = seeds[iter % (sizeof(seeds) / sizeof(seeds[0]))];
		size_t len = strlen(s), n;
		struct http_head h;
		struct http_chunked c = {};
		char out[4096] = "";
		size_t used;
		int r;

		memcpy(buf, s, len);
		for (int m = 0; m < 1 + iter % 4; m++) {
			seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
			n = (size_t)(seed % (len + 1));
			switch ((seed >> 32) % 3) {
			case 0: /* flip */
				if (n < len)
					buf[n] = (char)(seed >> 40);
				break;
			case 1: /* insert */
				if (len < sizeof(buf) - 1) {
					memmove(buf + n + 1, buf + n, len - n);
					buf[n] = (char)(seed >> 48);
					len++;
				}
				break;
			default: /* cut */
				len = n;
				break;
			}
		}
		r = http_head_parse(buf, len, 256, &h, NULL);
		ASSERT_TRUE(r == 0 || r == 1 || r == -EBADMSG || r == -E2BIG)
			TH_LOG("r=%d", r);
		if (r != 1)
			continue;
		ASSERT_LE(h.len, len);
		ASSERT_TRUE(h.status >= 100 && h.status <= 599);
		r = http_chunked_feed(&c, buf + h.len, len - h.len, &used, 4000,
				      256, sink, out, NULL);
		ASSERT_TRUE(r == 0 || r == 1 || r == -EBADMSG || r == -E2BIG)
			TH_LOG("r=%d", r);
		ASSERT_LE(used, len - h.len);
		ASSERT_LE(strlen(out), len);
	}
}

/* ---- where requests may go (iofuncs/policy.c) ---- */

static struct sockaddr_storage addr_of(const char *s, uint16_t port)
{
	struct sockaddr_storage a = {};
	struct sockaddr_in *a4 = (struct sockaddr_in *)&a;
	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&a;

	if (inet_pton(AF_INET, s, &a4->sin_addr) == 1) {
		a4->sin_family = AF_INET;
		a4->sin_port = htons(port);
	} else if (inet_pton(AF_INET6, s, &a6->sin6_addr) == 1) {
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons(port);
	}
	return a;
}

TEST(internal_ranges_are_known_by_address)
{
	static const struct {
		const char *addr;
		const char *what; /* NULL: public */
	} cases[] = {
		{ "127.0.0.1", "a loopback address (127.0.0.0/8)" },
		{ "127.255.0.9", "a loopback address (127.0.0.0/8)" },
		{ "169.254.169.254", "a link-local address (169.254.0.0/16)" },
		{ "10.0.0.1", "a private address (10.0.0.0/8)" },
		{ "172.16.0.1", "a private address (172.16.0.0/12)" },
		{ "172.31.255.255", "a private address (172.16.0.0/12)" },
		{ "192.168.1.1", "a private address (192.168.0.0/16)" },
		{ "100.64.0.1", "a shared address (100.64.0.0/10)" },
		{ "0.0.0.0", "a 'this network' address (0.0.0.0/8)" },
		{ "224.0.0.1", "a multicast address (224.0.0.0/4)" },
		{ "255.255.255.255", "a reserved address (240.0.0.0/4)" },
		{ "::1", "a loopback address (::1)" },
		{ "::", "the unspecified address (::)" },
		{ "::ffff:127.0.0.1", "a loopback address (127.0.0.0/8)" },
		{ "::ffff:169.254.169.254", "a link-local address (169.254.0.0/16)" },
		{ "64:ff9b::10.0.0.1", "a private address (10.0.0.0/8)" },
		{ "2002:7f00:1::", "a loopback address (127.0.0.0/8)" },
		{ "fd00::1", "a unique local address (fc00::/7)" },
		{ "fe80::1", "a link-local address (fe80::/10)" },
		{ "ff02::1", "a multicast address (ff00::/8)" },
		{ "93.184.216.34", NULL },
		{ "172.32.0.1", NULL },
		{ "100.128.0.1", NULL },
		{ "2606:4700::1111", NULL },
		{ "::ffff:8.8.8.8", NULL },
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct sockaddr_storage a = addr_of(cases[i].addr, 80);
		const char *what = NULL;
		bool internal = netaddr_internal((struct sockaddr *)&a, &what);

		EXPECT_EQ(cases[i].what != NULL, internal) TH_LOG("%s", cases[i].addr);
		if (cases[i].what && what)
			EXPECT_STREQ(cases[i].what, what) TH_LOG("%s", cases[i].addr);
	}
}

TEST(allow_list_opens_by_name_or_address_and_port)
{
	static const char *const allow[] = { "127.0.0.1:8080", "LocalHost",
					     "[::1]:80" };
	struct netpolicy *p = NULL;
	struct err e = {};
	struct sockaddr_storage lo = addr_of("127.0.0.1", 8080);
	struct sockaddr_storage lo9 = addr_of("127.0.0.1", 9);
	struct sockaddr_storage v6 = addr_of("::1", 80);
	struct sockaddr_storage pub = addr_of("93.184.216.34", 80);

	ASSERT_EQ(0, netpolicy_new(allow, ARRAY_SIZE(allow), &p, &e));
	EXPECT_EQ(0, netpolicy_check(p, "127.0.0.1", 8080, (struct sockaddr *)&lo, &e));
	/* A name as written in the URL, any port: */
	EXPECT_EQ(0, netpolicy_check(p, "localhost", 9, (struct sockaddr *)&lo9, &e));
	EXPECT_EQ(0, netpolicy_check(p, "::1", 80, (struct sockaddr *)&v6, &e));
	EXPECT_EQ(0, netpolicy_check(p, "example.test", 80, (struct sockaddr *)&pub, &e));
	/* The address on another port, or under another name: */
	EXPECT_EQ(-EACCES, netpolicy_check(p, "127.0.0.1", 9, (struct sockaddr *)&lo9, &e));
	EXPECT_STREQ("127.0.0.1:9: refused: 127.0.0.1 is a loopback address (127.0.0.0/8); internal addresses need \"allow_hosts\": [\"127.0.0.1:9\"] in the job or --allow-host 127.0.0.1:9",
		     e.msg);
	EXPECT_EQ(-EACCES, netpolicy_check(p, "db.internal", 8081,
					   (struct sockaddr *)&lo, &e));
	netpolicy_free(p);
	ASSERT_EQ(-EINVAL, netpolicy_new((const char *const[]){ "a:0" }, 1, &p, &e));
	EXPECT_STREQ("allowed host 'a:0': bad port (want 1 to 65535)", e.msg);
}

TEST_HARNESS_MAIN
