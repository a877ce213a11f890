/* SPDX-License-Identifier: MIT */
/* Parsing of human-written sizes ("16MiB") and durations ("2s", "150ms"). */
#ifndef PITH_LIB_UNITS_H
#define PITH_LIB_UNITS_H

#include <stdint.h>

/* "4096", "64KiB", "16MiB", "1GiB", "1.5MiB" -> bytes. -EINVAL, -ERANGE. */
int parse_size(const char *s, uint64_t *ret_bytes);
/* "2s", "150ms", "1.5s", "500us", "1m" -> milliseconds (rounded up). */
int parse_duration_ms(const char *s, uint64_t *ret_ms);

#endif
