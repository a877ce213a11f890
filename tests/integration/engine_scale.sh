#!/bin/bash
# SPDX-License-Identifier: MIT
# No ceilings: a job of 100,000 instances and an `all` instance over 100,000
# items both run under `ulimit -n 1024` (no descriptor per item), and so
# do 100,000 instances' small outputs merged by an `all` stage (packed into
# shared buffers while they wait for it) and a job writing 10,000 output
# files, and the same merge folding (its inputs let go as it passes them),
# and 3,000 files of 20 KiB read through a 64 MiB window (an item read
# under the window gets a buffer of its own only while descriptors allow).
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../harness/tap.sh"

. "$here/../harness/paths.sh"
pith=$B/pith
fn=$B/tests/functions
N=${PITH_SCALE_N:-100000}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/pith-scale.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

N_OUT=$((N / 10))

t_plan 6

# job NAME N MODE DATA: N inline items "i<k>" = "<DATA><k>" into one split
# stage; split turns "a..." into one item "i<k>.0", "x..." into none.
job() {
	awk -v n="$2" -v name="$1" -v mode="$3" -v c="$4" -v f=split -v dir="$fn" 'BEGIN {
		printf "{\"version\":1,\"name\":\"%s\",", name
		printf "\"functions\":{\"f\":{\"binary\":\"%s/%s\",\"memory\":\"64MiB\",\"timeout\":\"60s\"}},", dir, f
		printf "\"inputs\":{\"docs\":["
		for (k = 0; k < n; k++)
			printf "%s{\"name\":\"i%d\",\"data\":\"%s%d\"}", k ? "," : "", k, c, k
		printf "]},\"stages\":[{\"name\":\"s\",\"function\":\"f\","
		printf "\"inputs\":{\"in\":{\"from\":\"docs\",\"mode\":\"%s\"}},", mode
		printf "\"outputs\":[\"out\"]}],\"outputs\":{\"r\":\"s.out\"}}\n"
	}' >"$tmp/$1.json"
}

# run NAME WANT_FILES: pith run under a hard descriptor limit of 1024.
run() {
	local out
	if out=$(ulimit -n 1024 && "$pith" run -q "$tmp/$1.json" -o "$tmp/out-$1" 2>&1) &&
		[ "$(ls "$tmp/out-$1/r" | wc -l)" -eq "$2" ]; then
		t_ok "$1"
	else
		t_fail "$1" "$(printf '%s\n' "$out" | grep -v '^    \[' | head -5)"
	fi
}

job each_job_of_100000_instances_runs_under_ulimit_n_1024 "$N" each x
run each_job_of_100000_instances_runs_under_ulimit_n_1024 0
job all_instance_over_100000_items_runs_under_ulimit_n_1024 "$N" all x
run all_instance_over_100000_items_runs_under_ulimit_n_1024 0
# 100,000 `each` instances of split over "u<k>" make one small output each,
# "u<k>0"; one `all` instance of count reads them all: "<items> <bytes>
# <sum of k * 10>".
awk -v n="$N" -v dir="$fn" 'BEGIN {
	printf "{\"version\":1,\"name\":\"merge\",\"functions\":{"
	printf "\"f\":{\"binary\":\"%s/split\",\"memory\":\"8MiB\"},", dir
	printf "\"c\":{\"binary\":\"%s/count\",\"memory\":\"64MiB\",\"timeout\":\"60s\"}},", dir
	printf "\"inputs\":{\"docs\":["
	for (k = 0; k < n; k++)
		printf "%s{\"name\":\"i%d\",\"data\":\"u%d\"}", k ? "," : "", k, k
	printf "]},\"stages\":[{\"name\":\"s\",\"function\":\"f\","
	printf "\"inputs\":{\"in\":{\"from\":\"docs\",\"mode\":\"each\"}},\"outputs\":[\"out\"]},"
	printf "{\"name\":\"m\",\"function\":\"c\","
	printf "\"inputs\":{\"in\":{\"from\":\"s.out\",\"mode\":\"all\"}},\"outputs\":[\"out\"]}],"
	printf "\"outputs\":{\"r\":\"m.out\"}}\n"
}' >"$tmp/merge.json"
want=$(awk -v n="$N" 'BEGIN { b = 0; for (k = 0; k < n; k++) b += length("u" k "0")
	printf "%d %d %.0f\n", n, b, 10 * n * (n - 1) / 2 }')
