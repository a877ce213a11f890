// SPDX-License-Identifier: MIT
/* Tests of the job file parser: structure, exact errors, corpora, order. */
#include <dirent.h>
#include <fcntl.h>
#include <jansson.h>
#include <sys/stat.h>
#include <time.h>

#include "harness/harness.h"
#include "harness/helpers.h"
#include "job/job.h"

/* The example of the format as given in the design of the job layer. */
static const char example[] =
	"{\n"
	"  \"version\": 1,\n"
	"  \"name\": \"wordcount\",\n"
	"  \"functions\": {\n"
	"    \"count\": { \"binary\": \"functions/count\", \"memory\": \"16MiB\", \"timeout\": \"2s\" },\n"
	"    \"merge\": { \"binary\": \"functions/merge\" }\n"
	"  },\n"
	"  \"inputs\": {\n"
	"    \"docs\": [\n"
	"      { \"name\": \"a.txt\", \"file\": \"data/a.txt\" },\n"
	"      { \"name\": \"b.txt\", \"data\": \"inline text\", \"key\": 7 },\n"
	"      { \"name\": \"c.bin\", \"base64\": \"AAEC\" }\n"
	"    ]\n"
	"  },\n"
	"  \"stages\": [\n"
	"    { \"name\": \"count\", \"function\": \"count\",\n"
	"      \"inputs\": { \"text\": { \"from\": \"docs\", \"mode\": \"each\" } },\n"
	"      \"outputs\": [\"counts\"] },\n"
	"    { \"name\": \"merge\", \"function\": \"merge\",\n"
	"      \"inputs\": { \"counts\": { \"from\": \"count.counts\", \"mode\": \"all\" } },\n"
	"      \"outputs\": [\"total\"] }\n"
	"  ],\n"
	"  \"outputs\": { \"result\": \"merge.total\" }\n"
	"}\n";

static int accept_file_read(const char *io, size_t n_inputs,
			    char *const *outputs, size_t n_outputs,
			    struct err *e)
{
	(void)outputs;
	if (!strcmp(io, "http"))
		return 0;
	if (strcmp(io, "file.read") != 0)
		return err_set(e, ENOENT, "unknown I/O function '%s'", io);
	if (n_inputs != 1 || n_outputs != 1)
		return err_set(e, EINVAL, "file.read takes 1 input and 1 output");
	return 0;
}

/* As pith's: http takes every policy key, file.read only "concurrency". */
static int accept_policy(const char *io, const char *key, struct err *e)
{
	if (!strcmp(io, "http") || !strcmp(key, "concurrency"))
		return 0;
	return err_set(e, EINVAL, "%s takes no \"%s\"", io, key);
}

static const struct job_parse_opts no_files = {};
static const struct job_parse_opts with_io = {
	.io_check = accept_file_read,
	.io_policy_check = accept_policy,
};

/* The error message of parsing `json` as "job.json", or NULL if it parsed. */
static char *parse_error(const char *json, const struct job_parse_opts *o)
{
	struct job *j = NULL;
	struct err e = {};
	int r;

	r = job_parse_string(json, strlen(json), "job.json", ".", o, &j, &e);
	if (r == 0) {
		job_free(j);
		return NULL;
	}
	ASSERT_TRUE(t_err_filled(r, e.msg));
	ASSERT_EQ(-EINVAL, r) TH_LOG("%s", e.msg);
	ASSERT_NULL(j);
	ASSERT_NULL(strchr(e.msg, '\n'));
	return strdup(e.msg);
}

static struct job *parse_ok(const char *json, const struct job_parse_opts *o)
{
	struct job *j = NULL;
	struct err e = {};
	int r;

	r = job_parse_string(json, strlen(json), "job.json", ".", o, &j, &e);
	ASSERT_EQ(0, r) TH_LOG("%s", e.msg);
	return j;
}

TEST(example_parses_to_the_expected_structure)
{
	struct job *j = parse_ok(example, &no_files);

	ASSERT_STREQ("wordcount", j->name);
	ASSERT_STREQ("-", j->path);
	ASSERT_EQ(2, j->n_functions);
	EXPECT_STREQ("count", j->functions[0].name);
	EXPECT_STREQ("functions/count", j->functions[0].binary);
	EXPECT_EQ(16ull << 20, j->functions[0].memory);
	EXPECT_EQ(2000, j->functions[0].timeout_ms);
	EXPECT_STREQ("merge", j->functions[1].name);
	EXPECT_EQ(JOB_DEFAULT_MEMORY, j->functions[1].memory);
	EXPECT_EQ(JOB_DEFAULT_TIMEOUT_MS, j->functions[1].timeout_ms);

	ASSERT_EQ(1, j->n_inputs);
	ASSERT_STREQ("docs", j->inputs[0].name);
	ASSERT_EQ(3, j->inputs[0].n_items);
	struct job_item *it = j->inputs[0].items;
	EXPECT_STREQ("a.txt", it[0].name);
	EXPECT_EQ(JOB_SRC_FILE, it[0].source);
	EXPECT_STREQ("data/a.txt", it[0].path);
	EXPECT_FALSE(it[0].keyed);
	EXPECT_EQ(JOB_SRC_DATA, it[1].source);
	EXPECT_TRUE(it[1].keyed);
	EXPECT_EQ(7, it[1].key);
	ASSERT_EQ(11, it[1].len);
	EXPECT_EQ(0, memcmp(it[1].data, "inline text", 11));
	EXPECT_EQ(JOB_SRC_BASE64, it[2].source);
	ASSERT_EQ(3, it[2].len);
	EXPECT_EQ(0, memcmp(it[2].data, "\0\1\2", 3));

	ASSERT_EQ(2, j->n_stages);
	struct job_stage *s = j->stages;
	EXPECT_STREQ("count", s[0].name);
	EXPECT_STREQ("count", s[0].function);
	EXPECT_EQ(0, s[0].function_index);
	EXPECT_NULL(s[0].io);
	ASSERT_EQ(1, s[0].n_inputs);
	EXPECT_STREQ("text", s[0].inputs[0].param);
	EXPECT_STREQ("docs", s[0].inputs[0].from);
	EXPECT_EQ(-1, s[0].inputs[0].ref.stage);
	EXPECT_EQ(0, s[0].inputs[0].ref.index);
	EXPECT_EQ(JOB_MODE_EACH, s[0].inputs[0].mode);
	ASSERT_EQ(1, s[0].n_outputs);
	EXPECT_STREQ("counts", s[0].outputs[0]);
	EXPECT_EQ(1, s[1].function_index);
	EXPECT_STREQ("count.counts", s[1].inputs[0].from);
	EXPECT_EQ(0, s[1].inputs[0].ref.stage);
	EXPECT_EQ(0, s[1].inputs[0].ref.index);
	EXPECT_EQ(JOB_MODE_ALL, s[1].inputs[0].mode);
	EXPECT_STREQ("total", s[1].outputs[0]);
	EXPECT_EQ(0, j->order[0]);
	EXPECT_EQ(1, j->order[1]);

	ASSERT_EQ(1, j->n_outputs);
	EXPECT_STREQ("result", j->outputs[0].name);
	EXPECT_STREQ("merge.total", j->outputs[0].from);
	EXPECT_EQ(1, j->outputs[0].ref.stage);
	EXPECT_EQ(0, j->outputs[0].ref.index);
	job_free(j);
}

TEST(posix_keys_parse_to_args_env_seed_and_time)
{
	struct job *j = parse_ok(
		"{\"version\": 1, \"name\": \"p\", \"functions\": {"
		"\"f\": {\"binary\": \"f\", \"args\": [\"-v\", \"\", \"/in/x/y\"],"
		" \"env\": {\"LANG\": \"C\", \"EMPTY\": \"\"},"
		" \"seed\": 18446744073709551615, \"time\": 1700000000},"
		"\"g\": {\"binary\": \"g\"}},"
		"\"stages\": [{\"name\": \"s\", \"function\": \"f\", \"outputs\": [\"o\"]}]}",
		&no_files);
	struct job_function *f = &j->functions[0], *g = &j->functions[1];

	ASSERT_EQ(3, f->n_args);
	EXPECT_STREQ("-v", f->args[0]);
	EXPECT_STREQ("", f->args[1]);
	EXPECT_STREQ("/in/x/y", f->args[2]);
	ASSERT_EQ(2, f->n_env);
	EXPECT_STREQ("LANG=C", f->env[0]);
	EXPECT_STREQ("EMPTY=", f->env[1]);
	EXPECT_EQ(UINT64_MAX, f->seed);
	EXPECT_EQ(1700000000ull * 1000000000ull, f->time_ns);
	EXPECT_EQ(0, g->n_args);
	EXPECT_EQ(0, g->n_env);
	EXPECT_EQ(0, g->seed);
	EXPECT_EQ(0, g->time_ns);
	job_free(j);
}

TEST(fresh_is_false_unless_the_function_says_true)
{
	struct job *j = parse_ok(
		"{\"version\": 1, \"name\": \"p\", \"functions\": {"
		"\"f\": {\"binary\": \"f\", \"fresh\": true},"
		"\"g\": {\"binary\": \"g\", \"fresh\": false},"
		"\"h\": {\"binary\": \"h\"}},"
		"\"stages\": [{\"name\": \"s\", \"function\": \"f\", \"outputs\": [\"o\"]}]}",
		&no_files);

	EXPECT_TRUE(j->functions[0].fresh);
	EXPECT_FALSE(j->functions[1].fresh);
	EXPECT_FALSE(j->functions[2].fresh);
	job_free(j);
}

TEST(mode_names_are_the_words_of_the_format)
{
	EXPECT_STREQ("all", job_mode_name(JOB_MODE_ALL));
	EXPECT_STREQ("each", job_mode_name(JOB_MODE_EACH));
	EXPECT_STREQ("keyed", job_mode_name(JOB_MODE_KEYED));
}

/* Stage order of a job whose stages are given as JSON objects. */
static void expect_order(const char *stages, const size_t *want, size_t n)
{
	char *json = t_strdupf("{\"version\": 1, \"name\": \"g\", "
			       "\"functions\": {\"f\": {\"binary\": \"f\"}}, "
			       "\"inputs\": {\"in\": []}, \"stages\": [%s]}",
			       stages);
	struct job *j = parse_ok(json, &no_files);

	ASSERT_EQ(n, j->n_stages);
	for (size_t i = 0; i < n; i++)
		EXPECT_EQ(want[i], j->order[i]) TH_LOG("order[%zu]", i);
	job_free(j);
	free(json);
}

