// SPDX-License-Identifier: MIT
/* Running a job's DAG: stages in dependency order, instances in parallel. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "engine/distribute.h"
#include "engine/engine.h"
#include "engine/ingest.h"
#include "lib/macro.h"

#define PARALLEL_MAX 256

struct run {
	const struct job *job;
	const struct engine_opts *opts;
	struct engine_report *rep;
	struct set **inputs;  /* job input sets */
	struct set ***stage_out; /* per stage: n_outputs sets, NULL until run */
	struct elf_image **images; /* per function, loaded on first use */
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static struct set *ref_set(struct run *run, const struct job_ref *ref)
{
	if (ref->stage < 0)
		return run->inputs[ref->index];
	return run->stage_out[ref->stage][ref->index];
}

/* A running instance in a compute stage. */
struct slot {
	struct sandbox_proc *proc;
	size_t index;
};

static void fail_instance(struct run *run, size_t s, size_t i,
			  const char *reason)
{
	struct stage_report *sr = &run->rep->stages[s];

	sr->instances[i].state = INSTANCE_FAILED;
	snprintf(sr->instances[i].reason, sizeof(sr->instances[i].reason),
		 "%s", reason);
	if (sr->ok) {
		sr->ok = false;
		snprintf(run->rep->error, sizeof(run->rep->error),
			 "stage %s[%zu]: %s", sr->name, i, reason);
	}
}

static int load_image(struct run *run, int fn, const struct elf_image **ret,
		      struct err *e)
{
	const struct job_function *f = &run->job->functions[fn];
	_cleanup_close_ int dirfd = -1;
	int r;

	if (!run->images[fn]) {
		dirfd = open(run->job->dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (dirfd < 0)
			return err_set(e, errno, "%s: %m", run->job->dir);
		r = elf_image_load(dirfd, f->binary, &run->images[fn], e);
		if (r < 0)
			return err_prefix(e, r, "function %s: %s", f->name,
					  f->binary);
	}
	*ret = run->images[fn];
	return 0;
}

/* Collect a finished instance into outs[index]; false when it failed. */
static bool finish_slot(struct run *run, size_t s, struct slot *slot,
			struct set ***outs)
{
	const struct sandbox_result *res = sandbox_proc_result(slot->proc);
	struct instance_report *ir =
		&run->rep->stages[s].instances[slot->index];
	size_t n;

	ir->spawn_ns = res->spawn_ns;
	ir->run_ns = res->run_ns;
	if (res->status != SANDBOX_OK) {
		fail_instance(run, s, slot->index, res->reason);
		slot->proc = sandbox_proc_free(slot->proc);
		return false;
	}
	ir->state = INSTANCE_OK;
	outs[slot->index] = sandbox_proc_take_outputs(slot->proc, &n);
	slot->proc = sandbox_proc_free(slot->proc);
	return true;
}

static int run_compute_stage(struct run *run, size_t s,
			     const struct distribution *d, struct set ***outs,
			     struct err *e)
{
	const struct job_stage *st = &run->job->stages[s];
	const struct job_function *fn = &run->job->functions[st->function_index];
	struct stage_report *sr = &run->rep->stages[s];
	unsigned parallel = run->opts->parallel;
	_cleanup_free_ struct slot *slots = NULL;
	_cleanup_free_ struct pollfd *pfds = NULL;
	const struct elf_image *img = NULL;
	size_t next = 0, running = 0;
	int r;

	if (!run->opts->sandbox)
		return err_set(e, EINVAL, "no sandbox for compute stages");
	r = load_image(run, st->function_index, &img, e);
	if (r < 0)
		return r;
	if (parallel == 0) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);

