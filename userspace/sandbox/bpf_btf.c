// SPDX-License-Identifier: MIT
/*
 * The kernel BTF the guard needs, without parsing all of it.
 *
 * libbpf resolves the guard's CO-RE relocations against the whole vmlinux
 * BTF: it reads /sys/kernel/btf/vmlinux (5 MiB, 4 KiB per read(2) from
 * sysfs), copies and validates every type, for every guard loaded, and
 * twice when the first load (with the BPF-LSM programs) fails. That was
 * most of the fixed cost of a `pith run`. Here the file is mapped (or read
 * once), walked in place, and the few structures the programs read are
 * copied into a small BTF that libbpf is handed as btf_custom_path (it then
 * never opens vmlinux for a program set without BPF-LSM), with the id of
 * one BPF-LSM hook for a cheap probe of whether lsm_cgroup programs load.
 *
 * The copy keeps every member of the structures named in guard_btf_roots
 * (those of bpf/guard.bpf.c's CO-RE reads, with their real offsets), and of
 * the anonymous structures and unions inside them; any other structure a
 * member refers to is copied with its name and size but no members, and
 * every pointer points to void: CO-RE matches a field by name along the
 * access path and checks only the kind of the field's type, so the offsets
 * libbpf computes are those the whole BTF gives. Should a relocation find
 * nothing here (a new CO-RE read of an unlisted structure), the load fails
 * and bpf_guard.c loads again against the whole vmlinux BTF.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <linux/btf.h>
#include <bpf/btf.h>

#include "lib/macro.h"
#include "sandbox/bpf_btf.h"

#define VMLINUX_BTF "/sys/kernel/btf/vmlinux"

/* Structures the guard's programs read through CO-RE. */
static const char *const guard_btf_roots[] = {
	"pt_regs", "task_struct", "thread_info", "bpf_sock",
};

struct raw {
	const char *strs;
	uint32_t str_len;
	/* Every CHECK-th type's address ([k]: type k * CHECK + 1): a type is
	 * found from the one before it, without an index of 150,000. */
	const struct btf_type **check;
	uint32_t n;
	uint32_t *map;	 /* raw id -> new id, 0 not yet */
	uint32_t root[ARRAY_SIZE(guard_btf_roots)];
	uint32_t lsm_hook;
	struct btf *out;
};

#define CHECK 32

/*
 * Bytes after a type's struct btf_type: a fixed part and a part per vlen
 * entry, by kind, read from two tables rather than a switch: the walk of
 * 150,000 types in index_types() is a chain of such steps, and a switch
 * on kinds in no order mispredicted at most of them (~1.2 ms of each
 * start, benchmarks/startup.md "The guard's start-up cost (round 9, branch
 * quality9)"). Kinds without an entry (PTR FWD TYPEDEF VOLATILE CONST
 * RESTRICT FUNC FLOAT TYPE_TAG, and numbers beyond BTF_KIND_MAX, which
 * index_types() refuses) have none.
 */
static const uint8_t extra_fixed[32] = {
	[BTF_KIND_INT] = sizeof(uint32_t),
	[BTF_KIND_ARRAY] = sizeof(struct btf_array),
	[BTF_KIND_VAR] = sizeof(struct btf_var),
	[BTF_KIND_DECL_TAG] = sizeof(struct btf_decl_tag),
};
static const uint8_t extra_per[32] = {
	[BTF_KIND_STRUCT] = sizeof(struct btf_member),
	[BTF_KIND_UNION] = sizeof(struct btf_member),
	[BTF_KIND_ENUM] = sizeof(struct btf_enum),
	[BTF_KIND_FUNC_PROTO] = sizeof(struct btf_param),
	[BTF_KIND_DATASEC] = sizeof(struct btf_var_secinfo),
	[BTF_KIND_ENUM64] = sizeof(struct btf_enum64),
};

static inline size_t type_extra(const struct btf_type *t)
{
	unsigned kind = BTF_INFO_KIND(t->info) & 31;

	return extra_fixed[kind] + (size_t)BTF_INFO_VLEN(t->info) * extra_per[kind];
}

