/* SPDX-License-Identifier: MIT */
/*
 * kselftest-style test harness: tests register themselves from constructors,
 * each runs in a forked child (own process group, timeout) and the results
 * are printed as TAP 13 ending in a "# Totals:" line.
 *
 *	TEST(name) { ... }
 *	TEST_SIGNAL(name, SIGSYS) { ... }	passes only if it dies from SIGSYS
 *	TEST_TIMEOUT(name, seconds) { ... }
 *	FIXTURE(f) { int fd; };
 *	FIXTURE_VARIANT(f) { int flags; };		optional
 *	FIXTURE_VARIANT_ADD(f, ro) { .flags = O_RDONLY };
 *	FIXTURE_SETUP(f) { self->fd = ...; }		self, variant
 *	FIXTURE_TEARDOWN(f) { close(self->fd); }
 *	TEST_F(f, name) { ASSERT_EQ(0, fstat(self->fd, &st)); }
 *	TEST_F_TIMEOUT(f, name, seconds), TEST_F_SIGNAL(f, name, sig)
 *	TEST_HARNESS_MAIN
 *
 * ASSERT_* ends the test (teardown still runs), EXPECT_* marks it failed and
 * carries on. A statement right after an assertion runs only when it failed:
 *	ASSERT_EQ(0, r) TH_LOG("open %s: %s", path, strerror(-r));
 * Comparisons take integers or pointers and compare them by value, so
 * ASSERT_EQ(0, some_size_t) and ASSERT_LT(-1, some_int) do what they say.
 * Assertions work in any function called from a test, not only in its body.
 *
 * Test names are fixture[.variant].test; TEST() tests belong to "global".
 * Each test runs in its own process group and is killed (with anything it
 * left running in that group) after its timeout, 30 s unless it says
 * otherwise, times $PITH_TEST_TIMEOUT_SCALE when set; on a loaded machine
 * after as much time at the share of a CPU the harness measures, at most
 * 5 times the timeout (__th_wait_exit()).
 * Options: -l list names, -r NAME run exactly that test, -t/-T TEST,
 * -f/-F FIXTURE, -v/-V VARIANT include/exclude. Exit status 0 when every
 * selected test passed or was skipped, 1 otherwise.
 */
#ifndef PITH_TESTS_HARNESS_H
#define PITH_TESTS_HARNESS_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define TH_DEFAULT_TIMEOUT 30 /* seconds */
#define TH_REASON_MAX 256

/* Child exit codes, as in kselftest. */
#define __TH_PASS 0
#define __TH_FAIL 1
#define __TH_SKIP 4

#define __th_unused __attribute__((unused))
#define __th_printf(a, b) __attribute__((format(printf, a, b)))

/* Lives in a shared mapping so the parent sees what the child decided. */
struct __test_results {
	int status;
	char reason[TH_REASON_MAX];
};

struct __fixture_variant_metadata {
	const char *name;
	const void *data;
	struct __fixture_variant_metadata *next;
};

struct __test_metadata;

struct __fixture_metadata {
	const char *name;
	bool registered;
	struct __fixture_variant_metadata *variants, **variants_tail;
	struct __test_metadata *tests, **tests_tail;
	struct __fixture_metadata *next;
};

struct __test_metadata {
	const char *name;
	struct __fixture_metadata *fixture;
	void (*fn)(struct __test_metadata *_metadata,
		   const struct __fixture_variant_metadata *variant);
	int termsig;	/* 0, or the signal the test must die from */
	int timeout;	/* seconds */
	struct __test_metadata *next;

	/* Child-side state of the running test. */
	struct __test_results *results;
	int trigger;	/* an assertion just failed */
	bool jmp_armed;	/* __th_jmp leads back to the test's wrapper */
};

static struct __fixture_metadata *__th_fixtures;
static struct __fixture_metadata **__th_fixtures_tail = &__th_fixtures;
static struct __fixture_metadata __th_fixture_global
	__attribute__((unused)) = { .name = "global" };
static struct __test_metadata *__th_current;
static jmp_buf __th_jmp;

static inline void __th_register_fixture(struct __fixture_metadata *f)
{
	if (f->registered)
		return;
	f->registered = true;
	f->variants_tail = &f->variants;
	f->tests_tail = &f->tests;
	*__th_fixtures_tail = f;
	__th_fixtures_tail = &f->next;
}

static inline void
__th_register_variant(struct __fixture_metadata *f,
		      struct __fixture_variant_metadata *v)
{
	__th_register_fixture(f);
	*f->variants_tail = v;
	f->variants_tail = &v->next;
}

