// SPDX-License-Identifier: MIT
/*
 * Warm workers: a worker whose function ended through the trampoline's exit
 * path is parked in a seccomp user notification (the park call), holding
 * nothing of its instance; the next instance of the same (image, memory,
 * owner) takes it. The worker keeps its context mapped from one instance
 * to the next; pith keeps a read-write mapping of it too, zeroes every
 * byte of it when the worker parks (zero_ctx(): the pages the instance
 * touched are zeroed in place or punched out) and copies the initial bytes
 * of its writable segments back over them when the memfd holds them
 * (wseg_len()), and writes the next descriptor, input table and an
 * rt_sigreturn frame holding the initial register state into it with
 * plain stores. It adds the input fds, if any, and answers the
 * notification. The trampoline then resets everything the function could
 * have changed and enters the function again. The argument that this equals a fresh worker
 * is in Documentation/security.md, "Warm workers".
 */
#include <errno.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <stddef.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/pidfd.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lib/macro.h"
#include "lib/probe.h"
#include "sandbox/bpf_guard.h"
#include "sandbox/internal.h"
#include "sandbox/worker/trampoline.h"

#ifndef HWCAP2_FSGSBASE
#define HWCAP2_FSGSBASE (1 << 1)
#endif
#ifndef SECCOMP_ADDFD_FLAG_SEND
#define SECCOMP_ADDFD_FLAG_SEND (1UL << 1)
#endif

_Static_assert(sizeof(struct pith_context) == PITH_CONTEXT_SIZE_1_2,
	       "ABI 1.2 descriptor size");

void warm_init(struct sandbox *sb)
{
	const char *v = secure_getenv("PITH_WARM");
	long n;

	sb->tramp_exit = tramp_addr(tramp_exit);
	sb->tramp_ip[TRAMP_PARK] = tramp_addr(tramp_ip_park);
	sb->tramp_ip[TRAMP_UNMAP] = tramp_addr(tramp_ip_unmap);
	sb->tramp_ip[TRAMP_MADVISE] = tramp_addr(tramp_ip_madvise);
	sb->tramp_ip[TRAMP_MAP_INPUT] = tramp_addr(tramp_ip_map_input);
	sb->tramp_ip[TRAMP_CLOSE] = tramp_addr(tramp_ip_close);
	sb->tramp_ip[TRAMP_UNMAP2] = tramp_addr(tramp_ip_unmap2);
	sb->fsgsbase = getauxval(AT_HWCAP2) & HWCAP2_FSGSBASE;
	n = sysconf(_SC_NPROCESSORS_ONLN);
	sb->max_idle = (unsigned)MAX(32L, 8 * MAX(n, 1L));
	/* sandbox_new() also needs the notification listener. */
	sb->warm = !(v && !strcmp(v, "off"));
}

bool warm_is_park(const struct sandbox *sb, long nr, uint64_t ip)
{
	return nr == PLAN_PARK_NR && ip == sb->tramp_ip[TRAMP_PARK];
}

