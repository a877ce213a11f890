// SPDX-License-Identifier: MIT
/*
 * file.read and file.write: paths resolved beneath the data root with
 * openat2(RESOLVE_BENEATH), every open, stat, read, write, fsync, rename and
 * unlink an io_uring operation. Writes are staged in temporary files and
 * renamed into place only once every item of the run is on disk. One
 * behaviour, for a job's stages only: pith reads and writes its own files
 * with iofuncs/loadfile.c and engine/output.c.
 */
#include <fcntl.h>
#include <linux/openat2.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "iofuncs/internal.h"
#include "iofuncs/segread.h"
#include "lib/probe.h"

#define FILE_IO_CHUNK (1u << 30) /* bytes per read/write SQE */

enum fstate {
	F_IDLE,
	F_OPEN,		/* read: the file; write: its directory */
	F_STATX,
	F_OPEN_TMP,
	F_WRITE,
	F_FSYNC,
	F_READ_SEGS,	/* read: in flight, see iofuncs/segread.h */
	F_CHECK_TARGET,	/* write: what the rename would replace */
};

struct fslot {
	struct loop_op op;
	struct iofunc_run *run;
	enum fstate state;
	size_t idx;
	int fd;
	struct open_how how;
	struct statx stx;
	struct arena_span dst;	/* read: where the bytes go */
	const char *src;	/* write: the item's bytes */
	uint64_t size, done;
	struct segread segs;	/* read: F_READ_SEGS */
	char path[PATH_MAX];
};

/* file.write: what each item left on disk so far. */
struct staged {
	struct loop_op op;
	struct iofunc_run *run;
	size_t idx;
	int dirfd;
	bool tmp_exists;	/* the temporary file must be renamed or removed */
	bool staged;		/* written and synced, waiting for the commit */
	bool renaming;
	bool syncing;		/* fsync of the directory after the rename */
	char tmp[NAME_MAX + 1];
	const char *base;	/* into the item's name */
};

struct fstate_run {
	struct fslot *slots;
	size_t n_slots;
	size_t next;		/* next item to start */
	size_t n_stage_done;	/* write: items staged or failed */
	bool committing;
	struct staged *staged;	/* write: one per item */
};

static void slot_cb(struct loop_op *op, int res, uint32_t flags);
static void slot_start_next(struct fslot *s);
static void write_commit(struct iofunc_run *run);

static struct fstate_run *FS(struct iofunc_run *run)
{
	return run->impl;
}

static bool is_write(const struct iofunc_run *run)
{
	return run->fn == &iofunc_file_write;
}

static const char *item_label(const struct iofunc_run *run, size_t i,
			      char *buf, size_t size)
{
	const struct item *it = iofunc_input(run, i);
	const void *p = NULL;

	if (is_write(run)) {
		iofunc_quote(buf, size, it->name, strlen(it->name));
	} else if (item_data(it, &p) < 0) {
		snprintf(buf, size, "#%zu", i);
	} else {
		iofunc_quote(buf, size, p, it->len);
	}
	return buf;
}

static void item_fail(struct iofunc_run *run, size_t i, int err,
		      const char *why)
{
	char label[256];

	iofunc_item_fail(run, i, err, "%s: '%s': %s", run->fn->name,
			 item_label(run, i, label, sizeof(label)), why);
}

static const char *path_error(int err)
{
	switch (err) {
	case -EXDEV:
		return "outside the data root (absolute paths, '..' and symlinks leaving the root are refused)";
	case -ELOOP:
		return "too many symlinks, or a /proc magic link";
	default:
		return iofunc_strerror(err);
	}
}

static bool slot_submit(struct fslot *s, struct io_uring_sqe *sqe)
{
	struct iofunc_run *run = s->run;

	if (!sqe)
		return false;
	s->op.cb = slot_cb;
	loop_sqe_set_op(run->loop, sqe, &s->op);
	run->ops++;
	return true;
}

