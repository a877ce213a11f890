// SPDX-License-Identifier: MIT
/*
 * pithd: the engine as a service. Jobs arrive over HTTP/1.1 on a Unix
 * socket (socket-activated or bound here), are owned by the caller's uid
 * (SO_PEERCRED), recorded in SQLite and run by runner threads; this main
 * thread serves the API, reports to systemd (READY, WATCHDOG, STOPPING)
 * and reloads its configuration on SIGHUP. Manual: pithd(8).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "daemon/api.h"
#include "daemon/daemon.h"
#include "daemon/log.h"
#include "lib/clock.h"
#include "sandbox/sandbox.h"

#define READ_TIMEOUT_MS 30000
#define SWEEP_MS 10000

struct conn {
	int fd;
	uid_t uid;
	pid_t pid;
	char *buf;
	size_t len, cap;
	struct http_request req;
	bool head;
	char *out;
	size_t outlen, outoff;
	bool parked;
	char park_id[17];
	int64_t park_deadline_ms;
	int64_t deadline_ms; /* reading */
	uint64_t t0_ns;
};

struct server {
	struct daemon *d;
	int listen_fd;
	bool activated;	/* the socket came from systemd */
	char socket_path[256];
	int sig_fd;
	struct conn **conns;
	size_t n_conns;
	uint64_t watchdog_usec;
	const char *config_path;
	bool config_must_exist;
	bool quit;
};

static const char usage[] =
	"Usage: pithd [--socket PATH] [--state-dir DIR] [--config FILE]\n"
	"\n"
	"Run pith jobs for the users of a Unix socket (HTTP/1.1 + JSON). Jobs\n"
	"belong to the submitting uid and survive restarts. Clients: pith\n"
	"submit/status/result/cancel; the API: Documentation/api.md.\n"
	"\n"
	"Options:\n"
	"  --socket PATH     listen here (default /run/pith/pithd.sock, or the\n"
	"                    socket systemd passes)\n"
	"  --state-dir DIR   job records, files and results (default\n"
	"                    /var/lib/pith, or $STATE_DIRECTORY)\n"
	"  --config FILE     configuration (default /etc/pith/pithd.conf,\n"
	"                    optional); pithd.conf(5)\n"
	"  -h, --help        show this help\n"
	"  -V, --version     show the version\n";

static void conn_free(struct conn *c)
{
	safe_close(c->fd);
	free(c->buf);
	free(c->out);
	free(c);
}

static void conn_answer(struct server *s, struct conn *c, struct api_answer *a)
{
	char head[512];
	int n;

	n = snprintf(head, sizeof(head),
		     "HTTP/1.1 %d %s\r\nContent-Type: %s\r\n"
		     "Content-Length: %zu\r\nConnection: close\r\n",
		     a->status, http_reason(a->status),
		     a->type ? a->type : "application/json", a->len);
	if (a->retry_after)
		n += snprintf(head + n, sizeof(head) - (size_t)n,
			      "Retry-After: %u\r\n", a->retry_after);
	n += snprintf(head + n, sizeof(head) - (size_t)n, "\r\n");
	c->out = malloc((size_t)n + a->len);
	if (c->out) {
		memcpy(c->out, head, (size_t)n);
		if (a->len)
			memcpy(c->out + n, a->body, a->len);
		c->outlen = (size_t)n + a->len;
	}
	c->outoff = 0;
	free(a->body);
	a->body = NULL;
	pthread_mutex_lock(&s->d->lock);
	s->d->m.requests++;
	if (a->status >= 400)
		s->d->m.request_errors++;
	hist_add(&s->d->m.request, (double)(clock_now_ns() - c->t0_ns) / 1e9);
	pthread_mutex_unlock(&s->d->lock);
}

static void conn_fail(struct server *s, struct conn *c, int status,
		      const char *msg)
{
	struct api_answer a = {};

	api_error(&a, status, "%s", msg);
	conn_answer(s, c, &a);
}