static int pwrite_all(int fd, const void *buf, size_t len, uint64_t off)
{
	const char *b = buf;

	while (len) {
		ssize_t n = pwrite(fd, b, len, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		b += n, len -= (size_t)n, off += (uint64_t)n;
	}
	return 0;
}

/* Into p's context: stores through pith's mapping when it has one (a
 * worker's recycled context), else pwrite. NULL data: zeros. */
static int ctx_write(struct sandbox_proc *p, uint64_t off, const void *data,
		     size_t len)
{
	static const char zero[4096];

	if (off > p->layout.size || len > p->layout.size - off)
		return -EINVAL;
	if (p->ctx_map) {
		if (data)
			memcpy(p->ctx_map + off, data, len);
		else
			memset(p->ctx_map + off, 0, len);
		return 0;
	}
	if (data)
		return pwrite_all(p->ctx->fd, data, len, off);
	for (size_t at = 0; at < len; at += sizeof(zero)) {
		int r = pwrite_all(p->ctx->fd, zero,
				   MIN(sizeof(zero), len - at), off + at);

		if (r < 0)
			return r;
	}
	return 0;
}

/*
 * The image's writable segments (.data, .bss), when small, live in the
 * context memfd past the input area (plan.h, PLAN_F_WSEG): the worker maps
 * them MAP_SHARED, pith keeps their pristine bytes right after them and
 * copies those back at each park (keep_ctx()), with stores through its
 * mapping of pages that stay. The worker's reset makes no madvise, and
 * the next instance's first store into .data/.bss (the SDK's crt makes
 * one) takes no fault: together ~40% of a warm no-op worker's CPU
 * (benchmarks/warm.md, "Where pith's CPU per warm instance goes"). Larger
 * segments keep the madvise reset: copying them at every park would cost
 * more than the faults of the pages an instance touches.
 */
#define WARM_WSEG_MAX (64ull << 10)

static uint64_t wseg_len(const struct elf_image *img)
{
	uint64_t n = elf_image_writable_size(img);

	return n <= WARM_WSEG_MAX ? n : 0;
}

uint64_t warm_ctx_extra(const struct sandbox_proc *p)
{
	return PLAN_INPUT_AREA + 2 * p->wseg;
}

/* Into a new context: both copies of the writable segments, from the
 * image, in the order the worker maps them (plan.h). */
static int wseg_fill(struct sandbox_proc *p)
{
	const struct elf_image *img = p->image;
	_cleanup_free_ char *buf = malloc(p->wseg);
	uint64_t at = 0, off = PLAN_WSEG_OFF(p->layout.size);
	int r;

	if (!buf)
		return -ENOMEM;
	for (size_t i = 0; i < img->n_segments; i++) {
		const struct elf_segment *s = &img->segments[i];

		if (!(s->prot & PROT_WRITE))
			continue;
		if (s->memsz > p->wseg - at)
			return -EINVAL;
		for (uint64_t done = 0; done < s->memsz;) {
			ssize_t n = pread(img->fd, buf + at + done,
					  s->memsz - done,
					  (off_t)(s->file_off + done));

			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				return n < 0 ? -errno : -EIO;
			done += (uint64_t)n;
		}
		at += s->memsz;
	}
	if (at != p->wseg)
		return -EINVAL;
	if ((r = pwrite_all(p->ctx->fd, buf, p->wseg, off)) < 0 ||
	    (r = pwrite_all(p->ctx->fd, buf, p->wseg, off + p->wseg)) < 0)
		return r;
	return 0;
}

int warm_prepare(struct sandbox_proc *p)
{
	uint64_t exit = p->sb->tramp_exit, mapped = 0;
	uint64_t off = p->layout.size + PLAN_INPUT_MAPPED;
	int r;

	/* A recycled context (mapped by pith) holds them, restored. */
	if (p->wseg && !p->ctx_map && (r = wseg_fill(p)) < 0)
		return r;
	/* Whether the exit path must unmap inputs before the park (plan.h:
	 * the input area's last word; zero in a new or parked context). */
	for (size_t i = 0; i < p->n_inputs && !mapped; i++)
		mapped = p->inputs[i].maplen != 0;
	if (mapped) {
		if (p->ctx_map)
			memcpy(p->ctx_map + off, &mapped, sizeof(mapped));
		else if ((r = pwrite_all(p->ctx->fd, &mapped, sizeof(mapped),
					 off)) < 0)
			return r;
	}
	return ctx_write(p, offsetof(struct pith_context, exit), &exit,
			 sizeof(exit));
}

static void worker_kill(struct warm_worker *w)
{
	siginfo_t si;

	pidfd_send_signal(w->pidfd, SIGKILL, NULL, 0);
	while (waitid(P_PIDFD, (id_t)w->pidfd, &si, WEXITED | __WALL) < 0 &&
	       errno == EINTR)
		;
	close(w->pidfd);
	safe_close(w->epfd);
	elf_image_free(w->image);
	if (w->map)
		munmap(w->map, w->ctx->size);
	buffer_unref(w->ctx);
	free(w);
}

/*
 * Every byte of a parked worker's context back to zero, while it waits.
 * Only what may be non-zero is touched: the memfd's data extents (lseek SEEK_DATA/SEEK_HOLE; a hole reads as zero,
 * and shmem counts a swapped-out page as data). Small extents are zeroed
 * in place with stores through pith's mapping: the pages stay, in both
 * mappings, so neither pith's next writes nor the next instance's first
 * touches fault (punching every page and faulting the same few back in
 * was ~40% of pith's CPU per no-op instance). Past WARM_ZERO_MAX bytes,
 * or WARM_ZERO_EXTENTS extents, the rest is punched
 * (FALLOC_FL_PUNCH_HOLE frees the pages and unmaps them from both
 * mappings): an idle worker holds at most WARM_ZERO_MAX bytes of zero
 * pages, and a large instance's pages go back to the system as before.
 * Returns the bytes kept (zeroed in place), or -errno.
 */
#define WARM_ZERO_MAX (256ull << 10)
#define WARM_ZERO_EXTENTS 16

int64_t warm_zero_ctx(int fd, char *map, uint64_t size, uint64_t lo)
{
	uint64_t hi = size - CTX_PAGE, at = lo, kept = lo + CTX_PAGE;

	/* [0, lo) holds the descriptor pith wrote, the last page the frame:
	 * pages that are there, zeroed without asking. Stores into a hole
	 * would only fault in a zero page: the result is the same. So the
	 * walk covers [lo, hi), and a no-op instance (nothing else touched)
	 * costs one call. */
	memset(map, 0, lo);
	memset(map + hi, 0, CTX_PAGE);
	for (unsigned n = 0; at < hi; n++) {
		uint64_t end = hi;
		off_t h, d;

		d = lseek(fd, (off_t)at, SEEK_DATA);
		if (d < 0 && errno == ENXIO)
			break; /* only holes from at on */
		if (d < 0)
			return -errno;
		if ((uint64_t)d >= hi)
			break;
		at = (uint64_t)d;
		if (n < WARM_ZERO_EXTENTS) {
			h = lseek(fd, d, SEEK_HOLE);
			if (h < 0)
				return -errno;
			end = MIN((uint64_t)h, hi);
		}
		if (n >= WARM_ZERO_EXTENTS || end - at > WARM_ZERO_MAX - kept) {
			/* Too large, or too many extents: punch [at, end). */
			if (fallocate(fd, FALLOC_FL_PUNCH_HOLE |
					      FALLOC_FL_KEEP_SIZE,
				      (off_t)at, (off_t)(end - at)) < 0)
				return -errno;
		} else {
			memset(map + at, 0, end - at);
			kept += end - at;
		}
		at = end;
	}
	return (int64_t)kept;
}

/*
 * The worker keeps its context (and the input area past it) when nothing
 * sealed it; else it cannot serve again (an output that stays in it:
 * warm_unshare_ctx() ended the worker already; a pith_xfer buffer, sealed
 * and revoked by collect.c: -EBUSY, the caller ends it). Its bytes go back
 * to zero here, while it waits: the context's by warm_zero_ctx(); the input
 * area is only ever written by pith (the worker maps it read-only), so
 * pith zeroes the bytes it wrote there and keeps the pages: the next
 * instance's small items are copied onto pages already there, instead of
 * faulting in 16 fresh ones (a 64 KiB log: a quarter of pith's CPU per
 * item in the thesis benchmark). Nothing of the instance stays in memory
 * while the worker idles.
 */
static int keep_ctx(struct sandbox_proc *p, struct warm_worker *w)
{
	uint64_t size = p->ctx ? p->ctx->size : 0;
	uint64_t *area;
	int64_t kept;

	if (!p->ctx || p->ctx->sealed || p->ctx->xfer ||
	    size != p->layout.size + warm_ctx_extra(p))
		return -EBUSY;
	if (!p->ctx_map) {
		void *m = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED,
			       p->ctx->fd, 0);

		if (m == MAP_FAILED)
			return -errno;
		p->ctx_map = m;
	}
	/* The context proper; the input area past it is only ever written
	 * by pith (the worker maps it read-only): pith zeroes the bytes it
	 * copied there and keeps its pages. */
	kept = warm_zero_ctx(p->ctx->fd, p->ctx_map, p->layout.size,
			p->layout.hdr_size <= WARM_ZERO_MAX / 4 ?
				ALIGN_UP(p->layout.hdr_size, CTX_PAGE) : 0);
	if (kept < 0)
		return (int)kept;
	memset(p->ctx_map + p->layout.size, 0,
	       MIN(p->area_used, (uint64_t)PLAN_INPUT_ITEMS));
	/* Its mapped inputs, if any, are unmapped again after the park
	 * (whether or not the function went through the exit path's
	 * unmapping): the reset path reads PLAN_INPUT_UNMAP. Both words are
	 * pith's: the worker maps the area read-only. */
	area = (uint64_t *)(p->ctx_map + p->layout.size);
	area[PLAN_INPUT_UNMAP / 8] = area[PLAN_INPUT_MAPPED / 8];
	area[PLAN_INPUT_MAPPED / 8] = 0;
	/* The writable segments back to their initial bytes, from the copy
	 * the worker never maps. */
	if (p->wseg)
		memcpy(p->ctx_map + PLAN_WSEG_OFF(p->layout.size),
		       p->ctx_map + PLAN_WSEG_OFF(p->layout.size) + p->wseg,
		       p->wseg);
	w->ctx = buffer_ref(p->ctx);
	w->map = TAKE_PTR(p->ctx_map);
	/* What it holds while idle: zero pages (at most WARM_ZERO_MAX of the
	 * context and the input area's) and the writable segments' two
	 * copies; charged whole again when taken. */
	buffer_set_charge(w->ctx, (uint64_t)kept + warm_ctx_extra(p));
	return 0;
}

