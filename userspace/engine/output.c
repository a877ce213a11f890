// SPDX-License-Identifier: MIT
/*
 * Writing a job's output sets to DIR/<output>/<item name>, all or nothing,
 * on the event loop, by the engine's own trusted writer: each item is
 * written (and fsynced) under the output's temporary directory as soon as
 * it joins its set, so its buffer can go; the directories are made, synced,
 * renamed and removed with io_uring operations at the end.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "engine/output.h"
#include "lib/array.h"
#include "lib/macro.h"
#include "lib/probe.h"

#define OUT_NAME_MAX (NAME_MAX + 32) /* ".<output>.tmp-<pid>" */
#define OUT_FILES_IN_FLIGHT 32 /* so at most 32 descriptors (+ 16 kept) */
#define OUT_IO_CHUNK (1u << 30)
/* A job writing at most this many files keeps them open and fsyncs them
 * with its directories at the end; past it, one syncfs (sync_sets()). */
#define OUT_FSYNC_MAX 16

struct ring_wait {
	struct loop_op op;
	unsigned pending;
	int res;	/* the first error, else the last result */
};

static void wait_cb(struct loop_op *op, int res, uint32_t flags)
{
	struct ring_wait *w = container_of(op, struct ring_wait, op);

	(void)flags;
	w->pending--;
	if (w->res >= 0)
		w->res = res;
}

static bool wait_done(void *data)
{
	return ((struct ring_wait *)data)->pending == 0;
}

/* Attach the SQE to w; wait_run() then waits for all of w's SQEs. */
static void wait_add(struct loop *l, struct ring_wait *w,
		     struct io_uring_sqe *sqe)
{
	w->op.cb = wait_cb;
	loop_sqe_set_op(l, sqe, &w->op);
	w->pending++;
}

/* The loop's own failure leaves nothing to wait for: the engine frees the
 * loop (and with it the ops in flight) on the way out. */
static int wait_run(struct loop *l, struct ring_wait *w)
{
	int r = w->pending ? loop_run_until(l, wait_done, w) : 0;

	return r < 0 ? r : w->res;
}

static int ring_mkdirat(struct loop *l, int dirfd, const char *name)
{
	struct io_uring_sqe *sqe = loop_sqe(l, 1);
	struct ring_wait w = {};
	int r;

	if (!sqe)
		return -EBUSY;
	io_uring_prep_mkdirat(sqe, dirfd, name, 0755);
	wait_add(l, &w, sqe);
	r = wait_run(l, &w);
	/* IORING_OP_MKDIRAT is 5.15+ and not in loop_features: a kernel
	 * without it refuses the opcode with -EINVAL; mkdirat(2) then. */
	if (r == -EINVAL)
		r = mkdirat(dirfd, name, 0755) < 0 ? negative_errno() : 0;
	return r;
}

/* A directory fd, or -errno. `own`: a name pith made in dirfd, opened
 * without following a symlink put there. */
static int ring_open_dir(struct loop *l, int dirfd, const char *path, bool own)
{
	struct open_how how = {
		.flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC |
			 (own ? O_NOFOLLOW : 0),
	};
	struct io_uring_sqe *sqe;
	struct ring_wait w = {};
	int fd;

	if (!loop_features(l)->op_openat2) {
		/* The kernel has no IORING_OP_OPENAT2: openat(2). */
		fd = openat(dirfd, path, (int)how.flags);
		return fd < 0 ? negative_errno() : fd;
	}
	sqe = loop_sqe(l, 1);
	if (!sqe)
		return -EBUSY;
	io_uring_prep_openat2(sqe, dirfd, path, &how);
	wait_add(l, &w, sqe);
	return wait_run(l, &w);
}

static int ring_fsync(struct loop *l, int fd)
{
	struct io_uring_sqe *sqe = loop_sqe(l, 1);
	struct ring_wait w = {};

	if (!sqe)
		return -EBUSY;
	io_uring_prep_fsync(sqe, fd, 0);
	wait_add(l, &w, sqe);
	return wait_run(l, &w);
}

