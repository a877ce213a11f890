// SPDX-License-Identifier: MIT
/* t_* helpers of the sandbox tests (see t_sandbox.h). */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>

#include "harness/helpers.h"
#include "security/t_sandbox.h"

struct sandbox *t_sandbox(bool no_seccomp)
{
	struct sandbox_opts o = { .no_seccomp = no_seccomp };
	struct sandbox *sb = NULL;
	struct err e = { { 0 } };

	if (sandbox_new(&o, &sb, &e) < 0) {
		fprintf(stderr, "# sandbox_new: %s\n", e.msg);
		abort();
	}
	return sb;
}

const struct elf_image *t_hostile(void)
{
	static struct elf_image *img;
	struct err e = { { 0 } };
	char *path;

	if (img)
		return img;
	/* PITH_TEST_HOSTILE: another build of the same function (the
	 * --posix one, tests/security/posix_hostile.sh). */
	path = getenv("PITH_TEST_HOSTILE")
		       ? t_strdupf("%s", getenv("PITH_TEST_HOSTILE"))
		       : t_strdupf("%s/tests/fn/hostile", t_build_dir());
	if (!path || elf_image_load(-100 /* AT_FDCWD */, path, &img, &e) < 0) {
		fprintf(stderr, "# cannot load %s: %s\n", path, e.msg);
		abort();
	}
	free(path);
	return img;
}

/* `name` holding one item `item`, all of the buffer b, which it seals. */
static struct set *one_item_set(const char *name, const char *item,
				struct buffer *b)
{
	struct set *s = set_new(name);

	if (!s || buffer_seal(b) < 0 ||
	    set_add(s, item, false, 0, b, 0, b->size) < 0)
		abort();
	buffer_unref(b);
	return s;
}

struct set *t_text_set(const char *name, const char *item, const char *data)
{
	struct set *s = set_new(name);

	if (!s || set_add_copy(s, item, false, 0, data, strlen(data)) < 0)
		abort();
	return s;
}

struct set *t_pooled_set(const char *name, const char *item, const char *data)
{
	struct buffer *b = NULL;
	size_t len = strlen(data);
	void *map;

	if (buffer_new_mapped("t-pooled", len, 0, &b, &map) < 0 || !b->pooled)
		abort();
	memcpy(map, data, len);
	return one_item_set(name, item, b);
}

static const char *const t_outputs[] = { "out" };

static struct sandbox_proc *start(struct sandbox *sb, uint64_t instance,
				  uint64_t memory, uint64_t timeout_ms,
				  struct set *input, bool wait)
{
	struct set *inputs[1] = { input };
	struct sandbox_request req = {
		.image = t_hostile(),
		.limits = { .memory = memory, .timeout_ms = timeout_ms },
		.inputs = inputs,
		.n_inputs = input ? 1 : 0,
		.outputs = t_outputs,
		.n_outputs = 1,
		.instance = instance,
		/* tests/security/zygote_hostile.sh: every instance fresh,
		 * forked by a zygote (PITH_ZYGOTE=always). */
		.fresh = getenv("PITH_TEST_FRESH") != NULL,
	};
	struct sandbox_proc *p = NULL;
	struct err e = { { 0 } };
	int r;

	r = wait ? sandbox_run(sb, &req, &p, &e)
		 : sandbox_spawn(sb, &req, &p, &e);
	if (r < 0) {
		fprintf(stderr, "# sandbox_%s: %s\n", wait ? "run" : "spawn",
			e.msg);
		return NULL;
	}
	return p;
}

struct sandbox_proc *t_run_hostile(struct sandbox *sb, uint64_t instance,
				   uint64_t memory, uint64_t timeout_ms,
				   struct set *input)
{
	return start(sb, instance, memory, timeout_ms, input, true);
}

struct sandbox_proc *t_spawn_hostile(struct sandbox *sb, uint64_t instance,
				     uint64_t timeout_ms)
{
	return start(sb, instance, T_MEMORY, timeout_ms, NULL, false);
}

int t_wait(struct sandbox_proc *p)
{
	int r;

	while ((r = sandbox_proc_step(p)) == 0) {
		struct pollfd pfd = { sandbox_proc_fd(p), POLLIN, 0 };

		poll(&pfd, 1, 1);
	}
	return r;
}

const char *t_reason(const struct sandbox_proc *p)
{
	return sandbox_proc_result(p)->reason;
}

bool t_layer_active(struct sandbox *sb, const char *name)
{
	struct sandbox_layer l[32];
	size_t n = sandbox_layers(sb, l, 32);

	for (size_t i = 0; i < n; i++)
		if (!strcmp(l[i].name, name))
			return l[i].active;
	return false;
}

