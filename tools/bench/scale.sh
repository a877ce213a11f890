#!/bin/bash
# SPDX-License-Identifier: MIT
# Scaling of the engine: no-op jobs of 1k, 10k and 100k instances (an
# `each` stage of a function that reads its item and makes nothing), run by
# `pith run` in this order after a 1-instance job, ROUNDS times
# interleaved. Prints wall time per instance and pith's peak RSS (getrusage
# maxrss, via /usr/bin/time) above the 1-instance job's, per item; each also
# as a ratio to the 1k job of the same round.
#   tools/bench/scale.sh [ROUNDS]      (build first: make)
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
B=${B:-$root/build}
pith=$B/pith
fn=$B/tests/functions/split
rounds=${1:-3}
[ -x "$pith" ] && [ -x "$fn" ] || { echo "build first: make" >&2; exit 1; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/pith-scale-bench.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

for n in 1 1000 10000 100000; do
	awk -v n="$n" -v f="$fn" 'BEGIN {
		printf "{\"version\":1,\"name\":\"noop%d\",", n
		printf "\"functions\":{\"noop\":{\"binary\":\"%s\",\"memory\":\"1MiB\"}},", f
		printf "\"inputs\":{\"docs\":["
		for (k = 0; k < n; k++)
			printf "%s{\"name\":\"i%d\",\"data\":\"x%d\"}", k ? "," : "", k, k
		printf "]},\"stages\":[{\"name\":\"s\",\"function\":\"noop\","
		printf "\"inputs\":{\"in\":{\"from\":\"docs\",\"mode\":\"each\"}},"
		printf "\"outputs\":[\"out\"]}],\"outputs\":{\"r\":\"s.out\"}}\n"
	}' >"$tmp/noop$n.json"
done

printf '%-6s %8s %10s %8s %9s %10s %8s\n' round N wall_s us/inst ratio KiB/item ratio
for r in $(seq "$rounds"); do
	base_us=""
	base_kib=""
	/usr/bin/time -f '%e %M' -o "$tmp/t" \
		"$pith" run -q "$tmp/noop1.json" -o "$tmp/out" >/dev/null 2>&1
	read -r _ rss1 <"$tmp/t"
	for n in 1000 10000 100000; do
		/usr/bin/time -f '%e %M' -o "$tmp/t" \
			"$pith" run -q "$tmp/noop$n.json" -o "$tmp/out" >/dev/null 2>&1
		read -r wall kib <"$tmp/t"
		us=$(awk -v w="$wall" -v n="$n" 'BEGIN { printf "%.0f", w * 1e6 / n }')
		per=$(awk -v k="$kib" -v b="$rss1" -v n="$n" 'BEGIN { printf "%.2f", (k - b) / n }')
		base_us=${base_us:-$us}
		base_kib=${base_kib:-$per}
		printf '%-6s %8s %10s %8s %9s %10s %8s\n' "$r" "$n" "$wall" "$us" \
			"$(awk -v a="$us" -v b="$base_us" 'BEGIN { printf "%.2f", a / b }')" \
			"$per" \
			"$(awk -v a="$per" -v b="$base_kib" 'BEGIN { printf "%.2f", a / b }')"
	done
done
