/* SPDX-License-Identifier: MIT */
/* State shared by the sandbox's files; not a contract for other layers. */
#ifndef PITH_SANDBOX_INTERNAL_H
#define PITH_SANDBOX_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <linux/securebits.h>
#include <pthread.h>
#include <sched.h>
#include <sys/types.h>
#include <sys/wait.h>

#include "lib/clock.h"
#include "sandbox/plan.h"
#include "sandbox/sandbox.h"

/* Workers run as nobody:nogroup when pith is root (see security.md). */
#define SANDBOX_WORKER_UID 65534
#define SANDBOX_WORKER_GID 65534

/* Locked: no root privilege for uid 0, capabilities cleared by the uid
 * change and never kept, no ambient capability. */
#define SANDBOX_SECUREBITS                                    \
	(SECBIT_NOROOT | SECBIT_NOROOT_LOCKED |                \
	 SECBIT_NO_SETUID_FIXUP_LOCKED | SECBIT_KEEP_CAPS_LOCKED | \
	 SECBIT_NO_CAP_AMBIENT_RAISE |                         \
	 SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED)

#define CTX_PAGE 4096ull
#define REUSE_CTX_MAX 8		/* spare contexts of fresh instances */
#define REUSE_SOCK_MAX 4		/* drained plan socketpairs kept */
#define REAP_FDS_MAX 4		/* fds polled in the exit ring */
#define ZYGOTE_MAX 8		/* zygotes of a sandbox at once */
#define CTX_MIN_SIZE (64ull << 10)     /* smallest limits.memory */
#define CTX_STACK_MAX (1ull << 20)     /* stack: min(1 MiB, memory / 4) */
#define CTX_ALTSTACK_SIZE (16ull << 10) /* signal stack for fault reports */

enum { LAYER_ADDRESS_SPACE, LAYER_SECCOMP, LAYER_PRIVS, LAYER_UID,
       LAYER_RLIMITS, LAYER_CGROUP, LAYER_DEADLINE, LAYER_WARM,
       LAYER_COUNT };

/* An address range [lo, hi) of code trusted to make any system call. */
struct code_range {
	uint64_t lo, hi;
};

/*
 * The spawner: a raw thread of pith (no libc in it) that installed the
 * workers' seccomp program on itself once, so that every worker it clones
 * inherits the compiled program instead of compiling its own. It runs only
 * code from the pith_spawn section, which the program trusts.
 */
struct spawner {
	uint32_t req, done;	/* futex words: requests made, served */
	uint32_t stop;
	pid_t tid;		/* cleared by the kernel when it exits */
	void *args;		/* struct spawn_args of this request */
	long result;		/* clone3's return */
	int listener;		/* notification fd, or -errno */
	const void *prog;	/* struct sock_fprog, NULL without seccomp */
	void *stack;
	size_t stack_size;
	pthread_mutex_t lock;	/* one request at a time */
	bool started;
	/* CPU placement (see place.c): on when pith may use more than one
	 * CPU and PITH_CPU_PLACEMENT is not "off". */
	bool place;
	int cpu;		/* the one CPU it is confined to, or -1 */
	struct sandbox_proc *pinner; /* the lone instance keeping the
					spawning thread on its CPU */
	bool last_alone;	/* no other worker alive at the last spawn */
	cpu_set_t allowed;	/* its CPUs otherwise: pith's, at creation,
				   or its lane's (place_lane()) */
	cpu_set_t unlaned;	/* pith's, while allowed is a lane's */
};

/* An idle warm worker: parked in its trampoline's park call (a pending
 * seccomp notification), holding its context (zeroed: a hole punched over
 * all of it when it parked) and nothing else of its instance. */
