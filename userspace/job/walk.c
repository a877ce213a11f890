// SPDX-License-Identifier: MIT
/* Walking a job document with JSON paths and positions for error messages. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "job/walk.h"

static bool name_char(unsigned char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
	       (ch >= '0' && ch <= '9') || ch == '_' || ch == '-';
}

bool job_name_valid(const char *s, size_t len)
{
	if (len < 1 || len > JOB_NAME_MAX)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!name_char(s[i]))
			return false;
	return true;
}

const char *job_item_name_problem(const char *s, size_t len)
{
	if (len == 0)
		return "an item name cannot be empty";
	if (memchr(s, '\0', len))
		return "an item name cannot contain a NUL character";
	if (memchr(s, '/', len))
		return "an item name cannot contain '/'";
	if (strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
		return "an item name cannot be '.' or '..'";
	if (len > 255)
		return "an item name is at most 255 bytes";
	return NULL;
}

const char *jquote(char *buf, size_t size, const char *s, size_t len,
		   bool ascii_only)
{
	size_t o = 0, limit = size - 6; /* room for "...'" and the NUL */

	buf[o++] = '\'';
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = s[i];
		char esc[8];
		size_t n;

		if (ch < 0x20 || ch == 0x7f || (ascii_only && ch >= 0x80)) {
			n = snprintf(esc, sizeof(esc), "\\x%02x", ch);
		} else if (ch == '\'' || ch == '\\') {
			esc[0] = '\\';
			esc[1] = ch;
			n = 2;
		} else {
			esc[0] = ch;
			n = 1;
		}
		if (o + n > limit) {
			/* Never leave half a UTF-8 character before "...". */
			while (o > 1 && ((unsigned char)buf[o - 1] & 0xc0) == 0x80)
				o--;
			if (o > 1 && ((unsigned char)buf[o - 1] & 0xc0) == 0xc0)
				o--;
			memcpy(buf + o, "...", 3);
			o += 3;
			break;
		}
		memcpy(buf + o, esc, n);
		o += n;
	}
	buf[o++] = '\'';
	buf[o] = '\0';
	return buf;
}

static size_t path_key(char *out, size_t o, const char *key, size_t keylen)
{
	char q[JQUOTE_MAX];
	bool plain = keylen > 0;

	for (size_t i = 0; i < keylen && plain; i++)
		plain = name_char(key[i]);
	if (plain)
		return o + snprintf(out + o, JPATH_MAX - o, "%s%.*s",
				    o ? "." : "", (int)keylen, key);
	return o + snprintf(out + o, JPATH_MAX - o, "[%s]",
			    jquote(q, sizeof(q), key, keylen, false));
}

/* Spell out the path of `n` into out[JPATH_MAX]; returns its length. */
static size_t path_of(const struct jnode *n, char *out)
{
	size_t o;

	if (!n->parent) {
		out[0] = '\0';
		return 0;
	}
	o = path_of(n->parent, out);
	if (o >= JPATH_MAX - 1)
		return o;
	if (n->key)
		o = path_key(out, o, n->key, n->keylen);
	else
		o += snprintf(out + o, JPATH_MAX - o, "[%zu]", n->index);
	if (o >= JPATH_MAX - 1) {
		memcpy(out + JPATH_MAX - 4, "...", 4);
		o = JPATH_MAX - 1;
	}
	return o;
}

void jnode_root(const struct jctx *c, json_t *root, struct jnode *ret)
{
	(void)c;
	*ret = (struct jnode){ .v = root };
}

bool jnode_next(const struct jctx *c, const struct jnode *parent,
		struct jiter *it, struct jnode *ret)
{
	const struct pos_index *p = &c->pos;
	size_t t = it->i == 0 ? parent->t + 1 : p->v[it->t].next;

	if (json_is_array(parent->v)) {
		if (it->i >= json_array_size(parent->v))
			return false;
		*ret = (struct jnode){ .v = json_array_get(parent->v, it->i),
				       .parent = parent, .index = it->i };
	} else if (json_is_object(parent->v)) {
		if (it->i == 0)
			it->oiter = json_object_iter(parent->v);
		else if (it->oiter)
			it->oiter = json_object_iter_next(parent->v, it->oiter);
		if (!it->oiter)
			return false;
		it->key = json_object_iter_key(it->oiter);
		it->keylen = json_object_iter_key_len(it->oiter);
		*ret = (struct jnode){ .v = json_object_iter_value(it->oiter),
				       .parent = parent, .key = it->key,
				       .keylen = it->keylen };
		/* jansson iterates in insertion (= file) order; be sure. */
		if (!pos_key_is(p, t, it->key, it->keylen))
			t = pos_member(p, parent->t, it->key, it->keylen);
	} else {
		return false;
	}
	ret->t = t < p->n ? t : 0;
	it->t = ret->t;
	it->i++;
	return true;
}

