// SPDX-License-Identifier: MIT
/*
 * pithd's jobs: accepting a submission (its files stored content-addressed,
 * its record durable before the id is returned), choosing the next job
 * fairly across uids, running it with the engine on a runner thread, and
 * recording the outcome; recovery after a crash and the TTL sweep.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "daemon/daemon.h"
#include "daemon/log.h"
#include "daemon/wire.h"
#include "engine/engine.h"
#include "iofuncs/iofuncs.h"
#include "job/job.h"
#include "sandbox/sandbox.h"

const double hist_bounds[HIST_BUCKETS] = { 0.001, 0.0025, 0.005, 0.01, 0.025,
					   0.05,  0.1,	  0.25,	 0.5,  1,
					   2.5,	  5,	  10,	 60 };

void hist_add(struct histogram *h, double s)
{
	size_t i = 0;

	while (i < HIST_BUCKETS && s > hist_bounds[i])
		i++;
	h->count[i]++;
	h->sum += s;
	h->n++;
}

int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int rm_rf_at(int at, const char *name)
{
	int fd = openat(at, name,
			O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	DIR *dir;
	struct dirent *de;

	if (fd < 0) {
		if (errno == ENOTDIR || errno == ELOOP)
			return unlinkat(at, name, 0) < 0 ? -errno : 0;
		return errno == ENOENT ? 0 : -errno;
	}
	dir = fdopendir(fd);
	if (!dir) {
		close(fd);
		return -errno;
	}
	while ((de = readdir(dir))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (de->d_type == DT_DIR)
			rm_rf_at(dirfd(dir), de->d_name);
		else
			unlinkat(dirfd(dir), de->d_name, 0);
	}
	closedir(dir);
	return unlinkat(at, name, AT_REMOVEDIR) < 0 && errno != ENOENT ?
		       -errno :
		       0;
}

struct user_stat *jobs_user(struct daemon *d, uid_t uid)
{
	struct user_stat *u;

	for (size_t i = 0; i < d->n_users; i++)
		if (d->users[i].uid == uid)
			return &d->users[i];
	u = realloc(d->users, (d->n_users + 1) * sizeof(*u));
	if (!u)
		return NULL;
	d->users = u;
	u = &d->users[d->n_users++];
	*u = (struct user_stat){ .uid = uid };
	return u;
}

struct job_entry *jobs_find(struct daemon *d, const char *id)
{
	for (size_t i = 0; i < d->n_jobs; i++)
		if (!strcmp(d->jobs[i]->r.id, id))
			return d->jobs[i];
	return NULL;
}

static bool finished(enum jstate s)
{
	return s == J_DONE || s == J_FAILED || s == J_CANCELLED;
}

static int jobs_add(struct daemon *d, struct job_entry *j)
{
	struct user_stat *u = jobs_user(d, j->r.uid);

	if (!u)
		return -ENOMEM;
	if (d->n_jobs == d->cap_jobs) {
		size_t cap = d->cap_jobs ? 2 * d->cap_jobs : 64;
		struct job_entry **n = realloc(d->jobs, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		d->jobs = n;
		d->cap_jobs = cap;
	}
	d->jobs[d->n_jobs++] = j;
	u->bytes += j->r.bytes;
	if (!finished(j->r.state)) {
		u->unfinished++;
		d->queued++;
	}
	return 0;
}

static void jrec_done(struct jrec *r)
{
	free(r->error);
	free(r->job);
	free(r->blobs);
	free(r->report);
}

/* Is blob `hex` referenced by a job other than `skip`? */
static bool blob_used(struct daemon *d, const char *hex,
		      const struct job_entry *skip)
{
	for (size_t i = 0; i < d->n_jobs; i++)
		if (d->jobs[i] != skip && d->jobs[i]->r.blobs &&
		    strstr(d->jobs[i]->r.blobs, hex))
			return true;
	return false;
}

