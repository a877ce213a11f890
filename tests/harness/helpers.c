// SPDX-License-Identifier: MIT
/* t_* helpers for tests: run programs capturing output, files, paths. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <malloc.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness/helpers.h"

extern char **environ;

struct capture {
	int fd;
	char *buf;
	size_t len, cap;
};

static int capture_read(struct capture *c)
{
	char *nbuf;
	ssize_t n;

	if (c->cap - c->len < 4097) {
		size_t ncap = c->cap ? c->cap * 2 : 8192;

		nbuf = realloc(c->buf, ncap);
		if (!nbuf)
			return -ENOMEM;
		c->buf = nbuf;
		c->cap = ncap;
		c->buf[c->len] = '\0';
	}
	n = read(c->fd, c->buf + c->len, c->cap - c->len - 1);
	if (n < 0)
		return errno == EINTR || errno == EAGAIN ? 0 : -errno;
	if (n == 0) {
		close(c->fd);
		c->fd = -1;
		return 0;
	}
	c->len += (size_t)n;
	c->buf[c->len] = '\0';
	return 0;
}

static void close_pair(int p[2])
{
	for (int i = 0; i < 2; i++)
		if (p[i] >= 0)
			close(p[i]);
	p[0] = p[1] = -1;
}

static void child_exec(char *const argv[], char *const envp[], int in[2],
		       int out[2], int err[2], int report)
{
	int e;

	signal(SIGPIPE, SIG_DFL);
	if (dup2(in[0], 0) < 0 || (out[1] >= 0 && dup2(out[1], 1) < 0) ||
	    (err[1] >= 0 && dup2(err[1], 2) < 0))
		goto fail;
	if (envp)
		execvpe(argv[0], argv, envp);
	else
		execvp(argv[0], argv);
fail:
	e = errno;
	if (write(report, &e, sizeof(e)) < 0)
		_exit(127);
	_exit(127);
}

/* Feed stdin and drain stdout/stderr until both close. */
static int pump(int in_fd, const char *in, size_t len, struct capture *out,
		struct capture *err)
{
	size_t off = 0;
	int r = 0;

	while (in_fd >= 0 || out->fd >= 0 || err->fd >= 0) {
		struct pollfd p[3] = {
			{ .fd = in_fd, .events = POLLOUT },
			{ .fd = out->fd, .events = POLLIN },
			{ .fd = err->fd, .events = POLLIN },
		};

		if (poll(p, 3, -1) < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			break;
		}
		if (in_fd >= 0 && p[0].revents) {
			ssize_t n = len > off ?
				write(in_fd, in + off,
				      len - off > 65536 ? 65536 : len - off) :
				0;

			if (n > 0)
				off += (size_t)n;
			if (off >= len || (n < 0 && errno != EINTR &&
					   errno != EAGAIN)) {
				close(in_fd);
				in_fd = -1;
			}
		}
		if (out->fd >= 0 && p[1].revents && (r = capture_read(out)))
			break;
		if (err->fd >= 0 && p[2].revents && (r = capture_read(err)))
			break;
	}
	if (in_fd >= 0)
		close(in_fd);
	return r;
}

