// SPDX-License-Identifier: MIT
/*
 * logstats, stage 1: one instance per host (input `logs` distributed by
 * key). Reads that host's access logs (combined log format) and writes one
 * report to output `stats`: the host name (the input items' names up to the
 * first '.'), requests, bytes sent, malformed lines, requests per status and
 * requests and bytes per path (query strings dropped), paths in byte order.
 */
#include <pith/fn.h>

#include "tally.h"

/* `... "METHOD PATH PROTO" STATUS BYTES ...`; false when malformed. */
static bool parse_line(struct tally *t, const char *p, const char *end)
{
	const char *q = memchr(p, '"', end - p), *path, *path_end;
	uint64_t status, bytes = 0;

	if (!q)
		return false;
	p = q + 1;
	q = memchr(p, ' ', end - p); /* after the method */
	if (!q)
		return false;
	path = q + 1;
	path_end = memchr(path, ' ', end - path);
	q = path_end ? memchr(path_end, '"', end - path_end) : NULL;
	if (!q || path_end == path)
		return false;
	p = q + 1;
	if (p == end || *p++ != ' ' || pith_parse_u64(&p, end, &status) < 0 ||
	    status >= STATUS_MAX || p == end || *p++ != ' ')
		return false;
	if (p < end && *p == '-')
		p++;
	else if (pith_parse_u64(&p, end, &bytes) < 0)
		return false;
	if (p < end && *p != ' ')
		return false;

	q = memchr(path, '?', path_end - path);
	if (q)
		path_end = q;
	t->requests++;
	t->bytes += bytes;
	t->status[status]++;
	tally_path(t, path, path_end - path, 1, bytes);
	return true;
}

static int by_path(const void *a, const void *b)
{
	return path_cmp(a, b);
}

int main(void)
{
	const struct pith_set *logs = pith_input("logs");
	const struct pith_item *first = pith_set_item(logs, 0);
	struct pith_sb sb = { 0 };
	struct tally t;
	char host[PITH_NAME_MAX + 1];
	const char *name, *dot;
	struct path_stat *v;

	if (!first)
		return 1;
	tally_init(&t);
	pith_set_foreach(it, logs) {
		const char *p = pith_item_data(it);
		const char *end = p + pith_item_len(it);

		while (p < end) {
			const char *nl = memchr(p, '\n', end - p);
			const char *eol = nl ? nl : end;

			if (eol > p && !parse_line(&t, p, eol))
				t.malformed++;
			p = nl ? nl + 1 : end;
		}
	}

	name = pith_item_name(first);
	dot = strchr(name, '.');
	if (dot && dot > name)
		pith_snprintf(host, sizeof(host), "%.*s", (int)(dot - name),
			      name);
	else
		pith_snprintf(host, sizeof(host), "host%llu",
			      (unsigned long long)pith_item_key(first));

	pith_sb_printf(&sb, "host\t%s\nfiles\t%zu\n", host,
		       pith_set_count(logs));
	tally_write(&sb, &t);
	v = tally_paths(&t);
	pith_sort(v, t.n, sizeof(*v), by_path);
	tally_write_paths(&sb, v, t.n);
	pith_sb_output_keyed(&sb, "stats", host, pith_item_key(first));
	return 0;
}
