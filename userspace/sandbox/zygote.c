// SPDX-License-Identifier: MIT
/*
 * Zygotes: a fresh worker ("fresh": true, or warm workers off) forked from
 * a pre-loaded pith-worker instead of exec'd. Per (image, context size,
 * owner), from the second fresh instance on, one zygote: a worker started
 * by the spawner like any other, whose plan says PLAN_F_ZYGOTE; its loader
 * maps the image, the trampoline and the fault handlers once, and holds
 * the descriptors of a pool of PLAN_SLOTS contexts (each a memfd of its
 * own: context, input area, control page), of which it maps none. pith
 * writes an instance's descriptor and small items into a free slot
 * through its own mapping, posts a fork request on the ring (shared
 * memory: struct plan_ring) and reads the child's pid there; the child
 * (pith's: CLONE_PARENT) maps only its slot and closes every descriptor
 * before the function (worker/main.c, zygote_fork()). Each side sleeps on a
 * futex only when the other has nothing for it. No message, no descriptor
 * passed per instance. An instance the pool cannot serve (an input item
 * with pages of its own) is exec'd as before, in its slot's context.
 * Zygotes end with the job (sandbox_release(), sandbox_end_idle(),
 * sandbox_free()). The argument is in Documentation/security.md,
 * "Zygotes".
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/pidfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lib/macro.h"
#include "lib/probe.h"
#include "sandbox/bpf_guard.h"
#include "sandbox/elf.h"
#include "sandbox/internal.h"

#define ZYGOTE_SPIN 256		/* pauses before pith sleeps on a pid */
#define ZYGOTE_WAIT_NS (20 * 1000 * 1000) /* then checks its zygote */

#define LOAD(x) __atomic_load_n(&(x), __ATOMIC_ACQUIRE)
#define STORE(x, v) __atomic_store_n(&(x), (v), __ATOMIC_RELEASE)
#define FENCE() __atomic_thread_fence(__ATOMIC_SEQ_CST)

/*
 * A pooled context: held by its zygote and, while an instance uses it, by
 * that instance's proc (refs), so that either may end first.
 */
struct zslot {
	unsigned refs;
	struct zygote *z;	/* NULL once its zygote ended */
	unsigned idx;
	struct buffer *buf;	/* context + input area + control page */
	char *map;		/* pith's read-write mapping of all of it */
	int ro;			/* its read-only descriptor */
	bool busy;		/* an instance has it */
	struct sandbox_proc *proc;	/* that instance */
	bool stale;		/* the zygote holds an old pair of descriptors:
				   replaced (PLAN_REQ_SWAP) before its next
				   fork */
};

struct zygote {
	struct elf_image *image;	/* a reference */
	uint64_t memory;		/* the context's size */
	uint32_t owner;
	unsigned seen;			/* fresh instances of its key */
	pid_t pid;
	int pidfd, sock;		/* -1: not started, or ended */
	bool failed;			/* cannot serve: spawn as before */
	struct plan_ring *ring;		/* pith's mapping */
	struct zslot *slots[PLAN_SLOTS];
	/* Its children's exits, heard by its process group (reap.c): on
	 * unless the ring cannot (then each child's pid is waited for and
	 * watched alone); the request in flight (0: none, until the child
	 * it named is reaped) and where its completion's siginfo goes. */
	bool group;
	uint64_t reap_seq;
	siginfo_t *info;
	/* Where an exited child's reap on the ring writes (reap.c,
	 * reap_child_watch_group()); reap_apart: reaped by waitid
	 * instead, for good (an inline reap once found nothing). */
	siginfo_t *rsi;
	bool reap_apart;
};

void zygote_init(struct sandbox *sb)
{
	const char *env = getenv("PITH_ZYGOTE");
	pthread_mutexattr_t a;

	sb->zygote_on = !(env && !strcmp(env, "off"));
	/* Tests: the first fresh instance of a function too. */
	sb->zygote_first = env && !strcmp(env, "always");
	/* Recursive: a completion read under it (reap_poll()) may name a
	 * zygote's child (zygote_group_exited()). */
	pthread_mutexattr_init(&a);
	pthread_mutexattr_settype(&a, PTHREAD_MUTEX_RECURSIVE);
	pthread_mutex_init(&sb->zygote_lock, &a);
	pthread_mutexattr_destroy(&a);
}

