// SPDX-License-Identifier: MIT
/*
 * Tests of the function SDK (crt + libpith_fn.a) through a real function
 * built with tools/pith-cc (build/sdk/tests/probe), run by a minimal runner
 * that lays out an ABI v1 context and jumps to the entry under a seccomp
 * filter allowing exit_group alone. The runner is not the sandbox: it checks
 * the SDK's side of the contract, independently of pith's engine.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <seccomp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/types.h>
#include <sys/wait.h>

#include "harness/harness.h"
#include "harness/helpers.h"

#include <pith/abi.h>

#include "lib/macro.h"
#include "sandbox/elf.h"
#include "sdk/tests/fmt_cases.h"

#define T_MEMORY (1ull << 20)
#define T_STACK (64ull << 10)
#define T_INPUT_MAX (1ull << 20)

struct t_item {
	const char *name;
	bool keyed;
	uint64_t key;
	const char *data; /* NUL-terminated text */
};

/* One run of the probe: its exit code (128 + signal when killed) and, on
 * success, its output sets read back from the shared context. */
struct t_run {
	int code;
	const struct pith_context *ctx;
};

static const char *const t_outputs[] = { "fwd", "copy", "meta" };

static void *t_at(uint64_t addr)
{
	return (void *)(uintptr_t)addr;
}

/* Copy a string into the context at *pos; returns its address. */
static uint64_t t_put_str(uint64_t *pos, const char *s)
{
	uint64_t at = *pos;

	memcpy(t_at(at), s, strlen(s) + 1);
	*pos += strlen(s) + 1;
	return at;
}

static void t_fn_done(void)
{
	munmap(t_at(PITH_CONTEXT_BASE), T_MEMORY);
	munmap(t_at(PITH_INPUT_BASE), T_INPUT_MAX);
}

static _Noreturn void t_child(const struct elf_image *img, uint64_t sp)
{
	scmp_filter_ctx f;

	for (size_t i = 0; i < img->n_segments; i++) {
		const struct elf_segment *s = &img->segments[i];

		/* File pages from the image, bss anonymous (see elf.h). */
		if (s->filesz &&
		    mmap(t_at(s->vaddr), s->filesz, s->prot,
			 MAP_PRIVATE | MAP_FIXED_NOREPLACE, img->fd,
			 s->file_off) == MAP_FAILED)
			_exit(200);
		if (s->memsz > s->filesz &&
		    mmap(t_at(s->vaddr + s->filesz), s->memsz - s->filesz,
			 s->prot, MAP_PRIVATE | MAP_ANONYMOUS |
			 MAP_FIXED_NOREPLACE, -1, 0) == MAP_FAILED)
			_exit(200);
	}
	if (mprotect(t_at(PITH_INPUT_BASE), T_INPUT_MAX, PROT_READ))
		_exit(201);
	f = seccomp_init(SCMP_ACT_KILL_PROCESS);
	if (!f ||
	    seccomp_rule_add(f, SCMP_ACT_ALLOW, SCMP_SYS(exit_group), 0) ||
	    seccomp_load(f))
		_exit(202);
	__asm__ volatile("mov %0, %%rsp\n\t"
			 "xor %%ebp, %%ebp\n\t"
			 "jmp *%1"
			 :
			 : "r"(sp), "r"(img->entry), "D"(PITH_CONTEXT_BASE)
			 : "memory");
	__builtin_unreachable();
}

/*
 * Run the probe with input `cmd` = cmd and input `in` = items, the entry
 * stack pointer `skew` bytes below a 16-aligned address.
 */
