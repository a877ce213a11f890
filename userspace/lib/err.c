// SPDX-License-Identifier: MIT
/* Error message formatting for -errno returns. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "lib/err.h"

int err_set(struct err *e, int errnum, const char *fmt, ...)
{
	if (e) {
		va_list ap;

		va_start(ap, fmt);
		vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
		va_end(ap);
	}
	return errnum > 0 ? -errnum : -EINVAL;
}

int err_prefix(struct err *e, int r, const char *fmt, ...)
{
	char prefix[ERR_MAX], joined[2 * ERR_MAX + 2];
	va_list ap;

	if (!e)
		return r;
	va_start(ap, fmt);
	vsnprintf(prefix, sizeof(prefix), fmt, ap);
	va_end(ap);
	snprintf(joined, sizeof(joined), "%s: %s", prefix, e->msg);
	snprintf(e->msg, sizeof(e->msg), "%.*s", (int)sizeof(e->msg) - 1,
		 joined);
	return r;
}
