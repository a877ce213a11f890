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

.PHONY: kmod vmcheck vmbench
kmod: $(KMOD)

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
