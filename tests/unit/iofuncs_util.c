// SPDX-License-Identifier: MIT
/* t_* helpers for the I/O function tests: input sets, running one stage. */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include "harness/helpers.h"
#include "unit/iofuncs_util.h"

int t_set_add_str(struct set *s, const char *name, const char *str)
{
	return set_add_copy(s, name, false, 0, str, strlen(str));
}

static void t_done(struct iofunc_run *run, void *data)
{
	struct t_io *t = data;

	(void)run;
	t->done = true;
}

static bool t_is_done(void *data)
{
	return ((struct t_io *)data)->done;
}

struct t_cancel {
	struct loop_op op;
	struct t_io *t;
};

static void t_cancel_cb(struct loop_op *op, int res, uint32_t flags)
{
	struct t_cancel *c = container_of(op, struct t_cancel, op);

	(void)res;
	(void)flags;
	if (!c->t->done)
		iofunc_run_cancel(c->t->run);
}

static int t_run_impl(const char *name, const struct iofunc_ctx *ctx,
		      const struct set *input, size_t n_out, int64_t cancel_ms,
		      struct t_io *t)
{
	const struct iofunc *fn = iofunc_lookup(name);
	struct t_cancel c = { .op.cb = t_cancel_cb, .t = t };
	struct err e = {};
	uint64_t t0;
	int r;

	memset(t, 0, sizeof(*t));
	if (!fn)
		return -ENOENT;
	r = loop_new(256, &t->loop, &e);
	if (r < 0)
		return r;
	t->n_out = n_out;
	for (size_t k = 0; k < n_out; k++) {
		t->out[k] = set_new(k ? "out1" : "out0");
		if (!t->out[k])
			return -ENOMEM;
	}
	t0 = loop_now_ms();
	r = iofunc_start(t->loop, fn, ctx, input, t->out, t_done, t,
			 &t->run, &e);
	if (r < 0)
		return r;
	if (cancel_ms >= 0) {
		r = loop_timeout(t->loop, &c.op, (uint64_t)cancel_ms);
		if (r < 0)
			return r;
	}
	r = loop_run_until(t->loop, t_is_done, t);
	t->elapsed_ms = loop_now_ms() - t0;
	/* Let the cancel timer go before `c` leaves scope. */
	if (cancel_ms >= 0 && r >= 0 && loop_cancel(t->loop, &c.op) >= 0)
		while (loop_inflight(t->loop) && loop_run_once(t->loop, -1) >= 0)
			;
	return r;
}

int t_io_run(const char *fn, const struct iofunc_ctx *ctx,
	     const struct set *input, size_t n_out, struct t_io *ret)
{
	return t_run_impl(fn, ctx, input, n_out, -1, ret);
}

int t_io_run_cancel_after(const char *fn, const struct iofunc_ctx *ctx,
			  const struct set *input, size_t n_out,
			  uint64_t after_ms, struct t_io *ret)
{
	return t_run_impl(fn, ctx, input, n_out, (int64_t)after_ms, ret);
}

void t_io_done(struct t_io *t)
{
	t->run = iofunc_run_free(t->run);
	for (size_t k = 0; k < 2; k++)
		t->out[k] = set_free(t->out[k]);
	t->loop = loop_free(t->loop);
}

const char *t_io_error(const struct t_io *t, size_t i)
{
	const char *m = NULL;

	if (!t->run || iofunc_run_item_error(t->run, i, &m) >= 0 || !m)
		return "";
	return m;
}

char *t_io_out_str(const struct t_io *t, size_t k, size_t i, size_t *ret_len)
{
	const struct item *it;
	const void *p;
	char *s;

	if (k >= t->n_out || i >= t->out[k]->n)
		return NULL;
	it = &t->out[k]->items[i];
	if (item_data(it, &p) < 0)
		return NULL;
	s = malloc(it->len + 1);
	if (!s)
		return NULL;
	memcpy(s, p, it->len);
	s[it->len] = '\0';
	if (ret_len)
		*ret_len = it->len;
	return s;
}

int t_nginx_start(const char *dir, unsigned *ret_port)
{
	char *script = t_strdupf("%s/tests/servers/nginx.sh", t_repo_root());
	char *argv[] = { script, "start", (char *)dir, NULL };
	char *out = NULL;
	int status = 0, r;

	r = t_run(argv, &out, NULL, &status);
	if (r >= 0 && t_exit_code(status) != 0)
		r = -EIO;
	if (r >= 0 && (!out || sscanf(out, "%u", ret_port) != 1))
		r = -EIO;
	free(out);
	free(script);
	return r;
}

void t_nginx_stop(const char *dir)
{
	char *script = t_strdupf("%s/tests/servers/nginx.sh", t_repo_root());
	char *argv[] = { script, "stop", (char *)dir, NULL };
	int status;

	t_run(argv, NULL, NULL, &status);
	free(script);
}

int t_hostile_start(pid_t *ret_pid, unsigned *ret_port)
{
	char *script = t_strdupf("%s/tests/servers/hostile.py", t_repo_root());
	char line[32] = "";
	size_t n = 0;
	int p[2];
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		dup2(p[1], STDOUT_FILENO);
		execlp("python3", "python3", script, "0", (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	free(script);
	while (n < sizeof(line) - 1) {
		ssize_t k = read(p[0], line + n, 1);

		if (k <= 0 || line[n] == '\n')
			break;
		n++;
	}
	close(p[0]);
	line[n] = '\0';
	if (sscanf(line, "%u", ret_port) != 1) {
		t_hostile_stop(pid);
		return -EIO;
	}
	*ret_pid = pid;
	return 0;
}

void t_hostile_stop(pid_t pid)
{
	if (pid <= 0)
		return;
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

long t_maxrss_kib(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_maxrss;
}
