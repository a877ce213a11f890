// SPDX-License-Identifier: MIT
/* Test helpers for the eBPF guard: cgroup leaf, worker child, events. */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/sched.h>
#include <bpf/bpf.h>

#include "lib/macro.h"
#include "security/bpf_worker.h"

static void fclosep(FILE **f)
{
	if (*f)
		fclose(*f);
}

/* Mount point of the cgroup2 hierarchy, from mountinfo. */
static int cgroup2_mount(char *buf, size_t len)
{
	_cleanup_(fclosep) FILE *f = fopen("/proc/self/mountinfo", "re");
	char line[1024], mnt[512], fstype[64];

	if (!f)
		return negative_errno();
	while (fgets(line, sizeof(line), f)) {
		const char *sep = strstr(line, " - ");

		if (!sep || sscanf(sep, " - %63s", fstype) != 1 ||
		    strcmp(fstype, "cgroup2"))
			continue;
		if (sscanf(line, "%*s %*s %*s %*s %511s", mnt) != 1)
			continue;
		snprintf(buf, len, "%s", mnt);
		return 0;
	}
	return -ENOENT;
}

int t_cgroup_new(struct t_cgroup *cg)
{
	static unsigned seq;
	char mnt[512];
	int r;

	cg->path = NULL;
	cg->fd = -1;
	r = cgroup2_mount(mnt, sizeof(mnt));
	if (r < 0)
		return r;
	if (asprintf(&cg->path, "%s/pith-test-bpf-%d-%u", mnt, getpid(),
		     seq++) < 0)
		return -ENOMEM;
	if (mkdir(cg->path, 0755) < 0) {
		r = negative_errno();
		free(cg->path);
		cg->path = NULL;
		return r;
	}
	cg->fd = open(cg->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cg->fd < 0) {
		r = negative_errno();
		t_cgroup_done(cg);
		return r;
	}
	return 0;
}

void t_cgroup_done(struct t_cgroup *cg)
{
	cg->fd = safe_close(cg->fd);
	/* A killed worker leaves the cgroup shortly after it is reaped:
	 * retry for up to a second rather than leave a directory behind. */
	for (int i = 0; cg->path && i < 1000; i++) {
		if (rmdir(cg->path) == 0 || errno != EBUSY)
			break;
		usleep(1000);
	}
	free(cg->path);
	cg->path = NULL;
}

int t_worker_spawn(int cgroup_fd, int (*fn)(void *), void *arg,
		   struct t_worker *w)
{
	return t_worker_spawn_pid(cgroup_fd, 0, fn, arg, w);
}

int t_worker_spawn_pid(int cgroup_fd, pid_t want, int (*fn)(void *),
		       void *arg, struct t_worker *w)
{
	struct clone_args args = {
		.flags = CLONE_INTO_CGROUP,
		.exit_signal = SIGCHLD,
		.cgroup = cgroup_fd,
	};
	int p[2];
	long pid;

	if (want > 0) {
		args.set_tid = (uintptr_t)&want;
		args.set_tid_size = 1;
	}
	if (pipe2(p, O_CLOEXEC) < 0)
		return negative_errno();
	pid = syscall(SYS_clone3, &args, sizeof(args));
	if (pid < 0) {
		int r = negative_errno();

		close(p[0]);
		close(p[1]);
		return r;
	}
	if (pid == 0) {
		char c;

		close(p[1]);
		if (read(p[0], &c, 1) != 1)
			_exit(100);
		close(p[0]);
		_exit(fn(arg));
	}
	close(p[0]);
	w->pid = pid;
	w->go_fd = p[1];
	return 0;
}

int t_worker_go(struct t_worker *w)
{
	int r = write(w->go_fd, "g", 1) == 1 ? 0 : negative_errno();

	w->go_fd = safe_close(w->go_fd);
	return r;
}

int t_worker_wait(struct t_worker *w)
{
	int status;

	w->go_fd = safe_close(w->go_fd);
	if (waitpid(w->pid, &status, 0) < 0)
		return negative_errno();
	return status;
}

void t_arm(void)
{
	syscall(GUARD_ARM_NR_DEFAULT, GUARD_ARM_ARG0_DEFAULT);
}

int t_events_collect(const struct guard_violation *v, void *userdata)
{
	struct t_events *ev = userdata;

	if (ev->pid && v->pid != ev->pid)
		return 0;
	if (ev->n < ARRAY_SIZE(ev->v))
		ev->v[ev->n++] = *v;
	return 0;
}

const struct guard_violation *t_events_find(const struct t_events *ev,
					    enum guard_kind kind,
					    enum guard_hook hook)
{
	for (size_t i = 0; i < ev->n; i++)
		if (ev->v[i].kind == kind &&
		    (hook == GUARD_HOOK_MAX || ev->v[i].hook == hook))
			return &ev->v[i];
	return NULL;
}

bool t_prog_id_loaded(unsigned int id)
{
	int fd = bpf_prog_get_fd_by_id(id);

	if (fd < 0)
		return false;
	close(fd);
	return true;
}
