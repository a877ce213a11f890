# SPDX-License-Identifier: MIT
LIB_SRCS += userspace/engine/engine.c userspace/engine/stream.c \
	userspace/engine/instance.c userspace/engine/window.c \
	userspace/engine/iostage.c userspace/engine/cancel.c \
	userspace/engine/distribute.c \
	userspace/engine/ingest.c userspace/engine/output.c \
	userspace/engine/iopolicy.c userspace/engine/report.c
TEST_PROGS += distribute_test report_test
report_test_SRCS := tests/unit/report_test.c $(TEST_HELPERS)
distribute_test_SRCS := tests/unit/distribute_test.c $(TEST_HELPERS)

TEST_PROGS += engine_test ingest_test
ingest_test_SRCS := tests/unit/ingest_test.c $(TEST_HELPERS)
$(B)/tests/ingest_test: | test-functions
TEST_SCRIPTS += tests/integration/ingest_scale.sh
engine_test_SRCS := tests/unit/engine_test.c $(TEST_HELPERS)
$(B)/tests/engine_test: | test-functions $(B)/pith-worker
TEST_PROGS += iofuncs_stream_test
iofuncs_stream_test_SRCS := tests/unit/iofuncs_stream_test.c \
	tests/unit/iofuncs_util.c $(TEST_HELPERS)
TEST_PROGS += engine_stream_test
engine_stream_test_SRCS := tests/unit/engine_stream_test.c \
	tests/unit/iofuncs_util.c $(TEST_HELPERS)
$(B)/tests/engine_stream_test: | test-functions $(B)/pith-worker
TEST_PROGS += engine_grow_test
engine_grow_test_SRCS := tests/unit/engine_grow_test.c $(TEST_HELPERS)
# 100,000 instances, and an `all` over 100,000 items, under ulimit -n 1024.
TEST_SCRIPTS += tests/integration/engine_scale.sh
TEST_SCRIPTS += tests/integration/placement.sh
# Instances at once: per CPU, more when they are short, or -j.
TEST_SCRIPTS += tests/integration/slots.sh
# Fresh instances in a lane per CPU (by default; PITH_LANES=0 off): the same results.
TEST_SCRIPTS += tests/integration/lanes.sh
