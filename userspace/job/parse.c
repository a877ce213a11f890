// SPDX-License-Identifier: MIT
/* Job files in, validated struct job out: reading, JSON syntax, ownership. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "job/job.h"
#include "job/walk.h"

/* Big data belongs in "file" inputs; this bounds parsing time and memory. */
#define JOB_FILE_MAX (16u << 20)

const char *job_mode_name(enum job_mode m)
{
	switch (m) {
	case JOB_MODE_ALL:
		return "all";
	case JOB_MODE_EACH:
		return "each";
	case JOB_MODE_KEYED:
		return "keyed";
	}
	return "?";
}

void job_drop_input_items(struct job *j)
{
	for (size_t i = 0; j->inputs && i < j->n_inputs; i++) {
		struct job_input *in = &j->inputs[i];

		job_strings_free(in->strings);
		in->strings = NULL;
		free(in->items);
		in->items = NULL;
		in->n_items = 0;
	}
}

struct job *job_free(struct job *j)
{
	if (!j)
		return NULL;
	for (size_t i = 0; j->functions && i < j->n_functions; i++) {
		free(j->functions[i].name);
		free(j->functions[i].binary);
		for (size_t k = 0; k < j->functions[i].n_args; k++)
			free(j->functions[i].args[k]);
		free(j->functions[i].args);
		for (size_t k = 0; k < j->functions[i].n_env; k++)
			free(j->functions[i].env[k]);
		free(j->functions[i].env);
	}
	free(j->functions);
	for (size_t i = 0; j->inputs && i < j->n_inputs; i++) {
		struct job_input *in = &j->inputs[i];

		job_strings_free(in->strings);
		free(in->items);
		free(in->name);
	}
	free(j->inputs);
	for (size_t i = 0; j->stages && i < j->n_stages; i++) {
		struct job_stage *st = &j->stages[i];

		for (size_t k = 0; st->inputs && k < st->n_inputs; k++) {
			free(st->inputs[k].param);
			free(st->inputs[k].from);
		}
		free(st->inputs);
		for (size_t k = 0; st->outputs && k < st->n_outputs; k++)
			free(st->outputs[k]);
		free(st->outputs);
		free(st->name);
		free(st->function);
		free(st->io);
	}
	free(j->stages);
	for (size_t i = 0; j->outputs && i < j->n_outputs; i++) {
		free(j->outputs[i].name);
		free(j->outputs[i].from);
	}
	free(j->outputs);
	for (size_t i = 0; i < j->n_allow_hosts; i++)
		free(j->allow_hosts[i]);
	free(j->allow_hosts);
	for (size_t i = 0; i < j->n_require; i++)
		free(j->require[i]);
	free(j->require);
	free(j->order);
	free(j->name);
	free(j->dir);
	free(j->path);
	free(j);
	return NULL;
}
DEFINE_TRIVIAL_CLEANUP_FUNC(struct job *, job_free);

/* Keep jansson's message on one printable line (it may quote raw bytes). */
static void syntax_error(struct err *e, struct job_error *ret, const char *file,
			 const json_error_t *je, const char *text, size_t len)
{
	char clean[sizeof(je->text) * 4 + 1];
	int line = je->line, col = je->column;
	size_t o = 0;

	for (size_t i = 0; i < sizeof(je->text) && je->text[i]; i++) {
		unsigned char ch = je->text[i];

		if (ch < 0x20 || ch >= 0x7f)
			o += snprintf(clean + o, sizeof(clean) - o, "\\x%02x",
				      ch);
		else
			clean[o++] = ch;
	}
	clean[o] = '\0';
	if (line < 1 || col < 1)
		pos_line_col(text, len, MIN((size_t)je->position, len), &line,
			     &col);
	err_set(e, EINVAL, "%s:%d:%d: invalid JSON: %s", file, line, col,
		clean);
	if (ret) {
		ret->line = line;
		ret->column = col;
		err_copy(ret->message, sizeof(ret->message), "invalid JSON: ");
		err_copy(ret->message + 14, sizeof(ret->message) - 14, clean);
	}
}

static bool only_space(const char *text, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (!strchr(" \t\r\n", text[i]) || !text[i])
			return false;
	return true;
}

/*
 * The errors that are not at a value (the file as a whole, the few syntax
 * checks before jansson's) as a job_error: "<file>:<line>:<col>: <what>" or
 * "<file>: <what>".
 */
