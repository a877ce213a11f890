// SPDX-License-Identifier: MIT
/* pithd.conf: a systemd-style INI file read over built-in defaults. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "daemon/config.h"
#include "lib/units.h"

/*
 * Jobs=0 and the default: four running jobs per online CPU. A job in
 * pithd mostly waits (its record's and its result's syncs, its workers'
 * round trips), so runners beyond the CPU count overlap those waits:
 * 1,000 small jobs from 16 clients on 2 CPUs ran at 0.42x the throughput
 * of `pith run` per job with Jobs=2, 0.76x with 4, 0.98x with 8
 * (benchmarks/pithd.md, "pithd under load").
 */
static unsigned default_jobs(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	n = n < 1 ? 4 : 4 * n;
	return n > 256 ? 256 : (unsigned)n;
}

void config_defaults(struct pithd_config *c)
{
	*c = (struct pithd_config){
		.jobs = default_jobs(),
		.max_queued = 1024,
		.max_jobs_per_user = 256,
		.max_running_per_user = 0, /* Jobs - 1, at least 1 */
		.max_bytes_per_user = 1ull << 30,
		.max_request = 256ull << 20,
		.max_connections = 256,
		.result_ttl_ms = 7ull * 24 * 3600 * 1000,
		.fetched_ttl_ms = 10ull * 60 * 1000,
		.max_runs = 3,
		.warm_idle_ms = 10 * 1000,
		.log_level = LOG_INFO,
	};
	snprintf(c->socket, sizeof(c->socket), "%s", PITHD_SOCKET_PATH);
	snprintf(c->state_dir, sizeof(c->state_dir), "%s", PITHD_STATE_DIR);
}

static int parse_uint(const char *v, unsigned min, unsigned max,
		      unsigned *ret)
{
	char *end;
	unsigned long n;

	if (!isdigit((unsigned char)*v))
		return -EINVAL;
	errno = 0;
	n = strtoul(v, &end, 10);
	if (errno || *end || n < min || n > max)
		return -EINVAL;
	*ret = (unsigned)n;
	return 0;
}

static int parse_level(const char *v, int *ret)
{
	static const char *const names[] = { "emerg",	"alert",  "crit",
					     "err",	"warning", "notice",
					     "info",	"debug" };

	for (int i = 0; i < 8; i++)
		if (!strcmp(v, names[i])) {
			*ret = i;
			return 0;
		}
	return -EINVAL;
}

static int set_key(struct pithd_config *c, const char *k, const char *v)
{
	if (!strcmp(k, "Socket") || !strcmp(k, "StateDirectory")) {
		char *dst = k[0] == 'S' && k[1] == 'o' ? c->socket :
							 c->state_dir;

		if (v[0] != '/' || strlen(v) >= sizeof(c->socket))
			return -EINVAL;
		snprintf(dst, sizeof(c->socket), "%s", v);
		return 0;
	}
	if (!strcmp(k, "Jobs")) {
		int r = parse_uint(v, 0, 256, &c->jobs);

		if (r == 0 && !c->jobs)
			c->jobs = default_jobs();
		return r;
	}
	if (!strcmp(k, "Parallel"))
		return parse_uint(v, 0, 256, &c->parallel);
	if (!strcmp(k, "MaxQueuedJobs"))
		return parse_uint(v, 1, 1000000, &c->max_queued);
	if (!strcmp(k, "MaxJobsPerUser"))
		return parse_uint(v, 1, 1000000, &c->max_jobs_per_user);
	if (!strcmp(k, "MaxRunningJobsPerUser"))
		return parse_uint(v, 0, 256, &c->max_running_per_user);
	if (!strcmp(k, "MaxConnections"))
		return parse_uint(v, 1, 65536, &c->max_connections);
	if (!strcmp(k, "MaxRuns"))
		return parse_uint(v, 1, 100, &c->max_runs);
	if (!strcmp(k, "MaxBytesPerUser"))
		return parse_size(v, &c->max_bytes_per_user);
	if (!strcmp(k, "MaxRequestSize"))
		return parse_size(v, &c->max_request);
	if (!strcmp(k, "ResultTTL"))
		return parse_duration_ms(v, &c->result_ttl_ms);
	if (!strcmp(k, "FetchedResultTTL"))
		return parse_duration_ms(v, &c->fetched_ttl_ms);
	if (!strcmp(k, "WarmIdleTime"))
		return parse_duration_ms(v, &c->warm_idle_ms);
	if (!strcmp(k, "LogLevel"))
		return parse_level(v, &c->log_level);
	return -ENOENT;
}

static char *strip(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = 0;
	return s;
}

int config_load(struct pithd_config *c, const char *path, bool must_exist,
		struct err *e)
{
	FILE *f = fopen(path, "re");
	struct pithd_config next = *c;
	char line[1024];
	bool in_daemon = false;
	int lineno = 0, r = 0;

	if (!f) {
		if (errno == ENOENT && !must_exist)
			return 0;
		return err_set(e, errno, "%s: %m", path);
	}
	while (fgets(line, sizeof(line), f)) {
		char *s = strip(line), *eq, *k, *v;

		lineno++;
		if (!*s || *s == '#' || *s == ';')
			continue;
		if (*s == '[') {
			if (s[strlen(s) - 1] != ']') {
				r = err_set(e, EINVAL, "%s:%d: bad section line",
					    path, lineno);
				break;
			}
			in_daemon = !strcmp(s, "[Daemon]");
			if (!in_daemon) {
				r = err_set(e, EINVAL,
					    "%s:%d: unknown section %s (pithd.conf has only [Daemon])",
					    path, lineno, s);
				break;
			}
			continue;
		}
		eq = strchr(s, '=');
		if (!eq) {
			r = err_set(e, EINVAL, "%s:%d: not Key=Value", path,
				    lineno);
			break;
		}
		if (!in_daemon) {
			r = err_set(e, EINVAL,
				    "%s:%d: key outside the [Daemon] section",
				    path, lineno);
			break;
		}
		*eq = 0;
		k = strip(s);
		v = strip(eq + 1);
		r = set_key(&next, k, v);
		if (r == -ENOENT) {
			r = err_set(e, EINVAL, "%s:%d: unknown key %s", path,
				    lineno, k);
			break;
		}
		if (r < 0) {
			r = err_set(e, EINVAL, "%s:%d: bad value for %s: '%s'",
				    path, lineno, k, v);
			break;
		}
	}
	fclose(f);
	if (r == 0)
		*c = next;
	return r;
}
