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
