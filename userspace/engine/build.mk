# SPDX-License-Identifier: MIT
LIB_SRCS += userspace/engine/engine.c userspace/engine/distribute.c \
	userspace/engine/ingest.c userspace/engine/output.c \
	userspace/engine/iopolicy.c
TEST_PROGS += distribute_test
distribute_test_SRCS := tests/unit/distribute_test.c $(TEST_HELPERS)

# Test functions for engine_test, built with the documented pith-cc.
ENGINE_TEST_FNS := $(patsubst tests/engine/fn/%.c,$(B)/tests/fn/engine/%,\
	$(wildcard tests/engine/fn/*.c))
$(B)/tests/fn/engine/%: tests/engine/fn/%.c tools/pith-cc build/sdk/crt.o \
		build/sdk/libpith_fn.a
	$(call msg,PITHCC,$@)
	@mkdir -p $(@D)
	$(Q)tools/pith-cc -Wextra -Werror -o $@ $<
TEST_PROGS += engine_test
engine_test_SRCS := tests/unit/engine_test.c $(TEST_HELPERS)
$(B)/tests/engine_test: | $(ENGINE_TEST_FNS) $(B)/pith-worker
TEST_PROGS += iofuncs_stream_test
iofuncs_stream_test_SRCS := tests/unit/iofuncs_stream_test.c \
	tests/unit/iofuncs_util.c $(TEST_HELPERS)
TEST_PROGS += engine_stream_test
engine_stream_test_SRCS := tests/unit/engine_stream_test.c $(TEST_HELPERS)
$(B)/tests/engine_stream_test: | $(ENGINE_TEST_FNS) $(B)/pith-worker