static uint64_t cpu_bound(const struct sandbox_proc *p);

int warm_put(struct sandbox_proc *p)
{
	struct sandbox *sb = p->sb;
	struct warm_worker *w, **pp;
	int r;

	/* The record warm_start() freed last: no malloc per instance. */
	w = sb->ww_spare ? TAKE_PTR(sb->ww_spare) : calloc(1, sizeof(*w));
	if (!w || !p->image) {
		free(w);
		return -ENOMEM; /* the caller kills the worker */
	}
	*w = (struct warm_worker){ 0 };
	r = keep_ctx(p, w);
	if (r < 0) {
		free(w);
		return r; /* the caller kills the worker */
	}
	if (sb->n_drivers || sb->drv_want)
		driver_note_run(sb, p->image, p->result.run_ns);
	*w = (struct warm_worker){
		.ctx = w->ctx,
		.map = w->map,
		.image = TAKE_PTR(p->image),
		.memory = p->layout.size,
		.owner = p->owner,
		.pid = p->pid,
		.pidfd = p->pidfd,
		.epfd = p->epfd,
		.park_id = p->park_id,
		.cpu_soft = p->cpu_soft,
		.cpu_ns = cpu_bound(p),
		.guard_stage = p->stage,
		.cpu1 = p->cpu1,
		.avg_run_ns = place_warm_avg(p->run_avg_ns, p->result.run_ns),
	};
	memcpy(w->guard_fn, p->fn_name, sizeof(w->guard_fn));
	p->pidfd = -1;
	p->epfd = -1;
	w->next = sb->idle;
	sb->idle = w;
	if (++sb->n_idle <= sb->max_idle)
		return 0;
	/* Full: the least recently parked one goes. */
	for (pp = &sb->idle; (*pp)->next; pp = &(*pp)->next)
		;
	w = *pp;
	*pp = NULL;
	sb->n_idle--;
	if (sb->guard)
		guard_worker_del(sb->guard, w->pid);
	worker_kill(w);
	return 0;
}

