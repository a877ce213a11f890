// SPDX-License-Identifier: MIT
/*
 * The workers' seccomp program, built once with libseccomp and exported as
 * cBPF, then installed once by the spawner thread, whose workers inherit
 * it: calls from the two trusted code ranges (pith's pith_spawn section,
 * the loader's text; neither exists once the function runs) are allowed;
 * foreign ABIs are killed; the few calls the trampoline and a dying
 * function need are allowed with pinned arguments; every other call is sent
 * to pith as a user notification so that pith can name it before killing
 * the worker.
 */
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <linux/close_range.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <time.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "lib/macro.h"
#include "sandbox/bpf_guard.h"
#include "sandbox/internal.h"
#include "sandbox/worker/trampoline.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(scmp_filter_ctx, seccomp_release)

static int allow(scmp_filter_ctx ctx, int nr, unsigned n,
		 const struct scmp_arg_cmp *cmp, struct err *e)
{
	int r = seccomp_rule_add_array(ctx, SCMP_ACT_ALLOW, nr, n, cmp);

	if (r < 0)
		return err_errno(e, r, "seccomp rule for syscall %d", nr);
	return 0;
}

#define INSN(c, jt_, jf_, k_) \
	((struct plan_filter_insn){ .code = (c), .jt = (jt_), .jf = (jf_), \
				    .k = (k_) })
#define DATA_ARCH offsetof(struct seccomp_data, arch)
#define DATA_IP_LO offsetof(struct seccomp_data, instruction_pointer)
#define DATA_IP_HI (offsetof(struct seccomp_data, instruction_pointer) + 4)

#define DATA_NR offsetof(struct seccomp_data, nr)
#define DATA_ARG(i) (offsetof(struct seccomp_data, args) + 8 * (i))

/* A call allowed at one instruction pointer only, with pinned arguments
 * (the warm reset path of the trampoline; see security.md). With zt, ip
 * is the call's offset in a zygote's trampoline page, which lies in its
 * children's guard page (plan.h, PLAN_ZTRAMP), wherever the context's
 * size puts it: the instruction pointer's top half must be PLAN_ZTRAMP_HI
 * and its low 12 bits ip, and an argument with rel (val: an offset in the
 * page) must point into the same page as the instruction pointer. */
struct pinned {
	uint64_t ip;
	uint32_t nr;
	unsigned n_args;
	struct {
		unsigned idx;
		uint64_t val;
		bool rel;
	} args[6];
	bool zt;
};

/* Its instructions: the instruction pointer's checks (4; zt: 6), the
 * number's (2), each argument's (4; rel: 5), the allow. */
static size_t pin_len(const struct pinned *p)
{
	size_t n = (p->zt ? 6 : 4) + 2 + 1;

	for (unsigned a = 0; a < p->n_args; a++)
		n += p->args[a].rel ? 5 : 4;
	return n;
}

/* Load the word at off; on to fail unless it equals k. */
static size_t ld_eq(struct plan_filter_insn *out, size_t pc, size_t fail,
		    uint32_t off, uint32_t k)
{
	out[pc++] = INSN(BPF_LD | BPF_W | BPF_ABS, 0, 0, off);
	out[pc] = INSN(BPF_JMP | BPF_JEQ | BPF_K, 0, (uint8_t)(fail - pc - 1),
		       k);
	return pc + 1;
}

