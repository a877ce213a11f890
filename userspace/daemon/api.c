// SPDX-License-Identifier: MIT
/*
 * pithd's HTTP API: routes, ownership checks (a job is seen only by its
 * submitter's uid and root), JSON answers, the Prometheus text.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "daemon/api.h"
#include "daemon/wire.h"

static void answer_json(struct api_answer *a, int status, json_t *o)
{
	a->status = status;
	a->body = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	a->len = a->body ? strlen(a->body) : 0;
	if (a->body) {
		/* End with a newline, as curl users expect. */
		char *b = realloc(a->body, a->len + 2);

		if (b) {
			a->body = b;
			a->body[a->len++] = '\n';
			a->body[a->len] = 0;
		}
	}
	a->type = "application/json";
	json_decref(o);
}

void api_error(struct api_answer *a, int status, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	answer_json(a, status, json_pack("{s:s}", "error", msg));
}

static bool may_see(uid_t uid, const struct job_entry *j)
{
	return uid == 0 || uid == j->r.uid;
}

static void put_time(json_t *o, const char *key, int64_t ms)
{
	if (ms)
		json_object_set_new(o, key, json_integer((json_int_t)ms));
}

/* The short form, as in a list. */
static json_t *job_brief(const struct job_entry *j)
{
	json_t *o = json_pack("{s:s,s:s,s:I,s:s,s:I}", "id", j->r.id, "name",
			      j->r.name, "uid", (json_int_t)j->r.uid, "state",
			      jstate_name(j->r.state), "runs",
			      (json_int_t)j->r.runs);

	put_time(o, "submitted_ms", j->r.submitted_ms);
	put_time(o, "started_ms", j->r.started_ms);
	put_time(o, "finished_ms", j->r.finished_ms);
	if (j->r.error)
		json_object_set_new(o, "error", json_string(j->r.error));
	return o;
}

/* Under d->lock: a running job's progress, as `pith run` shows it. */
static void put_progress(struct daemon *d, const struct job_entry *j,
			 json_t *o)
{
	struct job_progress p;

	pthread_mutex_lock(&d->progress_lock);
	p = j->progress;
	pthread_mutex_unlock(&d->progress_lock);
	if (j->r.state != J_RUNNING || !p.valid)
		return;
	json_object_set_new(
		o, "progress",
		json_pack("{s:I,s:I,s:s,s:I,s:I,s:I}", "stages_done",
			  (json_int_t)p.stages_done, "stages",
			  (json_int_t)p.n_stages, "stage", p.stage,
			  "instances_done", (json_int_t)p.instances_done,
			  "instances_total", (json_int_t)p.instances_total,
			  "bytes_out", (json_int_t)p.bytes_out));
}

/* Under d->lock. */
static json_t *job_status(struct daemon *d, const struct job_entry *j)
{
	json_t *o = job_brief(j), *stages = json_array(), *report = NULL;

	if (j->r.report)
		report = json_loads(j->r.report, 0, NULL);
	if (report) {
		json_t *st;
		size_t i;

		json_array_foreach(json_object_get(report, "stages"), i, st)
		{
			json_t *c = json_object_get(st, "counts");
			json_t *s = json_pack(
				"{s:O,s:s,s:I}", "name",
				json_object_get(st, "name"), "state",
				!json_is_true(json_object_get(st, "ran")) ?
					"not-run" :
				json_is_true(json_object_get(st, "ok")) ?
					"ok" :
					"failed",
				"instances",
				/* As pith run counts them: all of the
				 * stage's, started or not. */
				(json_int_t)MAX(
					json_integer_value(json_object_get(
						st, "n_counted")),
					(json_int_t)json_array_size(
						json_object_get(st,
								"instances"))));

			json_object_update(s, c);
			json_array_append_new(stages, s);
		}
		json_object_set_new(o, "stages", stages);
		json_object_set_new(o, "report", report);
	} else {
		json_t *job = json_loads(j->r.job, 0, NULL), *st;
		size_t i;

		json_array_foreach(json_object_get(job, "stages"), i, st)
			json_array_append_new(
				stages,
				json_pack("{s:O,s:s}", "name",
					  json_object_get(st, "name"), "state",
					  j->r.state == J_QUEUED ? "queued" :
					  j->r.state == J_RUNNING ?
								  "running" :
								  "not-run"));
		json_decref(job);
		json_object_set_new(o, "stages", stages);
		put_progress(d, j, o);
	}
	return o;
}

bool api_job_settled(struct daemon *d, const char *id)
{
	struct job_entry *j = jobs_find(d, id);

	return !j || j->r.state == J_DONE || j->r.state == J_FAILED ||
	       j->r.state == J_CANCELLED;
}