void warm_unshare_ctx(struct sandbox_proc *p)
{
	siginfo_t si;

	if (p->ctx_map)
		munmap(p->ctx_map, p->ctx->size);
	p->ctx_map = NULL;
	if (p->parked && p->pidfd >= 0) {
		pidfd_send_signal(p->pidfd, SIGKILL, NULL, 0);
		while (waitid(P_PIDFD, (id_t)p->pidfd, &si,
			      WEXITED | __WALL) < 0 && errno == EINTR)
			;
		if (p->sb->guard)
			guard_worker_del(p->sb->guard, p->pid);
		p->parked = false;
	}
	/* The input area past the context: nobody's output. */
	buffer_shrink(p->ctx, MIN(p->ctx->size, p->layout.size));
}

bool warm_reap_idle(struct sandbox *sb, int fd)
{
	for (struct warm_worker **pp = &sb->idle; *pp; pp = &(*pp)->next) {
		struct warm_worker *w = *pp;

		if (w->pidfd != fd)
			continue;
		*pp = w->next;
		sb->n_idle--;
		if (sb->guard)
			guard_worker_del(sb->guard, w->pid);
		worker_kill(w); /* already dead: reaped, its pidfd closed */
		return true;
	}
	return false;
}

void warm_flush(struct sandbox *sb)
{
	free(TAKE_PTR(sb->ww_spare));
	while (sb->idle) {
		struct warm_worker *w = sb->idle;

		sb->idle = w->next;
		if (sb->guard)
			guard_worker_del(sb->guard, w->pid);
		worker_kill(w);
	}
	sb->n_idle = 0;
}