/* flags: renameat2(2)'s (RENAME_EXCHANGE). */
static int ring_rename(struct loop *l, int dirfd, const char *from,
		       const char *to, unsigned flags)
{
	struct io_uring_sqe *sqe;
	struct ring_wait w = {};

	if (!loop_features(l)->op_renameat) {
		/* The kernel has no IORING_OP_RENAMEAT: renameat2(2). */
		return renameat2(dirfd, from, dirfd, to, flags) < 0 ?
			       negative_errno() :
			       0;
	}
	sqe = loop_sqe(l, 1);
	if (!sqe)
		return -EBUSY;
	io_uring_prep_renameat(sqe, dirfd, from, dirfd, to, flags);
	wait_add(l, &w, sqe);
	return wait_run(l, &w);
}

/* What dirfd/name is, without following a symlink: S_IF* or -errno. */
static int ring_type(struct loop *l, int dirfd, const char *name)
{
	struct io_uring_sqe *sqe;
	struct ring_wait w = {};
	struct statx stx = {};
	struct stat st;
	int r;

	if (!loop_features(l)->op_statx) {
		/* The kernel has no IORING_OP_STATX: fstatat(2). */
		if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			return negative_errno();
		return (int)(st.st_mode & S_IFMT);
	}
	sqe = loop_sqe(l, 1);
	if (!sqe)
		return -EBUSY;
	io_uring_prep_statx(sqe, dirfd, name, AT_SYMLINK_NOFOLLOW, STATX_TYPE,
			    &stx);
	wait_add(l, &w, sqe);
	r = wait_run(l, &w);
	return r < 0 ? r : (int)(stx.stx_mode & S_IFMT);
}

/* Queue an unlink on w (or, without IORING_OP_UNLINKAT, do it now). */
static int ring_unlink(struct loop *l, struct ring_wait *w, int dirfd,
		       const char *name, int flags)
{
	struct io_uring_sqe *sqe;

	if (!loop_features(l)->op_unlinkat) {
		/* The kernel has no IORING_OP_UNLINKAT: unlinkat(2). */
		if (unlinkat(dirfd, name, flags) < 0 && w->res >= 0)
			w->res = negative_errno();
		return 0;
	}
	sqe = loop_sqe(l, 1);
	if (!sqe)
		return -EBUSY;
	io_uring_prep_unlinkat(sqe, dirfd, name, flags);
	wait_add(l, w, sqe);
	return 0;
}

/* Remove dirfd/name and the plain files in it (output directories hold
 * nothing else); 0 when it does not exist. */
static int remove_tree(struct loop *l, int dirfd, const char *name)
{
	_cleanup_close_ int fd = ring_open_dir(l, dirfd, name, true);
	struct ring_wait w = {};
	char buf[4096];
	int r = 0, rw;

	if (fd == -ENOENT)
		return 0;
	if (fd < 0)
		return fd;
	for (;;) {
		/* io_uring has no getdents: listing the directory is the one
		 * plain syscall here; the unlinks go through the ring. */
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
				r = ring_unlink(l, &w, fd, d->name, 0);
			if (r < 0)
				break;
			off += d->reclen;
		}
		/* The names live in buf: wait before reading more (or
		 * returning). */
		rw = wait_run(l, &w);
		if (r < 0 || rw < 0)
			return r < 0 ? r : rw;
	}
	r = ring_unlink(l, &w, dirfd, name, AT_REMOVEDIR);
	return r < 0 ? r : wait_run(l, &w);
}


/* One output: its temporary directory and name. */
struct out_dir {
	const char *name;
	char tmp[OUT_NAME_MAX];
	int fd;		/* the temporary directory */
	bool made;	/* the temporary directory exists */
};

