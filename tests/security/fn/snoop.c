// SPDX-License-Identifier: MIT
/*
 * The data-isolation test function (tests/security/isolation.sh), built
 * with the SDK. What it does is chosen by the name of its first output set:
 *
 *   secrets   produce items "small", "sib", "big" and "crafted", each with
 *             a private "SECRET-..." string of this instance right after
 *             its bytes (the arena, the stack), "crafted" a page-aligned
 *             hand-made item whose last page holds a secret
 *   leaks     for each item given, read every byte of the pages it lies in
 *             and output, named after the item, what it found there that is
 *             not one of the given items: "none", or the leaked string
 *   stale     items "stale-small" and "stale-big" over arena memory that
 *             held secrets and was freed
 *   fan       100,000 items of 10 bytes
 *   count     one item "total": "<items> <bytes>" over every input item
 *   big64     one 64 MiB item (the handoff benchmark's producer)
 *   touch     one item "pages": a byte of every page of every input item
 *             read, their sum (the handoff benchmark's consumer)
 *   alias     one 1 MiB block output 64 times (aliases, no copy)
 *   namebomb  100,000 items whose 200-byte names all alias one string
 *   names     one empty item per input item, named by the item's bytes
 */
#include <pith/fn.h>

#define PAGE 4096ul

static const char *out0(void)
{
	const struct pith_context *c = pith_context();
	const struct pith_set *s = (const void *)(uintptr_t)c->outputs;

	return c->n_outputs ? pith_set_name(s) : "";
}

static char *secret(const char *what)
{
	char *s = pith_alloc(64);

	pith_snprintf(s, 64, "SECRET-%s", what);
	return s;
}

static void produce(void)
{
	volatile char stack_secret[32];
	char *p, *a;

	pith_snprintf((char *)stack_secret, sizeof(stack_secret),
		      "SECRET-stack");
	p = pith_output_new("secrets", "small", 12);
	memcpy(p, "public-small", 12);
	secret("after-small");
	pith_output_add("secrets", "sib", "SIBLING-BYTES", 13);
	secret("after-sib");
	p = pith_output_new("secrets", "big", 100003);
	memset(p, 'b', 100003);
	secret("after-big");
	/* By hand: starts on a page, 70,000 bytes, a secret right after in
	 * the same page. Not the SDK's way; pith must not map that page. */
	p = pith_alloc(70000 + 3 * PAGE);
	a = (char *)(((uintptr_t)p + PAGE - 1) & ~(PAGE - 1));
	memset(a, 'c', 70000);
	pith_snprintf(a + 70000, 64, "SECRET-crafted-tail");
	pith_output_ref("secrets", "crafted", a, 70000);
}

static void stale(void)
{
	char *t = pith_alloc(300000);
	char *p;

	for (size_t i = 0; i + 16 <= 300000; i += 16)
		memcpy(t + i, "SECRET-stale-..", 16);
	pith_free(t); /* the next blocks reuse these bytes */
	p = pith_output_new("stale", "stale-small", 100);
	memset(p, 's', 100);
	p = pith_output_new("stale", "stale-big", 100005);
	memset(p, 'b', 100005);
}

static void fan(void)
{
	for (int i = 0; i < 100000; i++) {
		char name[16];

		pith_snprintf(name, sizeof(name), "i%d", i);
		pith_output_add("fan", name, "0123456789", 10);
	}
}

static bool given(const char *p)
{
	for (size_t s = 0; s < pith_input_count(); s++)
		pith_set_foreach(it, pith_input_at(s)) {
			const char *d = pith_item_data(it);

			if (p >= d && p < d + pith_item_len(it))
				return true;
		}
	return false;
}

/* A marker in [lo, hi) outside every given item, or NULL. */
static const char *find_leak(const char *lo, const char *hi)
{
	static const char *const marks[] = { "SECRET-", "SIBLING" };

	for (const char *p = lo; p + 7 <= hi; p++)
		for (size_t m = 0; m < 2; m++)
			if (!memcmp(p, marks[m], 7) && !given(p))
				return p;
	return NULL;
}