static int error_parts(const struct job_parse_opts *opts, const char *file,
		       const struct err *e, int r)
{
	struct job_error *je = opts ? opts->error : NULL;
	size_t n = strlen(file);
	const char *p = e->msg;
	int line = 0, col = 0, used = 0;

	if (r >= 0 || !je || je->message[0])
		return r;
	if (!strncmp(p, file, n) && p[n] == ':') {
		p += n + 1;
		if (sscanf(p, "%d:%d:%n", &line, &col, &used) == 2 && used) {
			p += used;
			je->line = line;
			je->column = col;
		}
		p += *p == ' ';
	}
	snprintf(je->message, sizeof(je->message), "%s", p);
	return r;
}

static int parse_string(const char *text, size_t len, const char *display_name,
			const char *dir, const struct job_parse_opts *opts,
			struct job **ret, struct err *e);

/*
 * jansson's tree of a job file costs ~5 times the file in malloc'd blocks
 * (an object is a hash table, every value and member its own blocks: ~550
 * bytes for an input item of 110): 56 MiB of pith's heap for the thesis
 * job of 100,000 requests, freed in pieces below what the run allocates
 * next. While a job is parsed, the thread's jansson allocations are carved
 * from one private anonymous mapping instead (8-byte aligned, no headers;
 * frees are no-ops), unmapped whole once the tree is freed: the pages go
 * back at once, nothing is left to fragment the heap. Past the mapping,
 * or on any other thread, jansson gets malloc() as before; jarena_free()
 * tells the two apart by address.
 */
struct jarena {
	char *base, *p, *end;
};

static __thread struct jarena *jarena_cur;

static void *jarena_malloc(size_t n)
{
	struct jarena *a = jarena_cur;

	if (a && n <= (size_t)(a->end - a->p)) {
		void *r = a->p;

		a->p += (n + 7) & ~(size_t)7;
		if (a->p > a->end)
			a->p = a->end;
		return r;
	}
	return malloc(n);
}

static void jarena_free(void *p)
{
	struct jarena *a = jarena_cur;

	if (a && (char *)p >= a->base && (char *)p < a->end)
		return;
	free(p);
}

void *job_json_mark(void)
{
	return jarena_cur ? jarena_cur->p : NULL;
}

void job_json_release(void *mark)
{
	if (jarena_cur && mark)
		jarena_cur->p = mark;
}

static void jarena_hooks(void)
{
	json_set_alloc_funcs(jarena_malloc, jarena_free);
}

/* Room for the tree of a `len`-byte file: untouched pages cost nothing. */
#define JARENA_PER_BYTE 64

static void jarena_begin(struct jarena *a, size_t len)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	size_t size = (len + 4096) * JARENA_PER_BYTE;
	void *m;

	*a = (struct jarena){};
	pthread_once(&once, jarena_hooks);
	m = mmap(NULL, size, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (m == MAP_FAILED)
		return; /* malloc() it is */
	*a = (struct jarena){ .base = m, .p = m, .end = (char *)m + size };
	jarena_cur = a;
}

/* After every json_t made since jarena_begin() is freed. */
static void jarena_end(struct jarena *a)
{
	jarena_cur = NULL;
	if (a->base)
		munmap(a->base, (size_t)(a->end - a->base));
}

int job_parse_string(const char *text, size_t len, const char *display_name,
		     const char *dir, const struct job_parse_opts *opts,
		     struct job **ret, struct err *e)
{
	struct err own = {};
	int r;

	if (opts && opts->error)
		*opts->error = (struct job_error){};
	r = parse_string(text, len, display_name, dir, opts, ret, e ? e : &own);
	return error_parts(opts, display_name ? display_name : "<string>",
			   e ? e : &own, r);
}

/* What is refused before jansson sees the text. */
static int precheck(const char *text, size_t len, const char *file,
		    struct err *e)
{
	const char *nul;

	if (len > JOB_FILE_MAX)
		return err_set(e, EFBIG, "%s: job file too large (%zu bytes, at most %u MiB; put data in \"file\" inputs)",
			       file, len, JOB_FILE_MAX >> 20);
	if (only_space(text, len))
		return err_set(e, EINVAL, "%s:1:1: invalid JSON: the file is empty",
			       file);
	if (len >= 2 && (memcmp(text, "\xff\xfe", 2) == 0 ||
			 memcmp(text, "\xfe\xff", 2) == 0))
		return err_set(e, EINVAL, "%s:1:1: invalid JSON: the file is UTF-16 (job files are UTF-8)",
			       file);
	if (len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0)
		return err_set(e, EINVAL, "%s:1:1: invalid JSON: byte order mark at the start (save the file as UTF-8 without BOM)",
			       file);
	nul = memchr(text, '\0', len);
	if (nul) {
		int line, col;

		pos_line_col(text, len, nul - text, &line, &col);
		return err_set(e, EINVAL, "%s:%d:%d: invalid JSON: NUL byte in the file%s",
			       file, line, col,
			       len >= 2 && (!text[0] || !text[1]) ?
				       " (job files are UTF-8, not UTF-16)" :
				       "");
	}
	return 0;
}