static int t_fn_run(const char *cmd, const struct t_item *items,
		    size_t n_items, unsigned skew, struct t_run *ret)
{
	/* The SDK is always built into build/sdk, SAN=1 or not: functions
	 * cannot carry sanitizers. */
	_cleanup_free_ char *path = t_strdupf("%s/build/sdk/tests/probe",
					      t_repo_root());
	struct elf_image *img = NULL;
	struct pith_context *ctx;
	struct pith_set *sets;
	struct pith_item *its;
	uint64_t pos, in_pos = PITH_INPUT_BASE;
	struct err e = {};
	int status, r;
	pid_t pid;

	if (!path)
		return -ENOMEM;
	r = elf_image_load(AT_FDCWD, path, &img, &e);
	if (r < 0) {
		fprintf(stderr, "# %s: %s (run make)\n", path, e.msg);
		return r;
	}
	if (mmap(t_at(PITH_CONTEXT_BASE), T_MEMORY, PROT_READ | PROT_WRITE,
		 MAP_SHARED | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1,
		 0) == MAP_FAILED ||
	    mmap(t_at(PITH_INPUT_BASE), T_INPUT_MAX, PROT_READ | PROT_WRITE,
		 MAP_SHARED | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1,
		 0) == MAP_FAILED) {
		r = -errno;
		elf_image_free(img);
		return r;
	}

	/* Descriptor, 2 input sets, 3 output sets, 1 + n items, names. */
	ctx = t_at(PITH_CONTEXT_BASE);
	sets = (struct pith_set *)(ctx + 1);
	its = (struct pith_item *)(sets + 5);
	pos = (uintptr_t)(its + 1 + n_items);
	*ctx = (struct pith_context){
		.magic = PITH_ABI_MAGIC,
		.version = PITH_ABI_VERSION,
		.header_size = sizeof(*ctx),
		.context_base = PITH_CONTEXT_BASE,
		.context_size = T_MEMORY,
		.stack_size = T_STACK,
		.n_inputs = 2,
		.n_outputs = ARRAY_SIZE(t_outputs),
		.inputs = (uintptr_t)sets,
		.outputs = (uintptr_t)(sets + 2),
		.instance = 3,
	};
	sets[0] = (struct pith_set){ .name = t_put_str(&pos, "cmd"),
				     .name_len = 3, .n_items = 1,
				     .items = (uintptr_t)its };
	sets[1] = (struct pith_set){ .name = t_put_str(&pos, "in"),
				     .name_len = 2, .n_items = n_items,
				     .items = (uintptr_t)(its + 1) };
	for (size_t i = 0; i < ARRAY_SIZE(t_outputs); i++)
		sets[2 + i] = (struct pith_set){
			.name = t_put_str(&pos, t_outputs[i]),
			.name_len = strlen(t_outputs[i]),
		};
	for (size_t i = 0; i <= n_items; i++) {
		const char *name = i ? items[i - 1].name : "cmd";
		const char *data = i ? items[i - 1].data : cmd;

		its[i] = (struct pith_item){
			.name = t_put_str(&pos, name),
			.name_len = strlen(name),
			.flags = i && items[i - 1].keyed ? PITH_ITEM_KEYED : 0,
			.key = i ? items[i - 1].key : 0,
			.data = in_pos,
			.len = strlen(data),
		};
		memcpy(t_at(in_pos), data, strlen(data));
		in_pos += ALIGN_UP(strlen(data), 16);
	}
	ctx->arena = ALIGN_UP(pos, 64);
	ctx->arena_size = PITH_CONTEXT_BASE + T_MEMORY - T_STACK - ctx->arena;

	pid = fork();
	if (pid < 0) {
		r = -errno;
		elf_image_free(img);
		return r;
	}
	if (pid == 0)
		t_child(img, PITH_CONTEXT_BASE + T_MEMORY - 64 - skew);
	elf_image_free(img);
	if (waitpid(pid, &status, 0) < 0)
		return -errno;
	ret->code = t_exit_code(status);
	ret->ctx = ctx;
	return 0;
}

/* Does [addr, addr+len) lie in the context or in the input area? */
static bool t_valid_range(uint64_t addr, uint64_t len)
{
	return (addr >= PITH_CONTEXT_BASE &&
		addr - PITH_CONTEXT_BASE <= T_MEMORY &&
		len <= T_MEMORY - (addr - PITH_CONTEXT_BASE)) ||
	       (addr >= PITH_INPUT_BASE &&
		addr - PITH_INPUT_BASE <= T_INPUT_MAX &&
		len <= T_INPUT_MAX - (addr - PITH_INPUT_BASE));
}

/* Output set `set` as pith would check it; NULL when malformed. */
static const struct pith_set *t_output(const struct t_run *run,
				       const char *set)
{
	const struct pith_set *sets = t_at(run->ctx->outputs);

	for (size_t i = 0; i < run->ctx->n_outputs; i++) {
		const struct pith_set *s = &sets[i];

		if (strcmp(t_at(s->name), set))
			continue;
		if (s->n_items &&
		    !t_valid_range(s->items,
				   s->n_items * sizeof(struct pith_item)))
			return NULL;
		for (size_t k = 0; k < s->n_items; k++) {
			const struct pith_item *it =
				(const struct pith_item *)t_at(s->items) + k;

			if (!t_valid_range(it->name, it->name_len + 1) ||
			    ((char *)t_at(it->name))[it->name_len] ||
			    strlen(t_at(it->name)) != it->name_len ||
			    !t_valid_range(it->data, it->len))
				return NULL;
		}
		return s;
	}
	return NULL;
}

