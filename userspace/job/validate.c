// SPDX-License-Identifier: MIT
/* Turning a parsed job document into a struct job, checking every rule. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "job/validate.h"
#include "job/walk.h"
#include "lib/hostport.h"
#include "lib/units.h"

#define NAME_RULE "names are 1 to 64 characters from A-Z a-z 0-9 _ -"
#define MEMORY_MIN (64ull << 10)
#define MEMORY_MAX (4ull << 30)
#define TIMEOUT_MAX_MS 3600000ull
#define CONCURRENCY_MAX 4096
#define RETRIES_MAX 10
#define ALLOW_HOSTS_MAX 1024

static const char *const root_keys[] = { "version", "name",   "functions",
					 "inputs",  "stages", "outputs",
					 "allow_hosts", "require", NULL };
static const char *const function_keys[] = { "binary", "memory", "timeout",
					      "args",	"env",	  "seed",
					      "time",	"fresh",  NULL };
static const char *const stage_keys[] = { "name",	  "function", "io",
					  "inputs",	  "outputs",  "concurrency",
					  "retries",	  "timeout",  "backoff",
					  NULL };
/* The I/O policy keys of a stage, in stage_keys. */
static const char *const policy_keys[] = { "concurrency", "retries", "timeout",
					   "backoff", NULL };
static const char *const stage_input_keys[] = { "from", "mode", "fold", NULL };

int job_table_add(json_t *t, const char *name, size_t index)
{
	return json_object_set_new(t, name, json_integer(index)) < 0 ? -ENOMEM
								      : 0;
}

static int table_get(json_t *t, const char *name, size_t len)
{
	json_t *v = json_object_getn(t, name, len);

	return v ? (int)json_integer_value(v) : -1;
}

static int dup_str(const char *s, size_t len, char **ret)
{
	*ret = strndup(s, len);
	return *ret ? 0 : -ENOMEM;
}

/* A string member that must be a name; *ret is a copy. */
static int member_name(struct jctx *c, const struct jnode *obj,
		       const char *key, const char *what, char **ret,
		       struct jnode *ret_node)
{
	const char *s;
	int r;

	r = jmember_typed(c, obj, key, JSON_STRING, what, true, ret_node);
	if (r < 0)
		return r;
	s = json_string_value(ret_node->v);
	if (!job_name_valid(s, json_string_length(ret_node->v))) {
		char q[JQUOTE_MAX];

		return jerr(c, ret_node, "invalid name %s: " NAME_RULE,
			    jquote(q, sizeof(q), s,
				   json_string_length(ret_node->v), false));
	}
	return dup_str(s, strlen(s), ret);
}

int job_key_name(struct jctx *c, const struct jiter *it, const struct jnode *m,
		 const char *what, char **ret)
{
	char q[JQUOTE_MAX];

	if (!job_name_valid(it->key, it->keylen))
		return jerr_key(c, m, "invalid %s name %s: " NAME_RULE, what,
				jquote(q, sizeof(q), it->key, it->keylen,
				       false));
	return dup_str(it->key, it->keylen, ret);
}

static int check_file(struct jctx *c, const struct jnode *n, const char *path,
		      const char *what)
{
	_cleanup_close_ int fd = -1;
	char q[JQUOTE_MAX];
	struct stat st;

	if (!c->opts || !c->opts->check_files)
		return 0;
	fd = openat(c->dirfd, path,
		    O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		int err = errno;

		return jerr(c, n, "cannot open %s %s%s%s: %s", what,
			    jquote(q, sizeof(q), path, strlen(path), false),
			    path[0] == '/' ? "" : " in ",
			    path[0] == '/' ? "" : c->dir, strerror(err));
	}
	if (!S_ISREG(st.st_mode))
		return jerr(c, n, "%s %s is not a regular file", what,
			    jquote(q, sizeof(q), path, strlen(path), false));
	return 0;
}

static int check_binary(struct jctx *c, const struct jnode *n,
			const char *path, uint64_t memory)
{
	struct err be = {};
	char q[JQUOTE_MAX];
	int r;

	if (!c->opts->binary_check)
		return 0;
	r = c->opts->binary_check(c->dirfd, path, memory, &be);
	if (r < 0)
		return jerr(c, n, "%s: %s",
			    jquote(q, sizeof(q), path, strlen(path), false),
			    be.msg);
	return 0;
}

int job_number_u64(struct jctx *c, const struct jnode *n, const char *what,
		   uint64_t *ret)
{
	size_t off = c->pos.v[n->t].off, len = pos_number_len(&c->pos, off);
	const char *t = c->pos.text + off;
	bool digits = len > 0;
	char buf[24];
	char *end;

	for (size_t i = 0; i < len; i++)
		digits = digits && t[i] >= '0' && t[i] <= '9';
	if (!json_is_number(n->v) || !digits)
		return jerr(c, n, "expected %s", what);
	if (len > 20)
		goto range;
	memcpy(buf, t, len);
	buf[len] = '\0';
	errno = 0;
	*ret = strtoull(buf, &end, 10);
	if (errno == 0 && *end == '\0')
		return 0;
range:
	return jerr(c, n, "%s: %.*s%s is out of range (at most %llu)", what,
		    (int)MIN(len, (size_t)24), t, len > 24 ? "..." : "",
		    (unsigned long long)UINT64_MAX);
}