static inline void __th_register_test(struct __fixture_metadata *f,
				      struct __test_metadata *t)
{
	__th_register_fixture(f);
	t->fixture = f;
	*f->tests_tail = t;
	f->tests_tail = &t->next;
}

/* ---- test definitions ---- */

#define __TEST_IMPL(test_name, sig, secs)                                     \
	static void __th_test_##test_name(struct __test_metadata *_metadata); \
	static void __th_wrap_##test_name(                                    \
		struct __test_metadata *_metadata,                            \
		const struct __fixture_variant_metadata *__v __th_unused)     \
	{                                                                     \
		struct __test_metadata *volatile md = _metadata;              \
                                                                              \
		if (setjmp(__th_jmp) == 0) {                                  \
			md->jmp_armed = true;                                 \
			__th_test_##test_name(md);                            \
		}                                                             \
		md->jmp_armed = false;                                        \
	}                                                                     \
	static struct __test_metadata __th_meta_##test_name = {               \
		.name = #test_name,                                           \
		.fn = __th_wrap_##test_name,                                  \
		.termsig = (sig),                                             \
		.timeout = (secs),                                            \
	};                                                                    \
	static void __attribute__((constructor))                              \
	__th_register_##test_name(void)                                       \
	{                                                                     \
		__th_register_test(&__th_fixture_global,                      \
				   &__th_meta_##test_name);                   \
	}                                                                     \
	static void __th_test_##test_name(                                    \
		struct __test_metadata *_metadata __th_unused)

#define TEST(name) __TEST_IMPL(name, 0, TH_DEFAULT_TIMEOUT)
#define TEST_SIGNAL(name, sig) __TEST_IMPL(name, sig, TH_DEFAULT_TIMEOUT)
#define TEST_TIMEOUT(name, secs) __TEST_IMPL(name, 0, secs)

#define FIXTURE_DATA(f) struct __th_data_##f
#define FIXTURE_VARIANT(f) struct __th_variant_##f

#define FIXTURE(f)                                                           \
	FIXTURE_VARIANT(f);                                                  \
	FIXTURE_DATA(f);                                                     \
	static struct __fixture_metadata __th_fixture_##f = { .name = #f };  \
	static void __th_setup_##f(struct __test_metadata *_metadata,        \
				   FIXTURE_DATA(f) *self,                    \
				   const FIXTURE_VARIANT(f) *variant);       \
	static void __th_teardown_##f(struct __test_metadata *_metadata,     \
				      FIXTURE_DATA(f) *self,                 \
				      const FIXTURE_VARIANT(f) *variant);    \
	static void __attribute__((constructor)) __th_fixture_register_##f( \
		void)                                                        \
	{                                                                    \
		__th_register_fixture(&__th_fixture_##f);                    \
	}                                                                    \
	FIXTURE_DATA(f)

#define FIXTURE_SETUP(f)                                         \
	static void __th_setup_##f(                              \
		struct __test_metadata *_metadata __th_unused,   \
		FIXTURE_DATA(f) *self __th_unused,               \
		const FIXTURE_VARIANT(f) *variant __th_unused)

#define FIXTURE_TEARDOWN(f)                                      \
	static void __th_teardown_##f(                           \
		struct __test_metadata *_metadata __th_unused,   \
		FIXTURE_DATA(f) *self __th_unused,               \
		const FIXTURE_VARIANT(f) *variant __th_unused)

