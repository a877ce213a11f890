// SPDX-License-Identifier: MIT
/*
 * Running a job's DAG on the io_uring event loop as a stream: an instance
 * starts as soon as the items it takes exist (an `each` instance when its
 * item does; `all` and `keyed` when their sets are complete); compute
 * instances run in sandboxes, at most `parallel` at once; I/O stages run on
 * the loop and fetch ahead within a byte window. A stage's outputs grow in
 * instance order whatever the order of completion (an `each` consumer of an
 * I/O stage takes item j as soon as it arrives, out of order, since it is
 * the producer's instance j's), and an item's buffer is let go as soon as
 * no consumer will take it and it is not a job output.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <malloc.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "engine/ingest.h"
#include "engine/internal.h"
#include "lib/array.h"
#include "lib/clock.h"
#include "lib/macro.h"
#include "lib/nofile.h"
#include "lib/probe.h"

#define PARALLEL_MAX 256

static void cancel_all(struct run *run);

/* An infrastructure error: the job cannot go on. */
void run_error(struct run *run, int r)
{
	if (!run->error)
		run->error = r < 0 ? r : -EIO;
	if (!run->failed) {
		run->failed = true;
		cancel_all(run);
	}
}

/* Instance i failed: why, and how it ended when a sandbox ran it (res:
 * its exit status, signal, syscall and note; NULL: none). */
void run_fail_instance(struct run *run, size_t s, size_t i, const char *reason,
		       const struct sandbox_result *res)
{
	struct stage_report *sr = &run->rep->stages[s];

	if (res)
		instance_set_failed(sr, i, reason, res->exit_status,
				    res->signal, res->syscall, &res->note);
	else
		instance_set_failed(sr, i, reason, 0, 0, -1, NULL);
	sr->ok = false;
	if (!run->failed) {
		struct err first;

		err_set(&first, EIO, "stage %s[%zu]: %s", sr->name, i, reason);
		err_copy(run->rep->error, sizeof(run->rep->error), first.msg);
		run->failed = true;
		cancel_all(run);
	}
}

/* ---- stages */

static bool stage_can_start(const struct stage_run *st)
{
	const struct job_stage *js = stage_of(st);

	for (size_t p = 0; p < js->n_inputs; p++)
		if (!st->in[p]->complete &&
		    !(p == 0 && !js->io && (js->inputs[0].mode == JOB_MODE_EACH ||
					    js->inputs[0].fold)))
			return false;
	return true;
}

/* The final count is known: nothing is reserved for the instances until
 * they start (a cross product of 10^6 builds no state before running). */
static void stage_close(struct stage_run *st)
{
	size_t n;

	if (stage_count(st, &n) < 0)
		return;
	st->n_instances = n;
	st->run->rep->stages[st->s].n_counted = n;
	st->closed = true;
}

static int stage_start(struct stage_run *st)
{
	struct run *run = st->run;
	const struct job_stage *js = stage_of(st);
	struct stage_report *sr = &run->rep->stages[st->s];
	int r;

	st->state = STAGE_RUNNING;
	st->t0 = clock_now_ns();
	sr->ran = true;
	sr->ok = true;
	if (js->io)
		return io_stage_start(st);
	if (!run->opts->sandbox)
		return err_set(run->e, EINVAL, "no sandbox for compute stages");
	st->image = run->images[js->function_index]; /* read by ingest_job() */
	st->fn_name = run->job->functions[js->function_index].name;
	PROBE_STAGE_START(run->id, st->s, js->name, st->fn_name, 0, st->n_instances);
	if (st->fold) { /* numbered by fold_instance() */
		st->d = (struct dist){ .np = js->n_inputs, .per_item = 1 };
		return 0;
	}
	for (size_t p = 0; p < js->n_inputs; p++)
		st->in_sets[p] = st->in[p]->set;
	r = dist_prepare(js, st->in_sets, &st->d);
	if (r < 0)
		return err_errno(run->e, r, "stage %s: cannot distribute inputs", js->name);
	return 0;
}

static bool stage_finished(const struct stage_run *st)
{
	return st->closed && st->collected == st->n_instances &&
	       st->running == 0 && !st->io;
}

