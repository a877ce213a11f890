// SPDX-License-Identifier: MIT
/*
 * A run's compute instances: spawned in sandboxes as cores free (deeper
 * stages first), stepped through the sandbox's one poll and the run's one
 * deadline timer, collected into their stage's slots.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/internal.h"
#include "lib/clock.h"
#include "lib/macro.h"
#include "lib/probe.h"

/* Slack after a deadline before the ring timer asks the sandbox to kill. */
#define DEADLINE_SLACK_MS 1

/* ---- compute instances */

static void inst_release(struct inst *in)
{
	if (in->finished) {
		sandbox_proc_free(in->proc);
		outs_free(in->inputs, stage_of(in->st)->n_inputs);
		free(in);
	}
}

/* Bytes of an instance's items in and out, for the inst_bytes probe. */
static uint64_t sets_bytes(struct set *const *sets, size_t n)
{
	uint64_t b = 0;

	for (size_t k = 0; sets && k < n; k++)
		for (size_t j = 0; sets[k] && j < sets[k]->n; j++)
			b += sets[k]->items[j].len;
	return b;
}

/* The probes of an instance's end (lib/probe.h), in one place. proc is
 * NULL when it could not be spawned; outs are a collected one's outputs. */
static void probe_inst_end(struct stage_run *st, size_t i,
			   struct sandbox_proc *proc, int status, int reason,
			   const char *text, struct set **outs, size_t n_outs,
			   struct set *const *inputs)
{
	const struct sandbox_result *res =
		proc ? sandbox_proc_result(proc) : NULL;
	struct probe_inst info = {
		.job = st->run->id,
		.instance = i,
		.stage = (uint32_t)st->s,
		.status = status,
		.reason = reason,
		.pid = proc ? sandbox_proc_pid(proc) : 0,
		.syscall = res && status == PROBE_FAILED ? res->syscall : -1,
		.start_ns = instance_start_ns(&st->run->rep->stages[st->s], i),
		.spawn_ns = res ? res->spawn_ns : 0,
		.run_ns = res ? res->run_ns : 0,
		.warm = proc && sandbox_proc_warm(proc),
		.function = st->fn_name,
		.text = text,
	};

	if (status == PROBE_OK) {
		info.bytes_in = sets_bytes(inputs, stage_of(st)->n_inputs);
		info.bytes_out = sets_bytes(outs, n_outs);
		PROBE_INST_BYTES(info.job, info.stage, i, info.bytes_in, info.bytes_out);
	} else if (status == PROBE_FAILED) {
		PROBE_INST_FAILED(info.job, info.stage, i, info.function, text, info.syscall);
	}
	PROBE_INST_EXITED(info.job, info.stage, i, status, reason, info.run_ns);
	PROBE_INST_DONE(&info);
}

/*
 * The shortest of a stage's recent runs: ENGINE_MIN_RUNS to twice as many
 * (the block being filled and the one before). A fresh instance's run, as
 * pith sees it, starts at its request, and short ones in lanes wait for
 * their fork behind up to a lane's others on its zygote: a no-op's runs
 * spread from ~0.1 to ~0.9 ms, their average hovers about ENGINE_SHORT_NS,
 * and one run stretched by a preemption pushed it over (stage_slots()).
 * A wait only adds to a run: the shortest says what the function takes.
 */
#define ENGINE_MIN_RUNS 16

static void run_min_add(struct stage_run *st, uint64_t ns)
{
	if (st->run_min_n++ % ENGINE_MIN_RUNS == 0) {
		st->run_min_prev_ns = st->run_min_ns;
		st->run_min_ns = ns;
	} else {
		st->run_min_ns = MIN(st->run_min_ns, ns);
	}
}

static uint64_t run_min(const struct stage_run *st)
{
	return st->run_min_n > ENGINE_MIN_RUNS
		       ? MIN(st->run_min_prev_ns, st->run_min_ns)
		       : st->run_min_ns;
}