static int openat2_sqe(struct fslot *s, int dirfd, const char *path,
		       uint64_t flags, uint64_t mode)
{
	struct io_uring_sqe *sqe = loop_sqe(s->run->loop, 1);

	if (!sqe)
		return -EBUSY;
	s->how = (struct open_how){
		.flags = flags | O_CLOEXEC | O_NOCTTY,
		.mode = mode,
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS,
	};
	io_uring_prep_openat2(sqe, dirfd, path, &s->how);
	slot_submit(s, sqe);
	return 0;
}

/* Validate an untrusted path: non-empty, no NUL, fits PATH_MAX. */
static const char *path_check(const char *p, size_t len)
{
	if (len == 0)
		return "empty path";
	if (memchr(p, '\0', len))
		return "path contains a NUL byte";
	if (len >= PATH_MAX)
		return "path too long";
	return NULL;
}

static void slot_release(struct fslot *s)
{
	segread_done(&s->segs);
	s->fd = safe_close(s->fd);
	s->state = F_IDLE;
}

/* The item on slot s ended (ok or failed): the slot is free again; the
 * caller (slot_start_next or slot_cb) takes the next item. */
static void slot_end(struct fslot *s)
{
	slot_release(s);
	if (is_write(s->run))
		FS(s->run)->n_stage_done++;
}

static void slot_fail(struct fslot *s, int err, const char *why)
{
	item_fail(s->run, s->idx, err, why);
	slot_end(s);
}

/* ---- file.read ---- */

static void read_start(struct fslot *s)
{
	struct iofunc_run *run = s->run;
	const struct item *it = iofunc_input(run, s->idx);
	const void *p;
	const char *bad;
	int r;

	r = item_data(it, &p);
	if (r < 0)
		return slot_fail(s, r, "cannot map the input item");
	bad = path_check(p, it->len);
	if (bad)
		return slot_fail(s, -EINVAL, bad);
	memcpy(s->path, p, it->len);
	s->path[it->len] = '\0';
	s->state = F_OPEN;
	/* O_NONBLOCK: opening a FIFO must not wait for a writer (it is refused
	 * after the statx); cleared again for regular files, whose reads
	 * would otherwise fail with EAGAIN instead of waiting for the disk. */
	r = openat2_sqe(s, run->ctx.data_root_fd, s->path,
			O_RDONLY | O_NONBLOCK, 0);
	if (r < 0)
		slot_fail(s, r, "cannot queue the open");
}

/* Every byte of the file is in its place. */
static void read_ok(struct fslot *s)
{
	arena_keep(&s->run->arena, &s->dst);
	iofunc_item_ok(s->run, s->idx);
	slot_end(s);
}

/* The file's read (or every segment's read and populate) completed: the
 * item. */
static void segs_end(struct segread *sr, int err)
{
	struct fslot *s = container_of(sr, struct fslot, segs);
	struct iofunc_run *run = s->run;

	if (err == -ENODATA)
		slot_fail(s, -EIO, "file shrank while being read");
	else if (err)
		slot_fail(s, err, path_error(err));
	else
		read_ok(s);
	slot_start_next(s);
	iofunc_run_maybe_done(run);
}

static void read_file(struct fslot *s)
{
	struct iofunc_run *run = s->run;
	int r;

	s->segs = (struct segread){
		.loop = run->loop,
		.ops = &run->ops,
		.cancelled = &run->cancelled,
		.end = segs_end,
		.fd = s->fd,
		.dst = s->dst.ptr,
		.size = s->size,
	};
	s->state = F_READ_SEGS;
	r = segread_start(&s->segs);
	/* Nothing queued: fail now (else the last completion does). */
	if (r == -ENOMEM)
		slot_fail(s, r, "out of memory");
	else if (r < 0)
		slot_fail(s, r, "cannot queue the reads");
}

