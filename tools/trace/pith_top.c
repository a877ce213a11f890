// SPDX-License-Identifier: MIT
/*
 * pith-top: a live table per function of what pith runs (instances/s,
 * latency percentiles, failures, bytes in and out, warm hits), from pith's
 * USDT probes, plus the eBPF guard's violation counters per function.
 * Documentation/tracing.md.
 */
#include <errno.h>
#include <stddef.h>
#include <inttypes.h>
#include <linux/types.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "bpf/guard.h"
#include "lib/probe.h"
#include "pith_top.skel.h"
#include "tools/trace/pith_top.h"
#include "tools/trace/tool.h"

#define TOOL "pith-top"

#define SAME_FIELD(f)                                                      \
	_Static_assert(offsetof(struct probe_inst, f) ==                   \
			       offsetof(struct top_probe_inst, f),         \
		       "struct probe_inst changed: update pith_top.h")
SAME_FIELD(stage);
SAME_FIELD(status);
SAME_FIELD(start_ns);
SAME_FIELD(bytes_out);
SAME_FIELD(warm);
SAME_FIELD(function);
SAME_FIELD(text);
_Static_assert(sizeof(struct probe_inst) == sizeof(struct top_probe_inst),
	       "struct probe_inst changed: update pith_top.h");
#define MAX_ROWS 1024
#define MAX_GUARD 4096

static const char usage[] =
	"Usage: pith-top [-p PID | -b BINARY] [-i SECONDS] [-n COUNT] [--json]\n"
	"\n"
	"A live table per function of the instances and I/O items pith runs.\n"
	"Its GUARD column (the eBPF guard's violations per function) sums every\n"
	"pith_fn_cnt map on the host, of every pith, whatever -p or -b select.\n"
	"\n"
	"  -p PID        trace this pith or pithd process\n"
	"  -b BINARY     trace every process running BINARY (default: the pith\n"
	"                next to pith-top)\n"
	"  -i SECONDS    refresh interval (default 1)\n"
	"  -n COUNT      stop after COUNT refreshes (default: at Ctrl-C)\n"
	"      --json    print the totals once, as JSON, when stopping; no table\n"
	"  -h, --help    show this help\n";

struct row {
	struct top_key key;
	struct top_stats s;
	uint64_t prev_instances;
	uint64_t guard; /* guard violations of this function */
};

struct guard_row {
	struct guard_fn_key key;
	uint64_t count;
};

static struct row rows[MAX_ROWS];
static size_t n_rows;
static struct guard_row guard[MAX_GUARD];
static size_t n_guard;

static struct row *row_get(const struct top_key *k)
{
	for (size_t i = 0; i < n_rows; i++)
		if (!memcmp(&rows[i].key, k, sizeof(*k)))
			return &rows[i];
	if (n_rows == MAX_ROWS)
		return NULL;
	rows[n_rows].key = *k;
	return &rows[n_rows++];
}

static void read_stats(int fd)
{
	struct top_key k, next;
	const void *prev = NULL;

	while (bpf_map_get_next_key(fd, prev, &next) == 0) {
		struct row *r;

		k = next;
		prev = &k;
		r = row_get(&k);
		if (r)
			bpf_map_lookup_elem(fd, &k, &r->s);
	}
}

/* The guard's pith_fn_cnt maps of every pith on the host (found by name,
 * as `bpftool map dump name pith_fn_cnt` does), summed. */
static void read_guard(void)
{
	__u32 id = 0;

	n_guard = 0;
	for (size_t i = 0; i < n_rows; i++)
		rows[i].guard = 0;
	while (bpf_map_get_next_id(id, &id) == 0) {
		struct bpf_map_info info = {};
		__u32 len = sizeof(info);
		struct guard_fn_key k, next;
		const void *prev = NULL;
		int fd = bpf_map_get_fd_by_id(id);

		if (fd < 0)
			continue;
		if (bpf_obj_get_info_by_fd(fd, &info, &len) < 0 ||
		    strcmp(info.name, "pith_fn_cnt") ||
		    info.key_size != sizeof(struct guard_fn_key) ||
		    info.value_size != sizeof(__u64)) {
			close(fd);
			continue;
		}
		while (bpf_map_get_next_key(fd, prev, &next) == 0) {
			__u64 v = 0;
			size_t i;

			k = next;
			prev = &k;
			if (bpf_map_lookup_elem(fd, &k, &v) < 0)
				continue;
			for (i = 0; i < n_guard; i++)
				if (!memcmp(&guard[i].key, &k, sizeof(k)))
					break;
			if (i == n_guard) {
				if (n_guard == MAX_GUARD)
					continue;
				guard[n_guard].key = k;
				guard[n_guard++].count = 0;
			}
			guard[i].count += v;
		}
		close(fd);
	}
	for (size_t g = 0; g < n_guard; g++) {
		struct top_key k = { .kind = TOP_COMPUTE };
		struct row *r;

		memcpy(k.fn, guard[g].key.fn, sizeof(k.fn));
		k.fn[sizeof(k.fn) - 1] = 0;
		r = row_get(&k);
		if (r)
			r->guard += guard[g].count;
	}
}