static const char *name_of(const struct raw *r, uint32_t off)
{
	return off < r->str_len ? r->strs + off : NULL;
}

#define LSM_HOOK "bpf_lsm_file_open"

/* The roots and the LSM hook are found on the way (their first letters
 * first: most names differ there). */
static void note_name(struct raw *r, const struct btf_type *t, uint32_t id)
{
	unsigned kind = BTF_INFO_KIND(t->info);
	const char *s;

	if (kind != BTF_KIND_STRUCT && kind != BTF_KIND_FUNC)
		return;
	s = name_of(r, t->name_off);
	if (!s)
		return;
	if (kind == BTF_KIND_FUNC) {
		if (s[0] == 'b' && !r->lsm_hook && !strcmp(s, LSM_HOOK))
			r->lsm_hook = id;
		return;
	}
	for (size_t i = 0; i < ARRAY_SIZE(guard_btf_roots); i++)
		if (s[0] == guard_btf_roots[i][0] && !r->root[i] &&
		    !strcmp(s, guard_btf_roots[i]))
			r->root[i] = id;
}

/* Index the type section: one pointer per type, nothing copied. */
static int index_types(struct raw *r, const void *data, size_t size)
{
	const struct btf_header *h = data;
	const char *p, *end;
	uint32_t cap = 1 << 12;

	if (size < sizeof(*h) || h->magic != BTF_MAGIC || h->version != 1 ||
	    h->hdr_len > size ||
	    (uint64_t)h->hdr_len + h->type_off + h->type_len > size ||
	    (uint64_t)h->hdr_len + h->str_off + h->str_len > size ||
	    h->str_len == 0)
		return -EPROTO;
	r->strs = (const char *)data + h->hdr_len + h->str_off;
	r->str_len = h->str_len;
	if (r->strs[r->str_len - 1])
		return -EPROTO;
	p = (const char *)data + h->hdr_len + h->type_off;
	end = p + h->type_len;
	r->check = malloc(cap * sizeof(*r->check));
	if (!r->check)
		return -ENOMEM;
	while (p < end) {
		const struct btf_type *t = (const void *)p;
		size_t len;

		if ((size_t)(end - p) < sizeof(*t))
			return -EPROTO;
		len = sizeof(*t) + type_extra(t);
		if ((size_t)(end - p) < len ||
		    BTF_INFO_KIND(t->info) > BTF_KIND_MAX)
			return -EPROTO;
		if (r->n % CHECK == 0) {
			if (r->n / CHECK == cap) {
				const struct btf_type **n;

				cap *= 2;
				n = realloc(r->check, cap * sizeof(*r->check));
				if (!n)
					return -ENOMEM;
				r->check = n;
			}
			r->check[r->n / CHECK] = t;
		}
		r->n++;
		p += len;
		note_name(r, t, r->n);
	}
	r->map = calloc(r->n + 1, sizeof(*r->map));
	return r->map ? 0 : -ENOMEM;
}

/* Type id (1..n), from the checkpoint at or before it. */
static const struct btf_type *type_at(const struct raw *r, uint32_t id)
{
	const struct btf_type *t = r->check[(id - 1) / CHECK];

	for (uint32_t k = (id - 1) % CHECK; k > 0; k--)
		t = (const void *)((const char *)(t + 1) + type_extra(t));
	return t;
}

static bool is_root(const struct raw *r, uint32_t id)
{
	for (size_t i = 0; i < ARRAY_SIZE(r->root); i++)
		if (r->root[i] == id)
			return true;
	return false;
}

static int copy(struct raw *r, uint32_t id, bool deep);

/* Point the last-added modifier/typedef at the copy of its target. */
static int copy_ref(struct raw *r, int nid, uint32_t ref)
{
	int tid = copy(r, ref, false);
	struct btf_type *t;

	if (tid < 0)
		return tid;
	t = (struct btf_type *)btf__type_by_id(r->out, nid);
	t->type = tid;
	return nid;
}

