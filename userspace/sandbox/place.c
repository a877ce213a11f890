// SPDX-License-Identifier: MIT
/*
 * CPU placement of a lone instance: an instance that runs alone (no other
 * worker of this sandbox alive, nor at the previous spawn: instances run
 * one at a time) is kept on the CPU of the thread that spawns it. Left to
 * the scheduler, the worker and the spawning thread end up on different
 * CPUs (fork balancing sends the child to an idle CPU; with only the
 * spawner and its child confined, the spawner's wake-up sends the waiting
 * thread to the idle CPU instead), and the vfork completion, the exit and
 * the LRU drain of sealing the context cross CPUs, which costs tens of
 * microseconds on a VM. So, for a lone instance only: the spawner is
 * confined to the caller's CPU, the child inherits that and execs there,
 * the worker gets the spawner's full CPU set back once exec'd (pith's side
 * does that: the child makes no extra call), and the calling thread stays
 * on its CPU until the worker is reaped (or another instance is spawned),
 * then gets its own affinity back. Otherwise the spawner has all of pith's
 * CPUs and the kernel spreads the workers as before: a thread kept on the
 * CPU of a running worker would wait there to spawn the next one. None of
 * this is a security layer; the child makes the same calls as without it,
 * and nothing here runs in the spawner or the child (spawner.c).
 * PITH_CPU_PLACEMENT=off in the environment of sandbox_new() disables it
 * (for benchmarks).
 */
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/macro.h"
#include "sandbox/internal.h"

void place_init(struct spawner *s)
{
	s->cpu = -1;
	/* The spawner inherits this thread's CPUs, and its workers do. */
	if (sched_getaffinity(0, sizeof(s->allowed), &s->allowed) == 0) {
		const char *v = secure_getenv("PITH_CPU_PLACEMENT");

		s->place = CPU_COUNT(&s->allowed) > 1 &&
			   !(v && !strcmp(v, "off"));
	}
}

void place_spawner(struct spawner *s, int cpu)
{
	cpu_set_t one;

	if (!s->place || cpu == s->cpu)
		return;
	CPU_ZERO(&one);
	if (cpu >= 0)
		CPU_SET(cpu, &one);
	if (sched_setaffinity(s->tid, sizeof(one),
			      cpu >= 0 ? &one : &s->allowed) == 0)
		s->cpu = cpu;
}

void place_lane(struct sandbox *sb, const cpu_set_t *cpus)
{
	struct spawner *s = &sb->spawner;
	pid_t z;

	if (!s->started)
		return;
	pthread_mutex_lock(&s->lock);
	if (cpus) {
		s->unlaned = s->allowed;
		CPU_AND(&s->allowed, &s->allowed, cpus);
	} else {
		s->allowed = s->unlaned;
	}
	/* Confined to one CPU for a lone instance: that ends at the next
	 * spawn, which gives it allowed. */
	if (s->cpu < 0)
		(void)sched_setaffinity(s->tid, sizeof(s->allowed), &s->allowed);
	pthread_mutex_unlock(&s->lock);
	/* Zygotes already running, and so the children they fork from now. */
	for (unsigned i = 0; i < sb->n_zygotes; i++)
		if ((z = zygote_pid(sb, i)) > 0)
			(void)sched_setaffinity(z, sizeof(s->allowed),
						&s->allowed);
}

/* Keep this thread on its CPU until the worker is reaped; *ret_cpu is that
 * CPU, or -1 when it cannot be pinned (then nothing is confined). */
static void pin_caller(struct sandbox_proc *p, int *ret_cpu)
{
	int cpu = sched_getcpu();
	cpu_set_t one;

	*ret_cpu = -1;
	if (cpu < 0 || sched_getaffinity(0, sizeof(p->caller_mask),
					 &p->caller_mask) < 0 ||
	    !CPU_ISSET(cpu, &p->caller_mask) ||
	    CPU_COUNT(&p->caller_mask) < 2)
		return;
	CPU_ZERO(&one);
	CPU_SET(cpu, &one);
	if (sched_setaffinity(0, sizeof(one), &one) < 0)
		return;
	p->pinned_tid = gettid();
	p->pinned_cpu = cpu;
	p->sb->spawner.pinner = p;
	*ret_cpu = cpu;
}

void place_unpin_caller(struct sandbox_proc *p)
{
	cpu_set_t now, one;

	if (!p->pinned_tid)
		return;
	/* Unless the thread has changed its affinity since. */
	CPU_ZERO(&one);
	CPU_SET(p->pinned_cpu, &one);
	if (sched_getaffinity(p->pinned_tid, sizeof(now), &now) == 0 &&
	    CPU_EQUAL(&now, &one))
		sched_setaffinity(p->pinned_tid, sizeof(p->caller_mask),
				  &p->caller_mask);
	p->pinned_tid = 0;
	if (p->sb->spawner.pinner == p)
		p->sb->spawner.pinner = NULL;
}

int place_before_spawn(struct sandbox_proc *p)
{
	struct sandbox *sb = p->sb;
	int here = -1;
	bool alone;

	/* Alone, and so was the previous one: this worker, the spawner and
	 * this thread share our CPU (see the top of the file). Not alone:
	 * the thread that a lone instance kept on its CPU is free again. */
	alone = sb->procs == p && !p->next;
	if (sb->spawner.place && alone && sb->spawner.last_alone)
		pin_caller(p, &here);
	else if (sb->spawner.pinner)
		place_unpin_caller(sb->spawner.pinner);
	sb->spawner.last_alone = alone;
	return here;
}

void place_after_spawn(struct sandbox_proc *p, long pid, int here,
		       int confined, bool execd)
{
	if (pid < 0 || confined != here)
		place_unpin_caller(p);
	/* Exec'd (CLONE_VFORK) on its CPU: free to move from now on. A
	 * failure leaves it on one CPU, which is safe. */
	if (pid >= 0 && confined >= 0 && execd)
		sched_setaffinity((pid_t)pid, sizeof(p->sb->spawner.allowed),
				  &p->sb->spawner.allowed);
}

/*
 * Whether a warm worker is pinned to a CPU of its own for its next
 * instance (warm.c, warm_place()): from a running average of its
 * instances' run times, not from the last one alone, which flipped the
 * pinning of a worker whose runs straddle WARM_SPREAD_NS (70-136
 * sched_setaffinity calls per 20,000 no-op instances at load 14, one per
 * preempted run and one more for the next). Each run counts for 1/8, and
 * for at most 2 * WARM_SPREAD_NS, so that one preempted no-op does not
 * pin a worker (4 in a row would) while a long function is pinned from
 * its first run; pinned at WARM_SPREAD_NS, unpinned again below 3/4 of it.
 * avg 0: no run yet.
 */
uint64_t place_warm_avg(uint64_t avg, uint64_t run_ns)
{
	uint64_t run = MIN(run_ns, 2 * (uint64_t)WARM_SPREAD_NS);

	return avg ? avg - avg / 8 + run / 8 : run;
}

bool place_warm_spread(uint64_t avg, bool pinned)
{
	return avg >= (pinned ? WARM_SPREAD_NS / 4 * 3 : WARM_SPREAD_NS);
}
