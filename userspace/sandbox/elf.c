// SPDX-License-Identifier: MIT
/* Validation of untrusted function ELF files and their sealed memfd images. */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <pith/abi.h>

#include "lib/macro.h"
#include "sandbox/elf.h"

#ifndef MFD_EXEC
#define MFD_EXEC 0x0010U
#endif
#ifndef F_SEAL_FUTURE_WRITE
#define F_SEAL_FUTURE_WRITE 0x0010
#endif
#ifndef F_SEAL_EXEC
#define F_SEAL_EXEC 0x0020
#endif

#define PAGE_LOW (ELF_PAGE_SIZE - 1)
#define PAGE_DOWN(x) ((x) & ~PAGE_LOW)

/* A PT_LOAD as validated: absolute addresses, load bias applied. */
struct load {
	unsigned idx;	   /* index in the program header table */
	uint64_t start;	   /* p_vaddr + bias */
	uint64_t end;	   /* start + p_memsz */
	uint64_t pstart;   /* PAGE_DOWN(start) */
	uint64_t pend;	   /* end rounded up to a page */
	uint64_t offset;   /* p_offset */
	uint64_t filesz;
	uint32_t flags;	   /* PF_* */
};

struct parse {
	const uint8_t *data;
	size_t len;
	Elf64_Ehdr eh;
	Elf64_Phdr ph[ELF_MAX_SEGMENTS];
	uint64_t bias;
	struct load loads[ELF_MAX_SEGMENTS];
	size_t n_loads;
};

static bool is_pow2(uint64_t x)
{
	return x && !(x & (x - 1));
}

static int check_ehdr(struct parse *p, struct err *e)
{
	const Elf64_Ehdr *eh = &p->eh;
	uint64_t table;

	if (p->len > ELF_MAX_FILE_SIZE)
		return err_set(e, EFBIG,
			       "file too large: %zu bytes, the limit is %llu",
			       p->len, ELF_MAX_FILE_SIZE);
	if (p->len < sizeof(Elf64_Ehdr))
		return err_set(e, ENOEXEC,
			       "truncated: %zu bytes, an ELF header needs %zu",
			       p->len, sizeof(Elf64_Ehdr));
	memcpy(&p->eh, p->data, sizeof(p->eh));

	if (memcmp(eh->e_ident, ELFMAG, SELFMAG))
		return err_set(e, ENOEXEC, "not an ELF file (bad magic)");
	if (eh->e_ident[EI_CLASS] != ELFCLASS64)
		return err_set(e, ENOEXEC,
			       "not a 64-bit ELF file (class %u)",
			       eh->e_ident[EI_CLASS]);
	if (eh->e_ident[EI_DATA] != ELFDATA2LSB)
		return err_set(e, ENOEXEC,
			       "not little-endian (data encoding %u)",
			       eh->e_ident[EI_DATA]);
	if (eh->e_ident[EI_VERSION] != EV_CURRENT)
		return err_set(e, ENOEXEC, "unknown ELF version %u",
			       eh->e_ident[EI_VERSION]);
	if (eh->e_ident[EI_OSABI] != ELFOSABI_SYSV &&
	    eh->e_ident[EI_OSABI] != ELFOSABI_GNU)
		return err_set(e, ENOEXEC,
			       "unsupported OS ABI %u (want System V or GNU/Linux)",
			       eh->e_ident[EI_OSABI]);
	if (eh->e_ident[EI_ABIVERSION] != 0)
		return err_set(e, ENOEXEC, "unsupported ABI version %u",
			       eh->e_ident[EI_ABIVERSION]);
	if (eh->e_type != ET_EXEC && eh->e_type != ET_DYN)
		return err_set(e, ENOEXEC,
			       "not an executable (e_type %u; want ET_EXEC or static-PIE ET_DYN)",
			       eh->e_type);
	if (eh->e_machine != EM_X86_64)
		return err_set(e, ENOEXEC, "wrong machine %u (want x86-64, %u)",
			       eh->e_machine, EM_X86_64);
	if (eh->e_version != EV_CURRENT)
		return err_set(e, ENOEXEC, "unknown e_version %" PRIu32,
			       eh->e_version);
	if (eh->e_ehsize != sizeof(Elf64_Ehdr))
		return err_set(e, ENOEXEC, "bad ELF header size %u (want %zu)",
			       eh->e_ehsize, sizeof(Elf64_Ehdr));
	if (eh->e_phentsize != sizeof(Elf64_Phdr))
		return err_set(e, ENOEXEC,
			       "bad program header size %u (want %zu)",
			       eh->e_phentsize, sizeof(Elf64_Phdr));
	if (eh->e_phnum == 0)
		return err_set(e, ENOEXEC, "no program headers");
	if (eh->e_phnum > ELF_MAX_SEGMENTS)
		return err_set(e, ENOEXEC,
			       "too many program headers: %u (limit %u)",
			       eh->e_phnum, ELF_MAX_SEGMENTS);
	if (eh->e_phoff % 8)
		return err_set(e, ENOEXEC,
			       "program header table misaligned (offset %" PRIu64 " not a multiple of 8)",
			       eh->e_phoff);
	if (eh->e_phoff < sizeof(Elf64_Ehdr))
		return err_set(e, ENOEXEC,
			       "program header table overlaps the ELF header (offset %" PRIu64 ")",
			       eh->e_phoff);
	/* e_phnum <= 16: the product cannot overflow, the sum can. */
	table = (uint64_t)eh->e_phnum * sizeof(Elf64_Phdr);
	if (eh->e_phoff > p->len || table > p->len - eh->e_phoff)
		return err_set(e, ENOEXEC,
			       "program header table beyond end of file (offset %" PRIu64 " + %zu*%u > %zu)",
			       eh->e_phoff, sizeof(Elf64_Phdr), eh->e_phnum,
			       p->len);
	memcpy(p->ph, p->data + eh->e_phoff, table);
	p->bias = eh->e_type == ET_DYN ? PITH_PIE_BASE : 0;
	return 0;
}