/* FIXTURE_VARIANT_ADD(f, name) { .field = value };  */
#define FIXTURE_VARIANT_ADD(f, v)                                           \
	static const FIXTURE_VARIANT(f) __th_variant_##f##_##v;             \
	static struct __fixture_variant_metadata __th_vmeta_##f##_##v = {   \
		.name = #v,                                                 \
		.data = &__th_variant_##f##_##v,                            \
	};                                                                  \
	static void __attribute__((constructor))                            \
	__th_variant_register_##f##_##v(void)                               \
	{                                                                   \
		__th_register_variant(&__th_fixture_##f,                    \
				      &__th_vmeta_##f##_##v);               \
	}                                                                   \
	static const FIXTURE_VARIANT(f) __th_variant_##f##_##v =

/*
 * Setup, body and teardown run in the child. A failed ASSERT jumps back here;
 * teardown runs whenever setup returned (normally or through SKIP).
 */
#define __TEST_F_IMPL(f, test_name, sig, secs)                                \
	static void __th_test_##f##_##test_name(                              \
		struct __test_metadata *_metadata, FIXTURE_DATA(f) *self,     \
		const FIXTURE_VARIANT(f) *variant);                           \
	static void __th_wrap_##f##_##test_name(                              \
		struct __test_metadata *_metadata,                            \
		const struct __fixture_variant_metadata *__v)                 \
	{                                                                     \
		/* Static: survives the longjmp() of a failed ASSERT (a  \
		 * local would be indeterminate); one test per process. */ \
		static FIXTURE_DATA(f) self;                                  \
		const FIXTURE_VARIANT(f) *volatile variant =                  \
			__v ? (const FIXTURE_VARIANT(f) *)__v->data : NULL;   \
		struct __test_metadata *volatile md = _metadata;              \
		volatile bool setup_done = false;                             \
                                                                              \
		memset(&self, 0, sizeof(self));                               \
		if (setjmp(__th_jmp) == 0) {                                  \
			md->jmp_armed = true;                                 \
			__th_setup_##f(md, &self, variant);                   \
			setup_done = true;                                    \
			if (md->results->status != __TH_SKIP)                 \
				__th_test_##f##_##test_name(md, &self,        \
							    variant);         \
		}                                                             \
		if (setup_done && setjmp(__th_jmp) == 0)                      \
			__th_teardown_##f(md, &self, variant);                \
		md->jmp_armed = false;                                        \
	}                                                                     \
	static struct __test_metadata __th_meta_##f##_##test_name = {         \
		.name = #test_name,                                           \
		.fn = __th_wrap_##f##_##test_name,                            \
		.termsig = (sig),                                             \
		.timeout = (secs),                                            \
	};                                                                    \
	static void __attribute__((constructor))                              \
	__th_register_##f##_##test_name(void)                                 \
	{                                                                     \
		__th_register_test(&__th_fixture_##f,                         \
				   &__th_meta_##f##_##test_name);             \
	}                                                                     \
	static void __th_test_##f##_##test_name(                              \
		struct __test_metadata *_metadata __th_unused,                \
		FIXTURE_DATA(f) *self __th_unused,                            \
		const FIXTURE_VARIANT(f) *variant __th_unused)

#define TEST_F(f, name) __TEST_F_IMPL(f, name, 0, TH_DEFAULT_TIMEOUT)
#define TEST_F_SIGNAL(f, name, sig) __TEST_F_IMPL(f, name, sig, TH_DEFAULT_TIMEOUT)
#define TEST_F_TIMEOUT(f, name, secs) __TEST_F_IMPL(f, name, 0, secs)

/* ---- assertions ---- */

enum { __TH_EQ, __TH_NE, __TH_LT, __TH_LE, __TH_GT, __TH_GE };

static inline const char *__th_basename(const char *file)
{
	const char *s = strrchr(file, '/');

	return s ? s + 1 : file;
}

/* One diagnostic; every line of a multi-line message starts with "# " so
 * that captured output cannot pass for TAP. */
static inline void __th_printf(3, 4)
__th_log(const char *file, int line, const char *fmt, ...)
{
	char *msg = NULL, *p, *nl;
	va_list ap;

	fflush(stdout);
	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		msg = NULL;
	va_end(ap);
	fprintf(stderr, "# %s:%d:%s:", __th_basename(file), line,
		__th_current ? __th_current->name : "?");
	for (p = msg ? msg : "(out of memory)"; (nl = strchr(p, '\n'));
	     p = nl + 1) {
		fprintf(stderr, "%.*s\n", (int)(nl - p), p);
		if (nl[1])
			fputs("# ", stderr);
		else
			break;
	}
	if (!nl)
		fprintf(stderr, "%s\n", p);
	free(msg);
}

#define TH_LOG(fmt, ...) __th_log(__FILE__, __LINE__, fmt, ##__VA_ARGS__)

/*
 * A value under comparison, captured once with its kind so that mixed
 * signedness compares by value and floating point keeps its fraction.
 */
enum { __TH_UNSIGNED, __TH_SIGNED_INT, __TH_FLOAT, __TH_POINTER };

struct __th_value {
	int kind;
	uintmax_t bits;		/* integers and pointers */
	long double f;		/* __TH_FLOAT */
};

static inline struct __th_value __th_v_signed(intmax_t v)
{
	return (struct __th_value){ .kind = __TH_SIGNED_INT,
				    .bits = (uintmax_t)v };
}

static inline struct __th_value __th_v_unsigned(uintmax_t v)
{
	return (struct __th_value){ .kind = __TH_UNSIGNED, .bits = v };
}

static inline struct __th_value __th_v_char(char c)
{
	return CHAR_MIN < 0 ? __th_v_signed(c) :
			      __th_v_unsigned((unsigned char)c);
}

