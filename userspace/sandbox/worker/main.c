// SPDX-License-Identifier: MIT
/*
 * pith-worker: the static, freestanding loader exec'd for every instance. It
 * receives its plan over fd 0, maps the function image, the context and the
 * inputs, prepares the fault handler and jumps to the trampoline page, which
 * removes everything else (this loader included) and starts the function.
 */
#include <asm/unistd.h>
#include <linux/elf.h>
#include <linux/mman.h>
#include <linux/prctl.h>
#include <linux/socket.h>
#include <stddef.h>

#include "sandbox/plan.h"
#include "sandbox/raw.h"
#include "sandbox/worker/trampoline.h"

#define SOL_SOCKET 1
#define SCM_RIGHTS 1
#define SIGILL 4
#define SIGBUS 7
#define SIGFPE 8
#define SIGSEGV 11
#define SIGPIPE 13
#define SIGXCPU 24
#define SA_SIGINFO 0x4
#define SA_ONSTACK 0x08000000
#define SA_RESTORER 0x04000000
#define SA_RESETHAND 0x80000000u
#define SIG_DFL 0
#define SIG_SETMASK 2
#define SIGKILL 9
#define CLONE_PARENT 0x00008000
#define RLIMIT_CPU 0
#define RLIMIT_NPROC 6
#define RLIMIT_NOFILE 7
#define MSG_NOSIGNAL 0x4000
#define CLOSE_RANGE_ALL (~0u)
#define PAGE 4096ull
#define MSG_CTRUNC 0x8
#define MSG_TRUNC 0x20
#define CMSG_ALIGN(n) (((n) + 7) & ~(size_t)7)
#define CMSG_LEN(n) (sizeof(struct cmsghdr) + (n))
#define CMSG_SPACE(n) (sizeof(struct cmsghdr) + CMSG_ALIGN(n))
#define CMSG_DATA(c) ((char *)(c) + sizeof(struct cmsghdr))
#define STR_(x) #x
#define STR(x) STR_(x)

struct iovec {
	void *iov_base;
	unsigned long iov_len;
};

struct msghdr {
	void *msg_name;
	int msg_namelen;
	struct iovec *msg_iov;
	unsigned long msg_iovlen;
	void *msg_control;
	unsigned long msg_controllen;
	int msg_flags;
};

struct cmsghdr {
	unsigned long cmsg_len;
	int cmsg_level;
	int cmsg_type;
};

struct kernel_sigaction {
	unsigned long handler;
	unsigned long flags;
	unsigned long restorer;
	unsigned long mask;
};

struct stack_t {
	unsigned long ss_sp;
	int ss_flags;
	unsigned long ss_size;
};

/* gcc may emit calls to these even in freestanding code. */
void *memcpy(void *d, const void *s, size_t n)
{
	char *dp = d;
	const char *sp = s;

	while (n--)
		*dp++ = *sp++;
	return d;
}

void *memset(void *d, int c, size_t n)
{
	char *dp = d;

	while (n--)
		*dp++ = (char)c;
	return d;
}

#define MSG_MAX (sizeof(struct plan) + \
		 PLAN_MAX_INPUTS * sizeof(struct plan_input))

static union {
	struct plan plan;
	char bytes[MSG_MAX];
} msg_buf;
static int fds[3 + PLAN_MAX_INPUTS]; /* image, context, input area, inputs */
static unsigned int n_fds;

/* Failures before the handoff: one line to pith, then exit 127. */
static char line[200];
static size_t line_len;

static void put_str(const char *s)
{
	while (*s && line_len < sizeof(line) - 1)
		line[line_len++] = *s++;
}

static void put_hex(unsigned long v)
{
	char tmp[19];
	int i = 18;

	tmp[i] = 0;
	do {
		tmp[--i] = "0123456789abcdef"[v & 0xf];
		v >>= 4;
	} while (v);
	tmp[--i] = 'x';
	tmp[--i] = '0';
	put_str(tmp + i);
}

