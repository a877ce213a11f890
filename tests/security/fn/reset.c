// SPDX-License-Identifier: MIT
/*
 * The reset probe of tests/security/warm_test.c: freestanding, ending
 * through pith_context.exit like the SDK. Its one input item says what to
 * do: "c" reports the state it found at entry (registers, flags, segment
 * selectors and bases, x87/SSE/AVX state, its .data, .bss, stack and
 * context) as output item "state"; "p" writes a secret into every place it
 * can reach and ends cleanly; "s", "t" do the same and then fault or loop;
 * "z" poisons and also writes a secret word on every other page of its
 * whole arena (more pages and more separate runs of pages than pith zeroes
 * in place: the rest is punched out); "b" poisons and gives the first 64
 * KiB of its arena (secrets) as its output, which stays in its context; "f" faults at 0x1234; "o" overflows its stack; "j" jumps to the address
 * given in hex (the trampoline's park call) with its context still mapped
 * (and, given as a large item, that item); "r" reads the first word at
 * 0x300000010000, where the first mapped input of an instance lies; "l"
 * loads __USER_DS into one segment selector only (the third character:
 * 0 %ds, 1 %es, 2 %fs, 3 %gs) and ends cleanly.
 * The second character is 'F' when the host lets user code write fs/gs
 * base.
 */
#include <pith/abi.h>

typedef unsigned long u64;
typedef unsigned int u32;

#define SECRET 0x5ec7e75ec7e75ec7ul
#define STATE_MAX 16384

/* Saved by _start before any other instruction runs. */
u64 entry_gpr[16];
u64 entry_flags;
u64 entry_sel[4];
u64 data_word = 0x600d;		/* .data */
#ifndef RESET_BSS_WORDS
#define RESET_BSS_WORDS 512
#endif
/* .bss: 4 KiB; built with 20,480 words (160 KiB, reset-bigbss) its
 * writable segments are too large to live in the context memfd, and its
 * worker resets them with madvise (warm.c, WARM_WSEG_MAX). */
static u64 bss_area[RESET_BSS_WORDS];
static unsigned char xs[STATE_MAX] __attribute__((aligned(64)));

__asm__(".text\n"
	".globl _start\n"
	"_start:\n"
	"	mov %rax, entry_gpr+0(%rip)\n"
	"	mov %rbx, entry_gpr+8(%rip)\n"
	"	mov %rcx, entry_gpr+16(%rip)\n"
	"	mov %rdx, entry_gpr+24(%rip)\n"
	"	mov %rsi, entry_gpr+32(%rip)\n"
	"	mov %rdi, entry_gpr+40(%rip)\n"
	"	mov %rbp, entry_gpr+48(%rip)\n"
	"	mov %rsp, entry_gpr+56(%rip)\n"
	"	mov %r8, entry_gpr+64(%rip)\n"
	"	mov %r9, entry_gpr+72(%rip)\n"
	"	mov %r10, entry_gpr+80(%rip)\n"
	"	mov %r11, entry_gpr+88(%rip)\n"
	"	mov %r12, entry_gpr+96(%rip)\n"
	"	mov %r13, entry_gpr+104(%rip)\n"
	"	mov %r14, entry_gpr+112(%rip)\n"
	"	mov %r15, entry_gpr+120(%rip)\n"
	"	pushfq\n"
	"	popq entry_flags(%rip)\n"
	"	xor %eax, %eax\n"
	"	mov %ds, %ax\n"
	"	mov %rax, entry_sel+0(%rip)\n"
	"	mov %es, %ax\n"
	"	mov %rax, entry_sel+8(%rip)\n"
	"	mov %fs, %ax\n"
	"	mov %rax, entry_sel+16(%rip)\n"
	"	mov %gs, %ax\n"
	"	mov %rax, entry_sel+24(%rip)\n"
	"	and $-16, %rsp\n"
	"	call probe_main\n"
	"	ud2\n"

	/* poison_sigstate(frame): rt_sigreturn into our own caller with the
	 * frame's signal mask and signal stack; callee-saved registers kept. */
	".globl poison_sigstate\n"
	"poison_sigstate:\n"
	"	mov %r12, 72(%rdi)\n"
	"	mov %r13, 80(%rdi)\n"
	"	mov %r14, 88(%rdi)\n"
	"	mov %r15, 96(%rdi)\n"
	"	mov %rbp, 120(%rdi)\n"
	"	mov %rbx, 128(%rdi)\n"
	"	lea 8(%rsp), %rax\n"
	"	mov %rax, 160(%rdi)\n"
	"	mov (%rsp), %rax\n"
	"	mov %rax, 168(%rdi)\n"
	"	mov %rdi, %rsp\n"
	"	mov $15, %eax\n"
	"	syscall\n"
	"	ud2\n"

	/* poison_exit(target): every general register the secret (%edi,
	 * the status, 0), DF and AC set, then on to target. */
	".globl poison_exit\n"
	"poison_exit:\n"
	"	push %rdi\n"
	"	pushfq\n"
	"	orq $0x40400, (%rsp)\n"		/* AC | DF */
	"	popfq\n"
	"	movabs $0x5ec7e75ec7e75ec7, %rax\n"
	"	mov %rax, %rbx\n"
	"	mov %rax, %rcx\n"
	"	mov %rax, %rdx\n"
	"	mov %rax, %rsi\n"
	"	mov %rax, %rbp\n"
	"	mov %rax, %r8\n"
	"	mov %rax, %r9\n"
	"	mov %rax, %r10\n"
	"	mov %rax, %r11\n"
	"	mov %rax, %r12\n"
	"	mov %rax, %r13\n"
	"	mov %rax, %r14\n"
	"	mov %rax, %r15\n"
	"	movabs $0x5ec7e75e00000000, %rdi\n"
	"	ret\n");