int jnode_member(const struct jctx *c, const struct jnode *obj, const char *key,
		 struct jnode *ret)
{
	size_t len = strlen(key), t;
	json_t *v = json_object_getn(obj->v, key, len);

	if (!v)
		return -ENOENT;
	t = pos_member(&c->pos, obj->t, key, len);
	*ret = (struct jnode){ .v = v, .t = t < c->pos.n ? t : 0,
			       .parent = obj, .key = key, .keylen = len };
	return 0;
}

static int verr_at(const struct jctx *c, const struct jnode *n, bool at_key,
		   const char *fmt, va_list ap)
{
	char what[ERR_MAX], path[JPATH_MAX];
	const struct pos_entry *pe = &c->pos.v[n->t];
	size_t off = at_key && pe->key_off != POS_NO_KEY ? pe->key_off : pe->off;
	int line, col;

	vsnprintf(what, sizeof(what), fmt, ap);
	pos_line_col(c->pos.text, c->pos.len, off, &line, &col);
	if (!path_of(n, path))
		snprintf(path, sizeof(path), "(root)");
	if (c->opts->error) {
		struct job_error *je = c->opts->error;

		je->line = line;
		je->column = col;
		snprintf(je->path, sizeof(je->path), "%s", path);
		snprintf(je->message, sizeof(je->message), "%s", what);
	}
	return err_set(c->e, EINVAL, "%s:%d:%d: %s: %s", c->file, line, col,
		       path, what);
}

int jerr(const struct jctx *c, const struct jnode *n, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = verr_at(c, n, false, fmt, ap);
	va_end(ap);
	return r;
}

int jerr_key(const struct jctx *c, const struct jnode *n, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = verr_at(c, n, true, fmt, ap);
	va_end(ap);
	return r;
}

int jcheck_keys(const struct jctx *c, const struct jnode *obj,
		const char *const *allowed)
{
	struct jiter it = {};
	struct jnode m;

	while (jnode_next(c, obj, &it, &m)) {
		const char *const *a;
		char q[JQUOTE_MAX], list[256] = "";
		size_t o = 0;

		for (a = allowed; *a; a++)
			if (strlen(*a) == it.keylen &&
			    memcmp(*a, it.key, it.keylen) == 0)
				break;
		if (*a)
			continue;
		for (a = allowed; *a && o < sizeof(list); a++)
			o += snprintf(list + o, sizeof(list) - o, "%s\"%s\"",
				      a == allowed ? "" : ", ", *a);
		return jerr_key(c, &m, "unknown key %s (expected one of %s)",
				jquote(q, sizeof(q), it.key, it.keylen, false),
				list);
	}
	return 0;
}

int jmember_typed(const struct jctx *c, const struct jnode *obj,
		  const char *key, json_type type, const char *what,
		  bool required, struct jnode *ret)
{
	int r = jnode_member(c, obj, key, ret);

	if (r == -ENOENT) {
		if (required)
			return jerr(c, obj, "missing \"%s\" (%s)", key, what);
		return r;
	}
	/* All numbers are decoded as reals (keys can exceed INT64_MAX). */
	if (json_typeof(ret->v) != type &&
	    !(type == JSON_REAL && json_is_number(ret->v)))
		return jerr(c, ret, "expected %s", what);
	return 0;
}

int jstring_plain(const struct jctx *c, const struct jnode *n,
		  const char *what, const char **ret)
{
	const char *s = json_string_value(n->v);
	size_t len = json_string_length(n->v);

	if (!s)
		return jerr(c, n, "expected %s", what);
	if (len == 0)
		return jerr(c, n, "%s cannot be empty", what);
	if (strlen(s) != len)
		return jerr(c, n, "%s cannot contain a NUL character", what);
	*ret = s;
	return 0;
}
