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
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include "httpget.h"

static unsigned port;
static size_t n_logs;
static atomic_size_t next;
static atomic_int failed;
static double *lat;

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void *worker(void *arg)
{
	char *body = NULL, path[64];
	size_t cap = 0;
	int fd = http_connect(port);

	(void)arg;
	if (fd < 0) {
		failed = 1;
		return NULL;
	}
	for (;;) {
		size_t i = atomic_fetch_add(&next, 1);
		double t0;

		if (i >= n_logs)
			break;
		snprintf(path, sizeof(path), "/logs/%05zu.log", i);
		t0 = now();
		if (http_get(fd, path, &body, &cap) < 0) {
			failed = 1;
			break;
		}
		lat[i] = now() - t0;
	}
	close(fd);
	free(body);
	return NULL;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	pthread_t *t;
	unsigned nt;
	double t0, w;

	if (argc != 4)
		return 2;
	port = (unsigned)atoi(argv[1]);
	n_logs = strtoul(argv[2], NULL, 10);
	nt = (unsigned)atoi(argv[3]);
	lat = calloc(n_logs + 1, sizeof(*lat));
	t = calloc(nt, sizeof(*t));
	if (!lat || !t || !n_logs)
		return 2;
	t0 = now();
	for (unsigned i = 0; i < nt; i++)
		pthread_create(&t[i], NULL, worker, NULL);
	for (unsigned i = 0; i < nt; i++)
		pthread_join(t[i], NULL);
	w = now() - t0;
	if (failed) {
		fprintf(stderr, "thesis-rigcheck: a request failed\n");
		return 1;
	}
	qsort(lat, n_logs, sizeof(*lat), cmp);
	printf("%zu logs, %u connections: %.3f s wall; latency ms p50 %.1f p90 %.1f p99 %.1f max %.1f\n",
	       n_logs, nt, w, lat[n_logs / 2] * 1e3, lat[n_logs * 9 / 10] * 1e3,
	       lat[n_logs * 99 / 100] * 1e3, lat[n_logs - 1] * 1e3);
	return 0;
}