/* The instance ended (or was cancelled): record it, free its slot. */
static void inst_finish(struct inst *in, int step)
{
	struct stage_run *st = in->st;
	struct run *run = st->run;
	struct stage_report *sr = &run->rep->stages[st->s];
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
	if (step < 0) {
		char why[ERR_MAX];

		snprintf(why, sizeof(why), "sandbox: %s", strerror(-step));
		probe_inst_end(st, in->index, in->proc, PROBE_FAILED, PROBE_REASON_SETUP, why, NULL, 0, NULL);
		run_fail_instance(run, st->s, in->index, why, NULL);
	} else if (in->cancelled) {
		instance_set_state(sr, in->index, INSTANCE_CANCELLED);
		probe_inst_end(st, in->index, in->proc, PROBE_CANCELLED, PROBE_REASON_CANCELLED, NULL, NULL, 0, NULL);
	} else {
		size_t n;

		instance_set_times(sr, in->index, res->spawn_ns, res->run_ns);
		st->run_avg_ns = st->run_avg_ns ?
			(st->run_avg_ns * 7 + res->run_ns) / 8 :
			MAX(res->run_ns, (uint64_t)1);
		run_min_add(st, res->run_ns);
		if (res->status != SANDBOX_OK) {
			probe_inst_end(st, in->index, in->proc, PROBE_FAILED, res->probe_reason, res->reason, NULL, 0, NULL);
			run_fail_instance(run, st->s, in->index, res->reason, res);
		} else {
			struct set **outs = sandbox_proc_take_outputs(in->proc, &n);

			instance_set_state(sr, in->index, INSTANCE_OK);
			probe_inst_end(st, in->index, in->proc, PROBE_OK, PROBE_REASON_OK, NULL, outs, n, in->inputs);
			stage_collect(st, in->index, outs);
		}
	}
	/* The worker goes back to the sandbox's pool before the next
	 * instance starts, so that one is served warm. */
	in->proc = sandbox_proc_free(in->proc);
	run_progress(run);
}

/* Step an instance sandbox_poll() (or its deadline) says has progress to
 * make; a finished one is freed: callers do not touch it afterwards. */
static void inst_step(struct inst *in)
{
	int r;

	if (in->finished)
		return;
	r = sandbox_proc_step_polled(in->proc);
	if (r != 0) {
		inst_finish(in, r);
		inst_release(in);
	}
}

/* Step every instance sandbox_poll() found progress for (a park, an exit);
 * each such step finishes its instance, so this ends. */
static void step_pending(struct run *run)
{
	struct inst *in;

	do {
		for (in = run->live; in; in = in->next)
			if (!in->finished && sandbox_proc_pending(in->proc))
				break;
		if (in)
			inst_step(in);
	} while (in);
}

static void on_pending(struct loop_op *op, _unused_ int res,
		       _unused_ uint32_t flags)
{
	struct run *run = container_of(op, struct run, pending_op);

	run->pending_posted = false;
	step_pending(run);
}

/* From inside inst_dispatch(): step them from the loop, as a poll would, not
 * by recursion (which spawned past the writer's backlog: EMFILE). */
static void post_pending(struct run *run)
{
	struct inst *in;

	if (run->pending_posted)
		return;
	for (in = run->live; in; in = in->next)
		if (!in->finished && sandbox_proc_pending(in->proc))
			break;
	if (!in)
		return;
	run->pending_op.cb = on_pending;
	if (loop_post(run->loop, &run->pending_op) >= 0)
		run->pending_posted = true;
}

static void on_sandbox(struct loop_op *op, int res, uint32_t flags);
static void on_listener(struct loop_op *op, int res, uint32_t flags);
static void on_reap(struct loop_op *op, int res, uint32_t flags);
static void on_done(struct loop_op *op, int res, uint32_t flags);

/*
 * One of the sandbox's fds that the loop polls itself (the exit ring, the
 * drivers' eventfd), taken out of sandbox_fd()'s set by own() once per
 * run, the first time instances run; multishot for the eventfd, which is
 * never read back (a one-shot poll would complete at once forever).
 * -errno only when the poll could not be queued; without such an fd its
 * events come through sandbox_fd() as before.
 */
static int owned_arm(struct run *run, struct owned_poll *o,
		     int (*own)(struct sandbox *, bool), loop_cb cb,
		     bool multishot)
{
	struct sandbox *sb = run->opts->sandbox;
	struct io_uring_sqe *sqe;
	int fd;

	if (o->armed || (o->tried && !o->owned))
		return 0;
	o->tried = true;
	fd = own(sb, true);
	if (fd < 0)
		return 0;
	o->owned = true;
	sqe = loop_sqe(run->loop, 1);
	if (!sqe) {
		/* Heard through sandbox_fd() again. */
		own(sb, false);
		o->owned = false;
		return -EBUSY;
	}
	if (multishot)
		io_uring_prep_poll_multishot(sqe, fd, POLLIN);
	else
		io_uring_prep_poll_add(sqe, fd, POLLIN);
	o->op.cb = cb;
	loop_sqe_set_op(run->loop, sqe, &o->op);
	o->armed = true;
	return 0;
}

