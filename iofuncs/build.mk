# SPDX-License-Identifier: MIT
# The trusted I/O functions, and the io_uring event loop they run on
# (userspace/lib/uring.c belongs to this part, so it is listed here rather
# than in userspace/lib/build.mk).
LIB_SRCS += userspace/lib/uring.c userspace/lib/hostport.c \
	iofuncs/iofuncs.c iofuncs/arena.c iofuncs/segread.c iofuncs/file.c \
	iofuncs/loadfile.c iofuncs/hosts.c \
	iofuncs/http_parse.c iofuncs/http.c iofuncs/policy.c

IOFUNCS_TEST_UTIL := tests/unit/iofuncs_util.c $(TEST_HELPERS)
TEST_PROGS += uring_test iofuncs_parse_test iofuncs_file_test \
	iofuncs_http_test arena_test loadfile_test
uring_test_SRCS := tests/unit/uring_test.c $(TEST_HELPERS)
arena_test_SRCS := tests/unit/arena_test.c $(TEST_HELPERS)
loadfile_test_SRCS := tests/unit/loadfile_test.c $(TEST_HELPERS)
iofuncs_parse_test_SRCS := tests/unit/iofuncs_parse_test.c \
	$(TEST_HELPERS)
iofuncs_file_test_SRCS := tests/unit/iofuncs_file_test.c $(IOFUNCS_TEST_UTIL)
iofuncs_http_test_SRCS := tests/unit/iofuncs_http_test.c $(IOFUNCS_TEST_UTIL)

# examples/fetch-summary (compute -> http -> compute -> file.write).
TEST_SCRIPTS += tests/integration/io_fetch_summary.sh

# Benchmark driver for tools/bench/io_bench.sh (not installed).
PROGS += io_bench
io_bench_SRCS := tools/bench/io_bench.c
TEST_SCRIPTS += tests/integration/io_files.sh
TEST_SCRIPTS += tests/security/io_policy.sh
TEST_SCRIPTS += tests/integration/io_retries.sh