const struct elf_image *t_reset_image(bool big_bss)
{
	static struct elf_image *img[2];
	struct elf_image **slot = &img[big_bss];
	struct err e = { { 0 } };
	char *path;

	if (*slot)
		return *slot;
	path = t_strdupf("%s/tests/fn/%s", t_build_dir(),
			 big_bss ? "reset-bigbss" : "reset");
	if (!path || elf_image_load(-100 /* AT_FDCWD */, path, slot, &e) < 0) {
		fprintf(stderr, "# cannot load %s: %s\n", path, e.msg);
		abort();
	}
	free(path);
	return *slot;
}

struct sandbox_request t_reset_request(bool big_bss, uint64_t timeout_ms,
				       bool fresh)
{
	return (struct sandbox_request){
		.image = t_reset_image(big_bss),
		.limits = { .memory = T_MEMORY, .timeout_ms = timeout_ms },
		.n_inputs = 1,
		.outputs = t_outputs,
		.n_outputs = 1,
		.fresh = fresh,
	};
}

struct sandbox_proc *t_reset_probe(struct sandbox *sb, bool big_bss,
				   const char *mode, uint64_t timeout_ms,
				   bool fresh, bool wait)
{
	struct sandbox_request req = t_reset_request(big_bss, timeout_ms,
						     fresh);
	struct sandbox_proc *p = NULL;
	struct err e = { { 0 } };
	char data[64];
	struct set *in;
	int r;

	snprintf(data, sizeof(data), "%c%c%s", mode[0],
		 getauxval(AT_HWCAP2) & (1 << 1) ? 'F' : '-', mode + 1);
	in = t_text_set("in", "mode", data);
	req.inputs = &in;
	r = wait ? sandbox_run(sb, &req, &p, &e)
		 : sandbox_spawn(sb, &req, &p, &e);
	set_free(in);
	if (r < 0) {
		fprintf(stderr, "# sandbox_%s: %s\n", wait ? "run" : "spawn",
			e.msg);
		return NULL;
	}
	return p;
}

struct t_found t_found_of(struct sandbox_proc *p)
{
	struct t_found f = { 0 };
	struct set **sets;
	size_t n = 0;

	f.pid = sandbox_proc_pid(p);
	f.ok = sandbox_proc_result(p)->status == SANDBOX_OK;
	snprintf(f.reason, sizeof(f.reason), "%s", t_reason(p));
	sets = sandbox_proc_take_outputs(p, &n);
	if (f.ok && n == 1 && sets[0]->n == 1) {
		const struct item *it = &sets[0]->items[0];
		const void *d;

		f.len = it->len;
		f.bytes = malloc(it->len);
		/* Small outputs are packed: pith's memory, no descriptor. */
		if (f.bytes && item_data(it, &d) == 0)
			memcpy(f.bytes, d, it->len);
		else
			f.len = 0;
	}
	for (size_t i = 0; i < n; i++)
		set_free(sets[i]);
	free(sets);
	return f;
}

struct t_found t_reset_check(struct sandbox *sb, bool big_bss,
			     const char *mode, bool fresh)
{
	struct sandbox_proc *p = t_reset_probe(sb, big_bss, mode,
					       T_TIMEOUT_MS, fresh, true);
	struct t_found f = { 0 };

	if (!p)
		return f;
	f = t_found_of(p);
	sandbox_proc_free(p);
	return f;
}

/* Layout of the probe's report (reset.c, struct state). */
static const char *const t_reset_fields[] = {
	"rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "rsp", "r8", "r9",
	"r10", "r11", "r12", "r13", "r14", "r15", "rflags", "ds", "es", "fs",
	"gs", "fs base", "gs base", ".data", ".bss words", "stack secrets",
	"context secrets", "reserved[0]", "reserved[1]", "reserved[2]",
	"reserved[3]", "reserved[4]", "reserved[5]", "reserved[6]",
	"reserved[7]", "xsave bytes",
};

void t_reset_differ(const struct t_found *a, const struct t_found *b,
		    const char *ref, char *out, size_t len)
{
	size_t n = sizeof(t_reset_fields) / sizeof(t_reset_fields[0]);

	out[0] = 0;
	if (a->len != b->len) {
		snprintf(out, len, "report of %zu bytes, %s %zu", b->len, ref,
			 a->len);
		return;
	}
	for (size_t i = 0; i < a->len; i++)
		if (a->bytes[i] != b->bytes[i]) {
			uint64_t x = 0, y = 0;
			size_t w = i / 8;

			if (w < n) {
				memcpy(&x, a->bytes + 8 * w, 8);
				memcpy(&y, b->bytes + 8 * w, 8);
				snprintf(out, len, "%s: 0x%llx, %s 0x%llx",
					 t_reset_fields[w],
					 (unsigned long long)y, ref,
					 (unsigned long long)x);
			} else {
				snprintf(out, len,
					 "vector state byte %zu: 0x%02x, %s 0x%02x",
					 i - 8 * n, (unsigned char)b->bytes[i],
					 ref, (unsigned char)a->bytes[i]);
			}
			return;
		}
}
