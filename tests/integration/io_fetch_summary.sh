#!/bin/bash
# SPDX-License-Identifier: MIT
# examples/fetch-summary end to end against a private nginx: compute builds
# requests, http fetches them, compute summarises, file.write writes the
# summary under the data root; and with the server gone the job fails with
# the connect error of the fetch stage and writes nothing.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../harness/tap.sh"

. "$here/../harness/paths.sh"
pith=$B/pith
ex=$root/examples/fetch-summary
fns=$root/build/examples/fetch-summary

for p in nginx python3; do
	command -v $p >/dev/null || { t_skip_all "$p not installed (tools/deps.sh test)"; exit 0; }
done
tmp=$(mktemp -d "${TMPDIR:-/tmp}/pith-io-fetch.XXXXXX")
trap '"$root/tests/servers/nginx.sh" stop "$tmp/nginx" 2>/dev/null; rm -rf "$tmp"' EXIT

t_plan 7

mkdir -p "$tmp/nginx/html" "$tmp/job/bin" "$tmp/job/data" "$tmp/root" "$tmp/root2"
cp "$ex"/data/site/* "$tmp/nginx/html/"
cp "$ex/data/objects.txt" "$tmp/job/data/"
cp "$fns/requests" "$fns/summarise" "$tmp/job/bin/" 2>/dev/null
port=$("$root/tests/servers/nginx.sh" start "$tmp/nginx") || port=
# The example's job, pointed at this nginx and at the copied functions.
python3 - "$ex/job.json" "$tmp/job/job.json" "$port" <<'EOF'
import json, sys
job = json.load(open(sys.argv[1]))
job["inputs"]["server"][0]["data"] = "http://127.0.0.1:%s" % sys.argv[3]
# The server is on loopback: the job allows exactly it.
job["allow_hosts"] = ["127.0.0.1:%s" % sys.argv[3]]
for f in job["functions"].values():
    f["binary"] = "bin/" + f["binary"].rsplit("/", 1)[1]
json.dump(job, open(sys.argv[2], "w"), indent=1)
EOF

if [ -z "$port" ] || [ ! -x "$tmp/job/bin/requests" ]; then
	t_fail "job_runs_compute_http_compute_write" \
		"setup failed (nginx port '$port', functions in $fns: run make)"
else
	if out=$("$pith" run "$tmp/job/job.json" -o "$tmp/out" \
		--data-root "$tmp/root" 2>&1); then
		t_ok "job_runs_compute_http_compute_write"
	else
		t_fail "job_runs_compute_http_compute_write" "$out"
	fi
fi

# Bodies are the served files; missing.txt got nginx's 404 page.
bad=
for f in dataflow.txt sandbox.txt rings.txt; do
	cmp -s "$tmp/nginx/html/$f" "$tmp/out/bodies/$f" || bad="$bad $f"
done
if [ -z "$bad" ] && [ -s "$tmp/out/bodies/missing.txt" ]; then
	t_ok "bodies_are_the_served_files"
else
	t_fail "bodies_are_the_served_files" "differ:$bad"
fi

# The summary, recomputed with wc from the bodies pith wrote out.
expected=$(cd "$tmp/out/bodies" 2>/dev/null && {
	tb=0 tl=0 tw=0
	for f in dataflow.txt sandbox.txt rings.txt missing.txt; do
		code=200
		[ $f != missing.txt ] || code=404
		set -- $(wc -c <$f) $(wc -l <$f) $(wc -w <$f)
		printf '%s\t%s\t%s\t%s\t%s\n' $f $code $1 $2 $3
		tb=$((tb + $1)) tl=$((tl + $2)) tw=$((tw + $3))
	done
	printf 'total\t4\t%s\t%s\t%s\n' $tb $tl $tw
})
if [ -f "$tmp/root/summary.txt" ] && [ -n "$expected" ] &&
	[ "$(cat "$tmp/root/summary.txt")" = "$expected" ]; then
	t_ok "file_write_stage_wrote_the_summary"
else
	t_fail "file_write_stage_wrote_the_summary" "$(printf 'want:\n%s\ngot:\n' "$expected"; cat "$tmp/root/summary.txt" 2>&1)"
fi

if [ "$(ls -A "$tmp/root")" = "summary.txt" ]; then
	t_ok "data_root_holds_only_the_summary"
else
	t_fail "data_root_holds_only_the_summary" "$(ls -A "$tmp/root")"
fi

# 10,000 requests made by a stage: the http run's input passes as it is
# fetched, and the stream drops the passed prefix while the run goes on
# (the run reads its requests from the stream's moving base): every body
# still comes from its own request.
mkdir -p "$tmp/many/html" "$tmp/many/job/bin" "$tmp/many/job/data" "$tmp/many/root"
python3 - "$tmp/many" "$tmp/job/job.json" <<'EOF'
import json, os, sys
d = sys.argv[1]
names = ["o%05d.txt" % i for i in range(10000)]
for i, n in enumerate(names):
    with open(os.path.join(d, "html", n), "w") as f:
        f.write(("object %d\n" % i) * (1 + i % 3))
with open(os.path.join(d, "job", "data", "objects.txt"), "w") as f:
    f.write("".join(n + "\n" for n in names))
job = json.load(open(sys.argv[2]))
for f in job["functions"].values():
    f["memory"] = "64MiB"
    f["timeout"] = "30s"
json.dump(job, open(os.path.join(d, "job", "job.json"), "w"), indent=1)
EOF
cp "$tmp/job/bin/"* "$tmp/many/job/bin/" 2>/dev/null
cp "$tmp/many/html/"* "$tmp/nginx/html/" 2>/dev/null
total= bad=
if out=$("$pith" run "$tmp/many/job/job.json" -o "$tmp/many/out" \
	--data-root "$tmp/many/root" 2>&1) &&
	bad=$(cd "$tmp/many/html" && for f in o00000.txt o04095.txt o04096.txt o05000.txt o08191.txt o08192.txt o09999.txt; do
		cmp -s "$f" "$tmp/many/out/bodies/$f" || echo "$f"; done) &&
	[ -z "$bad" ] && [ "$(ls "$tmp/many/out/bodies" | wc -l)" = 10000 ] &&
	total=$(tail -n 1 "$tmp/many/root/summary.txt") &&
	[ "$total" = "$(printf 'total\t10000\t%s\t%s\t%s' \
		$(cat "$tmp/many/html"/o*.txt | wc -c) $(cat "$tmp/many/html"/o*.txt | wc -l) \
		$(cat "$tmp/many/html"/o*.txt | wc -w))" ]; then
	t_ok "ten_thousand_requests_made_by_a_stage"
else
	t_fail "ten_thousand_requests_made_by_a_stage" "$out bad: $bad total: $total"
fi

# Server gone: the fetch stage fails with the exact reason, nothing written.
"$root/tests/servers/nginx.sh" stop "$tmp/nginx"
out=$("$pith" run "$tmp/job/job.json" -o "$tmp/out2" --data-root "$tmp/root2" 2>&1)
rc=$?
if [ $rc -ne 0 ] && printf '%s\n' "$out" |
	grep -q "stage fetch\[[0-9]\]: http: connect 127.0.0.1:$port: connection refused"; then
	t_ok "server_down_fails_fetch_with_connect_reason"
else
	t_fail "server_down_fails_fetch_with_connect_reason" "exit $rc: $out"
fi
if [ -z "$(ls -A "$tmp/root2")" ]; then
	t_ok "failed_job_writes_nothing"
else
	t_fail "failed_job_writes_nothing" "$(ls -A "$tmp/root2")"
fi

t_done
