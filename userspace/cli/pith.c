// SPDX-License-Identifier: MIT
/* The `pith` command: its commands and options in one table each. */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "lib/hostport.h"
#include "lib/units.h"
#include "cli/client.h"

static const char usage_main[] =
	"Usage: pith COMMAND [OPTIONS]\n"
	"\n"
	"Run dataflow jobs of pure compute functions in sealed sandboxes.\n"
	"\n"
	"Commands:\n"
	"%s"
	"  help [COMMAND]   show help for a command\n"
	"\n"
	"Options of every command:\n"
	"  -q, --quiet      no notes, no progress: errors, the summary, --json\n"
	"  -v, --verbose    print more detail (e.g. each unavailable layer)\n"
	"  -h, --help       show the command's help\n"
	"  -V, --version    show the version (as the only argument)\n"
	"\n"
	"Exit status: 0 success, 1 a stage failed, 2 invalid job or usage,\n"
	"130/143 interrupted by SIGINT/SIGTERM.\n"
	"Documentation: pith(1), pith-job(5), Documentation/ in the source tree.\n";

static const char usage_help[] =
	"Usage: pith help [COMMAND]\n"
	"\n"
	"Show the help of COMMAND, or the list of commands.\n";

static int cmd_help(const struct cli *c);

/* The commands. A new command is one row here and its own file. */
static const struct cli_cmd commands[] = {
	{ "run", "validate and run a job file", usage_run,
	  OPT_OUTPUT | OPT_JSON | OPT_PARALLEL | OPT_DATA_ROOT | OPT_REQUIRE |
		  OPT_WINDOW | OPT_LIMITS | OPT_TRACE | OPT_WRITE_ROOT |
		  OPT_ALLOW_HOST | OPT_MAX_INSTANCES,
	  1, 1, cmd_run },
	{ "check", "validate a job file without running it", usage_check,
	  OPT_JSON | OPT_MAX_INSTANCES, 1, 1, cmd_check },
	{ "doctor", "show which sandbox layers this host provides",
	  usage_doctor, OPT_JSON | OPT_REQUIRE, 0, 0, cmd_doctor },
	{ "submit", "send a job to pithd (--wait: like run)", usage_submit,
	  OPT_OUTPUT | OPT_JSON | OPT_SOCKET | OPT_WAIT, 1, 1, cmd_submit },
	{ "status", "list your pithd jobs, or show one", usage_status,
	  OPT_JSON | OPT_SOCKET, 0, 1, cmd_status },
	{ "result", "fetch a pithd job's outputs", usage_result,
	  OPT_OUTPUT | OPT_JSON | OPT_SOCKET, 0, 1, cmd_result },
	{ "cancel", "cancel a pithd job", usage_cancel, OPT_JSON | OPT_SOCKET,
	  0, 1, cmd_cancel },
	{ "help", NULL, usage_help, 0, 0, 1, cmd_help },
};

static const struct cli_cmd *cmd_find(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
		if (!strcmp(commands[i].name, name))
			return &commands[i];
	return NULL;
}

static int opt_output(struct cli *c, const char *arg)
{
	if (!*arg)
		return cli_usage_error(c->cmd, "--output wants a directory");
	c->out_dir = arg;
	return 0;
}

static int opt_json(struct cli *c, _unused_ const char *arg)
{
	c->json = true;
	return 0;
}

static int opt_parallel(struct cli *c, const char *arg)
{
	char *end;
	unsigned long v = strtoul(arg, &end, 10);

	if (*arg < '0' || *arg > '9' || *end || v < 1 || v > 256)
		return cli_usage_error(
			c->cmd, "--parallel wants a number from 1 to 256, not '%s'",
			arg);
	c->parallel = (unsigned)v;
	return 0;
}

static int opt_window(struct cli *c, const char *arg)
{
	if (parse_size(arg, &c->window) < 0 || c->window < (1u << 20))
		return cli_usage_error(
			c->cmd, "--window wants a size of at least 1MiB, not '%s'",
			arg);
	return 0;
}

static int opt_data_root(struct cli *c, const char *arg)
{
	c->data_root = arg;
	return 0;
}

/* A bound: a number or a size (2GiB), above 0. */
static int opt_limit(struct cli *c, const char *name, const char *arg,
		     uint64_t *ret)
{
	if (parse_size(arg, ret) < 0 || !*ret)
		return cli_usage_error(c->cmd, "--%s wants a number above 0, not '%s'",
				       name, arg);
	return 0;
}

static int opt_max_store(struct cli *c, const char *arg)
{
	return opt_limit(c, "max-store", arg, &c->max_store);
}

