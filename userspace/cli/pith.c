// SPDX-License-Identifier: MIT
/* The `pith` command: run a job file, check the host's sandbox layers. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "cli/summary.h"
#include "engine/engine.h"
#include "iofuncs/iofuncs.h"
#include "job/job.h"
#include "lib/macro.h"
#include "lib/uring.h"
#include "sandbox/sandbox.h"

enum { EXIT_FAILED = 1, EXIT_USAGE = 2 };

static const char usage_main[] =
	"Usage: pith COMMAND [OPTIONS]\n"
	"\n"
	"Run dataflow jobs of pure compute functions in sealed sandboxes.\n"
	"\n"
	"Commands:\n"
	"  run JOB.json     validate and run a job file\n"
	"  check JOB.json   validate a job file without running it\n"
	"  doctor           show which sandbox layers this host provides\n"
	"  help [COMMAND]   show help for a command\n"
	"\n"
	"Options:\n"
	"  -h, --help       show this help\n"
	"  -V, --version    show the version\n"
	"\n"
	"Exit status: 0 success, 1 a stage failed, 2 invalid job or usage.\n"
	"Documentation: pith(1), pith-job(5), Documentation/ in the source tree.\n";

static const char usage_run[] =
	"Usage: pith run JOB.json [-o DIR] [--json] [-j N] [--data-root DIR]\n"
	"\n"
	"Validate JOB.json, run it, write each job output set to\n"
	"DIR/<output>/<item name> and print a summary.\n"
	"\n"
	"Options:\n"
	"  -o, --output DIR   where results go (default: ./out); each output\n"
	"                     directory is replaced only once all its files are\n"
	"                     written, and nothing is written when the job fails\n"
	"      --json         print a machine-readable summary on stdout\n"
	"  -j, --parallel N   instances running at once (default: online CPUs)\n"
	"      --data-root DIR\n"
	"                     where paths of file.read and file.write resolve\n"
	"                     (default: the job file's directory); paths that\n"
	"                     leave it are refused\n"
	"  -h, --help         show this help\n"
	"\n"
	"Environment: PITH_STORE_POOL=SIZE bounds the released I/O buffers kept\n"
	"for reuse (0: none); more variables in pith(1).\n"
	"\n"
	"Exit status: 0 success, 1 a stage failed, 2 invalid job or usage.\n";

static const char usage_check[] =
	"Usage: pith check JOB.json\n"
	"\n"
	"Validate JOB.json (structure, names, cycles, files) and exit 0 when it\n"
	"is a valid job, 2 with the first error otherwise.\n";

static const char usage_doctor[] =
	"Usage: pith doctor [--json]\n"
	"\n"
	"List each sandbox layer as active or unavailable, with the reason.\n"
	"Exit status 0 when every layer is active, 1 otherwise.\n";

static int usage_error(const char *cmd, const char *fmt, const char *arg)
{
	fprintf(stderr, "pith%s%s: ", cmd ? " " : "", cmd ? cmd : "");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\nTry 'pith %s%s--help' for more information.\n",
		cmd ? cmd : "", cmd ? " " : "");
	return EXIT_USAGE;
}

static int parse_job(const char *path, struct job **ret)
{
	struct job_parse_opts po = { .io_check = iofuncs_check,
				     .check_files = true };
	struct err e = {};
	int r = job_parse_file(path, &po, ret, &e);

	if (r < 0) {
		fprintf(stderr, "pith: %s\n", e.msg);
		return EXIT_USAGE;
	}
	return 0;
}

DEFINE_TRIVIAL_CLEANUP_FUNC(struct job *, job_free);

/* Say once per run which sandbox layers this host does not provide. */
static void warn_missing_layers(const struct sandbox *sb)
{
	struct sandbox_layer layers[32];
	size_t n = sandbox_layers(sb, layers, ARRAY_SIZE(layers));

	for (size_t i = 0; i < n; i++)
		if (!layers[i].active)
			fprintf(stderr,
				"pith: note: sandbox layer %s unavailable: %s\n",
				layers[i].name, layers[i].detail);
}
DEFINE_TRIVIAL_CLEANUP_FUNC(struct sandbox *, sandbox_free);

static int cmd_run(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "json", no_argument, NULL, 'J' },
		{ "parallel", required_argument, NULL, 'j' },
		{ "data-root", required_argument, NULL, 'D' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	_cleanup_(job_freep) struct job *job = NULL;
	_cleanup_(sandbox_freep) struct sandbox *sb = NULL;
	struct engine_report rep = {};
	const char *out = "out", *data_root = NULL;
	bool json = false;
	unsigned parallel = 0;
	struct err e = {};
	int c, r;

	while ((c = getopt_long(argc, argv, "o:j:h", opts, NULL)) >= 0) {
		switch (c) {
		case 'o':
			out = optarg;
			break;
		case 'J':
			json = true;
			break;
		case 'D':
			data_root = optarg;
			break;
		case 'j': {
			char *end;
			unsigned long v = strtoul(optarg, &end, 10);

			if (*optarg < '0' || *optarg > '9' || *end || v < 1 ||
			    v > 256)
				return usage_error(
					"run",
					"--parallel wants a number from 1 to 256, not '%s'",
					optarg);
			parallel = (unsigned)v;
			break;
		}
		case 'h':
			fputs(usage_run, stdout);
			return 0;
		default:
			return usage_error("run", "%s", "invalid option");
		}
	}
	if (optind != argc - 1)
		return usage_error("run", "%s",
				   optind == argc ? "missing JOB.json" :
						    "too many arguments");
	if (store_pool_check() < 0)
		return usage_error(NULL,
				   "PITH_STORE_POOL='%s' is not a size (as 2GiB; 0 turns the buffer pool off)",
				   getenv("PITH_STORE_POOL"));
	r = parse_job(argv[optind], &job);
	if (r)
		return r;

	r = sandbox_new(&(struct sandbox_opts){}, &sb, &e);
	if (r < 0) {
		fprintf(stderr, "pith: sandbox: %s\n", e.msg);
		if (json)
			summary_print_json(stdout, job, NULL, NULL, e.msg);
		return EXIT_FAILED;
	}
	warn_missing_layers(sb);
	r = engine_run(job,
		       &(struct engine_opts){ .sandbox = sb,
					      .parallel = parallel,
					      .data_root = data_root,
					      .out_dir = out },
		       &rep, &e);
	if (r < 0) {
		rep.ok = false;
		fprintf(stderr, "pith: %s\n", e.msg);
	} else if (!rep.ok) {
		fprintf(stderr, "pith: %s\n", rep.error);
	}
	if (json)
		summary_print_json(stdout, job, &rep, rep.ok ? out : NULL,
				   r < 0 ? e.msg : NULL);
	else
		summary_print_human(stdout, job, &rep, rep.ok ? out : NULL);
	c = rep.ok ? 0 : EXIT_FAILED;
	engine_report_done(&rep);
	return c;
}