static void conn_dispatch(struct server *s, struct conn *c)
{
	struct api_answer a = {};

	api_handle(s->d, c->uid, &c->req, c->buf + c->req.head_len,
		   c->req.content_length, &a);
	if (a.park) {
		c->parked = true;
		memcpy(c->park_id, a.park_id, sizeof(c->park_id));
		c->park_deadline_ms = a.park_deadline_ms;
		return;
	}
	conn_answer(s, c, &a);
	if (a.hang) {
		/* Test-only fault (PITHD_TEST_FAULTS=1): the main loop stops
		 * sending WATCHDOG=1; systemd must kill and restart pithd. */
		(void)!write(c->fd, c->out, c->outlen);
		log_msg(LOG_WARNING, "test fault: main loop hangs now");
		for (;;)
			pause();
	}
}

/* Read what is there; returns false when the connection is finished. */
static bool conn_read(struct server *s, struct conn *c)
{
	for (;;) {
		ssize_t n;
		size_t want = c->head ? c->req.head_len + c->req.content_length :
					c->len + 4096;

		if (want > c->cap) {
			size_t cap = MAX(want, 2 * c->cap);
			char *b = realloc(c->buf, cap + 1);

			if (!b) {
				conn_fail(s, c, 503, "out of memory");
				return true;
			}
			c->buf = b;
			c->cap = cap;
		}
		n = read(c->fd, c->buf + c->len, c->cap - c->len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return true;
		if (n <= 0)
			return false; /* closed before its answer */
		c->len += (size_t)n;
		if (!c->head) {
			int r = http_parse_head(c->buf, c->len, &c->req);

			if (r > 1) {
				conn_fail(s, c, r, "malformed or unsupported request");
				return true;
			}
			if (r == 0)
				continue;
			c->head = true;
			if (c->req.content_length > s->d->cfg.max_request) {
				char msg[128];

				snprintf(msg, sizeof(msg),
					 "request body of %zu bytes is over MaxRequestSize=%llu",
					 c->req.content_length,
					 (unsigned long long)s->d->cfg.max_request);
				conn_fail(s, c, 413, msg);
				return true;
			}
		}
		if (c->len >= c->req.head_len + c->req.content_length) {
			c->buf[c->req.head_len + c->req.content_length] = 0;
			conn_dispatch(s, c);
			return true;
		}
	}
}

/* Write what can be written; false when done (close it). */
static bool conn_write(struct conn *c)
{
	while (c->outoff < c->outlen) {
		ssize_t n = write(c->fd, c->out + c->outoff,
				  c->outlen - c->outoff);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return true;
		if (n <= 0)
			return false;
		c->outoff += (size_t)n;
	}
	return false;
}

static void accept_conns(struct server *s)
{
	for (;;) {
		int fd = accept4(s->listen_fd, NULL, NULL,
				 SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct ucred cred;
		socklen_t cl = sizeof(cred);
		struct conn *c, **n;

		if (fd < 0)
			return;
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl) < 0) {
			close(fd);
			continue;
		}
		c = calloc(1, sizeof(*c));
		n = realloc(s->conns, (s->n_conns + 1) * sizeof(*n));
		if (!c || !n) {
			free(c);
			if (n)
				s->conns = n;
			close(fd);
			continue;
		}
		s->conns = n;
		c->fd = fd;
		c->uid = cred.uid;
		c->pid = cred.pid;
		c->t0_ns = clock_now_ns();
		c->deadline_ms = now_ms() + READ_TIMEOUT_MS;
		s->conns[s->n_conns++] = c;
		if (s->n_conns > s->d->cfg.max_connections) {
			struct api_answer a = {};

			api_error(&a, 503,
				  "too many connections (MaxConnections=%u)",
				  s->d->cfg.max_connections);
			a.retry_after = 1;
			conn_answer(s, c, &a);
		}
	}
}

