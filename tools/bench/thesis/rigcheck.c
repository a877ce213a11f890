// SPDX-License-Identifier: MIT
/*
 * What the thesis rig alone sustains: THREADS threads, each with a
 * kept-alive connection, GET /logs/00000.log ... N-1 and do nothing with
 * the bodies (no parse, no merge). Through the delay proxy this is the
 * floor every contender's fetch stands on: about N / THREADS round trips
 * if the proxy and nginx keep up (round 8: 2,000 logs at 256 threads in
 * 0.22 s at 20 ms, so the rig did not bound pith's 0.55 s).
 *
 *   thesis-rigcheck PORT N THREADS
 *
 * Prints the wall time and the per-request latency percentiles.
 */
#define _GNU_SOURCE
#include "httpget.h"

static double *lat;

static int timed(size_t i, const char *name, const char *body, size_t len,
		 double secs)
{
	(void)name;
	(void)body;
	(void)len;
	lat[i] = secs;
	return 0;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	size_t n_logs;
	double t0, w;
	int r;

	if (argc != 4)
		return 2;
	n_logs = strtoul(argv[2], NULL, 10);
	lat = calloc(n_logs + 1, sizeof(*lat));
	if (!lat || !n_logs)
		return 2;
	t0 = http_now();
	r = http_fetch_logs((unsigned)atoi(argv[1]), n_logs,
			    (unsigned)atoi(argv[3]), timed);
	w = http_now() - t0;
	if (r < 0) {
		fprintf(stderr, "thesis-rigcheck: a request failed\n");
		return 1;
	}
	qsort(lat, n_logs, sizeof(*lat), cmp);
	printf("%zu logs, %u connections: %.3f s wall; latency ms p50 %.1f p90 %.1f p99 %.1f max %.1f\n",
	       n_logs, (unsigned)atoi(argv[3]), w, lat[n_logs / 2] * 1e3,
	       lat[n_logs * 9 / 10] * 1e3, lat[n_logs * 99 / 100] * 1e3,
	       lat[n_logs - 1] * 1e3);
	return 0;
}
