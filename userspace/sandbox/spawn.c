// SPDX-License-Identifier: MIT
/*
 * sandbox_spawn(): an instance's context (context.c), then an idle warm
 * worker of its function (warm.c) or a new worker: the plan and its fds go
 * into a socketpair (reused when a reaped worker left one: reuse.c) and
 * the spawner (spawner.c) starts the worker, on the caller's CPU when the
 * instance runs alone (place.c).
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/macro.h"
#include "sandbox/bpf_guard.h"
#include "sandbox/internal.h"

static int send_plan(struct sandbox_proc *p, const struct sandbox_request *req,
		     int sock, struct err *e)
{
	const struct sandbox *sb = p->sb;
	/* A fresh instance's input area comes from a read-only descriptor
	 * of its context, the third fd (reuse.c); its inputs' follow. */
	size_t n_area = proc_area_fd(p), n_fds = 2 + n_area + p->n_input_fds;
	size_t sent = 0;
	size_t size = sizeof(struct plan) +
		      p->n_inputs * sizeof(struct plan_input);
	_cleanup_free_ char *msg = calloc(1, size);
	_cleanup_free_ int *fds = malloc(n_fds * sizeof(int));
	const struct elf_image *img = req->image;
	struct plan *plan = (struct plan *)msg;
	struct plan_input *in;

	if (!msg || !fds)
		return err_set(e, ENOMEM, "out of memory");
	if (img->n_segments > PLAN_MAX_SEGMENTS)
		return err_set(e, E2BIG, "image has %zu segments",
			       img->n_segments);
	*plan = (struct plan){
		.magic = PLAN_MAGIC,
		.version = PLAN_VERSION,
		.n_fds = (uint32_t)n_fds,
		.n_segments = (uint32_t)img->n_segments,
		.loader_text = sb->loader_text.lo,
		.loader_text_len = sb->loader_text.hi - sb->loader_text.lo,
		.n_inputs = (uint32_t)p->n_inputs,
		.entry = img->entry,
		.context_size = p->layout.size,
		.guard_off = p->layout.guard_off,
		.altstack_off = p->layout.altstack_off,
		.altstack_size = CTX_ALTSTACK_SIZE,
		.inputs_lo = PITH_INPUT_BASE,
		.inputs_hi = PITH_INPUT_BASE,
		.flags = (p->warm ? PLAN_F_WARM : 0) |
			 (p->warm && p->wseg ? PLAN_F_WSEG : 0) |
			 (n_area ? PLAN_F_AREA : 0) |
			 (sb->fsgsbase ? PLAN_F_FSGSBASE : 0),
	};
	if (p->area)
		plan->inputs_hi = PITH_INPUT_BASE + PLAN_INPUT_AREA;
	if (p->n_inputs)
		plan->inputs_hi = p->inputs[p->n_inputs - 1].addr +
				  p->inputs[p->n_inputs - 1].maplen;
	for (size_t i = 0; i < img->n_segments; i++)
		plan->segments[i] = (struct plan_segment){
			.vaddr = img->segments[i].vaddr,
			.memsz = img->segments[i].memsz,
			.file_off = img->segments[i].file_off,
			.prot = (uint32_t)img->segments[i].prot,
		};
	in = (struct plan_input *)(plan + 1);
	fds[0] = img->fd;
	fds[1] = p->ctx->fd;
	if (n_area)
		fds[2] = p->ctx_ro;
	for (size_t i = 0; i < p->n_inputs; i++) {
		in[i] = (struct plan_input){
			.addr = p->inputs[i].addr,
			.len = p->inputs[i].maplen,
			.fd_index = (uint32_t)(2 + n_area + p->inputs[i].fd_slot),
			.file_off = p->inputs[i].file_off,
		};
		int fd = buffer_share_fd(p->inputs[i].buf);

		if (fd < 0)
			return err_errno(e, -fd, "cannot share an input buffer");
		fds[2 + n_area + p->inputs[i].fd_slot] = fd;
	}

	while (sent < n_fds) {
		size_t k = MIN(n_fds - sent, (size_t)PLAN_FDS_PER_MSG);
		char ctl[CMSG_SPACE(PLAN_FDS_PER_MSG * sizeof(int))] = { 0 };
		char one = 0;
		struct iovec iov = sent ? (struct iovec){ &one, 1 }
					: (struct iovec){ msg, size };
		struct msghdr m = {
			.msg_iov = &iov,
			.msg_iovlen = 1,
			.msg_control = ctl,
			.msg_controllen = CMSG_SPACE(k * sizeof(int)),
		};
		struct cmsghdr *c = CMSG_FIRSTHDR(&m);

		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(k * sizeof(int));
		memcpy(CMSG_DATA(c), fds + sent, k * sizeof(int));
		if (sendmsg(sock, &m, MSG_NOSIGNAL) < 0)
			return err_errno(e, errno, "cannot send the plan");
		sent += k;
	}
	return 0;
}

static int epoll_add(int epfd, int fd, uint32_t tag)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u32 = tag };

	return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0 ? negative_errno()
							   : 0;
}

