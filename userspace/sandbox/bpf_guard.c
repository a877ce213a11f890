// SPDX-License-Identifier: MIT
/*
 * Loader of the guard BPF programs: open, configure, load, attach to the
 * worker cgroup, deliver ring buffer events, detach everything on free.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/magic.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "sandbox/bpf_btf.h"
#include "sandbox/bpf_guard.h"
#include "sandbox/bpf_guard_names.h"
#include "guard.skel.h"

#define X32_SYSCALL_BIT 0x40000000L

static const char *const syscall_names[] = {
#include "guard_syscalls.h"
};

static const char *const hook_names[GUARD_HOOK_MAX] = {
	[GUARD_HOOK_NONE] = "sys_enter",
	[GUARD_HOOK_FILE_OPEN] = "file_open",
	[GUARD_HOOK_SOCKET_CREATE] = "socket_create",
	[GUARD_HOOK_BPRM_CHECK] = "bprm_check_security",
	[GUARD_HOOK_TASK_ALLOC] = "task_alloc",
	[GUARD_HOOK_MMAP_FILE] = "mmap_file",
	[GUARD_HOOK_FILE_MPROTECT] = "file_mprotect",
	[GUARD_HOOK_PTRACE] = "ptrace_access_check",
	[GUARD_HOOK_TASK_KILL] = "task_kill",
	[GUARD_HOOK_BPF] = "bpf",
	[GUARD_HOOK_PERF_EVENT_OPEN] = "perf_event_open",
	[GUARD_HOOK_SOCK_CREATE] = "cgroup/sock_create",
};

static const char *const pinned_maps[] = {
	"pith_sys_cnt", "pith_hook_cnt", "pith_fn_cnt",
};

/* Events of cgroups no sandbox polls, read from the ring by a call that
 * polls none (guard_worker_reaped(), guard_fn_count()): kept for a poll
 * of every cgroup, at most this many (a poll by cgroup drops them). */
#define GUARD_OTHERS_MAX 256

/* The events of one cgroup's workers read from the ring by another
 * cgroup's poller, kept for its own (guard_poll()): at most one per
 * worker, the first, which is the one that names why it died. */
struct guard_queue {
	uint64_t cgroup;
	struct guard_violation *v;
	unsigned n, cap;
};

/* The events one guard_poll() hands its callback: gathered under the
 * guard's lock, handed after it (see guard_poll()). The first few fit
 * on the poller's stack; more (rare: a violation kills its worker) go to
 * the heap. */
#define GUARD_BATCH_STACK 8
struct guard_batch {
	struct guard_violation *v;
	unsigned n, cap;
	struct guard_violation stack[GUARD_BATCH_STACK];
};

struct guard {
	struct guard_bpf *skel;
	int cgroup_fd;
	enum guard_attach attach;
	bool lsm_active;
	bool lsm_explain; /* lsm_detail is the why of a failed load */
	bool small_btf;	  /* CO-RE resolved against bpf_btf.c's cut */
	char lsm_detail[256];
	char sys_detail[256];
	char sock_detail[256];
	struct bpf_link *sys_link, *exit_link, *sock_link;
	struct bpf_link **lsm_links;
	size_t n_lsm_links;
	unsigned holds;
	struct ring_buffer *rb;
	struct guard_batch *batch; /* during guard_poll()'s read */
	char *pin_dir;
	bool keep_pins;
	/* pith's names of its workers, given to their events as they are
	 * read (guard_worker_add()), and the ring's reader and producer
	 * positions (a page of its own each, read-only). */
	struct guard_names names;
	const unsigned long *ring_read, *ring_made;
	long page;
	/* One guard may serve sandboxes on several threads (a run's drivers,
	 * each in a cgroup nested in the guard's): the ring, the maps' names
	 * and the holds are taken under this lock. */
	pthread_mutex_t lock;
	/* guard_poll(): the poller's cgroup (0: every one), and a queue for
	 * each cgroup a sandbox polls (guard_cgroup_add()), the guard's own
	 * first. */
	uint64_t want_cgroup;
	struct guard_queue *queues;
	unsigned n_queues;
	/* Reading with no poller (ring_to_queues()): every event to its
	 * cgroup's queue, or to others. */
	bool to_queues;
	struct guard_queue others;
};

const char *guard_syscall_name(long nr)
{
	if (nr < 0 || (size_t)nr >= ARRAY_SIZE(syscall_names))
		return NULL;
	return syscall_names[nr];
}

const char *guard_hook_name(enum guard_hook hook)
{
	if ((unsigned)hook >= GUARD_HOOK_MAX)
		return "?";
	return hook_names[hook];
}

/*
 * libbpf reports why a load failed through its print callback. Library
 * layers never print, so the last warning is kept for the error message.
 */
static char libbpf_last[256];

static int libbpf_capture(enum libbpf_print_level level, const char *fmt,
			  va_list ap)
{
	char line[256];
	size_t n;

	if (level == LIBBPF_DEBUG)
		return 0;
	vsnprintf(line, sizeof(line), fmt, ap);
	n = strcspn(line, "\n");
	line[n] = 0;
	/* Keep the first line that says something, skip verifier dumps. */
	if (n > 0 && !libbpf_last[0])
		snprintf(libbpf_last, sizeof(libbpf_last), "%s", line);
	return 0;
}

static bool is_lsm_prog(const struct bpf_program *p)
{
	return bpf_program__type(p) == BPF_PROG_TYPE_LSM;
}

