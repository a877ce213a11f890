// SPDX-License-Identifier: MIT
/*
 * The thesis benchmark's "opaque" contender: one process per request, as a
 * function-as-a-service platform runs them. Fetch one log with a blocking
 * GET, parse it with examples/logstats' stats code, write the report.
 *
 *   thesis-opaque PORT NAME OUT     GET /logs/NAME, report to file OUT
 */
#define _GNU_SOURCE
#include <fcntl.h>

#include "httpget.h"
#include "logstats.h"

int main(int argc, char **argv)
{
	char path[300], *body = NULL, *rep = NULL;
	size_t cap = 0, rlen = 0;
	long len;
	int fd, out;

	if (argc != 4)
		return 2;
	snprintf(path, sizeof(path), "/logs/%s", argv[2]);
	fd = http_connect((unsigned)atoi(argv[1]));
	if (fd < 0 || (len = http_get(fd, path, &body, &cap)) < 0) {
		fprintf(stderr, "thesis-opaque: GET %s failed\n", path);
		return 1;
	}
	if (logstats_report(argv[2], body, (size_t)len, &rep, &rlen))
		return 1;
	out = open(argv[3], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (out < 0 || write(out, rep, rlen) != (ssize_t)rlen)
		return 1;
	return 0;
}
