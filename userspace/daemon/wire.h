/* SPDX-License-Identifier: MIT */
/*
 * pithd's wire format, shared by the daemon and its client (`pith submit`):
 * base64 for file bytes in JSON, SHA-256 names of content-addressed files,
 * and an engine report as JSON with everything `pith run`'s summary shows.
 * Documentation/api.md describes the same objects for users.
 */
#ifndef PITH_DAEMON_WIRE_H
#define PITH_DAEMON_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "engine/engine.h"
#include "job/job.h"

/* Standard padded base64 of len bytes; NULL only on out of memory. */
char *wire_b64_encode(const void *data, size_t len);
/* Strict decode (padded, no whitespace): 0 or -EINVAL/-ENOMEM. */
int wire_b64_decode(const char *s, size_t len, unsigned char **ret,
		    size_t *ret_len);

#define WIRE_SHA256_HEX 65
/* Lower-case hex SHA-256 of len bytes into hex[65]. */
void wire_sha256_hex(const void *data, size_t len, char hex[WIRE_SHA256_HEX]);

/* The report as a JSON object: "ok", "error", "elapsed_ns", and "stages"
 * in job order with each instance's state, reason and timings. */
json_t *wire_report_to_json(const struct job *job,
			    const struct engine_report *rep);
/*
 * Fill `rep` (zeroed; free with engine_report_done()) from such an object
 * for the same job: stage names point into `job`. Outputs are left empty:
 * they come with the result. 0 or -EINVAL when it does not fit the job.
 */
int wire_report_from_json(const json_t *o, const struct job *job,
			  struct engine_report *rep);


#endif
