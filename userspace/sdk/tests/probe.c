// SPDX-License-Identifier: MIT
/*
 * A compute function exercising the SDK for tests/unit/sdk_test.c. The first
 * item of input `cmd` says what to do; checks made inside the function end
 * it with status 10 + the number of the failed check.
 */
#include <pith/fn.h>

#include "fmt_cases.h"

typedef long ssize_t;

#define CHECK(n, cond)                        \
	do {                                  \
		if (!(cond))                  \
			pith_abort(10 + (n)); \
	} while (0)

static bool is(const struct pith_item *cmd, const char *word)
{
	return pith_item_len(cmd) == strlen(word) &&
	       !memcmp(pith_item_data(cmd), word, pith_item_len(cmd));
}

/* Every input item forwarded to `fwd` and copied to `copy`; a summary. */
static int cmd_echo(void)
{
	const struct pith_set *in = pith_input("in");
	struct pith_sb sb = { 0 };

	pith_set_foreach(it, in) {
		pith_output_forward("fwd", it);
		if (pith_item_keyed(it))
			pith_output_add_keyed("copy", pith_item_name(it),
					      pith_item_key(it) + 1,
					      pith_item_data(it),
					      pith_item_len(it));
		else
			pith_output_add("copy", pith_item_name(it),
					pith_item_data(it), pith_item_len(it));
	}
	pith_sb_printf(&sb, "inputs=%zu instance=%llu in=%zu fwd=%zu",
		       pith_input_count(),
		       (unsigned long long)pith_instance(), pith_set_count(in),
		       pith_output_count("fwd"));
	pith_sb_output(&sb, "meta", "info");
	return 0;
}

/* Zero-copy items: a slice of an input, arena memory, a found item. */
static int cmd_ref(void)
{
	const struct pith_set *in = pith_input_at(1);
	const struct pith_item *first = pith_set_item(in, 0);
	const struct pith_item *found = pith_set_find(in, "second");
	char *mem = pith_alloc(5);

	if (!first || !found || pith_set_find(in, "nothing") ||
	    pith_input_at(2) || strcmp(pith_set_name(in), "in"))
		return 2;
	pith_output_ref("fwd", "slice", (const char *)pith_item_data(first) + 1,
			pith_item_len(first) - 2);
	memcpy(mem, "arena", 5);
	pith_output_ref("fwd", "arena", mem, 5);
	pith_output_forward("fwd", found);
	return 0;
}

static int cmd_fmt(void)
{
	struct pith_sb sb = { 0 };
	char buf[512];
	int n;

#define EMIT(...)                                                  \
	do {                                                       \
		n = pith_snprintf(buf, sizeof(buf), __VA_ARGS__);  \
		pith_sb_printf(&sb, "%d|%s\n", n, buf);            \
	} while (0);
	SDK_FMT_CASES(EMIT)
#undef EMIT
	/* Truncation: the return value is the full length. */
	n = pith_snprintf(buf, 5, "%s-%d", "abcdef", 12);
	pith_sb_printf(&sb, "%d|%s\n", n, buf);
	n = pith_snprintf(buf, 0, "%d", 12345);
	pith_sb_printf(&sb, "%d|\n", n);
	pith_sb_output(&sb, "meta", "fmt");
	return 0;
}

/* Each line of input `in` parsed as u64 and as i64. */
static int cmd_parse(void)
{
	const struct pith_item *it = pith_set_item(pith_input("in"), 0);
	const char *p = pith_item_data(it), *end = p + pith_item_len(it);
	struct pith_sb sb = { 0 };

	while (p < end) {
		const char *nl = memchr(p, '\n', end - p);
		const char *q = p;
		uint64_t u = 0;
		int64_t i = 0;
		int r;

		r = pith_parse_u64(&q, nl, &u);
		pith_sb_printf(&sb, "u %d %llu %zu", r, (unsigned long long)u,
			       (size_t)(q - p));
		q = p;
		r = pith_parse_i64(&q, nl, &i);
		pith_sb_printf(&sb, " i %d %lld %zu\n", r, (long long)i,
			       (size_t)(q - p));
		p = nl + 1;
	}
	pith_sb_output(&sb, "meta", "parse");
	return 0;
}

static int by_bytes(const void *a, const void *b)
{
	const uint64_t *x = a, *y = b;

	return (*x > *y) - (*x < *y);
}

