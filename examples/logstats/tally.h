/* SPDX-License-Identifier: MIT */
/*
 * The tallies of logstats (requests, bytes, statuses, paths), their text
 * report and its parser, shared by the stats and summary functions.
 *
 * Report: tab-separated lines, `requests N`, `bytes N`, `malformed N`, one
 * `status CODE N` per status seen (ascending) and one `path PATH N BYTES`
 * per path (order chosen by the writer). A summary is a report that starts
 * with `hosts N`, the number of host reports added up in it.
 */
#ifndef LOGSTATS_TALLY_H
#define LOGSTATS_TALLY_H

#include <pith/fn.h>

#define STATUS_MAX 1000

struct path_stat {
	const char *path; /* in the arena */
	uint32_t len;
	uint64_t hash;
	uint64_t requests, bytes;
};

struct tally {
	uint64_t requests, bytes, malformed;
	uint64_t hosts;	    /* from the `hosts N` lines read */
	uint64_t summaries; /* reports read that had one */
	uint64_t status[STATUS_MAX];
	struct path_stat *paths; /* open addressing, power-of-two capacity */
	size_t cap, n;
};

static inline void tally_init(struct tally *t)
{
	memset(t, 0, sizeof(*t));
	t->cap = 256;
	t->paths = pith_calloc(t->cap, sizeof(*t->paths));
}

static inline struct path_stat *tally_slot(struct path_stat *v, size_t cap,
					   uint64_t hash, const char *path,
					   size_t len)
{
	size_t i = hash & (cap - 1);

	while (v[i].path && (v[i].hash != hash || v[i].len != len ||
			     memcmp(v[i].path, path, len)))
		i = (i + 1) & (cap - 1);
	return &v[i];
}

static inline void tally_path(struct tally *t, const char *path, size_t len,
			      uint64_t requests, uint64_t bytes)
{
	uint64_t hash = pith_hash(path, len);
	struct path_stat *s = tally_slot(t->paths, t->cap, hash, path, len);

	if (!s->path) {
		if (2 * (t->n + 1) > t->cap) {
			struct path_stat *old = t->paths;
			size_t old_cap = t->cap;

			t->cap *= 2;
			t->paths = pith_calloc(t->cap, sizeof(*t->paths));
			for (size_t i = 0; i < old_cap; i++)
				if (old[i].path)
					*tally_slot(t->paths, t->cap,
						    old[i].hash, old[i].path,
						    old[i].len) = old[i];
			s = tally_slot(t->paths, t->cap, hash, path, len);
		}
		s->path = pith_strndup(path, len);
		s->len = len;
		s->hash = hash;
		t->n++;
	}
	s->requests += requests;
	s->bytes += bytes;
}

/* The paths packed into an array of t->n entries (the table is reused). */
static inline struct path_stat *tally_paths(struct tally *t)
{
	size_t n = 0;

	for (size_t i = 0; i < t->cap; i++)
		if (t->paths[i].path)
			t->paths[n++] = t->paths[i];
	return t->paths;
}

static inline int path_cmp(const struct path_stat *a, const struct path_stat *b)
{
	size_t n = a->len < b->len ? a->len : b->len;
	int r = memcmp(a->path, b->path, n);

	return r ? r : (a->len > b->len) - (a->len < b->len);
}

/* Everything but the path lines. */
static inline void tally_write(struct pith_sb *sb, const struct tally *t)
{
	pith_sb_printf(sb, "requests\t%llu\nbytes\t%llu\nmalformed\t%llu\n",
		       (unsigned long long)t->requests,
		       (unsigned long long)t->bytes,
		       (unsigned long long)t->malformed);
	for (int s = 0; s < STATUS_MAX; s++)
		if (t->status[s])
			pith_sb_printf(sb, "status\t%d\t%llu\n", s,
				       (unsigned long long)t->status[s]);
}

static inline void tally_write_paths(struct pith_sb *sb,
				     const struct path_stat *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		pith_sb_printf(sb, "path\t%.*s\t%llu\t%llu\n", (int)v[i].len,
			       v[i].path, (unsigned long long)v[i].requests,
			       (unsigned long long)v[i].bytes);
}

/* The next tab-separated field of the line [*p, end); NULL at its end. */
static inline const char *field(const char **p, const char *end,
				size_t *ret_len)
{
	const char *f = *p, *q = f;

	if (f >= end)
		return NULL;
	while (q < end && *q != '\t')
		q++;
	*ret_len = q - f;
	*p = q < end ? q + 1 : q;
	return f;
}

static inline bool field_u64(const char **p, const char *end, uint64_t *ret)
{
	size_t len;
	const char *f = field(p, end, &len), *q = f;

	return f && pith_parse_u64(&q, f + len, ret) == 0 && q == f + len;
}

static inline bool is(const char *f, size_t len, const char *word)
{
	return len == strlen(word) && !memcmp(f, word, len);
}

/* Add a report to t; false when a line is not understood. Lines other than
 * the tallies (like `host`) are skipped; a `hosts N` line (a summary's)
 * adds N to t->hosts and counts the report in t->summaries. */
static inline bool tally_read(struct tally *t, const struct pith_item *it)
{
	const char *p = pith_item_data(it), *end = p + pith_item_len(it);

	while (p < end) {
		const char *nl = memchr(p, '\n', end - p);
		const char *eol = nl ? nl : end;
		const char *f, *path;
		uint64_t a, b;
		size_t len, path_len;

		f = field(&p, eol, &len);
		if (!f)
			return false;
		if (is(f, len, "requests") || is(f, len, "bytes") ||
		    is(f, len, "malformed")) {
			if (!field_u64(&p, eol, &a))
				return false;
			*(f[0] == 'r' ? &t->requests
			  : f[0] == 'b' ? &t->bytes : &t->malformed) += a;
		} else if (is(f, len, "hosts")) {
			if (!field_u64(&p, eol, &a))
				return false;
			t->hosts += a;
			t->summaries++;
		} else if (is(f, len, "status")) {
			if (!field_u64(&p, eol, &a) || a >= STATUS_MAX ||
			    !field_u64(&p, eol, &b))
				return false;
			t->status[a] += b;
		} else if (is(f, len, "path")) {
			path = field(&p, eol, &path_len);
			if (!path || !field_u64(&p, eol, &a) ||
			    !field_u64(&p, eol, &b))
				return false;
			tally_path(t, path, path_len, a, b);
		}
		p = nl ? nl + 1 : end;
	}
	return true;
}

#endif
