// SPDX-License-Identifier: MIT
/* Number formatting and parsing, and a small snprintf. */
#include <pith/fn.h>

size_t pith_fmt_u64(char *buf, uint64_t v)
{
	char tmp[PITH_FMT_U64_MAX];
	size_t n = 0, len;

	do {
		tmp[n++] = '0' + v % 10;
		v /= 10;
	} while (v);
	for (len = 0; len < n; len++)
		buf[len] = tmp[n - 1 - len];
	buf[len] = '\0';
	return len;
}

size_t pith_fmt_i64(char *buf, int64_t v)
{
	if (v >= 0)
		return pith_fmt_u64(buf, v);
	buf[0] = '-';
	return 1 + pith_fmt_u64(buf + 1, -(uint64_t)v);
}

size_t pith_fmt_hex(char *buf, uint64_t v)
{
	static const char digits[] = "0123456789abcdef";
	size_t n = 0;
	int shift = 60;

	while (shift > 0 && !(v >> shift))
		shift -= 4;
	for (; shift >= 0; shift -= 4)
		buf[n++] = digits[(v >> shift) & 0xf];
	buf[n] = '\0';
	return n;
}

int pith_parse_u64(const char **p, const char *end, uint64_t *ret)
{
	const char *s = *p;
	uint64_t v = 0;
	bool overflow = false;

	if (s >= end || !pith_isdigit(*s))
		return -PITH_EINVAL;
	for (; s < end && pith_isdigit(*s); s++) {
		unsigned d = *s - '0';

		if (v > (UINT64_MAX - d) / 10)
			overflow = true;
		v = v * 10 + d;
	}
	*p = s;
	if (overflow)
		return -PITH_ERANGE;
	*ret = v;
	return 0;
}

int pith_parse_i64(const char **p, const char *end, int64_t *ret)
{
	const char *s = *p;
	bool neg = false;
	uint64_t v;
	int r;

	if (s < end && (*s == '-' || *s == '+'))
		neg = *s++ == '-';
	r = pith_parse_u64(&s, end, &v);
	if (r == -PITH_EINVAL)
		return r;
	*p = s;
	if (r < 0 || v > (uint64_t)INT64_MAX + neg)
		return -PITH_ERANGE;
	*ret = neg ? (int64_t)(0 - v) : (int64_t)v;
	return 0;
}

const char *pith_skip_space(const char **p, const char *end)
{
	while (*p < end && pith_isspace(**p))
		(*p)++;
	return *p;
}

/* Where vsnprintf writes: counts everything, stores what fits. */
struct out {
	char *buf;
	size_t size;
	size_t n;
};

static void put(struct out *o, char c)
{
	if (o->n + 1 < o->size)
		o->buf[o->n] = c;
	o->n++;
}

static void put_pad(struct out *o, char c, int count)
{
	while (count-- > 0)
		put(o, c);
}

struct spec {
	bool left, zero, plus, space;
	int width;
	int prec; /* -1: none */
};

/* Emit prefix (sign), then digits, honouring width, '-', '0', precision. */
static void put_field(struct out *o, const struct spec *sp, const char *prefix,
		      const char *digits, size_t len, bool numeric)
{
	size_t plen = strlen(prefix);
	int zeros = 0, pad;

	if (numeric && sp->prec >= 0 && (size_t)sp->prec > len)
		zeros = sp->prec - len;
	pad = sp->width - (int)(plen + zeros + len);
	if (numeric && sp->zero && !sp->left && sp->prec < 0 && pad > 0) {
		zeros += pad;
		pad = 0;
	}
	if (!sp->left)
		put_pad(o, ' ', pad);
	for (size_t i = 0; i < plen; i++)
		put(o, prefix[i]);
	put_pad(o, '0', zeros);
	for (size_t i = 0; i < len; i++)
		put(o, digits[i]);
	if (sp->left)
		put_pad(o, ' ', pad);
}

static void put_uint(struct out *o, const struct spec *sp, uint64_t v,
		     unsigned base, bool upper, const char *prefix)
{
	const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
	char tmp[24], rev[24];
	size_t n = 0, len = 0;

	/* printf: precision 0 and value 0 print no digit. */
	if (!(v == 0 && sp->prec == 0)) {
		do {
			rev[n++] = digits[v % base];
			v /= base;
		} while (v);
	}
	while (n)
		tmp[len++] = rev[--n];
	put_field(o, sp, prefix, tmp, len, true);
}