int t_run_full(char *const argv[], char *const envp[], const void *in,
	       size_t len, char **ret_out, char **ret_err, int *ret_status)
{
	int inp[2] = { -1, -1 }, outp[2] = { -1, -1 }, errp[2] = { -1, -1 };
	int report[2] = { -1, -1 }, status = 0, child_errno = 0, r = 0;
	struct capture out = { .fd = -1 }, err = { .fd = -1 };
	struct sigaction ign = { .sa_handler = SIG_IGN }, old;
	pid_t pid;

	if (pipe2(inp, O_CLOEXEC) < 0 || pipe2(report, O_CLOEXEC) < 0 ||
	    (ret_out && pipe2(outp, O_CLOEXEC) < 0) ||
	    (ret_err && pipe2(errp, O_CLOEXEC) < 0)) {
		r = -errno;
		goto out_close;
	}
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		r = -errno;
		goto out_close;
	}
	if (pid == 0)
		child_exec(argv, envp, inp, outp, errp, report[1]);

	close(inp[0]);
	inp[0] = -1;
	/* Never block feeding stdin while the child blocks on a full stdout:
	 * our end only, the child's stdin stays blocking. */
	fcntl(inp[1], F_SETFL, fcntl(inp[1], F_GETFL) | O_NONBLOCK);
	close(report[1]);
	report[1] = -1;
	out.fd = outp[0];
	err.fd = errp[0];
	outp[0] = errp[0] = -1;
	close_pair(outp);
	close_pair(errp);

	sigaction(SIGPIPE, &ign, &old);
	r = pump(inp[1], in, in ? len : 0, &out, &err);
	sigaction(SIGPIPE, &old, NULL);
	inp[1] = -1; /* closed by pump() */

	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR) {
			r = r ? r : -errno;
			break;
		}
	}
	if (read(report[0], &child_errno, sizeof(child_errno)) ==
	    (ssize_t)sizeof(child_errno))
		r = -child_errno;
	if (r == 0 && ret_out && !out.buf && !(out.buf = strdup("")))
		r = -ENOMEM;
	if (r == 0 && ret_err && !err.buf && !(err.buf = strdup("")))
		r = -ENOMEM;
	if (r == 0) {
		if (ret_out) {
			*ret_out = out.buf;
			out.buf = NULL;
		}
		if (ret_err) {
			*ret_err = err.buf;
			err.buf = NULL;
		}
		if (ret_status)
			*ret_status = status;
	}
	free(out.buf);
	free(err.buf);
	if (out.fd >= 0)
		close(out.fd);
	if (err.fd >= 0)
		close(err.fd);
out_close:
	close_pair(inp);
	close_pair(outp);
	close_pair(errp);
	close_pair(report);
	return r;
}

int t_run(char *const argv[], char **ret_out, char **ret_err, int *ret_status)
{
	return t_run_full(argv, NULL, NULL, 0, ret_out, ret_err, ret_status);
}

int t_exit_code(int status)
{
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return WEXITSTATUS(status);
}

char *t_tmpdir(void)
{
	const char *base = getenv("TMPDIR");
	char *path;

	if (!base || !*base)
		base = "/tmp";
	path = t_strdupf("%s/pith-test.XXXXXX", base);
	if (path && !mkdtemp(path)) {
		free(path);
		return NULL;
	}
	return path;
}

static int rm_one(const char *path, const struct stat *st, int type,
		  struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if ((type == FTW_DP ? rmdir(path) : unlink(path)) < 0 &&
	    errno != ENOENT)
		return -errno;
	return 0;
}

int t_rm_rf(const char *path)
{
	int r = nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);

	if (r < 0)
		return errno == ENOENT ? 0 : -errno;
	return r;
}

char *t_read_file(const char *path, size_t *ret_len)
{
	size_t len = 0, cap = 0;
	char *buf = NULL, *nbuf;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return NULL;
	for (;;) {
		ssize_t n;

		if (cap - len < 4097) {
			cap = cap ? cap * 2 : 8192;
			nbuf = realloc(buf, cap);
			if (!nbuf) {
				free(buf);
				close(fd);
				errno = ENOMEM;
				return NULL;
			}
			buf = nbuf;
		}
		n = read(fd, buf + len, cap - len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int e = errno;

			free(buf);
			close(fd);
			errno = e;
			return NULL;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	buf[len] = '\0';
	if (ret_len)
		*ret_len = len;
	return buf;
}

int t_write_file(const char *path, const void *data, size_t len)
{
	const char *p = data;
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	if (fd < 0)
		return -errno;
	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int e = errno;

			close(fd);
			return -e;
		}
		p += n;
		len -= (size_t)n;
	}
	if (close(fd) < 0)
		return -errno;
	return 0;
}

char *t_strdupf(const char *fmt, ...)
{
	va_list ap;
	char *s;
	int r;

	va_start(ap, fmt);
	r = vasprintf(&s, fmt, ap);
	va_end(ap);
	return r < 0 ? NULL : s;
}

static bool is_repo_root(const char *dir)
{
	char p[PATH_MAX];

	snprintf(p, sizeof(p), "%s/VERSION", dir);
	if (access(p, F_OK) < 0)
		return false;
	snprintf(p, sizeof(p), "%s/Makefile", dir);
	return access(p, F_OK) == 0;
}

/* Walk up from dir (modified in place) to the repo root; false if none. */
static bool find_root(char *dir)
{
	for (;;) {
		char *slash;

		if (is_repo_root(dir))
			return true;
		slash = strrchr(dir, '/');
		if (!slash || slash == dir)
			return false;
		*slash = '\0';
	}
}