struct warm_worker {
	struct warm_worker *next;
	struct elf_image *image;	/* holds a reference */
	uint64_t memory;		/* its context size */
	uint32_t owner;
	pid_t pid;
	int pidfd;
	int epfd;			/* its pidfd and the listener: what a
					   proc of it polls (sandbox_proc_fd) */
	uint64_t park_id;		/* the pending notification */
	uint64_t cpu_soft;		/* its RLIMIT_CPU soft limit, s */
	uint64_t cpu_ns;		/* its CPU time so far, at most */
	/* What the guard's map names it as (guard_worker_add()): written
	 * when the function or the stage changes, not per instance. */
	char guard_fn[64];
	uint32_t guard_stage;
	/* The context it keeps mapped, and pith's read-write mapping of it;
	 * NULL when its last one could not stay (kept outputs sealed it):
	 * then the next instance adds a new one. */
	struct buffer *ctx;
	char *map;
	int cpu1;			/* 1 + the CPU warm_place() pinned it
					   to; 0: not pinned */
	uint64_t avg_run_ns;		/* its instances' run time, averaged
					   (place_warm_avg()) */
};

/* The trampoline's warm path, in workers (see worker/trampoline.c). */
enum { TRAMP_PARK, TRAMP_UNMAP, TRAMP_MADVISE,
       TRAMP_MAP_INPUT, TRAMP_CLOSE, TRAMP_UNMAP2,
       TRAMP_N_IP };