static void put_dec(long v)
{
	char tmp[24];
	int i = 23;
	unsigned long u = v < 0 ? (unsigned long)-v : (unsigned long)v;

	tmp[i] = 0;
	do {
		tmp[--i] = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	if (v < 0)
		tmp[--i] = '-';
	put_str(tmp + i);
}

static __attribute__((noreturn)) void fail(const char *what, unsigned long addr,
					   long err)
{
	struct iovec iov;
	struct msghdr m = { 0 };

	put_str(what);
	if (addr) {
		put_str(" at ");
		put_hex(addr);
	}
	if (err) {
		put_str(": errno ");
		put_dec(-err);
	}
	iov.iov_base = line;
	iov.iov_len = line_len;
	m.msg_iov = &iov;
	m.msg_iovlen = 1;
	raw_syscall3(__NR_sendmsg, PLAN_SOCK_FD, &m, 0);
	raw_exit_group(127);
}

static void receive_plan(void)
{
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(PLAN_FDS_PER_MSG * sizeof(int))];
	} ctl;
	struct iovec iov;
	struct msghdr m;
	int first = 1;
	long r;

	for (;;) {
		char one;

		iov.iov_base = first ? msg_buf.bytes : &one;
		iov.iov_len = first ? sizeof(msg_buf.bytes) : 1;
		m = (struct msghdr){ .msg_iov = &iov, .msg_iovlen = 1,
				     .msg_control = ctl.buf,
				     .msg_controllen = sizeof(ctl.buf) };
		r = raw_syscall3(__NR_recvmsg, PLAN_SOCK_FD, &m, 0);
		if (r <= 0)
			fail("pith-worker: cannot receive the plan", 0, r);
		if (m.msg_flags & (MSG_TRUNC | MSG_CTRUNC))
			fail("pith-worker: plan message truncated", 0, 0);
		if (first) {
			const struct plan *p = &msg_buf.plan;

			if ((size_t)r < sizeof(*p) || p->magic != PLAN_MAGIC ||
			    p->version != PLAN_VERSION ||
			    p->n_segments > PLAN_MAX_SEGMENTS ||
			    p->n_inputs > PLAN_MAX_INPUTS ||
			    p->n_fds > 3 + PLAN_MAX_INPUTS ||
			    p->n_slots > PLAN_SLOTS ||
			    p->context_size > PLAN_CONTEXT_MAX ||
			    (size_t)r != sizeof(*p) +
				    p->n_inputs * sizeof(struct plan_input))
				fail("pith-worker: malformed plan", 0, 0);
		}
		if (m.msg_controllen >= CMSG_LEN(0)) {
			struct cmsghdr *c = &ctl.h;
			size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
			const int *in = (const int *)CMSG_DATA(c);

			if (c->cmsg_level != SOL_SOCKET ||
			    c->cmsg_type != SCM_RIGHTS ||
			    k > msg_buf.plan.n_fds - n_fds)
				fail("pith-worker: unexpected fds", 0, 0);
			for (size_t i = 0; i < k; i++)
				fds[n_fds++] = in[i];
		}
		first = 0;
		if (n_fds == msg_buf.plan.n_fds)
			return;
	}
}

static void map_at(const char *what, __u64 addr, __u64 len, int prot,
		   int flags, int fd, __u64 off)
{
	long r = raw_syscall6(__NR_mmap, addr, len, prot,
			      flags | MAP_FIXED_NOREPLACE, fd, off);

	if (r < 0 || (__u64)r != addr)
		fail(what, addr, r < 0 ? r : -17 /* EEXIST */);
}

/* The image's segments, private copies of the sealed image; with
 * PLAN_F_WSEG the writable ones shared from the context memfd instead,
 * where pith wrote their initial bytes and restores them at each park
 * (plan.h). */
static void map_image(const struct plan *p)
{
	__u64 woff = PLAN_WSEG_OFF(p->context_size);

	for (__u32 i = 0; i < p->n_segments; i++) {
		const struct plan_segment *s = &p->segments[i];

		if ((p->flags & PLAN_F_WSEG) && (s->prot & PROT_WRITE)) {
			map_at("pith-worker: cannot map a writable segment",
			       s->vaddr, s->memsz, (int)s->prot, MAP_SHARED,
			       fds[1], woff);
			woff += s->memsz;
			continue;
		}
		map_at("pith-worker: cannot map an image segment", s->vaddr,
		       s->memsz, (int)s->prot, MAP_PRIVATE, fds[0],
		       s->file_off);
	}
}


static void map_all(const struct plan *p)
{
	const struct plan_input *in = (const void *)(p + 1);
	__u64 gend = p->guard_off + PAGE;

	if (n_fds < 2)
		fail("pith-worker: missing image or context fd", 0, 0);
	if ((p->flags & PLAN_F_WSEG) && !(p->flags & PLAN_F_WARM))
		fail("pith-worker: shared writable segments, not warm", 0, 0);
	map_image(p);
	map_at("pith-worker: cannot map the context", PITH_CONTEXT_BASE,
	       p->guard_off, PROT_READ | PROT_WRITE, MAP_SHARED, fds[1], 0);
	map_at("pith-worker: cannot map the context stack",
	       PITH_CONTEXT_BASE + gend, p->context_size - gend,
	       PROT_READ | PROT_WRITE, MAP_SHARED, fds[1], gend);
	/* The input area: the context memfd past the context, read-only,
	 * for a warm worker's whole life, or a fresh one's, from the
	 * read-only descriptor of the context that follows it (plan.h). */
	if (p->flags & PLAN_F_WARM)
		map_at("pith-worker: cannot map the input area",
		       PITH_INPUT_BASE, PLAN_INPUT_AREA, PROT_READ, MAP_SHARED,
		       fds[1], p->context_size);
	if (p->flags & PLAN_F_AREA) {
		if (n_fds < 3)
			fail("pith-worker: missing the input area's fd", 0, 0);
		map_at("pith-worker: cannot map the input area",
		       PITH_INPUT_BASE, PLAN_INPUT_AREA, PROT_READ, MAP_SHARED,
		       fds[2], p->context_size);
	}
	for (__u32 i = 0; i < p->n_inputs; i++) {
		if (!in[i].len)
			continue;
		if (in[i].fd_index >= n_fds)
			fail("pith-worker: bad input fd index", 0, 0);
		map_at("pith-worker: cannot map an input", in[i].addr,
		       in[i].len, PROT_READ, MAP_SHARED,
		       fds[in[i].fd_index], in[i].file_off);
	}
}

