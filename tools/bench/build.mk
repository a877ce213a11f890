# SPDX-License-Identifier: MIT
# Benchmarks (host programs). spawn-bench: one sandboxed no-op instance end
# to end versus fork/vfork/posix_spawn + exec of a static no-op binary.
PROGS += spawn-bench
spawn-bench_SRCS := tools/bench/spawn_bench.c
$(B)/spawn-bench: | $(B)/pith-worker
