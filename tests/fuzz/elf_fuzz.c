// SPDX-License-Identifier: MIT
/*
 * libFuzzer target for the ELF loader: any input must be refused with a
 * message or yield an image that satisfies every invariant of elf_check.h.
 * Not part of `make check`; build and run with
 *
 *	make build/fuzz/elf_fuzz build/fuzz/elf_corpus
 *	build/fuzz/elf_fuzz -max_total_time=300 -max_len=65536 \
 *		build/fuzz/elf_corpus
 *
 * (clang with -fsanitize=fuzzer,address,undefined; see
 * userspace/sandbox/build.mk).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz/elf_check.h"
#include "sandbox/elf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct elf_image *img = NULL;
	struct err e = { "" };
	const char *bad;
	int r;

	r = elf_image_load_mem(data, size, &img, &e);
	if (r < 0) {
		/* A refusal always says why, on one line. */
		if (img || !e.msg[0] || strchr(e.msg, '\n')) {
			fprintf(stderr, "refusal %d without a proper message: '%s'\n",
				r, e.msg);
			abort();
		}
		return 0;
	}
	if (r != 0 || !img)
		abort();
	bad = elf_check_image(img);
	if (bad) {
		fprintf(stderr, "accepted an unsound image: %s\n", bad);
		abort();
	}
	elf_image_free(img);
	return 0;
}
