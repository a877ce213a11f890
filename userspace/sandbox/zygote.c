// SPDX-License-Identifier: MIT
/*
 * Zygotes: a fresh worker ("fresh": true, or warm workers off) forked from
 * a pre-loaded pith-worker instead of exec'd. Per (image, context size,
 * owner), from the second fresh instance on, one zygote: a worker started
 * by the spawner like any other, whose plan says PLAN_F_ZYGOTE; its loader
 * maps the image, the trampoline and the fault handlers, then forks one
 * child per request. The child is pith's (CLONE_PARENT), reads the
 * instance's plan from the instance's own socket and goes on exactly as a
 * fresh worker's loader does (worker/main.c). Zygotes end with the job
 * (sandbox_release(), sandbox_end_idle(), sandbox_free()). The argument is
 * in Documentation/security.md, "Zygotes".
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/macro.h"
#include "sandbox/elf.h"
#include "sandbox/internal.h"

#define ZYGOTE_MAX 8

struct zygote {
	struct elf_image *image;	/* a reference */
	uint64_t memory;		/* the context's size */
	uint32_t owner;
	unsigned seen;			/* fresh instances of its key */
	pid_t pid;
	int pidfd, sock;		/* -1: not started, or ended */
	bool failed;			/* cannot serve: spawn as before */
};

void zygote_init(struct sandbox *sb)
{
	const char *env = getenv("PITH_ZYGOTE");

	sb->zygote_on = !(env && !strcmp(env, "off"));
	/* Tests: the first fresh instance of a function too. */
	sb->zygote_first = env && !strcmp(env, "always");
	pthread_mutex_init(&sb->zygote_lock, NULL);
}

static void zygote_end(struct zygote *z)
{
	siginfo_t si;

	safe_close(z->sock);
	z->sock = -1;
	if (z->pidfd >= 0) {
		pidfd_send_signal(z->pidfd, SIGKILL, NULL, 0);
		while (waitid(P_PIDFD, (id_t)z->pidfd, &si,
			      WEXITED | __WALL) < 0 && errno == EINTR)
			;
		close(z->pidfd);
	}
	z->pidfd = -1;
}

void zygote_flush(struct sandbox *sb)
{
	if (!sb->zygote_on)
		return;
	pthread_mutex_lock(&sb->zygote_lock);
	for (unsigned i = 0; i < sb->n_zygotes; i++) {
		zygote_end(&sb->zygotes[i]);
		elf_image_free(sb->zygotes[i].image);
	}
	free(sb->zygotes);
	sb->zygotes = NULL;
	sb->n_zygotes = 0;
	pthread_mutex_unlock(&sb->zygote_lock);
}

pid_t zygote_pid(const struct sandbox *sb, unsigned i)
{
	return i < sb->n_zygotes && sb->zygotes[i].pidfd >= 0
		       ? sb->zygotes[i].pid
		       : 0;
}

void zygote_stop(struct sandbox *sb)
{
	if (!sb->zygote_on)
		return;
	zygote_flush(sb);
	pthread_mutex_destroy(&sb->zygote_lock);
	sb->zygote_on = false;
}

/* The zygote's plan: a fresh worker's, with no input and the image as its
 * only fd; sent before it starts, like any worker's. */
static int send_zygote_plan(const struct sandbox *sb,
			    const struct sandbox_proc *p,
			    const struct elf_image *img, int sock)
{
	char ctl[CMSG_SPACE(sizeof(int))] = { 0 };
	struct plan plan = {
		.magic = PLAN_MAGIC,
		.version = PLAN_VERSION,
		.n_fds = 1,
		.n_segments = (uint32_t)img->n_segments,
		.loader_text = sb->loader_text.lo,
		.loader_text_len = sb->loader_text.hi - sb->loader_text.lo,
		.entry = img->entry,
		.context_size = p->layout.size,
		.guard_off = p->layout.guard_off,
		.altstack_off = p->layout.altstack_off,
		.altstack_size = CTX_ALTSTACK_SIZE,
		.inputs_lo = PITH_INPUT_BASE,
		.inputs_hi = PITH_INPUT_BASE,
		.flags = PLAN_F_ZYGOTE,
	};
	struct iovec iov = { &plan, sizeof(plan) };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1,
			    .msg_control = ctl, .msg_controllen = sizeof(ctl) };
	struct cmsghdr *c = CMSG_FIRSTHDR(&m);

	if (img->n_segments > PLAN_MAX_SEGMENTS)
		return -E2BIG;
	for (size_t i = 0; i < img->n_segments; i++)
		plan.segments[i] = (struct plan_segment){
			.vaddr = img->segments[i].vaddr,
			.memsz = img->segments[i].memsz,
			.file_off = img->segments[i].file_off,
			.prot = (uint32_t)img->segments[i].prot,
		};
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &img->fd, sizeof(int));
	return sendmsg(sock, &m, MSG_NOSIGNAL) < 0 ? negative_errno() : 0;
}

