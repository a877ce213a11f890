// SPDX-License-Identifier: MIT
/*
 * The hostile compute function of the sandbox tests: freestanding, no SDK,
 * one behaviour per instance number (tests/security/hostile.h) - forbidden
 * system calls of every class, foreign ABIs, faults, loops, a fork bomb and
 * malformed output descriptors.
 */
#include <pith/abi.h>

#include "sandbox/raw.h"
#include "security/hostile.h"

typedef unsigned long u64;

/* Registers as the trampoline left them, saved before anything runs; and
 * the 16 words below the stack pointer then, the last of them the
 * trampoline's return address (its `ret` into _start). */
u64 regs_at_entry[16];
u64 stack_at_entry[16];

int hostile_main(struct pith_context *c);

#ifdef HOSTILE_POSIX
/*
 * The same behaviours as a POSIX function (tools/pith-cc --posix, built by
 * userspace/posix/build.mk): musl and pith's POSIX runtime start first,
 * then main runs the behaviour and hands its status straight to
 * exit_group, as _start does below. A POSIX function is no stronger.
 */
struct pith_context *pith_posix_context(void);

int main(void)
{
	raw_exit_group(hostile_main(pith_posix_context()));
}
#else
__asm__(".text\n"
	".globl _start\n"
	"_start:\n"
	"	mov %rax, regs_at_entry+0(%rip)\n"
	"	mov %rbx, regs_at_entry+8(%rip)\n"
	"	mov %rcx, regs_at_entry+16(%rip)\n"
	"	mov %rdx, regs_at_entry+24(%rip)\n"
	"	mov %rsi, regs_at_entry+32(%rip)\n"
	"	mov %rdi, regs_at_entry+40(%rip)\n"
	"	mov %rbp, regs_at_entry+48(%rip)\n"
	"	mov %rsp, regs_at_entry+56(%rip)\n"
	"	mov %r8, regs_at_entry+64(%rip)\n"
	"	mov %r9, regs_at_entry+72(%rip)\n"
	"	mov %r10, regs_at_entry+80(%rip)\n"
	"	mov %r11, regs_at_entry+88(%rip)\n"
	"	mov %r12, regs_at_entry+96(%rip)\n"
	"	mov %r13, regs_at_entry+104(%rip)\n"
	"	mov %r14, regs_at_entry+112(%rip)\n"
	"	mov %r15, regs_at_entry+120(%rip)\n"
	"	lea -128(%rsp), %rsi\n"
	"	lea stack_at_entry(%rip), %rdi\n"
	"	mov $16, %ecx\n"
	"	rep movsq\n"
	"	mov regs_at_entry+40(%rip), %rdi\n"	/* the context */
	"	and $-16, %rsp\n"
	"	call hostile_main\n"
	"	mov %eax, %edi\n"
	"	mov $231, %eax\n"
	"	syscall\n"
	"	ud2\n");

#endif

static u64 strlen_(const char *s)
{
	u64 n = 0;

	while (s[n])
		n++;
	return n;
}

static char *copy_str(char **arena, const char *s)
{
	char *at = *arena;
	u64 n = strlen_(s);

	for (u64 i = 0; i <= n; i++)
		at[i] = s[i];
	*arena += (n + 8) & ~7ul;
	return at;
}

static struct pith_set *output0(struct pith_context *c)
{
	return (struct pith_set *)(u64)c->outputs;
}

static int outputs(struct pith_context *c)
{
	char *arena = (char *)(u64)c->arena;
	struct pith_item *it = (struct pith_item *)arena;
	struct pith_set *in = (struct pith_set *)(u64)c->inputs;
	const struct pith_item *fwd = (const struct pith_item *)(u64)in->items;
	char *name, *data;

	arena += 4 * sizeof(*it);
	name = copy_str(&arena, "hello");
	data = copy_str(&arena, "hi there");
	it[0] = (struct pith_item){ .name = (u64)name, .name_len = 5,
				    .data = (u64)data, .len = 8 };
	/* Forwarded input: its bytes stay in the input buffer. */
	it[1] = (struct pith_item){ .name_len = 0, .data = fwd->data,
				    .len = fwd->len };
	it[2] = (struct pith_item){ .name = (u64)copy_str(&arena, "k"),
				    .name_len = 1, .flags = PITH_ITEM_KEYED,
				    .key = 7, .len = 0 };
	/* The registers at entry, for the test that reads them. */
	it[3] = (struct pith_item){ .name = (u64)copy_str(&arena, "regs"),
				    .name_len = 4, .data = (u64)arena,
				    .len = sizeof(regs_at_entry) };
	for (int i = 0; i < 16; i++)
		((u64 *)arena)[i] = regs_at_entry[i];
	output0(c)->items = (u64)it;
	output0(c)->n_items = 4;
	return 0;
}