static uint64_t slot_size(uint64_t memory)
{
	return PLAN_CTRL_OFF(memory) + PLAN_CTRL_SIZE;
}

static void slot_unref(struct zslot *s)
{
	if (!s || --s->refs)
		return;
	if (s->map)
		munmap(s->map, s->buf->size);
	safe_close(s->ro);
	buffer_unref(s->buf);
	free(s);
}

/* Each child maps its slot three times (the context in two parts, the
 * input area), and each mmap of a shared file marks it accessed
 * (file_accessed()): an inode time update per instance now and then (the
 * child's report, a pwrite, moves its modification time), and the check
 * always, for a time nobody reads. pith owns the memfd, so it may set
 * O_NOATIME on its descriptors (open files the zygote and the child
 * share); where it cannot, the times stay as they were. */
static void slot_no_atime(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl >= 0)
		(void)fcntl(fd, F_SETFL, fl | O_NOATIME);
}

/* A new memfd for slot s, with pith's mapping and a read-only descriptor
 * (so that not even mprotect could make the child's mapping of the input
 * area writable: only pith writes it). */
static int slot_fill(struct zslot *s, uint64_t memory)
{
	struct buffer *b = NULL;
	void *m;
	int r, ro;

	r = buffer_new("pith-context", slot_size(memory), &b);
	if (r < 0)
		return r;
	ro = buffer_reopen_ro(b);
	if (ro < 0) {
		buffer_unref(b);
		return ro;
	}
	m = mmap(NULL, b->size, PROT_READ | PROT_WRITE, MAP_SHARED, b->fd, 0);
	if (m == MAP_FAILED) {
		r = negative_errno();
		close(ro);
		buffer_unref(b);
		return r;
	}
	slot_no_atime(b->fd);
	slot_no_atime(ro);
	/* No page of it is held until an instance writes it. */
	buffer_set_charge(b, 0);
	s->buf = b;
	s->map = m;
	s->ro = ro;
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

static int proc_pid_locked(struct sandbox_proc *p, bool wait);

/* What pith holds of an ended zygote: its socket, its ring's mapping and
 * its pooled contexts (each freed once no instance holds it either). */
static void zygote_free_held(int sock, struct plan_ring *ring,
			     struct zslot *slots[PLAN_SLOTS])
{
	safe_close(sock);
	if (ring)
		munmap(ring, PLAN_RING_SIZE);
	for (unsigned i = 0; i < PLAN_SLOTS; i++) {
		if (!slots[i])
			continue;
		slots[i]->z = NULL;
		slot_unref(slots[i]);
		slots[i] = NULL;
	}
}

/* End the zygote (pith's child: reaped here, or, with `dying`, killed and
 * left in it to be reaped later). Its children are pith's too, each
 * an instance's worker, killed and reaped with its proc; their slots stay
 * theirs until then (slot_unref()). Every request it took is a child by
 * then, whose pid each proc learns first; their exits are heard by their
 * pids from now on (the group's request ends with the zygote). */
static void zygote_end(struct zygote *z, struct sandbox *dying)
{
	struct sandbox_proc *live[PLAN_SLOTS];
	unsigned n = 0;

	for (unsigned i = 0; i < PLAN_SLOTS; i++) {
		struct sandbox_proc *q = z->slots[i] ? z->slots[i]->proc : NULL;

		if (q && z->pidfd >= 0 && proc_pid_locked(q, true) == 0 &&
		    !q->finished && !q->zreaped)
			live[n++] = q;
	}
	/* A zygote with no instance left (a job's end) is only killed
	 * here: it dies while pith goes on (its other zygotes, a driver's,
	 * at once; the outputs written), and zygote_reap_dying() reaps it
	 * before the sandbox serves another job or ends, and only then
	 * frees what pith held of it: its contexts' mappings and memfds, its
	 * ring and socket (0.1-0.15 ms a zygote, off the job's release:
	 * benchmarks/lanes.md, round 16). Its group's request, if one is in flight, completes
	 * unmatched (reap_seq 0). */
	if (dying && !n && z->pidfd >= 0 &&
	    dying->n_zygote_dying < ZYGOTE_MAX &&
	    pidfd_send_signal(z->pidfd, SIGKILL, NULL, 0) == 0) {
		struct zygote_dying *d =
			&dying->zygote_dying[dying->n_zygote_dying++];

		*d = (struct zygote_dying){ .pidfd = z->pidfd,
					    .sock = z->sock,
					    .ring = z->ring };
		for (unsigned i = 0; i < PLAN_SLOTS; i++) {
			if (z->slots[i])
				z->slots[i]->z = NULL;
			d->slots[i] = z->slots[i];
			z->slots[i] = NULL;
		}
		z->sock = -1;
		z->ring = NULL;
	} else {
		kill_reap(z->pidfd);
	}
	z->pidfd = -1;
	z->reap_seq = 0;
	for (unsigned i = 0; i < n; i++)
		if (z->group && live[i]->reap_seq == 0 &&
		    reap_watch_exit(live[i]) < 0)
			live[i]->exit_seen = true; /* step() finds out */
	zygote_free_held(z->sock, z->ring, z->slots);
	z->sock = -1;
	z->ring = NULL;
}

/* zygote_reap_dying(), under zygote_lock. */
static void reap_dying_locked(struct sandbox *sb)
{
	for (unsigned i = 0; i < sb->n_zygote_dying; i++) {
		struct zygote_dying *d = &sb->zygote_dying[i];
		siginfo_t si;

		while (waitid(P_PIDFD, (id_t)d->pidfd, &si,
			      WEXITED | __WALL) < 0 &&
		       errno == EINTR)
			;
		close(d->pidfd);
		zygote_free_held(d->sock, d->ring, d->slots);
	}
	sb->n_zygote_dying = 0;
}

void zygote_reap_dying(struct sandbox *sb)
{
	if (!sb->zygote_on)
		return;
	pthread_mutex_lock(&sb->zygote_lock);
	reap_dying_locked(sb);
	pthread_mutex_unlock(&sb->zygote_lock);
}

void zygote_flush(struct sandbox *sb)
{
	if (!sb->zygote_on)
		return;
	pthread_mutex_lock(&sb->zygote_lock);
	/* Those of an earlier flush first: room for these. */
	reap_dying_locked(sb);
	for (unsigned i = 0; i < sb->n_zygotes; i++) {
		zygote_end(&sb->zygotes[i], sb);
		elf_image_free(sb->zygotes[i].image);
	}
	free(sb->zygotes);
	sb->zygotes = NULL;
	sb->n_zygotes = 0;
	pthread_mutex_unlock(&sb->zygote_lock);
}

/* Where a zygote's group request leaves its siginfo: kept for the
 * sandbox's life (a request in flight writes there until the ring ends:
 * zygote_stop()), one per zygote; past them, one per zygote for its
 * children's reaps on the ring. */
static siginfo_t *group_info(struct sandbox *sb, unsigned i)
{
	if (!sb->zygote_info &&
	    !(sb->zygote_info = calloc(2 * ZYGOTE_MAX, sizeof(siginfo_t))))
		return NULL;
	return (siginfo_t *)sb->zygote_info + i;
}

static void watch_group(struct sandbox *sb, struct zygote *z)
{
	if (!z->group || z->reap_seq || z->pidfd < 0)
		return;
	memset(z->info, 0, sizeof(*z->info));
	if (reap_watch_group(sb, z->pid, z->info, &z->reap_seq) < 0) {
		/* Each child by its pid from now on. */
		z->group = false;
		for (unsigned i = 0; i < PLAN_SLOTS; i++) {
			struct sandbox_proc *q = z->slots[i]->proc;

			if (q && proc_pid_locked(q, true) == 0 && !q->finished &&
			    !q->zreaped && reap_watch_exit(q) < 0)
				q->exit_seen = true;
		}
	}
}

void zygote_group_exited(struct sandbox *sb, uint64_t seq, int res)
{
	struct zygote *z = NULL;
	pid_t pid;

	pthread_mutex_lock(&sb->zygote_lock);
	for (unsigned i = 0; i < sb->n_zygotes && !z; i++)
		if (sb->zygotes[i].reap_seq == seq)
			z = &sb->zygotes[i];
	if (!z)
		goto out;
	z->reap_seq = 0;
	pid = res < 0 ? 0 : z->info->si_pid;
	if (pid == z->pid || res < 0) {
		/* The zygote died (or the group is gone): its children are
		 * heard by their pids; no more forks from it. */
		zygote_end(z, NULL);
		z->failed = true;
		goto out;
	}
	for (unsigned i = 0; i < PLAN_SLOTS; i++) {
		struct sandbox_proc *q = z->slots[i]->proc;

		if (q && proc_pid_locked(q, false) == 0 && q->pid == pid &&
		    !q->zreaped && !q->finished) {
			siginfo_t si = { 0 };
			bool ring, reaped;

			/* Reaped here, by pith's own thread, which so knows
			 * that its pid is no longer the child's before it
			 * could signal it (kill_worker()); the group is
			 * watched again at once, for the next exits (until
			 * it is reaped, the request would find it again).
			 * Both in one call on the ring, the reap made and
			 * read within it (reap_child_watch_group()); else
			 * (or when that reaped nothing) by waitid, as
			 * before. */
			memset(z->rsi, 0, sizeof(*z->rsi));
			ring = !z->reap_apart &&
			       reap_child_watch_group(sb, pid, z->rsi, z->pid,
						      z->info,
						      &z->reap_seq) == 0;
			reaped = z->rsi->si_signo == SIGCHLD &&
				 z->rsi->si_pid == pid;
			if (ring && !reaped)
				z->reap_apart = true; /* not again */
			if (reaped) {
				q->zsi = *z->rsi;
				q->zreaped = true;
			} else if (waitid(P_PID, (id_t)pid, &si,
					  WEXITED | WNOHANG | __WALL) == 0 &&
				   si.si_pid == pid) {
				q->zsi = si;
				q->zreaped = true;
			}
			q->exit_seen = true;
			if (!q->zreaped)
				goto out; /* watched again once reaped */
			break;
		}
	}
	/* Nobody's now (its proc killed and reaped it meanwhile), or
	 * reaped above. */
	watch_group(sb, z);
out:
	pthread_mutex_unlock(&sb->zygote_lock);
}

void zygote_child_reaped(struct sandbox_proc *p)
{
	struct zslot *s = p->zslot;

	if (!s)
		return;
	pthread_mutex_lock(&p->sb->zygote_lock);
	if (s->z)
		watch_group(p->sb, s->z);
	pthread_mutex_unlock(&p->sb->zygote_lock);
}

pid_t zygote_pid(struct sandbox *sb, unsigned i)
{
	pid_t pid = 0;

	pthread_mutex_lock(&sb->zygote_lock);
	if (i < sb->n_zygotes && sb->zygotes[i].pidfd >= 0)
		pid = sb->zygotes[i].pid;
	pthread_mutex_unlock(&sb->zygote_lock);
	return pid;
}

void zygote_stop(struct sandbox *sb)
{
	if (!sb->zygote_on)
		return;
	zygote_flush(sb);
	zygote_reap_dying(sb);
	reap_close(sb);
	free(sb->zygote_info);
	sb->zygote_info = NULL;
	pthread_mutex_destroy(&sb->zygote_lock);
	sb->zygote_on = false;
}

/* `msg` with n fds on sock. */
static int send_fds(int sock, const void *msg, size_t len, const int *fds,
		    size_t n)
{
	char ctl[CMSG_SPACE(PLAN_FDS_PER_MSG * sizeof(int))] = { 0 };
	struct iovec iov = { (void *)msg, len };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1,
			    .msg_control = ctl,
			    .msg_controllen = CMSG_SPACE(n * sizeof(int)) };
	struct cmsghdr *c = CMSG_FIRSTHDR(&m);

	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(n * sizeof(int));
	memcpy(CMSG_DATA(c), fds, n * sizeof(int));
	return sendmsg(sock, &m, MSG_NOSIGNAL) < 0 ? negative_errno() : 0;
}