/* Upper bound of a latency bucket, in ns (pith_top.bpf.c: bucket()). */
static uint64_t bucket_hi(unsigned b)
{
	unsigned msb = b / TOP_SUB, sub = b % TOP_SUB;

	if (b < TOP_SUB)
		return b;
	return ((uint64_t)(TOP_SUB + sub + 1)) << (msb - 2);
}

static uint64_t percentile(const struct top_stats *s, double p)
{
	uint64_t total = 0, acc = 0;

	for (unsigned b = 0; b < TOP_BUCKETS; b++)
		total += s->hist[b];
	if (!total)
		return 0;
	for (unsigned b = 0; b < TOP_BUCKETS; b++) {
		acc += s->hist[b];
		if ((double)acc >= p * (double)total)
			return bucket_hi(b);
	}
	return bucket_hi(TOP_BUCKETS - 1);
}

static const char *kind_name(int kind, char *buf, size_t len)
{
	static const char *const own[] = { "pith", "inputs", "binaries",
					   "hosts", "outputs" };

	if (kind == TOP_COMPUTE)
		return "compute";
	if (kind == TOP_IO)
		return "io";
	if (kind < 0 && -kind <= 5)
		snprintf(buf, len, "pith:%s", own[-kind - 1]);
	else
		snprintf(buf, len, "%d", kind);
	return buf;
}

/* v in units[0] while under 10 steps, else in the largest of units[1..3]
 * under which it is at least 10, with one decimal: "9999ns", "10.0us". */
static const char *human(uint64_t v, double step, const char *const units[4],
			 char *buf, size_t len)
{
	double scale = 1;
	int k = 0;

	while (k < 3 && (double)v >= 10 * scale * step) {
		scale *= step;
		k++;
	}
	if (!k)
		snprintf(buf, len, "%" PRIu64 "%s", v, units[0]);
	else
		snprintf(buf, len, "%.1f%s", (double)v / scale, units[k]);
	return buf;
}

static const char *human_ns(uint64_t ns, char *buf, size_t len)
{
	static const char *const units[4] = { "ns", "us", "ms", "s" };

	return human(ns, 1e3, units, buf, len);
}

static const char *human_bytes(uint64_t b, char *buf, size_t len)
{
	static const char *const units[4] = { "B", "K", "M", "G" };

	return human(b, 1024, units, buf, len);
}

static int cmp_rows(const void *a, const void *b)
{
	const struct row *x = a, *y = b;

	if (x->s.instances != y->s.instances)
		return x->s.instances < y->s.instances ? 1 : -1;
	return strcmp(x->key.fn, y->key.fn);
}

static void print_table(const struct usdt_target *t, double secs, bool tty)
{
	char k[32], p50[16], p99[16], in[16], out[16];
	time_t now = time(NULL);
	char ts[16];

	qsort(rows, n_rows, sizeof(rows[0]), cmp_rows);
	strftime(ts, sizeof(ts), "%H:%M:%S", localtime(&now));
	if (tty)
		fputs("\033[H\033[2J", stdout);
	printf("pith-top - %s - %s\n\n", ts, t->what);
	printf("%-24s %-13s %9s %9s %7s %7s %9s %9s %8s %8s %6s\n",
	       "FUNCTION", "KIND", "INST/s", "TOTAL", "FAILED", "WARM", "P50",
	       "P99", "IN", "OUT", "GUARD");
	for (size_t i = 0; i < n_rows; i++) {
		struct row *r = &rows[i];
		double rate = secs > 0 ? (double)(r->s.instances -
						  r->prev_instances) / secs
				       : 0;

		printf("%-24.24s %-13s %9.1f %9" PRIu64 " %7" PRIu64
		       " %7" PRIu64 " %9s %9s %8s %8s %6" PRIu64 "\n",
		       r->key.fn[0] ? r->key.fn : "?",
		       kind_name(r->key.kind, k, sizeof(k)), rate,
		       (uint64_t)r->s.instances, (uint64_t)r->s.failures, (uint64_t)r->s.warm,
		       human_ns(percentile(&r->s, 0.50), p50, sizeof(p50)),
		       human_ns(percentile(&r->s, 0.99), p99, sizeof(p99)),
		       r->key.kind == TOP_COMPUTE ?
			       human_bytes(r->s.bytes_in, in, sizeof(in)) :
			       "-",
		       human_bytes(r->s.bytes_out, out, sizeof(out)), r->guard);
		r->prev_instances = r->s.instances;
	}
	fflush(stdout);
}

