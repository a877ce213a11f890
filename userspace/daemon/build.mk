# SPDX-License-Identifier: MIT
# pithd, the engine as a service. It alone links SQLite and libsystemd, so
# it has its own link rule instead of joining PROGS.
PITHD_SRCS := userspace/daemon/pithd.c userspace/daemon/api.c \
	userspace/daemon/jobs.c userspace/daemon/db.c \
	userspace/daemon/config.c userspace/daemon/http.c \
	userspace/daemon/log.c
# The wire format is shared with the client (pith submit/status/...).
LIB_SRCS += userspace/daemon/wire.c
pith_SRCS += userspace/cli/client.c
PITHD_LIBS := -lsqlite3 -lsystemd -lpthread
ALL_TARGETS += $(B)/pithd
$(B)/pithd: $(PITHD_SRCS:%.c=$(B)/obj/%.o) $(B)/libpith.a
	$(call msg,LD,$@)
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LIBS) $(PITHD_LIBS)

# Tests: the API examples of Documentation/api.md run verbatim, ownership,
# crash recovery, quotas; the soak; the systemd units.
PITHD_TEST_FNS := $(patsubst tests/daemon/fn/%.c,$(B)/tests/fn/daemon/%,\
	$(wildcard tests/daemon/fn/*.c))
$(B)/tests/fn/daemon/%: tests/daemon/fn/%.c tools/pith-cc build/sdk/crt.o \
		build/sdk/libpith_fn.a
	$(call msg,PITHCC,$@)
	@mkdir -p $(@D)
	$(Q)tools/pith-cc -Wextra -Werror -o $@ $<
ALL_TARGETS += $(PITHD_TEST_FNS)
TEST_SCRIPTS += tests/integration/pithd.sh tests/integration/pithd_soak.sh
TEST_PROGS += pithd_test
pithd_test_SRCS := tests/unit/pithd_test.c userspace/daemon/http.c \
	userspace/daemon/config.c $(TEST_HELPERS)