struct sandbox {
	struct sandbox_opts opts;
	int loader_fd;		/* pith-worker, O_RDONLY, >= 3 */
	struct code_range loader_text; /* its executable segment, in workers */
	struct code_range spawn_text;  /* the pith_spawn section, in pith */
	struct plan_filter_insn *filter;
	size_t n_filter;	/* 0 when opts.no_seccomp */
	bool drop_ids;		/* pith is root: switch uids */
	int cgroup_fd;		/* the workers' leaf cgroup, or -1 */
	char *cgroup_path;	/* .../pith-<pid>/workers */
	char *cgroup_parent;	/* .../pith-<pid> (NULL for a nested one's) */
	uint64_t cgroup_id;	/* the leaf's (its inode), or 0 */
	/* While sandbox_new_driver() or sandbox_new_nested() makes it: the
	 * sandbox whose leaf its own goes in (.../workers/driver-N for a
	 * driver's, .../workers/runner-N for a pithd runner's), and whose
	 * guard it uses (guard_shared: not its to free). */
	struct sandbox *nest_parent;
	const char *nest;	/* its leaf's prefix: "driver", "runner" */
	bool guard_shared;
	pid_t pid;
	unsigned fork_gen;	/* sandbox_fork_gen() at creation */
	struct spawner spawner;
	struct sandbox_proc *procs; /* live ones, to match notifications */
	/* sandbox_fd(): one epoll set with the pidfd of every worker
	 * (registered once, when it is created), so that the engine waits on
	 * it and the listener for all its instances. */
	int events;
	struct {
		pid_t pid;
		long nr;
		bool park;
		uint64_t id;
		int status;
	} orphans[8];	/* notifications read before their proc knew
			   its pid (another thread's step) */
	unsigned n_orphans;
	struct sandbox_layer layers[LAYER_COUNT];
	struct guard *guard;	/* eBPF layer, NULL when unavailable */
	/* Left by a reaped instance for the next one (reuse.c): its plan
	 * socketpair, drained both ways, and its epoll fd, empty. */
	bool has_spare_epfd;
	/* Drained plan socketpairs (reuse.c): as many as instances end at
	 * once between two spawns, a few. */
	unsigned n_spare_sock;
	int spare_sock[REUSE_SOCK_MAX][2], spare_epfd;
	/* Contexts of reaped fresh instances, every byte zero, each with
	 * pith's read-write mapping and a read-only descriptor of it (for
	 * the input area), for the next fresh instance of the same context
	 * size (reuse.c). */
	struct {
		struct buffer *buf;
		char *map;
		int ro;
	} spare_ctx[REUSE_CTX_MAX];
	unsigned n_spare_ctx;
	uint64_t ctx_reused;	/* fresh instances given one, for tests */
	char guard_error[256];	/* why guard_new() failed */
	/* Warm workers (warm.c): on when seccomp notifications work and
	 * PITH_WARM is not "off". */
	bool warm;
	bool fsgsbase;		/* user code can write fs/gs base */
	uint64_t tramp_exit;	/* pith_context.exit for warm instances */
	uint64_t tramp_ip[TRAMP_N_IP]; /* after each syscall of the path */
	struct warm_worker *idle; /* most recently parked first */
	struct warm_worker *ww_spare; /* one freed, for the next park */
	unsigned n_idle, max_idle;
	unsigned holds;		/* sandbox_hold() - sandbox_release() */
	uint64_t warm_reused, warm_started; /* instances, for tests */
	/* Zygotes (zygote.c): on unless PITH_ZYGOTE=off; from a function's
	 * first fresh instance with PITH_ZYGOTE=always (tests), else from
	 * its second. */
	bool zygote_on, zygote_first;
	pthread_mutex_t zygote_lock;	/* spawns from several threads */
	struct zygote *zygotes;
	unsigned n_zygotes;
	uint64_t zygote_forks;		/* instances forked, for tests */
	void *zygote_info;		/* siginfo_t[ZYGOTE_MAX] (zygote.c) */
	/* Zygotes a job's end killed and has not reaped yet: they die while
	 * pith writes the outputs and ends its other sandboxes; reaped, and
	 * what pith held of them (their pooled contexts, ring, socket)
	 * freed, at the next hold, sandbox_end_idle() or zygote_stop()
	 * (zygote_reap_dying()). */
	struct zygote_dying {
		int pidfd, sock;
		struct plan_ring *ring;
		struct zslot *slots[PLAN_SLOTS];
	} zygote_dying[ZYGOTE_MAX];
	unsigned n_zygote_dying;
	/* Exits of zygotes' children (reap.c): an io_uring whose fd is in
	 * events, one IORING_OP_WAITID per zygote's group (or per child);
	 * NULL until the first, and
	 * for good when reap_off (no such op: pidfds as before). */
	struct io_uring *reap;
	bool reap_off;
	uint64_t reap_seq;		/* the last request's number */
	bool reap_busy;			/* in reap_poll() (not re-entered) */
	bool reap_own;			/* its fd out of events: a caller
					   waits on it (sandbox_reap_own()) */
	/* Fds a caller waits on in the ring (sandbox_reap_wait()): a
	 * multishot poll each, its tag in the completions; re-armed when
	 * the kernel ends one. */
	struct {
		int fd;
		unsigned tag;
		bool armed;
	} reap_fds[REAP_FDS_MAX];
	unsigned n_reap_fds;
	unsigned reap_tags;		/* tags seen since the last wait */
	int reap_fd_err;		/* a poll of one failed: -errno */
	/* Drivers (driver.c): threads with sandboxes of their own, each on
	 * its CPU, running warm instances the engine hands them; one by
	 * default, PITH_DRIVERS or opts.no_drivers say otherwise. drv_evfd is in `events`: completions. */
	bool drv_own;		/* drv_evfd out of events: the caller
				   polls it (sandbox_done_own()) */
	struct driver **drivers;
	unsigned n_drivers;
	unsigned drv_want;	/* drivers to start at the first hand-over */
	unsigned drv_adopted;	/* drivers ready and handed instances */
	bool drv_async;		/* started by sandbox_lanes_start() */
	int drv_evfd;
	uint32_t drv_signalled;
	uint64_t drv_wakes;	/* drivers woken by hand-overs (tests) */
	struct drv_run {
		struct elf_image *image;	/* held (driver_forget_runs()) */
		uint64_t ns;			/* its recent run time */
		unsigned n;			/* runs seen */
	} drv_runs[8];
	unsigned drv_run_next;
	cpu_set_t drv_rest;	/* the CPUs without a driver (before they
				   start: pith's, at sandbox_new()) */
	cpu_set_t drv_mask;	/* the engine thread's, while pinned */
	bool drv_pinned;
	pid_t drv_tid;
	/* Fresh instances go to the drivers too (a lane per CPU): the
	 * engine's thread, its spawner and zygotes on the CPUs without a
	 * driver, each driver's on its own (driver.c, place.c). */
	bool drv_fresh;
	bool lane_pinned;	/* the spawner and zygotes confined */
	struct drv_job *drv_jobs;	/* freed proxies, for the next ones */
	/* Freed procs for the next spawns (spawn.c), as many as a lane
	 * runs and hands over at once: no calloc of a proc per instance. */
	struct sandbox_proc *proc_pool;
	unsigned n_proc_pool;
};

