// SPDX-License-Identifier: MIT
/*
 * Process-wide sandbox state: the pith-worker loader, the seccomp program,
 * the workers' cgroup v2 leaf, whether uids can be switched, and the list
 * of layers in force (each unavailable one says why).
 */
#include <errno.h>
#include <dirent.h>
#include <elf.h>
#include <signal.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <linux/seccomp.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "lib/macro.h"
#include "sandbox/bpf_guard.h"
#include "sandbox/internal.h"

/* Linux 6.6; Debian 12's headers predate them. */
#ifndef SECCOMP_IOCTL_NOTIF_SET_FLAGS
#define SECCOMP_IOCTL_NOTIF_SET_FLAGS SECCOMP_IOW(4, __u64)
#endif
#ifndef SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP
#define SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP (1UL << 0)
#endif

static const char *const layer_names[LAYER_COUNT] = {
	[LAYER_ADDRESS_SPACE] = "address-space",
	[LAYER_SECCOMP] = "seccomp",
	[LAYER_PRIVS] = "no-new-privs",
	[LAYER_UID] = "uid",
	[LAYER_RLIMITS] = "rlimits",
	[LAYER_CGROUP] = "cgroup",
	[LAYER_DEADLINE] = "deadline",
	[LAYER_WARM] = "warm-workers",
};

static void layer_set(struct sandbox *sb, int id, bool active,
		      const char *fmt, ...) _printf_(4, 5);
static void layer_set(struct sandbox *sb, int id, bool active,
		      const char *fmt, ...)
{
	struct sandbox_layer *l = &sb->layers[id];
	va_list ap;

	l->name = layer_names[id];
	l->active = active;
	va_start(ap, fmt);
	vsnprintf(l->detail, sizeof(l->detail), fmt, ap);
	va_end(ap);
}

static void fclosep_(FILE **f)
{
	if (*f)
		fclose(*f);
}

static void closedirp_(DIR **d)
{
	if (*d)
		closedir(*d);
}

/* opts.worker_path; else next to our executable, $PITH_WORKER, and one
 * directory up (tests and tools live below the build's programs). */
