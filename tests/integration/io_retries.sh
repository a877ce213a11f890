#!/bin/bash
# SPDX-License-Identifier: MIT
# An http stage's policy keys through `pith run`: "retries" and "backoff"
# against a server that fails first attempts (the results are those of a
# clean run), "timeout" per attempt, "concurrency" in flight.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../harness/tap.sh"

. "$here/../harness/paths.sh"
pith=$B/pith

command -v python3 >/dev/null || { t_skip_all "python3 not installed (tools/deps.sh test)"; exit 0; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/pith-io-retries.XXXXXX")
. "$root/tests/servers/hostile.sh"
trap 'hostile_stop; rm -rf "$tmp"' EXIT

t_plan 6

hostile_start "$tmp" || t_bail "tests/servers/hostile.py printed no port"
port=$hostile_port

# job NAME POLICY_JSON PATH...: one http stage fetching each PATH (items
# named 0, 1, ...), with the stage keys POLICY_JSON, loopback allowed.
job() {
	local name=$1 policy=$2
	shift 2
	mkdir -p "$tmp/$name"
	python3 - "$tmp/$name/job.json" "$port" "$policy" "$@" <<'PY'
import json, sys
path, port, policy = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
reqs = [{"name": str(i), "data": "GET http://127.0.0.1:%s%s HTTP/1.1\r\n\r\n" % (port, p)}
        for i, p in enumerate(sys.argv[4:])]
stage = {"name": "fetch", "io": "http",
         "inputs": {"r": {"from": "req", "mode": "each"}},
         "outputs": ["status", "body"]}
stage.update(policy)
json.dump({"version": 1, "name": "retries",
           "allow_hosts": ["127.0.0.1:%s" % port],
           "inputs": {"req": reqs}, "stages": [stage],
           "outputs": {"status": "fetch.status", "body": "fetch.body"}},
          open(path, "w"))
PY
}

job clean '{}' /ok/4000 /ok/4000 /ok/4000
"$pith" run "$tmp/clean/job.json" -o "$tmp/clean/out" -q >/dev/null 2>&1

job flaky '{"retries": 2, "backoff": "1ms"}' /flaky/reset/a/1/4000 \
	/flaky/close/b/2/4000 /flaky/503/c/1/4000
if out=$("$pith" run "$tmp/flaky/job.json" -o "$tmp/flaky/out" 2>&1) &&
	diff -r "$tmp/clean/out" "$tmp/flaky/out" >/dev/null; then
	t_ok "retried_job_gives_the_results_of_a_clean_run"
else
	t_fail "retried_job_gives_the_results_of_a_clean_run" \
		"$out$(diff -r "$tmp/clean/out" "$tmp/flaky/out" 2>&1 | head -5)"
fi

job noretry '{"retries": 0}' /flaky/reset/d/1/4000
out=$("$pith" run "$tmp/noretry/job.json" -o "$tmp/noretry/out" 2>&1)
if [ $? -ne 0 ] && printf '%s\n' "$out" | grep -qF "connection reset by peer" &&
	! printf '%s\n' "$out" | grep -qF "attempts)"; then
	t_ok "retries_0_fails_on_the_first_reset"
else
	t_fail "retries_0_fails_on_the_first_reset" "$out"
fi

job twice '{"retries": 1, "backoff": "1ms"}' /flaky/close/e/5/10
out=$("$pith" run "$tmp/twice/job.json" -o "$tmp/twice/out" 2>&1)
if [ $? -ne 0 ] && printf '%s\n' "$out" |
	grep -qF "127.0.0.1:$port: connection closed without a response (2 attempts)"; then
	t_ok "retries_1_makes_two_attempts_and_says_so"
else
	t_fail "retries_1_makes_two_attempts_and_says_so" "$out"
fi

# Requests that all fail must end the stage: each failure gives back the
# prefetch window's credit it took (with more failures than the window's
# first guess, pith used to wait for ever).
paths=
for i in $(seq 40); do paths="$paths /reset"; done
# shellcheck disable=SC2086
job allfail '{"retries": 0, "concurrency": 256}' $paths
out=$(timeout 60 "$pith" run "$tmp/allfail/job.json" -o "$tmp/allfail/out" 2>&1)
rc=$?
if [ $rc -eq 1 ] && printf '%s\n' "$out" | grep -qF "connection reset by peer"; then
	t_ok "failed_requests_alone_end_the_stage"
else
	t_fail "failed_requests_alone_end_the_stage" "exit $rc (124: pith still waiting after 60 s): $(printf '%s\n' "$out" | head -3)"
fi

job slow '{"timeout": "300ms", "retries": 0}' /silent
t0=$(date +%s%N)
out=$("$pith" run "$tmp/slow/job.json" -o "$tmp/slow/out" 2>&1)
rc=$?
ms=$((($(date +%s%N) - t0) / 1000000))
if [ $rc -ne 0 ] && printf '%s\n' "$out" | grep -qF "total timeout of 300 ms exceeded" &&
	[ $ms -lt 5000 ]; then
	t_ok "timeout_bounds_each_attempt"
else
	t_fail "timeout_bounds_each_attempt" "exit $rc after $ms ms: $out"
fi

# Concurrency 1: the requests go one after another on one kept-alive
# connection, so /count (last) sees one new connection.
before=$(python3 - "$port" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"GET /count HTTP/1.1\r\nHost: x\r\n\r\n")
d = b""
while b"\r\n\r\n" not in d or not d.split(b"\r\n\r\n", 1)[1]:
    d += s.recv(4096)
print(d.split(b"\r\n\r\n", 1)[1].decode())
PY
)
job one '{"concurrency": 1}' /ok /ok /ok /ok /count
if out=$("$pith" run "$tmp/one/job.json" -o "$tmp/one/out" 2>&1) &&
	[ "$(cat "$tmp/one/out/body/4")" = $((before + 1)) ]; then
	t_ok "concurrency_1_uses_one_connection"
else
	t_fail "concurrency_1_uses_one_connection" "before $before, count $(cat "$tmp/one/out/body/4" 2>&1): $out"
fi

t_done