static void scan(void)
{
	for (size_t s = 0; s < pith_input_count(); s++)
		pith_set_foreach(it, pith_input_at(s)) {
			uintptr_t d = (uintptr_t)pith_item_data(it);
			const char *lo = (const char *)(d & ~(PAGE - 1));
			const char *hi = (const char *)((d + pith_item_len(it) +
							 PAGE - 1) & ~(PAGE - 1));
			const char *leak = pith_item_len(it) ?
						   find_leak(lo, hi) : NULL;

			if (leak)
				pith_output_add("leaks", pith_item_name(it),
						leak, strnlen(leak, 32));
			else
				pith_output_add("leaks", pith_item_name(it),
						"none", 4);
		}
}

static void count(void)
{
	uint64_t items = 0, bytes = 0;
	struct pith_sb sb = { 0 };

	for (size_t s = 0; s < pith_input_count(); s++)
		pith_set_foreach(it, pith_input_at(s)) {
			const unsigned char *d = pith_item_data(it);

			items++;
			for (size_t i = 0; i < pith_item_len(it); i++)
				bytes += d[i] != 0; /* touch every byte */
		}
	pith_sb_printf(&sb, "%llu %llu\n", (unsigned long long)items,
		       (unsigned long long)bytes);
	pith_sb_output(&sb, "count", "total");
}

static void big64(void)
{
	char *p = pith_output_new("big64", "b", 64ul << 20);

	memset(p, 'b', 64ul << 20);
}

static void touch(void)
{
	uint64_t sum = 0;
	struct pith_sb sb = { 0 };

	for (size_t s = 0; s < pith_input_count(); s++)
		pith_set_foreach(it, pith_input_at(s)) {
			const volatile unsigned char *d = pith_item_data(it);

			for (size_t i = 0; i < pith_item_len(it); i += PAGE)
				sum += d[i];
		}
	pith_sb_printf(&sb, "%llu\n", (unsigned long long)sum);
	pith_sb_output(&sb, "touch", "pages");
}

static void alias(void)
{
	char *block = pith_alloc(1 << 20);

	memset(block, 'a', 1 << 20);
	for (int i = 0; i < 64; i++) {
		char name[16];

		pith_snprintf(name, sizeof(name), "copy%d", i);
		pith_output_ref("alias", name, block, 1 << 20);
	}
}

static void namebomb(void)
{
	const struct pith_context *c = pith_context();
	struct pith_set *s = (void *)(uintptr_t)c->outputs;
	struct pith_item *items = pith_calloc(100000, sizeof(*items));
	char *name = pith_alloc(201);

	memset(name, 'n', 200);
	name[200] = 0;
	/* By hand: the SDK would copy each name. */
	for (int i = 0; i < 100000; i++)
		items[i] = (struct pith_item){ .name = (uintptr_t)name,
					       .name_len = 200 };
	s[0].n_items = 100000;
	s[0].items = (uintptr_t)items;
	/* exit_group(0) without the SDK's descriptor update. */
	__asm__ volatile("syscall" : : "a"(231), "D"(0) : "rcx", "r11", "memory");
	__builtin_unreachable();
}

static void names(void)
{
	for (size_t s = 0; s < pith_input_count(); s++)
		pith_set_foreach(it, pith_input_at(s)) {
			char *name = pith_strndup(pith_item_data(it),
						  pith_item_len(it));

			pith_output_add("names", name, "", 0);
		}
}

int main(void)
{
	const char *mode = out0();

	if (!strcmp(mode, "secrets"))
		produce();
	else if (!strcmp(mode, "leaks"))
		scan();
	else if (!strcmp(mode, "stale"))
		stale();
	else if (!strcmp(mode, "fan"))
		fan();
	else if (!strcmp(mode, "count"))
		count();
	else if (!strcmp(mode, "big64"))
		big64();
	else if (!strcmp(mode, "touch"))
		touch();
	else if (!strcmp(mode, "alias"))
		alias();
	else if (!strcmp(mode, "namebomb"))
		namebomb();
	else if (!strcmp(mode, "names"))
		names();
	else
		return 1;
	return 0;
}
