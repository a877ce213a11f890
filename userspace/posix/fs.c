// SPDX-License-Identifier: MIT
/*
 * The file tree and the descriptors of a POSIX function, all in its own
 * memory: /in/<set>/<item> (read-only, read straight from the mapped input
 * bytes), /out/<set>/<name> (files that become output items), /tmp, /dev
 * (null, zero, random, urandom, stdin, stdout, stderr); fd 0 reads the
 * stage input `stdin`, fds 1 and 2 are captured for the output sets
 * `stdout` and `stderr`. Documentation/posix-functions.md.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "internal.h"

#define FD_MAX 1024
#define RENAME_NOREPLACE 1 /* renameat2(), not in musl 1.2.3's headers */
#define DEPTH_MAX 64 /* directories deep under /tmp */

enum kind { K_DIR, K_FILE, K_DEV };
enum dev { DEV_NULL, DEV_ZERO, DEV_RANDOM, DEV_FULL };

struct node {
	enum kind kind;
	const char *name;
	size_t name_len;
	struct node *parent;
	struct node *child, *last, *next; /* memory directories */
	/* A directory of /in: its set. A file of /in: its items (one, or
	 * all of `stdin` read as one stream). */
	const struct pith_set *set;
	uint32_t set_index;
	uint32_t first, n_items; /* K_FILE over input items */
	int out;		  /* /out/<set>: the output set, else -1 */
	bool ro;		  /* the tree under / but /tmp and /out/<set> */
	bool pooled;		  /* an /in file node: back to the pool at close */
	/* K_FILE in memory: data/size/cap (pages). Input files: `data`
	 * points into the input when n_items is 1. */
	char *data;
	size_t size, cap;
	enum dev dev;
	mode_t mode;
	uint64_t ino;
	unsigned links; /* 0: unlinked */
	unsigned refs;	/* open descriptions and the cwd */
	struct node *pool_next;
};

struct ofd {
	struct node *n;
	uint64_t off;
	int flags;
	unsigned refs;
	/* A read over several items: the item at cur_off. */
	uint32_t cur_item;
	uint64_t cur_off;
};

static struct node *root, *dir_in, *dir_out, *dir_tmp, *dir_dev;
static struct node *out_stdout, *out_stderr;
static struct node *cwd;
static struct node *in_pool;
static struct ofd *fds[FD_MAX];
static bool cloexec[FD_MAX];
static uint64_t next_ino = 1;
static mode_t cur_umask = 022;
static int stdin_set = -1;

static struct node *node_new(enum kind k, const char *name, size_t len,
			     mode_t mode)
{
	struct node *n = rt_alloc(sizeof(*n));

	n->kind = k;
	n->name = name;
	n->name_len = len;
	n->mode = mode;
	n->out = -1;
	n->ino = next_ino++;
	n->links = 1;
	return n;
}

static char *str_dup(const char *s, size_t len)
{
	char *d = rt_alloc(len + 1);

	memcpy(d, s, len);
	return d;
}

static void dir_add(struct node *dir, struct node *n)
{
	n->parent = dir;
	n->next = NULL;
	if (dir->last)
		dir->last->next = n;
	else
		dir->child = n;
	dir->last = n;
}

static void dir_remove(struct node *dir, struct node *n)
{
	struct node **pp, *prev = NULL;

	for (pp = &dir->child; *pp && *pp != n; pp = &(*pp)->next)
		prev = *pp;
	if (!*pp)
		return;
	*pp = n->next;
	if (dir->last == n)
		dir->last = prev;
	n->next = NULL;
}

static struct node *mkdir_node(struct node *parent, const char *name,
			       mode_t mode, bool ro)
{
	struct node *n = node_new(K_DIR, name, strlen(name), mode);

	n->ro = ro;
	dir_add(parent, n);
	return n;
}

static struct node *dev_node(const char *name, enum dev d)
{
	struct node *n = node_new(K_DEV, name, strlen(name), 0666);

	n->dev = d;
	n->ro = true;
	dir_add(dir_dev, n);
	return n;
}

static const struct pith_set *in_sets(void)
{
	return (const struct pith_set *)(uintptr_t)rt_ctx->inputs;
}

static const struct pith_set *out_sets(void)
{
	return (const struct pith_set *)(uintptr_t)rt_ctx->outputs;
}

static const struct pith_item *set_items(const struct pith_set *s)
{
	return (const struct pith_item *)(uintptr_t)s->items;
}

static struct node *in_file(uint32_t set, uint32_t first, uint32_t n)
{
	const struct pith_set *s = &in_sets()[set];
	const struct pith_item *it = &set_items(s)[first];
	struct node *f = in_pool;

	if (f)
		in_pool = f->pool_next;
	else
		f = rt_alloc(sizeof(*f));
	*f = (struct node){
		.kind = K_FILE,
		.name = (const char *)(uintptr_t)it->name,
		.name_len = it->name_len,
		.set = s,
		.set_index = set,
		.first = first,
		.n_items = n,
		.out = -1,
		.ro = true,
		.pooled = true,
		.mode = 0444,
		/* Stable across opens: set and item. */
		.ino = (1ull << 63) | ((uint64_t)set << 32) | first,
		.links = 1,
	};
	f->data = (char *)(uintptr_t)it->data;
	for (uint32_t i = 0; i < n; i++)
		f->size += it[i].len;
	return f;
}