/* Where this worker's trampoline page is: a zygote's in its children's
 * guard page (plan.h, PLAN_ZTRAMP), every other worker's at
 * PLAN_TRAMPOLINE_BASE. */
static __u64 tramp_base(const struct plan *p)
{
	return (p->flags & PLAN_F_ZYGOTE) ? PLAN_ZTRAMP(p->guard_off)
					   : PLAN_TRAMPOLINE_BASE;
}

static void setup_signals(const struct plan *p)
{
	static const int faults[] = { SIGSEGV, SIGBUS, SIGILL, SIGFPE };
	struct stack_t ss = {
		.ss_sp = PITH_CONTEXT_BASE + p->altstack_off,
		.ss_size = p->altstack_size,
	};
	struct kernel_sigaction dfl = { .handler = SIG_DFL };
	unsigned long none = 0;
	long r;

	r = raw_syscall2(__NR_sigaltstack, &ss, 0);
	if (r < 0)
		fail("pith-worker: sigaltstack", 0, r);
	for (unsigned i = 0; i < sizeof(faults) / sizeof(faults[0]); i++) {
		struct kernel_sigaction sa = {
			.handler = tramp_base(p) + tramp_off(tramp_handler),
			.flags = SA_SIGINFO | SA_ONSTACK | SA_RESETHAND |
				 SA_RESTORER,
			.restorer = tramp_base(p) + tramp_off(tramp_restorer),
			.mask = ~0ul,
		};

		r = raw_syscall4(__NR_rt_sigaction, faults[i], &sa, 0, 8);
		if (r < 0)
			fail("pith-worker: rt_sigaction", 0, r);
	}
	/* Dispositions pith may have set to "ignore" survive execve. */
	raw_syscall4(__NR_rt_sigaction, SIGXCPU, &dfl, 0, 8);
	raw_syscall4(__NR_rt_sigaction, SIGPIPE, &dfl, 0, 8);
	/* pith blocks every signal around clone3; the mask survives exec. */
	raw_syscall4(__NR_rt_sigprocmask, SIG_SETMASK, &none, 0, 8);
}

/* What the warm reset path reads, in the page it runs from (read-only for
 * the function): the context's two parts, the frame's place and the
 * writable image segments. */
_Static_assert(PLAN_TRAMP_DATA + sizeof(struct plan_tramp_data) <=
		       PLAN_TRAMPOLINE_SIZE,
	       "the warm data block fits in the trampoline page");

static void write_tramp_data(const struct plan *p)
{
	struct plan_tramp_data *d =
		(void *)(PLAN_TRAMPOLINE_BASE + PLAN_TRAMP_DATA);
	__u64 gend = p->guard_off + PAGE;

	d->flags = p->flags;
	d->ctx_len1 = p->guard_off;
	d->ctx_addr2 = PITH_CONTEXT_BASE + gend;
	d->ctx_len2 = p->context_size - gend;
	d->ctx_off2 = gend;
	d->frame = PITH_CONTEXT_BASE + p->context_size - PLAN_FRAME_SIZE;
	d->n_wseg = 0;
	/* Shared from the context memfd: pith restores them, no madvise. */
	for (__u32 i = 0; !(p->flags & PLAN_F_WSEG) && i < p->n_segments; i++)
		if (p->segments[i].prot & PROT_WRITE) {
			d->wseg[d->n_wseg].addr = p->segments[i].vaddr;
			d->wseg[d->n_wseg].len = p->segments[i].memsz;
			d->n_wseg++;
		}
}