static void stage_complete(struct stage_run *st)
{
	struct run *run = st->run;
	const struct job_stage *js = stage_of(st);
	struct stage_report *sr = &run->rep->stages[st->s];

	if (st->fold && st->carry) { /* the last instance's outputs */
		struct set **o = st->carry;
		int r = outs_join(st, o);

		st->carry = NULL;
		outs_free(o, js->n_outputs);
		if (r < 0) {
			run_error(run, err_set(run->e, -r, "out of memory"));
			return;
		}
		for (size_t k = 0; k < js->n_outputs; k++)
			stream_grew(st->out[k]);
	}
	st->state = STAGE_DONE;
	run->stages_done++;
	sr->elapsed_ns = clock_now_ns() - st->t0;
	PROBE_STAGE_END(run->id, st->s, sr->name, sr->ok ? PROBE_OK : PROBE_FAILED, sr->items_out, sr->bytes_out);
	for (size_t k = 0; k < js->n_outputs; k++)
		st->out[k]->complete = true;
	stage_advance_passes(st);
}

/* engine_opts.progress: O(stages) per event, only when asked for. */
static void report_progress(struct run *run)
{
	struct engine_progress p = { .n_stages = run->job->n_stages,
				     .stages_done = run->stages_done,
				     .behind = run->behind,
				     .behind_n = run->behind_n };

	if (!run->opts->progress)
		return;
	for (size_t o = 0; o < run->job->n_stages; o++) {
		size_t s = run->job->order[o];
		const struct stage_run *st = &run->stages[s];

		if (st->state == STAGE_WAITING)
			continue;
		p.stage = run->job->stages[s].name;
		p.instances_done += st->collected;
		p.instances_total += MAX(st->n_instances,
					 run->rep->stages[s].n_instances);
		p.bytes_out += run->rep->stages[s].bytes_out;
	}
	run->opts->progress(run->opts->progress_data, &p);
}

/*
 * After every event: start the stages whose inputs are ready, close those
 * whose instance count became final, complete those that are done (in
 * topological order, repeated while anything changed: no recursion along
 * the graph), then fetch and compute what the window and the cores allow.
 */
void run_progress(struct run *run)
{
	const struct job *job = run->job;
	bool again = true;

	while (again && !run->failed) {
		again = false;
		for (size_t o = 0; o < job->n_stages && !run->failed; o++) {
			struct stage_run *st = &run->stages[job->order[o]];
			int r;

			if (st->state == STAGE_WAITING && stage_can_start(st)) {
				r = stage_start(st);
				if (r < 0) {
					run_error(run, r);
					break;
				}
				again = true;
			}
			if (st->state != STAGE_RUNNING)
				continue;
			if (!st->closed && (stage_of(st)->n_inputs == 0 ||
					    st->in[0]->complete)) {
				stage_close(st);
				again = true;
			}
			if (stage_finished(st)) {
				stage_complete(st);
				again = true;
			}
		}
	}
	if (run->failed)
		return;
	inst_dispatch(run);
	io_resume(run);
	report_progress(run);
}

static void cancel_all(struct run *run)
{
	for (size_t s = 0; s < run->job->n_stages; s++) {
		struct stage_run *st = &run->stages[s];

		if (st->io)
			iofunc_run_cancel(st->io);
	}
	/* Running compute instances are killed now and reaped by the loop
	 * like any other exit, so nothing here waits; their stage report
	 * says cancelled. */
	for (struct inst *in = run->live; in; in = in->next) {
		in->cancelled = true;
		sandbox_proc_kill(in->proc);
	}
}

static bool run_finished(void *data)
{
	struct run *run = data;

	return run->active == 0 &&
	       (run->failed || run->stages_done == run->job->n_stages);
}

/* Wait for the loop to deliver the completions of cancelled operations. */
static void drain(struct run *run)
{
	while (run->active || loop_inflight(run->loop))
		if (loop_run_once(run->loop, 100) < 0)
			break;
}

static void stream_done(struct stream *x)
{
	set_free(x->set);
	free(x->claims);
	free(x->consumers);
}