static void put_double(struct out *o, const struct spec *sp, double v)
{
	int prec = sp->prec < 0 ? 6 : sp->prec > 17 ? 17 : sp->prec;
	const char *prefix = "";
	char tmp[360];
	size_t len = 0;
	double scale = 1, ip;
	uint64_t whole, frac;
	struct spec sp2;
	int tens = 0;

	if (v != v) {
		put_field(o, sp, "", "nan", 3, false);
		return;
	}
	if (v < 0 || (v == 0 && __builtin_signbit(v))) {
		prefix = "-";
		v = -v;
	} else if (sp->plus) {
		prefix = "+";
	} else if (sp->space) {
		prefix = " ";
	}
	if (v - v != 0) { /* inf */
		put_field(o, sp, prefix, "inf", 3, false);
		return;
	}
	/* Beyond u64, print the leading digits and then zeros. */
	while (v >= 1e19) {
		v /= 10;
		tens++;
	}
	for (int i = 0; i < prec; i++)
		scale *= 10;
	/* Round to prec decimals, then split into whole and fraction. */
	ip = (double)(uint64_t)v;
	frac = tens ? 0 : (uint64_t)((v - ip) * scale + 0.5);
	whole = (uint64_t)ip;
	if ((double)frac >= scale) {
		frac -= (uint64_t)scale;
		whole++;
	}
	len = pith_fmt_u64(tmp, whole);
	while (tens--)
		tmp[len++] = '0';
	if (prec > 0) {
		tmp[len++] = '.';
		for (int i = prec - 1; i >= 0; i--) {
			tmp[len + i] = '0' + frac % 10;
			frac /= 10;
		}
		len += prec;
	}
	/* The digits carry the precision already; '0' pads as for integers. */
	sp2 = *sp;
	sp2.prec = -1;
	put_field(o, &sp2, prefix, tmp, len, true);
}

static int parse_int(const char **f)
{
	int v = 0;

	while (pith_isdigit(**f))
		v = v * 10 + (*(*f)++ - '0');
	return v;
}

int pith_vsnprintf(char *buf, size_t size, const char *fmt, va_list ap)
{
	struct out o = { .buf = buf, .size = size };
	const char *f = fmt;

	while (*f) {
		struct spec sp = { .prec = -1 };
		int lng = 0; /* 0 int, 1 long, 2 long long, -1 short, -2 char */
		bool is_signed = false;
		uint64_t u = 0;
		int64_t s;

		if (*f != '%') {
			put(&o, *f++);
			continue;
		}
		f++;
		for (;; f++) {
			if (*f == '-')
				sp.left = true;
			else if (*f == '0')
				sp.zero = true;
			else if (*f == '+')
				sp.plus = true;
			else if (*f == ' ')
				sp.space = true;
			else
				break;
		}
		if (*f == '*') {
			sp.width = va_arg(ap, int);
			if (sp.width < 0) {
				sp.left = true;
				sp.width = -sp.width;
			}
			f++;
		} else {
			sp.width = parse_int(&f);
		}
		if (*f == '.') {
			f++;
			if (*f == '*') {
				sp.prec = va_arg(ap, int);
				if (sp.prec < 0)
					sp.prec = -1;
				f++;
			} else {
				sp.prec = parse_int(&f);
			}
		}
		for (;; f++) {
			if (*f == 'l')
				lng = lng < 2 ? lng + 1 : 2;
			else if (*f == 'h')
				lng = lng > -2 ? lng - 1 : -2;
			else if (*f == 'z' || *f == 'j' || *f == 't')
				lng = 2;
			else
				break;
		}
		switch (*f) {
		case 'd':
		case 'i':
			is_signed = true;
			/* fall through */
		case 'u':
		case 'x':
		case 'X':
		case 'o':
			if (lng >= 1) {
				s = lng == 1 ? va_arg(ap, long)
					     : va_arg(ap, long long);
				u = s;
			} else {
				s = va_arg(ap, int);
				if (!is_signed)
					s = (unsigned)s;
				if (lng == -1)
					s = is_signed ? (short)s
						      : (unsigned short)s;
				else if (lng == -2)
					s = is_signed ? (signed char)s
						      : (unsigned char)s;
				u = s;
			}
			if (is_signed) {
				const char *prefix = sp.plus	? "+"
						     : sp.space ? " "
								: "";

				if (s < 0) {
					prefix = "-";
					u = -(uint64_t)s;
				}
				put_uint(&o, &sp, u, 10, false, prefix);
			} else {
				put_uint(&o, &sp, u,
					 *f == 'o' ? 8 : *f == 'u' ? 10 : 16,
					 *f == 'X', "");
			}
			break;
		case 'p':
			u = (uintptr_t)va_arg(ap, void *);
			put_uint(&o, &sp, u, 16, false, "0x");
			break;
		case 'c': {
			char c = va_arg(ap, int);

			put_field(&o, &sp, "", &c, 1, false);
			break;
		}
		case 's': {
			const char *str = va_arg(ap, const char *);

			if (!str)
				str = "(null)";
			put_field(&o, &sp, "", str,
				  sp.prec >= 0 ? strnlen(str, sp.prec)
					       : strlen(str),
				  false);
			break;
		}
		case 'f':
		case 'F':
			put_double(&o, &sp, va_arg(ap, double));
			break;
		case '%':
			put(&o, '%');
			break;
		default: /* unknown: print it as written */
			put(&o, '%');
			if (!*f)
				goto done;
			put(&o, *f);
			break;
		}
		f++;
	}
done:
	if (size)
		buf[o.n < size ? o.n : size - 1] = '\0';
	return o.n;
}

int pith_snprintf(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = pith_vsnprintf(buf, size, fmt, ap);
	va_end(ap);
	return n;
}

uint64_t pith_hash(const void *data, size_t len)
{
	const unsigned char *p = data;
	uint64_t h = 0xcbf29ce484222325ull;

	while (len--) {
		h ^= *p++;
		h *= 0x100000001b3ull;
	}
	return h;
}
