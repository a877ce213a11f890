# SPDX-License-Identifier: MIT
# POSIX functions (Documentation/posix-functions.md): musl built from
# Debian's source package with the pith port (userspace/posix/musl/), and
# the runtime that answers its system calls, into build/posix/. Always
# built there, also with SAN=1 (functions cannot carry sanitizers).
#
# musl's source comes from `apt-get source musl` (tools/debsrc.sh, cached
# in build/debsrc/). When it cannot be had, build/posix/unavailable says
# why, `make` goes on without the POSIX SDK and its tests skip.

POSIX_DIR := build/posix
POSIX_MUSL := $(POSIX_DIR)/musl
POSIX_SRCS := userspace/posix/start.c userspace/posix/syscall.c \
	userspace/posix/fs.c userspace/posix/mem.c
POSIX_OBJS := $(POSIX_SRCS:userspace/posix/%.c=$(POSIX_DIR)/obj/%.o)
POSIX_PORT := $(wildcard userspace/posix/musl/build.sh \
	userspace/posix/musl/arch/pith/*.h userspace/posix/musl/src/*/pith/*)
POSIX_CFLAGS := -std=gnu11 -O2 -g $(WARN) -nostdinc \
	-isystem $(POSIX_MUSL)/include \
	-isystem $(shell $(CC) -print-file-name=include) \
	-fno-stack-protector -fno-pie -fno-asynchronous-unwind-tables \
	-ffunction-sections -fdata-sections -Iuserspace/sdk/include -MMD -MP

# musl: fetched and built once (about a minute); cached until the port
# changes.
$(POSIX_DIR)/musl.stamp: $(POSIX_PORT) tools/debsrc.sh | $(B)/.deps-ok
	$(call msg,MUSL,$(POSIX_MUSL))
	@mkdir -p $(@D) && rm -f $(POSIX_DIR)/unavailable
	$(Q)src=$$(tools/debsrc.sh musl build/debsrc 2>$(POSIX_DIR)/debsrc.log) || { \
		r=$$?; [ $$r = 77 ] || { cat $(POSIX_DIR)/debsrc.log >&2; exit $$r; }; \
		sed 's/^debsrc: //' $(POSIX_DIR)/debsrc.log | tail -n 1 >$(POSIX_DIR)/unavailable; \
		echo "  SKIP     POSIX SDK: $$(cat $(POSIX_DIR)/unavailable)"; \
		touch $@; exit 0; }; \
	userspace/posix/musl/build.sh "$$src" $(POSIX_MUSL)
	@touch $@

$(POSIX_DIR)/obj/%.o: userspace/posix/%.c $(POSIX_DIR)/musl.stamp
	$(call msg,CC,$<)
	@mkdir -p $(@D)
	$(Q)$(CC) $(POSIX_CFLAGS) -c -o $@ $<

$(POSIX_DIR)/crt.o: userspace/posix/crt.S $(POSIX_DIR)/musl.stamp
	$(call msg,AS,$<)
	$(Q)$(CC) $(POSIX_CFLAGS) -c -o $@ $<

$(POSIX_DIR)/libpith_posix.a: $(POSIX_OBJS)
	$(call msg,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^

# What needs the POSIX SDK is built by a sub-make, and only when musl is
# there; POSIX_TARGETS is filled by examples and tests.
POSIX_TARGETS := $(POSIX_DIR)/crt.o $(POSIX_DIR)/libpith_posix.a \
	$(POSIX_DIR)/tests/probe $(POSIX_DIR)/tests/hostile
.PHONY: posix posix-targets
posix: $(POSIX_DIR)/musl.stamp
	$(Q)if [ -f $(POSIX_MUSL)/lib/libc.a ]; then \
		$(MAKE) --no-print-directory posix-targets; fi
posix-targets: $(POSIX_TARGETS)
ALL_TARGETS += posix

-include $(wildcard $(POSIX_DIR)/obj/*.d)

# Test functions, built with the documented command.
$(POSIX_DIR)/tests/%: tests/posix/fn/%.c tools/pith-cc $(POSIX_DIR)/crt.o \
		$(POSIX_DIR)/libpith_posix.a
	$(call msg,PITHCC,$@ (--posix))
	@mkdir -p $(@D)
	$(Q)tools/pith-cc --posix -Wall -Wextra -Werror -o $@ $<

# The hostile test function as a POSIX function (-DHOSTILE_POSIX).
$(POSIX_DIR)/tests/hostile: tests/security/fn/hostile.c tests/security/hostile.h \
		userspace/sandbox/raw.h tools/pith-cc $(POSIX_DIR)/crt.o \
		$(POSIX_DIR)/libpith_posix.a
	$(call msg,PITHCC,$@ (--posix))
	@mkdir -p $(@D)
	$(Q)tools/pith-cc --posix -O1 -g -fno-builtin -fcf-protection=none \
		-DHOSTILE_POSIX -DPITH_FREESTANDING -Iuserspace \
		-Iuserspace/sdk/include -Itests -o $@ $<

TEST_SCRIPTS += tests/security/posix_hostile.sh

# Kernel system calls of a POSIX function, counted by the eBPF guard.
TEST_PROGS += posix_syscalls_test
posix_syscalls_test_SRCS := tests/posix/posix_syscalls_test.c \
	tests/security/bpf_worker.c tests/security/t_sandbox.c $(TEST_HELPERS)
TEST_SCRIPTS += tests/integration/posix.sh tests/integration/posix_programs.sh
