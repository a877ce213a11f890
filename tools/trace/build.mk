# SPDX-License-Identifier: MIT
# Tracing tools (Documentation/tracing.md), libbpf-tools style: each
# tools/trace/<name>.bpf.c (GPL-2.0-only, like bpf/) is built to
# $(B)/gen/<name>.skel.h and loaded by tools/trace/<name>.c, which attaches
# its programs to pith's USDT probes with libbpf. pith-lat (bpftrace) and
# pith-perf (perf) are scripts run from tools/trace/. Then the tests of the
# probes, the tools and `pith run --trace`.

TRACE_BPF := pith_top pith_snoop
GEN_HEADERS += $(TRACE_BPF:%=$(B)/gen/%.skel.h)
# <bpf/usdt.bpf.h> includes <linux/errno.h>, whose <asm/...> lives in the
# multiarch directory clang -target bpf does not search.
TRACE_BPF_CFLAGS := -I. -idirafter /usr/include/$(shell $(CC) -dumpmachine)

$(B)/obj/tools/trace/%.bpf.o: tools/trace/%.bpf.c tools/trace/%.h \
		$(B)/gen/vmlinux.h
	$(call msg,BPF,$<)
	@mkdir -p $(@D)
	$(Q)$(CLANG) $(BPF_CFLAGS) $(TRACE_BPF_CFLAGS) -c -o $@ $<

$(TRACE_BPF:%=$(B)/gen/%.skel.h): $(B)/gen/%.skel.h: \
		$(B)/obj/tools/trace/%.bpf.o tools/trace/build.mk
	$(call msg,GENSKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name $*_bpf > $@

PROGS += pith-top pith-snoop
pith-top_SRCS := tools/trace/pith_top.c tools/trace/tool.c \
	tools/trace/usdt_target.c
pith-snoop_SRCS := tools/trace/pith_snoop.c tools/trace/tool.c \
	tools/trace/usdt_target.c

TEST_SCRIPTS += tests/trace/trace_file.sh tests/trace/tools.sh

# The no-op function of tools/trace/overhead_bench.sh, built with pith-cc.
ALL_TARGETS += $(B)/tools/trace/noop
$(B)/tools/trace/noop: tools/trace/noop.c tools/pith-cc build/sdk/crt.o \
		build/sdk/libpith_fn.a
	$(call msg,PITHCC,$@)
	@mkdir -p $(@D)
	$(Q)tools/pith-cc -Wextra -Werror -o $@ $<
