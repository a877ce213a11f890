// SPDX-License-Identifier: MIT
/* Tests of the ELF loader: valid images, each refusal, real binaries
 * and random mutations of a valid image. */
#include <elf.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "harness/harness.h"
#include "harness/helpers.h"

#include <pith/abi.h>

#include "fuzz/elf_check.h"
#include "lib/macro.h"
#include "sandbox/elf.h"

/*
 * A minimal valid function, generated in memory:
 *   file 0x0000  ELF header, 3 program headers
 *   file 0x1000  code, PT_LOAD R+X at base + 0x1000, 0x20 bytes
 *   file 0x2000  data, PT_LOAD R+W at base + 0x2000, filesz 0x10,
 *                memsz 0x1800 (bss runs onto the next page)
 *   file 0x2010  0x5a filler that no segment covers, up to 0x2100
 *   PT_GNU_STACK R+W
 * The code exits with data[0] + data[0x10] + data[0x1400] = 42 + 0 + 0, so
 * running it checks the image layout: file bytes in place, the bss tail of
 * the last file page and the bss page beyond it zero.
 */
#define T_LEN 0x2100
#define T_CODE_OFF 0x1000
#define T_DATA_OFF 0x2000
#define T_EXIT 42

struct t_elf {
	_Alignas(16) uint8_t buf[0x3000];
	size_t len;
};

static Elf64_Ehdr *eh(struct t_elf *t)
{
	return (Elf64_Ehdr *)t->buf;
}

static Elf64_Phdr *ph(struct t_elf *t, int i)
{
	return (Elf64_Phdr *)(t->buf + sizeof(Elf64_Ehdr) +
			      (size_t)i * sizeof(Elf64_Phdr));
}

static void put32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, sizeof(v));
}

/* base: 0x400000 for ET_EXEC, 0 for ET_DYN. */
static void t_elf_build(struct t_elf *t, uint16_t type, uint64_t base)
{
	static const uint8_t code[] = {
		0x8b, 0x3d, 0, 0, 0, 0,	      /* mov data(%rip), %edi */
		0x03, 0x3d, 0, 0, 0, 0,	      /* add data+0x10(%rip), %edi */
		0x03, 0x3d, 0, 0, 0, 0,	      /* add data+0x1400(%rip), %edi */
		0xb8, 0xe7, 0x00, 0x00, 0x00, /* mov $231, %eax */
		0x0f, 0x05,		      /* syscall (exit_group) */
		0x0f, 0x0b,		      /* ud2 */
	};
	Elf64_Ehdr *h = eh(t);
	uint8_t *c = t->buf + T_CODE_OFF;

	memset(t, 0, sizeof(*t));
	t->len = T_LEN;
	memcpy(h->e_ident, ELFMAG, SELFMAG);
	h->e_ident[EI_CLASS] = ELFCLASS64;
	h->e_ident[EI_DATA] = ELFDATA2LSB;
	h->e_ident[EI_VERSION] = EV_CURRENT;
	h->e_ident[EI_OSABI] = ELFOSABI_SYSV;
	h->e_type = type;
	h->e_machine = EM_X86_64;
	h->e_version = EV_CURRENT;
	h->e_entry = base + 0x1000;
	h->e_phoff = sizeof(Elf64_Ehdr);
	h->e_ehsize = sizeof(Elf64_Ehdr);
	h->e_phentsize = sizeof(Elf64_Phdr);
	h->e_phnum = 3;

	*ph(t, 0) = (Elf64_Phdr){ .p_type = PT_LOAD, .p_flags = PF_R | PF_X,
				  .p_offset = T_CODE_OFF,
				  .p_vaddr = base + 0x1000,
				  .p_paddr = base + 0x1000, .p_filesz = 0x20,
				  .p_memsz = 0x20, .p_align = 0x1000 };
	*ph(t, 1) = (Elf64_Phdr){ .p_type = PT_LOAD, .p_flags = PF_R | PF_W,
				  .p_offset = T_DATA_OFF,
				  .p_vaddr = base + 0x2000,
				  .p_paddr = base + 0x2000, .p_filesz = 0x10,
				  .p_memsz = 0x1800, .p_align = 0x1000 };
	*ph(t, 2) = (Elf64_Phdr){ .p_type = PT_GNU_STACK,
				  .p_flags = PF_R | PF_W, .p_align = 0x10 };

	/* Bytes no segment covers: a loader copying whole pages leaks them. */
	memset(t->buf + T_CODE_OFF + 0x20, 0xcc, 0x1000 - 0x20);
	memset(t->buf + T_DATA_OFF + 0x10, 0x5a, T_LEN - T_DATA_OFF - 0x10);

	memcpy(c, code, sizeof(code));
	put32(c + 2, 0x1000 - 6);
	put32(c + 8, 0x1010 - 12);
	put32(c + 14, 0x2400 - 18);
	put32(t->buf + T_DATA_OFF, T_EXIT);
}

