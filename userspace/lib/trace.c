// SPDX-License-Identifier: MIT
/*
 * The Chrome trace-event recorder (lib/trace.h): the probes' events as JSON
 * objects appended to one file, `{"traceEvents":[ ... ]}`, written as they
 * happen through a stdio buffer so a job of any length costs no memory.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/array.h"
#include "lib/clock.h"
#include "lib/probe.h"
#include "lib/trace.h"

bool trace_on;

/* pid of the events that belong to no job: buffers, pith's own reads. */
#define PROC_PITH 0

/* A worker slot: the track an instance is drawn on while it runs. */
struct lane {
	bool busy;
	uint64_t job, named_job; /* named_job: thread_name emitted for it */
	uint32_t stage;
	uint64_t instance;
	uint64_t t_spawned;
	int pid, warm;
	char function[64];
};

static struct {
	pthread_mutex_t lock;
	FILE *f;
	uint64_t t0;
	bool first;
	struct lane *lanes;
	size_t n_lanes, cap_lanes;
	/* Runs of I/O functions in flight, for their job. */
	struct io_run {
		const void *run;
		uint64_t job;
	} *runs;
	size_t n_runs, cap_runs;
	int64_t queued, buffers, bytes;
} tr = { .lock = PTHREAD_MUTEX_INITIALIZER };

static double ts_us(uint64_t t)
{
	return t >= tr.t0 ? (double)(t - tr.t0) / 1000.0 : 0.0;
}

/* A JSON string, escaped; NULL as "". */
static void put_str(const char *s)
{
	fputc('"', tr.f);
	for (; s && *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			fprintf(tr.f, "\\%c", c);
		else if (c < 0x20 || c == 0x7f)
			fprintf(tr.f, "\\u%04x", c);
		else
			fputc(c, tr.f);
	}
	fputc('"', tr.f);
}

/* Opens one event object; the caller adds fields and closes it with "}". */
static void ev_begin(const char *ph, const char *cat, uint64_t pid,
		     uint64_t tid, uint64_t t)
{
	fputs(tr.first ? "\n" : ",\n", tr.f);
	tr.first = false;
	fprintf(tr.f, "{\"ph\":\"%s\",\"cat\":\"%s\",\"pid\":%" PRIu64
		      ",\"tid\":%" PRIu64 ",\"ts\":%.3f",
		ph, cat, pid, tid, ts_us(t));
}

static void meta(const char *what, uint64_t pid, uint64_t tid,
		 const char *fmt_name, const char *a, uint64_t n)
{
	char name[160];

	snprintf(name, sizeof(name), fmt_name, a, n);
	fputs(tr.first ? "\n" : ",\n", tr.f);
	tr.first = false;
	fprintf(tr.f, "{\"ph\":\"M\",\"name\":\"%s\",\"pid\":%" PRIu64
		      ",\"tid\":%" PRIu64 ",\"args\":{\"name\":",
		what, pid, tid);
	put_str(name);
	fputs("}}", tr.f);
}

static void counter(const char *name, const char *key, int64_t v, uint64_t t)
{
	ev_begin("C", "store", PROC_PITH, 0, t);
	fprintf(tr.f, ",\"name\":\"%s\",\"args\":{\"%s\":%" PRId64 "}}", name,
		key, v);
}

int trace_open(const char *path, struct err *e)
{
	int fd;

	if (trace_on)
		return err_set(e, EBUSY, "trace: already recording");
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return err_errno(e, errno, "trace: %s", path);
	pthread_mutex_lock(&tr.lock);
	tr.f = fdopen(fd, "w");
	if (!tr.f) {
		int r = errno;

		pthread_mutex_unlock(&tr.lock);
		close(fd);
		return err_errno(e, r, "trace: %s", path);
	}
	setvbuf(tr.f, NULL, _IOFBF, 1 << 16);
	tr.t0 = clock_now_ns();
	tr.first = true;
	tr.queued = tr.buffers = tr.bytes = 0;
	fputs("{\"displayTimeUnit\":\"ns\",\"traceEvents\":[", tr.f);
	meta("process_name", PROC_PITH, 0, "pith%s", "", 0);
	trace_on = true;
	pthread_mutex_unlock(&tr.lock);
	return 0;
}

int trace_close(struct err *e)
{
	int r = 0;

	pthread_mutex_lock(&tr.lock);
	if (!tr.f) {
		pthread_mutex_unlock(&tr.lock);
		return 0;
	}
	trace_on = false;
	fputs("\n]}\n", tr.f);
	if (ferror(tr.f))
		r = -EIO;
	if (fclose(tr.f) != 0 && !r)
		r = -errno;
	tr.f = NULL;
	free(tr.lanes);
	tr.lanes = NULL;
	tr.n_lanes = tr.cap_lanes = 0;
	free(tr.runs);
	tr.runs = NULL;
	tr.n_runs = tr.cap_runs = 0;
	pthread_mutex_unlock(&tr.lock);
	if (r < 0)
		return err_errno(e, r, "trace: cannot write the trace file");
	return 0;
}

