// SPDX-License-Identifier: MIT
/*
 * The opaque contender's merge: every report file in DIR, through
 * examples/logstats' summary code, to standard output.
 *
 *   thesis-merge DIR
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "logstats.h"

int main(int argc, char **argv)
{
	struct pith_item *v = NULL;
	size_t n = 0, cap = 0;
	struct dirent *d;
	DIR *dir;

	if (argc != 2 || !(dir = opendir(argv[1])))
		return 2;
	while ((d = readdir(dir))) {
		struct stat st;
		char *p;
		int fd;

		if (d->d_name[0] == '.')
			continue;
		fd = openat(dirfd(dir), d->d_name, O_RDONLY | O_CLOEXEC);
		if (fd < 0 || fstat(fd, &st) < 0)
			return 1;
		p = malloc((size_t)st.st_size + 1);
		if (!p || read(fd, p, (size_t)st.st_size) != st.st_size)
			return 1;
		close(fd);
		if (n == cap) {
			cap = cap * 2 + 1024;
			v = realloc(v, cap * sizeof(*v));
		}
		v[n++] = (struct pith_item){ .name = strdup(d->d_name),
					     .data = p,
					     .len = (size_t)st.st_size };
	}
	closedir(dir);
	return logstats_summary(v, n, stdout);
}