static void t_elf_exec(struct t_elf *t)
{
	t_elf_build(t, ET_EXEC, 0x400000);
}

/* Map the image as elf.h says (file pages from the memfd, bss anonymous)
 * and jump to it in a child. Returns the child's wait status. */
static int t_run_image(const struct elf_image *img)
{
	int status;
	pid_t pid;

	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		for (size_t i = 0; i < img->n_segments; i++) {
			const struct elf_segment *s = &img->segments[i];
			void *p;

			void *bss = (void *)(s->vaddr + s->filesz);

			if (s->filesz) {
				p = mmap((void *)s->vaddr, s->filesz, s->prot,
					 MAP_PRIVATE | MAP_FIXED_NOREPLACE,
					 img->fd, (off_t)s->file_off);
				if (p != (void *)s->vaddr)
					_exit(200);
			}
			if (s->memsz > s->filesz) {
				p = mmap(bss, s->memsz - s->filesz, s->prot,
					 MAP_PRIVATE | MAP_ANONYMOUS |
						 MAP_FIXED_NOREPLACE,
					 -1, 0);
				if (p != bss)
					_exit(200);
			}
		}
		((void (*)(void))img->entry)();
		_exit(201);
	}
	if (waitpid(pid, &status, 0) != pid)
		return -1;
	return status;
}

static int t_load(struct t_elf *t, struct elf_image **img, struct err *e)
{
	return elf_image_load_mem(t->buf, t->len, img, e);
}

TEST(valid_exec_image_loads_with_its_segments_and_entry)
{
	struct err e = { "" };
	struct elf_image *img = NULL;
	struct t_elf t;
	struct stat st;

	t_elf_exec(&t);
	ASSERT_EQ(0, t_load(&t, &img, &e)) TH_LOG("%s", e.msg);
	EXPECT_EQ(0x401000, img->entry);
	ASSERT_EQ(2, img->n_segments);
	EXPECT_EQ(0x401000, img->segments[0].vaddr);
	EXPECT_EQ(0x1000, img->segments[0].memsz);
	EXPECT_EQ(0, img->segments[0].file_off);
	EXPECT_EQ(PROT_READ | PROT_EXEC, img->segments[0].prot);
	EXPECT_EQ(0x1000, img->segments[0].filesz);
	EXPECT_EQ(0x402000, img->segments[1].vaddr);
	EXPECT_EQ(0x2000, img->segments[1].memsz);
	EXPECT_EQ(0x1000, img->segments[1].filesz);
	EXPECT_EQ(0x1000, img->segments[1].file_off);
	EXPECT_EQ(PROT_READ | PROT_WRITE, img->segments[1].prot);
	EXPECT_EQ(0x401000, img->lo);
	EXPECT_EQ(0x404000, img->hi);
	ASSERT_EQ(0, fstat(img->fd, &st));
	EXPECT_EQ(0x3000, st.st_size);
	EXPECT_NULL(elf_check_image(img));
	elf_image_free(img);
}

TEST(static_pie_image_is_placed_at_the_pie_base)
{
	struct err e = { "" };
	struct elf_image *img = NULL;
	struct t_elf t;

	t_elf_build(&t, ET_DYN, 0);
	ASSERT_EQ(0, t_load(&t, &img, &e)) TH_LOG("%s", e.msg);
	EXPECT_EQ(PITH_PIE_BASE + 0x1000, img->entry);
	ASSERT_EQ(2, img->n_segments);
	EXPECT_EQ(PITH_PIE_BASE + 0x1000, img->segments[0].vaddr);
	EXPECT_EQ(PITH_PIE_BASE + 0x2000, img->segments[1].vaddr);
	EXPECT_EQ(PITH_PIE_BASE + 0x1000, img->lo);
	EXPECT_EQ(PITH_PIE_BASE + 0x4000, img->hi);
	EXPECT_NULL(elf_check_image(img));
	elf_image_free(img);
}

TEST(image_memfd_holds_only_segment_bytes_and_zeros)
{
	struct err e = { "" };
	struct elf_image *img = NULL;
	uint8_t got[0x3000], want[0x3000];
	struct t_elf t;

	t_elf_exec(&t);
	ASSERT_EQ(0, t_load(&t, &img, &e)) TH_LOG("%s", e.msg);
	memset(want, 0, sizeof(want));
	memcpy(want, t.buf + T_CODE_OFF, 0x20);
	memcpy(want + 0x1000, t.buf + T_DATA_OFF, 0x10);
	ASSERT_EQ((ssize_t)sizeof(got), pread(img->fd, got, sizeof(got), 0));
	for (size_t i = 0; i < sizeof(got); i++) {
		ASSERT_EQ(want[i], got[i]) TH_LOG("memfd byte %#zx", i);
	}
	elf_image_free(img);
}

