/* SPDX-License-Identifier: MIT */
/*
 * pithd.conf: systemd-style INI ("[Daemon]" section, Key=Value lines, '#'
 * and ';' comments). Every key and its default: Documentation/man/pithd.conf.5.
 */
#ifndef PITH_DAEMON_CONFIG_H
#define PITH_DAEMON_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#include "lib/err.h"

#define PITHD_CONFIG_PATH "/etc/pith/pithd.conf"
#define PITHD_SOCKET_PATH "/run/pith/pithd.sock"
#define PITHD_STATE_DIR "/var/lib/pith"

struct pithd_config {
	char socket[256];
	char state_dir[256];
	unsigned jobs;		     /* jobs running at once; 0: CPUs */
	unsigned parallel;	     /* instances per job; 0: online CPUs */
	unsigned max_queued;	     /* accepted but unfinished, all users */
	unsigned max_jobs_per_user;  /* accepted but unfinished, one uid */
	unsigned max_running_per_user; /* 0: jobs - 1, at least 1 */
	uint64_t max_bytes_per_user; /* stored job files, one uid */
	uint64_t max_request;	     /* bytes of one request body */
	unsigned max_connections;
	uint64_t result_ttl_ms;	     /* finished, never fetched */
	uint64_t fetched_ttl_ms;     /* after the first complete fetch */
	unsigned max_runs;	     /* starts of one job across restarts */
	uint64_t warm_idle_ms;	     /* a runner's idle warm workers, after
					a job; 0: they end with the job */
	int log_level;		     /* syslog priority, LOG_INFO default */
};

void config_defaults(struct pithd_config *c);
/*
 * Read `path` over `c`. A missing file is not an error when !must_exist.
 * Errors name "path:line: what".
 */
int config_load(struct pithd_config *c, const char *path, bool must_exist,
		struct err *e);

#endif
