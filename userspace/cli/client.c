// SPDX-License-Identifier: MIT
/*
 * The client of pithd: `pith submit` reads the job and every file it names
 * with the caller's own permissions and sends them (pithd opens none of
 * the caller's paths); `--wait` then prints what `pith run` prints and
 * writes the same output directory. `pith status/result/cancel` follow a
 * job by its id. One HTTP/1.1 request per connection, on a Unix socket.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "cli/cli.h"
#include "cli/client.h"
#include "cli/progress.h"
#include "cli/summary.h"
#include "daemon/wire.h"
#include "engine/engine.h"
#include "iofuncs/iofuncs.h"
#include "job/job.h"
#include "lib/clock.h"
#include "lib/macro.h"

#define DEFAULT_SOCKET "/run/pith/pithd.sock"

const char usage_submit[] =
	"Usage: pith submit JOB.json [--wait [-o DIR]] [--json] [--socket PATH]\n"
	"\n"
	"Send JOB.json and every file it names (read with your permissions) to\n"
	"pithd and print the job's id. The job belongs to your uid.\n"
	"\n"
	"Options:\n"
	"  -w, --wait         wait for the job, then behave like 'pith run': the\n"
	"                     same summary, exit status and output directory\n"
	"  -o, --output DIR   with --wait: where results go (default: ./out)\n"
	"      --json         print JSON: {\"id\": ...}, or with --wait the\n"
	"                     summary of 'pith run --json'\n"
	"      --socket PATH  pithd's socket (default: $PITH_SOCKET, else\n"
	"                     " DEFAULT_SOCKET ")\n"
	"\n"
	"Exit status: 0 accepted (with --wait: succeeded), 1 a stage failed or\n"
	"pithd refused or is busy, 2 invalid job or usage.\n";

const char usage_status[] =
	"Usage: pith status [ID] [--json] [--socket PATH]\n"
	"\n"
	"Without ID, list your jobs (root: everyone's); with ID, show the job's\n"
	"state and, per stage, how many instances succeeded or failed.\n";

const char usage_result[] =
	"Usage: pith result ID [-o DIR] [--json] [--socket PATH]\n"
	"\n"
	"Fetch a finished job's output sets into DIR/<output>/<item name>\n"
	"(default: ./out), replacing each output directory only once it is\n"
	"complete.\n";

const char usage_cancel[] =
	"Usage: pith cancel ID [--json] [--socket PATH]\n"
	"\n"
	"Cancel a job: a queued job never runs; a running job's result is\n"
	"discarded when its running instances end.\n";

static const char *socket_path(const struct cli *o)
{
	if (o->socket)
		return o->socket;
	if (getenv("PITH_SOCKET") && *getenv("PITH_SOCKET"))
		return getenv("PITH_SOCKET");
	return DEFAULT_SOCKET;
}

struct response {
	int status;
	unsigned retry_after;
	char *body;
	size_t len;
};

/* One request; 0 with the answer, or -errno (message printed). */
static int request(const struct cli *o, const char *method,
		   const char *path, const char *body, size_t len,
		   struct response *ret)
{
	const char *sp = socket_path(o);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	_cleanup_close_ int fd = -1;
	char head[512];
	int n;
	char *buf = NULL, *p;
	size_t blen = 0, cap = 0;