/* Poll the sandbox's fds while instances run: its workers' exits, and its
 * seccomp listener (parks, forbidden calls) directly, so that a park costs
 * no epoll_wait. */
static int sandbox_arm(struct run *run)
{
	int fd = sandbox_listener_fd(run->opts->sandbox), r;

	if (run->sb_off || !run->live)
		return 0;
	if (!run->sb_armed) {
		run->sb_op.cb = on_sandbox;
		r = loop_poll(run->loop, &run->sb_op,
			      sandbox_fd(run->opts->sandbox), POLLIN);
		if (r < 0)
			return r;
		run->sb_armed = true;
	}
	if (!run->listen_armed && fd >= 0) {
		run->listen_op.cb = on_listener;
		r = loop_poll(run->loop, &run->listen_op, fd, POLLIN);
		if (r < 0)
			return r;
		run->listen_armed = true;
	}
	r = owned_arm(run, &run->reap, sandbox_reap_own, on_reap, false);
	return r < 0 ? r : owned_arm(run, &run->done, sandbox_done_own,
				     on_done, true);
}

/* What a poll of the sandbox's heard: sandbox_fd()'s set, its listener,
 * its exit ring, its drivers' eventfd (the last two taken out of the
 * set: owned_arm()). */
enum sb_source { SB_SET, SB_LISTENER, SB_REAP, SB_DONE };

static void sandbox_polled(struct run *run, int res, enum sb_source from)
{
	struct sandbox *sb = run->opts->sandbox;
	int r = 0;

	if (res == -ECANCELED || run->sb_off)
		return;
	if (res < 0)
		run_error(run, err_errno(run->e, res, "cannot poll the sandbox"));
	else if (from == SB_LISTENER)
		r = sandbox_poll_listener(sb, res & POLLIN);
	else if (from == SB_REAP)
		sandbox_poll_reap(sb);
	else if (from == SB_DONE)
		sandbox_poll_done(sb);
	else
		r = sandbox_poll(sb);
	if (r < 0)
		run_error(run, err_errno(run->e, r, "sandbox"));
	step_pending(run);
	/* Killed instances (a failed run) still end through it. */
	r = sandbox_arm(run);
	if (r < 0)
		run_error(run, err_errno(run->e, r, "cannot poll the sandbox"));
}

static void on_sandbox(struct loop_op *op, int res, _unused_ uint32_t flags)
{
	struct run *run = container_of(op, struct run, sb_op);

	run->sb_armed = false;
	sandbox_polled(run, res, SB_SET);
}

static void on_listener(struct loop_op *op, int res, _unused_ uint32_t flags)
{
	struct run *run = container_of(op, struct run, listen_op);

	run->listen_armed = false;
	sandbox_polled(run, res, SB_LISTENER);
}

static void on_reap(struct loop_op *op, int res, _unused_ uint32_t flags)
{
	struct run *run = container_of(op, struct run, reap.op);

	run->reap.armed = false;
	sandbox_polled(run, res, SB_REAP);
}

/* Multishot: armed until a completion without IORING_CQE_F_MORE. */
static void on_done(struct loop_op *op, int res, uint32_t flags)
{
	struct run *run = container_of(op, struct run, done.op);

	if (!(flags & IORING_CQE_F_MORE))
		run->done.armed = false;
	sandbox_polled(run, res, SB_DONE);
}

/* The run is over: its polls of the exit ring and of the drivers'
 * eventfd cancelled, both back in sandbox_fd()'s set once the cancels
 * completed (run_job()'s drain). */
void instance_reap_disarm(struct run *run)
{
	if (run->reap.armed)
		loop_cancel(run->loop, &run->reap.op);
	if (run->done.armed)
		loop_cancel(run->loop, &run->done.op);
}