static void read_step(struct fslot *s, int res)
{
	struct iofunc_run *run = s->run;
	struct io_uring_sqe *sqe;
	const char *bad;
	int r;

	switch (s->state) {
	case F_OPEN:
		if (res < 0)
			return slot_fail(s, res, path_error(res));
		s->fd = res;
		sqe = loop_sqe(run->loop, 1);
		if (!sqe)
			return slot_fail(s, -EBUSY, "cannot queue the statx");
		s->state = F_STATX;
		segread_prep_statx(sqe, s->fd, &s->stx);
		slot_submit(s, sqe);
		return;
	case F_STATX:
		if (res < 0)
			return slot_fail(s, res, iofunc_strerror(res));
		r = segread_check(s->fd, &s->stx, &bad);
		if (r < 0)
			return slot_fail(s, r, bad);
		s->size = s->stx.stx_size;
		s->done = 0;
		/* Segmented reads populate their own pages, in parallel. */
		run->arena.prefault = s->size < SEGREAD_MIN;
		r = arena_reserve(&run->arena, s->size, &s->dst);
		if (r < 0)
			return slot_fail(s, r, "cannot allocate its buffer");
		iofunc_item_out(run, s->idx, 0, s->dst.buf, s->dst.off,
				s->size);
		if (s->size == 0)
			return read_ok(s);
		return read_file(s);
	default:
		return slot_fail(s, -EINVAL, "internal state error");
	}
}

/* ---- file.write ---- */

static void tmp_name(struct staged *st)
{
	uint32_t rnd[2] = { 0, 0 };

	if (getrandom(rnd, sizeof(rnd), GRND_NONBLOCK) < 0)
		rnd[0] = (uint32_t)getpid(), rnd[1] = (uint32_t)loop_now_ms();
	snprintf(st->tmp, sizeof(st->tmp), ".%.200s.pith-%08x%08x", st->base,
		 rnd[0], rnd[1]);
}

static void write_start(struct fslot *s)
{
	struct iofunc_run *run = s->run;
	const struct item *it = iofunc_input(run, s->idx);
	struct staged *st = &FS(run)->staged[s->idx];
	const char *slash, *bad;
	const void *p;
	size_t len = strlen(it->name);
	int r;

	bad = path_check(it->name, len);
	if (bad)
		return slot_fail(s, -EINVAL, bad);
	r = item_data(it, &p);
	if (r < 0)
		return slot_fail(s, r, "cannot map the input item");
	s->src = p;
	s->size = it->len;
	s->done = 0;
	slash = strrchr(it->name, '/');
	st->base = slash ? slash + 1 : it->name;
	if (!*st->base || !strcmp(st->base, ".") || !strcmp(st->base, ".."))
		return slot_fail(s, -EINVAL, "not a file name");
	if (slash) {
		size_t dl = (size_t)(slash - it->name);

		memcpy(s->path, it->name, dl);
		s->path[dl] = '\0';
		if (!dl) /* "/x": absolute, refused by RESOLVE_BENEATH */
			strcpy(s->path, "/");
	} else {
		strcpy(s->path, ".");
	}
	s->state = F_OPEN;
	r = openat2_sqe(s, run->ctx.data_root_fd, s->path,
			O_RDONLY | O_DIRECTORY, 0);
	if (r < 0)
		slot_fail(s, r, "cannot queue the open");
}

/* The target is the job file, a function binary or an input (by identity:
 * hard links and symlinks to them included). */
static bool is_protected(const struct iofunc_run *run, const struct statx *x)
{
	uint64_t dev = makedev(x->stx_dev_major, x->stx_dev_minor);

	for (size_t i = 0; i < run->ctx.n_protect; i++)
		if (run->ctx.protect[i].dev == dev &&
		    run->ctx.protect[i].ino == x->stx_ino)
			return true;
	return false;
}

static void write_more(struct fslot *s)
{
	struct io_uring_sqe *sqe = loop_sqe(s->run->loop, 1);
	uint64_t len = MIN(s->size - s->done, (uint64_t)FILE_IO_CHUNK);

	if (!sqe)
		return slot_fail(s, -EBUSY, "cannot queue the write");
	s->state = F_WRITE;
	io_uring_prep_write(sqe, s->fd, s->src + s->done, (unsigned)len,
			    s->done);
	slot_submit(s, sqe);
}

/*
 * The temporary is on disk. Renaming it over a directory would fail only at
 * the commit, after other items may have been renamed: look now, so that
 * the commit is as close to all-or-nothing as rename(2) allows.
 */