/* The job in text[0..len) (prechecked), parsed as one tree; with `cuts`,
 * the text is the job's with those arrays emptied. */
static int parse_tree(const char *text, size_t len, struct job_cuts *cuts,
		      const char *display_name, const char *dir,
		      const struct job_parse_opts *opts, struct job **ret,
		      struct err *e)
{
	static const struct job_parse_opts no_opts = {};
	_cleanup_(job_freep) struct job *j = NULL;
	json_auto_t *root = NULL;
	_cleanup_close_ int dirfd = -1;
	const char *file = display_name ? display_name : "<string>";
	struct jctx c = { .file = file, .opts = opts ? opts : &no_opts, .e = e,
			  .dirfd = -1, .cuts = cuts };
	json_error_t je;
	int r;

	root = json_loadb(text, len, JOB_JSON_FLAGS, &je);
	if (!root) {
		syntax_error(e, opts ? opts->error : NULL, file, &je, text, len);
		return -EINVAL;
	}

	j = calloc(1, sizeof(*j));
	if (!j)
		return err_set(e, ENOMEM, "%s: out of memory", file);
	j->path = strdup("-");
	j->dir = realpath(dir ? dir : ".", NULL);
	if (!j->dir)
		j->dir = strdup(dir ? dir : ".");
	if (!j->path || !j->dir)
		return err_set(e, ENOMEM, "%s: out of memory", file);
	c.dir = j->dir;
	if (c.opts->check_files) {
		dirfd = open(j->dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (dirfd < 0)
			return err_errno(e, errno,
					 "%s: cannot open the job's directory %s",
					 file, j->dir);
		c.dirfd = dirfd;
	}

	r = pos_index_build(text, len, &c.pos);
	if (r < 0)
		return err_errno(e, r,
				 "%s: cannot index the positions of JSON values",
				 file);
	r = job_build(&c, root, j);
	pos_index_done(&c.pos);
	if (r == -ENOMEM)
		return err_set(e, ENOMEM, "%s: out of memory", file);
	if (r < 0)
		return r;
	for (size_t i = 0; cuts && i < cuts->n; i++)
		if (!cuts->v[i].used) /* an array the job did not read */
			return err_set(e, EINVAL, "%s: array not read", file);
	*ret = TAKE_PTR(j);
	return 0;
}

/*
 * Input items one by one. A job listing 100,000 requests is a 9 MB text
 * whose tree would take ~56 MiB (jarena above) beside ~12 MiB of the items
 * made from it. So the arrays of "inputs" are cut out of the text (their
 * '[' and ']' kept: pos_item_arrays() finds them and checks the commas
 * between their elements), the rest is parsed as a tree as before, and
 * parse_input_set() decodes the elements one at a time from the whole
 * text (items.c, parse_cut_items()). Every piece of the text is checked
 * by jansson with the same flags, or, for the plainest items, by
 * items.c's plain_item(), which takes only text jansson would decode to
 * the same item; so the job is accepted exactly when the whole tree would
 * be, and makes the same struct job. Any error, which
 * cannot be positioned in the whole text from there, returns 1: the
 * caller parses the whole tree, whose error is the one reported, byte for
 * byte as before. Also 1 when the text has no such arrays or is not shaped
 * as pos_item_arrays() expects.
 */
static int parse_cut(const char *text, size_t len, const char *display_name,
		     const char *dir, const struct job_parse_opts *opts,
		     struct job **ret, struct err *e)
{
	_cleanup_free_ struct pos_cut *arrays = NULL;
	_cleanup_free_ struct job_cut *v = NULL;
	_cleanup_free_ char *tree = NULL;
	struct job_cuts cuts = { .text = text };
	size_t at = 0, o = 0, size = len;
	int n, r;

