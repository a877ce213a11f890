// SPDX-License-Identifier: GPL-2.0-only
/*
 * Buffer objects: module-owned pages behind an fd of their own inode, mapped
 * shared by any number of processes, sealed by zapping every mapping and
 * refusing write access from then on.
 */
#include <linux/atomic.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/fs_context.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/mount.h>
#include <linux/pfn_t.h>
#include <linux/pgtable.h>
#include <linux/pseudo_fs.h>
#include <linux/rwsem.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/uio.h>

#include "xfer.h"

struct pith_buf {
	/*
	 * Orders sealing against PTE insertion: the fault handler inserts
	 * under the read side, SEAL flips `sealed` and zaps under the write
	 * side, so no writable PTE can be installed after the zap.
	 */
	struct rw_semaphore lock;
	bool sealed;		/* set once, under lock; read with acquire */
	u64 size;		/* bytes; ftruncate() may lower it */
	unsigned long nr_pages;	/* capacity, fixed at CREATE */
	struct page **pages;
	atomic_long_t mappings;	/* VMAs mapping this buffer */
};

static struct vfsmount *pith_mnt;
static atomic_long_t pith_buffers = ATOMIC_LONG_INIT(0);
static atomic64_t pith_buffers_created = ATOMIC64_INIT(0);

long pith_buf_count(void)
{
	return atomic_long_read(&pith_buffers);
}

u64 pith_buf_created(void)
{
	return atomic64_read(&pith_buffers_created);
}

static void pith_buf_free(struct pith_buf *buf)
{
	unsigned long i;

	/* No VMA is left (each holds a file reference), so these are the
	 * last references to the pages. */
	for (i = 0; i < buf->nr_pages; i++)
		put_page(buf->pages[i]);
	kvfree(buf->pages);
	kfree(buf);
	atomic_long_dec(&pith_buffers);
}

static struct pith_buf *vma_buf(struct vm_area_struct *vma)
{
	return vma->vm_file->private_data;
}

static void pith_buf_vm_open(struct vm_area_struct *vma)
{
	atomic_long_inc(&vma_buf(vma)->mappings);
}

static void pith_buf_vm_close(struct vm_area_struct *vma)
{
	atomic_long_dec(&vma_buf(vma)->mappings);
}

/*
 * Faults come from mappings made before the seal (or from a read-only
 * mapping whose PTEs SEAL zapped). A writable mapping of a sealed buffer
 * gets SIGBUS for any access: even a read would install a writable PTE.
 *
 * The PTE is a special one (pfn insertion into a VM_MIXEDMAP VMA), which
 * lockless get_user_pages_fast() refuses; the slow path refuses VM_IO. So no
 * O_DIRECT read, vmsplice or io_uring request can pin a page while it is
 * writable and write it after the seal.
 */
static vm_fault_t pith_buf_fault(struct vm_fault *vmf)
{
	struct vm_area_struct *vma = vmf->vma;
	struct pith_buf *buf = vma_buf(vma);
	struct page *page;
	vm_fault_t ret;

	if (vmf->pgoff >= buf->nr_pages)
		return VM_FAULT_SIGBUS;
	page = buf->pages[vmf->pgoff];

	down_read(&buf->lock);
	if (buf->sealed && (vma->vm_flags & VM_WRITE))
		ret = VM_FAULT_SIGBUS;
	else
		ret = vmf_insert_mixed(vma, vmf->address,
				       pith_page_to_pfn(page));
	up_read(&buf->lock);
	return ret;
}

/* Once sealed, no mapping may become writable again (mmap clears
 * VM_MAYWRITE for new mappings; this covers the ones made before). */
static int pith_buf_mprotect(struct vm_area_struct *vma, unsigned long start,
			     unsigned long end, unsigned long newflags)
{
	if ((newflags & VM_WRITE) && smp_load_acquire(&vma_buf(vma)->sealed))
		return -EACCES;
	return 0;
}

static const struct vm_operations_struct pith_buf_vm_ops = {
	.open = pith_buf_vm_open,
	.close = pith_buf_vm_close,
	.fault = pith_buf_fault,
	.mprotect = pith_buf_mprotect,
};

struct pith_fill {
	struct mm_struct *mm;
	struct page **pages;
	pgprot_t prot;
};

static int pith_fill_pte(pte_t *pte, unsigned long addr, void *data)
{
	struct pith_fill *f = data;
	struct page *page = *f->pages++;

	/* POPULATE may find PTEs that faults installed already. */
	if (pte_none(*pte))
		set_pte_at(f->mm, addr, pte,
			   pte_mkspecial(mk_pte(page, f->prot)));
	return 0;
}

