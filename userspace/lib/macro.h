/* SPDX-License-Identifier: MIT */
/* Scope-based cleanup and small helpers shared by every userspace layer. */
#ifndef PITH_LIB_MACRO_H
#define PITH_LIB_MACRO_H

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))
#define ALIGN_UP(x, a) (((x) + (a)-1) & ~((__typeof__(x))(a)-1))
#define _unused_ __attribute__((unused))
#define _printf_(a, b) __attribute__((format(printf, a, b)))
#define _cleanup_(f) __attribute__((cleanup(f)))

/* Take ownership out of a cleanup-managed variable. */
#define TAKE_PTR(p)                             \
	({                                      \
		__typeof__(p) _tp = (p);        \
		(p) = NULL;                     \
		_tp;                            \
	})
#define TAKE_FD(fd)                             \
	({                                      \
		int _tfd = (fd);                \
		(fd) = -1;                      \
		_tfd;                           \
	})

/* Define `name##p(type *p)` calling `func(*p)` when *p is not NULL. */
#define DEFINE_TRIVIAL_CLEANUP_FUNC(type, func)          \
	static inline void func##p(type *p)              \
	{                                                \
		if (*p)                                  \
			func(*p);                        \
	}

static inline void freep(void *p)
{
	free(*(void **)p);
}
#define _cleanup_free_ _cleanup_(freep)

static inline int safe_close(int fd)
{
	if (fd >= 0) {
		int saved = errno;
		close(fd);
		errno = saved;
	}
	return -1;
}

static inline void closep(int *fd)
{
	safe_close(*fd);
}
#define _cleanup_close_ _cleanup_(closep)

/* -errno from the last failed libc call, never 0. */
static inline int negative_errno(void)
{
	return errno > 0 ? -errno : -EIO;
}

#endif
