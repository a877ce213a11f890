// SPDX-License-Identifier: MIT
/*
 * fresh-proto N ROUNDS BUILD DESIGN...: the cheapest process per instance
 * that still does what a pith fresh instance must do, as a standalone
 * program (benchmarks/fresh.md, "Fresh instances: a prototype of the cheapest
 * process per instance (round 8, branch freshproto)").
 *
 * The parent ("pith", P) drives N instances of a no-op function through
 * zygotes it forks; a zygote (Z) is small and static (this binary, linked
 * at pith-worker's address, PLAN_LOADER_BASE, and trimmed to its own code,
 * its data, its stack, an image and a trampoline page), runs under a
 * kill-default seccomp program that allows only its own code (by
 * instruction pointer), exit/exit_group, and one munmap pinned by address
 * and arguments in the trampoline, and forks one child per instance. Each
 * instance, as in pith:
 *   - P writes the instance's context descriptor and its small input item
 *     into a context of its own (a memfd, context + 64 KiB input area,
 *     mapped by P; a pool of K per zygote, reused once zeroed);
 *   - the child maps that context at PITH_CONTEXT_BASE in two parts around
 *     a guard page and its input area read-only at PITH_INPUT_BASE (from a
 *     read-only descriptor), sets RLIMIT_CPU and RLIMIT_NPROC 0, closes
 *     every descriptor, and jumps to the trampoline, which unmaps the
 *     trusted code (the seccomp program's range) and starts the function;
 *   - the function (an image mapped by the zygote, private, from a memfd)
 *     reads its descriptor, writes its .data, pushes on its stack, writes
 *     its output into the context and exits;
 *   - its exit is heard and reaped by the zygote (a reaper thread blocked
 *     in wait4), P reads the output, zeroes what the instance touched
 *     (stores, and one lseek(SEEK_DATA) for anything else) and reuses the
 *     context.
 * Nothing of an instance is in the zygote (it never maps a context), a
 * child maps only its own context (one descriptor per context, closed
 * before the function), the zygote's data, stack and rings are
 * MADV_DONTFORK (not in any child).
 *
 * DESIGN is [abc][nz][rs][k]: a: the child runs in the zygote's code (a
 * file mapping: fork copies no page table of it), which the trampoline
 * unmaps (pith's window); b: the zygote's code is MADV_DONTFORK and the
 * fork and the child's calls are in one anonymous page of their own, which
 * the trampoline unmaps; c: as b without the unmap (NOT safe: the cost of
 * the unmap). nz zygotes (1-4), each with its own pool and reaper. r:
 * requests and completions through shared memory rings, a futex wake-up
 * only when the other side sleeps; s: one message per request and per
 * completion on a socket (today's protocol's shape); w: requests
 * through the rings, the children P's (CLONE_PARENT), their exits heard
 * and reaped by P itself in a blocking wait4 (no reaper thread). k:
 * contexts per zygote (1-16). A suffix h1 or h2 runs a hostile function
 * instead (a forbidden call: killed by SIGSYS; a jump to the zygote's
 * clone: killed by SIGSEGV, for a and b), and checks each is killed. An
 * L before a design runs it in two lanes: two copies of P, each pinned to
 * a CPU with its own zygote (and so its children), N / 2 instances each;
 * the lanes' wall includes their zygotes' start.
 *
 * Each round runs, in this order (reversed every other round), fork+exec
 * of BUILD/bench/noop-static one at a time (BUILD/instance-driver exec N,
 * the baseline), BUILD/bench/fork-static N 2 (the floor: a bare
 * fork+exit+wait, two lanes), and each DESIGN; it prints wall and CPU
 * microseconds per instance (CPU: RUSAGE_SELF + RUSAGE_CHILDREN of the
 * whole run, the zygotes' start and end included; wall: first request to
 * last completion; for the baselines the driver's whole run), then the
 * medians [ranges] and the ratios to fork+exec's medians. BUILD "-": no
 * baselines (for perf).
 */
#include "sandbox/raw.h"

#pragma GCC visibility push(hidden)

typedef unsigned long u64;
typedef unsigned int u32;

#define CTX_BASE 0x200000000000ul
#define INPUT_BASE 0x300000000000ul
#define TRAMP 0x204000000000ul
#define TRAMP_DATA (TRAMP + 0x800)
#define FORKPG 0x204000001000ul
#define WIN_LO 0x204000010000ul
#define WIN_HI 0x204000200000ul
#define IMG_TEXT 0x401000ul
#define IMG_DATA 0x402000ul
#define CTX_SIZE 0x100000ul	/* 1 MiB, as fresh_ab.py's job */
#define AREA 0x10000ul
#define STACK_PART 0x10000ul
#define GUARD_OFF (CTX_SIZE - STACK_PART - 0x1000)
#define GEND (GUARD_OFF + 0x1000)
#define SLOT (CTX_SIZE + AREA)	/* a context's bytes in its pool */
#define PAGE 4096ul

#define MAXZ 4
#define MAXK 16
#define RING 64

/* system calls */
#define NR_read 0
#define NR_write 1
#define NR_close 3
#define NR_lseek 8
#define NR_mmap 9
#define NR_mprotect 10
#define NR_munmap 11
#define NR_madvise 28
#define NR_dup2 33
#define NR_socketpair 53
#define NR_clone 56
#define NR_fork 57
#define NR_execve 59
#define NR_exit 60
#define NR_wait4 61
#define NR_ftruncate 77
#define NR_getrusage 98
#define NR_prctl 157
#define NR_futex 202
#define NR_clock_gettime 228
#define NR_exit_group 231
#define NR_openat 257
#define NR_pipe2 293
#define NR_prlimit64 302
#define NR_seccomp 317
#define NR_memfd_create 319
#define NR_close_range 436

#define PROT_R 1
#define PROT_W 2
#define PROT_X 4
#define MAP_SHARED 1
#define MAP_PRIVATE 2
#define MAP_FIXED 0x10
#define MAP_ANON 0x20
#define MAP_FIXED_NOREPLACE 0x100000
#define MADV_DONTFORK 10
#define FUTEX_WAIT 0
#define FUTEX_WAKE 1
#define FUTEX_PRIVATE 128
#define WALL 0x40000000
#define SEEK_DATA 3

/* ------------------------------------------------------------------ */
/* Shared between P and its zygotes (MAP_SHARED, DONTFORK in a zygote). */

struct cmp {
	u32 slot;
	int status;
};

struct ring {
	volatile u32 req_head;	/* P */
	volatile u32 z_wait;	/* Z sleeps on req_head */
	u32 pad0[14];
	volatile u32 req_tail;	/* Z */
	u32 pad1[15];
	volatile u32 cmp_head;	/* Z's reaper */
	u32 pad2[15];
	volatile u32 cmp_tail;	/* P */
	u32 pad3[15];
	volatile u32 quit, ready;
	u32 pad4[14];
	/* at its end, the zygote's CPU (ns): its main thread, all its
	 * threads, its children (the instances) */
	u64 cpu_main, cpu_self, cpu_children;
	volatile int spid[MAXK];	/* w: the children's pids, for P */
	u32 req[RING];
	struct cmp cmp[RING];
};