static int parse_memory(struct jctx *c, const struct jnode *n, uint64_t *ret)
{
	char q[JQUOTE_MAX];
	const char *s = json_string_value(n->v);
	int r;

	if (json_is_number(n->v)) {
		r = job_number_u64(c, n, "a size in bytes", ret);
		if (r < 0)
			return r;
	} else if (!s) {
		return jerr(c, n, "expected a size such as \"16MiB\"");
	} else {
		r = parse_size(s, ret);
		if (r < 0 || strlen(s) != json_string_length(n->v))
			return jerr(c, n,
				    "invalid size %s (write e.g. \"64KiB\", \"16MiB\", \"1GiB\" or a number of bytes)",
				    jquote(q, sizeof(q), s,
					   json_string_length(n->v), false));
	}
	if (*ret % 4096)
		return jerr(c, n, "memory must be a multiple of 4096 bytes (the page size), not %llu",
			    (unsigned long long)*ret);
	if (*ret < MEMORY_MIN || *ret > MEMORY_MAX)
		return jerr(c, n, "memory must be between 64KiB and 4GiB, not %llu bytes",
			    (unsigned long long)*ret);
	return 0;
}

static int parse_timeout(struct jctx *c, const struct jnode *n,
			 const char *what, uint64_t *ret)
{
	char q[JQUOTE_MAX];
	const char *s = json_string_value(n->v);
	int r;

	if (!s)
		return jerr(c, n, "expected a duration such as \"2s\"");
	r = parse_duration_ms(s, ret);
	if (r < 0 || strlen(s) != json_string_length(n->v))
		return jerr(c, n, "invalid duration %s (write e.g. \"150ms\", \"2s\", \"1.5s\", \"1m\")",
			    jquote(q, sizeof(q), s, json_string_length(n->v),
				   false));
	if (*ret < 1 || *ret > TIMEOUT_MAX_MS)
		return jerr(c, n, "%s must be between 1ms and 1h (60m)", what);
	return 0;
}

/* A string that may be empty but holds no NUL: an argument or a value. */
static int arg_string(struct jctx *c, const struct jnode *n, const char *what,
		      size_t *bytes, const char **ret)
{
	const char *s = json_string_value(n->v);
	size_t len = json_string_length(n->v);

	if (!s)
		return jerr(c, n, "expected %s", what);
	if (strlen(s) != len)
		return jerr(c, n, "%s cannot contain a NUL character", what);
	*bytes += len + 1;
	if (*bytes > JOB_ARGS_BYTES)
		return jerr(c, n, "\"args\" and \"env\" hold more than %u bytes",
			    JOB_ARGS_BYTES);
	*ret = s;
	return 0;
}

/* "args": ["-v", "/in/data/x"], "env": {"LANG": "C"}. */
static int parse_args_env(struct jctx *c, const struct jnode *m,
			  struct job_function *f)
{
	struct jiter it = {};
	struct jnode n, e;
	size_t bytes = 0;
	const char *s;
	int r;

	r = jmember_typed(c, m, "args", JSON_ARRAY,
			  "an array of strings (argv[1], argv[2], ...)", false,
			  &n);
	if (r == 0) {
		if (json_array_size(n.v) > JOB_ARGS_MAX)
			return jerr(c, &n, "more than %u args", JOB_ARGS_MAX);
		f->args = calloc(json_array_size(n.v) + 1, sizeof(char *));
		if (!f->args)
			return -ENOMEM;
		while (jnode_next(c, &n, &it, &e)) {
			r = arg_string(c, &e, "a string", &bytes, &s);
			if (r < 0)
				return r;
			r = dup_str(s, strlen(s), &f->args[f->n_args]);
			if (r < 0)
				return r;
			f->n_args++;
		}
	} else if (r != -ENOENT) {
		return r;
	}
	r = jmember_typed(c, m, "env", JSON_OBJECT,
			  "an object of strings such as {\"LANG\": \"C\"}",
			  false, &n);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return r;
	if (json_object_size(n.v) > JOB_ARGS_MAX)
		return jerr(c, &n, "more than %u env variables", JOB_ARGS_MAX);
	f->env = calloc(json_object_size(n.v) + 1, sizeof(char *));
	if (!f->env)
		return -ENOMEM;
	memset(&it, 0, sizeof(it));
	while (jnode_next(c, &n, &it, &e)) {
		char q[JQUOTE_MAX];

		if (!it.keylen || memchr(it.key, '=', it.keylen) ||
		    strlen(it.key) != it.keylen)
			return jerr_key(c, &e,
					"invalid variable name %s: not empty, no '=' and no NUL",
					jquote(q, sizeof(q), it.key, it.keylen,
					       false));
		r = arg_string(c, &e, "a string", &bytes, &s);
		if (r < 0)
			return r;
		bytes += it.keylen + 1;
		if (asprintf(&f->env[f->n_env], "%.*s=%s", (int)it.keylen,
			     it.key, s) < 0)
			return -ENOMEM;
		f->n_env++;
	}
	return 0;
}

