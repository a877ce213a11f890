# SPDX-License-Identifier: MIT
# ELF loader (elf.c) and the sandbox.
LIB_SRCS += userspace/sandbox/elf.c
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
