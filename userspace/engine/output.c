// SPDX-License-Identifier: MIT
/* Writing a job's output sets to DIR/<output>/<item name>, all or nothing. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "engine/engine.h"
#include "lib/macro.h"

static int write_all(int fd, const void *data, uint64_t len)
{
	const char *p = data;

	while (len) {
		ssize_t n = write(fd, p, MIN(len, (uint64_t)1 << 30));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return negative_errno();
		p += n;
		len -= (uint64_t)n;
	}
	return 0;
}

static int remove_tree_at(int dirfd, const char *name)
{
	_cleanup_close_ int fd = openat(dirfd, name,
					O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	char buf[4096];

	if (fd < 0)
		return errno == ENOENT ? 0 : negative_errno();
	/* Output directories hold plain files only: unlink them. */
	for (;;) {
		long n = syscall(SYS_getdents64, fd, buf, sizeof(buf));

		if (n < 0)
			return negative_errno();
		if (n == 0)
			break;
		for (long off = 0; off < n;) {
			struct {
				unsigned long long ino;
				long long off;
				unsigned short reclen;
				unsigned char type;
				char name[];
			} *d = (void *)(buf + off);

			if (strcmp(d->name, ".") && strcmp(d->name, ".."))
				unlinkat(fd, d->name, 0);
			off += d->reclen;
		}
	}
	return unlinkat(dirfd, name, AT_REMOVEDIR) < 0 ? negative_errno() : 0;
}

static int write_set(int dirfd, const char *tmp, const struct set *s,
		     struct err *e)
{
	_cleanup_close_ int fd = -1;
	int r;

	if (mkdirat(dirfd, tmp, 0755) < 0)
		return err_set(e, errno, "%s: %m", tmp);
	fd = openat(dirfd, tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return err_set(e, errno, "%s: %m", tmp);
	for (size_t i = 0; i < s->n; i++) {
		const struct item *it = &s->items[i];
		_cleanup_close_ int out = -1;
		const void *data;

		out = openat(fd, it->name,
			     O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
			     0644);
		if (out < 0 && errno == EEXIST)
			return err_set(e, EEXIST,
				       "output %s: two items named '%s'; give items distinct names",
				       s->name, it->name);
		if (out < 0)
			return err_set(e, errno, "output %s: %s: %m", s->name,
				       it->name);
		r = item_data(it, &data);
		if (r >= 0)
			r = write_all(out, data, it->len);
		if (r >= 0 && fsync(out) < 0)
			r = negative_errno();
		if (r < 0)
			return err_set(e, -r, "output %s: %s: %s", s->name,
				       it->name, strerror(-r));
	}
	return fsync(fd) < 0 ? err_set(e, errno, "%s: fsync: %m", tmp) : 0;
}

int engine_write_outputs(const struct engine_report *rep, const char *dir,
			 struct err *e)
{
	_cleanup_close_ int dirfd = -1;
	char tmp[ERR_MAX], old[ERR_MAX];
	size_t done = 0;
	int r = 0;

	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		return err_set(e, errno, "%s: %m", dir);
	dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0)
		return err_set(e, errno, "%s: %m", dir);

	/* First every set complete under a temporary name... */
	for (; done < rep->n_outputs; done++) {
		snprintf(tmp, sizeof(tmp), ".%s.tmp-%d",
			 rep->outputs[done]->name, (int)getpid());
		remove_tree_at(dirfd, tmp);
		r = write_set(dirfd, tmp, rep->outputs[done], e);
		if (r < 0) {
			err_prefix(e, r, "%s", dir);
			break;
		}
	}
	if (r < 0) {
		for (size_t i = 0; i <= done && i < rep->n_outputs; i++) {
			snprintf(tmp, sizeof(tmp), ".%s.tmp-%d",
				 rep->outputs[i]->name, (int)getpid());
			remove_tree_at(dirfd, tmp);
		}
		return r;
	}
	/* ...then each moved into place, the previous run's removed. */
	for (size_t i = 0; i < rep->n_outputs; i++) {
		const char *name = rep->outputs[i]->name;

		snprintf(tmp, sizeof(tmp), ".%s.tmp-%d", name, (int)getpid());
		snprintf(old, sizeof(old), ".%s.old-%d", name, (int)getpid());
		if (renameat(dirfd, name, dirfd, old) < 0 && errno != ENOENT)
			return err_set(e, errno, "%s/%s: %m", dir, name);
		if (renameat(dirfd, tmp, dirfd, name) < 0)
			return err_set(e, errno, "%s/%s: %m", dir, name);
		remove_tree_at(dirfd, old);
	}
	return fsync(dirfd) < 0 ? err_set(e, errno, "%s: fsync: %m", dir) : 0;
}