TEST(image_memfd_is_sealed_against_every_change)
{
	struct err e = { "" };
	struct elf_image *img = NULL;
	struct t_elf t;
	void *p;
	int seals;

	t_elf_exec(&t);
	ASSERT_EQ(0, t_load(&t, &img, &e)) TH_LOG("%s", e.msg);
	seals = fcntl(img->fd, F_GET_SEALS);
	EXPECT_EQ(F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE,
		  seals & (F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW |
			   F_SEAL_WRITE));
	EXPECT_EQ(-1, pwrite(img->fd, "x", 1, 0));
	EXPECT_EQ(EPERM, errno);
	EXPECT_EQ(-1, ftruncate(img->fd, 0));
	EXPECT_EQ(-1, ftruncate(img->fd, 0x100000));
	EXPECT_EQ(-1, fcntl(img->fd, F_ADD_SEALS, F_SEAL_FUTURE_WRITE));
	EXPECT_EQ(EPERM, errno);
	p = mmap(NULL, 0x1000, PROT_READ | PROT_WRITE, MAP_SHARED, img->fd, 0);
	EXPECT_EQ(MAP_FAILED, p);
	/* Private copy-on-write mappings, as the sandbox makes, still work. */
	p = mmap(NULL, 0x1000, PROT_READ | PROT_WRITE, MAP_PRIVATE, img->fd,
		 0);
	ASSERT_NE(MAP_FAILED, p);
	((volatile uint8_t *)p)[0] = 0xff;
	munmap(p, 0x1000);
	EXPECT_TRUE(fcntl(img->fd, F_GETFD) & FD_CLOEXEC);
	elf_image_free(img);
}

TEST(exec_image_runs_when_mapped_from_the_memfd)
{
	struct err e = { "" };
	struct elf_image *img = NULL;
	struct t_elf t;
	int status;

	t_elf_exec(&t);
	ASSERT_EQ(0, t_load(&t, &img, &e)) TH_LOG("%s", e.msg);
	status = t_run_image(img);
	ASSERT_TRUE(WIFEXITED(status)) TH_LOG("wait status %#x", status);
	EXPECT_EQ(T_EXIT, WEXITSTATUS(status));
	elf_image_free(img);
}

TEST(running_an_image_allocates_no_memfd_page_for_its_bss)
{
	struct err e = { "" };
	struct elf_image *img = NULL;
	struct t_elf t;
	struct stat st;

	/* The code reads a bss page beyond the file pages. */
	t_elf_exec(&t);
	ASSERT_EQ(0, t_load(&t, &img, &e)) TH_LOG("%s", e.msg);
	EXPECT_EQ(T_EXIT, WEXITSTATUS(t_run_image(img)));
	ASSERT_EQ(0, fstat(img->fd, &st));
	EXPECT_EQ(0x3000, st.st_size);
	EXPECT_EQ(0x2000, st.st_blocks * 512);
	elf_image_free(img);
}

TEST(segment_of_bss_only_has_no_file_pages)
{
	struct err e = { "" };
	struct elf_image *img = NULL;
	struct t_elf t;

	t_elf_exec(&t);
	ph(&t, 1)->p_filesz = 0;
	ASSERT_EQ(0, t_load(&t, &img, &e)) TH_LOG("%s", e.msg);
	EXPECT_EQ(0, img->segments[1].filesz);
	EXPECT_EQ(0x2000, img->segments[1].memsz);
	/* data[0] now reads as 0 */
	EXPECT_EQ(0, WEXITSTATUS(t_run_image(img)));
	elf_image_free(img);
}

TEST(pie_image_runs_when_mapped_from_the_memfd)
{
	struct err e = { "" };
	struct elf_image *img = NULL;
	struct t_elf t;
	int status;

	t_elf_build(&t, ET_DYN, 0);
	ASSERT_EQ(0, t_load(&t, &img, &e)) TH_LOG("%s", e.msg);
	status = t_run_image(img);
	ASSERT_TRUE(WIFEXITED(status)) TH_LOG("wait status %#x", status);
	EXPECT_EQ(T_EXIT, WEXITSTATUS(status));
	elf_image_free(img);
}

TEST(unsorted_load_segments_come_out_sorted)
{
	struct err e = { "" };
	struct elf_image *img = NULL;
	struct t_elf t;
	Elf64_Phdr tmp;

	t_elf_exec(&t);
	tmp = *ph(&t, 0);
	*ph(&t, 0) = *ph(&t, 1);
	*ph(&t, 1) = tmp;
	ASSERT_EQ(0, t_load(&t, &img, &e)) TH_LOG("%s", e.msg);
	ASSERT_EQ(2, img->n_segments);
	EXPECT_EQ(0x401000, img->segments[0].vaddr);
	EXPECT_EQ(PROT_READ | PROT_EXEC, img->segments[0].prot);
	EXPECT_EQ(0x402000, img->segments[1].vaddr);
	EXPECT_EQ(T_EXIT, WEXITSTATUS(t_run_image(img)));
	elf_image_free(img);
}

/* A PT_DYNAMIC at file 0x2040 inside the data segment, with a string table
 * at 0x2080 holding "\0libc.so.6\0". */