static void run_done(struct run *run)
{
	const struct job *job = run->job;

	/* First: its last callbacks still reach the streams. */
	run->writer = output_free(run->writer);

	for (size_t s = 0; run->stages && s < job->n_stages; s++) {
		struct stage_run *st = &run->stages[s];
		const struct job_stage *js = &job->stages[s];

		stage_slots_free(st);
		outs_free(st->carry, js->n_outputs);
		dist_done(&st->d);
		for (size_t k = 0; st->out && k < js->n_outputs; k++) {
			if (st->out[k])
				stream_done(st->out[k]);
			free(st->out[k]);
		}
		free(st->out);
		free(st->in);
		free(st->in_sets);
		free(st->passed);
		free(st->started.w);
		free(st->taken.w);
		free(st->queued_ahead.w);
		free(st->ready);
		outs_free(st->io_sink, js->n_outputs);
	}
	free(run->stages);
	free(run->dispatch_order);
	for (size_t i = 0; run->in_streams && i < job->n_inputs; i++)
		stream_done(&run->in_streams[i]); /* frees run->inputs[i] */
	if (!run->in_streams && run->inputs)
		for (size_t i = 0; i < job->n_inputs; i++)
			set_free(run->inputs[i]);
	free(run->in_streams);
	free(run->inputs);
	if (run->images)
		for (size_t f = 0; f < job->n_functions; f++)
			elf_image_free(run->images[f]);
	free(run->images);
	if (run->held_guard)
		sandbox_release(run->opts->sandbox);
	iopolicy_done(&run->iopol);
	safe_close(run->job_dirfd);
	safe_close(run->data_rootfd);
	cancel_disarm(run);
	while ((run->cancel_armed || run->stop_armed) &&
	       loop_run_once(run->loop, 100) >= 0)
		;
	loop_free(run->loop);
}

/* Stages by their depth in the graph (longest path from the job's
 * inputs), deepest first; equal depths in topological order. */
static int dispatch_order_setup(struct run *run)
{
	const struct job *job = run->job;
	_cleanup_free_ size_t *depth = calloc(job->n_stages + 1, sizeof(size_t));
	size_t max = 0, k = 0;

	run->dispatch_order = calloc(job->n_stages + 1, sizeof(size_t));
	if (!depth || !run->dispatch_order)
		return -ENOMEM;
	for (size_t o = 0; o < job->n_stages; o++) {
		const struct job_stage *js = &job->stages[job->order[o]];
		size_t d = 0;

		for (size_t p = 0; p < js->n_inputs; p++)
			if (js->inputs[p].ref.stage >= 0)
				d = MAX(d, depth[js->inputs[p].ref.stage] + 1);
		depth[job->order[o]] = d;
		max = MAX(max, d);
	}
	for (size_t d = max + 1; d-- > 0;)
		for (size_t o = 0; o < job->n_stages; o++)
			if (depth[job->order[o]] == d)
				run->dispatch_order[k++] = job->order[o];
	return 0;
}

static int consumer_add(struct stream *x, struct stage_run *st, size_t p)
{
	if (ARRAY_GROW(x->consumers, x->consumers_cap, x->n_consumers, 4) < 0)
		return -ENOMEM;
	x->consumers[x->n_consumers++] = (struct consumer){ st, p };
	return 0;
}

/* The streams and who reads them; job inputs complete, their items
 * claimed by their consumers. */