static int copy_composite(struct raw *r, uint32_t id, bool deep)
{
	const struct btf_type *t = type_at(r, id);
	const struct btf_member *m = (const void *)(t + 1);
	bool kflag = BTF_INFO_KFLAG(t->info);
	uint16_t vlen = deep ? BTF_INFO_VLEN(t->info) : 0;
	const char *name = name_of(r, t->name_off);
	int nid, err;

	nid = BTF_INFO_KIND(t->info) == BTF_KIND_STRUCT ?
		      btf__add_struct(r->out, name, t->size) :
		      btf__add_union(r->out, name, t->size);
	if (nid < 0)
		return nid;
	/* Members first (they must follow their structure), types after. */
	for (uint16_t i = 0; i < vlen; i++) {
		uint32_t off = kflag ? BTF_MEMBER_BIT_OFFSET(m[i].offset) :
				       m[i].offset;
		uint32_t bits = kflag ? BTF_MEMBER_BITFIELD_SIZE(m[i].offset) :
					0;

		err = btf__add_field(r->out, name_of(r, m[i].name_off), 0, off,
				     bits);
		if (err < 0)
			return err;
	}
	r->map[id] = nid;
	for (uint16_t i = 0; i < vlen; i++) {
		const char *mname = name_of(r, m[i].name_off);
		int tid = copy(r, m[i].type, !mname || !mname[0]);
		struct btf_type *nt;

		if (tid < 0)
			return tid;
		nt = (struct btf_type *)btf__type_by_id(r->out, nid);
		btf_members(nt)[i].type = tid;
	}
	return nid;
}

static int copy(struct raw *r, uint32_t id, bool deep)
{
	const struct btf_type *t;
	const char *name;
	int nid, err;

	if (id == 0)
		return 0;
	if (id > r->n)
		return -EPROTO;
	if (r->map[id])
		return r->map[id];
	t = type_at(r, id);
	name = name_of(r, t->name_off);
	if (!name)
		return -EPROTO;
	switch (BTF_INFO_KIND(t->info)) {
	case BTF_KIND_INT: {
		uint32_t v = *(const uint32_t *)(t + 1);

		if (BTF_INT_OFFSET(v) || BTF_INT_BITS(v) != t->size * 8)
			return -EOPNOTSUPP;
		nid = btf__add_int(r->out, name, t->size, BTF_INT_ENCODING(v));
		break;
	}
	case BTF_KIND_PTR:
		nid = btf__add_ptr(r->out, 0);
		break;
	case BTF_KIND_FWD:
		nid = btf__add_fwd(r->out, name, BTF_INFO_KFLAG(t->info) ?
						       BTF_FWD_UNION :
						       BTF_FWD_STRUCT);
		break;
	case BTF_KIND_FLOAT:
		nid = btf__add_float(r->out, name, t->size);
		break;
	case BTF_KIND_TYPEDEF:
	case BTF_KIND_VOLATILE:
	case BTF_KIND_CONST:
	case BTF_KIND_RESTRICT:
		switch (BTF_INFO_KIND(t->info)) {
		case BTF_KIND_TYPEDEF:
			nid = btf__add_typedef(r->out, name, 0);
			break;
		case BTF_KIND_VOLATILE:
			nid = btf__add_volatile(r->out, 0);
			break;
		case BTF_KIND_CONST:
			nid = btf__add_const(r->out, 0);
			break;
		default:
			nid = btf__add_restrict(r->out, 0);
			break;
		}
		if (nid < 0)
			return nid;
		r->map[id] = nid;
		return copy_ref(r, nid, t->type);
	case BTF_KIND_TYPE_TAG: /* attributes of pointers: skipped */
		nid = copy(r, t->type, deep);
		break;
	case BTF_KIND_ARRAY: {
		const struct btf_array *a = (const void *)(t + 1);
		int elem = copy(r, a->type, false);
		int index = elem < 0 ? elem : copy(r, a->index_type, false);

		if (index < 0)
			return index;
		nid = btf__add_array(r->out, index, elem, a->nelems);
		break;
	}
	case BTF_KIND_STRUCT:
	case BTF_KIND_UNION:
		return copy_composite(r, id, deep || is_root(r, id));
	case BTF_KIND_ENUM: {
		const struct btf_enum *e = (const void *)(t + 1);

		nid = btf__add_enum(r->out, name, t->size);
		for (uint16_t i = 0; nid >= 0 && i < BTF_INFO_VLEN(t->info);
		     i++) {
			err = btf__add_enum_value(r->out,
						  name_of(r, e[i].name_off),
						  e[i].val);
			if (err < 0)
				return err;
		}
		break;
	}
	case BTF_KIND_ENUM64: {
		const struct btf_enum64 *e = (const void *)(t + 1);

		nid = btf__add_enum64(r->out, name, t->size,
				      BTF_INFO_KFLAG(t->info));
		for (uint16_t i = 0; nid >= 0 && i < BTF_INFO_VLEN(t->info);
		     i++) {
			err = btf__add_enum64_value(
				r->out, name_of(r, e[i].name_off),
				((uint64_t)e[i].val_hi32 << 32) | e[i].val_lo32);
			if (err < 0)
				return err;
		}
		break;
	}
	default: /* functions, variables, sections: not in a structure */
		return -EOPNOTSUPP;
	}
	if (nid < 0)
		return nid;
	r->map[id] = nid;
	return nid;
}