static size_t emit_pin(const struct pinned *p, struct plan_filter_insn *out,
		       size_t pc)
{
	size_t next = pc + pin_len(p);

	if (p->zt) {
		/* In the block, at its offset in a page; X = its low half,
		 * for the pointers below. */
		pc = ld_eq(out, pc, next, DATA_IP_HI, PLAN_ZTRAMP_HI);
		out[pc++] = INSN(BPF_LD | BPF_W | BPF_ABS, 0, 0, DATA_IP_LO);
		out[pc++] = INSN(BPF_MISC | BPF_TAX, 0, 0, 0);
		out[pc++] = INSN(BPF_ALU | BPF_AND | BPF_K, 0, 0, 0xfff);
		out[pc] = INSN(BPF_JMP | BPF_JEQ | BPF_K, 0,
			       (uint8_t)(next - pc - 1), (uint32_t)p->ip);
		pc++;
	} else {
		pc = ld_eq(out, pc, next, DATA_IP_LO, (uint32_t)p->ip);
		pc = ld_eq(out, pc, next, DATA_IP_HI, (uint32_t)(p->ip >> 32));
	}
	pc = ld_eq(out, pc, next, DATA_NR, p->nr);
	for (unsigned a = 0; a < p->n_args; a++) {
		uint32_t lo = (uint32_t)DATA_ARG(p->args[a].idx);
		uint64_t v = p->args[a].val;

		if (!p->args[a].rel) {
			pc = ld_eq(out, pc, next, lo, (uint32_t)v);
			pc = ld_eq(out, pc, next, lo + 4, (uint32_t)(v >> 32));
			continue;
		}
		/* arg - ip == v - ip's offset, both in one 4 GiB block and
		 * the difference inside the page: the word at v of the
		 * page the call is made from. */
		out[pc++] = INSN(BPF_LD | BPF_W | BPF_ABS, 0, 0, lo);
		out[pc++] = INSN(BPF_ALU | BPF_SUB | BPF_X, 0, 0, 0);
		out[pc] = INSN(BPF_JMP | BPF_JEQ | BPF_K, 0,
			       (uint8_t)(next - pc - 1), (uint32_t)(v - p->ip));
		pc++;
		pc = ld_eq(out, pc, next, lo + 4, PLAN_ZTRAMP_HI);
	}
	out[pc++] = INSN(BPF_RET | BPF_K, 0, 0, SECCOMP_RET_ALLOW);
	return pc;
}

/*
 * Before libseccomp's program, for x86-64 calls: allow when the instruction
 * pointer lies in one of the ranges (each within one 4 GiB-aligned block),
 * or when the call is one of the pinned ones, at its address with its
 * arguments; everything else falls through to libseccomp's program.
 */
static size_t prologue(const struct code_range *r, size_t n,
		       const struct pinned *pin, size_t n_pin,
		       struct plan_filter_insn *out)
{
	size_t len = 3 + 5 * n + 1, allow, pc = 0;

	for (size_t i = 0; i < n_pin; i++)
		len += pin_len(&pin[i]);
	allow = 3 + 5 * n;
	/* Another architecture: on to libseccomp's program, further than a
	 * conditional jump's 255 instructions. */
	out[pc++] = INSN(BPF_LD | BPF_W | BPF_ABS, 0, 0, DATA_ARCH);
	out[pc++] = INSN(BPF_JMP | BPF_JEQ | BPF_K, 1, 0, AUDIT_ARCH_X86_64);
	out[pc] = INSN(BPF_JMP | BPF_JA, 0, 0, (uint32_t)(len - pc - 1));
	pc++;
	for (size_t i = 0; i < n; i++) {
		/* A miss goes to the next range, or past the allow. */
		size_t next = i + 1 < n ? pc + 5 : allow + 1;

		out[pc] = INSN(BPF_LD | BPF_W | BPF_ABS, 0, 0, DATA_IP_HI);
		pc++;
		out[pc] = INSN(BPF_JMP | BPF_JEQ | BPF_K, 0,
			       (uint8_t)(next - pc - 1),
			       (uint32_t)(r[i].lo >> 32));
		pc++;
		out[pc] = INSN(BPF_LD | BPF_W | BPF_ABS, 0, 0, DATA_IP_LO);
		pc++;
		out[pc] = INSN(BPF_JMP | BPF_JGE | BPF_K, 0,
			       (uint8_t)(next - pc - 1), (uint32_t)r[i].lo);
		pc++;
		out[pc] = INSN(BPF_JMP | BPF_JGE | BPF_K,
			       (uint8_t)(next - pc - 1),
			       (uint8_t)(allow - pc - 1), (uint32_t)r[i].hi);
		pc++;
	}
	out[pc++] = INSN(BPF_RET | BPF_K, 0, 0, SECCOMP_RET_ALLOW);
	for (size_t i = 0; i < n_pin; i++)
		pc = emit_pin(&pin[i], out, pc);
	return pc;
}

/* Inputs never replace anything; the input area stays. */
#define MAP_INPUT (MAP_SHARED | MAP_FIXED_NOREPLACE)
#define INPUT_RANGE (PITH_INPUT_MAX - PITH_INPUT_BASE - PLAN_INPUT_AREA)

