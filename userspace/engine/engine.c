// SPDX-License-Identifier: MIT
/*
 * Running a job's DAG on the io_uring event loop: a stage starts as soon as
 * all its input sets are complete; I/O stages run on the loop, compute
 * instances in sandboxes, at most `parallel` at once across all stages.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <sys/eventfd.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "engine/distribute.h"
#include "engine/engine.h"
#include "engine/ingest.h"
#include "engine/output.h"
#include "iofuncs/iofuncs.h"
#include "lib/clock.h"
#include "lib/macro.h"
#include "lib/uring.h"

#define PARALLEL_MAX 256
/* Slack after a deadline before the ring timer asks the sandbox to kill. */
#define DEADLINE_SLACK_MS 1

enum stage_state { STAGE_WAITING, STAGE_RUNNING, STAGE_DONE };

struct run;

/* One compute instance, alive until both its loop ops have completed. */
struct inst {
	struct loop_op poll_op, timer_op;
	struct stage_run *st;
	size_t index;
	struct sandbox_proc *proc;
	unsigned ops; /* loop ops in flight: 1 poll, 2 timer */
	bool finished;
	bool cancelled; /* killed because the job failed elsewhere */
	struct inst *prev, *next; /* in run->live while running */
};

struct stage_run {
	struct run *run;
	size_t s;
	enum stage_state state;
	size_t deps_left; /* input stages not yet done */
	uint64_t t0;
	/* compute */
	const struct elf_image *image;
	struct distribution d;
	size_t next, running, finished;
	struct set ***outs; /* per instance: n_outputs sets */
	/* I/O */
	struct iofunc_run *io;
	struct set **io_outs;
};

struct run {
	const struct job *job;
	const struct engine_opts *opts;
	struct engine_report *rep;
	struct loop *loop;
	struct iofunc_ctx ioctx;
	int job_dirfd, data_rootfd;
	unsigned parallel;
	struct set **inputs; /* job input sets */
	struct set ***stage_out; /* per stage: n_outputs sets once done */
	struct elf_image **images; /* per function a stage runs (ingest_job) */
	struct stage_run *stages;
	struct inst *live; /* running compute instances */
	size_t running; /* compute instances running */
	size_t active; /* instances + I/O runs not yet finished */
	size_t stages_done;
	bool held; /* the sandbox's eBPF guard is attached */
	struct loop_op cancel_op; /* polls cancel_fd */
	bool cancel_armed;
	bool failed;
	int error; /* -errno of an infrastructure error */
	struct err *e;
};

static struct set *ref_set(struct run *run, const struct job_ref *ref)
{
	if (ref->stage < 0)
		return run->inputs[ref->index];
	return run->stage_out[ref->stage][ref->index];
}

static void dispatch(struct run *run);
static void stage_complete(struct stage_run *st);
static void cancel_all(struct run *run);

/* An infrastructure error: the job cannot go on. */
static void run_error(struct run *run, int r)
{
	if (!run->error)
		run->error = r < 0 ? r : -EIO;
	if (!run->failed) {
		run->failed = true;
		cancel_all(run);
	}
}

/* engine_cancel(): a flag for a run not started yet, an eventfd the running
 * one polls. */
static volatile sig_atomic_t cancel_requested;
static volatile int cancel_fd = -1;

void engine_cancel(void)
{
	int saved = errno;
	uint64_t one = 1;

	cancel_requested = 1;
	if (cancel_fd >= 0 && write(cancel_fd, &one, sizeof(one)) < 0) {
		/* The counter is already non-zero: the run is woken. */
	}
	errno = saved;
}

static void on_cancel(struct loop_op *op, int res, _unused_ uint32_t flags)
{
	struct run *run = container_of(op, struct run, cancel_op);

	run->cancel_armed = false;
	if (res >= 0 || cancel_requested)
		run_error(run, err_set(run->e, ECANCELED,
				       "interrupted: instances killed, nothing written"));
}

