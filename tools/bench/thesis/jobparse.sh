#!/bin/bash
# SPDX-License-Identifier: MIT
# The job file's share of pith's peak (issue 9): peak RSS and wall time of
# `pith check` and `pith run` of thesis.sh's job listing N requests (0 ms,
# the merge folding by 1000), for the pith of build B (default build/) and,
# with -b BASE, of a baseline build, interleaved, R rounds. 1,000 logs from
# thesis.sh's generator are served by a private nginx under N hard-linked
# names, so the job, its requests and the bytes fetched are those of
# thesis.sh -S; the run's output is not compared (thesis.sh does that).
#
#   tools/bench/thesis/jobparse.sh [-n 100000] [-r 3] [-b BASE_BUILD_DIR]
#
# Peak RSS is /usr/bin/time's maximum resident set size of pith itself
# (not its workers); `pith check` parses the job as `pith run` does (files
# and binaries checked), so its peak is the parse's. pith runs under
# `ulimit -n 1024`. Prints one line per run, then the medians. Needs: make,
# nginx, python3, /usr/bin/time (package time).
set -u

n=100000 rounds=3 base=
while getopts n:r:b: o; do
	case $o in
	n) n=$OPTARG ;;
	r) rounds=$OPTARG ;;
	b) base=$OPTARG ;;
	*) sed -n '2,/^set/p' "$0" | sed '$d'; exit 2 ;;
	esac
done
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
B=${B:-$root/build}
die() { echo "jobparse: $*" >&2; exit 1; }
[ "$n" -ge 1000 ] && [ "$n" -le 100000 ] || die "-n: 1000 to 100000"
for b in "$B" ${base:+"$base"}; do
	for f in "$b/pith" "$b/examples/logstats/stats" "$b/examples/logstats/summary"; do
		[ -x "$f" ] || die "$f missing: run make"
	done
done
command -v nginx >/dev/null || die "nginx not installed (tools/deps.sh test)"
[ -x /usr/bin/time ] || die "/usr/bin/time not installed (package time)"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/pith-jobparse.XXXXXX")
cleanup() {
	"$root/tests/servers/nginx.sh" stop "$tmp/nginx" >/dev/null 2>&1
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
mkdir -p "$tmp/nginx/html"

cc -O2 -Wall -Wextra -Werror -o "$tmp/gen" "$here/gen.c" ||
	die "cannot build the generator"
"$tmp/gen" "$tmp/nginx/html" 1000 || die "cannot generate the logs"
python3 - "$tmp/nginx/html/logs" "$n" <<'EOF' || die "cannot link the logs"
import os, sys
d, n = sys.argv[1], int(sys.argv[2])
for i in range(1000, n):
    os.link("%s/%05d.log" % (d, i % 1000), "%s/%05d.log" % (d, i))
EOF
port=$("$root/tests/servers/nginx.sh" start "$tmp/nginx") || die "nginx did not start"

# thesis.sh's job (job.py: fetch concurrency 256, fold 1000, requests
# listed in the job file), for the examples of build $1.
job() {
	local path
	path=$tmp/job-$(basename "$1").json
	python3 "$here/job.py" "$path" "$n" "$port" "$1/examples" 256 1000 0 &&
		echo "$path"
}

# measure LABEL BUILD CMD...: "LABEL KIB SECONDS" into $tmp/results
measure() {
	local label=$1 b=$2
	shift 2
	rm -rf "$tmp/out"
	if ! (ulimit -n 1024 && /usr/bin/time -f "%M %e" -o "$tmp/time" \
		"$b/pith" "$@" >"$tmp/log" 2>&1); then
		cat "$tmp/log" >&2
		die "$label failed"
	fi
	echo "$label $(cat "$tmp/time")" | tee -a "$tmp/results"
}

builds=("$B")
[ -z "$base" ] || builds=("$base" "$B")
echo "# N = $n, $(uptime)"
for r in $(seq "$rounds"); do
	for b in "${builds[@]}"; do
		name=$([ "$b" = "$base" ] && echo base || echo new)
		j=$(job "$b")
		measure "$name-check" "$b" check "$j"
		measure "$name-run" "$b" run "$j" -o "$tmp/out" -q
	done
done
echo "# $(uptime)"
echo "| what | pith | peak RSS MiB (median) | wall s (median) |"
echo "|---|---|---|---|"
for k in check run; do
	for name in base new; do
		grep "^$name-$k " "$tmp/results" >/dev/null || continue
		grep "^$name-$k " "$tmp/results" | awk -v k="$k" -v name="$name" '
			{ m[NR] = $2; w[NR] = $3 }
			function med(a, c,   i, j, t) {
				for (i = 1; i <= c; i++) for (j = i + 1; j <= c; j++)
					if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
				return c % 2 ? a[(c + 1) / 2] : (a[c / 2] + a[c / 2 + 1]) / 2
			}
			END {
				printf "| pith %s | %s | %.1f | %.2f |\n", k, name,
					med(m, NR) / 1024, med(w, NR)
			}'
	done
done