static int parse_function(struct build *b, const struct jiter *it,
			  const struct jnode *m, struct job_function *f)
{
	struct jctx *c = b->c;
	struct jnode n;
	const char *s;
	int r;

	r = job_key_name(c, it, m, "function", &f->name);
	if (r < 0)
		return r;
	if (!json_is_object(m->v))
		return jerr(c, m, "expected an object such as {\"binary\": \"functions/%s\"}",
			    f->name);
	r = jcheck_keys(c, m, function_keys);
	if (r < 0)
		return r;
	r = jmember_typed(c, m, "binary", JSON_STRING,
			  "the path of the function's ELF file", true, &n);
	if (r >= 0)
		r = jstring_plain(c, &n, "a binary path", &s);
	if (r < 0)
		return r;
	r = dup_str(s, strlen(s), &f->binary);
	if (r < 0)
		return r;
	f->memory = JOB_DEFAULT_MEMORY;
	if (jnode_member(c, m, "memory", &n) == 0) {
		r = parse_memory(c, &n, &f->memory);
		if (r < 0)
			return r;
	}
	f->timeout_ms = JOB_DEFAULT_TIMEOUT_MS;
	if (jnode_member(c, m, "timeout", &n) == 0) {
		r = parse_timeout(c, &n, "timeout", &f->timeout_ms);
		if (r < 0)
			return r;
	}
	if (jnode_member(c, m, "fresh", &n) == 0) {
		if (!json_is_boolean(n.v))
			return jerr(c, &n, "fresh must be true or false");
		f->fresh = json_is_true(n.v);
	}
	r = parse_args_env(c, m, f);
	if (r < 0)
		return r;
	if (jnode_member(c, m, "seed", &n) == 0) {
		r = job_number_u64(c, &n, "a seed (an unsigned 64-bit integer)",
				   &f->seed);
		if (r < 0)
			return r;
	}
	if (jnode_member(c, m, "time", &n) == 0) {
		uint64_t t;

		r = job_number_u64(c, &n, "a time in seconds since the epoch",
				   &t);
		if (r < 0)
			return r;
		if (t > UINT64_MAX / 1000000000ull)
			return jerr(c, &n, "time: %llu s is out of range",
				    (unsigned long long)t);
		f->time_ns = t * 1000000000ull;
	}
	return job_table_add(b->functions, f->name, f - b->j->functions);
}

static int parse_functions(struct build *b, const struct jnode *root)
{
	struct jnode obj, m;
	struct jiter it = {};
	int r;

	r = jmember_typed(b->c, root, "functions", JSON_OBJECT,
			  "an object of functions", false, &obj);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return r;
	b->j->functions = calloc(json_object_size(obj.v) + 1,
				 sizeof(*b->j->functions));
	if (!b->j->functions)
		return -ENOMEM;
	while (jnode_next(b->c, &obj, &it, &m)) {
		r = parse_function(b, &it, &m,
				   &b->j->functions[b->j->n_functions++]);
		if (r < 0)
			return r;
	}
	return 0;
}

static int number_in(struct jctx *c, const struct jnode *n, const char *what,
		     uint64_t min, uint64_t max, uint64_t *ret);

/* "fold": B, items per instance of an `all` input that folds (the rest of
 * what it needs, one input and one output, is checked by check_fold()). */
static int parse_fold(struct jctx *c, const struct jnode *m,
		      struct job_stage_input *si)
{
	struct jnode n;
	uint64_t v;
	int r;

	if (jnode_member(c, m, "fold", &n) < 0)
		return 0;
	if (si->mode != JOB_MODE_ALL)
		return jerr_key(c, &n, "\"fold\" folds an input of mode \"all\", not \"%s\"",
				job_mode_name(si->mode));
	r = number_in(c, &n, "fold", 1, JOB_FOLD_MAX, &v);
	if (r < 0)
		return r;
	si->fold = (size_t)v;
	return 0;
}

static int parse_stage_input(struct jctx *c, const struct jiter *it,
			     const struct jnode *m, struct job_stage_input *si)
{
	static const char *const modes[] = { "all", "each", "keyed" };
	char q[JQUOTE_MAX];
	const char *s;
	struct jnode n;
	int r;

	r = job_key_name(c, it, m, "stage input", &si->param);
	if (r < 0)
		return r;
	if (!json_is_object(m->v))
		return jerr(c, m, "expected an object such as {\"from\": \"docs\", \"mode\": \"each\"}");
	r = jcheck_keys(c, m, stage_input_keys);
	if (r < 0)
		return r;
	r = jmember_typed(c, m, "from", JSON_STRING,
			  "an input set or \"<stage>.<output set>\"", true,
			  &n);
	if (r >= 0)
		r = jstring_plain(c, &n, "\"from\"", &s);
	if (r >= 0)
		r = dup_str(s, strlen(s), &si->from);
	if (r < 0)
		return r;
	si->mode = JOB_MODE_ALL;
	r = jmember_typed(c, m, "mode", JSON_STRING,
			  "\"all\", \"each\" or \"keyed\"", false, &n);
	if (r == -ENOENT)
		return parse_fold(c, m, si);
	if (r < 0)
		return r;
	s = json_string_value(n.v);
	for (size_t k = 0; k < ARRAY_SIZE(modes); k++) {
		if (strcmp(s, modes[k]) == 0 &&
		    strlen(modes[k]) == json_string_length(n.v)) {
			si->mode = k;
			return parse_fold(c, m, si);
		}
	}
	return jerr(c, &n, "unknown mode %s (expected \"all\", \"each\" or \"keyed\")",
		    jquote(q, sizeof(q), s, json_string_length(n.v), false));
}

