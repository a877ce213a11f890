/* SPDX-License-Identifier: MIT */
/*
 * Between the files that turn a parsed job document into a struct job:
 * validate.c (the job, its functions, stages and outputs) and items.c (its
 * input sets).
 */
#ifndef PITH_JOB_VALIDATE_H
#define PITH_JOB_VALIDATE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "job/walk.h"

/* Name tables (name -> index), so that lookups stay cheap in big jobs. */
struct build {
	struct jctx *c;
	struct job *j;
	json_t *functions;
	json_t *sets;
	json_t *stages;
	json_t **outputs; /* per stage */
};

/* validate.c: name -> index into table `t`; 0 or -ENOMEM. */
int job_table_add(json_t *t, const char *name, size_t index);
/* validate.c: object members are named by their key: check it is a name;
 * *ret is a copy. */
int job_key_name(struct jctx *c, const struct jiter *it, const struct jnode *m,
		 const char *what, char **ret);
/* validate.c: a JSON number written as a plain unsigned integer that fits
 * in 64 bits. */
int job_number_u64(struct jctx *c, const struct jnode *n, const char *what,
		   uint64_t *ret);

/* items.c: the "inputs" member, each set's items into b->j->inputs. */
int job_inputs_build(struct build *b, const struct jnode *root);

#endif
