// SPDX-License-Identifier: MIT
/*
 * The thesis benchmark's "threads" contender: one unsandboxed process,
 * THREADS threads, each with a kept-alive connection, fetching and parsing
 * logs (examples/logstats' stats code) until none is left; then the merge
 * (its summary code) to standard output.
 *
 *   thesis-threads PORT N THREADS      logs /logs/00000.log ... N-1
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>

#include "httpget.h"
#include "logstats.h"

static unsigned port;
static size_t n_logs;
static atomic_size_t next;
static struct pith_item *reports;
static atomic_int failed;

static void *worker(void *arg)
{
	char *body = NULL, path[64], name[32];
	size_t cap = 0;
	int fd = http_connect(port);

	(void)arg;
	if (fd < 0) {
		failed = 1;
		return NULL;
	}
	for (;;) {
		size_t i = atomic_fetch_add(&next, 1);
		char *rep = NULL;
		size_t rlen = 0;
		long len;

		if (i >= n_logs)
			break;
		snprintf(name, sizeof(name), "%05zu.log", i);
		snprintf(path, sizeof(path), "/logs/%s", name);
		len = http_get(fd, path, &body, &cap);
		if (len < 0 ||
		    logstats_report(name, body, (size_t)len, &rep, &rlen)) {
			failed = 1;
			break;
		}
		reports[i] = (struct pith_item){ .name = strdup(name),
						 .data = rep, .len = rlen };
	}
	close(fd);
	free(body);
	return NULL;
}

int main(int argc, char **argv)
{
	pthread_t *t;
	unsigned nt;

	if (argc != 4)
		return 2;
	port = (unsigned)atoi(argv[1]);
	n_logs = strtoul(argv[2], NULL, 10);
	nt = (unsigned)atoi(argv[3]);
	reports = calloc(n_logs + 1, sizeof(*reports));
	t = calloc(nt, sizeof(*t));
	for (unsigned i = 0; i < nt; i++)
		pthread_create(&t[i], NULL, worker, NULL);
	for (unsigned i = 0; i < nt; i++)
		pthread_join(t[i], NULL);
	if (failed) {
		fprintf(stderr, "thesis-threads: a request failed\n");
		return 1;
	}
	return logstats_summary(reports, n_logs, stdout);
}
