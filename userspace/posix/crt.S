/* SPDX-License-Identifier: MIT */
/*
 * Entry and exit of a POSIX function. pith jumps to _start with %rdi = the
 * context descriptor; __pith_posix_start() sets up the emulation and runs
 * musl's __libc_start_main. __pith_exit_group ends it through pith's exit
 * address (ABI 1.1) or with the only system-call instruction of a POSIX
 * function (musl's own are replaced by calls of
 * __pith_syscall: userspace/posix/musl/).
 */
	.text
	.globl	_start
	.type	_start, @function
_start:
	.cfi_startproc
	.cfi_undefined rip
	xorl	%ebp, %ebp
	andq	$-16, %rsp
	call	__pith_posix_start
	ud2
	.cfi_endproc
	.size	_start, . - _start

	.globl	__pith_exit_group
	.hidden	__pith_exit_group
	.type	__pith_exit_group, @function
__pith_exit_group:
	/* ABI 1.1: pith's exit address (the worker is reset and reused),
	 * status in %edi; else exit_group. */
	movq	__pith_exit_addr(%rip), %rax
	testq	%rax, %rax
	jz	1f
	jmp	*%rax
1:	movl	$231, %eax		/* exit_group */
	syscall
	ud2
	.size	__pith_exit_group, . - __pith_exit_group

	.section .note.GNU-stack, "", @progbits