static int build(struct raw *r, const void *data, size_t size,
		 struct guard_btf *ret)
{
	const void *raw;
	uint32_t len;
	int fd, err;

	err = index_types(r, data, size);
	if (err < 0)
		return err;
	for (size_t i = 0; i < ARRAY_SIZE(guard_btf_roots); i++)
		if (!r->root[i])
			return -ENOENT;
	ret->lsm_hook_id = r->lsm_hook;
	r->out = btf__new_empty();
	if (!r->out)
		return -errno;
	for (size_t i = 0; i < ARRAY_SIZE(guard_btf_roots); i++) {
		err = copy(r, r->root[i], true);
		if (err < 0)
			return err;
	}
	raw = btf__raw_data(r->out, &len);
	if (!raw)
		return -errno;
	fd = memfd_create("pith-guard-btf", MFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (write(fd, raw, len) != (ssize_t)len) {
		err = errno ? -errno : -EIO;
		close(fd);
		return err;
	}
	ret->fd = fd;
	ret->n_types = btf__type_cnt(r->out) - 1;
	snprintf(ret->path, sizeof(ret->path), "/proc/self/fd/%d", fd);
	return 0;
}

/* The whole file: mapped where the kernel allows it (6.16+), else read. */
static int map_vmlinux(void **data, size_t *size, bool *mapped)
{
	_cleanup_close_ int fd = open(VMLINUX_BTF, O_RDONLY | O_CLOEXEC);
	struct stat st;
	size_t got = 0;
	char *buf;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (st.st_size <= 0)
		return -EPROTO;
	*size = st.st_size;
	*data = mmap(NULL, *size, PROT_READ, MAP_PRIVATE, fd, 0);
	if (*data != MAP_FAILED) {
		*mapped = true;
		return 0;
	}
	*mapped = false;
	buf = malloc(*size);
	if (!buf)
		return -ENOMEM;
	while (got < *size) {
		ssize_t n = read(fd, buf + got, *size - got);

		if (n <= 0) {
			free(buf);
			return n < 0 ? -errno : -EPROTO;
		}
		got += n;
	}
	*data = buf;
	return 0;
}

int guard_btf_new(struct guard_btf *ret)
{
	struct raw r = {};
	void *data = NULL;
	size_t size = 0;
	bool mapped = false;
	int err;

	*ret = (struct guard_btf){ .fd = -1 };
	err = map_vmlinux(&data, &size, &mapped);
	if (err < 0)
		return err;
	err = build(&r, data, size, ret);
	btf__free(r.out);
	free(r.check);
	free(r.map);
	if (mapped)
		munmap(data, size);
	else
		free(data);
	if (err < 0)
		guard_btf_free(ret);
	return err;
}

void guard_btf_free(struct guard_btf *b)
{
	if (b->fd >= 0)
		close(b->fd);
	b->fd = -1;
	b->path[0] = 0;
}
