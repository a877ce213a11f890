// SPDX-License-Identifier: MIT
/*
 * The ceiling of a driver per CPU (issue 10, round 7): k driver threads, each
 * pinned to its own CPU with its own worker process pinned beside it and its
 * own seccomp-notify listener, each doing park/answer round trips
 * (SECCOMP_IOCTL_NOTIF_RECV + SEND with SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP,
 * as pith's loop thread answers a parked warm worker). Prints the round trips
 * per second of the k drivers together.
 *
 *   driver-proto K N [DRIVER_WORK_NS [WORKER_WORK_NS [ENGINE_WORK_NS]]]
 *
 * With ENGINE_WORK_NS (K = 2): thread 0 is also the engine, as pith's loop
 * thread would be: it drives its own worker and, for every instance of
 * either driver, spends ENGINE_WORK_NS (the item's parse, slots, outputs);
 * it hands driver 1 its starts through a ring (up to QUEUE ahead) and takes
 * its completions back from another, polling both between its own round
 * trips (no wake-up while both are busy; driver 1 spins when its ring is
 * empty and counts it). The N instances go to whichever driver is free.
 *
 * K drivers (1 or more; driver i and its worker on CPU i mod ncpu), N round
 * trips in all (N / K each), optional busy work per round trip on the
 * driver's side and on the worker's (CPU time spun, to stand in for the
 * collection/reset/next start and for the worker's reset + function).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP
#define SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP (1UL << 0)
#endif
#ifndef SECCOMP_IOCTL_NOTIF_SET_FLAGS
#define SECCOMP_IOCTL_NOTIF_SET_FLAGS SECCOMP_IOW(4, __u64)
#endif

static long n_each, drv_ns, wrk_ns, eng_ns = -1;
#define QUEUE 4
/* The engine's rings to driver 1: starts (engine writes, driver reads) and
 * completions (driver writes, engine reads); monotonic counters. */
static struct {
	_Alignas(64) unsigned long started;	/* written by the engine */
	_Alignas(64) unsigned long taken;	/* driver 1: starts taken */
	_Alignas(64) unsigned long done;	/* driver 1: completions */
	_Alignas(64) unsigned long seen;	/* engine: completions read */
	_Alignas(64) unsigned long empty;	/* driver 1 found no start */
	long own;				/* engine's own instances */
} q;
static long n_total;
static int ncpu;

static uint64_t now_ns(clockid_t c)
{
	struct timespec ts;
	clock_gettime(c, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void spin(long ns)
{
	if (ns <= 0)
		return;
	uint64_t end = now_ns(CLOCK_THREAD_CPUTIME_ID) + (uint64_t)ns;
	while (now_ns(CLOCK_THREAD_CPUTIME_ID) < end)
		;
}

static void pin(int cpu)
{
	cpu_set_t s;
	CPU_ZERO(&s);
	CPU_SET(cpu, &s);
	if (sched_setaffinity(0, sizeof(s), &s))
		perror("sched_setaffinity"), exit(1);
}

/* The worker: installs a filter that sends getppid to the listener, hands
 * the listener over through a socketpair-less route (the parent takes it
 * with pidfd_getfd), then parks forever (each getppid is one round trip). */
static int start_worker(int cpu, pid_t *pid_out)
{
	int ready[2];
	if (pipe(ready))
		return -1;
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		pin(cpu);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		struct sock_filter f[] = {
			BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
			BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_getppid, 0, 1),
			BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_USER_NOTIF),
			BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		};
		struct sock_fprog p = { .len = 4, .filter = f };
		prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
		int lfd = (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER,
				       SECCOMP_FILTER_FLAG_NEW_LISTENER, &p);
		if (lfd < 0)
			_exit(2);
		if (write(ready[1], &lfd, sizeof(lfd)) != sizeof(lfd))
			_exit(3);
		for (;;) {
			syscall(__NR_getppid);
			spin(wrk_ns);
		}
	}
	int lfd_child;
	if (read(ready[0], &lfd_child, sizeof(lfd_child)) != sizeof(lfd_child))
		return -1;
	close(ready[0]);
	close(ready[1]);
	int pfd = (int)syscall(SYS_pidfd_open, pid, 0);
	int lfd = (int)syscall(SYS_pidfd_getfd, pfd, lfd_child, 0);
	close(pfd);
	*pid_out = pid;
	return lfd;
}

struct drv {
	int cpu, lfd;
	pid_t pid;
	pthread_t t;
	uint64_t ns;
};

static pthread_barrier_t bar;

static void rt(int lfd)
{
	struct seccomp_notif req;
	struct seccomp_notif_resp resp;

	memset(&req, 0, sizeof(req));
	if (ioctl(lfd, SECCOMP_IOCTL_NOTIF_RECV, &req))
		perror("RECV"), exit(1);
	spin(drv_ns);
	memset(&resp, 0, sizeof(resp));
	resp.id = req.id;
	if (ioctl(lfd, SECCOMP_IOCTL_NOTIF_SEND, &resp))
		perror("SEND"), exit(1);
}

#define LOAD(x) __atomic_load_n(&(x), __ATOMIC_ACQUIRE)
#define STORE(x, v) __atomic_store_n(&(x), (v), __ATOMIC_RELEASE)

