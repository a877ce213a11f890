# SPDX-License-Identifier: MIT
# The example applications' compute functions, built with tools/pith-cc
# (the documented command) into build/examples/<app>/<function>. Job files
# name them by a path relative to the job file: ../../build/examples/...

EXAMPLE_FNS := wordcount/count wordcount/merge matmul/multiply \
	logstats/stats logstats/summary fetch-summary/requests \
	fetch-summary/summarise
EXAMPLE_BINS := $(EXAMPLE_FNS:%=build/examples/%)
PITH_CC := tools/pith-cc

build/examples/%: examples/%.c $(wildcard examples/*/*.h) $(PITH_CC) \
		$(SDK_DIR)/crt.o $(SDK_DIR)/libpith_fn.a
	$(call msg,PITHCC,$@)
	@mkdir -p $(@D)
	$(Q)$(PITH_CC) -Wextra -Werror -o $@ $<

.PHONY: examples
examples: $(EXAMPLE_BINS)
ALL_TARGETS += $(EXAMPLE_BINS)

TEST_SCRIPTS += tests/integration/examples.sh