static void map_trampoline(const struct plan *p)
{
	size_t len = (size_t)(tramp_end - tramp_start);
	__u64 base = tramp_base(p);
	long r;

	/* The page's tail stays zero: no instruction ends at its last byte
	 * (a zygote's: the seccomp program pins its calls by their offset,
	 * the clone's at a page's first byte; filter.c). */
	if (len > PLAN_TRAMP_DATA)
		fail("pith-worker: trampoline too large", 0, 0);
	map_at("pith-worker: cannot map the trampoline", base,
	       PLAN_TRAMPOLINE_SIZE, PROT_READ | PROT_WRITE,
	       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	memcpy((void *)base, tramp_start, len);
	/* A zygote's child's setup, whose calls the seccomp program allows
	 * at their offsets in a zygote's trampoline only (its children's). */
	if (!(p->flags & PLAN_F_ZYGOTE))
		memset((void *)(base + tramp_off(tramp_child)), 0xcc,
		       (size_t)(tramp_child_end - tramp_child));
	if (p->flags & PLAN_F_WARM)
		write_tramp_data(p);
	r = raw_syscall3(__NR_mprotect, base, PLAN_TRAMPOLINE_SIZE,
			 PROT_READ | PROT_EXEC);
	if (r < 0)
		fail("pith-worker: mprotect of the trampoline", 0, r);
}

struct range {
	__u64 lo, hi;
};

/* The gaps between the n ranges of keep (sorted here) up to the top of
 * user space, as (start, length) pairs in out (room for n + 1 of them):
 * their count. */
static __u64 gaps(struct range *keep, unsigned n, __u64 *out)
{
	__u64 cur = 0, n_out = 0;

	for (unsigned i = 1; i < n; i++) { /* insertion sort by start */
		struct range r = keep[i];
		unsigned j = i;

		for (; j > 0 && keep[j - 1].lo > r.lo; j--)
			keep[j] = keep[j - 1];
		keep[j] = r;
	}
	for (unsigned i = 0; i < n; i++) {
		if (keep[i].lo > cur) {
			out[2 * n_out] = cur;
			out[2 * n_out + 1] = keep[i].lo - cur;
			n_out++;
		}
		if (keep[i].hi > cur)
			cur = keep[i].hi;
	}
	if (cur < PLAN_USER_TOP) {
		out[2 * n_out] = cur;
		out[2 * n_out + 1] = PLAN_USER_TOP - cur;
		n_out++;
	}
	return n_out;
}

/* The unmap list: the complement of what the function keeps. */
static __u64 complement(const struct plan *p, __u64 *out)
{
	struct range keep[PLAN_MAX_SEGMENTS + 4];
	unsigned n = 0;

	for (__u32 i = 0; i < p->n_segments; i++)
		keep[n++] = (struct range){ p->segments[i].vaddr,
					    p->segments[i].vaddr +
						    p->segments[i].memsz };
	keep[n++] = (struct range){ PITH_CONTEXT_BASE,
				    PITH_CONTEXT_BASE + p->context_size };
	if (p->inputs_hi > p->inputs_lo)
		keep[n++] = (struct range){ p->inputs_lo, p->inputs_hi };
	keep[n++] = (struct range){ PLAN_TRAMPOLINE_BASE,
				    PLAN_TRAMPOLINE_BASE +
					    PLAN_TRAMPOLINE_SIZE };
	/* Our own image, whose code runs the unmapping; the trampoline
	 * unmaps it, code and data, in one call. */
	keep[n++] = (struct range){ PLAN_LOADER_BASE, PLAN_LOADER_END };
	return gaps(keep, n, out);
}

/* Two fds from one message of `size` bytes starting with `magic` on
 * `sock` (a zygote's PLAN_REQ_SWAP): 0, or -1 for anything else. */
static int recv_two_fds(int sock, void *msg, unsigned long size, __u32 magic,
			int out[2])
{
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(2 * sizeof(int))];
	} ctl;
	struct iovec iov = { msg, size };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1,
			    .msg_control = ctl.buf,
			    .msg_controllen = sizeof(ctl.buf) };
	long r = raw_syscall3(__NR_recvmsg, sock, &m, 0);

	if (r != (long)size || *(const __u32 *)msg != magic ||
	    (m.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) ||
	    m.msg_controllen < CMSG_LEN(2 * sizeof(int)) ||
	    ctl.h.cmsg_level != SOL_SOCKET || ctl.h.cmsg_type != SCM_RIGHTS ||
	    ctl.h.cmsg_len != CMSG_LEN(2 * sizeof(int)))
		return -1;
	memcpy(out, CMSG_DATA(&ctl.h), 2 * sizeof(int));
	return 0;
}

#define MADV_DONTFORK_ 10
#define FUTEX_WAIT 0
#define FUTEX_WAKE 1
#define LOAD(x) __atomic_load_n(&(x), __ATOMIC_ACQUIRE)
#define STORE(x, v) __atomic_store_n(&(x), (v), __ATOMIC_RELEASE)
#define FENCE() __atomic_thread_fence(__ATOMIC_SEQ_CST)

extern char __ehdr_start[], _end[];

#define PAGE_UP(n) (((n) + PAGE - 1) & ~(PAGE - 1))

/* The start of the loader's writable segment (its .data, then .bss). */
static __u64 data_start(void)
{
	const Elf64_Ehdr *eh = (const Elf64_Ehdr *)__ehdr_start;

	for (unsigned i = 0; i < eh->e_phnum; i++) {
		const Elf64_Phdr *ph = (const Elf64_Phdr *)(__ehdr_start +
							    eh->e_phoff +
							    i * eh->e_phentsize);

		if (ph->p_type == PT_LOAD && (ph->p_flags & PF_W))
			return ph->p_vaddr & ~(PAGE - 1);
	}
	fail("pith-worker: no writable segment", 0, 0);
}

/*
 * What a child of the zygote gets of it, as little as it can be: the image
 * and the trampoline. The zygote's stack, the ring, the loader's data and
 * text and the fork page are not passed on at all (MADV_DONTFORK, here
 * and in zygote_fork_page(): the child runs its setup in the trampoline
 * page with registers only and touches no memory before its context is
 * mapped), and its vDSO, vvar and anything else (the stack's far end,
 * argv, the environment, the auxiliary vector are above the part kept)
 * are unmapped here, once. So a fork copies no page table of the zygote's
 * data, stack or ring, neither side takes a copy-on-write fault for them
 * afterwards, and a child has nothing to unmap before its function.
 */