static void write_synced(struct fslot *s)
{
	struct iofunc_run *run = s->run;
	struct staged *st = &FS(run)->staged[s->idx];
	struct io_uring_sqe *sqe = loop_sqe(run->loop, 1);

	if (!sqe)
		return slot_fail(s, -EBUSY, "cannot queue the statx");
	s->state = F_CHECK_TARGET;
	io_uring_prep_statx(sqe, st->dirfd, st->base, AT_SYMLINK_NOFOLLOW,
			    STATX_TYPE | STATX_INO, &s->stx);
	slot_submit(s, sqe);
}

static void write_step(struct fslot *s, int res)
{
	struct iofunc_run *run = s->run;
	struct staged *st = &FS(run)->staged[s->idx];
	struct io_uring_sqe *sqe;

	switch (s->state) {
	case F_OPEN:
		if (res < 0)
			return slot_fail(s, res, path_error(res));
		st->dirfd = res;
		tmp_name(st);
		s->state = F_OPEN_TMP;
		if (openat2_sqe(s, st->dirfd, st->tmp,
				O_WRONLY | O_CREAT | O_EXCL, 0666) < 0)
			return slot_fail(s, -EBUSY, "cannot queue the open");
		return;
	case F_OPEN_TMP:
		if (res == -EEXIST) {
			tmp_name(st);
			if (openat2_sqe(s, st->dirfd, st->tmp,
					O_WRONLY | O_CREAT | O_EXCL, 0666) < 0)
				return slot_fail(s, -EBUSY,
						 "cannot queue the open");
			return;
		}
		if (res < 0)
			return slot_fail(s, res, path_error(res));
		s->fd = res;
		st->tmp_exists = true;
		if (s->size)
			return write_more(s);
		res = 0;
		/* An empty item is written once created. */
		__attribute__((fallthrough));
	case F_WRITE:
		if (res == -EAGAIN || res == -EINTR)
			return write_more(s);
		if (res < 0)
			return slot_fail(s, res, iofunc_strerror(res));
		if (res == 0 && s->done < s->size)
			return slot_fail(s, -EIO, "short write");
		s->done += (uint64_t)res;
		if (s->done < s->size)
			return write_more(s);
		if (!run->ctx.fsync)
			return write_synced(s);
		sqe = loop_sqe(run->loop, 1);
		if (!sqe)
			return slot_fail(s, -EBUSY, "cannot queue the fsync");
		s->state = F_FSYNC;
		io_uring_prep_fsync(sqe, s->fd, 0);
		slot_submit(s, sqe);
		return;
	case F_FSYNC:
		if (res < 0)
			return slot_fail(s, res, iofunc_strerror(res));
		return write_synced(s);
	case F_CHECK_TARGET:
		if (res == 0 && S_ISDIR(s->stx.stx_mode))
			return slot_fail(s, -EISDIR, "is a directory");
		if (res == 0 && is_protected(run, &s->stx))
			return slot_fail(s, -EPERM,
					 "is one of the job's own files (the job file, a function binary or an input), never replaced");
		if (res < 0 && res != -ENOENT)
			return slot_fail(s, res, iofunc_strerror(res));
		st->staged = true;
		return slot_end(s);
	default:
		return slot_fail(s, -EINVAL, "internal state error");
	}
}

/* The item is in place (and, with fsync, on disk): record its output. */
static void write_ok(struct iofunc_run *run, size_t i)
{
	const char *name = iofunc_input(run, i)->name;
	struct buffer *buf;
	uint64_t off;

	if (run->n_outputs) {
		if (arena_put(&run->arena, name, strlen(name), &buf, &off) < 0)
			return item_fail(run, i, -ENOMEM,
					 "written, but out of memory for its output");
		iofunc_item_out(run, i, 0, buf, off, strlen(name));
	}
	iofunc_item_ok(run, i);
}

/*
 * Commit, once every item is staged or failed: rename all temporary files
 * into place when every item succeeded, else remove them all, so that a
 * failed stage leaves no file behind, half-written or whole.
 */
