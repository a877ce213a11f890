// SPDX-License-Identifier: MIT
/*
 * fetch-summary, stage 1: turn a list of object names (input `objects`, one
 * item, one name per line) and a server (input `server`, one item such as
 * "http://127.0.0.1:8089") into HTTP requests: one item of output
 * `requests` per object, named like it, holding "GET <server>/<name>
 * HTTP/1.1" and an empty line. The http stage performs them.
 */
#include <pith/fn.h>

int main(void)
{
	const struct pith_set *objects = pith_input("objects");
	const struct pith_set *server = pith_input("server");
	const char *base, *p, *end;
	size_t base_len;

	if (!objects || !server || pith_set_count(server) != 1)
		return 1;
	base = pith_item_data(pith_set_item(server, 0));
	base_len = pith_item_len(pith_set_item(server, 0));
	while (base_len && (base[base_len - 1] == '\n' ||
			    base[base_len - 1] == '/'))
		base_len--;
	pith_set_foreach(list, objects) {
		p = pith_item_data(list);
		end = p + pith_item_len(list);
		while (p < end) {
			const char *nl = memchr(p, '\n', (size_t)(end - p));
			const char *eol = nl ? nl : end;
			char name[256];
			struct pith_sb sb = { 0 };
			size_t n = (size_t)(eol - p);

			if (n && n < sizeof(name)) {
				memcpy(name, p, n);
				name[n] = '\0';
				pith_sb_add(&sb, "GET ", 4);
				pith_sb_add(&sb, base, base_len);
				pith_sb_printf(&sb, "/%s HTTP/1.1\r\n"
					       "User-Agent: pith-fetch-summary\r\n\r\n",
					       name);
				pith_sb_output(&sb, "requests", name);
			}
			p = eol + (nl != NULL);
		}
	}
	return 0;
}
