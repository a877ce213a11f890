// SPDX-License-Identifier: MIT
/*
 * The SDK-note test function (tests/security/sdk_note.sh), built with the
 * SDK. What it does is chosen by the bytes of its first input item:
 *
 *   nomem      asks the arena for 1 MiB more than it has
 *   noout      writes to output set "reslt" (the stage declares another)
 *   noin       looks up input set "txt" (the stage gives another)
 *   longname   an output item with a 300-byte name (PITH_EXIT_LIMIT)
 * and, hostile, writes a note by hand before exiting 121:
 *   g-len      name_len 0xffffffff
 *   g-utf8     a name that is not UTF-8
 *   g-ctl      a name with a newline and a quote (a forged second line)
 *   g-status   a note for status 120 on exit 121
 *   g-left     status 120 with more bytes left than the instance has
 *   g-random   every byte of the note random (the magic too)
 *   plant      writes a valid note for status 121 naming "planted" and
 *              succeeds (a later instance must not inherit it)
 *   bare       exits 121 without writing a note
 */
#include <pith/fn.h>

static bool is(const struct pith_item *it, const char *s)
{
	size_t n = strlen(s);

	return pith_item_len(it) == n && !memcmp(pith_item_data(it), s, n);
}

static void hand_note(uint32_t status, const char *name, uint32_t name_len,
		      uint64_t left, int exit_status)
{
	struct pith_context *c = (struct pith_context *)pith_context();

	c->note.magic = PITH_NOTE_MAGIC;
	c->note.version = PITH_NOTE_VERSION;
	c->note.status = (uint16_t)status;
	c->note.asked = 1;
	c->note.left = left;
	c->note.name_len = name_len;
	memcpy(c->note.name, name, strlen(name));
	pith_abort(exit_status);
}

int main(void)
{
	const struct pith_set *in = pith_input("in");
	const struct pith_item *it;
	struct pith_context *c = (struct pith_context *)pith_context();

	if (pith_set_count(in) == 0)
		return 1;
	it = pith_set_item(in, 0);
	if (is(it, "nomem"))
		pith_alloc(c->arena_size + (1u << 20));
	if (is(it, "noout"))
		pith_output_new("reslt", "x", 1);
	if (is(it, "noin"))
		pith_input("txt");
	if (is(it, "longname")) {
		char name[301];

		memset(name, 'n', 300);
		name[300] = '\0';
		pith_output_new("out", name, 1);
	}
	if (is(it, "g-len"))
		hand_note(PITH_EXIT_NO_OUTPUT, "reslt", 0xffffffffu, 0,
			  PITH_EXIT_NO_OUTPUT);
	if (is(it, "g-utf8"))
		hand_note(PITH_EXIT_NO_OUTPUT, "re\xff\xfelt", 6, 0,
			  PITH_EXIT_NO_OUTPUT);
	if (is(it, "g-ctl"))
		hand_note(PITH_EXIT_NO_OUTPUT, "x\"\nstage s[0]: ok", 17, 0,
			  PITH_EXIT_NO_OUTPUT);
	if (is(it, "g-status"))
		hand_note(PITH_EXIT_NOMEM, "", 0, 0, PITH_EXIT_NO_OUTPUT);
	if (is(it, "g-left"))
		hand_note(PITH_EXIT_NOMEM, "", 0, 1ull << 40, PITH_EXIT_NOMEM);
	if (is(it, "plant")) {
		c->note.magic = PITH_NOTE_MAGIC;
		c->note.version = PITH_NOTE_VERSION;
		c->note.status = PITH_EXIT_NO_OUTPUT;
		c->note.name_len = 7;
		memcpy(c->note.name, "planted", 7);
		return 0;
	}
	if (is(it, "bare"))
		pith_abort(PITH_EXIT_NO_OUTPUT);
	if (is(it, "g-random")) {
		unsigned char *p = (unsigned char *)&c->note;
		uint64_t x = 0x9e3779b97f4a7c15ull;

		for (size_t i = 0; i < sizeof(c->note); i++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			p[i] = (unsigned char)x;
		}
		pith_abort(PITH_EXIT_NO_OUTPUT);
	}
	return 0;
}