/* Fresh instances a driver's lane holds queued beyond the PLAN_SLOTS it
 * runs, started by the driver as its workers exit (driver.c turn()). */
#define SANDBOX_LANE_QUEUE 8

/* Procs a sandbox keeps for its next spawns: a lane's instances at once
 * (PLAN_SLOTS) and as many more finished but not yet freed. */
#define SANDBOX_PROC_POOL (2 * PLAN_SLOTS)

/* Where things are in the context buffer (offsets from its start). */
struct ctx_layout {
	uint64_t size;
	uint64_t hdr_size;	/* descriptor, tables and names */
	uint64_t arena, arena_size;
	uint64_t altstack_off;
	uint64_t guard_off;	/* one unmapped page below the stack */
	uint64_t stack_off, stack_size;
	uint64_t outputs_off;	/* struct pith_set[n_outputs] */
};

/* One mapping of the input range: the pages of an item that owns them,
 * or the copy area holding the instance's other items (context.c). */
struct ctx_input {
	struct buffer *buf;	/* holds a reference */
	uint64_t addr;		/* in the sandbox */
	uint64_t maplen;	/* page-rounded, 0: nothing to map */
	uint64_t file_off;	/* page-aligned offset in buf */
	uint32_t fd_slot;	/* index among the distinct buffers mapped */
};

/* An item copied into the copy area, and where its bytes came from (an
 * output forwarding it references the origin, not the copy area). */
struct ctx_copy {
	uint64_t addr, len;	/* in the sandbox */
	struct buffer *buf;	/* the origin; holds a reference */
	uint64_t off;
};

struct sandbox_proc {
	struct sandbox *sb;
	pid_t pid;
	int pidfd, sock, epfd;
	int sock_peer;		/* the worker's end, kept for reuse; or -1 */
	bool epfd_empty;	/* nothing registered in epfd any more */
	struct sandbox_proc *next, **pprev; /* in sb->procs */
	struct buffer *ctx;
	struct ctx_layout layout;
	struct ctx_input *inputs;	/* sorted by addr */
	size_t n_inputs;
	size_t n_input_fds;		/* distinct buffers among inputs */
	struct ctx_copy *copies;	/* sorted by addr */
	size_t n_copies;
	uint64_t input_bytes;		/* of the items given, aliases counted */
	struct sandbox_limits limits;	/* as requested */
	/* The request's own (req->kept), else copies in keep.names:
	 * pointers, then bytes. */
	const char *const *output_names;
	size_t n_outputs;
	/* Storage a pooled proc keeps for its next instance (spawn.c):
	 * output_names', inputs' and copies' arrays, grown only for more. */
	struct proc_keep {
		void *names;
		size_t names_cap;
		struct ctx_input *inputs;
		size_t inputs_cap;
		struct ctx_copy *copies;
		size_t copies_cap;
	} keep;
	uint64_t timeout_ms;
	uint64_t start_ns, handoff_ns, deadline_ns;
	bool handed_off, timed_out, killed, finished;
	bool exit_seen;			/* sandbox_poll() saw its pidfd ready,
					   or its exit request complete */
	uint64_t reap_seq;		/* its pending exit request (reap.c),
					   0: none */
	long bad_syscall;		/* first user notification, or -1 */
	long guard_nr;			/* syscall the eBPF guard killed, or -1 */
	char guard_reason[ERR_MAX];	/* its event, formatted */
	char setup_error[200];
	struct sandbox_result result;
	/* Warm workers: the worker may park at the end (warm), it did
	 * (parked: park_id is its pending notification), it served an
	 * earlier instance (reused). */
	bool warm, parked, reused;
	uint64_t park_id;
	int park_status;
	uint64_t cpu_soft;		/* warm: the worker's RLIMIT_CPU, s */
	uint64_t cpu_ns;		/* warm, reused: its worker's CPU time
					   before this instance, at most */
	struct elf_image *image;	/* warm: a reference, for the pool */
	uint32_t owner;
	/* warm: the idle worker taken for this instance, until it starts it;
	 * pith's read-write mapping of ctx, when ctx is a warm worker's
	 * (recycled: written with stores, read in place by collect.c); the
	 * instance has inputs mapped. */
	struct warm_worker *ww;
	char *ctx_map;
	uint64_t area_used;	/* bytes of the input area pith wrote */
	/* The context memfd has an input area past the context: a warm
	 * instance's, or a fresh one's (PLAN_F_AREA, spawn.c), which its
	 * worker maps from ctx_ro, a read-only open of the context memfd
	 * (reuse.c). */
	bool area;
	int ctx_ro;
	/* warm: bytes of the image's writable segments kept in the context
	 * memfd past the input area (PLAN_F_WSEG; 0: the worker resets them
	 * with madvise): the worker's shared copy, then the pristine one. */
	uint64_t wseg;
	int cpu1;	/* warm: 1 + the CPU its worker runs on; 0: any */
	uint64_t run_avg_ns; /* warm: its worker's average run time so far */
	/* Named in the USDT probes (lib/probe.h). */
	char fn_name[64];
	uint32_t stage;
	uint64_t instance;
	/* The thread that spawned it, kept on its CPU (pinned_cpu) until the
	 * worker is reaped, and the affinity to give back; 0: none. */
	pid_t pinned_tid;
	int pinned_cpu;
	cpu_set_t caller_mask;
	/* A driver runs it (driver.c): this proc is the engine's proxy. */
	struct drv_job *dj;
	/* Its context is a zygote's pooled one (zygote.c); its fork was
	 * asked for; it failed (no child: setup_error says why). */
	struct zslot *zslot;
	bool zposted;		/* its fork was asked for */
	/* The time and the TSC when it was: the child reports its
	 * hand-off as a TSC, converted against these (zygote.c). */
	uint64_t zpost_ns, zpost_tsc;
	bool fork_failed;
	/* Reaped as soon as its zygote's group request named it
	 * (zygote_group_exited()): never signalled after; its siginfo. */
	bool zreaped;
	siginfo_t zsi;
};