static void t_add_dynamic(struct t_elf *t, bool needed, bool strtab)
{
	Elf64_Dyn dyn[4] = {
		{ .d_tag = DT_NEEDED, .d_un.d_val = 1 },
		{ .d_tag = strtab ? DT_STRTAB : DT_DEBUG,
		  .d_un.d_ptr = 0x402080 },
		{ .d_tag = DT_STRSZ, .d_un.d_val = 11 },
		{ .d_tag = DT_NULL },
	};

	if (!needed)
		dyn[0].d_tag = DT_DEBUG;
	ph(t, 1)->p_filesz = 0x100;
	memcpy(t->buf + 0x2040, dyn, sizeof(dyn));
	memset(t->buf + 0x2080, 0, 0x80);
	memcpy(t->buf + 0x2081, "libc.so.6", 10);
	*ph(t, 2) = (Elf64_Phdr){ .p_type = PT_DYNAMIC,
				  .p_flags = PF_R | PF_W, .p_offset = 0x2040,
				  .p_vaddr = 0x402040, .p_filesz = sizeof(dyn),
				  .p_memsz = sizeof(dyn), .p_align = 8 };
}

TEST(dynamic_section_without_needed_library_is_accepted)
{
	struct err e = { "" };
	struct elf_image *img = NULL;
	struct t_elf t;

	t_elf_exec(&t);
	t_add_dynamic(&t, false, true);
	ASSERT_EQ(0, t_load(&t, &img, &e)) TH_LOG("%s", e.msg);
	EXPECT_NULL(elf_check_image(img));
	elf_image_free(img);
}

/* ---- every refusal, on a mutation of the valid image ---- */

static void m_bad_magic(struct t_elf *t) { t->buf[1] = 'X'; }
static void m_class32(struct t_elf *t) { t->buf[EI_CLASS] = ELFCLASS32; }
static void m_big_endian(struct t_elf *t) { t->buf[EI_DATA] = ELFDATA2MSB; }
static void m_ident_version(struct t_elf *t) { t->buf[EI_VERSION] = 0; }
static void m_osabi(struct t_elf *t) { t->buf[EI_OSABI] = ELFOSABI_FREEBSD; }
static void m_abiversion(struct t_elf *t) { t->buf[EI_ABIVERSION] = 1; }
static void m_rel(struct t_elf *t) { eh(t)->e_type = ET_REL; }
static void m_machine(struct t_elf *t) { eh(t)->e_machine = EM_AARCH64; }
static void m_version(struct t_elf *t) { eh(t)->e_version = 0; }
static void m_ehsize(struct t_elf *t) { eh(t)->e_ehsize = 52; }
static void m_phentsize(struct t_elf *t) { eh(t)->e_phentsize = 32; }
static void m_phnum0(struct t_elf *t) { eh(t)->e_phnum = 0; }
static void m_phnum17(struct t_elf *t) { eh(t)->e_phnum = 17; }
static void m_phoff_odd(struct t_elf *t) { eh(t)->e_phoff = 68; }
static void m_phoff0(struct t_elf *t) { eh(t)->e_phoff = 0; }
static void m_phoff_end(struct t_elf *t) { eh(t)->e_phoff = 0x2080; }
static void m_phoff_huge(struct t_elf *t) { eh(t)->e_phoff = -8ull; }
static void m_len40(struct t_elf *t) { t->len = 40; }
static void m_len_cut(struct t_elf *t) { t->len = 0x2008; }
static void m_len_huge(struct t_elf *t) { t->len = ELF_MAX_FILE_SIZE + 1; }
static void m_offset_huge(struct t_elf *t) { ph(t, 0)->p_offset = -0x100ull; }
static void m_wx(struct t_elf *t) { ph(t, 1)->p_flags |= PF_X; }
static void m_interp(struct t_elf *t) { ph(t, 2)->p_type = PT_INTERP; }
static void m_tls(struct t_elf *t) { ph(t, 2)->p_type = PT_TLS; }
static void m_xstack(struct t_elf *t) { ph(t, 2)->p_flags |= PF_X; }
static void m_needed(struct t_elf *t) { t_add_dynamic(t, true, true); }
static void m_needed_nostr(struct t_elf *t) { t_add_dynamic(t, true, false); }

static void m_dynamic_end(struct t_elf *t)
{
	*ph(t, 2) = (Elf64_Phdr){ .p_type = PT_DYNAMIC, .p_offset = 0x2080,
				  .p_filesz = 0x100, .p_memsz = 0x100 };
}

static void m_filesz(struct t_elf *t) { ph(t, 0)->p_filesz = 0x40; }

static void m_empty(struct t_elf *t)
{
	ph(t, 1)->p_filesz = 0;
	ph(t, 1)->p_memsz = 0;
}

static void m_align(struct t_elf *t) { ph(t, 0)->p_align = 0x1800; }
static void m_congruent(struct t_elf *t) { ph(t, 1)->p_vaddr = 0x402008; }

