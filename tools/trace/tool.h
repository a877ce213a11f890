/* SPDX-License-Identifier: MIT */
/*
 * What pith-top and pith-snoop share around their own work: the command
 * line (-p PID, -b BINARY, --json, -h, and a tool's own options), the
 * attachment of their programs to pith's probes, the stop on SIGINT or
 * SIGTERM, and JSON strings.
 */
#ifndef PITH_TOOLS_TRACE_TOOL_H
#define PITH_TOOLS_TRACE_TOOL_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>

#include <bpf/libbpf.h>

#include "tools/trace/usdt_target.h"

struct tool_args {
	const char *pid_arg;	/* -p, or NULL */
	const char *bin_arg;	/* -b, or NULL */
	bool json;		/* --json */
};

/*
 * Parses argv: -p, -b, --json and -h for every tool; `own` (getopt
 * letters such as "i:n:") are the tool's, each given to on_opt (NULL when
 * there are none) with its argument, which returns 0 or an exit status. Prints the usage on -h
 * (stdout) or a mistake (stderr). True: run; false: exit with *ret_exit.
 */
bool tool_args(int argc, char **argv, const char *usage, const char *own,
	       int (*on_opt)(int c, const char *arg), struct tool_args *ret,
	       int *ret_exit);

/* A program and the pith:<name> probe it attaches to. */
struct tool_probe {
	struct bpf_program *prog;
	const char *name;
	struct bpf_link **link;
};

/* Attaches each probe in turn; 0, or -errno after printing why. */
int tool_attach(const struct usdt_target *t, const char *tool,
		const struct tool_probe *probes, size_t n);

/* Set by SIGINT and SIGTERM once tool_tracing() has run. */
extern volatile sig_atomic_t tool_stop;

/* Catches SIGINT and SIGTERM, and says on stderr what is traced. */
void tool_tracing(const struct usdt_target *t, const char *tool);

/* s as a JSON string on stdout. */
void tool_json_str(const char *s);

#endif