static void node_unref(struct node *n)
{
	if (!n || --n->refs)
		return;
	if (n->pooled) {
		n->pool_next = in_pool;
		in_pool = n;
	} else if (!n->links && n->kind == K_FILE && n->cap) {
		pages_free(n->data, n->cap);
		n->data = NULL;
		n->cap = n->size = 0;
	}
}

void fs_init(void)
{
	const struct pith_set *in = in_sets(), *out = out_sets();

	root = node_new(K_DIR, "", 0, 0755);
	root->ro = true;
	root->parent = root;
	dir_in = mkdir_node(root, "in", 0555, true);
	dir_out = mkdir_node(root, "out", 0555, true);
	dir_tmp = mkdir_node(root, "tmp", 01777, false);
	dir_dev = mkdir_node(root, "dev", 0755, true);
	for (uint32_t i = 0; i < rt_ctx->n_inputs; i++) {
		const char *name = (const char *)(uintptr_t)in[i].name;
		struct node *d = mkdir_node(dir_in, name, 0555, true);

		d->set = &in[i];
		d->set_index = i;
		if (!strcmp(name, "stdin"))
			stdin_set = (int)i;
	}
	for (uint32_t i = 0; i < rt_ctx->n_outputs; i++) {
		const char *name = (const char *)(uintptr_t)out[i].name;

		mkdir_node(dir_out, name, 0755, false)->out = (int)i;
	}
	dev_node("null", DEV_NULL);
	dev_node("zero", DEV_ZERO);
	dev_node("full", DEV_FULL);
	dev_node("random", DEV_RANDOM);
	dev_node("urandom", DEV_RANDOM);
	cwd = root;
	root->refs++;

	/* fd 0: all items of `stdin` as one stream, or /dev/null. */
	fds[0] = rt_alloc(sizeof(struct ofd));
	fds[0]->refs = 1;
	fds[0]->flags = O_RDONLY;
	if (stdin_set >= 0 && in[stdin_set].n_items)
		fds[0]->n = in_file((uint32_t)stdin_set, 0,
				    in[stdin_set].n_items);
	else
		fds[0]->n = dir_dev->child; /* null */
	fds[0]->n->refs++;
	out_stdout = node_new(K_FILE, "stdout", 6, 0644);
	out_stderr = node_new(K_FILE, "stderr", 6, 0644);
	for (int fd = 1; fd <= 2; fd++) {
		fds[fd] = rt_alloc(sizeof(struct ofd));
		fds[fd]->refs = 1;
		fds[fd]->flags = O_WRONLY | O_APPEND;
		fds[fd]->n = fd == 1 ? out_stdout : out_stderr;
		fds[fd]->n->refs++;
	}
}

/* ---- paths ---- */

static bool name_is(const struct node *n, const char *s, size_t len)
{
	return n->name_len == len && !memcmp(n->name, s, len);
}

/* Child `s` of directory `d` (referenced: node_unref it), or NULL. */
static struct node *lookup(struct node *d, const char *s, size_t len)
{
	if (d == dir_in || d->parent != dir_in) {
		for (struct node *c = d->child; c; c = c->next)
			if (name_is(c, s, len)) {
				c->refs++;
				return c;
			}
		return NULL;
	}
	/* /in/<set>: the first item of that name. */
	const struct pith_item *it = set_items(d->set);

	for (uint32_t i = 0; i < d->set->n_items; i++)
		if (it[i].name_len == len &&
		    !memcmp((const char *)(uintptr_t)it[i].name, s, len)) {
			struct node *f = in_file(d->set_index, i, 1);

			f->parent = d;
			f->refs = 1;
			return f;
		}
	return NULL;
}

struct walk {
	struct node *dir;  /* the parent (referenced) */
	struct node *node; /* the last component (referenced), or NULL */
	const char *last;  /* its name, in the path */
	size_t last_len;
	int fd_alias; /* /dev/stdin etc.: that fd, else -1 */
};

static void walk_done(struct walk *w)
{
	node_unref(w->node);
	node_unref(w->dir);
	w->node = w->dir = NULL;
}

static struct node *fd_node(int fd);

/* Resolve `path` against dirfd. 0 with w->dir set (w->node NULL when the
 * last component does not exist), or -errno. */
