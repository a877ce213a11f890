# SPDX-License-Identifier: MIT
# Test programs of the harness itself and of the lower layers (lib, store).
# Every C test links $(TEST_HELPERS) (tests/harness/helpers.c, set in the
# top Makefile so fragments read before this one see it):
#   foo_test_SRCS := tests/unit/foo_test.c $(TEST_HELPERS)

TEST_PROGS += lib_test store_test harness_test
lib_test_SRCS := tests/unit/lib_test.c $(TEST_HELPERS)
store_test_SRCS := tests/unit/store_test.c $(TEST_HELPERS)
harness_test_SRCS := tests/unit/harness_test.c $(TEST_HELPERS)

# A program whose tests fail on purpose (assertion, wrong signal, timeout,
# skip); harness_test runs it and checks the TAP it prints. Never run by
# `make check` directly.
HARNESS_SAMPLE := $(B)/tests/harness_sample
ALL_TARGETS += $(HARNESS_SAMPLE)
$(HARNESS_SAMPLE): $(B)/obj/tests/harness/sample.o $(TEST_HELPERS:%.c=$(B)/obj/%.o)
	$(call msg,LD,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^
$(B)/tests/harness_test: | $(HARNESS_SAMPLE)

# Compute functions the tests run (tests/functions/*.c, one per file), built
# with the documented pith-cc into $(B)/tests/functions/. Test programs that
# run them depend on `test-functions` (order-only).
TEST_FUNCTIONS := $(patsubst tests/functions/%.c,$(B)/tests/functions/%,\
	$(wildcard tests/functions/*.c))
$(B)/tests/functions/%: tests/functions/%.c tools/pith-cc build/sdk/crt.o \
		build/sdk/libpith_fn.a
	$(call msg,PITHCC,$@)
	@mkdir -p $(@D)
	$(Q)tools/pith-cc -Wextra -Werror -o $@ $<
.PHONY: test-functions
test-functions: $(TEST_FUNCTIONS)
ALL_TARGETS += $(TEST_FUNCTIONS)

# tools/bench/thesis/thesis.sh's tables, on results made by the test.
TEST_SCRIPTS += tests/integration/bench_tables.sh
TEST_SCRIPTS += tests/integration/bench_usage.sh

# Last, so that it sees the --json documents of every test before it.
TEST_SCRIPTS += tests/integration/json_schema.sh
