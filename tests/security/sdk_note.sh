#!/bin/bash
# SPDX-License-Identifier: MIT
# The SDK's note (ABI 1.2, struct pith_note): before exiting with one of its
# statuses the SDK writes why into the context, and pith's reason and
# --json say it (the set not declared or not given, the bytes asked and
# left). The note is the function's word: hand-made garbage notes
# (tests/security/fn/note.c) are ignored, never printed.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../harness/tap.sh"

. "$here/../harness/paths.sh"
pith=$B/pith
note=$B/tests/fn/note
schema=$root/Documentation/json-output.schema.json
tmp=$(mktemp -d "${TMPDIR:-/tmp}/pith-note.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

t_plan 12

# run CASE: a job whose stage "s" gives the function one item CASE in set
# "in" and declares output "out"; --json in $tmp/CASE.json, stderr in
# $tmp/CASE.log.
run() {
	cat >"$tmp/$1.job" <<JSON
{ "version": 1, "name": "note",
  "functions": { "note": { "binary": "$note", "memory": "256KiB" } },
  "inputs": { "seed": [ { "name": "x", "data": "$1" } ] },
  "stages": [ { "name": "s", "function": "note",
                "inputs": { "in": { "from": "seed", "mode": "all" } },
                "outputs": ["out"] } ] }
JSON
	"$pith" run "$tmp/$1.job" -o "$tmp/$1.out" --json >"$tmp/$1.json" 2>"$tmp/$1.log"
}

# field CASE EXPR: EXPR (python, over the failed instance as i) holds.
field() {
	python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
i = d["stages"][0]["instance_results"][0]
sys.exit(0 if eval(sys.argv[2]) else 1)' "$tmp/$1.json" "$2" 2>/dev/null
}

# valid CASE: the --json document is valid against the schema.
valid() {
	python3 -c '
import json, sys, jsonschema
jsonschema.validate(json.load(open(sys.argv[1])), json.load(open(sys.argv[2])))' \
		"$tmp/$1.json" "$schema" 2>&1
}

# good CASE NAME REASON EXPR: the reason and the field.
good() {
	local why
	run "$1"
	if grep -qF "stage s[0]: $3" "$tmp/$1.log" && field "$1" "$4" &&
		why=$(valid "$1"); then
		t_ok "$2"
	else
		t_fail "$2" "$(cat "$tmp/$1.log" "$tmp/$1.json"; echo "$why")"
	fi
}

good noout undeclared_output_set_is_named \
	'exited with status 121: output set "reslt" is not declared by the stage' \
	'i["sdk_error"] == "PITH_EXIT_NO_OUTPUT" and i["sdk_note"] == {"set": "reslt"}'
good noin missing_input_set_is_named \
	'exited with status 125: input set "txt" is not given to the stage' \
	'i["sdk_note"] == {"set": "txt"}'
good longname over_limit_output_set_is_named \
	'exited with status 122: an item of output set "out" is over the limits' \
	'i["sdk_note"] == {"set": "out"}'
good nomem out_of_memory_says_the_bytes_asked_and_left \
	'exited with status 120: out of memory: asked ' \
	'i["sdk_note"]["asked_bytes"] > i["sdk_note"]["left_bytes"] and i["sdk_note"]["asked_bytes"] - i["sdk_note"]["left_bytes"] >= 1 << 20'
# The numbers in the reason are the ones in --json.
if python3 -c '
import json, sys
i = json.load(open(sys.argv[1]))["stages"][0]["instance_results"][0]
n = i["sdk_note"]
want = "out of memory: asked %d bytes, %d left" % (n["asked_bytes"], n["left_bytes"])
sys.exit(0 if want in i["reason"] and n["left_bytes"] < 256 * 1024 else 1)' "$tmp/nomem.json"; then
	t_ok out_of_memory_reason_and_json_agree
else
	t_fail out_of_memory_reason_and_json_agree "$(cat "$tmp/nomem.json")"
fi

# Garbage notes: the reason is the bare status and the note's text never
# appears; no sdk_note in --json; the document stays valid.
bad() {
	local status=$1 name=$2 why
	shift 2
	run "$name"
	if grep -qE "stage s\[0\]: exited with status $status(, with a malformed note \(ignored\)| \(|$)" "$tmp/$name.log" &&
		! grep -q 'reslt\|stage s\[0\]: ok' "$tmp/$name.log" &&
		field "$name" '"sdk_note" not in i' && why=$(valid "$name"); then
		t_ok "garbage_note_${name#g-}_is_ignored"
	else
		t_fail "garbage_note_${name#g-}_is_ignored" "$(cat "$tmp/$name.log"; echo "$why")"
	fi
}
bad 121 g-len
bad 121 g-utf8
bad 121 g-ctl
bad 121 g-status
bad 120 g-left
bad 121 g-random

# 12: a note left by an earlier instance in the same worker (warm, -j 1)
# is not read for a later one: pith zeroes it with each descriptor.
cat >"$tmp/stale.job" <<JSON
{ "version": 1, "name": "stale",
  "functions": { "note": { "binary": "$note", "memory": "256KiB" } },
  "inputs": { "seed": [ { "name": "a", "data": "plant" }, { "name": "b", "data": "plant" },
                        { "name": "c", "data": "bare" } ] },
  "stages": [ { "name": "s", "function": "note",
                "inputs": { "in": { "from": "seed", "mode": "each" } },
                "outputs": ["out"] } ] }
JSON
"$pith" run "$tmp/stale.job" -o "$tmp/stale.out" -j 1 >"$tmp/stale.log" 2>&1
rc=$?
if [ $rc = 1 ] && grep -qE 'stage s\[2\]: exited with status 121 \(' "$tmp/stale.log" &&
	! grep -q planted "$tmp/stale.log"; then
	t_ok note_of_an_earlier_instance_is_not_read_for_a_later_one
else
	t_fail note_of_an_earlier_instance_is_not_read_for_a_later_one "exit $rc: $(cat "$tmp/stale.log")"
fi

t_done