static int open_loader(struct sandbox *sb, struct err *e)
{
	char exe[4096], next[4200], up[4200], libexec[4200];
	const char *cands[4];
	size_t n = 0;
	ssize_t len;
	int fd = -1;

	if (sb->opts.worker_path) {
		cands[n++] = sb->opts.worker_path;
	} else {
		len = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
		if (len > 0) {
			exe[len] = 0;
			*strrchr(exe, '/') = 0;
			snprintf(next, sizeof(next), "%s/pith-worker", exe);
			cands[n++] = next;
		}
		if (getenv("PITH_WORKER") && *getenv("PITH_WORKER"))
			cands[n++] = getenv("PITH_WORKER");
		if (len > 0) {
			snprintf(up, sizeof(up), "%s/../pith-worker", exe);
			cands[n++] = up;
			/* Installed: PREFIX/{bin,sbin}/ and PREFIX/libexec/pith/. */
			snprintf(libexec, sizeof(libexec),
				 "%s/../libexec/pith/pith-worker", exe);
			cands[n++] = libexec;
		}
	}
	for (size_t i = 0; i < n && fd < 0; i++)
		fd = open(cands[i], O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return err_set(e, ENOENT,
			       "cannot find pith-worker (tried %s%s): build it with `make`, or set $PITH_WORKER",
			       n ? cands[0] : "nothing", n > 1 ? " and more" : "");
	/* Keep it above 0..2 so that the child's dup3 onto fd 1 cannot
	 * clobber the socket it has just put at fd 0. */
	if (fd < 3) {
		int hi = fcntl(fd, F_DUPFD_CLOEXEC, 3);

		close(fd);
		if (hi < 0)
			return err_errno(e, errno, "fcntl");
		fd = hi;
	}
	sb->loader_fd = fd;
	return 0;
}

/* The loader's executable segment, page-rounded: the only code of it that
 * runs in a worker, trusted by the seccomp program until the trampoline
 * unmaps it. It must lie where no function mapping can. */
static int loader_text(struct sandbox *sb, struct err *e)
{
	Elf64_Ehdr eh;
	Elf64_Phdr ph[16];
	int n_x = 0;

	if (pread(sb->loader_fd, &eh, sizeof(eh), 0) != sizeof(eh) ||
	    memcmp(eh.e_ident, ELFMAG, SELFMAG) || eh.e_phnum > 16 ||
	    eh.e_phentsize != sizeof(Elf64_Phdr) ||
	    pread(sb->loader_fd, ph, eh.e_phnum * sizeof(ph[0]),
		  (off_t)eh.e_phoff) != (ssize_t)(eh.e_phnum * sizeof(ph[0])))
		return err_set(e, ENOEXEC, "pith-worker is not an ELF file");
	for (unsigned i = 0; i < eh.e_phnum; i++) {
		if (ph[i].p_type != PT_LOAD || !(ph[i].p_flags & PF_X))
			continue;
		sb->loader_text.lo = ph[i].p_vaddr & ~(CTX_PAGE - 1);
		sb->loader_text.hi = ALIGN_UP(ph[i].p_vaddr + ph[i].p_memsz,
					      CTX_PAGE);
		n_x++;
	}
	if (n_x != 1 || sb->loader_text.lo < PLAN_LOADER_BASE ||
	    sb->loader_text.hi > PLAN_LOADER_END)
		return err_set(e, ENOEXEC,
			       "pith-worker: expected one executable segment in 0x%llx-0x%llx",
			       PLAN_LOADER_BASE, PLAN_LOADER_END);
	return 0;
}

/* The pith_spawn section: pith's code that the seccomp program trusts. It
 * must not overlap anything a function can have mapped at that address. */
static int spawn_text(struct sandbox *sb, struct err *e)
{
	sb->spawn_text.lo = (uintptr_t)__start_pith_spawn & ~(CTX_PAGE - 1);
	sb->spawn_text.hi = ALIGN_UP((uintptr_t)__stop_pith_spawn, CTX_PAGE);
	if (sb->spawn_text.lo < PITH_INPUT_MAX ||
	    (sb->spawn_text.lo < sb->loader_text.hi &&
	     sb->loader_text.lo < sb->spawn_text.hi))
		return err_set(e, EINVAL,
			       "pith's code at 0x%llx overlaps the sandbox's address layout: build pith as a position-independent executable",
			       (unsigned long long)sb->spawn_text.lo);
	return 0;
}

/* The cgroup2 mount point from /proc/self/mountinfo. */
static char *cgroup2_mount(void)
{
	_cleanup_(fclosep_) FILE *f = fopen("/proc/self/mountinfo", "re");
	char *line = NULL, *ret = NULL;
	size_t cap = 0;

	if (!f)
		return NULL;
	while (!ret && getline(&line, &cap, f) > 0) {
		char mnt[4096], fstype[64];
		const char *dash = strstr(line, " - ");

		if (!dash || sscanf(dash, " - %63s", fstype) != 1 ||
		    strcmp(fstype, "cgroup2"))
			continue;
		if (sscanf(line, "%*s %*s %*s %*s %4095s", mnt) == 1)
			ret = strdup(mnt);
	}
	free(line);
	return ret;
}

/* Our own cgroup in the v2 hierarchy ("0::/path"). */
static char *own_cgroup(void)
{
	_cleanup_(fclosep_) FILE *f = fopen("/proc/self/cgroup", "re");
	char *line = NULL, *ret = NULL;
	size_t cap = 0;

	if (!f)
		return NULL;
	while (!ret && getline(&line, &cap, f) > 0)
		if (!strncmp(line, "0::", 3)) {
			line[strcspn(line, "\n")] = 0;
			ret = strdup(line + 3);
		}
	free(line);
	return ret;
}

/* Remove pith-<pid> cgroups left by processes that are gone (killed before
 * sandbox_free()). Only empty cgroups can be removed; others stay. */
static void remove_stale_cgroups(const char *dir)
{
	_cleanup_(closedirp_) DIR *d = opendir(dir);
	struct dirent *de;

	if (!d)
		return;
	while ((de = readdir(d))) {
		char *end, path[4096];
		long pid;
		DIR *sub;
		struct dirent *se;

		if (strncmp(de->d_name, "pith-", 5))
			continue;
		pid = strtol(de->d_name + 5, &end, 10);
		if (*end || pid <= 0 || kill((pid_t)pid, 0) == 0 ||
		    errno != ESRCH)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		sub = opendir(path);
		while (sub && (se = readdir(sub))) {
			char leaf[4352];
			DIR *drv;
			struct dirent *de2;

			if (strncmp(se->d_name, "workers", 7))
				continue;
			snprintf(leaf, sizeof(leaf), "%s/%s", path, se->d_name);
			/* Drivers' leaves, nested in the engine's. */
			drv = opendir(leaf);
			while (drv && (de2 = readdir(drv))) {
				char nested[4608];

				if (strncmp(de2->d_name, "driver-", 7) &&
				    strncmp(de2->d_name, "runner-", 7))
					continue;
				snprintf(nested, sizeof(nested), "%s/%s", leaf,
					 de2->d_name);
				rmdir(nested);
			}
			if (drv)
				closedir(drv);
			rmdir(leaf);
		}
		if (sub)
			closedir(sub);
		rmdir(path);
	}
}

static void setup_cgroup(struct sandbox *sb)
{
	static unsigned counter;
	unsigned n = __atomic_fetch_add(&counter, 1, __ATOMIC_RELAXED);
	_cleanup_free_ char *mnt = cgroup2_mount(), *own = own_cgroup();
	_cleanup_free_ char *parent = NULL, *leaf = NULL;
	struct stat st;
	int fd;

	if (!mnt) {
		layer_set(sb, LAYER_CGROUP, false,
			  "no cgroup2 mount in /proc/self/mountinfo");
		return;
	}
	if (!own) {
		layer_set(sb, LAYER_CGROUP, false,
			  "no cgroup v2 entry in /proc/self/cgroup");
		return;
	}
	if (asprintf(&parent, "%s%s%spith-%d", mnt,
		     strcmp(own, "/") ? own : "", "/", (int)sb->pid) < 0)
		return;
	if (n == 0) {
		*strrchr(parent, '/') = 0;
		remove_stale_cgroups(parent);
		parent[strlen(parent)] = '/';
	}
	/* One leaf per sandbox: the first is "workers", later ones in the
	 * same process "workers-N", so that freeing one leaves the others;
	 * a driver's in its engine's leaf, "workers/driver-N", under the
	 * engine's guard (setup_guard()), and a pithd runner's in the
	 * daemon's, "workers/runner-N" (sandbox_new_nested()). No controller is enabled in a
	 * leaf, so it may hold workers and a driver's leaf at once. */
	if (sb->nest_parent && sb->nest_parent->cgroup_path) {
		if (asprintf(&leaf, "%s/%s-%u", sb->nest_parent->cgroup_path,
			     sb->nest, n) < 0)
			return;
	} else {
		if ((n ? asprintf(&leaf, "%s/workers-%u", parent, n)
		       : asprintf(&leaf, "%s/workers", parent)) < 0)
			return;
		if (mkdir(parent, 0755) < 0 && errno != EEXIST) {
			layer_set(sb, LAYER_CGROUP, false,
				  "cannot create %s: %m", parent);
			return;
		}
		sb->cgroup_parent = TAKE_PTR(parent);
	}
	if (mkdir(leaf, 0755) < 0) {
		layer_set(sb, LAYER_CGROUP, false, "cannot create %s: %m",
			  leaf);
		return;
	}
	fd = open(leaf, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		layer_set(sb, LAYER_CGROUP, false, "cannot open %s: %m", leaf);
		rmdir(leaf);
		return;
	}
	sb->cgroup_fd = fd;
	sb->cgroup_path = TAKE_PTR(leaf);
	/* What the guard's events name a worker's cgroup by. */
	if (fstat(fd, &st) == 0)
		sb->cgroup_id = st.st_ino;
	layer_set(sb, LAYER_CGROUP, true,
		  "workers start in %s (clone3 CLONE_INTO_CGROUP)",
		  sb->cgroup_path);
}

/* Layer 5: load the eBPF guard for the worker cgroup (attached while a
 * job holds it). Its absence is reported by sandbox_layers(), not fatal. */
static void setup_guard(struct sandbox *sb)
{
	struct err ge = { { 0 } };

	if (sb->opts.no_guard) {
		snprintf(sb->guard_error, sizeof(sb->guard_error),
			 "disabled by the no_guard option");
		return;
	}
	if (sb->cgroup_fd < 0) {
		snprintf(sb->guard_error, sizeof(sb->guard_error),
			 "no worker cgroup to scope the programs to");
		return;
	}
	/* A nested sandbox (a driver's, a pithd runner's): its leaf is in
	 * its parent's, which the parent's guard covers with all it holds:
	 * one program on every system call of the host for the run or the
	 * daemon, not one per sandbox. Its events are routed by cgroup
	 * (guard_poll()), each kept in its queue until it polls. */
	if (sb->nest_parent && sb->nest_parent->guard && !sb->cgroup_parent &&
	    sb->cgroup_id) {
		if (guard_cgroup_add(sb->nest_parent->guard, sb->cgroup_id) < 0) {
			snprintf(sb->guard_error, sizeof(sb->guard_error),
				 "out of memory for the shared guard's queue");
			return;
		}
		sb->guard = sb->nest_parent->guard;
		sb->guard_shared = true;
		return;
	}
	/* The warm reset path's calls, each at its own address. */
	static const long tramp_nr[TRAMP_N_IP] = {
		[TRAMP_PARK] = PLAN_PARK_NR,
		[TRAMP_UNMAP] = __NR_munmap, [TRAMP_MADVISE] = __NR_madvise,
		[TRAMP_MAP_INPUT] = __NR_mmap, [TRAMP_CLOSE] = __NR_close_range,
		[TRAMP_UNMAP2] = __NR_munmap,
	};
	struct guard_opts go = { .cgroup_fd = sb->cgroup_fd,
				 .arm_nr = __NR_close,
				 .arm_arg0 = PLAN_SOCK_FD };

	for (size_t i = 0; i < TRAMP_N_IP && i < GUARD_MAX_PINNED; i++) {
		go.pinned[i].ip = sb->tramp_ip[i];
		go.pinned[i].nr = tramp_nr[i];
		go.n_pinned++;
	}
	if (guard_new(&go, &sb->guard, &ge) < 0)
		snprintf(sb->guard_error, sizeof(sb->guard_error), "%.*s",
			 (int)sizeof(sb->guard_error) - 1, ge.msg);
}

/* Level-triggered: a readable pidfd stays so until pith reaps the worker
 * and closes it (finish(), worker_kill()), which also unregisters it. */
int sandbox_events_add(struct sandbox *sb, int fd)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.fd = fd };

	if (sb->events < 0)
		return 0;
	return epoll_ctl(sb->events, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

static void hold_one(struct sandbox *sb, void *arg)
{
	int *r = arg;

	if (*r >= 0)
		*r = sandbox_hold(sb, NULL);
}

static void release_one(struct sandbox *sb, _unused_ void *arg)
{
	sandbox_release(sb);
}

static void end_idle_one(struct sandbox *sb, _unused_ void *arg)
{
	sandbox_end_idle(sb);
}

static void n_idle_one(struct sandbox *sb, void *arg)
{
	*(unsigned *)arg += sandbox_n_idle(sb);
}

int sandbox_hold(struct sandbox *sb, struct err *e)
{
	int r;

	/* The last job's zygotes, killed at its end, are reaped before
	 * another starts (zygote_flush()). */
	if (!sb->holds)
		zygote_reap_dying(sb);
	r = sb->guard ? guard_hold(sb->guard, e) : 0;

	if (r >= 0)
		sb->holds++;
	/* Each driver's sandbox holds the engine's guard once more (one
	 * guard, counted holds). */
	if (r >= 0 && sb->n_drivers) {
		driver_each(sb, hold_one, &r);
		if (r < 0) {
			err_set(e, -r, "cannot hold a driver's sandbox");
			sandbox_release(sb);
		}
	}
	return r;
}

/* The last hold (a job) ends: its idle warm workers go too, so that a
 * long-lived sandbox (pithd) keeps no worker, fd or image of a job that
 * is over. */
void sandbox_release(struct sandbox *sb)
{
	if (sb->guard)
		guard_release(sb->guard);
	driver_each(sb, release_one, NULL);
	if (sb->holds && --sb->holds == 0) {
		driver_unpin(sb);
		driver_forget_runs(sb);
		zygote_flush(sb);
		reuse_flush_ctx(sb);
		if (!sb->opts.keep_idle)
			warm_flush(sb);
	}
}

unsigned sandbox_n_idle(const struct sandbox *sb)
{
	unsigned n = sb->n_idle;

	driver_each((struct sandbox *)sb, n_idle_one, &n);
	return n;
}

void sandbox_end_idle(struct sandbox *sb)
{
	driver_each(sb, end_idle_one, NULL);
	zygote_flush(sb);
	zygote_reap_dying(sb);
	reuse_flush_ctx(sb);
	warm_flush(sb);
}

/*
 * Grow pith's descriptor table now, to SANDBOX_FD_TABLE slots (or the
 * soft RLIMIT_NOFILE), while the calling process has no other thread:
 * the kernel grows a table shared by several threads (pith's drivers,
 * spawners, io_uring's workers) only after an RCU grace period
 * (expand_fdtable()'s synchronize_rcu()), during which the growing
 * thread sleeps. A fresh job in lanes passed 64 descriptors (the
 * zygotes' slots, the drivers' rings and pidfds) as its second lane
 * started, and the engine's thread slept 17 ms there with its CPU idle
 * (benchmarks/lanes.md, round 14). A table grows once and never
 * shrinks; with threads already running, this costs that one grace
 * period here instead of later.
 */
#define SANDBOX_FD_TABLE 1024

static void grow_fd_table(void)
{
	struct rlimit rl;
	long want = SANDBOX_FD_TABLE;
	int fd;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)want)
		want = (long)rl.rlim_cur;
	if (want <= 64)
		return;
	fd = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, (int)want - 1);
	if (fd < 0)
		fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (fd >= 0 && fd < want - 1) {
		int hi = fcntl(fd, F_DUPFD_CLOEXEC, (int)want - 1);

		close(fd);
		fd = hi;
	}
	if (fd >= 0)
		close(fd);
}