static void staged_cb(struct loop_op *op, int res, uint32_t flags)
{
	struct staged *st = container_of(op, struct staged, op);
	struct iofunc_run *run = st->run;

	(void)flags;
	run->ops--;
	if (st->renaming) {
		st->renaming = false;
		if (res < 0) {
			item_fail(run, st->idx, res, iofunc_strerror(res));
			/* Leave nothing behind, not even the temporary. */
			unlinkat(st->dirfd, st->tmp, 0);
			st->tmp_exists = false;
			goto out;
		}
		st->tmp_exists = false;
		if (run->ctx.fsync) {
			struct io_uring_sqe *sqe = loop_sqe(run->loop, 1);

			if (sqe) {
				st->syncing = true;
				io_uring_prep_fsync(sqe, st->dirfd, 0);
				loop_sqe_set_op(run->loop, sqe, &st->op);
				run->ops++;
				return;
			}
			res = -EBUSY;
		}
	} else if (st->syncing) {
		st->syncing = false;
	} else {
		/* The unlink of a temporary file of a failed stage. */
		st->tmp_exists = false;
		goto out;
	}
	if (res < 0)
		item_fail(run, st->idx, res,
			  "renamed into place, but the fsync of its directory failed");
	else
		write_ok(run, st->idx);
out:
	st->dirfd = safe_close(st->dirfd);
	iofunc_run_maybe_done(run);
}

static void write_commit(struct iofunc_run *run)
{
	struct fstate_run *fs = FS(run);
	bool all_ok = !run->cancelled && run->n_failed == 0;
	char first[256] = "";
	size_t failed_idx = SIZE_MAX;

	if (fs->committing || fs->n_stage_done < run->n)
		return;
	fs->committing = true;
	for (size_t i = 0; i < run->n && failed_idx == SIZE_MAX; i++)
		if (run->items[i].err < 0)
			failed_idx = i;
	if (failed_idx != SIZE_MAX)
		item_label(run, failed_idx, first, sizeof(first));

	for (size_t i = 0; i < run->n; i++) {
		struct staged *st = &fs->staged[i];
		struct io_uring_sqe *sqe;

		if (!all_ok && st->staged) {
			char why[320];

			snprintf(why, sizeof(why),
				 "not written because '%s' failed", first);
			item_fail(run, i, -ECANCELED,
				  run->cancelled ? "cancelled" : why);
		}
		if (!st->tmp_exists) {
			st->dirfd = safe_close(st->dirfd);
			continue;
		}
		st->op.cb = staged_cb;
		st->run = run;
		st->idx = i;
		sqe = loop_sqe(run->loop, 1);
		if (!sqe) {
			unlinkat(st->dirfd, st->tmp, 0);
			item_fail(run, i, -EBUSY, "cannot queue the rename");
			st->dirfd = safe_close(st->dirfd);
			continue;
		}
		if (all_ok) {
			st->renaming = true;
			io_uring_prep_renameat(sqe, st->dirfd, st->tmp,
					       st->dirfd, st->base, 0);
		} else {
			io_uring_prep_unlinkat(sqe, st->dirfd, st->tmp, 0);
		}
		loop_sqe_set_op(run->loop, sqe, &st->op);
		run->ops++;
	}
}

/* ---- shared ---- */

static void slot_cb(struct loop_op *op, int res, uint32_t flags)
{
	struct fslot *s = container_of(op, struct fslot, op);
	struct iofunc_run *run = s->run;

	(void)flags;
	run->ops--;
	if (run->cancelled && res >= 0 &&
	    (s->state == F_OPEN || s->state == F_OPEN_TMP)) {
		/* Opened just before the cancel: nothing more to do. */
		if (s->state == F_OPEN_TMP) {
			FS(run)->staged[s->idx].tmp_exists = true;
			s->fd = res;
		} else if (is_write(run)) {
			FS(run)->staged[s->idx].dirfd = res;
		} else {
			s->fd = res;
		}
		slot_fail(s, -ECANCELED, "cancelled");
	} else if (run->cancelled && res >= 0)
		slot_fail(s, -ECANCELED, "cancelled");
	else if (is_write(run))
		write_step(s, res);
	else
		read_step(s, res);
	slot_start_next(s);
	iofunc_run_maybe_done(run);
}

