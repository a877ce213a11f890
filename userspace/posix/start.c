// SPDX-License-Identifier: MIT
/*
 * Start and end of a POSIX function: check the context, set up memory, the
 * file tree and randomness, hand musl an argv/environ/auxv built from the
 * function's "args" and "env", and at exit publish stdout, stderr and the
 * /out files as output items before the one real exit_group.
 */
#include <elf.h>
#include <string.h>

#include "internal.h"

#define ARGV0 "pith"

struct pith_context *rt_ctx;
uintptr_t __pith_exit_addr; /* crt.S: pith's exit address, or 0 */

int main(int, char **, char **);
int __libc_start_main(int (*)(int, char **, char **), int, char **,
		      void (*)(void), void (*)(void), void (*)(void));
__attribute__((noreturn)) void __pith_posix_start(struct pith_context *ctx);

void __pith_posix_start(struct pith_context *ctx)
{
	const __u64 *args, *env;
	size_t argc, n, i = 0;
	unsigned char *random;
	char **v;

	if (!ctx || ctx->magic != PITH_ABI_MAGIC ||
	    ctx->version != PITH_ABI_VERSION ||
	    ctx->header_size < sizeof(*ctx))
		__pith_exit_group(RT_EXIT_BAD_CONTEXT);
	rt_ctx = ctx;
	if (ctx->header_size >= PITH_CONTEXT_SIZE_1_1)
		__pith_exit_addr = ctx->exit;
	mem_init(ctx->arena, ctx->arena_size);
	rt_random_init(ctx->seed, ctx->instance);
	fs_init();

	args = (const __u64 *)(uintptr_t)ctx->args;
	env = (const __u64 *)(uintptr_t)ctx->env;
	argc = 1 + ctx->n_args;
	n = argc + 1 + ctx->n_env + 1 + 2 * 10;
	v = rt_alloc(n * sizeof(*v));
	random = rt_alloc(16);
	rt_random(random, 16);

	v[i++] = ARGV0;
	for (uint32_t k = 0; k < ctx->n_args; k++)
		v[i++] = (char *)(uintptr_t)args[k];
	v[i++] = NULL;
	for (uint32_t k = 0; k < ctx->n_env; k++)
		v[i++] = (char *)(uintptr_t)env[k];
	v[i++] = NULL;
#define AUX(t, val)                          \
	do {                                 \
		v[i++] = (char *)(uintptr_t)(t);   \
		v[i++] = (char *)(uintptr_t)(val); \
	} while (0)
	AUX(AT_PAGESZ, RT_PAGE);
	AUX(AT_CLKTCK, 100);
	AUX(AT_UID, 65534);
	AUX(AT_EUID, 65534);
	AUX(AT_GID, 65534);
	AUX(AT_EGID, 65534);
	AUX(AT_SECURE, 0);
	AUX(AT_RANDOM, random);
	AUX(AT_EXECFN, ARGV0);
	AUX(AT_NULL, 0);
#undef AUX
	__libc_start_main(main, (int)argc, v, NULL, NULL, NULL);
	__pith_exit_group(RT_EXIT_BAD_CONTEXT); /* not reached */
}

/* The raw descriptor, for POSIX functions that want pith's own view. */
struct pith_context *pith_posix_context(void)
{
	return rt_ctx;
}

struct fill {
	struct pith_item *items;
	size_t n;
};

static void count_item(const struct rt_out *o, void *arg)
{
	(void)o;
	((struct fill *)arg)->n++;
}

static void fill_item(const struct rt_out *o, void *arg)
{
	struct fill *f = arg;

	f->items[f->n++] = (struct pith_item){
		.name = (uintptr_t)o->name,
		.name_len = (__u32)o->name_len,
		.data = o->len ? (uintptr_t)o->data : 0,
		.len = o->len,
	};
}

void rt_exit(int status)
{
	struct pith_set *outs = (struct pith_set *)(uintptr_t)rt_ctx->outputs;

	status &= 0xff; /* as the kernel reports exit(N) */
	if (status)
		__pith_exit_group(status);
	for (uint32_t j = 0; j < rt_ctx->n_outputs; j++) {
		struct fill f = { 0 };

		fs_outputs(j, count_item, &f);
		if (f.n > PITH_OUTPUT_ITEMS_MAX)
			__pith_exit_group(122);
		if (!f.n)
			continue;
		f.items = pages_alloc(f.n * sizeof(*f.items));
		if (!f.items)
			__pith_exit_group(RT_EXIT_NOMEM);
		f.n = 0;
		fs_outputs(j, fill_item, &f);
		outs[j].items = (uintptr_t)f.items;
		outs[j].n_items = (__u32)f.n;
	}
	__pith_exit_group(0);
}