static int streams_setup(struct run *run)
{
	const struct job *job = run->job;

	run->in_streams = calloc(job->n_inputs + 1, sizeof(*run->in_streams));
	if (!run->in_streams || dispatch_order_setup(run) < 0)
		return -ENOMEM;
	for (size_t i = 0; i < job->n_inputs; i++) {
		run->in_streams[i].set = run->inputs[i];
		run->in_streams[i].complete = true;
	}
	for (size_t s = 0; s < job->n_stages; s++) {
		const struct job_stage *js = &job->stages[s];
		struct stage_run *st = &run->stages[s];

		st->out = calloc(js->n_outputs + 1, sizeof(*st->out));
		st->in = calloc(js->n_inputs + 1, sizeof(*st->in));
		st->in_sets = calloc(js->n_inputs + 1, sizeof(*st->in_sets));
		st->passed = calloc(js->n_inputs + 1, sizeof(*st->passed));
		if (!st->out || !st->in || !st->in_sets || !st->passed)
			return -ENOMEM;
		for (size_t k = 0; k < js->n_outputs; k++) {
			st->out[k] = calloc(1, sizeof(*st->out[k]));
			if (!st->out[k])
				return -ENOMEM;
			st->out[k]->set = set_new(js->outputs[k]);
			if (!st->out[k]->set)
				return -ENOMEM;
		}
	}
	for (size_t s = 0; s < job->n_stages; s++) {
		const struct job_stage *js = &job->stages[s];
		struct stage_run *st = &run->stages[s];

		for (size_t p = 0; p < js->n_inputs; p++) {
			st->in[p] = ref_stream(run, &js->inputs[p].ref);
			if (consumer_add(st->in[p], st, p) < 0)
				return -ENOMEM;
		}
	}
	for (size_t i = 0; i < job->n_outputs; i++)
		ref_stream(run, &job->outputs[i].ref)->job_output = true;
	for (size_t s = 0; s < job->n_stages; s++) {
		struct stage_run *st = &run->stages[s];

		st->io_windowed = job->stages[s].io && io_windowable(run, st);
		for (size_t k = 0; k < job->stages[s].n_outputs; k++) {
			st->out[k]->windowed = st->io_windowed;
			st->out[k]->producer = st;
			st->out[k]->out_k = k;
			st->out[k]->ahead = job->stages[s].io &&
					    !st->out[k]->job_output;
		}
	}
	for (size_t s = 0; s < job->n_stages; s++) {
		const struct job_stage *js = &job->stages[s];
		struct stage_run *st = &run->stages[s];

		st->ooo = !js->io && !st->fold && js->n_inputs &&
			  js->inputs[0].mode == JOB_MODE_EACH && st->in[0]->ahead;
	}
	for (size_t i = 0; i < job->n_inputs; i++) {
		struct stream *x = &run->in_streams[i];

		x->claims = calloc(x->set->n + 1, sizeof(*x->claims));
		if (!x->claims)
			return -ENOMEM;
		x->claims_cap = x->set->n + 1;
		for (size_t j = 0; j < x->set->n; j++) {
			int r;

			x->claims[j] = (uint32_t)x->n_consumers;
			r = stream_spill(run, x, j);
			if (r < 0)
				return r;
		}
	}
	return 0;
}

/* The CPUs this process may run on: its affinity (`taskset`), else the
 * online CPUs; at least 1. */
static long cpus_usable(void)
{
	cpu_set_t set;
	long n;

	CPU_ZERO(&set);
	if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 0)
		return MIN(CPU_COUNT(&set), PARALLEL_MAX);
	n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? MIN(n, PARALLEL_MAX) : 1;
}

/* Many buffers, sockets and files at once are normal for a job: the soft
 * limit of descriptors goes up to the hard one, once. */