#define ST(name, ins) \
	"{\"name\": \"" name "\", \"function\": \"f\", \"inputs\": {" ins \
	"}, \"outputs\": [\"o\"]}"
#define IN(p, from) "\"" p "\": {\"from\": \"" from "\"}"

TEST(order_of_a_diamond_puts_producers_first_in_file_order)
{
	/* sink reads left and right, which both read top; file order is
	 * sink, right, left, top. */
	static const size_t want[] = { 3, 1, 2, 0 };

	expect_order(ST("sink", IN("a", "left.o") "," IN("b", "right.o")) ","
		     ST("right", IN("a", "top.o")) ","
		     ST("left", IN("a", "top.o")) ","
		     ST("top", IN("a", "in")), want, 4);
}

TEST(order_keeps_file_order_for_independent_stages)
{
	static const size_t want[] = { 0, 1, 2, 3 };

	expect_order(ST("d", IN("a", "in")) "," ST("c", IN("a", "in")) ","
		     ST("b", IN("a", "d.o")) "," ST("a", ""), want, 4);
}

TEST(order_is_stable_when_a_late_stage_frees_an_early_one)
{
	/* x waits for z; y is free; z is free: y and z come before x only
	 * as far as needed, lowest index first whenever there is a choice. */
	static const size_t want[] = { 1, 2, 0 };

	expect_order(ST("x", IN("a", "z.o")) "," ST("y", "") "," ST("z", ""),
		     want, 3);
}

/* ---- exact messages, one per class of error ---- */

FIXTURE(message) {};
FIXTURE_SETUP(message) {}
FIXTURE_TEARDOWN(message) {}
FIXTURE_VARIANT(message)
{
	const char *json;
	const char *msg;
	bool io;
};

#define HEAD "{\"version\": 1, \"name\": \"j\",\n"
#define FN "\"functions\": {\"f\": {\"binary\": \"f\"}},\n"