	*ret = (struct response){};
	if (strlen(sp) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "pith: socket path too long: %s\n", sp);
		return -ENAMETOOLONG;
	}
	strcpy(sa.sun_path, sp);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int r = negative_errno();

		fprintf(stderr,
			"pith: cannot reach pithd at %s: %m (is pithd.socket running? PITH_SOCKET or --socket name another)\n",
			sp);
		return r;
	}
	n = snprintf(head, sizeof(head),
		     "%s %s HTTP/1.1\r\nHost: pith\r\nContent-Length: %zu\r\n"
		     "Content-Type: application/json\r\nConnection: close\r\n\r\n",
		     method, path, len);
	for (size_t off = 0, total = (size_t)n + len; off < total;) {
		const char *src = off < (size_t)n ? head + off :
						    body + (off - (size_t)n);
		size_t left = off < (size_t)n ? (size_t)n - off : total - off;
		ssize_t w = write(fd, src, left);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			fprintf(stderr, "pith: sending to pithd: %m\n");
			return -EIO;
		}
		off += (size_t)w;
	}
	for (;;) {
		ssize_t r;

		if (blen + 65536 + 1 > cap) {
			char *nb = realloc(buf, cap = 2 * cap + 65536 + 1);

			if (!nb) {
				free(buf);
				return -ENOMEM;
			}
			buf = nb;
		}
		r = read(fd, buf + blen, cap - blen - 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			fprintf(stderr, "pith: reading pithd's answer: %m\n");
			free(buf);
			return -EIO;
		}
		if (r == 0)
			break;
		blen += (size_t)r;
	}
	if (!buf || blen < 12 || sscanf(buf, "HTTP/1.1 %d", &ret->status) != 1) {
		fprintf(stderr, "pith: pithd's answer is not HTTP\n");
		free(buf);
		return -EPROTO;
	}
	buf[blen] = 0;
	p = strstr(buf, "\r\n\r\n");
	if (!p) {
		fprintf(stderr, "pith: pithd's answer was cut short\n");
		free(buf);
		return -EPROTO;
	}
	{
		char *ra = strcasestr(buf, "\r\nRetry-After:");

		if (ra && ra < p)
			ret->retry_after = (unsigned)strtoul(ra + 14, NULL, 10);
	}
	ret->len = blen - (size_t)(p + 4 - buf);
	ret->body = malloc(ret->len + 1);
	if (!ret->body) {
		free(buf);
		return -ENOMEM;
	}
	memcpy(ret->body, p + 4, ret->len);
	ret->body[ret->len] = 0;
	free(buf);
	return 0;
}

static json_t *response_json(const struct response *r)
{
	return json_loadb(r->body, r->len, 0, NULL);
}

/* Print pithd's error for a non-2xx answer; the exit status to use. */
static int server_error(const struct response *r)
{
	json_t *o = response_json(r);
	const char *msg = json_string_value(json_object_get(o, "error"));

	fprintf(stderr, "pith: pithd: %s", msg ? msg : "error");
	if (r->retry_after)
		fprintf(stderr, " (retry in %u s)", r->retry_after);
	fprintf(stderr, "\n");
	json_decref(o);
	return r->status == 400 ? EXIT_USAGE : EXIT_FAILED;
}