int filter_build(const struct sandbox *sb, struct plan_filter_insn **ret,
		 size_t *ret_n, struct err *e)
{
	_cleanup_(seccomp_releasep) scmp_filter_ctx ctx = NULL;
	_cleanup_close_ int fd = -1;
	_cleanup_free_ struct plan_filter_insn *insns = NULL;
	const struct code_range ranges[] = { sb->spawn_text, sb->loader_text };
	const struct scmp_arg_cmp unmap_loader[] = {
		SCMP_A0(SCMP_CMP_EQ, PLAN_LOADER_BASE),
		SCMP_A1(SCMP_CMP_EQ, PLAN_LOADER_END - PLAN_LOADER_BASE),
	};
	const struct scmp_arg_cmp close_sock[] = {
		SCMP_A0(SCMP_CMP_EQ, PLAN_SOCK_FD),
	};
	/* The warm reset path (worker/trampoline.c), call by call. */
	const struct pinned pin[] = {
		{ sb->tramp_ip[TRAMP_UNMAP], __NR_munmap, 2,
		  { { 0, PITH_INPUT_BASE + PLAN_INPUT_AREA },
		    { 1, INPUT_RANGE } } },
		{ sb->tramp_ip[TRAMP_UNMAP2], __NR_munmap, 2,
		  { { 0, PITH_INPUT_BASE + PLAN_INPUT_AREA },
		    { 1, INPUT_RANGE } } },
		{ sb->tramp_ip[TRAMP_MADVISE], __NR_madvise, 1,
		  { { 2, MADV_DONTNEED } } },
		{ sb->tramp_ip[TRAMP_MAP_INPUT], __NR_mmap, 2,
		  { { 2, PROT_READ }, { 3, MAP_INPUT } } },
		{ sb->tramp_ip[TRAMP_CLOSE], __NR_close_range, 3,
		  { { 0, 1 }, { 1, 0xffffffffu }, { 2, 0 } } },
		/* A zygote's clone, from its fork page, whose last two bytes
		 * are the syscall instruction: the instruction pointer is
		 * the first byte of its trampoline, in its children's guard
		 * page (worker/main.c; plan.h, PLAN_ZTRAMP). */
		{ 0, __NR_clone, 1, { { 0, PLAN_ZYGOTE_CLONE_FLAGS } }, true },
		/* Its child's setup, in that trampoline page
		 * (worker/trampoline.c, tramp_child; security.md,
		 * "Zygotes": each harmless made again by a function). */
		{ tramp_off(tramp_ip_z_pdeathsig), __NR_prctl, 2,
		  { { 0, PR_SET_PDEATHSIG }, { 1, SIGKILL } }, true },
		{ tramp_off(tramp_ip_z_getppid), __NR_getppid, 0,
		  { { 0 } }, true },
		{ tramp_off(tramp_ip_z_map_context), __NR_mmap, 4,
		  { { 0, PITH_CONTEXT_BASE }, { 2, PROT_READ | PROT_WRITE },
		    { 3, MAP_SHARED | MAP_FIXED_NOREPLACE }, { 5, 0 } }, true },
		{ tramp_off(tramp_ip_z_map_stack), __NR_mmap, 2,
		  { { 2, PROT_READ | PROT_WRITE },
		    { 3, MAP_SHARED | MAP_FIXED_NOREPLACE } }, true },
		{ tramp_off(tramp_ip_z_map_area), __NR_mmap, 4,
		  { { 0, PITH_INPUT_BASE }, { 1, PLAN_INPUT_AREA },
		    { 2, PROT_READ }, { 3, MAP_SHARED | MAP_FIXED_NOREPLACE } }, true },
		{ tramp_off(tramp_ip_z_nproc), __NR_prlimit64, 4,
		  { { 0, 0 }, { 1, RLIMIT_NPROC },
		    { 2, tramp_off(tramp_z_zero), true }, { 3, 0 } }, true },
		{ tramp_off(tramp_ip_z_cpu), __NR_prlimit64, 4,
		  { { 0, 0 }, { 1, RLIMIT_CPU },
		    { 2, tramp_off(tramp_z_cpu), true }, { 3, 0 } }, true },
		{ tramp_off(tramp_ip_z_ready), __NR_pwrite64, 1,
		  { { 2, 16 } }, true },
		{ tramp_off(tramp_ip_z_close), __NR_close_range, 3,
		  { { 0, 0 }, { 1, 0xffffffffu },
		    { 2, CLOSE_RANGE_UNSHARE } }, true },
		{ tramp_off(tramp_ip_z_fail_clear), __NR_pwrite64, 2,
		  { { 1, tramp_off(tramp_z_zero), true }, { 2, 8 } }, true },
		{ tramp_off(tramp_ip_z_fail_text), __NR_pwrite64, 1,
		  { { 2, 64 } }, true },
	};
	size_t n_pro = 3 + 5 * ARRAY_SIZE(ranges) + 1, n;
	off_t size;
	int r;

	for (size_t i = 0; i < ARRAY_SIZE(pin); i++)
		n_pro += pin_len(&pin[i]);
	for (size_t i = 0; i < ARRAY_SIZE(ranges); i++)
		if (ranges[i].lo >= ranges[i].hi ||
		    ranges[i].lo >> 32 != (ranges[i].hi - 1) >> 32 ||
		    (uint32_t)ranges[i].hi == 0)
			return err_set(e, EINVAL,
				       "trusted code range 0x%llx-0x%llx spans a 4 GiB boundary",
				       (unsigned long long)ranges[i].lo,
				       (unsigned long long)ranges[i].hi);
	ctx = seccomp_init(SCMP_ACT_NOTIFY);
	if (!ctx)
		return err_set(e, ENOMEM, "seccomp_init failed");
	/* int 0x80 (i386) and x32 calls: killed by the kernel at once. */
	r = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH,
			     SCMP_ACT_KILL_PROCESS);
	if (r < 0)
		return err_errno(e, r, "seccomp bad-arch action");
	/* The spawner sets no_new_privs itself; nothing is loaded here. */
	r = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0);
	if (r < 0)
		return err_errno(e, r, "seccomp NNP attribute");
	if ((r = allow(ctx, SCMP_SYS(exit_group), 0, NULL, e)) < 0 ||
	    (r = allow(ctx, SCMP_SYS(exit), 0, NULL, e)) < 0 ||
	    (r = allow(ctx, SCMP_SYS(rt_sigreturn), 0, NULL, e)) < 0 ||
	    (r = allow(ctx, SCMP_SYS(munmap), 2, unmap_loader, e)) < 0 ||
	    (r = allow(ctx, SCMP_SYS(close), 1, close_sock, e)) < 0)
		return r;

	fd = memfd_create("pith-seccomp", MFD_CLOEXEC);
	if (fd < 0)
		return err_errno(e, errno, "memfd_create");
	r = seccomp_export_bpf(ctx, fd);
	if (r < 0)
		return err_errno(e, r, "seccomp_export_bpf");
	size = lseek(fd, 0, SEEK_END);
	if (size <= 0 || size % (off_t)sizeof(*insns) ||
	    (size_t)size / sizeof(*insns) + n_pro > PLAN_MAX_FILTER)
		return err_set(e, EINVAL, "seccomp program of %lld bytes",
			       (long long)size);
	n = (size_t)size / sizeof(*insns);
	insns = malloc((n_pro + n) * sizeof(*insns));
	if (!insns)
		return err_set(e, ENOMEM, "out of memory");
	if (prologue(ranges, ARRAY_SIZE(ranges), pin, ARRAY_SIZE(pin),
		     insns) != n_pro)
		return err_set(e, EINVAL, "seccomp prologue length");
	if (pread(fd, insns + n_pro, (size_t)size, 0) != size)
		return err_set(e, EIO, "cannot read the seccomp program back");
	*ret = TAKE_PTR(insns);
	*ret_n = n_pro + n;
	return 0;
}

/* The one table of syscall names: the eBPF guard's, generated from the
 * kernel headers (bpf/build.mk), for both layers' reasons. */
const char *filter_syscall_name(long nr, char *buf, size_t len)
{
	const char *name = guard_syscall_name(nr);

	snprintf(buf, len, "%s", name ? name : "unknown");
	return buf;
}
