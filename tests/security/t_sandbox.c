// SPDX-License-Identifier: MIT
/* t_* helpers of the sandbox tests (see t_sandbox.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

const char *t_reason(const struct sandbox_proc *p)
{
	return sandbox_proc_result(p)->reason;
}