enum file_state { F_FREE, F_OPEN, F_WRITE, F_CLOSE };

/* An item queued or being written. */
struct out_item {
	size_t k;
	const char *name; /* the set's: lives as long as the run */
	struct buffer *buf; /* a reference of the writer's */
	uint64_t off, len;
	void *owner;
	uint64_t tag;
};

struct out_file {
	struct loop_op op;
	struct output_writer *w;
	enum file_state state;
	struct out_item it;
	const char *src;
	uint64_t done;
	bool keep;	/* open until the commit's fsync (sync_sets()) */
	int fd, closing;
	struct open_how how;
};

struct output_writer {
	struct loop *l;
	int dirfd;
	struct out_dir *dirs;
	size_t n;
	char made_dirs[8][PATH_MAX]; /* DIR and parents created, outermost first */
	size_t n_made;
	bool made_more;	/* more than made_dirs holds were made */
	struct out_file files[OUT_FILES_IN_FLIGHT];
	unsigned busy;
	size_t started;	/* files started so far */
	int keep[OUT_FSYNC_MAX]; /* written files left open to be fsynced */
	size_t n_keep;
	struct out_item *queue;
	size_t q_head, q_n, q_cap;
	output_written_fn written;
	void *data;
	int err;	/* the first failure, its message in msg */
	char msg[ERR_MAX];
};

static void file_cb(struct loop_op *op, int res, uint32_t flags);

static void close_kept(struct output_writer *w)
{
	for (; w->n_keep; w->n_keep--)
		close(w->keep[w->n_keep - 1]);
}
static void writer_pump(struct output_writer *w);

static void writer_fail(struct output_writer *w, int err, const char *fmt,
			...) _printf_(3, 4);
static void writer_fail(struct output_writer *w, int err, const char *fmt, ...)
{
	va_list ap;

	if (w->err)
		return;
	w->err = err < 0 ? err : -EIO;
	va_start(ap, fmt);
	vsnprintf(w->msg, sizeof(w->msg), fmt, ap);
	va_end(ap);
}

/* The item is done with (written, or failed): its buffer may go. */
static void file_end(struct out_file *f)
{
	struct output_writer *w = f->w;
	struct out_item it = f->it;

	PROBE_IO_ITEM_END(f, "file.write", it.k, PROBE_IO_OUTPUTS, f->done == it.len && !w->err ? 0 : w->err ? w->err : -EIO, f->done);
	if (f->fd >= 0)
		close(f->fd); /* only after a failure: the ring closes it */
	f->fd = -1;
	f->state = F_FREE;
	f->it.buf = buffer_unref(f->it.buf);
	w->busy--;
	if (w->written)
		w->written(w->data, it.owner, it.tag);
}

static void file_error(struct out_file *f, int err)
{
	struct output_writer *w = f->w;
	const char *out = w->dirs[f->it.k].name;

	if (err == -EEXIST)
		writer_fail(w, err,
			    "output %s: two items named '%s'; give items distinct names",
			    out, f->it.name);
	else
		writer_fail(w, err, "output %s: '%s': %s", out, f->it.name,
			    strerror(-err));
	file_end(f);
}

static bool file_submit(struct out_file *f, struct io_uring_sqe *sqe)
{
	if (!sqe) {
		file_error(f, -EBUSY);
		return false;
	}
	f->op.cb = file_cb;
	loop_sqe_set_op(f->w->l, sqe, &f->op);
	return true;
}

