// SPDX-License-Identifier: MIT
/*
 * fetch-summary, stage 3: summarise what the http stage fetched. Inputs
 * `status` (status line and headers) and `body`, items named like the
 * objects. Output `summary` gets one item, `summary.txt`: a line per object
 * "<name>\t<status code>\t<bytes>\t<lines>\t<words>" in input order, then
 * "total\t<objects>\t<bytes>\t<lines>\t<words>".
 */
#include <pith/fn.h>

static unsigned status_code(const struct pith_item *st)
{
	const char *p = pith_item_data(st);
	size_t n = pith_item_len(st);

	/* "HTTP/1.1 200 OK" */
	if (n < 12 || memcmp(p, "HTTP/1.", 7) || p[8] != ' ')
		return 0;
	return (unsigned)(p[9] - '0') * 100 + (unsigned)(p[10] - '0') * 10 +
	       (unsigned)(p[11] - '0');
}

int main(void)
{
	const struct pith_set *status = pith_input("status");
	const struct pith_set *body = pith_input("body");
	uint64_t total_bytes = 0, total_lines = 0, total_words = 0;
	struct pith_sb sb = { 0 };

	if (!status || !body)
		return 1;
	pith_set_foreach(b, body) {
		const struct pith_item *st = pith_set_find(status, pith_item_name(b));
		const char *p = pith_item_data(b), *end = p + pith_item_len(b);
		uint64_t lines = 0, words = 0;
		bool in_word = false;

		for (; p < end; p++) {
			if (*p == '\n')
				lines++;
			if (pith_isspace(*p)) {
				in_word = false;
			} else if (!in_word) {
				in_word = true;
				words++;
			}
		}
		pith_sb_printf(&sb, "%s\t%u\t%zu\t%llu\t%llu\n",
			       pith_item_name(b), st ? status_code(st) : 0,
			       pith_item_len(b), (unsigned long long)lines,
			       (unsigned long long)words);
		total_bytes += pith_item_len(b);
		total_lines += lines;
		total_words += words;
	}
	pith_sb_printf(&sb, "total\t%zu\t%llu\t%llu\t%llu\n",
		       pith_set_count(body), (unsigned long long)total_bytes,
		       (unsigned long long)total_lines,
		       (unsigned long long)total_words);
	pith_sb_output(&sb, "summary", "summary.txt");
	return 0;
}
