// SPDX-License-Identifier: MIT
/*
 * The pool of recycled buffers. A fresh shmem page costs a page allocation,
 * a zeroing and a fault (on a VM also the host backing the page), several
 * times what copying data into it costs; a recycled buffer keeps its pages
 * and pith's mapping of them. See buffer_new_mapped() in store.h.
 *
 * PITH_STORE_POOL=SIZE bounds the bytes held by idle buffers (0: no pool);
 * the default is an eighth of the RAM, at most 4 GiB.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "lib/array.h"
#include "lib/macro.h"
#include "lib/nofile.h"
#include "lib/units.h"
#include "store/pool.h"

#define POOL_DEFAULT_MAX (4ull << 30)
/* Idle ones: each holds an fd and a mapping; fewer under a low
 * RLIMIT_NOFILE (idle_limit()). */
#define POOL_MAX_BUFFERS 256

static struct buffer **idle;
static size_t n_idle, cap_idle;
static uint64_t idle_bytes, max_bytes;
static uint64_t bound; /* pool_bound_add(): 0, none */
static size_t max_idle = POOL_MAX_BUFFERS; /* idle_limit() */
static bool bad_env;
static pthread_once_t probed = PTHREAD_ONCE_INIT;
static char status[160];
/* pithd runs several jobs at once, on threads, over the one pool. */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

/* POOL_MAX_BUFFERS, or an eighth of the descriptors pith may open. Under
 * the lock. */
static void idle_limit(void)
{
	max_idle = (size_t)MIN((uint64_t)POOL_MAX_BUFFERS, nofile_share(8));
}

static void pool_probe(void)
{
	const char *env = getenv("PITH_STORE_POOL");
	long pages = sysconf(_SC_PHYS_PAGES), psize = sysconf(_SC_PAGESIZE);

	if (env) {
		if (parse_size(env, &max_bytes) < 0) {
			max_bytes = 0;
			bad_env = true;
			snprintf(status, sizeof(status),
				 "off (PITH_STORE_POOL=%.40s is not a size)", env);
			return;
		}
	} else {
		max_bytes = pages > 0 && psize > 0 ?
				    (uint64_t)pages * (uint64_t)psize / 8 :
				    0;
		max_bytes = MIN(max_bytes, POOL_DEFAULT_MAX);
	}
	idle_limit();
	if (!max_bytes)
		snprintf(status, sizeof(status), "off%s",
			 env ? " (PITH_STORE_POOL=0)" : "");
	else
		snprintf(status, sizeof(status),
			 "keeps up to %llu MiB of released I/O buffers%s",
			 (unsigned long long)(max_bytes >> 20),
			 env ? " (PITH_STORE_POOL)" : "");
}

bool pool_enabled(void)
{
	pthread_once(&probed, pool_probe);
	return max_bytes > 0;
}

bool pool_env_valid(void)
{
	pthread_once(&probed, pool_probe);
	return !bad_env;
}

const char *pool_status(void)
{
	pthread_once(&probed, pool_probe);
	return status;
}

/*
 * What taking b for `size` bytes saves: the pages it has that the new use
 * may write (each a fault and a zeroing less), less the past use's bytes
 * past `size` that must be zeroed first. Pages, not mappings: an arena
 * chunk is mapped 64 MiB and holds the few hundred KiB its last use wrote;
 * an input copy area of 64 KiB may take it.
 */
static int64_t gain(const struct buffer *b, uint64_t size)
{
	return (int64_t)MIN(b->held, size) -
	       (int64_t)(b->size > size ? b->size - size : 0);
}

struct buffer *pool_take(uint64_t size)
{
	size_t best = SIZE_MAX;
	int64_t best_gain = 0;
	struct buffer *b;

	pthread_mutex_lock(&lock);
	for (size_t i = 0; i < n_idle; i++) {
		int64_t g;

		if (idle[i]->wcap < size)
			continue;
		g = gain(idle[i], size);
		if (g < 0) /* more to zero than it saves */
			continue;
		if (best == SIZE_MAX || g > best_gain ||
		    (g == best_gain && idle[i]->wcap < idle[best]->wcap))
			best = i, best_gain = g;
	}
	if (best == SIZE_MAX) {
		pthread_mutex_unlock(&lock);
		return NULL;
	}
	b = idle[best];
	idle[best] = idle[--n_idle];
	idle_bytes -= b->held;
	pthread_mutex_unlock(&lock);
	return b;
}

void pool_bound_add(int64_t bytes)
{
	if (!bytes)
		return;
	pthread_mutex_lock(&lock);
	bound = (uint64_t)((int64_t)bound + bytes);
	/* A run begins, ends or moves its window: RLIMIT_NOFILE may have
	 * changed since (pith raises it to the hard limit). */
	idle_limit();
	pthread_mutex_unlock(&lock);
}

bool pool_put(struct buffer *b)
{
	uint64_t max;

	if (!pool_enabled())
		return false;
	b->sealed = false;
	pthread_mutex_lock(&lock);
	max = bound ? MIN(bound, max_bytes) : max_bytes;
	if (n_idle >= max_idle ||
	    b->held > max - MIN(idle_bytes, max) ||
	    ARRAY_GROW(idle, cap_idle, n_idle, 16) < 0) {
		pthread_mutex_unlock(&lock);
		return false;
	}
	idle[n_idle++] = b;
	idle_bytes += b->held;
	pthread_mutex_unlock(&lock);
	return true;
}