static int read_file(int at, const char *path, unsigned char **ret,
		     size_t *ret_len)
{
	_cleanup_close_ int fd = openat(at, path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	unsigned char *buf;
	size_t off = 0;

	if (fd < 0 || fstat(fd, &st) < 0)
		return negative_errno();
	if (!S_ISREG(st.st_mode))
		return -EINVAL;
	buf = malloc((size_t)st.st_size + 1);
	if (!buf)
		return -ENOMEM;
	while (off < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + off, (size_t)st.st_size - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		off += (size_t)n;
	}
	*ret = buf;
	*ret_len = off;
	return 0;
}

static int add_file(json_t *files, int at, const char *path)
{
	unsigned char *data;
	size_t len;
	char *b64;
	int r;

	if (json_object_get(files, path))
		return 0;
	r = read_file(at, path, &data, &len);
	if (r < 0) {
		fprintf(stderr, "pith: %s: %s\n", path, strerror(-r));
		return r;
	}
	b64 = wire_b64_encode(data, len);
	free(data);
	if (!b64)
		return -ENOMEM;
	json_object_set_new(files, path, json_string(b64));
	free(b64);
	return 0;
}

DEFINE_TRIVIAL_CLEANUP_FUNC(struct job *, job_free);

/* ---- writing results like pith run ---- */

static int write_all(int fd, const void *data, size_t len)
{
	for (size_t off = 0; off < len;) {
		ssize_t n = write(fd, (const char *)data + off, len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? negative_errno() : -EIO;
		off += (size_t)n;
	}
	return 0;
}

static void remove_tree(int at, const char *name);

/* DIR/<output>/ for each output, each replaced only once complete. */
static int write_outputs(const char *dir, struct set **sets, size_t n)
{
	_cleanup_close_ int dfd = -1;

	if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
		fprintf(stderr, "pith: %s: %m\n", dir);
		return -errno;
	}
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		fprintf(stderr, "pith: %s: %m\n", dir);
		return -errno;
	}
	for (size_t i = 0; i < n; i++) {
		char tmp[512];
		_cleanup_close_ int tfd = -1;
		int r;

		snprintf(tmp, sizeof(tmp), ".%s.tmp-%d", sets[i]->name,
			 (int)getpid());
		remove_tree(dfd, tmp);
		if (mkdirat(dfd, tmp, 0755) < 0 ||
		    (tfd = openat(dfd, tmp, O_RDONLY | O_DIRECTORY |
						    O_CLOEXEC)) < 0) {
			fprintf(stderr, "pith: %s/%s: %m\n", dir, tmp);
			return -errno;
		}
		for (size_t k = 0; k < sets[i]->n; k++) {
			const struct item *it = &sets[i]->items[k];
			const void *data;
			_cleanup_close_ int fd = openat(
				tfd, it->name,
				O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);

			if (fd < 0 || item_data(it, &data) < 0 ||
			    write_all(fd, data, it->len) < 0 || fsync(fd) < 0) {
				fprintf(stderr, "pith: %s/%s/%s: %m\n", dir,
					sets[i]->name, it->name);
				remove_tree(dfd, tmp);
				return -EIO;
			}
		}
		fsync(tfd);
		r = renameat2(dfd, tmp, dfd, sets[i]->name, RENAME_EXCHANGE);
		if (r == 0)
			remove_tree(dfd, tmp); /* now the previous results */
		else if (renameat(dfd, tmp, dfd, sets[i]->name) < 0) {
			fprintf(stderr, "pith: %s/%s: %m\n", dir, sets[i]->name);
			remove_tree(dfd, tmp);
			return -EIO;
		}
	}
	fsync(dfd);
	return 0;
}

static void remove_tree(int at, const char *name)
{
	_cleanup_close_ int fd = openat(at, name,
					O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
						O_CLOEXEC);
	DIR *d;
	struct dirent *de;

	if (fd < 0) {
		unlinkat(at, name, 0);
		return;
	}
	d = fdopendir(TAKE_FD(fd));
	if (!d)
		return;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			unlinkat(dirfd(d), de->d_name, 0);
	closedir(d);
	unlinkat(at, name, AT_REMOVEDIR);
}