static int opt_max_instances(struct cli *c, const char *arg)
{
	return opt_limit(c, "max-instances", arg, &c->max_instances);
}

static int opt_max_disk(struct cli *c, const char *arg)
{
	return opt_limit(c, "max-disk", arg, &c->max_disk);
}

static int opt_max_output_items(struct cli *c, const char *arg)
{
	return opt_limit(c, "max-output-items", arg, &c->max_output_items);
}

static int opt_max_output_bytes(struct cli *c, const char *arg)
{
	return opt_limit(c, "max-output-bytes", arg, &c->max_output_bytes);
}

static int opt_max_output_names(struct cli *c, const char *arg)
{
	return opt_limit(c, "max-output-names", arg, &c->max_output_names);
}

static int opt_write_root(struct cli *c, const char *arg)
{
	c->write_root = arg;
	return 0;
}

static int opt_allow_host(struct cli *c, const char *arg)
{
	char host[HOSTPORT_HOST_MAX];
	uint16_t port;
	const char *why = hostport_parse(arg, strlen(arg), host, &port);

	if (why)
		return cli_usage_error(
			c->cmd,
			"--allow-host wants HOST, HOST:PORT or [V6]:PORT, not '%s': %s",
			arg, why);
	if (c->n_allow_hosts == CLI_ALLOW_HOSTS_MAX)
		return cli_usage_error(c->cmd, "at most %d --allow-host options",
				       CLI_ALLOW_HOSTS_MAX);
	c->allow_hosts[c->n_allow_hosts++] = arg;
	return 0;
}

static int opt_require(struct cli *c, const char *arg)
{
	if (c->n_require == CLI_REQUIRE_MAX)
		return cli_usage_error(c->cmd, "at most %d --require options",
				       CLI_REQUIRE_MAX);
	c->require[c->n_require++] = arg;
	return 0;
}

static int opt_trace(struct cli *c, const char *arg)
{
	c->trace = arg;
	return 0;
}

static int opt_socket(struct cli *c, const char *arg)
{
	c->socket = arg;
	return 0;
}

static int opt_wait(struct cli *c, _unused_ const char *arg)
{
	c->wait = true;
	return 0;
}

static int opt_quiet(struct cli *c, _unused_ const char *arg)
{
	c->verbosity = -1;
	return 0;
}

static int opt_verbose(struct cli *c, _unused_ const char *arg)
{
	c->verbosity = 1;
	return 0;
}

/*
 * Every option of every command. A new option is one row here, a field in
 * struct cli, and (unless every command takes it) a bit in enum cli_opt.
 */
static const struct cli_option {
	const char *name;
	char short_name;       /* 0: long only */
	const char *arg;       /* name of its argument, NULL: none */
	unsigned bit;	       /* enum cli_opt; 0: every command */
	int (*set)(struct cli *c, const char *arg);
} options[] = {
	{ "output", 'o', "DIR", OPT_OUTPUT, opt_output },
	{ "json", 0, NULL, OPT_JSON, opt_json },
	{ "parallel", 'j', "N", OPT_PARALLEL, opt_parallel },
	{ "data-root", 0, "DIR", OPT_DATA_ROOT, opt_data_root },
	{ "window", 0, "SIZE", OPT_WINDOW, opt_window },
	{ "write-root", 0, "DIR", OPT_WRITE_ROOT, opt_write_root },
	{ "allow-host", 0, "HOST[:PORT]", OPT_ALLOW_HOST, opt_allow_host },
	{ "require", 0, "LAYER", OPT_REQUIRE, opt_require },
	{ "max-store", 0, "SIZE", OPT_LIMITS, opt_max_store },
	{ "max-instances", 0, "N", OPT_MAX_INSTANCES, opt_max_instances },
	{ "max-disk", 0, "SIZE", OPT_LIMITS, opt_max_disk },
	{ "max-output-items", 0, "N", OPT_LIMITS, opt_max_output_items },
	{ "max-output-bytes", 0, "SIZE", OPT_LIMITS, opt_max_output_bytes },
	{ "max-output-names", 0, "SIZE", OPT_LIMITS, opt_max_output_names },
	{ "trace", 0, "FILE", OPT_TRACE, opt_trace },
	{ "socket", 0, "PATH", OPT_SOCKET, opt_socket },
	{ "wait", 'w', NULL, OPT_WAIT, opt_wait },
	{ "quiet", 'q', NULL, 0, opt_quiet },
	{ "verbose", 'v', NULL, 0, opt_verbose },
	{ "help", 'h', NULL, 0, NULL },
};

