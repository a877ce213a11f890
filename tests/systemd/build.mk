# SPDX-License-Identifier: MIT
# `make systemdcheck`: pith installed by `make install` into a Debian
# bookworm image, booted with systemd as PID 1 under qemu (TCG) with
# Debian's kernel; tests/systemd/guest.sh runs the checks of
# Documentation/systemd.md inside. The image's Debian part is cached in
# $(B)/systemd/. Not part of `make check`; .ci/run runs it.
SYSTEMDCHECK_DIR := $(B)/systemd
# Debian's kernel (newest in /boot with its modules) unless given.
SYSTEMDCHECK_KERNEL ?=
SYSTEMDCHECK_DEPS := $(B)/pith $(B)/pithd $(B)/pith-worker \
	$(B)/tests/functions/upper $(B)/tests/functions/fail \
	$(B)/tests/fn/daemon/slow

.PHONY: systemdcheck
systemdcheck: $(SYSTEMDCHECK_DEPS)
	$(Q)rm -rf $(SYSTEMDCHECK_DIR)/install
	$(Q)$(MAKE) --no-print-directory install PREFIX=/usr \
		DESTDIR=$(abspath $(SYSTEMDCHECK_DIR)/install) >/dev/null
	$(Q)tests/systemd/run.sh -B $(B) -i $(SYSTEMDCHECK_DIR)/install \
		$(if $(SYSTEMDCHECK_KERNEL),-k $(SYSTEMDCHECK_KERNEL))