void api_job_status(struct daemon *d, uid_t uid, const char *id,
		    struct api_answer *a)
{
	struct job_entry *j;

	pthread_mutex_lock(&d->lock);
	j = jobs_find(d, id);
	if (j && may_see(uid, j))
		answer_json(a, 200, job_status(d, j));
	else
		api_error(a, 404, "no job %s", id);
	pthread_mutex_unlock(&d->lock);
}

static char *read_at(int dfd, const char *path, size_t *ret_len)
{
	int fd = openat(dfd, path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	struct stat st;
	char *buf = NULL;
	size_t off = 0;

	if (fd < 0)
		return NULL;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
	    (buf = malloc((size_t)st.st_size + 1))) {
		while (off < (size_t)st.st_size) {
			ssize_t n = read(fd, buf + off,
					 (size_t)st.st_size - off);

			if (n <= 0)
				break;
			off += (size_t)n;
		}
		if (off != (size_t)st.st_size) {
			free(buf);
			buf = NULL;
		}
	}
	close(fd);
	*ret_len = off;
	return buf;
}

/* Under d->lock (runners never touch a finished job's files). */
static void job_result(struct daemon *d, struct job_entry *j,
		       struct api_answer *a)
{
	json_t *report, *outs = json_object(), *items;
	const char *name;

	if (j->r.state != J_DONE) {
		json_decref(outs);
		if (j->r.state == J_FAILED || j->r.state == J_CANCELLED)
			api_error(a, 409, "job %s %s%s%s: no result", j->r.id,
				  jstate_name(j->r.state),
				  j->r.error ? ": " : "",
				  j->r.error ? j->r.error : "");
		else
			api_error(a, 409, "job %s is %s: no result yet",
				  j->r.id, jstate_name(j->r.state));
		return;
	}
	report = json_loads(j->r.report ? j->r.report : "{}", 0, NULL);
	json_object_foreach(json_object_get(report, "outputs"), name, items)
	{
		json_t *arr = json_array(), *it;
		size_t i;

		json_array_foreach(items, i, it)
		{
			const char *iname =
				json_string_value(json_object_get(it, "name"));
			char path[1024];
			size_t len;
			char *data, *b64;
			json_t *o;

			snprintf(path, sizeof(path), "results/%s/%s/%s",
				 j->r.id, name, iname ? iname : "");
			data = read_at(d->state_fd, path, &len);
			if (!data) {
				json_decref(arr);
				json_decref(outs);
				json_decref(report);
				api_error(a, 500, "job %s: result file %s: %s",
					  j->r.id, path, strerror(errno));
				return;
			}
			b64 = wire_b64_encode(data, len);
			free(data);
			o = json_pack("{s:s,s:s}", "name", iname, "base64",
				      b64 ? b64 : "");
			free(b64);
			if (json_object_get(it, "key"))
				json_object_set(o, "key",
						json_object_get(it, "key"));
			json_array_append_new(arr, o);
		}
		json_object_set_new(outs, name, arr);
	}
	json_decref(report);
	if (!j->r.fetched_ms) {
		struct err e = {};

		j->r.fetched_ms = now_ms();
		/* Lost to a power cut, it only keeps the result longer. */
		if (db_update(d->db, &j->r, false, &e) < 0)
			fprintf(stderr, "pithd: %s\n", e.msg);
	}
	answer_json(a, 200,
		    json_pack("{s:s,s:s,s:o}", "id", j->r.id, "name",
			      j->r.name, "outputs", outs));
}

static void list_jobs(struct daemon *d, uid_t uid, struct api_answer *a)
{
	json_t *arr = json_array();

	pthread_mutex_lock(&d->lock);
	for (size_t i = 0; i < d->n_jobs; i++)
		if (may_see(uid, d->jobs[i]))
			json_array_append_new(arr, job_brief(d->jobs[i]));
	pthread_mutex_unlock(&d->lock);
	answer_json(a, 200, json_pack("{s:o}", "jobs", arr));
}

static void health(struct daemon *d, struct api_answer *a)
{
	json_t *o;

	pthread_mutex_lock(&d->lock);
	o = json_pack("{s:s,s:s,s:f,s:I,s:I,s:I}", "status",
		      d->stopping ? "stopping" : "ok", "version", PITH_VERSION,
		      "uptime_s", (double)(now_ms() - d->started_ms) / 1e3,
		      "jobs_queued", (json_int_t)d->queued, "jobs_running",
		      (json_int_t)d->running, "runners",
		      (json_int_t)d->n_runners);
	pthread_mutex_unlock(&d->lock);
	json_object_set_new(o, "layers_missing", json_string(d->layers));
	answer_json(a, 200, o);
}