/* The u64 numbers of input `in` (one per line) sorted, one per line. */
static int cmd_sort(void)
{
	const struct pith_item *it = pith_set_item(pith_input("in"), 0);
	const char *p = pith_item_data(it), *end = p + pith_item_len(it);
	struct pith_sb sb = { 0 };
	uint64_t *v = NULL;
	size_t n = 0;

	for (;;) {
		uint64_t x;

		pith_skip_space(&p, end);
		if (p == end)
			break;
		if (pith_parse_u64(&p, end, &x))
			return 2;
		v = pith_realloc(v, (n + 1) * sizeof(*v));
		v[n++] = x;
	}
	pith_sort(v, n, sizeof(*v), by_bytes);
	for (size_t i = 0; i < n; i++)
		pith_sb_printf(&sb, "%llu\n", (unsigned long long)v[i]);
	pith_sb_output(&sb, "meta", "sorted");
	return 0;
}

static int cmd_alloc(void)
{
	char *p, *q, *r;
	size_t avail = pith_arena_avail();

	p = pith_alloc(100);
	CHECK(1, ((uintptr_t)p & 15) == 0);
	memset(p, 'a', 100);
	CHECK(2, pith_realloc(p, 1000) == p); /* newest block: in place */
	q = pith_alloc(3);
	CHECK(3, ((uintptr_t)q & 15) == 0 && q >= p + 1000);
	r = pith_realloc(p, 2000); /* not the newest: moves, keeps bytes */
	CHECK(4, r != p && r[0] == 'a' && r[99] == 'a');
	pith_free(r);
	CHECK(5, pith_alloc(8) == r); /* the freed newest block is reused */
	CHECK(6, pith_arena_avail() < avail);
	p = pith_calloc(64, 8);
	for (int i = 0; i < 512; i++)
		CHECK(7, p[i] == 0);
	CHECK(8, pith_try_alloc(pith_arena_avail() + 1) == NULL);
	q = pith_strdup("hello");
	CHECK(9, !strcmp(q, "hello"));
	q = pith_strndup("hello", 3);
	CHECK(10, !strcmp(q, "hel"));
	/* Large outputs own whole pages, the rest of the last one zero even
	 * over bytes of a freed block. */
	p = pith_alloc(3 * PITH_PAGE_ITEM_MIN);
	memset(p, 'x', 3 * PITH_PAGE_ITEM_MIN);
	pith_free(p);
	q = pith_output_new("meta", "paged", PITH_PAGE_ITEM_MIN + 10);
	CHECK(11, ((uintptr_t)q & (PITH_PAGE_SIZE - 1)) == 0);
	for (size_t i = PITH_PAGE_ITEM_MIN + 10; i % PITH_PAGE_SIZE; i++)
		CHECK(12, q[i] == 0);
	CHECK(13, (char *)pith_alloc(1) >= q + PITH_PAGE_ITEM_MIN + PITH_PAGE_SIZE);
	return 0;
}

/* Reference memmove, one byte at a time. */
static void slow_move(unsigned char *d, const unsigned char *s, size_t n)
{
	unsigned char tmp[64];

	for (size_t i = 0; i < n; i++)
		tmp[i] = s[i];
	for (size_t i = 0; i < n; i++)
		d[i] = tmp[i];
}

