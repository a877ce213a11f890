# SPDX-License-Identifier: MIT
# ELF loader (elf.c) and the sandbox.
LIB_SRCS += userspace/sandbox/elf.c