static long walk(int dirfd, const char *path, struct walk *w)
{
	struct node *d;
	const char *p = path;

	*w = (struct walk){ .fd_alias = -1 };
	if (!path)
		return -EFAULT;
	if (!*path)
		return -ENOENT;
	if (*p == '/') {
		d = root;
	} else if (dirfd == AT_FDCWD) {
		d = cwd;
	} else {
		d = fd_node(dirfd);
		if (!d)
			return -EBADF;
		if (d->kind != K_DIR)
			return -ENOTDIR;
	}
	d->refs++;
	for (;;) {
		const char *s;
		size_t len;
		struct node *c;

		while (*p == '/')
			p++;
		s = p;
		while (*p && *p != '/')
			p++;
		len = (size_t)(p - s);
		while (*p == '/')
			p++;
		if (!len) { /* "/" or a trailing slash: the directory itself */
			w->dir = d->parent;
			w->dir->refs++;
			w->node = d;
			w->last = d->name;
			w->last_len = d->name_len;
			return 0;
		}
		if (len > NAME_MAX) {
			node_unref(d);
			return -ENAMETOOLONG;
		}
		if (len == 1 && s[0] == '.') {
			c = d;
			c->refs++;
		} else if (len == 2 && s[0] == '.' && s[1] == '.') {
			c = d->parent;
			c->refs++;
		} else {
			c = lookup(d, s, len);
		}
		if (d == dir_dev && !c && len == 5 && !memcmp(s, "stdin", 5))
			w->fd_alias = 0;
		if (d == dir_dev && !c && len == 6 && !memcmp(s, "stdout", 6))
			w->fd_alias = 1;
		if (d == dir_dev && !c && len == 6 && !memcmp(s, "stderr", 6))
			w->fd_alias = 2;
		if (!*p) {
			w->dir = d;
			w->node = c;
			w->last = s;
			w->last_len = len;
			if (w->fd_alias >= 0 && !c && !fd_node(w->fd_alias)) {
				walk_done(w);
				return -ENOENT;
			}
			return 0;
		}
		node_unref(d);
		if (!c)
			return -ENOENT;
		if (c->kind != K_DIR) {
			node_unref(c);
			return -ENOTDIR;
		}
		d = c;
	}
}

/* ---- descriptors ---- */

static struct ofd *fd_get(long fd)
{
	return fd >= 0 && fd < FD_MAX ? fds[fd] : NULL;
}

static struct node *fd_node(int fd)
{
	struct ofd *o = fd_get(fd);

	return o ? o->n : NULL;
}

static long fd_install(struct ofd *o, long min, bool cx)
{
	for (long fd = min; fd < FD_MAX; fd++)
		if (!fds[fd]) {
			fds[fd] = o;
			cloexec[fd] = cx;
			o->refs++;
			return fd;
		}
	return -EMFILE;
}

static void ofd_unref(struct ofd *o)
{
	if (--o->refs)
		return;
	node_unref(o->n);
	o->n = NULL;
	/* The description itself (a few bytes) is not reused. */
}

static long fd_close(long fd)
{
	struct ofd *o = fd_get(fd);

	if (!o)
		return -EBADF;
	fds[fd] = NULL;
	ofd_unref(o);
	return 0;
}

/* ---- open, create ---- */

static bool writable_dir(const struct node *d)
{
	return d->kind == K_DIR && !d->ro;
}

static bool valid_out_name(const char *s, size_t len)
{
	if (!len || len > PITH_NAME_MAX)
		return false;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return false;
	return true;
}

static long create_in(struct node *d, const char *s, size_t len,
		      enum kind k, mode_t mode, struct node **ret)
{
	struct node *n;

	if (!writable_dir(d))
		return -EROFS;
	if (d->out >= 0 && k == K_DIR)
		return -EPERM; /* output item names hold no '/' */
	if (d->out >= 0 && !valid_out_name(s, len))
		return -EINVAL;
	if (k == K_DIR) {
		unsigned depth = 0;

		for (struct node *p = d; p != root; p = p->parent)
			depth++;
		if (depth >= DEPTH_MAX)
			return -ENOSPC;
	}
	n = node_new(k, str_dup(s, len), len, mode & ~cur_umask & 07777);
	dir_add(d, n);
	n->refs = 1;
	*ret = n;
	return 0;
}

static long do_open(int dirfd, const char *path, long flags, mode_t mode)
{
	struct walk w;
	struct ofd *o;
	struct node *n;
	long r, acc = flags & O_ACCMODE;

	if (flags & O_PATH)
		acc = O_RDONLY;
	r = walk(dirfd, path, &w);
	if (r < 0)
		return r;
	if (!w.node && w.fd_alias >= 0) {
		struct ofd *a = fd_get(w.fd_alias);

		walk_done(&w);
		return fd_install(a, 0, flags & O_CLOEXEC);
	}
	n = w.node;
	if (n && (flags & O_CREAT) && (flags & O_EXCL)) {
		walk_done(&w);
		return -EEXIST;
	}
	if (!n) {
		if (!(flags & O_CREAT)) {
			walk_done(&w);
			return -ENOENT;
		}
		if (w.last_len == 0 || (flags & O_DIRECTORY)) {
			walk_done(&w);
			return -EISDIR;
		}
		r = create_in(w.dir, w.last, w.last_len, K_FILE, mode, &n);
		if (r < 0) {
			walk_done(&w);
			return r;
		}
		w.node = n;
	}
	if ((flags & O_DIRECTORY) && n->kind != K_DIR) {
		walk_done(&w);
		return -ENOTDIR;
	}
	if (n->kind == K_DIR && acc != O_RDONLY) {
		walk_done(&w);
		return -EISDIR;
	}
	if (acc != O_RDONLY && n->kind == K_FILE && (n->ro || n->set)) {
		walk_done(&w);
		return -EROFS;
	}
	if ((flags & O_TRUNC) && n->kind == K_FILE && acc != O_RDONLY)
		n->size = 0;
	o = rt_alloc(sizeof(*o));
	o->n = n;
	o->flags = (int)(flags & ~(O_CREAT | O_EXCL | O_TRUNC | O_CLOEXEC));
	w.node = NULL; /* the description holds the reference */
	walk_done(&w);
	r = fd_install(o, 0, flags & O_CLOEXEC);
	if (r < 0) {
		o->refs = 1;
		ofd_unref(o);
	}
	return r;
}

