// SPDX-License-Identifier: MIT
/* Human and JSON summaries of a job run (JSON: Documentation/json-output.md). */
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>
#include <string.h>

#include <jansson.h>

#include <pith/fn.h>

#include "cli/summary.h"

/* Version of the JSON documents; bumped when a field changes meaning. */
#define SUMMARY_JSON_VERSION 1

static const struct {
	int status;
	const char *name, *what;
} sdk_exits[] = {
	{ PITH_EXIT_NOMEM, "PITH_EXIT_NOMEM",
	  "the function's arena is exhausted: raise the function's \"memory\"" },
	{ PITH_EXIT_NO_OUTPUT, "PITH_EXIT_NO_OUTPUT",
	  "the function wrote to an output set the stage does not declare" },
	{ PITH_EXIT_LIMIT, "PITH_EXIT_LIMIT",
	  "an item name over 255 bytes, or over 1000000 items in one output set" },
	{ PITH_EXIT_BAD_ARG, "PITH_EXIT_BAD_ARG",
	  "an SDK call was given a pointer outside the function's memory" },
	{ PITH_EXIT_BAD_CONTEXT, "PITH_EXIT_BAD_CONTEXT",
	  "the function was built for another ABI version: rebuild it with tools/pith-cc" },
	{ PITH_EXIT_NO_INPUT, "PITH_EXIT_NO_INPUT",
	  "the function asked for an input set the stage does not have: check the names in the stage's \"inputs\", or use pith_input_optional() for a set it can do without" },
};

const char *summary_sdk_exit(int status, const char **ret_name)
{
	for (size_t i = 0; i < ARRAY_SIZE(sdk_exits); i++) {
		if (sdk_exits[i].status == status) {
			if (ret_name)
				*ret_name = sdk_exits[i].name;
			return sdk_exits[i].what;
		}
	}
	return NULL;
}

static bool exited(const struct instance_report *ir)
{
	return ir->exit_status &&
	       !strncmp(instance_reason(ir), "exited with status ", 19);
}

static const char *instance_hint(const struct instance_report *ir,
				 const char **ret_name)
{
	if (ir->state != INSTANCE_FAILED || !exited(ir))
		return NULL;
	return summary_sdk_exit(ir->exit_status, ret_name);
}

const char *summary_first_failure_hint(const struct engine_report *rep)
{
	for (size_t s = 0; s < rep->n_stages; s++) {
		const struct stage_report *sr = &rep->stages[s];

		for (size_t i = 0; i < sr->n_instances; i++) {
			struct instance_report ir;

			if (instance_state(sr, i) != INSTANCE_FAILED)
				continue;
			instance_get(sr, i, &ir);
			return sr->io ? NULL : instance_hint(&ir, NULL);
		}
	}
	return NULL;
}

static double ms(uint64_t ns)
{
	return (double)ns / 1e6;
}

/* A measurement (>= 0) as JSON: three decimals are below what it can
 * resolve. */
static json_t *json_fixed(double v)
{
	return json_real((double)(int64_t)(v * 1000.0 + 0.5) / 1000.0);
}

void summary_print_human(FILE *f, const struct job *job,
			 const struct engine_report *rep, const char *out_dir)
{
	fprintf(f, "job %s: %s in %.1f ms\n", job->name,
		rep->ok ? "ok" : "FAILED", ms(rep->elapsed_ns));
	for (size_t o = 0; o < job->n_stages; o++) {
		size_t s = job->order[o];
		const struct stage_report *sr = &rep->stages[s];

		if (!sr->ran) {
			fprintf(f, "  stage %-12s not run\n", sr->name);
			continue;
		}
		fprintf(f,
			"  stage %-12s %-4s %-12s %5zu instance%s %s %8.1f ms  %zu items, %llu bytes out\n",
			sr->name, sr->io ? "io" : "fn", sr->function,
			MAX(sr->n_counted, sr->n_instances),
			MAX(sr->n_counted, sr->n_instances) == 1 ? " " : "s",
			sr->ok ? "ok    " : "FAILED", ms(sr->elapsed_ns),
			sr->items_out, (unsigned long long)sr->bytes_out);
		for (size_t i = 0; i < sr->n_instances; i++) {
			struct instance_report irv, *ir = &irv;
			const char *hint;

			if (instance_state(sr, i) != INSTANCE_FAILED)
				continue;
			instance_get(sr, i, ir);
			hint = sr->io ? NULL : instance_hint(ir, NULL);
			fprintf(f, "    [%zu] %s%s%s%s\n", i, instance_reason(ir),
				hint ? " (" : "", hint ? hint : "",
				hint ? ")" : "");
		}
	}
	if (!rep->ok)
		return;
	for (size_t i = 0; i < rep->n_outputs; i++) {
		const struct set *s = rep->outputs[i];
		unsigned long long bytes = 0;

		for (size_t j = 0; j < s->n; j++)
			bytes += s->items[j].len;
		fprintf(f, "  output %s: %zu item%s, %llu bytes%s%s/%s/\n",
			s->name, s->n, s->n == 1 ? "" : "s", bytes,
			out_dir ? " -> " : "", out_dir ? out_dir : "",
			out_dir ? s->name : "");
	}
}