void trace_job(uint64_t job, const char *name, bool start, int status)
{
	uint64_t t = clock_now_ns();

	pthread_mutex_lock(&tr.lock);
	if (!tr.f)
		goto out;
	if (start)
		meta("process_name", job, 0, "job %2$" PRIu64 ": %1$s", name,
		     job);
	ev_begin(start ? "b" : "e", "job", job, 0, t);
	fprintf(tr.f, ",\"id\":\"job%" PRIu64 "\",\"name\":", job);
	put_str(name);
	if (!start)
		fprintf(tr.f, ",\"args\":{\"status\":%d}", status);
	fputs("}", tr.f);
	if (!start && tr.queued) {
		tr.queued = 0;
		counter("queued instances", "instances", 0, t);
	}
out:
	pthread_mutex_unlock(&tr.lock);
}

void trace_stage(uint64_t job, uint32_t stage, const char *name,
		 const char *function, bool start, int status,
		 uint64_t items_out, uint64_t bytes_out)
{
	uint64_t t = clock_now_ns();

	pthread_mutex_lock(&tr.lock);
	if (!tr.f)
		goto out;
	ev_begin(start ? "b" : "e", "stage", job, 0, t);
	fprintf(tr.f, ",\"id\":\"stage%" PRIu64 ".%" PRIu32 "\",\"name\":",
		job, stage);
	put_str(name);
	if (start) {
		fputs(",\"args\":{\"function\":", tr.f);
		put_str(function);
		fputs("}", tr.f);
	} else {
		fprintf(tr.f, ",\"args\":{\"status\":%d,\"items_out\":%" PRIu64
			      ",\"bytes_out\":%" PRIu64 "}",
			status, items_out, bytes_out);
	}
	fputs("}", tr.f);
out:
	pthread_mutex_unlock(&tr.lock);
}

static struct lane *lane_find(uint64_t job, uint32_t stage, uint64_t instance)
{
	for (size_t i = 0; i < tr.n_lanes; i++)
		if (tr.lanes[i].busy && tr.lanes[i].job == job &&
		    tr.lanes[i].stage == stage &&
		    tr.lanes[i].instance == instance)
			return &tr.lanes[i];
	return NULL;
}

static struct lane *lane_take(void)
{
	for (size_t i = 0; i < tr.n_lanes; i++)
		if (!tr.lanes[i].busy)
			return &tr.lanes[i];
	if (ARRAY_GROW(tr.lanes, tr.cap_lanes, tr.n_lanes, 16) < 0)
		return NULL;
	tr.lanes[tr.n_lanes] = (struct lane){};
	return &tr.lanes[tr.n_lanes++];
}

static const char *status_name(int status)
{
	switch (status) {
	case PROBE_OK:
		return "ok";
	case PROBE_FAILED:
		return "failed";
	case PROBE_CANCELLED:
		return "cancelled";
	}
	return "?";
}

static void phase(struct lane *l, uint64_t tid, const char *name, uint64_t a,
		  uint64_t b)
{
	if (b <= a)
		return;
	ev_begin("X", "phase", l->job, tid, a);
	fprintf(tr.f, ",\"dur\":%.3f,\"name\":\"%s\"}", (double)(b - a) / 1000.0,
		name);
}

/* The instance's slice, from when sandbox_spawn() began to now (it is
 * collected), with its phases: start (to the first instruction), run (to
 * the reaping), collect. */
static void inst_done(struct lane *l, const struct probe_inst *info,
		      uint64_t t)
{
	uint64_t tid = (uint64_t)(l - tr.lanes) + 1;
	uint64_t t0 = info->start_ns && info->start_ns <= l->t_spawned ?
			      info->start_ns : l->t_spawned;
	uint64_t t_run = MIN(t0 + info->spawn_ns, t);
	uint64_t t_end = MIN(t_run + info->run_ns, t);

	if (l->named_job != l->job) {
		meta("thread_name", l->job, tid, "worker slot %2$" PRIu64 "%1$s",
		     "", tid - 1);
		l->named_job = l->job;
	}
	ev_begin("X", "instance", l->job, tid, t0);
	fprintf(tr.f, ",\"dur\":%.3f,\"name\":\"%s[%" PRIu64 "]\"",
		(double)(t - t0) / 1000.0, l->function, l->instance);
	fprintf(tr.f, ",\"args\":{\"stage\":%" PRIu32 ",\"instance\":%" PRIu64
		      ",\"pid\":%d,\"warm\":%d,\"status\":\"%s\",\"reason\":%d"
		      ",\"spawn_us\":%.3f,\"run_us\":%.3f,\"error\":",
		l->stage, l->instance, l->pid, l->warm,
		status_name(info->status), info->reason,
		(double)info->spawn_ns / 1000.0, (double)info->run_ns / 1000.0);
	put_str(info->text);
	fputs("}}", tr.f);
	if (info->run_ns) {
		phase(l, tid, "start", t0, t_run);
		phase(l, tid, "run", t_run, t_end);
		phase(l, tid, "collect", t_end, t);
	}
}