/* ---- data ---- */

static bool file_reserve(struct node *n, size_t size)
{
	size_t cap;
	char *p;

	if (size <= n->cap)
		return true;
	cap = n->cap ? n->cap : RT_PAGE;
	while (cap < size) {
		if (cap > SIZE_MAX / 2)
			return false;
		cap *= 2;
	}
	if (n->cap && pages_resize(n->data, n->cap, cap)) {
		n->cap = cap;
		return true;
	}
	p = pages_alloc(cap);
	if (!p)
		return false;
	if (n->size)
		memcpy(p, n->data, n->size);
	if (n->cap)
		pages_free(n->data, n->cap);
	n->data = p;
	n->cap = cap;
	return true;
}

/* Read from an input file spanning several items, from o->cur_*. */
static size_t read_items(struct ofd *o, uint64_t off, char *buf, size_t len)
{
	const struct node *n = o->n;
	const struct pith_item *it = set_items(n->set) + n->first;
	size_t done = 0;

	if (off < o->cur_off) {
		o->cur_item = 0;
		o->cur_off = 0;
	}
	while (len && o->cur_item < n->n_items) {
		const struct pith_item *c = &it[o->cur_item];
		uint64_t in = off - o->cur_off;

		if (in >= c->len) {
			o->cur_off += c->len;
			o->cur_item++;
			continue;
		}
		size_t k = c->len - in < len ? (size_t)(c->len - in) : len;

		memcpy(buf + done, (const char *)(uintptr_t)c->data + in, k);
		done += k, len -= k, off += k;
	}
	return done;
}

static long node_pread(struct ofd *o, char *buf, size_t len, uint64_t off)
{
	struct node *n = o->n;

	if (n->kind == K_DIR)
		return -EISDIR;
	if (n->kind == K_DEV) {
		if (n->dev == DEV_NULL)
			return 0;
		if (n->dev == DEV_RANDOM)
			rt_random(buf, len);
		else
			memset(buf, 0, len);
		return (long)len;
	}
	if (off >= n->size)
		return 0;
	if (len > n->size - off)
		len = (size_t)(n->size - off);
	if (n->n_items > 1)
		return (long)read_items(o, off, buf, len);
	memcpy(buf, n->data + off, len);
	return (long)len;
}

static long node_pwrite(struct node *n, const char *buf, size_t len,
			uint64_t off)
{
	if (n->kind == K_DEV)
		return n->dev == DEV_FULL ? -ENOSPC : (long)len;
	if (n->kind != K_FILE || n->ro || n->set)
		return -EBADF;
	if (!len)
		return 0;
	if (off > SIZE_MAX - len || !file_reserve(n, off + len))
		return -ENOSPC;
	if (off > n->size)
		memset(n->data + n->size, 0, off - n->size);
	memcpy(n->data + off, buf, len);
	if (off + len > n->size)
		n->size = off + len;
	return (long)len;
}

static long do_read(long fd, char *buf, size_t len, long long pos)
{
	struct ofd *o = fd_get(fd);
	long r;

	if (!o || (o->flags & O_ACCMODE) == O_WRONLY || (o->flags & O_PATH))
		return -EBADF;
	r = node_pread(o, buf, len, pos < 0 ? o->off : (uint64_t)pos);
	if (r > 0 && pos < 0)
		o->off += (uint64_t)r;
	return r;
}

static long do_write(long fd, const char *buf, size_t len, long long pos)
{
	struct ofd *o = fd_get(fd);
	uint64_t off;
	long r;

	if (!o || (o->flags & O_ACCMODE) == O_RDONLY || (o->flags & O_PATH))
		return -EBADF;
	off = pos >= 0 ? (uint64_t)pos
	      : (o->flags & O_APPEND) ? o->n->size : o->off;
	r = node_pwrite(o->n, buf, len, off);
	if (r > 0 && pos < 0)
		o->off = off + (uint64_t)r;
	return r;
}

static long do_rwv(long fd, const struct iovec *iov, long cnt, long long pos,
		   bool wr)
{
	long total = 0;

	if (cnt < 0 || cnt > IOV_MAX)
		return -EINVAL;
	for (long i = 0; i < cnt; i++) {
		long r;

		if (!iov[i].iov_len)
			continue;
		r = wr ? do_write(fd, iov[i].iov_base, iov[i].iov_len, pos)
		       : do_read(fd, iov[i].iov_base, iov[i].iov_len, pos);
		if (r < 0)
			return total ? total : r;
		total += r;
		if (pos >= 0)
			pos += r;
		if ((size_t)r < iov[i].iov_len)
			break;
	}
	return total;
}

/* ---- metadata ---- */