static int parse_stage_outputs(struct build *b, const struct jnode *m,
			       struct job_stage *st, json_t *names)
{
	struct jctx *c = b->c;
	struct jiter it = {};
	struct jnode arr, n;
	char q[JQUOTE_MAX];
	int r;

	r = jmember_typed(c, m, "outputs", JSON_ARRAY,
			  "an array of output set names", false, &arr);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return r;
	st->outputs = calloc(json_array_size(arr.v) + 1, sizeof(char *));
	if (!st->outputs)
		return -ENOMEM;
	while (jnode_next(c, &arr, &it, &n)) {
		const char *s = json_string_value(n.v);
		size_t len = json_string_length(n.v);

		if (!s)
			return jerr(c, &n, "expected an output set name");
		if (!job_name_valid(s, len))
			return jerr(c, &n, "invalid output set name %s: " NAME_RULE,
				    jquote(q, sizeof(q), s, len, false));
		if (json_object_get(names, s))
			return jerr(c, &n, "duplicate output set name %s in this stage",
				    jquote(q, sizeof(q), s, len, false));
		r = job_table_add(names, s, st->n_outputs);
		if (r >= 0)
			r = dup_str(s, len, &st->outputs[st->n_outputs++]);
		if (r < 0)
			return r;
	}
	return 0;
}

/* A JSON number written as a plain integer in [min, max]. */
static int number_in(struct jctx *c, const struct jnode *n, const char *what,
		     uint64_t min, uint64_t max, uint64_t *ret)
{
	int r = job_number_u64(c, n, "an integer", ret);

	if (r < 0)
		return r;
	if (*ret < min || *ret > max)
		return jerr(c, n, "%s must be between %llu and %llu, not %llu",
			    what, (unsigned long long)min,
			    (unsigned long long)max, (unsigned long long)*ret);
	return 0;
}

/* "concurrency", "retries", "timeout", "backoff": I/O stages only, and only
 * the keys their I/O function takes. */
static int parse_stage_policy(struct jctx *c, const struct jnode *m,
			      struct job_stage *st)
{
	struct job_io_policy *p = &st->policy;
	struct jnode n;
	uint64_t v;
	int r;

	for (size_t k = 0; policy_keys[k]; k++) {
		struct err pe = {};

		if (jnode_member(c, m, policy_keys[k], &n) < 0)
			continue;
		if (!st->io)
			return jerr_key(c, &n, "\"%s\" is a key of I/O stages (\"io\"), not of compute stages",
					policy_keys[k]);
		if (c->opts && c->opts->io_policy_check &&
		    c->opts->io_policy_check(st->io, policy_keys[k], &pe) < 0)
			return jerr_key(c, &n, "%s", pe.msg);
		switch (k) {
		case 0:
			r = number_in(c, &n, "concurrency", 1, CONCURRENCY_MAX,
				      &v);
			p->concurrency = (unsigned)v;
			break;
		case 1:
			r = number_in(c, &n, "retries", 0, RETRIES_MAX, &v);
			p->retries = (unsigned)v;
			p->has_retries = true;
			break;
		case 2:
			r = parse_timeout(c, &n, "timeout", &p->timeout_ms);
			break;
		default:
			r = parse_timeout(c, &n, "backoff", &p->backoff_ms);
			break;
		}
		if (r < 0)
			return r;
	}
	return 0;
}

/* "allow_hosts": ["127.0.0.1:8080", "localhost", "[::1]:80"]. */
static int parse_allow_hosts(struct build *b, const struct jnode *root)
{
	struct jctx *c = b->c;
	struct jiter it = {};
	struct jnode arr, n;
	char q[JQUOTE_MAX], host[HOSTPORT_HOST_MAX];
	int r;

	r = jmember_typed(c, root, "allow_hosts", JSON_ARRAY,
			  "an array of \"host\" or \"host:port\" strings",
			  false, &arr);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return r;
	if (json_array_size(arr.v) > ALLOW_HOSTS_MAX)
		return jerr(c, &arr, "more than %d allowed hosts",
			    ALLOW_HOSTS_MAX);
	b->j->allow_hosts = calloc(json_array_size(arr.v) + 1, sizeof(char *));
	if (!b->j->allow_hosts)
		return -ENOMEM;
	while (jnode_next(c, &arr, &it, &n)) {
		const char *s = json_string_value(n.v), *why;
		size_t len = json_string_length(n.v);
		uint16_t port;

		if (!s)
			return jerr(c, &n, "expected a string such as \"127.0.0.1:8080\" or \"localhost\"");
		why = hostport_parse(s, len, host, &port);
		if (why)
			return jerr(c, &n, "%s: %s (write \"host\", \"host:port\" or \"[v6]:port\")",
				    jquote(q, sizeof(q), s, len, false), why);
		r = dup_str(s, len, &b->j->allow_hosts[b->j->n_allow_hosts++]);
		if (r < 0)
			return r;
	}
	return 0;
}

