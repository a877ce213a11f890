#!/bin/bash
# SPDX-License-Identifier: MIT
# The pith command's contract: exit codes (0 ok, 1 a stage failed, 2 invalid
# job or usage), error lines, --json, help and version, doctor.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../harness/tap.sh"

root=$(cd "$here/../.." && pwd)
B=${B:-build}
case $B in /*) ;; *) B=$root/$B ;; esac
pith=$B/pith
fn=$B/tests/fn/engine
tmp=$(mktemp -d "${TMPDIR:-/tmp}/pith-cli.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

t_plan 16

# run CMD...: sets $out, $err and $rc.
run() {
	out=$("$@" 2>"$tmp/err")
	rc=$?
	err=$(cat "$tmp/err")
}

# expect NAME RC PATTERN(stdout+stderr, grep -E) CMD...
expect() {
	local name=$1 want=$2 pat=$3
	shift 3
	run "$@"
	if [ "$rc" -ne "$want" ]; then
		t_fail "$name" "exit $rc, wanted $want; stderr: $err"
	elif ! printf '%s\n%s\n' "$out" "$err" | grep -Eq -- "$pat"; then
		t_fail "$name" "no /$pat/ in: $out $err"
	else
		t_ok "$name"
	fi
}

cat >"$tmp/ok.json" <<JSON
{ "version": 1, "name": "ok",
  "functions": { "up": { "binary": "$fn/upper", "timeout": "2s" } },
  "inputs": { "x": [ { "name": "a", "data": "abc" }, { "name": "b", "data": "d" } ] },
  "stages": [ { "name": "s", "function": "up",
                "inputs": { "in": { "from": "x", "mode": "each" } },
                "outputs": ["out"] } ],
  "outputs": { "r": "s.out" } }
JSON
sed -e 's|/upper"|/fail"|' "$tmp/ok.json" >"$tmp/fail.json"
printf '{ "version": 1,\n  "name": "typo",\n  "stages": [ { "name": "s", "functon": "up" } ] }\n' \
	>"$tmp/bad.json"

expect version_prints_the_version 0 '^pith [0-9]+\.[0-9]+\.[0-9]+$' \
	"$pith" --version
expect no_command_is_a_usage_error 2 'Usage: pith COMMAND' "$pith"
expect unknown_command_is_a_usage_error 2 "unknown command 'frobnicate'" \
	"$pith" frobnicate
expect run_without_a_job_is_a_usage_error 2 'missing JOB.json' "$pith" run
expect bad_parallel_is_a_usage_error 2 '--parallel wants a number' \
	"$pith" run -j 0 "$tmp/ok.json"
expect bad_PITH_STORE_POOL_is_a_usage_error 2 \
	"PITH_STORE_POOL='lots' is not a size" \
	env PITH_STORE_POOL=lots "$pith" run "$tmp/ok.json" -o "$tmp/o0"
expect run_with_no_buffer_pool_succeeds 0 'job ok: ok' \
	env PITH_STORE_POOL=0 "$pith" run "$tmp/ok.json" -o "$tmp/o00"
expect help_run_shows_the_options 0 'Usage: pith run JOB.json.*--data-root' \
	"$pith" help run
expect invalid_job_names_file_line_column_and_path 2 \
	"bad\.json:3:30: stages\[0\]\.functon: unknown key 'functon'" \
	"$pith" run "$tmp/bad.json" -o "$tmp/o1"
expect check_accepts_a_valid_job 0 "valid job 'ok'" "$pith" check "$tmp/ok.json"
expect run_succeeds_and_writes_outputs 0 'job ok: ok' \
	"$pith" run "$tmp/ok.json" -o "$tmp/o2"
if [ "$(cat "$tmp/o2/r/a" 2>/dev/null)" = ABC ]; then
	t_ok outputs_hold_the_function_results
else
	t_fail outputs_hold_the_function_results "o2/r/a: $(cat "$tmp/o2/r/a" 2>&1)"
fi
expect failed_stage_exits_1_with_the_reason 1 \
	'stage s\[1\]: exited with status 3' \
	"$pith" run "$tmp/fail.json" -o "$tmp/o3"
if [ -e "$tmp/o3/r" ]; then
	t_fail failed_job_writes_no_output "$tmp/o3/r exists"
else
	t_ok failed_job_writes_no_output
fi
run "$pith" run "$tmp/ok.json" -o "$tmp/o4" --json
if [ "$rc" -eq 0 ] && printf '%s' "$out" | python3 -c '
import json, sys
d = json.load(sys.stdin)
assert d["status"] == "ok", d
st = d["stages"][0]
assert st["name"] == "s" and st["instances"] == 2, st
assert [i["status"] for i in st["instance_results"]] == ["ok", "ok"], st
assert [i["name"] for i in d["outputs"]["r"]["items"]] == ["a", "b"], d
'; then
	t_ok json_summary_is_machine_readable
else
	t_fail json_summary_is_machine_readable "rc=$rc: $out $err"
fi
run "$pith" doctor --json
if printf '%s' "$out" | python3 -c '
import json, sys
names = [l["layer"] for l in json.load(sys.stdin)["layers"]]
for want in ("seccomp", "address-space", "cgroup", "deadline", "io_uring"):
    assert want in names, names
'; then
	t_ok doctor_lists_every_layer
else
	t_fail doctor_lists_every_layer "$out $err"
fi
t_done
