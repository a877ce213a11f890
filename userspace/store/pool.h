/* SPDX-License-Identifier: MIT */
/*
 * Recycled buffers for pith's own writers (store.c's buffer_new_mapped()).
 * Internal to store/.
 */
#ifndef PITH_STORE_POOL_H
#define PITH_STORE_POOL_H

#include <stdbool.h>
#include <stdint.h>

#include "store/store.h"

/* Whether released buffers are kept for reuse (PITH_STORE_POOL). */
bool pool_enabled(void);
/* The idle buffer whose mapping holds `size` bytes and whose pages save
 * the most (see pool.c), mapped read-write, holding its last use's bytes
 * (b->size of them, zero past them); NULL when none fits. */
struct buffer *pool_take(uint64_t size);
/* Keep a sealed pooled buffer whose last reference is gone for
 * pool_take(); false when the pool is full (the caller frees it). */
bool pool_put(struct buffer *b);
/* See store_pool_bound_add(). */
void pool_bound_add(int64_t bytes);
/* For `pith doctor`. */
const char *pool_status(void);
/* False when PITH_STORE_POOL is set to what is not a size. */
bool pool_env_valid(void);

#endif
