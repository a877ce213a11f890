// SPDX-License-Identifier: MIT
/*
 * __pith_syscall(): every system call musl makes, answered inside the
 * sandbox. Files and descriptors are fs.c's, memory mem.c's; here are the
 * clock (fixed job time, 1 us per reading), randomness (a seeded
 * generator), signals (delivered synchronously to the function itself),
 * identity and limits, and the refusals: ENOSYS for what a locked-down
 * system lacks, EPERM for what it forbids. Documentation/posix-functions.md
 * lists every answer.
 */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/sysinfo.h>
#include <sys/time.h>
#include <sys/times.h>
#include <sys/utsname.h>
#include <time.h>

#include "internal.h"

#define RT_PID 1
#define RT_UID 65534
#define CLOCK_STEP_NS 1000ull /* each reading of a clock advances it */

/* ---- time ---- */

static uint64_t elapsed_ns;

uint64_t rt_now_ns(void)
{
	return rt_ctx->time + elapsed_ns;
}

static uint64_t clock_read(long clk)
{
	elapsed_ns += CLOCK_STEP_NS;
	switch (clk) {
	case CLOCK_REALTIME:
	case CLOCK_REALTIME_COARSE:
	case CLOCK_TAI:
		return rt_now_ns();
	default: /* monotonic, boottime, CPU time: time since the start */
		return elapsed_ns;
	}
}

static void ns_to_ts(uint64_t ns, struct timespec *ts)
{
	ts->tv_sec = (time_t)(ns / 1000000000u);
	ts->tv_nsec = (long)(ns % 1000000000u);
}

static long sys_clock_gettime(long clk, struct timespec *ts)
{
	if (clk < 0 || clk > CLOCK_TAI)
		return -EINVAL;
	ns_to_ts(clock_read(clk), ts);
	return 0;
}

static long sys_nanosleep(const struct timespec *req, struct timespec *rem)
{
	if (req->tv_nsec < 0 || req->tv_nsec >= 1000000000 || req->tv_sec < 0)
		return -EINVAL;
	/* No one else runs: sleeping only moves the clock. */
	elapsed_ns += (uint64_t)req->tv_sec * 1000000000u +
		      (uint64_t)req->tv_nsec;
	if (rem)
		rem->tv_sec = rem->tv_nsec = 0;
	return 0;
}

static long sys_clock_nanosleep(long clk, long flags,
				const struct timespec *req,
				struct timespec *rem)
{
	uint64_t want, now;

	if (!(flags & TIMER_ABSTIME))
		return sys_nanosleep(req, rem);
	want = (uint64_t)req->tv_sec * 1000000000u + (uint64_t)req->tv_nsec;
	now = clock_read(clk);
	if (want > now)
		elapsed_ns += want - now;
	return 0;
}

/* ---- randomness: splitmix64 from the job's seed and the instance ---- */

static uint64_t rng_state;