		parallel = n > 0 ? (unsigned)n : 1;
	}
	parallel = MIN(parallel, PARALLEL_MAX);
	slots = calloc(parallel, sizeof(*slots));
	pfds = calloc(parallel, sizeof(*pfds));
	if (!slots || !pfds)
		return err_set(e, ENOMEM, "out of memory");

	while (running || (sr->ok && next < d->n_instances)) {
		while (sr->ok && running < parallel && next < d->n_instances) {
			struct sandbox_request req = {
				.image = img,
				.limits = { .memory = fn->memory,
					    .timeout_ms = fn->timeout_ms },
				.inputs = d->instances[next],
				.n_inputs = d->n_params,
				.outputs = (const char *const *)st->outputs,
				.n_outputs = st->n_outputs,
				.instance = next,
			};
			struct err se = {};

			r = sandbox_spawn(run->opts->sandbox, &req,
					  &slots[running].proc, &se);
			if (r < 0) {
				fail_instance(run, s, next, se.msg);
				next++;
				break;
			}
			slots[running++].index = next++;
		}
		if (!running)
			break;

		uint64_t now = now_ns(), first = UINT64_MAX;
		for (size_t i = 0; i < running; i++) {
			pfds[i] = (struct pollfd){
				.fd = sandbox_proc_fd(slots[i].proc),
				.events = POLLIN,
			};
			first = MIN(first, sandbox_proc_deadline_ns(slots[i].proc));
		}
		int timeout = first <= now ? 0 :
			(int)MIN((first - now + 999999) / 1000000, 60000ull);
		if (poll(pfds, running, timeout) < 0 && errno != EINTR)
			return err_set(e, errno, "poll: %m");

		for (size_t i = 0; i < running;) {
			r = sandbox_proc_step(slots[i].proc);
			if (r == 0) {
				i++;
				continue;
			}
			if (r < 0) {
				char why[ERR_MAX];

				snprintf(why, sizeof(why), "sandbox: %s",
					 strerror(-r));
				fail_instance(run, s, slots[i].index, why);
				slots[i].proc = sandbox_proc_free(slots[i].proc);
			} else {
				finish_slot(run, s, &slots[i], outs);
			}
			slots[i] = slots[--running];
		}
		if (!sr->ok) {
			/* Fail fast: the stage's result is lost anyway. */
			for (size_t i = 0; i < running; i++) {
				sr->instances[slots[i].index].state =
					INSTANCE_CANCELLED;
				slots[i].proc = sandbox_proc_free(slots[i].proc);
			}
			running = 0;
		}
	}
	return 0;
}

/* Concatenate instance outputs, in instance order, into the stage's sets. */
static int gather_outputs(struct run *run, size_t s, struct set ***outs,
			  size_t n_instances, struct err *e)
{
	const struct job_stage *st = &run->job->stages[s];
	struct stage_report *sr = &run->rep->stages[s];
	struct set **sets = calloc(st->n_outputs ? st->n_outputs : 1,
				   sizeof(*sets));
	int r = 0;

	if (!sets)
		return err_set(e, ENOMEM, "out of memory");
	run->stage_out[s] = sets;
	for (size_t k = 0; k < st->n_outputs; k++) {
		sets[k] = set_new(st->outputs[k]);
		if (!sets[k])
			return err_set(e, ENOMEM, "out of memory");
		for (size_t i = 0; i < n_instances && outs[i]; i++) {
			const struct set *o = outs[i][k];

			for (size_t j = 0; j < o->n && r >= 0; j++) {
				r = set_add_item(sets[k], &o->items[j]);
				sr->bytes_out += o->items[j].len;
			}
			if (r < 0)
				return err_set(e, -r, "out of memory");
			sr->items_out += o->n;
		}
	}
	return 0;
}

static void free_outs(struct set ***outs, size_t n_instances, size_t n_out)
{
	if (!outs)
		return;
	for (size_t i = 0; i < n_instances; i++) {
		if (!outs[i])
			continue;
		for (size_t k = 0; k < n_out; k++)
			set_free(outs[i][k]);
		free(outs[i]);
	}
	free(outs);
}