static json_t *hist_json(const struct histogram *h)
{
	json_t *b = json_array();
	uint64_t cum = 0;

	for (int i = 0; i <= HIST_BUCKETS; i++) {
		cum += h->count[i];
		json_array_append_new(
			b, i < HIST_BUCKETS ?
				   json_pack("{s:f,s:I}", "le", hist_bounds[i],
					     "count", (json_int_t)cum) :
				   json_pack("{s:s,s:I}", "le", "+Inf",
					     "count", (json_int_t)cum));
	}
	return json_pack("{s:I,s:f,s:o}", "count", (json_int_t)h->n, "sum",
			 h->sum, "buckets", b);
}

static void metrics_json(struct daemon *d, struct api_answer *a)
{
	json_t *o;

	pthread_mutex_lock(&d->lock);
	o = json_pack(
		"{s:I,s:{s:I,s:I,s:I},s:{s:I,s:I,s:I},s:I,s:I,s:I,s:I,s:o,s:o,s:o}",
		"jobs_submitted", (json_int_t)d->m.submitted, "jobs_rejected",
		"busy", (json_int_t)d->m.rejected_busy, "quota",
		(json_int_t)d->m.rejected_quota, "invalid",
		(json_int_t)d->m.rejected_invalid, "jobs_finished", "done",
		(json_int_t)d->m.finished[J_DONE], "failed",
		(json_int_t)d->m.finished[J_FAILED], "cancelled",
		(json_int_t)d->m.finished[J_CANCELLED], "jobs_queued",
		(json_int_t)d->queued, "jobs_running", (json_int_t)d->running,
		"requests", (json_int_t)d->m.requests, "request_errors",
		(json_int_t)d->m.request_errors, "job_latency_seconds",
		hist_json(&d->m.job_latency), "job_run_seconds",
		hist_json(&d->m.job_run), "request_seconds",
		hist_json(&d->m.request));
	pthread_mutex_unlock(&d->lock);
	answer_json(a, 200, o);
}

static void prom_hist(FILE *f, const char *name, const char *help,
		      const struct histogram *h)
{
	uint64_t cum = 0;

	fprintf(f, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
	for (int i = 0; i < HIST_BUCKETS; i++) {
		cum += h->count[i];
		fprintf(f, "%s_bucket{le=\"%g\"} %llu\n", name, hist_bounds[i],
			(unsigned long long)cum);
	}
	fprintf(f, "%s_bucket{le=\"+Inf\"} %llu\n%s_sum %.6f\n%s_count %llu\n",
		name, (unsigned long long)h->n, name, h->sum, name,
		(unsigned long long)h->n);
}

static void metrics_prometheus(struct daemon *d, struct api_answer *a)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (!f) {
		api_error(a, 500, "out of memory");
		return;
	}
	pthread_mutex_lock(&d->lock);
	fprintf(f,
		"# HELP pithd_jobs_submitted_total Jobs accepted.\n"
		"# TYPE pithd_jobs_submitted_total counter\n"
		"pithd_jobs_submitted_total %llu\n"
		"# HELP pithd_jobs_rejected_total Submissions refused, by reason.\n"
		"# TYPE pithd_jobs_rejected_total counter\n"
		"pithd_jobs_rejected_total{reason=\"busy\"} %llu\n"
		"pithd_jobs_rejected_total{reason=\"quota\"} %llu\n"
		"pithd_jobs_rejected_total{reason=\"invalid\"} %llu\n"
		"# HELP pithd_jobs_finished_total Jobs finished, by state.\n"
		"# TYPE pithd_jobs_finished_total counter\n"
		"pithd_jobs_finished_total{state=\"done\"} %llu\n"
		"pithd_jobs_finished_total{state=\"failed\"} %llu\n"
		"pithd_jobs_finished_total{state=\"cancelled\"} %llu\n"
		"# HELP pithd_jobs Jobs waiting or running now.\n"
		"# TYPE pithd_jobs gauge\n"
		"pithd_jobs{state=\"queued\"} %u\n"
		"pithd_jobs{state=\"running\"} %u\n"
		"# HELP pithd_requests_total API requests answered.\n"
		"# TYPE pithd_requests_total counter\n"
		"pithd_requests_total %llu\n"
		"# HELP pithd_request_errors_total API requests answered with 4xx or 5xx.\n"
		"# TYPE pithd_request_errors_total counter\n"
		"pithd_request_errors_total %llu\n",
		(unsigned long long)d->m.submitted,
		(unsigned long long)d->m.rejected_busy,
		(unsigned long long)d->m.rejected_quota,
		(unsigned long long)d->m.rejected_invalid,
		(unsigned long long)d->m.finished[J_DONE],
		(unsigned long long)d->m.finished[J_FAILED],
		(unsigned long long)d->m.finished[J_CANCELLED], d->queued,
		d->running, (unsigned long long)d->m.requests,
		(unsigned long long)d->m.request_errors);
	prom_hist(f, "pithd_job_latency_seconds",
		  "From submit to finish, per job.", &d->m.job_latency);
	prom_hist(f, "pithd_job_run_seconds", "From start to finish, per job.",
		  &d->m.job_run);
	prom_hist(f, "pithd_request_seconds",
		  "From a request's head to its answer.", &d->m.request);
	pthread_mutex_unlock(&d->lock);
	fclose(f);
	a->status = 200;
	a->body = buf;
	a->len = len;
	a->type = "text/plain; version=0.0.4";
}

