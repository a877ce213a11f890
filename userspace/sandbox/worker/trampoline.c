// SPDX-License-Identifier: MIT
/*
 * Position-independent code of the trampoline page (see trampoline.h), and
 * the loader's last code before it. The trampoline runs on the context
 * stack, after the loader's data and stack are gone, so it uses no memory
 * but the handoff block.
 */
#include <stddef.h>

#include "pith/abi.h"
#include "sandbox/plan.h"
#include "sandbox/worker/trampoline.h"

#define STR_(x) #x
#define STR(x) STR_(x)

/* Offsets the assembly relies on. */
_Static_assert(offsetof(struct plan_handoff, n_unmap) == 0, "handoff");
_Static_assert(offsetof(struct plan_handoff, entry) == 8, "handoff");
_Static_assert(offsetof(struct plan_handoff, stack_top) == 16, "handoff");
_Static_assert(offsetof(struct plan_handoff, loader_text) == 24, "handoff");
_Static_assert(offsetof(struct plan_handoff, loader_text_len) == 32,
	       "handoff");
_Static_assert(offsetof(struct plan_handoff, block) == 40, "handoff");
_Static_assert(offsetof(struct plan_handoff, block_size) == 48, "handoff");
_Static_assert(offsetof(struct plan_handoff, unmap) == 56, "handoff");
#define RESERVED_OFF 80
_Static_assert(offsetof(struct pith_context, reserved) == RESERVED_OFF,
	       "pith_context.reserved");
/* The assembler takes no C integer suffixes: plain copies, checked. */
#define ASM_CONTEXT_BASE 0x200000000000
#define ASM_FAULT_REPORT 0x200000000050
#define ASM_FAULT_MAGIC 0x544c5546
_Static_assert(ASM_CONTEXT_BASE == PITH_CONTEXT_BASE, "context base");
_Static_assert(ASM_FAULT_REPORT == PITH_CONTEXT_BASE + RESERVED_OFF,
	       "fault report");
_Static_assert(ASM_FAULT_MAGIC == PLAN_FAULT_MAGIC, "fault magic");
_Static_assert(PLAN_SOCK_FD == 0, "fd number");
/* A zygote's child's (tramp_child). */
#define ASM_AREA_BASE 0x300000000000
#define ASM_AREA_LEN 0x10000
#define ASM_CTRL_READY 0x59444552
#define ASM_BLOCK 128
_Static_assert(ASM_AREA_BASE == PITH_INPUT_BASE, "input area");
_Static_assert(ASM_AREA_LEN == PLAN_INPUT_AREA, "input area");
_Static_assert(ASM_CTRL_READY == PLAN_CTRL_READY, "ready magic");
_Static_assert(PLAN_CTRL_OFF(0) == ASM_AREA_LEN, "control page");
_Static_assert(offsetof(struct plan_ctrl, tsc) == 8 &&
	       offsetof(struct plan_ctrl, error) == 16, "plan_ctrl");
_Static_assert(sizeof(struct plan_handoff) + 64 <= ASM_BLOCK, "block");
/* The warm path's constants, checked the same way. */
#define ASM_INPUT_BASE 0x300000010000	/* past the input area */
#define ASM_INPUT_LEN 0xfffffff0000	/* the rest of the input range */
#define ASM_DATA 0x204000000c00		/* struct plan_tramp_data */
#define ASM_INMAP 0x200000000070	/* reserved[PLAN_RES_INMAP] */
#define ASM_INPUT_MAPPED 0x30000000fff8	/* the input area's last words */
#define ASM_INPUT_UNMAP 0x30000000fff0
_Static_assert(ASM_INPUT_BASE == PITH_INPUT_BASE + PLAN_INPUT_AREA,
	       "mapped inputs");
_Static_assert(ASM_INPUT_LEN == PITH_INPUT_MAX - ASM_INPUT_BASE,
	       "input range");
