# SPDX-License-Identifier: MIT
# memmove for POSIX functions. Up to 64 bytes memcpy's paths load every
# byte before they store one, so any overlap is right there; a forward
# move (dst below src, or no overlap) is memcpy's. musl's x86_64 memmove.s
# moved backward one byte at a time (std; rep movsb); here 32 bytes a turn
# from the end, the first 32 bytes loaded first and stored last.

.global memmove
.type memmove,@function
.hidden __memcpy_fwd
memmove:
	mov %rdi,%rax
	cmp $64,%rdx
	jbe __memcpy_fwd
	sub %rsi,%rax
	cmp %rdx,%rax
	mov %rdi,%rax
	jae __memcpy_fwd
	movdqu (%rsi),%xmm2
	movdqu 16(%rsi),%xmm3
	mov %rdx,%rcx
.Lback:
	sub $32,%rcx
	movdqu (%rsi,%rcx),%xmm0
	movdqu 16(%rsi,%rcx),%xmm1
	movdqu %xmm0,(%rdi,%rcx)
	movdqu %xmm1,16(%rdi,%rcx)
	cmp $32,%rcx
	ja .Lback
	movdqu %xmm2,(%rdi)
	movdqu %xmm3,16(%rdi)
	ret
.size memmove,.-memmove
