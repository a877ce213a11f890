// SPDX-License-Identifier: MIT
/*
 * Drivers: warm instances run round trips on a second CPU (issue 10). A
 * driver is a thread pinned to one CPU that owns a sandbox of its own (its
 * spawner, seccomp listener, worker cgroup leaf nested in the engine's
 * and pool of idle warm workers, all made from that thread, so its
 * workers run on its CPU; the engine's eBPF guard covers its leaf, one
 * program for the run) and does the whole round trip of its workers there: the park's
 * RECV, the collection, the reset, the next instance's context and the
 * answer. The engine's thread hands it starts through a queue (no wake-up
 * while the driver has instances running: the next park wakes it) and
 * takes completions back in batches (one eventfd write while the engine
 * has not yet read the last, registered in the sandbox's sandbox_fd()).
 *
 * To the engine a driver's instance is a proxy proc (p->dj): it steps,
 * kills and frees it through the usual calls; the driver's own proc never
 * leaves the driver's thread. One driver unless the sandbox's options say
 * no_drivers (pithd) or PITH_DRIVERS=N asks for N (0: none), and only if
 * pith may use more CPUs than N; only warm instances whose items are all
 * copied into the input area (nothing mapped, so the driver shares no
 * lazily made state of an input buffer with the engine's thread: their
 * mappings are made by the engine before the start is queued), of a
 * function of which DRIVER_WARMUP warm instances ran and recent ones, on
 * either thread, under DRIVER_SHORT_NS (opts.drive_all: any), and
 * only while the engine's own sandbox has DRIVER_OWN instances running
 * (with -j 1 nothing is handed over).
 *
 * Lanes (by default; PITH_LANES=0: none): fresh instances too, each to
 * the lane with the fewest (the engine's thread or a driver, a driver's
 * counting SANDBOX_LANE_QUEUE queued as none: it runs DRIVER_FRESH_AHEAD
 * and starts the queued ones itself as they end, turn()),
 * forked by the driver's own zygotes on its CPU; the engine's spawner and
 * zygotes are then confined to the engine's CPUs (place_lane()), so that
 * each lane's wake-ups stay on its CPU (architecture.md, "Threads").
 * Started ahead by the engine (sandbox_lanes_start()), a driver takes
 * instances once its sandbox is made; until then the engine's lane runs
 * them, and waits for the driver only when it holds DRIVER_FRESH_AHEAD.
 */
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <unistd.h>

#include "lib/clock.h"
#include "lib/macro.h"
#include "lib/probe.h"
#include "sandbox/internal.h"
#include "sandbox/plan.h"

#define DRIVER_AHEAD 2		/* warm instances a driver runs at once */
#define DRIVER_OWN 2		/* the engine thread's own, first */
/* Fresh instances a lane holds at once: its zygote's pooled contexts (one
 * more is exec'd the slow way). At two, the driver ran dry after each
 * instance and waited for the engine's thread, which collected each
 * completion and woke it again for the next: a round trip of wake-ups
 * across CPUs per instance; at eight its next starts are queued on its
 * zygote as its workers exit (benchmarks/lanes.md, "Lanes that pay (round 10,
 * branch freshloop)"). */
#define DRIVER_FRESH_AHEAD PLAN_SLOTS
/* Longer functions stay on the engine's thread: it keeps up with them,
 * and a driver only adds its CPU. A run is from the answer to the park,
 * as the engine's thread sees it: a no-op's ~50 us are mostly its turn
 * behind the others on the engine's CPU; the thesis' parse takes ~230
 * us, and driven it cost 13% more CPU, no faster (benchmarks/rounds.md, "End of
 * round 7"). */
#define DRIVER_SHORT_NS 100000
/* Runs of a function seen before any goes to a driver: starting one costs
 * a sandbox (a few ms of CPU, MiBs), worth it only for many instances. */
#define DRIVER_WARMUP 64

/* A driven instance: the engine's proxy proc and the copy of its request.
 * Freed by the engine (driver_proxy_free()), it goes to its sandbox's
 * list (sb->drv_jobs) for the next hand-over, its arrays and sets kept:
 * no malloc or free per driven instance but the items' own. */
struct drv_job {
	struct drv_job *next;		/* the queue, or sb->drv_jobs */
	struct driver *d;
	struct sandbox_proc proxy;	/* the engine's (p->dj == this) */
	struct sandbox_request req;	/* a copy: the caller may free its
					   own once sandbox_spawn() returns */
	struct set **in;		/* req's inputs, copied (kept, cleared) */
	size_t n_in, cap_in;		/* sets made; in[]'s size */
	const char **strs;		/* outputs, args, env: into chars */
	size_t cap_strs;
	char *chars;			/* their bytes, and fn_name's */
	size_t cap_chars;
	struct sandbox_proc *proc;	/* the driver's */
	struct sandbox_result res;	/* at completion */
	int step_r;
	pid_t pid;
	bool warm;
	uint32_t done, kill;		/* atomics */
};

