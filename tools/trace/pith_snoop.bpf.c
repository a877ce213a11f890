// SPDX-License-Identifier: GPL-2.0-only
/*
 * pith-snoop's programs: one event per failed or cancelled instance, from
 * pith's USDT probes (userspace/lib/probe.h), with the worker's pid.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/usdt.bpf.h>

#include "pith_snoop.h"

char LICENSE[] SEC("license") = "GPL";

struct inst_key {
	__u64 job, stage, instance;
};

struct inst_val {
	__s32 pid;
	char fn[SNOOP_FN_LEN];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, struct inst_key);
	__type(value, struct inst_val);
} workers SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} events SEC(".maps");

SEC("usdt")
int BPF_USDT(inst_spawned, __u64 job, __u32 stage, __u64 instance,
	     const char *fn, int pid)
{
	struct inst_key k = { job, stage, instance };
	struct inst_val v = { .pid = pid };

	bpf_probe_read_user_str(v.fn, sizeof(v.fn), fn);
	bpf_map_update_elem(&workers, &k, &v, BPF_ANY);
	return 0;
}

SEC("usdt")
int BPF_USDT(inst_failed, __u64 job, __u32 stage, __u64 instance,
	     const char *fn, const char *text, long syscall)
{
	struct inst_key k = { job, stage, instance };
	struct inst_val *w = bpf_map_lookup_elem(&workers, &k);
	struct snoop_event *e;

	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e)
		return 0;
	e->ts = bpf_ktime_get_ns();
	e->job = job;
	e->stage = stage;
	e->instance = instance;
	e->pid = w ? w->pid : 0;
	e->pith_pid = bpf_get_current_pid_tgid() >> 32;
	e->syscall = syscall;
	e->kind = SNOOP_FAILED;
	e->reason = 0;
	bpf_probe_read_user_str(e->fn, sizeof(e->fn), fn);
	bpf_probe_read_user_str(e->text, sizeof(e->text), text);
	bpf_ringbuf_submit(e, 0);
	return 0;
}

SEC("usdt")
int BPF_USDT(inst_exited, __u64 job, __u32 stage, __u64 instance, int status,
	     int reason)
{
	struct inst_key k = { job, stage, instance };
	struct inst_val *w = bpf_map_lookup_elem(&workers, &k);
	struct snoop_event *e;

	if (status == 2 && w) {
		e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
		if (e) {
			e->ts = bpf_ktime_get_ns();
			e->job = job;
			e->stage = stage;
			e->instance = instance;
			e->pid = w->pid;
			e->pith_pid = bpf_get_current_pid_tgid() >> 32;
			e->syscall = -1;
			e->kind = SNOOP_CANCELLED;
			e->reason = reason;
			__builtin_memcpy(e->fn, w->fn, sizeof(e->fn));
			e->text[0] = 0;
			bpf_ringbuf_submit(e, 0);
		}
	}
	if (w)
		bpf_map_delete_elem(&workers, &k);
	return 0;
}
