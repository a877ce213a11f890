// SPDX-License-Identifier: MIT
/* Target selection and USDT attachment for the tools of tools/trace/. */
#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tools/trace/usdt_target.h"

int usdt_target_init(struct usdt_target *t, const char *tool,
		     const char *pid_arg, const char *binary_arg)
{
	const char *why = usdt_target_unsupported();
	char self[PATH_MAX], link[64];
	ssize_t n;

	if (why) {
		fprintf(stderr, "%s: %s\n", tool, why);
		return -EPERM;
	}
	t->pid = -1;
	if (pid_arg) {
		char *end;
		long v = strtol(pid_arg, &end, 10);

		if (*pid_arg < '0' || *pid_arg > '9' || *end || v <= 0) {
			fprintf(stderr, "%s: -p wants a process id, not '%s'\n",
				tool, pid_arg);
			return -EINVAL;
		}
		t->pid = (pid_t)v;
		snprintf(link, sizeof(link), "/proc/%ld/exe", v);
		n = readlink(link, t->binary, sizeof(t->binary) - 1);
		if (n < 0) {
			fprintf(stderr, "%s: process %ld: %m\n", tool, v);
			return -errno;
		}
		t->binary[n] = 0;
		/* The inode the process runs, even if its path was replaced. */
		snprintf(t->binary, sizeof(t->binary), "%s", link);
		snprintf(t->what, sizeof(t->what), "process %ld", v);
		return 0;
	}
	if (binary_arg) {
		snprintf(t->binary, sizeof(t->binary), "%s", binary_arg);
	} else {
		n = readlink("/proc/self/exe", self, sizeof(self) - 1);
		if (n < 0)
			return -errno;
		self[n] = 0;
		snprintf(t->binary, sizeof(t->binary), "%s/pith", dirname(self));
	}
	if (access(t->binary, R_OK) < 0) {
		fprintf(stderr, "%s: %s: %m\n", tool, t->binary);
		return -errno;
	}
	snprintf(t->what, sizeof(t->what), "every process running %s",
		 t->binary);
	return 0;
}

int usdt_target_attach(const struct usdt_target *t, const char *tool,
		       struct bpf_program *prog, const char *name,
		       struct bpf_link **ret_link)
{
	struct bpf_link *l;

	l = bpf_program__attach_usdt(prog, t->pid, t->binary, "pith", name,
				     NULL);
	if (!l) {
		int r = -errno;

		fprintf(stderr, "%s: cannot attach to pith:%s in %s: %s\n",
			tool, name, t->binary, strerror(-r));
		return r;
	}
	*ret_link = l;
	return 0;
}

const char *usdt_target_unsupported(void)
{
	if (geteuid() != 0)
		return "needs root (CAP_BPF and CAP_PERFMON)";
	if (access("/sys/bus/event_source/devices/uprobe/type", R_OK) < 0)
		return "the kernel has no uprobes (CONFIG_UPROBE_EVENTS)";
	return NULL;
}
