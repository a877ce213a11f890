/* SPDX-License-Identifier: MIT */
/* `pith submit/status/result/cancel`: the client of pithd (pith(1)). */
#ifndef PITH_CLI_CLIENT_H
#define PITH_CLI_CLIENT_H

#include "cli/cli.h"

int cmd_submit(const struct cli *c);
int cmd_status(const struct cli *c);
int cmd_result(const struct cli *c);
int cmd_cancel(const struct cli *c);

extern const char usage_submit[], usage_status[], usage_result[],
	usage_cancel[];

#endif