static inline struct __th_value __th_v_float(long double v)
{
	return (struct __th_value){ .kind = __TH_FLOAT, .f = v };
}

static inline struct __th_value __th_v_pointer(const volatile void *p)
{
	return (struct __th_value){ .kind = __TH_POINTER,
				    .bits = (uintptr_t)p };
}

/*
 * Integers (bit-fields too), enums, bool, floating point and pointers. The
 * conditional applies the usual conversions, so bit-fields and small
 * integers arrive promoted (with their value) and arrays as pointers.
 */
#define __TH_VALUE(x)                                                      \
	_Generic((1 ? (x) : (x)),                                          \
		char: __th_v_char,                                         \
		signed char: __th_v_signed, short: __th_v_signed,          \
		int: __th_v_signed, long: __th_v_signed,                   \
		long long: __th_v_signed,                                  \
		_Bool: __th_v_unsigned, unsigned char: __th_v_unsigned,    \
		unsigned short: __th_v_unsigned,                           \
		unsigned int: __th_v_unsigned,                             \
		unsigned long: __th_v_unsigned,                            \
		unsigned long long: __th_v_unsigned,                       \
		float: __th_v_float, double: __th_v_float,                 \
		long double: __th_v_float,                                 \
		default: __th_v_pointer)(x)

static inline long double __th_as_float(const struct __th_value *v)
{
	if (v->kind == __TH_FLOAT)
		return v->f;
	if (v->kind == __TH_SIGNED_INT)
		return (long double)(intmax_t)v->bits;
	return (long double)v->bits;
}

/* Whether `a op b` holds for the values, not for C's conversions. */
static inline bool __th_holds(const struct __th_value *a, int op,
			      const struct __th_value *b)
{
	bool a_neg = a->kind == __TH_SIGNED_INT && (intmax_t)a->bits < 0;
	bool b_neg = b->kind == __TH_SIGNED_INT && (intmax_t)b->bits < 0;
	bool lt, eq;

	if (a->kind == __TH_FLOAT || b->kind == __TH_FLOAT) {
		long double x = __th_as_float(a), y = __th_as_float(b);

		/* Written out so that NaN compares unequal and unordered. */
		switch (op) {
		case __TH_EQ: return x == y;
		case __TH_NE: return x != y;
		case __TH_LT: return x < y;
		case __TH_LE: return x <= y;
		case __TH_GT: return x > y;
		default: return x >= y;
		}
	}
	if (a_neg != b_neg) {
		lt = a_neg;
		eq = false;
	} else if (a_neg) {
		lt = (intmax_t)a->bits < (intmax_t)b->bits;
		eq = a->bits == b->bits;
	} else {
		lt = a->bits < b->bits;
		eq = a->bits == b->bits;
	}
	switch (op) {
	case __TH_EQ: return eq;
	case __TH_NE: return !eq;
	case __TH_LT: return lt;
	case __TH_LE: return lt || eq;
	case __TH_GT: return !lt && !eq;
	default: return !lt;
	}
}

static inline void __th_format(char *buf, size_t n,
			       const struct __th_value *v)
{
	switch (v->kind) {
	case __TH_SIGNED_INT:
		snprintf(buf, n, "%jd", (intmax_t)v->bits);
		break;
	case __TH_FLOAT:
		snprintf(buf, n, "%Lg", v->f);
		break;
	case __TH_POINTER:
		snprintf(buf, n, "%#jx", v->bits);
		break;
	default:
		snprintf(buf, n, "%ju", v->bits);
		break;
	}
}

/* Returns 1 (and reports) when the comparison failed. */
static inline int __th_check_cmp(const char *file, int line, const char *e_str,
				 struct __th_value e, int op,
				 const char *s_str, struct __th_value s)
{
	static const char *const ops[] = { "==", "!=", "<", "<=", ">", ">=" };
	char ebuf[48], sbuf[48];

	if (__th_holds(&e, op, &s))
		return 0;
	__th_format(ebuf, sizeof(ebuf), &e);
	__th_format(sbuf, sizeof(sbuf), &s);
	__th_log(file, line, "Expected %s (%s) %s %s (%s)", e_str, ebuf,
		 ops[op], s_str, sbuf);
	return 1;
}

static inline int __th_check_str(const char *file, int line, const char *e_str,
				 const char *e, bool want_equal,
				 const char *s_str, const char *s)
{
	bool equal = (e && s) ? strcmp(e, s) == 0 : e == s;

	if (equal == want_equal)
		return 0;
	__th_log(file, line, "Expected %s (\"%s\") %s %s (\"%s\")", e_str,
		 e ? e : "(null)", want_equal ? "==" : "!=", s_str,
		 s ? s : "(null)");
	return 1;
}

