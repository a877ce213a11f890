#!/bin/bash
# SPDX-License-Identifier: MIT
# The screenshot of Documentation/tracing.md: a small job of three stages
# (24 instances of `upper`, a file.read stage of 8 files, one `forward` of
# everything) run with --trace, drawn by tools/trace/trace2html and rendered
# by Debian's chromium, headless.
#
#   tools/trace/screenshot.sh [OUT.png]    (default Documentation/images/trace.png)
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
B=${B:-$root/build}
out=${1:-$root/Documentation/images/trace.png}
"$root/tools/deps.sh" doc || exit 1
command -v chromium >/dev/null || {
	echo "screenshot: needs chromium (tools/deps.sh doc)" >&2
	exit 1
}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/pith-shot.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

items= paths=
for i in $(seq 24); do
	items="$items{ \"name\": \"doc$i\", \"data\": \"$(head -c $((i * 40)) /dev/zero | tr '\0' a)\" },"
done
for i in $(seq 8); do
	head -c $((i * 100000)) /dev/zero >"$tmp/f$i"
	paths="$paths{ \"name\": \"p$i\", \"data\": \"f$i\" },"
done
cat >"$tmp/job.json" <<JSON
{ "version": 1, "name": "tracing-demo",
  "functions": { "upper": { "binary": "$B/tests/functions/upper", "timeout": "5s" },
                 "forward": { "binary": "$B/tests/functions/forward", "timeout": "5s" } },
  "inputs": { "docs": [ ${items%,} ], "paths": [ ${paths%,} ] },
  "stages": [ { "name": "shout", "function": "upper",
                "inputs": { "in": { "from": "docs", "mode": "each" } },
                "outputs": ["out"] },
              { "name": "read", "io": "file.read",
                "inputs": { "paths": { "from": "paths", "mode": "each" } },
                "outputs": ["data"] },
              { "name": "merge", "function": "forward",
                "inputs": { "in": { "from": "shout.out", "mode": "all" } },
                "outputs": ["out"] } ],
  "outputs": { "all": "merge.out", "files": "read.data" } }
JSON
"$B/pith" run "$tmp/job.json" -j 2 -q -o "$tmp/out" --trace "$tmp/trace.json"
"$root/tools/trace/trace2html" "$tmp/trace.json" >"$tmp/trace.html"
mkdir -p "$(dirname "$out")"
chromium --headless --no-sandbox --disable-gpu --hide-scrollbars \
	--window-size=1500,560 --screenshot="$out" "file://$tmp/trace.html" \
	2>/dev/null
echo "screenshot: $out"