static void fill_stat(const struct node *n, struct stat *st)
{
	uint64_t now = rt_now_ns();

	memset(st, 0, sizeof(*st));
	st->st_dev = 1;
	st->st_ino = n->ino;
	st->st_nlink = n->kind == K_DIR ? 2 : n->links;
	st->st_uid = st->st_gid = 65534;
	st->st_blksize = 4096;
	switch (n->kind) {
	case K_DIR:
		st->st_mode = S_IFDIR | n->mode;
		st->st_size = 4096;
		break;
	case K_FILE:
		st->st_mode = S_IFREG | n->mode;
		st->st_size = (off_t)n->size;
		st->st_blocks = (blkcnt_t)((n->size + 511) / 512);
		break;
	case K_DEV:
		st->st_mode = S_IFCHR | n->mode;
		st->st_rdev = 0x100 + n->dev;
		break;
	}
	st->st_atim.tv_sec = st->st_mtim.tv_sec = st->st_ctim.tv_sec =
		(time_t)(now / 1000000000u);
	st->st_atim.tv_nsec = st->st_mtim.tv_nsec = st->st_ctim.tv_nsec =
		(long)(now % 1000000000u);
}

static long do_stat(int dirfd, const char *path, struct stat *st, long flags)
{
	struct walk w;
	long r;

	if ((flags & AT_EMPTY_PATH) && path && !*path) {
		struct node *n = dirfd == AT_FDCWD ? cwd : fd_node(dirfd);

		if (!n)
			return -EBADF;
		fill_stat(n, st);
		return 0;
	}
	r = walk(dirfd, path, &w);
	if (r < 0)
		return r;
	if (!w.node && w.fd_alias >= 0 && fd_node(w.fd_alias))
		fill_stat(fd_node(w.fd_alias), st);
	else if (!w.node)
		r = -ENOENT;
	else
		fill_stat(w.node, st);
	walk_done(&w);
	return r;
}

static long do_access(int dirfd, const char *path, long mode)
{
	struct walk w;
	long r = walk(dirfd, path, &w);

	if (r < 0)
		return r;
	if (!w.node && w.fd_alias < 0)
		r = -ENOENT;
	else if (w.node && (mode & W_OK) &&
		 (w.node->kind == K_DIR ? w.node->ro
					: (w.node->ro || w.node->set)))
		r = -EROFS;
	else if (w.node && (mode & X_OK) && w.node->kind != K_DIR)
		r = -EACCES;
	walk_done(&w);
	return r;
}

static long do_getdents(long fd, char *buf, size_t len)
{
	struct ofd *o = fd_get(fd);
	struct node *d;
	size_t used = 0;

	if (!o)
		return -EBADF;
	d = o->n;
	if (d->kind != K_DIR)
		return -ENOTDIR;
	for (;;) {
		uint64_t i = o->off, ino;
		const char *name;
		size_t nlen;
		unsigned char type;

		if (i == 0 || i == 1) {
			name = i ? ".." : ".";
			nlen = i + 1;
			ino = i ? d->parent->ino : d->ino;
			type = DT_DIR;
		} else if (d->parent == dir_in && d != dir_in) {
			const struct pith_item *it = set_items(d->set);

			if (i - 2 >= d->set->n_items)
				break;
			name = (const char *)(uintptr_t)it[i - 2].name;
			nlen = it[i - 2].name_len;
			ino = (1ull << 63) | ((uint64_t)d->set_index << 32) |
			      (i - 2);
			type = DT_REG;
		} else {
			struct node *c = d->child;

			for (uint64_t k = 2; c && k < i; k++)
				c = c->next;
			if (!c)
				break;
			name = c->name;
			nlen = c->name_len;
			ino = c->ino;
			type = c->kind == K_DIR	   ? DT_DIR
			       : c->kind == K_DEV ? DT_CHR
						  : DT_REG;
		}
		size_t reclen = (offsetof(struct dirent, d_name) + nlen + 1 + 7) &
				~(size_t)7;
		struct dirent *de = (struct dirent *)(buf + used);

		if (used + reclen > len) {
			if (!used)
				return -EINVAL;
			break;
		}
		de->d_ino = ino;
		de->d_off = (off_t)(i + 1);
		de->d_reclen = (unsigned short)reclen;
		de->d_type = type;
		memcpy(de->d_name, name, nlen);
		de->d_name[nlen] = '\0';
		used += reclen;
		o->off++;
	}
	return (long)used;
}

static long do_getcwd(char *buf, size_t size)
{
	char tmp[PATH_MAX];
	size_t at = sizeof(tmp) - 1;

	tmp[at] = '\0';
	for (struct node *n = cwd; n != root; n = n->parent) {
		if (n->name_len + 1 > at)
			return -ENAMETOOLONG;
		at -= n->name_len;
		memcpy(tmp + at, n->name, n->name_len);
		tmp[--at] = '/';
	}
	if (at == sizeof(tmp) - 1)
		tmp[--at] = '/';
	if (sizeof(tmp) - at > size)
		return -ERANGE;
	memcpy(buf, tmp + at, sizeof(tmp) - at);
	return (long)(sizeof(tmp) - at);
}

static long do_chdir(struct node *n)
{
	if (n->kind != K_DIR)
		return -ENOTDIR;
	n->refs++;
	node_unref(cwd);
	cwd = n;
	return 0;
}

static long do_mkdir(int dirfd, const char *path, mode_t mode)
{
	struct walk w;
	struct node *n;
	long r = walk(dirfd, path, &w);

	if (r < 0)
		return r;
	if (w.node || w.fd_alias >= 0)
		r = -EEXIST;
	else
		r = create_in(w.dir, w.last, w.last_len, K_DIR, mode, &n);
	if (r == 0)
		node_unref(n);
	walk_done(&w);
	return r;
}