void poison_sigstate(void *frame);
__attribute__((noreturn)) void poison_exit(u64 target);

static void cpuid(u32 leaf, u32 sub, u32 r[4])
{
	__asm__ volatile("cpuid"
			 : "=a"(r[0]), "=b"(r[1]), "=c"(r[2]), "=d"(r[3])
			 : "a"(leaf), "c"(sub));
}

static u64 xcr0(void)
{
	u32 lo, hi;

	__asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
	return (u64)hi << 32 | lo;
}

static int has_xsave(void)
{
	u32 r[4];

	cpuid(1, 0, r);
	return (r[2] >> 27) & 1; /* OSXSAVE */
}

static int has_avx(void)
{
	u32 r[4];

	cpuid(1, 0, r);
	return has_xsave() && ((r[2] >> 28) & 1) && (xcr0() & 6) == 6;
}

static int has_avx512(void)
{
	u32 r[4];

	cpuid(7, 0, r);
	return has_avx() && ((r[1] >> 16) & 1) && (xcr0() & 0xe0) == 0xe0;
}

static u64 xsave_size(void)
{
	u32 r[4];

	cpuid(0xd, 0, r);
	return r[1];
}

static void fill(void *p, u64 bytes)
{
	u64 *w = p;

	for (u64 i = 0; i < bytes / 8; i++)
		((volatile u64 *)w)[i] = SECRET;
}

static u64 count_secret(const void *p, u64 bytes)
{
	const volatile u64 *w = p;
	u64 n = 0;

	for (u64 i = 0; i < bytes / 8; i++)
		n += w[i] == SECRET;
	return n;
}

/* Reads stack memory it did not write: that is the point. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
static __attribute__((noinline)) u64 stack_below(u64 bytes, int write)
{
	volatile u64 area[8192];
	u64 n = 0;

	if (bytes > sizeof(area))
		bytes = sizeof(area);
	if (write)
		fill((void *)area, bytes);
	else
		n = count_secret((void *)area, bytes);
	return n;
}
#pragma GCC diagnostic pop

struct state {
	u64 gpr[16], flags, sel[4], fsbase, gsbase;
	u64 data_word, bss_nonzero, stack_hits, ctx_hits, reserved[8];
	u64 xsave_len;
};

static u64 save_vector_state(unsigned char *out)
{
	u64 size, n = 0;
	u64 mask = xcr0();

	if (!has_xsave())
		return 0;
	size = xsave_size();
	if (size > STATE_MAX)
		size = STATE_MAX;
	for (u64 i = 0; i < size; i++)
		xs[i] = 0;
	__asm__ volatile("xsave %0"
			 : "+m"(xs)
			 : "a"((u32)mask), "d"((u32)(mask >> 32))
			 : "memory");
	/* fcw fsw ftw fop, then past FIP/FDP: mxcsr, st0-7, xmm0-15; past
	 * the XSAVE header: every extended component (zero when it is in
	 * its initial state: XSAVE leaves it alone and we zeroed it). */
	for (u64 i = 0; i < 8; i++)
		out[n++] = xs[i];
	for (u64 i = 24; i < 512 && i < size; i++)
		out[n++] = xs[i];
	for (u64 i = 576; i < size; i++)
		out[n++] = xs[i];
	return n;
}

static void poison_vectors(void)
{
	static const u64 secret[8] __attribute__((aligned(64))) = {
		SECRET, SECRET, SECRET, SECRET, SECRET, SECRET, SECRET, SECRET
	};
	u32 mx = 0xff80;
	unsigned short cw = 0x0c7f;

	__asm__ volatile("ldmxcsr %0" : : "m"(mx));
	__asm__ volatile("fldcw %0\n fld1\n fldpi" : : "m"(cw));
#define X(r) "movdqu (%0), %%xmm" #r "\n"
	__asm__ volatile(X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9)
			 X(10) X(11) X(12) X(13) X(14) X(15)
			 : : "r"(secret) : "memory");
