#!/bin/bash
# SPDX-License-Identifier: MIT
# Data isolation and output bounds through `pith run`, attacked with the
# snoop function (tests/security/fn/snoop.c): an instance reads only the
# bytes of the items it was given (not its producer's memory, not a sibling
# item or another function's job input sharing a buffer, not stale bytes);
# an `all` over 100,000 items from 5,000 buffers runs; aliased outputs and
# names cannot make pith grow; every name written appears in --json.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../harness/tap.sh"

. "$here/../harness/paths.sh"
pith=$B/pith
snoop=$B/tests/fn/snoop
tmp=$(mktemp -d "${TMPDIR:-/tmp}/pith-isolation.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

t_plan 12

# job NAME MEMORY INPUTS STAGES OUTPUTS: write $tmp/NAME.json.
job() {
	cat >"$tmp/$1.json" <<EOF
{ "version": 1, "name": "$1",
  "functions": { "snoop": { "binary": "$snoop", "memory": "$2", "timeout": "20s" } },
  "inputs": { "seed": [ { "name": "x", "data": "x" } ] $3 },
  "stages": [ $4 ],
  "outputs": { $5 } }
EOF
}
stage() { # NAME FROM MODE OUTPUT
	printf '{ "name": "%s", "function": "snoop", "inputs": { "in": { "from": "%s", "mode": "%s" } }, "outputs": ["%s"] }' "$1" "$2" "$3" "$4"
}
# run NAME [FLAGS...]: pith run into $tmp/NAME.out, output in $tmp/NAME.log
run() {
	local name=$1
	shift
	"$pith" run "$tmp/$name.json" -o "$tmp/$name.out" "$@" \
		>"$tmp/$name.log" 2>&1
}
# leaks DIR ITEM...: every item of DIR says "none"
no_leaks() {
	local dir=$1 got
	shift
	for it in "$@"; do
		got=$(cat "$dir/$it" 2>/dev/null) || {
			echo "$it: missing"
			return 1
		}
		if [ "$got" != none ]; then
			echo "$it read: $got"
			return 1
		fi
	done
}

# 1-3: a producer's private memory, a sibling item, a hand-made item whose
# last page holds a secret.
job secrets 4MiB "" "$(stage make seed all secrets), $(stage look make.secrets each leaks)" \
	'"leaks": "look.leaks"'
if run secrets; then
	d=$tmp/secrets.out/leaks
	if why=$(no_leaks "$d" small big); then
		t_ok consumer_cannot_read_its_producers_private_memory
	else
		t_fail consumer_cannot_read_its_producers_private_memory "$why"
	fi
	if why=$(no_leaks "$d" sib small); then
		t_ok consumer_cannot_read_a_sibling_item_of_its_producer
	else
		t_fail consumer_cannot_read_a_sibling_item_of_its_producer "$why"
	fi
	if why=$(no_leaks "$d" crafted); then
		t_ok page_aligned_item_with_a_secret_in_its_last_page_is_not_mapped
	else
		t_fail page_aligned_item_with_a_secret_in_its_last_page_is_not_mapped "$why"
	fi
else
	for n in consumer_cannot_read_its_producers_private_memory \
		consumer_cannot_read_a_sibling_item_of_its_producer \
		page_aligned_item_with_a_secret_in_its_last_page_is_not_mapped; do
		t_fail $n "$(cat "$tmp/secrets.log")"
	done
fi

# 4: bytes a producer freed before it allocated its outputs.
job stale 4MiB "" "$(stage make seed all stale), $(stage look make.stale each leaks)" \
	'"leaks": "look.leaks"'
if run stale && why=$(no_leaks "$tmp/stale.out/leaks" stale-small stale-big); then
	t_ok consumer_cannot_read_stale_bytes_of_its_producer
else
	t_fail consumer_cannot_read_stale_bytes_of_its_producer "${why:-$(cat "$tmp/stale.log")}"
fi

# 5: small job input files share a buffer; each function sees its own.
echo "public a" >"$tmp/a.txt"
echo "SECRET-b" >"$tmp/b.txt"
job files 4MiB ', "mine": [ { "name": "a.txt", "file": "a.txt" } ], "theirs": [ { "name": "b.txt", "file": "b.txt" } ]' \
	"$(stage look-mine mine each leaks), $(stage look-theirs theirs each leaks)" \
	'"mine": "look-mine.leaks", "theirs": "look-theirs.leaks"'
if run files && why=$(no_leaks "$tmp/files.out/mine" a.txt); then
	t_ok job_input_file_of_another_function_is_not_readable
else
	t_fail job_input_file_of_another_function_is_not_readable "${why:-$(cat "$tmp/files.log")}"
fi

# 6: an `all` over 105,000 items: 100,000 from one instance, 5,000 job
# inputs (isolation_test gives one instance items from 5,000 buffers).
items=$(for i in $(seq 5000); do printf '{ "name": "s%d", "data": "x" },' "$i"; done)
job fan 32MiB ", \"many\": [ ${items%,} ]" \
	"$(stage fan seed all fan), { \"name\": \"count\", \"function\": \"snoop\", \"inputs\": { \"a\": { \"from\": \"fan.fan\", \"mode\": \"all\" }, \"b\": { \"from\": \"many\", \"mode\": \"all\" } }, \"outputs\": [\"count\"] }" \
	'"total": "count.count"'
if run fan && [ "$(cat "$tmp/fan.out/total/total")" = "105000 1005000" ]; then
	t_ok all_over_105000_items_runs
else
	t_fail all_over_105000_items_runs "$(cat "$tmp/fan.log" "$tmp/fan.out/total/total" 2>&1)"
fi

# 7-8: 64 aliases of one 1 MiB block from a 4 MiB function.
job alias 4MiB "" "$(stage alias seed all alias)" '"copies": "alias.alias"'
if ! run alias && grep -q -- "--max-output-bytes" "$tmp/alias.log" &&
	[ ! -e "$tmp/alias.out" ]; then
	t_ok aliased_outputs_are_bounded_and_the_limit_is_named
else
	t_fail aliased_outputs_are_bounded_and_the_limit_is_named "$(cat "$tmp/alias.log")"
fi
if run alias --max-output-bytes 64MiB &&
	[ "$(du -sb "$tmp/alias.out/copies" | cut -f1)" -ge $((64 << 20)) ]; then
	t_ok max_output_bytes_flag_raises_the_bound
else
	t_fail max_output_bytes_flag_raises_the_bound "$(cat "$tmp/alias.log")"
fi

# 9: 100,000 names of 200 bytes aliasing one string, from 8 MiB.
job namebomb 8MiB "" "$(stage bomb seed all namebomb)" '"n": "bomb.namebomb"'
if ! run namebomb && grep -q -- "--max-output-names" "$tmp/namebomb.log"; then
	t_ok aliased_output_names_are_bounded_and_the_limit_is_named
else
	t_fail aliased_output_names_are_bounded_and_the_limit_is_named "$(cat "$tmp/namebomb.log")"
fi

# 10: the store's bound: a 200 MiB context under --max-store 100MiB.
job store 200MiB "" "$(stage make seed all secrets)" '"s": "make.secrets"'
if ! run store --max-store 100MiB && grep -q -- "--max-store" "$tmp/store.log" &&
	[ ! -e "$tmp/store.out" ] && run store --max-store 300MiB; then
	t_ok store_limit_fails_the_job_and_names_the_limit
else
	t_fail store_limit_fails_the_job_and_names_the_limit "$(cat "$tmp/store.log")"
fi

# 11-12: names round-trip to --json, or are refused.
job badname 4MiB ', "names": [ { "name": "n", "base64": "/2E=" } ]' \
	"$(stage name names all names)" '"named": "name.names"'
if ! run badname --json && grep -q "not valid UTF-8" "$tmp/badname.log" &&
	[ ! -e "$tmp/badname.out" ]; then
	t_ok output_name_that_is_not_utf8_is_refused
else
	t_fail output_name_that_is_not_utf8_is_refused "$(cat "$tmp/badname.log")"
fi
job goodname 4MiB ', "names": [ { "name": "n", "data": "caf\u00e9 \u2603.txt" } ]' \
	"$(stage name names all names)" '"named": "name.names"'
want="café ☃.txt"
if run goodname --json && [ -e "$tmp/goodname.out/named/$want" ] &&
	grep -q "\"$want\"\|\"caf\\\\u00e9 \\\\u2603.txt\"" "$tmp/goodname.log"; then
	t_ok utf8_output_name_round_trips_to_json
else
	t_fail utf8_output_name_round_trips_to_json "$(ls "$tmp/goodname.out/named" 2>&1; cat "$tmp/goodname.log")"
fi

t_done