struct driver {
	struct sandbox *parent, *sb;
	int cpu;
	pthread_t thread;
	int wake;			/* eventfd: a start, a kill, stop */
	int epfd;			/* wake, its sandbox's fd, listener */
	bool ring;			/* waits in its exit ring instead
					   (driver_ring()) */
	pthread_mutex_t qlock;		/* the queue */
	struct drv_job *head, **tail;
	pthread_mutex_t sblock;		/* sb: the driver's steps, or the
					   engine's hold/release/flush */
	uint32_t sleeping, stop;	/* atomics */
	unsigned outstanding;		/* engine's: handed, not freed */
	struct drv_job *active[DRIVER_AHEAD + DRIVER_FRESH_AHEAD +
			      SANDBOX_LANE_QUEUE];
	unsigned n_active;
	struct drv_job *pend, **pend_tail; /* the driver's: fresh ones
					   waiting for a slot (turn()) */
	uint64_t n_done;		/* instances completed, for stats */
	int ready;			/* atomic: 1 started, -errno
					   failed, 0 starting */
	bool adopted;			/* engine's: held as its sandbox,
					   handed instances */
	pthread_mutex_t rlock;
	pthread_cond_t rcond;
};

static __thread bool in_driver;

static void job_free(struct drv_job *j);

#define LOAD(x) __atomic_load_n(&(x), __ATOMIC_ACQUIRE)
#define STORE(x, v) __atomic_store_n(&(x), (v), __ATOMIC_RELEASE)

static void wake(int fd)
{
	uint64_t one = 1;

	(void)!write(fd, &one, sizeof(one));
}

/* The eventfds that wake a thread (a driver's d->wake, the engine's
 * drv_evfd) are watched edge-triggered: each write is one event, and the
 * counter is never read back (a read per wake-up was one system call more
 * for each; it reaches its limit, 2^64 - 2, never). */