static int bad_output(struct pith_context *c, u64 variant)
{
	char *arena = (char *)(u64)c->arena;
	struct pith_item *it = (struct pith_item *)arena;
	struct pith_set *o = output0(c);
	char *name, *data;

	arena += sizeof(*it);
	name = copy_str(&arena, "ok");
	data = copy_str(&arena, "data");
	*it = (struct pith_item){ .name = (u64)name, .name_len = 2,
				  .data = (u64)data, .len = 4 };
	o->items = (u64)it;
	o->n_items = 1;
	switch (variant) {
	case BAD_ITEMS_OUTSIDE:
		o->items = PITH_CONTEXT_BASE - 4096;
		break;
	case BAD_ITEMS_OVERFLOW:
		o->items = ~0ull - 16;
		break;
	case BAD_DATA_OUTSIDE:
		it->data = c->context_base + c->context_size;
		break;
	case BAD_LEN_OVERFLOW:
		it->len = ~0ull - 8;
		break;
	case BAD_NAME_SLASH:
		name[0] = '/';
		break;
	case BAD_NAME_TOO_LONG:
		it->name_len = PITH_NAME_MAX + 1;
		break;
	case BAD_NAME_DOTDOT:
		name[0] = name[1] = '.';
		break;
	case BAD_TOO_MANY_ITEMS:
		o->n_items = PITH_OUTPUT_ITEMS_MAX + 1;
		break;
	case BAD_FLAGS:
		it->flags = 0x80;
		break;
	case BAD_DATA_IN_TRAMPOLINE:
		it->data = 0x204000000000ull; /* PLAN_TRAMPOLINE_BASE */
		break;
	case BAD_NAME_CONTROL:
		name[1] = '\n';
		break;
	}
	return 0;
}

static long forbidden(struct pith_context *c, long nr)
{
	switch (nr) {
	case 257: /* openat(AT_FDCWD, "/etc/passwd", O_RDONLY) */
		return raw_syscall6(nr, -100, (long)"/etc/passwd", 0, 0, 0, 0);
	case 2: /* open */
		return raw_syscall6(nr, (long)"/etc/passwd", 0, 0, 0, 0, 0);
	case 0: /* read(0, ...) */
		return raw_syscall6(nr, 0, (long)c->arena, 16, 0, 0, 0);
	case 41: /* socket(AF_INET, SOCK_STREAM, 0) */
		return raw_syscall6(nr, 2, 1, 0, 0, 0, 0);
	case 62:
		/* kill(-1, 0): forbidden all the same, but signal 0 only
		 * probes. The eBPF guard alone (bpf_sandbox_test, seccomp
		 * off) kills at syscall entry and cannot stop the call
		 * itself: a real SIGKILL to -1 from uid 65534 would kill
		 * every pith worker on the host, other runs' included. */
		return raw_syscall6(nr, -1, 0, 0, 0, 0, 0);
	case 9: /* mmap(NULL, 4096, RWX, MAP_PRIVATE|MAP_ANONYMOUS) */
		return raw_syscall6(nr, 0, 4096, 7, 0x22, -1, 0);
	case 10: /* mprotect(arena, 4096, PROT_READ|PROT_EXEC) */
		return raw_syscall6(nr, (long)(c->arena & ~4095ull), 4096, 5, 0, 0, 0);
	case 11: /* munmap(context) */
		return raw_syscall6(nr, (long)c->context_base, 4096, 0, 0, 0, 0);
	case 56: /* clone(SIGCHLD) */
		return raw_syscall6(nr, 17, 0, 0, 0, 0, 0);
	case 59: /* execve("/bin/sh") */
		return raw_syscall6(nr, (long)"/bin/sh", 0, 0, 0, 0, 0);
	case 101: /* ptrace(PTRACE_ATTACH, 1) */
		return raw_syscall6(nr, 16, 1, 0, 0, 0, 0);
	case 425: /* io_uring_setup(8, params in the arena) */
		return raw_syscall6(nr, 8, (long)c->arena, 0, 0, 0, 0);
	default:
		return raw_syscall6(nr, 0, 0, 0, 0, 0, 0);
	}
}