/* The zygote's plan: a fresh worker's, with no input, its image, its
 * ring and its slots' descriptors (plan.h); sent before it starts, like
 * any worker's. */
static int send_zygote_plan(const struct sandbox *sb, const struct zygote *z,
			    int ring_fd, int sock)
{
	const struct elf_image *img = z->image;
	struct ctx_layout l;
	int fds[2 + 2 * PLAN_SLOTS];
	struct plan plan;

	if (img->n_segments > PLAN_MAX_SEGMENTS)
		return -E2BIG;
	context_frame(z->memory, &l);
	plan = (struct plan){
		.magic = PLAN_MAGIC,
		.version = PLAN_VERSION,
		.n_fds = 2 + 2 * PLAN_SLOTS,
		.n_slots = PLAN_SLOTS,
		.n_segments = (uint32_t)img->n_segments,
		.loader_text = sb->loader_text.lo,
		.loader_text_len = sb->loader_text.hi - sb->loader_text.lo,
		.entry = img->entry,
		.context_size = l.size,
		.guard_off = l.guard_off,
		.altstack_off = l.altstack_off,
		.altstack_size = CTX_ALTSTACK_SIZE,
		.inputs_lo = PITH_INPUT_BASE,
		.inputs_hi = PITH_INPUT_BASE + PLAN_INPUT_AREA,
		.flags = PLAN_F_ZYGOTE,
	};
	for (size_t i = 0; i < img->n_segments; i++)
		plan.segments[i] = (struct plan_segment){
			.vaddr = img->segments[i].vaddr,
			.memsz = img->segments[i].memsz,
			.file_off = img->segments[i].file_off,
			.prot = (uint32_t)img->segments[i].prot,
		};
	fds[0] = img->fd;
	fds[1] = ring_fd;
	for (unsigned i = 0; i < PLAN_SLOTS; i++) {
		fds[2 + 2 * i] = z->slots[i]->buf->fd;
		fds[3 + 2 * i] = z->slots[i]->ro;
	}
	return send_fds(sock, &plan, sizeof(plan), fds, ARRAY_SIZE(fds));
}

