// SPDX-License-Identifier: MIT
/*
 * A POSIX test function (tools/pith-cc --posix): argv[1] picks what it
 * does, the rest are its arguments. tests/integration/posix.sh runs it.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

/* Everything it was given: argv, environ, stdin. */
static int echo(int argc, char **argv)
{
	char buf[4096];
	size_t n;

	printf("argc=%d\n", argc);
	for (int i = 0; i < argc; i++)
		printf("argv[%d]=%s\n", i, argv[i]);
	for (char **e = environ; *e; e++)
		printf("env %s\n", *e);
	while ((n = fread(buf, 1, sizeof(buf), stdin)))
		fwrite(buf, 1, n, stdout);
	fprintf(stderr, "bye\n");
	return 0;
}

/* cat FILE...: to stdout; then list each file's directory. */
static int cat(int argc, char **argv)
{
	for (int i = 2; i < argc; i++) {
		FILE *f = fopen(argv[i], "r");
		char buf[8192];
		size_t n;

		if (!f) {
			fprintf(stderr, "%s: %s\n", argv[i], strerror(errno));
			return 2;
		}
		while ((n = fread(buf, 1, sizeof(buf), f)))
			fwrite(buf, 1, n, stdout);
		fclose(f);
	}
	return 0;
}

static int ls(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *de;

	if (!d) {
		printf("%s: %s\n", path, strerror(errno));
		return 2;
	}
	while ((de = readdir(d)))
		printf("%s%s\n", de->d_name, de->d_type == DT_DIR ? "/" : "");
	closedir(d);
	return 0;
}

/* Write OUT/<name> files, a /tmp file renamed into /out, and refusals. */
static int files(void)
{
	FILE *f = fopen("/out/files/hello.txt", "w");
	struct stat st;
	int fd;

	if (!f)
		return 3;
	fprintf(f, "hello, file\n");
	fclose(f);
	mkdir("/tmp/d", 0755);
	fd = open("/tmp/d/x", O_CREAT | O_WRONLY | O_TRUNC, 0644);
	if (fd < 0 || write(fd, "moved\n", 6) != 6 || close(fd))
		return 4;
	if (rename("/tmp/d/x", "/out/files/moved.txt"))
		return 5;
	fd = open("/out/files/gone", O_CREAT | O_WRONLY, 0644);
	close(fd);
	if (unlink("/out/files/gone"))
		return 6;
	printf("write /in: %s\n",
	       open("/in/data/a.txt", O_WRONLY) < 0 ? strerror(errno) : "ok");
	printf("create in /: %s\n",
	       open("/x", O_CREAT | O_WRONLY, 0644) < 0 ? strerror(errno) : "ok");
	printf("create in /out: %s\n",
	       open("/out/x", O_CREAT | O_WRONLY, 0644) < 0 ? strerror(errno)
							    : "ok");
	printf("mkdir in /out/files: %s\n",
	       mkdir("/out/files/d", 0755) < 0 ? strerror(errno) : "ok");
	printf("missing: %s\n",
	       open("/in/data/nope", O_RDONLY) < 0 ? strerror(errno) : "ok");
	if (stat("/in/data/a.txt", &st))
		return 7;
	printf("size of a.txt: %lld\n", (long long)st.st_size);
	printf("cwd: %s\n", getcwd((char[64]){ 0 }, 64));
	if (chdir("/in/data") || !fopen("a.txt", "r"))
		return 8;
	printf("relative open after chdir: ok\n");
	ls("/");
	ls("/in/data");
	ls("/out");
	return 0;
}

/* Time, randomness and identity: what a re-run must reproduce. */
static int world(void)
{
	struct timespec a, b;
	unsigned char r[8];

	clock_gettime(CLOCK_REALTIME, &a);
	clock_gettime(CLOCK_MONOTONIC, &b);
	printf("time %lld\n", (long long)time(NULL));
	printf("realtime %lld.%09ld monotonic %lld.%09ld\n",
	       (long long)a.tv_sec, a.tv_nsec, (long long)b.tv_sec, b.tv_nsec);
	if (getrandom(r, sizeof(r), 0) != sizeof(r))
		return 2;
	printf("random %02x%02x%02x%02x%02x%02x%02x%02x\n", r[0], r[1], r[2],
	       r[3], r[4], r[5], r[6], r[7]);
	printf("pid %d uid %d\n", (int)getpid(), (int)getuid());
	printf("sleep %d\n", sleep(5));
	printf("socket: %s\n",
	       socket(AF_INET, SOCK_STREAM, 0) < 0 ? strerror(errno) : "ok");
	printf("fork: %s\n", fork() < 0 ? strerror(errno) : "ok");
	printf("execve: %s\n",
	       execve("/bin/sh", (char *[]){ "sh", NULL }, environ) < 0
		       ? strerror(errno)
		       : "ok");
	printf("pipe: %s\n", pipe((int[2]){ 0 }) < 0 ? strerror(errno) : "ok");
	return 0;
}