static uint64_t rng_next(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

void rt_random_init(uint64_t seed, uint64_t instance)
{
	rng_state = seed;
	rng_state ^= rng_next() + instance * 0xd1b54a32d192ed03ull;
}

void rt_random(void *buf, size_t len)
{
	unsigned char *p = buf;

	while (len) {
		uint64_t v = rng_next();
		size_t k = len < 8 ? len : 8;

		memcpy(p, &v, k);
		p += k, len -= k;
	}
}

/* ---- signals: raised by the function at itself, delivered at once ---- */

struct k_sigaction {
	union {
		void (*handler)(int);
		void (*action)(int, siginfo_t *, void *);
	};
	unsigned long flags;
	void (*restorer)(void);
	uint64_t mask;
};

static struct k_sigaction actions[65];
static uint64_t sig_blocked, sig_pending;

#define SIGBIT(s) (1ull << ((s) - 1))

static bool default_ignored(int sig)
{
	return sig == SIGCHLD || sig == SIGURG || sig == SIGWINCH ||
	       sig == SIGCONT || sig == SIGSTOP || sig == SIGTSTP ||
	       sig == SIGTTIN || sig == SIGTTOU;
}

static void deliver(int sig)
{
	struct k_sigaction *a = &actions[sig];
	void (*h)(int) = a->handler;
	void (*act)(int, siginfo_t *, void *) = a->action;
	unsigned long flags = a->flags;
	uint64_t saved = sig_blocked;

	if (sig_blocked & SIGBIT(sig)) {
		sig_pending |= SIGBIT(sig);
		return;
	}
	sig_pending &= ~SIGBIT(sig);
	if (h == SIG_IGN || (h == SIG_DFL && default_ignored(sig)))
		return;
	if (h == SIG_DFL)
		/* Killed by the signal: a failed instance, status 128+N. */
		__pith_exit_group(128 + sig);
	if (a->flags & SA_RESETHAND)
		a->handler = SIG_DFL;
	sig_blocked |= a->mask;
	if (!(a->flags & SA_NODEFER))
		sig_blocked |= SIGBIT(sig);
	if (flags & SA_SIGINFO) {
		siginfo_t si;

		memset(&si, 0, sizeof(si));
		si.si_signo = sig;
		si.si_code = SI_TKILL;
		si.si_pid = RT_PID;
		si.si_uid = RT_UID;
		act(sig, &si, NULL);
	} else {
		h(sig);
	}
	sig_blocked = saved;
}

static void deliver_pending(void)
{
	for (int s = 1; s <= 64; s++)
		if ((sig_pending & SIGBIT(s)) && !(sig_blocked & SIGBIT(s)))
			deliver(s);
}

static long sys_kill_self(long pid, long sig)
{
	if (pid != RT_PID && pid != 0 && pid != -1)
		return -ESRCH;
	if (sig < 0 || sig > 64)
		return -EINVAL;
	if (sig)
		deliver((int)sig);
	return 0;
}

static long sys_rt_sigaction(long sig, const struct k_sigaction *act,
			     struct k_sigaction *old, long size)
{
	if (sig < 1 || sig > 64 || size != 8)
		return -EINVAL;
	if (act && (sig == SIGKILL || sig == SIGSTOP))
		return -EINVAL;
	if (old)
		*old = actions[sig];
	if (act) {
		actions[sig] = *act;
		actions[sig].mask &= ~(SIGBIT(SIGKILL) | SIGBIT(SIGSTOP));
	}
	return 0;
}

static long sys_rt_sigprocmask(long how, const uint64_t *set, uint64_t *old,
			       long size)
{
	uint64_t s;

	if (size != 8)
		return -EINVAL;
	if (old)
		*old = sig_blocked;
	if (!set)
		return 0;
	s = *set & ~(SIGBIT(SIGKILL) | SIGBIT(SIGSTOP));
	switch (how) {
	case SIG_BLOCK:
		sig_blocked |= s;
		break;
	case SIG_UNBLOCK:
		sig_blocked &= ~s;
		break;
	case SIG_SETMASK:
		sig_blocked = s;
		break;
	default:
		return -EINVAL;
	}
	deliver_pending();
	return 0;
}

static stack_t alt_stack = { .ss_flags = SS_DISABLE };

static long sys_sigaltstack(const stack_t *ss, stack_t *old)
{
	if (old)
		*old = alt_stack;
	if (ss)
		alt_stack = *ss;
	return 0;
}

/* ---- identity, limits, the machine ---- */

static long sys_uname(struct utsname *u)
{
	memset(u, 0, sizeof(*u));
	strcpy(u->sysname, "Linux");
	strcpy(u->nodename, "pith");
	strcpy(u->release, "0.0.0-pith");
	strcpy(u->version, "#1 pith POSIX function");
	strcpy(u->machine, "x86_64");
	strcpy(u->__domainname, "(none)");
	return 0;
}

static long sys_prlimit(long pid, long res, const struct rlimit *new,
			struct rlimit *old)
{
	if (pid && pid != RT_PID)
		return -ESRCH;
	if (res < 0 || res >= RLIM_NLIMITS)
		return -EINVAL;
	if (old) {
		old->rlim_cur = old->rlim_max = RLIM_INFINITY;
		if (res == RLIMIT_STACK)
			old->rlim_cur = old->rlim_max = rt_ctx->stack_size;
		else if (res == RLIMIT_AS || res == RLIMIT_DATA)
			old->rlim_cur = old->rlim_max = rt_ctx->context_size;
		else if (res == RLIMIT_NOFILE)
			old->rlim_cur = old->rlim_max = 1024;
		else if (res == RLIMIT_NPROC || res == RLIMIT_CORE)
			old->rlim_cur = old->rlim_max = 0;
	}
	(void)new; /* lowering a limit is accepted and changes nothing */
	return 0;
}

static long sys_sysinfo(struct sysinfo *si)
{
	memset(si, 0, sizeof(*si));
	si->uptime = (long)(elapsed_ns / 1000000000u);
	si->totalram = rt_ctx->context_size;
	si->freeram = mem_free_bytes();
	si->procs = 1;
	si->mem_unit = 1;
	return 0;
}

static long sys_sched_getaffinity(long pid, long size, unsigned char *mask)
{
	if (pid && pid != RT_PID)
		return -ESRCH;
	if (size < 8)
		return -EINVAL;
	memset(mask, 0, 8);
	mask[0] = 1; /* one CPU */
	return 8;
}

static long sys_futex(int *uaddr, long op, long val)
{
	switch (op & 0x7f) {
	case 0: /* FUTEX_WAIT: nobody could wake us */
	case 9: /* FUTEX_WAIT_BITSET */
		return *uaddr != (int)val ? -EAGAIN : -ETIMEDOUT;
	default: /* wake, requeue: no waiter exists */
		return 0;
	}
}

long __pith_syscall(long n, long a, long b, long c, long d, long e, long f)
{
	bool handled;
	long r;

	switch (n) {
	case SYS_exit:
	case SYS_exit_group:
		rt_exit((int)a);
	case SYS_mmap:
		return sys_mmap(a, b, c, d, e, f);
	case SYS_munmap:
		return sys_munmap(a, b);
	case SYS_mremap:
		return sys_mremap(a, b, c, d, e);
	case SYS_brk:
		return sys_brk(a);
	case SYS_madvise:
		return sys_madvise(a, b, c);
	case SYS_mprotect:
		return sys_mprotect(a, b, c);
	case SYS_mlock:
	case SYS_munlock:
	case SYS_mlockall:
	case SYS_munlockall:
	case SYS_msync:
		return 0;
	case SYS_clock_gettime:
		return sys_clock_gettime(a, (struct timespec *)b);
	case SYS_clock_getres:
		if (b)
			ns_to_ts(CLOCK_STEP_NS, (struct timespec *)b);
		return a < 0 || a > CLOCK_TAI ? -EINVAL : 0;
	case SYS_gettimeofday: {
		struct timespec ts;

		ns_to_ts(clock_read(CLOCK_REALTIME), &ts);
		if (a) {
			((struct timeval *)a)->tv_sec = ts.tv_sec;
			((struct timeval *)a)->tv_usec = ts.tv_nsec / 1000;
		}
		return 0;
	}
	case SYS_time: {
		time_t t = (time_t)(clock_read(CLOCK_REALTIME) / 1000000000u);

		if (a)
			*(time_t *)a = t;
		return t;
	}
	case SYS_nanosleep:
		return sys_nanosleep((const struct timespec *)a,
				     (struct timespec *)b);
	case SYS_clock_nanosleep:
		return sys_clock_nanosleep(a, b, (const struct timespec *)c,
					   (struct timespec *)d);
	case SYS_times: {
		struct tms *t = (struct tms *)a;

		if (t)
			memset(t, 0, sizeof(*t));
		return (long)(elapsed_ns / 10000000u); /* clock ticks */
	}
	case SYS_getrusage:
		memset((void *)b, 0, sizeof(struct rusage));
		return 0;
	case SYS_getrandom:
		rt_random((void *)a, (size_t)b);
		return b;
	case SYS_rt_sigaction:
		return sys_rt_sigaction(a, (const struct k_sigaction *)b,
					(struct k_sigaction *)c, d);
	case SYS_rt_sigprocmask:
		return sys_rt_sigprocmask(a, (const uint64_t *)b,
					  (uint64_t *)c, d);
	case SYS_rt_sigpending:
		*(uint64_t *)a = sig_pending;
		return 0;
	case SYS_sigaltstack:
		return sys_sigaltstack((const stack_t *)a, (stack_t *)b);
	case SYS_kill:
		return sys_kill_self(a, b);
	case SYS_tkill:
		return a == RT_PID ? sys_kill_self(RT_PID, b) : -ESRCH;
	case SYS_tgkill:
		return a == RT_PID && b == RT_PID ? sys_kill_self(RT_PID, c)
						  : -ESRCH;
	case SYS_getpid:
	case SYS_gettid:
	case SYS_set_tid_address:
	case SYS_getpgrp:
	case SYS_getsid:
		return RT_PID;
	case SYS_getpgid:
		return RT_PID;
	case SYS_getppid:
		return 0;
	case SYS_getuid:
	case SYS_geteuid:
	case SYS_getgid:
	case SYS_getegid:
		return RT_UID;
	case SYS_getresuid:
	case SYS_getresgid:
		*(unsigned *)a = *(unsigned *)b = *(unsigned *)c = RT_UID;
		return 0;
	case SYS_getgroups:
		return 0;
	case SYS_set_robust_list:
	case SYS_sched_yield:
		return 0;
	case SYS_futex:
		return sys_futex((int *)a, b, c);
	case SYS_uname:
		return sys_uname((struct utsname *)a);
	case SYS_prlimit64:
		return sys_prlimit(a, b, (const struct rlimit *)c,
				   (struct rlimit *)d);
	case SYS_getrlimit:
		return sys_prlimit(0, a, NULL, (struct rlimit *)b);
	case SYS_setrlimit:
		return 0;
	case SYS_sysinfo:
		return sys_sysinfo((struct sysinfo *)a);
	case SYS_sched_getaffinity:
		return sys_sched_getaffinity(a, b, (unsigned char *)c);
	case SYS_getcpu:
		if (a)
			*(unsigned *)a = 0;
		if (b)
			*(unsigned *)b = 0;
		return 0;
	case SYS_getpriority:
		return 20; /* nice 0, as the kernel encodes it */
	case SYS_setpriority:
	case SYS_sched_setaffinity:
		return 0;
	/* What a locked-down system forbids: EPERM. */
	case SYS_socket:
	case SYS_socketpair:
	case SYS_connect:
	case SYS_bind:
	case SYS_listen:
	case SYS_accept:
	case SYS_accept4:
	case SYS_sendto:
	case SYS_recvfrom:
	case SYS_sendmsg:
	case SYS_recvmsg:
	case SYS_fork:
	case SYS_vfork:
	case SYS_clone:
	case SYS_clone3:
	case SYS_execve:
	case SYS_execveat:
	case SYS_ptrace:
	case SYS_setuid:
	case SYS_setgid:
	case SYS_setreuid:
	case SYS_setregid:
	case SYS_setresuid:
	case SYS_setresgid:
	case SYS_setgroups:
	case SYS_setsid:
	case SYS_setpgid:
	case SYS_chroot:
	case SYS_mount:
	case SYS_umount2:
	case SYS_reboot:
	case SYS_sethostname:
	case SYS_setdomainname:
	case SYS_settimeofday:
	case SYS_clock_settime:
	case SYS_unshare:
	case SYS_setns:
	case SYS_bpf:
	case SYS_perf_event_open:
	case SYS_init_module:
	case SYS_finit_module:
	case SYS_delete_module:
	case SYS_kexec_load:
	case SYS_personality:
	case SYS_prctl:
	case SYS_arch_prctl:
	case SYS_seccomp:
	case SYS_io_uring_setup:
	case SYS_userfaultfd:
	case SYS_process_vm_readv:
	case SYS_process_vm_writev:
	case SYS_pidfd_open:
	case SYS_pidfd_send_signal:
		return -EPERM;
	case SYS_wait4:
	case SYS_waitid:
		return -ECHILD;
	}
	r = fs_syscall(n, a, b, c, d, e, f, &handled);
	return handled ? r : -ENOSYS;
}