static int open_socket(struct server *s, struct err *e)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int n = sd_listen_fds(1), fd;
	struct stat st;
	struct group *g;

	if (n > 1)
		return err_set(e, EINVAL,
			       "systemd passed %d sockets; pithd.socket should have one",
			       n);
	if (n == 1) {
		s->listen_fd = SD_LISTEN_FDS_START;
		s->activated = true;
		fcntl(s->listen_fd, F_SETFL,
		      fcntl(s->listen_fd, F_GETFL) | O_NONBLOCK);
		fcntl(s->listen_fd, F_SETFD, FD_CLOEXEC);
		return 0;
	}
	if (strlen(s->socket_path) >= sizeof(sa.sun_path))
		return err_set(e, ENAMETOOLONG, "socket path too long: %s",
			       s->socket_path);
	strcpy(sa.sun_path, s->socket_path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return err_set(e, errno, "socket: %m");
	/* A socket left by a pithd that was killed: replace it. */
	if (lstat(s->socket_path, &st) == 0 && S_ISSOCK(st.st_mode))
		unlink(s->socket_path);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int r = err_set(e, errno, "bind %s: %m", s->socket_path);

		close(fd);
		return r;
	}
	/* Members of group pith may submit (root:pith 0660), when pithd
	 * runs as root and the group exists; else the owner only. */
	g = geteuid() == 0 ? getgrnam("pith") : NULL;
	if (g && chown(s->socket_path, 0, g->gr_gid) == 0)
		chmod(s->socket_path, 0660);
	else if (geteuid() != 0)
		chmod(s->socket_path, 0600);
	else
		chmod(s->socket_path, 0666); /* root alone: SO_PEERCRED decides */
	if (listen(fd, 128) < 0) {
		int r = err_set(e, errno, "listen: %m");

		close(fd);
		return r;
	}
	s->listen_fd = fd;
	return 0;
}

static void reload(struct server *s)
{
	struct pithd_config c = s->d->cfg;
	struct err e = {};

	sd_notify(0, "RELOADING=1");
	if (config_load(&c, s->config_path, s->config_must_exist, &e) < 0) {
		log_msg(LOG_ERR, "reload: %s; keeping the running configuration",
			e.msg);
	} else {
		pthread_mutex_lock(&s->d->lock);
		if (strcmp(c.socket, s->d->cfg.socket) ||
		    strcmp(c.state_dir, s->d->cfg.state_dir) ||
		    c.jobs != s->d->cfg.jobs)
			log_msg(LOG_WARNING,
				"reload: Socket=, StateDirectory= and Jobs= change only at restart");
		snprintf(c.socket, sizeof(c.socket), "%s", s->d->cfg.socket);
		snprintf(c.state_dir, sizeof(c.state_dir), "%s",
			 s->d->cfg.state_dir);
		c.jobs = s->d->cfg.jobs;
		s->d->cfg = c;
		log_max_level = c.log_level;
		pthread_cond_broadcast(&s->d->work);
		pthread_mutex_unlock(&s->d->lock);
		log_msg(LOG_INFO, "reloaded %s", s->config_path);
	}
	sd_notify(0, "READY=1");
}

static void handle_signals(struct server *s)
{
	struct signalfd_siginfo si;

	while (read(s->sig_fd, &si, sizeof(si)) == sizeof(si)) {
		if (si.ssi_signo == SIGHUP)
			reload(s);
		else
			s->quit = true;
	}
}

