# SPDX-License-Identifier: MIT
# Tracing: the tools of tools/trace/ (Documentation/tracing.md) and the
# tests of the probes and of `pith run --trace`.
TEST_SCRIPTS += tests/trace/trace_file.sh