static int epoll_edge(int epfd, int fd, uint64_t data)
{
	struct epoll_event ev = { .events = EPOLLIN | EPOLLET, .data.u64 = data };

	return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

/* The driver's job is over: its result moves to the job, its proc is
 * freed here (its worker back to the driver's pool), and the engine is
 * told, once until it has read the completions. */
static void complete(struct driver *d, struct drv_job *j, int r)
{
	struct sandbox *parent = d->parent;

	if (j->proc) {
		j->res = j->proc->result;
		j->proc->result.outputs = NULL;
		j->proc->result.n_outputs = 0;
		j->pid = j->proc->pid;
		j->warm = j->proc->reused;
		j->proc = sandbox_proc_free(j->proc);
	}
	j->step_r = r < 0 ? r : 0;
	d->n_done++;
	__atomic_store_n(&j->done, 1, __ATOMIC_SEQ_CST);
	if (!__atomic_exchange_n(&parent->drv_signalled, 1, __ATOMIC_SEQ_CST))
		wake(parent->drv_evfd);
}

/* A job killed while queued starts too, and is killed at once (turn()):
 * it ends as one killed that early on the engine's thread does, with
 * the same result (lane_test: a kill amid a full lane). */
static void start(struct driver *d, struct drv_job *j)
{
	struct err e = { { 0 } };

	if (sandbox_spawn(d->sb, &j->req, &j->proc, &e) < 0) {
		j->proc = NULL;
		j->res = (struct sandbox_result){ .status = SANDBOX_FAILED,
						  .syscall = -1,
						  .probe_reason = PROBE_REASON_SPAWN };
		snprintf(j->res.reason, sizeof(j->res.reason), "%s", e.msg);
		complete(d, j, 0);
		return;
	}
	/* The engine's inst_spawned for a driven instance: here, where its
	 * worker is known (after warm_start()'s inst_started, as on the
	 * engine's own warm path). */
	PROBE_INST_SPAWNED(j->req.job, j->req.stage, j->req.instance,
			   j->req.fn_name ? j->req.fn_name : "", j->proc->pid,
			   j->proc->reused);
	d->active[d->n_active++] = j;
}

/* A fresh job of the driver's (its sandbox's fresh path, a zygote's
 * slot). */
static bool job_fresh(const struct driver *d, const struct drv_job *j)
{
	return j->req.fresh || !d->sb->warm;
}

/* Start j, or refuse it when the active table is full (cannot happen:
 * the engine hands at most what it holds; refused rather than lost). */
static void start_or_refuse(struct driver *d, struct drv_job *j,
			    uint64_t *at)
{
	if (d->n_active < ARRAY_SIZE(d->active)) {
		start(d, j);
		if (d->n_active && d->active[d->n_active - 1] == j) {
			/* Its exit wakes this thread. */
			if (LOAD(j->kill))
				sandbox_proc_kill(j->proc);
			*at = MIN(*at, sandbox_proc_deadline_ns(j->proc));
		}
		return;
	}
	j->res = (struct sandbox_result){ .status = SANDBOX_FAILED,
					  .syscall = -1,
					  .probe_reason = PROBE_REASON_SPAWN };
	snprintf(j->res.reason, sizeof(j->res.reason), "driver full");
	complete(d, j, 0);
}

/*
 * Step what its sandbox has, start what the queue has; the earliest
 * deadline of its running instances, or UINT64_MAX. A fresh job starts
 * while fewer than DRIVER_FRESH_AHEAD run (its zygote's slots); the rest
 * wait in d->pend, in order, and start here as workers exit, without the
 * engine's thread: the lane keeps running while that thread takes its
 * turn among its own lane's workers (benchmarks/lanes.md, round 15). A
 * killed one starts at once and is killed (its end as on the engine's
 * thread).
 */
static uint64_t turn(struct driver *d)
{
	uint64_t at = UINT64_MAX, now = clock_now_ns();
	struct drv_job *q, **pp;

	pthread_mutex_lock(&d->qlock);
	q = d->head;
	d->head = NULL;
	d->tail = &d->head;
	pthread_mutex_unlock(&d->qlock);
	for (unsigned i = 0; i < d->n_active;) {
		struct drv_job *j = d->active[i];
		int r = 0;

		if (LOAD(j->kill))
			sandbox_proc_kill(j->proc);
		if (sandbox_proc_pending(j->proc) ||
		    now >= sandbox_proc_deadline_ns(j->proc))
			r = sandbox_proc_step_polled(j->proc);
		if (r != 0) {
			d->active[i] = d->active[--d->n_active];
			complete(d, j, r);
			continue;
		}
		at = MIN(at, sandbox_proc_deadline_ns(j->proc));
		i++;
	}
	*d->pend_tail = q;
	while (*d->pend_tail)
		d->pend_tail = &(*d->pend_tail)->next;
	for (pp = &d->pend; *pp;) {
		struct drv_job *j = *pp;

		if (job_fresh(d, j) && d->n_active >= DRIVER_FRESH_AHEAD &&
		    !LOAD(j->kill)) {
			pp = &j->next;
			continue;
		}
		*pp = j->next;
		if (d->pend_tail == &j->next)
			d->pend_tail = pp;
		j->next = NULL;
		start_or_refuse(d, j, &at);
	}
	return at;
}

/* PITH_WARM_STATS: what the driver's thread did, as it ends. */
static void stats(const struct driver *d)
{
	struct rusage ru;

	if (getrusage(RUSAGE_THREAD, &ru) < 0)
		return;
	fprintf(stderr,
		"pith: driver on CPU %d: %llu instances (%llu forked by a zygote), %ld us of CPU, %ld waits, %ld preemptions\n",
		d->cpu, (unsigned long long)d->n_done,
		(unsigned long long)d->sb->zygote_forks,
		(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000L +
			ru.ru_utime.tv_usec + ru.ru_stime.tv_usec,
		ru.ru_nvcsw, ru.ru_nivcsw);
}

enum { DRV_EV_WAKE = 1, DRV_EV_EXIT, DRV_EV_NOTIFY, DRV_EV_REAP };

static int epoll_in(int epfd, int fd, uint32_t tag)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u32 = tag };

	return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

static int driver_epoll(struct driver *d)
{
	int fd, r;

	d->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (d->epfd < 0)
		return -errno;
	r = epoll_edge(d->epfd, d->wake, DRV_EV_WAKE);
	if (r >= 0)
		r = epoll_in(d->epfd, sandbox_fd(d->sb), DRV_EV_EXIT);
	if (r >= 0 && sandbox_listener_fd(d->sb) >= 0)
		r = epoll_in(d->epfd, sandbox_listener_fd(d->sb), DRV_EV_NOTIFY);
	/* Its exit ring in this set, out of its sandbox's (one epoll hop
	 * and one epoll_wait() less per wake-up); without one, exits come
	 * through the sandbox's set. */
	if (r >= 0 && (fd = sandbox_reap_own(d->sb, true)) >= 0 &&
	    (r = epoll_in(d->epfd, fd, DRV_EV_REAP)) < 0)
		sandbox_reap_own(d->sb, false);
	return r;
}

/*
 * While it runs only fresh instances, a driver waits in its sandbox's exit
 * ring instead of its epoll set (sandbox_reap_wait()): its wake-up
 * eventfd, its sandbox's set and its listener polled there too, so that a
 * worker's exit ends the wait in the one io_uring_enter() that waited,
 * where it interrupted an epoll_wait() (the request's task work) that was
 * then made again (benchmarks/lanes.md, round 13). Warm instances keep the
 * epoll set, where a park is read without a poll(2) first. false: not
 * here (PITH_DRIVER_EPOLL too); the epoll set then.
 */
static bool driver_ring(struct driver *d)
{
	int lfd = sandbox_listener_fd(d->sb);

	if (getenv("PITH_DRIVER_EPOLL") || sandbox_reap_own(d->sb, true) < 0)
		return false;
	return sandbox_reap_watch_fd(d->sb, d->wake, 1u << DRV_EV_WAKE) >= 0 &&
	       sandbox_reap_watch_fd(d->sb, sandbox_fd(d->sb),
				     1u << DRV_EV_EXIT) >= 0 &&
	       (lfd < 0 || sandbox_reap_watch_fd(d->sb, lfd,
						 1u << DRV_EV_NOTIFY) >= 0) &&
	       sandbox_reap_wait_submit(d->sb) >= 0;
}

/* A warm instance among its running ones: its park is read from the
 * epoll set. */
static bool runs_warm(const struct driver *d)
{
	for (unsigned i = 0; i < d->n_active; i++)
		if (d->active[i]->proc && d->active[i]->proc->warm)
			return true;
	return false;
}

/* Wait in the ring until at (ns, CLOCK_MONOTONIC; UINT64_MAX: none), then
 * read what came: exits, and the sandbox's set when it woke. */
static int ring_wait(struct driver *d, uint64_t at)
{
	uint64_t now = clock_now_ns();
	unsigned tags;
	int r;

	r = sandbox_reap_wait(d->sb, at == UINT64_MAX ? UINT64_MAX :
				     at <= now ? 0 : at - now);
	STORE(d->sleeping, 0);
	pthread_mutex_lock(&d->sblock);
	sandbox_poll_reap(d->sb);
	tags = sandbox_reap_wait_tags(d->sb);
	/* A forbidden call's notification (its worker killed, named): all
	 * that wait, as one tag stands for any number of them. */
	if (tags & (1u << DRV_EV_NOTIFY))
		sandbox_poll_listener_all(d->sb);
	if (tags & (1u << DRV_EV_EXIT))
		while (sandbox_poll(d->sb) >= 16) /* its ev[]'s size */
			;
	pthread_mutex_unlock(&d->sblock);
	return r;
}

static void *driver_main(void *arg)
{
	struct driver *d = arg;
	struct sandbox_opts o = d->parent->opts;
	cpu_set_t one;
	struct err e = { { 0 } };
	int r;

	CPU_ZERO(&one);
	CPU_SET(d->cpu, &one);
	r = sched_setaffinity(0, sizeof(one), &one) < 0 ? -errno : 0;
	if (r >= 0) {
		in_driver = true;
		r = sandbox_new_driver(d->parent, &o, &d->sb, &e);
	}
	/* One set to wait on, registered once: its start, its workers'
	 * exits, its listener's notifications; and the ring, where it can. */
	if (r >= 0)
		r = driver_epoll(d);
	if (r >= 0)
		d->ring = driver_ring(d);
	pthread_mutex_lock(&d->rlock);
	STORE(d->ready, r < 0 ? r : 1);
	pthread_cond_signal(&d->rcond);
	pthread_mutex_unlock(&d->rlock);
	if (r < 0)
		return NULL;
	while (!LOAD(d->stop) || d->n_active || d->pend) {
		struct epoll_event ev[4];
		bool exited = false, notified = false, reaped = false;
		uint64_t at, now;
		int ms = -1, n;

		pthread_mutex_lock(&d->sblock);
		at = turn(d);
		/* Its polls made again, the exits' requests submitted. */
		if (d->ring && sandbox_reap_wait_submit(d->sb) < 0)
			d->ring = false; /* the epoll set from now on */
		pthread_mutex_unlock(&d->sblock);
		if (!d->n_active) {
			__atomic_store_n(&d->sleeping, 1, __ATOMIC_SEQ_CST);
			if (__atomic_load_n(&d->head, __ATOMIC_SEQ_CST) ||
			    LOAD(d->stop)) {
				STORE(d->sleeping, 0);
				continue;
			}
		}
		if (d->ring && !runs_warm(d)) {
			if (ring_wait(d, at) < 0)
				d->ring = false;
			continue;
		}
		/* Interrupted by the reap ring's task work (a worker's exit
		 * completing its request: reap.c), the wait is made again at
		 * once, its exit now ready, without a turn in between. */
		do {
			now = clock_now_ns();
			if (at != UINT64_MAX)
				ms = at <= now ? 0 :
				     (int)MIN((at - now + 999999) / 1000000,
					      (uint64_t)INT32_MAX);
			n = epoll_wait(d->epfd, ev, ARRAY_SIZE(ev), ms);
		} while (n < 0 && errno == EINTR);
		STORE(d->sleeping, 0);
		if (n <= 0)
			continue;
		/* A wake-up (DRV_EV_WAKE) needs nothing but the next turn. */
		for (int i = 0; i < n; i++) {
			exited |= ev[i].data.u32 == DRV_EV_EXIT;
			notified |= ev[i].data.u32 == DRV_EV_NOTIFY;
			reaped |= ev[i].data.u32 == DRV_EV_REAP;
		}
		pthread_mutex_lock(&d->sblock);
		if (notified)
			(void)sandbox_poll_listener(d->sb, true);
		if (exited)
			(void)sandbox_poll(d->sb); /* the ring's too */
		else if (reaped)
			sandbox_poll_reap(d->sb);
		pthread_mutex_unlock(&d->sblock);
	}
	if (getenv("PITH_WARM_STATS"))
		stats(d);
	return NULL;
}

/* Decided when the sandbox is made; the threads start at the first
 * instance that would go to one (driver_launch()), or, for fresh ones,
 * when the engine sees a stage's instances waiting
 * (sandbox_lanes_start()), so that a run that never hands one over pays
 * nothing for them (a driver's sandbox loads spawner, cgroup leaf and
 * pool: a few ms of CPU). */
void driver_init(struct sandbox *sb)
{
	const char *v = secure_getenv("PITH_DRIVERS");
	cpu_set_t allowed;
	long n = v ? strtol(v, NULL, 10) : sb->opts.no_drivers ? 0 : 1;
	int ncpu;

	bool lanes;

	sb->drv_evfd = -1;
	v = secure_getenv("PITH_LANES");
	/* On unless PITH_LANES=0 (benchmarks/lanes.md, "Lanes that pay (round 10,
	 * branch freshloop)"). */
	lanes = !v || strcmp(v, "0");
	/* Warm instances need the listener (their parks); fresh ones not. */
	if (in_driver || n <= 0 ||
	    (!lanes && (!sb->warm || sb->spawner.listener < 0)) ||
	    sched_getaffinity(0, sizeof(allowed), &allowed) < 0)
		return;
	ncpu = CPU_COUNT(&allowed);
	if (ncpu < 2)
		return;
	sb->drv_evfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	/* In sandbox_fd()'s set as sandbox_events_add() would, but
	 * edge-triggered: driver_polled() reads nothing back. */
	if (sb->drv_evfd < 0 ||
	    (sb->events >= 0 &&
	     epoll_edge(sb->events, sb->drv_evfd, (uint64_t)sb->drv_evfd) < 0)) {
		sb->drv_evfd = safe_close(sb->drv_evfd);
		return;
	}
	sb->drv_want = (unsigned)MIN(n, (long)ncpu - 1);
	sb->drv_rest = allowed;
	sb->drv_fresh = lanes;
}

static void hold_one(struct sandbox *sb, void *arg)
{
	unsigned *n = arg;

	for (unsigned i = 0; i < *n; i++)
		(void)sandbox_hold(sb, NULL);
}

/* Start the threads of the drivers driver_init() decided on, without
 * waiting for their sandboxes (driver_adopt()): 0, or -errno (then none,
 * for good: the engine's thread runs every instance). */
static int driver_launch(struct sandbox *sb)
{
	cpu_set_t allowed = sb->drv_rest, rest = allowed;
	unsigned n = sb->drv_want, seen = 0;

	sb->drv_want = 0;
	sb->drivers = calloc(n, sizeof(*sb->drivers));
	if (!sb->drivers)
		goto fail;
	/* Driver i on the i-th allowed CPU from the top: the engine's
	 * thread keeps the others. */
	for (int cpu = CPU_SETSIZE - 1; cpu >= 0 && seen < n; cpu--) {
		struct driver *d;

		if (!CPU_ISSET(cpu, &allowed))
			continue;
		d = calloc(1, sizeof(*d));
		if (!d)
			goto fail;
		*d = (struct driver){ .parent = sb, .cpu = cpu, .tail = &d->head,
				      .epfd = -1 };
		d->pend_tail = &d->pend;
		pthread_mutex_init(&d->qlock, NULL);
		pthread_mutex_init(&d->sblock, NULL);
		pthread_mutex_init(&d->rlock, NULL);
		pthread_cond_init(&d->rcond, NULL);
		d->wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (d->wake < 0 ||
		    pthread_create(&d->thread, NULL, driver_main, d) != 0) {
			safe_close(d->wake);
			free(d);
			goto fail;
		}
		sb->drivers[sb->n_drivers++] = d;
		CPU_CLR(cpu, &rest);
		seen++;
	}
	sb->drv_rest = rest;
	return 0;
fail:
	driver_stop(sb);
	return -ENOMEM;
}

/* The drivers whose sandboxes are made join the engine's: held as its
 * sandbox is (its guard attached for the job), handed instances from now
 * on. With `wait`, each not yet made is waited for. The number adopted,
 * or -errno when one failed (the caller stops them all, for good). */
static int driver_adopt(struct sandbox *sb, bool wait)
{
	for (unsigned i = 0; i < sb->n_drivers; i++) {
		struct driver *d = sb->drivers[i];
		unsigned holds = sb->holds;
		int r;

		if (d->adopted)
			continue;
		if (wait) {
			pthread_mutex_lock(&d->rlock);
			while (!d->ready)
				pthread_cond_wait(&d->rcond, &d->rlock);
			pthread_mutex_unlock(&d->rlock);
		}
		r = LOAD(d->ready);
		if (r < 0)
			return r;
		if (!r)
			continue;
		pthread_mutex_lock(&d->sblock);
		hold_one(d->sb, &holds);
		pthread_mutex_unlock(&d->sblock);
		d->adopted = true;
		sb->drv_adopted++;
	}
	return (int)sb->drv_adopted;
}

void sandbox_lanes_start(struct sandbox *sb)
{
	if (in_driver || !sb->drv_fresh || sb->n_drivers || !sb->drv_want)
		return;
	sb->drv_async = true;
	(void)driver_launch(sb);
}

void driver_unpin(struct sandbox *sb)
{
	if (sb->drv_pinned && sb->drv_tid == gettid())
		(void)sched_setaffinity(0, sizeof(sb->drv_mask), &sb->drv_mask);
	sb->drv_pinned = false;
	if (sb->lane_pinned)
		place_lane(sb, NULL);
	sb->lane_pinned = false;
}

void driver_stop(struct sandbox *sb)
{
	driver_unpin(sb);
	for (unsigned i = 0; i < sb->n_drivers; i++) {
		struct driver *d = sb->drivers[i];

		STORE(d->stop, 1);
		wake(d->wake);
		pthread_join(d->thread, NULL);
		sandbox_free(d->sb);
		safe_close(d->epfd);
		safe_close(d->wake);
		free(d);
	}
	free(sb->drivers);
	sb->drivers = NULL;
	sb->drv_adopted = 0;
	while (sb->drv_jobs) {
		struct drv_job *j = sb->drv_jobs;

		sb->drv_jobs = j->next;
		job_free(j);
	}
	sb->n_drivers = 0;
	sb->drv_evfd = safe_close(sb->drv_evfd);
}

/* What the engine's thread does to the drivers' sandboxes (holds,
 * releases, the idle pool), each under its lock. */
void driver_each(struct sandbox *sb, void (*fn)(struct sandbox *, void *),
		 void *arg)
{
	for (unsigned i = 0; i < sb->n_drivers; i++) {
		struct driver *d = sb->drivers[i];

		if (!d->adopted)
			continue;
		pthread_mutex_lock(&d->sblock);
		fn(d->sb, arg);
		pthread_mutex_unlock(&d->sblock);
	}
}

/* Grow *arr to at least n elements of size sz (kept across jobs). */
static int grow(void *arr, size_t *cap, size_t n, size_t sz)
{
	void **a = arr, *na;
	size_t c = MAX(n, *cap * 2);

	if (n <= *cap)
		return 0;
	na = realloc(*a, c * sz);
	if (!na)
		return -ENOMEM;
	memset((char *)na + *cap * sz, 0, (c - *cap) * sz);
	*a = na;
	*cap = c;
	return 0;
}

/* j->req = *req with everything it points to copied into j's own arrays
 * and sets, kept from its last use and emptied then (job_clear(): a job
 * on sb->drv_jobs holds no item); its image is the proxy's reference.
 * A request the caller keeps until the proxy is freed (req->kept: the
 * engine's) is used as it is: the driver only reads it, and its items'
 * buffers are referenced atomically (buffer_ref()). 0 or -ENOMEM. */
static int job_copy(struct drv_job *j, const struct sandbox_request *req)
{
	size_t ns = req->n_outputs + req->params.n_args + req->params.n_env;
	const char *const *src[3] = { req->outputs, req->params.args,
				      req->params.env };
	size_t nsrc[3] = { req->n_outputs, req->params.n_args,
			   req->params.n_env };
	size_t bytes = 0, k = 0, at = 0;

	j->req = *req;
	if (req->kept)
		return 0;
	bytes = req->fn_name ? strlen(req->fn_name) + 1 : 0;
	j->req.inputs = NULL;
	j->req.n_inputs = 0;
	for (int g = 0; g < 3; g++)
		for (size_t i = 0; i < nsrc[g]; i++)
			bytes += strlen(src[g][i]) + 1;
	if (grow(&j->in, &j->cap_in, req->n_inputs + 1, sizeof(*j->in)) < 0 ||
	    grow(&j->strs, &j->cap_strs, ns + 1, sizeof(*j->strs)) < 0 ||
	    grow(&j->chars, &j->cap_chars, bytes + 1, 1) < 0)
		return -ENOMEM;
	for (size_t i = 0; i < req->n_inputs; i++) {
		const struct set *s = req->inputs[i];
		struct set *c = i < j->n_in ? j->in[i] : NULL;

		if (c && (!s || strcmp(c->name, s->name)))
			c = set_free(c);
		if (s && !c && !(c = set_new(s->name)))
			return -ENOMEM;
		j->in[i] = c;
		j->n_in = MAX(j->n_in, i + 1);
		for (size_t t = 0; s && t < s->n; t++)
			if (set_add_item(c, &s->items[t]) < 0)
				return -ENOMEM;
	}
	j->req.inputs = (struct set *const *)j->in;
	j->req.n_inputs = req->n_inputs;
	for (int g = 0; g < 3; g++) {
		const char **dst = &j->strs[k];

		for (size_t i = 0; i < nsrc[g]; i++) {
			size_t l = strlen(src[g][i]) + 1;

			memcpy(j->chars + at, src[g][i], l);
			j->strs[k++] = j->chars + at;
			at += l;
		}
		if (g == 0)
			j->req.outputs = dst;
		else if (g == 1)
			j->req.params.args = dst;
		else
			j->req.params.env = dst;
	}
	if (req->fn_name) {
		memcpy(j->chars + at, req->fn_name, strlen(req->fn_name) + 1);
		j->req.fn_name = j->chars + at;
	}
	return 0;
}

/* Its copies let go (the items' buffers), its arrays kept. */
static void job_clear(struct drv_job *j)
{
	for (size_t i = 0; i < j->n_in; i++)
		if (j->in[i])
			set_clear(j->in[i]);
}

static void job_free(struct drv_job *j)
{
	if (!j)
		return;
	for (size_t i = 0; i < j->n_in; i++)
		set_free(j->in[i]);
	free(j->in);
	free(j->strs);
	free(j->chars);
	free(j);
}

static bool items_copied(const struct sandbox_request *req)
{
	for (size_t k = 0; k < req->n_inputs; k++) {
		const struct set *s = req->inputs[k];

		for (size_t i = 0; s && i < s->n; i++) {
			const void *data;

			if (s->items[i].len >= PITH_PAGE_ITEM_MIN ||
			    buffer_data(s->items[i].buf, &data) < 0)
				return false;
		}
	}
	return true;
}

static unsigned own_running(const struct sandbox *sb)
{
	unsigned n = 0;

	for (const struct sandbox_proc *q = sb->procs; q; q = q->next)
		n++;
	return n;
}

static struct drv_run *run_of(struct sandbox *sb, const struct elf_image *img)
{
	for (unsigned i = 0; i < ARRAY_SIZE(sb->drv_runs); i++)
		if (sb->drv_runs[i].image == img)
			return &sb->drv_runs[i];
	return NULL;
}

int driver_cpu(struct sandbox *sb, unsigned i)
{
	return i < sb->n_drivers ? sb->drivers[i]->cpu : -1;
}

/* Fresh instances of `memory` bytes each a lane runs at once: its
 * zygote's slots, as far as SANDBOX_LANE_MEMORY allows, at least one. */
static unsigned lane_running(uint64_t memory)
{
	uint64_t per = DRIVER_FRESH_AHEAD;

	if (memory)
		per = MAX(MIN(per, SANDBOX_LANE_MEMORY / memory), 1);
	return (unsigned)per;
}

/* And those a driver's lane holds queued beyond them (turn()): only
 * while its running ones fill its zygote's slots (small functions; a
 * queued one holds its inputs, not a context). */
static unsigned lane_queued(uint64_t memory)
{
	return lane_running(memory) == DRIVER_FRESH_AHEAD ? SANDBOX_LANE_QUEUE
							  : 0;
}

uint64_t driver_zygote_forks(struct sandbox *sb, unsigned i)
{
	return i < sb->n_drivers && LOAD(sb->drivers[i]->ready) > 0
		       ? __atomic_load_n(&sb->drivers[i]->sb->zygote_forks,
					 __ATOMIC_ACQUIRE)
		       : 0;
}

int driver_spawn(struct sandbox *sb, const struct sandbox_request *req,
		 struct sandbox_proc **ret)
{
	struct driver *d = NULL;
	const struct drv_run *run;
	struct sandbox_proc *p;
	struct drv_job *j;
	unsigned own, queued;
	bool sleeping;
	/* Fresh: asked for, or every instance when warm workers are off. */
	bool fresh = req->fresh || !sb->warm;

	if ((!sb->n_drivers && !sb->drv_want) || (fresh && !sb->drv_fresh) ||
	    !req->image)
		return 0;
	/* Only a function whose recent warm instances (on either thread)
	 * were short: the engine's thread answers each of them on its own
	 * CPU, and the round trip is most of their cost. A fresh instance
	 * (a lane per CPU) goes to the lane with the fewest instances, the
	 * engine's own when no driver has fewer: a lone one (-j 1) never
	 * leaves the engine's thread. */
	run = run_of(sb, req->image);
	own = own_running(sb);
	if ((!sb->opts.drive_all && !fresh &&
	     (!run || run->n < DRIVER_WARMUP || run->ns >= DRIVER_SHORT_NS)) ||
	    own < (fresh ? 1 : DRIVER_OWN) || !items_copied(req))
		return 0;
	if (!sb->n_drivers && driver_launch(sb) < 0)
		return 0;
	/* Started ahead by the engine (sandbox_lanes_start()), a driver
	 * still making its sandbox is waited for only once the engine's own
	 * lane is full; started here, at a first hand-over, it is. */
	if (sb->drv_adopted < sb->n_drivers &&
	    driver_adopt(sb, !sb->drv_async || !fresh ||
				     own >= DRIVER_FRESH_AHEAD) < 0) {
		driver_stop(sb);
		return 0;
	}
	/* A driver's lane holds its running ones and `queued` more (the
	 * engine's lane: its running ones alone), so it takes one while it
	 * holds fewer than the engine's own + queued. */
	queued = fresh ? lane_queued(req->limits.memory) : 0;
	for (unsigned i = 0; i < sb->n_drivers; i++)
		if (sb->drivers[i]->adopted && sb->drivers[i]->outstanding <
			    (fresh ? DRIVER_FRESH_AHEAD + queued : DRIVER_AHEAD) &&
		    (!d || sb->drivers[i]->outstanding < d->outstanding))
			d = sb->drivers[i];
	if (!d || (fresh && d->outstanding >= own + queued))
		return 0;
	/* The engine's thread (and the workers its answers wake beside it)
	 * stays off the drivers' CPUs while it hands them instances: on one
	 * of theirs it would take turns with a driver while a CPU of its own
	 * idles. Given back when the job ends (driver_unpin()). */
	if (!sb->drv_pinned && sb->spawner.pinner)
		/* A lone instance's pin of this thread (place.c) ends first:
		 * the mask given back at the job's end is then the thread's
		 * own, not that pin's one CPU. */
		place_unpin_caller(sb->spawner.pinner);
	if (!sb->drv_pinned &&
	    sched_getaffinity(0, sizeof(sb->drv_mask), &sb->drv_mask) == 0 &&
	    sched_setaffinity(0, sizeof(sb->drv_rest), &sb->drv_rest) == 0) {
		sb->drv_pinned = true;
		sb->drv_tid = gettid();
	}
	/* The engine's lane: its spawner, zygotes and their workers join
	 * its thread on the CPUs without a driver (a driver's were made on
	 * its CPU). Unconfined, they ran where the scheduler put them, and
	 * every wake-up between them and this thread or a driver crossed
	 * CPUs: benchmarks/fresh.md, "A lane per CPU for fresh instances
	 * (round 9, branch freshlanes)". */
	if (fresh && !sb->lane_pinned) {
		place_lane(sb, &sb->drv_rest);
		sb->lane_pinned = true;
	}
	/* A job the engine freed, its arrays and sets kept; else a new one. */
	j = sb->drv_jobs ? sb->drv_jobs : calloc(1, sizeof(*j));
	if (!j)
		return 0;
	if (j == sb->drv_jobs)
		sb->drv_jobs = j->next;
	j->next = NULL;
	j->proc = NULL;
	j->step_r = 0;
	j->pid = 0;
	j->warm = false;
	j->done = j->kill = 0;
	if (job_copy(j, req) < 0) {
		job_free(j);
		return 0;
	}
	p = &j->proxy;
	*p = (struct sandbox_proc){
		.sb = sb, .pidfd = -1, .sock = -1, .sock_peer = -1, .epfd = -1,
		.bad_syscall = -1, .guard_nr = -1, .ctx_ro = -1,
		.start_ns = clock_now_ns(), .dj = j,
		/* The driver enforces it; the engine's timer need not. */
		.deadline_ns = UINT64_MAX / 2,
		.image = elf_image_ref((struct elf_image *)req->image),
	};
	p->result.status = SANDBOX_RUNNING;
	p->result.syscall = -1;
	j->d = d;
	d->outstanding++;
	pthread_mutex_lock(&d->qlock);
	*d->tail = j;
	d->tail = &j->next;
	pthread_mutex_unlock(&d->qlock);
	/* Woken once per sleep: the flag taken as it is woken, so that the
	 * next hand-overs before it runs again write nothing (as a
	 * zygote's wake-up, zygote_ring_post(); ~0.5 writes per fresh
	 * instance on the engine's thread in round 13). Its store of the
	 * flag precedes its look at the queue, the queue's change this
	 * exchange: one of the two sees the other. */
	sleeping = __atomic_load_n(&d->sleeping, __ATOMIC_SEQ_CST) &&
		   __atomic_exchange_n(&d->sleeping, 0, __ATOMIC_SEQ_CST);
	if (sleeping) {
		wake(d->wake);
		sb->drv_wakes++;
	}
	*ret = p;
	return 1;
}

unsigned sandbox_lane_slots(const struct sandbox *sb, bool fresh,
			    uint64_t memory)
{
	unsigned per = lane_running(memory), drivers;

	if (!sb->drv_fresh || (!fresh && sb->warm) ||
	    (!sb->n_drivers && !sb->drv_want))
		return 0;
	/* Before they start, the drivers to come; then those adopted (the
	 * engine's lane alone while its driver makes its sandbox). Each
	 * driver's lane holds its queue too. */
	drivers = sb->n_drivers ? sb->drv_adopted : sb->drv_want;
	return per + drivers * (per + lane_queued(memory));
}

/* The drivers' eventfd out of sandbox_fd()'s set, or back (sandbox.h). */
int sandbox_done_own(struct sandbox *sb, bool own)
{
	int r;

	if (sb->drv_evfd < 0 || sb->events < 0)
		return -ENOENT;
	if (own == sb->drv_own)
		return sb->drv_evfd;
	if (own)
		r = epoll_ctl(sb->events, EPOLL_CTL_DEL, sb->drv_evfd, NULL) < 0
			    ? -errno
			    : 0;
	else
		r = epoll_edge(sb->events, sb->drv_evfd,
			       (uint64_t)sb->drv_evfd);
	if (r < 0)
		return r;
	sb->drv_own = own;
	return sb->drv_evfd;
}

void sandbox_poll_done(struct sandbox *sb)
{
	driver_polled(sb);
}

/* The engine read sandbox_fd(): completions may be there; from now on a
 * new one writes the eventfd again. */
void driver_polled(struct sandbox *sb)
{
	/* Its event is taken (edge-triggered: nothing to read back); a
	 * completion from now on writes again, and one before this store
	 * is seen by the steps that follow (its done flag is set first). */
	__atomic_store_n(&sb->drv_signalled, 0, __ATOMIC_SEQ_CST);
}

bool driver_proxy_done(const struct sandbox_proc *p)
{
	return __atomic_load_n(&p->dj->done, __ATOMIC_ACQUIRE);
}

int driver_proxy_step(struct sandbox_proc *p)
{
	struct drv_job *j = p->dj;

	if (p->finished)
		return 1;
	if (!driver_proxy_done(p))
		return 0;
	p->finished = true;
	p->result = j->res;
	p->pid = j->pid;
	p->reused = j->warm;
	/* A new worker's first instance is not typical. */
	if (j->warm && p->result.status == SANDBOX_OK)
		driver_note_run(p->sb, p->image, p->result.run_ns);
	return j->step_r ? j->step_r : 1;
}

void driver_note_run(struct sandbox *sb, const struct elf_image *img,
		     uint64_t run_ns)
{
	struct drv_run *run = run_of(sb, img);

	if (!run) {
		run = &sb->drv_runs[sb->drv_run_next++ %
				    ARRAY_SIZE(sb->drv_runs)];
		/* Held: a freed image's address may be a new one's. */
		elf_image_free(run->image);
		*run = (struct drv_run){
			.image = elf_image_ref((struct elf_image *)img),
			.ns = run_ns,
		};
	} else {
		run->ns = (run->ns * 7 + run_ns) / 8;
	}
	run->n++;
}

/* The job is over (its last hold ends, or the sandbox): the run table's
 * images are let go, and the next job's functions are seen anew. */
void driver_forget_runs(struct sandbox *sb)
{
	for (unsigned i = 0; i < ARRAY_SIZE(sb->drv_runs); i++)
		sb->drv_runs[i].image = elf_image_free(sb->drv_runs[i].image);
	memset(sb->drv_runs, 0, sizeof(sb->drv_runs));
	sb->drv_run_next = 0;
}

void driver_proxy_kill(struct sandbox_proc *p)
{
	STORE(p->dj->kill, 1);
	wake(p->dj->d->wake);
}

/* sandbox_proc_free() of a proxy, before the engine frees the request's
 * inputs: the driver is done with the job (a running one is killed
 * first); the proxy and its job go back to the sandbox's list. */
void driver_proxy_free(struct sandbox_proc *p)
{
	struct drv_job *j = p->dj;
	struct sandbox *sb = p->sb;

	if (!driver_proxy_done(p)) {
		driver_proxy_kill(p);
		while (!driver_proxy_done(p))
			usleep(50);
	}
	j->d->outstanding--;
	/* The outputs: the proxy's once stepped (unless taken), else still
	 * the job's. */
	if (!p->finished)
		p->result = j->res;
	for (size_t i = 0; i < p->result.n_outputs; i++)
		set_free(p->result.outputs[i]);
	free(p->result.outputs);
	p->image = elf_image_free(p->image);
	p->dj = NULL;
	job_clear(j);
	j->d = NULL;
	j->next = sb->drv_jobs;
	sb->drv_jobs = j;
}
