# SPDX-License-Identifier: MIT
# job/: the job file parser and validator.
LIB_SRCS += userspace/job/parse.c userspace/job/validate.c \
	userspace/job/graph.c userspace/job/walk.c userspace/job/pos.c \
	userspace/job/b64.c