void instance_reap_return(struct run *run)
{
	if (run->reap.owned && !run->reap.armed)
		sandbox_reap_own(run->opts->sandbox, false);
	run->reap.owned = false;
	if (run->done.owned && !run->done.armed)
		sandbox_done_own(run->opts->sandbox, false);
	run->done.owned = false;
}

static uint64_t inst_deadline(const struct inst *in)
{
	return sandbox_proc_deadline_ns(in->proc) + DEADLINE_SLACK_MS * 1000000ull;
}

static void on_deadline(struct loop_op *op, int res, uint32_t flags);

/* Arm the run's timer for the earliest deadline of its running instances,
 * or move it there when it is armed for a later one (cancelled: its
 * completion arms it again). -errno when no timer is armed. */
static int deadline_arm(struct run *run)
{
	uint64_t at = UINT64_MAX, now;
	int r;

	for (struct inst *in = run->live; in; in = in->next)
		if (!in->finished)
			at = MIN(at, inst_deadline(in));
	if (at == UINT64_MAX || run->deadline_moving || run->deadline_off)
		return 0;
	if (run->deadline_armed) {
		if (at < run->deadline_at &&
		    loop_cancel(run->loop, &run->deadline_op) >= 0)
			run->deadline_moving = true;
		return 0;
	}
	now = clock_now_ns();
	run->deadline_op.cb = on_deadline;
	r = loop_timeout(run->loop, &run->deadline_op,
			 at > now ? (at - now + 999999) / 1000000 : 0);
	if (r < 0)
		return r;
	run->deadline_armed = true;
	run->deadline_at = at;
	return 0;
}

/* The timer fired (or was moved): step every instance past its deadline
 * (the sandbox kills it; its exit completes its poll), then arm it again. */
static void on_deadline(struct loop_op *op, _unused_ int res,
			_unused_ uint32_t flags)
{
	struct run *run = container_of(op, struct run, deadline_op);
	uint64_t now = clock_now_ns();
	struct inst *in;
	int r;

	run->deadline_armed = false;
	run->deadline_moving = false;
	/* What the sandbox has (also if its poll could not be armed). */
	if (!run->sb_off) {
		(void)sandbox_poll(run->opts->sandbox);
		(void)sandbox_poll_listener(run->opts->sandbox, false);
	}
	step_pending(run);
	for (in = run->live; in; in = in->next)
		in->due = !in->finished && inst_deadline(in) <= now;
	/* A step may finish instances and start new ones: from the top. */
	for (in = run->live; in;) {
		if (!in->due) {
			in = in->next;
			continue;
		}
		in->due = false;
		inst_step(in);
		in = run->live;
	}
	r = deadline_arm(run);
	if (r < 0)
		run_error(run, err_errno(run->e, r, "cannot arm the deadline timer"));
}

/* A folding instance's input: the last instance's outputs, then its own
 * B items. The carry's references move into it (the carry is freed). */
static int fold_instance(struct stage_run *st, size_t k, struct set **ret)
{
	const struct job_stage *js = stage_of(st);
	struct stream *in = st->in[0];
	size_t a = k * st->fold, b = MIN(a + st->fold, stream_n(in));
	struct set *s = set_new(js->inputs[0].param);
	int r = 0;

	if (!s)
		return -ENOMEM;
	for (size_t j = 0; st->carry && st->carry[0] && j < st->carry[0]->n &&
			   r >= 0; j++)
		r = set_add_item(s, &st->carry[0]->items[j]);
	for (size_t j = a; j < b && r >= 0; j++)
		r = set_add_item(s, stream_item(in, j));
	if (r < 0) {
		set_free(s);
		return r;
	}
	st->carry = (outs_free(st->carry, js->n_outputs), NULL);
	ret[0] = s;
	return 0;
}

/*
 * Every consumer of x took its item j before it joined: nobody will read
 * its bytes but the instances that took them. They leave the window now,
 * and the slot lets its reference go, so the buffer dies with the last of
 * those instances, not when every earlier item has come.
 */
static void ahead_consumed(struct run *run, struct stream *x, size_t j)
{
	struct item *it = stream_slot_item(x, j);

	if (!it)
		return;
	if (x->windowed) {
		run->slotted -= MIN(run->slotted, it->len);
		run->slotted_n -= MIN(run->slotted_n, 1);
	}
	it->buf = buffer_unref(it->buf);
}

