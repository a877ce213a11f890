/* SPDX-License-Identifier: MIT */
/* pithd's HTTP API (Documentation/api.md): a request in, an answer out. */
#ifndef PITH_DAEMON_API_H
#define PITH_DAEMON_API_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "daemon/daemon.h"
#include "daemon/http.h"

struct api_answer {
	int status;
	char *body;	      /* malloc'd */
	size_t len;
	const char *type;     /* Content-Type */
	unsigned retry_after; /* seconds; 0: no header */
	/* GET /v1/jobs/ID?wait=S on an unfinished job: answer later. */
	bool park;
	char park_id[17];
	int64_t park_deadline_ms;
	bool hang;	      /* test fault: stop the main loop */
};

void api_handle(struct daemon *d, uid_t uid, const struct http_request *req,
		const char *body, size_t len, struct api_answer *a);
/* The status answer of a parked wait, now that it is due. */
void api_job_status(struct daemon *d, uid_t uid, const char *id,
		    struct api_answer *a);
/* Under d->lock: is job `id` finished (or gone)? */
bool api_job_settled(struct daemon *d, const char *id);
void api_error(struct api_answer *a, int status, const char *fmt, ...)
	_printf_(3, 4);

#endif
