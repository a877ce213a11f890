// SPDX-License-Identifier: GPL-2.0-only
/*
 * pith-top's programs: per function, the instances and I/O items pith ran,
 * their failures, bytes and latency histogram, from pith's USDT probes
 * (userspace/lib/probe.h), attached with libbpf's USDT support.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/usdt.bpf.h>

#include "pith_top.h"

char LICENSE[] SEC("license") = "GPL";

struct inst_key {
	__u64 job, stage, instance;
};

struct inst_val {
	__u64 t;
	char fn[TOP_FN_LEN];
};

struct io_key {
	__u64 run, index;
};

/* Instances queued, until they exit (LRU: one cancelled before its spawn
 * never exits). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct inst_key);
	__type(value, struct inst_val);
} starts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, struct io_key);
	__type(value, __u64);
} io_starts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, struct top_key);
	__type(value, struct top_stats);
} stats SEC(".maps");

static const struct top_stats zero;

static __always_inline struct top_stats *row(const struct top_key *k)
{
	struct top_stats *s = bpf_map_lookup_elem(&stats, k);

	if (s)
		return s;
	bpf_map_update_elem(&stats, k, &zero, BPF_NOEXIST);
	return bpf_map_lookup_elem(&stats, k);
}

static __always_inline __u32 bucket(__u64 v)
{
	__u32 msb = 0;
	__u64 x = v;

	if (x >> 32) { x >>= 32; msb += 32; }
	if (x >> 16) { x >>= 16; msb += 16; }
	if (x >> 8) { x >>= 8; msb += 8; }
	if (x >> 4) { x >>= 4; msb += 4; }
	if (x >> 2) { x >>= 2; msb += 2; }
	if (x >> 1) { msb += 1; }
	if (msb < 2)
		return (__u32)v; /* 0..3 */
	if (msb >= 48)
		return TOP_BUCKETS - 1;
	return msb * TOP_SUB + (__u32)((v >> (msb - 2)) & (TOP_SUB - 1));
}

static __always_inline void add_latency(struct top_stats *s, __u64 ns)
{
	__u32 b = bucket(ns);

	__sync_fetch_and_add(&s->lat_sum, ns);
	if (b < TOP_BUCKETS)
		__sync_fetch_and_add(&s->hist[b], 1);
}

SEC("usdt")
int BPF_USDT(inst_queued, __u64 job, __u32 stage, __u64 instance,
	     const char *fn)
{
	struct inst_key k = { job, stage, instance };
	struct inst_val v = { .t = bpf_ktime_get_ns() };

	bpf_probe_read_user_str(v.fn, sizeof(v.fn), fn);
	bpf_map_update_elem(&starts, &k, &v, BPF_ANY);
	return 0;
}

SEC("usdt")
int BPF_USDT(inst_spawned, __u64 job, __u32 stage, __u64 instance,
	     const char *fn, int pid, int warm)
{
	struct inst_key k = { job, stage, instance };
	struct inst_val v = { .t = bpf_ktime_get_ns() };
	struct top_key rk = {};
	struct top_stats *s;

	/* Queued before tracing began: count it from here. */
	if (!bpf_map_lookup_elem(&starts, &k)) {
		bpf_probe_read_user_str(v.fn, sizeof(v.fn), fn);
		bpf_map_update_elem(&starts, &k, &v, BPF_NOEXIST);
	}
	if (warm) {
		bpf_probe_read_user_str(rk.fn, sizeof(rk.fn), fn);
		s = row(&rk);
		if (s)
			__sync_fetch_and_add(&s->warm, 1);
	}
	return 0;
}

SEC("usdt")
int BPF_USDT(inst_bytes, __u64 job, __u32 stage, __u64 instance,
	     __u64 bytes_in, __u64 bytes_out)
{
	struct inst_key k = { job, stage, instance };
	struct inst_val *v = bpf_map_lookup_elem(&starts, &k);
	struct top_key rk = {};
	struct top_stats *s;

	if (!v)
		return 0;
	__builtin_memcpy(rk.fn, v->fn, sizeof(rk.fn));
	s = row(&rk);
	if (s) {
		__sync_fetch_and_add(&s->bytes_in, bytes_in);
		__sync_fetch_and_add(&s->bytes_out, bytes_out);
	}
	return 0;
}

SEC("usdt")
int BPF_USDT(inst_failed, __u64 job, __u32 stage, __u64 instance,
	     const char *fn)
{
	struct top_key rk = {};
	struct top_stats *s;

	bpf_probe_read_user_str(rk.fn, sizeof(rk.fn), fn);
	s = row(&rk);
	if (s)
		__sync_fetch_and_add(&s->failures, 1);
	return 0;
}

SEC("usdt")
int BPF_USDT(inst_exited, __u64 job, __u32 stage, __u64 instance, int status)
{
	struct inst_key k = { job, stage, instance };
	struct inst_val *v = bpf_map_lookup_elem(&starts, &k);
	__u64 now = bpf_ktime_get_ns();
	struct top_key rk = {};
	struct top_stats *s;

	if (!v)
		return 0; /* never spawned */
	__builtin_memcpy(rk.fn, v->fn, sizeof(rk.fn));
	s = row(&rk);
	if (s) {
		__sync_fetch_and_add(&s->instances, 1);
		if (status == 2)
			__sync_fetch_and_add(&s->cancelled, 1);
		add_latency(s, now - v->t);
	}
	bpf_map_delete_elem(&starts, &k);
	return 0;
}

SEC("usdt")
int BPF_USDT(io_item_start, const void *run, const char *fn, __u64 index)
{
	struct io_key k = { (__u64)run, index };
	__u64 t = bpf_ktime_get_ns();

	bpf_map_update_elem(&io_starts, &k, &t, BPF_ANY);
	return 0;
}

SEC("usdt")
int BPF_USDT(io_item_end, const void *run, const char *fn, __u64 index,
	     int stage, int err, __u64 bytes)
{
	struct io_key k = { (__u64)run, index };
	__u64 *t = bpf_map_lookup_elem(&io_starts, &k);
	struct top_key rk = { .kind = stage < 0 ? stage : TOP_IO };
	struct top_stats *s;

	bpf_probe_read_user_str(rk.fn, sizeof(rk.fn), fn);
	s = row(&rk);
	if (s) {
		__sync_fetch_and_add(&s->instances, 1);
		if (err)
			__sync_fetch_and_add(&s->failures, 1);
		__sync_fetch_and_add(&s->bytes_out, bytes);
		if (t)
			add_latency(s, bpf_ktime_get_ns() - *t);
	}
	if (t)
		bpf_map_delete_elem(&io_starts, &k);
	return 0;
}