/* Arm the cancel poll: a cancellation fails the run with -ECANCELED. */
static int cancel_arm(struct run *run)
{
	int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	int r;

	if (fd < 0)
		return err_errno(run->e, errno, "cannot create an eventfd");
	cancel_fd = fd;
	run->cancel_op.cb = on_cancel;
	r = loop_poll(run->loop, &run->cancel_op, fd, POLLIN);
	if (r < 0)
		return err_errno(run->e, r, "cannot poll the cancel eventfd");
	run->cancel_armed = true;
	if (cancel_requested)
		engine_cancel();
	return 0;
}

static void cancel_disarm(struct run *run)
{
	if (run->cancel_armed)
		loop_cancel(run->loop, &run->cancel_op);
}

static void fail_instance(struct run *run, size_t s, size_t i,
			  const char *reason)
{
	struct stage_report *sr = &run->rep->stages[s];

	sr->instances[i].state = INSTANCE_FAILED;
	snprintf(sr->instances[i].reason, sizeof(sr->instances[i].reason), "%s",
		 reason);
	sr->ok = false;
	if (!run->failed) {
		snprintf(run->rep->error, sizeof(run->rep->error),
			 "stage %s[%zu]: %s", sr->name, i, reason);
		run->failed = true;
		cancel_all(run);
	}
}

static void inst_release(struct inst *in)
{
	if (in->ops == 0 && in->finished) {
		sandbox_proc_free(in->proc);
		free(in);
	}
}

/* The instance ended (or was cancelled): record it, free its slot. */
static void inst_finish(struct inst *in, int step)
{
	struct stage_run *st = in->st;
	struct run *run = st->run;
	struct instance_report *ir =
		&run->rep->stages[st->s].instances[in->index];
	const struct sandbox_result *res = sandbox_proc_result(in->proc);

	in->finished = true;
	if (in->prev)
		in->prev->next = in->next;
	else
		run->live = in->next;
	if (in->next)
		in->next->prev = in->prev;
	run->running--;
	run->active--;
	st->running--;
	st->finished++;
	if (in->ops) {
		loop_cancel(run->loop, &in->poll_op);
		loop_cancel(run->loop, &in->timer_op);
	}
	if (step < 0) {
		char why[ERR_MAX];

		snprintf(why, sizeof(why), "sandbox: %s", strerror(-step));
		fail_instance(run, st->s, in->index, why);
	} else if (in->cancelled) {
		ir->state = INSTANCE_CANCELLED;
	} else {
		size_t n;

		ir->spawn_ns = res->spawn_ns;
		ir->run_ns = res->run_ns;
		ir->exit_status = res->exit_status;
		ir->signal = res->signal;
		ir->syscall = res->syscall;
		if (res->status != SANDBOX_OK) {
			fail_instance(run, st->s, in->index, res->reason);
		} else {
			ir->state = INSTANCE_OK;
			st->outs[in->index] =
				sandbox_proc_take_outputs(in->proc, &n);
		}
	}
	if (st->finished == st->d.n_instances || run->failed)
		stage_complete(st);
	dispatch(run);
}

static void inst_step(struct inst *in)
{
	int r;

	if (in->finished)
		return;
	r = sandbox_proc_step(in->proc);
	if (r != 0) {
		inst_finish(in, r);
		return;
	}
	if (!(in->ops & 1)) {
		r = loop_poll(in->st->run->loop, &in->poll_op,
			      sandbox_proc_fd(in->proc), POLLIN);
		if (r < 0) {
			inst_finish(in, r);
			return;
		}
		in->ops |= 1;
	}
}

static void on_inst_poll(struct loop_op *op, int res, uint32_t flags)
{
	struct inst *in = container_of(op, struct inst, poll_op);

	(void)flags;
	in->ops &= ~1u;
	if (res != -ECANCELED)
		inst_step(in);
	inst_release(in);
}

static void on_inst_timer(struct loop_op *op, int res, uint32_t flags)
{
	struct inst *in = container_of(op, struct inst, timer_op);

	(void)flags;
	in->ops &= ~2u;
	if (res == -ETIME)
		inst_step(in); /* past the deadline: the sandbox kills it */
	inst_release(in);
}