/* The rt_sigreturn frame (struct ucontext, x86-64) the trampoline's last
 * call loads: every register zero but %rdi, %rsp and %rip; fpstate NULL,
 * which the kernel takes as "the initial FPU state". */
struct warm_frame {
	uint64_t uc_flags, uc_link;
	uint64_t ss_sp;
	int32_t ss_flags, ss_pad;
	uint64_t ss_size;
	uint64_t r8, r9, r10, r11, r12, r13, r14, r15;
	uint64_t rdi, rsi, rbp, rbx, rdx, rax, rcx, rsp, rip, eflags;
	uint16_t cs, gs, fs, ss;
	uint64_t err, trapno, oldmask, cr2, fpstate;
	uint64_t reserved1[8];
	uint64_t sigmask;
	uint64_t pad[2];
};
_Static_assert(offsetof(struct warm_frame, r8) == 40, "uc_mcontext");
_Static_assert(offsetof(struct warm_frame, rsp) == 160, "rsp");
_Static_assert(offsetof(struct warm_frame, rip) == 168, "rip");
_Static_assert(offsetof(struct warm_frame, fpstate) == 224, "fpstate");
_Static_assert(offsetof(struct warm_frame, sigmask) == 296, "uc_sigmask");
_Static_assert(sizeof(struct warm_frame) == PLAN_FRAME_SIZE, "frame size");

#define UC_SIGCONTEXT_SS 0x2
#define UC_STRICT_RESTORE_SS 0x4

/* The input table, its slots in reserved[] and the frame, into p's
 * context; -E2BIG when the table does not fit in the arena. */
static int write_start(struct sandbox_proc *p, uint64_t entry)
{
	const struct ctx_layout *l = &p->layout;
	_cleanup_free_ struct plan_inmap *big = NULL;
	struct plan_inmap small[8], *t = small;
	uint64_t res[3], n = 0;
	struct warm_frame f = {
		.uc_flags = UC_SIGCONTEXT_SS | UC_STRICT_RESTORE_SS,
		.ss_sp = PITH_CONTEXT_BASE + l->altstack_off,
		.ss_size = CTX_ALTSTACK_SIZE,
		.rdi = PITH_CONTEXT_BASE,
		.rsp = PITH_CONTEXT_BASE + l->size,
		.rip = entry,
		.eflags = 0x2,
		.cs = 0x33, /* __USER_CS */
		.ss = 0x2b, /* __USER_DS */
	};
	int r;

	/* No malloc for the usual few inputs. */
	if (p->n_inputs > ARRAY_SIZE(small)) {
		t = big = calloc(p->n_inputs, sizeof(*t));
		if (!t)
			return -ENOMEM;
	}
	for (size_t i = 0; i < p->n_inputs; i++)
		if (p->inputs[i].maplen)
			t[n++] = (struct plan_inmap){
				.addr = p->inputs[i].addr,
				.len = p->inputs[i].maplen,
				.off = p->inputs[i].file_off,
				.fd = PLAN_WARM_INPUT_FD +
				      p->inputs[i].fd_slot,
			};
	if (n * sizeof(*t) > l->arena_size)
		return -E2BIG;
	res[0] = n ? PITH_CONTEXT_BASE + l->arena : 0;
	res[1] = n;
	res[2] = 0; /* reserved[6]: unused since the park unmaps inputs */
	if ((n && (r = ctx_write(p, l->arena, t, n * sizeof(*t))) < 0) ||
	    (r = ctx_write(p, offsetof(struct pith_context, reserved) +
				      8 * PLAN_RES_INMAP,
			   res, sizeof(res))) < 0 ||
	    (r = ctx_write(p, l->size - PLAN_FRAME_SIZE, &f, sizeof(f))) < 0)
		return r;
	return 0;
}

/* Undo write_start() before the context goes to a fresh worker instead. */
static void clear_start(struct sandbox_proc *p)
{
	const struct ctx_layout *l = &p->layout;
	uint64_t n = MIN((uint64_t)(p->n_inputs * sizeof(struct plan_inmap)),
			 l->arena_size);

	ctx_write(p, l->arena, NULL, n);
	ctx_write(p, offsetof(struct pith_context, reserved) +
			     8 * PLAN_RES_INMAP, NULL, 24);
	ctx_write(p, l->size - PLAN_FRAME_SIZE, NULL, PLAN_FRAME_SIZE);
}

