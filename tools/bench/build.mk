# SPDX-License-Identifier: MIT
# Benchmarks (host programs). spawn-bench: one sandboxed no-op instance end
# to end versus fork/vfork/posix_spawn + exec of a static no-op binary.
PROGS += spawn-bench
spawn-bench_SRCS := tools/bench/spawn_bench.c
$(B)/spawn-bench: | $(B)/pith-worker

# instance-bench (tools/bench/instance_bench.sh): its baselines and the
# benchmark functions.
PROGS += instance-driver
instance-driver_SRCS := tools/bench/instance_driver.c
$(B)/bench/noop-static: tools/bench/noop_static.c
	$(call msg,CC,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) -O2 -static -nostdlib -fno-pie -no-pie -o $@ $<
# The floor of a process per instance without an exec: fork of a static
# process about a zygote's size.
$(B)/bench/fork-static: tools/bench/fork_static.c userspace/sandbox/raw.h
	$(call msg,CC,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) -O2 -static -nostdlib -fno-pie -no-pie -ffreestanding \
		-fno-stack-protector -Iuserspace -o $@ $<
ALL_TARGETS += $(B)/bench/fork-static
BENCH_FNS := $(B)/bench/fn/noop $(B)/bench/fn/spin $(B)/bench/fn/touch
$(B)/bench/fn/%: tools/bench/fn/%.c tools/bench/fn/spin.h $(B)/sdk/crt.o \
		$(B)/sdk/libpith_fn.a
	$(call msg,PITH-CC,$@)
	@mkdir -p $(@D)
	$(Q)PITH_SDK=$(B)/sdk tools/pith-cc -O2 $< -o $@
ALL_TARGETS += $(B)/bench/noop-static $(BENCH_FNS)
# The ceiling of a driver per CPU (benchmarks/warm-driver.md, "A driver
# per CPU (round 7, branch warmdrv)"): k pinned threads, each answering its
# own worker's parks.
PROGS += driver-proto
driver-proto_SRCS := tools/bench/driver_proto.c
# fresh-proto (benchmarks/fresh.md, "Fresh instances: a prototype of the
# cheapest process per instance (round 8, branch freshproto)"): pith's side, a
# zygote and one child per instance, standalone; linked at pith-worker's
# address so that the zygote's trusted code is where pith's loader is.
$(B)/bench/fresh-proto: tools/bench/fresh_proto.c userspace/sandbox/raw.h
	$(call msg,CC,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) -std=gnu11 -O2 $(WARN) -ffreestanding -fno-builtin \
		-fno-tree-loop-distribute-patterns -fno-stack-protector -fpie \
		-fcf-protection=none -fno-asynchronous-unwind-tables \
		-Iuserspace -static -nostdlib -no-pie -Wl,--build-id=none \
		-Wl,-z,noexecstack -Wl,-z,noseparate-code \
		-Wl,-Ttext-segment=0x204000010000 -o $@ $<
ALL_TARGETS += $(B)/bench/fresh-proto
