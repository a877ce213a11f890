# SPDX-License-Identifier: MIT
# memcpy for POSIX functions: musl's x86_64 memcpy.s (rep movsq for every
# size from 8 bytes on) costs a string-instruction start-up on the small
# copies that programs make most (SQLite: record and cell copies of tens of
# bytes); here sizes up to 64 bytes are a few overlapping loads and stores,
# up to 256 a loop of 32-byte moves, and larger ones rep movsq as before.
#
# __memcpy_fwd is also memmove's forward case (src/string/x86_64/memmove.s
# jumps here when dst < src or the ranges do not overlap): every path reads
# a byte before it writes any byte at or above that address, and the tails
# are loaded before the first store, so a forward-overlapping copy is right.

.global memcpy
.global __memcpy_fwd
.hidden __memcpy_fwd
.type memcpy,@function
memcpy:
__memcpy_fwd:
	mov %rdi,%rax
	cmp $16,%rdx
	ja .Lover16
	cmp $8,%rdx
	jb .Lunder8
	mov (%rsi),%rcx
	mov -8(%rsi,%rdx),%r8
	mov %rcx,(%rdi)
	mov %r8,-8(%rdi,%rdx)
	ret
.Lunder8:
	cmp $4,%rdx
	jb .Lunder4
	mov (%rsi),%ecx
	mov -4(%rsi,%rdx),%r8d
	mov %ecx,(%rdi)
	mov %r8d,-4(%rdi,%rdx)
	ret
.Lunder4:
	test %rdx,%rdx
	jz .Lret
	mov %rdx,%r9
	shr %r9
	movzbl (%rsi),%ecx
	movzbl (%rsi,%r9),%r8d
	movzbl -1(%rsi,%rdx),%r10d
	mov %cl,(%rdi)
	mov %r8b,(%rdi,%r9)
	mov %r10b,-1(%rdi,%rdx)
.Lret:
	ret
.Lover16:
	cmp $32,%rdx
	ja .Lover32
	movdqu (%rsi),%xmm0
	movdqu -16(%rsi,%rdx),%xmm1
	movdqu %xmm0,(%rdi)
	movdqu %xmm1,-16(%rdi,%rdx)
	ret
.Lover32:
	cmp $64,%rdx
	ja .Lover64
	movdqu (%rsi),%xmm0
	movdqu 16(%rsi),%xmm1
	movdqu -32(%rsi,%rdx),%xmm2
	movdqu -16(%rsi,%rdx),%xmm3
	movdqu %xmm0,(%rdi)
	movdqu %xmm1,16(%rdi)
	movdqu %xmm2,-32(%rdi,%rdx)
	movdqu %xmm3,-16(%rdi,%rdx)
	ret
.Lover64:
	cmp $256,%rdx
	ja .Lrep
	# 32 bytes a turn from the start; the last 32 bytes, loaded first,
	# are stored at the end (over what the loop may already have copied).
	movdqu -32(%rsi,%rdx),%xmm2
	movdqu -16(%rsi,%rdx),%xmm3
	lea -32(%rdi,%rdx),%r8
	xor %ecx,%ecx
	lea -32(%rdx),%r9
.Lloop:
	movdqu (%rsi,%rcx),%xmm0
	movdqu 16(%rsi,%rcx),%xmm1
	movdqu %xmm0,(%rdi,%rcx)
	movdqu %xmm1,16(%rdi,%rcx)
	add $32,%rcx
	cmp %r9,%rcx
	jb .Lloop
	movdqu %xmm2,(%r8)
	movdqu %xmm3,16(%r8)
	ret
.Lrep:
	# The last 8 bytes first, then whole words, then those 8 bytes.
	mov -8(%rsi,%rdx),%r8
	lea -8(%rdi,%rdx),%r9
	mov %rdx,%rcx
	shr $3,%rcx
	rep
	movsq
	mov %r8,(%r9)
	ret
.size memcpy,.-memcpy