/* File bytes [off, off + size) lie inside the file. */
static bool in_file(const struct parse *p, uint64_t off, uint64_t size)
{
	return off <= p->len && size <= p->len - off;
}

static int check_load(struct parse *p, unsigned i, struct err *e)
{
	const Elf64_Phdr *ph = &p->ph[i];
	struct load *l = &p->loads[p->n_loads];
	uint64_t end, pend;

	if ((ph->p_flags & PF_W) && (ph->p_flags & PF_X))
		return err_set(e, ENOEXEC, "segment %u: writable and executable",
			       i);
	if (ph->p_memsz == 0)
		return err_set(e, ENOEXEC, "segment %u: empty (p_memsz 0)", i);
	if (ph->p_filesz > ph->p_memsz)
		return err_set(e, ENOEXEC,
			       "segment %u: p_filesz %#" PRIx64 " > p_memsz %#" PRIx64,
			       i, ph->p_filesz, ph->p_memsz);
	if (!in_file(p, ph->p_offset, ph->p_filesz))
		return err_set(e, ENOEXEC,
			       "segment %u: contents beyond end of file (offset %" PRIu64 " + %" PRIu64 " > %zu)",
			       i, ph->p_offset, ph->p_filesz, p->len);
	if (ph->p_align > 1 && !is_pow2(ph->p_align))
		return err_set(e, ENOEXEC,
			       "segment %u: p_align %#" PRIx64 " is not a power of two",
			       i, ph->p_align);
	if (ph->p_align > 1 &&
	    ph->p_offset % ph->p_align != ph->p_vaddr % ph->p_align)
		return err_set(e, ENOEXEC,
			       "segment %u: p_offset %#" PRIx64 " and p_vaddr %#" PRIx64 " not congruent modulo p_align %#" PRIx64,
			       i, ph->p_offset, ph->p_vaddr, ph->p_align);
	if ((ph->p_offset & PAGE_LOW) != (ph->p_vaddr & PAGE_LOW))
		return err_set(e, ENOEXEC,
			       "segment %u: p_offset %#" PRIx64 " and p_vaddr %#" PRIx64 " not congruent modulo the page size",
			       i, ph->p_offset, ph->p_vaddr);
	if (__builtin_add_overflow(ph->p_vaddr, p->bias, &l->start) ||
	    __builtin_add_overflow(l->start, ph->p_memsz, &end) ||
	    __builtin_add_overflow(end, PAGE_LOW, &pend))
		return err_set(e, ENOEXEC,
			       "segment %u: address overflow (p_vaddr %#" PRIx64 " + p_memsz %#" PRIx64 ")",
			       i, ph->p_vaddr, ph->p_memsz);
	l->end = end;
	l->pstart = PAGE_DOWN(l->start);
	l->pend = PAGE_DOWN(pend);
	if (l->pstart < PITH_IMAGE_MIN || l->pend > PITH_IMAGE_MAX)
		return err_set(e, ENOEXEC,
			       "segment %u: outside the image range (%#" PRIx64 "-%#" PRIx64 " not within [%#llx, %#llx))",
			       i, l->start, l->end, PITH_IMAGE_MIN,
			       PITH_IMAGE_MAX);
	l->idx = i;
	l->offset = ph->p_offset;
	l->filesz = ph->p_filesz;
	l->flags = ph->p_flags;
	p->n_loads++;
	return 0;
}