static void zygote_trim(const struct plan *p)
{
	struct range keep[PLAN_MAX_SEGMENTS + 4];
	__u64 unmap[2 * (PLAN_MAX_SEGMENTS + 5)], n_gaps;
	__u64 sp = (__u64)__builtin_frame_address(0) & ~(PAGE - 1);
	__u64 lo = sp - (256ull << 10), data = data_start();
	unsigned n = 0;
	long r;

	for (__u32 i = 0; i < p->n_segments; i++)
		keep[n++] = (struct range){
			p->segments[i].vaddr,
			PAGE_UP(p->segments[i].vaddr + p->segments[i].memsz)
		};
	keep[n++] = (struct range){ tramp_base(p),
				    tramp_base(p) + PLAN_TRAMPOLINE_SIZE };
	keep[n++] = (struct range){ PLAN_RING_BASE,
				    PLAN_RING_BASE + PLAN_RING_SIZE };
	keep[n++] = (struct range){ (__u64)__ehdr_start, PAGE_UP((__u64)_end) };
	/* The stack, from 256 KiB below here to the top. */
	keep[n++] = (struct range){ lo, PLAN_USER_TOP };
	n_gaps = gaps(keep, n, unmap);
	for (__u64 i = 0; i < n_gaps; i++) {
		r = raw_syscall2(__NR_munmap, unmap[2 * i], unmap[2 * i + 1]);
		if (r < 0)
			fail("pith-worker: zygote munmap", unmap[2 * i], r);
	}
	/* The stack: [lo, top) holds nothing else now (ENOMEM: its holes). */
	r = raw_syscall3(__NR_madvise, lo, PLAN_USER_TOP - lo, MADV_DONTFORK_);
	if (r < 0 && r != -12)
		fail("pith-worker: madvise(MADV_DONTFORK)", lo, r);
	r = raw_syscall3(__NR_madvise, data, PAGE_UP((__u64)_end) - data,
			 MADV_DONTFORK_);
	if (r < 0)
		fail("pith-worker: madvise(MADV_DONTFORK) of the data", data, r);
}

/*
 * What zygote_fork() hands its child in registers: the slot's descriptors
 * (read-write, read-only), pith's pid and the zygote's context layout.
 * Offsets fixed for the assembly below. (The instance's CPU limit is in
 * the trampoline page: zygote_cpu_limit().)
 */
struct fork_args {
	__u64 rw, ro, ppid, context_size, guard_off, entry;
};
_Static_assert(sizeof(struct fork_args) == 48, "fork_args");

/* The assembler takes no C integer suffixes: plain copies, checked. */
#define ASM_CONTEXT_BASE 0x200000000000
_Static_assert(ASM_CONTEXT_BASE == PITH_CONTEXT_BASE, "context base");
_Static_assert(PLAN_ZYGOTE_CLONE_FLAGS == 0x108400, "clone flags");

/*
 * clone(CLONE_PARENT | CLONE_PARENT_SETTID | CLONE_FILES): the kernel
 * writes the child's pid to *ptid before the child runs; the zygote gets
 * the pid or -errno. Like fork(): no shared memory, no signal to the
 * parent; CLONE_PARENT makes the child pith's (its waitid), with the
 * zygote's exit signal, none. CLONE_FILES: the child shares the zygote's
 * descriptor table, not a copy of it, until its close_range(0, ~0U,
 * CLOSE_RANGE_UNSHARE) gives it a new one holding none of them; so no
 * fork takes a reference to each of the zygote's 1 + 2 * PLAN_SLOTS
 * files and no child drops them again one by one (security.md
 * "Zygotes"). Until then only its setup runs in the child, which closes
 * no descriptor: a failure exits, which only drops its share of the
 * table.
 *
 * This code runs in the fork page (zygote_fork_page()), whose last two
 * bytes are the syscall instruction: both sides return from it at the
 * trampoline page's first byte, tramp_forked (worker/trampoline.c), the
 * zygote to its loader with the pid, the child to its setup in that page
 * (tramp_child), with registers only: %r12 rw, %r13 ro, %r14 pith's pid,
 * %r15 the guard page's offset, %r8 the entry (clone reads no tls without
 * CLONE_SETTLS) and %rsp the context's top (clone's stack argument;
 * nothing is pushed). The fork page is MADV_DONTFORK: a child has no page
 * of the loader at all.
 */
long zygote_fork(const struct fork_args *a, __s32 *ptid);
__asm__(".pushsection .text.pith_zfork,\"ax\",@progbits\n"
	".globl zfork_start\n"
	"zfork_start:\n"
	".globl zygote_fork\n"
	"zygote_fork:\n"
	"	push %rbx\n"
	"	push %rbp\n"
	"	push %r12\n"
	"	push %r13\n"
	"	push %r14\n"
	"	push %r15\n"
	"	mov 0(%rdi), %r12\n"
	"	mov 8(%rdi), %r13\n"
	"	mov 16(%rdi), %r14\n"
	"	mov 32(%rdi), %r15\n"
	"	mov 40(%rdi), %r8\n"
	"	movabs $" STR(ASM_CONTEXT_BASE) ", %rax\n"
	"	add 24(%rdi), %rax\n"
	"	mov %rsi, %rdx\n"		/* ptid */
	"	mov %rax, %rsi\n"		/* the child's %rsp */
	"	xor %r10d, %r10d\n"
	"	mov $56, %eax\n"		/* clone(flags, stack, ptid, 0, tls) */
	"	mov $0x108400, %edi\n"	/* CLONE_PARENT | CLONE_PARENT_SETTID |
					   CLONE_FILES */
	"	syscall\n"
	".globl zfork_end\n"
	"zfork_end:\n"
	".popsection\n");

