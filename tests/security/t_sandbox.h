/* SPDX-License-Identifier: MIT */
/* t_* helpers of the sandbox tests: a sandbox, the hostile function, runs. */
#ifndef PITH_TESTS_SECURITY_T_SANDBOX_H
#define PITH_TESTS_SECURITY_T_SANDBOX_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

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
/* Step p to its end (1), or -errno, polling its fd. */
int t_wait(struct sandbox_proc *p);
/* The reason of a finished proc. */
const char *t_reason(const struct sandbox_proc *p);
/* Whether the sandbox layer `name` (sandbox_layers()) is active here. */
bool t_layer_active(struct sandbox *sb, const char *name);

/*
 * The reset probe (tests/security/fn/reset.c), of warm_test and
 * zygote_test: build/tests/fn/reset, or reset-bigbss (160 KiB of .bss).
 */
const struct elf_image *t_reset_image(bool big_bss);
/* A request for it: one input set (the caller's), one output set "out". */
struct sandbox_request t_reset_request(bool big_bss, uint64_t timeout_ms,
				       bool fresh);
/* Run it in `mode` (reset.c: the first letter, then pith's 'F' when the
 * CPU has FSGSBASE, else '-', then the rest), to its end (wait) or not;
 * NULL with the error printed. */
struct sandbox_proc *t_reset_probe(struct sandbox *sb, bool big_bss,
				   const char *mode, uint64_t timeout_ms,
				   bool fresh, bool wait);
/* What a checking instance ("c" modes) found at entry: its report. */
struct t_found {
	char *bytes; /* malloc'd; NULL when !ok */
	size_t len;
	pid_t pid;
	bool ok;
	char reason[ERR_MAX];
};
/* What a finished probe instance found (its output, copied). */
struct t_found t_found_of(struct sandbox_proc *p);
struct t_found t_reset_check(struct sandbox *sb, bool big_bss,
			     const char *mode, bool fresh);
/* Empty when the reports are equal, else the first field (reset.c, struct
 * state) that differs; `ref` names the reference a ("fresh", "exec'd"). */
void t_reset_differ(const struct t_found *a, const struct t_found *b,
		    const char *ref, char *out, size_t len);

#endif
