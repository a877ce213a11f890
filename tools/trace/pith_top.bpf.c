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

struct io_key {
	__u64 run, index;
};

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

/* One hit per instance: everything is in struct probe_inst. */
SEC("usdt")
int BPF_USDT(inst_done, const void *ptr)
{
	struct top_probe_inst info;
	struct top_key rk = {};
	struct top_stats *s;

	if (bpf_probe_read_user(&info, sizeof(info), ptr) < 0)
		return 0;
	bpf_probe_read_user_str(rk.fn, sizeof(rk.fn), (const void *)info.function);
	s = row(&rk);
	if (!s)
		return 0;
	__sync_fetch_and_add(&s->instances, 1);
	if (info.status == 1)
		__sync_fetch_and_add(&s->failures, 1);
	else if (info.status == 2)
		__sync_fetch_and_add(&s->cancelled, 1);
	if (info.warm)
		__sync_fetch_and_add(&s->warm, 1);
	__sync_fetch_and_add(&s->bytes_in, info.bytes_in);
	__sync_fetch_and_add(&s->bytes_out, info.bytes_out);
	if (info.start_ns)
		add_latency(s, bpf_ktime_get_ns() - info.start_ns);
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