/* GET the result of `id` into sets (job order); 0 or an exit status. */
static int fetch_result(const struct cli *o, const char *id,
			const struct job *job, struct set ***ret_sets,
			size_t *ret_n)
{
	char path[128];
	struct response r;
	json_t *root, *outs, *items;
	const char *name;
	struct set **sets;
	size_t n = 0;
	int rc = 0;

	snprintf(path, sizeof(path), "/v1/jobs/%s/result", id);
	if (request(o, "GET", path, "", 0, &r) < 0)
		return EXIT_FAILED;
	if (r.status != 200) {
		rc = server_error(&r);
		free(r.body);
		return rc;
	}
	root = response_json(&r);
	free(r.body);
	outs = json_object_get(root, "outputs");
	sets = calloc(json_object_size(outs) + 1, sizeof(*sets));
	if (!sets) {
		json_decref(root);
		return EXIT_FAILED;
	}
	json_object_foreach(outs, name, items)
	{
		json_t *it;
		size_t i;
		struct set *s = set_new(name);

		if (!s) {
			rc = EXIT_FAILED;
			break;
		}
		sets[n++] = s;
		json_array_foreach(items, i, it)
		{
			const char *iname =
				json_string_value(json_object_get(it, "name"));
			const char *b64 = json_string_value(
				json_object_get(it, "base64"));
			json_t *key = json_object_get(it, "key");
			unsigned char *data;
			size_t len;

			if (!iname || !b64 ||
			    wire_b64_decode(b64, strlen(b64), &data, &len) < 0) {
				fprintf(stderr, "pith: pithd's result is malformed\n");
				rc = EXIT_FAILED;
				break;
			}
			if (set_add_copy(s, iname, key != NULL,
					 (uint64_t)json_integer_value(key), data,
					 len) < 0)
				rc = EXIT_FAILED;
			free(data);
		}
		if (rc)
			break;
	}
	json_decref(root);
	if (rc) {
		for (size_t i = 0; i < n; i++)
			set_free(sets[i]);
		free(sets);
		return rc;
	}
	/* Reorder to the job's outputs, as the report has them. */
	if (job) {
		for (size_t i = 0; i < job->n_outputs && i < n; i++)
			for (size_t k = i; k < n; k++)
				if (!strcmp(sets[k]->name,
					    job->outputs[i].name)) {
					struct set *t = sets[i];

					sets[i] = sets[k];
					sets[k] = t;
				}
	}
	*ret_sets = sets;
	*ret_n = n;
	return 0;
}

static const char *state_of(json_t *st)
{
	const char *s = json_string_value(json_object_get(st, "state"));

	return s ? s : "";
}

static bool settled(const char *s)
{
	return !strcmp(s, "done") || !strcmp(s, "failed") ||
	       !strcmp(s, "cancelled");
}

/* A running job's "progress" object as the engine's, for progress.c;
 * false when it has none. `elapsed_ns`: since the job started. */
static bool progress_of(json_t *st, struct engine_progress *ep,
			uint64_t *elapsed_ns)
{
	json_t *p = json_object_get(st, "progress");
	json_int_t started =
		json_integer_value(json_object_get(st, "started_ms"));
	struct timespec ts;
	int64_t now;

	if (!json_is_object(p))
		return false;
	*ep = (struct engine_progress){
		.stages_done = (size_t)json_integer_value(
			json_object_get(p, "stages_done")),
		.n_stages = (size_t)json_integer_value(
			json_object_get(p, "stages")),
		.stage = json_string_value(json_object_get(p, "stage")),
		.instances_done = (size_t)json_integer_value(
			json_object_get(p, "instances_done")),
		.instances_total = (size_t)json_integer_value(
			json_object_get(p, "instances_total")),
		.bytes_out = (uint64_t)json_integer_value(
			json_object_get(p, "bytes_out")),
	};
	clock_gettime(CLOCK_REALTIME, &ts);
	now = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	*elapsed_ns = started > 0 && now > started ?
			      (uint64_t)(now - started) * 1000000ull :
			      0;
	return true;
}

/* Wait until job `id` is finished; its status object, or NULL. On a
 * terminal (without -q), the line `pith run` shows while it runs. */
