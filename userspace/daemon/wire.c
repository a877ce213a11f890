// SPDX-License-Identifier: MIT
/* pithd's wire format: base64, SHA-256 names, reports as JSON. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/wire.h"
#include "lib/macro.h"
#include "sandbox/sandbox.h"

static const char b64_alphabet[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *wire_b64_encode(const void *data, size_t len)
{
	const unsigned char *p = data;
	char *out = malloc(4 * ((len + 2) / 3) + 1), *o = out;

	if (!out)
		return NULL;
	for (size_t i = 0; i < len; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16;

		if (i + 1 < len)
			v |= (uint32_t)p[i + 1] << 8;
		if (i + 2 < len)
			v |= p[i + 2];
		*o++ = b64_alphabet[v >> 18 & 63];
		*o++ = b64_alphabet[v >> 12 & 63];
		*o++ = i + 1 < len ? b64_alphabet[v >> 6 & 63] : '=';
		*o++ = i + 2 < len ? b64_alphabet[v & 63] : '=';
	}
	*o = 0;
	return out;
}

static int b64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

int wire_b64_decode(const char *s, size_t len, unsigned char **ret,
		    size_t *ret_len)
{
	unsigned char *out, *o;

	if (len % 4)
		return -EINVAL;
	out = malloc(len / 4 * 3 + 1);
	if (!out)
		return -ENOMEM;
	o = out;
	for (size_t i = 0; i < len; i += 4) {
		int v[4], pad = 0;

		for (int k = 0; k < 4; k++) {
			if (s[i + k] == '=' && i + 4 == len && k >= 2 &&
			    (k == 3 || s[i + 3] == '=')) {
				v[k] = 0;
				pad++;
				continue;
			}
			v[k] = b64_value((unsigned char)s[i + k]);
			if (v[k] < 0 || pad) {
				free(out);
				return -EINVAL;
			}
		}
		uint32_t w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 |
			     (uint32_t)v[2] << 6 | (uint32_t)v[3];
		/* Unused bits must be zero: one encoding per byte string. */
		if ((pad == 1 && (w & 0xff)) || (pad == 2 && (w & 0xffff))) {
			free(out);
			return -EINVAL;
		}
		*o++ = w >> 16;
		if (pad < 2)
			*o++ = w >> 8 & 0xff;
		if (pad < 1)
			*o++ = w & 0xff;
	}
	*ret = out;
	*ret_len = (size_t)(o - out);
	return 0;
}