static int open_cgroup(const struct guard_opts *o, struct err *e)
{
	_cleanup_close_ int fd = -1;
	struct statfs sfs;

	if (o->cgroup_path)
		fd = open(o->cgroup_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	else if (o->cgroup_fd > 0)
		fd = fcntl(o->cgroup_fd, F_DUPFD_CLOEXEC, 3);
	else
		return err_set(e, EINVAL, "no worker cgroup given");
	if (fd < 0)
		return err_errno(e, errno, "cannot open cgroup %s", o->cgroup_path ? o->cgroup_path : "(fd)");
	if (fstatfs(fd, &sfs) < 0)
		return err_errno(e, errno, "cannot stat cgroup");
	if (sfs.f_type != CGROUP2_SUPER_MAGIC)
		return err_set(e, ENOTDIR, "%s is not a cgroup v2 directory",
			       o->cgroup_path ? o->cgroup_path : "(fd)");
	return TAKE_FD(fd);
}

static void configure(struct guard_bpf *skel, const struct guard_opts *o,
		      bool with_lsm)
{
	static const int default_allow[] = {
		SYS_exit, SYS_exit_group, SYS_rt_sigreturn,
	};
	const int *allow = o->allow ? o->allow : default_allow;
	size_t n = o->allow ? o->n_allow : ARRAY_SIZE(default_allow);
	struct bpf_program *p;
	bool audit = o->mode == GUARD_AUDIT;

	for (size_t i = 0; i < n; i++) /* checked by guard_new() */
		skel->rodata->allow_bits[allow[i] / 64] |=
			1ull << (allow[i] % 64);
	if (o->arm_nr > 0) {
		skel->rodata->arm_nr = o->arm_nr;
		skel->rodata->arm_arg0 = o->arm_arg0;
	}
	skel->rodata->kill_syscalls = !audit && !o->syscall_audit_only;
	skel->rodata->deny_lsm = !audit;
	skel->rodata->deny_sock = !audit;
	if (o->lsm_hooks)
		skel->rodata->lsm_hooks = o->lsm_hooks;
	bpf_object__for_each_program(p, skel->obj)
		if (is_lsm_prog(p))
			bpf_program__set_autoload(p, with_lsm);
}

/*
 * The small BTF of bpf_btf.c, cut once per process and kept as bytes; each
 * load gets it in a memfd of its own, closed after the load.
 */
static struct {
	pthread_mutex_t lock;
	bool tried;
	int err;
	void *data;
	size_t size;
	uint32_t n_types, lsm_hook_id;
} small_btf = { .lock = PTHREAD_MUTEX_INITIALIZER };

static void small_btf_get(void)
{
	struct guard_btf b;
	struct stat st;

	pthread_mutex_lock(&small_btf.lock);
	if (small_btf.tried)
		goto out;
	small_btf.tried = true;
	small_btf.err = guard_btf_new(&b);
	if (small_btf.err < 0)
		goto out;
	if (fstat(b.fd, &st) < 0 || !(small_btf.data = malloc(st.st_size)) ||
	    pread(b.fd, small_btf.data, st.st_size, 0) != st.st_size) {
		free(small_btf.data);
		small_btf.data = NULL;
		small_btf.err = -EIO;
	} else {
		small_btf.size = st.st_size;
		small_btf.n_types = b.n_types;
		small_btf.lsm_hook_id = b.lsm_hook_id;
	}
	guard_btf_free(&b);
out:
	pthread_mutex_unlock(&small_btf.lock);
}

static int small_btf_fd(void)
{
	int fd;

	if (!small_btf.data)
		return -ENOENT;
	fd = memfd_create("pith-guard-btf", MFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (write(fd, small_btf.data, small_btf.size) !=
	    (ssize_t)small_btf.size) {
		close(fd);
		return -EIO;
	}
	return fd;
}

/*
 * Whether lsm_cgroup programs load here, asked with a two-instruction one
 * on bpf_lsm_file_open instead of loading (and verifying, and resolving
 * against the whole kernel BTF) the guard's programs only to see the first
 * LSM one refused. 0: they load; -errno: why not, in why.
 */
static int probe_lsm_cgroup(char *why, size_t why_len)
{
	static const struct bpf_insn insns[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0,
		  .imm = 1 },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	LIBBPF_OPTS(bpf_prog_load_opts, po,
		    .expected_attach_type = BPF_LSM_CGROUP,
		    .attach_btf_id = small_btf.lsm_hook_id);
	int fd;

	if (!small_btf.lsm_hook_id) {
		snprintf(why, why_len, "no BPF-LSM hooks (bpf_lsm_file_open) "
			 "in the kernel BTF");
		return -ENOENT;
	}
	fd = bpf_prog_load(BPF_PROG_TYPE_LSM, "pith_lsm_probe", "GPL", insns,
			   ARRAY_SIZE(insns), &po);
	if (fd < 0) {
		snprintf(why, why_len, "lsm_cgroup probe program: %s",
			 strerror(-fd));
		return fd;
	}
	close(fd);
	return 0;
}

/* Open, configure and load; with_lsm selects the lsm_cgroup programs,
 * btf_path (or NULL: the whole kernel BTF) what CO-RE reads resolve
 * against. */
static int load(const struct guard_opts *o, bool with_lsm,
		const char *btf_path, struct guard_bpf **ret, char *why,
		size_t why_len)
{
	LIBBPF_OPTS(bpf_object_open_opts, oo, .btf_custom_path = btf_path);
	struct guard_bpf *skel;
	int r;

	libbpf_last[0] = 0;
	skel = guard_bpf__open_opts(&oo);
	if (!skel) {
		r = negative_errno();
		snprintf(why, why_len, "open: %s", strerror(-r));
		return r;
	}
	configure(skel, o, with_lsm);
	r = guard_bpf__load(skel);
	if (r < 0) {
		snprintf(why, why_len, "%s", libbpf_last[0] ? libbpf_last :
			 strerror(-r));
		guard_bpf__destroy(skel);
		return r;
	}
	*ret = skel;
	return 0;
}

/* Turn a failed LSM load into the reason `pith doctor` shows (when it
 * asks: the probes read the kernel config). */
static void explain_lsm(char *out, size_t out_len, const char *why)
{
	const struct guard_probe *p = guard_probe();
	const char *reason;

	if (!p->privileged)
		reason = "missing privilege (CAP_BPF+CAP_PERFMON or "
			 "CAP_SYS_ADMIN)";
	else if (p->config_bpf_lsm == 0)
		reason = "kernel built without CONFIG_BPF_LSM";
	else if (p->lsm_has_bpf == 0)
		reason = "bpf is not in the active LSM list (boot with "
			 "lsm=...,bpf)";
	else if (p->lsm_has_bpf < 0)
		reason = "the kernel refused lsm_cgroup programs; securityfs "
			 "is not mounted, so the LSM list is unknown (is bpf "
			 "in lsm=?)";
	else
		reason = "the kernel refused lsm_cgroup programs (needs "
			 "kernel >= 6.0)";
	snprintf(out, out_len, "%s: %.120s", reason, why);
}

/*
 * The calls allowed at one address each, into pith_pinned, which is then
 * frozen: from here on no process can change it (BPF_MAP_FREEZE) and no
 * program either (BPF_F_RDONLY_PROG), as the .rodata settings. Done after
 * the load and before any attach, so no program ever runs with it
 * incomplete. An ip of 0 is an unused slot.
 */
static int pin_calls(struct guard *g, const struct guard_opts *o)
{
	int fd = bpf_map__fd(g->skel->maps.pith_pinned);
	__u8 one = 1;

	for (size_t i = 0; i < o->n_pinned && i < GUARD_MAX_PINNED; i++) {
		struct guard_pinned k = { .ip = o->pinned[i].ip,
					  .nr = o->pinned[i].nr };
		int r;

		if (!k.ip)
			continue;
		r = bpf_map_update_elem(fd, &k, &one, BPF_ANY);
		if (r < 0)
			return r;
	}
	return bpf_map_freeze(fd);
}

static void detach_lsm_progs(struct guard *g)
{
	for (size_t i = 0; i < g->n_lsm_links; i++)
		bpf_link__destroy(g->lsm_links[i]);
	free(g->lsm_links);
	g->lsm_links = NULL;
	g->n_lsm_links = 0;
	g->lsm_active = false;
}

static int attach_cgroup_progs(struct guard *g, struct err *e)
{
	struct bpf_program *p;
	size_t n = 0;

	g->sock_link = bpf_program__attach_cgroup(
		g->skel->progs.pith_sock_create, g->cgroup_fd);
	if (!g->sock_link)
		return err_errno(e, errno, "cannot attach cgroup/sock_create");
	if (!g->lsm_active)
		return 0;
	bpf_object__for_each_program(p, g->skel->obj)
		n += is_lsm_prog(p);
	g->lsm_links = calloc(n, sizeof(*g->lsm_links));
	if (!g->lsm_links)
		return err_set(e, ENOMEM, "out of memory");
	bpf_object__for_each_program(p, g->skel->obj) {
		struct bpf_link *l;

		if (!is_lsm_prog(p))
			continue;
		l = bpf_program__attach_cgroup(p, g->cgroup_fd);
		if (!l) {
			/* Degrade to the other layers, and say why: the
			 * kernel has 10 lsm_cgroup slots for everyone. */
			snprintf(g->lsm_detail, sizeof(g->lsm_detail),
				 "cannot attach lsm_cgroup %s: %m (the kernel "
				 "has 10 lsm_cgroup hook slots for all users)",
				 bpf_program__name(p));
			detach_lsm_progs(g);
			return 0;
		}
		g->lsm_links[g->n_lsm_links++] = l;
	}
	return 0;
}

static int attach_syscall_progs(struct guard *g)
{
	g->exit_link = bpf_program__attach(g->skel->progs.pith_proc_exit);
	if (!g->exit_link)
		return negative_errno();
	g->sys_link = bpf_program__attach(g->skel->progs.pith_sys_enter);
	if (!g->sys_link) {
		int r = negative_errno();

		bpf_link__destroy(g->exit_link);
		g->exit_link = NULL;
		return r;
	}
	return 0;
}

static void detach_syscall_progs(struct guard *g)
{
	bpf_link__destroy(g->sys_link);
	bpf_link__destroy(g->exit_link);
	g->sys_link = g->exit_link = NULL;
}

static int pin_maps(struct guard *g, const char *dir, struct err *e)
{
	char path[PATH_MAX];
	struct statfs sfs;

	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return err_errno(e, errno, "cannot create %s", dir);
	if (statfs(dir, &sfs) < 0)
		return err_errno(e, errno, "cannot stat %s", dir);
	if (sfs.f_type != BPF_FS_MAGIC)
		return err_set(e, ENOTDIR, "%s is not on a bpf filesystem "
			       "(mount -t bpf bpf /sys/fs/bpf)", dir);
	g->pin_dir = strdup(dir);
	if (!g->pin_dir)
		return err_set(e, ENOMEM, "out of memory");
	for (size_t i = 0; i < ARRAY_SIZE(pinned_maps); i++) {
		struct bpf_map *m;
		int r;

		m = bpf_object__find_map_by_name(g->skel->obj, pinned_maps[i]);
		snprintf(path, sizeof(path), "%s/%s", dir, pinned_maps[i]);
		r = m ? bpf_map__pin(m, path) : -ENOENT;
		if (r < 0)
			return err_errno(e, r, "cannot pin %s", path);
	}
	return 0;
}

static struct guard_queue *queue_find(struct guard *g, uint64_t cgroup)
{
	for (unsigned i = 0; i < g->n_queues; i++)
		if (g->queues[i].cgroup == cgroup)
			return &g->queues[i];
	return NULL;
}

/*
 * Keep v for its cgroup's poll. A worker's first event is the one its
 * sandbox reports (proc.c, on_violation()); a later one of the same
 * worker (an audited or denied call it went on from) is not kept, so a
 * queue holds at most one event per worker killed or refused since its
 * sandbox last polled, and that sandbox polls as it reaps each worker.
 * Events of a cgroup no sandbox polls (none added it) have no one to go
 * to: a poll of every cgroup (cgroup 0) is handed them, a routed one
 * drops them. Out of memory, the event is dropped too (its worker then
 * reports a plain SIGKILL).
 */
static void queue_push(struct guard_queue *q, const struct guard_violation *v)
{
	struct guard_violation *nv;

	if (!q)
		return;
	for (unsigned i = 0; i < q->n; i++)
		if (q->v[i].pid == v->pid)
			return;
	if (q->n == q->cap) {
		unsigned cap = q->cap ? 2 * q->cap : 8;

		nv = reallocarray(q->v, cap, sizeof(*nv));
		if (!nv)
			return;
		q->v = nv;
		q->cap = cap;
	}
	q->v[q->n++] = *v;
}

/*
 * Name v's worker as pith named it (guard_worker_add()), "" if it did not,
 * and count it for that function. The name is still known: pith reads
 * every event of a worker from the ring before it forgets the worker's
 * name (guard_worker_reaped()). The count is pith's to make, as it reads:
 * no program writes pith_fn_cnt, and only this guard's reader (under its
 * lock) does, so a plain read and write suffice.
 */
static void name_and_count(struct guard *g, struct guard_violation *v,
			   uint32_t hook)
{
	const struct guard_name *w = guard_names_find(&g->names, v->pid);
	struct guard_fn_key key = { .nr = v->compat ? -1 : (__s32)v->nr,
				    .hook = hook };
	int fd = bpf_map__fd(g->skel->maps.pith_fn_cnt);
	__u64 n = 0;

	if (w) {
		memcpy(v->fn, w->fn, sizeof(v->fn));
		v->stage = w->stage;
		v->instance = w->instance;
	}
	memcpy(key.fn, v->fn, sizeof(key.fn));
	bpf_map_lookup_elem(fd, &key, &n);
	n++;
	bpf_map_update_elem(fd, &key, &n, BPF_ANY);
}

/* Out of memory, the event is dropped (as queue_push()). */
static void batch_push(struct guard_batch *b, const struct guard_violation *v)
{
	struct guard_violation *nv;

	if (!b)
		return;
	if (b->n == b->cap) {
		unsigned cap = 2 * b->cap;

		if (b->v == b->stack) {
			nv = calloc(cap, sizeof(*nv));
			if (nv)
				memcpy(nv, b->v, b->n * sizeof(*nv));
		} else {
			nv = reallocarray(b->v, cap, sizeof(*nv));
		}
		if (!nv)
			return;
		b->v = nv;
		b->cap = cap;
	}
	b->v[b->n++] = *v;
}

static int on_event(void *ctx, void *data, size_t size)
{
	struct guard *g = ctx;
	const struct guard_event *ev = data;
	struct guard_violation v = {};
	struct guard_queue *q;

	if (size < sizeof(*ev))
		return 0;
	v.pid = ev->tgid;
	v.tid = ev->tid;
	v.kind = ev->kind;
	v.hook = ev->hook;
	v.action = ev->action;
	v.err = ev->err;
	v.nr = ev->nr;
	v.compat = ev->flags & GUARD_EV_COMPAT;
	v.syscall = v.compat ? NULL : guard_syscall_name(ev->nr);
	memcpy(v.args, ev->args, sizeof(v.args));
	memcpy(v.comm, ev->comm, sizeof(v.comm));
	v.comm[sizeof(v.comm) - 1] = 0;
	v.cgroup_id = ev->cgroup_id;
	v.ts_ns = ev->ts_ns;
	name_and_count(g, &v, ev->hook);
	if (g->to_queues) {
		q = queue_find(g, v.cgroup_id);
		if (q || g->others.n < GUARD_OTHERS_MAX)
			queue_push(q ? q : &g->others, &v);
		return 0;
	}
	if (g->want_cgroup && v.cgroup_id != g->want_cgroup) {
		/* Another sandbox's worker: kept for its poll, never given
		 * to this one (its cgroup is the kernel's word: a worker
		 * cannot move itself). */
		queue_push(queue_find(g, v.cgroup_id), &v);
		return 0;
	}
	batch_push(g->batch, &v);
	return 0;
}

/* The ring's reader and producer positions, each on a page of its own
 * (the kernel's layout of a BPF ring buffer), mapped read-only. */
static int map_ring_positions(struct guard *g)
{
	int fd = bpf_map__fd(g->skel->maps.pith_events);
	void *p;

	g->page = sysconf(_SC_PAGESIZE);
	p = mmap(NULL, g->page, PROT_READ, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		return -errno;
	g->ring_read = p;
	p = mmap(NULL, g->page, PROT_READ, MAP_SHARED, fd, g->page);
	if (p == MAP_FAILED)
		return -errno;
	g->ring_made = p;
	return 0;
}

/* Read the ring and forget the names of reaped workers all of whose
 * events are read now. Under the lock. */
static int ring_read(struct guard *g)
{
	int r = ring_buffer__consume(g->rb);

	if (g->names.n_gone)
		guard_names_sweep(&g->names,
				  __atomic_load_n(g->ring_read,
						  __ATOMIC_ACQUIRE));
	return r;
}

/* Read what is in the ring with no poller: each event, named, into its
 * cgroup's queue for that cgroup's poll (others kept for a poll of every
 * cgroup). Under the lock. */
static void ring_to_queues(struct guard *g)
{
	g->to_queues = true;
	ring_read(g);
	g->to_queues = false;
}

int guard_new(const struct guard_opts *opts, struct guard **ret,
	      struct err *e)
{
	_cleanup_(guard_freep) struct guard *g = NULL;
	libbpf_print_fn_t old_print;
	char why[256] = "", btf_path[32] = "";
	struct stat st;
	int btf_fd;
	int r;

	for (size_t i = 0; opts->allow && i < opts->n_allow; i++)
		if (opts->allow[i] < 0 || opts->allow[i] >= GUARD_NR_MAX)
			return err_set(e, EINVAL, "allow list: %d is not an "
				       "x86-64 syscall number", opts->allow[i]);
	g = calloc(1, sizeof(*g));
	if (!g)
		return err_set(e, ENOMEM, "out of memory");
	g->cgroup_fd = -1;
	pthread_mutex_init(&g->lock, NULL);
	g->attach = opts->attach;
	g->keep_pins = opts->keep_pins;
	r = open_cgroup(opts, e);
	if (r < 0)
		return r;
	g->cgroup_fd = r;
	/* Its own cgroup's events kept for it when a nested one polls. */
	if (fstat(g->cgroup_fd, &st) < 0)
		return err_errno(e, errno, "cannot stat the worker cgroup");
	if (guard_cgroup_add(g, st.st_ino) < 0)
		return err_set(e, ENOMEM, "out of memory");

	/* CO-RE against the small BTF when it could be cut (libbpf then
	 * reads the kernel's only for the BPF-LSM programs' hooks), against
	 * the whole one when not or when that fails. */
	btf_fd = -1;
	if (!opts->full_btf) {
		small_btf_get();
		btf_fd = small_btf_fd();
	}
	if (btf_fd >= 0)
		snprintf(btf_path, sizeof(btf_path), "/proc/self/fd/%d",
			 btf_fd);
	old_print = libbpf_set_print(libbpf_capture);
	if (opts->no_lsm) {
		snprintf(g->lsm_detail, sizeof(g->lsm_detail),
			 "disabled by the caller");
	} else if (btf_fd >= 0 && probe_lsm_cgroup(why, sizeof(why)) < 0) {
		snprintf(g->lsm_detail, sizeof(g->lsm_detail), "%s", why);
		g->lsm_explain = true;
	} else {
		r = -ENOENT;
		if (btf_fd >= 0)
			r = load(opts, true, btf_path, &g->skel, why,
				 sizeof(why));
		g->small_btf = r == 0;
		if (r < 0)
			r = load(opts, true, NULL, &g->skel, why, sizeof(why));
		if (r == 0) {
			g->lsm_active = true;
		} else {
			snprintf(g->lsm_detail, sizeof(g->lsm_detail), "%s",
				 why);
			g->lsm_explain = true;
		}
	}
	if (!g->skel) {
		r = -ENOENT;
		if (btf_fd >= 0)
			r = load(opts, false, btf_path, &g->skel, why,
				 sizeof(why));
		g->small_btf = r == 0;
		if (r < 0)
			r = load(opts, false, NULL, &g->skel, why, sizeof(why));
	}
	libbpf_set_print(old_print);
	safe_close(btf_fd);
	if (r < 0) {
		const struct guard_probe *p = guard_probe();

		snprintf(g->sys_detail, sizeof(g->sys_detail), "%s", why);
		if (!p->privileged)
			return err_set(e, -r, "cannot load BPF programs: missing "
				       "privilege (CAP_BPF+CAP_PERFMON or "
				       "CAP_SYS_ADMIN): %s", why);
		if (!p->btf)
			return err_set(e, -r, "cannot load BPF programs: kernel "
				       "has no BTF (/sys/kernel/btf/vmlinux): "
				       "%s", why);
		if (!strcmp(p->lockdown, "confidentiality"))
			return err_set(e, -r, "cannot load BPF programs: kernel "
				       "lockdown (confidentiality) forbids "
				       "reading syscall arguments: %s", why);
		return err_set(e, -r, "cannot load BPF programs: %s", why);
	}

	r = pin_calls(g, opts);
	if (r < 0)
		return err_errno(e, r, "cannot set the calls allowed at one address");
	r = bpf_map__update_elem(g->skel->maps.pith_cgroup, &(__u32){ 0 },
				 sizeof(__u32), &g->cgroup_fd, sizeof(int),
				 BPF_ANY);
	if (r < 0)
		return err_errno(e, r, "cannot set the worker cgroup");
	r = attach_cgroup_progs(g, e);
	if (r < 0)
		return r;
	if (g->attach == GUARD_ATTACH_ALWAYS) {
		r = attach_syscall_progs(g);
		if (r < 0)
			return err_set(e, -r, "cannot attach raw_tp/sys_enter: "
				       "%s", strerror(-r));
	}
	g->rb = ring_buffer__new(bpf_map__fd(g->skel->maps.pith_events),
				 on_event, g, NULL);
	if (!g->rb)
		return err_errno(e, errno, "cannot open the event ring");
	r = map_ring_positions(g);
	if (r < 0)
		return err_errno(e, r, "cannot map the event ring's positions");
	if (opts->pin_dir) {
		r = pin_maps(g, opts->pin_dir, e);
		if (r < 0)
			return r;
	}
	snprintf(g->sys_detail, sizeof(g->sys_detail),
		 "raw_tp/sys_enter %s, %s",
		 opts->mode == GUARD_AUDIT || opts->syscall_audit_only ?
			 "audits" : "kills",
		 g->attach == GUARD_ATTACH_ALWAYS ?
			 "attached for the guard's lifetime" :
			 "attached while a job runs");
	snprintf(g->sock_detail, sizeof(g->sock_detail),
		 "cgroup/sock_create %s inet sockets in the worker cgroup",
		 opts->mode == GUARD_AUDIT ? "audits" : "denies");
	if (g->lsm_active)
		snprintf(g->lsm_detail, sizeof(g->lsm_detail),
			 "%zu lsm_cgroup hooks %s", g->n_lsm_links,
			 opts->mode == GUARD_AUDIT ? "audit" : "deny");
	*ret = TAKE_PTR(g);
	return 0;
}

struct guard *guard_free(struct guard *g)
{
	char path[PATH_MAX];

	if (!g)
		return NULL;
	ring_buffer__free(g->rb);
	detach_syscall_progs(g);
	detach_lsm_progs(g);
	bpf_link__destroy(g->sock_link);
	if (g->pin_dir && !g->keep_pins) {
		for (size_t i = 0; i < ARRAY_SIZE(pinned_maps); i++) {
			snprintf(path, sizeof(path), "%s/%s", g->pin_dir,
				 pinned_maps[i]);
			unlink(path);
		}
		rmdir(g->pin_dir);
	}
	free(g->pin_dir);
	for (unsigned i = 0; i < g->n_queues; i++)
		free(g->queues[i].v);
	free(g->queues);
	free(g->others.v);
	guard_names_done(&g->names);
	if (g->ring_read)
		munmap((void *)g->ring_read, g->page);
	if (g->ring_made)
		munmap((void *)g->ring_made, g->page);
	guard_bpf__destroy(g->skel);
	safe_close(g->cgroup_fd);
	pthread_mutex_destroy(&g->lock);
	free(g);
	return NULL;
}

int guard_fd(const struct guard *g)
{
	return ring_buffer__epoll_fd(g->rb);
}

/* Move q's events to b, in their order. */
static void queue_take(struct guard_queue *q, struct guard_batch *b)
{
	for (unsigned i = 0; i < q->n; i++)
		batch_push(b, &q->v[i]);
	q->n = 0;
}

/* Put back, first in their cgroups' queues and in their order, the
 * events a stopped poll did not hand (the others for a poll of every
 * cgroup, as before it took them). Under the lock. */
static void requeue(struct guard *g, const struct guard_violation *v,
		    unsigned n)
{
	for (unsigned i = n; i-- > 0;) {
		struct guard_queue *q = queue_find(g, v[i].cgroup_id);
		unsigned before;

		if (!q)
			q = &g->others;
		before = q->n;
		queue_push(q, &v[i]);
		if (q->n == before + 1) {
			memmove(q->v + 1, q->v, before * sizeof(q->v[0]));
			q->v[0] = v[i];
		}
	}
}

/*
 * The callback runs with the guard's lock released: it may call the
 * guard (proc.c's on_violation() reads the pids of its sandbox's workers
 * posted to a zygote, and names each: guard_worker_add()). The lock
 * order is the sandbox's zygote_lock, then the guard's lock, never the
 * other way: no guard function calls out holding the guard's lock.
 * Called with the guard's lock held, the callback deadlocked its own
 * thread (bpf_guard_test: a poll's callback naming a worker).
 */
int guard_poll(struct guard *g, uint64_t cgroup_id, guard_event_fn fn,
	       void *userdata)
{
	struct guard_batch b; /* its stack array is not cleared */
	int r, n;

	b.v = b.stack;
	b.n = 0;
	b.cap = GUARD_BATCH_STACK;
	pthread_mutex_lock(&g->lock);
	/* What other pollers kept for this cgroup (or every one) came out
	 * of the ring before what is in it now. */
	for (unsigned i = 0; i < g->n_queues; i++)
		if (!cgroup_id || g->queues[i].cgroup == cgroup_id)
			queue_take(&g->queues[i], &b);
	if (!cgroup_id)
		queue_take(&g->others, &b);
	n = b.n;
	g->batch = &b;
	g->want_cgroup = cgroup_id;
	r = ring_read(g);
	g->batch = NULL;
	g->want_cgroup = 0;
	pthread_mutex_unlock(&g->lock);

	/* What was read before a failed read is handed still. */
	for (unsigned i = 0; i < b.n && fn; i++) {
		int stop = fn(&b.v[i], userdata);

		if (stop < 0) {
			/* Those after a stop stay for a later poll. */
			pthread_mutex_lock(&g->lock);
			requeue(g, b.v + i + 1, b.n - i - 1);
			pthread_mutex_unlock(&g->lock);
			r = stop;
			break;
		}
	}
	if (b.v != b.stack)
		free(b.v);
	return r < 0 ? r : r + n;
}

int guard_cgroup_add(struct guard *g, uint64_t cgroup_id)
{
	struct guard_queue *nq;
	int r = 0;

	pthread_mutex_lock(&g->lock);
	if (!queue_find(g, cgroup_id)) {
		nq = reallocarray(g->queues, g->n_queues + 1, sizeof(*nq));
		if (nq) {
			g->queues = nq;
			nq[g->n_queues++] = (struct guard_queue){
				.cgroup = cgroup_id };
		} else {
			r = -ENOMEM;
		}
	}
	pthread_mutex_unlock(&g->lock);
	return r;
}

void guard_cgroup_del(struct guard *g, uint64_t cgroup_id)
{
	struct guard_queue *q;

	pthread_mutex_lock(&g->lock);
	q = queue_find(g, cgroup_id);
	if (q) {
		free(q->v);
		*q = g->queues[--g->n_queues];
	}
	pthread_mutex_unlock(&g->lock);
}

int guard_hold(struct guard *g, struct err *e)
{
	int r = 0;

	pthread_mutex_lock(&g->lock);
	if (g->attach == GUARD_ATTACH_WHILE_HELD && g->holds == 0) {
		r = attach_syscall_progs(g);
		if (r < 0)
			r = err_set(e, -r, "cannot attach raw_tp/sys_enter: "
				    "%s", strerror(-r));
	}
	if (r >= 0)
		g->holds++;
	pthread_mutex_unlock(&g->lock);
	return r;
}

void guard_release(struct guard *g)
{
	pthread_mutex_lock(&g->lock);
	if (g->holds && --g->holds == 0 &&
	    g->attach == GUARD_ATTACH_WHILE_HELD)
		detach_syscall_progs(g);
	pthread_mutex_unlock(&g->lock);
}

bool guard_attached(const struct guard *g)
{
	return g->sys_link != NULL;
}

int guard_worker_add(struct guard *g, pid_t pid, const char *fn,
		     uint32_t stage, uint64_t instance)
{
	int r;

	pthread_mutex_lock(&g->lock);
	r = guard_names_set(&g->names, pid, fn, stage, instance);
	pthread_mutex_unlock(&g->lock);
	return r;
}

/* Forget pid's name once every event its worker made is read: at once
 * when the ring holds nothing after it is read here (the events go to
 * their cgroups' queues, named), else when the reader is past where the
 * producer is now (an event reserved and not yet submitted, another
 * worker's, stops the reader; pid's own are all behind that position: its
 * worker is dead). Under the lock. */
static void name_forget(struct guard *g, pid_t pid)
{
	unsigned long made;

	if (!guard_names_find(&g->names, pid))
		return;
	ring_to_queues(g);
	made = __atomic_load_n(g->ring_made, __ATOMIC_ACQUIRE);
	guard_names_drop(&g->names, pid,
			 __atomic_load_n(g->ring_read, __ATOMIC_ACQUIRE) ==
					 made ? 0 : made);
}

/* Forget a dead worker's armed state as the programs do (guard.bpf.c,
 * armed_forget()): its slot's direct entry if it is its own (a
 * compare-and-swap: another process may take the slot meanwhile), its
 * pith_armed entry, and the slot's count only after a deletion that
 * found one, atomically (the programs change both from every CPU). */
static void armed_forget(struct guard *g, pid_t pid)
{
	struct guard_armed_slot *s =
		&g->skel->bss->armed_slots[(__u32)pid & (GUARD_ARMED_SLOTS - 1)];
	__u32 key = pid, own = pid;

	__atomic_compare_exchange_n(&s->tgid, &own, 0, false,
				    __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
	if (bpf_map__delete_elem(g->skel->maps.pith_armed, &key, sizeof(key),
				 0) == 0)
		__atomic_fetch_sub(&s->cnt, 1, __ATOMIC_SEQ_CST);
}

void guard_worker_reaped(struct guard *g, pid_t pid)
{
	/* Armed state only while the programs are detached, under the lock
	 * that keeps them so (guard_hold()): no process arms meanwhile.
	 * Attached, the exit program forgot the worker at its exit, and a
	 * deletion here after pith reaped it could disarm a new worker that
	 * took its pid and armed (bpf_guard_test
	 * a_late_forget_does_not_disarm_a_worker_of_that_pid); an entry
	 * older than the next process of that pid is dropped by that
	 * process's first check (armed() in guard.bpf.c). */
	pthread_mutex_lock(&g->lock);
	if (!g->exit_link)
		armed_forget(g, pid);
	name_forget(g, pid);
	pthread_mutex_unlock(&g->lock);
}

void guard_worker_del(struct guard *g, pid_t pid)
{
	guard_worker_reaped(g, pid);
}

static void layer_set(struct guard_layer *l, const char *name, bool active,
		      const char *detail)
{
	l->name = name;
	l->active = active;
	snprintf(l->detail, sizeof(l->detail), "%s", detail);
}

size_t guard_layers(const struct guard *g, struct guard_layer *layers,
		    size_t max)
{
	const struct guard_probe *p;
	struct guard_layer all[GUARD_N_LAYERS];
	char why[256];
	size_t n = MIN(max, ARRAY_SIZE(all));

	if (g) {
		layer_set(&all[0], "bpf-syscall", true, g->sys_detail);
		layer_set(&all[1], "bpf-sock", true, g->sock_detail);
		if (g->lsm_explain)
			explain_lsm(why, sizeof(why), g->lsm_detail);
		layer_set(&all[2], "bpf-lsm", g->lsm_active,
			  g->lsm_explain ? why : g->lsm_detail);
	} else {
		p = guard_probe();
		if (!p->privileged)
			snprintf(why, sizeof(why), "missing privilege "
				 "(CAP_BPF+CAP_PERFMON or CAP_SYS_ADMIN)");
		else if (!p->btf)
			snprintf(why, sizeof(why), "kernel has no BTF "
				 "(/sys/kernel/btf/vmlinux)");
		else if (!strcmp(p->lockdown, "confidentiality"))
			snprintf(why, sizeof(why), "kernel lockdown "
				 "(confidentiality) refuses tracing programs");
		else
			snprintf(why, sizeof(why), "guard not loaded");
		layer_set(&all[0], "bpf-syscall", false, why);
		layer_set(&all[1], "bpf-sock", false, why);
		if (p->config_bpf_lsm == 0)
			snprintf(why, sizeof(why), "kernel built without "
				 "CONFIG_BPF_LSM");
		else if (p->lsm_has_bpf == 0)
			snprintf(why, sizeof(why), "bpf not in the active LSM "
				 "list (%.100s)", p->lsm_list);
		layer_set(&all[2], "bpf-lsm", false, why);
	}
	memcpy(layers, all, n * sizeof(*layers));
	return n;
}

int guard_counts(const struct guard *g, uint64_t *per_nr, uint64_t *per_hook)
{
	struct {
		struct bpf_map *map;
		uint64_t *out;
		__u32 n;
	} want[] = {
		{ g->skel->maps.pith_sys_cnt, per_nr, GUARD_NR_MAX + 1 },
		{ g->skel->maps.pith_hook_cnt, per_hook, GUARD_HOOK_MAX },
	};

	for (size_t m = 0; m < ARRAY_SIZE(want); m++) {
		if (!want[m].out)
			continue;
		for (__u32 k = 0; k < want[m].n; k++) {
			__u64 v;
			int r = bpf_map__lookup_elem(want[m].map, &k, sizeof(k),
						     &v, sizeof(v), 0);

			if (r < 0)
				return r;
			want[m].out[k] = v;
		}
	}
	return 0;
}

uint64_t guard_fn_count(struct guard *g, const char *fn, long nr,
			enum guard_hook hook)
{
	struct guard_fn_key key = { .nr = nr, .hook = hook };
	__u64 v;
	int r;

	snprintf(key.fn, sizeof(key.fn), "%s", fn ? fn : "");
	/* The events still in the ring are counted first, into their
	 * queues. */
	pthread_mutex_lock(&g->lock);
	ring_to_queues(g);
	r = bpf_map__lookup_elem(g->skel->maps.pith_fn_cnt, &key, sizeof(key),
				 &v, sizeof(v), 0);
	pthread_mutex_unlock(&g->lock);
	return r < 0 ? 0 : v;
}

size_t guard_prog_ids(const struct guard *g, unsigned int *ids, size_t max)
{
	struct bpf_program *p;
	size_t n = 0;

	bpf_object__for_each_program(p, g->skel->obj) {
		struct bpf_prog_info info = {};
		__u32 len = sizeof(info);
		int fd = bpf_program__fd(p);

		if (n == max)
			break;
		if (fd < 0 || bpf_obj_get_info_by_fd(fd, &info, &len) < 0)
			continue;
		ids[n++] = info.id;
	}
	return n;
}

bool guard_small_btf(const struct guard *g)
{
	return g->small_btf;
}

uint64_t guard_dropped(const struct guard *g)
{
	return __atomic_load_n(&g->skel->bss->dropped, __ATOMIC_RELAXED);
}

static int format_args(const uint64_t *a, char *buf, size_t len)
{
	return snprintf(buf, len,
			"(0x%" PRIx64 ", 0x%" PRIx64 ", 0x%" PRIx64
			", 0x%" PRIx64 ", 0x%" PRIx64 ", 0x%" PRIx64 ")",
			a[0], a[1], a[2], a[3], a[4], a[5]);
}

int guard_violation_format(const struct guard_violation *v, char *buf,
			   size_t len)
{
	char args[160], name[48];

	if (v->syscall)
		snprintf(name, sizeof(name), "%s (%ld)", v->syscall, v->nr);
	else if (v->compat)
		snprintf(name, sizeof(name), "i386 %ld", v->nr);
	else if (v->nr > 0 && (v->nr & X32_SYSCALL_BIT) &&
		 guard_syscall_name(v->nr & ~X32_SYSCALL_BIT))
		snprintf(name, sizeof(name), "x32 %s (%#lx)",
			 guard_syscall_name(v->nr & ~X32_SYSCALL_BIT), v->nr);
	else
		snprintf(name, sizeof(name), "%ld", v->nr);
	switch (v->kind) {
	case GUARD_KIND_SYSCALL:
		format_args(v->args, args, sizeof(args));
		return snprintf(buf, len, "%s by eBPF: forbidden syscall %s "
				"args %s",
				v->action == GUARD_ACT_KILL ? "killed" :
							      "audited",
				name, args);
	case GUARD_KIND_SOCK:
		return snprintf(buf, len, "%s by eBPF cgroup/sock_create: "
				"socket(family %" PRIu64 ", type %" PRIu64
				", protocol %" PRIu64 ")%s",
				v->action == GUARD_ACT_DENY ? "denied" :
							      "audited",
				v->args[0], v->args[1], v->args[2],
				v->err ? ": EPERM" : "");
	case GUARD_KIND_LSM:
		format_args(v->args, args, sizeof(args));
		return snprintf(buf, len, "%s by BPF-LSM %s: syscall %s args "
				"%s%s",
				v->action == GUARD_ACT_DENY ? "denied" :
							      "audited",
				guard_hook_name(v->hook), name, args,
				v->err ? ": EPERM" : "");
	}
	return snprintf(buf, len, "unknown guard event %u", v->kind);
}
