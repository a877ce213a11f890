// SPDX-License-Identifier: MIT
/*
 * Collection of a finished instance: validation of the output descriptor
 * it left in its context, and the output sets built from it. The function
 * is hostile: every count, address, length and name is checked before it
 * is used, and the totals are bounded (items, bytes and name bytes, aliases
 * counted), so its outputs cannot make pith grow.
 *
 * What lives on of the context: the pages of large outputs (at least
 * PITH_PAGE_ITEM_MIN bytes), kept in the context buffer, which is then
 * sealed (a consumer maps only an item's whole pages and gets copies of
 * partial ones: context.c); every smaller output is copied into a packed
 * buffer shared with other instances' small outputs (buffer_pack(): no
 * descriptor; an instance with more than STORE_PACK_MAX bytes of them gets
 * a pooled buffer of its own), and the rest of the context is released (holes
 * punched), so one output byte never pins a whole context. A context no output
 * references is not sealed at all: it can be reused. Outputs that lie in an
 * input reference the input's own buffer: no copy.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <pith/fn.h>

#include "lib/array.h"
#include "lib/macro.h"
#include "sandbox/internal.h"

/* An output item whose bytes lie in the context, placed once all are
 * known. */
struct pending {
	struct set *set;	/* the item: set->items[idx], holding a */
	size_t idx;		/* reference to p->ctx until placed */
	uint64_t off, len;
	bool keep;		/* large: its pages stay in the context */
	uint64_t out_off;	/* else: where it goes in the output buffer */
};

struct collect {
	struct sandbox_proc *p;
	const char *ctx;	/* pith's read-only view of the context */
	uint64_t items, bytes, names; /* so far, aliases counted */
	struct sandbox_limits lim;    /* with the defaults filled in */
	struct pending *pend;
	size_t n_pend, cap_pend;
};

/* Where [addr, addr + len) lies: the context or one input. */
static int resolve(const struct sandbox_proc *p, uint64_t addr, uint64_t len,
		   bool *ret_ctx, struct buffer **ret_buf, uint64_t *ret_off)
{
	*ret_ctx = false;
	if (addr >= PITH_CONTEXT_BASE &&
	    addr - PITH_CONTEXT_BASE <= p->layout.size &&
	    len <= p->layout.size - (addr - PITH_CONTEXT_BASE)) {
		*ret_ctx = true;
		*ret_buf = p->ctx;
		*ret_off = addr - PITH_CONTEXT_BASE;
		return 0;
	}
	return context_resolve_input(p, addr, len, ret_buf, ret_off);
}

static int bytes_of(const struct collect *c, bool in_ctx, struct buffer *b,
		    uint64_t off, const char **ret)
{
	const void *base;
	int r;

	if (in_ctx) {
		*ret = c->ctx + off;
		return 0;
	}
	r = buffer_data(b, &base);
	if (r < 0)
		return r;
	*ret = (const char *)base + off;
	return 0;
}

/* Length of the UTF-8 sequence at s (RFC 3629: no overlong form, no
 * surrogate, at most U+10FFFF), 0 when it is not one. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
	uint32_t cp;
	size_t len;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		len = 2, cp = s[0] & 0x1f;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		len = 3, cp = s[0] & 0x0f;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		len = 4, cp = s[0] & 0x07;
	else
		return 0;
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		return 0;
	return len;
}

/* An item's name: checked, or the item's index when name_len is 0. */
static int item_name(const struct collect *c, const struct pith_item *it,
		     uint32_t index, char *out, const char *where,
		     struct err *e)
{
	struct buffer *b;
	const char *s;
	uint64_t off;
	bool in_ctx;
	int r;