/* Instance `index` started (out of order or not): mark it, and when it was
 * the last of an item not joined yet, the item is taken ahead. */
static void inst_mark_started(struct stage_run *st, size_t index)
{
	struct stream *x = st->in[0];
	size_t j, pi = st->d.per_item;

	if (index == st->next) {
		do
			st->next++;
		while (bits_get(&st->started, st->next));
	} else {
		bits_set(&st->started, index);
	}
	if (!st->ooo || (j = index / pi) < stream_n(x) ||
	    stage_first_unstarted(st, j * pi, (j + 1) * pi) < (j + 1) * pi)
		return;
	bits_set(&st->taken, j);
	if (stream_taken_ahead(x, j) == x->n_consumers)
		ahead_consumed(st->run, x, j);
}

static int spawn_instance(struct stage_run *st, size_t index)
{
	struct run *run = st->run;
	const struct job_stage *js = stage_of(st);
	const struct job_function *fn =
		&run->job->functions[js->function_index];
	const struct item *item0 = NULL;
	struct sandbox_request req = {
		.image = st->image,
		.limits = { .memory = fn->memory,
			    .timeout_ms = fn->timeout_ms,
			    .output_items = run->opts->max_output_items,
			    .output_bytes = run->opts->max_output_bytes,
			    .output_names = run->opts->max_output_names },
		.n_inputs = js->n_inputs,
		.outputs = (const char *const *)js->outputs,
		.n_outputs = js->n_outputs,
		.instance = index,
		.job = run->id,
		.params = { .args = (const char *const *)fn->args,
			    .n_args = fn->n_args,
			    .env = (const char *const *)fn->env,
			    .n_env = fn->n_env,
			    .seed = fn->seed,
			    .time_ns = fn->time_ns },
		.fn_name = fn->name,
		.stage = (uint32_t)st->s,
		.fresh = fn->fresh,
		/* in->inputs, the job's names and params outlive in->proc
		 * (inst_release()). */
		.kept = true,
	};
	struct err se = {};
	struct inst *in;
	int r;

	r = stage_reserve(st, index + 1);
	if (r < 0)
		return r;
	if (st->d.each0 && !st->fold) {
		size_t j = index / st->d.per_item;

		item0 = j < stream_n(st->in[0]) ? stream_item(st->in[0], j) :
						  stream_slot_item(st->in[0], j);
		if (!item0)
			return -EPROTO; /* ahead_next() gives only those there */
		if (index != st->next && bits_reserve(&st->started, index) < 0)
			return -ENOMEM;
		if (st->ooo && bits_reserve(&st->taken, j) < 0)
			return -ENOMEM;
	}
	in = calloc(1, sizeof(*in));
	if (!in)
		return -ENOMEM;
	in->inputs = calloc(js->n_inputs + 1, sizeof(*in->inputs));
	if (!in->inputs) {
		free(in);
		return -ENOMEM;
	}
	for (size_t p = 0; p < js->n_inputs; p++)
		st->in_sets[p] = st->in[p]->set;
	if (st->fold)
		r = fold_instance(st, index, in->inputs);
	else
		r = dist_instance(&st->d, js, st->in_sets, item0, index,
				  in->inputs);
	if (r < 0) {
		free(in->inputs);
		free(in);
		return r;
	}
	inst_mark_started(st, index);
	instance_set_start(&run->rep->stages[st->s], index, clock_now_ns());
	req.inputs = in->inputs;
	in->st = st;
	in->index = index;
	r = sandbox_spawn(run->opts->sandbox, &req, &in->proc, &se);
	if (r < 0) {
		probe_inst_end(st, index, NULL, PROBE_FAILED, PROBE_REASON_SPAWN, se.msg, NULL, 0, NULL);
		outs_free(in->inputs, js->n_inputs);
		free(in);
		run_fail_instance(run, st->s, index, se.msg, NULL);
		return 0;
	}
	/* A driven instance's fires in its driver, with its worker's pid. */
	if (!sandbox_proc_driven(in->proc))
		PROBE_INST_SPAWNED(run->id, st->s, index, fn->name, sandbox_proc_pid_known(in->proc), sandbox_proc_warm(in->proc));
	in->next = run->live;
	if (run->live)
		run->live->prev = in;
	run->live = in;
	run->running++;
	run->active++;
	st->running++;
	r = deadline_arm(run);
	if (r >= 0)
		r = sandbox_arm(run);
	if (r < 0 && !in->finished) {
		inst_finish(in, r);
		return 0;
	}
	inst_release(in);
	post_pending(run);
	return 0;
}