#undef X
	if (has_avx()) {
#define Y(r) "vmovdqu (%0), %%ymm" #r "\n"
		__asm__ volatile(Y(0) Y(1) Y(2) Y(3) Y(4) Y(5) Y(6) Y(7) Y(8)
				 Y(9) Y(10) Y(11) Y(12) Y(13) Y(14) Y(15)
				 : : "r"(secret) : "memory");
#undef Y
	}
	if (has_avx512()) {
#define Z(r) "vmovdqu64 (%0), %%zmm" #r "\n"
		__asm__ volatile(Z(0) Z(7) Z(15) Z(16) Z(23) Z(31)
				 "kmovq (%0), %%k1\n kmovq (%0), %%k7\n"
				 : : "r"(secret) : "memory");
#undef Z
	}
}

/* The struct ucontext rt_sigreturn reads (x86-64). */
struct frame {
	u64 uc_flags, uc_link, ss_sp;
	int ss_flags, ss_pad;
	u64 ss_size;
	u64 gregs[18];
	unsigned short cs, gs, fs, ss;
	u64 err, trapno, oldmask, cr2, fpstate, reserved1[8], sigmask, pad[2];
};

static void poison(struct pith_context *c, int fsgs)
{
	struct frame f __attribute__((aligned(16)));
	char *arena = (char *)c->arena;
	u64 n = c->arena_size < (64u << 10) ? c->arena_size : (64u << 10);

	fill(bss_area, sizeof(bss_area));
	data_word = SECRET;
	fill(arena, n & ~7ul);
	/* and its last 64 KiB, next to the signal stack */
	fill(arena + ((c->arena_size - n) & ~7ul), n & ~7ul);
	c->reserved[6] = SECRET;
	c->reserved[7] = SECRET;
	stack_below(32768, 1);
	/* Every signal blocked, no signal stack. */
	for (u64 i = 0; i < sizeof(f) / 8; i++)
		((u64 *)&f)[i] = 0;
	f.uc_flags = 0x6; /* UC_SIGCONTEXT_SS | UC_STRICT_RESTORE_SS */
	f.ss_flags = 2;	  /* SS_DISABLE */
	f.cs = 0x33;
	f.ss = 0x2b;
	f.gregs[17] = 0x202; /* eflags */
	f.sigmask = ~0ul;
	poison_sigstate(&f);
	poison_vectors();
	__asm__ volatile("mov %0, %%ds\n mov %0, %%es\n mov %0, %%fs\n"
			 "mov %0, %%gs" : : "r"(0x2b));
	if (fsgs)
		__asm__ volatile("wrfsbase %0\n wrgsbase %0"
				 : : "r"(SECRET >> 17)); /* canonical */
}

static u64 parse_hex(const char *s, u64 len)
{
	u64 v = 0;

	for (u64 i = 0; i < len; i++) {
		char ch = s[i];

		if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f')))
			break; /* a large item's padding */
		v = v * 16 + (u64)(ch <= '9' ? ch - '0' : ch - 'a' + 10);
	}
	return v;
}

static volatile u64 depth_max = ~0ul;

static u64 recurse(u64 n)
{
	volatile char pad[256];

	pad[0] = (char)n;
	if (n == depth_max)
		return 0;
	return recurse(n + 1) + pad[0];
}