	if (it->name_len == 0) {
		snprintf(out, PITH_NAME_MAX + 1, "%" PRIu32, index);
		return 0;
	}
	if (it->name_len > PITH_NAME_MAX)
		return err_set(e, EINVAL,
			       "bad output descriptor: %s.name_len: %" PRIu32 " exceeds %d bytes",
			       where, it->name_len, PITH_NAME_MAX);
	if (resolve(c->p, it->name, it->name_len, &in_ctx, &b, &off) < 0)
		return err_set(e, EFAULT,
			       "bad output descriptor: %s.name: 0x%" PRIx64 "+%" PRIu32 " outside the context and the inputs",
			       where, (uint64_t)it->name, it->name_len);
	r = bytes_of(c, in_ctx, b, off, &s);
	if (r < 0)
		return err_errno(e, r, "cannot map the output names");
	for (uint32_t i = 0; i < it->name_len;) {
		unsigned char ch = (unsigned char)s[i];
		size_t n;

		if (ch < 0x20 || ch == 0x7f || ch == '/')
			return err_set(e, EINVAL,
				       "bad output descriptor: %s.name: byte %" PRIu32 " is %s",
				       where, i,
				       ch == '/' ? "'/'" : "a control character");
		/* A name must survive the trip to --json unchanged. */
		n = utf8_seq((const unsigned char *)s + i, it->name_len - i);
		if (!n)
			return err_set(e, EILSEQ,
				       "bad output descriptor: %s.name: byte %" PRIu32 " is not valid UTF-8 (names must be UTF-8 to appear in --json)",
				       where, i);
		i += (uint32_t)n;
	}
	memcpy(out, s, it->name_len);
	out[it->name_len] = 0;
	if (!strcmp(out, ".") || !strcmp(out, ".."))
		return err_set(e, EINVAL,
			       "bad output descriptor: %s.name: '%s' is not a name",
			       where, out);
	return 0;
}

static int over_limit(struct err *e, const char *what, uint64_t max,
		      const char *flag, const char *dflt)
{
	return err_set(e, E2BIG,
		       "output limit: %s exceed the limit of %" PRIu64 " (%s; default %s)",
		       what, max, flag, dflt);
}

static int collect_set(struct collect *c, size_t j, const struct pith_set *ps,
		       struct set *out, struct err *e)
{
	struct sandbox_proc *p = c->p;
	const struct pith_item *items;
	struct buffer *b;
	uint64_t off, bytes;
	char where[64], what[96];
	bool in_ctx;
	int r;