/* The limit of instances per stage fails the job, naming the limit. */
int stage_instance_limit(struct stage_run *st, size_t n, bool overflow)
{
	struct run *run = st->run;
	uint64_t max = run->max_instances;
	char count[32];

	if (!overflow && n <= max)
		return 0;
	if (overflow)
		snprintf(count, sizeof(count), "more than %zu", SIZE_MAX);
	else
		snprintf(count, sizeof(count), "%zu", n);
	run->rep->stages[st->s].ok = false;
	run_error(run, err_set(run->e, E2BIG,
			       "stage %s: %s instances exceed the limit of %" PRIu64
			       " per stage (--max-instances; default one per 4 KiB of RAM)",
			       stage_of(st)->name, count, max));
	return -E2BIG;
}

/* Instances of a running compute stage whose inputs exist, counted (not
 * materialised) and checked against the limit. */
int stage_count(struct stage_run *st, size_t *ret)
{
	size_t n = 0;
	int r;

	if (st->closed) {
		*ret = st->n_instances;
		return 0;
	}
	if (st->fold) {
		/* Full batches as they come, the last one when the set is
		 * complete: an empty set has no instance, as for `all`. */
		size_t n0 = stream_n(st->in[0]);

		n = n0 / st->fold +
		    (st->in[0]->complete && n0 % st->fold != 0);
		r = stage_instance_limit(st, n, false);
		if (r < 0)
			return r;
		*ret = n;
		return 0;
	}
	r = dist_count(&st->d, stream_n(st->in[0]), &n);
	r = stage_instance_limit(st, n, r < 0);
	if (r < 0)
		return r;
	*ret = n;
	return 0;
}

static size_t stage_available(struct stage_run *st)
{
	size_t n;

	if (stage_count(st, &n) < 0)
		return st->next;
	/* A folding instance reads its predecessor's outputs. */
	if (st->fold && n > st->collected + 1)
		n = st->collected + 1;
	return n;
}

/*
 * An instance of an out-of-order stage whose item has arrived but not
 * joined in[0] yet (the lowest such item first): false when none.
 */
static bool ahead_next(struct stage_run *st, size_t *ret)
{
	struct stream *x = st->in[0];
	size_t pi = st->d.per_item;

	while (st->ooo && pi && st->n_ready) {
		size_t j = st->ready[0], n, i;
		int r;

		if (j < stream_n(x) || !stream_slot_item(x, j)) {
			stage_ready_pop(st); /* joined: taken in order */
			continue;
		}
		r = dist_count(&st->d, j + 1, &n);
		if (stage_instance_limit(st, n, r < 0) < 0)
			return false;
		i = stage_first_unstarted(st, j * pi, (j + 1) * pi);
		if (i == (j + 1) * pi) {
			stage_ready_pop(st);
			continue;
		}
		*ret = i;
		return true;
	}
	return false;
}

/*
 * Compute instances of this stage that may be in flight (over all stages).
 * --parallel fixes it. By default one per CPU, and ENGINE_SLOTS_PER_CPU
 * per CPU once the stage's instances are short (shorter than
 * ENGINE_SHORT_NS on average): a warm worker then waits for the loop
 * thread to collect it and answer it about as long as it runs, and with
 * another one parked and ready a CPU need not idle meanwhile (20,000 no-op
 * instances: 0.72x the time each of -j 2 at load 5-8; within the noise
 * once the warm reset got cheaper: Documentation/benchmarks/warm.md "Slots and
 * the window apart (round 5)"). Longer instances gain nothing from it and
 * would only keep more workers' contexts in memory. Short fresh instances
 * in lanes (sandbox_lane_slots()): as many as the lanes' zygotes have
 * pooled contexts, so that each lane's next forks are queued when its
 * last worker ends, not after a wake-up of this thread and one of the
 * lane's (benchmarks/lanes.md, "Lanes that pay (round 10, branch freshloop)"),
 * and as their declared memory allows (SANDBOX_LANE_MEMORY per lane), never
 * fewer than without lanes: 64 MiB functions run four at once on 2 CPUs,
 * as before lanes, not sixteen (benchmarks/lanes.md, round 11).
 */