FIXTURE_VARIANT_ADD(message, syntax_error_uses_jansson_position)
{
	.json = "{\"version\": 1,\n  \"name\": \"j\"\n  \"stages\": []}",
	.msg = "job.json:3:10: invalid JSON: '}' expected near '\"stages\"'",
};
FIXTURE_VARIANT_ADD(message, valid_json_that_is_not_a_job)
{
	.json = "[1, 2, 3]",
	.msg = "job.json:1:1: (root): expected an object with \"version\": 1",
};
FIXTURE_VARIANT_ADD(message, object_without_version_is_not_a_job)
{
	.json = "\n  {\"name\": \"j\"}",
	.msg = "job.json:2:3: (root): expected an object with \"version\": 1",
};
FIXTURE_VARIANT_ADD(message, other_version_is_refused)
{
	.json = "{\"version\": 2, \"name\": \"j\"}",
	.msg = "job.json:1:13: version: unsupported version 2 (this pith reads version 1)",
};
FIXTURE_VARIANT_ADD(message, version_must_be_an_integer)
{
	.json = "{\"version\": 1.0, \"name\": \"j\"}",
	.msg = "job.json:1:13: version: unsupported version 1.0 (this pith reads version 1)",
};
FIXTURE_VARIANT_ADD(message, duplicate_key_is_refused)
{
	.json = "{\"version\": 1, \"name\": \"j\", \"name\": \"k\"}",
	.msg = "job.json:1:34: invalid JSON: duplicate object key near '\"name\"'",
};
FIXTURE_VARIANT_ADD(message, unknown_key_is_named_at_the_key)
{
	.json = HEAD "  \"stagez\": []}",
	.msg = "job.json:2:3: stagez: unknown key 'stagez' (expected one of \"version\", \"name\", \"functions\", \"inputs\", \"stages\", \"outputs\", \"allow_hosts\", \"require\")",
};
FIXTURE_VARIANT_ADD(message, wrong_type_is_named_at_the_value)
{
	.json = HEAD "\"stages\": {}}",
	.msg = "job.json:2:11: stages: expected an array of stages",
};
FIXTURE_VARIANT_ADD(message, job_needs_a_stage)
{
	.json = HEAD "\"stages\": []}",
	.msg = "job.json:2:11: stages: a job needs at least one stage",
};
FIXTURE_VARIANT_ADD(message, bad_function_name_is_refused_at_its_key)
{
	.json = HEAD "\"functions\": {\"a b\": {\"binary\": \"f\"}}}",
	.msg = "job.json:2:15: functions['a b']: invalid function name 'a b': names are 1 to 64 characters from A-Z a-z 0-9 _ -",
};
FIXTURE_VARIANT_ADD(message, dangling_stage_reference)
{
	.json = HEAD FN "\"stages\": [{\"name\": \"a\", \"function\": \"f\"},\n"
		"  {\"name\": \"b\", \"function\": \"f\", \"inputs\": {\"x\": {\"from\": \"cuont.o\"}}}]}",
	.msg = "job.json:4:59: stages[1].inputs.x.from: no stage named 'cuont'",
};
FIXTURE_VARIANT_ADD(message, dangling_function_reference)
{
	.json = HEAD FN "\"stages\": [{\"name\": \"a\", \"function\": \"g\"}]}",
	.msg = "job.json:3:38: stages[0].function: no function named 'g'",
};
FIXTURE_VARIANT_ADD(message, dangling_output_set_reference)
{
	.json = HEAD FN "\"stages\": [{\"name\": \"a\", \"function\": \"f\", \"outputs\": [\"o\"]},\n"
		"  {\"name\": \"b\", \"function\": \"f\", \"inputs\": {\"x\": {\"from\": \"a.p\"}}}]}",
	.msg = "job.json:4:59: stages[1].inputs.x.from: stage 'a' has no output set named 'p'",
};
FIXTURE_VARIANT_ADD(message, stage_named_like_an_input_set)
{
	.json = HEAD FN "\"inputs\": {\"docs\": []},\n"
		"\"stages\": [{\"name\": \"docs\", \"function\": \"f\"}]}",
	.msg = "job.json:4:21: stages[0].name: stage name 'docs' is already an input set name (\"from\" could not tell them apart)",
};
FIXTURE_VARIANT_ADD(message, duplicate_stage_name)
{
	.json = HEAD FN "\"stages\": [{\"name\": \"a\", \"function\": \"f\"},\n"
		"{\"name\": \"a\", \"function\": \"f\"}]}",
	.msg = "job.json:4:10: stages[1].name: duplicate stage name 'a'",
};
FIXTURE_VARIANT_ADD(message, duplicate_output_set_in_a_stage)
{
	.json = HEAD FN "\"stages\": [{\"name\": \"a\", \"function\": \"f\", \"outputs\": [\"o\", \"o\"]}]}",
	.msg = "job.json:3:60: stages[0].outputs[1]: duplicate output set name 'o' in this stage",
};
FIXTURE_VARIANT_ADD(message, self_reference)
{
	.json = HEAD FN "\"stages\": [{\"name\": \"a\", \"function\": \"f\", \"inputs\": {\"x\": {\"from\": \"a.o\"}}, \"outputs\": [\"o\"]}]}",
	.msg = "job.json:3:68: stages[0].inputs.x.from: stage 'a' reads its own output",
};
FIXTURE_VARIANT_ADD(message, cycle_is_reported_as_a_path)
{
	.json = HEAD FN "\"stages\": [\n"
		" {\"name\": \"z\", \"function\": \"f\", \"outputs\": [\"o\"]},\n"
		" {\"name\": \"a\", \"function\": \"f\", \"inputs\": {\"x\": {\"from\": \"b.o\"}}, \"outputs\": [\"o\"]},\n"
		" {\"name\": \"b\", \"function\": \"f\", \"inputs\": {\"x\": {\"from\": \"a.o\"}, \"y\": {\"from\": \"z.o\"}}, \"outputs\": [\"o\"]}]}",
	.msg = "job.json:3:11: stages: cycle: a -> b -> a",
};
FIXTURE_VARIANT_ADD(message, longer_cycle_starts_at_its_first_stage)
{
	.json = HEAD FN "\"stages\": [\n"
		" {\"name\": \"c\", \"function\": \"f\", \"inputs\": {\"x\": {\"from\": \"b.o\"}}, \"outputs\": [\"o\"]},\n"
		" {\"name\": \"a\", \"function\": \"f\", \"inputs\": {\"x\": {\"from\": \"c.o\"}}, \"outputs\": [\"o\"]},\n"
		" {\"name\": \"b\", \"function\": \"f\", \"inputs\": {\"x\": {\"from\": \"a.o\"}}, \"outputs\": [\"o\"]}]}",
	.msg = "job.json:3:11: stages: cycle: c -> a -> b -> c",
};
FIXTURE_VARIANT_ADD(message, memory_must_be_page_aligned)
{
	.json = HEAD "\"functions\": {\"f\": {\"binary\": \"f\", \"memory\": \"100000\"}}}",
	.msg = "job.json:2:46: functions.f.memory: memory must be a multiple of 4096 bytes (the page size), not 100000",
};
FIXTURE_VARIANT_ADD(message, memory_has_bounds)
{
	.json = HEAD "\"functions\": {\"f\": {\"binary\": \"f\", \"memory\": \"8GiB\"}}}",
	.msg = "job.json:2:46: functions.f.memory: memory must be between 64KiB and 4GiB, not 8589934592 bytes",
};
FIXTURE_VARIANT_ADD(message, bad_size_is_refused)
{
	.json = HEAD "\"functions\": {\"f\": {\"binary\": \"f\", \"memory\": \"16MB\"}}}",
	.msg = "job.json:2:46: functions.f.memory: invalid size '16MB' (write e.g. \"64KiB\", \"16MiB\", \"1GiB\" or a number of bytes)",
};
FIXTURE_VARIANT_ADD(message, bad_duration_is_refused)
{
	.json = HEAD "\"functions\": {\"f\": {\"binary\": \"f\", \"timeout\": \"2\"}}}",
	.msg = "job.json:2:47: functions.f.timeout: invalid duration '2' (write e.g. \"150ms\", \"2s\", \"1.5s\", \"1m\")",
};
FIXTURE_VARIANT_ADD(message, timeout_has_bounds)
{
	.json = HEAD "\"functions\": {\"f\": {\"binary\": \"f\", \"timeout\": \"61m\"}}}",
	.msg = "job.json:2:47: functions.f.timeout: timeout must be between 1ms and 1h (60m)",
};
FIXTURE_VARIANT_ADD(message, bad_base64_names_the_offset)
{
	.json = HEAD "\"inputs\": {\"d\": [{\"name\": \"x\", \"base64\": \"AA=A\"}]}}",
	.msg = "job.json:2:42: inputs.d[0].base64: invalid base64 at offset 2 (standard alphabet, '=' padding, no spaces)",
};
FIXTURE_VARIANT_ADD(message, item_name_with_slash)
{
	.json = HEAD "\"inputs\": {\"d\": [{\"name\": \"a/b\", \"data\": \"\"}]}}",
	.msg = "job.json:2:27: inputs.d[0].name: an item name cannot contain '/' (items become files named after them)",
};
FIXTURE_VARIANT_ADD(message, item_name_dot_dot)
{
	.json = HEAD "\"inputs\": {\"d\": [{\"name\": \"..\", \"data\": \"\"}]}}",
	.msg = "job.json:2:27: inputs.d[0].name: an item name cannot be '.' or '..' (items become files named after them)",
};
FIXTURE_VARIANT_ADD(message, item_name_with_nul)
{
	.json = HEAD "\"inputs\": {\"d\": [{\"name\": \"a\\u0000b\", \"data\": \"\"}]}}",
	.msg = "job.json:2:27: inputs.d[0].name: an item name cannot contain a NUL character (items become files named after them)",
};
FIXTURE_VARIANT_ADD(message, duplicate_item_name)
{
	.json = HEAD "\"inputs\": {\"d\": [{\"name\": \"x\", \"data\": \"\"},\n"
		"  {\"name\": \"x\", \"data\": \"\"}]}}",
	.msg = "job.json:3:12: inputs.d[1].name: duplicate item name 'x' in this set",
};
FIXTURE_VARIANT_ADD(message, item_with_two_sources)
{
	.json = HEAD "\"inputs\": {\"d\": [{\"name\": \"x\", \"file\": \"x\", \"data\": \"\"}]}}",
	.msg = "job.json:2:45: inputs.d[0].data: an item has one source, and \"file\" is already given",
};
FIXTURE_VARIANT_ADD(message, key_beyond_u64_is_refused)
{
	.json = HEAD "\"inputs\": {\"d\": [{\"name\": \"x\", \"data\": \"\", \"key\": 18446744073709551616}]}}",
	.msg = "job.json:2:51: inputs.d[0].key: an unsigned 64-bit integer key: 18446744073709551616 is out of range (at most 18446744073709551615)",
};
FIXTURE_VARIANT_ADD(message, negative_key_is_refused)
{
	.json = HEAD "\"inputs\": {\"d\": [{\"name\": \"x\", \"data\": \"\", \"key\": -1}]}}",
	.msg = "job.json:2:51: inputs.d[0].key: expected an unsigned 64-bit integer key",
};
FIXTURE_VARIANT_ADD(message, keyed_mode_needs_keys_on_job_inputs)
{
	.json = HEAD FN "\"inputs\": {\"d\": [{\"name\": \"x\", \"data\": \"\", \"key\": 1}, {\"name\": \"y\", \"data\": \"\"}]},\n"
		"\"stages\": [{\"name\": \"a\", \"function\": \"f\", \"inputs\": {\"p\": {\"from\": \"d\", \"mode\": \"keyed\"}}}]}",
	.msg = "job.json:4:81: stages[0].inputs.p.mode: mode \"keyed\" needs a key on every item, and inputs.d[1] ('y') has none",
};
FIXTURE_VARIANT_ADD(message, unknown_mode)
{
	.json = HEAD FN "\"inputs\": {\"d\": []},\n"
		"\"stages\": [{\"name\": \"a\", \"function\": \"f\", \"inputs\": {\"p\": {\"from\": \"d\", \"mode\": \"any\"}}}]}",
	.msg = "job.json:4:81: stages[0].inputs.p.mode: unknown mode 'any' (expected \"all\", \"each\" or \"keyed\")",
};
FIXTURE_VARIANT_ADD(message, fold_needs_mode_all)
{
	.json = HEAD FN "\"inputs\": {\"d\": []},\n"
		"\"stages\": [{\"name\": \"a\", \"function\": \"f\", \"inputs\": {\"p\": {\"from\": \"d\", \"mode\": \"each\", \"fold\": 2}}}]}",
	.msg = "job.json:4:89: stages[0].inputs.p.fold: \"fold\" folds an input of mode \"all\", not \"each\"",
};
FIXTURE_VARIANT_ADD(message, fold_is_a_positive_integer)
{
	.json = HEAD FN "\"inputs\": {\"d\": []},\n"
		"\"stages\": [{\"name\": \"a\", \"function\": \"f\", \"inputs\": {\"p\": {\"from\": \"d\", \"fold\": 0}}, \"outputs\": [\"o\"]}]}",
	.msg = "job.json:4:81: stages[0].inputs.p.fold: fold must be between 1 and 1073741824, not 0",
};
FIXTURE_VARIANT_ADD(message, fold_needs_one_output)
{
	.json = HEAD FN "\"inputs\": {\"d\": []},\n"
		"\"stages\": [{\"name\": \"a\", \"function\": \"f\", \"inputs\": {\"p\": {\"from\": \"d\", \"fold\": 2}}, \"outputs\": [\"o\", \"q\"]}]}",
	.msg = "job.json:4:73: stages[0].inputs.p.fold: \"fold\" needs a stage with exactly one output (each instance reads the last one's), and stage a has 2",
};
FIXTURE_VARIANT_ADD(message, fold_needs_the_only_input)
{
	.json = HEAD FN "\"inputs\": {\"d\": []},\n"
		"\"stages\": [{\"name\": \"a\", \"function\": \"f\", \"inputs\": {\"p\": {\"from\": \"d\", \"fold\": 2}, \"q\": {\"from\": \"d\"}}, \"outputs\": [\"o\"]}]}",
	.msg = "job.json:4:73: stages[0].inputs.p.fold: \"fold\" needs the stage's only input, and stage a has 2",
};
FIXTURE_VARIANT_ADD(message, fold_is_not_for_io_stages)
{
	.io = true,
	.json = HEAD "\"inputs\": {\"d\": []},\n"
		"\"stages\": [{\"name\": \"a\", \"io\": \"file.read\", \"inputs\": {\"p\": {\"from\": \"d\", \"fold\": 2}}, \"outputs\": [\"o\"]}]}",
	.msg = "job.json:3:75: stages[0].inputs.p.fold: \"fold\" is for compute stages: an I/O stage takes its items one by one",
};
FIXTURE_VARIANT_ADD(message, function_and_io_together)
{
	.json = HEAD FN "\"stages\": [{\"name\": \"a\", \"function\": \"f\", \"io\": \"file.read\"}]}",
	.msg = "job.json:3:43: stages[0].io: a stage has either \"function\" (compute) or \"io\" (I/O), not both",
};
FIXTURE_VARIANT_ADD(message, io_stage_without_io_functions)
{
	.json = HEAD "\"stages\": [{\"name\": \"a\", \"io\": \"file.read\"}]}",
	.msg = "job.json:2:32: stages[0].io: I/O stages are not available here (no I/O functions)",
};
FIXTURE_VARIANT_ADD(message, io_check_message_is_positioned)
{
	.json = HEAD "\"stages\": [{\"name\": \"a\", \"io\": \"file.raed\"}]}",
	.msg = "job.json:2:32: stages[0].io: unknown I/O function 'file.raed'",
	.io = true,
};
FIXTURE_VARIANT_ADD(message, policy_key_on_a_compute_stage)
{
	.json = HEAD FN "\"stages\": [{\"name\": \"a\", \"function\": \"f\", \"retries\": 2}]}",
	.msg = "job.json:3:43: stages[0].retries: \"retries\" is a key of I/O stages (\"io\"), not of compute stages",
};
FIXTURE_VARIANT_ADD(message, policy_key_the_io_function_does_not_take)
{
	.json = HEAD "\"stages\": [{\"name\": \"a\", \"io\": \"file.read\", \"timeout\": \"1s\"}]}",
	.msg = "job.json:2:45: stages[0].timeout: file.read takes no \"timeout\"",
	.io = true,
};
FIXTURE_VARIANT_ADD(message, concurrency_has_bounds)
{
	.json = HEAD "\"stages\": [{\"name\": \"a\", \"io\": \"http\", \"concurrency\": 0}]}",
	.msg = "job.json:2:55: stages[0].concurrency: concurrency must be between 1 and 4096, not 0",
	.io = true,
};
FIXTURE_VARIANT_ADD(message, retries_must_be_an_integer)
{
	.json = HEAD "\"stages\": [{\"name\": \"a\", \"io\": \"http\", \"retries\": 1.5}]}",
	.msg = "job.json:2:51: stages[0].retries: expected an integer",
	.io = true,
};
FIXTURE_VARIANT_ADD(message, backoff_is_a_duration)
{
	.json = HEAD "\"stages\": [{\"name\": \"a\", \"io\": \"http\", \"backoff\": 100}]}",
	.msg = "job.json:2:51: stages[0].backoff: expected a duration such as \"2s\"",
	.io = true,
};
FIXTURE_VARIANT_ADD(message, allowed_host_with_a_bad_port)
{
	.json = HEAD "\"allow_hosts\": [\"localhost\", \"127.0.0.1:99999\"],\n"
		"\"stages\": [{\"name\": \"a\", \"io\": \"http\"}]}",
	.msg = "job.json:2:30: allow_hosts[1]: '127.0.0.1:99999': bad port (want 1 to 65535) (write \"host\", \"host:port\" or \"[v6]:port\")",
	.io = true,
};
FIXTURE_VARIANT_ADD(message, allowed_host_must_be_a_string)
{
	.json = HEAD "\"allow_hosts\": [8080],\n"
		"\"stages\": [{\"name\": \"a\", \"io\": \"http\"}]}",
	.msg = "job.json:2:17: allow_hosts[0]: expected a string such as \"127.0.0.1:8080\" or \"localhost\"",
	.io = true,
};
FIXTURE_VARIANT_ADD(message, required_layer_is_a_layer_name)
{
	.json = HEAD "\"require\": [\"seccomp\", \"BPF LSM\"],\n"
		"\"stages\": [{\"name\": \"a\", \"io\": \"http\"}]}",
	.msg = "job.json:2:24: require[1]: expected a layer name as 'pith doctor' shows it, such as \"bpf-lsm\", or \"all\"",
	.io = true,
};
FIXTURE_VARIANT_ADD(message, job_output_must_name_a_stage_output)
{
	.json = HEAD FN "\"inputs\": {\"d\": []},\n"
		"\"stages\": [{\"name\": \"a\", \"function\": \"f\"}],\n"
		"\"outputs\": {\"r\": \"d\"}}",
	.msg = "job.json:5:18: outputs.r: expected \"<stage>.<output set>\", not 'd'",
};
FIXTURE_VARIANT_ADD(message, from_an_input_set_with_a_dot)
{
	.json = HEAD FN "\"inputs\": {\"d\": []},\n"
		"\"stages\": [{\"name\": \"a\", \"function\": \"f\", \"inputs\": {\"p\": {\"from\": \"d.x\"}}}]}",
	.msg = "job.json:4:68: stages[0].inputs.p.from: 'd' is an input set, not a stage",
};
FIXTURE_VARIANT_ADD(message, from_a_stage_without_output)
{
	.json = HEAD FN "\"stages\": [{\"name\": \"a\", \"function\": \"f\"},\n"
		"{\"name\": \"b\", \"function\": \"f\", \"inputs\": {\"p\": {\"from\": \"a\"}}}]}",
	.msg = "job.json:4:57: stages[1].inputs.p.from: 'a' is a stage: name one of its output sets, as 'a.<output set>'",
};
FIXTURE_VARIANT_ADD(message, position_counts_characters_after_escapes)
{
	/* "é" is two bytes but one column; escapes count as written. */
	.json = "{\"version\": 1, \"name\": \"j\", \"functions\": {\"f\": {\"binary\": \"é\\u00e9\\\"\", \"memory\": 5}}}",
	.msg = "job.json:1:82: functions.f.memory: memory must be a multiple of 4096 bytes (the page size), not 5",
};
FIXTURE_VARIANT_ADD(message, odd_keys_are_quoted_in_paths)
{
	.json = HEAD "\"functions\": {\"f\": {\"binary\": \"f\"}},\n"
		"\"inputs\": {\"a.b\\n\": []}}",
	.msg = "job.json:3:12: inputs['a.b\\x0a']: invalid input set name 'a.b\\x0a': names are 1 to 64 characters from A-Z a-z 0-9 _ -",
};
FIXTURE_VARIANT_ADD(message, escaped_keys_are_found_at_their_position)
{
	/* The key is written as a surrogate pair and decodes to U+1F600. */
	.json = HEAD "\"inputs\": {\"ok\": [], \"\\ud83d\\ude00\": []}}",
	.msg = "job.json:2:22: inputs['\xf0\x9f\x98\x80']: invalid input set name '\xf0\x9f\x98\x80': names are 1 to 64 characters from A-Z a-z 0-9 _ -",
};
FIXTURE_VARIANT_ADD(message, nul_byte_in_the_file)
{
	.json = NULL, /* built in the test: a NUL cannot live in a C string */
	.msg = "job.json:2:3: invalid JSON: NUL byte in the file",
};

