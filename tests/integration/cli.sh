#!/bin/bash
# SPDX-License-Identifier: MIT
# The pith command's contract: exit codes (0 ok, 1 a stage failed, 2 invalid
# job or usage), error lines, --json, help and version, doctor.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../harness/tap.sh"

. "$here/../harness/paths.sh"
pith=$B/pith
fn=$B/tests/functions
tmp=$(mktemp -d "${TMPDIR:-/tmp}/pith-cli.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

t_plan 45

# run CMD...: sets $out, $err and $rc.
run() {
	out=$("$@" 2>"$tmp/err")
	rc=$?
	err=$(cat "$tmp/err")
	cat "$tmp/err" >>"$tmp/all-err"
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
run "$pith" run "$tmp/ok.json" --bogus
if [ "$rc" -eq 2 ] && [ "$(printf '%s\n' "$err" | wc -l)" -eq 1 ] &&
	printf '%s' "$err" | grep -q "unknown option '--bogus'"; then
	t_ok unknown_option_is_one_error_line
else
	t_fail unknown_option_is_one_error_line "rc=$rc: $err"
fi
expect help_of_an_unknown_command_is_a_usage_error 2 \
	"no command named 'bogus'" "$pith" help bogus
expect option_of_another_command_is_refused 2 "does not apply to 'pith doctor'" \
	"$pith" doctor -o "$tmp/x"
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

# Binaries pith cannot load are an invalid job for check and run alike,
# found before anything runs, with the way to build a pith function.
printf '#include <stdio.h>\nint main(void) { printf("hi\\n"); return 0; }\n' \
	>"$tmp/hello.c"
printf '#!/bin/sh\necho hi\n' >"$tmp/script.sh"
chmod +x "$tmp/script.sh"
gcc -static -o "$tmp/static" "$tmp/hello.c" 2>/dev/null || : >"$tmp/static"
gcc -o "$tmp/dynamic" "$tmp/hello.c"
for b in static dynamic script.sh; do
	sed -e "s|$fn/upper|$tmp/$b|" "$tmp/ok.json" >"$tmp/bin-$b.json"
done
if [ -s "$tmp/static" ]; then
	expect check_refuses_a_libc_static_binary 2 \
		"functions\.up\.binary: .*PT_TLS.*tools/pith-cc" \
		"$pith" check "$tmp/bin-static.json"
else
	t_skip check_refuses_a_libc_static_binary "no static libc (libc6-dev) to build one"
fi
expect check_refuses_a_dynamic_binary 2 \
	"bin-dynamic\.json:2:[0-9]+: functions\.up\.binary: .*dynamically linked.*tools/pith-cc" \
	"$pith" check "$tmp/bin-dynamic.json"
expect check_refuses_a_script 2 "functions\.up\.binary: .*tools/pith-cc" \
	"$pith" check "$tmp/bin-script.sh.json"
expect run_refuses_a_script_as_an_invalid_job 2 \
	"functions\.up\.binary: .*tools/pith-cc" \
	"$pith" run "$tmp/bin-script.sh.json" -o "$tmp/o-script"
expect pith_cc_names_a_libc_header 1 "includes <stdio\.h>, a C library header" \
	"$root/tools/pith-cc" "$tmp/hello.c" -o "$tmp/hello"
: >"$tmp/afile"
expect output_that_is_a_file_is_refused_before_running 2 \
	"afile is not a directory" "$pith" run "$tmp/ok.json" -o "$tmp/afile/sub"
if [ -n "$(printf '%s' "$out" | grep 'job ok')" ]; then
	t_fail output_is_checked_before_the_job_runs "the job ran: $out"
else
	t_ok output_is_checked_before_the_job_runs
fi
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
# SDK: a set the stage does not have is a failure with its meaning, unless
# the function asked for it as optional.
sed -e 's|"in": {|"text": {|' "$tmp/ok.json" >"$tmp/noinput.json"
expect missing_input_set_fails_with_the_reason 1 \
	'stage s\[[01]\]: exited with status 125: input set "in" is not given to the stage \(the function asked for an input set the stage does not have' \
	"$pith" run "$tmp/noinput.json" -o "$tmp/o-noinput"
run "$pith" run "$tmp/noinput.json" -o "$tmp/o-noinput" --json
if [ "$rc" -eq 1 ] && printf '%s' "$out" | python3 -c '
import json, sys
d = json.load(sys.stdin)
i = [i for i in d["stages"][0]["instance_results"] if i["status"] == "failed"][0]
assert d["status"] == "failed", d
assert i["failure"] == "sdk" and i["exit_status"] == 125, i
assert i["sdk_error"] == "PITH_EXIT_NO_INPUT", i
'; then
	t_ok json_names_the_sdk_exit
else
	t_fail json_names_the_sdk_exit "rc=$rc: $out"
fi
sed -e 's|/upper"|/optional"|' "$tmp/ok.json" >"$tmp/optional.json"
expect optional_input_may_be_absent 0 'job ok: ok' \
	"$pith" run "$tmp/optional.json" -o "$tmp/o-opt"
if [ "$(cat "$tmp/o-opt/r/a" 2>/dev/null)" = "1 (no extra)" ]; then
	t_ok optional_input_is_null_when_absent
else
	t_fail optional_input_is_null_when_absent "$(cat "$tmp/o-opt/r/a" 2>&1)"
fi

# Progress: one redrawn line on a terminal, erased before the summary;
# nothing without a terminal or with -q.
if command -v script >/dev/null; then
	script -qec "'$pith' run '$tmp/ok.json' -o '$tmp/o-tty'" /dev/null \
		>"$tmp/tty" 2>&1
	if grep -aq "instances (" "$tmp/tty" &&
		grep -aq "$(printf '\r\033\\[K')job ok: ok" "$tmp/tty"; then
		t_ok progress_line_on_a_terminal
	else
		t_fail progress_line_on_a_terminal "$(od -c "$tmp/tty" | head)"
	fi
	script -qec "'$pith' run -q '$tmp/ok.json' -o '$tmp/o-tty'" /dev/null \
		>"$tmp/tty-q" 2>&1
	if grep -aq "instances (" "$tmp/tty-q"; then
		t_fail no_progress_with_quiet "$(cat "$tmp/tty-q")"
	else
		t_ok no_progress_with_quiet
	fi
else
	t_skip progress_line_on_a_terminal "no script(1) to make a terminal"
	t_skip no_progress_with_quiet "no script(1) to make a terminal"
fi
run "$pith" run "$tmp/ok.json" -o "$tmp/o-notty"
if printf '%s' "$err" | grep -q "instances ("; then
	t_fail no_progress_without_a_terminal "$err"
else
	t_ok no_progress_without_a_terminal
fi

# --require: doctor's exit status tells required-present from missing.
expect doctor_without_requirements_is_healthy 0 'seccomp +active' "$pith" doctor
expect doctor_requiring_an_unknown_layer_is_a_usage_error 2 \
	"no sandbox layer named 'nope'" "$pith" doctor --require nope
missing=$("$pith" doctor --json | python3 -c '
import json, sys
print(" ".join(l["layer"] for l in json.load(sys.stdin)["layers"] if not l["active"]))')
if [ -n "$missing" ]; then
	m=${missing%% *}
	expect doctor_fails_when_a_required_layer_is_missing 1 \
		"required sandbox layer unavailable: $m" "$pith" doctor --require "$m"
	expect run_refuses_when_a_required_layer_is_missing 1 \
		"required sandbox layer unavailable: $m" \
		"$pith" run "$tmp/ok.json" -o "$tmp/o-req" --require "$m"
	sed -e "s|\"name\": \"ok\",|\"name\": \"ok\", \"require\": [\"$m\"],|" \
		"$tmp/ok.json" >"$tmp/req.json"
	expect job_requiring_a_missing_layer_is_refused 1 \
		"required sandbox layer unavailable: $m" \
		"$pith" run "$tmp/req.json" -o "$tmp/o-req"
	expect check_says_a_required_layer_is_missing 1 \
		"required sandbox layer unavailable: $m" \
		"$pith" check "$tmp/req.json"
else
	expect doctor_fails_when_a_required_layer_is_missing 0 'active' \
		"$pith" doctor --require all
	expect run_refuses_when_a_required_layer_is_missing 0 'job ok' \
		"$pith" run "$tmp/ok.json" -o "$tmp/o-req" --require all
	t_skip job_requiring_a_missing_layer_is_refused "every layer is active here"
	t_skip check_says_a_required_layer_is_missing "every layer is active here"
fi
sed -e 's|"name": "ok",|"name": "ok", "require": ["no-such-layer"],|' \
	"$tmp/ok.json" >"$tmp/req-bad.json"
expect job_requiring_an_unknown_layer_is_invalid 2 \
	"the job's \"require\": no sandbox layer named 'no-such-layer'" \
	"$pith" run "$tmp/req-bad.json" -o "$tmp/o-req-bad"
expect check_refuses_an_unknown_required_layer 2 \
	"the job's \"require\": no sandbox layer named 'no-such-layer'" \
	"$pith" check "$tmp/req-bad.json"
run "$pith" run -q "$tmp/ok.json" -o "$tmp/o-q"
if [ "$rc" -eq 0 ] && [ -z "$err" ]; then
	t_ok quiet_run_prints_nothing_on_stderr
else
	t_fail quiet_run_prints_nothing_on_stderr "rc=$rc: $err"
fi

# SIGTERM and SIGINT: workers killed and reaped, cgroup removed, nothing
# written (not even the outputs of the stage that finished), said on
# stderr, 128 + the signal.
cat >"$tmp/spin.json" <<JSON
{ "version": 1, "name": "spin",
  "functions": { "up": { "binary": "$fn/upper", "timeout": "5s" },
                 "spin": { "binary": "$fn/spin", "timeout": "60s" } },
  "inputs": { "x": [ { "name": "a", "data": "abc" }, { "name": "b", "data": "d" } ] },
  "stages": [ { "name": "s", "function": "up",
                "inputs": { "in": { "from": "x", "mode": "each" } }, "outputs": ["out"] },
              { "name": "t", "function": "spin",
                "inputs": { "in": { "from": "x", "mode": "each" } }, "outputs": ["out"] } ],
  "outputs": { "done": "s.out", "never": "t.out" } }
JSON
for sig in TERM INT; do
	"$pith" run "$tmp/spin.json" -o "$tmp/o-$sig" >"$tmp/out-$sig" 2>"$tmp/err-$sig" &
	p=$!
	for _ in $(seq 100); do
		pgrep -P "$p" >/dev/null 2>&1 && break
		grep -q . /sys/fs/cgroup/unified/pith-$p/workers/cgroup.procs 2>/dev/null && break
		grep -q . /sys/fs/cgroup/pith-$p/workers/cgroup.procs 2>/dev/null && break
		sleep 0.05
	done
	sleep 0.2
	kill -$sig $p
	wait $p
	rc=$?
	want=$((128 + $(kill -l $sig)))
	left=$(ls -d /sys/fs/cgroup/pith-$p /sys/fs/cgroup/unified/pith-$p 2>/dev/null)
	if [ "$rc" -ne "$want" ]; then
		t_fail sig${sig}_stops_the_run_cleanly "exit $rc, wanted $want: $(cat "$tmp/err-$sig")"
	elif ! grep -q "interrupted by SIG$sig" "$tmp/err-$sig"; then
		t_fail sig${sig}_stops_the_run_cleanly "no message: $(cat "$tmp/err-$sig")"
	elif [ -n "$left" ]; then
		t_fail sig${sig}_stops_the_run_cleanly "cgroup left: $left"
	elif [ -e "$tmp/o-$sig" ]; then
		t_fail sig${sig}_stops_the_run_cleanly "output written"
	else
		t_ok sig${sig}_stops_the_run_cleanly
	fi
done
# Every error line says something after its last colon.
if grep -nE '^pith.*:[[:space:]]*$' "$tmp/all-err"; then
	t_fail no_error_message_is_empty "$(grep -nE '^pith.*:[[:space:]]*$' "$tmp/all-err")"
else
	t_ok no_error_message_is_empty
fi
t_done
