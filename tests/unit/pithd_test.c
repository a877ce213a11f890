// SPDX-License-Identifier: MIT
/*
 * pithd's parts that take untrusted bytes: the HTTP head parser, base64,
 * SHA-256 names, the report's JSON form and pithd.conf, each fed what a
 * hostile client or a careless admin would send.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon/config.h"
#include "daemon/http.h"
#include "daemon/wire.h"
#include "harness/harness.h"

static int parse(const char *s, struct http_request *r)
{
	return http_parse_head(s, strlen(s), r);
}

TEST(http_parses_a_request_with_a_body)
{
	struct http_request r;

	ASSERT_EQ(1, parse("POST /v1/jobs?wait=3&x HTTP/1.1\r\nHost: p\r\n"
			   "content-length:  12 \r\n\r\n{\"a\":1}",
			   &r));
	EXPECT_STREQ("POST", r.method);
	EXPECT_STREQ("/v1/jobs", r.path);
	EXPECT_STREQ("wait=3&x", r.query);
	EXPECT_EQ(12, r.content_length);
	EXPECT_TRUE(r.has_body);
	EXPECT_EQ(strlen("POST /v1/jobs?wait=3&x HTTP/1.1\r\nHost: p\r\n"
			 "content-length:  12 \r\n\r\n"),
		  r.head_len);
	{
		char v[16];

		EXPECT_TRUE(http_query_get(r.query, "wait", v, sizeof(v)));
		EXPECT_STREQ("3", v);
		EXPECT_TRUE(http_query_get(r.query, "x", v, sizeof(v)));
		EXPECT_FALSE(http_query_get(r.query, "w", v, sizeof(v)));
	}
}

TEST(http_waits_for_the_whole_head)
{
	struct http_request r;

	EXPECT_EQ(0, parse("GET /v1/health HTTP/1.1\r\nHost: p\r\n", &r));
	EXPECT_EQ(0, parse("GET /v1/health HTTP/1.1\r\n\r", &r));
	EXPECT_EQ(1, parse("GET /v1/health HTTP/1.1\r\n\r\n", &r));
	EXPECT_FALSE(r.has_body);
}

TEST(http_refuses_what_it_does_not_speak)
{
	static const struct {
		const char *in;
		int status;
	} bad[] = {
		{ "GET /x HTTP/2.0\r\n\r\n", 505 },
		{ "GET /x FTP/1.0\r\n\r\n", 400 },
		{ "GET x HTTP/1.1\r\n\r\n", 400 },
		{ "G(T /x HTTP/1.1\r\n\r\n", 400 },
		{ "GET  HTTP/1.1\r\n\r\n", 400 },
		{ "GET /x HTTP/1.1\r\nNoColon\r\n\r\n", 400 },
		{ "GET /x HTTP/1.1\r\n: empty\r\n\r\n", 400 },
		{ "POST /x HTTP/1.1\r\nContent-Length: 1\r\n"
		  "Content-Length: 2\r\n\r\n",
		  400 }, /* request smuggling: two lengths */
		{ "POST /x HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400 },
		{ "POST /x HTTP/1.1\r\nContent-Length: 1x\r\n\r\n", 400 },
		{ "POST /x HTTP/1.1\r\nContent-Length: "
		  "99999999999999999999999\r\n\r\n",
		  400 },
		{ "POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", 411 },
		{ "POST /x HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", 501 },
		{ "GET /a\x01 HTTP/1.1\r\n\r\n", 400 },
		{ "GET /a\x7f HTTP/1.1\r\n\r\n", 400 },
	};
	struct http_request r;

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		EXPECT_EQ(bad[i].status, parse(bad[i].in, &r))
			TH_LOG("request %zu: %s", i, bad[i].in);
}

TEST(http_bounds_the_head)
{
	size_t n = HTTP_HEAD_MAX + 100;
	char *big = malloc(n + 1);
	struct http_request r;

	ASSERT_NE(NULL, big);
	memset(big, 'a', n);
	memcpy(big, "GET /x HTTP/1.1\r\nX: ", 20);
	big[n] = 0;
	/* No blank line and already over the bound: refuse, don't wait. */
	EXPECT_EQ(413, http_parse_head(big, n, &r));
	memcpy(big + n - 4, "\r\n\r\n", 4);
	EXPECT_EQ(413, http_parse_head(big, n, &r));
	free(big);
}

TEST(base64_round_trips_every_length)
{
	unsigned char in[300];

	for (size_t i = 0; i < sizeof(in); i++)
		in[i] = (unsigned char)(i * 37 + 11);
	for (size_t len = 0; len < sizeof(in); len++) {
		char *b = wire_b64_encode(in, len);
		unsigned char *out;
		size_t n;

		ASSERT_NE(NULL, b);
		ASSERT_EQ(0, wire_b64_decode(b, strlen(b), &out, &n))
			TH_LOG("len %zu", len);
		EXPECT_EQ(len, n);
		EXPECT_EQ(0, memcmp(in, out, len));
		free(out);
		free(b);
	}
}