static int run_stage(struct run *run, size_t s, struct err *e)
{
	const struct job_stage *st = &run->job->stages[s];
	struct stage_report *sr = &run->rep->stages[s];
	struct set **sets = NULL;
	struct distribution d = {};
	struct set ***outs = NULL;
	uint64_t t0 = now_ns();
	int r;

	sr->ran = true;
	sr->ok = true;
	if (st->io)
		return err_set(e, ENOTSUP,
			       "stage %s: I/O function '%s' is not available",
			       st->name, st->io);
	sets = calloc(st->n_inputs ? st->n_inputs : 1, sizeof(*sets));
	if (!sets)
		return err_set(e, ENOMEM, "out of memory");
	for (size_t p = 0; p < st->n_inputs; p++)
		sets[p] = ref_set(run, &st->inputs[p].ref);
	r = distribute(st, sets, &d);
	if (r < 0) {
		r = err_set(e, -r, "stage %s: cannot distribute inputs: %s",
			    st->name, strerror(-r));
		goto out;
	}
	sr->n_instances = d.n_instances;
	sr->instances = calloc(d.n_instances ? d.n_instances : 1,
			       sizeof(*sr->instances));
	outs = calloc(d.n_instances ? d.n_instances : 1, sizeof(*outs));
	if (!sr->instances || !outs) {
		r = err_set(e, ENOMEM, "out of memory");
		goto out;
	}
	r = run_compute_stage(run, s, &d, outs, e);
	if (r >= 0 && sr->ok)
		r = gather_outputs(run, s, outs, d.n_instances, e);
out:
	free(sets);
	free_outs(outs, d.n_instances, st->n_outputs);
	distribution_done(&d);
	sr->elapsed_ns = now_ns() - t0;
	return r;
}

static void run_done(struct run *run)
{
	const struct job *job = run->job;

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
}

static int run_job(struct run *run, struct err *e)
{
	const struct job *job = run->job;
	struct engine_report *rep = run->rep;
	_cleanup_close_ int dirfd = -1;
	int r;

	run->inputs = calloc(job->n_inputs + 1, sizeof(*run->inputs));
	run->stage_out = calloc(job->n_stages + 1, sizeof(*run->stage_out));
	run->images = calloc(job->n_functions + 1, sizeof(*run->images));
	rep->stages = calloc(job->n_stages + 1, sizeof(*rep->stages));
	rep->outputs = calloc(job->n_outputs + 1, sizeof(*rep->outputs));
	if (!run->inputs || !run->stage_out || !run->images || !rep->stages ||
	    !rep->outputs)
		return err_set(e, ENOMEM, "out of memory");
	rep->n_stages = job->n_stages;
	for (size_t s = 0; s < job->n_stages; s++) {
		const struct job_stage *st = &job->stages[s];

		rep->stages[s].name = st->name;
		rep->stages[s].io = st->io != NULL;
		rep->stages[s].function = st->io ? st->io : st->function;
	}

	dirfd = open(job->dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0)
		return err_set(e, errno, "%s: %m", job->dir);
	for (size_t i = 0; i < job->n_inputs; i++) {
		r = ingest_input(dirfd, &job->inputs[i], &run->inputs[i], e);
		if (r < 0)
			return r;
	}

	rep->ok = true;
	for (size_t o = 0; o < job->n_stages && rep->ok; o++) {
		size_t s = job->order[o];

		r = run_stage(run, s, e);
		if (r < 0)
			return r;
		rep->ok = rep->stages[s].ok;
	}
	if (!rep->ok)
		return 0;

	rep->n_outputs = job->n_outputs;
	for (size_t i = 0; i < job->n_outputs; i++) {
		const struct set *src = ref_set(run, &job->outputs[i].ref);
		struct set *dst = set_new(job->outputs[i].name);

		if (!dst)
			return err_set(e, ENOMEM, "out of memory");
		rep->outputs[i] = dst;
		for (size_t j = 0; j < src->n; j++) {
			r = set_add_item(dst, &src->items[j]);
			if (r < 0)
				return err_set(e, -r, "out of memory");
		}
	}
	return 0;
}

int engine_run(const struct job *job, const struct engine_opts *opts,
	       struct engine_report *rep, struct err *e)
{
	struct run run = { .job = job, .opts = opts, .rep = rep };
	uint64_t t0 = now_ns();
	int r;

	*rep = (struct engine_report){};
	r = run_job(&run, e);
	run_done(&run);
	rep->elapsed_ns = now_ns() - t0;
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
