// SPDX-License-Identifier: MIT
/*
 * Handoff benchmark: a producer process writes an output buffer, then the
 * consumer gets it and reads every page. Compares the pith_xfer module
 * (SEAL + batched map), memfd (F_SEAL_WRITE + mmap) and a memcpy into the
 * consumer's own memory; prints medians, per-page costs of each phase
 * (seal or copy, map, read) and ratios.
 *
 *   handoff_bench [-s 4K,1M,64M,1G] [-r REPS] [-f]     (sizes: "," or "/")
 *
 * -f: the consumer reads every byte instead of one word per page.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lib/clock.h"
#include "uapi/pith_xfer.h"

/*
 * module: the producer still maps its output writable and SEAL revokes it
 * (what pith does); module-u: the producer unmapped first, as memfd needs.
 */
enum method { M_MODULE, M_MODULE_UNMAPPED, M_MEMFD, M_MEMCPY, M_COUNT };
static const char *const method_name[M_COUNT] = { "module", "module-u",
						  "memfd", "memcpy" };

static long page_size;
static bool full_read;
static volatile uint64_t sink;

struct sample {
	uint64_t ns;		/* handoff + first read */
	uint64_t seal_ns;	/* seal (module, memfd) or memcpy */
	uint64_t map_ns;	/* mmap */
	long faults;
};

static long minflt(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_minflt;
}

static void die(const char *what)
{
	fprintf(stderr, "handoff_bench: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void consume(const volatile char *p, size_t size)
{
	uint64_t s = 0;

	if (full_read) {
		const volatile uint64_t *w = (const volatile uint64_t *)p;

		for (size_t i = 0; i < size / 8; i++)
			s += w[i];
	} else {
		for (size_t i = 0; i < size; i += page_size)
			s += *(const volatile uint64_t *)(p + i);
	}
	sink += s;
}

/*
 * The producer: a separate process that maps the buffer writable and fills
 * it. With the module it stays mapped (SEAL revokes it); memfd cannot seal
 * while it is, so there it unmaps first, as a cooperating worker must.
 */
static pid_t produce(int fd, size_t size, bool keep_mapped, int *ret_done)
{
	int done[2];
	pid_t pid;

	if (pipe2(done, O_CLOEXEC) < 0)
		die("pipe2");
	pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		char *w = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED,
			       fd, 0);

		if (w == MAP_FAILED)
			_exit(1);
		for (size_t i = 0; i < size; i += page_size)
			memset(w + i, (int)(i / page_size) | 1, page_size);
		if (!keep_mapped)
			munmap(w, size);
		if (write(done[1], "d", 1) != 1)
			_exit(1);
		/* Stay alive (and, with the module, mapped) until the
		 * consumer is done and kills us. */
		for (;;)
			pause();
	}
	close(done[1]);
	*ret_done = done[0];
	return pid;
}

static void wait_produced(int done)
{
	char c;

	if (read(done, &c, 1) != 1)
		die("producer");
}

static int xfer_create(int dev, size_t size)
{
	struct pith_xfer_create c = { .size = size,
				      .flags = PITH_XFER_FD_CLOEXEC };

	if (ioctl(dev, PITH_XFER_IOC_CREATE, &c) < 0)
		die("PITH_XFER_IOC_CREATE");
	return c.fd;
}

static int memfd_new(size_t size)
{
	int fd = memfd_create("handoff", MFD_CLOEXEC | MFD_ALLOW_SEALING);

	if (fd < 0)
		die("memfd_create");
	if (ftruncate(fd, (off_t)size) < 0)
		die("ftruncate");
	return fd;
}

static struct sample run_once(enum method m, int dev, size_t size)
{
	bool module = m == M_MODULE || m == M_MODULE_UNMAPPED;
	struct sample s;
	int fd, done;
	char *src = NULL, *dst;
	uint64_t t0, t1, t2;
	long f0;
	pid_t pid;

	fd = module ? xfer_create(dev, size) : memfd_new(size);
	pid = produce(fd, size, m == M_MODULE, &done);
	wait_produced(done);
	if (m == M_MEMCPY) {
		/* Generous to memcpy: its source is already mapped and
		 * faulted in before the clock starts. */
		src = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
		if (src == MAP_FAILED)
			die("mmap source");
		consume(src, size);
	}

