#!/bin/bash
# SPDX-License-Identifier: MIT
# The I/O functions attacked through `pith run`: requests to internal
# addresses (server-side request forgery), requests with ambiguous framing,
# and file.write items named like the job's own files. Each check fails on a
# pith that lets the attack through.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../harness/tap.sh"

. "$here/../harness/paths.sh"
pith=$B/pith

command -v python3 >/dev/null || { t_skip_all "python3 not installed (tools/deps.sh test)"; exit 0; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/pith-io-policy.XXXXXX")
. "$root/tests/servers/hostile.sh"
trap 'hostile_stop; rm -rf "$tmp"' EXIT

t_plan 16

hostile_start "$tmp" || t_bail "tests/servers/hostile.py printed no port"
port=$hostile_port

# count: TCP connections the hostile server accepted so far.
count() {
	python3 - "$port" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"GET /count HTTP/1.1\r\nHost: x\r\n\r\n")
data = b""
while b"\r\n\r\n" not in data or not data.split(b"\r\n\r\n", 1)[1]:
    data += s.recv(4096)
print(data.split(b"\r\n\r\n", 1)[1].decode())
PY
}

# http_job DIR REQUEST [ALLOW_JSON]: a job with one http stage on one
# request item (the text of an HTTP request, as a function would make it;
# \r and \n in REQUEST are written as such).
http_job() {
	mkdir -p "$1"
	python3 - "$1/job.json" "$2" "${3:-}" <<'PY'
import json, sys
job = {"version": 1, "name": "ssrf",
       "inputs": {"req": [{"name": "r", "data": sys.argv[2].replace("\\r", "\r").replace("\\n", "\n")}]},
       "stages": [{"name": "fetch", "io": "http",
                   "inputs": {"r": {"from": "req", "mode": "each"}},
                   "outputs": ["status", "body"]}],
       "outputs": {"status": "fetch.status", "body": "fetch.body"}}
if sys.argv[3]:
    job["allow_hosts"] = json.loads(sys.argv[3])
json.dump(job, open(sys.argv[1], "w"))
PY
}

get() { echo "GET $1 HTTP/1.1\r\n\r\n"; }

# refused NAME URL WHAT: the request fails with the policy's reason.
refused() {
	local name=$1 url=$2 what=$3 out
	http_job "$tmp/$name" "$(get "$url")"
	out=$("$pith" run "$tmp/$name/job.json" -o "$tmp/$name/out" 2>&1)
	if [ $? -ne 0 ] && printf '%s\n' "$out" | grep -qF "refused: $what"; then
		t_ok "$name"
	else
		t_fail "$name" "$out"
	fi
}

# ---- server-side request forgery ----

c0=$(count)
http_job "$tmp/lo" "$(get "http://127.0.0.1:$port/ok")"
out=$("$pith" run "$tmp/lo/job.json" -o "$tmp/lo/out" 2>&1)
rc=$?
c1=$(count)
# The /count request itself is one connection.
if [ $rc -ne 0 ] && [ $((c1 - c0)) -eq 1 ] &&
	printf '%s\n' "$out" | grep -qF "http: 127.0.0.1:$port: refused: 127.0.0.1 is a loopback address" &&
	[ ! -e "$tmp/lo/out/body" ]; then
	t_ok "loopback_is_refused_before_any_connection"
else
	t_fail "loopback_is_refused_before_any_connection" "exit $rc, connections $c0 -> $c1: $out"
fi

refused metadata_service_address_is_refused "http://169.254.169.254/latest/meta-data/" \
	"169.254.169.254 is a link-local address"
refused private_address_is_refused "http://10.1.2.3:8080/" "10.1.2.3 is a private address"
refused ipv4_mapped_loopback_is_refused "http://[::ffff:127.0.0.1]:$port/ok" \
	"::ffff:127.0.0.1 is a loopback address"
refused unspecified_address_is_refused "http://0.0.0.0:$port/ok" "0.0.0.0 is a 'this network' address"
# localhost is in /etc/hosts: the check is on the address it resolves to.
refused name_resolving_to_loopback_is_refused "http://localhost:$port/ok" "127.0.0.1 is a loopback address"