static void file_step(struct out_file *f)
{
	struct loop *l = f->w->l;
	struct io_uring_sqe *sqe;

	switch (f->state) {
	case F_WRITE:
		if (f->done < f->it.len) {
			sqe = loop_sqe(l, 1);
			if (sqe)
				io_uring_prep_write(
					sqe, f->fd, f->src + f->done,
					(unsigned)MIN(f->it.len - f->done,
						      (uint64_t)OUT_IO_CHUNK),
					f->done);
			file_submit(f, sqe);
			return;
		}
		/* On disk before the commit's renames: the first
		 * OUT_FSYNC_MAX files stay open to be fsynced together at
		 * the end, else one syncfs for all (sync_sets()). */
		if (f->keep && f->w->started <= OUT_FSYNC_MAX) {
			f->w->keep[f->w->n_keep++] = f->fd;
			f->fd = -1;
			return file_end(f);
		}
		f->state = F_CLOSE;
		sqe = loop_sqe(l, 1);
		if (sqe) {
			io_uring_prep_close(sqe, f->fd);
			f->closing = f->fd;
			f->fd = -1;
		}
		file_submit(f, sqe);
		return;
	default:
		return;
	}
}

static void file_cb(struct loop_op *op, int res, uint32_t flags)
{
	struct out_file *f = container_of(op, struct out_file, op);
	struct output_writer *w = f->w;

	(void)flags;
	if (res < 0 && !(f->state == F_CLOSE && res == -EINVAL)) {
		file_error(f, res);
	} else if (f->state == F_OPEN) {
		f->fd = res;
		f->state = F_WRITE;
		file_step(f);
	} else if (f->state == F_WRITE) {
		if (res == 0)
			return file_error(f, -EIO);
		f->done += (uint64_t)res;
		file_step(f);
	} else { /* F_CLOSE */
		if (res < 0) /* -EINVAL: no IORING_OP_CLOSE (5.6+) */
			close(f->closing);
		file_end(f);
	}
	writer_pump(w);
}

/* A file name of its own in the output directory, nothing else. */
static bool name_ok(const char *name)
{
	return name[0] && !strchr(name, '/') && strcmp(name, ".") &&
	       strcmp(name, "..") && strlen(name) <= NAME_MAX;
}

static void file_start(struct out_file *f, const struct out_item *it)
{
	struct output_writer *w = f->w;
	struct io_uring_sqe *sqe;
	const void *p = NULL;
	int r;

	f->it = *it;
	f->done = 0;
	f->fd = -1;
	f->state = F_OPEN;
	f->keep = w->started++ < OUT_FSYNC_MAX && !w->made_more;
	if (w->started == OUT_FSYNC_MAX + 1)
		close_kept(w); /* a syncfs at the end: no fsync needed */
	w->busy++;
	PROBE_IO_ITEM_START(f, "file.write", it->k, PROBE_IO_OUTPUTS);
	if (w->err)
		return file_end(f); /* the job's output fails anyway */
	if (!name_ok(it->name)) {
		writer_fail(w, EINVAL,
			    "output %s: item name '%s' is not a file name (no '/', not '.' or '..', at most %d bytes)",
			    w->dirs[it->k].name, it->name, NAME_MAX);
		return file_end(f);
	}
	r = it->len ? item_data(&(struct item){ .buf = it->buf,
						 .off = it->off,
						 .len = it->len },
				&p) :
		      0;
	if (r < 0)
		return file_error(f, r);
	f->src = p;
	f->how = (struct open_how){
		.flags = O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
		.mode = 0644,
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
			   RESOLVE_NO_MAGICLINKS,
	};
	if (!loop_features(w->l)->op_openat2) {
		/* The kernel has no IORING_OP_OPENAT2: openat(2). */
		int fd = openat(w->dirs[it->k].fd, it->name, (int)f->how.flags,
				0644);

		if (fd < 0)
			return file_error(f, negative_errno());
		f->fd = fd;
		f->state = F_WRITE;
		return file_step(f);
	}
	sqe = loop_sqe(w->l, 1);
	if (sqe)
		io_uring_prep_openat2(sqe, w->dirs[it->k].fd, it->name, &f->how);
	file_submit(f, sqe);
}