static int zygote_start(struct sandbox *sb, struct zygote *z,
			const struct sandbox_proc *p)
{
	struct err e = { 0 };
	int sv[2], r;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return negative_errno();
	r = send_zygote_plan(sb, p, z->image, sv[0]);
	if (r >= 0)
		r = spawner_start_zygote(sb, sv[1], &z->pid, &z->pidfd, &e);
	close(sv[1]);
	if (r < 0) {
		close(sv[0]);
		return r;
	}
	z->sock = sv[0];
	return 0;
}

/* One fork: the instance's socket to the zygote, the child's pid back. */
static int zygote_fork(struct zygote *z, const struct sandbox_proc *p,
		       int child_sock, pid_t *ret_pid, bool *ret_sent)
{
	rlim_t cpu = (rlim_t)((p->timeout_ms + 999) / 1000);
	struct plan_zygote_req req = {
		.magic = PLAN_ZYGOTE_MAGIC,
		/* As a fresh worker's (spawner.c): SIGXCPU at the soft
		 * limit, SIGKILL one second later. */
		.cpu_cur = MAX(cpu, (rlim_t)1),
		.cpu_max = MAX(cpu, (rlim_t)1) + 1,
	};
	struct plan_zygote_reply rep;
	char ctl[CMSG_SPACE(sizeof(int))] = { 0 };
	struct iovec iov = { &req, sizeof(req) };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1,
			    .msg_control = ctl, .msg_controllen = sizeof(ctl) };
	struct cmsghdr *c = CMSG_FIRSTHDR(&m);
	ssize_t n;

	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &child_sock, sizeof(int));
	if (sendmsg(z->sock, &m, MSG_NOSIGNAL) < 0)
		return negative_errno();
	*ret_sent = true;
	do
		n = recv(z->sock, &rep, sizeof(rep), 0);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return negative_errno();
	if (n != sizeof(rep) || rep.magic != PLAN_ZYGOTE_MAGIC)
		return -EPIPE;
	if (rep.pid <= 0)
		return rep.pid < 0 ? rep.pid : -EPROTO;
	*ret_pid = rep.pid;
	return 0;
}

int zygote_spawn(struct sandbox_proc *p, const struct sandbox_request *req,
		 int child_sock, struct err *e)
{
	struct sandbox *sb = p->sb;
	struct zygote *z = NULL;
	bool sent = false;
	pid_t pid = 0;
	int r;

	if (!sb->zygote_on || p->warm)
		return 0;
	pthread_mutex_lock(&sb->zygote_lock);
	for (unsigned i = 0; i < sb->n_zygotes && !z; i++)
		if (sb->zygotes[i].image == req->image &&
		    sb->zygotes[i].memory == p->layout.size &&
		    sb->zygotes[i].owner == req->owner)
			z = &sb->zygotes[i];
	if (!z) {
		if (!sb->zygotes &&
		    !(sb->zygotes = calloc(ZYGOTE_MAX, sizeof(*z))))
			goto none;
		if (sb->n_zygotes == ZYGOTE_MAX)
			goto none;
		z = &sb->zygotes[sb->n_zygotes++];
		*z = (struct zygote){
			.image = elf_image_ref((struct elf_image *)req->image),
			.memory = p->layout.size,
			.owner = req->owner,
			.pidfd = -1,
			.sock = -1,
		};
	}
	/* A function's first fresh instance starts as before: a job of one
	 * instance pays for no zygote. */
	if (z->failed || (z->seen++ == 0 && !sb->zygote_first))
		goto none;
	if (z->sock < 0 && zygote_start(sb, z, p) < 0) {
		z->failed = true;
		goto none;
	}
	r = zygote_fork(z, p, child_sock, &pid, &sent);
	if (r < 0) {
		zygote_end(z);
		z->failed = true;
		/* Nothing reached it: the plan waits in the socket for a
		 * worker spawned as before. */
		if (!sent)
			goto none;
		/* It may have forked a child that reads the plan. */
		pthread_mutex_unlock(&sb->zygote_lock);
		return err_errno(e, -r, "the zygote of this function ended");
	}
	sb->zygote_forks++;
	pthread_mutex_unlock(&sb->zygote_lock);
	p->pid = pid;
	p->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (p->pidfd < 0) {
		siginfo_t si;

		/* Our child, not reaped: the pid is still its. */
		r = errno;
		kill(pid, SIGKILL);
		waitid(P_PID, (id_t)pid, &si, WEXITED | __WALL);
		p->finished = true;
		return err_errno(e, r, "pidfd_open");
	}
	return 1;
none:
	pthread_mutex_unlock(&sb->zygote_lock);
	return 0;
}