/* Unlink the blobs of `blobs` that no job other than `skip` uses. */
static void blobs_release(struct daemon *d, const char *blobs,
			  const struct job_entry *skip)
{
	char hex[WIRE_SHA256_HEX], path[128];

	for (const char *p = blobs; p && *p;) {
		size_t n = strcspn(p, " ");

		if (n == WIRE_SHA256_HEX - 1) {
			memcpy(hex, p, n);
			hex[n] = 0;
			if (!blob_used(d, hex, skip)) {
				snprintf(path, sizeof(path), "blobs/%s", hex);
				unlinkat(d->state_fd, path, 0);
			}
		}
		p += n;
		p += *p == ' ';
	}
}

/* Under d->lock: forget job i and every file it had. */
static void job_delete(struct daemon *d, size_t i)
{
	struct job_entry *j = d->jobs[i];
	struct user_stat *u = jobs_user(d, j->r.uid);
	char path[64];
	struct err e = {};

	if (db_delete(d->db, j->r.id, &e) < 0) {
		log_msg(LOG_ERR, "%s", e.msg);
		return;
	}
	snprintf(path, sizeof(path), "results/%s", j->r.id);
	rm_rf_at(d->state_fd, path);
	blobs_release(d, j->r.blobs, j);
	if (u)
		u->bytes -= j->r.bytes;
	memmove(d->jobs + i, d->jobs + i + 1,
		(d->n_jobs - i - 1) * sizeof(*d->jobs));
	d->n_jobs--;
	log_msg(LOG_INFO, "job %s: removed (uid %u)", j->r.id,
		(unsigned)j->r.uid);
	jrec_done(&j->r);
	free(j);
}

void jobs_sweep(struct daemon *d)
{
	int64_t now = now_ms();

	for (size_t i = d->n_jobs; i-- > 0;) {
		const struct jrec *r = &d->jobs[i]->r;

		if (!finished(r->state))
			continue;
		if ((r->fetched_ms &&
		     now - r->fetched_ms >= (int64_t)d->cfg.fetched_ttl_ms) ||
		    now - r->finished_ms >= (int64_t)d->cfg.result_ttl_ms)
			job_delete(d, i);
	}
}

/* ---- submission ---- */

static int write_blob(struct daemon *d, const char *hex,
		      const unsigned char *data, size_t len, struct err *e)
{
	char path[128], tmp[128];
	int fd;

	snprintf(path, sizeof(path), "blobs/%s", hex);
	if (faccessat(d->state_fd, path, F_OK, 0) == 0)
		return 0;
	snprintf(tmp, sizeof(tmp), "blobs/.tmp-%s-%ld", hex,
		 (long)gettid());
	fd = openat(d->state_fd, tmp,
		    O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
		    0600);
	if (fd < 0)
		return err_set(e, errno, "state: %s: %m", tmp);
	for (size_t off = 0; off < len;) {
		ssize_t n = write(fd, data + off, len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			int r = err_set(e, n < 0 ? errno : EIO,
					"state: write %s: %m", tmp);

			close(fd);
			unlinkat(d->state_fd, tmp, 0);
			return r;
		}
		off += (size_t)n;
	}
	if (fsync(fd) < 0 || close(fd) < 0 ||
	    renameat(d->state_fd, tmp, d->state_fd, path) < 0) {
		int r = err_set(e, errno, "state: %s: %m", path);

		unlinkat(d->state_fd, tmp, 0);
		return r;
	}
	return 0;
}

struct submission {
	json_t *files;
	char *blobs;	/* "hex hex ..." */
	size_t blobs_len;
	uint64_t bytes;
};

