// SPDX-License-Identifier: MIT
/* pith port: the thread pointer is __pith_tp (see arch/pith/pthread_arch.h). */
#include "pthread_impl.h"

uintptr_t __pith_tp;

int __set_thread_area(void *p)
{
	__pith_tp = (uintptr_t)p;
	return 0;
}