/*
 * Map a whole range of a sealed buffer in one page-table walk. The PTEs are
 * special, like those of the fault path and of remap_pfn_range(): no page
 * refcount, mapcount or RSS update per page (the VMA's file reference keeps
 * the pages alive), which is most of what vm_insert_pages() spends per
 * page, and lockless GUP refuses them.
 */
static int pith_buf_fill(struct vm_area_struct *vma, struct page **pages)
{
	struct pith_fill f = {
		.mm = vma->vm_mm,
		.pages = pages,
		.prot = vma->vm_page_prot,
	};

	return apply_to_page_range(vma->vm_mm, vma->vm_start,
				   vma->vm_end - vma->vm_start, pith_fill_pte,
				   &f);
}

/*
 * VM_IO keeps get_user_pages() (and so vmsplice, O_DIRECT, io_uring fixed
 * buffers, process_vm_writev, /proc/PID/mem) away from the pages: a pinned
 * page would be a write path that SEAL could not revoke. VM_DONTCOPY: a
 * fork()ed child does not inherit the mapping (and VM_IO makes madvise
 * refuse MADV_DOFORK). VM_DONTEXPAND: mremap() cannot grow it.
 */
static int pith_buf_mmap(struct file *file, struct vm_area_struct *vma)
{
	struct pith_buf *buf = file->private_data;
	unsigned long npages = vma_pages(vma);
	bool sealed;
	int err;

	if (!(vma->vm_flags & VM_SHARED))
		return -EINVAL;
	if (vma->vm_pgoff > buf->nr_pages ||
	    npages > buf->nr_pages - vma->vm_pgoff)
		return -EINVAL;

	sealed = smp_load_acquire(&buf->sealed);
	if (sealed) {
		if (vma->vm_flags & VM_WRITE)
			return -EPERM;
		vm_flags_clear(vma, VM_MAYWRITE);
	}
	vm_flags_set(vma, VM_MIXEDMAP | VM_IO | VM_DONTCOPY | VM_DONTEXPAND |
			  VM_DONTDUMP);
	vma->vm_ops = &pith_buf_vm_ops;

	/*
	 * A sealed buffer never changes again, so its pages go in all at
	 * once: the consumer takes no fault. An unsealed buffer is faulted in
	 * lazily, because this VMA is not yet visible to SEAL's zap and must
	 * not hold PTEs before it is.
	 */
	if (sealed) {
		err = pith_buf_fill(vma, buf->pages + vma->vm_pgoff);
		if (err)
			return err;
	}
	atomic_long_inc(&buf->mappings);
	return 0;
}

/*
 * Unlike ->mmap, the VMA is linked (SEAL's zap reaches it), so PTEs may be
 * installed before the seal too. The read side of buf->lock orders this
 * against SEAL exactly as the fault handler is.
 */
static long pith_buf_populate(struct file *file, void __user *argp)
{
	struct pith_buf *buf = file->private_data;
	struct mm_struct *mm = current->mm;
	struct pith_xfer_populate p;
	struct vm_area_struct *vma;
	struct pith_fill f;
	unsigned long len;
	long err;

	if (copy_from_user(&p, argp, sizeof(p)))
		return -EFAULT;
	if (!p.len || !PAGE_ALIGNED(p.addr) || p.len > TASK_SIZE ||
	    p.addr > TASK_SIZE - PAGE_ALIGN(p.len))
		return -EINVAL;
	len = PAGE_ALIGN(p.len);

	if (mmap_read_lock_killable(mm))
		return -EINTR;
	vma = vma_lookup(mm, p.addr);
	err = -EINVAL;
	if (!vma || vma->vm_ops != &pith_buf_vm_ops ||
	    vma->vm_file->private_data != buf || len > vma->vm_end - p.addr)
		goto out_unlock_mm;

	down_read(&buf->lock);
	if (buf->sealed && (vma->vm_flags & VM_WRITE)) {
		err = -EPERM;
	} else {
		f = (struct pith_fill){
			.mm = mm,
			.pages = buf->pages + vma->vm_pgoff +
				 ((p.addr - vma->vm_start) >> PAGE_SHIFT),
			.prot = vma->vm_page_prot,
		};
		err = apply_to_page_range(mm, p.addr, len, pith_fill_pte, &f);
	}
	up_read(&buf->lock);
out_unlock_mm:
	mmap_read_unlock(mm);
	return err;
}