	if (ps->n_items == 0)
		return 0;
	if (ps->n_items > PITH_OUTPUT_ITEMS_MAX)
		return err_set(e, E2BIG,
			       "bad output descriptor: outputs[%zu].n_items: %" PRIu32 " exceeds the maximum of %u",
			       j, ps->n_items, PITH_OUTPUT_ITEMS_MAX);
	if (ps->n_items > c->lim.output_items - c->items) {
		snprintf(what, sizeof(what), "%" PRIu64 " output items",
			 c->items + ps->n_items);
		return over_limit(e, what, c->lim.output_items,
				  "--max-output-items",
				  "memory / 40, the items its memory can describe");
	}
	c->items += ps->n_items;
	bytes = (uint64_t)ps->n_items * sizeof(struct pith_item);
	if (resolve(p, ps->items, bytes, &in_ctx, &b, &off) < 0 || !in_ctx)
		return err_set(e, EFAULT,
			       "bad output descriptor: outputs[%zu].items: 0x%" PRIx64 "+%" PRIu64 " outside the context",
			       j, (uint64_t)ps->items, bytes);
	items = (const struct pith_item *)(c->ctx + off);
	for (uint32_t i = 0; i < ps->n_items; i++) {
		struct pith_item it;
		char name[PITH_NAME_MAX + 1];
		struct buffer *db = p->ctx;
		uint64_t doff = 0;
		bool dctx = true;

		memcpy(&it, &items[i], sizeof(it)); /* may be unaligned */
		snprintf(where, sizeof(where), "outputs[%zu].items[%" PRIu32 "]",
			 j, i);
		if (it.flags & ~PITH_ITEM_KEYED)
			return err_set(e, EINVAL,
				       "bad output descriptor: %s.flags: unknown bits %#" PRIx32,
				       where, it.flags & ~PITH_ITEM_KEYED);
		r = item_name(c, &it, i, name, where, e);
		if (r < 0)
			return r;
		c->names += strlen(name);
		if (c->names > c->lim.output_names) {
			snprintf(what, sizeof(what),
				 "%" PRIu64 "+ bytes of output names",
				 c->names);
			return over_limit(e, what, c->lim.output_names,
					  "--max-output-names",
					  "the instance's memory");
		}
		/* An empty item's address is not looked at. */
		if (it.len && resolve(p, it.data, it.len, &dctx, &db, &doff) < 0)
			return err_set(e, EFAULT,
				       "bad output descriptor: %s.data: 0x%" PRIx64 "+%" PRIu64 " outside the context and the inputs",
				       where, (uint64_t)it.data, (uint64_t)it.len);
		if (it.len > c->lim.output_bytes - MIN(c->bytes, c->lim.output_bytes)) {
			snprintf(what, sizeof(what),
				 "%" PRIu64 "+ output bytes (aliases counted)",
				 (uint64_t)(c->bytes + it.len));
			return over_limit(e, what, c->lim.output_bytes,
					  "--max-output-bytes",
					  "4 x (memory + input bytes)");
		}
		c->bytes += it.len;
		r = set_add(out, name, it.flags & PITH_ITEM_KEYED,
			    it.flags & PITH_ITEM_KEYED ? it.key : 0, db, doff,
			    it.len);
		if (r < 0)
			return err_errno(e, r, "cannot add an output item");
		if (!dctx)
			continue;
		if (ARRAY_GROW(c->pend, c->cap_pend, c->n_pend, 64) < 0)
			return err_set(e, ENOMEM, "out of memory");
		c->pend[c->n_pend++] = (struct pending){
			.set = out, .idx = out->n - 1, .off = doff,
			.len = it.len
		};
	}
	return 0;
}

static int cmp_range(const void *a, const void *b)
{
	const uint64_t *x = a, *y = b;

	return x[0] < y[0] ? -1 : x[0] > y[0];
}

/* Give back every page of the context no kept output lies in. */
static int punch_holes(struct collect *c, size_t n_keep)
{
	_cleanup_free_ uint64_t *r = malloc(MAX(n_keep, (size_t)1) * 2 *
					    sizeof(uint64_t));
	uint64_t at = 0, size = c->p->layout.size, kept = 0;
	size_t k = 0;

	if (!r)
		return -ENOMEM;
	for (size_t i = 0; i < c->n_pend; i++)
		if (c->pend[i].keep) {
			r[2 * k] = c->pend[i].off & ~(CTX_PAGE - 1);
			r[2 * k + 1] = ALIGN_UP(c->pend[i].off + c->pend[i].len,
						CTX_PAGE);
			k++;
		}
	qsort(r, k, 2 * sizeof(uint64_t), cmp_range);
	for (size_t i = 0; i <= k; i++) {
		uint64_t lo = i < k ? r[2 * i] : size;

		if (lo > at &&
		    fallocate(c->p->ctx->fd,
			      FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			      (off_t)at, (off_t)(lo - at)) < 0)
			return negative_errno();
		if (i < k && r[2 * i + 1] > MAX(at, lo))
			kept += r[2 * i + 1] - MAX(at, lo);
		if (i < k)
			at = MAX(at, r[2 * i + 1]);
	}
	buffer_set_charge(c->p->ctx, kept);
	return 0;
}

/*
 * Place the outputs that lie in the context: the pages of large ones stay
 * (the rest of the context is released), small ones are copied into one
 * buffer.
 */
