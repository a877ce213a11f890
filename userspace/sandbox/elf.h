/* SPDX-License-Identifier: MIT */
/*
 * Loader of untrusted compute-function ELF files: every header, offset, size,
 * alignment and address is checked before anything is mapped. A validated
 * image is kept as a sealed memfd laid out so that each PT_LOAD segment can
 * be mapped straight from it, copy-on-write.
 */
#ifndef PITH_SANDBOX_ELF_H
#define PITH_SANDBOX_ELF_H

#include <stddef.h>
#include <stdint.h>

#include "lib/err.h"

#define ELF_MAX_SEGMENTS 16
#define ELF_MAX_FILE_SIZE (256ull << 20)

struct elf_segment {
	uint64_t vaddr;	   /* page-aligned start in the sandbox */
	uint64_t memsz;	   /* page-aligned length of the mapping */
	uint64_t file_off; /* page-aligned offset in the image memfd */
	int prot;	   /* PROT_READ / PROT_WRITE / PROT_EXEC, never W+X */
};

struct elf_image {
	int fd;		   /* sealed memfd holding the prepared segments */
	uint64_t entry;	   /* absolute entry address in the sandbox */
	size_t n_segments;
	struct elf_segment segments[ELF_MAX_SEGMENTS];
	uint64_t lo, hi;   /* page-aligned range covered by the segments */
};

/* Validate and prepare `path` (relative to dirfd). */
int elf_image_load(int dirfd, const char *path, struct elf_image **ret,
		   struct err *e);
/* Same, from bytes in memory (tests, fuzzing). */
int elf_image_load_mem(const void *data, size_t len, struct elf_image **ret,
		       struct err *e);
struct elf_image *elf_image_free(struct elf_image *img); /* NULL-safe */

#endif
