/* SPDX-License-Identifier: MIT */
/*
 * The userspace side of /dev/pith_xfer (kmod/): probe the device once, make
 * buffers on it and seal them. store.c uses it when it is present.
 */
#ifndef PITH_STORE_XFER_H
#define PITH_STORE_XFER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Whether buffers come from the module. Probed on first call: the device
 * opens and speaks our API version, and $PITH_STORE_BACKEND is not "memfd".
 * The answer (and why) is cached for the life of the process. */
bool xfer_available(void);
/* One line for `pith doctor`: what is in force, or why the module is not. */
const char *xfer_status(void);
/* A new zero-filled buffer of `size` bytes: its fd (O_CLOEXEC), or -errno
 * (-EFBIG above the module's max_bytes, -ENODEV without the module). */
int xfer_buffer_new(uint64_t size);
/* Revoke every writable mapping of the buffer and make it immutable. */
int xfer_buffer_seal(int fd);
/* Install the pages of [addr, addr + len), one of the caller's mappings of
 * the buffer, right away: what MAP_POPULATE does for a memfd (which these
 * mappings refuse). For a producer about to fill its output. */
int xfer_buffer_populate(int fd, void *addr, size_t len);

#endif