/*
 * RLIMIT_CPU cannot follow the instances: raising a limit of a worker of
 * another uid needs CAP_SYS_RESOURCE, which pith may lack. A warm worker
 * starts with one second more than a fresh one (security.md) and serves an
 * instance only while the rest of its soft limit still covers the whole
 * timeout; then it is retired (-EDQUOT) and the instance gets a fresh
 * worker. The deadline itself is pith's wall clock, as for any worker.
 *
 * Without a system call per instance: a worker is one thread, so its CPU
 * time is at most the wall time in which it could run: from the start of
 * its spawn to its first park, then from each answer to the park pith
 * collects, plus WARM_CPU_SLACK_NS per instance for the kernel's last
 * steps into the park after pith saw it (parked, it sleeps). Its CPU clock
 * is read only when that bound no longer leaves room for the timeout, and
 * the bound becomes the reading.
 */
#define WARM_CPU_SLACK_NS (50 * 1000ull)

static uint64_t cpu_bound(const struct sandbox_proc *p)
{
	uint64_t from = p->reused ? p->handoff_ns : p->start_ns;
	uint64_t now = clock_now_ns();

	return (p->reused ? p->cpu_ns : 0) + (now > from ? now - from : 0) +
	       WARM_CPU_SLACK_NS;
}

static int check_cpu_budget(struct warm_worker *w, uint64_t timeout_ms)
{
	uint64_t soft = w->cpu_soft * 1000000000ull;
	uint64_t need = timeout_ms * 1000000ull;
	struct timespec ts;
	clockid_t clk = (clockid_t)((~(unsigned)w->pid << 3) | 2);

	if (w->cpu_ns <= soft && need <= soft - w->cpu_ns)
		return 0;
	if (clock_gettime(clk, &ts) < 0)
		return -errno;
	w->cpu_ns = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
	if (w->cpu_ns + need > soft)
		return -EDQUOT;
	return 0;
}

/*
 * The same function in another image (a later job loads its own): the same
 * layout and the same prepared bytes, compared in full. The first instance
 * of a job that finds such a worker pays one compare; the worker then
 * holds the new image, so the job's next instances match by pointer.
 */
static bool image_same(const struct elf_image *a, const struct elf_image *b)
{
	struct stat sa, sb;
	void *ma, *mb;
	bool same;

	if (a->entry != b->entry || a->lo != b->lo || a->hi != b->hi ||
	    a->n_segments != b->n_segments ||
	    memcmp(a->segments, b->segments,
		   a->n_segments * sizeof(a->segments[0])) ||
	    fstat(a->fd, &sa) < 0 || fstat(b->fd, &sb) < 0 ||
	    sa.st_size != sb.st_size)
		return false;
	if (!sa.st_size)
		return true;
	ma = mmap(NULL, (size_t)sa.st_size, PROT_READ, MAP_SHARED, a->fd, 0);
	if (ma == MAP_FAILED)
		return false;
	mb = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_SHARED, b->fd, 0);
	if (mb == MAP_FAILED) {
		munmap(ma, (size_t)sa.st_size);
		return false;
	}
	same = !memcmp(ma, mb, (size_t)sa.st_size);
	munmap(ma, (size_t)sa.st_size);
	munmap(mb, (size_t)sb.st_size);
	return same;
}

static struct warm_worker *take(struct sandbox *sb,
				const struct sandbox_request *req,
				uint64_t memory)
{
	for (struct warm_worker **pp = &sb->idle; *pp; pp = &(*pp)->next) {
		struct warm_worker *w = *pp;

		if (w->memory != memory || w->owner != req->owner)
			continue;
		if (w->image != req->image && sb->opts.keep_idle &&
		    image_same(w->image, req->image)) {
			elf_image_free(w->image);
			w->image = elf_image_ref(
				(struct elf_image *)req->image);
		}
		if (w->image == req->image) {
			*pp = w->next;
			sb->n_idle--;
			return w;
		}
	}
	return NULL;
}

