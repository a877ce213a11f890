// SPDX-License-Identifier: MIT
/*
 * The workers' seccomp program, built once with libseccomp and exported as
 * cBPF for the trampoline to install: foreign ABIs are killed, the handful
 * of calls the handoff and a dying function need are allowed with pinned
 * arguments, and every other call is sent to pith as a user notification
 * so that pith can name it before killing the worker.
 */
#include <errno.h>
#include <seccomp.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "lib/macro.h"
#include "sandbox/internal.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(scmp_filter_ctx, seccomp_release)

static int allow(scmp_filter_ctx ctx, int nr, unsigned n,
		 const struct scmp_arg_cmp *cmp, struct err *e)
{
	int r = seccomp_rule_add_array(ctx, SCMP_ACT_ALLOW, nr, n, cmp);

	if (r < 0)
		return err_set(e, -r, "seccomp rule for syscall %d: %s", nr,
			       strerror(-r));
	return 0;
}

int filter_build(struct plan_filter_insn **ret, size_t *ret_n, struct err *e)
{
	_cleanup_(seccomp_releasep) scmp_filter_ctx ctx = NULL;
	_cleanup_close_ int fd = -1;
	struct plan_filter_insn *insns;
	const struct scmp_arg_cmp sock0[] = {
		SCMP_A0(SCMP_CMP_EQ, PLAN_SOCK_FD),
		SCMP_A2(SCMP_CMP_EQ, 0),
	};
	const struct scmp_arg_cmp close_sock[] = {
		SCMP_A0(SCMP_CMP_EQ, PLAN_SOCK_FD),
	};
	const struct scmp_arg_cmp close_listener[] = {
		SCMP_A0(SCMP_CMP_EQ, PLAN_LISTENER_FD),
	};
	off_t size;
	int r;

	ctx = seccomp_init(SCMP_ACT_NOTIFY);
	if (!ctx)
		return err_set(e, ENOMEM, "seccomp_init failed");
	/* int 0x80 (i386) and x32 calls: killed by the kernel at once. */
	r = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH,
			     SCMP_ACT_KILL_PROCESS);
	if (r < 0)
		return err_set(e, -r, "seccomp bad-arch action: %s",
			       strerror(-r));
	/* The caller sets no_new_privs itself; nothing is loaded here. */
	r = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0);
	if (r < 0)
		return err_set(e, -r, "seccomp NNP attribute: %s",
			       strerror(-r));
	if ((r = allow(ctx, SCMP_SYS(exit_group), 0, NULL, e)) < 0 ||
	    (r = allow(ctx, SCMP_SYS(exit), 0, NULL, e)) < 0 ||
	    (r = allow(ctx, SCMP_SYS(rt_sigreturn), 0, NULL, e)) < 0 ||
	    (r = allow(ctx, SCMP_SYS(sendmsg), 2, sock0, e)) < 0 ||
	    (r = allow(ctx, SCMP_SYS(close), 1, close_sock, e)) < 0 ||
	    (r = allow(ctx, SCMP_SYS(close), 1, close_listener, e)) < 0)
		return r;

	fd = memfd_create("pith-seccomp", MFD_CLOEXEC);
	if (fd < 0)
		return err_set(e, errno, "memfd_create: %m");
	r = seccomp_export_bpf(ctx, fd);
	if (r < 0)
		return err_set(e, -r, "seccomp_export_bpf: %s", strerror(-r));
	size = lseek(fd, 0, SEEK_END);
	if (size <= 0 || size % (off_t)sizeof(*insns) ||
	    size / (off_t)sizeof(*insns) > PLAN_MAX_FILTER)
		return err_set(e, EINVAL, "seccomp program of %lld bytes",
			       (long long)size);
	insns = malloc((size_t)size);
	if (!insns)
		return -ENOMEM;
	if (pread(fd, insns, (size_t)size, 0) != size) {
		free(insns);
		return err_set(e, EIO, "cannot read the seccomp program back");
	}
	*ret = insns;
	*ret_n = (size_t)size / sizeof(*insns);
	return 0;
}

const char *filter_syscall_name(long nr, char *buf, size_t len)
{
	char *name = NULL;

	if (nr >= 0 && nr <= INT32_MAX)
		name = seccomp_syscall_resolve_num_arch(SCMP_ARCH_X86_64,
							(int)nr);
	snprintf(buf, len, "%s", name ? name : "unknown");
	free(name);
	return buf;
}
