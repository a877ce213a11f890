// SPDX-License-Identifier: MIT
/*
 * Drives one I/O function over many items and prints its throughput; the
 * baselines (cat, dd, curl, wrk) are run by tools/bench/io_bench.sh.
 *
 *   io_bench file.read ROOT LIST [REPEAT]   LIST: one path per line
 *   io_bench http LIST CONCURRENCY [REPEAT] LIST: one URL per line
 *
 * Prints the best of REPEAT (default 3) runs, and the first run alone: the
 * store's buffer pool is empty then, every output page is a fresh one.
 *   file.read items=10000 bytes=10240000 seconds=0.0123 bytes_per_s=...
 *     first_seconds=0.0456 recycled=2
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>

#include "iofuncs/iofuncs.h"

struct bench {
	struct loop *loop;
	bool done;
};

static void on_done(struct iofunc_run *run, void *data)
{
	(void)run;
	((struct bench *)data)->done = true;
}

static bool is_done(void *data)
{
	return ((struct bench *)data)->done;
}

/* All items in one buffer, as slices: 20,000 items need not be 20,000 fds. */
static int load_list(const char *path, bool http, struct set *in)
{
	FILE *f = fopen(path, "re");
	char line[4096], name[32];
	char *all = NULL;
	size_t len = 0, cap = 0, n = 0, *offs = NULL, *lens = NULL;
	struct buffer *b = NULL;
	int r = 0;

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\r\n")] = '\0';
		if (!line[0])
			continue;
		if (len + sizeof(line) + 64 > cap) {
			cap = (cap + sizeof(line) + 64) * 2;
			all = realloc(all, cap);
		}
		offs = realloc(offs, (n + 1) * sizeof(*offs));
		lens = realloc(lens, (n + 1) * sizeof(*lens));
		if (!all || !offs || !lens)
			return -ENOMEM;
		offs[n] = len;
		len += (size_t)snprintf(all + len, cap - len,
					http ? "GET %s HTTP/1.1\r\n\r\n" : "%s",
					line);
		lens[n] = len - offs[n];
		n++;
	}
	fclose(f);
	r = buffer_new("bench", len, &b);
	if (r >= 0)
		r = buffer_write(b, 0, all, len);
	if (r >= 0)
		r = buffer_seal(b);
	for (size_t i = 0; r >= 0 && i < n; i++) {
		snprintf(name, sizeof(name), "i%zu", i);
		r = set_add(in, name, false, 0, b, offs[i], lens[i]);
	}
	buffer_unref(b);
	free(all);
	free(offs);
	free(lens);
	return r;
}

static int run_once(const char *fn, const struct iofunc_ctx *ctx,
		    const struct set *in, size_t n_out, double *ret_s,
		    uint64_t *ret_bytes, size_t *ret_failed)
{
	struct bench b = {};
	struct iofunc_run *run = NULL;
	struct set *out[2] = { set_new("a"), set_new("b") };
	struct err e = {};
	struct timespec t0, t1;
	int r;

	r = loop_new(1024, &b.loop, &e);
	if (r < 0) {
		fprintf(stderr, "io_bench: %s\n", e.msg);
		return r;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	r = iofunc_start(b.loop, iofunc_lookup(fn), ctx, in, out, on_done, &b,
			 &run, &e);
	if (r >= 0)
		r = loop_run_until(b.loop, is_done, &b);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (r < 0) {
		fprintf(stderr, "io_bench: %s\n", e.msg[0] ? e.msg : strerror(-r));
	} else {
		const char *msg = NULL;

		*ret_s = (double)(t1.tv_sec - t0.tv_sec) +
			 (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
		*ret_bytes = 0;
		for (size_t i = 0; i < out[n_out - 1]->n; i++)
			*ret_bytes += out[n_out - 1]->items[i].len;
		*ret_failed = iofunc_run_n_failed(run);
		if (*ret_failed) {
			for (size_t i = 0; i < iofunc_run_n_items(run) && !msg; i++)
				iofunc_run_item_error(run, i, &msg);
			fprintf(stderr, "io_bench: %zu failed, e.g. %s\n",
				*ret_failed, msg ? msg : "?");
		}
	}
	iofunc_run_free(run);
	set_free(out[0]);
	set_free(out[1]);
	loop_free(b.loop);
	return r;
}

int main(int argc, char **argv)
{
	struct iofunc_ctx ctx;
	struct set *in = set_new("in");
	double best = 0, first = 0;
	uint64_t bytes = 0;
	size_t failed = 0;
	int repeat = 3, r;
	bool http;

	if (argc < 4 || (strcmp(argv[1], "file.read") && strcmp(argv[1], "http"))) {
		fprintf(stderr, "usage: io_bench file.read ROOT LIST [REPEAT]\n"
				"       io_bench http LIST CONCURRENCY [REPEAT]\n");
		return 2;
	}
	http = !strcmp(argv[1], "http");
	iofunc_ctx_init(&ctx);
	if (argc > 4)
		repeat = atoi(argv[4]);
	if (http) {
		static const char *const loopback[] = { "127.0.0.1" };

		/* The benchmark's nginx listens on loopback. */
		ctx.allow_hosts = loopback;
		ctx.n_allow_hosts = 1;
		ctx.concurrency = (unsigned)atoi(argv[3]);
		ctx.max_body_bytes = 1ull << 30;
		r = load_list(argv[2], true, in);
	} else {
		ctx.data_root_fd = open(argv[2], O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (ctx.data_root_fd < 0) {
			perror(argv[2]);
			return 1;
		}
		r = load_list(argv[3], false, in);
	}
	if (r < 0) {
		fprintf(stderr, "io_bench: cannot load the list: %s\n", strerror(-r));
		return 1;
	}
	for (int i = 0; i < repeat; i++) {
		double s = 0;
		uint64_t b = 0;

		r = run_once(argv[1], &ctx, in, http ? 2 : 1, &s, &b, &failed);
		if (r < 0 || failed)
			return 1;
		if (!best || s < best)
			best = s;
		if (!i)
			first = s;
		bytes = b;
	}
	printf("%s items=%zu bytes=%llu seconds=%.4f bytes_per_s=%.0f items_per_s=%.0f first_seconds=%.4f recycled=%llu\n",
	       argv[1], in->n, (unsigned long long)bytes, best,
	       (double)bytes / best, (double)in->n / best, first,
	       (unsigned long long)store_stats.buffers_recycled);
	set_free(in);
	return 0;
}
