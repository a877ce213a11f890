#!/bin/bash
# SPDX-License-Identifier: MIT
# tools/bench/thesis/thesis.sh -s: the tables the lead's notes compare (the
# medians and pith's ratios of them) stay as they were, and each round's
# figures follow with the worst round of each column, on results made here
# (a stalled round 2) rather than measured.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../harness/tap.sh"
. "$here/../harness/paths.sh"
thesis=$root/tools/bench/thesis/thesis.sh
tmp=$(mktemp -d "${TMPDIR:-/tmp}/pith-bench-tables.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

t_plan 4

# row LAT N ROUND WHO CONC WALL CPU PEAK [EXIT OUTPUT [OTHERS_CPUS]]
row() {
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s' "${@:1:8}" "${9:-0}" "${10:-ok}"
	[ -z "${11:-}" ] || printf '\t%s' "${11}"
	printf '\n'
}
hdr() { printf 'lat_ms\tN\tround\tcontender\tconc\twall_s\tcpu_s\tpeak_mib\texit\toutput\n'; }
# summary_has TEST TSV LINE...: TEST passes when `thesis.sh -s TSV` prints
# every LINE as a line of its own; else it fails naming the first missing
summary_has() {
	local test=$1 tsv=$2 line
	shift 2
	"$thesis" -s "$tsv" ${sargs:-} >"$tsv.out" 2>&1
	for line in "$@"; do
		if ! grep -qxF -- "$line" "$tsv.out"; then
			t_fail "$test" "no line '$line' in: $(cat "$tsv.out")"
			return
		fi
	done
	t_ok "$test"
}
{
	hdr
	for r in 1 2 3; do
		w=0.500
		[ $r = 2 ] && w=1.500 # the stalled round
		row 20 2000 $r pith 256 $w 0.200 60.0
		row 20 2000 $r threads 64 0.600 0.120 40.0
		row 20 2000 $r opaque 64 2.000 3.000 80.0
	done
} >"$tmp/all.tsv"
summary_has thesis_summary_keeps_its_medians_and_shows_the_stalled_round \
	"$tmp/all.tsv" \
	'| 20 ms | 2000 | pith | 0.50 | 0.20 | 60 | 4000 | 10000 | all 3 identical |' \
	'| 20 ms | 2000 | 15.00x | 0.60x | 4.00x | 0.75x |' \
	'| 20 ms | 2000 | 1 | 0.50 | 15.00x | 0.60x | 4.00x | 0.75x |' \
	'| 20 ms | 2000 | 2 | 1.50 | 15.00x | 0.60x | 1.33x | 0.75x |' \
	'| 20 ms | 2000 | worst | 1.50 (round 2) | 15.00x (round 1) | 0.60x (round 1) | 1.33x (round 2) | 0.75x (round 1) |'

# A round whose pith output was wrong gets no ratio of its own.
{
	hdr
	for r in 1 2; do
		out=ok
		[ $r = 2 ] && out=DIFF
		row 0 500 $r pith 256 0.400 0.100 50.0 0 $out
		row 0 500 $r threads 64 0.200 0.050 20.0
		row 0 500 $r opaque 16 1.000 2.000 70.0
	done
} >"$tmp/bad.tsv"
summary_has thesis_round_with_a_wrong_output_has_no_ratio "$tmp/bad.tsv" \
	'| 0 ms | 500 | runs failed: no ratio | | | |' \
	'| 0 ms | 500 | 2 | 0.40 | runs failed or missing: no ratio | | | |' \
	'| 0 ms | 500 | 1 | 0.40 | 20.00x | 0.50x | 2.50x | 0.71x |'

# pith alone against a base build (-b): each one's rounds and worst.
{
	hdr
	row 0 10000 1 pith 256 3.000 1.000 40.0
	row 0 10000 1 base 256 3.500 1.100 45.0
	row 0 10000 2 pith 256 2.500 1.200 52.0
	row 0 10000 2 base 256 3.100 1.000 44.0
} >"$tmp/alone.tsv"
summary_has thesis_alone_lists_pith_and_base_per_round "$tmp/alone.tsv" \
	'| 0 ms | 10000 | pith | 46.0 | 40.0-52.0 | 1.00x | 4.60 MiB |' \
	'| 0 ms | 10000 | 2 | pith | 2.50 | 1.20 | 52 |' \
	'| 0 ms | 10000 | worst | pith | 3.00 (round 1) | 1.20 (round 2) | 52 (round 2) |' \
	'| 0 ms | 10000 | worst | base | 3.50 (round 1) | 1.10 (round 1) | 45 (round 1) |'
# -q: a round in which a run saw other work on the machine (others_cpus
# above the bound) is left out of the medians, the ratios and the worst.
{
	hdr
	for r in 1 2 3; do
		w=0.400 o=0.10
		[ $r = 2 ] && w=0.900 o=1.20 # a build ran beside round 2
		row 20 2000 $r pith 256 $w 0.200 15.0 0 ok $o
		row 20 2000 $r threads 64 0.700 0.140 12.0 0 ok 0.05
		row 20 2000 $r opaque 256 1.200 1.600 19.0 0 ok 0.08
	done
} >"$tmp/quiet.tsv"
sargs="-q 0.5" summary_has thesis_quiet_rounds_leave_out_a_busy_one "$tmp/quiet.tsv" \
	'| 20 ms | 2000 | pith | 0.40 | 0.20 | 15 | 5000 | 10000 | all 2 identical |' \
	'| 20 ms | 2000 | 8.00x | 0.70x | 3.00x | 0.79x |' \
	'| 20 ms | 2000 | worst | 0.40 (round 1) | 8.00x (round 1) | 0.70x (round 1) | 3.00x (round 1) | 0.79x (round 1) |'
t_done