/* p's own epoll set (sandbox_proc_fd()): its pidfd and the listener. A
 * fresh instance gets it only when a caller polls it per instance
 * (sandbox_proc_fd(), sandbox_proc_step()); the engine polls sandbox_fd()
 * and steps with sandbox_proc_step_polled(), and never needs one: three
 * epoll_ctl calls per fresh instance fewer. A warm worker keeps its set
 * across instances (warm.c), so it gets one when it starts. */
int spawn_proc_epoll(struct sandbox_proc *p, struct err *e)
{
	int r;

	if (p->epfd >= 0)
		return 0;
	zygote_proc_pid(p, true);
	if (!p->pprev || p->pid <= 0)
		return err_set(e, EINVAL, "the instance has no worker");
	/* A zygote's child has none of its own (reap.c): opened now, the
	 * worker not reaped yet (finish() unlinks it from sb->procs); one
	 * its group's request reaped already has none to open (its pid may
	 * be another process's): its next step finishes it. */
	if (!p->zreaped && (r = reap_pidfd(p)) < 0)
		return err_errno(e, -r, "pidfd_open");
	r = reuse_take_epfd(p, e);
	if (r < 0)
		return r;
	if ((p->pidfd >= 0 && (r = epoll_add(p->epfd, p->pidfd, 'P')) < 0) ||
	    (p->sb->spawner.listener >= 0 &&
	     (r = epoll_add(p->epfd, p->sb->spawner.listener, 'L')) < 0)) {
		p->epfd = safe_close(p->epfd);
		return err_errno(e, -r, "epoll_ctl");
	}
	return 0;
}

/* Forks seen by this process, counted in each child (pthread_atfork), so
 * that sandbox_spawn() notices a fork without a getpid() per instance. */
static unsigned fork_gen;
static pthread_once_t fork_once = PTHREAD_ONCE_INIT;

static void fork_child(void)
{
	fork_gen++;
}

static void fork_watch(void)
{
	pthread_atfork(NULL, NULL, fork_child);
}

unsigned sandbox_fork_gen(void)
{
	pthread_once(&fork_once, fork_watch);
	return fork_gen;
}

/* The request's output names: its own when the caller keeps them until
 * the proc is freed (req->kept), else copied (the caller may free its
 * own once sandbox_spawn() returns): pointers and bytes in the proc's one
 * block, kept with it in the pool (p->keep) and grown only for more. */
static int copy_output_names(struct sandbox_proc *p,
			     const struct sandbox_request *req)
{
	size_t n = req->n_outputs, need = n * sizeof(char *);
	const char **names;
	char *at;

	p->n_outputs = n;
	if (req->kept) {
		p->output_names = req->outputs;
		return 0;
	}
	for (size_t i = 0; i < n; i++)
		need += strlen(req->outputs[i]) + 1;
	if (need > p->keep.names_cap) {
		void *b = malloc(need);

		if (!b)
			return -ENOMEM;
		free(p->keep.names);
		p->keep.names = b;
		p->keep.names_cap = need;
	}
	names = p->keep.names;
	at = (char *)(names + n);
	for (size_t i = 0; i < n; i++) {
		size_t l = strlen(req->outputs[i]) + 1;

		memcpy(at, req->outputs[i], l);
		names[i] = at;
		at += l;
	}
	p->output_names = names;
	return 0;
}

static void proc_drop(struct sandbox_proc *p)
{
	free(p->keep.names);
	free(p->keep.inputs);
	free(p->keep.copies);
	free(p);
}

void spawn_proc_put(struct sandbox_proc *p)
{
	struct sandbox *sb = p->sb;

	if (sb->n_proc_pool >= SANDBOX_PROC_POOL) {
		proc_drop(p);
		return;
	}
	p->next = sb->proc_pool;
	sb->proc_pool = p;
	sb->n_proc_pool++;
}

void spawn_pool_free(struct sandbox *sb)
{
	while (sb->proc_pool) {
		struct sandbox_proc *p = sb->proc_pool;

		sb->proc_pool = p->next;
		proc_drop(p);
	}
	sb->n_proc_pool = 0;
}

int sandbox_spawn(struct sandbox *sb, const struct sandbox_request *req,
		  struct sandbox_proc **ret, struct err *e)
{
	struct sandbox_request budget;
	struct sandbox_proc *p;
	struct proc_keep keep = { 0 };
	bool forked, grouped;
	int r;