static inline void __th_finish_child(void)
{
	fflush(NULL);
	_exit(__th_current->results->status);
}

/*
 * Runs after the statement that follows a failed assertion; returns the new
 * value of `trigger` (0 ends the handler loop). SKIP clears the trigger, so
 * an assertion can be turned into a skip: ASSERT_EQ(0, r) SKIP(return, ...).
 */
static inline int __th_bail(bool is_assert)
{
	struct __test_metadata *t = __th_current;

	if (!t->trigger)
		return 0;
	t->results->status = __TH_FAIL;
	if (!is_assert)
		return 0;
	fflush(stdout);
	fprintf(stderr, "# %s: Test terminated by assertion\n", t->name);
	if (t->jmp_armed)
		longjmp(__th_jmp, 1);
	__th_finish_child();
	return 0;
}

/*
 * An assertion is a `for` whose body is the statement written after it
 * (usually just `;`). Followed by a `{ }` block, that reads to the compiler
 * like the classic `for (...);` bug, so test files do without this warning.
 */
#pragma GCC diagnostic ignored "-Wmisleading-indentation"
#ifdef __clang__
#pragma clang diagnostic ignored "-Wempty-body"
#endif

#define __TH_HANDLER(is_assert)                 \
	__th_current->trigger;                  \
	__th_current->trigger = __th_bail(is_assert))