_Static_assert(ASM_DATA == PLAN_TRAMPOLINE_BASE + PLAN_TRAMP_DATA, "data");
_Static_assert(ASM_INPUT_MAPPED == PITH_INPUT_BASE + PLAN_INPUT_MAPPED,
	       "mapped-inputs word");
_Static_assert(ASM_INPUT_UNMAP == PITH_INPUT_BASE + PLAN_INPUT_UNMAP,
	       "unmap word");
_Static_assert(ASM_INMAP == PITH_CONTEXT_BASE + RESERVED_OFF +
	       8 * PLAN_RES_INMAP, "inmap");
_Static_assert(PLAN_RES_NINMAP == PLAN_RES_INMAP + 1, "inmap count");
_Static_assert(offsetof(struct plan_tramp_data, flags) == 0, "data");
_Static_assert(offsetof(struct plan_tramp_data, ctx_len1) == 8, "data");
_Static_assert(offsetof(struct plan_tramp_data, ctx_addr2) == 16, "data");
_Static_assert(offsetof(struct plan_tramp_data, ctx_len2) == 24, "data");
_Static_assert(offsetof(struct plan_tramp_data, ctx_off2) == 32, "data");
_Static_assert(offsetof(struct plan_tramp_data, frame) == 40, "data");
_Static_assert(offsetof(struct plan_tramp_data, n_wseg) == 48, "data");
_Static_assert(offsetof(struct plan_tramp_data, wseg) == 56, "data");
_Static_assert(sizeof(struct plan_inmap) == 32, "inmap");
_Static_assert(PLAN_PARK_NR == 34 && PLAN_WARM_GO == 0 &&
	       PLAN_WARM_CTX_FD == 1 && PLAN_WARM_INPUT_FD == 2 &&
	       PLAN_F_FSGSBASE == 2,
	       "warm constants");