static int zygote_start(struct sandbox *sb, struct zygote *z)
{
	struct err e = { 0 };
	int sv[2] = { -1, -1 }, ring_fd, r;
	void *ring;

	for (unsigned i = 0; i < PLAN_SLOTS; i++) {
		struct zslot *s = calloc(1, sizeof(*s));

		if (!s)
			return -ENOMEM;
		*s = (struct zslot){ .refs = 1, .z = z, .idx = i, .ro = -1 };
		z->slots[i] = s;
		r = slot_fill(s, z->memory);
		if (r < 0)
			return r;
	}
	ring_fd = memfd_create("pith-ring", MFD_CLOEXEC);
	if (ring_fd < 0)
		return negative_errno();
	if (ftruncate(ring_fd, PLAN_RING_SIZE) < 0 ||
	    (ring = mmap(NULL, PLAN_RING_SIZE, PROT_READ | PROT_WRITE,
			 MAP_SHARED, ring_fd, 0)) == MAP_FAILED) {
		r = negative_errno();
		close(ring_fd);
		return r;
	}
	z->ring = ring;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		close(ring_fd);
		return negative_errno();
	}
	r = send_zygote_plan(sb, z, ring_fd, sv[0]);
	close(ring_fd);
	if (r >= 0)
		r = spawner_start_zygote(sb, sv[1], &z->pid, &z->pidfd, &e);
	close(sv[1]);
	if (r < 0) {
		close(sv[0]);
		return r;
	}
	z->sock = sv[0];
	z->info = group_info(sb, (unsigned)(z - sb->zygotes));
	z->rsi = z->info ? z->info + ZYGOTE_MAX : NULL;
	z->group = z->info != NULL;
	watch_group(sb, z);
	return 0;
}

