/* SPDX-License-Identifier: GPL-2.0-only */
/* Internal interfaces between the parts of pith_xfer.ko. */
#ifndef PITH_KMOD_XFER_H
#define PITH_KMOD_XFER_H

#include <linux/fs.h>
#include <linux/mm.h>
#include <linux/version.h>

#include "uapi/pith_xfer.h"

#define PITH_XFER_FS_MAGIC 0x70697468 /* "pith" */

/* Mappings are made of special PTEs (see buffer.c). */
#ifndef CONFIG_ARCH_HAS_PTE_SPECIAL
#error "pith_xfer needs an architecture with special PTEs (x86-64, arm64)"
#endif

/*
 * 6.3 made vm_area_struct.vm_flags const and added these helpers; on older
 * kernels the flags are assigned directly (we hold mmap_lock for writing
 * in ->mmap, the only place we change them).
 */
#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 3, 0)
static inline void vm_flags_set(struct vm_area_struct *vma,
				unsigned long flags)
{
	vma->vm_flags |= flags;
}

static inline void vm_flags_clear(struct vm_area_struct *vma,
				  unsigned long flags)
{
	vma->vm_flags &= ~flags;
}
#endif

/* 6.17 dropped pfn_t: vmf_insert_mixed() takes a plain pfn since. */
#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 17, 0)
#define pith_page_to_pfn(page) page_to_pfn_t(page)
#else
#define pith_page_to_pfn(page) page_to_pfn(page)
#endif

/* 6.3 replaced the user namespace argument of ->setattr by an idmap. */
#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 3, 0)
#define PITH_SETATTR_NS_ARG struct user_namespace *ns
#else
#define PITH_SETATTR_NS_ARG struct mnt_idmap *idmap
#endif

/* 6.12 dropped FMODE_LSEEK: a file is seekable when it has ->llseek. */
#ifdef FMODE_LSEEK
#define PITH_FMODE_LSEEK FMODE_LSEEK
#else
#define PITH_FMODE_LSEEK 0
#endif

/* pool.c: pre-zeroed order-0 pages, refilled by a worker. */
int pith_pool_init(unsigned long target);
void pith_pool_exit(void);
/* Fill pages[0..n) with zeroed pages; -ENOMEM or -EINTR on failure, with
 * every page taken so far released. */
int pith_pool_get(struct page **pages, unsigned long n);
void pith_pool_stats(struct pith_xfer_version *v);

/* buffer.c: buffer objects behind the fds CREATE returns. */
int pith_buf_init(void);
void pith_buf_exit(void);
/* A new zero-filled buffer of `size` bytes as an open file (O_RDWR), or
 * ERR_PTR(-ENOMEM / -EINTR). The file's last fput frees it. */
struct file *pith_buf_new(u64 size);
long pith_buf_count(void);
u64 pith_buf_created(void);

#endif