/* File offset of the `size` bytes at absolute address `addr`, when they all
 * come from the file contents of one PT_LOAD. */
static bool addr_to_off(const struct parse *p, uint64_t addr, uint64_t size,
			uint64_t *ret)
{
	for (size_t j = 0; j < p->n_loads; j++) {
		const struct load *l = &p->loads[j];
		uint64_t rel = addr - l->start;

		if (addr < l->start || rel > l->filesz ||
		    size > l->filesz - rel)
			continue;
		*ret = l->offset + rel;
		return true;
	}
	return false;
}

/*
 * A static-PIE has a PT_DYNAMIC for its self-relocation; refuse it only when
 * it asks for a shared library. Called after every PT_LOAD is known, so that
 * DT_STRTAB can be used to name the library.
 */
static int check_dynamic(const struct parse *p, unsigned i, struct err *e)
{
	const Elf64_Phdr *ph = &p->ph[i];
	uint64_t strtab = 0, strsz = 0, needed = UINT64_MAX, n;
	bool have_strtab = false;
	uint64_t off, name_off;

	if (!in_file(p, ph->p_offset, ph->p_filesz))
		return err_set(e, ENOEXEC,
			       "segment %u: PT_DYNAMIC beyond end of file (offset %" PRIu64 " + %" PRIu64 " > %zu)",
			       i, ph->p_offset, ph->p_filesz, p->len);
	n = ph->p_filesz / sizeof(Elf64_Dyn);
	for (uint64_t k = 0; k < n; k++) {
		Elf64_Dyn d;

		memcpy(&d, p->data + ph->p_offset + k * sizeof(d), sizeof(d));
		if (d.d_tag == DT_NULL)
			break;
		if (d.d_tag == DT_NEEDED && needed == UINT64_MAX)
			needed = d.d_un.d_val;
		else if (d.d_tag == DT_STRTAB)
			strtab = d.d_un.d_ptr, have_strtab = true;
		else if (d.d_tag == DT_STRSZ)
			strsz = d.d_un.d_val;
	}
	if (needed == UINT64_MAX)
		return 0;

	/* Name the library when the string is plainly inside the file. */
	if (have_strtab && needed < strsz &&
	    !__builtin_add_overflow(strtab, p->bias, &strtab) &&
	    addr_to_off(p, strtab, strsz, &off)) {
		const char *s;
		size_t max;

		name_off = off + needed;
		s = (const char *)p->data + name_off;
		max = MIN(strsz - needed, (uint64_t)64);
		if (memchr(s, '\0', max)) {
			bool printable = true;

			for (const char *c = s; *c; c++)
				if (*c < 0x20 || *c > 0x7e)
					printable = false;
			if (printable && *s)
				return err_set(e, ENOEXEC,
					       "segment %u: dynamically linked: needs shared library '%s' (DT_NEEDED); link with -static",
					       i, s);
		}
	}
	return err_set(e, ENOEXEC,
		       "segment %u: dynamically linked: needs a shared library (DT_NEEDED); link with -static",
		       i);
}