/* setup_jump(regs, target): %rax, %rdi, %rsi, %rdx, %r10, %r8, %r9 and
 * %r12 (the setup's descriptor, which its failure path writes with) from
 * regs[0..7], then on to target; no return. */
__attribute__((noreturn)) void setup_jump(const u64 *regs, u64 target);
__asm__(".text\n"
	"setup_jump:\n"
	"	mov %rsi, %r11\n"
	"	mov 0(%rdi), %rax\n"
	"	mov 16(%rdi), %rsi\n"
	"	mov 24(%rdi), %rdx\n"
	"	mov 32(%rdi), %r10\n"
	"	mov 40(%rdi), %r8\n"
	"	mov 48(%rdi), %r9\n"
	"	mov 56(%rdi), %r12\n"
	"	mov 8(%rdi), %rdi\n"
	"	jmp *%r11\n");

/* A zygote's child's setup call made again (H_SETUP_CALL). */
static int setup_call(struct pith_context *c, u64 param)
{
	static u64 limit[2] = { 1000, 1000 };
	static struct { unsigned int magic, pad; u64 now; } forged = { 0x59444552, 0, 1 };
	/* A zygote's child's trampoline is its guard page (plan.h,
	 * PLAN_ZTRAMP); an exec'd worker's at PLAN_TRAMPOLINE_BASE. */
	u64 tramp = (param >> 12) & SETUP_EXECD ?
			    0x204000000000ull :
			    c->context_base + c->context_size - c->stack_size -
				    4096;
	u64 target = tramp + (param & 0xfff), a = param >> 16;
	u64 regs[8] = { 0 };

	switch ((param >> 12) & 0x7) {
	case SETUP_PRLIMIT_RAISE:
		regs[0] = 302;
		regs[2] = a;
		regs[3] = (u64)limit;
		break;
	case SETUP_PWRITE_FORGE:
		regs[0] = 18;
		regs[1] = regs[7] = a;
		regs[2] = (u64)&forged;
		regs[3] = 16;
		regs[4] = c->context_size + 0x10000; /* PLAN_CTRL_OFF */
		break;
	case SETUP_MMAP_FD:
		regs[0] = 9;
		regs[1] = 0x280000000000ull;
		regs[2] = 4096;
		regs[3] = 3;
		regs[4] = 0x100001;
		regs[5] = regs[7] = a;
		break;
	case SETUP_OTHER_CALL:
		regs[0] = 39;
		break;
	default:
		return 106;
	}
	setup_jump(regs, target);
}

/* Bounded only by the depth parameter, which the test makes huge. */
static int recurse(volatile char *prev, u64 depth)
{
	volatile char buf[256];

	buf[0] = prev ? prev[0] + 1 : 0;
	if (!depth)
		return buf[0];
	return recurse(buf, depth - 1) + buf[1];
}