/*
 * Post one request; wake the zygote if it sleeps, once per sleep. Its
 * z_wait stays set from its wait until it runs again, which on a lane's
 * CPU is after pith's thread has posted the rest of a batch: pith takes
 * the flag as it wakes it (a compare-exchange, not a load), so that later
 * posts of the batch make no call (round 13: ~1 wake per instance on each
 * thread against ~0.2 sleeps of the zygote). No wake is lost: the zygote
 * sets z_wait to PLAN_Z_WAIT(t), then (a full fence) reads head, and
 * sleeps only while head is t (FUTEX_WAIT's own check); pith stores head
 * h + 1, then (the fence) reads z_wait. Either it sees the zygote's flag
 * or the zygote's read sees the request. A flag for t <= h is taken and
 * woken: head is no longer t, so the wait fails if it has not begun. A
 * flag for h + 1 is the zygote's next sleep, which saw this request: it
 * is left for the next post. (Taking it too, as round 14 did, lost a
 * wake: the futex wake came before that sleep's wait, and the next post
 * found no flag.) The zygote clears the flag after its wait too
 * (worker/main.c): a call saved. Returns whether it woke (tests).
 */
bool zygote_ring_post(struct plan_ring *ring, const struct plan_req *rq)
{
	uint32_t h = ring->head, f;

	ring->req[h % PLAN_RING_REQS] = *rq;
	STORE(ring->head, h + 1);
	FENCE();
	f = LOAD(ring->z_wait);
	do {
		if (!f || f == PLAN_Z_WAIT(h + 1))
			return false;
	} while (!__atomic_compare_exchange_n(&ring->z_wait, &f, 0, false,
					      __ATOMIC_SEQ_CST,
					      __ATOMIC_ACQUIRE));
	syscall(SYS_futex, &ring->head, FUTEX_WAKE, 1, NULL, NULL, 0);
	return true;
}