static long do_unlink(int dirfd, const char *path, long flags)
{
	struct walk w;
	struct node *n;
	long r = walk(dirfd, path, &w);

	if (r < 0)
		return r;
	n = w.node;
	if (!n)
		r = w.fd_alias >= 0 ? -EROFS : -ENOENT;
	else if (!writable_dir(w.dir) || n == root)
		r = n == root ? -EBUSY : -EROFS;
	else if ((flags & AT_REMOVEDIR) && n->kind != K_DIR)
		r = -ENOTDIR;
	else if (!(flags & AT_REMOVEDIR) && n->kind == K_DIR)
		r = -EISDIR;
	else if (n->kind == K_DIR && (n->child || n->out >= 0))
		r = n->out >= 0 ? -EBUSY : -ENOTEMPTY;
	else if (n == cwd)
		r = -EBUSY;
	if (r == 0) {
		dir_remove(w.dir, n);
		n->links = 0;
	}
	walk_done(&w); /* frees an unlinked file's pages if not open */
	return r;
}

static long do_rename(int olddirfd, const char *oldpath, int newdirfd,
		      const char *newpath, long flags)
{
	struct walk a, b;
	long r;

	if (flags & ~(long)RENAME_NOREPLACE)
		return -EINVAL;
	r = walk(olddirfd, oldpath, &a);
	if (r < 0)
		return r;
	r = walk(newdirfd, newpath, &b);
	if (r < 0) {
		walk_done(&a);
		return r;
	}
	if (!a.node)
		r = -ENOENT;
	else if (!writable_dir(a.dir) || !writable_dir(b.dir) ||
		 a.node->out >= 0)
		r = -EROFS;
	else if (b.node == a.node)
		r = 0;
	else if (b.node && (flags & RENAME_NOREPLACE))
		r = -EEXIST;
	else if (b.dir->out >= 0 && a.node->kind == K_DIR)
		r = -EPERM;
	else if (b.dir->out >= 0 && !valid_out_name(b.last, b.last_len))
		r = -EINVAL;
	else if (b.node && b.node->kind == K_DIR && a.node->kind != K_DIR)
		r = -EISDIR;
	else if (b.node && b.node->kind != K_DIR && a.node->kind == K_DIR)
		r = -ENOTDIR;
	else if (b.node && b.node->kind == K_DIR && b.node->child)
		r = -ENOTEMPTY;
	if (r == 0 && a.node->kind == K_DIR)
		for (struct node *p = b.dir; p != root; p = p->parent)
			if (p == a.node)
				r = -EINVAL; /* into itself */
	if (r == 0 && b.node != a.node) {
		if (b.node) {
			dir_remove(b.dir, b.node);
			b.node->links = 0;
		}
		dir_remove(a.dir, a.node);
		a.node->name = str_dup(b.last, b.last_len);
		a.node->name_len = b.last_len;
		dir_add(b.dir, a.node);
	}
	walk_done(&a);
	walk_done(&b);
	return r;
}

static long do_truncate(struct node *n, long long len)
{
	if (len < 0)
		return -EINVAL;
	if (n->kind == K_DIR)
		return -EISDIR;
	if (n->kind != K_FILE || n->ro || n->set)
		return -EROFS;
	if ((uint64_t)len > n->size) {
		if (!file_reserve(n, (size_t)len))
			return -EFBIG;
		memset(n->data + n->size, 0, (size_t)len - n->size);
	}
	n->size = (size_t)len;
	return 0;
}

static long do_fcntl(long fd, long cmd, long arg)
{
	struct ofd *o = fd_get(fd);

	if (!o)
		return -EBADF;
	switch (cmd) {
	case F_DUPFD:
	case F_DUPFD_CLOEXEC:
		if (arg < 0 || arg >= FD_MAX)
			return -EINVAL;
		return fd_install(o, arg, cmd == F_DUPFD_CLOEXEC);
	case F_GETFD:
		return cloexec[fd] ? FD_CLOEXEC : 0;
	case F_SETFD:
		cloexec[fd] = arg & FD_CLOEXEC;
		return 0;
	case F_GETFL:
		return o->flags;
	case F_SETFL:
		o->flags = (int)((o->flags & ~(O_APPEND | O_NONBLOCK)) |
				 (arg & (O_APPEND | O_NONBLOCK)));
		return 0;
	case F_GETLK: {
		struct flock *l = (struct flock *)arg;

		l->l_type = F_UNLCK; /* one process: no other holder */
		return 0;
	}
	case F_SETLK:
	case F_SETLKW:
	case F_OFD_SETLK:
	case F_OFD_SETLKW:
		return 0;
	case F_OFD_GETLK:
		((struct flock *)arg)->l_type = F_UNLCK;
		return 0;
	default:
		return -EINVAL;
	}
}

static long do_dup3(long old, long new, long flags)
{
	struct ofd *o = fd_get(old);

	if (!o || new < 0 || new >= FD_MAX)
		return -EBADF;
	if (old == new)
		return -EINVAL;
	if (fds[new])
		fd_close(new);
	fds[new] = o;
	o->refs++;
	cloexec[new] = flags & O_CLOEXEC;
	return new;
}