static void report(struct pith_context *c, int fsgs)
{
	struct state *s = (struct state *)c->arena;
	unsigned char *vec = (unsigned char *)(s + 1);
	struct pith_item *it;
	struct pith_set *out = (struct pith_set *)c->outputs;
	u64 top = c->context_base + c->context_size;
	u64 ctx_hits;

	/* The context before we write into it: arena and stack. */
	ctx_hits = count_secret((void *)c->arena, c->arena_size & ~7ul);
	/* The rest of the page its input item lies in (a warm worker's input
	 * area, or the copy area): zero, nothing of an earlier instance's
	 * (longer) item. */
	{
		const struct pith_set *ins = (const struct pith_set *)c->inputs;
		const struct pith_item *item =
			(const struct pith_item *)ins[0].items;
		const volatile unsigned char *b =
			(const unsigned char *)item->data;
		u64 end = (item->data + item->len + 4095) & ~4095ul;

		/* "c-A" in a warm worker: all of its input area, 64 KiB
		 * from its start (plan.h's PLAN_INPUT_AREA), where the item
		 * lies. pith keeps the area's pages from one instance to the
		 * next and zeroes what it wrote, so every byte an earlier
		 * instance was given there must read as zero. */
		if (item->len > 2 && ((const char *)item->data)[2] == 'A' &&
		    item->data == PITH_INPUT_BASE)
			end = PITH_INPUT_BASE + (64u << 10);
		for (u64 i = item->len; i < end - item->data; i++)
			ctx_hits += b[i] != 0;
	}
	for (int i = 0; i < 16; i++)
		s->gpr[i] = entry_gpr[i];
	s->flags = entry_flags;
	for (int i = 0; i < 4; i++)
		s->sel[i] = entry_sel[i];
	s->fsbase = s->gsbase = 0;
	if (fsgs)
		__asm__ volatile("rdfsbase %0\n rdgsbase %1"
				 : "=r"(s->fsbase), "=r"(s->gsbase));
	s->data_word = data_word;
	s->bss_nonzero = 0;
	for (u64 i = 0; i < sizeof(bss_area) / 8; i++)
		s->bss_nonzero += bss_area[i] != 0;
	s->stack_hits = stack_below(32768, 0) +
			count_secret((void *)(top - 4096), 4096 - 512);
	s->ctx_hits = ctx_hits;
	for (int i = 0; i < 8; i++)
		s->reserved[i] = c->reserved[i];
	s->xsave_len = save_vector_state(vec);
	it = (struct pith_item *)(vec + ((s->xsave_len + 63) & ~63ul));
	*it = (struct pith_item){ .name = 0, .name_len = 0,
				  .data = (u64)s,
				  .len = sizeof(*s) + s->xsave_len };
	out[0].n_items = 1;
	out[0].items = (u64)it;
}

__attribute__((noreturn, used)) void probe_main(struct pith_context *c)
{
	const struct pith_set *in = (const struct pith_set *)c->inputs;
	const struct pith_item *item = (const struct pith_item *)in[0].items;
	const char *d = (const char *)item->data;
	int fsgs = item->len > 1 && d[1] == 'F';
	u64 exit = c->header_size >= PITH_CONTEXT_SIZE_1_1 ? c->exit : 0;

	switch (d[0]) {
	case 'c':
		report(c, fsgs);
		break;
	case 'z': { /* scattered: every other page of the arena */
		char *a = (char *)((c->arena + 4095) & ~4095ul);
		char *end = (char *)(c->arena + c->arena_size - 8);

		for (; a < end; a += 8192)
			*(volatile u64 *)a = SECRET;
	}
		/* fall through */
	case 'p':
	case 's':
	case 't':
		poison(c, fsgs);
		if (d[0] == 's')
			*(volatile char *)0x1234 = 1;
		if (d[0] == 't')
			for (;;)
				;
		break;
	case 'b': { /* poisoned, then 64 KiB of it as the output: kept */
		struct pith_set *out = (struct pith_set *)c->outputs;
		struct pith_item *it =
			(struct pith_item *)(c->arena + (64u << 10));

		poison(c, fsgs);
		*it = (struct pith_item){ .name = 0, .name_len = 0,
					  .data = c->arena,
					  .len = 64u << 10 };
		out[0].n_items = 1;
		out[0].items = (u64)it;
		break;
	}
	case 'l': /* one selector, the third character's, __USER_DS */
		if (item->len > 2 && d[2] == '0')
			__asm__ volatile("mov %0, %%ds" : : "r"(0x2b));
		if (item->len > 2 && d[2] == '1')
			__asm__ volatile("mov %0, %%es" : : "r"(0x2b));
		if (item->len > 2 && d[2] == '2')
			__asm__ volatile("mov %0, %%fs" : : "r"(0x2b));
		if (item->len > 2 && d[2] == '3')
			__asm__ volatile("mov %0, %%gs" : : "r"(0x2b));
		break;
	case 'f':
		*(volatile char *)0x1234 = 1;
		break;
	case 'o':
		recurse(0);
		break;
	case 'j':
		poison(c, fsgs);
		poison_exit(parse_hex(d + 2, item->len - 2));
	case 'r': { /* read where a mapped input of an earlier instance was */
		struct pith_set *out = (struct pith_set *)c->outputs;
		struct pith_item *it = (struct pith_item *)c->arena;
		u64 *word = (u64 *)(c->arena + 64);

		*word = *(volatile u64 *)0x300000010000ul;
		*it = (struct pith_item){ .data = (u64)word, .len = 8 };
		out[0].n_items = 1;
		out[0].items = (u64)it;
		break;
	}
	}
	if (exit)
		poison_exit(exit);
	for (;;) /* "fresh": the 1.0 ending */
		__asm__ volatile("syscall" : : "a"(231), "D"(0));
}
