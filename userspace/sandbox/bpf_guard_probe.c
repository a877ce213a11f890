// SPDX-License-Identifier: MIT
/* Feature probes of the eBPF layer: privileges, BTF, kernel config, the
 * active LSM list and lockdown, read once so `pith doctor` can say why a
 * layer is unavailable. */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>
#include <zlib.h>

#include "lib/macro.h"
#include "sandbox/bpf_guard.h"

#define CAP_SYS_ADMIN_BIT 21
#define CAP_PERFMON_BIT 38
#define CAP_BPF_BIT 39

static void fclosep(FILE **f)
{
	if (*f)
		fclose(*f);
}

static bool probe_privileged(void)
{
	_cleanup_(fclosep) FILE *f = fopen("/proc/self/status", "re");
	unsigned long long eff = 0;
	char line[256];

	if (!f)
		return false;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "CapEff: %llx", &eff) == 1)
			break;
	if (eff & (1ull << CAP_SYS_ADMIN_BIT))
		return true;
	return (eff & (1ull << CAP_BPF_BIT)) &&
	       (eff & (1ull << CAP_PERFMON_BIT));
}

/* Read a small sysfs/securityfs file into buf without the newline. */
static int read_line(const char *path, char *buf, size_t len)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return negative_errno();
	n = read(fd, buf, len - 1);
	if (n < 0)
		return negative_errno();
	buf[n] = 0;
	buf[strcspn(buf, "\n")] = 0;
	return 0;
}

static int config_lookup_line(const char *line, const char *key)
{
	size_t klen = strlen(key);

	if (strncmp(line, key, klen) == 0 && line[klen] == '=')
		return line[klen + 1] == 'y';
	if (strncmp(line, "# ", 2) == 0 && strncmp(line + 2, key, klen) == 0 &&
	    strstr(line, "is not set"))
		return 0;
	return -1;
}

static void gzclosep(gzFile *f)
{
	if (*f)
		gzclose(*f);
}

/* 1 =y, 0 not set, -1 no readable config. */
static int probe_config(const char *key)
{
	char line[512], path[300];
	struct utsname u;
	int r;

	{
		_cleanup_(gzclosep) gzFile gz = gzopen("/proc/config.gz", "rb");

		if (gz) {
			while (gzgets(gz, line, sizeof(line))) {
				r = config_lookup_line(line, key);
				if (r >= 0)
					return r;
			}
			return 0;
		}
	}
	if (uname(&u) < 0)
		return -1;
	snprintf(path, sizeof(path), "/boot/config-%s", u.release);
	_cleanup_(fclosep) FILE *f = fopen(path, "re");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		r = config_lookup_line(line, key);
		if (r >= 0)
			return r;
	}
	return 0;
}

static bool list_has(const char *list, const char *word)
{
	size_t wlen = strlen(word);
	const char *p = list;

	while ((p = strstr(p, word))) {
		bool start = p == list || p[-1] == ',';
		bool end = p[wlen] == ',' || p[wlen] == 0;

		if (start && end)
			return true;
		p += wlen;
	}
	return false;
}

const struct guard_probe *guard_probe(void)
{
	static struct guard_probe p;
	static bool done;
	char buf[160];
	char *open, *close;

	if (done)
		return &p;
	p.privileged = probe_privileged();
	p.btf = access("/sys/kernel/btf/vmlinux", R_OK) == 0;
	p.config_bpf_lsm = probe_config("CONFIG_BPF_LSM");
	if (read_line("/sys/kernel/security/lsm", buf, sizeof(buf)) == 0) {
		snprintf(p.lsm_list, sizeof(p.lsm_list), "%s", buf);
		p.lsm_has_bpf = list_has(buf, "bpf");
	} else {
		snprintf(p.lsm_list, sizeof(p.lsm_list),
			 "securityfs not mounted");
		p.lsm_has_bpf = -1;
	}
	/* "[none] integrity confidentiality": the bracketed one is active. */
	if (read_line("/sys/kernel/security/lockdown", buf, sizeof(buf)) == 0 &&
	    (open = strchr(buf, '[')) && (close = strchr(open, ']'))) {
		*close = 0;
		snprintf(p.lockdown, sizeof(p.lockdown), "%s", open + 1);
	}
	done = true;
	return &p;
}
