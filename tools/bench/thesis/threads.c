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
#include "httpget.h"
#include "logstats.h"

static struct pith_item *reports;

static int report(size_t i, const char *name, const char *body, size_t len,
		  double secs)
{
	char *rep = NULL;
	size_t rlen = 0;

	(void)secs;
	if (logstats_report(name, body, len, &rep, &rlen))
		return -1;
	reports[i] = (struct pith_item){ .name = strdup(name),
					 .data = rep,
					 .len = rlen };
	return 0;
}

int main(int argc, char **argv)
{
	size_t n_logs;

	if (argc != 4)
		return 2;
	n_logs = strtoul(argv[2], NULL, 10);
	reports = calloc(n_logs + 1, sizeof(*reports));
	if (!reports)
		return 2;
	if (http_fetch_logs((unsigned)atoi(argv[1]), n_logs,
			    (unsigned)atoi(argv[3]), report) < 0) {
		fprintf(stderr, "thesis-threads: a request failed\n");
		return 1;
	}
	return logstats_summary(reports, n_logs, stdout);
}