TEST_F(message, is_exactly_as_documented)
{
	struct job_parse_opts o = variant->io ? with_io : no_files;
	char *msg;

	if (!variant->json) {
		static const char text[] = "{\n  \0}";
		struct err e = {};
		struct job *j = NULL;

		ASSERT_EQ(-EINVAL, job_parse_string(text, sizeof(text) - 1,
						    "job.json", ".", &o, &j,
						    &e));
		ASSERT_STREQ(variant->msg, e.msg);
		return;
	}
	msg = parse_error(variant->json, &o);
	ASSERT_NE(NULL, msg) TH_LOG("the job parsed: %s", variant->json);
	EXPECT_STREQ(variant->msg, msg);
	free(msg);
}

TEST(largest_u64_key_is_kept_exactly)
{
	struct job *j = parse_ok(HEAD "\"inputs\": {\"d\": [{\"name\": \"x\", "
				 "\"data\": \"\", \"key\": 18446744073709551615},"
				 "{\"name\": \"y\", \"data\": \"\", "
				 "\"key\": 9007199254740993}]},"
				 "\"stages\": [{\"name\": \"s\", \"io\": \"file.read\", "
				 "\"inputs\": {\"p\": {\"from\": \"d\", \"mode\": \"keyed\"}}, "
				 "\"outputs\": [\"o\"]}]}",
				 &with_io);

	EXPECT_EQ(UINT64_MAX, j->inputs[0].items[0].key);
	/* 2^53 + 1: would be rounded through a double. */
	EXPECT_EQ(9007199254740993ull, j->inputs[0].items[1].key);
	EXPECT_STREQ("file.read", j->stages[0].io);
	EXPECT_NULL(j->stages[0].function);
	EXPECT_EQ(JOB_MODE_KEYED, j->stages[0].inputs[0].mode);
	job_free(j);
}

/* Keys 7, 7, 0, 9: three shares; crossed with an `each` of two
 * items, six instances; a stage fed by another stage's output `each` is
 * not counted by the parser (the engine counts it). */
#define COUNTED HEAD FN \
	"\"inputs\": {\"d\": [{\"name\": \"a\", \"data\": \"\", \"key\": 7}," \
	"{\"name\": \"b\", \"data\": \"\", \"key\": 7}," \
	"{\"name\": \"c\", \"data\": \"\", \"key\": 0}," \
	"{\"name\": \"e\", \"data\": \"\", \"key\": 9}]," \
	"\"two\": [{\"name\": \"x\", \"data\": \"\"}, {\"name\": \"y\", \"data\": \"\"}]}," \
	"\"stages\": [{\"name\": \"s\", \"function\": \"f\", \"inputs\": {" \
	"\"k\": {\"from\": \"d\", \"mode\": \"keyed\"}," \
	"\"t\": {\"from\": \"two\", \"mode\": \"each\"}," \
	"\"w\": {\"from\": \"d\", \"mode\": \"all\"}}, \"outputs\": [\"o\"]}," \
	"{\"name\": \"u\", \"function\": \"f\", \"inputs\": {" \
	"\"k\": {\"from\": \"s.o\", \"mode\": \"each\"}}}]}"

TEST(instances_known_from_the_file_are_held_to_the_limit)
{
	struct job_parse_opts o = { .max_instances = 5 };
	char *msg = parse_error(COUNTED, &o);

	ASSERT_TRUE(msg != NULL);
	EXPECT_TRUE(strstr(msg, "stages[0]: 6 instances exceed the limit of 5 per stage (--max-instances") != NULL)
		TH_LOG("%s", msg);
	free(msg);
	o.max_instances = 6;
	job_free(parse_ok(COUNTED, &o));
	o.max_instances = 0; /* not checked */
	job_free(parse_ok(COUNTED, &o));
}

/* "fold": B counts one instance per B items of a job input. */
TEST(fold_is_kept_and_counts_one_instance_per_batch)
{
#define FOLDED(b) HEAD FN "\"inputs\": {\"d\": [{\"name\": \"x\", \"data\": \"\"}, " \
	"{\"name\": \"y\", \"data\": \"\"}, {\"name\": \"z\", \"data\": \"\"}]}," \
	"\"stages\": [{\"name\": \"s\", \"function\": \"f\", \"inputs\": {" \
	"\"p\": {\"from\": \"d\", \"fold\": " b "}}, \"outputs\": [\"o\"]}]}"
	struct job_parse_opts o = { .max_instances = 1 };
	struct job *j = parse_ok(FOLDED("3"), &o);
	char *msg;

	EXPECT_EQ(3u, j->stages[0].inputs[0].fold);
	EXPECT_EQ(JOB_MODE_ALL, j->stages[0].inputs[0].mode);
	job_free(j);
	msg = parse_error(FOLDED("2"), &o); /* 2 instances: [x y] [z] */
	ASSERT_TRUE(msg != NULL);
	EXPECT_TRUE(strstr(msg, "stages[0]: 2 instances exceed the limit of 1 per stage") != NULL)
		TH_LOG("%s", msg);
	free(msg);
	j = parse_ok(HEAD FN "\"inputs\": {\"d\": []}, \"stages\": [{\"name\": \"s\", "
		     "\"function\": \"f\", \"inputs\": {\"p\": {\"from\": \"d\"}}, "
		     "\"outputs\": [\"o\"]}]}", &o);
	EXPECT_EQ(0u, j->stages[0].inputs[0].fold); /* absent: not folded */
	job_free(j);
#undef FOLDED
}

/* What pith run keeps of the inputs once the engine has them in its store. */
TEST(dropped_input_items_leave_the_sets_names)
{
	struct job *j = parse_ok(HEAD FN "\"inputs\": {\"d\": [{\"name\": \"x\", \"data\": \"abc\"}, "
				 "{\"name\": \"y\", \"data\": \"\"}], \"e\": []},"
				 "\"stages\": [{\"name\": \"s\", \"function\": \"f\", \"inputs\": {"
				 "\"p\": {\"from\": \"d\"}}, \"outputs\": [\"o\"]}]}", &no_files);

	ASSERT_EQ(2u, j->inputs[0].n_items);
	job_drop_input_items(j);
	ASSERT_EQ(2u, j->n_inputs);
	EXPECT_STREQ("d", j->inputs[0].name);
	EXPECT_STREQ("e", j->inputs[1].name);
	EXPECT_EQ(0u, j->inputs[0].n_items);
	EXPECT_NULL(j->inputs[0].items);
	job_drop_input_items(j); /* twice: nothing left to free */
	job_free(j);
}

