#!/bin/sh
# SPDX-License-Identifier: MIT
# I/O function benchmarks with their baselines measured in the same run:
# file.read of page-cached files against cat/dd, http GETs from a private
# nginx at concurrency 64 against curl --parallel and wrk. Every figure is
# the best of REPEAT runs; ratios are pith / baseline (higher is better).
# pith's runs share one process, as in a long-lived pith: from the second
# run on, output buffers come from the store's pool of released ones. The
# first run, with the pool empty, is shown on its own ("first run").
#
#   make build/io_bench && tools/bench/io_bench.sh [REPEAT]
#
# Needs ~1.1 GiB free in $TMPDIR (default /tmp) and ~3 GiB of free RAM.
set -eu

repeat=${1:-3}
top=$(cd "$(dirname "$0")/../.." && pwd)
bench=${B:-$top/build}/io_bench
[ -x "$bench" ] || { echo "build it first: make build/io_bench" >&2; exit 1; }
for p in curl wrk nginx python3; do
	command -v $p >/dev/null || { echo "missing $p (tools/deps.sh test)" >&2; exit 1; }
done

avail_kib=$(awk '/MemAvailable/ { print $2 }' /proc/meminfo)
[ "$avail_kib" -gt 3500000 ] || { echo "need ~3.5 GiB of available RAM" >&2; exit 1; }
work=$(mktemp -d "${TMPDIR:-/tmp}/pith-io-bench.XXXXXX")
# A private copy: a concurrent `make` may relink build/io_bench under us.
cp "$bench" "$work/io_bench"
bench=$work/io_bench
[ "$(df -Pk "$work" | awk 'NR == 2 { print $4 }')" -gt 1200000 ] ||
	{ echo "need 1.2 GiB free in $work" >&2; rm -rf "$work"; exit 1; }
cleanup() {
	"$top/tests/servers/nginx.sh" stop "$work/nginx" 2>/dev/null || true
	rm -rf "$work" /dev/shm/pith-io-bench.$$
}
trap cleanup EXIT INT TERM

now() { date +%s%N; }

# best_of CMD...: the shortest wall time of $repeat runs, in seconds.
best_of() {
	best=""
	i=0
	while [ $i -lt "$repeat" ]; do
		t0=$(now)
		"$@" >/dev/null 2>&1
		t1=$(now)
		t=$((t1 - t0))
		if [ -z "$best" ] || [ $t -lt "$best" ]; then best=$t; fi
		i=$((i + 1))
	done
	awk -v ns="$best" 'BEGIN { printf "%.4f", ns / 1e9 }'
}

# field NAME LINE: the NAME= field of an io_bench output line.
field() {
	v=$(echo "$2" | tr ' ' '\n' | sed -n "s/^$1=//p")
	[ -n "$v" ] || { echo "io_bench failed" >&2; exit 1; }
	echo "$v"
}

# pith_run ARGS...: run io_bench; sets $p (best run) and $p1 (first run,
# with the store's buffer pool still empty).
pith_run() {
	out=$("$bench" "$@") || { echo "io_bench $1 failed" >&2; exit 1; }
	p=$(field seconds "$out")
	p1=$(field first_seconds "$out")
}

row() { # name, pith seconds, baseline name, baseline seconds, units, amount
	awk -v n="$1" -v p="$2" -v bn="$3" -v b="$4" -v u="$5" -v a="$6" 'BEGIN {
		printf "%-26s pith %9.1f %s  %-28s %9.1f %s  ratio %.2f\n",
			n, a / p, u, bn, a / b, u, b / p }'
}

echo "# pith io_bench, $(date -u +%FT%TZ), $(nproc) CPUs, kernel $(uname -r), best of $repeat"

# --- file.read ---
mkdir -p "$work/files/small"
head -c 1024 /dev/urandom >"$work/one"
i=0
while [ $i -lt 10000 ]; do
	cp "$work/one" "$work/files/small/f$i"
	echo "small/f$i"
	i=$((i + 1))
done >"$work/small.list"
head -c 1G /dev/urandom >"$work/files/big"
echo big >"$work/big.list"
cat "$work/files/small/"* "$work/files/big" >/dev/null # into the page cache

cd "$work/files"
pith_run file.read "$work/files" "$work/small.list" "$repeat"
b=$(best_of sh -c "xargs cat <'$work/small.list' >/dev/null")
row "file.read 1KiB x 10000" "$p" "xargs cat >/dev/null" "$b" "MB/s" 10.24
row "  first run, empty pool" "$p1" "xargs cat >/dev/null" "$b" "MB/s" 10.24
pith_run file.read "$work/files" "$work/big.list" "$repeat"
b=$(best_of dd if="$work/files/big" of=/dev/null bs=1M)
row "file.read 1GiB" "$p" "dd bs=1M of=/dev/null" "$b" "MB/s" 1073.74
row "  first run, empty pool" "$p1" "dd bs=1M of=/dev/null" "$b" "MB/s" 1073.74
b=$(best_of cat "$work/files/big")
row "file.read 1GiB" "$p" "cat >/dev/null" "$b" "MB/s" 1073.74
b=$(best_of sh -c "cat '$work/files/big' >/dev/shm/pith-io-bench.$$")
row "file.read 1GiB" "$p" "cat >/dev/shm (kept in RAM)" "$b" "MB/s" 1073.74
rm -f /dev/shm/pith-io-bench.$$
rm -rf "$work/files"
cd "$work"

# --- http ---
mkdir -p "$work/nginx/html"
head -c 1024 /dev/urandom >"$work/nginx/html/k1"
head -c 1048576 /dev/urandom >"$work/nginx/html/m1"
port=$("$top/tests/servers/nginx.sh" start "$work/nginx")
for obj in k1:20000 m1:2000; do
	name=${obj%:*}
	n=${obj#*:}
	url="http://127.0.0.1:$port/$name"
	i=0
	: >"$work/$name.list"
	: >"$work/$name.curl"
	: >"$work/$name.shm.curl"
	while [ $i -lt "$n" ]; do
		echo "$url" >>"$work/$name.list"
		printf 'url = "%s"\noutput = "/dev/null"\n' "$url" >>"$work/$name.curl"
		printf 'url = "%s"\noutput = "/dev/shm/pith-io-bench.%s/%s"\n' \
			"$url" $$ $i >>"$work/$name.shm.curl"
		i=$((i + 1))
	done
	pith_run http "$work/$name.list" 64 "$repeat"
	b=$(best_of curl -s --parallel --parallel-max 64 -K "$work/$name.curl")
	row "http GET $name x $n" "$p" "curl --parallel-max 64" "$b" "req/s" "$n"
	row "  first run, empty pool" "$p1" "curl --parallel-max 64" "$b" "req/s" "$n"
	mkdir -p /dev/shm/pith-io-bench.$$
	b=$(best_of curl -s --parallel --parallel-max 64 -K "$work/$name.shm.curl")
	rm -rf /dev/shm/pith-io-bench.$$
	row "http GET $name x $n" "$p" "curl -o /dev/shm (kept)" "$b" "req/s" "$n"
	w=$(wrk -t2 -c64 -d3s "$url" | awk '/Requests\/sec/ { print $2 }')
	awk -v n="http GET $name x $n" -v p="$p" -v c="$n" -v w="$w" 'BEGIN {
		printf "%-26s pith %9.1f req/s  %-28s %9.1f req/s  ratio %.2f\n",
			n, c / p, "wrk -t2 -c64 -d3s", w, (c / p) / w }'
done