__attribute__((used)) int hostile_main(struct pith_context *c)
{
	u64 what = c->instance & 0xffff, param = c->instance >> 16;

	switch (what) {
	case H_OUTPUTS:
		return outputs(c);
	case H_EXIT:
		return (int)param;
	case H_SYSCALL:
		forbidden(c, (long)param);
		return 100; /* never reached under seccomp */
	case H_X32:
		raw_syscall6(39 | 0x40000000, 0, 0, 0, 0, 0, 0);
		return 101;
	case H_INT80: {
		long ret;

		__asm__ volatile("int $0x80" : "=a"(ret) : "a"(20) : "memory");
		return 102;
	}
	case H_FORK_BOMB:
		for (;;)
			raw_syscall6(57, 0, 0, 0, 0, 0, 0);
	case H_LOOP:
		for (;;)
			__asm__ volatile("" ::: "memory");
	case H_WRITE:
		*(volatile char *)param = 1;
		return 103;
	case H_READ:
		return *(volatile char *)param;
	case H_STACK_OVERFLOW:
		return recurse(0, param);
	case H_ILLEGAL:
		__asm__ volatile("ud2");
		return 104;
	case H_SETUP_CALL:
		return setup_call(c, param);
	case H_JUMP:
		/* 48-bit parameter, sign-extended: kernel-half addresses too. */
		((void (*)(void))((long)(param << 16) >> 16))();
		return 105;
	case H_BAD_OUTPUT:
		return bad_output(c, param);
	case H_DIVIDE: {
		long q;

		__asm__ volatile("xor %%edx, %%edx\n\t"
				 "xor %%ecx, %%ecx\n\t"
				 "mov $1, %%eax\n\t"
				 "div %%rcx"
				 : "=a"(q)
				 :
				 : "rcx", "rdx");
		return (int)q;
	}
	case H_FORWARD_ALL: {
		const struct pith_set *in = (const void *)(u64)c->inputs;
		const struct pith_item *src = (const void *)(u64)in->items;
		struct pith_item *it = (struct pith_item *)(u64)c->arena;

		for (u64 i = 0; i < in->n_items; i++)
			it[i] = (struct pith_item){ .data = src[i].data,
						    .len = src[i].len };
		output0(c)->items = (u64)it;
		output0(c)->n_items = in->n_items;
		return 0;
	}
	case H_SECUREBITS:
		return (int)raw_syscall6(157, 27 /* PR_GET_SECUREBITS */, 0, 0, 0, 0, 0);
	case H_UNPROTECT: {
		long r = raw_syscall6(10, (long)param, 4096, 3 /* RW */, 0, 0, 0);

		if (r)
			return (int)-r;
		*(volatile char *)param = 'X';
		return 0; /* the attack worked */
	}
	case H_BIG_OUTPUT: {
		struct pith_item *it = (struct pith_item *)(u64)c->arena;
		char *data = (char *)(u64)c->arena + 4096;

		for (u64 i = 0; i < param; i++)
			data[i] = (char)('a' + param % 26);
		it[0] = (struct pith_item){ .data = (u64)data, .len = param };
		output0(c)->items = (u64)it;
		output0(c)->n_items = 1;
		return 0;
	}
	case H_STACK_LEFT: {
		int n = 0;

		for (int i = 0; i < 15; i++)
			n += stack_at_entry[i] != 0;
		return n;
	}
	case H_MAP_FD: {
		long r = raw_syscall6(9, 0, 4096, 1 /* PROT_READ */,
				      1 /* MAP_SHARED */, (long)param, 0);

		return r < 0 && r > -4096 ? (int)-r : 0;
	}
	case H_CLOSE_RANGE: {
		long r = raw_syscall6(436, 0, 0xffffffffl, 0, 0, 0, 0);

		return r < 0 && r > -4096 ? (int)-r : 0;
	}
	case H_CLOSE_FDS: {
		/* The trampoline's allowed calls: close(0) on an fd that no
		 * longer exists, munmap of the loader's code (address in
		 * param, length in the first input item's key). */
		const struct pith_set *in = (const void *)(u64)c->inputs;
		const struct pith_item *it =
			c->n_inputs ? (const void *)(u64)in->items : 0;

		if (raw_syscall6(3, 0, 0, 0, 0, 0, 0) != -9)
			return 1;
		if (c->n_inputs == 1 &&
		    raw_syscall6(11, (long)param, (long)it->key, 0, 0, 0, 0) != 0)
			return 2;
		/* Everything of ours is still there. */
		return regs_at_entry[0] + *(volatile char *)c->arena +
			       ((volatile char *)c->context_base)[4096 * 200];
	}
	}
	return 99;
}
