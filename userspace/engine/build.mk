# SPDX-License-Identifier: MIT
LIB_SRCS += userspace/engine/engine.c userspace/engine/distribute.c \
	userspace/engine/ingest.c userspace/engine/output.c
TEST_PROGS += distribute_test
distribute_test_SRCS := tests/unit/distribute_test.c $(TEST_HELPERS)
