// SPDX-License-Identifier: MIT
/* The command line, attachment and stop that pith-top and pith-snoop share. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "tools/trace/tool.h"

volatile sig_atomic_t tool_stop;

bool tool_args(int argc, char **argv, const char *usage, const char *own,
	       int (*on_opt)(int c, const char *arg), struct tool_args *ret,
	       int *ret_exit)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'J' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	char shorts[32];
	int c, r;

	snprintf(shorts, sizeof(shorts), "p:b:%sh", own);
	*ret = (struct tool_args){};
	while ((c = getopt_long(argc, argv, shorts, opts, NULL)) >= 0) {
		switch (c) {
		case 'p':
			ret->pid_arg = optarg;
			break;
		case 'b':
			ret->bin_arg = optarg;
			break;
		case 'J':
			ret->json = true;
			break;
		case 'h':
			fputs(usage, stdout);
			*ret_exit = 0;
			return false;
		case '?':
			fputs(usage, stderr);
			*ret_exit = 2;
			return false;
		default:
			r = on_opt ? on_opt(c, optarg) : 2;
			if (r) {
				*ret_exit = r;
				return false;
			}
			break;
		}
	}
	if (optind != argc || (ret->pid_arg && ret->bin_arg)) {
		fputs(usage, stderr);
		*ret_exit = 2;
		return false;
	}
	return true;
}

int tool_attach(const struct usdt_target *t, const char *tool,
		const struct tool_probe *probes, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int r = usdt_target_attach(t, tool, probes[i].prog,
					   probes[i].name, probes[i].link);

		if (r < 0)
			return r;
	}
	return 0;
}

static void on_signal(int sig)
{
	(void)sig;
	tool_stop = 1;
}

void tool_tracing(const struct usdt_target *t, const char *tool)
{
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	fprintf(stderr, "%s: tracing %s; Ctrl-C to stop\n", tool, t->what);
}

void tool_json_str(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			printf("\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			printf("\\u%04x", *s);
		else
			putchar(*s);
	}
	putchar('"');
}