/* filter.c: the program, trusting calls from the two code ranges. */
int filter_build(const struct sandbox *sb, struct plan_filter_insn **ret,
		 size_t *ret_n, struct err *e);
/* "openat" for 257; NULL-safe buffer in, never fails. */
const char *filter_syscall_name(long nr, char *buf, size_t len);

/* sandbox.c: register a worker's pidfd in sb->events. */
int sandbox_events_add(struct sandbox *sb, int fd);

/* spawn.c */
/* Forks of this process so far (counted in the children). */
unsigned sandbox_fork_gen(void);
/* p, finished with, into sb's pool for the next spawn (or freed). */
void spawn_proc_put(struct sandbox_proc *p);
/* The pool's procs freed (sandbox_free()). */
void spawn_pool_free(struct sandbox *sb);

/* spawner.c: the spawner thread and the clone child (the pith_spawn
 * section). */
extern const char __start_pith_spawn[], __stop_pith_spawn[];
int spawner_start(struct sandbox *sb, struct err *e);
void spawner_stop(struct sandbox *sb);
/* Start p's worker, the loader reading its plan from child_sock. */
int spawner_start_worker(struct sandbox_proc *p, int child_sock,
			 struct err *e);
/* A fresh worker's RLIMIT_CPU (soft, hard) for p's timeout. */
void spawner_cpu_limit(const struct sandbox_proc *p, uint64_t lim[2]);
/* Start a zygote, its loader reading its plan from sock. */
int spawner_start_zygote(struct sandbox *sb, int sock, pid_t *ret_pid,
			 int *ret_pidfd, struct err *e);

/* zygote.c: fresh workers forked from a pre-loaded loader. */
void zygote_init(struct sandbox *sb);
/* Before p's context is written: a free pooled context of the zygote of
 * its (image, memory, owner) as p's (p->ctx, p->ctx_map, p->zslot), the
 * zygote started if need be. false: none (a context as before). */
bool zygote_take_ctx(struct sandbox_proc *p, const struct sandbox_request *req,
		     uint64_t size);
/* After p's context is written: its worker forked by the zygote from
 * p's slot, 1 (p->pid: pith's unreaped child); 0 exec it as before (no
 * slot, or inputs with descriptors: then p->ctx_ro is the slot's
 * read-only descriptor); -errno no worker. */