	/* A warm instance for a driver thread on another CPU (driver.c). */
	if (sb->drv_evfd >= 0 && driver_spawn(sb, req, ret) > 0)
		return 0;
	/* A proc sandbox_proc_free() pooled, every field set anew below
	 * (its names' storage kept): no calloc per instance. */
	p = sb->proc_pool;
	if (p) {
		keep = p->keep;
		sb->proc_pool = p->next;
		sb->n_proc_pool--;
	} else if (!(p = malloc(sizeof(*p)))) {
		return err_set(e, ENOMEM, "out of memory");
	}
	*p = (struct sandbox_proc){
		.sb = sb, .pidfd = -1, .sock = -1, .sock_peer = -1, .epfd = -1,
		.bad_syscall = -1, .guard_nr = -1, .ctx_ro = -1, .timeout_ms = req->limits.timeout_ms,
		.start_ns = clock_now_ns(), .keep = keep,
	};
	p->result.status = SANDBOX_RUNNING;
	p->result.syscall = -1;
	snprintf(p->fn_name, sizeof(p->fn_name), "%s", req->fn_name ? req->fn_name : "");
	p->stage = req->stage;
	p->instance = req->instance;
	p->deadline_ns = p->start_ns + req->limits.timeout_ms * 1000000ull;
	if (!req->image || req->image->fd < 0) {
		r = err_set(e, EINVAL, "no function image");
		goto fail;
	}
	/* The spawner thread exists only in the process that made it. */
	if (sandbox_fork_gen() != sb->fork_gen) {
		r = err_set(e, ECHILD,
			    "a sandbox cannot be used after fork(): create one in this process");
		goto fail;
	}
	if (req->n_outputs && (r = copy_output_names(p, req)) < 0) {
		r = err_set(e, -r, "out of memory");
		goto fail;
	}
	/* The declared memory is the whole budget: the context gets what the
	 * image's writable segments leave of it. */
	r = elf_image_check_memory(req->image, req->limits.memory, e);
	if (r < 0) {
		err_prefix(e, r, "function image");
		goto fail;
	}
	budget = *req;
	budget.limits.memory -= elf_image_writable_size(req->image);
	req = &budget;
	/* Warm unless the job says fresh: the function may end through the
	 * trampoline and its worker serve the next instance. An idle worker
	 * of the function gives the instance its (zeroed) context. */
	p->warm = sb->warm && !req->fresh;
	/* A warm instance's small items go into an input area past its
	 * context (plan.h), and a fresh one's too: no copy buffer made,
	 * reopened read-only, sent and mapped per instance. */
	p->area = p->warm;
	if (p->warm) {
		p->image = elf_image_ref((struct elf_image *)req->image);
		p->owner = req->owner;
		warm_take(p, req, ALIGN_UP(req->limits.memory, CTX_PAGE));
	}
	/* A fresh instance: a free context of its zygote's pool (zygote.c),
	 * else a zeroed one a reaped instance left, or a new one, each with
	 * its input area (reuse.c). */
	if (!p->warm) {
		uint64_t size = ALIGN_UP(req->limits.memory, CTX_PAGE);

		p->area = zygote_take_ctx(p, req, size) ||
			  reuse_take_ctx(p, size);
	}
	r = context_new(req, p, e);
	if (r < 0)
		goto fail;
	if (p->warm) {
		r = warm_prepare(p);
		if (r < 0) {
			r = err_set(e, -r, "cannot write the context");
			goto fail;
		}
		r = warm_start(p, req, e);
		if (r < 0)
			goto fail;
		if (r > 0) {
			/* Its epoll set, with its pidfd and the listener. */
			*ret = p;
			return 0;
		}
	}
	/* A fresh worker forked by the function's zygote from its pooled
	 * context (zygote.c); else the plan goes to the pair a reaped
	 * instance left, drained, or a new one. pith keeps the worker's end
	 * too, to reuse the pair (reuse_release_sock()). */
	r = p->warm ? 0 : zygote_fork(p);
	if (r < 0) {
		r = err_errno(e, -r, "cannot fork the worker");
		goto fail;
	}
	forked = r > 0;
	grouped = r == 2;
	if (!forked) {
		r = reuse_take_sock(p, e);
		if (r < 0)
			goto fail;
		r = send_plan(p, req, p->sock, e);
		if (r < 0)
			goto fail;
	}
	/* Known before the worker exists, so that its notifications find it. */
	p->next = sb->procs;
	if (p->next)
		p->next->pprev = &p->next;
	p->pprev = &sb->procs;
	sb->procs = p;
	r = forked ? 0 : spawner_start_worker(p, p->sock_peer, e);
	if (r < 0)
		goto fail;
	if (p->warm)
		sb->warm_started++;
	/* Named for the guard's reports (the guard arms and kills it by
	 * its own call, named or not: guard.bpf.c); a zygote's child when
	 * its pid is read (zygote.c). */
	if (sb->guard && p->pid > 0)
		guard_worker_add(sb->guard, p->pid,
				 req->fn_name ? req->fn_name : "", req->stage,
				 req->instance);
	/* Not the socket: its messages are read when the worker ends, so a
	 * normal instance wakes pith once. */
	if (p->warm && (r = spawn_proc_epoll(p, e)) < 0)
		goto fail;
	/* Its exit: a zygote's child is heard by its zygote's group
	 * (grouped) or has its own request on the sandbox's ring (reap.c),
	 * else (no such request here) it gets a pidfd now; a worker of the
	 * spawner has one. */
	if (!grouped && (r = reap_watch_exit(p)) < 0) {
		r = err_errno(e, -r, "cannot watch the worker's exit");
		goto fail;
	}
	*ret = p;
	return 0;
fail:
	sandbox_proc_free(p);
	return r;
}
