/* SPDX-License-Identifier: MIT */
/*
 * pith compute-function ABI, version 1: the context descriptor that pith
 * writes at the start of a function's context and passes in %rdi.
 * Shared by the sandbox (which writes and validates it) and the SDK.
 * Documented in Documentation/function-abi.md.
 */
#ifndef PITH_ABI_H
#define PITH_ABI_H

#ifdef __KERNEL__
#include <linux/types.h>
#elif defined(PITH_FREESTANDING)
typedef unsigned int __u32;
typedef unsigned short __u16;
typedef unsigned long long __u64;
#else
#include <linux/types.h>
#endif

#define PITH_ABI_MAGIC 0x48544950u /* "PITH" little-endian */
#define PITH_ABI_VERSION 1
/*
 * Minor revisions grow struct pith_context at its end (header_size says how
 * far it goes) and never move a field: a binary built for 1.0 runs on a
 * pith that writes 1.1.
 *   1.1: pith_context.n_args .. time (job "args", "env", "seed", "time")
 *        and pith_context.exit
 *   1.2: pith_context.note (why the SDK ended the instance)
 */
#define PITH_ABI_MINOR 2

/*
 * Fixed layout of a sandbox's address space (x86-64). Everything else is
 * unmapped before the function's first instruction.
 */
#define PITH_IMAGE_MIN 0x10000ull	   /* lowest address a PT_LOAD may use */
#define PITH_IMAGE_MAX 0x100000000000ull   /* end of the function image range */
#define PITH_PIE_BASE 0x10000000ull	   /* load bias of ET_DYN images */
#define PITH_CONTEXT_BASE 0x200000000000ull /* writable context */
#define PITH_INPUT_BASE 0x300000000000ull   /* read-only input buffers */
#define PITH_INPUT_MAX 0x400000000000ull

#define PITH_NAME_MAX 255	/* bytes of an item or set name, NUL excluded */
#define PITH_OUTPUT_ITEMS_MAX 1000000u /* items per output set */
/*
 * Items of at least this many bytes are handed to consumers by mapping
 * their pages (a first or last page shared with other bytes is copied,
 * alone, instead); smaller ones are copied into the consumer. The SDK
 * allocates outputs of this size page-aligned and padded to whole pages,
 * so that no page of theirs needs a copy.
 */
#define PITH_PAGE_SIZE 4096ull
#define PITH_PAGE_ITEM_MIN (64ull << 10)

/* pith_item.flags */
#define PITH_ITEM_KEYED 0x1u

/* One item: a name, an optional key and bytes. 40 bytes. */
struct pith_item {
	__u64 name;	/* address of the name, NUL-terminated */
	__u32 name_len; /* without the NUL */
	__u32 flags;	/* PITH_ITEM_* */
	__u64 key;	/* valid when flags & PITH_ITEM_KEYED */
	__u64 data;	/* address of the bytes */
	__u64 len;	/* number of bytes */
};

/* One set: a named array of items. 24 bytes. */
struct pith_set {
	__u64 name;	/* address of the set's name, NUL-terminated */
	__u32 name_len;
	__u32 n_items;
	__u64 items;	/* address of struct pith_item[n_items] */
};

/*
 * The SDK's note on why it ended an instance with one of its exit statuses
 * (<pith/fn.h>: PITH_EXIT_NOMEM, _NO_OUTPUT, _NO_INPUT, _LIMIT), written
 * into pith_context.note (ABI 1.2) just before exit_group. pith zeroes it
 * before each instance and reads it only when the instance exits with the
 * status it names; it is the function's word, so pith treats it as
 * untrusted: a wrong magic, version or status, a name_len over
 * PITH_NAME_MAX, a name that is not UTF-8 or holds control bytes is
 * ignored (the reason then says only the status). 288 bytes.
 */
#define PITH_NOTE_MAGIC 0x45544f4eu /* "NOTE" little-endian */
#define PITH_NOTE_VERSION 1
struct pith_note {
	__u32 magic;	/* PITH_NOTE_MAGIC */
	__u16 version;	/* PITH_NOTE_VERSION */
	__u16 status;	/* the exit status it explains */
	__u64 asked;	/* PITH_EXIT_NOMEM: bytes asked for */
	__u64 left;	/* PITH_EXIT_NOMEM: bytes the arena had left */
	__u32 name_len; /* bytes of name, at most PITH_NAME_MAX: the set that
			   is not declared (_NO_OUTPUT, _LIMIT) or not given
			   (_NO_INPUT); 0 for none */
	__u32 pad;	/* zero */
	char name[PITH_NAME_MAX + 1]; /* not NUL-terminated when full */
};

/*
 * The context descriptor, at PITH_CONTEXT_BASE. Input sets are filled by
 * pith; output sets have their names filled by pith, and the function sets
 * n_items and items before exit_group(0). Output items' names and data must
 * lie inside the context or inside one input buffer (zero-copy forwarding).
 */
struct pith_context {
	__u32 magic;		/* PITH_ABI_MAGIC */
	__u16 version;		/* PITH_ABI_VERSION */
	__u16 header_size;	/* sizeof(struct pith_context) */
	__u64 context_base;	/* address of this descriptor */
	__u64 context_size;	/* bytes of the writable context, stack included */
	__u64 arena;		/* first byte free for the function's use */
	__u64 arena_size;	/* bytes from arena up to the stack */
	__u64 stack_size;	/* the stack is the top stack_size bytes */
	__u32 n_inputs;
	__u32 n_outputs;
	__u64 inputs;		/* struct pith_set[n_inputs] */
	__u64 outputs;		/* struct pith_set[n_outputs] */
	__u64 instance;		/* index of this instance within its stage */
	__u64 reserved[8];	/* pith's own use (fault reports); zero */
	/* The function's "args", "env", "seed" and "time" from the job file,
	 * for POSIX functions (Documentation/posix-functions.md). */
	__u32 n_args;
	__u32 n_env;
	__u64 args;		/* __u64[n_args]: addresses of NUL-terminated
				   strings, argv[1..] */
	__u64 env;		/* __u64[n_env]: "NAME=value" strings */
	__u64 seed;		/* 0 when the job sets none */
	__u64 time;		/* ns since the epoch; 0 when the job sets none */
	/* 1.1 (header_size >= PITH_CONTEXT_SIZE_1_1): where to jump (not
	 * call) to end the instance, with the status in %edi, after writing
	 * the outputs; 0: end with exit_group(status) as in 1.0. Ending this
	 * way lets pith run the next instance in the same, reset, worker. */
	__u64 exit;
	/* 1.2 (header_size >= PITH_CONTEXT_SIZE_1_2): zero; the SDK's note
	 * when it ends the instance with one of its exit statuses. */
	struct pith_note note;
};

#define PITH_CONTEXT_SIZE_1_0 144u
#define PITH_CONTEXT_SIZE_1_1 192u
#define PITH_CONTEXT_SIZE_1_2 480u

#endif