own=$(python3 -c 'import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
try:
    s.connect(("192.0.2.1", 9)); print(s.getsockname()[0])
except OSError:
    pass')
if [ -n "$own" ] && [ "$own" != 127.0.0.1 ]; then
	refused own_address_of_this_host_is_refused "http://$own:$port/ok" "$own is"
else
	t_skip own_address_of_this_host_is_refused "this host has no address but loopback"
fi

http_job "$tmp/allow" "$(get "http://127.0.0.1:$port/ok")" "[\"127.0.0.1:$port\"]"
if out=$("$pith" run "$tmp/allow/job.json" -o "$tmp/allow/out" 2>&1) &&
	[ "$(cat "$tmp/allow/out/body/r")" = hello ]; then
	t_ok "job_allows_loopback_by_host_and_port"
else
	t_fail "job_allows_loopback_by_host_and_port" "$out"
fi

http_job "$tmp/other" "$(get "http://127.0.0.1:$port/ok")" "[\"127.0.0.1:1\", \"localhost\"]"
out=$("$pith" run "$tmp/other/job.json" -o "$tmp/other/out" 2>&1)
if [ $? -ne 0 ] && printf '%s\n' "$out" | grep -qF "refused: 127.0.0.1 is a loopback address"; then
	t_ok "allow_for_another_port_or_name_does_not_open_this_one"
else
	t_fail "allow_for_another_port_or_name_does_not_open_this_one" "$out"
fi

http_job "$tmp/cli" "$(get "http://localhost:$port/ok")"
if out=$("$pith" run "$tmp/cli/job.json" -o "$tmp/cli/out" --allow-host "localhost:$port" 2>&1) &&
	[ "$(cat "$tmp/cli/out/body/r")" = hello ]; then
	t_ok "command_line_allows_a_name"
else
	t_fail "command_line_allows_a_name" "$out"
fi

# ---- ambiguous framing ----

ambiguous() {
	local name=$1 req=$2 want=$3 out
	http_job "$tmp/$name" "$req" "[\"127.0.0.1:$port\"]"
	c0=$(count)
	out=$("$pith" run "$tmp/$name/job.json" -o "$tmp/$name/out" 2>&1)
	rc=$?
	c1=$(count)
	if [ $rc -ne 0 ] && [ $((c1 - c0)) -eq 1 ] && printf '%s\n' "$out" | grep -qF "$want"; then
		t_ok "$name"
	else
		t_fail "$name" "exit $rc, connections $c0 -> $c1: $out"
	fi
}
ambiguous two_equal_content_lengths_are_not_sent \
	"POST http://127.0.0.1:$port/ok HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc" \
	"two Content-Length headers (ambiguous framing)"
ambiguous conflicting_content_lengths_are_not_sent \
	"POST http://127.0.0.1:$port/ok HTTP/1.1\r\nContent-Length: 0\r\nContent-Length: 3\r\n\r\nabc" \
	"two Content-Length headers (ambiguous framing)"

# ---- file.write and the job's own files ----

# Any pith function does as the declared binary (it must load).
tool=$root/build/examples/wordcount/count
[ -x "$B/examples/wordcount/count" ] && tool=$B/examples/wordcount/count

# write_job DIR ITEM: a job that writes one input item named ITEM (holding
# "owned") with file.write. It declares a function binary bin/tool and
# reads an input file data/in.txt; item names hold no '/', so a write root
# (--data-root, --write-root) aims the item at each of them.
write_job() {
	mkdir -p "$1/bin" "$1/data"
	cp "$tool" "$1/bin/tool"
	printf 'original input\n' >"$1/data/in.txt"
	python3 - "$1/job.json" "$2" <<'PY'
import json, sys
job = {"version": 1, "name": "w",
       "functions": {"tool": {"binary": "bin/tool"}},
       "inputs": {"in": [{"name": "in.txt", "file": "data/in.txt"}],
                  "out": [{"name": sys.argv[2], "data": "owned"}]},
       "stages": [{"name": "write", "io": "file.write",
                   "inputs": {"o": {"from": "out", "mode": "each"}}}]}
json.dump(job, open(sys.argv[1], "w"))
PY
}

# not_replaced NAME ITEM FILE ROOT-OPTION...: the write of ITEM fails with
# the reason and FILE keeps its bytes.
not_replaced() {
	local name=$1 item=$2 file=$3 out
	shift 3
	write_job "$tmp/$name" "$item"
	cp "$tmp/$name/$file" "$tmp/$name.before"
	out=$("$pith" run "$tmp/$name/job.json" -o "$tmp/$name/out" "$@" 2>&1)
	if [ $? -ne 0 ] &&
		printf '%s\n' "$out" | grep -qF "file.write: '$item': is one of the job's own files" &&
		cmp -s "$tmp/$name/$file" "$tmp/$name.before"; then
		t_ok "$name"
	else
		t_fail "$name" "$(printf '%s\n%s now holds: ' "$out" "$file"; head -c 100 "$tmp/$name/$file")"
	fi
}
not_replaced job_file_is_never_replaced job.json job.json --data-root "$tmp/job_file_is_never_replaced"
not_replaced function_binary_is_never_replaced tool bin/tool --data-root "$tmp/function_binary_is_never_replaced/bin"
not_replaced job_input_is_never_replaced in.txt data/in.txt --write-root "$tmp/job_input_is_never_replaced/data"

# Without a root given, writes land in the output directory, not beside
# the job.
write_job "$tmp/default" job.json
if out=$(cd "$tmp/default" && "$pith" run job.json -o "$tmp/default/out" 2>&1) &&
	[ "$(cat "$tmp/default/out/job.json")" = owned ] &&
	python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$tmp/default/job.json"; then
	t_ok "default_write_root_is_the_output_directory"
else
	t_fail "default_write_root_is_the_output_directory" "$out"
fi

t_done