	f0 = minflt();
	t0 = clock_now_ns();
	if (module) {
		if (ioctl(fd, PITH_XFER_IOC_SEAL) < 0)
			die("PITH_XFER_IOC_SEAL");
		t1 = clock_now_ns();
		dst = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
	} else if (m == M_MEMFD) {
		if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW |
					   F_SEAL_WRITE | F_SEAL_SEAL) < 0)
			die("F_ADD_SEALS");
		t1 = clock_now_ns();
		dst = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
	} else {
		dst = mmap(NULL, size, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		t1 = clock_now_ns();
		if (dst != MAP_FAILED)
			memcpy(dst, src, size);
	}
	if (dst == MAP_FAILED)
		die("mmap");
	t2 = clock_now_ns();
	consume(dst, size);
	s.ns = clock_now_ns() - t0;
	s.seal_ns = m == M_MEMCPY ? t2 - t1 : t1 - t0;
	s.map_ns = m == M_MEMCPY ? t1 - t0 : t2 - t1;
	s.faults = minflt() - f0;

	munmap(dst, size);
	if (src)
		munmap(src, size);
	close(done);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	close(fd);
	return s;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static size_t parse_size(const char *s)
{
	char *end;
	unsigned long long v = strtoull(s, &end, 10);

	switch (*end) {
	case 'G': case 'g': v <<= 10; /* fall through */
	case 'M': case 'm': v <<= 10; /* fall through */
	case 'K': case 'k': v <<= 10; break;
	case 0: break;
	default:
		fprintf(stderr, "handoff_bench: bad size '%s'\n", s);
		exit(2);
	}
	return (size_t)v;
}

static size_t mem_available(void)
{
	FILE *f = fopen("/proc/meminfo", "re");
	char line[256];
	size_t kb = 0;

	if (!f)
		return SIZE_MAX;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "MemAvailable: %zu kB", &kb) == 1)
			break;
	fclose(f);
	return kb ? kb * 1024 : SIZE_MAX;
}

int main(int argc, char **argv)
{
	const char *sizes = "4K,1M,64M,1G";
	int reps = 0, opt, dev;
	char *list, *tok, *save;

	page_size = sysconf(_SC_PAGESIZE);
	while ((opt = getopt(argc, argv, "s:r:f")) != -1) {
		switch (opt) {
		case 's': sizes = optarg; break;
		case 'r': reps = atoi(optarg); break;
		case 'f': full_read = true; break;
		default:
			fprintf(stderr, "usage: %s [-s SIZES] [-r REPS] [-f]\n",
				argv[0]);
			return 2;
		}
	}
	dev = open(PITH_XFER_DEVICE, O_RDWR | O_CLOEXEC);
	printf("# handoff: producer process writes, consumer %s;"
	       " median of reps; %s\n",
	       full_read ? "reads every byte" : "reads one word per page",
	       dev >= 0 ? "module loaded" : "no module: memfd vs memcpy only");
	printf("# %-6s %-8s %4s %12s %9s %9s %9s %9s %7s\n", "size", "method",
	       "reps", "median_us", "ns/page", "seal/cp", "map", "read",
	       "faults");

	list = strdup(sizes);
	for (tok = strtok_r(list, ",/", &save); tok;
	     tok = strtok_r(NULL, ",/", &save)) {
		size_t size = parse_size(tok), pages = size / page_size;
		uint64_t med[M_COUNT] = { 0 };
		int n = reps;

		if (!pages)
			continue;
		if (size > mem_available() / 2 - (64 << 20)) {
			printf("# %s: skipped, needs 2x%s of free memory\n",
			       tok, tok);
			continue;
		}
		if (!n)
			n = size >= (256u << 20) ? 3 :
			    size >= (16u << 20) ? 7 : 21;
		for (int m = 0; m < M_COUNT; m++) {
			struct sample *v = calloc((size_t)n, sizeof(*v));
			uint64_t *ns = calloc((size_t)n, sizeof(*ns));
			uint64_t seal = 0, map = 0;
			long faults = 0;

			if ((m == M_MODULE || m == M_MODULE_UNMAPPED) &&
			    dev < 0)
				continue;
			run_once(m, dev, size); /* warm-up */
			for (int i = 0; i < n; i++) {
				v[i] = run_once(m, dev, size);
				ns[i] = v[i].ns;
			}
			qsort(ns, (size_t)n, sizeof(*ns), cmp_u64);
			med[m] = ns[n / 2];
			/* Phases of the run whose total is the median. */
			for (int i = 0; i < n; i++) {
				if (v[i].ns == med[m]) {
					seal = v[i].seal_ns;
					map = v[i].map_ns;
					faults = v[i].faults;
				}
			}
			printf("  %-6s %-8s %4d %12.1f %9.1f %9.1f %9.1f %9.1f %7ld\n",
			       tok, method_name[m], n, (double)med[m] / 1e3,
			       (double)med[m] / (double)pages,
			       (double)seal / (double)pages,
			       (double)map / (double)pages,
			       (double)(med[m] - seal - map) / (double)pages,
			       faults);
			free(ns);
			free(v);
		}
		if (med[M_MODULE])
			printf("  %-6s ratio    memfd/module %.2f  memcpy/module %.2f  memfd/module-u %.2f  memcpy/module-u %.2f  memfd/memcpy %.2f\n",
			       tok,
			       (double)med[M_MEMFD] / (double)med[M_MODULE],
			       (double)med[M_MEMCPY] / (double)med[M_MODULE],
			       (double)med[M_MEMFD] /
				       (double)med[M_MODULE_UNMAPPED],
			       (double)med[M_MEMCPY] /
				       (double)med[M_MODULE_UNMAPPED],
			       (double)med[M_MEMFD] / (double)med[M_MEMCPY]);
		else
			printf("  %-6s ratio    memfd/memcpy %.2f\n", tok,
			       (double)med[M_MEMFD] / (double)med[M_MEMCPY]);
		fflush(stdout);
	}
	free(list);
	return 0;
}