int cli_usage_error(const struct cli_cmd *cmd, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "pith%s%s: ", cmd ? " " : "", cmd ? cmd->name : "");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (see 'pith %s%s--help')\n", cmd ? cmd->name : "",
		cmd ? " " : "");
	return EXIT_USAGE;
}

void cli_note(const struct cli *c, const char *fmt, ...)
{
	va_list ap;

	if (c->verbosity < 0)
		return;
	fputs("pith: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* Parse argv[0..argc) (argv[0] is the command's name) into c. Returns 0,
 * -1 when help was printed, or an exit status. */
static int parse_options(struct cli *c, int argc, char **argv)
{
	struct option lopts[ARRAY_SIZE(options) + 1] = {};
	char sopts[3 * ARRAY_SIZE(options) + 2] = ":";
	size_t ns = 1;
	int ch, idx;

	for (size_t i = 0; i < ARRAY_SIZE(options); i++) {
		const struct cli_option *o = &options[i];

		lopts[i] = (struct option){ o->name,
					    o->arg ? required_argument :
						     no_argument,
					    NULL, (int)(256 + i) };
		if (o->short_name) {
			sopts[ns++] = o->short_name;
			if (o->arg)
				sopts[ns++] = ':';
		}
	}
	sopts[ns] = '\0';
	opterr = 0;
	optind = 1;
	while ((ch = getopt_long(argc, argv, sopts, lopts, &idx)) >= 0) {
		const struct cli_option *o = NULL;
		int r;

		if (ch == '?' || ch == ':') {
			const char *bad = argv[optind - 1];
			char s[3] = { '-', (char)optopt, 0 };

			if (optopt && bad[0] == '-' && bad[1] != '-')
				bad = s;
			return cli_usage_error(c->cmd, ch == ':' ?
						       "option '%s' wants an argument" :
						       "unknown option '%s'",
					       bad);
		}
		if (ch >= 256)
			o = &options[ch - 256];
		for (size_t i = 0; !o && i < ARRAY_SIZE(options); i++)
			if (options[i].short_name == ch)
				o = &options[i];
		if (!o)
			return cli_usage_error(c->cmd, "unknown option");
		if (o->bit && !(c->cmd->opts & o->bit))
			return cli_usage_error(c->cmd,
					       "option '--%s' does not apply to 'pith %s'",
					       o->name, c->cmd->name);
		if (!o->set) { /* --help */
			fputs(c->cmd->usage, stdout);
			return -1;
		}
		r = o->set(c, optarg);
		if (r)
			return r;
	}
	c->args = argv + optind;
	c->n_args = (size_t)(argc - optind);
	if (c->n_args < c->cmd->min_args)
		return cli_usage_error(c->cmd, "missing %s",
				       c->cmd->max_args == 1 &&
						       c->cmd->opts & OPT_JSON ?
					       "JOB.json" :
					       "argument");
	if (c->n_args > c->cmd->max_args)
		return cli_usage_error(c->cmd, "unexpected argument '%s'",
				       c->args[c->cmd->max_args]);
	return 0;
}

static void print_main_usage(FILE *f)
{
	char list[1024];
	size_t o = 0;

	list[0] = '\0';
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
		if (commands[i].summary && o < sizeof(list))
			o += (size_t)snprintf(list + o, sizeof(list) - o,
					      "  %-16s %s\n", commands[i].name,
					      commands[i].summary);
	fprintf(f, usage_main, list);
}

static int cmd_help(const struct cli *c)
{
	const struct cli_cmd *cmd;

	if (!c->n_args) {
		print_main_usage(stdout);
		return 0;
	}
	cmd = cmd_find(c->args[0]);
	if (!cmd)
		return cli_usage_error(c->cmd, "no command named '%s'",
				       c->args[0]);
	fputs(cmd->usage, stdout);
	return 0;
}

int main(int argc, char **argv)
{
	struct cli c = { .out_dir = "out" };
	const char *name = argc > 1 ? argv[1] : NULL;
	int r;

	if (!name) {
		print_main_usage(stderr);
		return EXIT_USAGE;
	}
	if (!strcmp(name, "-h") || !strcmp(name, "--help")) {
		print_main_usage(stdout);
		return 0;
	}
	if (!strcmp(name, "-V") || !strcmp(name, "--version")) {
		printf("pith %s\n", PITH_VERSION);
		return 0;
	}
	c.cmd = cmd_find(name);
	if (!c.cmd)
		return cli_usage_error(NULL, "unknown command '%s'", name);
	r = parse_options(&c, argc - 1, argv + 1);
	if (r)
		return r < 0 ? 0 : r;
	return c.cmd->run(&c);
}
