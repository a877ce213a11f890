/* SPDX-License-Identifier: MIT */
/*
 * What the commands of `pith` share: the parsed command line, the table of
 * commands and the exit statuses. One command per file (run.c, doctor.c,
 * ...); pith.c parses options for all of them from one table.
 */
#ifndef PITH_CLI_CLI_H
#define PITH_CLI_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/macro.h"

enum {
	EXIT_FAILED = 1,   /* a stage failed, or a required thing is missing */
	EXIT_USAGE = 2,	   /* invalid job or bad usage */
	EXIT_SIGINT = 130, /* 128 + SIGINT */
	EXIT_SIGTERM = 143,
};

/* One bit per option of the table in pith.c: what a command accepts. */
enum cli_opt {
	OPT_OUTPUT = 1u << 0,
	OPT_JSON = 1u << 1,
	OPT_PARALLEL = 1u << 2,
	OPT_DATA_ROOT = 1u << 3,
	OPT_REQUIRE = 1u << 4,
	OPT_WINDOW = 1u << 5,
	OPT_LIMITS = 1u << 6, /* --max-store, --max-output-* */
	OPT_TRACE = 1u << 7,
	OPT_SOCKET = 1u << 8, /* pithd's clients (client.c) */
	OPT_WAIT = 1u << 9,
	OPT_WRITE_ROOT = 1u << 10,
	OPT_ALLOW_HOST = 1u << 11,
	OPT_MAX_INSTANCES = 1u << 12, /* run and check */
};

#define CLI_REQUIRE_MAX 16
#define CLI_ALLOW_HOSTS_MAX 64

/* The command line after parsing. */
struct cli {
	const struct cli_cmd *cmd;
	char **args; /* positional arguments */
	size_t n_args;
	int verbosity; /* -1: -q, 0, 1: -v */
	bool json;
	const char *out_dir; /* -o; "out" when not given */
	unsigned parallel;   /* -j; 0: online CPUs */
	uint64_t window;     /* --window; 0: the engine's default */
	const char *data_root;
	const char *write_root; /* --write-root; NULL: see engine_opts */
	const char *allow_hosts[CLI_ALLOW_HOSTS_MAX]; /* --allow-host, repeated */
	size_t n_allow_hosts;
	const char *require[CLI_REQUIRE_MAX]; /* --require LAYER, repeated */
	size_t n_require;
	/* pith's own bounds (security.md); 0: the defaults */
	uint64_t max_store, max_output_items, max_output_bytes, max_output_names;
	uint64_t max_instances, max_disk;
	const char *trace; /* --trace FILE (Documentation/tracing.md) */
	const char *socket; /* --socket: pithd's; NULL: $PITH_SOCKET or default */
	bool wait;	    /* submit --wait */
};

struct cli_cmd {
	const char *name;
	const char *summary; /* one line in `pith --help` */
	const char *usage;   /* `pith help NAME` */
	unsigned opts;	     /* enum cli_opt bits it accepts; -q -v -h always */
	size_t min_args, max_args;
	int (*run)(const struct cli *c);
};

/* "pith CMD: <message> (see 'pith CMD --help')" on one line; returns
 * EXIT_USAGE. */
int cli_usage_error(const struct cli_cmd *cmd, const char *fmt, ...)
	_printf_(2, 3);
/* A note on stderr unless -q. */
void cli_note(const struct cli *c, const char *fmt, ...) _printf_(2, 3);

int cmd_run(const struct cli *c);
int cmd_check(const struct cli *c);
int cmd_doctor(const struct cli *c);
extern const char usage_run[], usage_check[], usage_doctor[];

#endif