static int cmd_mem(void)
{
	static const char hay[] = "the cat sat on the mat";
	unsigned char a[64], b[64];
	/* Called through volatile pointers so gcc cannot fold them. */
	void *(*volatile move)(void *, const void *, size_t) = memmove;
	int (*volatile cmp)(const void *, const void *, size_t) = memcmp;
	size_t (*volatile len)(const char *) = strlen;

	for (size_t off = 0; off < 20; off++) {
		for (size_t n = 0; n < 40; n++) {
			for (int i = 0; i < 64; i++)
				a[i] = b[i] = i * 7 + 1;
			move(a + off, a + 10, n);
			slow_move(b + off, b + 10, n);
			CHECK(1, cmp(a, b, 64) == 0);
		}
	}
	CHECK(2, cmp("abcdefghij", "abcdefghik", 10) < 0);
	CHECK(3, cmp("abcdefghiz", "abcdefghik", 10) > 0);
	CHECK(4, cmp("\xff", "\x01", 1) > 0); /* bytes are unsigned */
	CHECK(5, len(hay) == 22 && strnlen(hay, 5) == 5);
	CHECK(6, strchr(hay, 'c') == hay + 4 && strrchr(hay, 't') == hay + 21);
	CHECK(7, strchr(hay, '\0') == hay + 22 && !strchr(hay, 'z'));
	CHECK(8, strstr(hay, "the mat") == hay + 15 && !strstr(hay, "dog"));
	CHECK(9, memmem(hay, 22, "at", 2) == hay + 5);
	CHECK(10, !strncmp("abcx", "abcy", 3) && strncmp("ab", "ac", 5) < 0);
	CHECK(11, memrchr(hay, 'a', 22) == hay + 20);
	/* memchr: every start, length and place of the byte (16 at a time
	 * inside), never a byte past the length. */
	{
		void *(*volatile chr)(const void *, int, size_t) = memchr;
		unsigned char buf[80];

		for (int i = 0; i < 80; i++)
			buf[i] = (unsigned char)(0x80 + i);
		for (size_t off = 0; off < 17; off++)
			for (size_t n = 0; off + n <= 64; n++) {
				CHECK(14, chr(buf + off, 0xff, n) == NULL);
				CHECK(15, chr(buf + off, 0x80 + 64, n) == NULL);
				for (size_t at = 0; at < n; at++)
					CHECK(16, chr(buf + off, 0x80 + (int)(off + at), n) ==
							  buf + off + at);
			}
		buf[40] = buf[50] = 'x';
		CHECK(17, chr(buf, 'x', 64) == buf + 40); /* the first */
		CHECK(18, chr(buf, 'x' + 256, 64) == buf + 40); /* c as a byte */
	}
	CHECK(12, pith_hash("", 0) == 0xcbf29ce484222325ull);
	CHECK(13, pith_hash("a", 1) == 0xaf63dc4c8601ec8cull);
	return 0;
}

/* A 16-aligned local must be 16-aligned: the crt aligned the stack. */
static __attribute__((noinline)) int aligned_local(void)
{
	_Alignas(16) char buf[16];
	uintptr_t a = (uintptr_t)buf;

	__asm__("" : "+r"(a)); /* gcc may not assume the answer */
	buf[0] = 1;
	return (a & 15) == 0 && buf[0] == 1;
}

static int cmd_sb(void)
{
	struct pith_sb sb = { 0 };

	pith_sb_init(&sb, 4);
	for (int i = 0; i < 1000; i++) {
		pith_sb_add_u64(&sb, i);
		pith_sb_addc(&sb, ',');
		if (i % 100 == 0)
			pith_alloc(16); /* no longer the newest block */
	}
	pith_sb_puts(&sb, "end");
	pith_sb_add_i64(&sb, -5);
	pith_sb_output(&sb, "meta", "sb");
	pith_sb_output(&sb, "meta", "empty"); /* the builder starts afresh */
	return 0;
}

int main(void)
{
	const struct pith_item *cmd = pith_set_item(pith_input("cmd"), 0);
	char longname[PITH_NAME_MAX + 2];
	char stackbuf[8] = "stack";

	if (!cmd)
		return 1;
	if (is(cmd, "echo"))
		return cmd_echo();
	if (is(cmd, "ref"))
		return cmd_ref();
	if (is(cmd, "fmt"))
		return cmd_fmt();
	if (is(cmd, "parse"))
		return cmd_parse();
	if (is(cmd, "sort"))
		return cmd_sort();
	if (is(cmd, "alloc"))
		return cmd_alloc();
	if (is(cmd, "mem"))
		return cmd_mem();
	if (is(cmd, "sb"))
		return cmd_sb();
	if (is(cmd, "align"))
		return aligned_local() ? 0 : 9;
	if (is(cmd, "abort7"))
		pith_abort(7);
	if (is(cmd, "abort0"))
		pith_abort(0);
	if (is(cmd, "return300"))
		return 300;
	if (is(cmd, "exit0")) {
		pith_output_add("meta", "x", "y", 1);
		pith_exit(0);
	}
	if (is(cmd, "nomem")) {
		for (;;)
			pith_alloc(1 << 20);
	}
	if (is(cmd, "nooutput"))
		pith_output_new("nosuchset", "x", 1);
	if (is(cmd, "longname")) {
		memset(longname, 'n', sizeof(longname) - 1);
		longname[sizeof(longname) - 1] = '\0';
		pith_output_new("meta", longname, 1);
	}
	if (is(cmd, "stackref"))
		pith_output_ref("meta", "x", stackbuf, 5);
	if (is(cmd, "syscall")) {
		long r = 39; /* getpid: must be killed */

		__asm__ volatile("syscall"
				 : "+a"(r)
				 :
				 : "rcx", "r11", "memory");
	}
	return 1;
}