TEST(io_policy_and_allowed_hosts_are_kept_as_written)
{
	struct job *j = parse_ok(HEAD "\"allow_hosts\": [\"127.0.0.1:8080\", \"LocalHost\", \"[::1]:80\", \"::1\"],\n"
				 "\"stages\": [{\"name\": \"a\", \"io\": \"http\", \"concurrency\": 8, "
				 "\"retries\": 0, \"timeout\": \"1.5s\", \"backoff\": \"20ms\"},"
				 "{\"name\": \"b\", \"io\": \"http\"}]}",
				 &with_io);

	ASSERT_EQ(4, j->n_allow_hosts);
	EXPECT_STREQ("127.0.0.1:8080", j->allow_hosts[0]);
	EXPECT_STREQ("LocalHost", j->allow_hosts[1]);
	EXPECT_STREQ("::1", j->allow_hosts[3]);
	EXPECT_EQ(8, j->stages[0].policy.concurrency);
	EXPECT_TRUE(j->stages[0].policy.has_retries);
	EXPECT_EQ(0, j->stages[0].policy.retries);
	EXPECT_EQ(1500, j->stages[0].policy.timeout_ms);
	EXPECT_EQ(20, j->stages[0].policy.backoff_ms);
	/* Absent: the I/O function's defaults. */
	EXPECT_EQ(0, j->stages[1].policy.concurrency);
	EXPECT_FALSE(j->stages[1].policy.has_retries);
	EXPECT_EQ(0, j->stages[1].policy.timeout_ms);
	EXPECT_EQ(0, j->stages[1].policy.backoff_ms);
	job_free(j);
}

TEST(inline_data_keeps_nul_bytes_and_base64_decodes_padding)
{
	struct job *j = parse_ok(HEAD "\"inputs\": {\"d\": ["
				 "{\"name\": \"n\", \"data\": \"a\\u0000b\"},"
				 "{\"name\": \"p1\", \"base64\": \"YWI=\"},"
				 "{\"name\": \"p2\", \"base64\": \"YQ==\"},"
				 "{\"name\": \"e\", \"base64\": \"\"}]},"
				 "\"stages\": [{\"name\": \"s\", \"io\": \"file.read\", "
				 "\"inputs\": {\"p\": {\"from\": \"d\"}}, \"outputs\": [\"o\"]}]}",
				 &with_io);
	struct job_item *it = j->inputs[0].items;

	ASSERT_EQ(3, it[0].len);
	EXPECT_EQ(0, memcmp(it[0].data, "a\0b", 3));
	ASSERT_EQ(2, it[1].len);
	EXPECT_EQ(0, memcmp(it[1].data, "ab", 2));
	ASSERT_EQ(1, it[2].len);
	EXPECT_EQ('a', it[2].data[0]);
	EXPECT_EQ(0, it[3].len);
	job_free(j);
}

TEST(non_canonical_base64_is_refused)
{
	/* "YR==" carries bits that padding drops: two encodings, one byte. */
	char *msg = parse_error(HEAD "\"inputs\": {\"d\": [{\"name\": \"x\", "
				"\"base64\": \"YR==\"}]}}", &no_files);

	ASSERT_NE(NULL, msg);
	EXPECT_NE(NULL, strstr(msg, "invalid base64 at offset 1"))
		TH_LOG("%s", msg);
	free(msg);
}

/* ---- files on disk ---- */

FIXTURE(ondisk)
{
	char *dir;
	char *job;
};

FIXTURE_SETUP(ondisk)
{
	self->dir = t_tmpdir();
	ASSERT_NE(NULL, self->dir);
	char *p = t_strdupf("%s/functions", self->dir);
	ASSERT_EQ(0, mkdir(p, 0755));
	free(p);
	p = t_strdupf("%s/data", self->dir);
	ASSERT_EQ(0, mkdir(p, 0755));
	free(p);
	static const char *const files[] = { "functions/count",
					     "functions/merge", "data/a.txt" };
	for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
		p = t_strdupf("%s/%s", self->dir, files[i]);
		ASSERT_EQ(0, t_write_file(p, "x", 1));
		free(p);
	}
	self->job = t_strdupf("%s/job.json", self->dir);
	ASSERT_EQ(0, t_write_file(self->job, example, strlen(example)));
}

FIXTURE_TEARDOWN(ondisk)
{
	if (self->dir)
		t_rm_rf(self->dir);
	free(self->dir);
	free(self->job);
}

TEST_F(ondisk, example_with_its_files_parses_and_resolves_its_directory)
{
	struct job_parse_opts o = { .check_files = true };
	struct job *j = NULL;
	struct err e = {};
	char *real = realpath(self->dir, NULL);

	ASSERT_EQ(0, job_parse_file(self->job, &o, &j, &e)) TH_LOG("%s", e.msg);
	EXPECT_STREQ(self->job, j->path);
	EXPECT_STREQ(real, j->dir);
	job_free(j);
	free(real);
}

TEST_F(ondisk, missing_input_file_is_named_with_its_position)
{
	struct job_parse_opts o = { .check_files = true };
	struct job *j = NULL;
	struct err e = {};
	char *p = t_strdupf("%s/data/a.txt", self->dir);
	char *want;
	char *real = realpath(self->dir, NULL);

	ASSERT_EQ(0, unlink(p));
	ASSERT_EQ(-EINVAL, job_parse_file(self->job, &o, &j, &e));
	want = t_strdupf("%s:10:34: inputs.docs[0].file: cannot open file 'data/a.txt' in %s: No such file or directory",
			 self->job, real);
	EXPECT_STREQ(want, e.msg);
	free(want);
	free(real);
	free(p);
}

TEST_F(ondisk, binary_that_is_a_directory_is_refused)
{
	struct job_parse_opts o = { .check_files = true };
	struct job *j = NULL;
	struct err e = {};
	char *p = t_strdupf("%s/functions/merge", self->dir);
	char *want;

	ASSERT_EQ(0, unlink(p));
	ASSERT_EQ(0, mkdir(p, 0755));
	ASSERT_EQ(-EINVAL, job_parse_file(self->job, &o, &j, &e));
	want = t_strdupf("%s:6:26: functions.merge.binary: binary 'functions/merge' is not a regular file",
			 self->job);
	EXPECT_STREQ(want, e.msg);
	free(want);
	free(p);
}

TEST_F(ondisk, files_are_not_checked_unless_asked)
{
	struct job *j = NULL;
	struct err e = {};
	char *p = t_strdupf("%s/functions/count", self->dir);

	ASSERT_EQ(0, unlink(p));
	ASSERT_EQ(0, job_parse_file(self->job, NULL, &j, &e)) TH_LOG("%s", e.msg);
	job_free(j);
	free(p);
}

TEST(job_from_stdin_is_called_stdin_in_messages)
{
	char *dir = t_tmpdir(), *path;
	struct job *j = NULL;
	struct err e = {};
	int fd;

	ASSERT_NE(NULL, dir);
	path = t_strdupf("%s/job.json", dir);
	ASSERT_EQ(0, t_write_file(path, "{\"version\": 3}", 14));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, dup2(fd, STDIN_FILENO));
	close(fd);
	EXPECT_EQ(-EINVAL, job_parse_file("-", NULL, &j, &e));
	EXPECT_STREQ("<stdin>:1:13: version: unsupported version 3 (this pith reads version 1)",
		     e.msg);
	t_rm_rf(dir);
	free(path);
	free(dir);
}

TEST(missing_job_file_says_so)
{
	struct job *j = NULL;
	struct err e = {};

	ASSERT_EQ(-ENOENT, job_parse_file("/nonexistent/job.json", NULL, &j,
					  &e));
	EXPECT_STREQ("/nonexistent/job.json: cannot open: No such file or directory",
		     e.msg);
}

TEST(oversized_job_file_is_refused_before_parsing)
{
	size_t len = (16u << 20) + 1;
	char *big = malloc(len);
	struct job *j = NULL;
	struct err e = {};

	ASSERT_NE(NULL, big);
	memset(big, ' ', len);
	ASSERT_EQ(-EFBIG, job_parse_string(big, len, "big.json", ".", NULL,
					   &j, &e));
	EXPECT_NE(NULL, strstr(e.msg, "big.json: job file too large"));
	free(big);
}

/* ---- corpora ---- */

static bool ends_with(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);

	return a >= b && strcmp(s + a - b, suffix) == 0;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted names of the files in `dir` ending in `suffix`. */
static size_t list_dir(const char *dir, const char *suffix, char ***ret)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char **v = NULL;
	size_t n = 0;

	if (!d)
		return 0;
	while ((de = readdir(d))) {
		if (!ends_with(de->d_name, suffix))
			continue;
		v = realloc(v, (n + 1) * sizeof(*v));
		ASSERT_NE(NULL, v);
		v[n++] = strdup(de->d_name);
	}
	closedir(d);
	qsort(v, n, sizeof(*v), name_cmp);
	*ret = v;
	return n;
}

/*
 * tests/data/jobs/NAME.json must fail with a message holding the text of
 * NAME.err (one line). Files are checked (against the corpus directory),
 * which also shows that every other error is found before a missing file:
 * the corpus jobs name binaries that do not exist.
 */
