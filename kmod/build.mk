# SPDX-License-Identifier: GPL-2.0-only
# pith_xfer.ko (`make kmod`, KDIR= to pick the kernel tree) and the VM rig
# that loads it (`make vmcheck`, `make vmbench`; see Documentation/kmod.md).

# The Debian kernel the VM boots: the newest one with headers installed.
VM_KVER ?= $(notdir $(patsubst %/build,%,$(lastword $(sort \
	$(wildcard /lib/modules/*-amd64/build)))))
KDIR ?= /lib/modules/$(VM_KVER)/build
KMOD_SRCS := $(wildcard kmod/*.c kmod/*.h kmod/uapi/*.h) kmod/Kbuild
KMOD_OUT := $(B)/kmod
KMOD := $(KMOD_OUT)/pith_xfer.ko

.PHONY: kmod vmcheck vmbench vm-check-run vm-bench-run
# The kernel, its headers and qemu come from tools/deps.sh; the paths above
# are read when make starts, so install first, then build in a new make.
kmod vmcheck vmbench: | $(DEPS_STAMP)
	$(Q)tools/deps.sh vm
	$(Q)$(MAKE) --no-print-directory $(if $(filter kmod,$@),$(KMOD),$(@:vm%=vm-%-run))

# Kbuild writes its objects next to the sources; build from a copy under
# $(B)/ so the tree stays clean.
$(KMOD): $(KMOD_SRCS)
	$(call msg,KBUILD,$@)
	@test -d $(KDIR) || { echo "kmod: no kernel tree at KDIR=$(KDIR);" \
		"run tools/deps.sh vm or pass KDIR=" >&2; exit 1; }
	@mkdir -p $(KMOD_OUT)/uapi
	$(Q)cp -p kmod/Kbuild kmod/*.c kmod/*.h $(KMOD_OUT)/
	$(Q)cp -p kmod/uapi/*.h $(KMOD_OUT)/uapi/
	$(Q)$(MAKE) -s -C $(KDIR) M=$(abspath $(KMOD_OUT)) \
		$(if $(filter 1,$(V)),V=1) modules >$(KMOD_OUT)/build.log 2>&1 \
		|| { cat $(KMOD_OUT)/build.log >&2; exit 1; }

# The module's tests: on the host they skip (no module can be loaded there);
# the VM runs static builds of them.
TEST_PROGS += xfer_test
xfer_test_SRCS := tests/kmod/xfer_test.c $(TEST_HELPERS)

# The store's module backend (userspace/store/xfer.c), tested in the VM.
TEST_PROGS += store_xfer_test
store_xfer_test_SRCS := tests/kmod/store_xfer_test.c \
	userspace/store/store.c userspace/store/pool.c userspace/store/xfer.c userspace/lib/units.c \
	userspace/lib/trace.c userspace/lib/err.c $(TEST_HELPERS)

handoff_bench_SRCS := tools/bench/handoff_bench.c

# ---- VM rig ----
TEST_SCRIPTS += tests/vm/check_test.sh
VM_DIR := $(B)/vm
VM_KERNEL ?= /boot/vmlinuz-$(VM_KVER)
VM_TEST_PROGS := xfer_test store_xfer_test
VM_TESTS := $(VM_TEST_PROGS:%=$(VM_DIR)/bin/%)
VM_BENCH := $(VM_DIR)/bin/handoff_bench
VM_INITRD := $(VM_DIR)/initramfs.cpio.gz
# The eBPF part's in-VM programs (bpf/build.mk: VM_BPF_DIR, VM_BPF_BINS,
# `make vm-bpf`), run from /tests/bpf.
VM_BPF_ARGS = $(if $(VM_BPF_BINS),-d $(VM_BPF_DIR))
VM_RIG := tests/vm/init.sh tests/vm/mkinitramfs.sh tests/vm/run.sh \
	tests/vm/check.sh

# In-VM programs are static (the initramfs holds no libc) and list every
# source they need, so they do not wait for all of libpith.a to build.
define vm_static_rule
$(VM_DIR)/bin/$(1): $$($(1)_SRCS:%.c=$(B)/obj/%.o)
	$$(call msg,LD,$$@)
	@mkdir -p $$(@D)
	$$(Q)$$(CC) $$(LDFLAGS) -static -o $$@ $$^ -lpthread
endef
$(foreach t,$(VM_TEST_PROGS) handoff_bench,$(eval $(call vm_static_rule,$(t))))

# A real job end to end: pith, its worker and the wordcount example laid out
# under /pith as in the tree, with the outputs the host computes on memfd.
# Built by a sub-make first, so a pith that does not build (someone's work
# in progress) leaves the job out, and the VM reports it as a failure,
# instead of stopping the module's tests from running.
VM_E2E_FNS := build/examples/wordcount/count build/examples/wordcount/merge
VM_E2E_DEPS := $(B)/pith $(B)/pith-worker $(VM_E2E_FNS) tests/vm/e2e.sh \
	examples/wordcount/job.json $(wildcard examples/wordcount/data/*)
VM_E2E_EXPECTED := $(VM_DIR)/e2e-expected
VM_E2E_STAMP := $(VM_E2E_EXPECTED).ok
.PHONY: vm-e2e vm-initrd
vm-e2e: $(VM_E2E_STAMP)
# The second sub-make (VM_E2E_FROZEN=1) takes the stamp as it is.
ifneq ($(VM_E2E_FROZEN),1)
$(VM_E2E_STAMP): $(VM_E2E_DEPS)
	$(call msg,RUN,$(VM_E2E_EXPECTED))
	@mkdir -p $(@D)
	$(Q)rm -rf $(VM_E2E_EXPECTED) $@ && PITH_STORE_BACKEND=memfd \
		$(B)/pith run examples/wordcount/job.json \
		-o $(VM_E2E_EXPECTED) >/dev/null && touch $@
endif

VM_E2E_ARGS = $(if $(wildcard $(VM_E2E_STAMP)), \
	-p $(B)/pith:/pith/build/pith \
	-p $(B)/pith-worker:/pith/build/pith-worker \
	$(foreach f,$(VM_E2E_FNS),-p $(f):/pith/$(f)) \
	-f examples/wordcount:/pith/examples/wordcount \
	-f $(VM_E2E_EXPECTED):/pith/expected \
	-f tests/vm/e2e.sh:/tests/e2e.sh)

$(VM_INITRD): $(KMOD) $(VM_TESTS) $(VM_BENCH) $(VM_RIG) \
		$(wildcard $(VM_E2E_STAMP) $(VM_BPF_BINS))
	$(call msg,CPIO,$@)
	$(Q)tests/vm/mkinitramfs.sh -o $@ -m $(KMOD) $(VM_TESTS:%=-t %) \
		$(VM_BPF_ARGS) -p $(VM_BENCH) $(VM_E2E_ARGS)

# Parts built by other engineers' fragments go first, each on its own, so
# that one that does not build is left out (and reported as failed inside
# the VM) instead of stopping the module's tests.
vm-initrd:
	$(Q)$(MAKE) --no-print-directory vm-e2e || { rm -f $(VM_E2E_STAMP); \
		echo "vm: pith or the examples do not build: the VM runs" \
			"without the end-to-end job (and fails it)" >&2; }
	$(Q)$(if $(VM_BPF_BINS),$(MAKE) --no-print-directory vm-bpf || \
		{ rm -rf $(VM_BPF_DIR); echo "vm: the BPF tests do not build:" \
			"the VM reports them missing" >&2; })
	$(Q)$(MAKE) --no-print-directory VM_E2E_FROZEN=1 $(VM_INITRD)

# 900 s: a run took 250 s at load 16 with one host thread per vCPU (one
# thread since round 13: slower), and a lockup or hung task ends the VM
# by itself (tests/vm/kernel_args.sh), so the limit only bounds a slow host.
vm-check-run: vm-initrd
	$(Q)tests/vm/run.sh -k $(VM_KERNEL) -i $(VM_INITRD) \
		-o $(VM_DIR)/check -m check -M 1G -T 900

# Handoff benchmark in the VM (TCG figures; see
# Documentation/benchmarks/handoff.md).
VM_BENCH_ARGS ?=
vm-bench-run: vm-initrd
	$(Q)tests/vm/run.sh -k $(VM_KERNEL) -i $(VM_INITRD) \
		-o $(VM_DIR)/bench -m bench -M 3G -T 1500 -b "$(VM_BENCH_ARGS)"

# The handoff benchmark, also built for the host (memfd vs memcpy there).
ALL_TARGETS += $(B)/handoff_bench
$(B)/handoff_bench: $(handoff_bench_SRCS:%.c=$(B)/obj/%.o)
	$(call msg,LD,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^