static unsigned stage_slots(const struct stage_run *st)
{
	const struct run *run = st->run;
	const struct job_function *fn =
		&run->job->functions[stage_of(st)->function_index];

	if (run->opts->parallel)
		return run->parallel;
	/* Fresh ones by their shortest recent run (run_min()): by the
	 * average, a fresh no-op's lanes fell to run->cpus instances at once
	 * tens of times in a 2,000-instance run, and the engine's own lane
	 * ran dry each time while the driver's ran on its queue
	 * (benchmarks/fresh.md, round 16). */
	if ((st->run_avg_ns && st->run_avg_ns < ENGINE_SHORT_NS) ||
	    (fn->fresh && st->run_min_n && run_min(st) < ENGINE_SHORT_NS))
		return MAX(run->parallel,
			   sandbox_lane_slots(run->opts->sandbox, fn->fresh,
					      fn->memory));
	return run->cpus;
}

/*
 * May this stage start an instance now? At most run->parallel instances
 * run in all (a stage of short fresh instances in lanes: its own slots),
 * and at most one per CPU of the longer ones (stages with
 * fewer slots), whichever stages they belong to. A longer instance does
 * not wait for the whole count to fall below its slots: then a deeper
 * stage of long instances (a folding merge) behind a shallower one of short
 * instances that always has more to start (the parse) got a slot only when
 * the short ones happened to drain to one per CPU, and its input piled up
 * meanwhile (the thesis job at N = 100,000: seconds of parse reports, tens
 * of MiB; Documentation/benchmarks/memory.md "The merge's starved slots (round
 * 6)"). Now it takes the next slot that frees, as deeper stages go first.
 */
static bool slot_free(const struct run *run, const struct stage_run *st)
{
	unsigned slots = stage_slots(st);
	size_t longer = 0;

	if (run->running >= MAX(run->parallel, slots))
		return false;
	if (slots >= run->parallel)
		return true;
	for (size_t s = 0; s < run->job->n_stages; s++) {
		const struct stage_run *o = &run->stages[s];

		if (o->running && !stage_of(o)->io &&
		    stage_slots(o) < run->parallel)
			longer += o->running;
	}
	return longer < slots;
}

/* Instance i of st starts and more of its fresh instances wait: the
 * lanes' drivers start now, while the first instances run in the
 * engine's lane, not at the first hand-over, which waited for a
 * driver's sandbox (1-5 ms of the engine's CPU idle: benchmarks/lanes.md,
 * round 12). Not with -j 1, nor for one instance. */
static void lanes_ahead(const struct stage_run *st, size_t i, size_t avail)
{
	const struct run *run = st->run;

	if (i + 1 < avail && run->parallel > 1 &&
	    run->job->functions[stage_of(st)->function_index].fresh)
		sandbox_lanes_start(run->opts->sandbox);
}

/* Start compute instances while cores are free: deeper stages first, so
 * what was made is consumed (and released) before more is made. */
void inst_dispatch(struct run *run)
{
	const struct job *job = run->job;

	/* Spilled outputs hold their buffers (a descriptor each, often)
	 * until written: compute waits while the writer is behind. */
	if (output_backlog(run->writer) > ENGINE_WRITE_BACKLOG)
		return;
	for (size_t o = 0; o < job->n_stages && !run->failed; o++) {
		struct stage_run *st = &run->stages[run->dispatch_order[o]];
		size_t avail;

		if (st->state != STAGE_RUNNING || stage_of(st)->io)
			continue;
		avail = stage_available(st);
		while (st->queued < avail) {
			size_t q = st->queued;

			stage_probe_queued(st, q);
			st->queued = q + 1;
		}
		while (!run->failed && slot_free(run, st)) {
			size_t i = st->next;
			int r;

			/* In order while the prefix has items; then those
			 * that arrived ahead of it, lowest first. */
			if (i >= avail) {
				if (!ahead_next(st, &i))
					break;
				stage_probe_queued(st, i);
			}
			lanes_ahead(st, i, avail);
			r = spawn_instance(st, i);

			if (r < 0) {
				run_error(run,
					  err_set(run->e, -r, "stage %s: %s",
						  stage_of(st)->name,
						  store_strerror(r)));
				return;
			}
		}
		stage_advance_passes(st);
	}
}
