// SPDX-License-Identifier: MIT
/* Loading a job's input sets (files, inline text, base64) into the store. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/ingest.h"
#include "lib/macro.h"

static int read_file_item(int dirfd, const struct job_item *it,
			  struct buffer **ret, struct err *e)
{
	_cleanup_close_ int fd = -1;
	struct buffer *b = NULL;
	struct stat st;
	char *p = NULL;
	uint64_t got = 0;
	int r;

	fd = openat(dirfd, it->path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return err_set(e, errno, "%s: %m", it->path);
	if (fstat(fd, &st) < 0)
		return err_set(e, errno, "%s: %m", it->path);
	if (!S_ISREG(st.st_mode))
		return err_set(e, EINVAL, "%s: not a regular file", it->path);
	r = buffer_new(it->name, (uint64_t)st.st_size, &b);
	if (r < 0)
		return err_set(e, -r, "%s: cannot allocate buffer: %s",
			       it->path, strerror(-r));
	if (st.st_size) {
		p = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE,
			 MAP_SHARED, b->fd, 0);
		if (p == MAP_FAILED) {
			r = err_set(e, errno, "%s: cannot map buffer: %m",
				    it->path);
			buffer_unref(b);
			return r;
		}
	}
	while (got < (uint64_t)st.st_size) {
		ssize_t n = read(fd, p + got, (size_t)st.st_size - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			r = n < 0 ? err_set(e, errno, "%s: read: %m", it->path)
				  : err_set(e, EIO, "%s: file shrank while read",
					    it->path);
			munmap(p, (size_t)st.st_size);
			buffer_unref(b);
			return r;
		}
		got += (uint64_t)n;
	}
	if (p)
		munmap(p, (size_t)st.st_size);
	store_stats.bytes_written += got;
	*ret = b;
	return 0;
}

int ingest_input(int dirfd, const struct job_input *in, struct set **ret,
		 struct err *e)
{
	struct set *s = set_new(in->name);
	int r = 0;

	if (!s)
		return err_set(e, ENOMEM, "out of memory");
	for (size_t i = 0; i < in->n_items && r >= 0; i++) {
		const struct job_item *it = &in->items[i];
		struct buffer *b = NULL;

		if (it->source == JOB_SRC_FILE) {
			r = read_file_item(dirfd, it, &b, e);
		} else {
			r = buffer_new(it->name, it->len, &b);
			if (r >= 0)
				r = buffer_write(b, 0, it->data, it->len);
			if (r < 0)
				err_set(e, -r, "cannot store item: %s",
					strerror(-r));
		}
		if (r >= 0)
			r = buffer_seal(b);
		if (r >= 0)
			r = set_add(s, it->name, it->keyed, it->key, b, 0,
				    b->size);
		buffer_unref(b);
		if (r < 0)
			err_prefix(e, r, "inputs.%s[%zu]", in->name, i);
	}
	if (r < 0) {
		set_free(s);
		return r;
	}
	*ret = s;
	return 0;
}