/* Allocate and touch MB mebibytes in pieces, free half, again. */
static int mem(long mb)
{
	size_t piece = 1 << 20;
	char **p = calloc((size_t)mb, sizeof(*p));

	for (int round = 0; round < 2; round++)
		for (long i = 0; i < mb; i++) {
			if (round && (i & 1))
				continue;
			p[i] = malloc(piece);
			if (!p[i]) {
				printf("malloc failed at %ld MiB\n", i);
				return 2;
			}
			memset(p[i], (int)i, piece);
			if (round == 0 && (i & 1)) {
				free(p[i]);
				p[i] = NULL;
			}
		}
	printf("allocated %ld MiB\n", mb);
	return 0;
}

/*
 * memcpy and memmove (the port's assembly, userspace/posix/musl/src/string/
 * pith/) against a byte-at-a-time reference: every size to 300 bytes (then
 * every 7th to 600) at 16 source alignments and every overlap within 40
 * bytes either way, and large sizes both ways. Prints "memops ok" or the
 * first case that differs.
 */
static unsigned char mo_buf[2048], mo_ref[2048];

static void ref_move(unsigned char *d, const unsigned char *s, size_t n)
{
	if (d < s)
		for (size_t i = 0; i < n; i++)
			d[i] = s[i];
	else
		for (size_t i = n; i-- > 0;)
			d[i] = s[i];
}

static void fill(unsigned char *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (unsigned char)((seed = seed * 1103515245 + 12345) >> 16);
}

static int memops(void)
{
	/* Through volatile pointers: the compiler calls the library. */
	void *(*volatile cpy)(void *, const void *, size_t) = memcpy;
	void *(*volatile mov)(void *, const void *, size_t) = memmove;

	for (size_t n = 0; n <= 600; n += n < 300 ? 1 : 7) {
		for (int so = 0; so < 16; so++) {
			for (int doff = -40; doff <= 40; doff++) {
				size_t s = 100 + so, d = s + doff;
				size_t d2 = 1300 + (unsigned)(doff & 31);
				size_t lo = d < s ? d : s, hi = lo + n + 48;
				void *r;

				fill(mo_buf + lo - 8, hi - lo + 16, n + so);
				memcpy(mo_ref + lo - 8, mo_buf + lo - 8,
				       hi - lo + 16);
				ref_move(mo_ref + d, mo_ref + s, n);
				r = mov(mo_buf + d, mo_buf + s, n);
				if (r != mo_buf + d ||
				    memcmp(mo_buf + lo - 8, mo_ref + lo - 8,
					   hi - lo + 16)) {
					printf("memmove n=%zu src=%zu dst=%zu\n",
					       n, s, d);
					return 1;
				}
				fill(mo_buf + d2 - 8, n + 16, n);
				memcpy(mo_ref + d2 - 8, mo_buf + d2 - 8, n + 16);
				ref_move(mo_ref + d2, mo_ref + s, n);
				r = cpy(mo_buf + d2, mo_buf + s, n);
				if (r != mo_buf + d2 ||
				    memcmp(mo_buf + d2 - 8, mo_ref + d2 - 8,
					   n + 16)) {
					printf("memcpy n=%zu src=%zu dst=%zu\n",
					       n, s, d2);
					return 1;
				}
			}
		}
	}
	for (size_t n = 1000; n <= 1000000; n *= 10) {
		unsigned char *a = malloc(n + 256), *b = malloc(n + 256);

		if (!a || !b)
			return 2;
		for (int dir = 0; dir < 2; dir++) {
			size_t s = dir ? 3 : 101, d = dir ? 101 : 5;

			fill(a, n + 256, (unsigned)n);
			memcpy(b, a, n + 256);
			ref_move(b + d, b + s, n);
			mov(a + d, a + s, n);
			if (memcmp(a, b, n + 256)) {
				printf("memmove n=%zu src=%zu dst=%zu\n", n, s,
				       d);
				return 1;
			}
		}
		cpy(b, a + 17, n);
		if (memcmp(b, a + 17, n)) {
			printf("memcpy n=%zu\n", n);
			return 1;
		}
		free(a);
		free(b);
	}
	printf("memops ok\n");
	return 0;
}

static volatile sig_atomic_t got;

static void on_usr1(int sig)
{
	got = sig;
}

int main(int argc, char **argv)
{
	const char *m = argc > 1 ? argv[1] : "echo";

	if (!strcmp(m, "echo"))
		return echo(argc, argv);
	if (!strcmp(m, "cat"))
		return cat(argc, argv);
	if (!strcmp(m, "files"))
		return files();
	if (!strcmp(m, "world"))
		return world();
	if (!strcmp(m, "mem"))
		return mem(argc > 2 ? atol(argv[2]) : 8);
	if (!strcmp(m, "memops"))
		return memops();
	if (!strcmp(m, "exit"))
		exit(argc > 2 ? atoi(argv[2]) : 0);
	if (!strcmp(m, "abort"))
		abort();
	if (!strcmp(m, "signal")) {
		signal(SIGUSR1, on_usr1);
		raise(SIGUSR1);
		printf("handled signal %d\n", (int)got);
		return got == SIGUSR1 ? 0 : 1;
	}
	if (!strcmp(m, "mmap-exec"))
		return mmap(NULL, 4096, PROT_READ | PROT_EXEC,
			    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) == MAP_FAILED
			       ? 0
			       : 1;
	fprintf(stderr, "unknown mode %s\n", m);
	return 100;
}
