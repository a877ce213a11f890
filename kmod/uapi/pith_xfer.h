/* SPDX-License-Identifier: GPL-2.0-only WITH Linux-syscall-note */
/*
 * UAPI of /dev/pith_xfer: buffer objects whose pages are handed from a
 * producer process to consumers without copying, sealed by forced
 * revocation. Shared verbatim by the module and userspace.
 */
#ifndef _UAPI_PITH_XFER_H
#define _UAPI_PITH_XFER_H

#include <linux/ioctl.h>
#include <linux/types.h>

#define PITH_XFER_DEVICE "/dev/pith_xfer"

/*
 * The API version. Every ioctl number carries it (in the number field) and
 * the size of its argument (in the size field), so a module and a userspace
 * built from different versions of this header refuse each other's calls
 * with ENOTTY instead of misreading them.
 */
#define PITH_XFER_API_VERSION 1
#define PITH_XFER_IOC_MAGIC 0xB7
#define PITH_XFER_NR(n) ((PITH_XFER_API_VERSION << 5) | (n))

/* Device: what the module is and how its page pool is doing. */
struct pith_xfer_version {
	__u32 api_version;	/* PITH_XFER_API_VERSION */
	__u32 page_size;
	__u64 max_bytes;	/* largest buffer CREATE accepts */
	__u64 pool_pages;	/* pre-zeroed pages ready now */
	__u64 pool_target;	/* pages the refill worker keeps ready */
	__u64 pool_hits;	/* pages taken from the pool */
	__u64 pool_misses;	/* pages allocated on the spot */
	__u64 buffers;		/* buffer objects alive */
};

/* Close the new buffer fd on exec (like MFD_CLOEXEC). */
#define PITH_XFER_FD_CLOEXEC (1U << 0)
#define PITH_XFER_CREATE_FLAGS PITH_XFER_FD_CLOEXEC

/* Device: make a zero-filled buffer of `size` bytes; returns its fd. */
struct pith_xfer_create {
	__u64 size;		/* in: bytes, 0 < size <= max_bytes */
	__u32 flags;		/* in: PITH_XFER_FD_* */
	__s32 fd;		/* out: the buffer's fd */
	__u64 reserved[2];	/* in: must be zero */
};

/* Buffer state, as reported by PITH_XFER_IOC_INFO. */
#define PITH_XFER_SEALED (1U << 0)

struct pith_xfer_info {
	__u64 size;		/* bytes, as created */
	__u64 nr_pages;
	__u32 flags;		/* PITH_XFER_SEALED */
	__u32 pad;
	__u64 mappings;		/* VMAs that map the buffer now */
};

/* Buffer fd: install PTEs for [addr, addr + len) of one of the caller's
 * mappings of this buffer now, instead of one fault per page later. */
struct pith_xfer_populate {
	__u64 addr;		/* page-aligned, inside one mapping */
	__u64 len;		/* bytes, rounded up to pages */
};

#define PITH_XFER_IOC_VERSION \
	_IOR(PITH_XFER_IOC_MAGIC, PITH_XFER_NR(0), struct pith_xfer_version)
#define PITH_XFER_IOC_CREATE \
	_IOWR(PITH_XFER_IOC_MAGIC, PITH_XFER_NR(1), struct pith_xfer_create)

/*
 * Buffer fd: make the buffer immutable. Every writable mapping of it, in
 * every process, is zapped (with TLB shootdown) before this returns; their
 * next access raises SIGBUS. Read-only mappings keep working. Idempotent.
 */
#define PITH_XFER_IOC_SEAL _IO(PITH_XFER_IOC_MAGIC, PITH_XFER_NR(16))
#define PITH_XFER_IOC_INFO \
	_IOR(PITH_XFER_IOC_MAGIC, PITH_XFER_NR(17), struct pith_xfer_info)
/*
 * For a producer about to fill its output: MAP_POPULATE cannot do it (the
 * mapping refuses get_user_pages, see Documentation/kmod.md). EPERM on a
 * writable mapping of a sealed buffer; EINVAL if the range is not inside
 * one mapping of this buffer in the calling process.
 */
#define PITH_XFER_IOC_POPULATE \
	_IOW(PITH_XFER_IOC_MAGIC, PITH_XFER_NR(18), struct pith_xfer_populate)

#endif /* _UAPI_PITH_XFER_H */
