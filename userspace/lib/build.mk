# SPDX-License-Identifier: MIT
LIB_SRCS += userspace/lib/err.c userspace/lib/units.c userspace/lib/trace.c
