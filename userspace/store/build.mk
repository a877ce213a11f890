# SPDX-License-Identifier: MIT
LIB_SRCS += userspace/store/store.c userspace/store/pool.c userspace/store/xfer.c