static int spawn_instance(struct stage_run *st)
{
	struct run *run = st->run;
	const struct job_stage *js = &run->job->stages[st->s];
	const struct job_function *fn =
		&run->job->functions[js->function_index];
	size_t index = st->next++;
	struct sandbox_request req = {
		.image = st->image,
		.limits = { .memory = fn->memory,
			    .timeout_ms = fn->timeout_ms },
		.inputs = st->d.instances[index],
		.n_inputs = st->d.n_params,
		.outputs = (const char *const *)js->outputs,
		.n_outputs = js->n_outputs,
		.instance = index,
		.params = { .args = (const char *const *)fn->args,
			    .n_args = fn->n_args,
			    .env = (const char *const *)fn->env,
			    .n_env = fn->n_env,
			    .seed = fn->seed,
			    .time_ns = fn->time_ns },
		.fn_name = fn->name,
		.stage = (uint32_t)st->s,
	};
	struct err se = {};
	struct inst *in;
	int r;

	in = calloc(1, sizeof(*in));
	if (!in)
		return -ENOMEM;
	in->st = st;
	in->index = index;
	in->poll_op.cb = on_inst_poll;
	in->timer_op.cb = on_inst_timer;
	r = sandbox_spawn(run->opts->sandbox, &req, &in->proc, &se);
	if (r < 0) {
		free(in);
		st->finished++;
		fail_instance(run, st->s, index, se.msg);
		if (st->finished == st->d.n_instances || run->failed)
			stage_complete(st);
		return 0;
	}
	in->next = run->live;
	if (run->live)
		run->live->prev = in;
	run->live = in;
	run->running++;
	run->active++;
	st->running++;
	r = loop_timeout(run->loop, &in->timer_op,
			 fn->timeout_ms + DEADLINE_SLACK_MS);
	if (r >= 0)
		in->ops |= 2;
	inst_step(in);
	if (r < 0 && !in->finished) {
		inst_finish(in, r);
		return 0;
	}
	inst_release(in);
	return 0;
}

/* Start compute instances while cores are free, earlier stages first. */
static void dispatch(struct run *run)
{
	const struct job *job = run->job;

	for (size_t o = 0; o < job->n_stages && !run->failed; o++) {
		struct stage_run *st = &run->stages[job->order[o]];

		if (st->state != STAGE_RUNNING || st->io)
			continue;
		while (!run->failed && run->running < run->parallel &&
		       st->next < st->d.n_instances) {
			int r = spawn_instance(st);

			if (r < 0) {
				run_error(run,
					  err_set(run->e, -r, "stage %s: %s",
						  job->stages[st->s].name,
						  strerror(-r)));
				return;
			}
		}
	}
}

/* Concatenate instance outputs, in instance order, into the stage's sets. */
static int gather_outputs(struct stage_run *st)
{
	struct run *run = st->run;
	const struct job_stage *js = &run->job->stages[st->s];
	struct stage_report *sr = &run->rep->stages[st->s];
	struct set **sets = run->stage_out[st->s];

	for (size_t k = 0; k < js->n_outputs; k++) {
		for (size_t i = 0; i < st->d.n_instances; i++) {
			const struct set *o = st->outs[i][k];

			for (size_t j = 0; j < o->n; j++) {
				int r = set_add_item(sets[k], &o->items[j]);

				if (r < 0)
					return r;
				sr->bytes_out += o->items[j].len;
			}
			sr->items_out += o->n;
		}
	}
	return 0;
}

static void stage_start(struct stage_run *st);