/*
 * "require": sandbox layers that must be active for this job to run, by
 * the names `pith doctor` shows; which exist is the host's business, so
 * pith run checks the names, this layer only their spelling.
 */
static int parse_require(struct build *b, const struct jnode *root)
{
	struct jctx *c = b->c;
	struct jiter it = {};
	struct jnode arr, n;
	int r;

	r = jmember_typed(c, root, "require", JSON_ARRAY,
			  "an array of sandbox layer names such as [\"bpf-lsm\"]",
			  false, &arr);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return r;
	if (json_array_size(arr.v) > JOB_REQUIRE_MAX)
		return jerr(c, &arr, "more than %d required layers",
			    JOB_REQUIRE_MAX);
	b->j->require = calloc(json_array_size(arr.v) + 1, sizeof(char *));
	if (!b->j->require)
		return -ENOMEM;
	while (jnode_next(c, &arr, &it, &n)) {
		const char *s = json_string_value(n.v);
		size_t len = json_string_length(n.v);
		bool ok = s && len > 0 && len <= 32;

		for (size_t i = 0; ok && i < len; i++)
			ok = (s[i] >= 'a' && s[i] <= 'z') ||
			     (s[i] >= '0' && s[i] <= '9') || s[i] == '-' ||
			     s[i] == '_';
		if (!ok)
			return jerr(c, &n, "expected a layer name as 'pith doctor' shows it, such as \"bpf-lsm\", or \"all\"");
		r = dup_str(s, len, &b->j->require[b->j->n_require++]);
		if (r < 0)
			return r;
	}
	return 0;
}

/* Pass 1: the shape of a stage and its own names. */
static int parse_stage(struct build *b, const struct jnode *m,
		       struct job_stage *st)
{
	struct jctx *c = b->c;
	size_t index = st - b->j->stages;
	struct jnode n, ins, p;
	struct jiter it = {};
	char q[JQUOTE_MAX];
	bool has_fn, has_io;
	const char *s;
	int r;

	if (!json_is_object(m->v))
		return jerr(c, m, "expected a stage object");
	r = jcheck_keys(c, m, stage_keys);
	if (r >= 0)
		r = member_name(c, m, "name", "a string", &st->name,
				&n);
	if (r < 0)
		return r;
	if (table_get(b->stages, st->name, strlen(st->name)) >= 0)
		return jerr(c, &n, "duplicate stage name %s",
			    jquote(q, sizeof(q), st->name, strlen(st->name),
				   false));
	if (table_get(b->sets, st->name, strlen(st->name)) >= 0)
		return jerr(c, &n, "stage name %s is already an input set name (\"from\" could not tell them apart)",
			    jquote(q, sizeof(q), st->name, strlen(st->name),
				   false));
	r = job_table_add(b->stages, st->name, index);
	if (r < 0)
		return r;

	has_fn = json_object_get(m->v, "function");
	has_io = json_object_get(m->v, "io");
	if (has_fn && has_io) {
		jnode_member(c, m, "io", &n);
		return jerr_key(c, &n, "a stage has either \"function\" (compute) or \"io\" (I/O), not both");
	}
	if (!has_fn && !has_io)
		return jerr(c, m, "a stage needs \"function\" (compute) or \"io\" (I/O)");
	st->function_index = -1;
	r = jmember_typed(c, m, has_fn ? "function" : "io", JSON_STRING,
			  "a string", true, &n);
	if (r >= 0)
		r = jstring_plain(c, &n, has_fn ? "a function name" :
					       "an I/O function name", &s);
	if (r >= 0)
		r = dup_str(s, strlen(s), has_fn ? &st->function : &st->io);
	if (r < 0)
		return r;
	r = parse_stage_policy(c, m, st);
	if (r < 0)
		return r;

	r = jmember_typed(c, m, "inputs", JSON_OBJECT,
			  "an object of stage inputs", false, &ins);
	if (r >= 0) {
		st->inputs = calloc(json_object_size(ins.v) + 1,
				    sizeof(*st->inputs));
		if (!st->inputs)
			return -ENOMEM;
		while (jnode_next(c, &ins, &it, &p)) {
			r = parse_stage_input(c, &it, &p,
					      &st->inputs[st->n_inputs++]);
			if (r < 0)
				return r;
		}
	} else if (r != -ENOENT) {
		return r;
	}
	b->outputs[index] = json_object();
	if (!b->outputs[index])
		return -ENOMEM;
	return parse_stage_outputs(b, m, st, b->outputs[index]);
}

