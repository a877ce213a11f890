# SPDX-License-Identifier: MIT
# `make install` (PREFIX, DESTDIR) the Debian way: programs, the worker in a
# libexec directory pith and pithd find relative to themselves, pith-cc and
# the SDK with a pkg-config file, man pages, systemd units, sysusers.d and
# tmpfiles.d. Nothing here runs as part of `make`; tests/integration/
# install.sh installs into a DESTDIR and builds a function from it.
PREFIX ?= /usr/local
DESTDIR ?=
BINDIR := $(PREFIX)/bin
SBINDIR := $(PREFIX)/sbin
LIBEXECDIR := $(PREFIX)/libexec/pith
LIBDIR := $(PREFIX)/lib
INCLUDEDIR := $(PREFIX)/include
MANDIR := $(PREFIX)/share/man
SYSTEMDUNITDIR ?= $(LIBDIR)/systemd/system
SYSUSERSDIR ?= $(LIBDIR)/sysusers.d
TMPFILESDIR ?= $(LIBDIR)/tmpfiles.d
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig

INSTALL_MAN1 := Documentation/man/pith.1 Documentation/man/pith-cc.1
INSTALL_MAN5 := Documentation/man/pith-job.5 Documentation/man/pithd.conf.5
INSTALL_MAN8 := Documentation/man/pithd.8

.PHONY: install
install: $(B)/pith $(B)/pithd $(B)/pith-worker build/sdk/crt.o \
		build/sdk/libpith_fn.a
	$(call msg,INSTALL,$(DESTDIR)$(PREFIX))
	$(Q)install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(SBINDIR) \
		$(DESTDIR)$(LIBEXECDIR) $(DESTDIR)$(LIBDIR)/pith \
		$(DESTDIR)$(INCLUDEDIR)/pith $(DESTDIR)$(PKGCONFIGDIR) \
		$(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5 \
		$(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(SYSTEMDUNITDIR) \
		$(DESTDIR)$(SYSUSERSDIR) $(DESTDIR)$(TMPFILESDIR)
	$(Q)install -m 0755 $(B)/pith $(DESTDIR)$(BINDIR)/pith
	$(Q)install -m 0755 $(B)/pithd $(DESTDIR)$(SBINDIR)/pithd
	$(Q)install -m 0755 $(B)/pith-worker $(DESTDIR)$(LIBEXECDIR)/pith-worker
	$(Q)sed -e 's|^sdk=.*|sdk=$${PITH_SDK:-$(LIBDIR)/pith}|' \
		-e 's|^inc=.*|inc=$${PITH_SDK_INCLUDE:-$(INCLUDEDIR)}|' \
		tools/pith-cc >$(DESTDIR)$(BINDIR)/pith-cc
	$(Q)chmod 0755 $(DESTDIR)$(BINDIR)/pith-cc
	$(Q)install -m 0644 build/sdk/crt.o build/sdk/libpith_fn.a \
		$(DESTDIR)$(LIBDIR)/pith/
	$(Q)install -m 0644 userspace/sdk/include/pith/*.h \
		$(DESTDIR)$(INCLUDEDIR)/pith/
	$(Q)sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(VERSION)|' \
		-e 's|@LIBDIR@|$(LIBDIR)|' -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' \
		tools/systemd/pith-sdk.pc.in >$(DESTDIR)$(PKGCONFIGDIR)/pith-sdk.pc
	$(Q)install -m 0644 $(INSTALL_MAN1) $(DESTDIR)$(MANDIR)/man1/
	$(Q)install -m 0644 $(INSTALL_MAN5) $(DESTDIR)$(MANDIR)/man5/
	$(Q)install -m 0644 $(INSTALL_MAN8) $(DESTDIR)$(MANDIR)/man8/
	$(Q)sed 's|@SBINDIR@|$(SBINDIR)|g' tools/systemd/pithd.service \
		>$(DESTDIR)$(SYSTEMDUNITDIR)/pithd.service
	$(Q)install -m 0644 tools/systemd/pithd.socket $(DESTDIR)$(SYSTEMDUNITDIR)/
	$(Q)install -m 0644 tools/systemd/sysusers.d/pith.conf \
		$(DESTDIR)$(SYSUSERSDIR)/pith.conf
	$(Q)install -m 0644 tools/systemd/tmpfiles.d/pith.conf \
		$(DESTDIR)$(TMPFILESDIR)/pith.conf

TEST_SCRIPTS += tests/integration/systemd_units.sh tests/integration/install.sh