	n = pos_item_arrays(text, len, &arrays);
	if (n <= 0)
		return 1;
	for (int i = 0; i < n; i++)
		size -= arrays[i].close - arrays[i].open - 1;
	v = calloc(n, sizeof(*v));
	tree = malloc(size + 1);
	if (!v || !tree)
		return 1;
	for (int i = 0; i < n; i++) {
		size_t open = arrays[i].open;

		memcpy(tree + o, text + at, open + 1 - at);
		o += open + 1 - at;
		v[i] = (struct job_cut){ .c = arrays[i], .tree_open = o - 1 };
		at = arrays[i].close;
	}
	memcpy(tree + o, text + at, len - at);
	o += len - at;
	tree[o] = '\0';
	cuts.v = v;
	cuts.n = n;
	r = parse_tree(tree, o, &cuts, display_name, dir, opts, ret, e);
	pos_index_done(&cuts.pos);
	return r < 0 ? 1 : r;
}

/* parse_cut(), or parse_tree() of the whole text, with jansson's trees in
 * an arena: every json_t of them is freed when they return (root is
 * scoped in parse_tree(); job_build() frees its tables), before the arena
 * goes. */
static int parse_string(const char *text, size_t len, const char *display_name,
			const char *dir, const struct job_parse_opts *opts,
			struct job **ret, struct err *e)
{
	struct jarena a;
	int r;

	r = precheck(text, len, display_name ? display_name : "<string>", e);
	if (r < 0)
		return r;
	jarena_begin(&a, len);
	r = opts && opts->whole_tree ?
		    1 :
		    parse_cut(text, len, display_name, dir, opts, ret, e);
	if (r > 0) {
		if (opts && opts->error)
			*opts->error = (struct job_error){};
		*e = (struct err){};
		job_json_release(a.base);
		r = parse_tree(text, len, NULL, display_name, dir, opts, ret,
			       e);
	}
	jarena_end(&a);
	return r;
}

/* The whole of fd: a regular file in one buffer of its size (and one byte
 * to see its end), anything else in doubling ones. */
static int read_all(int fd, char **ret, size_t *ret_len)
{
	_cleanup_free_ char *buf = NULL;
	size_t len = 0, cap = 0, first = 65536;
	struct stat st;

	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0)
		first = MIN((size_t)st.st_size, (size_t)JOB_FILE_MAX + 1) + 1;
	for (;;) {
		ssize_t n;

		if (len > JOB_FILE_MAX)
			return -EFBIG;
		if (len == cap) {
			char *nb;

			cap = cap ? cap * 2 : first;
			nb = realloc(buf, cap + 1);
			if (!nb)
				return -ENOMEM;
			buf = nb;
		}
		n = read(fd, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return negative_errno();
		if (n == 0)
			break;
		len += n;
	}
	buf[len] = '\0';
	*ret = TAKE_PTR(buf);
	*ret_len = len;
	return 0;
}

static int parse_file(const char *path, const char *file, bool is_stdin,
		      const struct job_parse_opts *opts, struct job **ret,
		      struct err *e);

int job_parse_file(const char *path, const struct job_parse_opts *opts,
		   struct job **ret, struct err *e)
{
	bool is_stdin = strcmp(path, "-") == 0;
	const char *file = is_stdin ? "<stdin>" : path;
	struct err own = {};

	if (opts && opts->error)
		*opts->error = (struct job_error){};
	if (!e)
		e = &own;
	return error_parts(opts, file, e,
			   parse_file(path, file, is_stdin, opts, ret, e));
}

static int parse_file(const char *path, const char *file, bool is_stdin,
		      const struct job_parse_opts *opts, struct job **ret,
		      struct err *e)
{
	_cleanup_free_ char *text = NULL, *dir = NULL;
	_cleanup_close_ int fd = -1;
	const char *slash = strrchr(path, '/');
	struct job *j = NULL;
	size_t len;
	int r;

	if (!is_stdin) {
		fd = open(path, O_RDONLY | O_NOCTTY | O_CLOEXEC);
		if (fd < 0)
			return err_errno(e, errno, "%s: cannot open", file);
	}
	r = read_all(is_stdin ? STDIN_FILENO : fd, &text, &len);
	if (r == -EFBIG)
		return err_set(e, EFBIG, "%s: job file too large (at most %u MiB; put data in \"file\" inputs)",
			       file, JOB_FILE_MAX >> 20);
	if (r < 0)
		return err_errno(e, r, "%s: cannot read", file);
	if (is_stdin || !slash)
		dir = strdup(".");
	else if (slash == path)
		dir = strdup("/");
	else
		dir = strndup(path, slash - path);
	if (!dir)
		return err_set(e, ENOMEM, "%s: out of memory", file);
	r = parse_string(text, len, file, dir, opts, &j, e);
	if (r < 0)
		return r;
	free(j->path);
	j->path = strdup(path);
	if (!j->path) {
		job_free(j);
		return err_set(e, ENOMEM, "%s: out of memory", file);
	}
	*ret = j;
	return 0;
}
