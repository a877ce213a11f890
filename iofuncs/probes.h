/* SPDX-License-Identifier: MIT */
/*
 * USDT probes (provider "pith") on I/O events, for perf and bpftrace:
 *
 *   io_start(const char *fn, u64 n_items)
 *   io_item(const char *fn, u64 index, int err, u64 bytes_out)
 *   io_done(const char *fn, u64 n_items, u64 n_failed, u64 bytes_out)
 *   http_request(const char *host_port, u64 index, int reused_connection)
 *   http_response(const char *host_port, u64 index, int status)
 *
 *   bpftrace -e 'usdt:build/pith:pith:io_item { @[str(arg0), arg2] = count(); }'
 *
 * Each is a NOP until a tracer attaches.
 */
#ifndef PITH_IOFUNCS_PROBES_H
#define PITH_IOFUNCS_PROBES_H

#include <sys/sdt.h>

#define IO_PROBE2(name, a, b) STAP_PROBE2(pith, name, a, b)
#define IO_PROBE3(name, a, b, c) STAP_PROBE3(pith, name, a, b, c)
#define IO_PROBE4(name, a, b, c, d) STAP_PROBE4(pith, name, a, b, c, d)

#endif
