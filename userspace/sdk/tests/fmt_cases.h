/* SPDX-License-Identifier: MIT */
/*
 * printf cases shared by the SDK probe function (pith_snprintf) and
 * tests/unit/sdk_test.c (libc snprintf): both must print the same text.
 * X(format, args...) for each case.
 */
#ifndef PITH_SDK_TESTS_FMT_CASES_H
#define PITH_SDK_TESTS_FMT_CASES_H

#define SDK_FMT_CASES(X)                                                   \
	X("plain text, no conversion")                                     \
	X("%d %i %d", 42, -42, 0)                                          \
	X("[%5d|%-5d|%05d|%5d]", 42, 42, -42, 1234567)                     \
	X("[%+d|% d|%+d|%.5d|%8.3d|%-8.3d]", 7, 7, -7, 42, -42, 42)        \
	X("%u %x %X %o", 3000000000u, 0xbeefu, 0xbeefu, 8u)                \
	X("%ld %lu %lx", -9223372036854775807L - 1, 18446744073709551615UL, \
	  0xdeadbeefcafeUL)                                                \
	X("%lld %llu %zu %zd", -1LL, 18446744073709551615ULL, (size_t)4096, \
	  (ssize_t)-5)                                                     \
	X("%hhd %hhu %hd %hu", 300, 300, 70000, 70000)                     \
	X("[%c%c|%3c|%-3c]", 'o', 'k', 'x', 'y')                           \
	X("[%s|%10s|%-10s|%.3s|%.*s]", "hi", "right", "left", "truncate", \
	  2, "abcdef")                                                     \
	X("[%*d|%-*d|%*d]", 6, 7, 6, 7, -4, 3)                             \
	X("100%% %p", (void *)0x1234)                                      \
	X("%.0d|%.0u|%5.0d", 0, 0u, 0)                                     \
	X("%f %f %f", 3.14159, -2.5, 0.0)                                  \
	X("%.2f %.3f %.0f %.1f", 2.675, 1.0005, 2.4, 99.96)                \
	X("[%10.3f|%-10.2f|%010.4f|%+.1f]", 3.14159, -1.126, -2.5, 7.34)   \
	X("%f %.2f", 1e20, 123456789.017)

#endif