static int sandbox_make(struct sandbox *parent, const char *nest,
			const struct sandbox_opts *opts, struct sandbox **ret,
			struct err *e)
{
	struct sandbox *sb;
	int r;

	if (!parent)
		grow_fd_table();
	sb = calloc(1, sizeof(*sb));
	if (!sb)
		return err_set(e, ENOMEM, "out of memory");
	if (opts)
		sb->opts = *opts;
	sb->nest_parent = parent;
	sb->nest = nest;
	sb->loader_fd = -1;
	sb->cgroup_fd = -1;
	sb->spawner.listener = -1;
	sb->events = -1;
	sb->drv_evfd = -1;
	sb->pid = getpid();
	sb->fork_gen = sandbox_fork_gen();
	r = open_loader(sb, e);
	if (r < 0)
		goto fail;
	r = loader_text(sb, e);
	if (r < 0)
		goto fail;
	r = spawn_text(sb, e);
	if (r < 0)
		goto fail;
	warm_init(sb);

	layer_set(sb, LAYER_ADDRESS_SPACE, true,
		  "a new process per worker, reset between the instances it serves; only the image, context, inputs and a trampoline page are mapped");
	if (sb->opts.no_seccomp) {
		layer_set(sb, LAYER_SECCOMP, false,
			  "disabled by the test-only no_seccomp option");
	} else {
		r = filter_build(sb, &sb->filter, &sb->n_filter, e);
		if (r < 0) {
			err_prefix(e, r, "seccomp");
			goto fail;
		}
		layer_set(sb, LAYER_SECCOMP, true,
			  "%zu-instruction program, compiled once and inherited: exit, exit_group, rt_sigreturn allowed, and the trampoline's calls (handoff, warm reset) only at their addresses with pinned arguments; foreign ABIs killed; any other call is named and killed",
			  sb->n_filter);
	}
	layer_set(sb, LAYER_PRIVS, true,
		  "no_new_privs, no fds, not dumpable, RLIMIT_CORE 0");
	sb->drop_ids = geteuid() == 0;
	if (sb->drop_ids) {
		layer_set(sb, LAYER_UID, true,
			  "workers run as %d:%d with no supplementary groups, no capabilities and locked securebits (noroot, no keep-caps, no ambient)",
			  SANDBOX_WORKER_UID, SANDBOX_WORKER_GID);
	} else {
		layer_set(sb, LAYER_UID, false,
			  "pith is not root: workers keep uid %d (no uid switch); run pith as root for an unprivileged worker uid",
			  (int)geteuid());
	}
	layer_set(sb, LAYER_RLIMITS, true,
		  "RLIMIT_CORE 0, RLIMIT_NPROC 0, RLIMIT_NOFILE 2 + its descriptors (a forked worker: soft 0), RLIMIT_CPU = timeout");
	setup_cgroup(sb);
	setup_guard(sb);
	r = spawner_start(sb, e);
	if (r < 0)
		goto fail;
	sb->events = epoll_create1(EPOLL_CLOEXEC);
	if (sb->events < 0) {
		r = err_errno(e, errno, "epoll_create1");
		goto fail;
	}
	layer_set(sb, LAYER_DEADLINE, true,
		  "wall clock from spawn, SIGKILL through a pidfd; CPU time through RLIMIT_CPU");
	if (sb->warm && sb->spawner.listener >= 0)
		layer_set(sb, LAYER_WARM, true,
			  "default: warm workers, reused by instances of the same function and reset in between (registers, vector state, fs/gs base, memory, signal state, CPU limit); \"fresh\": true on a function gives a new process per instance (forked from a zygote of the function after its first; PITH_ZYGOTE=off: exec'd)");
	else
		layer_set(sb, LAYER_WARM, false,
			  "every instance gets a new process: %s",
			  sb->spawner.listener < 0
				  ? "warm workers park in a seccomp notification, and seccomp is off"
				  : "PITH_WARM=off");
	sb->warm = sb->warm && sb->spawner.listener >= 0;
	/* pith's answer to a park wakes the worker on pith's CPU when the
	 * worker may run there (Linux 6.6+; an older kernel refuses the
	 * flag, and the worker wakes where the scheduler puts it): ~10% less
	 * CPU per warm no-op instance on both sides (benchmarks/warm.md, "Both
	 * sides of a warm instance"). Scheduling only: nothing else of the
	 * notification changes. */
	if (sb->warm)
		(void)ioctl(sb->spawner.listener, SECCOMP_IOCTL_NOTIF_SET_FLAGS,
			    SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP);
	driver_init(sb);
	sb->nest_parent = NULL;
	*ret = sb;
	return 0;
fail:
	sandbox_free(sb);
	return r;
}

