# SPDX-License-Identifier: MIT
LIB_SRCS += userspace/engine/engine.c userspace/engine/distribute.c \
	userspace/engine/ingest.c userspace/engine/output.c
