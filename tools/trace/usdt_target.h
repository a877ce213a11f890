/* SPDX-License-Identifier: MIT */
/*
 * What the tracing tools attach to: a running pith or pithd (-p PID), every
 * process running a binary (-b PATH), or by default the `pith` next to the
 * tool. Shared by pith-top and pith-snoop.
 */
#ifndef PITH_TOOLS_TRACE_USDT_TARGET_H
#define PITH_TOOLS_TRACE_USDT_TARGET_H

#include <limits.h>
#include <stdbool.h>
#include <sys/types.h>

#include <bpf/libbpf.h>

struct usdt_target {
	pid_t pid;		/* -1: every process running `binary` */
	char binary[PATH_MAX];
	char what[PATH_MAX + 32]; /* for messages */
};

/* From -p (pid_arg, may be NULL) and -b (binary_arg, may be NULL). Prints
 * the reason and returns -errno when the target does not exist or the tool
 * cannot run here (usdt_target_unsupported()). */
int usdt_target_init(struct usdt_target *t, const char *tool,
		     const char *pid_arg, const char *binary_arg);

/* Attach prog to probe pith:<name> of the target; prints why not. */
int usdt_target_attach(const struct usdt_target *t, const char *tool,
		       struct bpf_program *prog, const char *name,
		       struct bpf_link **ret_link);

/* Why a tool cannot run here (no privilege, no uprobes), or NULL. */
const char *usdt_target_unsupported(void);

#endif
