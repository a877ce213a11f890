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
/* Sum of the page-rounded p_memsz of all PT_LOAD segments (bss included);
 * big data belongs in the context arena, not in the image. */
#define ELF_MAX_IMAGE_SIZE (4ull << 30)
#define ELF_PAGE_SIZE 4096ull

struct elf_segment {
	uint64_t vaddr;	   /* page-aligned start in the sandbox */
	uint64_t memsz;	   /* page-aligned length of the mapping */
	uint64_t file_off; /* page-aligned offset in the image memfd */
	int prot;	   /* PROT_READ / PROT_WRITE / PROT_EXEC, never W+X */
	/*
	 * Page-aligned length, from vaddr, of the pages holding file bytes
	 * (<= memsz). The memfd holds zeros for the whole memsz, but map only
	 * these pages from it and the rest (bss) MAP_ANONYMOUS: a read fault
	 * on a memfd hole allocates a shmem page that outlives the instance
	 * and is shared by every user of the image.
	 */
	uint64_t filesz;
};

struct elf_image {
	int fd;		   /* sealed memfd holding the prepared segments */
	uint64_t entry;	   /* absolute entry address in the sandbox */
	size_t n_segments;
	struct elf_segment segments[ELF_MAX_SEGMENTS];
	uint64_t lo, hi;   /* page-aligned range covered by the segments */
	int refs;	   /* elf_image_ref() / elf_image_free(); atomic */
};

/* Validate and prepare `path` (relative to dirfd). */
int elf_image_load(int dirfd, const char *path, struct elf_image **ret,
		   struct err *e);
/* Same, from bytes in memory (tests, fuzzing). */
int elf_image_load_mem(const void *data, size_t len, struct elf_image **ret,
		       struct err *e);
/*
 * The declared memory of a function is the whole budget of an instance: its
 * writable image segments (.data, .bss, page-rounded) and its context, stack
 * included. The context gets what the segments leave; -E2BIG, with a
 * message, when that is less than ELF_CONTEXT_MIN.
 */
#define ELF_CONTEXT_MIN (64ull << 10)
uint64_t elf_image_writable_size(const struct elf_image *img);
int elf_image_check_memory(const struct elf_image *img, uint64_t memory,
			   struct err *e);
/* Drop a reference; the last one closes the memfd. NULL-safe. */
struct elf_image *elf_image_free(struct elf_image *img);
struct elf_image *elf_image_ref(struct elf_image *img);

#endif
