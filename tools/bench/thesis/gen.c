// SPDX-License-Identifier: MIT
/*
 * The thesis benchmark's data: N access logs (combined log format) of about
 * 64 KiB each, DIR/logs/00000.log ..., and DIR/reference, the summary that
 * examples/logstats must compute from them, tallied here as the lines are
 * made (not by parsing them back).
 *
 *   thesis-gen DIR N [ref]     with "ref": DIR/reference only
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define LOG_BYTES (64u << 10)

static const char *const paths[] = {
	"/", "/index.html", "/robots.txt", "/favicon.ico", "/about",
	"/contact", "/blog", "/blog/dataflow", "/blog/sandboxes",
	"/blog/io_uring", "/api/v1/items", "/api/v1/items/42",
	"/api/v1/users", "/api/v1/search", "/static/app.js",
	"/static/app.css", "/static/logo.png", "/wp-login.php", "/.env",
	"/login", "/logout", "/cart", "/checkout", "/docs", "/docs/api",
	"/docs/jobs", "/feed.xml", "/sitemap.xml", "/health", "/metrics",
};
#define N_PATHS (sizeof(paths) / sizeof(paths[0]))
static const int statuses[] = { 200, 200, 200, 200, 200, 200, 301, 304,
				404, 404, 500, 503 };
#define N_STATUSES (sizeof(statuses) / sizeof(statuses[0]))

static uint64_t state;

static uint64_t rnd(void)
{
	state ^= state << 13;
	state ^= state >> 7;
	state ^= state << 17;
	return state;
}

struct pstat {
	const char *path;
	uint64_t requests, bytes;
};

static int by_requests(const void *a, const void *b)
{
	const struct pstat *x = a, *y = b;
	size_t la = strlen(x->path), lb = strlen(y->path);
	int r;

	if (x->requests != y->requests)
		return x->requests < y->requests ? 1 : -1;
	r = memcmp(x->path, y->path, la < lb ? la : lb);
	return r ? r : (la > lb) - (la < lb);
}

int main(int argc, char **argv)
{
	struct pstat ps[N_PATHS];
	uint64_t status[1000] = { 0 }, requests = 0, bytes = 0;
	char path[4096], line[1024];
	unsigned long n;
	FILE *f;

	bool ref_only = argc == 4 && !strcmp(argv[3], "ref");

	if (argc != 3 && !ref_only)
		return 2;
	n = strtoul(argv[2], NULL, 10);
	snprintf(path, sizeof(path), "%s/logs", argv[1]);
	if (!ref_only && mkdir(path, 0755) < 0 && errno != EEXIST)
		return 1;
	for (size_t k = 0; k < N_PATHS; k++)
		ps[k] = (struct pstat){ .path = paths[k] };
	for (unsigned long i = 0; i < n; i++) {
		size_t size = 0;

		state = 0x9e3779b97f4a7c15ull * (i + 1);
		snprintf(path, sizeof(path), "%s/logs/%05lu.log", argv[1], i);
		f = fopen(ref_only ? "/dev/null" : path, "w");
		if (!f)
			return 1;
		for (unsigned t = 0; size < LOG_BYTES - 300; t++) {
			size_t k = rnd() % N_PATHS;
			int st = statuses[rnd() % N_STATUSES];
			uint64_t b = rnd() % 50000;
			bool dash = rnd() % 16 == 0;
			bool query = rnd() % 4 == 0;
			char q[32] = "", bs[32] = "-";
			int len;

			if (query)
				snprintf(q, sizeof(q), "?page=%u",
					 (unsigned)(rnd() % 100));
			if (!dash)
				snprintf(bs, sizeof(bs), "%llu",
					 (unsigned long long)b);
			len = snprintf(line, sizeof(line),
				       "198.51.100.%u - - [25/Nov/2026:%02u:%02u:%02u +0000] \"GET %s%s HTTP/1.1\" %d %s \"-\" \"Mozilla/5.0 (X11; Linux x86_64) pith-thesis/%lu\"\n",
				       (unsigned)(rnd() % 250 + 1), t / 3600 % 24,
				       t / 60 % 60, t % 60, paths[k], q, st, bs,
				       i);
			fwrite(line, 1, (size_t)len, f);
			size += (size_t)len;
			requests++;
			bytes += dash ? 0 : b;
			status[st]++;
			ps[k].requests++;
			ps[k].bytes += dash ? 0 : b;
		}
		if (fclose(f))
			return 1;
	}
	snprintf(path, sizeof(path), "%s/reference", argv[1]);
	f = fopen(path, "w");
	if (!f)
		return 1;
	fprintf(f, "hosts\t%lu\nrequests\t%llu\nbytes\t%llu\nmalformed\t0\n", n,
		(unsigned long long)requests, (unsigned long long)bytes);
	for (int s = 0; s < 1000; s++)
		if (status[s])
			fprintf(f, "status\t%d\t%llu\n", s,
				(unsigned long long)status[s]);
	qsort(ps, N_PATHS, sizeof(ps[0]), by_requests);
	for (size_t k = 0; k < N_PATHS; k++)
		if (ps[k].requests)
			fprintf(f, "path\t%s\t%llu\t%llu\n", ps[k].path,
				(unsigned long long)ps[k].requests,
				(unsigned long long)ps[k].bytes);
	return fclose(f) ? 1 : 0;
}