static json_t *wait_job(const struct cli *o, const char *id)
{
	struct progress pr;
	time_t t0 = time(NULL);

	progress_init(&pr, o);
	for (;;) {
		char path[128];
		struct response r;
		struct engine_progress ep;
		uint64_t elapsed;
		json_t *st;

		snprintf(path, sizeof(path), "/v1/jobs/%s?wait=%d", id,
			 pr.f ? 1 : 30);
		if (request(o, "GET", path, "", 0, &r) < 0) {
			progress_clear(&pr);
			return NULL;
		}
		if (r.status != 200) {
			progress_clear(&pr);
			server_error(&r);
			free(r.body);
			return NULL;
		}
		st = response_json(&r);
		free(r.body);
		if (!st || settled(state_of(st))) {
			progress_clear(&pr);
			return st;
		}
		if (pr.f && progress_of(st, &ep, &elapsed)) {
			/* Rates over the job's run, not the wait. */
			pr.t0 = clock_now_ns() - elapsed;
			pr.drawn = 0;
			progress_update(&pr, &ep);
		} else if (pr.f) {
			fprintf(stderr, "\r\033[Kpith: job %s %s, %lds", id,
				state_of(st), (long)(time(NULL) - t0));
			pr.shown = true;
		}
		json_decref(st);
	}
}

static int submit_wait(const struct cli *o, const char *id,
		       const struct job *job)
{
	json_t *st = wait_job(o, id);
	struct engine_report rep = {};
	const char *state, *error;
	struct set **sets = NULL;
	size_t n = 0;
	int rc = EXIT_FAILED;

	if (!st)
		return EXIT_FAILED;
	state = state_of(st);
	error = json_string_value(json_object_get(st, "error"));
	if (!json_object_get(st, "report") ||
	    wire_report_from_json(json_object_get(st, "report"), job, &rep) <
		    0) {
		/* It never ran: cancelled while queued, or could not start. */
		fprintf(stderr, "pith: job %s %s%s%s\n", id, state,
			error ? ": " : "", error ? error : "");
		if (o->json) {
			char msg[ERR_MAX + 64];

			snprintf(msg, sizeof(msg), "job %s %s%s%s", id, state,
				 error ? ": " : "", error ? error : "");
			summary_print_json(stdout, o->cmd->name, job, NULL,
					   NULL,
					   &(struct summary_error){
						   .status = "failed",
						   .message = msg });
		}
		json_decref(st);
		engine_report_done(&rep);
		return EXIT_FAILED;
	}
	if (!strcmp(state, "done")) {
		rc = fetch_result(o, id, job, &sets, &n);
		if (rc == 0 && write_outputs(o->out_dir, sets, n) < 0)
			rc = EXIT_FAILED;
		if (rc == 0) {
			rep.outputs = TAKE_PTR(sets);
			rep.n_outputs = n;
		}
	} else {
		const char *hint = summary_first_failure_hint(&rep);

		rep.ok = false;
		/* As pith run says it. */
		fprintf(stderr, "pith: %s%s%s%s\n",
			!strcmp(state, "cancelled") ? "job cancelled" :
			rep.error[0]		    ? rep.error :
			error			    ? error :
						      state,
			hint ? " (" : "", hint ? hint : "", hint ? ")" : "");
	}
	if (o->json)
		summary_print_json(stdout, o->cmd->name, job, &rep,
				   rep.ok && rc == 0 ? o->out_dir : NULL, NULL);
	else
		summary_print_human(stdout, job, &rep,
				    rep.ok && rc == 0 ? o->out_dir : NULL);
	if (rc == 0 && rep.ok && !strcmp(state, "done"))
		rc = 0;
	else
		rc = EXIT_FAILED;
	for (size_t i = 0; sets && i < n; i++)
		set_free(sets[i]);
	free(sets);
	engine_report_done(&rep);
	json_decref(st);
	return rc;
}