static int check_phdrs(struct parse *p, struct err *e)
{
	uint64_t entry, total = 0;
	bool entry_ok = false;
	int r;

	for (unsigned i = 0; i < p->eh.e_phnum; i++) {
		const Elf64_Phdr *ph = &p->ph[i];

		switch (ph->p_type) {
		case PT_LOAD:
			r = check_load(p, i, e);
			if (r < 0)
				return r;
			break;
		case PT_INTERP:
			return err_set(e, ENOEXEC,
				       "segment %u: PT_INTERP: dynamically linked (needs an interpreter); link with -static",
				       i);
		case PT_TLS:
			return err_set(e, ENOEXEC,
				       "segment %u: PT_TLS: thread-local storage is not part of the pith ABI",
				       i);
		case PT_GNU_STACK:
			if (ph->p_flags & PF_X)
				return err_set(e, ENOEXEC,
					       "segment %u: executable stack (PT_GNU_STACK with PF_X)",
					       i);
			break;
		default:
			break;
		}
	}
	if (!p->n_loads)
		return err_set(e, ENOEXEC, "no PT_LOAD segment");

	for (unsigned i = 0; i < p->eh.e_phnum; i++) {
		if (p->ph[i].p_type != PT_DYNAMIC)
			continue;
		r = check_dynamic(p, i, e);
		if (r < 0)
			return r;
	}

	for (size_t a = 0; a < p->n_loads; a++) {
		const struct load *la = &p->loads[a];

		for (size_t b = a + 1; b < p->n_loads; b++) {
			const struct load *lb = &p->loads[b];

			if (la->start < lb->end && lb->start < la->end)
				return err_set(e, ENOEXEC,
					       "segments %u and %u overlap (%#" PRIx64 "-%#" PRIx64 " and %#" PRIx64 "-%#" PRIx64 ")",
					       la->idx, lb->idx, la->start,
					       la->end, lb->start, lb->end);
			if (la->pstart < lb->pend && lb->pstart < la->pend)
				return err_set(e, ENOEXEC,
					       "segments %u and %u share the page at %#" PRIx64 "; link with -z separate-code",
					       la->idx, lb->idx,
					       MAX(la->pstart, lb->pstart));
		}
		/* Disjoint pages within [MIN, MAX): no overflow. */
		total += la->pend - la->pstart;
	}
	if (total > ELF_MAX_IMAGE_SIZE)
		return err_set(e, EFBIG,
			       "image too large: %" PRIu64 " bytes of segments, the limit is %llu",
			       total, ELF_MAX_IMAGE_SIZE);

	if (__builtin_add_overflow(p->eh.e_entry, p->bias, &entry))
		return err_set(e, ENOEXEC, "entry point %#" PRIx64 " overflows",
			       p->eh.e_entry);
	for (size_t a = 0; a < p->n_loads; a++) {
		const struct load *l = &p->loads[a];

		if ((l->flags & PF_X) && entry >= l->start && entry < l->end)
			entry_ok = true;
	}
	if (!entry_ok)
		return err_set(e, ENOEXEC,
			       "entry point %#" PRIx64 " not inside an executable segment",
			       entry);
	return 0;
}

static int prot_of(uint32_t flags)
{
	return (flags & PF_R ? PROT_READ : 0) |
	       (flags & PF_W ? PROT_WRITE : 0) |
	       (flags & PF_X ? PROT_EXEC : 0);
}

static int memfd_image(void)
{
	static unsigned exec_flag = MFD_EXEC;
	unsigned flag = __atomic_load_n(&exec_flag, __ATOMIC_RELAXED);
	int fd;

	/* The sandbox maps the image PROT_EXEC: never let the
	 * vm.memfd_noexec sysctl make it MFD_NOEXEC_SEAL. */
	fd = memfd_create("pith-image",
			  MFD_CLOEXEC | MFD_ALLOW_SEALING | flag);
	if (fd < 0 && errno == EINVAL && flag) {
		/* Kernels before 6.3 do not know MFD_EXEC. */
		__atomic_store_n(&exec_flag, 0, __ATOMIC_RELAXED);
		fd = memfd_create("pith-image",
				  MFD_CLOEXEC | MFD_ALLOW_SEALING);
	}
	return fd < 0 ? negative_errno() : fd;
}