static int addfd(int listener, uint64_t id, int src, int newfd, bool send)
{
	struct seccomp_notif_addfd a = {
		.id = id,
		.flags = SECCOMP_ADDFD_FLAG_SETFD |
			 (send ? SECCOMP_ADDFD_FLAG_SEND : 0),
		.srcfd = (uint32_t)src,
		.newfd = (uint32_t)newfd,
	};
	int r;

	do
		r = ioctl(listener, SECCOMP_IOCTL_NOTIF_ADDFD, &a);
	while (r < 0 && errno == EINTR);
	return r < 0 ? -errno : r;
}

static int answer(int listener, uint64_t id, int64_t val)
{
	struct seccomp_notif_resp a = { .id = id, .val = val };
	int r;

	do
		r = ioctl(listener, SECCOMP_IOCTL_NOTIF_SEND, &a);
	while (r < 0 && errno == EINTR);
	return r < 0 ? -errno : 0;
}

int warm_take(struct sandbox_proc *p, const struct sandbox_request *req,
	      uint64_t size)
{
	struct sandbox *sb = p->sb;
	struct warm_worker *w;

	/* Before the context is made: it holds them (warm_ctx_extra()). */
	p->wseg = wseg_len(req->image);
	for (;;) {
		w = take(sb, req, size);
		if (!w)
			return 0;
		/* Spent its CPU slack: retire it. */
		if (w->ctx && check_cpu_budget(w, p->timeout_ms) >= 0)
			break;
		if (sb->guard)
			guard_worker_del(sb->guard, w->pid);
		worker_kill(w);
	}
	p->ww = w;
	p->ctx = TAKE_PTR(w->ctx);
	p->ctx_map = TAKE_PTR(w->map);
	buffer_set_charge(p->ctx, p->ctx->size);
	return 1;
}

void warm_drop(struct sandbox_proc *p)
{
	struct warm_worker *w = TAKE_PTR(p->ww);

	if (!w)
		return;
	if (p->sb->guard)
		guard_worker_del(p->sb->guard, w->pid);
	worker_kill(w);
}

/*
 * Spread the running instances of this sandbox over its CPUs. pith's loop
 * thread wakes a warm worker for each instance, and the scheduler's
 * wake-affine placement puts the woken worker beside the waker whenever no
 * CPU is idle; any other work on the machine (a compile at nice 19 is
 * enough) makes no CPU idle, and every warm worker ends up on the loop
 * thread's CPU: two 1.5 ms instances at once on 2 CPUs ran 1.1-1.3x as
 * fast as one at a time, both workers on CPU 1. So a warm worker is pinned,
 * when it starts an instance, to the allowed CPU with the fewest of the
 * sandbox's running instances (its own CPU on a tie: no call). Only for a
 * function whose instances run WARM_SPREAD_NS or more, on average
 * (place_warm_spread(): a running average, with hysteresis): a shorter one
 * gains nothing from a CPU of its own and pays for the wake-up across CPUs
 * (20,000 no-op instances: 51 us each pinned, 45 us not); such a worker gets
 * all the allowed CPUs back. Not a security layer; off with
 * PITH_CPU_PLACEMENT=off, like place.c's.
 */

static void warm_place(struct sandbox_proc *p, struct warm_worker *w)
{
	struct sandbox *sb = p->sb;
	const cpu_set_t *allowed = &sb->spawner.allowed;
	int ncpu = CPU_COUNT(allowed), best = -1;
	unsigned n[CPU_SETSIZE];
	cpu_set_t one;

	p->cpu1 = 0;
	p->run_avg_ns = w->avg_run_ns;
	if (!sb->spawner.place || ncpu < 2)
		return;
	if (!place_warm_spread(w->avg_run_ns, w->cpu1 != 0)) {
		if (w->cpu1)
			sched_setaffinity(w->pid, sizeof(*allowed), allowed);
		return;
	}
	memset(n, 0, sizeof(n));
	for (struct sandbox_proc *q = sb->procs; q; q = q->next)
		if (q != p && q->cpu1)
			n[q->cpu1 - 1]++;
	for (int cpu = 0, seen = 0; cpu < CPU_SETSIZE && seen < ncpu; cpu++) {
		if (!CPU_ISSET(cpu, allowed))
			continue;
		seen++;
		if (best < 0 || n[cpu] < n[best] ||
		    (n[cpu] == n[best] && cpu + 1 == w->cpu1))
			best = cpu;
	}
	if (best + 1 != w->cpu1) {
		CPU_ZERO(&one);
		CPU_SET(best, &one);
		if (sched_setaffinity(w->pid, sizeof(one), &one) < 0)
			return;
	}
	p->cpu1 = best + 1;
}

