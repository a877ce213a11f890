// SPDX-License-Identifier: MIT
/* The one redrawn progress line of `pith run` on a terminal. */
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "cli/progress.h"
#include "lib/clock.h"

#define REDRAW_NS 100000000ull

void progress_init(struct progress *p, const struct cli *c)
{
	const char *term = getenv("TERM");

	*p = (struct progress){};
	if (c->verbosity < 0 || !isatty(STDERR_FILENO) ||
	    (term && !strcmp(term, "dumb")))
		return;
	p->f = stderr;
	p->t0 = clock_now_ns();
}

/* 1536 -> "1.5 KiB" */
static void human_bytes(char *buf, size_t size, double v)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	size_t u = 0;

	while (v >= 1024 && u + 1 < ARRAY_SIZE(units)) {
		v /= 1024;
		u++;
	}
	snprintf(buf, size, u ? "%.1f %s" : "%.0f %s", v, units[u]);
}

void progress_format(char *buf, size_t size, const struct engine_progress *ep,
		     uint64_t elapsed_ns)
{
	double secs = (double)elapsed_ns / 1e9;
	char bytes[32], rate[32], eta[32] = "";
	size_t left = ep->instances_total > ep->instances_done ?
			      ep->instances_total - ep->instances_done :
			      0;

	human_bytes(bytes, sizeof(bytes), (double)ep->bytes_out);
	human_bytes(rate, sizeof(rate),
		    secs > 0 ? (double)ep->bytes_out / secs : 0);
	if (ep->instances_done && left && secs > 0) {
		double t = secs * (double)left / (double)ep->instances_done;
		unsigned long s = (unsigned long)(t + 0.5);

		snprintf(eta, sizeof(eta), "  ETA %lu:%02lu", s / 60, s % 60);
	}
	snprintf(buf, size,
		 "stage %s  %zu/%zu instances (%zu/%zu stages)  %s  %s/s%s",
		 ep->stage ? ep->stage : "-", ep->instances_done,
		 ep->instances_total, ep->stages_done, ep->n_stages, bytes,
		 rate, eta);
}

void progress_update(void *data, const struct engine_progress *ep)
{
	struct progress *p = data;
	uint64_t now;
	struct winsize ws;
	char line[256];
	int width = (int)sizeof(line) - 1;

	if (!p->f)
		return;
	now = clock_now_ns();
	if (p->shown && now - p->drawn < REDRAW_NS)
		return;
	p->drawn = now;
	if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 8 &&
	    ws.ws_col - 1 < width)
		width = ws.ws_col - 1;
	progress_format(line, sizeof(line), ep, now - p->t0);
	/* One line, never wrapped: a wrapped line cannot be redrawn. */
	fprintf(p->f, "\r\033[K%.*s", width, line);
	fflush(p->f);
	p->shown = true;
}

void progress_clear(struct progress *p)
{
	if (p->f && p->shown) {
		fputs("\r\033[K", p->f);
		fflush(p->f);
		p->shown = false;
	}
}
