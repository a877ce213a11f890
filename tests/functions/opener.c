// SPDX-License-Identifier: MIT
/* Test function: tries openat("/etc/passwd"), which every layer refuses. */
#include <pith/fn.h>

int main(void)
{
	static const char path[] = "/etc/passwd";
	long r;

	__asm__ volatile("syscall"
			 : "=a"(r)
			 : "a"(257L), "D"(-100L), "S"(path), "d"(0L)
			 : "rcx", "r11", "memory");
	return r >= 0 ? 0 : 9;
}
