/* SPDX-License-Identifier: MIT */
/* Links between the SDK's own files; not part of the API in <pith/fn.h>. */
#ifndef PITH_SDK_INTERNAL_H
#define PITH_SDK_INTERNAL_H

#include <pith/fn.h>

void pith__arena_init(void *base, size_t size);
/* Does [p, p+len) lie inside arena memory handed out so far? */
bool pith__arena_holds(uintptr_t p, size_t len);
/* n bytes on whole pages of their own (padding zeroed); NULL when full. */
void *pith__alloc_pages(size_t n);
/* Add an output item referring to data without copying (checked). */
void pith__output_ref(const char *set, const char *name, bool keyed,
		      uint64_t key, const void *data, size_t len);

/* End the instance with SDK exit status `status` (PITH_EXIT_*), leaving
 * a note of why in the context (ABI 1.2, struct pith_note) when pith has
 * room for one: the set `name` (name_len bytes, cut at PITH_NAME_MAX),
 * the bytes asked and left. */
__attribute__((noreturn)) void pith__note(int status, const char *name,
					  size_t name_len, uint64_t asked,
					  uint64_t left);
/* PITH_EXIT_NOMEM, noting `asked` and what the arena has left. */
__attribute__((noreturn)) void pith__out_of_memory(uint64_t asked);

#endif
