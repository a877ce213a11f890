// SPDX-License-Identifier: MIT
/* Human and JSON summaries of a job run. */
#include <jansson.h>

#include "cli/summary.h"

static const char *state_name(enum instance_state s)
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

static double ms(uint64_t ns)
{
	return (double)ns / 1e6;
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
			sr->n_instances, sr->n_instances == 1 ? " " : "s",
			sr->ok ? "ok    " : "FAILED", ms(sr->elapsed_ns),
			sr->items_out, (unsigned long long)sr->bytes_out);
		for (size_t i = 0; i < sr->n_instances; i++)
			if (sr->instances[i].state == INSTANCE_FAILED)
				fprintf(f, "    [%zu] %s\n", i,
					sr->instances[i].reason);
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
	json_object_set_new(st, "elapsed_ms", json_real(ms(sr->elapsed_ns)));
	json_object_set_new(st, "instances",
			    json_integer((json_int_t)sr->n_instances));
	json_object_set_new(st, "items_out",
			    json_integer((json_int_t)sr->items_out));
	json_object_set_new(st, "bytes_out",
			    json_integer((json_int_t)sr->bytes_out));
	for (size_t i = 0; i < sr->n_instances; i++) {
		const struct instance_report *ir = &sr->instances[i];
		json_t *o = json_object();

		json_object_set_new(o, "index", json_integer((json_int_t)i));
		json_object_set_new(o, "status",
				    json_string(state_name(ir->state)));
		if (ir->state == INSTANCE_FAILED)
			json_object_set_new(o, "reason",
					    json_string(ir->reason));
		json_object_set_new(o, "spawn_us",
				    json_real((double)ir->spawn_ns / 1e3));
		json_object_set_new(o, "run_us",
				    json_real((double)ir->run_ns / 1e3));
		json_array_append_new(inst, o);
	}
	json_object_set_new(st, "instance_results", inst);
	return st;
}

int summary_print_json(FILE *f, const struct job *job,
		       const struct engine_report *rep, const char *out_dir,
		       const char *error)
{
	json_auto_t *root = json_object();
	json_t *stages = json_array(), *outs = json_object();

	json_object_set_new(root, "job", json_string(job ? job->name : ""));
	json_object_set_new(root, "status",
			    json_string(rep && rep->ok && !error ? "ok" :
								   "failed"));
	if (error || (rep && !rep->ok && rep->error[0]))
		json_object_set_new(root, "error",
				    json_string(error ? error : rep->error));
	if (rep) {
		json_object_set_new(root, "elapsed_ms",
				    json_real(ms(rep->elapsed_ns)));
		for (size_t o = 0;
		     job && o < job->n_stages && o < rep->n_stages; o++)
			json_array_append_new(
				stages,
				stage_json(&rep->stages[job->order[o]]));
		for (size_t i = 0; i < rep->n_outputs; i++) {
			const struct set *s = rep->outputs[i];
			json_t *o = json_object(), *items = json_array();

			if (out_dir)
				json_object_set_new(o, "dir",
						    json_sprintf("%s/%s",
								 out_dir,
								 s->name));
			for (size_t j = 0; j < s->n; j++) {
				json_t *it = json_object();

				json_object_set_new(
					it, "name",
					json_string(s->items[j].name));
				if (s->items[j].keyed)
					json_object_set_new(
						it, "key",
						json_integer(
							(json_int_t)s->items[j]
								.key));
				json_object_set_new(
					it, "bytes",
					json_integer(
						(json_int_t)s->items[j].len));
				json_array_append_new(items, it);
			}
			json_object_set_new(o, "items", items);
			json_object_set_new(outs, s->name, o);
		}
	}
	json_object_set_new(root, "stages", stages);
	json_object_set_new(root, "outputs", outs);
	if (json_dumpf(root, f, JSON_INDENT(2)) < 0)
		return -EIO;
	fputc('\n', f);
	return 0;
}