static int cmd_check(int argc, char **argv)
{
	_cleanup_(job_freep) struct job *job = NULL;
	int r;

	if (argc == 2 &&
	    (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
		fputs(usage_check, stdout);
		return 0;
	}
	if (argc != 2)
		return usage_error("check", "%s",
				   argc < 2 ? "missing JOB.json" :
					      "too many arguments");
	r = parse_job(argv[1], &job);
	if (r)
		return r;
	printf("%s: valid job '%s': %zu stage%s, %zu output%s\n", argv[1],
	       job->name, job->n_stages, job->n_stages == 1 ? "" : "s",
	       job->n_outputs, job->n_outputs == 1 ? "" : "s");
	return 0;
}

/* The layers below the sandbox: the I/O loop, the store's backend and its
 * buffer pool. */
static size_t doctor_io_layers(struct sandbox_layer *l, size_t max)
{
	_cleanup_loop_ struct loop *loop = NULL;
	struct err e = {};

	if (max < 2)
		return 0;
	l[0] = (struct sandbox_layer){ .name = "io_uring" };
	if (loop_new(8, &loop, &e) < 0) {
		snprintf(l[0].detail, sizeof(l[0].detail), "%.*s",
			 (int)sizeof(l[0].detail) - 1, e.msg);
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

static int cmd_doctor(int argc, char **argv)
{
	_cleanup_(sandbox_freep) struct sandbox *sb = NULL;
	struct sandbox_layer layers[32];
	bool json = argc == 2 && !strcmp(argv[1], "--json");
	size_t n = 0;
	struct err e = {};
	bool all = true;

	if (argc == 2 &&
	    (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
		fputs(usage_doctor, stdout);
		return 0;
	}
	if (argc > 2 || (argc == 2 && !json))
		return usage_error("doctor", "unexpected argument '%s'",
				   argv[1]);
	if (sandbox_new(&(struct sandbox_opts){}, &sb, &e) < 0) {
		fprintf(stderr, "pith: sandbox: %s\n", e.msg);
		return EXIT_FAILED;
	}
	n = sandbox_layers(sb, layers, ARRAY_SIZE(layers));
	n += doctor_io_layers(layers + n, ARRAY_SIZE(layers) - n);
	if (json) {
		json_auto_t *root = json_object();
		json_t *arr = json_array();

		for (size_t i = 0; i < n; i++) {
			json_t *o = json_object();

			json_object_set_new(o, "layer",
					    json_string(layers[i].name));
			json_object_set_new(o, "active",
					    json_boolean(layers[i].active));
			json_object_set_new(o, "detail",
					    json_string(layers[i].detail));
			json_array_append_new(arr, o);
		}
		json_object_set_new(root, "layers", arr);
		json_dumpf(root, stdout, JSON_INDENT(2));
		putchar('\n');
	}
	for (size_t i = 0; i < n; i++) {
		all &= layers[i].active;
		if (!json)
			printf("%-14s %-12s %s\n", layers[i].name,
			       layers[i].active ? "active" : "unavailable",
			       layers[i].detail);
	}
	return all ? 0 : EXIT_FAILED;
}

int main(int argc, char **argv)
{
	const char *cmd = argc > 1 ? argv[1] : NULL;

	if (!cmd) {
		fputs(usage_main, stderr);
		return EXIT_USAGE;
	}
	if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help")) {
		fputs(usage_main, stdout);
		return 0;
	}
	if (!strcmp(cmd, "-V") || !strcmp(cmd, "--version")) {
		printf("pith %s\n", PITH_VERSION);
		return 0;
	}
	if (!strcmp(cmd, "help")) {
		const char *t = argc > 2 ? argv[2] : "";

		fputs(!strcmp(t, "run")	   ? usage_run :
		      !strcmp(t, "check")  ? usage_check :
		      !strcmp(t, "doctor") ? usage_doctor :
					     usage_main,
		      stdout);
		return 0;
	}
	if (!strcmp(cmd, "run"))
		return cmd_run(argc - 1, argv + 1);
	if (!strcmp(cmd, "check"))
		return cmd_check(argc - 1, argv + 1);
	if (!strcmp(cmd, "doctor"))
		return cmd_doctor(argc - 1, argv + 1);
	return usage_error(NULL, "unknown command '%s'", cmd);
}