static void slot_start_next(struct fslot *s)
{
	struct iofunc_run *run = s->run;
	struct fstate_run *fs = FS(run);

	while (s->state == F_IDLE && fs->next < run->n &&
	       iofunc_may_start(run)) {
		s->idx = fs->next++;
		PROBE_IO_ITEM_START(run, run->fn->name, s->idx, run->ctx.stage);
		if (run->cancelled) {
			item_fail(run, s->idx, -ECANCELED, "cancelled");
			if (is_write(run))
				fs->n_stage_done++;
			continue;
		}
		if (run->ctx.data_root_fd < 0 &&
		    run->ctx.data_root_fd != AT_FDCWD) {
			item_fail(run, s->idx, -EBADF, "no data root");
			if (is_write(run))
				fs->n_stage_done++;
			continue;
		}
		if (is_write(run))
			write_start(s);
		else
			read_start(s);
	}
	if (is_write(run))
		write_commit(run);
}

static int file_start(struct iofunc_run *run, struct err *e)
{
	struct fstate_run *fs = calloc(1, sizeof(*fs));

	if (!fs)
		return err_set(e, ENOMEM, "out of memory");
	run->impl = fs;
	run->arena.prefault = !is_write(run);
	fs->n_slots = MIN(run->n, (size_t)run->ctx.concurrency);
	fs->slots = calloc(fs->n_slots ? fs->n_slots : 1, sizeof(*fs->slots));
	if (is_write(run))
		fs->staged = calloc(run->n ? run->n : 1, sizeof(*fs->staged));
	if (!fs->slots || (is_write(run) && !fs->staged))
		return err_set(e, ENOMEM, "out of memory");
	for (size_t i = 0; i < run->n && is_write(run); i++)
		fs->staged[i].dirfd = -1;
	for (size_t i = 0; i < fs->n_slots; i++) {
		fs->slots[i].run = run;
		fs->slots[i].fd = -1;
	}
	/* Items that fail before any I/O finish here; the rest are queued. */
	for (size_t i = 0; i < fs->n_slots; i++)
		slot_start_next(&fs->slots[i]);
	if (is_write(run))
		write_commit(run);
	return 0;
}

static void file_cancel(struct iofunc_run *run)
{
	struct fstate_run *fs = FS(run);

	for (size_t i = 0; i < fs->n_slots; i++) {
		struct fslot *sl = &fs->slots[i];

		if (sl->state == F_READ_SEGS)
			segread_cancel(&sl->segs);
		else if (sl->state != F_IDLE)
			loop_cancel(run->loop, &sl->op);
	}
	/* Items not started yet fail now. */
	while (fs->next < run->n) {
		item_fail(run, fs->next++, -ECANCELED, "cancelled");
		if (is_write(run))
			fs->n_stage_done++;
	}
	if (is_write(run))
		write_commit(run);
}

static void file_resume(struct iofunc_run *run)
{
	struct fstate_run *fs = FS(run);

	for (size_t i = 0; i < fs->n_slots; i++)
		slot_start_next(&fs->slots[i]);
}

static void file_free(struct iofunc_run *run)
{
	struct fstate_run *fs = FS(run);

	if (!fs)
		return;
	for (size_t i = 0; i < fs->n_slots; i++) {
		segread_done(&fs->slots[i].segs);
		safe_close(fs->slots[i].fd);
	}
	for (size_t i = 0; fs->staged && i < run->n; i++) {
		if (fs->staged[i].tmp_exists && fs->staged[i].dirfd >= 0)
			unlinkat(fs->staged[i].dirfd, fs->staged[i].tmp, 0);
		safe_close(fs->staged[i].dirfd);
	}
	free(fs->slots);
	free(fs->staged);
	free(fs);
	run->impl = NULL;
}

const struct iofunc iofunc_file_read = {
	.name = "file.read",
	.min_outputs = 1,
	.max_outputs = 1,
	.start = file_start,
	.cancel = file_cancel,
	.free = file_free,
	.resume = file_resume,
};

const struct iofunc iofunc_file_write = {
	.name = "file.write",
	.min_outputs = 0,
	.max_outputs = 1,
	.start = file_start,
	.cancel = file_cancel,
	.free = file_free,
	.resume = file_resume,
};
