// SPDX-License-Identifier: MIT
/* Position index of a JSON text: where each value and its key start. */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "job/pos.h"
#include "lib/macro.h"

static size_t skip_ws(const char *t, size_t len, size_t i)
{
	while (i < len &&
	       (t[i] == ' ' || t[i] == '\t' || t[i] == '\n' || t[i] == '\r'))
		i++;
	return i;
}

/* `i` is at the opening quote; returns the offset after the closing one. */
static size_t skip_string(const char *t, size_t len, size_t i)
{
	for (i++; i < len; i++) {
		if (t[i] == '\\')
			i++; /* no escape sequence contains '"' after its start */
		else if (t[i] == '"')
			return i + 1;
	}
	return SIZE_MAX;
}

static bool scalar_char(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
	       c == '-' || c == '+' || c == '.' || c == 'E';
}

static int push_entry(struct pos_entry **v, size_t *n, size_t *cap,
		      size_t off, uint32_t key_off)
{
	if (*n == *cap) {
		size_t c = *cap ? *cap * 2 : 256;
		struct pos_entry *nv = reallocarray(*v, c, sizeof(**v));

		if (!nv)
			return -ENOMEM;
		*v = nv;
		*cap = c;
	}
	(*v)[*n] = (struct pos_entry){ .off = off, .key_off = key_off,
				       .next = *n + 1 };
	(*n)++;
	return 0;
}

/* Index t[0..len) into *v (capacity *cap, grown as needed); *ret_n entries. */
static int index_text(const char *t, size_t len, struct pos_entry **pv,
		      size_t *pcap, size_t *ret_n)
{
	_cleanup_free_ uint32_t *stack = NULL;
	uint32_t stack0[64];
	struct pos_entry *v = *pv;
	size_t n = 0, cap = *pcap, depth = 0, scap = ARRAY_SIZE(stack0);
	uint32_t *st = stack0;
	uint32_t key_off = POS_NO_KEY;
	size_t i = skip_ws(t, len, 0);
	int r = 0;

	if (len >= UINT32_MAX)
		return -EFBIG;
	for (;;) {
		bool opened = false;

		if (i >= len)
			goto invalid;
		r = push_entry(&v, &n, &cap, i, key_off);
		if (r < 0)
			goto out;
		if (n >= UINT32_MAX) {
			r = -EFBIG;
			goto out;
		}
		if (t[i] == '{' || t[i] == '[') {
			if (depth == scap) {
				size_t c = scap * 2;
				uint32_t *ns = reallocarray(stack, c,
							    sizeof(*stack));

				if (!ns) {
					r = -ENOMEM;
					goto out;
				}
				if (!stack)
					memcpy(ns, stack0, sizeof(stack0));
				stack = st = ns;
				scap = c;
			}
			st[depth++] = n - 1;
			opened = true;
			i++;
		} else if (t[i] == '"') {
			i = skip_string(t, len, i);
			if (i == SIZE_MAX)
				goto invalid;
		} else {
			size_t s = i;

			while (i < len && scalar_char(t[i]))
				i++;
			if (i == s)
				goto invalid;
		}
		i = skip_ws(t, len, i);

		/* Close every container that ends here. */
		while (depth > 0) {
			const struct pos_entry *top = &v[st[depth - 1]];
			char close = t[top->off] == '{' ? '}' : ']';

			if (i >= len || t[i] != close)
				break;
			v[st[--depth]].next = n;
			opened = false;
			i = skip_ws(t, len, i + 1);
		}
		if (depth == 0) {
			if (i != len)
				goto invalid;
			break;
		}
		if (!opened) {
			if (i >= len || t[i] != ',')
				goto invalid;
			i = skip_ws(t, len, i + 1);
		}
		key_off = POS_NO_KEY;
		if (t[v[st[depth - 1]].off] == '{') {
			if (i >= len || t[i] != '"')
				goto invalid;
			key_off = i;
			i = skip_ws(t, len, skip_string(t, len, i));
			if (i >= len || t[i] != ':')
				goto invalid;
			i = skip_ws(t, len, i + 1);
		}
	}
	*ret_n = n;
	goto out;
invalid:
	r = -EINVAL;
out:
	*pv = v;
	*pcap = cap;
	return r;
}

int pos_index_build(const char *t, size_t len, struct pos_index *ret)
{
	struct pos_index p = {};
	int r = pos_index_rebuild(&p, t, len);

	if (r < 0) {
		pos_index_done(&p);
		return r;
	}
	*ret = p;
	return 0;
}

int pos_index_rebuild(struct pos_index *p, const char *t, size_t len)
{
	size_t n = 0;
	int r;

	p->text = t;
	p->len = len;
	p->n = 0;
	r = index_text(t, len, &p->v, &p->cap, &n);
	if (r >= 0)
		p->n = n;
	return r;
}


void pos_index_done(struct pos_index *p)
{
	free(p->v);
	*p = (struct pos_index){};
}