static void print_json(void)
{
	char k[32];

	printf("{\n  \"functions\": [");
	for (size_t i = 0; i < n_rows; i++) {
		const struct row *r = &rows[i];

		printf("%s\n    { \"function\": ", i ? "," : "");
		tool_json_str(r->key.fn);
		printf(", \"kind\": ");
		tool_json_str(kind_name(r->key.kind, k, sizeof(k)));
		printf(", \"instances\": %" PRIu64 ", \"failures\": %" PRIu64
		       ", \"cancelled\": %" PRIu64 ", \"warm\": %" PRIu64
		       ", \"bytes_in\": %" PRIu64 ", \"bytes_out\": %" PRIu64
		       ", \"p50_ns\": %" PRIu64 ", \"p99_ns\": %" PRIu64
		       ", \"guard\": %" PRIu64 " }",
		       (uint64_t)r->s.instances, (uint64_t)r->s.failures, (uint64_t)r->s.cancelled, (uint64_t)r->s.warm,
		       (uint64_t)r->s.bytes_in, (uint64_t)r->s.bytes_out,
		       percentile(&r->s, 0.50), percentile(&r->s, 0.99),
		       r->guard);
	}
	printf("\n  ],\n  \"guard\": [");
	for (size_t g = 0; g < n_guard; g++) {
		printf("%s\n    { \"function\": ", g ? "," : "");
		tool_json_str(guard[g].key.fn);
		printf(", \"nr\": %d, \"hook\": %u, \"count\": %" PRIu64 " }",
		       guard[g].key.nr, guard[g].key.hook, guard[g].count);
	}
	printf("\n  ]\n}\n");
	fflush(stdout);
}

static void skel_destroy(struct pith_top_bpf **s)
{
	pith_top_bpf__destroy(*s);
}

static double interval = 1;
static long count = -1;

/* -i SECONDS, -n COUNT */
static int on_opt(int c, const char *arg)
{
	if (c == 'n') {
		count = atol(arg);
		return 0;
	}
	interval = atof(arg);
	if (interval <= 0) {
		fprintf(stderr, TOOL ": -i wants seconds > 0\n");
		return 2;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct pith_top_bpf *skel __attribute__((cleanup(skel_destroy))) = NULL;
	struct tool_args a;
	struct usdt_target t;
	struct timespec last, now;
	bool tty;
	int r;

	if (!tool_args(argc, argv, usage, "i:n:", on_opt, &a, &r))
		return r;
	if (usdt_target_init(&t, TOOL, a.pid_arg, a.bin_arg) < 0)
		return 1;
	skel = pith_top_bpf__open_and_load();
	if (!skel) {
		fprintf(stderr, TOOL ": cannot load the BPF programs: %m\n");
		return 1;
	}
	if (tool_attach(&t, TOOL,
			(struct tool_probe[]){
				{ skel->progs.inst_done, "inst_done",
				  &skel->links.inst_done },
				{ skel->progs.io_item_start, "io_item_start",
				  &skel->links.io_item_start },
				{ skel->progs.io_item_end, "io_item_end",
				  &skel->links.io_item_end },
			},
			3) < 0)
		return 1;
	tool_tracing(&t, TOOL);
	tty = isatty(STDOUT_FILENO);
	clock_gettime(CLOCK_MONOTONIC, &last);
	while (!tool_stop && count != 0) {
		struct timespec d = { (time_t)interval,
				      (long)((interval - (time_t)interval) *
					     1e9) };
		double secs;

		while (nanosleep(&d, &d) < 0 && errno == EINTR && !tool_stop)
			;
		clock_gettime(CLOCK_MONOTONIC, &now);
		secs = (double)(now.tv_sec - last.tv_sec) +
		       (double)(now.tv_nsec - last.tv_nsec) / 1e9;
		last = now;
		read_stats(bpf_map__fd(skel->maps.stats));
		read_guard();
		if (!a.json)
			print_table(&t, secs, tty);
		if (count > 0)
			count--;
	}
	read_stats(bpf_map__fd(skel->maps.stats));
	read_guard();
	r = 0;
	if (a.json) {
		qsort(rows, n_rows, sizeof(rows[0]), cmp_rows);
		print_json();
	}
	return r;
}