static void post(struct zygote *z, const struct plan_req *rq)
{
	(void)zygote_ring_post(z->ring, rq);
}

/* A slot whose descriptors went to an instance's outputs: a new memfd,
 * whose two descriptors the zygote gets before the slot's next fork. */
static int slot_swap(struct zygote *z, struct zslot *s)
{
	const uint32_t magic = PLAN_SWAP_MAGIC;
	int fds[2], r;

	r = slot_fill(s, z->memory);
	if (r < 0)
		return r;
	fds[0] = s->buf->fd;
	fds[1] = s->ro;
	r = send_fds(z->sock, &magic, sizeof(magic), fds, 2);
	if (r < 0)
		return r;
	post(z, &(struct plan_req){ .op = PLAN_REQ_SWAP, .slot = s->idx });
	s->stale = false;
	return 0;
}

bool zygote_take_ctx(struct sandbox_proc *p, const struct sandbox_request *req,
		     uint64_t size)
{
	struct sandbox *sb = p->sb;
	struct zygote *z = NULL;
	struct zslot *s = NULL;

	if (!sb->zygote_on || p->warm)
		return false;
	pthread_mutex_lock(&sb->zygote_lock);
	for (unsigned i = 0; i < sb->n_zygotes && !z; i++)
		if (sb->zygotes[i].image == req->image &&
		    sb->zygotes[i].memory == size &&
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
			.memory = size,
			.owner = req->owner,
			.pidfd = -1,
			.sock = -1,
		};
	}
	/* A function's first fresh instance starts as before: a job of one
	 * instance pays for no zygote. */
	if (z->failed || (z->seen++ == 0 && !sb->zygote_first))
		goto none;
	if (z->sock < 0 && zygote_start(sb, z) < 0)
		goto broken;
	for (unsigned i = 0; i < PLAN_SLOTS && !s; i++)
		if (!z->slots[i]->busy)
			s = z->slots[i];
	if (!s) /* every slot busy: exec'd as before */
		goto none;
	if (s->stale && slot_swap(z, s) < 0)
		goto broken;
	s->busy = true;
	s->proc = p;
	s->refs++;
	p->zslot = s;
	p->ctx = buffer_ref(s->buf);
	p->ctx_map = s->map;
	buffer_set_charge(p->ctx, size + PLAN_INPUT_AREA);
	sb->ctx_reused++;
	pthread_mutex_unlock(&sb->zygote_lock);
	return true;
broken:
	zygote_end(z, NULL);
	z->failed = true;
none:
	pthread_mutex_unlock(&sb->zygote_lock);
	return false;
}

/* Whether the zygote has exited (pith's child, not reaped yet). */
static bool zygote_dead(const struct zygote *z)
{
	siginfo_t si = { 0 };

	return waitid(P_PIDFD, (id_t)z->pidfd, &si,
		      WEXITED | WNOHANG | WNOWAIT | __WALL) < 0 ||
	       si.si_pid != 0;
}

/* The pid of the slot's child: spins briefly, then sleeps until the
 * zygote wakes it. -errno: the fork failed, or the zygote is gone. */
