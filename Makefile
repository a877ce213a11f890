# SPDX-License-Identifier: MIT
# pith top-level build: `make`, `make check`, `make demo`, `make vmcheck`,
# `make systemdcheck`.
#
# Each part of the tree adds itself through a `build.mk` fragment that appends
# to the variables below; this file holds only the shared rules.

.DELETE_ON_ERROR:
.SUFFIXES:
.SECONDARY:
.DEFAULT_GOAL := all

SAN ?= 0
V ?= 0
ifeq ($(SAN),1)
B := build/san
else
B := build
endif

ifeq ($(V),1)
Q :=
msg = @true
else
Q := @
msg = @printf '  %-8s %s\n' '$(1)' '$(2)'
endif

CC := gcc
CLANG ?= clang
VERSION := $(shell cat VERSION 2>/dev/null || echo 0.0.0)

WARN := -Wall -Wextra -Werror -Wno-missing-field-initializers
CFLAGS := -std=gnu11 -g -O2 $(WARN) -D_GNU_SOURCE -fno-strict-aliasing \
	-DPITH_VERSION='"$(VERSION)"' -MMD -MP
LDFLAGS :=
ifeq ($(SAN),1)
CFLAGS += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
LDFLAGS += -fsanitize=address,undefined
endif
INCLUDES := -I. -Iuserspace -Itests -Iuserspace/sdk/include -Ikmod -I$(B)/gen
LIBS := -ljansson -lseccomp -luring -lbpf -lelf -lz

# Filled in by the fragments.
LIB_SRCS :=		# sources of build/libpith.a
PROGS :=		# host programs: $(B)/<name>, sources in <name>_SRCS
TEST_PROGS :=		# C test programs: $(B)/tests/<name>, sources in <name>_SRCS
TEST_SCRIPTS :=		# shell tests printing TAP
GEN_HEADERS :=		# generated headers every object may include
ALL_TARGETS :=		# extra things `make` builds
TEST_HELPERS := tests/harness/helpers.c # linked into every C test

include $(sort $(wildcard userspace/*/build.mk)) \
	$(wildcard iofuncs/build.mk bpf/build.mk kmod/build.mk) \
	$(wildcard examples/build.mk tools/build.mk tools/bench/build.mk \
	tools/trace/build.mk tools/systemd/build.mk tests/build.mk \
	tests/systemd/build.mk)

DEPS_STAMP := $(B)/.deps-ok
LIB := $(B)/libpith.a
LIB_OBJS := $(LIB_SRCS:%.c=$(B)/obj/%.o)

.PHONY: all check demo deps clean
all: $(LIB) $(PROGS:%=$(B)/%) $(TEST_PROGS:%=$(B)/tests/%) $(ALL_TARGETS)

deps: $(DEPS_STAMP)
# Generated headers run tools the deps install (bpftool for vmlinux.h): with
# make -j they must wait for it too.
$(GEN_HEADERS): | $(DEPS_STAMP)
$(DEPS_STAMP): tools/deps.sh
	$(Q)tools/deps.sh build
	@mkdir -p $(@D) && touch $@

$(B)/obj/%.o: %.c | $(DEPS_STAMP) $(GEN_HEADERS)
	$(call msg,CC,$<)
	@mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) $(INCLUDES) $(CFLAGS_$(notdir $*)) -c -o $@ $<

$(LIB): $(LIB_OBJS)
	$(call msg,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^

define prog_rule
$(B)/$(1): $$($(1)_SRCS:%.c=$(B)/obj/%.o) $(LIB)
	$$(call msg,LD,$$@)
	$$(Q)$$(CC) $$(LDFLAGS) -o $$@ $$^ $$(LIBS)
endef
$(foreach p,$(PROGS),$(eval $(call prog_rule,$(p))))

define test_rule
$(B)/tests/$(1): $$($(1)_SRCS:%.c=$(B)/obj/%.o) $(LIB)
	$$(call msg,LD,$$@)
	@mkdir -p $$(@D)
	$$(Q)$$(CC) $$(LDFLAGS) -o $$@ $$^ $$(LIBS)
endef
$(foreach t,$(TEST_PROGS),$(eval $(call test_rule,$(t))))

check: all
	$(Q)tools/deps.sh test
	$(Q)B=$(B) V=$(V) tests/run.sh $(TEST_PROGS:%=$(B)/tests/%) $(TEST_SCRIPTS)

demo: all
	$(Q)$(B)/pith run examples/wordcount/job.json -o $(B)/demo-out
	@echo "--- the 15 most frequent words ($(B)/demo-out/result/total has all $$(wc -l <$(B)/demo-out/result/total)):"
	@head -n 15 $(B)/demo-out/result/total

clean:
	rm -rf build

-include $(shell find $(B)/obj -name '*.d' 2>/dev/null)
