# SPDX-License-Identifier: MIT
PROGS += pith
pith_SRCS := userspace/cli/pith.c userspace/cli/run.c userspace/cli/doctor.c \
	userspace/cli/layers.c userspace/cli/progress.c userspace/cli/summary.c
TEST_SCRIPTS += tests/integration/cli.sh