/* Thread 0 with ENGINE_WORK_NS: its own round trips, and driver 1's
 * starts and completions between them. */
static void *engine(void *arg)
{
	struct drv *d = arg;
	unsigned long issued = 0;	/* starts handed to driver 1 */
	pin(d->cpu);
	pthread_barrier_wait(&bar);
	uint64_t s = now_ns(CLOCK_MONOTONIC);
	for (;;) {
		unsigned long done = LOAD(q.done);
		for (; q.seen < done; q.seen++)
			spin(eng_ns);	/* a completion of driver 1 */
		long left = n_total - q.own - (long)issued;
		while (left > 0 && issued - q.seen < QUEUE) {
			issued++, left--;
			STORE(q.started, issued);
		}
		if (left <= 0 && q.seen == issued)
			break;
		if (left <= 0) {
			__builtin_ia32_pause();
			continue;
		}
		/* Its own instance: the round trip, and the engine's part. */
		rt(d->lfd);
		spin(eng_ns);
		q.own++;
	}
	d->ns = now_ns(CLOCK_MONOTONIC) - s;
	STORE(q.started, ~0ul);	/* stop */
	return NULL;
}

static void *driver1(void *arg)
{
	struct drv *d = arg;
	pin(d->cpu);
	pthread_barrier_wait(&bar);
	for (;;) {
		unsigned long st = LOAD(q.started);
		if (st == ~0ul)
			break;
		if (q.taken == st) {
			q.empty++;
			while (LOAD(q.started) == st)
				__builtin_ia32_pause();
			continue;
		}
		q.taken++;
		rt(d->lfd);
		STORE(q.done, q.taken);
	}
	return NULL;
}

static void *drive(void *arg)
{
	struct drv *d = arg;
	pin(d->cpu);
	struct seccomp_notif req;
	struct seccomp_notif_resp resp;
	pthread_barrier_wait(&bar);
	uint64_t s = now_ns(CLOCK_MONOTONIC);
	for (long i = 0; i < n_each; i++) {
		memset(&req, 0, sizeof(req));
		if (ioctl(d->lfd, SECCOMP_IOCTL_NOTIF_RECV, &req))
			perror("RECV"), exit(1);
		spin(drv_ns);
		memset(&resp, 0, sizeof(resp));
		resp.id = req.id;
		resp.val = 0;
		if (ioctl(d->lfd, SECCOMP_IOCTL_NOTIF_SEND, &resp))
			perror("SEND"), exit(1);
	}
	d->ns = now_ns(CLOCK_MONOTONIC) - s;
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: %s K N [DRIVER_WORK_NS [WORKER_WORK_NS]]\n", argv[0]);
		return 2;
	}
	int k = atoi(argv[1]);
	long n = atol(argv[2]);
	drv_ns = argc > 3 ? atol(argv[3]) : 0;
	wrk_ns = argc > 4 ? atol(argv[4]) : 0;
	eng_ns = argc > 5 ? atol(argv[5]) : -1;
	n_total = n;
	if (eng_ns >= 0 && k != 2) {
		fprintf(stderr, "ENGINE_WORK_NS needs K = 2\n");
		return 2;
	}
	ncpu = (int)sysconf(_SC_NPROCESSORS_ONLN);
	n_each = n / k;
	struct drv d[64];
	pthread_barrier_init(&bar, NULL, (unsigned)k + 1);
	for (int i = 0; i < k; i++) {
		d[i].cpu = i % ncpu;
		d[i].lfd = start_worker(d[i].cpu, &d[i].pid);
		if (d[i].lfd < 0)
			perror("worker"), exit(1);
		unsigned long fl = SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP;
		if (ioctl(d[i].lfd, SECCOMP_IOCTL_NOTIF_SET_FLAGS, fl))
			perror("SET_FLAGS");
		pthread_create(&d[i].t, NULL,
			       eng_ns < 0 ? drive : i ? driver1 : engine, &d[i]);
	}
	uint64_t c0 = now_ns(CLOCK_PROCESS_CPUTIME_ID);
	uint64_t s = now_ns(CLOCK_MONOTONIC);
	pthread_barrier_wait(&bar);
	for (int i = 0; i < k; i++)
		pthread_join(d[i].t, NULL);
	uint64_t wall = now_ns(CLOCK_MONOTONIC) - s;
	uint64_t cpu = now_ns(CLOCK_PROCESS_CPUTIME_ID) - c0;
	for (int i = 0; i < k; i++) {
		kill(d[i].pid, SIGKILL);
		waitpid(d[i].pid, NULL, 0);
	}
	long total = eng_ns < 0 ? n_each * k : n;
	if (eng_ns >= 0)
		printf("engine's own %ld, driver 1's %lu, driver 1 found no start %lu times\n",
		       q.own, q.seen, q.empty);
	printf("k=%d n=%ld wall %.3f ms  %.3f us/round-trip  %.0f round-trips/s  driver-cpu %.3f us/rt\n",
	       k, total, wall / 1e6, wall / 1e3 / (double)total,
	       (double)total * 1e9 / (double)wall, cpu / 1e3 / (double)total);
	return 0;
}
