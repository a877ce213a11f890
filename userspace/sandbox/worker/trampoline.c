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

__asm__(
	".pushsection .text.pith_trampoline,\"ax\",@progbits\n"
	".balign 4096\n"
	".globl tramp_start\n"
	"tramp_start:\n"

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
	"	pushq $0\n"
	"	popfq\n"
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
