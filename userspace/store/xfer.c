// SPDX-License-Identifier: MIT
/* Buffers on /dev/pith_xfer: probe, create, seal (Documentation/kmod.md). */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "lib/macro.h"
#include "store/xfer.h"
#include "uapi/pith_xfer.h"

static int xfer_dev = -1;
static pthread_once_t probed = PTHREAD_ONCE_INIT;
static char status[160];

static void xfer_probe(void)
{
	_cleanup_close_ int fd = -1;
	struct pith_xfer_version v;
	const char *env = getenv("PITH_STORE_BACKEND");

	if (env && strcmp(env, "memfd") == 0) {
		snprintf(status, sizeof(status),
			 "memfd (PITH_STORE_BACKEND=memfd)");
		return;
	}
	fd = open(PITH_XFER_DEVICE, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		snprintf(status, sizeof(status),
			 "memfd (%s: %m; load pith_xfer.ko for forced revocation)",
			 PITH_XFER_DEVICE);
		return;
	}
	/* ENOTTY here means a module built from another API version. */
	if (ioctl(fd, PITH_XFER_IOC_VERSION, &v) < 0 ||
	    v.api_version != PITH_XFER_API_VERSION) {
		snprintf(status, sizeof(status),
			 "memfd (%s speaks another API version than %d; rebuild the module)",
			 PITH_XFER_DEVICE, PITH_XFER_API_VERSION);
		return;
	}
	snprintf(status, sizeof(status),
		 "pith_xfer (API %u, buffers up to %llu MiB, %llu pre-zeroed pages)",
		 v.api_version, (unsigned long long)(v.max_bytes >> 20),
		 (unsigned long long)v.pool_target);
	xfer_dev = TAKE_FD(fd);
}

bool xfer_available(void)
{
	pthread_once(&probed, xfer_probe);
	return xfer_dev >= 0;
}

const char *xfer_status(void)
{
	pthread_once(&probed, xfer_probe);
	return status;
}

int xfer_buffer_new(uint64_t size)
{
	struct pith_xfer_create c = { .size = size,
				      .flags = PITH_XFER_FD_CLOEXEC };

	if (!xfer_available())
		return -ENODEV;
	if (ioctl(xfer_dev, PITH_XFER_IOC_CREATE, &c) < 0)
		return negative_errno();
	return c.fd;
}

int xfer_buffer_seal(int fd)
{
	return ioctl(fd, PITH_XFER_IOC_SEAL) < 0 ? negative_errno() : 0;
}

int xfer_buffer_populate(int fd, void *addr, size_t len)
{
	struct pith_xfer_populate p = { .addr = (uintptr_t)addr, .len = len };

	return ioctl(fd, PITH_XFER_IOC_POPULATE, &p) < 0 ? negative_errno() : 0;
}
