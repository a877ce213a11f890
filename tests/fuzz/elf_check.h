/* SPDX-License-Identifier: MIT */
/*
 * Invariants every image accepted by the ELF loader must satisfy, checked
 * independently of the loader's own code: shared by the unit test's mutation
 * loop and the libFuzzer target.
 */
#ifndef PITH_TESTS_FUZZ_ELF_CHECK_H
#define PITH_TESTS_FUZZ_ELF_CHECK_H

#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include <pith/abi.h>

#include "sandbox/elf.h"

/* NULL when img is sound, else what is wrong with it (static string). */
static inline const char *elf_check_image(const struct elf_image *img)
{
	const int seals = F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW |
			  F_SEAL_WRITE;
	const uint64_t pg = ELF_PAGE_SIZE - 1;
	uint64_t total = 0;
	bool entry_ok = false;
	struct stat st;
	int s;

	if (__atomic_load_n(&img->refs, __ATOMIC_RELAXED) < 1)
		return "image without a reference";
	if (img->n_segments < 1 || img->n_segments > ELF_MAX_SEGMENTS)
		return "segment count out of range";
	if (fstat(img->fd, &st) < 0)
		return "image fd is not open";
	s = fcntl(img->fd, F_GET_SEALS);
	if (s < 0 || (s & seals) != seals)
		return "image memfd not fully sealed";
	if ((fcntl(img->fd, F_GETFD) & FD_CLOEXEC) == 0)
		return "image memfd not close-on-exec";
	for (size_t i = 0; i < img->n_segments; i++) {
		const struct elf_segment *g = &img->segments[i];

		if ((g->prot & PROT_WRITE) && (g->prot & PROT_EXEC))
			return "writable and executable segment";
		if (g->prot & ~(PROT_READ | PROT_WRITE | PROT_EXEC))
			return "unknown protection bits";
		if ((g->vaddr | g->memsz | g->file_off) & pg)
			return "segment not page-aligned";
		if (g->memsz == 0)
			return "empty segment";
		if (g->filesz & pg)
			return "file part not page-aligned";
		if (g->filesz > g->memsz)
			return "file part longer than the segment";
		if (g->vaddr < PITH_IMAGE_MIN || g->vaddr > PITH_IMAGE_MAX ||
		    g->memsz > PITH_IMAGE_MAX - g->vaddr)
			return "segment outside the image range";
		if (g->file_off > (uint64_t)st.st_size ||
		    g->memsz > (uint64_t)st.st_size - g->file_off)
			return "segment beyond the end of the memfd";
		if (i > 0 && g->vaddr < img->segments[i - 1].vaddr +
						img->segments[i - 1].memsz)
			return "segments overlap or are not sorted";
		if (g->vaddr < img->lo || g->vaddr + g->memsz > img->hi)
			return "segment outside [lo, hi)";
		if ((g->prot & PROT_EXEC) && img->entry >= g->vaddr &&
		    img->entry < g->vaddr + g->memsz)
			entry_ok = true;
		total += g->memsz;
	}
	if (img->lo != img->segments[0].vaddr)
		return "lo is not the first segment's start";
	if (img->hi != img->segments[img->n_segments - 1].vaddr +
			       img->segments[img->n_segments - 1].memsz)
		return "hi is not the last segment's end";
	if (total > ELF_MAX_IMAGE_SIZE)
		return "image larger than ELF_MAX_IMAGE_SIZE";
	if (!entry_ok)
		return "entry point not in an executable segment";
	return NULL;
}

#endif