/* Replace the path string `v` (a key of s->files) by "blobs/<hex>". */
static int rewrite_path(struct daemon *d, struct submission *s, json_t *v,
			const char *where, struct err *e)
{
	const char *path = json_string_value(v), *b64;
	json_t *f;
	unsigned char *data;
	size_t len;
	char hex[WIRE_SHA256_HEX], blob[80];
	int r;

	if (!path)
		return 0; /* the job validation names it */
	f = json_object_get(s->files, path);
	b64 = json_string_value(f);
	if (!b64)
		return err_set(e, EINVAL,
			       "%s: '%s' is not in the request's \"files\" (the client sends every file a job names; pithd opens none of its paths)",
			       where, path);
	if (wire_b64_decode(b64, json_string_length(f), &data, &len) < 0)
		return err_set(e, EINVAL, "files.%s: not valid base64", path);
	wire_sha256_hex(data, len, hex);
	r = write_blob(d, hex, data, len, e);
	free(data);
	if (r < 0)
		return r;
	if (!strstr(s->blobs ? s->blobs : "", hex)) {
		char *n = realloc(s->blobs, s->blobs_len + WIRE_SHA256_HEX + 1);

		if (!n)
			return err_set(e, ENOMEM, "out of memory");
		s->blobs = n;
		s->blobs_len += (size_t)sprintf(n + s->blobs_len, "%s%s",
						s->blobs_len ? " " : "", hex);
		s->bytes += len;
	}
	snprintf(blob, sizeof(blob), "blobs/%s", hex);
	json_string_set(v, blob);
	return 0;
}

static int rewrite_job(struct daemon *d, struct submission *s, json_t *job,
		       struct err *e)
{
	const char *k;
	json_t *v, *st;
	size_t i;
	int r;

	json_object_foreach(json_object_get(job, "functions"), k, v)
	{
		char where[128];

		snprintf(where, sizeof(where), "functions.%.64s.binary", k);
		r = rewrite_path(d, s, json_object_get(v, "binary"), where, e);
		if (r < 0)
			return r;
	}
	json_object_foreach(json_object_get(job, "inputs"), k, v)
	{
		json_t *it;

		json_array_foreach(v, i, it)
		{
			char where[128];

			if (!json_object_get(it, "file"))
				continue;
			snprintf(where, sizeof(where), "inputs.%.64s[%zu].file",
				 k, i);
			r = rewrite_path(d, s, json_object_get(it, "file"),
					 where, e);
			if (r < 0)
				return r;
		}
	}
	json_array_foreach(json_object_get(job, "stages"), i, st)
	{
		const char *io = json_string_value(json_object_get(st, "io"));

		if (io && !strncmp(io, "file.", 5))
			return err_set(e, EINVAL,
				       "stages[%zu].io: %s is not available in pithd: it would open paths on the daemon's side; give the files as job inputs, or use pith run",
				       i, io);
	}
	return 0;
}

static int quota_check(struct daemon *d, uid_t uid, uint64_t bytes,
		       struct err *e)
{
	struct user_stat *u = jobs_user(d, uid);
	unsigned unfinished = d->queued + d->running;

	if (!u)
		return err_set(e, ENOMEM, "out of memory"), 503;
	if (unfinished >= d->cfg.max_queued) {
		d->m.rejected_busy++;
		err_set(e, EBUSY,
			"pithd is busy: %u jobs are waiting or running (MaxQueuedJobs=%u); retry later",
			unfinished, d->cfg.max_queued);
		return 503;
	}
	if (u->unfinished >= d->cfg.max_jobs_per_user) {
		d->m.rejected_quota++;
		err_set(e, EDQUOT,
			"uid %u has %u unfinished jobs (MaxJobsPerUser=%u); retry when some have finished",
			(unsigned)uid, u->unfinished, d->cfg.max_jobs_per_user);
		return 429;
	}
	if (u->bytes + bytes > d->cfg.max_bytes_per_user) {
		d->m.rejected_quota++;
		err_set(e, EDQUOT,
			"uid %u would store %llu bytes of job files (MaxBytesPerUser=%llu); fetch or cancel older jobs first",
			(unsigned)uid, (unsigned long long)(u->bytes + bytes),
			(unsigned long long)d->cfg.max_bytes_per_user);
		return 429;
	}
	return 0;
}

