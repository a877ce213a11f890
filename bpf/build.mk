# SPDX-License-Identifier: GPL-2.0-only
# BPF programs, the libbpf-tools way: vmlinux.h from the running kernel's BTF,
# clang -target bpf, then `bpftool gen skeleton` into $(B)/gen/<name>.skel.h.

BPFTOOL ?= bpftool
BPF_CFLAGS := -g -O2 -target bpf -D__TARGET_ARCH_x86 -Wall -Werror \
	-I$(B)/gen -Ibpf
BPF_PROGS := guard

GEN_HEADERS += $(B)/gen/vmlinux.h $(BPF_PROGS:%=$(B)/gen/%.skel.h) \
	$(B)/gen/guard_syscalls.h

$(B)/gen/vmlinux.h:
	$(call msg,GEN,$@)
	@mkdir -p $(@D)
	$(Q)$(BPFTOOL) btf dump file /sys/kernel/btf/vmlinux format c > $@

$(B)/obj/bpf/%.bpf.o: bpf/%.bpf.c bpf/%.h $(B)/gen/vmlinux.h
	$(call msg,BPF,$<)
	@mkdir -p $(@D)
	$(Q)$(CLANG) $(BPF_CFLAGS) -c -o $@ $<

$(B)/gen/%.skel.h: $(B)/obj/bpf/%.bpf.o bpf/build.mk
	$(call msg,GENSKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name $*_bpf > $@

# Syscall names for audit messages, from the installed kernel headers.
SYSCALL_HDR := /usr/include/x86_64-linux-gnu/asm/unistd_64.h
$(B)/gen/guard_syscalls.h: $(SYSCALL_HDR)
	$(call msg,GEN,$@)
	@mkdir -p $(@D)
	$(Q)sed -n 's/^#define __NR_\([a-z0-9_]*\) \([0-9]*\)$$/[\2] = "\1",/p' \
		$< > $@

# Tests of the guard (TEST_HELPERS comes from tests/build.mk, read later).
TEST_PROGS += guard_test bpf_guard_test
guard_test_SRCS = tests/unit/guard_test.c tests/security/bpf_worker.c \
	$(TEST_HELPERS)
bpf_guard_test_SRCS = tests/security/bpf_guard_test.c \
	tests/security/bpf_worker.c $(TEST_HELPERS)