const char *t_repo_root(void)
{
	static char root[PATH_MAX];
	char dir[PATH_MAX];

	if (root[0])
		return root;
	if (realpath("/proc/self/exe", dir) && find_root(dir)) {
		snprintf(root, sizeof(root), "%s", dir);
		return root;
	}
	if (getcwd(dir, sizeof(dir)) && find_root(dir)) {
		snprintf(root, sizeof(root), "%s", dir);
		return root;
	}
	if (!getcwd(root, sizeof(root)))
		snprintf(root, sizeof(root), ".");
	return root;
}

const char *t_build_dir(void)
{
	static char *dir;
	const char *b = getenv("B");

	if (dir)
		return dir;
	if (!b || !*b)
		b = "build";
	if (b[0] == '/')
		dir = strdup(b);
	else
		dir = t_strdupf("%s/%s", t_repo_root(), b);
	return dir ? dir : "build";
}

static bool is_dir(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* The main checkout of the git worktree at `root` (its .git is a file
 * "gitdir: <main>/.git/worktrees/NAME", whose commondir names <main>/.git),
 * or NULL: a plain checkout or clone, or no git at all. */
static char *main_checkout(const char *root)
{
	char *dotgit = t_strdupf("%s/.git", root);
	char *text = t_read_file(dotgit, NULL), *gitdir, *cpath, *common;
	char *path = NULL, resolved[PATH_MAX], *end;

	free(dotgit);
	if (!text || strncmp(text, "gitdir: ", 8)) {
		free(text);
		return NULL;
	}
	gitdir = text + 8;
	gitdir[strcspn(gitdir, "\n")] = 0;
	cpath = gitdir[0] == '/' ? t_strdupf("%s/commondir", gitdir)
				 : t_strdupf("%s/%s/commondir", root, gitdir);
	common = t_read_file(cpath, NULL);
	free(cpath);
	if (common) {
		char *c;

		common[strcspn(common, "\n")] = 0;
		c = common[0] == '/' ? t_strdupf("%s", common)
			: gitdir[0] == '/' ? t_strdupf("%s/%s", gitdir, common)
			: t_strdupf("%s/%s/%s", root, gitdir, common);
		/* <main>/.git: its parent is the main checkout. */
		if (c && realpath(c, resolved) &&
		    (end = strrchr(resolved, '/')) && !strcmp(end, "/.git")) {
			*end = 0;
			path = t_strdupf("%s", resolved);
		}
		free(c);
		free(common);
	}
	free(text);
	return path;
}

char *t_shared_dir_of(const char *root)
{
	char *dir = t_strdupf("%s/../shared", root), *main, *there;

	if (!dir || is_dir(dir))
		return dir;
	/* A git worktree (/work/wt/NAME): shared/ lies beside the main
	 * checkout, not beside the worktree. */
	main = main_checkout(root);
	if (!main)
		return dir;
	there = t_strdupf("%s/../shared", main);
	free(main);
	if (there && is_dir(there)) {
		free(dir);
		return there;
	}
	free(there);
	return dir;
}

const char *t_shared_dir(void)
{
	static char *dir;
	const char *s = getenv("PITH_SHARED");

	if (dir)
		return dir;
	if (s && *s)
		dir = strdup(s);
	else
		dir = t_shared_dir_of(t_repo_root());
	return dir ? dir : "../shared";
}

bool t_all_bytes(const void *p, size_t len, int c)
{
	const unsigned char *b = p;

	for (size_t i = 0; i < len; i++)
		if (b[i] != (unsigned char)c)
			return false;
	return true;
}

bool t_err_filled(int r, const char *msg)
{
	if (r >= 0 || (msg && msg[0]))
		return true;
	printf("# returned %d (%s) with an empty error message\n", r,
	       strerror(-r));
	return false;
}

long t_fds_linked(const char *prefix, int max_fd, long *ret_all)
{
	char path[64], link[256];
	long n = 0, all = 0;

	for (int fd = 0; fd < max_fd; fd++) {
		ssize_t l;

		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		l = readlink(path, link, sizeof(link) - 1);
		if (l < 0)
			continue;
		link[l] = 0;
		all++;
		n += !strncmp(link, prefix, strlen(prefix));
	}
	if (ret_all)
		*ret_all = all;
	return n;
}

size_t t_heap_used(void)
{
	struct mallinfo2 m = mallinfo2();

	return m.uordblks + m.hblkhd;
}
