/* SPDX-License-Identifier: MIT */
/* The kernel BTF the guard's CO-RE relocations need, cut out of
 * /sys/kernel/btf/vmlinux without a full parse (bpf_btf.c). */
#pragma once

#include <stdint.h>

struct guard_btf {
	int fd;		       /* memfd holding the small BTF, -1 none */
	char path[32];	       /* /proc/self/fd/N, for btf_custom_path */
	uint32_t n_types;      /* types in it */
	uint32_t lsm_hook_id;  /* vmlinux id of bpf_lsm_file_open, 0 none */
};

/* 0, or -errno when the kernel BTF cannot be read or cut (the caller then
 * lets libbpf read all of it). */
int guard_btf_new(struct guard_btf *ret);
void guard_btf_free(struct guard_btf *b);