static int place_outputs(struct collect *c, struct err *e)
{
	struct sandbox_proc *p = c->p;
	struct buffer *out = NULL;
	uint64_t len = 0;
	size_t n_keep = 0, n_copy = 0;
	char *map = NULL;
	int r;

	for (size_t i = 0; i < c->n_pend; i++) {
		struct pending *pd = &c->pend[i];

		pd->keep = pd->len >= PITH_PAGE_ITEM_MIN;
		if (pd->keep) {
			n_keep++;
			continue;
		}
		n_copy++;
		len = ALIGN_UP(len, 16);
		pd->out_off = len;
		len += pd->len;
	}
	if (n_copy) {
		uint64_t base = 0;

		/* Packed with other instances' (no descriptor each), unless
		 * they are many: then a buffer of the instance's own. */
		if (len <= STORE_PACK_MAX)
			r = buffer_pack(len, &out, &base, (void **)&map);
		else
			r = buffer_new_mapped("pith-outputs", len, 0, &out,
					      (void **)&map);
		if (r < 0)
			return err_set(e, -r,
				       "cannot create the output buffer: %s",
				       store_strerror(r));
		for (size_t i = 0; i < c->n_pend; i++) {
			struct pending *pd = &c->pend[i];

			if (pd->keep)
				continue;
			struct item *it = &pd->set->items[pd->idx];

			/* Empty items only: no bytes, and no mapping. */
			if (pd->len)
				memcpy(map + pd->out_off, c->ctx + pd->off,
				       pd->len);
			store_stats.bytes_copied += pd->len;
			buffer_unref(it->buf);
			it->buf = buffer_ref(out);
			it->off = base + pd->out_off;
		}
		r = buffer_seal(out); /* a packed one is already */
		buffer_unref(out); /* the items hold it */
		if (r < 0)
			return err_errno(e, r, "cannot seal the output buffer");
	}
	if (!n_keep || p->ctx->sealed)
		return 0;
	/* Its parked worker and pith's view map it writable: no seal. */
	warm_unshare_ctx(p);
	r = punch_holes(c, n_keep);
	if (r < 0)
		return err_errno(e, r, "cannot release the context");
	r = buffer_seal(p->ctx);
	if (r < 0)
		return err_errno(e, r, "cannot seal the context");
	return 0;
}

static uint64_t sat_mul(uint64_t a, uint64_t b)
{
	uint64_t v;

	return __builtin_mul_overflow(a, b, &v) ? UINT64_MAX : v;
}

static struct sandbox_limits output_limits(const struct sandbox_proc *p)
{
	struct sandbox_limits l = p->limits;
	uint64_t in = p->input_bytes;

	if (!l.output_items)
		l.output_items = l.memory / sizeof(struct pith_item);
	if (!l.output_names)
		l.output_names = l.memory;
	if (!l.output_bytes)
		l.output_bytes = sat_mul(4, l.memory + MIN(in, UINT64_MAX / 2));
	return l;
}

int outputs_collect(struct sandbox_proc *p, struct err *e)
{
	struct sandbox_result *res = &p->result;
	struct collect c = { .p = p, .lim = output_limits(p) };
	_cleanup_free_ struct pith_set *sets = NULL;
	size_t bytes = p->n_outputs * sizeof(*sets);
	void *view = MAP_FAILED;
	int r;

	/*
	 * The worker is gone or parked: nothing writes the context any more. A
	 * pith_xfer buffer is sealed first (its seal revokes mappings, so the
	 * pages cannot be released afterwards, and it is kept whole when an
	 * output needs it); a memfd is read through a private view and sealed
	 * only if outputs stay in it, after the rest is released.
	 */
	if (p->ctx->xfer) {
		const void *d;

		r = buffer_seal(p->ctx);
		if (r >= 0)
			r = buffer_data(p->ctx, &d);
		if (r < 0)
			return err_errno(e, r, "cannot seal the context");
		c.ctx = d;
	} else if (p->ctx_map) {
		/* pith's mapping of a warm worker's context (warm.c). */
		c.ctx = p->ctx_map;
	} else {
		/* Private: a shared view would hold off F_SEAL_WRITE. */
		view = mmap(NULL, p->layout.size, PROT_READ, MAP_PRIVATE,
			    p->ctx->fd, 0);
		if (view == MAP_FAILED)
			return err_errno(e, errno, "cannot map the context");
		c.ctx = view;
	}
	/* The table pith wrote, not the (writable) outputs pointer. */
	sets = malloc(MAX(bytes, (size_t)1));
	r = -ENOMEM;
	if (!sets)
		goto out;
	memcpy(sets, c.ctx + p->layout.outputs_off, bytes);
	res->outputs = calloc(MAX(p->n_outputs, (size_t)1),
			      sizeof(*res->outputs));
	if (!res->outputs)
		goto out;
	res->n_outputs = p->n_outputs;
	for (size_t j = 0; j < p->n_outputs; j++) {
		res->outputs[j] = set_new(p->output_names[j]);
		r = -ENOMEM;
		if (!res->outputs[j])
			goto out;
		r = collect_set(&c, j, &sets[j], res->outputs[j], e);
		if (r < 0)
			goto out;
	}
	r = place_outputs(&c, e);
out:
	if (view != MAP_FAILED)
		munmap(view, p->layout.size);
	free(c.pend);
	return r < 0 ? r : 0;
}

