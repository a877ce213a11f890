// SPDX-License-Identifier: MIT
/*
 * Writing a job's output sets to DIR/<output>/<item name>, all or nothing,
 * on the event loop: the files by file.write (create_new), the directories
 * made, synced, renamed and removed with io_uring operations.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "engine/output.h"
#include "iofuncs/iofuncs.h"
#include "lib/macro.h"
#include "lib/probe.h"

#define OUT_NAME_MAX (NAME_MAX + 32) /* ".<output>.tmp-<pid>" */

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

static int ring_rename(struct loop *l, int dirfd, const char *from,
		       const char *to)
{
	struct io_uring_sqe *sqe;
	struct ring_wait w = {};

	if (!loop_features(l)->op_renameat) {
		/* The kernel has no IORING_OP_RENAMEAT: renameat(2). */
		return renameat(dirfd, from, dirfd, to) < 0 ? negative_errno() :
							      0;
	}
	sqe = loop_sqe(l, 1);
	if (!sqe)
		return -EBUSY;
	io_uring_prep_renameat(sqe, dirfd, from, dirfd, to, 0);
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

struct out_set {
	const struct set *set;
	char tmp[OUT_NAME_MAX];
	int fd;		/* the temporary directory */
	bool made;	/* the temporary directory exists */
	bool done;	/* file.write finished */
	struct iofunc_run *io;
};

struct out_run {
	struct out_set *sets;
	size_t n;
};

static void on_write_done(struct iofunc_run *io, void *data)
{
	struct out_set *os = data;

	(void)io;
	os->done = true;
}

static bool all_written(void *data)
{
	const struct out_run *o = data;

	for (size_t i = 0; i < o->n; i++)
		if (o->sets[i].io && !o->sets[i].done)
			return false;
	return true;
}

/* Make the set's temporary directory and start writing its files. */
static int set_start(struct loop *l, int dirfd, struct out_set *os,
		     struct err *e)
{
	static struct set *const no_outputs[] = { NULL };
	const struct set *s = os->set;
	struct iofunc_ctx ctx;
	struct err ie = {};
	int r;

	/* A leftover of a crashed run that had our PID. */
	(void)remove_tree(l, dirfd, os->tmp);
	r = ring_mkdirat(l, dirfd, os->tmp);
	if (r < 0)
		return err_set(e, -r, "%s: %s", os->tmp, strerror(-r));
	os->made = true;
	os->fd = ring_open_dir(l, dirfd, os->tmp, true);
	if (os->fd < 0)
		return err_set(e, -os->fd, "%s: %s", os->tmp,
			       strerror(-os->fd));
	iofunc_ctx_init(&ctx);
	ctx.data_root_fd = os->fd;
	ctx.create_new = true;
	ctx.label = s->name;
	ctx.stage = PROBE_IO_OUTPUTS;
	r = iofunc_start(l, iofunc_lookup("file.write"), &ctx, s, no_outputs,
			 on_write_done, os, &os->io, &ie);
	if (r < 0)
		return err_set(e, -r, "output %s: %s", s->name, ie.msg);
	return 0;
}

/* Why the set's writing failed: its first item that failed by itself
 * (the others say "not written because ..."). */
static int set_error(const struct out_set *os, struct err *e)
{
	const char *fn = iofunc_name(iofunc_lookup("file.write"));
	const char *msg = NULL, *m;
	size_t fl = strlen(fn), at = 0;
	int r = 0, ri;

	for (size_t i = 0; i < iofunc_run_n_items(os->io); i++) {
		ri = iofunc_run_item_error(os->io, i, &m);
		if (ri >= 0)
			continue;
		if (r >= 0 || (r == -ECANCELED && ri != -ECANCELED))
			r = ri, msg = m, at = i;
	}
	if (r >= 0)
		return 0;
	if (r == -EEXIST)
		return err_set(e, EEXIST,
			       "output %s: two items named '%s'; give items distinct names",
			       os->set->name, os->set->items[at].name);
	/* "file.write: 'x': why": the job has no such stage. */
	if (!strncmp(msg, fn, fl) && !strncmp(msg + fl, ": ", 2))
		msg += fl + 2;
	return err_set(e, -r, "output %s: %s", os->set->name, msg);
}

/* Every set complete and on disk under its temporary name. */
static int write_sets(struct loop *l, int dirfd, struct out_run *o,
		      struct err *e)
{
	int r = 0;

	for (size_t i = 0; i < o->n && r >= 0; i++)
		r = set_start(l, dirfd, &o->sets[i], e);
	/* Even after a failure: the runs started must finish. */
	if (!all_written(o)) {
		int rl = loop_run_until(l, all_written, o);

		if (rl < 0 && r >= 0)
			r = err_set(e, -rl, "event loop: %s", strerror(-rl));
	}
	for (size_t i = 0; i < o->n && r >= 0; i++)
		r = set_error(&o->sets[i], e);
	for (size_t i = 0; i < o->n && r >= 0; i++) {
		r = ring_fsync(l, o->sets[i].fd);
		if (r < 0)
			err_set(e, -r, "%s: fsync: %s", o->sets[i].tmp,
				strerror(-r));
	}
	return r;
}

/* Each set moved into place, the previous run's removed. */
static int commit(struct loop *l, int dirfd, struct out_run *o,
		  struct err *e)
{
	char old[OUT_NAME_MAX];
	int r;

	/* A file in the way would fail its rename only after earlier sets
	 * were replaced: look first. */
	for (size_t i = 0; i < o->n; i++) {
		const char *name = o->sets[i].set->name;

		r = ring_type(l, dirfd, name);
		if (r == -ENOENT || r == S_IFDIR)
			continue;
		if (r < 0)
			return err_set(e, -r, "%s: %s", name, strerror(-r));
		return err_set(e, ENOTDIR,
			       "%s: in the way: not a directory; move it away or write the outputs elsewhere",
			       name);
	}
	for (size_t i = 0; i < o->n; i++) {
		struct out_set *os = &o->sets[i];
		const char *name = os->set->name;
		bool had_old;

		snprintf(old, sizeof(old), ".%s.old-%d", name, (int)getpid());
		(void)remove_tree(l, dirfd, old); /* a crashed run's */
		r = ring_rename(l, dirfd, name, old);
		if (r < 0 && r != -ENOENT)
			return err_set(e, -r, "%s: %s", name, strerror(-r));
		had_old = r >= 0;
		r = ring_rename(l, dirfd, os->tmp, name);
		if (r < 0) {
			/* Put the previous results back. */
			if (had_old)
				(void)ring_rename(l, dirfd, old, name);
			return err_set(e, -r, "%s: %s", name, strerror(-r));
		}
		os->made = false;
		if (had_old)
			(void)remove_tree(l, dirfd, old);
	}
	r = ring_fsync(l, dirfd);
	return r < 0 ? err_set(e, -r, "fsync: %s", strerror(-r)) : 0;
}

/* mkdir -p: DIR and every missing parent, like a user would expect of -o. */
static int make_dirs(struct loop *l, const char *dir)
{
	_cleanup_free_ char *path = strdup(dir);
	int r;

	if (!path)
		return -ENOMEM;
	for (char *p = path + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		r = ring_mkdirat(l, AT_FDCWD, path);
		*p = '/';
		if (r < 0 && r != -EEXIST)
			return r;
	}
	r = ring_mkdirat(l, AT_FDCWD, path);
	return r == -EEXIST ? 0 : r;
}

int output_write(struct loop *l, const struct engine_report *rep,
		 const char *dir, struct err *e)
{
	_cleanup_close_ int dirfd = -1;
	_cleanup_free_ struct out_set *sets = NULL;
	struct out_run o = { .n = rep->n_outputs };
	int r;

	sets = calloc(o.n + 1, sizeof(*sets));
	if (!sets)
		return err_set(e, ENOMEM, "out of memory");
	o.sets = sets;
	for (size_t i = 0; i < o.n; i++) {
		sets[i].set = rep->outputs[i];
		sets[i].fd = -1;
		snprintf(sets[i].tmp, sizeof(sets[i].tmp), ".%s.tmp-%d",
			 rep->outputs[i]->name, (int)getpid());
	}
	r = make_dirs(l, dir);
	if (r < 0)
		return err_set(e, -r, "%s: %s", dir, strerror(-r));
	dirfd = ring_open_dir(l, AT_FDCWD, dir, false);
	if (dirfd < 0)
		return err_set(e, -dirfd, "%s: %s", dir, strerror(-dirfd));

	r = write_sets(l, dirfd, &o, e);
	for (size_t i = 0; i < o.n; i++) {
		sets[i].io = iofunc_run_free(sets[i].io);
		sets[i].fd = safe_close(sets[i].fd);
	}
	if (r >= 0)
		r = commit(l, dirfd, &o, e);
	/* A failure leaves no temporary directory behind. */
	for (size_t i = 0; i < o.n; i++)
		if (sets[i].made)
			(void)remove_tree(l, dirfd, sets[i].tmp);
	return r < 0 ? err_prefix(e, r, "%s", dir) : 0;
}
