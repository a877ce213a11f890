// SPDX-License-Identifier: GPL-2.0-only
/*
 * pith_xfer: the misc device /dev/pith_xfer that creates buffer objects for
 * zero-copy page handoff between pith's stages (see Documentation/kmod.md).
 */
#include <linux/device.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/uaccess.h>

#include "xfer.h"

static unsigned long max_bytes;
module_param(max_bytes, ulong, 0444);
MODULE_PARM_DESC(max_bytes,
		 "Largest buffer CREATE accepts (0: half of RAM, the default)");

static unsigned long pool_pages = 16384;
module_param(pool_pages, ulong, 0444);
MODULE_PARM_DESC(pool_pages, "Pre-zeroed pages kept ready (default 16384)");

static long pith_dev_version(void __user *argp)
{
	struct pith_xfer_version v = {
		.api_version = PITH_XFER_API_VERSION,
		.page_size = PAGE_SIZE,
		.max_bytes = max_bytes,
		.buffers = pith_buf_count(),
	};

	pith_pool_stats(&v);
	if (copy_to_user(argp, &v, sizeof(v)))
		return -EFAULT;
	return 0;
}

static long pith_dev_create(struct pith_xfer_create __user *argp)
{
	struct pith_xfer_create c;
	struct file *file;
	int fd;

	if (copy_from_user(&c, argp, sizeof(c)))
		return -EFAULT;
	if ((c.flags & ~PITH_XFER_CREATE_FLAGS) || c.reserved[0] ||
	    c.reserved[1])
		return -EINVAL;
	if (c.size > max_bytes)
		return -EFBIG;

	fd = get_unused_fd_flags(O_RDWR | ((c.flags & PITH_XFER_FD_CLOEXEC) ?
					   O_CLOEXEC : 0));
	if (fd < 0)
		return fd;
	file = pith_buf_new(c.size);
	if (IS_ERR(file)) {
		put_unused_fd(fd);
		return PTR_ERR(file);
	}
	/* The fd becomes visible only once userspace can learn its number. */
	if (put_user(fd, &argp->fd)) {
		put_unused_fd(fd);
		fput(file);
		return -EFAULT;
	}
	fd_install(fd, file);
	return 0;
}

static long pith_dev_ioctl(struct file *file, unsigned int cmd,
			   unsigned long arg)
{
	switch (cmd) {
	case PITH_XFER_IOC_VERSION:
		return pith_dev_version((void __user *)arg);
	case PITH_XFER_IOC_CREATE:
		return pith_dev_create((void __user *)arg);
	default:
		return -ENOTTY;
	}
}

/*
 * The same figures as PITH_XFER_IOC_VERSION, under
 * /sys/class/misc/pith_xfer/, for shell scripts and monitoring.
 */
static ssize_t buffers_show(struct device *dev, struct device_attribute *attr,
			    char *buf)
{
	return sysfs_emit(buf, "%ld\n", pith_buf_count());
}
static DEVICE_ATTR_RO(buffers);

static ssize_t buffers_created_show(struct device *dev,
				    struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%llu\n", pith_buf_created());
}
static DEVICE_ATTR_RO(buffers_created);

static ssize_t pool_show(struct device *dev, struct device_attribute *attr,
			 char *buf)
{
	struct pith_xfer_version v = { 0 };

	pith_pool_stats(&v);
	return sysfs_emit(buf, "pages %llu target %llu hits %llu misses %llu\n",
			  v.pool_pages, v.pool_target, v.pool_hits,
			  v.pool_misses);
}
static DEVICE_ATTR_RO(pool);

static struct attribute *pith_dev_attrs[] = {
	&dev_attr_buffers.attr,
	&dev_attr_buffers_created.attr,
	&dev_attr_pool.attr,
	NULL,
};
ATTRIBUTE_GROUPS(pith_dev);

static const struct file_operations pith_dev_fops = {
	.owner = THIS_MODULE,
	.unlocked_ioctl = pith_dev_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
};

static struct miscdevice pith_dev = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "pith_xfer",
	.fops = &pith_dev_fops,
	.groups = pith_dev_groups,
	.mode = 0600,
};

static int __init pith_xfer_init(void)
{
	int err;

	if (!max_bytes)
		max_bytes = (totalram_pages() / 2) << PAGE_SHIFT;

	err = pith_pool_init(pool_pages);
	if (err)
		return err;
	err = pith_buf_init();
	if (err)
		goto out_pool_exit;
	err = misc_register(&pith_dev);
	if (err)
		goto out_buf_exit;
	return 0;

out_buf_exit:
	pith_buf_exit();
out_pool_exit:
	pith_pool_exit();
	return err;
}

static void __exit pith_xfer_exit(void)
{
	misc_deregister(&pith_dev);
	pith_buf_exit();
	pith_pool_exit();
}

module_init(pith_xfer_init);
module_exit(pith_xfer_exit);
MODULE_DESCRIPTION("pith: zero-copy page handoff with forced revocation");
MODULE_AUTHOR("pith developers");
MODULE_LICENSE("GPL");