/* The inputs' fds, then the answer: the last add sends it when its fd is
 * the one the answer names (the add's return value is the park's). */
static int hand_over(struct sandbox_proc *p, int listener, uint64_t id)
{
	int send_fd = -1, r;

	/* One fd per distinct buffer (context.c places an item's pages at
	 * a file offset; entries of one buffer are adjacent). */
	for (size_t i = 0; i < p->n_inputs; i++) {
		int fd;

		if (!p->inputs[i].maplen ||
		    (i && p->inputs[i].fd_slot == p->inputs[i - 1].fd_slot))
			continue;
		fd = buffer_share_fd(p->inputs[i].buf);
		if (fd < 0)
			return fd;
		if (p->inputs[i].fd_slot == 0 && send_fd < 0) {
			send_fd = fd;
			continue;
		}
		r = addfd(listener, id, fd,
			  PLAN_WARM_INPUT_FD + (int)p->inputs[i].fd_slot,
			  false);
		if (r < 0)
			return r;
	}
	if (send_fd >= 0)
		return addfd(listener, id, send_fd, PLAN_WARM_INPUT_FD, true);
	return answer(listener, id, p->n_input_fds ? PLAN_WARM_INPUT_FD
						   : PLAN_WARM_GO);
}

int warm_start(struct sandbox_proc *p, const struct sandbox_request *req,
	       struct err *e)
{
	struct sandbox *sb = p->sb;
	int listener = sb->spawner.listener;
	struct warm_worker *w = TAKE_PTR(p->ww);
	int r;

	if (!w)
		return 0;
	r = write_start(p, req->image->entry);
	if (r < 0) {
		/* It cannot run this one: a fresh worker does, in p->ctx. */
		if (sb->guard)
			guard_worker_del(sb->guard, w->pid);
		worker_kill(w);
		clear_start(p);
		return r == -E2BIG ? 0 : err_errno(e, r, "cannot write the context");
	}
	p->pid = w->pid;
	p->pidfd = w->pidfd;
	p->epfd = w->epfd;
	w->pidfd = -1;
	w->epfd = -1;
	p->reused = true;
	p->cpu_soft = w->cpu_soft;
	p->cpu_ns = w->cpu_ns;
	warm_place(p, w);
	/* Known before the worker runs, so that its notifications find it. */
	p->next = sb->procs;
	if (p->next)
		p->next->pprev = &p->next;
	p->pprev = &sb->procs;
	sb->procs = p;
	/* The guard's map names the worker for its events and counters;
	 * its verdicts do not depend on it (security.md, layer 5). Written
	 * again only when the name or the stage changes. */
	if (sb->guard && (strcmp(w->guard_fn, p->fn_name) ||
			  w->guard_stage != req->stage))
		guard_worker_add(sb->guard, p->pid, p->fn_name, req->stage,
				 req->instance);
	p->handoff_ns = clock_now_ns();
	r = hand_over(p, listener, w->park_id);
	elf_image_free(w->image);
	if (sb->ww_spare)
		free(w);
	else
		sb->ww_spare = w;
	if (r < 0) {
		/* It died while idle (or pith could not add an fd): the
		 * caller spawns a fresh worker for this instance. */
		siginfo_t si;

		pidfd_send_signal(p->pidfd, SIGKILL, NULL, 0);
		while (waitid(P_PIDFD, (id_t)p->pidfd, &si,
			      WEXITED | __WALL) < 0 && errno == EINTR)
			;
		if (sb->guard)
			guard_worker_del(sb->guard, p->pid);
		p->pidfd = safe_close(p->pidfd);
		p->epfd = safe_close(p->epfd);
		*p->pprev = p->next;
		if (p->next)
			p->next->pprev = p->pprev;
		p->next = NULL;
		p->pprev = NULL;
		PROBE_WARM_RESET(p->pid, p->fn_name, 0, 0);
		p->pid = 0;
		p->reused = false;
		p->cpu1 = 0;
		clear_start(p);
		return 0;
	}
	p->handed_off = true;
	sb->warm_reused++;
	PROBE_WARM_RESET(p->pid, p->fn_name, p->handoff_ns - p->start_ns, 1);
	PROBE_INST_STARTED(p->pid, p->stage, p->instance, p->fn_name, p->handoff_ns, p->handoff_ns - p->start_ns);
	return 1;
}
