/* SPDX-License-Identifier: MIT */
/*
 * Job records in SQLite (WAL). Every write survives a kill -9 of pithd when
 * the call returns (it is in the WAL, in the page cache); a durable one
 * (synchronous=FULL: the WAL fsynced) also survives a power cut, so an id
 * handed to a client does. A lazy write (synchronous=NORMAL) reaches the
 * disk with the next durable one or checkpoint. One connection, used under
 * the caller's lock.
 */
#ifndef PITH_DAEMON_DB_H
#define PITH_DAEMON_DB_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "lib/err.h"

enum jstate { J_QUEUED, J_RUNNING, J_DONE, J_FAILED, J_CANCELLED };

struct jrec {
	char id[17];
	uid_t uid;
	char name[65];
	enum jstate state;
	int64_t submitted_ms, started_ms, finished_ms, fetched_ms; /* 0: not */
	unsigned runs;	/* times started, across restarts */
	uint64_t bytes;	/* stored file bytes (the per-uid quota) */
	char *error;	/* failed: why */
	char *job;	/* the job JSON with paths rewritten to blobs */
	char *blobs;	/* "hex hex ..." of the files it references */
	char *report;	/* finished: wire_report_to_json() text */
};

struct db;

int db_open(const char *path, struct db **ret, struct err *e);
struct db *db_close(struct db *db);
int db_insert(struct db *db, const struct jrec *r, struct err *e);
/* Write the mutable fields (state, times, runs, error, report); lazily
 * unless `durable`. */
int db_update(struct db *db, const struct jrec *r, bool durable,
	      struct err *e);
int db_delete(struct db *db, const char *id, struct err *e);
/* Call fn for every record, oldest first; fn owns the strings it keeps. */
int db_load(struct db *db, void (*fn)(struct jrec *r, void *data), void *data,
	    struct err *e);

const char *jstate_name(enum jstate s);

#endif