static int wait_pid(struct zygote *z, unsigned slot)
{
	struct plan_ring *ring = z->ring;
	const struct timespec ts = { 0, ZYGOTE_WAIT_NS };
	int32_t pid;

	for (unsigned i = 0; i < ZYGOTE_SPIN; i++) {
		if ((pid = LOAD(ring->pid[slot])))
			return pid;
		__builtin_ia32_pause();
	}
	STORE(ring->p_wait, 1);
	FENCE();
	while (!(pid = LOAD(ring->pid[slot]))) {
		if (syscall(SYS_futex, &ring->pid[slot], FUTEX_WAIT, 0, &ts,
			    NULL, 0) < 0 &&
		    errno == ETIMEDOUT && zygote_dead(z)) {
			/* A fork just before it died wrote its pid. */
			pid = LOAD(ring->pid[slot]);
			if (!pid)
				pid = -EPIPE;
			break;
		}
	}
	STORE(ring->p_wait, 0);
	return pid;
}

static int proc_pid_locked(struct sandbox_proc *p, bool wait)
{
	struct zslot *s = p->zslot;
	struct zygote *z = s ? s->z : NULL;
	int pid;

	/* Only a child asked for: the slot's word may hold an earlier
	 * child's pid otherwise. */
	if (p->pid > 0 || !s || !p->zposted)
		return 0;
	if (p->fork_failed || !z || !z->ring)
		return -ECHILD;
	pid = LOAD(z->ring->pid[s->idx]);
	if (!pid && wait)
		pid = wait_pid(z, s->idx);
	if (!pid)
		return -EAGAIN;
	if (pid < 0) {
		/* No child: the instance fails as a worker that could not
		 * start, at its next step. */
		p->fork_failed = true;
		p->exit_seen = true;
		snprintf(p->setup_error, sizeof(p->setup_error),
			 "cannot fork the worker: %s", strerror(-pid));
		return pid;
	}
	p->pid = pid;
	/* Named for the guard's reports (it arms and kills the child by
	 * the child's own calls, named or not: guard.bpf.c). */
	if (p->sb->guard)
		guard_worker_add(p->sb->guard, pid, p->fn_name, p->stage,
				 p->instance);
	return 0;
}

int zygote_proc_pid(struct sandbox_proc *p, bool wait)
{
	int r;

	if (p->pid > 0 || !p->zposted)
		return 0;
	pthread_mutex_lock(&p->sb->zygote_lock);
	r = proc_pid_locked(p, wait);
	pthread_mutex_unlock(&p->sb->zygote_lock);
	return r;
}

int zygote_fork(struct sandbox_proc *p)
{
	struct sandbox *sb = p->sb;
	struct zslot *s = p->zslot;
	struct zygote *z;
	uint64_t cpu[2];
	int pid;

	if (!s)
		return 0;
	/* Inputs with pages of their own come with descriptors: exec'd as
	 * before, in the slot's context (its read-only descriptor for the
	 * input area is the worker's third fd). */
	if (p->n_input_fds) {
		p->ctx_ro = fcntl(s->ro, F_DUPFD_CLOEXEC, 3);
		return p->ctx_ro < 0 ? negative_errno() : 0;
	}
	pthread_mutex_lock(&sb->zygote_lock);
	z = s->z;
	if (!z || z->pidfd < 0) {
		pthread_mutex_unlock(&sb->zygote_lock);
		p->ctx_ro = fcntl(s->ro, F_DUPFD_CLOEXEC, 3);
		return p->ctx_ro < 0 ? negative_errno() : 0;
	}
	spawner_cpu_limit(p, cpu);
	STORE(z->ring->pid[s->idx], 0);
	p->zpost_tsc = __builtin_ia32_rdtsc();
	p->zpost_ns = clock_now_ns();
	post(z, &(struct plan_req){ .op = PLAN_REQ_FORK, .slot = s->idx,
				    .cpu_cur = cpu[0], .cpu_max = cpu[1] });
	p->zposted = true;
	sb->zygote_forks++;
	/* Its exit is heard by its zygote's group, its pid read when it is
	 * needed: pith does not wait for the fork. */
	if (z->group) {
		pthread_mutex_unlock(&sb->zygote_lock);
		return 2;
	}
	pid = wait_pid(z, s->idx);
	if (pid < 0) {
		if (pid == -EPIPE) {
			zygote_end(z, NULL);
			z->failed = true;
		}
		pthread_mutex_unlock(&sb->zygote_lock);
		return pid;
	}
	p->pid = pid;
	pthread_mutex_unlock(&sb->zygote_lock);
	return 1;
}