int zygote_fork(struct sandbox_proc *p);
/* The pid of p's child, read from the ring (and named to the guard) if
 * not known yet; wait: until the zygote has forked it. 0 or -errno (no
 * child: p->setup_error says why). */
int zygote_proc_pid(struct sandbox_proc *p, bool wait);
/* Completion seq of a group request (reap.c): the zygote's child it
 * names has exited, or the zygote. */
void zygote_group_exited(struct sandbox *sb, uint64_t seq, int res);
/* p's child was reaped: its zygote's group is watched again. */
void zygote_child_reaped(struct sandbox_proc *p);
/* The child's report in the slot's control page: p->handed_off and
 * p->handoff_ns, or p->setup_error. */
void zygote_read_ctrl(struct sandbox_proc *p);
/* No process of p is left: its slot back to its zygote's pool, zeroed
 * (or given a new memfd when p's outputs keep it). */
void zygote_release_slot(struct sandbox_proc *p);
/* End every zygote (the job is over). */
void zygote_flush(struct sandbox *sb);
/* Reap the zygotes zygote_flush() killed (each SIGKILLed: this waits
 * only for their exits); takes zygote_lock. */
void zygote_reap_dying(struct sandbox *sb);
/* Post rq on a zygote's ring; wake the zygote if it sleeps on a head
 * older than this post's (and take its z_wait: once per sleep). Whether
 * it woke it. */
bool zygote_ring_post(struct plan_ring *ring, const struct plan_req *rq);
/* The pid of zygote i (tests), 0 when it has none. */
pid_t zygote_pid(struct sandbox *sb, unsigned i);
/* zygote_flush(), and no more zygotes (sandbox_free). */
void zygote_stop(struct sandbox *sb);

/* reap.c: exits of workers without a pidfd (zygotes' children). */
/* Watch p's worker (p->pid, pith's unreaped child): its exit sets
 * p->exit_seen at a sandbox_poll(). -errno: not possible here (open a
 * pidfd instead). */
int reap_watch(struct sandbox_proc *p);
/* Watch the exits of pith's children in process group pgid (a zygote's):
 * a request whose completion (its sequence number in *ret_seq, for
 * zygote_group_exited()) leaves the exited child's siginfo in *info, the
 * child not reaped. -errno: not possible here. */
int reap_watch_group(struct sandbox *sb, pid_t pgid, siginfo_t *info,
		     uint64_t *ret_seq);
/* Reap pid, an exited child of group pgid that pith has not reaped, and
 * watch the group again as reap_watch_group() does, in one
 * io_uring_enter(). The reap is over when it returns: *si has si_signo
 * SIGCHLD and pid's siginfo when it reaped pid, else zeros. 0: the group
 * is watched (*ret_seq); -errno: it is not. */
int reap_child_watch_group(struct sandbox *sb, pid_t pid, siginfo_t *si,
			   pid_t pgid, siginfo_t *info, uint64_t *ret_seq);
/* p's pidfd, opened now if it has none (a zygote's child, not reaped
 * yet): 0 or -errno. */
int reap_pidfd(struct sandbox_proc *p);
/* Watch p's exit from the sandbox's poll: its request on the ring, else
 * its pidfd in sb->events. 0 or -errno. */
int reap_watch_exit(struct sandbox_proc *p);
/* The exits completed so far: exit_seen on their procs. */
void reap_poll(struct sandbox *sb);
/* fd is the ring's (in sb->events). */
bool reap_is_fd(const struct sandbox *sb, int fd);
/* Close the ring (the sandbox ends). */
void reap_close(struct sandbox *sb);

/* place.c: CPU placement of a lone instance. */
/* Decide whether placement is on and keep pith's CPUs (spawner_start). */
void place_init(struct spawner *s);
/* Confine the (sleeping) spawner to one CPU, or with cpu < 0 give it all
 * of its CPUs back; its clones inherit that. No-op when placement is off;
 * called with the spawner's lock held. */
void place_spawner(struct spawner *s, int cpu);
/* Before p's worker is cloned: the CPU to start it on (the calling thread
 * then stays there until p is reaped), or -1. */
int place_before_spawn(struct sandbox_proc *p);
/* After the clone (pid: clone3's result; confined: the CPU the spawner was
 * on; execd: the child reached execve): undo the pin if the child was not
 * started where asked, and give an exec'd confined worker its CPUs back. */
