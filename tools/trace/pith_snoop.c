// SPDX-License-Identifier: MIT
/*
 * pith-snoop: one line per failed or cancelled instance (function, stage,
 * instance, worker pid, forbidden syscall, and the reason pith reports,
 * which holds the syscall's arguments when the eBPF guard saw them), from
 * pith's USDT probes. Documentation/tracing.md.
 */
#include <errno.h>
#include <inttypes.h>
#include <linux/types.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <bpf/libbpf.h>

#include "pith_snoop.skel.h"
#include "tools/trace/pith_snoop.h"
#include "tools/trace/tool.h"

#define TOOL "pith-snoop"

static const char *const syscall_names[] = {
#include "guard_syscalls.h"
};

static const char usage[] =
	"Usage: pith-snoop [-p PID | -b BINARY] [--json]\n"
	"\n"
	"One line per failed or cancelled instance, as it happens.\n"
	"\n"
	"  -p PID        trace this pith or pithd process\n"
	"  -b BINARY     trace every process running BINARY (default: the pith\n"
	"                next to pith-snoop)\n"
	"      --json    one JSON object per line\n"
	"  -h, --help    show this help\n";

static bool json;

static const char *syscall_name(int64_t nr, char *buf, size_t len)
{
	if (nr < 0)
		return "-";
	if ((uint64_t)nr < sizeof(syscall_names) / sizeof(syscall_names[0]) &&
	    syscall_names[nr])
		snprintf(buf, len, "%s(%" PRId64 ")", syscall_names[nr], nr);
	else
		snprintf(buf, len, "%" PRId64, nr);
	return buf;
}

static int on_event(void *ctx, void *data, size_t len)
{
	const struct snoop_event *e = data;
	const char *kind = e->kind == SNOOP_FAILED ? "failed" : "cancelled";
	const char *text = e->kind == SNOOP_FAILED ?
				   e->text :
				   "cancelled: another instance failed";
	char sc[48], ts[16];
	time_t now = time(NULL);

	(void)ctx;
	if (len < sizeof(*e))
		return 0;
	if (json) {
		printf("{\"pith_pid\": %d, \"job\": %" PRIu64
		       ", \"stage\": %u, \"instance\": %" PRIu64
		       ", \"pid\": %d, \"function\": ",
		       e->pith_pid, (uint64_t)e->job, e->stage,
		       (uint64_t)e->instance, e->pid);
		tool_json_str(e->fn);
		printf(", \"status\": \"%s\", \"syscall\": %" PRId64
		       ", \"reason\": ", kind, (int64_t)e->syscall);
		tool_json_str(text);
		printf("}\n");
	} else {
		strftime(ts, sizeof(ts), "%H:%M:%S", localtime(&now));
		printf("%-8s %-7d %-4" PRIu64 " %-5u %-6" PRIu64
		       " %-7d %-16.16s %-10s %-16s %s\n",
		       ts, e->pith_pid, (uint64_t)e->job, e->stage,
		       (uint64_t)e->instance, e->pid, e->fn, kind,
		       syscall_name((int64_t)e->syscall, sc, sizeof(sc)), text);
	}
	fflush(stdout);
	return 0;
}

static void skel_destroy(struct pith_snoop_bpf **s)
{
	pith_snoop_bpf__destroy(*s);
}

static void rb_free(struct ring_buffer **rb)
{
	ring_buffer__free(*rb);
}

int main(int argc, char **argv)
{
	struct pith_snoop_bpf *skel __attribute__((cleanup(skel_destroy))) =
		NULL;
	struct ring_buffer *rb __attribute__((cleanup(rb_free))) = NULL;
	struct tool_args a;
	struct usdt_target t;
	int r;

	if (!tool_args(argc, argv, usage, "", NULL, &a, &r))
		return r;
	json = a.json;
	if (usdt_target_init(&t, TOOL, a.pid_arg, a.bin_arg) < 0)
		return 1;
	skel = pith_snoop_bpf__open_and_load();
	if (!skel) {
		fprintf(stderr, TOOL ": cannot load the BPF programs: %m\n");
		return 1;
	}
	if (tool_attach(&t, TOOL,
			(struct tool_probe[]){
				{ skel->progs.inst_spawned, "inst_spawned",
				  &skel->links.inst_spawned },
				{ skel->progs.inst_failed, "inst_failed",
				  &skel->links.inst_failed },
				{ skel->progs.inst_exited, "inst_exited",
				  &skel->links.inst_exited },
			},
			3) < 0)
		return 1;
	rb = ring_buffer__new(bpf_map__fd(skel->maps.events), on_event, NULL,
			      NULL);
	if (!rb) {
		fprintf(stderr, TOOL ": ring buffer: %m\n");
		return 1;
	}
	tool_tracing(&t, TOOL);
	if (!json)
		printf("%-8s %-7s %-4s %-5s %-6s %-7s %-16s %-10s %-16s %s\n",
		       "TIME", "PITH", "JOB", "STAGE", "INST", "WORKER",
		       "FUNCTION", "STATUS", "SYSCALL", "REASON");
	fflush(stdout);
	while (!tool_stop) {
		r = ring_buffer__poll(rb, 100);
		if (r < 0 && r != -EINTR) {
			fprintf(stderr, TOOL ": %s\n", strerror(-r));
			return 1;
		}
	}
	ring_buffer__consume(rb);
	return 0;
}
