// SPDX-License-Identifier: MIT
/*
 * mem* and str* for freestanding functions; gcc emits calls to memcpy,
 * memset, memmove and memcmp on its own, so these must exist. Built with
 * -fno-tree-loop-distribute-patterns so no loop here becomes a call to itself.
 */
#include <pith/fn.h>

void *memcpy(void *dst, const void *src, size_t n)
{
	void *d = dst;

	__asm__ volatile("rep movsb"
			 : "+D"(d), "+S"(src), "+c"(n)
			 :
			 : "memory");
	return dst;
}

void *memset(void *dst, int c, size_t n)
{
	void *d = dst;

	__asm__ volatile("rep stosb"
			 : "+D"(d), "+c"(n)
			 : "a"(c)
			 : "memory");
	return dst;
}

void *memmove(void *dst, const void *src, size_t n)
{
	unsigned char *d = dst;
	const unsigned char *s = src;

	if ((uintptr_t)d - (uintptr_t)s >= n)
		return memcpy(dst, src, n); /* no overlap, or d below s */
	while (n >= 8) {
		uint64_t w;

		n -= 8;
		__builtin_memcpy(&w, s + n, 8);
		__builtin_memcpy(d + n, &w, 8);
	}
	while (n--)
		d[n] = s[n];
	return dst;
}

int memcmp(const void *a, const void *b, size_t n)
{
	const unsigned char *x = a, *y = b;

	while (n >= 8) {
		uint64_t u, v;

		__builtin_memcpy(&u, x, 8);
		__builtin_memcpy(&v, y, 8);
		if (u != v)
			break;
		x += 8;
		y += 8;
		n -= 8;
	}
	for (; n; n--, x++, y++)
		if (*x != *y)
			return *x - *y;
	return 0;
}

/*
 * 16 bytes at a time (SSE2, in every x86-64), never reading past s + n: a
 * byte at a time, a line splitter over a 64 KiB log spent 3x the time of
 * glibc's memchr (the thesis benchmark's parse,
 * Documentation/benchmarks/thesis.md).
 */
typedef unsigned char pith_v16 __attribute__((vector_size(16)));
typedef char pith_v16c __attribute__((vector_size(16)));

void *memchr(const void *s, int c, size_t n)
{
	const unsigned char *p = s;
	pith_v16 cv = (pith_v16){ 0 } + (unsigned char)c;

	for (; n >= 16; n -= 16, p += 16) {
		pith_v16 v;
		unsigned int m;

		__builtin_memcpy(&v, p, 16);
		m = (unsigned int)__builtin_ia32_pmovmskb128(
			(pith_v16c)(v == cv));
		if (m)
			return (void *)(p + __builtin_ctz(m));
	}
	for (; n; n--, p++)
		if (*p == (unsigned char)c)
			return (void *)p;
	return NULL;
}

void *memrchr(const void *s, int c, size_t n)
{
	const unsigned char *p = s;

	while (n--)
		if (p[n] == (unsigned char)c)
			return (void *)(p + n);
	return NULL;
}

size_t strlen(const char *s)
{
	const char *p = s;

	while (*p)
		p++;
	return p - s;
}

size_t strnlen(const char *s, size_t max)
{
	size_t n = 0;

	while (n < max && s[n])
		n++;
	return n;
}

int strcmp(const char *a, const char *b)
{
	const unsigned char *x = (const void *)a, *y = (const void *)b;

	while (*x && *x == *y)
		x++, y++;
	return *x - *y;
}

int strncmp(const char *a, const char *b, size_t n)
{
	const unsigned char *x = (const void *)a, *y = (const void *)b;

	for (; n; n--, x++, y++)
		if (*x != *y || !*x)
			return *x - *y;
	return 0;
}

char *strchr(const char *s, int c)
{
	for (;; s++) {
		if (*s == (char)c)
			return (char *)s;
		if (!*s)
			return NULL;
	}
}

char *strrchr(const char *s, int c)
{
	const char *found = NULL;

	for (;; s++) {
		if (*s == (char)c)
			found = s;
		if (!*s)
			return (char *)found;
	}
}

void *memmem(const void *haystack, size_t hlen, const void *needle,
	     size_t nlen)
{
	const unsigned char *h = haystack, *n = needle;

	if (!nlen)
		return (void *)h;
	while (hlen >= nlen) {
		const unsigned char *p = memchr(h, n[0], hlen - nlen + 1);

		if (!p)
			return NULL;
		if (!memcmp(p, n, nlen))
			return (void *)p;
		hlen -= p + 1 - h;
		h = p + 1;
	}
	return NULL;
}

char *strstr(const char *haystack, const char *needle)
{
	return memmem(haystack, strlen(haystack), needle, strlen(needle));
}

char *strcpy(char *dst, const char *src)
{
	return memcpy(dst, src, strlen(src) + 1);
}