/* The structured form of a failed instance's reason. */
static void failure_json(json_t *o, const struct stage_report *sr,
			 const struct instance_report *ir)
{
	const char *name = NULL, *hint;
	const char *kind = "other";

	json_object_set_new(o, "reason", json_string(instance_reason(ir)));
	if (sr->io) {
		kind = "io";
	} else if (!strncmp(instance_reason(ir), "timed out", 9)) {
		kind = "timeout";
	} else if (ir->syscall >= 0) {
		kind = "syscall";
		json_object_set_new(o, "syscall",
				    json_integer((json_int_t)ir->syscall));
	} else if (ir->signal) {
		kind = "signal";
	} else if (exited(ir)) {
		hint = instance_hint(ir, &name);
		kind = hint ? "sdk" : "exit";
		if (hint) {
			json_object_set_new(o, "sdk_error", json_string(name));
			json_object_set_new(o, "explanation", json_string(hint));
		}
		if (hint && ir->note && ir->note->status == ir->exit_status) {
			json_t *n = json_object();

			if (ir->note->set[0])
				json_object_set_new(n, "set",
						    json_string(ir->note->set));
			else
				json_object_set_new(
					n, "asked_bytes",
					json_integer((json_int_t)MIN(
						ir->note->asked,
						(uint64_t)INT64_MAX)));
			if (!ir->note->set[0])
				json_object_set_new(
					n, "left_bytes",
					json_integer((json_int_t)MIN(
						ir->note->left,
						(uint64_t)INT64_MAX)));
			json_object_set_new(o, "sdk_note", n);
		}
	}
	if (!sr->io && exited(ir))
		json_object_set_new(o, "exit_status",
				    json_integer(ir->exit_status));
	if (!sr->io && ir->signal) {
		json_object_set_new(o, "signal", json_integer(ir->signal));
		if (sigabbrev_np(ir->signal))
			json_object_set_new(o, "signal_name",
					    json_sprintf("SIG%s",
							 sigabbrev_np(ir->signal)));
	}
	json_object_set_new(o, "failure", json_string(kind));
}

static json_t *stage_json(const struct stage_report *sr)
{
	json_t *st = json_object(), *inst = json_array();

	json_object_set_new(st, "name", json_string(sr->name));
	json_object_set_new(st, "kind", json_string(sr->io ? "io" : "compute"));
	json_object_set_new(st, "function", json_string(sr->function));
	json_object_set_new(st, "status",
			    json_string(!sr->ran ? "not-run" :
					sr->ok	 ? "ok" :
						   "failed"));
	json_object_set_new(st, "elapsed_ms", json_fixed(ms(sr->elapsed_ns)));
	json_object_set_new(st, "instances",
			    json_integer((json_int_t)MAX(sr->n_counted,
							 sr->n_instances)));
	json_object_set_new(st, "items_out",
			    json_integer((json_int_t)sr->items_out));
	json_object_set_new(st, "bytes_out",
			    json_integer((json_int_t)sr->bytes_out));
	for (size_t i = 0; i < sr->n_instances; i++) {
		struct instance_report irv, *ir = &irv;
		json_t *o = json_object();

		instance_get(sr, i, ir);
		json_object_set_new(o, "index", json_integer((json_int_t)i));
		json_object_set_new(o, "status",
				    json_string(instance_state_name(ir->state)));
		if (ir->state == INSTANCE_FAILED)
			failure_json(o, sr, ir);
		json_object_set_new(o, "spawn_us",
				    json_fixed((double)ir->spawn_ns / 1e3));
		json_object_set_new(o, "run_us",
				    json_fixed((double)ir->run_ns / 1e3));
		json_array_append_new(inst, o);
	}
	json_object_set_new(st, "instance_results", inst);
	return st;
}