static void m_page_congruent(struct t_elf *t)
{
	ph(t, 1)->p_align = 0;
	ph(t, 1)->p_vaddr = 0x402008;
}

static void m_vaddr_wrap(struct t_elf *t)
{
	ph(t, 1)->p_vaddr = 0xfffffffffffff000ull;
}

static void m_below(struct t_elf *t)
{
	ph(t, 0)->p_vaddr = 0x1000;
	eh(t)->e_entry = 0x1000;
}

static void m_above(struct t_elf *t)
{
	ph(t, 1)->p_vaddr = PITH_IMAGE_MAX - 0x1000;
}

static void m_overlap(struct t_elf *t) { ph(t, 1)->p_vaddr = 0x401000; }

static void m_share(struct t_elf *t)
{
	ph(t, 1)->p_vaddr = 0x401800;
	ph(t, 1)->p_offset = 0x1800;
}

static void m_noload(struct t_elf *t)
{
	ph(t, 0)->p_type = PT_NOTE;
	ph(t, 1)->p_type = PT_NOTE;
}

static void m_entry_data(struct t_elf *t) { eh(t)->e_entry = 0x402000; }
static void m_entry_past(struct t_elf *t) { eh(t)->e_entry = 0x401020; }
static void m_huge_bss(struct t_elf *t) { ph(t, 1)->p_memsz = 1ull << 32; }

static void m_pie_entry_wrap(struct t_elf *t)
{
	eh(t)->e_type = ET_DYN;
	eh(t)->e_entry = -0x10ull;
}

FIXTURE(refuse) {
	struct t_elf t;
};

FIXTURE_VARIANT(refuse) {
	void (*mutate)(struct t_elf *t);
	int error;
	const char *msg;
};

#define REFUSE(name, fn, err, text) \
	FIXTURE_VARIANT_ADD(refuse, name) { .mutate = fn, .error = err, .msg = text }

REFUSE(bad_magic, m_bad_magic, ENOEXEC, "not an ELF file (bad magic)");
REFUSE(elf32, m_class32, ENOEXEC, "not a 64-bit ELF file (class 1)");
REFUSE(big_endian, m_big_endian, ENOEXEC,
       "not little-endian (data encoding 2)");
REFUSE(ident_version, m_ident_version, ENOEXEC, "unknown ELF version 0");
REFUSE(foreign_osabi, m_osabi, ENOEXEC,
       "unsupported OS ABI 9 (want System V or GNU/Linux)");
REFUSE(abi_version, m_abiversion, ENOEXEC, "unsupported ABI version 1");
REFUSE(relocatable, m_rel, ENOEXEC,
       "not an executable (e_type 1; want ET_EXEC or static-PIE ET_DYN)");
REFUSE(foreign_machine, m_machine, ENOEXEC,
       "wrong machine 183 (want x86-64, 62)");
REFUSE(header_version, m_version, ENOEXEC, "unknown e_version 0");
REFUSE(header_size, m_ehsize, ENOEXEC, "bad ELF header size 52 (want 64)");
REFUSE(phdr_size, m_phentsize, ENOEXEC,
       "bad program header size 32 (want 56)");
REFUSE(no_phdrs, m_phnum0, ENOEXEC, "no program headers");
REFUSE(too_many_phdrs, m_phnum17, ENOEXEC,
       "too many program headers: 17 (limit 16)");
REFUSE(phdrs_misaligned, m_phoff_odd, ENOEXEC,
       "program header table misaligned (offset 68 not a multiple of 8)");
REFUSE(phdrs_over_header, m_phoff0, ENOEXEC,
       "program header table overlaps the ELF header (offset 0)");
REFUSE(phdrs_past_end, m_phoff_end, ENOEXEC,
       "program header table beyond end of file (offset 8320 + 56*3 > 8448)");
REFUSE(phdrs_offset_wraps, m_phoff_huge, ENOEXEC,
       "program header table beyond end of file (offset 18446744073709551608 + 56*3 > 8448)");
REFUSE(truncated_header, m_len40, ENOEXEC,
       "truncated: 40 bytes, an ELF header needs 64");
REFUSE(truncated_segment, m_len_cut, ENOEXEC,
       "segment 1: contents beyond end of file (offset 8192 + 16 > 8200)");
REFUSE(file_too_large, m_len_huge, EFBIG,
       "file too large: 268435457 bytes, the limit is 268435456");
REFUSE(segment_offset_wraps, m_offset_huge, ENOEXEC,
       "segment 0: contents beyond end of file (offset 18446744073709551360 + 32 > 8448)");
REFUSE(writable_executable, m_wx, ENOEXEC,
       "segment 1: writable and executable");
REFUSE(interpreter, m_interp, ENOEXEC,
       "segment 2: PT_INTERP: dynamically linked (needs an interpreter); link with -static");