__asm__(
	".pushsection .text.pith_trampoline,\"ax\",@progbits\n"
	".balign 4096\n"
	".globl tramp_start\n"
	"tramp_start:\n"

	/*
	 * A zygote's clone (its fork page ends with the syscall instruction,
	 * one page below: worker/main.c, zygote_fork_page()) returns here,
	 * in the zygote and in its child: the zygote goes back to its loader
	 * with the pid (or -errno), the child on to its setup in this page
	 * (tramp_child, in a zygote's trampoline only). No system call.
	 */
	".globl tramp_forked\n"
	"tramp_forked:\n"
	"	test %rax, %rax\n"
	"	jz tramp_child\n"
	"	pop %r15\n"
	"	pop %r14\n"
	"	pop %r13\n"
	"	pop %r12\n"
	"	pop %rbp\n"
	"	pop %rbx\n"
	"	ret\n"

	/*
	 * Entry: %rsp = the handoff block (struct plan_handoff), at the top
	 * of the context stack; everything but the function's mappings, this
	 * page and the loader's code is already unmapped. %rbx keeps the
	 * block.
	 */
	".globl tramp_entry\n"
	"tramp_entry:\n"
	"	mov %rsp, %rbx\n"
	"	mov $11, %eax\n"		/* munmap(loader code) */
	"	mov 24(%rbx), %rdi\n"
	"	mov 32(%rbx), %rsi\n"
	"	syscall\n"
	"	test %rax, %rax\n"
	"	jnz 9f\n"
	/* A zygote's child comes in here, %rsp = %rbx = its block: it has
	 * no page of the loader to unmap. */
	".globl tramp_close\n"
	"tramp_close:\n"
	"	mov $3, %eax\n"			/* close(socket): the last call */
	"	mov $" STR(PLAN_SOCK_FD) ", %edi\n"
	"	syscall\n"
	/* Zero what we used: from %rsp to the end of the block. */
	"	mov 8(%rbx), %r14\n"		/* entry */
	"	mov 16(%rbx), %r15\n"		/* stack top */
	"	mov 40(%rbx), %rcx\n"
	"	add 48(%rbx), %rcx\n"
	"	sub %rsp, %rcx\n"
	"	shr $3, %rcx\n"
	"	mov %rsp, %rdi\n"
	"	xor %eax, %eax\n"
	"	cld\n"
	"	rep stosq\n"
	"	mov %r15, %rsp\n"
	"	push %r14\n"
	"	movabs $" STR(ASM_CONTEXT_BASE) ", %rdi\n"
	"	xor %eax, %eax\n"
	"	xor %ebx, %ebx\n"
	"	xor %ecx, %ecx\n"
	"	xor %edx, %edx\n"
	"	xor %esi, %esi\n"
	"	xor %ebp, %ebp\n"
	"	xor %r8d, %r8d\n"
	"	xor %r9d, %r9d\n"
	"	xor %r10d, %r10d\n"
	"	xor %r11d, %r11d\n"
	"	xor %r12d, %r12d\n"
	"	xor %r13d, %r13d\n"
	"	xor %r14d, %r14d\n"
	"	xor %r15d, %r15d\n"
	"	pxor %xmm0, %xmm0\n"
	"	pxor %xmm1, %xmm1\n"
	"	pxor %xmm2, %xmm2\n"
	"	pxor %xmm3, %xmm3\n"
	"	pxor %xmm4, %xmm4\n"
	"	pxor %xmm5, %xmm5\n"
	"	pxor %xmm6, %xmm6\n"
	"	pxor %xmm7, %xmm7\n"
	"	pxor %xmm8, %xmm8\n"
	"	pxor %xmm9, %xmm9\n"
	"	pxor %xmm10, %xmm10\n"
	"	pxor %xmm11, %xmm11\n"
	"	pxor %xmm12, %xmm12\n"
	"	pxor %xmm13, %xmm13\n"
	"	pxor %xmm14, %xmm14\n"
	"	pxor %xmm15, %xmm15\n"
	/* Flags last: the xors above set ZF and PF. */
	"	pushq $0\n"
	"	popfq\n"
	"	ret\n"
	"9:	mov $231, %eax\n"		/* exit_group(126) */
	"	mov $126, %edi\n"
	"	syscall\n"
	"	ud2\n"

	/*
	 * SIGSEGV/SIGBUS/SIGILL/SIGFPE handler (SA_SIGINFO|SA_ONSTACK|
	 * SA_RESETHAND): record signo, si_addr, rip and rsp in the
	 * descriptor's reserved[] and return; the faulting instruction runs
	 * again under the default action and the kernel kills the worker.
	 */
	".globl tramp_handler\n"
	"tramp_handler:\n"
	"	movabs $" STR(ASM_FAULT_REPORT) ", %rax\n"
	"	movabs $" STR(ASM_FAULT_MAGIC) " << 32, %rcx\n"
	"	or %rdi, %rcx\n"
	"	mov %rcx, 0(%rax)\n"
	"	mov 16(%rsi), %rcx\n"		/* si_addr */
	"	mov %rcx, 8(%rax)\n"
	"	mov 168(%rdx), %rcx\n"		/* uc_mcontext.rip */
	"	mov %rcx, 16(%rax)\n"
	"	mov 160(%rdx), %rcx\n"		/* uc_mcontext.rsp */
	"	mov %rcx, 24(%rax)\n"
	"	ret\n"
	".globl tramp_restorer\n"
	"tramp_restorer:\n"
	"	mov $15, %eax\n"		/* rt_sigreturn */
	"	syscall\n"
	"	ud2\n"

	/*
	 * Warm workers. The crt jumps here (pith_context.exit) with %edi =
	 * the status; a hostile function may jump to any instruction below
	 * with any registers. Every system call here is allowed only at its
	 * own address (seccomp and the eBPF guard check the instruction
	 * pointer) and with pinned arguments, and control never leaves this
	 * page for the function's code except through the rt_sigreturn at
	 * the end, whose frame pith wrote into a fresh context.
	 */
	".globl tramp_exit\n"
	"tramp_exit:\n"
	"	mov %edi, %r12d\n"
	/* The instance's mapped inputs (not the input area) go before the
	 * park, in the worker's own time: an idle worker holds no item's
	 * pages, and its death (pith ends idle workers with the job) unmaps
	 * nothing large while pith waits for it. Only when the instance has
	 * any, which pith says in the input area's last word (the worker maps
	 * the area read-only; only pith writes it): no call for the usual
	 * instance with small items only. A function that skips this (it
	 * jumps to the park) is caught after the park. */
	"	movabs $" STR(ASM_INPUT_MAPPED) ", %rax\n"
	"	cmpq $0, (%rax)\n"
	"	je tramp_park\n"
	"	mov $11, %eax\n"
	"	movabs $" STR(ASM_INPUT_BASE) ", %rdi\n"
	"	movabs $" STR(ASM_INPUT_LEN) ", %rsi\n"
	"	syscall\n"
	".globl tramp_ip_unmap\n"
	"tramp_ip_unmap:\n"
	"	test %rax, %rax\n"
	"	jnz 19f\n"
	/* Park: a user notification carrying the status. The context and
	 * its input area stay mapped (the function can neither unmap nor
	 * remap them: no allowed call can) and pith reads the outputs
	 * through its own mapping while the worker waits here. pith answers
	 * when it has a next instance, with 0 (the same context, zeroed and
	 * rewritten by pith, no fd added) or 2 (the same, and inputs added
	 * from fd 2); anything else ends the worker. */
	".globl tramp_park\n"
	"tramp_park:\n"
	"	mov $" STR(PLAN_PARK_NR) ", %eax\n"
	"	mov %r12d, %edi\n"
	"	syscall\n"
	".globl tramp_ip_park\n"
	"tramp_ip_park:\n"
	"	cmp $" STR(PLAN_WARM_INPUT_FD) ", %rax\n"
	"	ja 19f\n"			/* unsigned: errors too */
	/* From here on nothing the function left is trusted but the
	 * context's place, which no call it may make can change. */
	"	mov %rax, %rbp\n"
	"	movabs $" STR(ASM_DATA) ", %rbx\n"
	"	cmp $" STR(PLAN_WARM_CTX_FD) ", %rbp\n"
	"	je 19f\n"			/* no longer an answer */
	/* The parked instance's mapped inputs, if it had any (pith's word,
	 * written at the park): gone whether or not the function went
	 * through the unmapping above. Same range, same pinned arguments. */
	"	movabs $" STR(ASM_INPUT_UNMAP) ", %rax\n"
	"	cmpq $0, (%rax)\n"
	"	je 11f\n"
	"	mov $11, %eax\n"
	"	movabs $" STR(ASM_INPUT_BASE) ", %rdi\n"
	"	movabs $" STR(ASM_INPUT_LEN) ", %rsi\n"
	"	syscall\n"
	".globl tramp_ip_unmap2\n"
	"tramp_ip_unmap2:\n"
	"	test %rax, %rax\n"
	"	jnz 19f\n"
	/* Again: a jump to the instruction above comes with any %rbx. */
	"11:	movabs $" STR(ASM_DATA) ", %rbx\n"
	/* Writable image segments back to the image: MADV_DONTNEED drops
	 * the private copies of a MAP_PRIVATE file mapping. None listed
	 * when they are in the context memfd (PLAN_F_WSEG): pith copied
	 * their initial bytes back before it answered. */
	"	mov 48(%rbx), %r12\n"
	"	lea 56(%rbx), %r13\n"
	"12:	test %r12, %r12\n"
	"	jz 13f\n"
	"	mov $28, %eax\n"
	"	mov 0(%r13), %rdi\n"
	"	mov 8(%r13), %rsi\n"
	"	mov $4, %edx\n"		/* MADV_DONTNEED */
	"	syscall\n"
	".globl tramp_ip_madvise\n"
	"tramp_ip_madvise:\n"
	"	test %rax, %rax\n"
	"	jnz 19f\n"
	"	add $16, %r13\n"
	"	dec %r12\n"
	"	jmp 12b\n"
	/* The inputs, from the table pith wrote into the context (the
	 * function has not run in it yet). */
	"13:	movabs $" STR(ASM_INMAP) ", %r14\n"
	"	mov 0(%r14), %r13\n"
	"	mov 8(%r14), %r12\n"
	"	mov %r12, %r15\n"
	"14:	test %r12, %r12\n"
	"	jz 16f\n"
	"	mov $9, %eax\n"
	"	mov 0(%r13), %rdi\n"
	"	mov 8(%r13), %rsi\n"
	"	mov $1, %edx\n"		/* PROT_READ */
	"	mov $0x100001, %r10d\n"	/* MAP_SHARED|MAP_FIXED_NOREPLACE */
	"	mov 24(%r13), %r8\n"
	"	mov 16(%r13), %r9\n"
	"	syscall\n"
	".globl tramp_ip_map_input\n"
	"tramp_ip_map_input:\n"
	"	cmp %rdi, %rax\n"
	"	jne 19f\n"
	"	add $32, %r13\n"
	"	dec %r12\n"
	"	jmp 14b\n"
	/* Zero the table and the slots (table, count, flags): the arena
	 * and reserved[] start zero-filled. */
	"16:	mov 0(%r14), %rdi\n"
	"	lea (,%r15,4), %rcx\n"
	"	xor %eax, %eax\n"
	"	cld\n"
	"	rep stosq\n"
	"	movq $0, 0(%r14)\n"
	"	movq $0, 8(%r14)\n"
	"	movq $0, 16(%r14)\n"
	/* No descriptor survives into the function: when pith added some,
	 * close them all. */
	"	test %rbp, %rbp\n"
	"	jz 17f\n"
	"	mov $436, %eax\n"		/* close_range(1, ~0U, 0) */
	"	mov $1, %edi\n"
	"	mov $0xffffffff, %esi\n"
	"	xor %edx, %edx\n"
	"	syscall\n"
	".globl tramp_ip_close\n"
	"tramp_ip_close:\n"
	"	test %rax, %rax\n"
	"	jnz 19f\n"
	/* Null data segment selectors, then fs/gs bases 0 (the function may
	 * have written them with WRFSBASE/WRGSBASE). A selector already 0
	 * is the null one a load of 0 left (reading one back is cheap; a
	 * load is not, on a VM): the loads are made only when one of the
	 * four is not 0. */
	"17:	mov %ds, %eax\n"
	"	mov %es, %ecx\n"
	"	or %ecx, %eax\n"
	"	mov %fs, %ecx\n"
	"	or %ecx, %eax\n"
	"	mov %gs, %ecx\n"
	"	or %ecx, %eax\n"
	"	xor %ecx, %ecx\n"
	"	test %eax, %eax\n"
	"	jz 20f\n"
	"	xor %eax, %eax\n"
	"	mov %eax, %ds\n"
	"	mov %eax, %es\n"
	"	mov %eax, %fs\n"
	"	mov %eax, %gs\n"
	"20:	xor %eax, %eax\n"
	"	testb $" STR(PLAN_F_FSGSBASE) ", 0(%rbx)\n"
	"	jz 18f\n"
	"	wrfsbase %rax\n"
	"	wrgsbase %rax\n"
	/* Every general register, the flags, %rip = entry, %rsp = stack
	 * top, %rdi = the context, the signal mask and signal stack, and
	 * (fpstate NULL) the initial FPU/SSE/AVX state: one rt_sigreturn
	 * from pith's frame. */
	"18:	mov 40(%rbx), %rsp\n"
	"	mov $15, %eax\n"
	"	syscall\n"
	"19:	mov $231, %eax\n"		/* exit_group(126) */
	"	mov $126, %edi\n"
	"	syscall\n"
	"	ud2\n"

	/*
	 * A zygote's child (from tramp_forked; in a zygote's trampoline only:
	 * the loader fills [tramp_child, tramp_child_end) with int3 in every
	 * other worker's). Registers only until its context is mapped: %r12
	 * and %r13 its slot's read-write and read-only descriptors, %r14
	 * pith's pid, %r15 the guard page's offset, %r8 the entry, %rsp the
	 * context's top (worker/main.c, zygote_fork()). This page is the
	 * guard page's (plan.h, PLAN_ZTRAMP): all it runs is position-
	 * independent. It sets PR_SET_PDEATHSIG (fork clears it), checks
	 * that pith is still its parent, maps its slot's context around this
	 * page and the input area read-only, then uses the last ASM_BLOCK bytes of its
	 * context stack (zeroed by the trampoline with the handoff block):
	 * RLIMIT_NPROC 0 0 and its RLIMIT_CPU (each from words of this
	 * page, which the function cannot write; RLIMIT_NOFILE's soft 0 is
	 * the zygote's, inherited), "ready"
	 * and the time (its TSC: no call) into its slot's control page
	 * (pwrite: only pith maps that page), an empty descriptor table of its own, and on to the
	 * handoff at tramp_close. A failure writes its text into the control
	 * page instead ("ready" cleared first) and exits 127.
	 *
	 * Every call here stays reachable from the function (this page is
	 * its trampoline): the seccomp program allows each only at its own
	 * offset in this page, with its constant arguments pinned and its
	 * pointers to this page's words pinned to them (filter.c, the
	 * address follows the context's size), and each is harmless
	 * made again by a function (security.md, "Zygotes": by then it
	 * holds no descriptor, and its limits are the words the calls set).
	 */
	".globl tramp_child\n"
	"tramp_child:\n"
	"	mov $157, %eax\n"		/* prctl(PR_SET_PDEATHSIG, SIGKILL) */
	"	mov $1, %edi\n"
	"	mov $9, %esi\n"
	"	syscall\n"
	".globl tramp_ip_z_pdeathsig\n"
	"tramp_ip_z_pdeathsig:\n"
	"	lea zf_pdeathsig(%rip), %rsi\n"
	"	test %rax, %rax\n"
	"	jnz 90f\n"
	"	mov $110, %eax\n"		/* getppid */
	"	syscall\n"
	".globl tramp_ip_z_getppid\n"
	"tramp_ip_z_getppid:\n"
	"	lea zf_parent(%rip), %rsi\n"
	"	cmp %r14, %rax\n"
	"	jne 90f\n"
	"	mov %r8, %r14\n"		/* the entry, from here on */
	"	mov $9, %eax\n"			/* mmap: the context below the guard */
	"	movabs $" STR(ASM_CONTEXT_BASE) ", %rdi\n"
	"	mov %r15, %rsi\n"
	"	mov $3, %edx\n"			/* PROT_READ | PROT_WRITE */
	"	mov $0x100001, %r10d\n"	/* MAP_SHARED | MAP_FIXED_NOREPLACE */
	"	mov %r12, %r8\n"
	"	xor %r9d, %r9d\n"
	"	syscall\n"
	".globl tramp_ip_z_map_context\n"
	"tramp_ip_z_map_context:\n"
	"	lea zf_context(%rip), %rsi\n"
	"	cmp %rdi, %rax\n"
	"	jne 90f\n"
	"	lea 4096(%r15), %r9\n"		/* above the guard: the stack */
	"	lea (%rdi,%r9), %rdi\n"
	"	mov %rsp, %rsi\n"
	"	sub %rdi, %rsi\n"
	"	mov $9, %eax\n"
	"	syscall\n"
	".globl tramp_ip_z_map_stack\n"
	"tramp_ip_z_map_stack:\n"
	"	lea zf_stack(%rip), %rsi\n"
	"	cmp %rdi, %rax\n"
	"	jne 90f\n"
	"	mov %rsp, %r9\n"		/* the input area, read-only */
	"	movabs $" STR(ASM_CONTEXT_BASE) ", %rax\n"
	"	sub %rax, %r9\n"
	"	movabs $" STR(ASM_AREA_BASE) ", %rdi\n"
	"	mov $" STR(ASM_AREA_LEN) ", %esi\n"
	"	mov $1, %edx\n"			/* PROT_READ */
	"	mov %r13, %r8\n"
	"	mov $9, %eax\n"
	"	syscall\n"
	".globl tramp_ip_z_map_area\n"
	"tramp_ip_z_map_area:\n"
	"	lea zf_area(%rip), %rsi\n"
	"	cmp %rdi, %rax\n"
	"	jne 90f\n"
	"	mov $302, %eax\n"		/* prlimit64(0, RLIMIT_NPROC, 0 0) */
	"	xor %edi, %edi\n"
	"	mov $6, %esi\n"
	"	lea tramp_z_zero(%rip), %rdx\n"
	"	xor %r10d, %r10d\n"
	"	syscall\n"
	".globl tramp_ip_z_nproc\n"
	"tramp_ip_z_nproc:\n"
	"	lea zf_nproc(%rip), %rsi\n"
	"	test %rax, %rax\n"
	"	jnz 90f\n"
	"	mov $302, %eax\n"		/* RLIMIT_CPU: the zygote's words */
	"	xor %esi, %esi\n"
	"	lea tramp_z_cpu(%rip), %rdx\n"
	"	syscall\n"
	".globl tramp_ip_z_cpu\n"
	"tramp_ip_z_cpu:\n"
	"	lea zf_cpu(%rip), %rsi\n"
	"	test %rax, %rax\n"
	"	jnz 90f\n"
	/* The time as the TSC, no call: pith converts it against two
	 * readings of its own (zygote.c, zygote_read_ctrl()). */
	"	rdtsc\n"
	"	shl $32, %rdx\n"
	"	or %rdx, %rax\n"
	"	mov %rax, -56(%rsp)\n"		/* tsc */
	"	movq $" STR(ASM_CTRL_READY) ", -64(%rsp)\n" /* magic, pad 0 */
	"	mov $18, %eax\n"		/* pwrite64 into the control page */
	"	mov %r12, %rdi\n"
	"	lea -64(%rsp), %rsi\n"
	"	mov $16, %edx\n"
	"	mov %rsp, %r10\n"
	"	movabs $(" STR(ASM_CONTEXT_BASE) " - " STR(ASM_AREA_LEN) "), %rcx\n"
	"	sub %rcx, %r10\n"
	"	syscall\n"
	".globl tramp_ip_z_ready\n"
	"tramp_ip_z_ready:\n"
	"	lea zf_ready(%rip), %rsi\n"
	"	cmp $16, %rax\n"
	"	jne 90f\n"
	"	mov $436, %eax\n"		/* close_range(0, ~0U, UNSHARE) */
	"	xor %edi, %edi\n"
	"	mov $0xffffffff, %esi\n"
	"	mov $2, %edx\n"		/* CLOSE_RANGE_UNSHARE */
	"	syscall\n"
	".globl tramp_ip_z_close\n"
	"tramp_ip_z_close:\n"
	"	lea zf_close(%rip), %rsi\n"
	"	test %rax, %rax\n"
	"	jnz 90f\n"
	/* The handoff block (struct plan_handoff) at the top: nothing to
	 * unmap, no loader window. */
	"	lea -" STR(ASM_BLOCK) "(%rsp), %rdi\n"
	"	movq $0, 0(%rdi)\n"
	"	mov %r14, 8(%rdi)\n"
	"	mov %rsp, 16(%rdi)\n"
	"	movq $0, 24(%rdi)\n"
	"	movq $0, 32(%rdi)\n"
	"	mov %rdi, 40(%rdi)\n"
	"	movq $" STR(ASM_BLOCK) ", 48(%rdi)\n"
	"	mov %rdi, %rsp\n"
	"	mov %rdi, %rbx\n"
	"	jmp tramp_close\n"
	/* A failure, its text at %rsi (NUL-terminated): "ready" cleared,
	 * then the text into the control page's error field. */
	"90:	mov %rsi, %r13\n"
	"	mov $18, %eax\n"
	"	mov %r12, %rdi\n"
	"	lea tramp_z_zero(%rip), %rsi\n"
	"	mov $8, %edx\n"
	"	mov %rsp, %r10\n"
	"	movabs $(" STR(ASM_CONTEXT_BASE) " - " STR(ASM_AREA_LEN) "), %rcx\n"
	"	sub %rcx, %r10\n"
	"	syscall\n"
	".globl tramp_ip_z_fail_clear\n"
	"tramp_ip_z_fail_clear:\n"
	"	mov $18, %eax\n"
	"	mov %r13, %rsi\n"
	"	mov $64, %edx\n"		/* each text is shorter, padded */
	"	add $16, %r10\n"
	"	syscall\n"
	".globl tramp_ip_z_fail_text\n"
	"tramp_ip_z_fail_text:\n"
	"	mov $231, %eax\n"		/* exit_group(127) */
	"	mov $127, %edi\n"
	"	syscall\n"
	"	ud2\n"
	/* The pinned pointers' words: RLIMIT_NPROC's (0 0), and RLIMIT_CPU's, which the zygote writes before a fork
	 * whenever a request's limit differs (worker/main.c). */
	".balign 16\n"
	".globl tramp_z_zero\n"
	"tramp_z_zero:	.quad 0, 0\n"
	".globl tramp_z_cpu\n"
	"tramp_z_cpu:	.quad 0, 0\n"
	"zf_pdeathsig:	.asciz \"pith-worker: PR_SET_PDEATHSIG\"\n"
	".balign 8\n"
	"zf_parent:	.asciz \"pith-worker: pith died\"\n"
	".balign 8\n"
	"zf_context:	.asciz \"pith-worker: cannot map the context\"\n"
	".balign 8\n"
	"zf_stack:	.asciz \"pith-worker: cannot map the context stack\"\n"
	".balign 8\n"
	"zf_area:	.asciz \"pith-worker: cannot map the input area\"\n"
	".balign 8\n"
	"zf_nproc:	.asciz \"pith-worker: RLIMIT_NPROC\"\n"
	".balign 8\n"
	"zf_cpu:	.asciz \"pith-worker: RLIMIT_CPU\"\n"
	".balign 8\n"
	"zf_ready:	.asciz \"pith-worker: cannot report readiness\"\n"
	".balign 8\n"
	"zf_close:	.asciz \"pith-worker: close_range\"\n"
	/* The failure's 64-byte write reads past the last text. */
	".balign 8\n"
	".zero 64\n"
	".globl tramp_child_end\n"
	"tramp_child_end:\n"
	".globl tramp_end\n"
	"tramp_end:\n"
	".popsection\n");

