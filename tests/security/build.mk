# SPDX-License-Identifier: MIT
# Sandbox tests: the hostile test function (freestanding, no SDK) and the
# unit and security test programs. Included from userspace/sandbox/build.mk.

HOSTILE_FN := $(B)/tests/fn/hostile
HOSTILE_CFLAGS := -std=gnu11 -g -O1 $(WARN) -ffreestanding -fno-builtin \
	-fno-stack-protector -fno-pie -fcf-protection=none -mgeneral-regs-only \
	-fno-asynchronous-unwind-tables -DPITH_FREESTANDING \
	-Iuserspace -Iuserspace/sdk/include -Itests
HOSTILE_LDFLAGS := -static -nostdlib -no-pie -Wl,--build-id=none \
	-Wl,-z,noexecstack

$(HOSTILE_FN): tests/security/fn/hostile.c tests/security/hostile.h \
		userspace/sandbox/raw.h \
		userspace/sdk/include/pith/abi.h
	$(call msg,CC,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(HOSTILE_CFLAGS) $(HOSTILE_LDFLAGS) -o $@ $<

ALL_TARGETS += $(HOSTILE_FN)

# The warm workers' reset probe (tests/security/warm_test.c).
RESET_FN := $(B)/tests/fn/reset
$(RESET_FN): tests/security/fn/reset.c userspace/sdk/include/pith/abi.h
	$(call msg,CC,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(HOSTILE_CFLAGS) $(HOSTILE_LDFLAGS) -o $@ $<

# The same with 160 KiB of .bss: the madvise reset of large writable
# segments.
RESET_BIG_FN := $(B)/tests/fn/reset-bigbss
$(RESET_BIG_FN): tests/security/fn/reset.c userspace/sdk/include/pith/abi.h
	$(call msg,CC,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(HOSTILE_CFLAGS) $(HOSTILE_LDFLAGS) -DRESET_BSS_WORDS=20480 \
		-o $@ $<

ALL_TARGETS += $(RESET_FN) $(RESET_BIG_FN)

SANDBOX_T_SRCS := tests/security/t_sandbox.c $(TEST_HELPERS)
TEST_PROGS += sandbox_test sandbox_security_test warm_test zygote_test
warm_test_SRCS := tests/security/warm_test.c $(SANDBOX_T_SRCS)
$(B)/tests/warm_test: | $(RESET_FN) $(RESET_BIG_FN) $(B)/pith-worker
TEST_PROGS += driver_test
driver_test_SRCS := tests/security/driver_test.c $(SANDBOX_T_SRCS)
$(B)/tests/driver_test: | $(RESET_FN) $(B)/pith-worker
TEST_PROGS += lane_test
lane_test_SRCS := tests/security/lane_test.c $(SANDBOX_T_SRCS)
$(B)/tests/lane_test: | $(HOSTILE_FN) $(B)/pith-worker
zygote_test_SRCS := tests/security/zygote_test.c $(SANDBOX_T_SRCS)
$(B)/tests/zygote_test: | $(RESET_FN) $(HOSTILE_FN) $(B)/pith-worker
# The hostile suite with every instance forked by a zygote.
TEST_SCRIPTS += tests/security/zygote_hostile.sh
sandbox_test_SRCS := tests/unit/sandbox_test.c $(SANDBOX_T_SRCS)
sandbox_security_test_SRCS := tests/security/sandbox_security_test.c \
	$(SANDBOX_T_SRCS)
$(B)/tests/sandbox_test $(B)/tests/sandbox_security_test: | $(HOSTILE_FN) \
	$(B)/pith-worker

# The data-isolation test function (SDK, tools/pith-cc) and its script.
SNOOP_FN := $(B)/tests/fn/snoop
$(SNOOP_FN): tests/security/fn/snoop.c tools/pith-cc build/sdk/crt.o \
		build/sdk/libpith_fn.a
	$(call msg,PITHCC,$@)
	@mkdir -p $(@D)
	$(Q)tools/pith-cc -Wextra -Werror -o $@ $<
ALL_TARGETS += $(SNOOP_FN)
TEST_SCRIPTS += tests/security/isolation.sh
TEST_PROGS += isolation_test
isolation_test_SRCS := tests/security/isolation_test.c $(SANDBOX_T_SRCS)
$(B)/tests/isolation_test: | $(SNOOP_FN) $(B)/pith-worker
TEST_SCRIPTS += tests/security/memory_budget.sh
TEST_SCRIPTS += tests/security/bounds.sh

# The SDK-note test function (tests/security/sdk_note.sh).
NOTE_FN := $(B)/tests/fn/note
$(NOTE_FN): tests/security/fn/note.c tools/pith-cc build/sdk/crt.o \
		build/sdk/libpith_fn.a
	$(call msg,PITHCC,$@)
	@mkdir -p $(@D)
	$(Q)tools/pith-cc -Wextra -Werror -o $@ $<
ALL_TARGETS += $(NOTE_FN)
TEST_SCRIPTS += tests/security/sdk_note.sh