extern const char zfork_start[], zfork_end[];

/*
 * The page a zygote forks in, PLAN_FORK_PAGE(), right below its trampoline
 * (in its children's guard page, plan.h):
 * a copy of zygote_fork() whose syscall instruction ends the page, so
 * that the zygote and its child both go on at the trampoline's first
 * byte. The page is MADV_DONTFORK, and so is the loader's whole text (its
 * data and stack are, zygote_trim()): a child gets nothing of the loader,
 * has nothing to unmap before its function, and its calls are made from
 * its trampoline page, each pinned by the seccomp program (security.md,
 * "Zygotes"). The clone's instruction pointer, the trampoline's first
 * byte, is one no process that runs a function can make a call from: in a
 * child the page below it is its context's signal stack (read-write, never
 * executable), and no other page of the 4 GiB above PITH_CONTEXT_BASE is
 * executable (filter.c pins the clone by its offset there). Returns the
 * copy's zygote_fork().
 */
typedef long fork_fn(const struct fork_args *a, __s32 *ptid);

static fork_fn *zygote_fork_page(const struct plan *p)
{
	__u64 page = PLAN_FORK_PAGE(p->guard_off);
	__u64 len = (__u64)(zfork_end - zfork_start);
	__u64 text = (__u64)__ehdr_start, data = data_start();
	__u64 at = page + PAGE - len;
	long r;

	__u64 e = (__u64)zfork_end;
	const __u8 *end;

	__asm__("" : "+r"(e)); /* its last bytes: no array of gcc's */
	end = (const __u8 *)e;
	if (len > PAGE || len < 2 || end[-2] != 0x0f || end[-1] != 0x05 ||
	    (__u64)tramp_forked != (__u64)tramp_start)
		fail("pith-worker: the fork code does not end in its clone", 0,
		     0);
	map_at("pith-worker: cannot map the fork page", page, PAGE,
	       PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	memcpy((void *)at, zfork_start, len);
	r = raw_syscall3(__NR_mprotect, page, PAGE, PROT_READ | PROT_EXEC);
	if (r < 0)
		fail("pith-worker: mprotect of the fork page", page, r);
	r = raw_syscall3(__NR_madvise, page, PAGE, MADV_DONTFORK_);
	if (r < 0)
		fail("pith-worker: madvise(MADV_DONTFORK) of the fork page",
		     page, r);
	r = raw_syscall3(__NR_madvise, text, data - text, MADV_DONTFORK_);
	if (r < 0)
		fail("pith-worker: madvise(MADV_DONTFORK) of the text", text, r);
	return (fork_fn *)at;
}

/*
 * A child's RLIMIT_CPU: the trampoline page's tramp_z_cpu words, which its
 * prlimit64 reads (the seccomp program pins that pointer: a function that
 * makes the call again sets the same limit). Rewritten only when a
 * request's limit differs from the last one's; each child keeps the words
 * it was forked with (the page is private: the zygote's write copies it).
 * 0, or -errno.
 */
static long zygote_cpu_limit(const struct plan_req *rq, __u64 base)
{
	static __u64 cur[2];
	volatile __u64 *w = (volatile __u64 *)(base + tramp_off(tramp_z_cpu));
	long r;

	if (rq->cpu_cur == cur[0] && rq->cpu_max == cur[1])
		return 0;
	if (!rq->cpu_cur || rq->cpu_cur > rq->cpu_max)
		return -22; /* EINVAL */
	r = raw_syscall3(__NR_mprotect, base, PLAN_TRAMPOLINE_SIZE,
			 PROT_READ | PROT_WRITE);
	if (r < 0)
		return r;
	w[0] = rq->cpu_cur;
	w[1] = rq->cpu_max;
	r = raw_syscall3(__NR_mprotect, base, PLAN_TRAMPOLINE_SIZE,
			 PROT_READ | PROT_EXEC);
	if (r < 0)
		raw_exit_group(127); /* the trampoline must not stay writable */
	cur[0] = rq->cpu_cur;
	cur[1] = rq->cpu_max;
	return 0;
}

static long futex(volatile __u32 *w, int op, __u32 val)
{
	return raw_syscall6(__NR_futex, (long)w, op, val, 0, 0, 0);
}

/* A new pair of descriptors for slot s: dup3 over the old ones (which
 * closes them), the received ones closed. They arrive at the lowest free
 * numbers, fd 0 first (the socket is past the slots'): closed with
 * close_range(), never close(0), the eBPF guard's arming call. */
/*
 * The zygote's RLIMIT_NOFILE: soft 0 (its hard limit kept) from the end of
 * its setup on, which its children inherit, so a child makes no call for
 * it and a function none that could raise it (security.md, "Zygotes");
 * soft = hard only while a swap receives and moves two descriptors.
 */
static __u64 nofile_max;

static long zygote_nofile(int open)
{
	__u64 lim[2] = { open ? nofile_max : 0, nofile_max };

	return raw_syscall4(__NR_prlimit64, 0, RLIMIT_NOFILE, lim, 0);
}

static void swap_slot(int *slot_fds)
{
	__u32 magic = 0;
	int in[2];

	if (zygote_nofile(1) < 0)
		raw_exit_group(127);
	if (recv_two_fds(PLAN_ZYGOTE_SOCK_FD, &magic, sizeof(magic),
			 PLAN_SWAP_MAGIC, in) < 0 ||
	    in[0] < 0 || in[1] < 0 || in[0] >= PLAN_ZYGOTE_FD_BASE ||
	    in[1] >= PLAN_ZYGOTE_FD_BASE)
		raw_exit_group(127);
	for (int i = 0; i < 2; i++) {
		if (raw_syscall3(__NR_dup3, in[i], slot_fds[i], 0) < 0)
			raw_exit_group(127);
		raw_syscall3(__NR_close_range, in[i], in[i], 0);
	}
	if (zygote_nofile(0) < 0)
		raw_exit_group(127);
}

/*
 * A zygote: everything a fresh worker does before its context that
 * depends only on the image and the context's size (map the image, the
 * trampoline, the fault handlers and their stack address), once; then one
 * fork per request on the ring (plan.h). Only this loader's code ever runs
 * in a zygote: it never jumps to the trampoline, so no instruction of the
 * function runs here, and it never calls close(0) (the eBPF guard's arming
 * call). Each child goes on at its trampoline's first byte, with
 * registers only (zygote_fork_page(), worker/trampoline.c tramp_child).
 */
static __attribute__((noreturn)) void zygote(const struct plan *p)
{
	struct plan_ring *ring = (struct plan_ring *)PLAN_RING_BASE;
	int *slot_fds = fds + 2; /* rw, ro of each slot */
	struct fork_args a = { .context_size = p->context_size,
			       .guard_off = p->guard_off,
			       .entry = p->entry };
	fork_fn *fork_child;
	long r;

	r = raw_syscall2(__NR_prctl, PR_SET_DUMPABLE, 0);
	if (r < 0)
		fail("pith-worker: PR_SET_DUMPABLE", 0, r);
	/* Its trampoline in the guard page: a whole page between the signal
	 * stack and the stack, inside the 4 GiB block the seccomp program
	 * pins its calls in, its fork page above the context's base. */
	if (!p->n_slots || n_fds != 2 + 2 * p->n_slots || p->n_inputs ||
	    (p->flags & (PLAN_F_WARM | PLAN_F_WSEG)) ||
	    p->guard_off % PAGE || p->guard_off < PAGE ||
	    p->guard_off + PAGE >= p->context_size ||
	    p->guard_off + PAGE > (1ull << 32) ||
	    PLAN_ZTRAMP(p->guard_off) >> 32 != PLAN_ZTRAMP_HI)
		fail("pith-worker: malformed zygote plan", 0, 0);
	for (__u32 i = 0; i < n_fds; i++)
		if (fds[i] <= PLAN_SOCK_FD || fds[i] >= PLAN_ZYGOTE_FD_BASE)
			fail("pith-worker: bad zygote fd", 0, 0);
	/* Every slot's descriptors from PLAN_ZYGOTE_FD_BASE up (plan.h):
	 * a child's close_range(0, ~0U, CLOSE_RANGE_UNSHARE) copies the
	 * shared table's first PLAN_ZYGOTE_FD_BASE entries whatever its
	 * range, and none above, so it takes and drops no reference to
	 * them. The socket follows them at the end (below). The old
	 * numbers, all above 0, are closed with close(). */
	for (__u32 i = 0; i < 2 * p->n_slots; i++) {
		int to = PLAN_ZYGOTE_FD_BASE + (int)i;

		r = raw_syscall3(__NR_dup3, slot_fds[i], to, 0);
		if (r < 0)
			fail("pith-worker: zygote dup3", slot_fds[i], r);
		raw_syscall1(__NR_close, slot_fds[i]);
		slot_fds[i] = to;
	}
	map_image(p);
	setup_signals(p);
	map_trampoline(p);
	map_at("pith-worker: cannot map the ring", PLAN_RING_BASE,
	       PLAN_RING_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fds[1], 0);
	r = raw_syscall3(__NR_madvise, PLAN_RING_BASE, PLAN_RING_SIZE,
			 MADV_DONTFORK_);
	if (r < 0)
		fail("pith-worker: madvise(MADV_DONTFORK) of the ring", 0, r);
	raw_syscall1(__NR_close, fds[0]);
	raw_syscall1(__NR_close, fds[1]);
	zygote_trim(p);
	fork_child = zygote_fork_page(p);
	/* The socket past the slots' descriptors, fd 0 left empty: a
	 * child's unshare copies and closes no descriptor (plan.h). Emptied
	 * with close_range(), not close(0), the guard's arming call; fail()
	 * reports on fd 0, so this is the setup's last step. */
	r = raw_syscall3(__NR_dup3, PLAN_SOCK_FD, PLAN_ZYGOTE_SOCK_FD, 0);
	if (r < 0)
		fail("pith-worker: zygote dup3 of the socket", 0, r);
	r = raw_syscall3(__NR_close_range, PLAN_SOCK_FD, PLAN_SOCK_FD, 0);
	if (r < 0)
		raw_exit_group(127);
	/* The parent the spawner's checks found: pith. */
	a.ppid = (__u64)raw_syscall0(__NR_getppid);
	{
		__u64 old[2];

		if (raw_syscall4(__NR_prlimit64, 0, RLIMIT_NOFILE, 0, old) < 0)
			raw_exit_group(127);
		nofile_max = old[1];
		if (zygote_nofile(0) < 0)
			raw_exit_group(127);
	}
	for (;;) {
		__u32 t = ring->tail, h = LOAD(ring->head);
		struct plan_req rq;

		if (h == t) {
			STORE(ring->z_wait, PLAN_Z_WAIT(t));
			FENCE();
			if (LOAD(ring->head) == t)
				futex(&ring->head, FUTEX_WAIT, t);
			STORE(ring->z_wait, 0);
			continue;
		}
		rq = ring->req[t % PLAN_RING_REQS];
		if (h - t > PLAN_RING_REQS || rq.slot >= p->n_slots)
			raw_exit_group(127);
		if (rq.op == PLAN_REQ_FORK) {
			a.rw = (__u64)slot_fds[2 * rq.slot];
			a.ro = (__u64)slot_fds[2 * rq.slot + 1];
			r = zygote_cpu_limit(&rq, tramp_base(p));
			if (r == 0)
				r = fork_child(&a, &ring->pid[rq.slot]);
			if (r < 0)
				STORE(ring->pid[rq.slot], (__s32)r);
		} else if (rq.op == PLAN_REQ_SWAP) {
			swap_slot(slot_fds + 2 * rq.slot);
		} else {
			raw_exit_group(127);
		}
		STORE(ring->tail, t + 1);
		FENCE();
		if (rq.op == PLAN_REQ_FORK && LOAD(ring->p_wait))
			futex((__u32 *)&ring->pid[rq.slot], FUTEX_WAKE,
			      0x7fffffff);
	}
}

static __attribute__((noreturn)) void run(const struct plan *p);

__attribute__((noreturn, used)) void worker_main(void)
{
	/* The trampoline unmaps this window, and only this (plan.h). */
	if ((__u64)__ehdr_start != PLAN_LOADER_BASE ||
	    (__u64)_end > PLAN_LOADER_END)
		fail("pith-worker: not linked inside its window", 0, 0);
	receive_plan();
	if (msg_buf.plan.flags & PLAN_F_ZYGOTE)
		zygote(&msg_buf.plan);
	run(&msg_buf.plan);
}

static __attribute__((noreturn)) void run(const struct plan *p)
{
	struct plan_ready ready = { .magic = PLAN_READY_MAGIC };
	struct { long sec, nsec; } ts;
	struct plan_handoff *h;
	__u64 unmap[2 * PLAN_MAX_UNMAP];
	__u64 n_unmap, size, top, block;
	struct iovec iov = { &ready, sizeof(ready) };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };
	long r;

	/* Not ptrace-able, /proc files owned by root: other processes of
	 * the same unprivileged uid cannot read the worker's memory. (A
	 * zygote's child is not dumpable already: fork copies the zygote's
	 * setting with its memory.) */
	r = raw_syscall2(__NR_prctl, PR_SET_DUMPABLE, 0);
	if (r < 0)
		fail("pith-worker: PR_SET_DUMPABLE", 0, r);
	map_all(p);
	r = raw_syscall3(__NR_close_range, 1, CLOSE_RANGE_ALL, 0);
	if (r < 0)
		fail("pith-worker: close_range", 0, r);
	setup_signals(p);
	map_trampoline(p);
	n_unmap = complement(p, unmap);
	size = (sizeof(*h) + n_unmap * 16 + 15) & ~15ull;
	top = PITH_CONTEXT_BASE + p->context_size;
	block = top - size;
	h = (struct plan_handoff *)block;
	h->n_unmap = n_unmap;
	h->entry = p->entry;
	h->stack_top = top;
	h->loader_text = PLAN_LOADER_BASE;
	h->loader_text_len = PLAN_LOADER_END - PLAN_LOADER_BASE;
	h->block = block;
	h->block_size = size;
	memcpy(h->unmap, unmap, n_unmap * 16);

	r = raw_syscall2(__NR_clock_gettime, 1 /* CLOCK_MONOTONIC */, &ts);
	if (r < 0)
		fail("pith-worker: clock_gettime", 0, r);
	ready.now_ns = (__u64)ts.sec * 1000000000ull + (__u64)ts.nsec;
	r = raw_syscall3(__NR_sendmsg, PLAN_SOCK_FD, &m, 0);
	if (r != sizeof(ready))
		fail("pith-worker: cannot report readiness", 0, r);
	loader_handoff(h, tramp_addr(tramp_entry));
}

__asm__(".text\n"
	".globl _start\n"
	"_start:\n"
	"	xor %ebp, %ebp\n"
	"	and $-16, %rsp\n"
	"	call worker_main\n"
	"	ud2\n");
