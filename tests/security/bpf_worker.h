/* SPDX-License-Identifier: MIT */
/*
 * Test helpers for the eBPF guard: a fresh cgroup v2 leaf, a child placed
 * in it with clone3(CLONE_INTO_CGROUP) as the sandbox does, the arming
 * marker, and collection of the guard's events.
 */
#ifndef PITH_TESTS_SECURITY_BPF_WORKER_H
#define PITH_TESTS_SECURITY_BPF_WORKER_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "sandbox/bpf_guard.h"

struct t_cgroup {
	char *path;
	int fd;
};

/* mkdir a leaf under the cgroup2 mount; 0, -ENOENT without cgroup2. */
int t_cgroup_new(struct t_cgroup *cg);
void t_cgroup_done(struct t_cgroup *cg);

struct t_worker {
	pid_t pid;
	int go_fd; /* write end: the child waits for one byte */
};

/* Spawn a child in the cgroup; it waits for t_worker_go(), then _exit()s
 * with fn(arg). */
int t_worker_spawn(int cgroup_fd, int (*fn)(void *), void *arg,
		   struct t_worker *w);
/* The same with the child's pid chosen (clone3 set_tid; 0: any), to
 * reuse a dead worker's pid on purpose; -EEXIST when it is taken. */
int t_worker_spawn_pid(int cgroup_fd, pid_t pid, int (*fn)(void *),
		       void *arg, struct t_worker *w);
int t_worker_go(struct t_worker *w);
/* waitpid; returns the raw status or -errno. */
int t_worker_wait(struct t_worker *w);

/* The loader's marker: from here on the process runs "its function". */
void t_arm(void);

struct t_events {
	pid_t pid; /* keep only this process's events; 0: all */
	size_t n;
	struct guard_violation v[32];
};
int t_events_collect(const struct guard_violation *v, void *userdata);
/* First event of kind (and hook, unless GUARD_HOOK_MAX), or NULL. */
const struct guard_violation *t_events_find(const struct t_events *ev,
					    enum guard_kind kind,
					    enum guard_hook hook);

/* Whether the program with this id is still loaded in the kernel. */
bool t_prog_id_loaded(unsigned int id);

#endif