TEST(base64_decode_is_strict)
{
	static const char *const bad[] = {
		"A", "AB", "ABC", "A===", "=AAA", "AA=A", "AB==AB==", "AB\n=",
		"AB c", "QR==", /* non-zero unused bits */
		"QUI=QUJD",	/* padding in the middle */
	};
	unsigned char *out;
	size_t n;

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		EXPECT_EQ(-EINVAL, wire_b64_decode(bad[i], strlen(bad[i]),
						   &out, &n))
			TH_LOG("input '%s'", bad[i]);
	ASSERT_EQ(0, wire_b64_decode("SEVMTE8K", 8, &out, &n));
	EXPECT_EQ(6, n);
	EXPECT_EQ(0, memcmp(out, "HELLO\n", 6));
	free(out);
}

TEST(sha256_matches_the_fips_vectors)
{
	char hex[WIRE_SHA256_HEX];
	char *million = malloc(1000000);

	wire_sha256_hex("", 0, hex);
	EXPECT_STREQ("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
		     hex);
	wire_sha256_hex("abc", 3, hex);
	EXPECT_STREQ("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
		     hex);
	wire_sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
			56, hex);
	EXPECT_STREQ("248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
		     hex);
	ASSERT_NE(NULL, million);
	memset(million, 'a', 1000000);
	wire_sha256_hex(million, 1000000, hex);
	EXPECT_STREQ("cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0",
		     hex);
	free(million);
}

static int load_conf(const char *text, struct pithd_config *c,
		     struct err *e)
{
	char path[] = "/tmp/pithd-conf-XXXXXX";
	int fd = mkstemp(path), r;

	if (fd < 0)
		return -errno;
	if (write(fd, text, strlen(text)) < 0) {
		close(fd);
		return -errno;
	}
	close(fd);
	config_defaults(c);
	r = config_load(c, path, true, e);
	unlink(path);
	return r;
}

TEST(config_reads_keys_over_defaults)
{
	struct pithd_config c;
	struct err e = {};

	ASSERT_EQ(0, load_conf("# comment\n; also\n\n[Daemon]\n Jobs = 4\n"
			       "MaxBytesPerUser=2GiB\nResultTTL=60m\n"
			       "LogLevel=debug\nSocket=/run/x.sock\n"
			       "WarmIdleTime=500ms\n",
			       &c, &e))
		TH_LOG("%s", e.msg);
	EXPECT_EQ(4, c.jobs);
	EXPECT_EQ(2ull << 30, c.max_bytes_per_user);
	EXPECT_EQ(3600000, c.result_ttl_ms);
	EXPECT_EQ(7, c.log_level);
	EXPECT_EQ(500, c.warm_idle_ms);
	EXPECT_STREQ("/run/x.sock", c.socket);
	EXPECT_STREQ(PITHD_STATE_DIR, c.state_dir);
}

TEST(config_jobs_0_and_the_default_are_four_per_cpu)
{
	struct pithd_config c;
	struct err e = {};

	config_defaults(&c);
	EXPECT_EQ(4 * sysconf(_SC_NPROCESSORS_ONLN), (long)c.jobs);
	ASSERT_EQ(0, load_conf("[Daemon]\nJobs=0\n", &c, &e))
		TH_LOG("%s", e.msg);
	EXPECT_EQ(4 * sysconf(_SC_NPROCESSORS_ONLN), (long)c.jobs);
	EXPECT_EQ(0, c.max_running_per_user); /* Jobs - 1, at least 1 */
}

TEST(config_errors_name_the_line_and_change_nothing)
{
	static const struct {
		const char *text, *want;
	} bad[] = {
		{ "[Daemon]\nJobs=257\n", ":2: bad value for Jobs" },
		{ "[Daemon]\nJobs=4\nJbos=4\n", ":3: unknown key Jbos" },
		{ "Jobs=4\n", ":1: key outside the [Daemon] section" },
		{ "[Service]\n", ":1: unknown section [Service]" },
		{ "[Daemon]\nSocket=relative.sock\n", ":2: bad value for Socket" },
		{ "[Daemon]\nResultTTL=5\n", ":2: bad value for ResultTTL" },
		{ "[Daemon]\njust words\n", ":2: not Key=Value" },
	};

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		struct pithd_config c;
		struct err e = {};

		EXPECT_EQ(-EINVAL, load_conf(bad[i].text, &c, &e));
		EXPECT_NE(NULL, strstr(e.msg, bad[i].want))
			TH_LOG("'%s' gave '%s'", bad[i].text, e.msg);
		/* The default (not the Jobs=4 of a bad file): nothing
		 * applied. */
		EXPECT_EQ(4 * sysconf(_SC_NPROCESSORS_ONLN), (long)c.jobs);
	}
}

TEST(config_file_is_optional_unless_named)
{
	struct pithd_config c;
	struct err e = {};

	config_defaults(&c);
	EXPECT_EQ(0, config_load(&c, "/nonexistent/pithd.conf", false, &e));
	EXPECT_EQ(-ENOENT, config_load(&c, "/nonexistent/pithd.conf", true, &e));
}

TEST_HARNESS_MAIN