struct shared {
	volatile u32 bell;	/* bumped by every completion and ready */
	volatile u32 p_wait;	/* P sleeps on bell */
	u32 pad[14];
	struct ring ring[MAXZ] __attribute__((aligned(4096)));
};

/* ------------------------------------------------------------------ */
/* The design of one run, set by P before it forks the zygotes. */

static struct {
	char variant;		/* 'a', 'b', 'c' */
	char proto;		/* 'r', 's' */
	u32 nz, k;
	u32 hostile;		/* 0, or the hostile function's number */
	int image_fd;
	int ctx_fd[MAXZ], ro_fd[MAXZ];	/* a pool of k contexts each */
	int sock[MAXZ][2];
	struct shared *sh;
} cfg;

/* A zygote's own state (its copy of .bss). */
static struct {
	u32 id;
	struct ring *r;
	volatile int slot_pid[MAXK];	/* CLONE_PARENT_SETTID */
	u32 tail;
} zy;

static char reaper_stack[16384] __attribute__((aligned(64)));

/* ------------------------------------------------------------------ */
/* Small helpers (no libc). */

static void *memset_(void *d, int c, u64 n)
{
	void *p = d;

	__asm__ volatile("rep stosb" : "+D"(p), "+c"(n) : "a"(c) : "memory");
	return d;
}

void *memset(void *d, int c, unsigned long n)
{
	return memset_(d, c, n);
}

void *memcpy(void *d, const void *s, unsigned long n)
{
	char *dp = d;
	const char *sp = s;

	while (n--)
		*dp++ = *sp++;
	return d;
}

static u64 now_ns(void)
{
	struct {
		long s, ns;
	} t;

	raw_syscall2(NR_clock_gettime, 1, &t);
	return (u64)t.s * 1000000000ul + (u64)t.ns;
}

struct rusage_raw {
	long us, uu, ss, su;
	long rest[14];
};

static u64 cpu_ns(void)
{
	struct rusage_raw a, b;

	raw_syscall2(NR_getrusage, 0, &a);
	raw_syscall2(NR_getrusage, -1, &b);
	return (u64)(a.us + a.ss + b.us + b.ss) * 1000000000ul +
	       (u64)(a.uu + a.su + b.uu + b.su) * 1000ul;
}

static char obuf[4096];
static u64 olen;

static void flush(void)
{
	raw_syscall3(NR_write, 1, obuf, olen);
	olen = 0;
}

static void put_s(const char *s)
{
	while (*s) {
		if (olen == sizeof(obuf))
			flush();
		obuf[olen++] = *s++;
	}
}