static int hex4(const char *t, size_t len, size_t i)
{
	int v = 0;

	if (i + 4 > len)
		return -1;
	for (size_t k = i; k < i + 4; k++) {
		char c = t[k];

		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= c - '0';
		else if (c >= 'a' && c <= 'f')
			v |= c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			v |= c - 'A' + 10;
		else
			return -1;
	}
	return v;
}

static size_t utf8_put(unsigned char *b, uint32_t cp)
{
	if (cp < 0x80) {
		b[0] = cp;
		return 1;
	}
	if (cp < 0x800) {
		b[0] = 0xc0 | (cp >> 6);
		b[1] = 0x80 | (cp & 0x3f);
		return 2;
	}
	if (cp < 0x10000) {
		b[0] = 0xe0 | (cp >> 12);
		b[1] = 0x80 | ((cp >> 6) & 0x3f);
		b[2] = 0x80 | (cp & 0x3f);
		return 3;
	}
	b[0] = 0xf0 | (cp >> 18);
	b[1] = 0x80 | ((cp >> 12) & 0x3f);
	b[2] = 0x80 | ((cp >> 6) & 0x3f);
	b[3] = 0x80 | (cp & 0x3f);
	return 4;
}

/* Decode one character of the JSON string at t[*i]; -1 on a bad escape. */
static int decode_char(const char *t, size_t len, size_t *i,
		       unsigned char *buf, size_t *n)
{
	static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
	const char *p;
	int cp, lo;

	if (t[*i] != '\\') {
		buf[0] = t[(*i)++];
		*n = 1;
		return 0;
	}
	if (*i + 1 >= len)
		return -1;
	p = strchr(from, t[*i + 1]);
	if (p && *p) {
		buf[0] = to[p - from];
		*n = 1;
		*i += 2;
		return 0;
	}
	if (t[*i + 1] != 'u')
		return -1;
	cp = hex4(t, len, *i + 2);
	if (cp < 0)
		return -1;
	*i += 6;
	if (cp >= 0xd800 && cp < 0xdc00 && *i + 1 < len && t[*i] == '\\' &&
	    t[*i + 1] == 'u') {
		lo = hex4(t, len, *i + 2);
		if (lo >= 0xdc00 && lo < 0xe000) {
			cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
			*i += 6;
		}
	}
	*n = utf8_put(buf, cp);
	return 0;
}

static bool key_equals(const char *t, size_t len, size_t off, const char *key,
		       size_t keylen)
{
	size_t i = off + 1, k = 0;

	while (i < len && t[i] != '"') {
		unsigned char buf[4];
		size_t n;

		if (decode_char(t, len, &i, buf, &n) < 0)
			return false;
		if (n > keylen - k || memcmp(key + k, buf, n) != 0)
			return false;
		k += n;
	}
	return k == keylen;
}

bool pos_key_is(const struct pos_index *p, size_t i, const char *key,
		size_t keylen)
{
	if (i >= p->n || p->v[i].key_off == POS_NO_KEY)
		return false;
	return key_equals(p->text, p->len, p->v[i].key_off, key, keylen);
}

size_t pos_member(const struct pos_index *p, size_t obj, const char *key,
		  size_t keylen)
{
	if (obj >= p->n || p->text[p->v[obj].off] != '{')
		return SIZE_MAX;
	for (size_t c = obj + 1; c < p->v[obj].next; c = p->v[c].next)
		if (pos_key_is(p, c, key, keylen))
			return c;
	return SIZE_MAX;
}

void pos_line_col(const char *text, size_t len, size_t off, int *ret_line,
		  int *ret_col)
{
	int line = 1, col = 1;

	for (size_t i = 0; i < off && i < len; i++) {
		unsigned char c = text[i];

		if (c == '\n') {
			line++;
			col = 1;
		} else if ((c & 0xc0) != 0x80) {
			col++;
		}
	}
	*ret_line = line;
	*ret_col = col;
}

size_t pos_number_len(const struct pos_index *p, size_t off)
{
	size_t i = off;

	while (i < p->len && scalar_char(p->text[i]))
		i++;
	return i - off;
}

/* The offset after the value at t[i], or SIZE_MAX. Only its bounds are
 * found: brackets are counted, not matched, and scalars not checked. */
static size_t skip_value(const char *t, size_t len, size_t i)
{
	size_t depth = 0, s = i;

	if (i >= len)
		return SIZE_MAX;
	if (t[i] == '"')
		return skip_string(t, len, i);
	if (t[i] != '{' && t[i] != '[') {
		while (i < len && scalar_char(t[i]))
			i++;
		return i == s ? SIZE_MAX : i;
	}
	while (i < len) {
		char c = t[i];

		if (c == '"') {
			i = skip_string(t, len, i);
			if (i == SIZE_MAX)
				return SIZE_MAX;
			continue;
		}
		if (c == '{' || c == '[') {
			depth++;
		} else if (c == '}' || c == ']') {
			if (--depth == 0)
				return i + 1;
		}
		i++;
	}
	return SIZE_MAX;
}

/* From the '[' at *pi: count the elements, check the commas between them;
 * *pi is left at the ']'. */