int cmd_submit(const struct cli *c)
{
	const char *file = c->args[0];
	_cleanup_(job_freep) struct job *job = NULL;
	json_t *root = NULL, *files = json_object(), *req;
	_cleanup_close_ int jobdir = -1;
	struct err e = {};
	struct response r;
	char *body, id[17] = "";
	int rc;

	/* Validate here first: errors name the caller's own file. */
	if (job_parse_file(file,
			   &(struct job_parse_opts){ .io_check = iofuncs_check,
						     .check_files = true },
			   &job, &e) < 0) {
		fprintf(stderr, "pith: %s\n", e.msg);
		json_decref(files);
		return EXIT_USAGE;
	}
	root = json_load_file(file, JSON_REJECT_DUPLICATES, NULL);
	jobdir = open(job->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (!root || jobdir < 0) {
		fprintf(stderr, "pith: %s: cannot read it again\n",
			file);
		json_decref(root);
		json_decref(files);
		return EXIT_USAGE;
	}
	rc = 0;
	for (size_t i = 0; i < job->n_functions && !rc; i++)
		rc = add_file(files, jobdir, job->functions[i].binary);
	for (size_t i = 0; i < job->n_inputs && !rc; i++)
		for (size_t k = 0; k < job->inputs[i].n_items && !rc; k++)
			if (job->inputs[i].items[k].source == JOB_SRC_FILE)
				rc = add_file(files, jobdir,
					      job->inputs[i].items[k].path);
	if (rc) {
		json_decref(root);
		json_decref(files);
		return EXIT_USAGE;
	}
	req = json_pack("{s:o,s:o}", "job", root, "files", files);
	body = json_dumps(req, JSON_COMPACT);
	json_decref(req);
	if (!body) {
		fprintf(stderr, "pith: out of memory\n");
		return EXIT_FAILED;
	}
	rc = request(c, "POST", "/v1/jobs", body, strlen(body), &r);
	free(body);
	if (rc < 0)
		return EXIT_FAILED;
	if (r.status != 201) {
		rc = server_error(&r);
		free(r.body);
		return rc;
	}
	{
		json_t *a = response_json(&r);
		const char *s = json_string_value(json_object_get(a, "id"));

		if (s)
			snprintf(id, sizeof(id), "%s", s);
		json_decref(a);
	}
	if (!id[0]) {
		fprintf(stderr, "pith: pithd's answer has no id\n");
		free(r.body);
		return EXIT_FAILED;
	}
	if (!c->wait) {
		if (c->json)
			fwrite(r.body, 1, r.len, stdout);
		else
			printf("%s\n", id);
		free(r.body);
		return 0;
	}
	free(r.body);
	if (!c->json && c->verbosity >= 0)
		fprintf(stderr, "pith: job %s accepted\n", id);
	return submit_wait(c, id, job);
}

static bool valid_id(const char *s)
{
	if (strlen(s) != 16)
		return false;
	for (; *s; s++)
		if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
			return false;
	return true;
}

static void print_status(json_t *st)
{
	json_t *stages = json_object_get(st, "stages"), *s;
	const char *error = json_string_value(json_object_get(st, "error"));
	struct engine_progress ep;
	uint64_t elapsed;
	char line[256];
	size_t i;

	printf("job %s (%s): %s", json_string_value(json_object_get(st, "id")),
	       json_string_value(json_object_get(st, "name")), state_of(st));
	if (error)
		printf(": %s", error);
	printf("\n");
	if (progress_of(st, &ep, &elapsed)) {
		progress_format(line, sizeof(line), &ep, elapsed);
		printf("  %s\n", line);
	}
	json_array_foreach(stages, i, s)
	{
		printf("  stage %-12s %-8s", json_string_value(json_object_get(s, "name")),
		       state_of(s));
		if (json_object_get(s, "instances"))
			printf(" %lld instances: %lld ok, %lld failed, %lld cancelled, %lld not run",
			       json_integer_value(json_object_get(s, "instances")),
			       json_integer_value(json_object_get(s, "ok")),
			       json_integer_value(json_object_get(s, "failed")),
			       json_integer_value(json_object_get(s, "cancelled")),
			       json_integer_value(json_object_get(s, "not-run")));
		printf("\n");
	}
}

static int want_id(const struct cli *c, bool optional)
{
	if (!c->n_args && !optional)
		return cli_usage_error(c->cmd, "missing ID");
	if (c->n_args && !valid_id(c->args[0]))
		return cli_usage_error(c->cmd,
				       "'%s' is not a job id (16 hex digits, as pith submit prints)",
				       c->args[0]);
	return 0;
}

int cmd_status(const struct cli *c)
{
	struct response r;
	char path[128];
	json_t *root;
	int rc = want_id(c, true);

	if (rc)
		return rc;
	if (c->n_args)
		snprintf(path, sizeof(path), "/v1/jobs/%s", c->args[0]);
	else
		snprintf(path, sizeof(path), "/v1/jobs");
	if (request(c, "GET", path, "", 0, &r) < 0)
		return EXIT_FAILED;
	if (r.status != 200) {
		rc = server_error(&r);
		free(r.body);
		return rc;
	}
	if (c->json) {
		fwrite(r.body, 1, r.len, stdout);
		free(r.body);
		return 0;
	}
	root = response_json(&r);
	free(r.body);
	if (c->n_args) {
		print_status(root);
	} else {
		json_t *j;
		size_t i;

		printf("%-16s  %-9s  %s\n", "ID", "STATE", "NAME");
		json_array_foreach(json_object_get(root, "jobs"), i, j)
			printf("%-16s  %-9s  %s\n",
			       json_string_value(json_object_get(j, "id")),
			       state_of(j),
			       json_string_value(json_object_get(j, "name")));
	}
	json_decref(root);
	return 0;
}

int cmd_result(const struct cli *c)
{
	struct set **sets = NULL;
	size_t n = 0;
	int rc = want_id(c, false);

	if (rc)
		return rc;
	rc = fetch_result(c, c->args[0], NULL, &sets, &n);
	if (rc)
		return rc;
	if (write_outputs(c->out_dir, sets, n) < 0)
		rc = EXIT_FAILED;
	if (!rc && c->json) {
		json_t *root = json_object(), *outs = json_object();

		for (size_t i = 0; i < n; i++) {
			json_t *items = json_array();

			for (size_t k = 0; k < sets[i]->n; k++)
				json_array_append_new(
					items,
					json_pack("{s:s,s:I}", "name",
						  sets[i]->items[k].name,
						  "bytes",
						  (json_int_t)sets[i]->items[k].len));
			json_object_set_new(
				outs, sets[i]->name,
				json_pack("{s:s++,s:o}", "dir", c->out_dir, "/",
					  sets[i]->name, "items", items));
		}
		json_object_set_new(root, "id", json_string(c->args[0]));
		json_object_set_new(root, "outputs", outs);
		json_dumpf(root, stdout, JSON_INDENT(2));
		putchar('\n');
		json_decref(root);
	} else if (!rc) {
		for (size_t i = 0; i < n; i++) {
			unsigned long long bytes = 0;

			for (size_t k = 0; k < sets[i]->n; k++)
				bytes += sets[i]->items[k].len;
			printf("  output %s: %zu item%s, %llu bytes -> %s/%s/\n",
			       sets[i]->name, sets[i]->n,
			       sets[i]->n == 1 ? "" : "s", bytes, c->out_dir,
			       sets[i]->name);
		}
	}
	for (size_t i = 0; i < n; i++)
		set_free(sets[i]);
	free(sets);
	return rc;
}

int cmd_cancel(const struct cli *c)
{
	struct response r;
	char path[128];
	int rc = want_id(c, false);

	if (rc)
		return rc;
	snprintf(path, sizeof(path), "/v1/jobs/%s/cancel", c->args[0]);
	if (request(c, "POST", path, "", 0, &r) < 0)
		return EXIT_FAILED;
	if (r.status != 200 && r.status != 202) {
		rc = server_error(&r);
		free(r.body);
		return rc;
	}
	if (c->json) {
		fwrite(r.body, 1, r.len, stdout);
	} else {
		json_t *a = response_json(&r);

		printf("job %s: %s\n", c->args[0], state_of(a));
		json_decref(a);
	}
	free(r.body);
	return 0;
}
