# SPDX-License-Identifier: MIT
LIB_SRCS += userspace/store/store.c userspace/store/xfer.c