static void serve(struct server *s)
{
	struct daemon *d = s->d;
	int64_t next_ping = 0, next_sweep = now_ms() + SWEEP_MS;
	struct pollfd *pfd = NULL;

	while (!s->quit) {
		size_t base = 3, n = base + s->n_conns;
		int64_t now = now_ms(), timeout = next_sweep - now;
		struct pollfd *np = realloc(pfd, n * sizeof(*pfd));

		if (!np) {
			sleep(1);
			continue;
		}
		pfd = np;
		if (s->watchdog_usec) {
			if (now >= next_ping) {
				sd_notify(0, "WATCHDOG=1");
				next_ping = now + (int64_t)(s->watchdog_usec /
							    2000);
			}
			timeout = MIN(timeout, next_ping - now);
		}
		pfd[0] = (struct pollfd){ .fd = s->listen_fd, .events = POLLIN };
		pfd[1] = (struct pollfd){ .fd = s->sig_fd, .events = POLLIN };
		pfd[2] = (struct pollfd){ .fd = d->done_efd, .events = POLLIN };
		for (size_t i = 0; i < s->n_conns; i++) {
			struct conn *c = s->conns[i];

			pfd[base + i] = (struct pollfd){
				.fd = c->fd,
				.events = c->out ? POLLOUT :
					  c->parked ? 0 :
						     POLLIN,
			};
			if (c->parked)
				timeout = MIN(timeout,
					      c->park_deadline_ms - now);
			else if (!c->out)
				timeout = MIN(timeout, c->deadline_ms - now);
		}
		if (poll(pfd, n, (int)MAX(timeout, 0)) < 0 && errno != EINTR)
			break;
		now = now_ms();
		if (pfd[1].revents)
			handle_signals(s);
		if (pfd[2].revents) {
			uint64_t v;

			(void)!read(d->done_efd, &v, sizeof(v));
		}
		for (size_t i = 0; i < s->n_conns; i++) {
			struct conn *c = s->conns[i];
			bool keep = true;

			if (c->out) {
				if (pfd[base + i].revents)
					keep = conn_write(c);
			} else if (c->parked) {
				bool settled;

				pthread_mutex_lock(&d->lock);
				settled = api_job_settled(d, c->park_id);
				pthread_mutex_unlock(&d->lock);
				if (settled || now >= c->park_deadline_ms) {
					struct api_answer a = {};

					c->parked = false;
					api_job_status(d, c->uid, c->park_id,
						       &a);
					conn_answer(s, c, &a);
					keep = conn_write(c);
				}
			} else if (pfd[base + i].revents) {
				keep = conn_read(s, c);
				if (keep && c->out)
					keep = conn_write(c);
			} else if (now >= c->deadline_ms) {
				conn_fail(s, c, 408, "request not complete in time");
				keep = conn_write(c);
			}
			/* A parked connection whose client went away. */
			if (keep && c->parked &&
			    (pfd[base + i].revents & (POLLHUP | POLLERR)))
				keep = false;
			if (!keep) {
				conn_free(c);
				s->conns[i] = s->conns[--s->n_conns];
				i--;
			}
		}
		if (pfd[0].revents)
			accept_conns(s);
		if (now >= next_sweep) {
			pthread_mutex_lock(&d->lock);
			jobs_sweep(d);
			pthread_mutex_unlock(&d->lock);
			next_sweep = now + SWEEP_MS;
		}
	}
	free(pfd);
}

/* Say once which sandbox layers this host or user does not provide. The
 * sandbox stays: the runners' sandboxes nest in it and share its eBPF
 * guard (d->guard_sb). */
