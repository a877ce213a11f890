// SPDX-License-Identifier: MIT
/* pithd's log lines, with sd-daemon priority prefixes under the journal. */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <syslog.h>

#include "daemon/log.h"

int log_max_level = LOG_INFO;
static bool journal;

void log_init(void)
{
	journal = getenv("JOURNAL_STREAM") != NULL;
}

void log_msg(int priority, const char *fmt, ...)
{
	char line[2048];
	int saved = errno;
	va_list ap;

	if (priority > log_max_level)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	/* One write per line, so threads do not interleave within one. */
	if (journal)
		fprintf(stderr, "<%d>%s\n", priority, line);
	else
		fprintf(stderr, "pithd: %s\n", line);
	errno = saved;
}