static void put_u(u64 v)
{
	char t[24];
	int i = 23;

	t[i] = 0;
	do {
		t[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	put_s(t + i);
}

/* v in hundredths */
static void put_f2(u64 v)
{
	char t[4] = { '.', (char)('0' + v % 100 / 10), (char)('0' + v % 10), 0 };

	put_u(v / 100);
	put_s(t);
}

/* v in thousandths */
static void put_f3(u64 v)
{
	char t[5] = { '.', (char)('0' + v % 1000 / 100),
		      (char)('0' + v % 100 / 10), (char)('0' + v % 10), 0 };

	put_u(v / 1000);
	put_s(t);
}

static __attribute__((noreturn)) void die(const char *what, long err)
{
	put_s("fresh-proto: ");
	put_s(what);
	put_s(": ");
	put_u((u64)(err < 0 ? -err : err));
	put_s("\n");
	flush();
	raw_exit_group(1);
}

static u64 number(const char *c)
{
	u64 n = 0;

	for (; *c >= '0' && *c <= '9'; c++)
		n = n * 10 + (u64)(*c - '0');
	return n;
}

static u64 slen(const char *s)
{
	u64 n = 0;

	while (s[n])
		n++;
	return n;
}

static void scat(char *d, const char *a, const char *b)
{
	while (*a)
		*d++ = *a++;
	while (*b)
		*d++ = *b++;
	*d = 0;
}

static long futex(volatile u32 *w, int op, u32 val)
{
	return raw_syscall6(NR_futex, (long)w, op, val, 0, 0, 0);
}

#define LOAD(x) __atomic_load_n(&(x), __ATOMIC_ACQUIRE)
#define STORE(x, v) __atomic_store_n(&(x), (v), __ATOMIC_RELEASE)
#define FENCE() __atomic_thread_fence(__ATOMIC_SEQ_CST)

/* ------------------------------------------------------------------ */
/*
 * Code blobs, position-independent, copied to where they run: the fork
 * and the child's calls (run in place in the zygote's code for design a,
 * copied to FORKPG for b and c), the trampoline (TRAMP) and the function
 * (the image's first page). Registers only: the child has no stack until
 * its context is mapped.
 */
#define S_(x) #x
#define S(x) S_(x)
extern const char fp_start[], fp_end[], tr_start[], tr_end[],
	tr_ip_unmap[], fn_start[], fn_end[], fn_h1[], fn_h2[];
long zfork(long ctx_fd, long ro_fd, volatile int *ptid, u64 off, u64 flags);
long thread_spawn(void *stack_top);

__asm__(".text\n"
	".balign 4096\n"
	".globl fp_start\n"
	"fp_start:\n"
	".globl zfork\n"
	"zfork:\n"
	"	push %r12\n"
	"	push %r13\n"
	"	push %r14\n"
	"	mov %rdi, %r12\n"
	"	mov %rsi, %r13\n"
	"	mov %rcx, %r14\n"
	"	mov $56, %eax\n"		/* clone(flags, 0, ptid) */
	"	mov %r8, %rdi\n"
	"	xor %esi, %esi\n"
	"	xor %r10d, %r10d\n"
	"	xor %r8d, %r8d\n"
	"	syscall\n"
	"	test %rax, %rax\n"
	"	jz 1f\n"
	"	pop %r14\n"
	"	pop %r13\n"
	"	pop %r12\n"
	"	ret\n"
	"1:	mov $157, %eax\n"		/* prctl(PR_SET_PDEATHSIG, SIGKILL) */
	"	mov $1, %edi\n"
	"	mov $9, %esi\n"
	"	syscall\n"
	"	test %rax, %rax\n"
	"	jnz 9f\n"
	"	mov $9, %eax\n"			/* mmap: the context below the guard */
	"	movabs $" S(CTX_BASE) ", %rdi\n"
	"	mov $" S(GUARD_OFF) ", %esi\n"
	"	mov $3, %edx\n"
	"	mov $0x100001, %r10d\n"
	"	mov %r12, %r8\n"
	"	mov %r14, %r9\n"
	"	syscall\n"
	"	cmp %rdi, %rax\n"
	"	jne 9f\n"
	"	mov $9, %eax\n"			/* the stack above it */
	"	movabs $" S(CTX_BASE + GEND) ", %rdi\n"
	"	mov $" S(CTX_SIZE - GEND) ", %esi\n"
	"	mov $3, %edx\n"
	"	mov $0x100001, %r10d\n"
	"	mov %r12, %r8\n"
	"	lea " S(GEND) "(%r14), %r9\n"
	"	syscall\n"
	"	cmp %rdi, %rax\n"
	"	jne 9f\n"
	"	mov $9, %eax\n"			/* the input area, read-only */
	"	movabs $" S(INPUT_BASE) ", %rdi\n"
	"	mov $" S(AREA) ", %esi\n"
	"	mov $1, %edx\n"
	"	mov $0x100001, %r10d\n"
	"	mov %r13, %r8\n"
	"	lea " S(CTX_SIZE) "(%r14), %r9\n"
	"	syscall\n"
	"	cmp %rdi, %rax\n"
	"	jne 9f\n"
	"	mov $302, %eax\n"		/* prlimit64(0, RLIMIT_CPU, ctx+0x70) */
	"	xor %edi, %edi\n"
	"	xor %esi, %esi\n"
	"	movabs $" S(CTX_BASE + 0x70) ", %rdx\n"
	"	xor %r10d, %r10d\n"
	"	syscall\n"
	"	test %rax, %rax\n"
	"	jnz 9f\n"
	"	mov $302, %eax\n"		/* RLIMIT_NPROC 0 (ctx+0x80: zero) */
	"	xor %edi, %edi\n"
	"	mov $6, %esi\n"
	"	movabs $" S(CTX_BASE + 0x80) ", %rdx\n"
	"	xor %r10d, %r10d\n"
	"	syscall\n"
	"	test %rax, %rax\n"
	"	jnz 9f\n"
	"	mov $436, %eax\n"		/* close_range(0, ~0, 0) */
	"	xor %edi, %edi\n"
	"	mov $-1, %esi\n"
	"	xor %edx, %edx\n"
	"	syscall\n"
	"	test %rax, %rax\n"
	"	jnz 9f\n"
	"	movabs $" S(TRAMP) ", %rax\n"
	"	jmp *%rax\n"
	"9:	mov $231, %eax\n"
	"	mov $127, %edi\n"
	"	syscall\n"
	"	ud2\n"
	".globl fp_end\n"
	"fp_end:\n"

	/* The trampoline: unmap the trusted code (TRAMP_DATA: address,
	 * length; none for design c), zero the limits' words, start the
	 * function on the context stack with every register but rdi zero. */
	".balign 64\n"
	".globl tr_start\n"
	"tr_start:\n"
	"	movabs $" S(TRAMP_DATA) ", %rbx\n"
	"	mov 0(%rbx), %rdi\n"
	"	mov 8(%rbx), %rsi\n"
	"	test %rsi, %rsi\n"
	"	jz 2f\n"
	"	mov $11, %eax\n"
	"	syscall\n"
	".globl tr_ip_unmap\n"
	"tr_ip_unmap:\n"
	"	test %rax, %rax\n"
	"	jnz 9f\n"
	"2:	movabs $" S(CTX_BASE + 0x70) ", %rdi\n"
	"	xor %eax, %eax\n"
	"	mov %rax, (%rdi)\n"
	"	mov %rax, 8(%rdi)\n"
	"	mov 16(%rbx), %rcx\n"
	"	movabs $" S(CTX_BASE + CTX_SIZE) ", %rsp\n"
	"	movabs $" S(CTX_BASE) ", %rdi\n"
	"	xor %ebx, %ebx\n"
	"	xor %edx, %edx\n"
	"	xor %esi, %esi\n"
	"	xor %ebp, %ebp\n"
	"	xor %r8d, %r8d\n"
	"	xor %r9d, %r9d\n"
	"	xor %r10d, %r10d\n"
	"	xor %r11d, %r11d\n"
	"	xor %r12d, %r12d\n"
	"	xor %r13d, %r13d\n"
	"	xor %r14d, %r14d\n"
	"	xor %r15d, %r15d\n"
	"	jmp *%rcx\n"
	"9:	mov $231, %eax\n"
	"	mov $126, %edi\n"
	"	syscall\n"
	"	ud2\n"
	".globl tr_end\n"
	"tr_end:\n"

	/* The function: a no-op that touches what a pith no-op touches. */
	".balign 64\n"
	".globl fn_start\n"
	"fn_start:\n"
	"	push %rbp\n"			/* its stack */
	"	mov (%rdi), %eax\n"		/* its descriptor */
	"	movabs $" S(IMG_DATA) ", %rcx\n"
	"	mov %eax, (%rcx)\n"		/* its .data */
	"	mov 0x48(%rdi), %rax\n"		/* output: instance + 1 */
	"	inc %rax\n"
	"	mov %rax, 0x200(%rdi)\n"
	"	mov $231, %eax\n"
	"	xor %edi, %edi\n"
	"	syscall\n"
	"	ud2\n"
	/* Hostile functions (design suffix h1, h2): a forbidden call; a
	 * jump to the zygote's clone, in the window (unmapped by then). */
	".globl fn_h1\n"
	"fn_h1:\n"
	"	mov $39, %eax\n"		/* getpid */
	"	syscall\n"
	"	mov $231, %eax\n"
	"	xor %edi, %edi\n"
	"	syscall\n"
	".globl fn_h2\n"
	"fn_h2:\n"
	"	mov 0x60(%rdi), %rax\n"	/* the clone's address, from P */
	"	jmp *%rax\n"
	".globl fn_end\n"
	"fn_end:\n"

	/* A zygote's reaper thread: clone(CLONE_VM | FS | FILES | SIGHAND |
	 * THREAD | SYSVSEM) on its own stack, running reaper_main(). */
	".globl thread_spawn\n"
	"thread_spawn:\n"
	"	mov %rdi, %rsi\n"
	"	mov $0x50f00, %edi\n"
	"	xor %edx, %edx\n"
	"	xor %r10d, %r10d\n"
	"	xor %r8d, %r8d\n"
	"	mov $56, %eax\n"
	"	syscall\n"
	"	test %rax, %rax\n"
	"	jz 1f\n"
	"	ret\n"
	"1:	xor %ebp, %ebp\n"
	"	call reaper_main\n"
	"	ud2\n");

/* ------------------------------------------------------------------ */
/* The zygote. */

struct sock_filter {
	unsigned short code;
	unsigned char jt, jf;
	u32 k;
};

#define BPF_LD_W_ABS 0x20
#define BPF_JEQ 0x15
#define BPF_JGE 0x35
#define BPF_RET 0x06
#define RET_ALLOW 0x7fff0000u
#define RET_KILL 0x80000000u

/* The zygote's seccomp program: kill by default; allow exit and
 * exit_group anywhere, anything from the zygote's window or the fork page
 * (trusted code, absent when a function runs), and the trampoline's
 * munmap of exactly that code. */
static u32 build_filter(struct sock_filter *f, u64 un_addr, u64 un_len)
{
	u64 ip = TRAMP + (u64)(tr_ip_unmap - tr_start);
	u32 n = 0, allow, kill;
	/* labels are patched below: jt/jf hold 'A' (allow), 'K' (kill) or
	 * a relative skip */
#define I(c, t, e, v) (f[n++] = (struct sock_filter){ c, t, e, v })
	I(BPF_LD_W_ABS, 0, 0, 4);
	I(BPF_JEQ, 0, 'K', 0xc000003eu);
	I(BPF_LD_W_ABS, 0, 0, 0);
	I(BPF_JEQ, 'A', 0, 231);
	I(BPF_JEQ, 'A', 0, 60);
	I(BPF_LD_W_ABS, 0, 0, 12);
	I(BPF_JEQ, 0, 'K', (u32)(WIN_LO >> 32));
	I(BPF_LD_W_ABS, 0, 0, 8);
	I(BPF_JGE, 0, 1, (u32)WIN_LO);		/* >= window start */
	I(BPF_JGE, 0, 'A', (u32)WIN_HI);	/* < window end: allow */
	I(BPF_JGE, 0, 2, (u32)FORKPG);		/* fork page */
	I(BPF_JGE, 1, 'A', (u32)(FORKPG + PAGE));
	/* the trampoline's munmap */
	I(BPF_JEQ, 0, 'K', (u32)ip);
	I(BPF_LD_W_ABS, 0, 0, 0);
	I(BPF_JEQ, 0, 'K', NR_munmap);
	I(BPF_LD_W_ABS, 0, 0, 16);
	I(BPF_JEQ, 0, 'K', (u32)un_addr);
	I(BPF_LD_W_ABS, 0, 0, 20);
	I(BPF_JEQ, 0, 'K', (u32)(un_addr >> 32));
	I(BPF_LD_W_ABS, 0, 0, 24);
	I(BPF_JEQ, 0, 'K', (u32)un_len);
	I(BPF_LD_W_ABS, 0, 0, 28);
	I(BPF_JEQ, 0, 'K', (u32)(un_len >> 32));
	allow = n;
	I(BPF_RET, 0, 0, RET_ALLOW);
	kill = n;
	I(BPF_RET, 0, 0, RET_KILL);
#undef I
	for (u32 i = 0; i < n; i++) {
		if (f[i].jt == 'A')
			f[i].jt = (unsigned char)(allow - i - 1);
		else if (f[i].jt == 'K')
			f[i].jt = (unsigned char)(kill - i - 1);
		if (f[i].jf == 'A')
			f[i].jf = (unsigned char)(allow - i - 1);
		else if (f[i].jf == 'K')
			f[i].jf = (unsigned char)(kill - i - 1);
	}
	return n;
}

static void zcheck(long r, const char *what)
{
	if (r < 0)
		die(what, r);
}

extern char __ehdr_start[], _etext[], _end[];

/* Post one completion and ring P's bell if P sleeps. */
static void post(u32 slot, int status)
{
	struct ring *r = zy.r;

	if (cfg.proto == 's') {
		struct cmp c = { slot, status };

		raw_syscall3(NR_write, cfg.sock[zy.id][1], &c, sizeof(c));
		return;
	}
	u32 h = r->cmp_head;

	r->cmp[h % RING] = (struct cmp){ slot, status };
	STORE(r->cmp_head, h + 1);
	__atomic_fetch_add(&cfg.sh->bell, 1, __ATOMIC_SEQ_CST);
	if (LOAD(cfg.sh->p_wait))
		futex(&cfg.sh->bell, FUTEX_WAKE, 1);
}

__attribute__((used, noreturn)) void reaper_main(void)
{
	for (;;) {
		int status = 0;
		long pid = raw_syscall4(NR_wait4, -1, &status, WALL, 0);

		if (pid < 0)
			continue;
		for (u32 s = 0; s < cfg.k; s++)
			if (zy.slot_pid[s] == pid) {
				zy.slot_pid[s] = 0;
				post(s, status);
				break;
			}
	}
}

static void spawn(u32 slot)
{
	long pid;

	zy.slot_pid[slot] = 0;
	/* w: P's child (CLONE_PARENT), its pid in the shared ring */
	volatile int *ptid = cfg.proto == 'w' ? &zy.r->spid[slot] :
						&zy.slot_pid[slot];
	u64 flags = 0x00100000 /* CLONE_PARENT_SETTID */ |
		    (cfg.proto == 'w' ? 0x8000 /* CLONE_PARENT */ : 0);

	*ptid = 0;
	if (cfg.variant == 'a')
		pid = zfork(cfg.ctx_fd[zy.id], cfg.ro_fd[zy.id], ptid,
			    slot * SLOT, flags);
	else
		pid = ((long (*)(long, long, volatile int *, u64, u64))(
			FORKPG + ((u64)zfork - (u64)fp_start)))(
			cfg.ctx_fd[zy.id], cfg.ro_fd[zy.id], ptid,
			slot * SLOT, flags);
	if (pid < 0) {
		post(slot, (int)(0x10000 - pid)); /* no such status: -errno */
		return;
	}
}

struct range {
	u64 lo, hi;
};

static u64 rusage_ns(long who)
{
	struct rusage_raw u;

	raw_syscall2(NR_getrusage, who, &u);
	return (u64)(u.us + u.ss) * 1000000000ul +
	       (u64)(u.uu + u.su) * 1000ul;
}

static __attribute__((noreturn)) void zygote_end(void)
{
	zy.r->cpu_main = rusage_ns(1 /* RUSAGE_THREAD */);
	zy.r->cpu_self = rusage_ns(0);
	zy.r->cpu_children = rusage_ns(-1);
	raw_exit_group(0);
}

static __attribute__((noreturn)) void zygote_main(u32 id, u64 sp)
{
	struct range keep[8];
	struct sock_filter filt[64];
	struct {
		unsigned short len;
		struct sock_filter *f;
	} prog;
	u64 cur = 0, un_addr, un_len, win_end = (WIN_LO + ((u64)_end - WIN_LO +
							   PAGE - 1)) & ~(PAGE - 1);
	u64 data_lo = ((u64)_etext + PAGE - 1) & ~(PAGE - 1);
	u32 n = 0;
	long e;

	zy.id = id;
	zy.r = &cfg.sh->ring[id];
	/* Other zygotes' contexts are not ours. */
	for (u32 z = 0; z < cfg.nz; z++)
		if (z != id) {
			raw_syscall1(NR_close, cfg.ctx_fd[z]);
			raw_syscall1(NR_close, cfg.ro_fd[z]);
		}
	if (cfg.proto == 's')
		raw_syscall1(NR_close, cfg.sock[id][0]);
	/* Trim: keep the window, the shared rings, the stack. */
	keep[n++] = (struct range){ WIN_LO, win_end };
	keep[n++] = (struct range){ (u64)cfg.sh,
				    (u64)cfg.sh + sizeof(struct shared) };
	keep[n++] = (struct range){ (sp & ~(PAGE - 1)) - (256ul << 10),
				    0x7ffffffff000ul };
	for (u32 i = 1; i < n; i++) /* sort */
		for (u32 j = i; j > 0 && keep[j - 1].lo > keep[j].lo; j--) {
			struct range t = keep[j];

			keep[j] = keep[j - 1];
			keep[j - 1] = t;
		}
	for (u32 i = 0; i < n; i++) {
		if (keep[i].lo > cur)
			raw_syscall2(NR_munmap, cur ? cur : PAGE,
				     keep[i].lo - (cur ? cur : PAGE));
		cur = keep[i].hi;
	}
	/* A worker's user, as pith's (when run as root), before the
	 * sentinel: a parent-death signal needs the right to signal. */
	if (raw_syscall0(102 /* getuid */) == 0) {
		zcheck(raw_syscall2(116 /* setgroups */, 0, 0), "setgroups");
		zcheck(raw_syscall3(119 /* setresgid */, 65534, 65534, 65534),
		       "setresgid");
		zcheck(raw_syscall3(117 /* setresuid */, 65534, 65534, 65534),
		       "setresuid");
	}
	/* Dies with P (a change of credentials clears it: set after). */
	raw_syscall2(NR_prctl, 1 /* PR_SET_PDEATHSIG */, 9);
	/* A child that never exits (until the zygote does): the reaper's
	 * wait4 blocks instead of finding no child between instances. */
	e = cfg.proto == 'w' ? 1 : raw_syscall0(NR_fork);
	if (e == 0) {
		raw_syscall2(NR_prctl, 1 /* PR_SET_PDEATHSIG */, 9);
		for (;;)
			raw_syscall0(34 /* pause */);
	}
	zcheck(e, "fork sentinel");
	/* Nothing of the zygote's data, stack or rings in a child; for b
	 * and c, nothing of its code either. */
	e = raw_syscall3(NR_madvise, keep[2].lo, keep[2].hi - keep[2].lo,
			 MADV_DONTFORK);
	if (e < 0 && e != -12)
		die("madvise stack", e);
	zcheck(raw_syscall3(NR_madvise, (u64)cfg.sh, sizeof(struct shared),
			    MADV_DONTFORK), "madvise rings");
	e = raw_syscall3(NR_madvise, data_lo, win_end - data_lo,
			 MADV_DONTFORK);
	if (e < 0 && e != -12) /* ENOMEM: the holes between segments */
		die("madvise data", e);
	if (cfg.variant != 'a')
		zcheck(raw_syscall3(NR_madvise, WIN_LO, data_lo - WIN_LO,
				    MADV_DONTFORK), "madvise code");
	/* The image: its code and its data, private. */
	zcheck(raw_syscall6(NR_mmap, IMG_TEXT, PAGE, PROT_R | PROT_X,
			    MAP_PRIVATE | MAP_FIXED_NOREPLACE, cfg.image_fd, 0),
	       "map image");
	zcheck(raw_syscall6(NR_mmap, IMG_DATA, PAGE, PROT_R | PROT_W,
			    MAP_PRIVATE | MAP_FIXED_NOREPLACE, cfg.image_fd,
			    PAGE),
	       "map image data");
	raw_syscall1(NR_close, cfg.image_fd);
	/* The trampoline page, and the fork page for b and c. */
	zcheck(raw_syscall6(NR_mmap, TRAMP, PAGE, PROT_R | PROT_W,
			    MAP_PRIVATE | MAP_ANON | MAP_FIXED_NOREPLACE, -1, 0),
	       "map trampoline");
	memcpy((void *)TRAMP, tr_start, (u64)(tr_end - tr_start));
	if (cfg.variant == 'a') {
		un_addr = WIN_LO;
		un_len = WIN_HI - WIN_LO;
	} else {
		zcheck(raw_syscall6(NR_mmap, FORKPG, PAGE, PROT_R | PROT_W,
				    MAP_PRIVATE | MAP_ANON |
					    MAP_FIXED_NOREPLACE,
				    -1, 0),
		       "map fork page");
		memcpy((void *)FORKPG, fp_start, (u64)(fp_end - fp_start));
		zcheck(raw_syscall3(NR_mprotect, FORKPG, PAGE,
				    PROT_R | PROT_X), "mprotect fork page");
		un_addr = FORKPG;
		un_len = PAGE;
	}
	((u64 *)TRAMP_DATA)[0] = un_addr;
	((u64 *)TRAMP_DATA)[1] = cfg.variant == 'c' ? 0 : un_len;
	((u64 *)TRAMP_DATA)[2] = IMG_TEXT + (u64)(cfg.hostile == 1 ?
		fn_h1 - fn_start : cfg.hostile == 2 ? fn_h2 - fn_start : 0);
	zcheck(raw_syscall3(NR_mprotect, TRAMP, PAGE, PROT_R | PROT_X),
	       "mprotect trampoline");
	/* The seccomp program, inherited by every child. */
	prog.len = (unsigned short)build_filter(filt, un_addr, un_len);
	prog.f = filt;
	zcheck(raw_syscall2(NR_prctl, 38 /* PR_SET_NO_NEW_PRIVS */, 1),
	       "no_new_privs");
	zcheck(raw_syscall3(NR_seccomp, 1 /* SET_MODE_FILTER */, 0, &prog),
	       "seccomp");
	if (cfg.proto != 'w')
		zcheck(thread_spawn(reaper_stack + sizeof(reaper_stack)),
		       "thread");
	STORE(zy.r->ready, 1);
	__atomic_fetch_add(&cfg.sh->bell, 1, __ATOMIC_SEQ_CST);
	futex(&cfg.sh->bell, FUTEX_WAKE, 1);
	for (;;) {
		struct ring *r = zy.r;
		u32 h;

		if (cfg.proto == 's') {
			u32 slot;
			long got = raw_syscall3(NR_read, cfg.sock[id][1], &slot,
						sizeof(slot));

			if (got != sizeof(slot))
				zygote_end();
			spawn(slot);
			continue;
		}
		h = LOAD(r->req_head);
		if (h == zy.tail) {
			if (LOAD(r->quit))
				zygote_end();
			STORE(r->z_wait, 1);
			FENCE();
			if (LOAD(r->req_head) == zy.tail && !LOAD(r->quit))
				futex(&r->req_head, FUTEX_WAIT, h);
			STORE(r->z_wait, 0);
			continue;
		}
		while (zy.tail != h) {
			spawn(r->req[zy.tail % RING]);
			zy.tail++;
		}
		STORE(r->req_tail, zy.tail);
	}
}

/* ------------------------------------------------------------------ */
/* P: "pith". */

static char *slot_map[MAXZ][MAXK];
static u64 hostile_killed;
static u64 slot_instance[MAXZ][MAXK];

static void write_descriptor(char *c, u64 instance)
{
	u64 *w = (u64 *)c;

	*(u32 *)c = 0x48544950u;	/* magic */
	*(unsigned short *)(c + 4) = 1;
	*(unsigned short *)(c + 6) = 0x1c0;
	w[1] = CTX_BASE;
	w[2] = CTX_SIZE;
	w[3] = CTX_BASE + 0x1000;
	w[4] = GUARD_OFF - 0x1000;
	w[5] = STACK_PART;
	*(u32 *)(c + 0x30) = 1;
	*(u32 *)(c + 0x34) = 1;
	w[7] = CTX_BASE + 0x100;
	w[8] = CTX_BASE + 0x180;
	w[9] = instance;
	w[14] = 10;		/* RLIMIT_CPU, read by the child */
	w[15] = 11;
	/* hostile h2: the clone's arguments and call, where the zygote has
	 * them */
	w[12] = (cfg.variant == 'a' ? (u64)fp_start : FORKPG) + 0x14;
	/* one input set of one item, one output set */
	w[0x100 / 8] = CTX_BASE + 0x300;
	w[0x108 / 8] = 1ul << 32 | 1;
	w[0x110 / 8] = CTX_BASE + 0x340;
	w[0x180 / 8] = CTX_BASE + 0x310;
	w[0x188 / 8] = 1ul << 32 | 1;
	w[0x340 / 8] = CTX_BASE + 0x320;
	w[0x348 / 8] = 2;
	w[0x358 / 8] = INPUT_BASE;
	w[0x360 / 8] = 2;
	c[0x300] = 'n';
	c[0x310] = 'o';
	c[0x320] = 'i';
	/* the item, in the input area */
	c[CTX_SIZE] = 'x';
	c[CTX_SIZE + 1] = '\n';
}

/* What P does with a finished instance: the output, the zeroing. */
static void finish(u32 z, u32 s, int status)
{
	char *c = slot_map[z][s];
	long off;

	if (cfg.hostile) {
		/* killed: by SIGSYS (the filter), by SIGSEGV (no code there) */
		if ((status & 0x7f) != (cfg.hostile == 1 ? 31 : 11))
			die("hostile instance not killed as expected, status",
			    status);
		hostile_killed++;
		memset_(c, 0, 0x400);
		return;
	}
	if (status != 0)
		die("instance failed, status", status);
	if (*(u64 *)(c + 0x200) != slot_instance[z][s] + 1)
		die("wrong output of instance", (long)slot_instance[z][s]);
	memset_(c, 0, 0x400);
	memset_(c + CTX_SIZE - PAGE, 0, PAGE);
	c[CTX_SIZE] = c[CTX_SIZE + 1] = 0;
	/* anything else the instance touched */
	off = raw_syscall3(NR_lseek, cfg.ctx_fd[z], s * SLOT + PAGE,
			   SEEK_DATA);
	while (off >= 0 && (u64)off < s * SLOT + CTX_SIZE - PAGE) {
		memset_(c + off - s * SLOT, 0, PAGE);
		off = raw_syscall3(NR_lseek, cfg.ctx_fd[z], off + PAGE,
				   SEEK_DATA);
	}
}

static char **envp_g;
static const char *build_g;

static int make_image(void)
{
	int fd = (int)raw_syscall2(NR_memfd_create, "fresh-proto-image", 1);
	char page[2 * PAGE];

	zcheck(fd, "memfd image");
	memset_(page, 0, sizeof(page));
	memcpy(page, fn_start, (u64)(fn_end - fn_start));
	if (raw_syscall3(NR_write, fd, page, sizeof(page)) != sizeof(page))
		die("write image", 0);
	return fd;
}

/* One run of a design: per instance, wall (ns) and CPU (ns). */
static void run_design(const char *d, u64 n, u64 *wall, u64 *cpu,
		       u64 *role)
{
	u64 c0 = cpu_ns(), p0 = rusage_ns(0), t0, t1, issued = 0, done = 0;
	long pids[MAXZ];
	char path[64];

	cfg.variant = d[0];
	cfg.nz = (u32)(d[1] - '0');
	cfg.proto = d[2];
	cfg.k = (u32)number(d + 3);
	cfg.hostile = 0;
	for (const char *q = d + 3; *q; q++)
		if (*q == 'h')
			cfg.hostile = (u32)number(q + 1);
	if (cfg.k == 0 || cfg.k > MAXK || cfg.nz == 0 || cfg.nz > MAXZ ||
	    (cfg.proto == 's' && cfg.nz != 1))
		die("bad design", 0);
	cfg.sh = (void *)raw_syscall6(NR_mmap, 0, sizeof(struct shared),
				      PROT_R | PROT_W, MAP_SHARED | MAP_ANON,
				      -1, 0);
	zcheck((long)cfg.sh, "mmap rings");
	for (u32 z = 0; z < cfg.nz; z++) {
		if (cfg.proto == 's')
			zcheck(raw_syscall4(NR_socketpair, 1, 5 /* SEQPACKET */,
					    0, cfg.sock[z]),
			       "socketpair");
		{
			int fd = (int)raw_syscall2(NR_memfd_create, "ctx", 0);
			char num[24];
			int i = 23;
			u64 v = (u64)fd;

			zcheck(fd, "memfd ctx");
			zcheck(raw_syscall2(NR_ftruncate, fd, SLOT * cfg.k),
			       "ftruncate");
			num[i] = 0;
			do {
				num[--i] = (char)('0' + v % 10);
				v /= 10;
			} while (v);
			scat(path, "/proc/self/fd/", num + i);
			cfg.ctx_fd[z] = fd;
			cfg.ro_fd[z] = (int)raw_syscall4(NR_openat, -100, path,
							 0, 0);
			zcheck(cfg.ro_fd[z], "open ro");
		}
	}
	for (u32 z = 0; z < cfg.nz; z++) {
		u64 sp = (u64)__builtin_frame_address(0);

		pids[z] = raw_syscall0(NR_fork);
		if (pids[z] == 0)
			zygote_main(z, sp);
		zcheck(pids[z], "fork zygote");
		if (cfg.proto == 's')
			raw_syscall1(NR_close, cfg.sock[z][1]);
	}
	for (u32 z = 0; z < cfg.nz; z++)
		for (u32 s = 0; s < cfg.k; s++) {
			slot_map[z][s] = (char *)raw_syscall6(
				NR_mmap, 0, SLOT, PROT_R | PROT_W,
				MAP_SHARED, cfg.ctx_fd[z], s * SLOT);
			zcheck((long)slot_map[z][s], "map slot");
		}
	for (u32 z = 0; z < cfg.nz; z++)
		while (!LOAD(cfg.sh->ring[z].ready)) {
			u32 b = LOAD(cfg.sh->bell);

			if (!LOAD(cfg.sh->ring[z].ready))
				futex(&cfg.sh->bell, FUTEX_WAIT, b);
		}
	t0 = now_ns();
	/* every context busy from the start */
	for (u32 s = 0; s < cfg.k && issued < n; s++)
		for (u32 z = 0; z < cfg.nz && issued < n; z++) {
			write_descriptor(slot_map[z][s], issued);
			slot_instance[z][s] = issued++;
			if (cfg.proto == 's') {
				raw_syscall3(NR_write, cfg.sock[z][0], &s,
					     sizeof(s));
				continue;
			}
			struct ring *r = &cfg.sh->ring[z];

			r->req[r->req_head % RING] = s;
			STORE(r->req_head, r->req_head + 1);
		}
	for (u32 z = 0; cfg.proto != 's' && z < cfg.nz; z++) {
		FENCE();
		if (LOAD(cfg.sh->ring[z].z_wait))
			futex(&cfg.sh->ring[z].req_head, FUTEX_WAKE, 1);
	}
	while (done < n) {
		u32 b = LOAD(cfg.sh->bell), progress = 0;

		if (cfg.proto == 's') {
			struct cmp c;

			if (raw_syscall3(NR_read, cfg.sock[0][0], &c,
					 sizeof(c)) != sizeof(c))
				die("read completion", 0);
			finish(0, c.slot, c.status);
			done++;
			if (issued < n) {
				write_descriptor(slot_map[0][c.slot], issued);
				slot_instance[0][c.slot] = issued++;
				raw_syscall3(NR_write, cfg.sock[0][0], &c.slot,
					     sizeof(c.slot));
			}
			continue;
		}
		if (cfg.proto == 'w') {
			int st = 0;
			long pid = raw_syscall4(NR_wait4, -1, &st, WALL, 0);
			u32 z = 0, s = 0, found = 0;

			for (z = 0; z < cfg.nz && !found; z++)
				for (s = 0; s < cfg.k && !found; s++)
					found = cfg.sh->ring[z].spid[s] == pid;
			if (!found)
				die("an unknown child exited", pid);
			z--;
			s--;
			cfg.sh->ring[z].spid[s] = 0;
			finish(z, s, st);
			done++;
			if (issued < n) {
				struct ring *r = &cfg.sh->ring[z];

				write_descriptor(slot_map[z][s], issued);
				slot_instance[z][s] = issued++;
				r->req[r->req_head % RING] = s;
				STORE(r->req_head, r->req_head + 1);
				FENCE();
				if (LOAD(r->z_wait))
					futex(&r->req_head, FUTEX_WAKE, 1);
			}
			continue;
		}
		for (u32 z = 0; z < cfg.nz; z++) {
			struct ring *r = &cfg.sh->ring[z];
			u32 h = LOAD(r->cmp_head), added = 0;

			while (r->cmp_tail != h) {
				struct cmp c = r->cmp[r->cmp_tail % RING];

				STORE(r->cmp_tail, r->cmp_tail + 1);
				finish(z, c.slot, c.status);
				done++;
				progress = 1;
				if (issued < n) {
					write_descriptor(slot_map[z][c.slot],
							 issued);
					slot_instance[z][c.slot] = issued++;
					r->req[r->req_head % RING] = c.slot;
					STORE(r->req_head, r->req_head + 1);
					added = 1;
				}
			}
			if (added) {
				FENCE();
				if (LOAD(r->z_wait))
					futex(&r->req_head, FUTEX_WAKE, 1);
			}
		}
		if (progress)
			continue;
		STORE(cfg.sh->p_wait, 1);
		FENCE();
		if (LOAD(cfg.sh->bell) == b)
			futex(&cfg.sh->bell, FUTEX_WAIT, b);
		STORE(cfg.sh->p_wait, 0);
	}
	t1 = now_ns();
	for (u32 z = 0; z < cfg.nz; z++) {
		int st = 0;

		if (cfg.proto == 's') {
			raw_syscall1(NR_close, cfg.sock[z][0]);
		} else {
			STORE(cfg.sh->ring[z].quit, 1);
			FENCE();
			futex(&cfg.sh->ring[z].req_head, FUTEX_WAKE, 1);
		}
		if (raw_syscall4(NR_wait4, pids[z], &st, WALL, 0) != pids[z] ||
		    st)
			die("zygote failed, status", st);
		role[1] += cfg.sh->ring[z].cpu_main / n;
		role[2] += (cfg.sh->ring[z].cpu_self -
			    cfg.sh->ring[z].cpu_main) / n;
		role[3] += cfg.sh->ring[z].cpu_children / n;
		for (u32 s = 0; s < cfg.k; s++)
			raw_syscall2(NR_munmap, slot_map[z][s], SLOT);
		raw_syscall1(NR_close, cfg.ctx_fd[z]);
		raw_syscall1(NR_close, cfg.ro_fd[z]);
	}
	raw_syscall2(NR_munmap, cfg.sh, sizeof(struct shared));
	*wall = (t1 - t0) / n;
	*cpu = (cpu_ns() - c0) / n;
	role[0] = (rusage_ns(0) - p0) / n;
	if (cfg.proto == 'w') /* the children are P's */
		role[3] = *cpu - role[0] - role[1] - role[2];
}

/* Two lanes ("L" before a design): two copies of P, each pinned to a CPU
 * with its zygote and children (they inherit the pin), each driving N / 2
 * instances of the design; wall from before the lanes' forks to after
 * both ended, CPU of both and all theirs. */
static void run_lanes(const char *d, u64 n, u64 *wall, u64 *cpu, u64 *role)
{
	u64 c0 = cpu_ns(), t0 = now_ns();
	long pids[2];

	for (int l = 0; l < 2; l++) {
		pids[l] = raw_syscall0(NR_fork);
		if (pids[l] == 0) {
			u64 mask = 1ul << l, w, c, ro[4] = { 0, 0, 0, 0 };

			zcheck(raw_syscall3(203 /* sched_setaffinity */, 0,
					    sizeof(mask), &mask),
			       "sched_setaffinity");
			run_design(d, n / 2, &w, &c, ro);
			raw_exit_group(0);
		}
		zcheck(pids[l], "fork lane");
	}
	for (int l = 0; l < 2; l++) {
		int st = 0;

		if (raw_syscall4(NR_wait4, pids[l], &st, 0, 0) != pids[l] || st)
			die("lane failed, status", st);
	}
	*wall = (now_ns() - t0) / n;
	*cpu = (cpu_ns() - c0) / n;
	role[0] = role[1] = role[2] = role[3] = 0;
}

/* A baseline program's run: its first two numbers on stdout (hundredths),
 * and its CPU, its children's included, over n. */
static void run_prog(char **argv, u64 n, u64 *num, u64 *cpu)
{
	u64 c0 = cpu_ns();
	int pfd[2], st = 0;
	long pid, got;
	char out[256];
	u64 len = 0, k = 0, v = 0, frac = 0, seen = 0, infrac = 0;

	zcheck(raw_syscall2(NR_pipe2, pfd, 0), "pipe");
	pid = raw_syscall0(NR_fork);
	if (pid == 0) {
		raw_syscall2(NR_dup2, pfd[1], 1);
		raw_syscall1(NR_close, pfd[0]);
		raw_syscall3(NR_execve, argv[0], argv, envp_g);
		raw_exit_group(127);
	}
	zcheck(pid, "fork");
	raw_syscall1(NR_close, pfd[1]);
	while (len < sizeof(out) - 1 &&
	       (got = raw_syscall3(NR_read, pfd[0], out + len,
				   sizeof(out) - 1 - len)) > 0)
		len += (u64)got;
	raw_syscall1(NR_close, pfd[0]);
	if (raw_syscall4(NR_wait4, pid, &st, 0, 0) != pid || st)
		die(argv[0], st);
	*cpu = (cpu_ns() - c0) / n;
	num[0] = num[1] = 0;
	for (u64 i = 0; i <= len && k < 2; i++) {
		char ch = i < len ? out[i] : ' ';

		if (ch >= '0' && ch <= '9') {
			seen = 1;
			if (infrac) {
				if (frac++ < 2)
					v = v * 10 + (u64)(ch - '0');
			} else
				v = v * 10 + (u64)(ch - '0');
		} else if (ch == '.') {
			infrac = 1;
		} else if (seen) {
			while (frac++ < 2)
				v *= 10;
			num[k++] = v;
			v = frac = seen = infrac = 0;
		}
	}
}

static void sort(u64 *a, u64 n)
{
	for (u64 i = 1; i < n; i++)
		for (u64 j = i; j > 0 && a[j - 1] > a[j]; j--) {
			u64 t = a[j];

			a[j] = a[j - 1];
			a[j - 1] = t;
		}
}

#define MAXD 12
#define MAXR 64

static void stats(const char *name, u64 *w, u64 *c, u64 r, u64 ew, u64 ec)
{
	sort(w, r);
	sort(c, r);
	put_s(name);
	put_s("\twall ");
	put_f2(w[r / 2] / 10);
	put_s(" [");
	put_f2(w[0] / 10);
	put_s("-");
	put_f2(w[r - 1] / 10);
	put_s("] us");
	if (ew) {
		put_s(" (");
		put_f3(w[r / 2] * 1000 / ew);
		put_s("x)");
	}
	put_s("\tCPU ");
	put_f2(c[r / 2] / 10);
	put_s(" [");
	put_f2(c[0] / 10);
	put_s("-");
	put_f2(c[r - 1] / 10);
	put_s("] us");
	if (ec) {
		put_s(" (");
		put_f3(c[r / 2] * 1000 / ec);
		put_s("x)");
	}
	put_s("\n");
	flush();
}

__attribute__((used)) void proto_main(long argc, char **argv)
{
	static u64 w[MAXD + 2][MAXR], c[MAXD + 2][MAXR],
		role[MAXD + 2][4][MAXR];
	u64 n, rounds, nd = (u64)argc - 4, ew, ec, nobase;
	char drv[256], noop[256], fk[256], nbuf[24];
	char *exec_argv[] = { drv, "exec", nbuf, noop, 0 };
	char *fork_argv[] = { fk, nbuf, "2", 0 };

	envp_g = argv + argc + 1;
	if (argc < 5 || (u64)argc - 4 > MAXD)
		die("usage: fresh-proto N ROUNDS BUILD DESIGN... (a2r4, b2r4, a1s4, ...)",
		    0);
	if ((u64)_end > WIN_HI || (u64)__ehdr_start != WIN_LO)
		die("not linked in the loader's window", 0);
	n = number(argv[1]);
	rounds = number(argv[2]);
	build_g = argv[3];
	nobase = build_g[0] == '-' && !build_g[1];
	if (!n || !rounds || rounds > MAXR || slen(build_g) > 200)
		die("bad N or ROUNDS", 0);
	scat(drv, build_g, "/instance-driver");
	scat(noop, build_g, "/bench/noop-static");
	scat(fk, build_g, "/bench/fork-static");
	{
		int i = 23;
		u64 v = n;

		nbuf[i] = 0;
		do {
			nbuf[--i] = (char)('0' + v % 10);
			v /= 10;
		} while (v);
		scat(nbuf, nbuf + i, "");
	}
	cfg.image_fd = make_image();
	for (u64 r = 0; r < rounds; r++) {
		put_s("round ");
		put_u(r + 1);
		flush();
		for (u64 i = 0; i < nd + 2; i++) {
			u64 j = r % 2 ? nd + 1 - i : i, num[2];

			if (j < 2 && nobase) {
				w[j][r] = c[j][r] = 1;
				continue;
			}
			if (j == 0) {
				run_prog(exec_argv, n, num, &c[0][r]);
				w[0][r] = num[0] * 10;	/* hundredths -> ns */
				put_s("  fork+exec ");
			} else if (j == 1) {
				run_prog(fork_argv, n, num, &c[1][r]);
				w[1][r] = num[0] * 10;
				put_s("  fork-static-2 ");
			} else {
				u64 ro[4] = { 0, 0, 0, 0 };

				if (argv[4 + j - 2][0] == 'L')
					run_lanes(argv[4 + j - 2] + 1, n,
						  &w[j][r], &c[j][r], ro);
				else
					run_design(argv[4 + j - 2], n, &w[j][r],
						   &c[j][r], ro);
				for (int q = 0; q < 4; q++)
					role[j][q][r] = ro[q];
				put_s("  ");
				put_s(argv[4 + j - 2]);
				put_s(" ");
			}
			put_f2(w[j][r] / 10);
			put_s("/");
			put_f2(c[j][r] / 10);
			flush();
		}
		put_s("  (wall/CPU us)\n");
		flush();
	}
	put_s("medians [ranges] over ");
	put_u(rounds);
	put_s(" rounds, N = ");
	put_u(n);
	put_s(", ratios to fork+exec's medians:\n");
	{
		u64 tw[MAXR], tc[MAXR];

		for (u64 r = 0; r < rounds; r++) {
			tw[r] = w[0][r];
			tc[r] = c[0][r];
		}
		sort(tw, rounds);
		sort(tc, rounds);
		ew = tw[rounds / 2];
		ec = tc[rounds / 2];
	}
	stats("fork+exec", w[0], c[0], rounds, ew, ec);
	stats("fork-static-2", w[1], c[1], rounds, ew, ec);
	for (u64 j = 2; j < nd + 2; j++)
		stats(argv[4 + j - 2], w[j], c[j], rounds, ew, ec);
	if (hostile_killed) {
		put_s("hostile instances killed as expected: ");
		put_u(hostile_killed);
		put_s("\n");
	}
	put_s("CPU by process, medians (us per instance): P (pith's side) / "
	      "zygote's forks / its reaper / the children\n");
	for (u64 j = 2; j < nd + 2; j++) {
		put_s(argv[4 + j - 2]);
		for (int q = 0; q < 4; q++) {
			sort(role[j][q], rounds);
			put_s(q ? " / " : "\t");
			put_f2(role[j][q][rounds / 2] / 10);
		}
		put_s("\n");
	}
	flush();
	raw_exit_group(0);
}

__asm__(".text\n"
	".globl _start\n"
	"_start:\n"
	"	xor %ebp, %ebp\n"
	"	mov (%rsp), %rdi\n"
	"	lea 8(%rsp), %rsi\n"
	"	and $-16, %rsp\n"
	"	call proto_main\n"
	"	ud2\n");