static int pwrite_all(int fd, const uint8_t *data, size_t len, uint64_t off)
{
	while (len) {
		ssize_t n = pwrite(fd, data, len, (off_t)off);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return negative_errno();
		}
		data += n, len -= (size_t)n, off += (uint64_t)n;
	}
	return 0;
}

static int seal_all(int fd)
{
	int seals = F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE |
		    F_SEAL_FUTURE_WRITE;

	if (fcntl(fd, F_ADD_SEALS, seals | F_SEAL_EXEC) == 0)
		return 0;
	/* Kernels before 6.3 do not know F_SEAL_EXEC. */
	if (errno == EINVAL && fcntl(fd, F_ADD_SEALS, seals) == 0)
		return 0;
	return negative_errno();
}

/*
 * Lay the segments out in address order, each on its own pages, at the same
 * offset within its first page as in the sandbox. The memfd starts out
 * zero-filled, so the bss tail of the last file page and the pages of bss
 * beyond it need no writing.
 */
static int build_image(struct parse *p, struct elf_image *img, struct err *e)
{
	_cleanup_close_ int fd = -1;
	uint64_t off = 0;
	int r;

	/* n_loads <= 16: insertion sort by address. */
	for (size_t a = 1; a < p->n_loads; a++) {
		struct load t = p->loads[a];
		size_t b = a;

		for (; b > 0 && p->loads[b - 1].start > t.start; b--)
			p->loads[b] = p->loads[b - 1];
		p->loads[b] = t;
	}

	fd = memfd_image();
	if (fd == -EACCES)
		return err_set(e, EACCES,
			       "cannot create image memfd: %s (is sysctl vm.memfd_noexec 2?)",
			       strerror(EACCES));
	if (fd < 0)
		return err_errno(e, fd, "cannot create image memfd");
	for (size_t a = 0; a < p->n_loads; a++) {
		const struct load *l = &p->loads[a];
		struct elf_segment *s = &img->segments[a];

		s->vaddr = l->pstart;
		s->memsz = l->pend - l->pstart;
		s->file_off = off;
		s->prot = prot_of(l->flags);
		/* No overflow: start + filesz <= end, and pend did not. */
		s->filesz = l->filesz ? PAGE_DOWN(l->start + l->filesz +
						  PAGE_LOW) - l->pstart
				      : 0;
		r = pwrite_all(fd, p->data + l->offset, l->filesz,
			       off + (l->start - l->pstart));
		if (r < 0)
			return err_errno(e, r, "cannot write image memfd");
		off += s->memsz;
	}
	if (ftruncate(fd, (off_t)off) < 0) {
		r = negative_errno();
		return err_errno(e, r, "cannot size image memfd");
	}
	r = seal_all(fd);
	if (r < 0)
		return err_errno(e, r, "cannot seal image memfd");

	img->n_segments = p->n_loads;
	img->lo = p->loads[0].pstart;
	img->hi = p->loads[p->n_loads - 1].pend;
	img->entry = p->eh.e_entry + p->bias;
	img->fd = TAKE_FD(fd);
	return 0;
}

int elf_image_load_mem(const void *data, size_t len, struct elf_image **ret,
		       struct err *e)
{
	_cleanup_free_ struct parse *p = NULL;
	_cleanup_free_ struct elf_image *img = NULL;
	int r;

	p = calloc(1, sizeof(*p));
	img = calloc(1, sizeof(*img));
	if (!p || !img)
		return err_set(e, ENOMEM, "out of memory");
	p->data = data;
	p->len = len;
	r = check_ehdr(p, e);
	if (r < 0)
		return r;
	r = check_phdrs(p, e);
	if (r < 0)
		return r;
	r = build_image(p, img, e);
	if (r < 0)
		return r;
	img->refs = 1;
	*ret = TAKE_PTR(img);
	return 0;
}