name=small_outputs_of_100000_instances_merged_by_all_under_ulimit_n_1024
if out=$(ulimit -n 1024 && "$pith" run -q "$tmp/merge.json" -o "$tmp/out-merge" 2>&1) &&
	[ "$(cat "$tmp/out-merge/r/count" 2>/dev/null)" = "$want" ]; then
	t_ok "$name"
else
	t_fail "$name" "want '$want', got '$(cat "$tmp/out-merge/r/count" 2>/dev/null)'; $(printf '%s\n' "$out" | grep -v '^    \[' | head -5)"
fi
# The same merge folding ("fold": 1000): instance k of count reads the
# last one's count item and outputs [1000k, 1000(k+1)) of s, in order,
# while the fold lets the passed outputs go (their entries dropped). count
# ends its line with a newline, so the carried item adds no number: the
# last count is "1001 <bytes> <sum of the last 1,000 numbers>".
sed 's/"from":"s.out","mode":"all"}/"from":"s.out","mode":"all","fold":1000}/' \
	"$tmp/merge.json" >"$tmp/fold.json"
want_fold=$(awk -v n="$N" 'BEGIN { s = 0; for (k = n - 1000; k < n; k++) s += 10 * k
	printf "1001 %.0f\n", s }')
name=small_outputs_of_100000_instances_folded_under_ulimit_n_1024
if out=$(ulimit -n 1024 && "$pith" run -q "$tmp/fold.json" -o "$tmp/out-fold" 2>&1) &&
	grep -q '"fold":1000' "$tmp/fold.json" &&
	[ "$(cut -d' ' -f1,3 "$tmp/out-fold/r/count" 2>/dev/null)" = "$want_fold" ]; then
	t_ok "$name"
else
	t_fail "$name" "want '$want_fold' (items, sum), got '$(cat "$tmp/out-fold/r/count" 2>/dev/null)'; $(printf '%s\n' "$out" | grep -v '^    \[' | head -5)"
fi
job job_writing_10000_outputs_runs_under_ulimit_n_1024 "$N_OUT" each a
run job_writing_10000_outputs_runs_under_ulimit_n_1024 "$N_OUT"

# file.read of N / 33 files of 20 KiB into split, which makes nothing of
# "x...": the window of 64 MiB holds all of them at once, more than 1,024.
name=reads_of_3000_files_through_a_64mib_window_run_under_ulimit_n_1024
N_FILES=$((N / 33))
mkdir "$tmp/files"
awk -v n="$N_FILES" -v dir="$tmp/files" -v fn="$fn" -v json="$tmp/$name.json" 'BEGIN {
	x = "x"
	while (length(x) < 20480)
		x = x x
	x = substr(x, 1, 20480)
	printf "{\"version\":1,\"name\":\"reads\",\"functions\":{\"f\":{\"binary\":\"%s/split\",\"memory\":\"8MiB\"}},", fn >json
	printf "\"inputs\":{\"paths\":[" >json
	for (k = 0; k < n; k++) {
		printf "%s", x >(dir "/f" k)
		close(dir "/f" k)
		printf "%s{\"name\":\"p%d\",\"data\":\"f%d\"}", k ? "," : "", k, k >json
	}
	printf "]},\"stages\":[{\"name\":\"read\",\"io\":\"file.read\"," >json
	printf "\"inputs\":{\"paths\":{\"from\":\"paths\",\"mode\":\"each\"}},\"outputs\":[\"bytes\"]}," >json
	printf "{\"name\":\"s\",\"function\":\"f\",\"inputs\":{\"in\":{\"from\":\"read.bytes\",\"mode\":\"each\"}}," >json
	printf "\"outputs\":[\"out\"]}],\"outputs\":{\"r\":\"s.out\"}}\n" >json
}'
if out=$(ulimit -n 1024 && "$pith" run -q "$tmp/$name.json" -o "$tmp/out-reads" \
	--data-root "$tmp/files" --window 64MiB 2>&1) &&
	[ -d "$tmp/out-reads/r" ] && [ "$(ls "$tmp/out-reads/r" | wc -l)" -eq 0 ]; then
	t_ok "$name"
else
	t_fail "$name" "$(printf '%s\n' "$out" | grep -v '^    \[' | head -5)"
fi
t_done