/*
 * "docs" or "<stage>.<output set>" -> ref. `self` is the reading stage (-1
 * for a job output, which must name a stage output).
 */
static int resolve_from(struct build *b, const struct jnode *n,
			const char *from, int self, struct job_ref *ref)
{
	const char *dot = strchr(from, '.');
	char q[JQUOTE_MAX], q2[JQUOTE_MAX];
	size_t left = dot ? (size_t)(dot - from) : strlen(from);
	int set = table_get(b->sets, from, left);
	int st = table_get(b->stages, from, left), out;

	jquote(q, sizeof(q), from, left, false);
	if (!dot && self < 0)
		return jerr(b->c, n, "expected \"<stage>.<output set>\", not %s",
			    q);
	if (!dot) {
		if (set >= 0) {
			*ref = (struct job_ref){ .stage = -1, .index = set };
			return 0;
		}
		if (st >= 0)
			return jerr(b->c, n, "%s is a stage: name one of its output sets, as '%.*s.<output set>'",
				    q, (int)left, from);
		return jerr(b->c, n, "no input set named %s", q);
	}
	if (!job_name_valid(dot + 1, strlen(dot + 1)) || left == 0)
		return jerr(b->c, n, "expected %s\"<stage>.<output set>\", not %s",
			    self >= 0 ? "an input set name or " : "",
			    jquote(q2, sizeof(q2), from, strlen(from), false));
	if (st < 0 && set >= 0)
		return jerr(b->c, n, "%s is an input set, not a stage", q);
	if (st < 0)
		return jerr(b->c, n, "no stage named %s", q);
	if (st == self)
		return jerr(b->c, n, "stage %s reads its own output", q);
	out = table_get(b->outputs[st], dot + 1, strlen(dot + 1));
	if (out < 0)
		return jerr(b->c, n, "stage %s has no output set named %s", q,
			    jquote(q2, sizeof(q2), dot + 1, strlen(dot + 1),
				   false));
	*ref = (struct job_ref){ .stage = st, .index = out };
	return 0;
}

static int check_keyed(struct build *b, const struct jnode *n,
		       const struct job_stage_input *si)
{
	const struct job_input *in = &b->j->inputs[si->ref.index];
	char q[JQUOTE_MAX];

	if (si->mode != JOB_MODE_KEYED || si->ref.stage >= 0)
		return 0;
	for (size_t i = 0; i < in->n_items; i++)
		if (!in->items[i].keyed)
			return jerr(b->c, n, "mode \"keyed\" needs a key on every item, and inputs.%s[%zu] (%s) has none",
				    in->name, i,
				    jquote(q, sizeof(q), in->items[i].name,
					   strlen(in->items[i].name), false));
	return 0;
}

/* A folding input is a compute stage's only input, and the stage has one
 * output: what instance k made is what instance k+1 reads first. */
static int check_fold(struct build *b, const struct jnode *n,
		      const struct job_stage *st)
{
	if (st->io)
		return jerr_key(b->c, n, "\"fold\" is for compute stages: an I/O stage takes its items one by one");
	if (st->n_inputs != 1)
		return jerr_key(b->c, n, "\"fold\" needs the stage's only input, and stage %s has %zu",
				st->name, st->n_inputs);
	if (st->n_outputs != 1)
		return jerr_key(b->c, n, "\"fold\" needs a stage with exactly one output (each instance reads the last one's), and stage %s has %zu",
				st->name, st->n_outputs);
	return 0;
}

/* Pass 2: what a stage refers to. */
static int resolve_stage(struct build *b, const struct jnode *m,
			 struct job_stage *st)
{
	int self = st - b->j->stages;
	struct jiter it = {};
	struct jnode n, ins, p;
	char q[JQUOTE_MAX];
	int r;

	if (st->function) {
		jnode_member(b->c, m, "function", &n);
		st->function_index = table_get(b->functions, st->function,
					       strlen(st->function));
		if (st->function_index < 0)
			return jerr(b->c, &n, "no function named %s",
				    jquote(q, sizeof(q), st->function,
					   strlen(st->function), false));
	} else {
		struct err ioe = {};

		jnode_member(b->c, m, "io", &n);
		if (!b->c->opts || !b->c->opts->io_check)
			return jerr(b->c, &n, "I/O stages are not available here (no I/O functions)");
		r = b->c->opts->io_check(st->io, st->n_inputs, st->outputs,
					 st->n_outputs, &ioe);
		if (r < 0)
			return jerr(b->c, &n, "%s",
				    ioe.msg[0] ? ioe.msg :
						 "refused by the I/O function");
	}
	if (jnode_member(b->c, m, "inputs", &ins) < 0)
		return 0;
	for (size_t i = 0; jnode_next(b->c, &ins, &it, &p); i++) {
		struct job_stage_input *si = &st->inputs[i];

		jnode_member(b->c, &p, "from", &n);
		r = resolve_from(b, &n, si->from, self, &si->ref);
		if (r < 0)
			return r;
		jnode_member(b->c, &p, "mode", &n);
		r = check_keyed(b, &n, si);
		if (r < 0)
			return r;
		if (si->fold && jnode_member(b->c, &p, "fold", &n) == 0) {
			r = check_fold(b, &n, st);
			if (r < 0)
				return r;
		}
	}
	return 0;
}