int sandbox_new(const struct sandbox_opts *opts, struct sandbox **ret,
		struct err *e)
{
	return sandbox_make(NULL, NULL, opts, ret, e);
}

int sandbox_new_nested(struct sandbox *parent,
		       const struct sandbox_opts *opts, struct sandbox **ret,
		       struct err *e)
{
	return sandbox_make(parent, "runner", opts, ret, e);
}

int sandbox_new_driver(struct sandbox *parent, const struct sandbox_opts *opts,
		       struct sandbox **ret, struct err *e)
{
	return sandbox_make(parent, "driver", opts, ret, e);
}

struct sandbox *sandbox_free(struct sandbox *sb)
{
	if (!sb)
		return NULL;
	/* Its workers get PDEATHSIG when it ends: free them first. */
	if (getenv("PITH_WARM_STATS"))
		fprintf(stderr, "pith: warm workers: %llu instances reused one, %llu started one\n",
			(unsigned long long)sb->warm_reused,
			(unsigned long long)sb->warm_started);
	driver_stop(sb);
	driver_forget_runs(sb);
	warm_flush(sb);
	spawner_stop(sb);
	reuse_close(sb);
	safe_close(sb->events);
	if (sb->guard_shared)
		guard_cgroup_del(sb->guard, sb->cgroup_id);
	else
		guard_free(sb->guard);
	safe_close(sb->loader_fd);
	safe_close(sb->cgroup_fd);
	if (sb->cgroup_path)
		rmdir(sb->cgroup_path);
	if (sb->cgroup_parent)
		rmdir(sb->cgroup_parent);
	free(sb->cgroup_path);
	free(sb->cgroup_parent);
	free(sb->filter);
	spawn_pool_free(sb);
	free(sb);
	return NULL;
}