/*
 * The loader's last code, in its own text: %rdi = the handoff block, %rsi =
 * the trampoline's entry. It moves to the context stack, unmaps unmap[]
 * (the loader's data, its stack, vDSO, vvar: everything but the function's
 * mappings, the trampoline and this code) and jumps to the trampoline.
 */
__asm__(".text\n"
	".globl loader_handoff\n"
	"loader_handoff:\n"
	"	mov %rdi, %rsp\n"
	"	mov %rdi, %rbx\n"
	"	mov %rsi, %rbp\n"
	"	mov 0(%rbx), %r12\n"		/* n_unmap */
	"	lea 56(%rbx), %r13\n"		/* unmap[] */
	"1:	test %r12, %r12\n"
	"	jz 2f\n"
	"	mov $11, %eax\n"		/* munmap(addr, len) */
	"	mov 0(%r13), %rdi\n"
	"	mov 8(%r13), %rsi\n"
	"	syscall\n"
	"	test %rax, %rax\n"
	"	jnz 9f\n"
	"	add $16, %r13\n"
	"	dec %r12\n"
	"	jmp 1b\n"
	"2:	jmp *%rbp\n"
	"9:	mov $231, %eax\n"		/* exit_group(126) */
	"	mov $126, %edi\n"
	"	syscall\n"
	"	ud2\n");