TEST(malformed_job_corpus_gives_the_expected_errors)
{
	char *dir = t_strdupf("%s/tests/data/jobs", t_repo_root());
	char **names = NULL;
	size_t n = list_dir(dir, ".json", &names), failed = 0;

	ASSERT_LT(20, n) TH_LOG("corpus %s", dir);
	for (size_t i = 0; i < n; i++) {
		char *path = t_strdupf("%s/%s", dir, names[i]);
		char *errp = t_strdupf("%.*s.err", (int)strlen(path) - 5, path);
		char *want = t_read_file(errp, NULL);
		struct job_parse_opts o = {
			.check_files = true,
			.io_check = accept_file_read,
		};
		struct job *j = NULL;
		struct err e = {};
		int r;

		ASSERT_NE(NULL, want) TH_LOG("%s has no .err file", names[i]);
		want[strcspn(want, "\n")] = '\0';
		r = job_parse_file(path, &o, &j, &e);
		if (r == 0 || !strstr(e.msg, want) || strchr(e.msg, '\n') ||
		    strncmp(e.msg, path, strlen(path)) != 0) {
			TH_LOG("%s: got %s, want '%s'", names[i],
			       r == 0 ? "success" : e.msg, want);
			failed++;
		}
		job_free(j);
		free(want);
		free(errp);
		free(path);
		free(names[i]);
	}
	free(names);
	free(dir);
	EXPECT_EQ(0, failed);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* "<path>:<line>:<col>: " with both numbers >= 1. */
static bool has_position(const char *msg, const char *path)
{
	const char *p = msg + strlen(path);
	char *end;

	if (strncmp(msg, path, strlen(path)) != 0 || *p++ != ':')
		return false;
	if (strtol(p, &end, 10) < 1 || *end != ':')
		return false;
	if (strtol(end + 1, &end, 10) < 1)
		return false;
	return strncmp(end, ": ", 2) == 0;
}

TEST_TIMEOUT(json_test_suite_files_all_end_in_a_positioned_error, 120)
{
	char *dir = t_strdupf("%s/testdata/json-test-suite/test_parsing",
			      t_shared_dir());
	char **names = NULL;
	size_t n, bad = 0, not_job = 0;
	struct stat st;

	if (stat(dir, &st) < 0)
		SKIP(free(dir); return,
		     "JSONTestSuite not found at %s (shared/ beside the checkout, or beside the main checkout of a worktree; or set PITH_SHARED)",
		     dir);
	n = list_dir(dir, ".json", &names);
	ASSERT_LT(300, n);
	for (size_t i = 0; i < n; i++) {
		char *path = t_strdupf("%s/%s", dir, names[i]);
		struct job *j = NULL;
		struct err e = {};
		double t0 = now();
		int r = job_parse_file(path, NULL, &j, &e);
		double dt = now() - t0;

		if (r >= 0 || !has_position(e.msg, path) ||
		    strchr(e.msg, '\n') || strstr(e.msg, "cannot index") ||
		    dt > 1.0) {
			TH_LOG("%s: r=%d %.3fs %s", names[i], r, dt, e.msg);
			bad++;
		}
		if (strstr(e.msg, ": (root): expected an object with \"version\": 1"))
			not_job++;
		job_free(j);
		free(path);
		free(names[i]);
	}
	EXPECT_EQ(0, bad);
	/* The y_ files are valid JSON; most of them must be recognised as
	 * such and refused as jobs rather than as bad JSON. */
	EXPECT_LT(80, not_job);
	free(names);
	free(dir);
}

TEST(deep_nesting_is_refused_without_exhausting_the_stack)
{
	size_t depth = 1000000;
	char *text = malloc(2 * depth);
	struct job *j = NULL;
	struct err e = {};

	ASSERT_NE(NULL, text);
	memset(text, '[', depth);
	memset(text + depth, ']', depth);
	ASSERT_EQ(-EINVAL, job_parse_string(text, 2 * depth, "deep.json", ".",
					    NULL, &j, &e));
	EXPECT_NE(NULL, strstr(e.msg, "maximum parsing depth")) TH_LOG("%s", e.msg);
	free(text);
}

/* ---- input items one by one (parse.c) against the whole tree ---- */

static bool str_eq(const char *a, const char *b)
{
	return a == b || (a && b && !strcmp(a, b));
}

static bool bytes_eq(const void *a, size_t alen, const void *b, size_t blen)
{
	return alen == blen && (!alen || !memcmp(a, b, alen)) && !a == !b;
}

/* Whether two parses made the same job; logs the first difference. */
static bool jobs_equal(const struct job *a, const struct job *b)
{
#define SAME(x) \
	do { if (!(x)) { TH_LOG("differ: %s", #x); return false; } } while (0)
	SAME(str_eq(a->name, b->name) && str_eq(a->dir, b->dir) &&
	     str_eq(a->path, b->path));
	SAME(a->n_functions == b->n_functions && a->n_inputs == b->n_inputs &&
	     a->n_stages == b->n_stages && a->n_outputs == b->n_outputs &&
	     a->n_allow_hosts == b->n_allow_hosts &&
	     a->n_require == b->n_require);
	for (size_t i = 0; i < a->n_functions; i++) {
		const struct job_function *f = &a->functions[i],
					  *g = &b->functions[i];

		SAME(str_eq(f->name, g->name) && str_eq(f->binary, g->binary) &&
		     f->memory == g->memory && f->timeout_ms == g->timeout_ms &&
		     f->fresh == g->fresh && f->n_args == g->n_args &&
		     f->n_env == g->n_env && f->seed == g->seed &&
		     f->time_ns == g->time_ns);
	}
	for (size_t i = 0; i < a->n_inputs; i++) {
		const struct job_input *x = &a->inputs[i], *y = &b->inputs[i];

		SAME(str_eq(x->name, y->name) && x->n_items == y->n_items);
		for (size_t k = 0; k < x->n_items; k++) {
			const struct job_item *p = &x->items[k],
					      *q = &y->items[k];

			SAME(str_eq(p->name, q->name) && p->keyed == q->keyed &&
			     p->key == q->key && p->source == q->source &&
			     str_eq(p->path, q->path) &&
			     bytes_eq(p->data, p->len, q->data, q->len));
		}
	}
	for (size_t i = 0; i < a->n_stages; i++) {
		const struct job_stage *s = &a->stages[i], *t = &b->stages[i];

		SAME(str_eq(s->name, t->name) &&
		     str_eq(s->function, t->function) && str_eq(s->io, t->io) &&
		     s->function_index == t->function_index &&
		     s->n_inputs == t->n_inputs &&
		     s->n_outputs == t->n_outputs && a->order[i] == b->order[i] &&
		     !memcmp(&s->policy, &t->policy, sizeof(s->policy)));
		for (size_t k = 0; k < s->n_inputs; k++)
			SAME(str_eq(s->inputs[k].param, t->inputs[k].param) &&
			     str_eq(s->inputs[k].from, t->inputs[k].from) &&
			     s->inputs[k].ref.stage == t->inputs[k].ref.stage &&
			     s->inputs[k].ref.index == t->inputs[k].ref.index &&
			     s->inputs[k].mode == t->inputs[k].mode &&
			     s->inputs[k].fold == t->inputs[k].fold);
	}
	for (size_t i = 0; i < a->n_outputs; i++)
		SAME(str_eq(a->outputs[i].name, b->outputs[i].name) &&
		     str_eq(a->outputs[i].from, b->outputs[i].from) &&
		     a->outputs[i].ref.stage == b->outputs[i].ref.stage &&
		     a->outputs[i].ref.index == b->outputs[i].ref.index);
	return true;
#undef SAME
}

/*
 * Parse `text` (or the file `path` when text is NULL) both ways: the same
 * result, message, error parts and job. `show` names the case in the log.
 */
/* Cases both ways parsed into the same job (not the same error). */
static size_t both_ways_parsed;

static bool both_ways_agree(const char *text, size_t len, const char *path,
			    const struct job_parse_opts *base, const char *show)
{
	struct job_error ea = {}, eb = {};
	struct job_parse_opts oa = *base, ob = *base;
	struct job *ja = NULL, *jb = NULL;
	struct err e1 = {}, e2 = {};
	int ra, rb;
	bool same;

	oa.error = &ea;
	ob.error = &eb;
	ob.whole_tree = true;
	if (text) {
		ra = job_parse_string(text, len, "job.json", ".", &oa, &ja, &e1);
		rb = job_parse_string(text, len, "job.json", ".", &ob, &jb, &e2);
	} else {
		ra = job_parse_file(path, &oa, &ja, &e1);
		rb = job_parse_file(path, &ob, &jb, &e2);
	}
	same = ra == rb && (ra == 0 || (!strcmp(e1.msg, e2.msg) &&
					 !memcmp(&ea, &eb, sizeof(ea))));
	if (!same)
		TH_LOG("%s: %d '%s' (%d:%d '%s' '%s'), whole tree: %d '%s' (%d:%d '%s' '%s')",
		       show, ra, e1.msg, ea.line, ea.column, ea.path, ea.message,
		       rb, e2.msg, eb.line, eb.column, eb.path, eb.message);
	if (same && ra == 0) {
		same = jobs_equal(ja, jb);
		if (!same)
			TH_LOG("%s: the jobs differ", show);
		both_ways_parsed += same;
	}
	job_free(ja);
	job_free(jb);
	return same;
}

/* Every byte of base deleted, replaced by and preceded by each of bytes:
 * adds the cases that do not agree to *bad, all to *cases; -ENOMEM. */
static int mutations_agree(const char *base, const char *bytes, size_t *bad,
			   size_t *cases)
{
	size_t n = strlen(base), nb = strlen(bytes);
	char *buf = malloc(n + 2);

	if (!buf)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		memcpy(buf, base, i);
		memcpy(buf + i, base + i + 1, n - i - 1);
		*bad += !both_ways_agree(buf, n - 1, NULL, &with_io, "deleted");
		++*cases;
		for (size_t k = 0; k < nb; k++) {
			char show[64];

			memcpy(buf, base, n);
			buf[i] = bytes[k];
			snprintf(show, sizeof(show), "byte %zu = 0x%02x", i,
				 (unsigned char)bytes[k]);
			*bad += !both_ways_agree(buf, n, NULL, &with_io, show);
			memcpy(buf, base, i);
			buf[i] = bytes[k];
			memcpy(buf + i + 1, base + i, n - i);
			snprintf(show, sizeof(show), "0x%02x before byte %zu",
				 (unsigned char)bytes[k], i);
			*bad += !both_ways_agree(buf, n + 1, NULL, &with_io, show);
			*cases += 2;
		}
	}
	free(buf);
	return 0;
}

/* Every byte of a job with items deleted, replaced and preceded by bytes
 * that matter to JSON's structure: the same errors, positions and jobs. */
TEST(items_one_by_one_and_whole_tree_agree_on_every_mutation)
{
	static const char base[] =
		"{\"version\": 1, \"name\": \"m\",\n"
		" \"functions\": {\"f\": {\"binary\": \"f\"}},\n"
		" \"inputs\": {\"a\": [{\"name\": \"x\\u00e9\", \"data\": \"d\\n1\", \"key\": 3},\n"
		"   {\"name\": \"y\", \"base64\": \"AAEC\"}, {\"name\": \"z\", \"file\": \"z.txt\"}],\n"
		"  \"b\": [], \"c\": [ {\"name\": \"w\", \"data\": \"\"} ]},\n"
		" \"stages\": [{\"name\": \"s\", \"function\": \"f\",\n"
		"   \"inputs\": {\"p\": {\"from\": \"a\", \"mode\": \"each\"}}, \"outputs\": [\"o\"]}],\n"
		" \"outputs\": {\"r\": \"s.o\"}}\n";
	static const char bytes[] = "\"\\,[]{}: 1x\n\xc3\x01-";
	size_t n = strlen(base), bad = 0, cases = 0;

	ASSERT_TRUE(both_ways_agree(base, n, NULL, &with_io, "base"));
	ASSERT_EQ(0, mutations_agree(base, bytes, &bad, &cases));
	TH_LOG("%zu mutations", cases);
	EXPECT_EQ(0u, bad);
}

/* What the scan of the item arrays could get wrong, spelt out. */
TEST(items_one_by_one_and_whole_tree_agree_on_odd_shapes)
{
	static const char *const cases[] = {
		/* "inputs" twice, or spelt with an escape */
		HEAD FN "\"inputs\": {\"a\": [{\"name\": \"x\", \"data\": \"\"}]}, \"inputs\": {}}",
		HEAD FN "\"\\u0069nputs\": {\"a\": [{\"name\": \"x\", \"data\": \"\"}]}}",
		HEAD FN "\"inputs\": {\"a\": [{\"name\": \"x\", \"data\": \"\"}], \"a\": []}}",
		/* duplicate names across and within elements, keys */
		HEAD FN "\"inputs\": {\"a\": [{\"name\": \"x\", \"data\": \"\"}, {\"name\": \"x\", \"data\": \"\"}]}}",
		HEAD FN "\"inputs\": {\"a\": [{\"name\": \"x\", \"name\": \"y\", \"data\": \"\"}]}}",
		HEAD FN "\"inputs\": {\"a\": [{\"name\": \"x\", \"data\": \"\", \"key\": 18446744073709551615}]}}",
		HEAD FN "\"inputs\": {\"a\": [{\"name\": \"x\", \"data\": \"\", \"key\": 1e3}]}}",
		/* elements that are not objects, brackets in strings */
		HEAD FN "\"inputs\": {\"a\": [1, \"]\", [], {}, null]}}",
		HEAD FN "\"inputs\": {\"a\": [{\"name\": \"]}[{\", \"data\": \"\\\"]\"}]}}",
		HEAD FN "\"inputs\": {\"a\": [{\"name\": \"x\", \"data\": \"\"}}]}",
		HEAD FN "\"inputs\": {\"a\": [{\"name\": \"x\", \"data\": \"\"]]}}",
		HEAD FN "\"inputs\": {\"a\": [{\"name\": \"x\", \"data\": \"\"},]}}",
		HEAD FN "\"inputs\": {\"a\": [,{\"name\": \"x\", \"data\": \"\"}]}}",
		HEAD FN "\"inputs\": {\"a\": [{\"name\": \"x\", \"data\": \"\"} {\"name\": \"y\", \"data\": \"\"}]}}",
		HEAD FN "\"inputs\": {\"a\": [tru, nul]}}",
		HEAD FN "\"inputs\": {\"a\": [{\"name\": \"x\", \"data\": \"\\ud800\"}]}}",
		HEAD FN "\"inputs\": {\"a\": [{\"name\": \"x\", \"data\": \"\\u0000\"}]}}",
		HEAD FN "\"inputs\": {\"a\": [{\"name\": \"x\\u0000\", \"data\": \"\"}]}}",
		HEAD FN "\"inputs\": {\"a\": [{\"name\": \"x\", \"data\": \"\xff\"}]}}",
		/* sets that are not arrays, arrays elsewhere */
		HEAD FN "\"inputs\": {\"a\": {}, \"b\": [{\"name\": \"x\", \"data\": \"\"}]}}",
		HEAD FN "\"inputs\": [[{\"name\": \"x\", \"data\": \"\"}]]}",
		HEAD FN "\"inputs\": {\"a\": [{\"name\": \"x\", \"data\": \"\"}]}} trailing",
		HEAD FN "\"inputs\": {\"a\": [{\"name\": \"x\", \"data\": \"\"}]}",
		/* a set no stage reads, and one read keyed without keys */
		HEAD FN "\"inputs\": {\"a\": [{\"name\": \"x\", \"data\": \"\"}]},\n"
		"\"stages\": [{\"name\": \"s\", \"function\": \"f\", \"inputs\": {\"p\": {\"from\": \"a\", \"mode\": \"keyed\"}}, \"outputs\": [\"o\"]}]}",
	};
	size_t bad = 0;

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		char show[32];

		snprintf(show, sizeof(show), "case %zu", i);
		bad += !both_ways_agree(cases[i], strlen(cases[i]), NULL,
					&with_io, show);
	}
	EXPECT_EQ(0u, bad);
}

/* The items items.c decodes without jansson (plain_item()) and those
 * just past what it takes: every escape it decodes, each rule an item
 * breaks, whitespace, and every byte of a job of such items mutated. */
TEST(plain_items_and_whole_tree_agree)
{
#define SET(items)                                                              \
	HEAD FN "\"inputs\": {\"a\": [" items "]},\n"                        \
	"\"stages\": [{\"name\": \"s\", \"function\": \"f\", \"inputs\": " \
	"{\"p\": {\"from\": \"a\", \"mode\": \"each\"}}, \"outputs\": [\"o\"]}],\n" \
	"\"outputs\": {\"r\": \"s.o\"}}"
	static const char *const cases[] = {
		SET("{\"name\": \"x\", \"data\": \"q\\\"b\\\\s\\/b\\bf\\fn\\nr\\rt\\t\"}"),
		SET("{\"name\": \"\\t\\\"\", \"file\": \"d\\/f.txt\"}"),
		SET("{\"name\": \"x\", \"base64\": \"AAEC\"}, {\"name\": \"y\", \"base64\": \"\"}"),
		SET("{\"name\": \"x\", \"base64\": \"\\/w==\"}"),
		SET("{\"name\": \"x\", \"base64\": \"AAE\"}"),
		SET("{\"name\": \"x\", \"base64\": \"AAF=\"}"),
		SET("{\"name\": \"x\", \"base64\": \"A A=\"}"),
		SET("{\"name\": \"x\", \"file\": \"\"}"),
		SET("{\"name\": \"\", \"data\": \"\"}"),
		SET("{\"name\": \".\", \"data\": \"\"}, {\"name\": \"..\", \"data\": \"\"}"),
		SET("{\"name\": \"...\", \"data\": \"\"}"),
		SET("{\"name\": \"a/b\", \"data\": \"\"}"),
		SET("{\"name\": \"\\/\", \"data\": \"\"}"),
		SET("{\"name\": \"x\"}"),
		SET("{\"data\": \"x\"}"),
		SET("{\"name\": \"x\", \"data\": \"\", \"file\": \"f\"}"),
		SET("{\"name\": \"x\", \"data\": \"\", \"data\": \"\"}"),
		SET("{\"name\": \"x\", \"name\": \"x\", \"data\": \"\"}"),
		SET("{\"name\": \"x\", \"data\": \"\"}, {\"name\": \"x\", \"file\": \"f\"}"),
		SET("{\"name\": \"x\", \"data\": \"\"}, {\"name\": \"\\u0078\", \"data\": \"\"}"),
		SET("{\"na\\u006de\": \"x\", \"data\": \"\"}"),
		SET("{\"name\": \"x\", \"dat\\u0061\": \"\"}"),
		SET("{\"nam\\e\": \"x\", \"data\": \"\"}"),
		SET("{\"name\": \"x\", \"data\": \"\\x\"}"),
		SET("{\"name\": \"x\", \"data\": \"\\\"}"),
		SET("{\"name\": \"x\", \"data\": 1}"),
		SET("{\"name\": \"x\", \"data\": null}"),
		SET("{\"name\": \"x\", \"other\": \"\"}"),
		SET("{\"name\": \"x\", \"data\": \"\", \"key\": 7}"),
		SET("{ \t\r\n\"name\" \t\r\n: \t\r\n\"x\" \t\r\n, \t\r\n\"data\" \t\r\n: \t\r\n\"\" \t\r\n}"),
		SET("{\"name\": \"x\", \"data\": \"\",}"),
		SET("{\"name\": \"x\" \"data\": \"\"}"),
		SET("{\"name\": \"x\", \"data\": \"\"}}"),
		SET("{\"name\": \"x\", \"data\": \"\" }"),
		SET("{\"name\": \"x\", \"data\": \"a\x7f\"}"),
		SET("{\"name\": \"x\", \"data\": \"a\x1f\"}"),
		SET("{\"name\": \"x\", \"data\": \"\xc3\xa9\"}"),
		SET("{\"name\": \"x\", \"data\": \"\xc3\"}"),
		SET("{\"name\": \"x\", \"data\": \"\\u00e9\"}"),
	};
	static const char base[] =
		SET("{\"name\": \"x\", \"data\": \"d\\n\\\"1\\/\"}, {\"name\": \"y\", \"base64\": \"AAEC\"},\n"
		    " {\"name\": \"z\\t\", \"file\": \"z.txt\"}, {\"name\": \"w\",\"data\":\"\"}");
	static const char bytes[] = "\"\\,[]{}: 1x\n\xc3\x01-/.=tnub";
	char long_name[800];
	size_t bad = 0, n = strlen(base), cases_n = 0, parsed;

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		char show[32];

		snprintf(show, sizeof(show), "case %zu", i);
		bad += !both_ways_agree(cases[i], strlen(cases[i]), NULL,
					&with_io, show);
	}
	for (size_t len = 254; len <= 256; len++) {
		char name[260];

		memset(name, 'n', len);
		name[len] = '\0';
		snprintf(long_name, sizeof(long_name),
			 SET("{\"name\": \"%s\", \"data\": \"\"}"), name);
		bad += !both_ways_agree(long_name, strlen(long_name), NULL,
					&with_io, "long name");
	}
	EXPECT_LT(ARRAY_SIZE(cases) / 3, both_ways_parsed);
	ASSERT_TRUE(both_ways_agree(base, n, NULL, &with_io, "base"));
	parsed = both_ways_parsed;
	ASSERT_EQ(0, mutations_agree(base, bytes, &bad, &cases_n));
	parsed = both_ways_parsed - parsed;
	TH_LOG("%zu mutations, %zu of them parsed", cases_n, parsed);
	EXPECT_EQ(0u, bad);
	/* The base's own mutations that still parse: many, or the test
	 * compares only errors. */
	EXPECT_LT(n, parsed);
#undef SET
}

/* An item nested around jansson's depth limit (2048): refused as deep
 * JSON by both ways, not accepted alone as an element. */
TEST(items_one_by_one_and_whole_tree_agree_at_the_depth_limit)
{
	for (size_t depth = 2040; depth <= 2050; depth++) {
		size_t n = 0, cap = 2 * depth + 256;
		char *t = malloc(cap), show[32];

		ASSERT_NE(NULL, t);
		n += snprintf(t, cap, "{\"version\": 1, \"inputs\": {\"a\": [");
		memset(t + n, '[', depth);
		memset(t + n + depth, ']', depth);
		n += 2 * depth;
		n += snprintf(t + n, cap - n, "]}}");
		snprintf(show, sizeof(show), "depth %zu", depth);
		EXPECT_TRUE(both_ways_agree(t, n, NULL, &with_io, show));
		free(t);
	}
}

/* Every job pith ships or tests with, valid or not, checked as pith run
 * checks it (files, binaries' presence). */
TEST(items_one_by_one_and_whole_tree_agree_on_every_job_file)
{
	static const char *const dirs[] = { "tests/data/jobs" };
	struct job_parse_opts o = { .check_files = true,
				    .io_check = accept_file_read,
				    .io_policy_check = accept_policy };
	size_t bad = 0, files = 0;

	for (size_t d = 0; d < ARRAY_SIZE(dirs); d++) {
		char *dir = t_strdupf("%s/%s", t_repo_root(), dirs[d]);
		char **names = NULL;
		size_t n = list_dir(dir, ".json", &names);

		for (size_t i = 0; i < n; i++) {
			char *path = t_strdupf("%s/%s", dir, names[i]);

			bad += !both_ways_agree(NULL, 0, path, &o, path);
			files++;
			free(path);
			free(names[i]);
		}
		free(names);
		free(dir);
	}
	for (const char *const *ex = (const char *const[]){
		     "fetch-summary", "logstats", "lua", "matmul", "sqlite",
		     "wordcount", "zlib", NULL };
	     *ex; ex++) {
		char *path = t_strdupf("%s/examples/%s/job.json", t_repo_root(),
				       *ex);
		struct stat st;

		if (stat(path, &st) == 0) {
			bad += !both_ways_agree(NULL, 0, path, &o, path);
			files++;
		}
		free(path);
	}
	TH_LOG("%zu job files", files);
	EXPECT_LT(80u, files);
	EXPECT_EQ(0u, bad);
}

/* The CPU time of this thread, in seconds: a parse's own work, whatever
 * else the machine runs (wall time, with make check's other programs and
 * other builds beside it, made one parse of two 3x slower than its twin). */
static double thread_cpu_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* One parse of text, one by one or as a whole tree: its CPU seconds, or
 * -1 when it fails. */
static double parse_seconds(const char *text, size_t len, bool whole_tree)
{
	struct job_parse_opts o = { .whole_tree = whole_tree };
	struct job *j = NULL;
	struct err e = {};
	double t0 = thread_cpu_seconds(), dt;

	if (job_parse_string(text, len, "sets.json", ".", &o, &j, &e) < 0) {
		TH_LOG("%s", e.msg);
		return -1;
	}
	dt = thread_cpu_seconds() - t0;
	job_free(j);
	return dt;
}

#define SETS_ROUNDS 5

/* Each set finds its cut at once: a job of 100,000 (empty) sets parses
 * about as fast one by one as whole, not in time quadratic in the sets
 * (searching the cuts from the first for each set took 3.7 s of CPU
 * against the whole tree's 0.19 s). The best of 5 alternated rounds each, in CPU time: a round
 * slowed by the machine slows one of each kind, not every one of one. */
TEST(items_one_by_one_take_time_linear_in_the_sets)
{
	size_t cap = 100000 * 16 + 512, n = 0;
	char *t = malloc(cap);
	double cut = 1e9, whole = 1e9;

	ASSERT_NE(NULL, t);
	n += snprintf(t, cap, "{\"version\": 1, \"name\": \"sets\", " FN "\"inputs\": {");
	for (size_t i = 0; i < 100000; i++)
		n += snprintf(t + n, cap - n, "%s\"s%zu\": []", i ? ", " : "", i);
	n += snprintf(t + n, cap - n, "}, \"stages\": [{\"name\": \"s\", \"function\": \"f\", "
		      "\"inputs\": {\"p\": {\"from\": \"s0\"}}, \"outputs\": [\"o\"]}]}");
	for (int i = 0; i < SETS_ROUNDS; i++) {
		double c = parse_seconds(t, n, false);
		double w = parse_seconds(t, n, true);

		ASSERT_LT(0, c);
		ASSERT_LT(0, w);
		cut = MIN(cut, c);
		whole = MIN(whole, w);
	}
	TH_LOG("100,000 sets, CPU time, best of %d alternated rounds: one by one %.3f s, whole tree %.3f s",
	       SETS_ROUNDS, cut, whole);
	EXPECT_LT(cut, 3 * whole + 0.05);
	free(t);
}

static long status_kib(const char *field)
{
	char *s = t_read_file("/proc/self/status", NULL), *p;
	long v = -1;

	if (!s)
		return -1;
	p = strstr(s, field);
	if (p)
		v = strtol(p + strlen(field) + 1, NULL, 10);
	free(s);
	return v;
}

/* The peak of parsing a job of 50,000 inline items, by VmHWM reset with
 * clear_refs: items one by one take less than three times the text (the
 * items made, ~150 bytes each, and their name table), the whole tree (as
 * before them: ~560 bytes per item object) far more. */
static long parse_peak_kib(const char *text, size_t len, bool whole_tree)
{
	struct job_parse_opts o = { .whole_tree = whole_tree };
	struct job *j = NULL;
	struct err e = {};
	long before;
	int fd = open("/proc/self/clear_refs", O_WRONLY | O_CLOEXEC);

	if (fd < 0 || write(fd, "5", 1) != 1) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	close(fd);
	before = status_kib("VmRSS:");
	if (job_parse_string(text, len, "big.json", ".", &o, &j, &e) < 0) {
		TH_LOG("%s", e.msg);
		return -1;
	}
	if (j->inputs[0].n_items != 50000)
		return -1;
	job_free(j);
	return status_kib("VmHWM:") - before;
}

TEST(items_one_by_one_keep_the_parse_peak_near_the_text)
{
	size_t cap = 50000 * 128 + 256, n = 0;
	char *t = malloc(cap);
	long cut, whole, text_kib;

	ASSERT_NE(NULL, t);
	n += snprintf(t, cap, "{\"version\": 1, \"name\": \"big\", \"inputs\": {\"requests\": [");
	for (size_t i = 0; i < 50000; i++)
		n += snprintf(t + n, cap - n, "%s{\"name\": \"%05zu.log\", \"data\": \"GET http://127.0.0.1:8080/logs/%05zu.log HTTP/1.1\\r\\n\\r\\n\"}",
			      i ? ", " : "", i, i);
	n += snprintf(t + n, cap - n, "]}, \"functions\": {\"f\": {\"binary\": \"f\"}}, "
		      "\"stages\": [{\"name\": \"s\", \"function\": \"f\", \"inputs\": "
		      "{\"r\": {\"from\": \"requests\", \"mode\": \"each\"}}, \"outputs\": [\"o\"]}]}");
	text_kib = n / 1024;
	/* One by one first: the whole tree's freed blocks would be reused. */
	cut = parse_peak_kib(t, n, false);
	whole = parse_peak_kib(t, n, true);
	if (cut < 0 || whole < 0)
		SKIP(free(t); return, "no /proc/self/clear_refs or VmHWM");
	TH_LOG("text %ld KiB, peak growth one by one %ld KiB, whole tree %ld KiB",
	       text_kib, cut, whole);
#ifndef __SANITIZE_ADDRESS__ /* its redzones double small blocks */
	EXPECT_LT(cut, 3 * text_kib);
#endif
	EXPECT_LT(2 * cut, whole);
	free(t);
}

/* ---- documentation ---- */

TEST(schema_is_valid_json_of_draft_2020_12)
{
	char *path = t_strdupf("%s/Documentation/job.schema.json",
			       t_repo_root());
	json_error_t je;
	/* The key maximum, 2^64 - 1, does not fit jansson's integers. */
	json_t *s = json_load_file(path, JSON_REJECT_DUPLICATES | JSON_DECODE_INT_AS_REAL,
				   &je);

	ASSERT_NE(NULL, s) TH_LOG("%s:%d:%d: %s", path, je.line, je.column,
				  je.text);
	EXPECT_STREQ("https://json-schema.org/draft/2020-12/schema",
		     json_string_value(json_object_get(s, "$schema")));
	/* Every top-level key the schema names is one the parser accepts. */
	json_t *props = json_object_get(s, "properties");
	const char *key;
	json_t *v;

	ASSERT_NE(NULL, props);
	json_object_foreach(props, key, v) {
		char *job = t_strdupf("{\"version\": 1, \"%s\": 0}", key);
		char *msg = parse_error(job, &no_files);

		ASSERT_NE(NULL, msg);
		EXPECT_NULL(strstr(msg, "unknown key")) TH_LOG("%s", msg);
		free(msg);
		free(job);
	}
	json_decref(s);
	free(path);
}

/* The JSON block after "<!-- example -->" in job-format.md must parse. */
TEST(documented_example_parses)
{
	char *path = t_strdupf("%s/Documentation/job-format.md", t_repo_root());
	char *doc = t_read_file(path, NULL);
	char *start, *end;
	struct job *j;

	ASSERT_NE(NULL, doc) TH_LOG("%s", path);
	start = strstr(doc, "<!-- example -->");
	ASSERT_NE(NULL, start);
	start = strstr(start, "```json\n");
	ASSERT_NE(NULL, start);
	start += 8;
	end = strstr(start, "```");
	ASSERT_NE(NULL, end);
	*end = '\0';
	j = parse_ok(start, &with_io);
	EXPECT_LT(1, j->n_stages);
	job_free(j);
	free(doc);
	free(path);
}

TEST_HARNESS_MAIN
