// SPDX-License-Identifier: MIT
/* `pith doctor`: which sandbox layers this host provides, as a health check. */
#include <stdio.h>

#include <jansson.h>

#include "cli/cli.h"
#include "cli/layers.h"
#include "cli/summary.h"

const char usage_doctor[] =
	"Usage: pith doctor [--json] [--require LAYER]... [-q|-v]\n"
	"\n"
	"List each sandbox layer as active or unavailable, with the reason.\n"
	"\n"
	"Options:\n"
	"      --json           print the list as JSON on stdout\n"
	"      --require LAYER  a layer that must be active (repeatable;\n"
	"                       'all': every layer)\n"
	"  -q, --quiet          print nothing, only set the exit status\n"
	"\n"
	"Exit status: 0 when pith can run here and every required layer is\n"
	"active, 1 when pith cannot start its sandbox or a required layer is\n"
	"unavailable, 2 for bad usage (an unknown layer name).\n";

DEFINE_TRIVIAL_CLEANUP_FUNC(struct sandbox *, sandbox_free);

/* Not a layer of this host: what POSIX functions get, whatever the host
 * (Documentation/posix-functions.md, security.md). */
static const char posix_note[] =
	"functions built with pith-cc --posix (musl, pith port) answer every "
	"system call inside the sandbox: files of /in /out /tmp /dev, memory "
	"from the arena, a fixed clock, seeded getrandom, EPERM for sockets, "
	"fork, exec, ENOSYS otherwise; none reaches the kernel but the final "
	"exit_group, and the layers above still hold";

/* status: "ok", "missing" (a required layer), "failed" (no sandbox) */
static void print_json(const struct layers *ls, const char *status,
		       const char *error)
{
	json_auto_t *root = summary_new("doctor");
	json_t *arr = json_array();

	for (size_t i = 0; i < ls->n; i++) {
		json_t *o = json_object();

		json_object_set_new(o, "layer", json_string(ls->l[i].name));
		json_object_set_new(o, "active",
				    json_boolean(ls->l[i].active));
		json_object_set_new(o, "required",
				    json_boolean(ls->required[i]));
		json_object_set_new(o, "detail",
				    json_string(ls->l[i].detail));
		json_array_append_new(arr, o);
	}
	json_object_set_new(root, "status", json_string(status));
	if (error)
		json_object_set_new(root, "error",
				    summary_error_json(&(struct summary_error){
					    .message = error }));
	json_object_set_new(root, "layers", arr);
	json_object_set_new(root, "posix", json_string(posix_note));
	summary_emit(stdout, root);
}

int cmd_doctor(const struct cli *c)
{
	_cleanup_(sandbox_freep) struct sandbox *sb = NULL;
	struct layers ls = {};
	struct err e = {};
	int r;

	r = sandbox_new(&(struct sandbox_opts){}, &sb, &e);
	if (r < 0) {
		err_prefix(&e, r, "sandbox");
		fprintf(stderr, "pith: %s\n", e.msg);
		if (c->json)
			print_json(&ls, "failed", e.msg);
		return EXIT_FAILED;
	}
	layers_collect(sb, true, &ls);
	if (layers_mark_required(c, NULL, &ls, &e) < 0)
		return cli_usage_error(c->cmd, "%s", e.msg);
	r = layers_missing_required(&ls, &e);
	if (c->json)
		print_json(&ls, r < 0 ? "missing" : "ok", r < 0 ? e.msg : NULL);
	else if (c->verbosity >= 0)
		for (size_t i = 0; i < ls.n; i++)
			printf("%-14s %-12s%s %s\n", ls.l[i].name,
			       ls.l[i].active ? "active" : "unavailable",
			       ls.required[i] ? "*" : " ", ls.l[i].detail);
	if (!c->json && c->verbosity >= 0)
		printf("%-14s %-12s  %s\n", "posix", "emulated", posix_note);
	if (r < 0) {
		if (c->verbosity >= 0 || c->json)
			fprintf(stderr, "pith: %s\n", e.msg);
		return EXIT_FAILED;
	}
	return 0;
}