/* The engine's lane: its spawner (and so the zygotes it starts, and
 * their spares) and its running zygotes confined to cpus; with NULL given
 * back pith's CPUs. */
void place_lane(struct sandbox *sb, const cpu_set_t *cpus);
void place_after_spawn(struct sandbox_proc *p, long pid, int here,
		       int confined, bool execd);
/* Give the spawning thread its affinity back (idempotent). */
void place_unpin_caller(struct sandbox_proc *p);
/* A warm worker (warm.c, warm_place()) is pinned to a CPU of its own when
 * its instances run this long (ns), on average: */
#define WARM_SPREAD_NS (100 * 1000)
/* Its average run time with one more run (0: none yet). */
uint64_t place_warm_avg(uint64_t avg, uint64_t run_ns);
/* Whether it is pinned for its next instance, pinned now or not. */
bool place_warm_spread(uint64_t avg, bool pinned);

/* reuse.c: the plan socketpair and the epoll fd of a fresh worker, kept
 * from a reaped instance for the next one. */
/* p->sock and p->sock_peer: the spare pair or a new one. */
int reuse_take_sock(struct sandbox_proc *p, struct err *e);
/* p->epfd with p's pidfd and the listener, if not made yet (spawn.c). */
int spawn_proc_epoll(struct sandbox_proc *p, struct err *e);
/* p->epfd: the spare epoll fd or a new one. */
int reuse_take_epfd(struct sandbox_proc *p, struct err *e);
/* The worker is reaped: keep its socketpair and epoll fd for the next
 * instance if they hold nothing of it, else close them. */
void reuse_release_sock(struct sandbox_proc *p);
void reuse_release_epfd(struct sandbox_proc *p);
/* A fresh instance's context of `size` bytes and an input area past it:
 * a spare one, zero, with pith's mapping (p->ctx, p->ctx_map), or a new
 * one; with its read-only descriptor (p->ctx_ro). false: neither (no
 * /proc to reopen it): the caller makes one without an input area. */
bool reuse_take_ctx(struct sandbox_proc *p, uint64_t size);
/* A fresh instance whose small items are in its input area: its worker
 * gets p->ctx_ro, its third fd, and maps the area from it (PLAN_F_AREA). */
static inline bool proc_area_fd(const struct sandbox_proc *p)
{
	return !p->warm && p->area && p->area_used;
}
/* The instance is over and its worker reaped: keep its context, zeroed,
 * when nothing else holds it (sandbox_proc_free()). */
void reuse_release_ctx(struct sandbox_proc *p);
/* Free the spare contexts (the job's end, like its zygotes). */
void reuse_flush_ctx(struct sandbox *sb);
/* Close the spares (sandbox_free). */
void reuse_close(struct sandbox *sb);

/* warm.c */
/* Every byte of a context memfd of `size` bytes, mapped read-write at
 * `map`, back to zero, by stores where few pages were touched ([0, lo)
 * always), else holes punched; no process may run in it meanwhile. The
 * bytes kept (zero pages), or -errno. */
int64_t warm_zero_ctx(int fd, char *map, uint64_t size, uint64_t lo);
/* Compute the trampoline's addresses and decide whether warm workers run. */
void warm_init(struct sandbox *sb);
/* Take an idle worker of p's (image, memory, owner) for p, before its
 * context is written: p gets the worker's context (p->ctx, p->ctx_map)
 * when it has one. 1 taken, 0 none. */
int warm_take(struct sandbox_proc *p, const struct sandbox_request *req,
	      uint64_t size);
/* Start p's instance in the worker warm_take() gave it: 1 started, 0 it
 * died (spawn a fresh one, with p->ctx), -errno. */
int warm_start(struct sandbox_proc *p, const struct sandbox_request *req,
	       struct err *e);
/* Kill a worker taken and not started (p is freed before its start). */
void warm_drop(struct sandbox_proc *p);
/* Write the warm exit address into p's new context (and, into a new one,
 * the image's writable segments when the context holds them). */
int warm_prepare(struct sandbox_proc *p);
/* Bytes a warm context's memfd holds past the context: the input area
 * and the writable segments' two copies (p->wseg, set by warm_take()). */