static long pith_buf_seal(struct file *file)
{
	struct pith_buf *buf = file->private_data;

	down_write(&buf->lock);
	if (!buf->sealed) {
		smp_store_release(&buf->sealed, true);
		/* Every PTE of every VMA on this inode, in every mm, with
		 * the TLB shootdown done before it returns. */
		unmap_mapping_range(file->f_mapping, 0, 0, 1);
	}
	up_write(&buf->lock);
	return 0;
}

static long pith_buf_info(struct file *file, void __user *argp)
{
	struct pith_buf *buf = file->private_data;
	struct pith_xfer_info info = {
		.size = buf->size,
		.nr_pages = buf->nr_pages,
		.flags = smp_load_acquire(&buf->sealed) ? PITH_XFER_SEALED : 0,
		.mappings = atomic_long_read(&buf->mappings),
	};

	if (copy_to_user(argp, &info, sizeof(info)))
		return -EFAULT;
	return 0;
}

static long pith_buf_ioctl(struct file *file, unsigned int cmd,
			   unsigned long arg)
{
	switch (cmd) {
	case PITH_XFER_IOC_SEAL:
		return pith_buf_seal(file);
	case PITH_XFER_IOC_INFO:
		return pith_buf_info(file, (void __user *)arg);
	case PITH_XFER_IOC_POPULATE:
		return pith_buf_populate(file, (void __user *)arg);
	default:
		return -ENOTTY;
	}
}

/*
 * write(2)/pwrite(2) before the seal, so the buffer is a drop-in for a memfd.
 * The copy runs with page faults disabled under the read side of buf->lock
 * (the source may be a mapping of this very buffer, whose fault handler
 * takes the lock too); the source is faulted in before, unlocked.
 */
static ssize_t pith_buf_write_iter(struct kiocb *iocb, struct iov_iter *from)
{
	struct pith_buf *buf = iocb->ki_filp->private_data;
	loff_t pos = iocb->ki_pos;
	ssize_t done = 0, err = 0;
	size_t off, n, copied;
	struct page *page;

	while (iov_iter_count(from)) {
		if (pos < 0 || pos >= buf->size) {
			err = -EFBIG;
			break;
		}
		off = offset_in_page(pos);
		n = min_t(u64, PAGE_SIZE - off, buf->size - pos);
		n = min(n, iov_iter_count(from));
		if (fault_in_iov_iter_readable(from, n) == n) {
			err = -EFAULT;
			break;
		}
		down_read(&buf->lock);
		if (buf->sealed) {
			up_read(&buf->lock);
			err = -EPERM;
			break;
		}
		page = buf->pages[pos >> PAGE_SHIFT];
		copied = copy_page_from_iter_atomic(page, off, n, from);
		up_read(&buf->lock);
		pos += copied;
		done += copied;
		if (fatal_signal_pending(current)) {
			err = -EINTR;
			break;
		}
		cond_resched();
	}
	iocb->ki_pos = pos;
	return done ? done : err;
}

static ssize_t pith_buf_read_iter(struct kiocb *iocb, struct iov_iter *to)
{
	struct pith_buf *buf = iocb->ki_filp->private_data;
	loff_t pos = iocb->ki_pos;
	ssize_t done = 0;
	size_t off, n, copied;

	while (iov_iter_count(to) && pos >= 0 && pos < buf->size) {
		off = offset_in_page(pos);
		n = min_t(u64, PAGE_SIZE - off, buf->size - pos);
		n = min(n, iov_iter_count(to));
		copied = copy_page_to_iter(buf->pages[pos >> PAGE_SHIFT], off,
					   n, to);
		pos += copied;
		done += copied;
		if (copied < n) {
			if (!done)
				return -EFAULT;
			break;
		}
		if (fatal_signal_pending(current))
			break;
		cond_resched();
	}
	iocb->ki_pos = pos;
	return done;
}

static int pith_buf_release(struct inode *inode, struct file *file)
{
	pith_buf_free(file->private_data);
	return 0;
}

static const struct file_operations pith_buf_fops = {
	.owner = THIS_MODULE,
	.llseek = generic_file_llseek,
	.read_iter = pith_buf_read_iter,
	.write_iter = pith_buf_write_iter,
	.mmap = pith_buf_mmap,
	.unlocked_ioctl = pith_buf_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
	.release = pith_buf_release,
};

/*
 * ftruncate() before the seal sets the size within the pages allocated at
 * CREATE (as a memfd user expects when trimming an arena); after the seal,
 * or beyond that capacity, it fails. Nothing else about the inode changes.
 */
static int pith_buf_setattr(PITH_SETATTR_NS_ARG, struct dentry *dentry,
			    struct iattr *attr)
{
	struct inode *inode = d_inode(dentry);
	struct pith_buf *buf = inode->i_private;
	int err = 0;

