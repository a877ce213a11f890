// SPDX-License-Identifier: MIT
/* Job records in SQLite, WAL mode: durable writes synchronous (db.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "daemon/db.h"

struct db {
	sqlite3 *h;
};

static const char schema[] =
	"CREATE TABLE IF NOT EXISTS jobs ("
	" id TEXT PRIMARY KEY, uid INTEGER NOT NULL, name TEXT NOT NULL,"
	" state INTEGER NOT NULL, submitted INTEGER NOT NULL,"
	" started INTEGER, finished INTEGER, fetched INTEGER,"
	" runs INTEGER NOT NULL DEFAULT 0, bytes INTEGER NOT NULL,"
	" error TEXT, job TEXT NOT NULL, blobs TEXT NOT NULL, report TEXT);";

const char *jstate_name(enum jstate s)
{
	switch (s) {
	case J_QUEUED:
		return "queued";
	case J_RUNNING:
		return "running";
	case J_DONE:
		return "done";
	case J_FAILED:
		return "failed";
	default:
		return "cancelled";
	}
}

static int db_err(struct db *db, struct err *e, const char *what)
{
	return err_set(e, EIO, "sqlite: %s: %s", what, sqlite3_errmsg(db->h));
}

static int exec(struct db *db, const char *sql, struct err *e)
{
	char *msg = NULL;

	if (sqlite3_exec(db->h, sql, NULL, NULL, &msg) != SQLITE_OK) {
		int r = err_set(e, EIO, "sqlite: %s: %s", sql,
				msg ? msg : "error");

		sqlite3_free(msg);
		return r;
	}
	return 0;
}

int db_open(const char *path, struct db **ret, struct err *e)
{
	struct db *db = calloc(1, sizeof(*db));
	int r;

	if (!db)
		return err_set(e, ENOMEM, "out of memory");
	if (sqlite3_open_v2(path, &db->h,
			    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
				    SQLITE_OPEN_FULLMUTEX,
			    NULL) != SQLITE_OK) {
		r = err_set(e, EIO, "sqlite: %s: %s", path,
			    db->h ? sqlite3_errmsg(db->h) : "cannot open");
		db_close(db);
		return r;
	}
	sqlite3_busy_timeout(db->h, 5000);
	r = exec(db, "PRAGMA journal_mode=WAL;", e);
	if (r == 0)
		r = exec(db, "PRAGMA synchronous=FULL;", e);
	if (r == 0)
		r = exec(db, schema, e);
	if (r < 0) {
		db_close(db);
		return r;
	}
	*ret = db;
	return 0;
}

struct db *db_close(struct db *db)
{
	if (db) {
		sqlite3_close(db->h);
		free(db);
	}
	return NULL;
}

static void bind_opt_i64(sqlite3_stmt *st, int i, int64_t v)
{
	if (v)
		sqlite3_bind_int64(st, i, v);
	else
		sqlite3_bind_null(st, i);
}

static void bind_opt_text(sqlite3_stmt *st, int i, const char *s)
{
	if (s)
		sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, i);
}

static int step_done(struct db *db, sqlite3_stmt *st, struct err *e,
		     const char *what)
{
	int rc = sqlite3_step(st);

	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : db_err(db, e, what);
}

int db_insert(struct db *db, const struct jrec *r, struct err *e)
{
	sqlite3_stmt *st;

	if (sqlite3_prepare_v2(db->h,
			       "INSERT INTO jobs (id, uid, name, state, submitted,"
			       " runs, bytes, job, blobs) VALUES (?,?,?,?,?,?,?,?,?)",
			       -1, &st, NULL) != SQLITE_OK)
		return db_err(db, e, "insert");
	sqlite3_bind_text(st, 1, r->id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, r->uid);
	sqlite3_bind_text(st, 3, r->name, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 4, r->state);
	sqlite3_bind_int64(st, 5, r->submitted_ms);
	sqlite3_bind_int(st, 6, (int)r->runs);
	sqlite3_bind_int64(st, 7, (sqlite3_int64)r->bytes);
	sqlite3_bind_text(st, 8, r->job, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 9, r->blobs, -1, SQLITE_STATIC);
	return step_done(db, st, e, "insert");
}

int db_update(struct db *db, const struct jrec *r, bool durable,
	      struct err *e)
{
	sqlite3_stmt *st;
	int ret;

	if (sqlite3_prepare_v2(db->h,
			       "UPDATE jobs SET state=?, started=?, finished=?,"
			       " fetched=?, runs=?, error=?, report=? WHERE id=?",
			       -1, &st, NULL) != SQLITE_OK)
		return db_err(db, e, "update");
	sqlite3_bind_int(st, 1, r->state);
	bind_opt_i64(st, 2, r->started_ms);
	bind_opt_i64(st, 3, r->finished_ms);
	bind_opt_i64(st, 4, r->fetched_ms);
	sqlite3_bind_int(st, 5, (int)r->runs);
	bind_opt_text(st, 6, r->error);
	bind_opt_text(st, 7, r->report);
	sqlite3_bind_text(st, 8, r->id, -1, SQLITE_STATIC);
	/* Under the caller's lock: no other statement runs in between. */
	if (!durable && exec(db, "PRAGMA synchronous=NORMAL;", e) < 0) {
		sqlite3_finalize(st);
		return -EIO;
	}
	ret = step_done(db, st, e, "update");
	if (!durable && exec(db, "PRAGMA synchronous=FULL;", e) < 0)
		ret = -EIO;
	return ret;
}

int db_delete(struct db *db, const char *id, struct err *e)
{
	sqlite3_stmt *st;

	if (sqlite3_prepare_v2(db->h, "DELETE FROM jobs WHERE id=?", -1, &st,
			       NULL) != SQLITE_OK)
		return db_err(db, e, "delete");
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	return step_done(db, st, e, "delete");
}

static char *col_dup(sqlite3_stmt *st, int i)
{
	const unsigned char *s = sqlite3_column_text(st, i);

	return s ? strdup((const char *)s) : NULL;
}

int db_load(struct db *db, void (*fn)(struct jrec *r, void *data), void *data,
	    struct err *e)
{
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(db->h,
			       "SELECT id, uid, name, state, submitted, started,"
			       " finished, fetched, runs, bytes, error, job, blobs,"
			       " report FROM jobs ORDER BY submitted, rowid",
			       -1, &st, NULL) != SQLITE_OK)
		return db_err(db, e, "load");
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct jrec r = {};

		snprintf(r.id, sizeof(r.id), "%s",
			 (const char *)sqlite3_column_text(st, 0));
		r.uid = (uid_t)sqlite3_column_int64(st, 1);
		snprintf(r.name, sizeof(r.name), "%s",
			 (const char *)sqlite3_column_text(st, 2));
		r.state = (enum jstate)sqlite3_column_int(st, 3);
		r.submitted_ms = sqlite3_column_int64(st, 4);
		r.started_ms = sqlite3_column_int64(st, 5);
		r.finished_ms = sqlite3_column_int64(st, 6);
		r.fetched_ms = sqlite3_column_int64(st, 7);
		r.runs = (unsigned)sqlite3_column_int(st, 8);
		r.bytes = (uint64_t)sqlite3_column_int64(st, 9);
		r.error = col_dup(st, 10);
		r.job = col_dup(st, 11);
		r.blobs = col_dup(st, 12);
		r.report = col_dup(st, 13);
		fn(&r, data);
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : db_err(db, e, "load");
}