uint64_t warm_ctx_extra(const struct sandbox_proc *p);
/* p's worker parked cleanly: keep it idle (takes its pidfd and epfd, and
 * its context when nothing sealed it). */
int warm_put(struct sandbox_proc *p);
/* Before p's context is sealed (outputs stay in it): no writable mapping
 * may remain, so its parked worker is ended and pith's mapping dropped. */
void warm_unshare_ctx(struct sandbox_proc *p);
/* Kill every idle worker. */
void warm_flush(struct sandbox *sb);
/* An idle worker whose pidfd is fd died: reap it and drop it from the
 * pool. false when no idle worker has that pidfd. */
bool warm_reap_idle(struct sandbox *sb, int fd);
/* The notification is a park from the trampoline's park call. */
bool warm_is_park(const struct sandbox *sb, long nr, uint64_t ip);

/* driver.c: warm instances run by driver threads, one per CPU. */
/* Decide on the drivers (opts.no_drivers, PITH_DRIVERS; sandbox_new(), last);
 * they start at the first instance handed over. */
void driver_init(struct sandbox *sb);
/* Stop them and free their sandboxes. */
void driver_stop(struct sandbox *sb);
/* A warm instance of img ran run_ns (the engine's thread only): whether
 * its function's next instances may go to a driver. */
void driver_note_run(struct sandbox *sb, const struct elf_image *img,
		     uint64_t run_ns);
/* The job is over: the engine's thread gets its CPUs back. */
void driver_unpin(struct sandbox *sb);
/* sandbox_new() for a driver's thread: its cgroup leaf nested in
 * parent's, parent's eBPF guard shared (one program for the run). */
int sandbox_new_driver(struct sandbox *parent, const struct sandbox_opts *opts,
		       struct sandbox **ret, struct err *e);
/* Let the run table's images go (a job's end, sandbox_free()). */
void driver_forget_runs(struct sandbox *sb);
/* fn on each driver's sandbox, under its lock (hold, release, flush). */
void driver_each(struct sandbox *sb, void (*fn)(struct sandbox *, void *),
		 void *arg);
/* Driver i's CPU (tests), -1 when it has none. */
int driver_cpu(struct sandbox *sb, unsigned i);
/* Instances driver i's zygotes forked (tests; read once its instances
 * are done), 0 when it has none. */
uint64_t driver_zygote_forks(struct sandbox *sb, unsigned i);
/* Hand req to a driver: 1 (*ret: a proxy proc), 0 not one for a driver. */
int driver_spawn(struct sandbox *sb, const struct sandbox_request *req,
		 struct sandbox_proc **ret);
/* sandbox_poll() saw drv_evfd. */
void driver_polled(struct sandbox *sb);
/* A proxy: its driver completed it; step (1 finished, -errno); kill;
 * before its free (waits for the driver to be done with it). */
bool driver_proxy_done(const struct sandbox_proc *p);
int driver_proxy_step(struct sandbox_proc *p);
void driver_proxy_kill(struct sandbox_proc *p);
void driver_proxy_free(struct sandbox_proc *p);

/* context.c: lay out and write the descriptor into a new context buffer,
 * and place the inputs (mapped pages or the copy area). */
/* The parts of a context of `memory` bytes that depend on its size alone:
 * size, stack, guard page, signal stack (a zygote's plan). */
void context_frame(uint64_t memory, struct ctx_layout *l);
int context_new(const struct sandbox_request *req, struct sandbox_proc *p,
		struct err *e);
/* Where [addr, addr + len) of the input range came from: the item's own
 * buffer for a mapped or copied item. -ERANGE when outside every input. */
int context_resolve_input(const struct sandbox_proc *p, uint64_t addr,
			  uint64_t len, struct buffer **ret_buf,
			  uint64_t *ret_off);
/* Drop the input placement's references. */
void context_done(struct sandbox_proc *p);

/* collect.c: validate the function's output sets and build them. */
int outputs_collect(struct sandbox_proc *p, struct err *e);
/* An SDK exit status: read and check the function's note (collect.c). */
void outputs_note(struct sandbox_proc *p, int status);

#endif
