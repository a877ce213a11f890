// SPDX-License-Identifier: MIT
/* Error message formatting for -errno returns. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "lib/err.h"

/* Mark a cut message: its last bytes become "...". */
static void mark_cut(char *buf, size_t size, int wanted)
{
	if (wanted >= 0 && (size_t)wanted >= size && size > 4)
		memcpy(buf + size - 4, "...", 4);
}

static void vformat(char *buf, size_t size, const char *fmt, va_list ap)
{
	mark_cut(buf, size, vsnprintf(buf, size, fmt, ap));
}

void err_copy(char *dst, size_t size, const char *msg)
{
	if (size)
		mark_cut(dst, size, snprintf(dst, size, "%s", msg));
}

int err_set(struct err *e, int errnum, const char *fmt, ...)
{
	if (e) {
		va_list ap;

		va_start(ap, fmt);
		vformat(e->msg, sizeof(e->msg), fmt, ap);
		va_end(ap);
	}
	return errnum > 0 ? -errnum : -EINVAL;
}

int err_errno(struct err *e, int errnum, const char *fmt, ...)
{
	if (errnum < 0)
		errnum = -errnum;
	if (!errnum)
		errnum = EIO;
	if (e) {
		char what[ERR_MAX];
		va_list ap;

		va_start(ap, fmt);
		vformat(what, sizeof(what), fmt, ap);
		va_end(ap);
		err_copy(e->msg, sizeof(e->msg), what);
		err_append(e, ": %s", strerror(errnum));
	}
	return -errnum;
}

int err_prefix(struct err *e, int r, const char *fmt, ...)
{
	char prefix[ERR_MAX], joined[2 * ERR_MAX + 2];
	va_list ap;

	if (!e)
		return r;
	/* A caller's bug must not print "sandbox: " and nothing after. */
	if (!e->msg[0] && r < 0)
		err_copy(e->msg, sizeof(e->msg), strerror(-r));
	va_start(ap, fmt);
	vformat(prefix, sizeof(prefix), fmt, ap);
	va_end(ap);
	snprintf(joined, sizeof(joined), "%s: %s", prefix, e->msg);
	err_copy(e->msg, sizeof(e->msg), joined);
	return r;
}

void err_append(struct err *e, const char *fmt, ...)
{
	size_t n;
	int w;
	va_list ap;

	if (!e)
		return;
	n = strnlen(e->msg, sizeof(e->msg) - 1);
	va_start(ap, fmt);
	w = vsnprintf(e->msg + n, sizeof(e->msg) - n, fmt, ap);
	va_end(ap);
	if (w > 0)
		mark_cut(e->msg, sizeof(e->msg), (int)n + w);
}
