/* SPDX-License-Identifier: MIT */
/*
 * Entry point of a pith compute function: pith jumps to _start with %rdi =
 * the context descriptor and %rsp somewhere in the context's stack; we align
 * the stack as the SysV ABI wants at a call and hand over to pith__run(),
 * which never returns (it ends with exit_group).
 */
	.text
	.globl	_start
	.type	_start, @function
_start:
	.cfi_startproc
	.cfi_undefined rip
	xorl	%ebp, %ebp		/* outermost frame */
	andq	$-16, %rsp		/* 16-aligned before the call */
	call	pith__run		/* (struct pith_context *) in %rdi */
	ud2
	.cfi_endproc
	.size	_start, . - _start

	.section .note.GNU-stack, "", @progbits