static int scan_array(const char *t, size_t len, size_t *pi, size_t *ret_n)
{
	size_t i = skip_ws(t, len, *pi + 1), n = 0;

	if (i < len && t[i] == ']') {
		*pi = i;
		*ret_n = 0;
		return 0;
	}
	for (;;) {
		i = skip_value(t, len, i);
		if (i == SIZE_MAX)
			return -EINVAL;
		n++;
		i = skip_ws(t, len, i);
		if (i < len && t[i] == ']')
			break;
		if (i >= len || t[i] != ',')
			return -EINVAL;
		i = skip_ws(t, len, i + 1);
	}
	*pi = i;
	*ret_n = n;
	return 0;
}

/* "key" ws ':' ws at *pi; *pi is left at the value. */
static int scan_key(const char *t, size_t len, size_t *pi)
{
	size_t i = *pi;

	if (i >= len || t[i] != '"')
		return -EINVAL;
	i = skip_ws(t, len, skip_string(t, len, i));
	if (i >= len || t[i] != ':')
		return -EINVAL;
	*pi = skip_ws(t, len, i + 1);
	return 0;
}

/* After a member's value at *pi: ws, then ',' ws (returns 1) or the
 * object's '}' (returns 0, *pi after it). */
static int scan_member_end(const char *t, size_t len, size_t *pi)
{
	size_t i = skip_ws(t, len, *pi);

	if (i < len && t[i] == '}') {
		*pi = i + 1;
		return 0;
	}
	if (i >= len || t[i] != ',')
		return -EINVAL;
	*pi = skip_ws(t, len, i + 1);
	return 1;
}

/* The '{' of an object at *pi: 0 when it is empty (*pi after its '}'),
 * 1 with *pi at its first key. */
static int scan_object_open(const char *t, size_t len, size_t *pi)
{
	size_t i = skip_ws(t, len, *pi + 1);

	if (i < len && t[i] == '}') {
		*pi = i + 1;
		return 0;
	}
	*pi = i;
	return 1;
}

/* A member's value at *pi, skipped. */
static int skip_member_value(const char *t, size_t len, size_t *pi)
{
	size_t i = skip_value(t, len, *pi);

	if (i == SIZE_MAX)
		return -EINVAL;
	*pi = i;
	return 0;
}

/* The members of the "inputs" object at *pi ('{'); *pi is left after it. */
static int scan_sets(const char *t, size_t len, size_t *pi,
		     struct pos_cut **v, size_t *n, size_t *cap)
{
	size_t i = *pi;
	int r = scan_object_open(t, len, &i);

	while (r > 0) {
		r = scan_key(t, len, &i);
		if (r < 0)
			return r;
		if (i < len && t[i] == '[') {
			struct pos_cut cut = { .open = i };

			r = scan_array(t, len, &i, &cut.n);
			if (r < 0)
				return r;
			cut.close = i++;
			if (*n == *cap) {
				size_t c = *cap ? *cap * 2 : 8;
				struct pos_cut *nv = reallocarray(*v, c,
								  sizeof(**v));

				if (!nv)
					return -ENOMEM;
				*v = nv;
				*cap = c;
			}
			(*v)[(*n)++] = cut;
		} else {
			r = skip_member_value(t, len, &i);
			if (r < 0)
				return r;
		}
		r = scan_member_end(t, len, &i);
		if (r < 0)
			return r;
	}
	*pi = i;
	return 0;
}

int pos_item_arrays(const char *t, size_t len, struct pos_cut **ret)
{
	_cleanup_free_ struct pos_cut *v = NULL;
	size_t n = 0, cap = 0, i = skip_ws(t, len, 0);
	bool seen = false;
	int r;

	if (len >= UINT32_MAX || i >= len || t[i] != '{')
		return -EINVAL;
	r = scan_object_open(t, len, &i);
	while (r > 0) {
		size_t k = i;
		bool inputs;

		r = scan_key(t, len, &i);
		if (r < 0)
			return r;
		inputs = key_equals(t, len, k, "inputs", 6);
		if (inputs && (seen || i >= len || t[i] != '{'))
			return -EINVAL;
		if (inputs) {
			seen = true;
			r = scan_sets(t, len, &i, &v, &n, &cap);
		} else {
			r = skip_member_value(t, len, &i);
		}
		if (r < 0)
			return r;
		r = scan_member_end(t, len, &i);
		if (r < 0)
			return r;
	}
	if (skip_ws(t, len, i) != len || n > INT_MAX)
		return -EINVAL;
	*ret = TAKE_PTR(v);
	return (int)n;
}

bool pos_cut_next(const char *t, const struct pos_cut *cut, size_t *i,
		  size_t *ret_off, size_t *ret_len)
{
	size_t j = skip_ws(t, cut->close, *i ? *i : (size_t)cut->open + 1), e;

	if (j >= cut->close)
		return false;
	e = skip_value(t, cut->close, j);
	if (e == SIZE_MAX) /* not an array pos_item_arrays() returned */
		return false;
	*ret_off = j;
	*ret_len = e - j;
	e = skip_ws(t, cut->close, e);
	*i = e < cut->close && t[e] == ',' ? e + 1 : e;
	return true;
}