static bool valid_id(const char *s, size_t n)
{
	if (n != 16)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

static void job_route(struct daemon *d, uid_t uid,
		      const struct http_request *req, const char *rest,
		      struct api_answer *a)
{
	const char *slash = strchr(rest, '/');
	size_t idlen = slash ? (size_t)(slash - rest) : strlen(rest);
	const char *sub = slash ? slash + 1 : "";
	char id[17], val[32];
	struct job_entry *j;

	if (!valid_id(rest, idlen)) {
		api_error(a, 404, "no job %.*s", (int)MIN(idlen, 64), rest);
		return;
	}
	memcpy(id, rest, 16);
	id[16] = 0;
	pthread_mutex_lock(&d->lock);
	j = jobs_find(d, id);
	if (!j || !may_see(uid, j)) {
		/* Another uid's job is answered as if it did not exist. */
		api_error(a, 404, "no job %s", id);
	} else if (!*sub && !strcmp(req->method, "GET")) {
		if (http_query_get(req->query, "wait", val, sizeof(val)) &&
		    !api_job_settled(d, id)) {
			long s = strtol(val, NULL, 10);

			a->park = true;
			memcpy(a->park_id, id, sizeof(id));
			a->park_deadline_ms =
				now_ms() + 1000 * (s < 0 ? 0 : s > 600 ? 600 : s);
		} else {
			answer_json(a, 200, job_status(d, j));
		}
	} else if (!strcmp(sub, "result") && !strcmp(req->method, "GET")) {
		job_result(d, j, a);
	} else if (!strcmp(sub, "cancel") && !strcmp(req->method, "POST")) {
		int st = jobs_cancel(d, j);

		if (st == 409)
			api_error(a, 409, "job %s is already %s", id,
				  jstate_name(j->r.state));
		else
			answer_json(a, st,
				    json_pack("{s:s,s:s}", "id", id, "state",
					      st == 202 ? "cancelling" :
							  "cancelled"));
	} else if (!*sub || !strcmp(sub, "result") || !strcmp(sub, "cancel")) {
		api_error(a, 405, "%s not allowed on %s", req->method,
			  req->path);
	} else {
		api_error(a, 404, "no such resource: %s", req->path);
	}
	pthread_mutex_unlock(&d->lock);
}

void api_handle(struct daemon *d, uid_t uid, const struct http_request *req,
		const char *body, size_t len, struct api_answer *a)
{
	const char *p = req->path, *m = req->method;
	bool get = !strcmp(m, "GET"), post = !strcmp(m, "POST");

	if (!strcmp(p, "/v1/health")) {
		if (get)
			health(d, a);
		else
			api_error(a, 405, "GET only");
	} else if (!strcmp(p, "/metrics")) {
		if (get)
			metrics_prometheus(d, a);
		else
			api_error(a, 405, "GET only");
	} else if (!strcmp(p, "/v1/metrics")) {
		if (get)
			metrics_json(d, a);
		else
			api_error(a, 405, "GET only");
	} else if (!strcmp(p, "/v1/jobs")) {
		if (post) {
			char id[17];
			struct err e = {};
			int st = jobs_submit(d, uid, body, len, id, &e);

			if (st == 201)
				answer_json(a, 201,
					    json_pack("{s:s,s:s}", "id", id,
						      "state", "queued"));
			else
				api_error(a, st, "%s", e.msg);
			if (st == 429 || st == 503)
				a->retry_after = st == 503 ? 5 : 30;
		} else if (get) {
			list_jobs(d, uid, a);
		} else {
			api_error(a, 405, "GET or POST only");
		}
	} else if (!strncmp(p, "/v1/jobs/", 9)) {
		job_route(d, uid, req, p + 9, a);
	} else if (!strcmp(p, "/v1/test/hang") && post && d->test_faults &&
		   uid == 0) {
		a->hang = true;
		api_error(a, 202, "hanging the main loop (test fault)");
	} else {
		api_error(a, 404, "no such resource: %s", p);
	}
}