static void stage_complete(struct stage_run *st)
{
	struct run *run = st->run;
	const struct job *job = run->job;
	struct stage_report *sr = &run->rep->stages[st->s];

	if (st->state == STAGE_DONE || st->running || st->io)
		return; /* still waiting for instances to be reaped */
	st->state = STAGE_DONE;
	run->stages_done++;
	sr->elapsed_ns = clock_now_ns() - st->t0;
	if (run->failed || !sr->ok)
		return;
	if (!st->io_outs) {
		int r = gather_outputs(st);

		if (r < 0) {
			run_error(run, err_set(run->e, -r, "out of memory"));
			return;
		}
	}
	/* Start every stage that was waiting only for this one. */
	for (size_t o = 0; o < job->n_stages && !run->failed; o++) {
		struct stage_run *next = &run->stages[job->order[o]];
		const struct job_stage *js = &job->stages[next->s];

		if (next->state != STAGE_WAITING)
			continue;
		for (size_t p = 0; p < js->n_inputs; p++)
			if (js->inputs[p].ref.stage == (int)st->s)
				next->deps_left--;
		if (next->deps_left == 0)
			stage_start(next);
	}
}

static void on_io_done(struct iofunc_run *io, void *data)
{
	struct stage_run *st = data;
	struct run *run = st->run;
	struct stage_report *sr = &run->rep->stages[st->s];
	size_t n = iofunc_run_n_items(io);

	run->active--;
	sr->n_instances = n;
	sr->instances = calloc(n ? n : 1, sizeof(*sr->instances));
	if (!sr->instances) {
		run_error(run, err_set(run->e, ENOMEM, "out of memory"));
	} else {
		for (size_t i = 0; i < n; i++)
			sr->instances[i].syscall = -1;
		for (size_t i = 0; i < n; i++) {
			const char *msg = NULL;

			iofunc_run_item_error(io, i, &msg);
			if (msg && msg[0])
				fail_instance(run, st->s, i, msg);
			else
				sr->instances[i].state =
					run->failed ? INSTANCE_CANCELLED :
						      INSTANCE_OK;
		}
	}
	for (size_t k = 0; k < run->job->stages[st->s].n_outputs; k++) {
		sr->items_out += st->io_outs[k]->n;
		for (size_t j = 0; j < st->io_outs[k]->n; j++)
			sr->bytes_out += st->io_outs[k]->items[j].len;
	}
	st->io = NULL; /* freed below, after the stage is complete */
	stage_complete(st);
	iofunc_run_free(io);
	dispatch(run);
}

static int start_io_stage(struct stage_run *st, struct set *input)
{
	struct run *run = st->run;
	const struct job_stage *js = &run->job->stages[st->s];
	const struct iofunc *fn = iofunc_lookup(js->io);
	struct err ie = {};
	int r;

	if (!fn)
		return err_set(run->e, ENOENT,
			       "stage %s: unknown I/O function '%s'", js->name,
			       js->io);
	st->io_outs = run->stage_out[st->s];
	r = iofunc_start(run->loop, fn, &run->ioctx, input, st->io_outs,
			 on_io_done, st, &st->io, &ie);
	if (r < 0)
		return err_set(run->e, -r, "stage %s: %s", js->name, ie.msg);
	run->active++;
	return 0;
}

static int stage_start_inner(struct stage_run *st)
{
	struct run *run = st->run;
	const struct job_stage *js = &run->job->stages[st->s];
	struct stage_report *sr = &run->rep->stages[st->s];
	_cleanup_free_ struct set **sets = NULL;
	int r;

	st->state = STAGE_RUNNING;
	st->t0 = clock_now_ns();
	sr->ran = true;
	sr->ok = true;
	sets = calloc(js->n_inputs + 1, sizeof(*sets));
	run->stage_out[st->s] = calloc(js->n_outputs + 1, sizeof(struct set *));
	if (!sets || !run->stage_out[st->s])
		return err_set(run->e, ENOMEM, "out of memory");
	for (size_t k = 0; k < js->n_outputs; k++) {
		run->stage_out[st->s][k] = set_new(js->outputs[k]);
		if (!run->stage_out[st->s][k])
			return err_set(run->e, ENOMEM, "out of memory");
	}
	for (size_t p = 0; p < js->n_inputs; p++)
		sets[p] = ref_set(run, &js->inputs[p].ref);
	if (js->io)
		return start_io_stage(st, sets[0]);

	if (!run->opts->sandbox)
		return err_set(run->e, EINVAL, "no sandbox for compute stages");
	st->image = run->images[js->function_index]; /* read by ingest_job() */
	r = distribute(js, sets, &st->d);
	if (r < 0)
		return err_set(run->e, -r,
			       "stage %s: cannot distribute inputs: %s",
			       js->name, strerror(-r));
	sr->n_instances = st->d.n_instances;
	sr->instances = calloc(st->d.n_instances + 1, sizeof(*sr->instances));
	st->outs = calloc(st->d.n_instances + 1, sizeof(*st->outs));
	if (!sr->instances || !st->outs)
		return err_set(run->e, ENOMEM, "out of memory");
	for (size_t i = 0; i < st->d.n_instances; i++)
		sr->instances[i].syscall = -1;
	if (st->d.n_instances == 0)
		stage_complete(st); /* empty input: empty outputs */
	return 0;
}

