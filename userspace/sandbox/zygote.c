// SPDX-License-Identifier: MIT
/*
 * Zygotes: a fresh worker ("fresh": true, or warm workers off) forked from
 * a pre-loaded pith-worker instead of exec'd. Per (image, context size,
 * owner), from the second fresh instance on, one zygote: a worker started
 * by the spawner like any other, whose plan says PLAN_F_ZYGOTE; its loader
 * maps the image, the trampoline and the fault handlers, then forks one
 * spare per request, ahead of its instance: pith keeps ZYGOTE_SPARES of
 * them forked or asked for, gives the oldest waiting spare the next
 * instance's plan socket and at once asks for another, so that instances
 * started back to back (one per CPU) do not wait for a fork. A spare is pith's child (CLONE_PARENT), reads
 * the instance's plan from that socket and goes on exactly as a fresh
 * worker's loader does (worker/main.c). Zygotes end with the job
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
#define ZYGOTE_SPARES 2	/* spares forked or asked for, per zygote */

/* A spare: forked, waiting for an instance on its socket, a plan
 * socketpair of which pith holds both ends (sock[0], and sock[1] which
 * the spare has too). No pidfd: pith's unreaped child, signalled and
 * reaped by its pid, which cannot be reused before (reap.c). */
struct spare {
	pid_t pid;
	int sock[2];
};

struct zygote {
	struct elf_image *image;	/* a reference */
	uint64_t memory;		/* the context's size */
	uint32_t owner;
	unsigned seen;			/* fresh instances of its key */
	pid_t pid;
	int pidfd, sock;		/* -1: not started, or ended */
	bool failed;			/* cannot serve: spawn as before */
	/* Its spares, oldest first. */
	struct spare spares[ZYGOTE_SPARES];
	unsigned n_spares;
	/* Spares asked for, their pids not read yet (the zygote answers in
	 * order): their pairs, oldest first. */
	int pending[ZYGOTE_SPARES][2];
	unsigned n_pending;
};

void zygote_init(struct sandbox *sb)
{
	const char *env = getenv("PITH_ZYGOTE");

	sb->zygote_on = !(env && !strcmp(env, "off"));
	/* Tests: the first fresh instance of a function too. */
	sb->zygote_first = env && !strcmp(env, "always");
	pthread_mutex_init(&sb->zygote_lock, NULL);
}

/* `msg` with one fd on sock. */
static int send_fd(int sock, const void *msg, size_t len, int fd)
{
	char ctl[CMSG_SPACE(sizeof(int))] = { 0 };
	struct iovec iov = { (void *)msg, len };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1,
			    .msg_control = ctl, .msg_controllen = sizeof(ctl) };
	struct cmsghdr *c = CMSG_FIRSTHDR(&m);

	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof(int));
	return sendmsg(sock, &m, MSG_NOSIGNAL) < 0 ? negative_errno() : 0;
}

/* Ask the zygote for a spare, unless it has ZYGOTE_SPARES forked or asked
 * for; the worker's end of its plan socketpair (a spare one of reuse.c, or
 * new) rides along. */
static int ask_spare(struct sandbox *sb, struct zygote *z)
{
	const struct plan_zygote_req req = { .magic = PLAN_ZYGOTE_MAGIC };
	int sv[2], r;

	if (z->n_spares + z->n_pending >= ZYGOTE_SPARES)
		return 0;
	r = reuse_take_pair(sb, sv);
	if (r < 0)
		return r;
	r = send_fd(z->sock, &req, sizeof(req), sv[1]);
	if (r < 0) {
		close(sv[0]);
		close(sv[1]);
		return r;
	}
	z->pending[z->n_pending][0] = sv[0];
	z->pending[z->n_pending][1] = sv[1];
	z->n_pending++;
	return 0;
}

static void close_pair(int sv[2])
{
	safe_close(sv[0]);
	safe_close(sv[1]);
	sv[0] = sv[1] = -1;
}

/* The zygote's answer to the oldest ask_spare(): the spare's pid (pith's
 * child, not reaped: the pid cannot be reused until pith reaps it). By
 * then the zygote has closed its copy of the socket. */