/* The bytes of item `name` of output `set`, as a malloc'd string. */
static char *t_output_text(const struct t_run *run, const char *set,
			   const char *name)
{
	const struct pith_set *s = t_output(run, set);
	const struct pith_item *its;

	if (!s)
		return NULL;
	its = t_at(s->items);
	for (size_t k = 0; k < s->n_items; k++)
		if (!strcmp(t_at(its[k].name), name))
			return strndup(t_at(its[k].data), its[k].len);
	return NULL;
}

TEST(returning_zero_publishes_forwarded_and_copied_items)
{
	static const struct t_item in[] = {
		{ "first.txt", false, 0, "hello" },
		{ "second", true, 41, "" },
		{ "third", true, 7, "bytes\0hidden" },
	};
	const struct pith_set *fwd, *copy;
	const struct pith_item *f, *c;
	_cleanup_free_ char *info = NULL;
	struct t_run run;

	ASSERT_EQ(0, t_fn_run("echo", in, ARRAY_SIZE(in), 0, &run));
	ASSERT_EQ(0, run.code);
	fwd = t_output(&run, "fwd");
	copy = t_output(&run, "copy");
	ASSERT_TRUE(fwd && copy);
	ASSERT_EQ(3, fwd->n_items);
	ASSERT_EQ(3, copy->n_items);
	f = t_at(fwd->items);
	c = t_at(copy->items);
	for (size_t i = 0; i < ARRAY_SIZE(in); i++) {
		EXPECT_STREQ(in[i].name, (char *)t_at(f[i].name));
		EXPECT_STREQ(in[i].name, (char *)t_at(c[i].name));
		/* Forwarding copies nothing: the input bytes themselves. */
		EXPECT_GE(f[i].data, PITH_INPUT_BASE);
		EXPECT_EQ(strlen(in[i].data), f[i].len);
		/* A copy lives in the context. */
		EXPECT_LT(c[i].data, PITH_CONTEXT_BASE + T_MEMORY);
		EXPECT_GE(c[i].data, PITH_CONTEXT_BASE);
		EXPECT_EQ(0, memcmp(t_at(c[i].data), in[i].data, c[i].len));
		EXPECT_EQ(in[i].keyed ? PITH_ITEM_KEYED : 0, f[i].flags);
		EXPECT_EQ(in[i].key, f[i].key);
		EXPECT_EQ(in[i].keyed ? in[i].key + 1 : 0, c[i].key);
	}
	info = t_output_text(&run, "meta", "info");
	ASSERT_TRUE(info);
	EXPECT_STREQ("inputs=2 instance=3 in=3 fwd=3", info);
	t_fn_done();
}

TEST(references_point_at_input_slices_and_arena_without_copying)
{
	static const struct t_item in[] = {
		{ "first", false, 0, "[slice]" },
		{ "second", true, 9, "found" },
	};
	const struct pith_set *fwd;
	const struct pith_item *f;
	const struct pith_item *src;
	struct t_run run;

	ASSERT_EQ(0, t_fn_run("ref", in, ARRAY_SIZE(in), 0, &run));
	ASSERT_EQ(0, run.code);
	fwd = t_output(&run, "fwd");
	ASSERT_TRUE(fwd);
	ASSERT_EQ(3, fwd->n_items);
	f = t_at(fwd->items);
	src = t_at(((const struct pith_set *)t_at(run.ctx->inputs))[1].items);
	EXPECT_STREQ("slice", (char *)t_at(f[0].name));
	EXPECT_EQ(src[0].data + 1, f[0].data);
	EXPECT_EQ(5, f[0].len);
	EXPECT_STREQ("arena", (char *)t_at(f[1].name));
	EXPECT_GE(f[1].data, run.ctx->arena);
	EXPECT_LT(f[1].data, run.ctx->arena + run.ctx->arena_size);
	EXPECT_EQ(0, memcmp(t_at(f[1].data), "arena", 5));
	EXPECT_STREQ("second", (char *)t_at(f[2].name));
	EXPECT_EQ(src[1].data, f[2].data);
	EXPECT_EQ(PITH_ITEM_KEYED, f[2].flags);
	EXPECT_EQ(9, f[2].key);
	t_fn_done();
}

