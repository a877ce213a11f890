// SPDX-License-Identifier: MIT
/* The fork+exec baseline: a static program that only exits. */
void _start(void)
{
	__asm__ volatile("mov $231, %eax\n xor %edi, %edi\n syscall");
}