static int take_spare(struct zygote *z)
{
	struct plan_zygote_reply rep = { 0 };
	int sv[2] = { z->pending[0][0], z->pending[0][1] };
	ssize_t n;

	z->n_pending--;
	memmove(z->pending, z->pending + 1, z->n_pending * sizeof(z->pending[0]));
	do
		n = recv(z->sock, &rep, sizeof(rep), 0);
	while (n < 0 && errno == EINTR);
	if (n != sizeof(rep) || rep.magic != PLAN_ZYGOTE_MAGIC || rep.pid <= 0) {
		close_pair(sv);
		return n < 0 ? negative_errno() : rep.pid < 0 ? rep.pid : -EPIPE;
	}
	z->spares[z->n_spares++] = (struct spare){
		.pid = rep.pid, .sock = { sv[0], sv[1] },
	};
	return 0;
}

static void kill_reap(int pidfd)
{
	siginfo_t si;

	if (pidfd < 0)
		return;
	pidfd_send_signal(pidfd, SIGKILL, NULL, 0);
	while (waitid(P_PIDFD, (id_t)pidfd, &si, WEXITED | __WALL) < 0 &&
	       errno == EINTR)
		;
	close(pidfd);
}

/* A spare, pith's unreaped child: its pid is still its own. */
static void kill_reap_pid(pid_t pid)
{
	siginfo_t si;

	kill(pid, SIGKILL);
	while (waitid(P_PID, (id_t)pid, &si, WEXITED | __WALL) < 0 &&
	       errno == EINTR)
		;
}

/* End the zygote and its spares (reaped: all are pith's children). */
static void zygote_end(struct zygote *z)
{
	/* Spares asked for: their pids, so that they can be reaped. */
	while (z->n_pending)
		take_spare(z);
	for (unsigned i = 0; i < z->n_spares; i++) {
		kill_reap_pid(z->spares[i].pid);
		close_pair(z->spares[i].sock);
	}
	z->n_spares = 0;
	safe_close(z->sock);
	z->sock = -1;
	kill_reap(z->pidfd);
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

pid_t zygote_pid(struct sandbox *sb, unsigned i, bool spare)
{
	struct zygote *z = i < sb->n_zygotes ? &sb->zygotes[i] : NULL;
	pid_t pid = 0;

	if (!z)
		return 0;
	pthread_mutex_lock(&sb->zygote_lock);
	if (spare && !z->n_spares && z->n_pending && take_spare(z) < 0) {
		zygote_end(z);
		z->failed = true;
	}
	if (spare)
		pid = z->n_spares ? z->spares[0].pid : 0;
	else
		pid = z->pidfd >= 0 ? z->pid : 0;
	pthread_mutex_unlock(&sb->zygote_lock);
	return pid;
}

void zygote_stop(struct sandbox *sb)
{
	if (!sb->zygote_on)
		return;
	zygote_flush(sb);
	reap_close(sb);
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

int zygote_take(struct sandbox_proc *p, const struct sandbox_request *req)
{
	struct sandbox *sb = p->sb;
	struct zygote *z = NULL;
	struct spare s;

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
	if (z->sock < 0 &&
	    (zygote_start(sb, z, p) < 0 || ask_spare(sb, z) < 0))
		goto broken;
	if (!z->n_spares && z->n_pending && take_spare(z) < 0)
		goto broken;
	if (!z->n_spares)
		goto broken;
	/* The oldest spare is this instance's worker, waiting for its plan
	 * (which spawn.c sends next), from here on p's to kill and reap: a
	 * spare that died meanwhile fails the instance as a killed worker
	 * (its unread plan keeps its pair from reuse). */
	s = z->spares[0];
	z->n_spares--;
	memmove(z->spares, z->spares + 1, z->n_spares * sizeof(z->spares[0]));
	p->pid = s.pid;
	p->sock = s.sock[0];
	p->sock_peer = s.sock[1];
	sb->zygote_forks++;
	/* The next instances' spares, forked while this one runs. */
	while (z->n_spares + z->n_pending < ZYGOTE_SPARES)
		if (ask_spare(sb, z) < 0) {
			zygote_end(z);
			z->failed = true;
			break;
		}
	pthread_mutex_unlock(&sb->zygote_lock);
	return 1;
broken:
	zygote_end(z);
	z->failed = true;
none:
	pthread_mutex_unlock(&sb->zygote_lock);
	return 0;
}