/* Open `path` as a regular file; never blocks on a FIFO or a device. */
static int open_regular(int dirfd, const char *path, struct stat *st,
			struct err *e)
{
	_cleanup_close_ int fd = -1;
	int r;

	fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		r = negative_errno();
		return err_errno(e, r, "cannot open");
	}
	if (fstat(fd, st) < 0) {
		r = negative_errno();
		return err_errno(e, r, "cannot stat");
	}
	if (!S_ISREG(st->st_mode))
		return err_set(e, ENOEXEC, "not a regular file");
	if ((uint64_t)st->st_size > ELF_MAX_FILE_SIZE)
		return err_set(e, EFBIG,
			       "file too large: %jd bytes, the limit is %llu",
			       (intmax_t)st->st_size, ELF_MAX_FILE_SIZE);
	return TAKE_FD(fd);
}

/* Read exactly the size fstat() reported; a file that changes underneath
 * is refused rather than half-read. */
static int read_whole(int fd, size_t size, uint8_t **ret, struct err *e)
{
	_cleanup_free_ uint8_t *buf = NULL;
	size_t got = 0;
	uint8_t extra;
	ssize_t n;

	buf = malloc(size ? size : 1);
	if (!buf)
		return err_set(e, ENOMEM, "out of memory");
	while (got < size) {
		n = pread(fd, buf + got, size - got, (off_t)got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int r = negative_errno();

			return err_errno(e, r, "cannot read");
		}
		if (n == 0)
			return err_set(e, EIO, "file shrank while being read");
		got += (size_t)n;
	}
	do
		n = pread(fd, &extra, 1, (off_t)size);
	while (n < 0 && errno == EINTR);
	if (n != 0)
		return err_set(e, EIO, "file grew while being read");
	*ret = TAKE_PTR(buf);
	return 0;
}

static int load_fd(int fd, const struct stat *st, struct elf_image **ret,
		   struct err *e)
{
	_cleanup_free_ uint8_t *buf = NULL;
	int r;

	r = read_whole(fd, (size_t)st->st_size, &buf, e);
	if (r < 0)
		return r;
	return elf_image_load_mem(buf, (size_t)st->st_size, ret, e);
}

int elf_image_load(int dirfd, const char *path, struct elf_image **ret,
		   struct err *e)
{
	_cleanup_close_ int fd = -1;
	struct stat st;

	fd = open_regular(dirfd, path, &st, e);
	if (fd < 0)
		return fd;
	return load_fd(fd, &st, ret, e);
}

uint64_t elf_image_writable_size(const struct elf_image *img)
{
	uint64_t n = 0;

	for (size_t i = 0; i < img->n_segments; i++)
		if (img->segments[i].prot & PROT_WRITE)
			n += img->segments[i].memsz;
	return n;
}

int elf_image_check_memory(const struct elf_image *img, uint64_t memory,
			   struct err *e)
{
	uint64_t w = elf_image_writable_size(img);

	if (w <= memory && memory - w >= ELF_CONTEXT_MIN)
		return 0;
	return err_set(e, E2BIG,
		       "its writable segments (.data and .bss: %" PRIu64 " bytes) leave %" PRIu64 " bytes of its memory of %" PRIu64 " for the context, which needs at least %llu KiB: raise \"memory\", or allocate big arrays from the arena (pith_alloc) instead of declaring them static",
		       w, w < memory ? memory - w : 0, memory,
		       ELF_CONTEXT_MIN >> 10);
}

struct elf_image *elf_image_ref(struct elf_image *img)
{
	if (img)
		__atomic_add_fetch(&img->refs, 1, __ATOMIC_RELAXED);
	return img;
}

struct elf_image *elf_image_free(struct elf_image *img)
{
	if (img && __atomic_sub_fetch(&img->refs, 1, __ATOMIC_ACQ_REL) == 0) {
		safe_close(img->fd);
		free(img);
	}
	return NULL;
}