void trace_inst_done(const struct probe_inst *info)
{
	uint64_t t = clock_now_ns();
	struct lane *l;

	pthread_mutex_lock(&tr.lock);
	if (tr.f) {
		l = lane_find(info->job, info->stage, info->instance);
		if (l) { /* else never spawned */
			inst_done(l, info, t);
			l->busy = false;
		}
	}
	pthread_mutex_unlock(&tr.lock);
}

void trace_inst(enum trace_inst_event ev, uint64_t job, uint32_t stage,
		uint64_t instance, const char *function, int pid, int warm)
{
	uint64_t t = clock_now_ns();
	struct lane *l;

	pthread_mutex_lock(&tr.lock);
	if (!tr.f)
		goto out;
	switch (ev) {
	case TRACE_INST_QUEUED:
		counter("queued instances", "instances", ++tr.queued, t);
		break;
	case TRACE_INST_SPAWNED:
		if (tr.queued > 0)
			counter("queued instances", "instances", --tr.queued,
				t);
		l = lane_take();
		if (!l)
			break;
		l->busy = true;
		l->job = job;
		l->stage = stage;
		l->instance = instance;
		l->t_spawned = t;
		l->pid = pid;
		l->warm = warm;
		snprintf(l->function, sizeof(l->function), "%s",
			 function ? function : "?");
		break;
	}
out:
	pthread_mutex_unlock(&tr.lock);
}

static const char *own_io_name(int stage)
{
	switch (stage) {
	case PROBE_IO_INPUTS:
		return "job inputs";
	case PROBE_IO_BINARIES:
		return "function binaries";
	case PROBE_IO_HOSTS:
		return "/etc/hosts";
	case PROBE_IO_OUTPUTS:
		return "job outputs";
	}
	return "pith";
}

void trace_io(enum trace_io_event ev, const void *run, const char *function,
	      uint64_t job, int stage, uint64_t index, int err, uint64_t bytes)
{
	uint64_t t = clock_now_ns();
	struct io_run *ir = NULL;
	char name[96];

	pthread_mutex_lock(&tr.lock);
	if (!tr.f)
		goto out;
	for (size_t i = 0; i < tr.n_runs; i++)
		if (tr.runs[i].run == run)
			ir = &tr.runs[i];
	switch (ev) {
	case TRACE_IO_RUN:
		if (!ir && ARRAY_GROW(tr.runs, tr.cap_runs, tr.n_runs, 8) == 0)
			ir = &tr.runs[tr.n_runs++];
		if (ir)
			*ir = (struct io_run){ run, job };
		goto out;
	case TRACE_IO_DONE:
		if (ir)
			*ir = tr.runs[--tr.n_runs];
		goto out;
	case TRACE_IO_ITEM_START:
	case TRACE_IO_ITEM_END:
		break;
	}
	if (stage < 0)
		snprintf(name, sizeof(name), "%s (%s)", function,
			 own_io_name(stage));
	else
		snprintf(name, sizeof(name), "%s", function);
	ev_begin(ev == TRACE_IO_ITEM_START ? "b" : "e", "io",
		 stage < 0 || !ir ? PROC_PITH : ir->job, 0, t);
	fprintf(tr.f, ",\"id\":\"io%p.%" PRIu64 "\",\"name\":", run, index);
	put_str(name);
	if (ev == TRACE_IO_ITEM_START)
		fprintf(tr.f, ",\"args\":{\"stage\":%d,\"item\":%" PRIu64 "}",
			stage, index);
	else
		fprintf(tr.f, ",\"args\":{\"err\":%d,\"bytes\":%" PRIu64 "}",
			err, bytes);
	fputs("}", tr.f);
out:
	pthread_mutex_unlock(&tr.lock);
}

void trace_buffer(int d_buffers, int64_t d_bytes)
{
	uint64_t t = clock_now_ns();

	pthread_mutex_lock(&tr.lock);
	if (!tr.f)
		goto out;
	tr.buffers += d_buffers;
	tr.bytes += d_bytes;
	if (d_buffers)
		counter("buffers in flight", "buffers", tr.buffers, t);
	counter("memory held", "bytes", tr.bytes, t);
out:
	pthread_mutex_unlock(&tr.lock);
}