static void probe_layers(struct daemon *d)
{
	struct sandbox *sb = NULL;
	struct sandbox_layer layers[32];
	struct err e = {};
	size_t n, off = 0;

	if (sandbox_new(&(struct sandbox_opts){ .no_drivers = true }, &sb,
			&e) < 0) {
		log_msg(LOG_WARNING, "sandbox: %s (jobs with compute stages will fail)",
			e.msg);
		snprintf(d->layers, sizeof(d->layers), "sandbox: %s", e.msg);
		return;
	}
	n = sandbox_layers(sb, layers, ARRAY_SIZE(layers));
	for (size_t i = 0; i < n; i++) {
		if (layers[i].active)
			continue;
		log_msg(LOG_WARNING, "sandbox layer %s unavailable: %s",
			layers[i].name, layers[i].detail);
		off += (size_t)snprintf(d->layers + off,
					off < sizeof(d->layers) ?
						sizeof(d->layers) - off :
						0,
					"%s%s", off ? ", " : "",
					layers[i].name);
		if (off >= sizeof(d->layers))
			off = sizeof(d->layers) - 1;
	}
	d->guard_sb = sb;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "state-dir", required_argument, NULL, 'd' },
		{ "config", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{}
	};
	static struct daemon d = { .lock = PTHREAD_MUTEX_INITIALIZER,
				   .progress_lock = PTHREAD_MUTEX_INITIALIZER,
				   .work = PTHREAD_COND_INITIALIZER,
				   .state_fd = -1,
				   .done_efd = -1 };
	struct server s = { .d = &d, .listen_fd = -1, .sig_fd = -1,
			    .config_path = PITHD_CONFIG_PATH };
	const char *opt_socket = NULL, *opt_state = NULL;
	struct err e = {};
	sigset_t mask;
	int c, rc = 0;

	while ((c = getopt_long(argc, argv, "hV", opts, NULL)) >= 0) {
		switch (c) {
		case 's':
			opt_socket = optarg;
			break;
		case 'd':
			opt_state = optarg;
			break;
		case 'c':
			s.config_path = optarg;
			s.config_must_exist = true;
			break;
		case 'h':
			fputs(usage, stdout);
			return 0;
		case 'V':
			printf("pithd %s\n", PITH_VERSION);
			return 0;
		default:
			fputs(usage, stderr);
			return 2;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "pithd: unexpected argument '%s'\n%s",
			argv[optind], usage);
		return 2;
	}
	log_init();
	config_defaults(&d.cfg);
	if (getenv("STATE_DIRECTORY"))
		snprintf(d.cfg.state_dir, sizeof(d.cfg.state_dir), "%s",
			 getenv("STATE_DIRECTORY"));
	if (config_load(&d.cfg, s.config_path, s.config_must_exist, &e) < 0) {
		log_msg(LOG_ERR, "%s", e.msg);
		return 1;
	}
	if (opt_socket)
		snprintf(d.cfg.socket, sizeof(d.cfg.socket), "%s", opt_socket);
	if (opt_state)
		snprintf(d.cfg.state_dir, sizeof(d.cfg.state_dir), "%s",
			 opt_state);
	snprintf(s.socket_path, sizeof(s.socket_path), "%s", d.cfg.socket);
	log_max_level = d.cfg.log_level;
	d.test_faults = getenv("PITHD_TEST_FAULTS") &&
			!strcmp(getenv("PITHD_TEST_FAULTS"), "1");
	d.started_ms = now_ms();

	/* Before any thread: they all inherit this mask. */
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	s.sig_fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);

	probe_layers(&d);
	if (open_socket(&s, &e) < 0 || jobs_start(&d, &e) < 0) {
		log_msg(LOG_ERR, "%s", e.msg);
		sd_notifyf(0, "STATUS=%s", e.msg);
		return 1;
	}
	if (sd_watchdog_enabled(0, &s.watchdog_usec) <= 0)
		s.watchdog_usec = 0;
	log_msg(LOG_INFO,
		"ready: %s%s, state in %s, %u jobs at once, %zu jobs on record (%u queued)",
		s.activated ? "socket from systemd" : "listening on ",
		s.activated ? "" : s.socket_path, d.cfg.state_dir, d.cfg.jobs,
		d.n_jobs, d.queued);
	sd_notifyf(0, "READY=1\nSTATUS=serving; %u jobs queued", d.queued);

	serve(&s);

	sd_notify(0, "STOPPING=1");
	log_msg(LOG_INFO, "stopping: letting running jobs finish, queued ones stay queued");
	jobs_stop(&d);
	/* After the runners' sandboxes: they use its guard. */
	d.guard_sb = sandbox_free(d.guard_sb);
	for (size_t i = 0; i < s.n_conns; i++)
		conn_free(s.conns[i]);
	free(s.conns);
	if (!s.activated) {
		close(s.listen_fd);
		unlink(s.socket_path);
	}
	safe_close(s.sig_fd);
	log_msg(LOG_INFO, "stopped");
	return rc;
}
