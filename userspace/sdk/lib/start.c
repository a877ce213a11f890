// SPDX-License-Identifier: MIT
/* The C half of the crt: set up the SDK, run main(), end through pith's
 * exit address (ABI 1.1) or exit_group. */
#include <pith/fn.h>

#define NR_EXIT_GROUP 231 /* x86-64 */

int main(void);
PITH_NORETURN void pith__run(struct pith_context *ctx);

static PITH_NORETURN void sys_exit_group(int status)
{
	const struct pith_context *c = pith_context();

	/* ABI 1.1: pith's exit address, which resets this worker for the
	 * next instance; a 1.0 descriptor has none. */
	if (c && c->header_size >= PITH_CONTEXT_SIZE_1_1 && c->exit)
		__asm__ volatile("jmp *%1"
				 :
				 : "D"(status), "r"(c->exit)
				 : "memory");
	for (;;)
		__asm__ volatile("syscall"
				 :
				 : "a"(NR_EXIT_GROUP), "D"(status)
				 : "rcx", "r11", "memory");
}

void pith_abort(int code)
{
	sys_exit_group(code >= 1 && code <= 255 ? code : 255);
}

void pith_exit(int status)
{
	if (status == 0) {
		pith__finalize();
		sys_exit_group(0);
	}
	pith_abort(status);
}

void pith__run(struct pith_context *ctx)
{
	if (pith__init(ctx) < 0)
		sys_exit_group(PITH_EXIT_BAD_CONTEXT);
	pith_exit(main());
}