/* Start queued items while files are free. */
static void writer_pump(struct output_writer *w)
{
	for (size_t i = 0; i < OUT_FILES_IN_FLIGHT && w->q_n; i++) {
		struct out_file *f = &w->files[i];

		if (f->state != F_FREE)
			continue;
		struct out_item it = w->queue[w->q_head];

		w->q_head = (w->q_head + 1) % w->q_cap;
		w->q_n--;
		file_start(f, &it);
	}
}

int output_put(struct output_writer *w, size_t k, const struct item *it,
	       void *owner, uint64_t tag)
{
	struct out_item q = { .k = k, .name = it->name, .buf = it->buf,
			      .off = it->off, .len = it->len,
			      .owner = owner, .tag = tag };

	if (w->q_n == w->q_cap) {
		/* Grow the ring, unrolled so the queue starts at 0. */
		size_t cap = w->q_cap ? w->q_cap * 2 : 256;
		struct out_item *nq = calloc(cap, sizeof(*nq));

		if (!nq)
			return -ENOMEM;
		for (size_t i = 0; i < w->q_n; i++)
			nq[i] = w->queue[(w->q_head + i) % w->q_cap];
		free(w->queue);
		w->queue = nq;
		w->q_cap = cap;
		w->q_head = 0;
	}
	buffer_ref(q.buf);
	w->queue[(w->q_head + w->q_n) % w->q_cap] = q;
	w->q_n++;
	writer_pump(w);
	return 0;
}

size_t output_backlog(const struct output_writer *w)
{
	return w ? w->q_n + w->busy : 0;
}

static bool writer_idle(void *data)
{
	const struct output_writer *w = data;

	return w->busy == 0 && w->q_n == 0;
}

/* mkdir -p: DIR and every missing parent, like a user would expect of -o;
 * what was made is remembered, to be removed again if the job fails. */
static int make_dirs(struct output_writer *w, const char *dir)
{
	_cleanup_free_ char *path = strdup(dir);
	int r;

	if (!path)
		return -ENOMEM;
	for (char *p = path + 1;; p++) {
		bool end = !*p;

		if (*p && *p != '/')
			continue;
		*p = 0;
		r = ring_mkdirat(w->l, AT_FDCWD, path);
		if (r >= 0 && w->n_made < ARRAY_SIZE(w->made_dirs))
			snprintf(w->made_dirs[w->n_made++], PATH_MAX, "%s",
				 path);
		else if (r >= 0)
			w->made_more = true;
		if (end)
			return r == -EEXIST ? 0 : r;
		*p = '/';
		if (r < 0 && r != -EEXIST)
			return r;
	}
}

int output_begin(struct loop *l, const char *dir, const char *const *names,
		 size_t n, output_written_fn written, void *data,
		 struct output_writer **ret, struct err *e)
{
	struct output_writer *w = calloc(1, sizeof(*w));
	int r;

	if (!w)
		return err_set(e, ENOMEM, "out of memory");
	*ret = w;
	w->l = l;
	w->dirfd = -1;
	w->written = written;
	w->data = data;
	w->n = n;
	w->dirs = calloc(n + 1, sizeof(*w->dirs));
	if (!w->dirs)
		return err_set(e, ENOMEM, "out of memory");
	for (size_t i = 0; i < OUT_FILES_IN_FLIGHT; i++) {
		w->files[i].w = w;
		w->files[i].fd = -1;
	}
	for (size_t i = 0; i < n; i++) {
		w->dirs[i].name = names[i];
		w->dirs[i].fd = -1;
		snprintf(w->dirs[i].tmp, sizeof(w->dirs[i].tmp), ".%s.tmp-%d",
			 names[i], (int)getpid());
	}
	r = make_dirs(w, dir);
	if (r < 0)
		return err_errno(e, r, "%s", dir);
	w->dirfd = ring_open_dir(l, AT_FDCWD, dir, false);
	if (w->dirfd < 0)
		return err_errno(e, w->dirfd, "%s", dir);
	for (size_t i = 0; i < n; i++) {
		struct out_dir *od = &w->dirs[i];

		/* A leftover of a crashed run that had our PID. */
		(void)remove_tree(l, w->dirfd, od->tmp);
		r = ring_mkdirat(l, w->dirfd, od->tmp);
		if (r < 0)
			return err_errno(e, r, "%s/%s", dir, od->tmp);
		od->made = true;
		od->fd = ring_open_dir(l, w->dirfd, od->tmp, true);
		if (od->fd < 0)
			return err_errno(e, od->fd, "%s/%s", dir, od->tmp);
	}
	return 0;
}

