/* SPDX-License-Identifier: MIT */
/* t_* helpers of the sandbox tests: a sandbox, the hostile function, runs. */
#ifndef PITH_TESTS_SECURITY_T_SANDBOX_H
#define PITH_TESTS_SECURITY_T_SANDBOX_H

#include <stdbool.h>
#include <stdint.h>

#include "sandbox/sandbox.h"
#include "security/hostile.h"

#define T_MEMORY (1ull << 20)
#define T_TIMEOUT_MS 5000

/* A new sandbox (aborts the test with a message when it cannot be made). */
struct sandbox *t_sandbox(bool no_seccomp);
/* build/tests/fn/hostile, loaded once per process. */
const struct elf_image *t_hostile(void);
/* A sealed buffer holding `data`, as a one-item set named `name`. */
struct set *t_text_set(const char *name, const char *item, const char *data);
/* The same in a buffer of the store's pool (written by pith, not sealed by
 * the kernel: see buffer_new_mapped()). */
struct set *t_pooled_set(const char *name, const char *item, const char *data);
/* Run the hostile function with `instance`; one input set (may be NULL)
 * and one output set "out". Returns the finished proc, or NULL with the
 * error printed. */
struct sandbox_proc *t_run_hostile(struct sandbox *sb, uint64_t instance,
				   uint64_t memory, uint64_t timeout_ms,
				   struct set *input);
/* Spawn without waiting (for tests that look at a running worker). */
struct sandbox_proc *t_spawn_hostile(struct sandbox *sb, uint64_t instance,
				     uint64_t timeout_ms);
/* The reason of a finished proc. */
const char *t_reason(const struct sandbox_proc *p);

#endif