/*
 * The SDK's note on why it ended the instance with `status` (struct
 * pith_note, ABI 1.2): untrusted bytes of the function's, used only when
 * its magic, version and status match, its name is at most PITH_NAME_MAX
 * bytes of printable UTF-8 without quotes or backslashes, and `left` fits
 * the instance's memory. Fills p->result.note and appends the detail to
 * the reason ("exited with status 121: output set \"reslt\" is not
 * declared by the stage").
 */
void outputs_note(struct sandbox_proc *p, int status)
{
	struct sandbox_result *res = &p->result;
	struct sandbox_note *sn = &res->note;
	struct pith_note n;
	size_t len = strlen(res->reason);
	bool named = status == PITH_EXIT_NO_OUTPUT ||
		     status == PITH_EXIT_NO_INPUT || status == PITH_EXIT_LIMIT;

	*sn = (struct sandbox_note){};
	if (!named && status != PITH_EXIT_NOMEM)
		return;
	if (pread(p->ctx->fd, &n, sizeof(n),
		  offsetof(struct pith_context, note)) != sizeof(n) ||
	    n.magic != PITH_NOTE_MAGIC)
		return; /* none: a function without the SDK, or an old one */
	if (n.version != PITH_NOTE_VERSION || n.status != status ||
	    n.name_len > PITH_NAME_MAX || (named && n.name_len == 0) ||
	    (!named && (n.name_len || n.left > p->limits.memory)))
		goto bad;
	for (size_t i = 0, k; i < n.name_len; i += k) {
		unsigned char c = (unsigned char)n.name[i];

		k = utf8_seq((const unsigned char *)n.name + i, n.name_len - i);
		if (!k || c < 0x20 || c == 0x7f || c == '"' || c == '\\')
			goto bad;
	}
	sn->valid = true;
	sn->status = status;
	memcpy(sn->set, n.name, n.name_len);
	sn->set[n.name_len] = '\0';
	if (!named) {
		sn->asked = n.asked;
		sn->left = n.left;
		snprintf(res->reason + len, sizeof(res->reason) - len,
			 ": out of memory: asked %" PRIu64 " bytes, %" PRIu64 " left",
			 sn->asked, sn->left);
	} else {
		snprintf(res->reason + len, sizeof(res->reason) - len,
			 status == PITH_EXIT_NO_OUTPUT ? ": output set \"%s\" is not declared by the stage" :
			 status == PITH_EXIT_NO_INPUT  ? ": input set \"%s\" is not given to the stage" :
							 ": an item of output set \"%s\" is over the limits (a name over 255 bytes, or over 1000000 items)",
			 sn->set);
	}
	return;
bad:
	snprintf(res->reason + len, sizeof(res->reason) - len,
		 ", with a malformed note (ignored)");
}