static json_t *outputs_json(const struct engine_report *rep,
			    const char *out_dir)
{
	json_t *outs = json_object();

	for (size_t i = 0; i < rep->n_outputs; i++) {
		const struct set *s = rep->outputs[i];
		json_t *o = json_object(), *items = json_array();

		if (out_dir)
			json_object_set_new(o, "dir",
					    json_sprintf("%s/%s", out_dir,
							 s->name));
		for (size_t j = 0; j < s->n; j++) {
			const struct item *item = &s->items[j];
			json_t *it = json_object();

			json_object_set_new(it, "name", json_string(item->name));
			if (item->keyed)
				json_object_set_new(
					it, "key",
					json_integer((json_int_t)item->key));
			json_object_set_new(it, "bytes",
					    json_integer((json_int_t)item->len));
			json_array_append_new(items, it);
		}
		json_object_set_new(o, "items", items);
		json_object_set_new(outs, s->name, o);
	}
	return outs;
}

json_t *summary_error_json(const struct summary_error *err)
{
	json_t *o = json_object();

	json_object_set_new(o, "message", json_string(err->message));
	if (err->file)
		json_object_set_new(o, "file", json_string(err->file));
	if (err->at && err->at->line) {
		json_object_set_new(o, "line", json_integer(err->at->line));
		json_object_set_new(o, "column",
				    json_integer(err->at->column));
	}
	if (err->at && err->at->path[0])
		json_object_set_new(o, "path", json_string(err->at->path));
	if (err->at && err->at->message[0])
		json_object_set_new(o, "reason",
				    json_string(err->at->message));
	if (err->signal) {
		json_object_set_new(o, "signal", json_integer(err->signal));
		json_object_set_new(o, "signal_name",
				    json_sprintf("SIG%s",
						 sigabbrev_np(err->signal)));
	}
	return o;
}

int summary_print_json(FILE *f, const char *command, const struct job *job,
		       const struct engine_report *rep, const char *out_dir,
		       const struct summary_error *err)
{
	json_auto_t *root = summary_new(command);
	const char *status;

	if (err)
		status = err->status;
	else
		status = rep && rep->ok ? "ok" : "failed";
	json_object_set_new(root, "job", job ? json_string(job->name) :
					       json_null());
	json_object_set_new(root, "status", json_string(status));
	if (err && err->message) {
		json_object_set_new(root, "error", summary_error_json(err));
	} else if (rep && !rep->ok && rep->error[0]) {
		struct summary_error fe = { .message = rep->error };

		json_object_set_new(root, "error", summary_error_json(&fe));
	}
	if (job && !strcmp(command, "check")) {
		json_object_set_new(root, "stages",
				    json_integer((json_int_t)job->n_stages));
		json_object_set_new(root, "outputs",
				    json_integer((json_int_t)job->n_outputs));
	} else if (strcmp(command, "check")) { /* run, submit --wait, result */
		json_t *stages = json_array();

		if (rep) {
			json_object_set_new(root, "elapsed_ms",
					    json_fixed(ms(rep->elapsed_ns)));
			for (size_t o = 0;
			     job && o < job->n_stages && o < rep->n_stages; o++)
				json_array_append_new(
					stages,
					stage_json(&rep->stages[job->order[o]]));
		}
		json_object_set_new(root, "stages", stages);
		json_object_set_new(root, "outputs",
				    rep ? outputs_json(rep, out_dir) :
					  json_object());
	}
	return summary_emit(f, root);
}

json_t *summary_new(const char *command)
{
	json_t *root = json_object();

	json_object_set_new(root, "version", json_integer(SUMMARY_JSON_VERSION));
	json_object_set_new(root, "command", json_string(command));
	return root;
}

/*
 * The suite's hook: with PITH_TEST_JSON_DIR set (tests/run.sh sets it), a
 * copy of every document goes there too, and the last test validates them
 * all against Documentation/json-output.schema.json.
 */
static void test_copy(const json_t *root)
{
	const char *dir = getenv("PITH_TEST_JSON_DIR");
	static unsigned n;
	char path[4096];

	if (!dir || !*dir)
		return;
	snprintf(path, sizeof(path), "%s/%d-%u.json", dir, (int)getpid(), n++);
	json_dump_file(root, path, JSON_REAL_PRECISION(15));
}

int summary_emit(FILE *f, const json_t *root)
{
	test_copy(root);
	if (json_dumpf(root, f, JSON_INDENT(2) | JSON_REAL_PRECISION(15)) < 0)
		return -EIO;
	fputc('\n', f);
	return fflush(f) ? -EIO : 0;
}