/* Each set moved into place, the previous run's removed. */
static int commit(struct output_writer *w, struct err *e)
{
	struct loop *l = w->l;
	int dirfd = w->dirfd;
	char old[OUT_NAME_MAX];
	int r;

	/* A file in the way would fail its rename only after earlier sets
	 * were replaced: look first. */
	for (size_t i = 0; i < w->n; i++) {
		const char *name = w->dirs[i].name;

		r = ring_type(l, dirfd, name);
		if (r == -ENOENT || r == S_IFDIR)
			continue;
		if (r < 0)
			return err_errno(e, r, "%s", name);
		return err_set(e, ENOTDIR,
			       "%s: in the way: not a directory; move it away or write the outputs elsewhere",
			       name);
	}
	for (size_t i = 0; i < w->n; i++) {
		struct out_dir *od = &w->dirs[i];
		const char *name = od->name;
		bool had_old;

		/* The previous results swapped out in one step: after a
		 * crash the name holds either set whole, never none. */
		r = ring_rename(l, dirfd, od->tmp, name, RENAME_EXCHANGE);
		if (r >= 0) {
			od->made = false;
			/* od->tmp now holds the previous results. */
			(void)remove_tree(l, dirfd, od->tmp);
			continue;
		}
		/* -ENOENT: no previous results; -EINVAL: the file system
		 * cannot exchange: move the old set aside, then rename. */
		if (r != -ENOENT && r != -EINVAL)
			return err_errno(e, r, "%s", name);
		snprintf(old, sizeof(old), ".%s.old-%d", name, (int)getpid());
		(void)remove_tree(l, dirfd, old); /* a crashed run's */
		r = ring_rename(l, dirfd, name, old, 0);
		if (r < 0 && r != -ENOENT)
			return err_errno(e, r, "%s", name);
		had_old = r >= 0;
		r = ring_rename(l, dirfd, od->tmp, name, 0);
		if (r < 0) {
			/* Put the previous results back. */
			if (had_old)
				(void)ring_rename(l, dirfd, old, name, 0);
			return err_errno(e, r, "%s", name);
		}
		od->made = false;
		if (had_old)
			(void)remove_tree(l, dirfd, old);
	}
	r = ring_fsync(l, dirfd);
	return r < 0 ? err_errno(e, r, "fsync") : 0;
}

/* Queue an fsync of fd on rw. */
static int sync_add(struct loop *l, struct ring_wait *rw, int fd)
{
	struct io_uring_sqe *sqe = loop_sqe(l, 1);

	if (!sqe)
		return -EBUSY;
	io_uring_prep_fsync(sqe, fd, 0);
	wait_add(l, rw, sqe);
	return 0;
}

/*
 * Everything the renames will publish on disk first. A crash after a
 * rename must find the whole set under the new name, reachable: each
 * file's bytes and inode, each temporary directory's entries, and the
 * entry of every directory this run made (DIR and its missing parents) in
 * its parent. With at most OUT_FSYNC_MAX files written, each was left
 * open once written (file_step()); here they, the temporary directories,
 * the parent of the outermost directory made and every made directory but
 * DIR (whose entries commit() fsyncs after the renames) are fsynced, all
 * at once (one journal commit on ext4, not one per file), and closed. Past OUT_FSYNC_MAX files (or more directories made than
 * made_dirs holds), one syncfs instead, which also writes back every other
 * dirty file of the file system (a shared machine's) and so costs more
 * than a few fsyncs. Either way the renames come only after this returns
 * 0.
 */