static void stage_start(struct stage_run *st)
{
	int r = stage_start_inner(st);

	if (r < 0)
		run_error(st->run, r);
	else
		dispatch(st->run);
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
	for (size_t s = 0; s < run->job->n_stages; s++) {
		struct stage_run *st = &run->stages[s];

		for (size_t i = st->next; i < st->d.n_instances; i++)
			st->finished++;
		st->next = st->d.n_instances;
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

static void free_outs(struct stage_run *st, size_t n_out)
{
	if (!st->outs)
		return;
	for (size_t i = 0; i < st->d.n_instances; i++) {
		if (!st->outs[i])
			continue;
		for (size_t k = 0; k < n_out; k++)
			set_free(st->outs[i][k]);
		free(st->outs[i]);
	}
	free(st->outs);
}

static void run_done(struct run *run)
{
	const struct job *job = run->job;

	for (size_t s = 0; run->stages && s < job->n_stages; s++) {
		free_outs(&run->stages[s], job->stages[s].n_outputs);
		distribution_done(&run->stages[s].d);
	}
	free(run->stages);
	if (run->inputs)
		for (size_t i = 0; i < job->n_inputs; i++)
			set_free(run->inputs[i]);
	free(run->inputs);
	if (run->stage_out) {
		for (size_t s = 0; s < job->n_stages; s++) {
			if (!run->stage_out[s])
				continue;
			for (size_t k = 0; k < job->stages[s].n_outputs; k++)
				set_free(run->stage_out[s][k]);
			free(run->stage_out[s]);
		}
	}
	free(run->stage_out);
	if (run->images)
		for (size_t f = 0; f < job->n_functions; f++)
			elf_image_free(run->images[f]);
	free(run->images);
	if (run->held)
		sandbox_release(run->opts->sandbox);
	safe_close(run->job_dirfd);
	safe_close(run->data_rootfd);
	cancel_disarm(run);
	while (run->cancel_armed && loop_run_once(run->loop, 100) >= 0)
		;
	loop_free(run->loop);
	if (cancel_fd >= 0) {
		int fd = cancel_fd;

		cancel_fd = -1;
		close(fd);
	}
}

static int run_setup(struct run *run)
{
	const struct job *job = run->job;
	struct engine_report *rep = run->rep;
	long ncpu;
	int r;

	run->parallel = run->opts->parallel;
	if (!run->parallel) {
		ncpu = sysconf(_SC_NPROCESSORS_ONLN);
		run->parallel = ncpu > 0 ? (unsigned)ncpu : 1;
	}
	run->parallel = MIN(run->parallel, PARALLEL_MAX);
	run->inputs = calloc(job->n_inputs + 1, sizeof(*run->inputs));
	run->stage_out = calloc(job->n_stages + 1, sizeof(*run->stage_out));
	run->images = calloc(job->n_functions + 1, sizeof(*run->images));
	run->stages = calloc(job->n_stages + 1, sizeof(*run->stages));
	rep->stages = calloc(job->n_stages + 1, sizeof(*rep->stages));
	rep->outputs = calloc(job->n_outputs + 1, sizeof(*rep->outputs));
	if (!run->inputs || !run->stage_out || !run->images || !run->stages ||
	    !rep->stages || !rep->outputs)
		return err_set(run->e, ENOMEM, "out of memory");
	rep->n_stages = job->n_stages;
	for (size_t s = 0; s < job->n_stages; s++) {
		const struct job_stage *js = &job->stages[s];

		rep->stages[s].name = js->name;
		rep->stages[s].io = js->io != NULL;
		rep->stages[s].function = js->io ? js->io : js->function;
		run->stages[s].run = run;
		run->stages[s].s = s;
		for (size_t p = 0; p < js->n_inputs; p++)
			run->stages[s].deps_left += js->inputs[p].ref.stage >=
						    0;
	}

	run->job_dirfd = open(job->dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (run->job_dirfd < 0)
		return err_set(run->e, errno, "%s: %m", job->dir);
	run->data_rootfd =
		open(run->opts->data_root ? run->opts->data_root : job->dir,
		     O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (run->data_rootfd < 0)
		return err_set(run->e, errno, "data root %s: %m",
			       run->opts->data_root ? run->opts->data_root :
						      job->dir);
	iofunc_ctx_init(&run->ioctx);
	run->ioctx.data_root_fd = run->data_rootfd;
	run->ioctx.label = job->name;
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
	/* The eBPF guard taxes every syscall on the host while attached:
	 * only from here, when workers may exist, to the end of the stages. */
	for (size_t s = 0; s < job->n_stages && !run->held; s++) {
		if (job->stages[s].io || !run->opts->sandbox)
			continue;
		r = sandbox_hold(run->opts->sandbox, run->e);
		if (r < 0)
			return err_prefix(run->e, r, "sandbox");
		run->held = true;
	}
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
	for (size_t o = 0; o < job->n_stages && !run->failed; o++) {
		struct stage_run *st = &run->stages[job->order[o]];

		if (st->state == STAGE_WAITING && st->deps_left == 0)
			stage_start(st);
	}
	if (!run_finished(run)) {
		r = loop_run_until(run->loop, run_finished, run);
		if (r < 0 && !run->error)
			run_error(run, err_set(run->e, -r, "event loop: %s",
					       strerror(-r)));
	}
	cancel_disarm(run);
	drain(run);
	if (run->held) {
		sandbox_release(run->opts->sandbox);
		run->held = false;
	}
	if (run->error)
		return run->error;
	rep->ok = !run->failed;
	if (!rep->ok)
		return 0;

	rep->n_outputs = job->n_outputs;
	for (size_t i = 0; i < job->n_outputs; i++) {
		const struct set *src = ref_set(run, &job->outputs[i].ref);
		struct set *dst = set_new(job->outputs[i].name);

		if (!dst)
			return err_set(run->e, ENOMEM, "out of memory");
		rep->outputs[i] = dst;
		for (size_t j = 0; j < src->n; j++) {
			r = set_add_item(dst, &src->items[j]);
			if (r < 0)
				return err_set(run->e, -r, "out of memory");
		}
	}
	if (run->opts->out_dir)
		return output_write(run->loop, rep, run->opts->out_dir, run->e);
	return 0;
}

int engine_run(const struct job *job, const struct engine_opts *opts,
	       struct engine_report *rep, struct err *e)
{
	struct run run = { .job = job,
			   .opts = opts,
			   .rep = rep,
			   .e = e,
			   .job_dirfd = -1,
			   .data_rootfd = -1 };
	uint64_t t0 = clock_now_ns();
	int r;

	*rep = (struct engine_report){};
	r = run_job(&run);
	run_done(&run);
	rep->elapsed_ns = clock_now_ns() - t0;
	if (r < 0)
		rep->ok = false;
	return r;
}

void engine_report_done(struct engine_report *rep)
{
	for (size_t s = 0; s < rep->n_stages; s++)
		free(rep->stages[s].instances);
	free(rep->stages);
	for (size_t i = 0; i < rep->n_outputs; i++)
		set_free(rep->outputs[i]);
	free(rep->outputs);
	*rep = (struct engine_report){};
}