TEST(snprintf_prints_what_libc_prints)
{
	_cleanup_free_ char *got = NULL;
	char want[8192], buf[512];
	size_t off = 0;
	struct t_run run;
	int n;

#define T_EXPECT(...)                                                    \
	n = snprintf(buf, sizeof(buf), __VA_ARGS__);                     \
	off += snprintf(want + off, sizeof(want) - off, "%d|%s\n", n, buf);
	SDK_FMT_CASES(T_EXPECT)
#undef T_EXPECT
	off += snprintf(want + off, sizeof(want) - off, "%d|%s\n", 9, "abcd");
	off += snprintf(want + off, sizeof(want) - off, "%d|\n", 5);

	ASSERT_EQ(0, t_fn_run("fmt", NULL, 0, 0, &run));
	ASSERT_EQ(0, run.code);
	got = t_output_text(&run, "meta", "fmt");
	ASSERT_TRUE(got);
	/* Line by line, so that a failure names the case. */
	for (char *g = got, *w = want; *w;) {
		char *gn = strchr(g, '\n'), *wn = strchr(w, '\n');

		ASSERT_TRUE(gn && wn);
		*gn = *wn = '\0';
		EXPECT_STREQ(w, g);
		g = gn + 1;
		w = wn + 1;
	}
	t_fn_done();
}

TEST(numbers_parse_with_range_errors_and_stop_at_the_first_non_digit)
{
	static const struct t_item in[] = {
		{ "text", false, 0,
		  "0\n42\n-17\n+5\n12abc\n18446744073709551615\n"
		  "18446744073709551616\n9223372036854775807\n"
		  "-9223372036854775808\n9223372036854775808\n-\n abc\n" },
	};
	static const char want[] =
		"u 0 0 1 i 0 0 1\n"
		"u 0 42 2 i 0 42 2\n"
		"u -22 0 0 i 0 -17 3\n"
		"u -22 0 0 i 0 5 2\n"
		"u 0 12 2 i 0 12 2\n"
		"u 0 18446744073709551615 20 i -34 0 20\n"
		"u -34 0 20 i -34 0 20\n"
		"u 0 9223372036854775807 19 i 0 9223372036854775807 19\n"
		"u -22 0 0 i 0 -9223372036854775808 20\n"
		"u 0 9223372036854775808 19 i -34 0 19\n"
		"u -22 0 0 i -22 0 0\n"
		"u -22 0 0 i -22 0 0\n";
	_cleanup_free_ char *got = NULL;
	struct t_run run;

	ASSERT_EQ(0, t_fn_run("parse", in, 1, 0, &run));
	ASSERT_EQ(0, run.code);
	got = t_output_text(&run, "meta", "parse");
	ASSERT_TRUE(got);
	EXPECT_STREQ(want, got);
	t_fn_done();
}

static int t_cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

TEST(sort_orders_like_qsort)
{
	static uint64_t v[3000];
	_cleanup_free_ char *text = NULL, *got = NULL, *want = NULL;
	struct t_item in = { "numbers", false, 0, NULL };
	size_t len = 0, wlen = 0;
	uint64_t x = 12345;
	struct t_run run;

	text = malloc(sizeof(v) / sizeof(v[0]) * 22);
	want = malloc(sizeof(v) / sizeof(v[0]) * 22);
	ASSERT_TRUE(text && want);
	for (size_t i = 0; i < ARRAY_SIZE(v); i++) {
		x = x * 6364136223846793005ull + 1442695040888963407ull;
		/* Many duplicates, and values across the whole range. */
		v[i] = i % 3 ? x >> (x % 64) : x % 50;
		len += sprintf(text + len, "%" PRIu64 "\n", v[i]);
	}
	qsort(v, ARRAY_SIZE(v), sizeof(v[0]), t_cmp_u64);
	for (size_t i = 0; i < ARRAY_SIZE(v); i++)
		wlen += sprintf(want + wlen, "%" PRIu64 "\n", v[i]);
	in.data = text;

	ASSERT_EQ(0, t_fn_run("sort", &in, 1, 0, &run));
	ASSERT_EQ(0, run.code);
	got = t_output_text(&run, "meta", "sorted");
	ASSERT_TRUE(got);
	EXPECT_STREQ(want, got);
	t_fn_done();
}