static int sync_sets(struct output_writer *w)
{
	struct ring_wait rw = {};
	int fds[ARRAY_SIZE(w->made_dirs)];
	size_t n_fds = 0;
	int r = 0;

	if (w->started > OUT_FSYNC_MAX || w->made_more)
		return syncfs(w->dirfd) < 0 ? negative_errno() : 0;
	for (size_t i = 0; i < w->n_made && r >= 0; i++) {
		/* made_dirs[0]'s parent, then made_dirs[0..n_made-2]. */
		char parent[PATH_MAX];
		const char *path = w->made_dirs[i];

		if (i == 0) {
			char *slash;

			snprintf(parent, sizeof(parent), "%s", path);
			slash = strrchr(parent, '/');
			if (!slash)
				strcpy(parent, ".");
			else if (slash == parent)
				strcpy(parent, "/");
			else
				*slash = '\0';
			path = parent;
		} else {
			path = w->made_dirs[i - 1];
		}
		r = ring_open_dir(w->l, AT_FDCWD, path, false);
		if (r >= 0)
			fds[n_fds++] = r;
	}
	for (size_t i = 0; i < w->n_keep && r >= 0; i++)
		r = sync_add(w->l, &rw, w->keep[i]);
	for (size_t i = 0; i < n_fds && r >= 0; i++)
		r = sync_add(w->l, &rw, fds[i]);
	for (size_t i = 0; i < w->n && r >= 0; i++)
		r = sync_add(w->l, &rw, w->dirs[i].fd);
	/* Wait for what was queued, even after a failure to queue more. */
	if (rw.pending) {
		int rr = wait_run(w->l, &rw);

		r = r < 0 ? r : rr;
	}
	for (size_t i = 0; i < n_fds; i++)
		close(fds[i]);
	close_kept(w);
	return r < 0 ? r : 0;
}

int output_commit(struct output_writer *w, const char *dir, struct err *e)
{
	int r = 0;

	if (!writer_idle(w)) {
		r = loop_run_until(w->l, writer_idle, w);
		if (r < 0)
			return err_errno(e, r, "%s: event loop", dir);
	}
	if (w->err)
		return err_set(e, -w->err, "%s: %s", dir, w->msg);
	/* Every file and directory written, on disk before the renames. */
	if (w->dirfd >= 0) {
		r = sync_sets(w);
		if (r < 0)
			return err_errno(e, r, "%s: sync", dir);
	}
	if (r >= 0)
		r = commit(w, e);
	if (r < 0)
		return err_prefix(e, r, "%s", dir);
	w->n_made = 0; /* the directories made stay: they hold the results */
	return 0;
}

struct output_writer *output_free(struct output_writer *w)
{
	if (!w)
		return NULL;
	/* The files in flight end (and are removed with their directory). */
	w->err = w->err ? w->err : -ECANCELED;
	for (; w->q_n; w->q_n--, w->q_head = (w->q_head + 1) % w->q_cap)
		buffer_unref(w->queue[w->q_head].buf);
	if (w->busy)
		(void)loop_run_until(w->l, writer_idle, w);
	close_kept(w);
	for (size_t i = 0; i < w->n; i++) {
		safe_close(w->dirs[i].fd);
		if (w->dirs[i].made && w->dirfd >= 0)
			(void)remove_tree(w->l, w->dirfd, w->dirs[i].tmp);
	}
	safe_close(w->dirfd);
	/* A failed job leaves no directory it made behind. */
	for (size_t i = w->n_made; i-- > 0;)
		(void)rmdir(w->made_dirs[i]);
	free(w->queue);
	free(w->dirs);
	free(w);
	return NULL;
}
