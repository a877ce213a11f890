# SPDX-License-Identifier: MIT
# ELF loader (elf.c) and the sandbox.
LIB_SRCS += userspace/sandbox/elf.c
# eBPF guard loader (bpf_guard.c) and its feature probes; programs in bpf/.
LIB_SRCS += userspace/sandbox/bpf_guard.c userspace/sandbox/bpf_guard_names.c \
	userspace/sandbox/bpf_guard_probe.c \
	userspace/sandbox/bpf_btf.c

# The sandbox (everything here but elf.c).
LIB_SRCS += userspace/sandbox/sandbox.c userspace/sandbox/filter.c \
	userspace/sandbox/context.c userspace/sandbox/spawn.c \
	userspace/sandbox/spawner.c userspace/sandbox/place.c \
	userspace/sandbox/reuse.c userspace/sandbox/reap.c \
	userspace/sandbox/proc.c userspace/sandbox/collect.c \
	userspace/sandbox/warm.c userspace/sandbox/zygote.c userspace/sandbox/driver.c \
	userspace/sandbox/worker/trampoline.c

# pith-worker: the static freestanding loader exec'd for each instance,
# linked at PLAN_LOADER_BASE (plan.h), far above the function image range
# (position-independent code so that it can live above 2 GiB without the
# large code model).
WORKER_SRCS := userspace/sandbox/worker/main.c \
	userspace/sandbox/worker/trampoline.c
WORKER_HDRS := userspace/sandbox/plan.h userspace/sandbox/raw.h \
	userspace/sandbox/worker/trampoline.h userspace/sdk/include/pith/abi.h
WORKER_CFLAGS := -std=gnu11 -g -O2 $(WARN) -ffreestanding -fno-builtin \
	-fno-stack-protector -fpie -mgeneral-regs-only -fcf-protection=none \
	-fno-asynchronous-unwind-tables -Iuserspace -Iuserspace/sdk/include
WORKER_LDFLAGS := -static -nostdlib -no-pie -Wl,--build-id=none \
	-Wl,-z,noexecstack -Wl,-z,noseparate-code \
	-Wl,-Ttext-segment=0x204000010000

$(B)/pith-worker: $(WORKER_SRCS) $(WORKER_HDRS)
	$(call msg,LD,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(WORKER_CFLAGS) $(WORKER_LDFLAGS) -o $@ $(WORKER_SRCS)

ALL_TARGETS += $(B)/pith-worker

# The sandbox's tests and their hostile function.
include tests/security/build.mk
TEST_PROGS += elf_test
elf_test_SRCS = tests/unit/elf_test.c $(TEST_HELPERS)

# libFuzzer target for the ELF loader, not part of `make` or `make check`:
#   make build/fuzz/elf_fuzz build/fuzz/elf_corpus
#   build/fuzz/elf_fuzz -max_total_time=300 -max_len=65536 build/fuzz/elf_corpus
ELF_FUZZ_SRCS := tests/fuzz/elf_fuzz.c userspace/sandbox/elf.c \
	userspace/lib/err.c
$(B)/fuzz/elf_fuzz: $(ELF_FUZZ_SRCS) tests/fuzz/elf_check.h \
		userspace/sandbox/elf.h
	$(call msg,CLANG,$@)
	@mkdir -p $(@D)
	$(Q)$(CLANG) -std=gnu11 -g -O1 -D_GNU_SOURCE \
		-fsanitize=fuzzer,address,undefined -Iuserspace -Itests \
		-Iuserspace/sdk/include -o $@ $(ELF_FUZZ_SRCS)

# Seeds: one small function in the link layouts functions come in.
$(B)/fuzz/elf_corpus: tests/fuzz/elf_seed.c
	$(call msg,CC,$@)
	@mkdir -p $@
	$(Q)for l in exec:-no-pie exec-noseparate:-no-pie+-Wl,-z,noseparate-code \
		pie:-static-pie; do \
		$(CC) -O2 -static -nostdlib -fno-stack-protector \
			$$(echo $${l#*:} | tr + ' ') -o $@/$${l%%:*} $< || exit 1; \
	done