/* SHA-256 (FIPS 180-4), one shot. */
static const uint32_t sha_k[64] = {
	0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1,
	0x923f82a4, 0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3,
	0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
	0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
	0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147,
	0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
	0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
	0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
	0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
	0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208,
	0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

static uint32_t ror(uint32_t x, int n)
{
	return x >> n | x << (32 - n);
}

static void sha_block(uint32_t h[8], const unsigned char *b)
{
	uint32_t w[64], a[8];

	for (int i = 0; i < 16; i++)
		w[i] = (uint32_t)b[4 * i] << 24 | (uint32_t)b[4 * i + 1] << 16 |
		       (uint32_t)b[4 * i + 2] << 8 | b[4 * i + 3];
	for (int i = 16; i < 64; i++) {
		uint32_t s0 = ror(w[i - 15], 7) ^ ror(w[i - 15], 18) ^
			      w[i - 15] >> 3;
		uint32_t s1 = ror(w[i - 2], 17) ^ ror(w[i - 2], 19) ^
			      w[i - 2] >> 10;
		w[i] = w[i - 16] + s0 + w[i - 7] + s1;
	}
	memcpy(a, h, sizeof(a));
	for (int i = 0; i < 64; i++) {
		uint32_t s1 = ror(a[4], 6) ^ ror(a[4], 11) ^ ror(a[4], 25);
		uint32_t ch = (a[4] & a[5]) ^ (~a[4] & a[6]);
		uint32_t t1 = a[7] + s1 + ch + sha_k[i] + w[i];
		uint32_t s0 = ror(a[0], 2) ^ ror(a[0], 13) ^ ror(a[0], 22);
		uint32_t mj = (a[0] & a[1]) ^ (a[0] & a[2]) ^ (a[1] & a[2]);

		memmove(a + 1, a, 7 * sizeof(a[0]));
		a[4] += t1;
		a[0] = t1 + s0 + mj;
	}
	for (int i = 0; i < 8; i++)
		h[i] += a[i];
}

void wire_sha256_hex(const void *data, size_t len, char hex[WIRE_SHA256_HEX])
{
	uint32_t h[8] = { 0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
			  0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19 };
	const unsigned char *p = data;
	unsigned char tail[128] = {};
	size_t full = len / 64 * 64, rest = len - full, n;
	uint64_t bits = (uint64_t)len * 8;

	for (size_t i = 0; i < full; i += 64)
		sha_block(h, p + i);
	memcpy(tail, p + full, rest);
	tail[rest] = 0x80;
	n = rest + 1 + 8 <= 64 ? 64 : 128;
	for (int i = 0; i < 8; i++)
		tail[n - 1 - i] = (unsigned char)(bits >> (8 * i));
	for (size_t i = 0; i < n; i += 64)
		sha_block(h, tail + i);
	for (int i = 0; i < 8; i++)
		snprintf(hex + 8 * i, 9, "%08x", h[i]);
}

static enum instance_state instance_state_parse(const char *s)
{
	if (!strcmp(s, "ok"))
		return INSTANCE_OK;
	if (!strcmp(s, "failed"))
		return INSTANCE_FAILED;
	if (!strcmp(s, "cancelled"))
		return INSTANCE_CANCELLED;
	return INSTANCE_PENDING;
}

/* As `pith run --json` has it (cli/summary.c): {"set": ...} or
 * {"asked_bytes": ..., "left_bytes": ...}. */
static json_t *note_to_json(const struct sandbox_note *n)
{
	if (n->set[0])
		return json_pack("{s:s}", "set", n->set);
	return json_pack("{s:I,s:I}", "asked_bytes",
			 (json_int_t)MIN(n->asked, (uint64_t)INT64_MAX),
			 "left_bytes",
			 (json_int_t)MIN(n->left, (uint64_t)INT64_MAX));
}

/*
 * The note back, for an instance that exited with `status`: NULL unless it
 * is one the sandbox could have checked (a set name of 1 to PITH_NAME_MAX
 * bytes without control bytes, quotes or backslashes; or both byte counts).
 */
static struct sandbox_note *note_from_json(const json_t *o, int status)
{
	const char *set = json_string_value(json_object_get(o, "set"));
	json_t *asked = json_object_get(o, "asked_bytes");
	json_t *left = json_object_get(o, "left_bytes");
	struct sandbox_note *n;

	if (!json_is_object(o) || status <= 0)
		return NULL;
	if (set) {
		size_t len = strlen(set);

		if (!len || len > PITH_NAME_MAX)
			return NULL;
		for (size_t i = 0; i < len; i++)
			if ((unsigned char)set[i] < 0x20 || set[i] == 0x7f ||
			    set[i] == '"' || set[i] == '\\')
				return NULL;
	} else if (!json_is_integer(asked) || !json_is_integer(left) ||
		   json_integer_value(asked) < 0 ||
		   json_integer_value(left) < 0) {
		return NULL;
	}
	n = calloc(1, sizeof(*n));
	if (!n)
		return NULL;
	n->valid = true;
	n->status = status;
	if (set) {
		memcpy(n->set, set, strlen(set) + 1);
	} else {
		n->asked = (uint64_t)json_integer_value(asked);
		n->left = (uint64_t)json_integer_value(left);
	}
	return n;
}

json_t *wire_report_to_json(const struct job *job,
			    const struct engine_report *rep)
{
	json_t *o = json_object(), *stages = json_array();

	json_object_set_new(o, "ok", json_boolean(rep->ok));
	if (!rep->ok && rep->error[0])
		json_object_set_new(o, "error", json_string(rep->error));
	json_object_set_new(o, "elapsed_ns",
			    json_integer((json_int_t)rep->elapsed_ns));
	for (size_t s = 0; s < rep->n_stages && s < job->n_stages; s++) {
		const struct stage_report *sr = &rep->stages[s];
		json_t *st = json_object(), *inst = json_array();
		size_t counts[4] = {};

		for (size_t i = 0; i < sr->n_instances; i++) {
			struct instance_report irv, *ir = &irv;
			json_t *io = json_object();

			instance_get(sr, i, ir);
			counts[ir->state]++;
			json_object_set_new(
				io, "state",
				json_string(instance_state_name(ir->state)));
			if (ir->state == INSTANCE_FAILED)
				json_object_set_new(io, "reason",
						    json_string(instance_reason(ir)));
			if (ir->state == INSTANCE_FAILED) {
				json_object_set_new(
					io, "exit_status",
					json_integer(ir->exit_status));
				json_object_set_new(io, "signal",
						    json_integer(ir->signal));
				json_object_set_new(io, "syscall",
						    json_integer(ir->syscall));
				if (ir->note && ir->note->valid &&
				    ir->note->status == ir->exit_status)
					json_object_set_new(io, "sdk_note",
							    note_to_json(ir->note));
			}
			json_object_set_new(
				io, "spawn_ns",
				json_integer((json_int_t)ir->spawn_ns));
			json_object_set_new(
				io, "run_ns", json_integer((json_int_t)ir->run_ns));
			json_array_append_new(inst, io);
		}
		json_object_set_new(st, "name", json_string(job->stages[s].name));
		json_object_set_new(st, "ran", json_boolean(sr->ran));
		/* All the stage counted, its started ones in "instances". */
		json_object_set_new(
			st, "n_counted",
			json_integer((json_int_t)MAX(sr->n_counted,
						     sr->n_instances)));
		json_object_set_new(st, "ok", json_boolean(sr->ok));
		json_object_set_new(
			st, "elapsed_ns",
			json_integer((json_int_t)sr->elapsed_ns));
		json_object_set_new(st, "items_out",
				    json_integer((json_int_t)sr->items_out));
		json_object_set_new(st, "bytes_out",
				    json_integer((json_int_t)sr->bytes_out));
		json_object_set_new(
			st, "counts",
			json_pack("{s:I,s:I,s:I,s:I}", "ok",
				  (json_int_t)counts[INSTANCE_OK], "failed",
				  (json_int_t)counts[INSTANCE_FAILED],
				  "cancelled",
				  (json_int_t)counts[INSTANCE_CANCELLED],
				  "not-run",
				  (json_int_t)counts[INSTANCE_PENDING]));
		json_object_set_new(st, "instances", inst);
		json_array_append_new(stages, st);
	}
	json_object_set_new(o, "stages", stages);
	/* Output sets in order, without bytes: those are the result. */
	{
		json_t *outs = json_object();

		for (size_t i = 0; i < rep->n_outputs; i++) {
			const struct set *s = rep->outputs[i];
			json_t *items = json_array();

			for (size_t k = 0; k < s->n; k++) {
				json_t *it = json_pack(
					"{s:s,s:I}", "name", s->items[k].name,
					"bytes", (json_int_t)s->items[k].len);

				if (s->items[k].keyed)
					json_object_set_new(
						it, "key",
						json_integer((json_int_t)s->items[k]
								     .key));
				json_array_append_new(items, it);
			}
			json_object_set_new(outs, s->name, items);
		}
		json_object_set_new(o, "outputs", outs);
	}
	return o;
}

static uint64_t u64_of(const json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	return json_is_integer(v) && json_integer_value(v) > 0 ?
		       (uint64_t)json_integer_value(v) :
		       0;
}

int wire_report_from_json(const json_t *o, const struct job *job,
			  struct engine_report *rep)
{
	json_t *stages = json_object_get(o, "stages");
	const char *error = json_string_value(json_object_get(o, "error"));

	*rep = (struct engine_report){};
	if (!json_is_array(stages) || json_array_size(stages) != job->n_stages)
		return -EINVAL;
	rep->ok = json_is_true(json_object_get(o, "ok"));
	if (error)
		snprintf(rep->error, sizeof(rep->error), "%s", error);
	rep->elapsed_ns = u64_of(o, "elapsed_ns");
	rep->stages = calloc(job->n_stages, sizeof(*rep->stages));
	if (!rep->stages)
		return -ENOMEM;
	rep->n_stages = job->n_stages;
	for (size_t s = 0; s < job->n_stages; s++) {
		const struct job_stage *js = &job->stages[s];
		struct stage_report *sr = &rep->stages[s];
		json_t *st = json_array_get(stages, s);
		json_t *inst = json_object_get(st, "instances");

		sr->name = js->name;
		sr->io = js->io != NULL;
		sr->function = js->io ? js->io : js->function;
		sr->ran = json_is_true(json_object_get(st, "ran"));
		sr->ok = json_is_true(json_object_get(st, "ok"));
		sr->elapsed_ns = u64_of(st, "elapsed_ns");
		sr->items_out = (size_t)u64_of(st, "items_out");
		sr->bytes_out = u64_of(st, "bytes_out");
		sr->n_counted = (size_t)u64_of(st, "n_counted");
		if (!json_is_array(inst))
			return -EINVAL;
		sr->n_instances = json_array_size(inst);
		if (instance_reserve(sr, sr->n_instances) < 0) {
			sr->n_instances = 0;
			return -ENOMEM;
		}
		for (size_t i = 0; i < sr->n_instances; i++) {
			json_t *io = json_array_get(inst, i);
			const char *st_name =
				json_string_value(json_object_get(io, "state"));
			const char *reason = json_string_value(
				json_object_get(io, "reason"));
			enum instance_state state =
				instance_state_parse(st_name ? st_name : "");

			instance_init(sr, i);
			instance_set_times(sr, i, u64_of(io, "spawn_ns"),
					   u64_of(io, "run_ns"));
			if (state == INSTANCE_FAILED) {
				int status = (int)json_integer_value(
					json_object_get(io, "exit_status"));
				struct sandbox_note *note = note_from_json(
					json_object_get(io, "sdk_note"), status);

				instance_set_failed(
					sr, i, reason, status,
					(int)json_integer_value(
						json_object_get(io, "signal")),
					json_object_get(io, "syscall") ?
						(long)json_integer_value(
							json_object_get(
								io, "syscall")) :
						-1,
					note);
				free(note);
			} else {
				instance_set_state(sr, i, state);
			}
		}
	}
	return 0;
}