int jobs_submit(struct daemon *d, uid_t uid, const char *body, size_t len,
		char ret_id[17], struct err *e)
{
	struct submission s = {};
	json_error_t je;
	json_t *root, *job;
	char *text = NULL;
	struct job *parsed = NULL;
	struct job_entry *j = NULL;
	unsigned char rnd[8];
	int status = 400, r;

	pthread_mutex_lock(&d->lock);
	status = quota_check(d, uid, 0, e);
	pthread_mutex_unlock(&d->lock);
	if (status)
		return status;
	status = 400;

	root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
	if (!root) {
		err_set(e, EINVAL, "request: invalid JSON at line %d: %s",
			je.line, je.text);
		goto out;
	}
	job = json_object_get(root, "job");
	s.files = json_object_get(root, "files");
	if (!json_is_object(job) ||
	    (s.files && !json_is_object(s.files))) {
		err_set(e, EINVAL,
			"request: want {\"job\": {...}, \"files\": {\"path\": \"base64\", ...}}");
		goto out;
	}
	r = rewrite_job(d, &s, job, e);
	if (r < 0) {
		status = r == -EINVAL ? 400 : 500;
		goto out;
	}
	text = json_dumps(job, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
	if (!text) {
		err_set(e, ENOMEM, "out of memory");
		status = 500;
		goto out;
	}
	{
		char dir[300];

		snprintf(dir, sizeof(dir), "%s", d->cfg.state_dir);
		r = job_parse_string(
			text, strlen(text), "job", dir,
			&(struct job_parse_opts){ .io_check = iofuncs_check,
						  .check_files = true },
			&parsed, e);
	}
	if (r < 0) {
		status = r == -ENOMEM ? 500 : 400;
		goto out;
	}

	j = calloc(1, sizeof(*j));
	if (!j) {
		err_set(e, ENOMEM, "out of memory");
		status = 500;
		goto out;
	}
	if (getrandom(rnd, sizeof(rnd), 0) != sizeof(rnd)) {
		err_set(e, errno, "getrandom: %m");
		status = 500;
		goto out;
	}
	for (int i = 0; i < 8; i++)
		sprintf(j->r.id + 2 * i, "%02x", rnd[i]);
	j->r.uid = uid;
	snprintf(j->r.name, sizeof(j->r.name), "%s", parsed->name);
	j->r.state = J_QUEUED;
	j->r.submitted_ms = now_ms();
	j->r.bytes = s.bytes;
	j->r.job = TAKE_PTR(text);
	j->r.blobs = s.blobs ? TAKE_PTR(s.blobs) : strdup("");

	pthread_mutex_lock(&d->lock);
	status = quota_check(d, uid, s.bytes, e);
	if (!status && (r = db_insert(d->db, &j->r, e)) < 0)
		status = 500;
	if (!status && jobs_add(d, j) < 0) {
		db_delete(d->db, j->r.id, NULL);
		err_set(e, ENOMEM, "out of memory");
		status = 500;
	}
	if (!status) {
		d->m.submitted++;
		memcpy(ret_id, j->r.id, 17);
		log_msg(LOG_INFO, "job %s: accepted '%s' from uid %u (%zu bytes of files)",
			j->r.id, j->r.name, (unsigned)uid, (size_t)s.bytes);
		j = NULL;
		status = 201;
		pthread_cond_signal(&d->work);
	} else if (j->r.blobs) {
		blobs_release(d, j->r.blobs, NULL);
	}
	pthread_mutex_unlock(&d->lock);
out:
	if (status == 400)
		d->m.rejected_invalid++; /* a counter: a racy ++ is tolerable */
	if (status != 201 && s.blobs) {
		pthread_mutex_lock(&d->lock);
		blobs_release(d, s.blobs, NULL);
		pthread_mutex_unlock(&d->lock);
	}
	if (j) {
		jrec_done(&j->r);
		free(j);
	}
	job_free(parsed);
	free(text);
	free(s.blobs);
	json_decref(root);
	return status;
}

int jobs_cancel(struct daemon *d, struct job_entry *j)
{
	struct err e = {};

	if (finished(j->r.state))
		return 409;
	if (j->r.state == J_RUNNING) {
		j->cancel = true;
		if (j->stop) /* its instances are killed, nothing is written */
			engine_stop(j->stop);
		return 202;
	}
	j->r.state = J_CANCELLED;
	j->r.finished_ms = now_ms();
	if (db_update(d->db, &j->r, true, &e) < 0)
		log_msg(LOG_ERR, "job %s: %s", j->r.id, e.msg);
	d->queued--;
	jobs_user(d, j->r.uid)->unfinished--;
	d->m.finished[J_CANCELLED]++;
	log_msg(LOG_INFO, "job %s: cancelled while queued", j->r.id);
	return 200;
}

/* ---- running ---- */

/* Under d->lock: the oldest queued job of the uid with the fewest running. */
static struct job_entry *pick(struct daemon *d)
{
	struct job_entry *best = NULL;
	unsigned best_running = ~0u;
	/* By default one runner stays free for another uid's job. */
	unsigned per_user = d->cfg.max_running_per_user ?
				    d->cfg.max_running_per_user :
			    d->cfg.jobs > 1 ? d->cfg.jobs - 1 :
					      1;

	for (size_t i = 0; i < d->n_jobs; i++) {
		struct job_entry *j = d->jobs[i];
		struct user_stat *u;

		if (j->r.state != J_QUEUED)
			continue;
		u = jobs_user(d, j->r.uid);
		if (u->running >= per_user)
			continue;
		if (u->running < best_running) {
			best = j;
			best_running = u->running;
		}
	}
	return best;
}

struct runner {
	struct daemon *d;
	struct sandbox *sb;
	uid_t sb_uid;	/* the owner whose jobs sb serves */
	int64_t idle_since_ms; /* its last job's end (now_ms()) */
};

static void finish(struct daemon *d, struct job_entry *j, enum jstate state,
		   const char *error, char *report)
{
	struct user_stat *u = jobs_user(d, j->r.uid);
	struct err e = {};
	char path[64];
	uint64_t one = 1;

	if (j->cancel) {
		state = J_CANCELLED;
		snprintf(path, sizeof(path), "results/%s", j->r.id);
		rm_rf_at(d->state_fd, path);
		error = "cancelled while running: its instances were killed, nothing was written";
	}
	j->r.state = state;
	j->r.finished_ms = now_ms();
	free(j->r.error);
	j->r.error = error ? strdup(error) : NULL;
	free(j->r.report);
	j->r.report = report;
	/* Lazy unless cancelled: a power cut may lose the outcome, and then
	 * the job runs again (pure functions, the same result) and its
	 * results directory, an orphan, is removed. The results themselves
	 * were synced before their rename (output_commit), the rename before
	 * this record, so a done record never names missing files. */
	if (db_update(d->db, &j->r, state == J_CANCELLED, &e) < 0)
		log_msg(LOG_ERR, "job %s: %s", j->r.id, e.msg);
	d->running--;
	u->running--;
	u->unfinished--;
	d->m.finished[state]++;
	hist_add(&d->m.job_latency,
		 (double)(j->r.finished_ms - j->r.submitted_ms) / 1e3);
	hist_add(&d->m.job_run,
		 (double)(j->r.finished_ms - j->r.started_ms) / 1e3);
	log_msg(state == J_DONE ? LOG_INFO : LOG_NOTICE,
		"job %s: %s in %lld ms%s%s", j->r.id, jstate_name(state),
		(long long)(j->r.finished_ms - j->r.started_ms),
		error ? ": " : "", error ? error : "");
	if (write(d->done_efd, &one, sizeof(one)) < 0)
		log_msg(LOG_WARNING, "eventfd: %m");
}

struct progress_ctx {
	struct daemon *d;
	struct job_entry *j;
};

/* The engine's progress callback, on the runner's thread. */
static void on_progress(void *data, const struct engine_progress *p)
{
	struct progress_ctx *c = data;
	struct job_progress *jp = &c->j->progress;

	pthread_mutex_lock(&c->d->progress_lock);
	jp->valid = true;
	jp->stages_done = p->stages_done;
	jp->n_stages = p->n_stages;
	jp->instances_done = p->instances_done;
	jp->instances_total = p->instances_total;
	jp->bytes_out = p->bytes_out;
	snprintf(jp->stage, sizeof(jp->stage), "%s", p->stage ? p->stage : "");
	pthread_mutex_unlock(&c->d->progress_lock);
}

/* Run one job (not under the lock): the outcome into state/error/report.
 * Runners run theirs at once, each engine_run() on its own loop; `stop`
 * cancels this one alone. */
static enum jstate run_one(struct runner *rn, struct job_entry *j,
			   struct engine_stop *stop, const char *id, uid_t uid,
			   const char *text, char *error, size_t error_size,
			   char **ret_report)
{
	struct progress_ctx pc = { .d = rn->d, .j = j };
	struct daemon *d = rn->d;
	struct job *job = NULL;
	struct engine_report rep = {};
	struct err e = {};
	char tmp[64], final[64], out[600];
	enum jstate state = J_FAILED;
	int r;

	r = job_parse_string(text, strlen(text), "job", d->cfg.state_dir,
			     &(struct job_parse_opts){ .io_check = iofuncs_check,
						       .check_files = true },
			     &job, &e);
	if (r < 0) {
		snprintf(error, error_size, "%s", e.msg);
		return J_FAILED;
	}
	if (rn->sb && rn->sb_uid != uid)
		rn->sb = sandbox_free(rn->sb); /* no warm worker across uids */
	if (!rn->sb) {
		/* Idle warm workers stay for the owner's next job on this
		 * runner (matched by image content: each job loads its own),
		 * at most WarmIdleTime=; never for another uid's. */
		struct sandbox_opts o = {
			.keep_idle = d->cfg.warm_idle_ms > 0,
			.no_drivers = true,
		};

		/* Its leaf in the daemon's, under the daemon's one guard. */
		r = d->guard_sb ? sandbox_new_nested(d->guard_sb, &o, &rn->sb, &e)
				: sandbox_new(&o, &rn->sb, &e);
		if (r < 0) {
			snprintf(error, error_size, "sandbox: %s", e.msg);
			goto out;
		}
		rn->sb_uid = uid;
	}
	snprintf(tmp, sizeof(tmp), "results/.tmp-%s", id);
	snprintf(final, sizeof(final), "results/%s", id);
	snprintf(out, sizeof(out), "%s/%s", d->cfg.state_dir, tmp);
	rm_rf_at(d->state_fd, tmp);
	r = engine_run(job,
		       &(struct engine_opts){ .sandbox = rn->sb,
					      .parallel = d->cfg.parallel,
					      .out_dir = out,
					      .stop = stop,
					      .progress = on_progress,
					      .progress_data = &pc },
		       &rep, &e);
	if (r < 0) {
		snprintf(error, error_size, "%s", e.msg);
	} else if (!rep.ok) {
		snprintf(error, error_size, "%s", rep.error);
	} else {
		int dfd;

		/* All or nothing: the results appear by one rename. */
		if (mkdirat(d->state_fd, tmp, 0700) < 0 && errno != EEXIST) {
			snprintf(error, error_size, "state: %s: %m", tmp);
			goto out;
		}
		rm_rf_at(d->state_fd, final);
		if (renameat(d->state_fd, tmp, d->state_fd, final) < 0) {
			snprintf(error, error_size, "state: %s: %m", final);
			goto out;
		}
		dfd = openat(d->state_fd, "results",
			     O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd >= 0) {
			fsync(dfd);
			close(dfd);
		}
		state = J_DONE;
	}
	if (r == 0) {
		json_t *o = wire_report_to_json(job, &rep);

		*ret_report = json_dumps(o, JSON_COMPACT);
		json_decref(o);
	}
out:
	if (state != J_DONE)
		rm_rf_at(d->state_fd, tmp);
	engine_report_done(&rep);
	job_free(job);
	return state;
}

static void *runner_main(void *arg)
{
	struct runner *rn = arg;
	struct daemon *d = rn->d;

	pthread_mutex_lock(&d->lock);
	for (;;) {
		struct job_entry *j;
		char id[17], error[ERR_MAX + 64] = "", *text, *report = NULL;
		uid_t uid;
		enum jstate state;
		struct err e = {};
		struct user_stat *u;
		struct engine_stop stop = { .fd = -1 };

		while (!d->stopping && !(j = pick(d))) {
			int64_t end = rn->idle_since_ms +
				      (int64_t)d->cfg.warm_idle_ms;
			struct timespec ts = { .tv_sec = end / 1000,
					       .tv_nsec = end % 1000 * 1000000 };

			if (!rn->sb || !sandbox_n_idle(rn->sb)) {
				pthread_cond_wait(&d->work, &d->lock);
			} else if (now_ms() >= end ||
				   pthread_cond_timedwait(&d->work, &d->lock,
							  &ts) == ETIMEDOUT) {
				/* WarmIdleTime= without a job: they end. */
				pthread_mutex_unlock(&d->lock);
				sandbox_end_idle(rn->sb);
				pthread_mutex_lock(&d->lock);
			}
		}
		if (d->stopping)
			break;
		u = jobs_user(d, j->r.uid);
		j->r.state = J_RUNNING;
		j->r.started_ms = now_ms();
		j->r.runs++;
		d->queued--;
		d->running++;
		u->running++;
		/* Lazy: it survives a kill -9 (MaxRuns counts crashes); a
		 * power cut may lose it, and the job is queued again anyway. */
		if (db_update(d->db, &j->r, false, &e) < 0)
			log_msg(LOG_ERR, "job %s: %s", j->r.id, e.msg);
		if (j->r.runs > d->cfg.max_runs) {
			snprintf(error, sizeof(error),
				 "pithd stopped while running this job %u times (MaxRuns=%u); not starting it again",
				 j->r.runs - 1, d->cfg.max_runs);
			finish(d, j, J_FAILED, error, NULL);
			continue;
		}
		memcpy(id, j->r.id, sizeof(id));
		uid = j->r.uid;
		text = strdup(j->r.job);
		if (engine_stop_init(&stop, &e) < 0) {
			log_msg(LOG_ERR, "job %s: %s", id, e.msg);
			free(text);
			text = NULL;
		}
		j->stop = &stop;
		pthread_mutex_lock(&d->progress_lock);
		j->progress = (struct job_progress){};
		pthread_mutex_unlock(&d->progress_lock);
		log_msg(LOG_INFO, "job %s: running '%s' for uid %u (run %u)",
			id, j->r.name, (unsigned)uid, j->r.runs);
		pthread_mutex_unlock(&d->lock);

		if (text)
			state = run_one(rn, j, &stop, id, uid, text, error,
					sizeof(error), &report);
		else
			state = J_FAILED, snprintf(error, sizeof(error),
						   "out of memory");
		free(text);

		pthread_mutex_lock(&d->lock);
		/* Jobs are only deleted when finished: j is still ours. */
		j->stop = NULL;
		engine_stop_done(&stop);
		finish(d, j, state, state == J_DONE ? NULL : error, report);
		rn->idle_since_ms = now_ms();
	}
	pthread_mutex_unlock(&d->lock);
	sandbox_free(rn->sb);
	free(rn);
	return NULL;
}

/* ---- start and stop ---- */

static void load_one(struct jrec *r, void *data)
{
	struct daemon *d = data;
	struct job_entry *j = calloc(1, sizeof(*j));
	struct err e = {};

	if (!j) {
		jrec_done(r);
		return;
	}
	j->r = *r;
	if (j->r.state == J_RUNNING) {
		/* pithd stopped while it ran: pure functions, run it again. */
		j->r.state = J_QUEUED;
		if (db_update(d->db, &j->r, false, &e) < 0)
			log_msg(LOG_ERR, "job %s: %s", j->r.id, e.msg);
		log_msg(LOG_NOTICE, "job %s: was running when pithd stopped; queued again",
			j->r.id);
	}
	if (jobs_add(d, j) < 0) {
		jrec_done(&j->r);
		free(j);
	}
}

/* Files no record names: a submit or a run cut short by a crash. */
static void remove_orphans(struct daemon *d)
{
	static const char *const dirs[] = { "blobs", "results" };

	for (size_t k = 0; k < 2; k++) {
		int fd = openat(d->state_fd, dirs[k],
				O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		DIR *dir = fd >= 0 ? fdopendir(fd) : NULL;
		struct dirent *de;

		if (!dir) {
			safe_close(fd);
			continue;
		}
		while ((de = readdir(dir))) {
			const char *n = de->d_name;
			bool keep;

			if (!strcmp(n, ".") || !strcmp(n, ".."))
				continue;
			if (!strncmp(n, ".tmp-", 5))
				keep = false;
			else if (k == 0)
				keep = blob_used(d, n, NULL);
			else {
				struct job_entry *j = jobs_find(d, n);

				keep = j && j->r.state == J_DONE;
			}
			if (!keep)
				rm_rf_at(dirfd(dir), n);
		}
		closedir(dir);
	}
}

int jobs_start(struct daemon *d, struct err *e)
{
	char path[300];
	int r;

	d->state_fd = open(d->cfg.state_dir,
			   O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (d->state_fd < 0 && errno == ENOENT &&
	    mkdir(d->cfg.state_dir, 0700) == 0)
		d->state_fd = open(d->cfg.state_dir,
				   O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (d->state_fd < 0)
		return err_set(e, errno, "state directory %s: %m",
			       d->cfg.state_dir);
	if ((mkdirat(d->state_fd, "blobs", 0700) < 0 && errno != EEXIST) ||
	    (mkdirat(d->state_fd, "results", 0700) < 0 && errno != EEXIST))
		return err_set(e, errno, "state directory %s: %m",
			       d->cfg.state_dir);
	snprintf(path, sizeof(path), "%s/jobs.sqlite", d->cfg.state_dir);
	r = db_open(path, &d->db, e);
	if (r < 0)
		return r;
	r = db_load(d->db, load_one, d, e);
	if (r < 0)
		return r;
	remove_orphans(d);
	jobs_sweep(d);
	d->done_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (d->done_efd < 0)
		return err_set(e, errno, "eventfd: %m");
	d->runners = calloc(d->cfg.jobs, sizeof(*d->runners));
	if (!d->runners)
		return err_set(e, ENOMEM, "out of memory");
	for (unsigned i = 0; i < d->cfg.jobs; i++) {
		struct runner *rn = calloc(1, sizeof(*rn));

		if (!rn)
			return err_set(e, ENOMEM, "out of memory");
		rn->d = d;
		r = pthread_create(&d->runners[i], NULL, runner_main, rn);
		if (r) {
			free(rn);
			return err_set(e, r, "pthread_create: %s",
				       strerror(r));
		}
		d->n_runners++;
	}
	return 0;
}

void jobs_stop(struct daemon *d)
{
	pthread_mutex_lock(&d->lock);
	d->stopping = true;
	pthread_cond_broadcast(&d->work);
	pthread_mutex_unlock(&d->lock);
	for (unsigned i = 0; i < d->n_runners; i++)
		pthread_join(d->runners[i], NULL);
	d->n_runners = 0;
	for (size_t i = 0; i < d->n_jobs; i++) {
		jrec_done(&d->jobs[i]->r);
		free(d->jobs[i]);
	}
	free(d->jobs);
	free(d->users);
	free(d->runners);
	d->db = db_close(d->db);
	safe_close(d->state_fd);
	safe_close(d->done_efd);
}
