// SPDX-License-Identifier: MIT
/* A freestanding function compiled into the ELF fuzzer's seed corpus in
 * several link layouts (see userspace/sandbox/build.mk). */
static volatile int seven = 7;
static volatile int zero[1024];
const char greeting[] = "seed";

void _start(void)
{
	long code = seven + zero[1000] + greeting[0];

	__asm__ volatile("syscall" ::"a"(231), "D"(code));
	for (;;)
		;
}