#define __TH_CMP(expected, seen, op, is_assert)                               \
	for (__th_current->trigger = ({                                       \
		     struct __th_value __th_e = __TH_VALUE(expected);         \
		     struct __th_value __th_s = __TH_VALUE(seen);             \
		     __th_check_cmp(__FILE__, __LINE__, #expected, __th_e,    \
				    op, #seen, __th_s);                       \
	     });                                                              \
	     __TH_HANDLER(is_assert)

#define __TH_STR(expected, seen, want_equal, is_assert)                    \
	for (__th_current->trigger = ({                                    \
		     const char *__th_e = (expected);                      \
		     const char *__th_s = (seen);                          \
		     __th_check_str(__FILE__, __LINE__, #expected, __th_e, \
				    want_equal, #seen, __th_s);            \
	     });                                                           \
	     __TH_HANDLER(is_assert)

#define ASSERT_EQ(expected, seen) __TH_CMP(expected, seen, __TH_EQ, 1)
#define ASSERT_NE(expected, seen) __TH_CMP(expected, seen, __TH_NE, 1)
#define ASSERT_LT(expected, seen) __TH_CMP(expected, seen, __TH_LT, 1)
#define ASSERT_LE(expected, seen) __TH_CMP(expected, seen, __TH_LE, 1)
#define ASSERT_GT(expected, seen) __TH_CMP(expected, seen, __TH_GT, 1)
#define ASSERT_GE(expected, seen) __TH_CMP(expected, seen, __TH_GE, 1)
#define ASSERT_NULL(seen) __TH_CMP(NULL, seen, __TH_EQ, 1)
#define ASSERT_TRUE(seen) __TH_CMP(0, !!(seen), __TH_NE, 1)
#define ASSERT_FALSE(seen) __TH_CMP(0, !!(seen), __TH_EQ, 1)
#define ASSERT_STREQ(expected, seen) __TH_STR(expected, seen, true, 1)
#define ASSERT_STRNE(expected, seen) __TH_STR(expected, seen, false, 1)

#define EXPECT_EQ(expected, seen) __TH_CMP(expected, seen, __TH_EQ, 0)
#define EXPECT_NE(expected, seen) __TH_CMP(expected, seen, __TH_NE, 0)
#define EXPECT_LT(expected, seen) __TH_CMP(expected, seen, __TH_LT, 0)
#define EXPECT_LE(expected, seen) __TH_CMP(expected, seen, __TH_LE, 0)
#define EXPECT_GT(expected, seen) __TH_CMP(expected, seen, __TH_GT, 0)
#define EXPECT_GE(expected, seen) __TH_CMP(expected, seen, __TH_GE, 0)
#define EXPECT_NULL(seen) __TH_CMP(NULL, seen, __TH_EQ, 0)
#define EXPECT_TRUE(seen) __TH_CMP(0, !!(seen), __TH_NE, 0)
#define EXPECT_FALSE(seen) __TH_CMP(0, !!(seen), __TH_EQ, 0)
#define EXPECT_STREQ(expected, seen) __TH_STR(expected, seen, true, 0)
#define EXPECT_STRNE(expected, seen) __TH_STR(expected, seen, false, 0)

static inline void __th_printf(1, 2) __th_skip(const char *fmt, ...)
{
	struct __test_metadata *t = __th_current;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(t->results->reason, sizeof(t->results->reason), fmt, ap);
	va_end(ap);
	/* Newlines would break the TAP line that carries the reason. */
	for (char *p = t->results->reason; *p; p++)
		if (*p == '\n')
			*p = ' ';
	if (t->results->status != __TH_FAIL)
		t->results->status = __TH_SKIP;
	t->trigger = 0;
	fflush(stderr);
	printf("#      SKIP      %s\n", t->results->reason);
	fflush(stdout);
}

/* Mark the test skipped with a reason, then run `statement` (e.g. return). */
#define SKIP(statement, fmt, ...)                  \
	do {                                       \
		__th_skip(fmt, ##__VA_ARGS__);     \
		statement;                         \
	} while (0)

/* ---- the runner (parent side) ---- */

struct __th_filter {
	char kind;	/* r t T f F v V */
	const char *arg;
};

struct __th_totals {
	unsigned int pass, fail, skip;
};

static inline void __th_full_name(char *buf, size_t n,
				  const struct __fixture_metadata *f,
				  const struct __fixture_variant_metadata *v,
				  const struct __test_metadata *t)
{
	if (v)
		snprintf(buf, n, "%s.%s.%s", f->name, v->name, t->name);
	else
		snprintf(buf, n, "%s.%s", f->name, t->name);
}

static inline bool __th_selected(const struct __th_filter *flt, int nflt,
				 const char *full,
				 const struct __fixture_metadata *f,
				 const struct __fixture_variant_metadata *v,
				 const struct __test_metadata *t)
{
	bool has_include = false, included = false;
	const char *vname = v ? v->name : "";

	for (int i = 0; i < nflt; i++) {
		const char *a = flt[i].arg;
		bool m;

		switch (flt[i].kind) {
		case 'r': m = strcmp(a, full) == 0; break;
		case 't': case 'T': m = strcmp(a, t->name) == 0; break;
		case 'f': case 'F': m = strcmp(a, f->name) == 0; break;
		default: m = strcmp(a, vname) == 0; break;
		}
		if (flt[i].kind == 'T' || flt[i].kind == 'F' ||
		    flt[i].kind == 'V') {
			if (m)
				return false;
		} else {
			has_include = true;
			included |= m;
		}
	}
	return !has_include || included;
}

static inline int64_t __th_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wait up to ms for the child to exit; true once it has. */
static inline bool __th_wait_slice(pid_t pid, int pidfd, int ms)
{
	int64_t deadline = __th_now_ms() + ms;

	for (;;) {
		int64_t left = deadline - __th_now_ms();
		int r;

		if (left < 0)
			left = 0;
		if (pidfd >= 0) {
			struct pollfd p = { .fd = pidfd, .events = POLLIN };

			r = poll(&p, 1, (int)left);
			if (r < 0 && errno == EINTR)
				continue;
			if (r != 0 || left == 0)
				return r != 0;
		} else {
			/* No pidfd (old kernel): peek without reaping. */
			siginfo_t si = { 0 };

			if (waitid(P_PID, pid, &si, WEXITED | WNOHANG |
				   WNOWAIT) == 0 && si.si_pid == pid)
				return true;
			if (left == 0)
				return false;
			usleep(left < 10 ? (useconds_t)left * 1000 : 10000);
		}
	}
}

static inline int64_t __th_ns(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/*
 * The share of a CPU a process of ours gets now: 10 ms of this thread's
 * CPU time over the wall time they took (the harness runs at the test's
 * nice level; 2 ms fit in the slice a woken thread gets, at 250 Hz ticks,
 * and measured nothing). Above 0.9 it counts as a whole CPU.
 */
static inline double __th_cpu_share(void)
{
	int64_t w0 = __th_ns(CLOCK_MONOTONIC);
	int64_t c0 = __th_ns(CLOCK_THREAD_CPUTIME_ID), c;
	double share;

	do
		c = __th_ns(CLOCK_THREAD_CPUTIME_ID);
	while (c - c0 < 10000000);
	share = (double)(c - c0) / (double)(__th_ns(CLOCK_MONOTONIC) - w0);
	return share > 0.9 ? 1.0 : share;
}

/* A test's timeout may stretch to this many times its wall time. */
#define TH_LOADED_TIMEOUT_MAX 5

/*
 * Wait for the child up to timeout_ms of the time a process got a whole
 * CPU; false if it is still running. A loaded machine (at load 19 on 2
 * CPUs a test gets about a tenth of a CPU) stretches the wait: each slice
 * of up to 2 s counts for the share of a CPU __th_cpu_share() measures at
 * its end, so a test that needs its 30 s gets them. A hang still fails,
 * after at most TH_LOADED_TIMEOUT_MAX times the timeout of wall time;
 * on a quiet machine after the timeout, as before. ret_wall_ms: the wall
 * time waited.
 */
static inline bool __th_wait_exit(pid_t pid, int timeout_ms,
				  int64_t *ret_wall_ms)
{
	int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	int64_t start = __th_now_ms(), last = start, cap;
	double counted = 0;
	bool exited = false;

	cap = start + (int64_t)timeout_ms * TH_LOADED_TIMEOUT_MAX;
	while (!exited) {
		int64_t slice = (int64_t)timeout_ms - (int64_t)counted, now;

		if (slice <= 0 || last >= cap)
			break;
		slice = slice < 2000 ? slice : 2000;
		slice = slice < cap - last ? slice : cap - last;
		exited = __th_wait_slice(pid, pidfd, (int)slice);
		if (exited)
			break;
		now = __th_now_ms();
		counted += (double)(now - last) * __th_cpu_share();
		last = now;
		/* counted can fall short of timeout_ms by rounding only. */
		if (counted > timeout_ms - 1)
			break;
	}
	if (pidfd >= 0)
		close(pidfd);
	*ret_wall_ms = __th_now_ms() - start;
	return exited;
}

/* $PITH_TEST_TIMEOUT_SCALE (a whole number >= 1) stretches every timeout,
 * for slow machines, emulated VMs and sanitizer builds. */
static inline int __th_timeout_scale(void)
{
	const char *s = getenv("PITH_TEST_TIMEOUT_SCALE");
	int v = s ? atoi(s) : 1;

	return v >= 1 && v <= 1000 ? v : 1;
}

static inline void __th_run_one(struct __test_metadata *t,
				const struct __fixture_variant_metadata *v,
				const char *full, unsigned int num,
				struct __th_totals *tot)
{
	struct __test_results *res;
	bool timed_out = false;
	int status = 0, result, timeout;
	int64_t waited_ms = 0;
	char why[1024] = "";
	pid_t pid;

	printf("#  RUN           %s ...\n", full);
	fflush(stdout);
	fflush(stderr);
	res = mmap(NULL, sizeof(*res), PROT_READ | PROT_WRITE,
		   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (res == MAP_FAILED) {
		printf("# %s: mmap: %s\n", full, strerror(errno));
		goto report_fail;
	}
	memset(res, 0, sizeof(*res));
	pid = fork();
	if (pid < 0) {
		printf("# %s: fork: %s\n", full, strerror(errno));
		munmap(res, sizeof(*res));
		goto report_fail;
	}
	if (pid == 0) {
		setpgid(0, 0);
		__th_current = t;
		t->results = res;
		t->trigger = 0;
		t->jmp_armed = false;
		/* A death test wants the default action, even where a
		 * sanitizer installed a handler for its signal. */
		if (t->termsig)
			signal(t->termsig, SIG_DFL);
		t->fn(t, v);
		__th_finish_child();
	}
	setpgid(pid, pid);
	timeout = t->timeout * __th_timeout_scale();
	if (!__th_wait_exit(pid, timeout * 1000, &waited_ms))
		timed_out = true;
	/* Kill the group while the zombie still pins its id: no strays. */
	kill(-pid, SIGKILL);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;

	if (timed_out) {
		result = __TH_FAIL;
		if (waited_ms >= (int64_t)timeout * 1000 + 1000)
			printf("# %s: the machine was loaded: %.1f s of wall time waited\n",
			       full, (double)waited_ms / 1000);
		snprintf(why, sizeof(why), "%s: timed out after %d s", full,
			 timeout);
	} else if (WIFSIGNALED(status)) {
		int sig = WTERMSIG(status);

		if (t->termsig == sig && res->status != __TH_FAIL) {
			result = __TH_PASS;
		} else {
			result = __TH_FAIL;
			snprintf(why, sizeof(why),
				 "%s: Test terminated unexpectedly by signal %d (%s)",
				 full, sig, strsignal(sig));
		}
	} else {
		int code = WEXITSTATUS(status);

		if (res->status == __TH_FAIL || (code != __TH_PASS &&
						 code != __TH_SKIP)) {
			result = __TH_FAIL;
		} else if (code == __TH_SKIP) {
			result = __TH_SKIP;
		} else if (t->termsig) {
			result = __TH_FAIL;
			snprintf(why, sizeof(why),
				 "%s: Test exited %d, expected signal %d (%s)",
				 full, code, t->termsig, strsignal(t->termsig));
		} else {
			result = __TH_PASS;
		}
	}
	fflush(stderr);
	if (why[0])
		printf("# %s\n", why);
	if (result == __TH_SKIP) {
		printf("#            OK  %s\n", full);
		printf("ok %u %s # SKIP %s\n", num, full, res->reason);
		tot->skip++;
	} else if (result == __TH_PASS) {
		printf("#            OK  %s\n", full);
		printf("ok %u %s\n", num, full);
		tot->pass++;
	}
	munmap(res, sizeof(*res));
	if (result != __TH_FAIL) {
		fflush(stdout);
		return;
	}
report_fail:
	printf("#          FAIL  %s\n", full);
	printf("not ok %u %s\n", num, full);
	fflush(stdout);
	tot->fail++;
}

static inline void __th_usage(const char *argv0)
{
	fprintf(stderr,
		"usage: %s [-l] [-r FIXTURE[.VARIANT].TEST] [-t|-T TEST] "
		"[-f|-F FIXTURE] [-v|-V VARIANT]...\n",
		argv0);
}

enum __th_action { __TH_LIST, __TH_COUNT, __TH_RUN };

/*
 * Visits every selected test in registration order (fixtures, then their
 * variants or none, then their tests); returns how many there were.
 */
static inline unsigned int __th_walk(const struct __th_filter *flt, int nflt,
				     enum __th_action action,
				     unsigned int *ret_cases,
				     struct __th_totals *tot)
{
	unsigned int n = 0, cases = 0;
	char full[512];

	for (struct __fixture_metadata *f = __th_fixtures; f; f = f->next) {
		struct __fixture_variant_metadata *v = f->variants;

		do {
			bool any = false;

			for (struct __test_metadata *t = f->tests; t;
			     t = t->next) {
				__th_full_name(full, sizeof(full), f, v, t);
				if (!__th_selected(flt, nflt, full, f, v, t))
					continue;
				n++;
				any = true;
				if (action == __TH_LIST)
					printf("%s\n", full);
				else if (action == __TH_RUN)
					__th_run_one(t, v, full, n, tot);
			}
			cases += any;
			v = v ? v->next : NULL;
		} while (v);
	}
	if (ret_cases)
		*ret_cases = cases;
	return n;
}

static inline int __test_harness_run(int argc, char **argv)
{
	struct __th_filter *flt = calloc((size_t)argc + 1, sizeof(*flt));
	struct __th_totals tot = { 0 };
	unsigned int ntests, ncases;
	bool list = false;
	int nflt = 0, opt;

	if (!flt)
		return 1;
	while ((opt = getopt(argc, argv, "hlr:t:T:f:F:v:V:")) != -1) {
		switch (opt) {
		case 'l':
			list = true;
			break;
		case 'r': case 't': case 'T': case 'f': case 'F':
		case 'v': case 'V':
			flt[nflt].kind = (char)opt;
			flt[nflt++].arg = optarg;
			break;
		case 'h':
			__th_usage(argv[0]);
			free(flt);
			return 0;
		default:
			__th_usage(argv[0]);
			free(flt);
			return 1;
		}
	}
	if (optind < argc) {
		__th_usage(argv[0]);
		free(flt);
		return 1;
	}

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (list) {
		__th_walk(flt, nflt, __TH_LIST, NULL, NULL);
		free(flt);
		return 0;
	}
	ntests = __th_walk(flt, nflt, __TH_COUNT, &ncases, NULL);
	if (nflt && !ntests) {
		/* A misspelt -r or -t must not look like a clean run. */
		fprintf(stderr, "%s: no test matches the selection (see -l)\n",
			argv[0]);
		free(flt);
		return 1;
	}
	printf("TAP version 13\n");
	printf("1..%u\n", ntests);
	printf("# Starting %u tests from %u test cases.\n", ntests, ncases);
	__th_walk(flt, nflt, __TH_RUN, NULL, &tot);

	printf("# %s: %u / %u tests passed.\n", tot.fail ? "FAILED" : "PASSED",
	       tot.pass + tot.skip, ntests);
	printf("# Totals: pass:%u fail:%u xfail:0 xpass:0 skip:%u error:0\n",
	       tot.pass, tot.fail, tot.skip);
	fflush(stdout);
	free(flt);
	return tot.fail ? 1 : 0;
}

#define TEST_HARNESS_MAIN                              \
	int main(int argc, char **argv)                \
	{                                              \
		return __test_harness_run(argc, argv); \
	}

#endif