REFUSE(tls, m_tls, ENOEXEC,
       "segment 2: PT_TLS: thread-local storage is not part of the pith ABI");
REFUSE(executable_stack, m_xstack, ENOEXEC,
       "segment 2: executable stack (PT_GNU_STACK with PF_X)");
REFUSE(needed_library, m_needed, ENOEXEC,
       "segment 2: dynamically linked: needs shared library 'libc.so.6' (DT_NEEDED); link with -static");
REFUSE(needed_library_unnamed, m_needed_nostr, ENOEXEC,
       "segment 2: dynamically linked: needs a shared library (DT_NEEDED); link with -static");
REFUSE(dynamic_past_end, m_dynamic_end, ENOEXEC,
       "segment 2: PT_DYNAMIC beyond end of file (offset 8320 + 256 > 8448)");
REFUSE(filesz_over_memsz, m_filesz, ENOEXEC,
       "segment 0: p_filesz 0x40 > p_memsz 0x20");
REFUSE(empty_segment, m_empty, ENOEXEC, "segment 1: empty (p_memsz 0)");
REFUSE(align_not_power_of_two, m_align, ENOEXEC,
       "segment 0: p_align 0x1800 is not a power of two");
REFUSE(offset_not_congruent, m_congruent, ENOEXEC,
       "segment 1: p_offset 0x2000 and p_vaddr 0x402008 not congruent modulo p_align 0x1000");
REFUSE(offset_not_page_congruent, m_page_congruent, ENOEXEC,
       "segment 1: p_offset 0x2000 and p_vaddr 0x402008 not congruent modulo the page size");
REFUSE(address_wraps, m_vaddr_wrap, ENOEXEC,
       "segment 1: address overflow (p_vaddr 0xfffffffffffff000 + p_memsz 0x1800)");
REFUSE(below_image_range, m_below, ENOEXEC,
       "segment 0: outside the image range (0x1000-0x1020 not within [0x10000, 0x100000000000))");
REFUSE(above_image_range, m_above, ENOEXEC,
       "segment 1: outside the image range (0xffffffff000-0x100000000800 not within [0x10000, 0x100000000000))");
REFUSE(overlapping_segments, m_overlap, ENOEXEC,
       "segments 0 and 1 overlap (0x401000-0x401020 and 0x401000-0x402800)");
REFUSE(segments_share_a_page, m_share, ENOEXEC,
       "segments 0 and 1 share the page at 0x401000; link with -z separate-code");
REFUSE(no_load_segment, m_noload, ENOEXEC, "no PT_LOAD segment");
REFUSE(entry_in_data, m_entry_data, ENOEXEC,
       "entry point 0x402000 not inside an executable segment");
REFUSE(entry_past_code, m_entry_past, ENOEXEC,
       "entry point 0x401020 not inside an executable segment");
REFUSE(image_too_large, m_huge_bss, EFBIG,
       "image too large: 4294971392 bytes of segments, the limit is 4294967296");
REFUSE(pie_entry_wraps, m_pie_entry_wrap, ENOEXEC,
       "entry point 0xfffffffffffffff0 overflows");

FIXTURE_SETUP(refuse)
{
	t_elf_exec(&self->t);
}

FIXTURE_TEARDOWN(refuse)
{
}

TEST_F(refuse, with_exact_message)
{
	struct elf_image *img = NULL;
	struct err e = { "" };

	/* The unmutated image loads: the refusal is due to the mutation. */
	ASSERT_EQ(0, t_load(&self->t, &img, &e)) TH_LOG("%s", e.msg);
	img = elf_image_free(img);

	variant->mutate(&self->t);
	EXPECT_EQ(-variant->error, t_load(&self->t, &img, &e));
	EXPECT_NULL(img);
	EXPECT_STREQ(variant->msg, e.msg);
}

/* ---- files ---- */

FIXTURE(files) {
	char *dir;
	int dirfd;
};