TEST(arena_blocks_are_aligned_and_the_newest_grows_in_place)
{
	struct t_run run;

	ASSERT_EQ(0, t_fn_run("alloc", NULL, 0, 0, &run));
	/* 10 + n: check n inside the probe failed. */
	EXPECT_EQ(0, run.code);
	t_fn_done();
}

TEST(mem_and_str_functions_match_their_reference)
{
	struct t_run run;

	ASSERT_EQ(0, t_fn_run("mem", NULL, 0, 0, &run));
	EXPECT_EQ(0, run.code);
	t_fn_done();
}

TEST(string_builder_output_holds_all_text_and_restarts_empty)
{
	_cleanup_free_ char *got = NULL, *empty = NULL;
	char want[8192];
	size_t off = 0;
	struct t_run run;

	for (int i = 0; i < 1000; i++)
		off += sprintf(want + off, "%d,", i);
	strcpy(want + off, "end-5");

	ASSERT_EQ(0, t_fn_run("sb", NULL, 0, 0, &run));
	ASSERT_EQ(0, run.code);
	got = t_output_text(&run, "meta", "sb");
	empty = t_output_text(&run, "meta", "empty");
	ASSERT_TRUE(got && empty);
	EXPECT_STREQ(want, got);
	EXPECT_STREQ("", empty);
	t_fn_done();
}

/* The crt must align the stack whatever pith's entry %rsp is. */
FIXTURE(entry) {};
FIXTURE_VARIANT(entry) {
	unsigned skew;
};
FIXTURE_VARIANT_ADD(entry, aligned) { .skew = 0 };
FIXTURE_VARIANT_ADD(entry, skew8) { .skew = 8 };
FIXTURE_VARIANT_ADD(entry, skew4) { .skew = 4 };
FIXTURE_SETUP(entry) {}
FIXTURE_TEARDOWN(entry) {}

TEST_F(entry, stack_is_16_aligned_in_main)
{
	struct t_run run;

	ASSERT_EQ(0, t_fn_run("align", NULL, 0, variant->skew, &run));
	EXPECT_EQ(0, run.code);
	t_fn_done();
}

/* How each way of ending maps to an exit status. */
struct t_end {
	const char *cmd;
	int code;
};

FIXTURE(ending) {};
FIXTURE_VARIANT(ending) {
	struct t_end end;
};
FIXTURE_VARIANT_ADD(ending, abort_keeps_its_code) { { "abort7", 7 } };
FIXTURE_VARIANT_ADD(ending, abort_0_still_fails) { { "abort0", 255 } };
FIXTURE_VARIANT_ADD(ending, main_out_of_range_fails) { { "return300", 255 } };
FIXTURE_VARIANT_ADD(ending, exit_0_succeeds) { { "exit0", 0 } };
FIXTURE_VARIANT_ADD(ending, full_arena) { { "nomem", 120 } };
FIXTURE_VARIANT_ADD(ending, unknown_output_set) { { "nooutput", 121 } };
FIXTURE_VARIANT_ADD(ending, item_name_too_long) { { "longname", 122 } };
FIXTURE_VARIANT_ADD(ending, reference_to_the_stack) { { "stackref", 123 } };
FIXTURE_VARIANT_ADD(ending, other_syscall_is_killed) {
	{ "syscall", 128 + SIGSYS }
};
FIXTURE_SETUP(ending) {}
FIXTURE_TEARDOWN(ending) {}

TEST_F(ending, exit_status)
{
	struct t_run run;

	ASSERT_EQ(0, t_fn_run(variant->end.cmd, NULL, 0, 0, &run));
	EXPECT_EQ(variant->end.code, run.code);
	if (variant->end.code == 0) {
		_cleanup_free_ char *x = t_output_text(&run, "meta", "x");

		EXPECT_STREQ("y", x);
	}
	t_fn_done();
}

TEST(failed_function_leaves_outputs_unpublished)
{
	const struct pith_set *meta;
	struct t_run run;

	ASSERT_EQ(0, t_fn_run("nooutput", NULL, 0, 0, &run));
	ASSERT_EQ(121, run.code);
	meta = t_output(&run, "meta");
	ASSERT_TRUE(meta);
	EXPECT_EQ(0, meta->n_items);
	t_fn_done();
}

TEST_HARNESS_MAIN