	if (attr->ia_valid & ~(ATTR_SIZE | ATTR_MTIME | ATTR_CTIME |
			       ATTR_ATIME | ATTR_FILE | ATTR_OPEN |
			       ATTR_KILL_SUID | ATTR_KILL_SGID |
			       ATTR_KILL_PRIV))
		return -EPERM;
	if (!(attr->ia_valid & ATTR_SIZE))
		return 0;

	down_write(&buf->lock);
	if (buf->sealed)
		err = -EPERM;
	else if (attr->ia_size < 0 ||
		 attr->ia_size > (loff_t)buf->nr_pages << PAGE_SHIFT)
		err = -EFBIG;
	else {
		buf->size = attr->ia_size;
		i_size_write(inode, attr->ia_size);
	}
	up_write(&buf->lock);
	return err;
}

static const struct inode_operations pith_buf_iops = {
	.setattr = pith_buf_setattr,
};

static struct pith_buf *pith_buf_alloc(u64 size)
{
	struct pith_buf *buf;
	int err;

	buf = kzalloc(sizeof(*buf), GFP_KERNEL_ACCOUNT);
	if (!buf)
		return ERR_PTR(-ENOMEM);
	init_rwsem(&buf->lock);
	atomic_long_set(&buf->mappings, 0);
	buf->size = size;
	buf->nr_pages = DIV_ROUND_UP(size, PAGE_SIZE);
	if (buf->nr_pages) {
		buf->pages = kvcalloc(buf->nr_pages, sizeof(*buf->pages),
				      GFP_KERNEL_ACCOUNT);
		if (!buf->pages) {
			err = -ENOMEM;
			goto out_free_buf;
		}
		err = pith_pool_get(buf->pages, buf->nr_pages);
		if (err)
			goto out_free_array;
	}
	atomic_long_inc(&pith_buffers);
	atomic64_inc(&pith_buffers_created);
	return buf;

out_free_array:
	kvfree(buf->pages);
out_free_buf:
	kfree(buf);
	return ERR_PTR(err);
}

/*
 * Each buffer gets an inode of its own on a private pseudo filesystem, so
 * its address_space lists exactly the VMAs that map this buffer and
 * unmap_mapping_range() reaches them all (anon_inode files share one inode,
 * which would make SEAL zap every anon-inode mapping in the system).
 */
struct file *pith_buf_new(u64 size)
{
	struct pith_buf *buf;
	struct inode *inode;
	struct file *file;
	int err;

	buf = pith_buf_alloc(size);
	if (IS_ERR(buf))
		return ERR_CAST(buf);

	inode = alloc_anon_inode(pith_mnt->mnt_sb);
	if (IS_ERR(inode)) {
		err = PTR_ERR(inode);
		goto out_free_buf;
	}
	/* A regular file, like a memfd, so ftruncate() and fstat() work. */
	inode->i_mode = S_IFREG | 0600;
	inode->i_op = &pith_buf_iops;
	inode->i_private = buf;
	inode->i_size = size;

	/*
	 * alloc_file_pseudo() does not take a reference on fops->owner but
	 * the file's last fput() drops one. Our caller holds the device
	 * open, so the module cannot be going away here.
	 */
	__module_get(THIS_MODULE);
	file = alloc_file_pseudo(inode, pith_mnt, "pith_xfer", O_RDWR,
				 &pith_buf_fops);
	if (IS_ERR(file)) {
		err = PTR_ERR(file);
		goto out_put_module;
	}
	file->private_data = buf;
	/* alloc_file_pseudo() leaves out positional I/O. */
	file->f_mode |= FMODE_PREAD | FMODE_PWRITE | PITH_FMODE_LSEEK;
	return file;

out_put_module:
	module_put(THIS_MODULE);
	iput(inode);
out_free_buf:
	pith_buf_free(buf);
	return ERR_PTR(err);
}

static int pith_fs_init_fs_context(struct fs_context *fc)
{
	return init_pseudo(fc, PITH_XFER_FS_MAGIC) ? 0 : -ENOMEM;
}

/* No .owner: the mount lives as long as the module; buffer files pin the
 * module through their fops. */
static struct file_system_type pith_fs_type = {
	.name = "pith_xfer",
	.init_fs_context = pith_fs_init_fs_context,
	.kill_sb = kill_anon_super,
};

int pith_buf_init(void)
{
	pith_mnt = kern_mount(&pith_fs_type);
	return PTR_ERR_OR_ZERO(pith_mnt);
}

void pith_buf_exit(void)
{
	kern_unmount(pith_mnt);
}
