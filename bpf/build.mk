# SPDX-License-Identifier: GPL-2.0-only
# BPF programs, the libbpf-tools way: vmlinux.h from the running kernel's BTF,
# clang -target bpf, then `bpftool gen skeleton` into $(B)/gen/<name>.skel.h.

BPFTOOL ?= bpftool
BPF_CFLAGS := -g -O2 -target bpf -mcpu=v3 -D__TARGET_ARCH_x86 -Wall -Werror \
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

# In the qemu VM (tests/vm/, `make vmcheck`) the rig runs every program in
# $(B)/vm/bpf/ (copied to /tests/bpf/): the BPF-LSM hook tests and the host
# kill/audit tests again on the Debian kernel. Static: the initramfs has no
# libc.
VM_BPF_DIR := $(B)/vm/bpf
VM_BPF_BINS := $(VM_BPF_DIR)/bpf_lsm_test $(VM_BPF_DIR)/bpf_guard_test
GUARD_VM_SRCS := tests/security/bpf_worker.c userspace/sandbox/bpf_guard.c \
	userspace/sandbox/bpf_guard_names.c \
	userspace/sandbox/bpf_guard_probe.c userspace/sandbox/bpf_btf.c \
	userspace/lib/err.c \
	tests/harness/helpers.c
$(VM_BPF_DIR)/bpf_lsm_test: $(patsubst %.c,$(B)/obj/%.o,\
		tests/vm/bpf/bpf_lsm_test.c $(GUARD_VM_SRCS))
$(VM_BPF_DIR)/bpf_guard_test: $(patsubst %.c,$(B)/obj/%.o,\
		tests/security/bpf_guard_test.c $(GUARD_VM_SRCS))
$(VM_BPF_BINS):
	$(call msg,LD,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(LDFLAGS) -static -o $@ $^ -lbpf -lelf -lz
.PHONY: vm-bpf
vm-bpf: $(VM_BPF_BINS)

# The eBPF layer alone under the real sandbox (seccomp off).
TEST_PROGS += bpf_sandbox_test
bpf_sandbox_test_SRCS = tests/security/bpf_sandbox_test.c \
	tests/security/bpf_worker.c tests/security/t_sandbox.c $(TEST_HELPERS)
$(B)/tests/bpf_sandbox_test: | $(B)/tests/fn/hostile $(B)/pith-worker

# Cost benchmark (Documentation/benchmarks/guard.md):
#   build/bpf_bench -f build/tests/fn/hostile
PROGS += bpf_bench
bpf_bench_SRCS := tools/bench/bpf_bench.c