size_t sandbox_layers(const struct sandbox *sb, struct sandbox_layer *layers,
		      size_t max)
{
	struct guard_layer gl[GUARD_N_LAYERS];
	size_t n = MIN(max, (size_t)LAYER_COUNT), ng;

	memcpy(layers, sb->layers, n * sizeof(*layers));
	ng = guard_layers(sb->guard, gl, ARRAY_SIZE(gl));
	for (size_t i = 0; i < ng && n < max; i++, n++) {
		layers[n] = (struct sandbox_layer){ .name = gl[i].name,
						    .active = gl[i].active };
		if (!sb->guard && sb->guard_error[0])
			snprintf(layers[n].detail, sizeof(layers[n].detail),
				 "%.120s (%.120s)", sb->guard_error,
				 gl[i].detail);
		else
			memcpy(layers[n].detail, gl[i].detail,
			       sizeof(layers[n].detail));
	}
	return n;
}

const char *sandbox_cgroup_path(const struct sandbox *sb)
{
	return sb->cgroup_path;
}

int sandbox_filter(const struct sandbox *sb, const void **ret_insns,
		   size_t *ret_n)
{
	if (!sb->n_filter)
		return -ENODATA;
	*ret_insns = sb->filter;
	*ret_n = sb->n_filter;
	return 0;
}
