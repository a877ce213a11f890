// SPDX-License-Identifier: MIT
/* The sandbox layers a host provides and the --require policy on them. */
#include <stdio.h>
#include <string.h>

#include "cli/layers.h"
#include "lib/uring.h"
#include "store/store.h"

/* The layers below the sandbox: the I/O loop, the store's backend and its
 * buffer pool. */
static size_t io_layers(struct sandbox_layer *l, size_t max)
{
	_cleanup_loop_ struct loop *loop = NULL;
	struct err e = {};

	if (max < 2)
		return 0;
	l[0] = (struct sandbox_layer){ .name = "io_uring" };
	if (loop_new(8, &loop, &e) < 0) {
		err_copy(l[0].detail, sizeof(l[0].detail), e.msg);
	} else {
		l[0].active = true;
		snprintf(l[0].detail, sizeof(l[0].detail),
			 "all trusted I/O on one ring (%s)",
			 loop_features(loop)->mode);
	}
	l[1] = (struct sandbox_layer){ .name = "store" };
	l[1].active = true;
	snprintf(l[1].detail, sizeof(l[1].detail), "%.150s; buffer pool %.80s",
		 store_backend_status(), store_pool_status());
	return 2;
}

void layers_collect(const struct sandbox *sb, bool io, struct layers *ret)
{
	*ret = (struct layers){};
	ret->n = sandbox_layers(sb, ret->l, LAYERS_MAX);
	if (io)
		ret->n += io_layers(ret->l + ret->n, LAYERS_MAX - ret->n);
}

/* Mark the layers in names[0..n) required; `what` names the list in the
 * error ("--require", "the job's \"require\""). */
static int mark(struct layers *ls, const char *const *names, size_t n,
		const char *what, struct err *e)
{
	for (size_t k = 0; k < n; k++) {
		const char *want = names[k];
		bool found = false;

		for (size_t i = 0; i < ls->n; i++) {
			if (!strcmp(want, "all") ||
			    !strcmp(want, ls->l[i].name)) {
				ls->required[i] = true;
				found = true;
			}
		}
		if (!found) {
			char all[512];
			size_t o = 0;

			all[0] = '\0';
			for (size_t i = 0; i < ls->n && o < sizeof(all); i++)
				o += (size_t)snprintf(all + o, sizeof(all) - o,
						      " %s", ls->l[i].name);
			return err_set(e, EINVAL,
				       "%s: no sandbox layer named '%s' (layers:%s, or all)",
				       what, want, all);
		}
	}
	return 0;
}

int layers_mark_required(const struct cli *c, const struct job *job,
			 struct layers *ls, struct err *e)
{
	int r = mark(ls, c->require, c->n_require, "--require", e);

	if (r >= 0 && job)
		r = mark(ls, (const char *const *)job->require, job->n_require,
			 "the job's \"require\"", e);
	return r;
}

int layers_missing_required(const struct layers *ls, struct err *e)
{
	char names[256];
	size_t o = 0, n = 0;

	names[0] = '\0';
	for (size_t i = 0; i < ls->n; i++) {
		if (!ls->required[i] || ls->l[i].active)
			continue;
		n++;
		if (o < sizeof(names))
			o += (size_t)snprintf(names + o, sizeof(names) - o,
					      "%s%s", o ? ", " : "",
					      ls->l[i].name);
	}
	if (!n)
		return 0;
	return err_set(e, ENOTSUP,
		       "required sandbox layer%s unavailable: %s; not running untrusted code ('pith doctor' says why)",
		       n == 1 ? "" : "s", names);
}

int layers_enforce(const struct cli *c, const struct job *job,
		   const struct sandbox *sb, struct err *e)
{
	struct layers ls;
	char names[256];
	size_t o = 0, n = 0;

	layers_collect(sb, false, &ls);
	if (layers_mark_required(c, job, &ls, e) < 0)
		return EXIT_USAGE;
	if (layers_missing_required(&ls, e) < 0)
		return EXIT_FAILED;
	names[0] = '\0';
	for (size_t i = 0; i < ls.n; i++) {
		if (ls.l[i].active)
			continue;
		n++;
		if (c->verbosity > 0)
			cli_note(c, "note: sandbox layer %s unavailable: %s",
				 ls.l[i].name, ls.l[i].detail);
		else if (o < sizeof(names))
			o += (size_t)snprintf(names + o, sizeof(names) - o,
					      "%s%s", o ? ", " : "",
					      ls.l[i].name);
	}
	if (n && c->verbosity == 0)
		cli_note(c, "note: sandbox layer%s unavailable: %s (-v or 'pith doctor' for why)",
			 n == 1 ? "" : "s", names);
	return 0;
}
