// SPDX-License-Identifier: MIT
/* Strict base64 decoding of inline job input items (RFC 4648, section 4). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "job/walk.h"

static int b64_value(unsigned char ch)
{
	if (ch >= 'A' && ch <= 'Z')
		return ch - 'A';
	if (ch >= 'a' && ch <= 'z')
		return ch - 'a' + 26;
	if (ch >= '0' && ch <= '9')
		return ch - '0' + 52;
	if (ch == '+')
		return 62;
	if (ch == '/')
		return 63;
	return -1;
}

int job_base64_decode(const char *s, size_t len, unsigned char **ret,
		      size_t *ret_len, size_t *ret_bad)
{
	_cleanup_free_ unsigned char *out = NULL;
	size_t o = 0;

	if (len % 4 != 0) {
		*ret_bad = len;
		return -EINVAL;
	}
	out = malloc(len / 4 * 3 + 1);
	if (!out)
		return -ENOMEM;
	for (size_t i = 0; i < len; i += 4) {
		bool last = i + 4 == len;
		size_t pad = 0;
		uint32_t q = 0;

		if (last)
			pad = (s[i + 3] == '=') + (s[i + 3] == '=' && s[i + 2] == '=');
		for (size_t k = 0; k < 4 - pad; k++) {
			int v = b64_value(s[i + k]);

			if (v < 0) {
				*ret_bad = i + k;
				return -EINVAL;
			}
			q = q << 6 | v;
		}
		q <<= 6 * pad;
		/* The bits that padding drops must be zero (canonical form). */
		if ((pad == 1 && (q & 0xff)) || (pad == 2 && (q & 0xffff))) {
			*ret_bad = i + 3 - pad;
			return -EINVAL;
		}
		out[o++] = q >> 16;
		if (pad < 2)
			out[o++] = q >> 8;
		if (pad < 1)
			out[o++] = q;
	}
	out[o] = '\0';
	*ret_len = o;
	*ret = TAKE_PTR(out);
	return 0;
}