static long do_lseek(long fd, long long off, long whence)
{
	struct ofd *o = fd_get(fd);
	long long base;

	if (!o)
		return -EBADF;
	if (o->n->kind == K_DEV)
		return 0;
	switch (whence) {
	case SEEK_SET:
		base = 0;
		break;
	case SEEK_CUR:
		base = (long long)o->off;
		break;
	case SEEK_END:
		base = o->n->kind == K_FILE ? (long long)o->n->size : 0;
		break;
	default:
		return -EINVAL;
	}
	if (off > 0 && base > LLONG_MAX - off)
		return -EOVERFLOW;
	if (base + off < 0)
		return -EINVAL;
	o->off = (uint64_t)(base + off);
	return (long)o->off;
}

static long do_poll(struct pollfd *p, unsigned long n)
{
	long ready = 0;

	for (unsigned long i = 0; i < n; i++) {
		p[i].revents = 0;
		if (p[i].fd < 0)
			continue;
		if (!fd_get(p[i].fd))
			p[i].revents = POLLNVAL;
		else /* files never block */
			p[i].revents = p[i].events & (POLLIN | POLLOUT |
						      POLLRDNORM | POLLWRNORM);
		if (p[i].revents)
			ready++;
	}
	return ready;
}

static long path_node_op(int dirfd, const char *path, long flags,
			 long (*op)(struct node *, long), long arg)
{
	struct walk w;
	long r;

	if ((flags & AT_EMPTY_PATH) && path && !*path) {
		struct node *n = fd_node(dirfd);

		return n ? op(n, arg) : -EBADF;
	}
	r = walk(dirfd, path, &w);
	if (r < 0)
		return r;
	r = w.node ? op(w.node, arg) : -ENOENT;
	walk_done(&w);
	return r;
}

static long op_chmod(struct node *n, long mode)
{
	if (n->ro || n->set)
		return -EROFS;
	n->mode = (mode_t)mode & 07777;
	return 0;
}

static long op_touch(struct node *n, long unused)
{
	(void)unused;
	return n->ro || n->set ? -EROFS : 0;
}

static long op_truncate(struct node *n, long len)
{
	return do_truncate(n, len);
}

static long op_chdir(struct node *n, long unused)
{
	(void)unused;
	return do_chdir(n);
}

