# SPDX-License-Identifier: MIT
# The function SDK: build/sdk/crt.o and build/sdk/libpith_fn.a, freestanding
# (no libc, no syscall but exit_group), used by tools/pith-cc. Always built
# into build/sdk, also with SAN=1: functions cannot carry sanitizers.

SDK_DIR := build/sdk
SDK_LIB_SRCS := userspace/sdk/lib/start.c userspace/sdk/lib/io.c \
	userspace/sdk/lib/alloc.c userspace/sdk/lib/mem.c \
	userspace/sdk/lib/fmt.c userspace/sdk/lib/sb.c userspace/sdk/lib/sort.c
SDK_LIB_OBJS := $(SDK_LIB_SRCS:userspace/sdk/lib/%.c=$(SDK_DIR)/obj/%.o)
SDK_CFLAGS := -std=gnu11 -O2 -g $(WARN) -ffreestanding -fno-stack-protector \
	-fno-pie -fno-asynchronous-unwind-tables -fno-unwind-tables \
	-ffunction-sections -fdata-sections \
	-DPITH_FREESTANDING -DPITH_SDK_BUILD -Iuserspace/sdk/include -MMD -MP
# No loop in mem.c may turn into a call to memset/memcpy (itself).
SDK_CFLAGS_mem := -fno-tree-loop-distribute-patterns

$(SDK_DIR)/crt.o: userspace/sdk/crt/crt.S
	$(call msg,AS,$<)
	@mkdir -p $(@D)
	$(Q)$(CC) $(SDK_CFLAGS) -c -o $@ $<

$(SDK_DIR)/obj/%.o: userspace/sdk/lib/%.c
	$(call msg,CC,$<)
	@mkdir -p $(@D)
	$(Q)$(CC) $(SDK_CFLAGS) $(SDK_CFLAGS_$*) -c -o $@ $<

$(SDK_DIR)/libpith_fn.a: $(SDK_LIB_OBJS)
	$(call msg,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^

.PHONY: sdk
sdk: $(SDK_DIR)/crt.o $(SDK_DIR)/libpith_fn.a
ALL_TARGETS += $(SDK_DIR)/crt.o $(SDK_DIR)/libpith_fn.a

-include $(wildcard $(SDK_DIR)/obj/*.d $(SDK_DIR)/*.d)

# The SDK's tests: a probe function built with tools/pith-cc, run by
# tests/unit/sdk_test.c under a minimal runner.
SDK_PROBE := $(SDK_DIR)/tests/probe
$(SDK_PROBE): userspace/sdk/tests/probe.c userspace/sdk/tests/fmt_cases.h \
		tools/pith-cc $(SDK_DIR)/crt.o $(SDK_DIR)/libpith_fn.a
	$(call msg,PITHCC,$@)
	@mkdir -p $(@D)
	$(Q)tools/pith-cc -Wextra -Werror -o $@ $<
ALL_TARGETS += $(SDK_PROBE)

TEST_PROGS += sdk_test
sdk_test_SRCS := tests/unit/sdk_test.c $(TEST_HELPERS)
$(B)/tests/sdk_test: | $(SDK_PROBE)