static int parse_stages(struct build *b, const struct jnode *root,
			struct jnode *ret_stages)
{
	struct jctx *c = b->c;
	struct jiter it = {};
	struct jnode m;
	size_t n;
	int r;

	r = jmember_typed(c, root, "stages", JSON_ARRAY,
			  "an array of stages", true, ret_stages);
	if (r < 0)
		return r;
	n = json_array_size(ret_stages->v);
	if (n == 0)
		return jerr(c, ret_stages, "a job needs at least one stage");
	b->j->stages = calloc(n, sizeof(*b->j->stages));
	b->outputs = calloc(n, sizeof(*b->outputs));
	if (!b->j->stages || !b->outputs)
		return -ENOMEM;
	while (jnode_next(c, ret_stages, &it, &m)) {
		r = parse_stage(b, &m, &b->j->stages[b->j->n_stages++]);
		if (r < 0)
			return r;
	}
	memset(&it, 0, sizeof(it));
	for (size_t i = 0; jnode_next(c, ret_stages, &it, &m); i++) {
		r = resolve_stage(b, &m, &b->j->stages[i]);
		if (r < 0)
			return r;
	}
	return 0;
}

static int parse_outputs(struct build *b, const struct jnode *root)
{
	struct jnode obj, m;
	struct jiter it = {};
	const char *s;
	int r;

	r = jmember_typed(b->c, root, "outputs", JSON_OBJECT,
			  "an object of job outputs", false, &obj);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return r;
	b->j->outputs = calloc(json_object_size(obj.v) + 1,
			       sizeof(*b->j->outputs));
	if (!b->j->outputs)
		return -ENOMEM;
	while (jnode_next(b->c, &obj, &it, &m)) {
		struct job_output *o = &b->j->outputs[b->j->n_outputs++];

		r = job_key_name(b->c, &it, &m, "job output", &o->name);
		if (r >= 0)
			r = jstring_plain(b->c, &m, "\"<stage>.<output set>\"",
					  &s);
		if (r >= 0)
			r = dup_str(s, strlen(s), &o->from);
		if (r >= 0)
			r = resolve_from(b, &m, s, -1, &o->ref);
		if (r < 0)
			return r;
	}
	return 0;
}

/*
 * Last, once the whole document is known to be a valid job: whether the
 * files it names exist depends on the machine, not on the file.
 */