/*
 * A child's hand-off time from its TSC (the child reads it with rdtsc, not
 * a call: Documentation/benchmarks/fresh-calls.md, round 16): placed
 * between the fork's request and now in proportion to the TSC's ticks
 * between the two, so no rate is assumed, and kept within them whatever
 * the TSC does (a TSC not in step across CPUs gives a wrong split, never
 * a time outside the instance's).
 */
static uint64_t handoff_of(const struct sandbox_proc *p, uint64_t tsc)
{
	uint64_t now_tsc = __builtin_ia32_rdtsc(), now = clock_now_ns();
	uint64_t t0 = p->zpost_ns, t;

	if (now <= t0 || now_tsc <= p->zpost_tsc || tsc <= p->zpost_tsc)
		t = t0;
	else if (tsc >= now_tsc)
		t = now;
	else
		t = t0 + (uint64_t)((unsigned __int128)(tsc - p->zpost_tsc) *
				    (now - t0) / (now_tsc - p->zpost_tsc));
	return MAX(t, p->start_ns);
}

void zygote_read_ctrl(struct sandbox_proc *p)
{
	const struct plan_ctrl *c;

	if (!p->zslot || !p->ctx_map || p->sock >= 0)
		return;
	c = (const struct plan_ctrl *)(p->ctx_map +
				       PLAN_CTRL_OFF(p->layout.size));
	if (LOAD(c->magic) == PLAN_CTRL_READY) {
		if (p->handed_off)
			return;
		p->handed_off = true;
		p->handoff_ns = handoff_of(p, c->tsc);
		PROBE_INST_STARTED(p->pid, p->stage, p->instance, p->fn_name,
				   p->handoff_ns, p->handoff_ns - p->start_ns);
	} else if (c->error[0] && !p->setup_error[0]) {
		snprintf(p->setup_error, sizeof(p->setup_error), "%.*s",
			 (int)sizeof(c->error), c->error);
		/* Not handed off after all (a failure after its report). */
		p->handed_off = false;
	}
}

/*
 * The instance is over and no process of it is left (sandbox_proc_free():
 * reaped, or never forked): its slot goes back to the pool with every
 * byte zero, as reuse.c does for a fresh context (the pages the instance
 * touched zeroed by stores, anything else punched out; in the input area
 * the bytes pith wrote; the control page's report), which is what a new
 * memfd reads as. When its outputs keep the memfd (sealed), the slot
 * gets a new one before its next fork (slot_swap()).
 */
void zygote_release_slot(struct sandbox_proc *p)
{
	struct sandbox *sb = p->sb;
	struct zslot *s = p->zslot;
	struct buffer *b = p->ctx;
	int64_t kept = -1;

	if (!s)
		return;
	p->zslot = NULL;
	pthread_mutex_lock(&sb->zygote_lock);
	if (s->z && b == s->buf && p->ctx_map == s->map && b->refs == 2 &&
	    !b->sealed && b->size == slot_size(p->layout.size))
		kept = warm_zero_ctx(b->fd, s->map, p->layout.size,
				     p->layout.hdr_size <= (64ull << 10) ?
					     ALIGN_UP(p->layout.hdr_size,
						      CTX_PAGE) :
					     0);
	if (kept >= 0) {
		memset(s->map + p->layout.size, 0,
		       MIN(p->area_used, (uint64_t)PLAN_INPUT_AREA));
		memset(s->map + PLAN_CTRL_OFF(p->layout.size), 0,
		       sizeof(struct plan_ctrl));
		buffer_set_charge(b, (uint64_t)kept + PLAN_INPUT_AREA);
	} else if (s->z) {
		/* Its memfd stays with the outputs (or is unusable): the
		 * zygote's descriptors of it are replaced first. */
		if (s->map && p->ctx_map == s->map)
			munmap(s->map, b->size);
		s->map = NULL;
		safe_close(s->ro);
		s->ro = -1;
		buffer_unref(s->buf);
		s->buf = NULL;
		s->stale = true;
	}
	/* pith's mapping is the slot's: not the proc's to unmap. */
	p->ctx_map = NULL;
	s->busy = false;
	s->proc = NULL;
	slot_unref(s);
	pthread_mutex_unlock(&sb->zygote_lock);
}
