# SPDX-License-Identifier: MIT
# job/: the job file parser and validator.
LIB_SRCS += userspace/job/parse.c userspace/job/validate.c \
	userspace/job/items.c \
	userspace/job/graph.c userspace/job/walk.c userspace/job/pos.c \
	userspace/job/b64.c
TEST_PROGS += job_test
job_test_SRCS := tests/unit/job_test.c $(TEST_HELPERS)