long fs_syscall(long nr, long a, long b, long c, long d, long e, long f,
		bool *handled)
{
	(void)f;
	*handled = true;
	switch (nr) {
	case SYS_read:
		return do_read(a, (char *)b, (size_t)c, -1);
	case SYS_write:
		return do_write(a, (const char *)b, (size_t)c, -1);
	case SYS_pread64:
		return d < 0 ? -EINVAL : do_read(a, (char *)b, (size_t)c, d);
	case SYS_pwrite64:
		return d < 0 ? -EINVAL
			     : do_write(a, (const char *)b, (size_t)c, d);
	case SYS_readv:
		return do_rwv(a, (const struct iovec *)b, c, -1, false);
	case SYS_writev:
		return do_rwv(a, (const struct iovec *)b, c, -1, true);
	case SYS_preadv:
		return d < 0 ? -EINVAL
			     : do_rwv(a, (const struct iovec *)b, c, d, false);
	case SYS_pwritev:
		return d < 0 ? -EINVAL
			     : do_rwv(a, (const struct iovec *)b, c, d, true);
	case SYS_open:
		return do_open(AT_FDCWD, (const char *)a, b, (mode_t)c);
	case SYS_creat:
		return do_open(AT_FDCWD, (const char *)a,
			       O_CREAT | O_WRONLY | O_TRUNC, (mode_t)b);
	case SYS_openat:
		return do_open((int)a, (const char *)b, c, (mode_t)d);
	case SYS_close:
		return fd_close(a);
	case SYS_lseek:
		return do_lseek(a, b, c);
	case SYS_stat:
	case SYS_lstat:
		return do_stat(AT_FDCWD, (const char *)a, (struct stat *)b, 0);
	case SYS_fstat:
		return do_stat((int)a, "", (struct stat *)b, AT_EMPTY_PATH);
	case SYS_newfstatat:
		return do_stat((int)a, (const char *)b, (struct stat *)c, d);
	case SYS_access:
		return do_access(AT_FDCWD, (const char *)a, b);
	case SYS_faccessat:
	case SYS_faccessat2:
		return do_access((int)a, (const char *)b, c);
	case SYS_getdents64:
		return do_getdents(a, (char *)b, (size_t)c);
	case SYS_getcwd:
		return do_getcwd((char *)a, (size_t)b);
	case SYS_chdir:
		return path_node_op(AT_FDCWD, (const char *)a, 0, op_chdir, 0);
	case SYS_fchdir:
		return fd_node((int)a) ? do_chdir(fd_node((int)a)) : -EBADF;
	case SYS_mkdir:
		return do_mkdir(AT_FDCWD, (const char *)a, (mode_t)b);
	case SYS_mkdirat:
		return do_mkdir((int)a, (const char *)b, (mode_t)c);
	case SYS_unlink:
		return do_unlink(AT_FDCWD, (const char *)a, 0);
	case SYS_rmdir:
		return do_unlink(AT_FDCWD, (const char *)a, AT_REMOVEDIR);
	case SYS_unlinkat:
		return do_unlink((int)a, (const char *)b, c);
	case SYS_rename:
		return do_rename(AT_FDCWD, (const char *)a, AT_FDCWD,
				 (const char *)b, 0);
	case SYS_renameat:
		return do_rename((int)a, (const char *)b, (int)c,
				 (const char *)d, 0);
	case SYS_renameat2:
		return do_rename((int)a, (const char *)b, (int)c,
				 (const char *)d, e);
	case SYS_ftruncate:
		return fd_node((int)a) ? do_truncate(fd_node((int)a), b)
				       : -EBADF;
	case SYS_truncate:
		return path_node_op(AT_FDCWD, (const char *)a, 0, op_truncate,
				    b);
	case SYS_fallocate:
		if (!fd_node((int)a))
			return -EBADF;
		if (b || c < 0 || d < 0 || c > LLONG_MAX - d)
			return -EOPNOTSUPP;
		return (uint64_t)(c + d) > fd_node((int)a)->size
			       ? do_truncate(fd_node((int)a), c + d)
			       : 0;
	case SYS_fsync:
	case SYS_fdatasync:
	case SYS_syncfs:
	case SYS_flock:
	case SYS_fadvise64:
		return fd_get(a) ? 0 : -EBADF;
	case SYS_sync:
		return 0;
	case SYS_fcntl:
		return do_fcntl(a, b, c);
	case SYS_ioctl:
		return fd_get(a) ? -ENOTTY : -EBADF;
	case SYS_dup:
		return fd_get(a) ? fd_install(fds[a], 0, false) : -EBADF;
	case SYS_dup2:
		if (a == b)
			return fd_get(a) ? b : -EBADF;
		return do_dup3(a, b, 0);
	case SYS_dup3:
		return do_dup3(a, b, c);
	case SYS_umask: {
		long old = cur_umask;

		cur_umask = (mode_t)a & 0777;
		return old;
	}
	case SYS_chmod:
		return path_node_op(AT_FDCWD, (const char *)a, 0, op_chmod, b);
	case SYS_fchmod:
		return fd_node((int)a) ? op_chmod(fd_node((int)a), b) : -EBADF;
	case SYS_fchmodat:
		return path_node_op((int)a, (const char *)b, 0, op_chmod, c);
	case SYS_chown:
	case SYS_lchown:
		return path_node_op(AT_FDCWD, (const char *)a, 0, op_touch, 0);
	case SYS_fchown:
		return fd_node((int)a) ? op_touch(fd_node((int)a), 0) : -EBADF;
	case SYS_fchownat:
		return path_node_op((int)a, (const char *)b, e, op_touch, 0);
	case SYS_utimensat:
		return path_node_op((int)a, (const char *)b,
				    b ? AT_EMPTY_PATH & e : AT_EMPTY_PATH,
				    op_touch, 0);
	case SYS_utime:
	case SYS_utimes:
		return path_node_op(AT_FDCWD, (const char *)a, 0, op_touch, 0);
	case SYS_readlink:
	case SYS_readlinkat: {
		struct walk w;
		long r = walk(nr == SYS_readlink ? AT_FDCWD : (int)a,
			      (const char *)(nr == SYS_readlink ? a : b), &w);

		if (r < 0)
			return r;
		r = w.node || w.fd_alias >= 0 ? -EINVAL : -ENOENT;
		walk_done(&w);
		return r; /* no symbolic links */
	}
	case SYS_link:
	case SYS_linkat:
	case SYS_symlink:
	case SYS_symlinkat:
	case SYS_mknod:
	case SYS_mknodat:
		return -EPERM;
	case SYS_poll:
		return do_poll((struct pollfd *)a, (unsigned long)b);
	case SYS_ppoll:
		return do_poll((struct pollfd *)a, (unsigned long)b);
	}
	*handled = false;
	return -ENOSYS;
}

void fs_outputs(uint32_t set, void (*fn)(const struct rt_out *, void *),
		void *arg)
{
	const char *name = (const char *)(uintptr_t)out_sets()[set].name;
	struct node *d;

	if (!strcmp(name, "stdout") || !strcmp(name, "stderr")) {
		struct node *cap = name[3] == 'o' ? out_stdout : out_stderr;
		const struct pith_set *in = in_sets();
		struct rt_out o = { .data = cap->data, .len = cap->size };
		static char num[24];

		if (stdin_set >= 0 && in[stdin_set].n_items == 1) {
			const struct pith_item *it = set_items(&in[stdin_set]);

			o.name = (const char *)(uintptr_t)it->name;
			o.name_len = it->name_len;
		} else {
			o.name_len = (size_t)snprintf(num, sizeof(num), "%llu",
					(unsigned long long)rt_ctx->instance);
			o.name = str_dup(num, o.name_len);
		}
		fn(&o, arg);
	}
	for (d = dir_out->child; d && d->out != (int)set; d = d->next)
		;
	for (struct node *c = d ? d->child : NULL; c; c = c->next) {
		struct rt_out o = { c->name, c->name_len, c->data, c->size };

		fn(&o, arg);
	}
}
