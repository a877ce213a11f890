// SPDX-License-Identifier: MIT
/* Parsing of sizes and durations written in job files and on the command line. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lib/macro.h"
#include "lib/units.h"

struct unit {
	const char *suffix;
	double scale;
};

static int parse_scaled(const char *s, const struct unit *units, size_t n,
			double *ret)
{
	const char *p = s;
	size_t digits = 0;
	char *end;
	double v;

	/* Plain decimals only: strtod alone would also take "0x10", "1e3",
	 * "inf" and leading blanks. */
	if (!s)
		return -EINVAL;
	for (; *p >= '0' && *p <= '9'; p++)
		digits++;
	if (*p == '.')
		for (p++; *p >= '0' && *p <= '9'; p++)
			digits++;
	if (!digits)
		return -EINVAL;
	errno = 0;
	v = strtod(s, &end);
	if (errno || end != p || !isfinite(v) || v < 0)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		if (strcmp(end, units[i].suffix) == 0) {
			*ret = v * units[i].scale;
			return 0;
		}
	}
	return -EINVAL;
}

int parse_size(const char *s, uint64_t *ret_bytes)
{
	static const struct unit units[] = {
		{ "", 1 },
		{ "B", 1 },
		{ "KiB", 1024.0 },
		{ "MiB", 1048576.0 },
		{ "GiB", 1073741824.0 },
		{ "K", 1024.0 },
		{ "M", 1048576.0 },
		{ "G", 1073741824.0 },
	};
	double v;
	int r = parse_scaled(s, units, ARRAY_SIZE(units), &v);

	if (r < 0)
		return r;
	if (v >= 18446744073709551616.0)
		return -ERANGE;
	if (v != floor(v))
		return -EINVAL; /* fractional bytes */
	*ret_bytes = (uint64_t)v;
	return 0;
}

int parse_duration_ms(const char *s, uint64_t *ret_ms)
{
	static const struct unit units[] = {
		{ "ms", 1 },
		{ "s", 1000.0 },
		{ "us", 0.001 },
		{ "m", 60000.0 },
	};
	double v;
	int r = parse_scaled(s, units, ARRAY_SIZE(units), &v);

	if (r < 0)
		return r;
	if (v >= 1e15)
		return -ERANGE;
	*ret_ms = (uint64_t)ceil(v);
	return 0;
}