static int check_files(struct build *b, const struct jnode *root)
{
	struct jctx *c = b->c;
	struct jiter fi = {}, si = {};
	struct jnode obj, m, n, e;
	const char *last = NULL;
	int r;

	if (!c->opts || !c->opts->check_files)
		return 0;
	if (jnode_member(c, root, "functions", &obj) == 0) {
		for (size_t i = 0; jnode_next(c, &obj, &fi, &m); i++) {
			jnode_member(c, &m, "binary", &n);
			r = check_file(c, &n, b->j->functions[i].binary,
				       "binary");
			if (r < 0)
				return r;
			r = check_binary(c, &n, b->j->functions[i].binary,
					 b->j->functions[i].memory);
			if (r < 0)
				return r;
		}
	}
	if (jnode_member(c, root, "inputs", &obj) < 0)
		return 0;
	for (size_t i = 0; jnode_next(c, &obj, &si, &m); i++) {
		const struct job_input *in = &b->j->inputs[i];
		struct jiter ii = {};

		/* Items decoded one by one have no node: an error sends the
		 * parse back to the whole tree (parse_cut_items()). */
		for (size_t k = 0; c->cuts && json_array_size(m.v) == 0 &&
				   k < in->n_items; k++) {
			if (in->items[k].source != JOB_SRC_FILE ||
			    (last && !strcmp(last, in->items[k].path)))
				continue;
			r = check_file(c, &m, in->items[k].path, "file");
			if (r < 0)
				return r;
			last = in->items[k].path;
		}
		for (size_t k = 0; jnode_next(c, &m, &ii, &e); k++) {
			const struct job_item *it = &b->j->inputs[i].items[k];

			if (it->source != JOB_SRC_FILE)
				continue;
			/* The path just checked, listed again: no second
			 * open (a job may list one file 20,000 times). */
			if (last && !strcmp(last, it->path))
				continue;
			jnode_member(c, &e, "file", &n);
			r = check_file(c, &n, it->path, "file");
			if (r < 0)
				return r;
			last = it->path;
		}
	}
	return 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Shares of a job input set under `mode`: 1, its items, or its distinct
 * keys (items without a key count as key 0), as engine/distribute.c
 * makes them. */
static int input_shares(const struct job_input *in, enum job_mode mode,
			size_t *ret)
{
	_cleanup_free_ uint64_t *keys = NULL;
	size_t n = 0;

	if (in->n_items == 0 || mode == JOB_MODE_ALL) {
		*ret = in->n_items ? 1 : 0;
		return 0;
	}
	if (mode == JOB_MODE_EACH) {
		*ret = in->n_items;
		return 0;
	}
	keys = calloc(in->n_items, sizeof(*keys));
	if (!keys)
		return -ENOMEM;
	for (size_t i = 0; i < in->n_items; i++)
		keys[i] = in->items[i].keyed ? in->items[i].key : 0;
	qsort(keys, in->n_items, sizeof(*keys), cmp_u64);
	for (size_t i = 0; i < in->n_items; i++)
		n += i == 0 || keys[i] != keys[i - 1];
	*ret = n;
	return 0;
}

/*
 * The instances of a stage whose count is known before anything runs (every
 * input `all` or a job input set) against opts->max_instances, as the
 * engine would count them. A stage fed `each` or `keyed` from another
 * stage is counted by the engine when it runs.
 */
static int check_instances(struct build *b, const struct jnode *stages)
{
	struct jctx *c = b->c;
	struct jiter it = {};
	struct jnode m;
	uint64_t max = c->opts ? c->opts->max_instances : 0;

	if (!max)
		return 0;
	for (size_t s = 0; jnode_next(c, stages, &it, &m); s++) {
		const struct job_stage *st = &b->j->stages[s];
		bool known = true, overflow = false;
		size_t n = 1, k;
		int r;

		for (size_t p = 0; p < st->n_inputs && known; p++) {
			const struct job_stage_input *in = &st->inputs[p];
			/* An I/O stage runs one item at a time. */
			enum job_mode mode = st->io ? JOB_MODE_EACH : in->mode;

			if (st->io && p > 0)
				break;
			if (in->ref.stage >= 0) {
				known = mode == JOB_MODE_ALL;
				continue;
			}
			r = input_shares(&b->j->inputs[in->ref.index], mode,
					 &k);
			if (r < 0)
				return r;
			if (in->fold) /* one instance per B items */
				k = b->j->inputs[in->ref.index].n_items / in->fold +
				    (b->j->inputs[in->ref.index].n_items % in->fold != 0);
			if (k == 0) {
				n = 0;
				overflow = false;
				break;
			}
			if (__builtin_mul_overflow(n, k, &n))
				overflow = true;
		}
		if (!known || (!overflow && n <= max))
			continue;
		if (overflow)
			return jerr(c, &m, "more than %zu instances exceed the limit of %llu per stage (--max-instances; default one per 4 KiB of RAM)",
				    SIZE_MAX, (unsigned long long)max);
		return jerr(c, &m, "%zu instances exceed the limit of %llu per stage (--max-instances; default one per 4 KiB of RAM)",
			    n, (unsigned long long)max);
	}
	return 0;
}

static int check_version(struct jctx *c, const struct jnode *root)
{
	struct jnode n;
	size_t off, len;

	if (!json_is_object(root->v) || jnode_member(c, root, "version", &n))
		return jerr(c, root, "expected an object with \"version\": 1");
	if (!json_is_number(n.v))
		return jerr(c, &n, "expected the number 1");
	off = c->pos.v[n.t].off;
	len = pos_number_len(&c->pos, off);
	if (len != 1 || c->pos.text[off] != '1')
		return jerr(c, &n, "unsupported version %.*s%s (this pith reads version 1)",
			    (int)MIN(len, (size_t)24), c->pos.text + off,
			    len > 24 ? "..." : "");
	return 0;
}

int job_build(struct jctx *c, json_t *root, struct job *j)
{
	struct build b = { .c = c, .j = j };
	struct jnode r, stages, n;
	int ret;

	jnode_root(c, root, &r);
	ret = check_version(c, &r);
	if (ret < 0)
		return ret;
	ret = jcheck_keys(c, &r, root_keys);
	if (ret >= 0)
		ret = member_name(c, &r, "name", "a string", &j->name,
				  &n);
	if (ret < 0)
		return ret;
	b.functions = json_object();
	b.sets = json_object();
	b.stages = json_object();
	if (!b.functions || !b.sets || !b.stages)
		ret = -ENOMEM;
	if (ret >= 0)
		ret = parse_functions(&b, &r);
	if (ret >= 0)
		ret = job_inputs_build(&b, &r);
	if (ret >= 0)
		ret = parse_stages(&b, &r, &stages);
	if (ret >= 0)
		ret = job_graph_order(c, &stages, j);
	if (ret >= 0)
		ret = check_instances(&b, &stages);
	if (ret >= 0)
		ret = parse_outputs(&b, &r);
	if (ret >= 0)
		ret = parse_allow_hosts(&b, &r);
	if (ret >= 0)
		ret = parse_require(&b, &r);
	if (ret >= 0)
		ret = check_files(&b, &r);

	json_decref(b.functions);
	json_decref(b.sets);
	json_decref(b.stages);
	for (size_t i = 0; b.outputs && i < j->n_stages; i++)
		json_decref(b.outputs[i]);
	free(b.outputs);
	return ret;
}