static void raise_nofile(void)
{
	static bool done;
	struct rlimit rl;

	if (done)
		return;
	done = true;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/* A quarter of RLIMIT_NOFILE's soft limit: the windowed items that may be
 * alive at once (fetched or in flight), each a descriptor of its own. */
static uint64_t win_fds(void)
{
	return MAX(nofile_share(4), (uint64_t)1);
}

static int run_setup(struct run *run)
{
	const struct job *job = run->job;
	struct engine_report *rep = run->rep;
	long ncpu;
	int r;

	raise_nofile();
	run->win_fds = win_fds();
	ncpu = cpus_usable();
	run->parallel = run->opts->parallel;
	if (!run->parallel)
		run->parallel = (unsigned)ncpu * ENGINE_SLOTS_PER_CPU;
	run->parallel = MIN(run->parallel, PARALLEL_MAX);
	run->cpus = MIN(run->parallel, (unsigned)ncpu);
	run->window = run->opts->window ? run->opts->window :
					  ENGINE_WINDOW_DEFAULT;
	run->win_items = win_base(run);
	run->shuffle = run->opts->test_shuffle_seed;
	run->inputs = calloc(job->n_inputs + 1, sizeof(*run->inputs));
	run->images = calloc(job->n_functions + 1, sizeof(*run->images));
	run->stages = calloc(job->n_stages + 1, sizeof(*run->stages));
	rep->stages = calloc(job->n_stages + 1, sizeof(*rep->stages));
	rep->outputs = calloc(job->n_outputs + 1, sizeof(*rep->outputs));
	if (!run->inputs || !run->images || !run->stages || !rep->stages ||
	    !rep->outputs)
		return err_set(run->e, ENOMEM, "out of memory");
	rep->n_stages = job->n_stages;
	for (size_t s = 0; s < job->n_stages; s++) {
		const struct job_stage *js = &job->stages[s];

		rep->stages[s].name = js->name;
		rep->stages[s].io = js->io != NULL;
		rep->stages[s].function = js->io ? js->io : js->function;
		rep->stages[s].failures_only = run->opts->report_failures_only;
		run->stages[s].run = run;
		run->stages[s].s = s;
		run->stages[s].fold = js->n_inputs ? js->inputs[0].fold : 0;
	}

	run->job_dirfd = open(job->dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (run->job_dirfd < 0)
		return err_errno(run->e, errno, "%s", job->dir);
	run->data_rootfd =
		open(run->opts->data_root ? run->opts->data_root : job->dir,
		     O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (run->data_rootfd < 0)
		return err_errno(run->e, errno, "data root %s", run->opts->data_root ? run->opts->data_root :
						      job->dir);
	iofunc_ctx_init(&run->ioctx);
	run->ioctx.job = run->id;
	run->ioctx.data_root_fd = run->data_rootfd;
	run->ioctx.label = job->name;
	r = iopolicy_init(&run->iopol, job, run->opts, run->job_dirfd,
			  run->data_rootfd, run->e);
	if (r < 0)
		return r;
	r = loop_new(256, &run->loop, run->e);
	if (r < 0)
		return r;
	r = cancel_arm(run);
	if (r < 0)
		return r;
	/* On the loop, like everything after it. */
	r = ingest_job(run->loop, run->job_dirfd, job, run->inputs, run->images,
		       run->e);
	if (r < 0)
		return r;
	if (run->opts->ingested)
		run->opts->ingested(run->opts->ingested_data);
	if (run->opts->out_dir) {
		_cleanup_free_ const char **names =
			calloc(job->n_outputs + 1, sizeof(*names));

		if (!names)
			return err_set(run->e, ENOMEM, "out of memory");
		for (size_t i = 0; i < job->n_outputs; i++)
			names[i] = job->outputs[i].name;
		r = output_begin(run->loop, run->opts->out_dir, names,
				 job->n_outputs, stream_written, run, &run->writer,
				 run->e);
		if (r < 0)
			return r;
	}
	r = streams_setup(run);
	if (r < 0)
		return err_set(run->e, -r, "out of memory");
	/* The eBPF guard taxes every syscall on the host while attached:
	 * only from here, when workers may exist, to the end of the stages. */
	for (size_t s = 0; s < job->n_stages && !run->held_guard; s++) {
		if (job->stages[s].io || !run->opts->sandbox)
			continue;
		r = sandbox_hold(run->opts->sandbox, run->e);
		if (r < 0)
			return err_prefix(run->e, r, "sandbox");
		run->held_guard = true;
	}
	/* What setting up freed below live allocations (ingest, the guard's
	 * load) free() does not give back itself: give those pages back
	 * before the job's memory grows. */
	malloc_trim(0);
	return 0;
}

/* An output item for the report; a spilled one has no bytes (buf NULL):
 * they are in the output directory. */
static int report_item_add(struct set *s, const struct item *it)
{
	struct item *d;

	if (it->buf)
		return set_add_item(s, it);
	if (ARRAY_GROW(s->items, s->cap, s->n, 8) < 0)
		return -ENOMEM;
	d = &s->items[s->n];
	*d = *it;
	d->name = strdup(it->name);
	if (!d->name)
		return -ENOMEM;
	s->n++;
	return 0;
}

static int run_job(struct run *run)
{
	const struct job *job = run->job;
	struct engine_report *rep = run->rep;
	int r;

	r = run_setup(run);
	if (r < 0)
		return r;
	if (run->error)
		return run->error;
	run_progress(run);
	if (!run_finished(run)) {
		r = loop_run_until(run->loop, run_finished, run);
		if (r < 0 && !run->error)
			run_error(run, err_errno(run->e, r, "event loop"));
	}
	cancel_disarm(run);
	run->deadline_off = true;
	if (run->deadline_armed && !run->deadline_moving)
		loop_cancel(run->loop, &run->deadline_op);
	run->pace_off = true;
	if (run->pace_armed)
		loop_cancel(run->loop, &run->pace_op);
	run->sb_off = true;
	if (run->sb_armed)
		loop_cancel(run->loop, &run->sb_op);
	if (run->listen_armed)
		loop_cancel(run->loop, &run->listen_op);
	instance_reap_disarm(run);
	drain(run);
	instance_reap_return(run);
	for (size_t s = 0; s < job->n_stages; s++) /* ended by a failure */
		if (run->stages[s].state == STAGE_RUNNING)
			PROBE_STAGE_END(run->id, s, rep->stages[s].name, rep->stages[s].ok ? PROBE_CANCELLED : PROBE_FAILED, rep->stages[s].items_out, rep->stages[s].bytes_out);
	if (run->held_guard) {
		sandbox_release(run->opts->sandbox);
		run->held_guard = false;
	}
	if (run->error)
		return run->error;
	rep->ok = !run->failed;
	if (!rep->ok)
		return 0;

	rep->n_outputs = job->n_outputs;
	for (size_t i = 0; i < job->n_outputs; i++) {
		const struct set *src =
			ref_stream(run, &job->outputs[i].ref)->set;
		struct set *dst = set_new(job->outputs[i].name);

		if (!dst)
			return err_set(run->e, ENOMEM, "out of memory");
		rep->outputs[i] = dst;
		for (size_t j = 0; j < src->n; j++) {
			r = report_item_add(dst, &src->items[j]);
			if (r < 0)
				return err_set(run->e, -r, "out of memory");
		}
	}
	if (run->writer) {
		r = output_commit(run->writer, run->opts->out_dir, run->e);
		if (r < 0)
			rep->ok = false;
		return r;
	}
	return 0;
}

uint64_t engine_default_max_instances(void)
{
	long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGESIZE);

	if (pages <= 0 || size <= 0)
		return 1u << 20;
	return (uint64_t)pages * (uint64_t)size / 4096;
}

uint64_t engine_default_max_disk(const char *path)
{
	_cleanup_free_ char *p = strdup(path && path[0] ? path : ".");
	struct statvfs sv;

	/* The directory may not exist yet: its nearest existing parent. */
	while (p && statvfs(p, &sv) < 0) {
		char *slash = strrchr(p, '/');

		if (!strcmp(p, ".") || !strcmp(p, "/"))
			return UINT64_MAX;
		if (!slash)
			strcpy(p, ".");
		else if (slash == p)
			p[1] = '\0';
		else
			*slash = '\0';
	}
	if (!p)
		return UINT64_MAX;
	return (uint64_t)sv.f_bavail * sv.f_frsize / 2;
}

int engine_run(const struct job *job, const struct engine_opts *opts,
	       struct engine_report *rep, struct err *e)
{
	struct run run = { .job = job,
			   .opts = opts,
			   .rep = rep,
			   .e = e,
			   .iopol = { .write_rootfd = -1 },
			   .job_dirfd = -1,
			   .data_rootfd = -1 };
	static uint64_t job_seq;
	uint64_t t0 = clock_now_ns();
	int r;

	*rep = (struct engine_report){};
	store_set_limit(opts->max_store);
	run.max_instances = opts->max_instances ? opts->max_instances :
						  engine_default_max_instances();
	run.max_disk = opts->max_disk ?
			       opts->max_disk :
			       engine_default_max_disk(
				       opts->out_dir	  ? opts->out_dir :
				       opts->write_root ? opts->write_root :
				       opts->data_root	  ? opts->data_root :
							    job->dir);
	run.id = __atomic_add_fetch(&job_seq, 1, __ATOMIC_RELAXED);
	PROBE_JOB_START(run.id, job->name, job->n_stages);
	r = run_job(&run);
	run_done(&run);
	store_pool_bound_add(-(int64_t)run.pool_bound);
	rep->elapsed_ns = clock_now_ns() - t0;
	if (r < 0)
		rep->ok = false;
	PROBE_JOB_END(run.id, job->name, r < 0 ? r : rep->ok ? PROBE_OK : PROBE_FAILED, rep->elapsed_ns);
	return r;
}

const char *instance_state_name(enum instance_state s)
{
	switch (s) {
	case INSTANCE_OK:
		return "ok";
	case INSTANCE_FAILED:
		return "failed";
	case INSTANCE_CANCELLED:
		return "cancelled";
	default:
		return "not-run";
	}
}

void engine_report_done(struct engine_report *rep)
{
	for (size_t s = 0; s < rep->n_stages; s++) {
		instance_free_all(&rep->stages[s]);
	}
	free(rep->stages);
	for (size_t i = 0; i < rep->n_outputs; i++)
		set_free(rep->outputs[i]);
	free(rep->outputs);
	*rep = (struct engine_report){};
}