/* Both fixtures' directory: a fresh one and a descriptor of it. */
static void t_dir_open(char **ret_dir, int *ret_fd)
{
	*ret_dir = t_tmpdir();
	ASSERT_NE(NULL, *ret_dir);
	*ret_fd = open(*ret_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	ASSERT_LE(0, *ret_fd);
}

static void t_dir_close(char *dir, int fd)
{
	if (fd >= 0)
		close(fd);
	if (dir)
		t_rm_rf(dir);
	free(dir);
}

FIXTURE_SETUP(files)
{
	t_dir_open(&self->dir, &self->dirfd);
}

FIXTURE_TEARDOWN(files)
{
	t_dir_close(self->dir, self->dirfd);
}

/* Compile src with cc and the extra flags into dir/name. */
static void t_cc(const char *dir, const char *name, const char *src,
		 const char *const *flags)
{
	_cleanup_free_ char *c = t_strdupf("%s/%s.c", dir, name);
	_cleanup_free_ char *out = t_strdupf("%s/%s", dir, name);
	_cleanup_free_ char *err = NULL;
	char *argv[32] = { "cc", "-O2", "-static", "-nostdlib",
			   "-fno-stack-protector", "-Wl,-z,noexecstack" };
	size_t n = 6;
	int status = 0;

	for (; *flags; flags++)
		argv[n++] = (char *)*flags;
	argv[n++] = "-o";
	argv[n++] = out;
	argv[n++] = c;
	argv[n] = NULL;
	ASSERT_EQ(0, t_write_file(c, src, strlen(src)));
	ASSERT_EQ(0, t_run(argv, NULL, &err, &status));
	ASSERT_EQ(0, status) TH_LOG("cc: %s", err);
}

static const char t_function_src[] =
	"static volatile int seven = 7;\n"
	"static volatile int zero[8192];\n"
	"const char greeting[] = \"hi\";\n"
	"void _start(void)\n"
	"{\n"
	"	long code = seven + zero[8000] + greeting[2];\n"
	"	__asm__ volatile(\"syscall\" :: \"a\"(231), \"D\"(code));\n"
	"	for (;;)\n"
	"		;\n"
	"}\n";

/* The link layouts a compute function comes in. */
FIXTURE(cc) {
	char *dir;
	int dirfd;
};

FIXTURE_VARIANT(cc) {
	const char *flags[4];
	bool pie;
};

FIXTURE_VARIANT_ADD(cc, exec) {
	.flags = { "-no-pie", "-Wl,-z,separate-code" },
};
/* Headers and code in one R+X segment, entry not page-aligned. */
FIXTURE_VARIANT_ADD(cc, exec_noseparate_code) {
	.flags = { "-no-pie", "-Wl,-z,noseparate-code" },
};
FIXTURE_VARIANT_ADD(cc, static_pie) {
	.flags = { "-static-pie", "-fPIE" },
	.pie = true,
};

FIXTURE_SETUP(cc)
{
	t_dir_open(&self->dir, &self->dirfd);
}

FIXTURE_TEARDOWN(cc)
{
	t_dir_close(self->dir, self->dirfd);
}

TEST_F(cc, static_binary_loads_and_runs)
{
	struct elf_image *img = NULL;
	struct err e = { "" };
	int status;

	t_cc(self->dir, "fn", t_function_src, variant->flags);
	ASSERT_EQ(0, elf_image_load(self->dirfd, "fn", &img, &e))
		TH_LOG("%s", e.msg);
	EXPECT_NULL(elf_check_image(img));
	if (variant->pie)
		EXPECT_LE(PITH_PIE_BASE, img->lo);
	else
		EXPECT_GT(PITH_PIE_BASE, img->hi);
	status = t_run_image(img);
	ASSERT_TRUE(WIFEXITED(status)) TH_LOG("wait status %#x", status);
	EXPECT_EQ(7, WEXITSTATUS(status));
	elf_image_free(img);
}

TEST_F(files, dynamically_linked_binary_is_refused_for_its_interpreter)
{
	struct elf_image *img = NULL;
	struct err e = { "" };

	EXPECT_EQ(-ENOEXEC, elf_image_load(AT_FDCWD, "/bin/true", &img, &e));
	EXPECT_NULL(img);
	EXPECT_NE(NULL, strstr(e.msg, ": PT_INTERP: dynamically linked"))
		TH_LOG("message: %s", e.msg);
	EXPECT_EQ(0, strncmp(e.msg, "segment ", 8)) TH_LOG("%s", e.msg);
}

TEST_F(files, non_regular_files_are_refused_without_blocking)
{
	struct elf_image *img = NULL;
	struct err e = { "" };

	ASSERT_EQ(0, mkfifoat(self->dirfd, "fifo", 0600));
	EXPECT_EQ(-ENOEXEC, elf_image_load(self->dirfd, "fifo", &img, &e));
	EXPECT_STREQ("not a regular file", e.msg);
	EXPECT_EQ(-ENOEXEC, elf_image_load(AT_FDCWD, "/dev/null", &img, &e));
	EXPECT_STREQ("not a regular file", e.msg);
	EXPECT_EQ(-ENOEXEC, elf_image_load(self->dirfd, ".", &img, &e));
	EXPECT_STREQ("not a regular file", e.msg);
	EXPECT_EQ(-ENOENT, elf_image_load(self->dirfd, "missing", &img, &e));
	EXPECT_STREQ("cannot open: No such file or directory", e.msg);
	EXPECT_NULL(img);
}

TEST_F(files, empty_file_is_refused_as_truncated)
{
	_cleanup_free_ char *path = t_strdupf("%s/empty", self->dir);
	struct elf_image *img = NULL;
	struct err e = { "" };

	ASSERT_EQ(0, t_write_file(path, "", 0));
	EXPECT_EQ(-ENOEXEC, elf_image_load(self->dirfd, "empty", &img, &e));
	EXPECT_STREQ("truncated: 0 bytes, an ELF header needs 64", e.msg);
	EXPECT_NULL(img);
}

TEST_F(files, file_longer_than_its_stat_size_is_refused)
{
	struct elf_image *img = NULL;
	struct err e = { "" };

	/* procfs files are regular, report size 0 and yield bytes. */
	EXPECT_EQ(-EIO, elf_image_load(AT_FDCWD, "/proc/self/status", &img,
				       &e));
	EXPECT_STREQ("file grew while being read", e.msg);
	EXPECT_NULL(img);
}

TEST_F(files, oversized_file_is_refused_before_reading)
{
	struct elf_image *img = NULL;
	struct err e = { "" };
	_cleanup_close_ int fd = -1;

	fd = openat(self->dirfd, "big", O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, ftruncate(fd, (off_t)ELF_MAX_FILE_SIZE + 1));
	EXPECT_EQ(-EFBIG, elf_image_load(self->dirfd, "big", &img, &e));
	EXPECT_STREQ("file too large: 268435457 bytes, the limit is 268435456",
		     e.msg);
	EXPECT_NULL(img);
}

/* ---- random mutations ---- */

static uint64_t t_rand(uint64_t *s)
{
	/* xorshift64*: fixed seed, same sequence on every run. */
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545f4914f6cdd1dull;
}

static const uint64_t t_interesting[] = {
	0, 1, 8, 0x38, 0x40, 0xfff, 0x1000, 0x1001, 0x1800, 0x2000, 0x2100,
	0x10000, 0x400000, 0x401000, 0x402000, PITH_PIE_BASE,
	PITH_IMAGE_MAX - 0x1000, PITH_IMAGE_MAX, 1ull << 32, 1ull << 63,
	-0x1000ull, -1ull, 0x7fffffffffffffffull,
};

static void t_mutate(struct t_elf *t, uint64_t *seed)
{
	const size_t hdr = sizeof(Elf64_Ehdr) + 4 * sizeof(Elf64_Phdr);
	unsigned n = 1 + t_rand(seed) % 4;

	while (n--) {
		uint64_t r = t_rand(seed), v;
		size_t at;

		switch (r % 6) {
		case 0: /* a random byte in the headers */
			t->buf[(r >> 8) % hdr] = (uint8_t)(r >> 32);
			break;
		case 1: /* an interesting value in an aligned header field */
			at = ((r >> 8) % (hdr / 8)) * 8;
			v = t_interesting[(r >> 32) % ARRAY_SIZE(t_interesting)];
			if (r & (1ull << 40))
				v += (r >> 48) & 0xff;
			memcpy(t->buf + at, &v, (r & (1ull << 41)) ? 4 : 8);
			break;
		case 2: /* a bit flip anywhere */
			if (!t->len)
				break;
			at = (r >> 8) % t->len;
			t->buf[at] ^= (uint8_t)(1u << ((r >> 32) % 8));
			break;
		case 3: /* a truncation */
			t->len = (r >> 8) % (t->len + 1);
			break;
		case 4: /* a program header type */
			v = (r >> 32) % 8;
			ph(t, (r >> 8) % 4)->p_type = v == 7 ? PT_GNU_STACK : (uint32_t)v;
			break;
		default: /* program header flags */
			ph(t, (r >> 8) % 4)->p_flags = (uint32_t)(r >> 32) % 8;
			break;
		}
	}
}

TEST_TIMEOUT(random_mutations_never_yield_an_unsound_image, 300)
{
	uint64_t seed = 0x9e3779b97f4a7c15ull;
	unsigned accepted = 0, refused = 0;
	struct t_elf base[3], t;

	t_elf_exec(&base[0]);
	t_elf_build(&base[1], ET_DYN, 0);
	t_elf_exec(&base[2]);
	t_add_dynamic(&base[2], false, true);
	eh(&base[2])->e_phnum = 4;
	*ph(&base[2], 3) = (Elf64_Phdr){ .p_type = PT_GNU_STACK,
					 .p_flags = PF_R | PF_W };

	for (unsigned i = 0; i < 100000; i++) {
		struct elf_image *img = NULL;
		struct err e = { "" };
		const char *bad;
		int r;

		t = base[i % ARRAY_SIZE(base)];
		t_mutate(&t, &seed);
		r = elf_image_load_mem(t.buf, t.len, &img, &e);
		if (r < 0) {
			ASSERT_NULL(img);
			ASSERT_NE(0, e.msg[0]) TH_LOG("iteration %u", i);
			ASSERT_NULL(strchr(e.msg, '\n'));
			refused++;
			continue;
		}
		ASSERT_EQ(0, r);
		bad = elf_check_image(img);
		ASSERT_NULL(bad) TH_LOG("iteration %u: %s", i, bad);
		accepted++;
		elf_image_free(img);
	}
	TH_LOG("accepted %u, refused %u", accepted, refused);
	/* Both sides of the loader were exercised. */
	EXPECT_LT(1000, accepted);
	EXPECT_LT(1000, refused);
}

TEST_HARNESS_MAIN
