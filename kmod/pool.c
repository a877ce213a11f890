// SPDX-License-Identifier: GPL-2.0-only
/* A pool of pre-zeroed pages that keeps page allocation and clearing off the
 * path of CREATE; a worker refills it in the background. */
#include <linux/atomic.h>
#include <linux/gfp.h>
#include <linux/list.h>
#include <linux/mm.h>
#include <linux/sched/signal.h>
#include <linux/spinlock.h>
#include <linux/workqueue.h>

#include "xfer.h"

/* Pages taken from the list under one hold of the lock. */
#define POOL_BATCH 64

static LIST_HEAD(pool_list);
static DEFINE_SPINLOCK(pool_lock);
static unsigned long pool_count;	/* under pool_lock */
static unsigned long pool_target;
static bool pool_stopping;		/* under pool_lock */
static atomic64_t pool_hits = ATOMIC64_INIT(0);
static atomic64_t pool_misses = ATOMIC64_INIT(0);

static void pool_refill(struct work_struct *work);
static DECLARE_WORK(pool_work, pool_refill);

/*
 * Opportunistic: __GFP_NORETRY and no accounting, so refilling never
 * pushes the system into reclaim storms or the OOM killer.
 */
static void pool_refill(struct work_struct *work)
{
	struct page *page;

	for (;;) {
		spin_lock(&pool_lock);
		if (pool_stopping || pool_count >= pool_target) {
			spin_unlock(&pool_lock);
			return;
		}
		spin_unlock(&pool_lock);

		page = alloc_page(GFP_KERNEL | __GFP_ZERO | __GFP_NOWARN |
				  __GFP_NORETRY);
		if (!page)
			return;

		spin_lock(&pool_lock);
		list_add(&page->lru, &pool_list);
		pool_count++;
		spin_unlock(&pool_lock);
		cond_resched();
	}
}

static void pool_kick(void)
{
	bool low;

	spin_lock(&pool_lock);
	low = !pool_stopping && pool_count < pool_target / 2;
	spin_unlock(&pool_lock);
	if (low)
		schedule_work(&pool_work);
}

static unsigned long pool_take(struct page **pages, unsigned long n)
{
	unsigned long got = 0;
	struct page *page;

	spin_lock(&pool_lock);
	while (got < n && !list_empty(&pool_list)) {
		page = list_first_entry(&pool_list, struct page, lru);
		list_del(&page->lru);
		pages[got++] = page;
	}
	pool_count -= got;
	spin_unlock(&pool_lock);
	return got;
}

int pith_pool_get(struct page **pages, unsigned long n)
{
	unsigned long i = 0, got;
	struct page *page;

	while (i < n) {
		got = pool_take(pages + i, min_t(unsigned long, n - i,
						 POOL_BATCH));
		atomic64_add(got, &pool_hits);
		i += got;
		if (got)
			continue;
		/*
		 * Pool empty: allocate here, charged to the caller's memory
		 * cgroup, failing with ENOMEM rather than waking the OOM
		 * killer for a buffer that may be huge.
		 */
		if (fatal_signal_pending(current))
			goto out_put_pages;
		page = alloc_page(GFP_KERNEL_ACCOUNT | __GFP_ZERO |
				  __GFP_NOWARN | __GFP_RETRY_MAYFAIL);
		if (!page)
			goto out_put_pages;
		atomic64_inc(&pool_misses);
		pages[i++] = page;
		cond_resched();
	}
	pool_kick();
	return 0;

out_put_pages:
	while (i)
		put_page(pages[--i]);
	pool_kick();
	return fatal_signal_pending(current) ? -EINTR : -ENOMEM;
}

void pith_pool_stats(struct pith_xfer_version *v)
{
	spin_lock(&pool_lock);
	v->pool_pages = pool_count;
	spin_unlock(&pool_lock);
	v->pool_target = pool_target;
	v->pool_hits = atomic64_read(&pool_hits);
	v->pool_misses = atomic64_read(&pool_misses);
}

int pith_pool_init(unsigned long target)
{
	pool_target = target;
	pool_stopping = false;
	schedule_work(&pool_work);
	return 0;
}

void pith_pool_exit(void)
{
	struct page *page, *tmp;

	spin_lock(&pool_lock);
	pool_stopping = true;
	spin_unlock(&pool_lock);
	cancel_work_sync(&pool_work);

	list_for_each_entry_safe(page, tmp, &pool_list, lru) {
		list_del(&page->lru);
		__free_page(page);
	}
	pool_count = 0;
}
