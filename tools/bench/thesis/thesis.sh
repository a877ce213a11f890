#!/bin/bash
# SPDX-License-Identifier: MIT
# The thesis benchmark (issue 9): fetch N access logs of ~64 KiB over HTTP,
# parse each, merge the reports; pith against the usual ways of doing it.
#
#   pith      the job fetch (http, "concurrency" P) -> parse (stats, each)
#             -> merge (summary, all, "fold" F: F reports at a time added
#             to the summary so far) with examples/logstats' functions, in
#             sandboxes
#   opaque    one process per request: a static C program doing its own
#             blocking GET and the same parse code, run by xargs -P C at the
#             best C of a calibration run, then the same merge code
#   threads   one unsandboxed process, 64 threads, kept-alive connections,
#             the same parse and merge code
#
# Before the rounds of each latency and N, thesis-rigcheck (rigcheck.c)
# fetches the N logs with no contender, at pith's concurrency and at 64
# connections, and prints what the rig alone sustains ("# rig" lines).
# A private nginx on 127.0.0.1 serves the logs; for a latency L > 0 a small
# proxy (thesis-delay-proxy) holds every request L ms before passing it on,
# so each response comes L ms late (no netem: this kernel has no sch_netem,
# and the shared loopback device is not ours to slow down). Each run of a
# contender is in cgroup v1 cpuacct and memory groups of its own (the
# cgroup2 mount has no controllers here): CPU seconds are cpuacct.usage,
# peak memory is memory.max_usage_in_bytes (page cache its writes cause
# included), wall time from the clock. Contenders alternate within each
# round; every output is compared with the reference the generator tallied.
#
#   tools/bench/thesis/thesis.sh [-n "500 2000 10000"] [-l "0 20"] [-r 3]
#                                [-c "16 64 256"] [-p 256] [-f 1000]
#                                [-g] [-o RESULTS.tsv]
#                                [-C "pith threads opaque"] [-a "ARGS"]
#                                [-b BASE_BUILD]
#   tools/bench/thesis/thesis.sh -s RESULTS.tsv [-q CPUS]  the tables again
#       (medians per contender, pith's ratios of the medians, then each
#       round's figures and ratios and the worst round of each column)
#   -q CPUS: only the quiet rounds, those in which no run saw more than
#       CPUS of the machine's CPUs busy with anything but the contender and
#       the rig (nginx, the proxy): /proc/stat's busy time over the run less
#       theirs, per second of the run (column others_cpus; with the run, -q
#       also prints the tables of the quiet rounds after the full ones)
#   tools/bench/thesis/thesis.sh -S                  scale mode: pith alone,
#       N = 10,000 and 100,000 at 0 ms, 1 round (~4 minutes, 6.5 GB of
#       logs on disk); its table gives pith's peak memory against N's
#
#   -a: more arguments for `pith run` (e.g. "-j 4", "--window 8MiB")
#   -b: also run BASE_BUILD's pith (contender "base": the same job, its own
#       binaries), alternating with $B's in every round, to measure a
#       change against its baseline in the same minutes (e.g. `-S -r 8 -b
#       OLD/build`: 8 rounds of each at N = 10,000 and 100,000)
#   -g: pith's requests are made by a stage (examples/fetch-summary's
#       `requests`, from one item listing the N log names) instead of being
#       N items written out in the job file, which then stays ~1 KiB plus
#       the list whatever N (opaque and threads make theirs from the index)
#
# pith runs under `ulimit -n 1024`, soft and hard (no descriptor per item).
# Needs: make (build/pith, build/examples/logstats), nginx, cc, root (for
# the cgroups). Everything it starts is stopped, everything it makes removed.
set -u

ns="500 2000 10000"
lats="0 20"
rounds=3
concs="16 64 256"
pconc=256
fold=1000
gen=0
tsv= sum= quiet=
who_all="pith threads opaque"
pargs=
base=
while getopts n:l:r:c:p:f:go:s:C:Sa:b:q: opt; do
	case $opt in
	q) quiet=$OPTARG ;;
	a) pargs=$OPTARG ;;
	b) base=$OPTARG ;;
	C) who_all=$OPTARG ;;
	S) ns="10000 100000" lats=0 rounds=1 who_all=pith ;;
	n) ns=$OPTARG ;;
	l) lats=$OPTARG ;;
	r) rounds=$OPTARG ;;
	c) concs=$OPTARG ;;
	p) pconc=$OPTARG ;;
	f) fold=$OPTARG ;;
	g) gen=1 ;;
	o) tsv=$OPTARG ;;
	s) sum=$OPTARG ;;
	*) sed -n '2,50p' "$0" >&2; exit 2 ;;
	esac
done

# summary RESULTS.tsv: medians per (latency, N, contender), then pith's
# ratios, as markdown tables.
summary() {
	awk -F'\t' '
NR == 1 { next }
{ k = $1 SUBSEP $2 SUBSEP $4; n[k]++; w[k, n[k]] = $6; c[k, n[k]] = $7; m[k, n[k]] = $8; m_all[k, n[k]] = $8
  conc[k] = $5; if ($10 != "ok" || $9 != 0) bad[k]++; keys[$1 SUBSEP $2] = 1
  # each round on its own (the medians hide a stalled one)
  rk = $1 SUBSEP $2 SUBSEP $3; rkeys[rk] = 1; if ($3 + 0 > maxr) maxr = $3 + 0
  RW[rk, $4] = $6; RC[rk, $4] = $7; RM[rk, $4] = $8; if ($10 != "ok" || $9 != 0) RB[rk, $4] = 1 }
# each round: pith alone (and base, -b), its figures; with the others, the
# ratios within the round (the contenders alternate in it); then per
# (latency, N) the worst round of each column.
function rounds_table(alone,   i, r, a, rk, x, wr, wv, col, ncol, better, ci, who, tag) {
	print ""
	if (alone) {
		print "| latency | N | round | contender | wall s | CPU s | peak MiB |"
		print "|---|---|---|---|---|---|---|"
		ncol = 3
	} else {
		print "| latency | N | round | pith wall s | pith logs/CPU-s vs opaque | vs threads | pith logs/s vs opaque | pith peak / opaque peak |"
		print "|---|---|---|---|---|---|---|---|"
		ncol = 5
	}
	for (ci = 1; ci <= (alone ? 2 : 1); ci++) for (i = 1; i <= nk; i++) {
		who = ci == 1 ? "pith" : "base"
		tag = alone ? " " who " |" : ""
		split(order[i], a, SUBSEP)
		delete wr; delete wv
		for (r = 1; r <= maxr; r++) {
			rk = order[i] SUBSEP r
			if (!((rk, who) in RW)) continue
			if (alone) {
				x[1] = RW[rk, who]; x[2] = RC[rk, who]; x[3] = RM[rk, who]
				printf "| %s ms | %d | %d |%s %.2f | %.2f | %.0f |%s\n", a[1], a[2], r, tag, x[1], x[2], x[3], RB[rk, who] ? " FAILED or wrong" : ""
			} else {
				if (RB[rk, "pith"] || RB[rk, "opaque"] || RB[rk, "threads"] || !((rk, "opaque") in RW) || !((rk, "threads") in RW) ||
				    RC[rk, "pith"] <= 0 || RW[rk, "pith"] <= 0 || RM[rk, "opaque"] <= 0) {
					printf "| %s ms | %d | %d | %.2f | runs failed or missing: no ratio | | | |\n", a[1], a[2], r, RW[rk, "pith"]
					continue
				}
				x[1] = RW[rk, "pith"]; x[2] = RC[rk, "opaque"] / RC[rk, "pith"]; x[3] = RC[rk, "threads"] / RC[rk, "pith"]
				x[4] = RW[rk, "opaque"] / RW[rk, "pith"]; x[5] = RM[rk, "pith"] / RM[rk, "opaque"]
				printf "| %s ms | %d | %d | %.2f | %.2fx | %.2fx | %.2fx | %.2fx |\n", a[1], a[2], r, x[1], x[2], x[3], x[4], x[5]
			}
			for (col = 1; col <= ncol; col++) {
				# worst: the largest wall, CPU, peak and peak ratio; the
				# smallest throughput ratio
				better = !alone && (col == 2 || col == 3 || col == 4)
				if (!(col in wv) || (better ? x[col] < wv[col] : x[col] > wv[col])) { wv[col] = x[col]; wr[col] = r }
			}
		}
		if (!(1 in wv)) continue
		if (alone)
			printf "| %s ms | %d | worst |%s %.2f (round %d) | %.2f (round %d) | %.0f (round %d) |\n", a[1], a[2], tag, wv[1], wr[1], wv[2], wr[2], wv[3], wr[3]
		else if (2 in wv)
			printf "| %s ms | %d | worst | %.2f (round %d) | %.2fx (round %d) | %.2fx (round %d) | %.2fx (round %d) | %.2fx (round %d) |\n", a[1], a[2], wv[1], wr[1], wv[2], wr[2], wv[3], wr[3], wv[4], wr[4], wv[5], wr[5]
	}
}
function med(a, k, cnt,   i, j, t, v) {
	for (i = 1; i <= cnt; i++) v[i] = a[k, i]
	for (i = 1; i <= cnt; i++) for (j = i + 1; j <= cnt; j++) if (v[j] < v[i]) { t = v[i]; v[i] = v[j]; v[j] = t }
	return cnt % 2 ? v[(cnt + 1) / 2] : (v[cnt / 2] + v[cnt / 2 + 1]) / 2
}
END {
	print ""
	print "| latency | N | contender | wall s | CPU s | peak MiB | logs/s | logs/CPU-s | outputs |"
	print "|---|---|---|---|---|---|---|---|---|"
	nk = 0
	for (lk in keys) order[++nk] = lk
	for (i = 1; i <= nk; i++) for (j = i + 1; j <= nk; j++) {
		split(order[i], a, SUBSEP); split(order[j], b, SUBSEP)
		if (a[1] + 0 > b[1] + 0 || (a[1] == b[1] && a[2] + 0 > b[2] + 0)) { t = order[i]; order[i] = order[j]; order[j] = t }
	}
	for (i = 1; i <= nk; i++) {
		split(order[i], a, SUBSEP)
		for (ci = 1; ci <= 4; ci++) {
			who = ci == 1 ? "pith" : ci == 2 ? "base" : ci == 3 ? "threads" : "opaque"
			k = a[1] SUBSEP a[2] SUBSEP who
			if (!n[k]) continue
			W[who] = med(w, k, n[k]); C[who] = med(c, k, n[k]); M[who] = med(m, k, n[k])
			printf "| %s ms | %d | %s%s | %.2f | %.2f | %.0f | %.0f | %.0f | %s |\n", a[1], a[2], who,
				who == "opaque" ? " (-P " conc[k] ")" : "", W[who], C[who], M[who],
				a[2] / W[who], a[2] / C[who], bad[k] ? bad[k] " of " n[k] " FAILED or wrong" : "all " n[k] " identical"
			B[who] = bad[k]
		}
		if (B["pith"] || B["opaque"] || B["threads"])
			ratio[i] = sprintf("| %s ms | %d | runs failed: no ratio | | | |", a[1], a[2])
		else
			ratio[i] = sprintf("| %s ms | %d | %.2fx | %.2fx | %.2fx | %.2fx |", a[1], a[2],
				C["opaque"] / C["pith"], C["threads"] / C["pith"], W["opaque"] / W["pith"],
				M["pith"] / M["opaque"])
	}
	if (nk && (!n[order[1] SUBSEP "opaque"] || !n[order[1] SUBSEP "threads"])) {
		# pith alone (-S, -C pith): its peak memory against N, per latency
		print ""
		print "| latency | N | contender | pith peak MiB (median) | range | against the smallest N | per 1,000 logs |"
		print "|---|---|---|---|---|---|---|"
		for (ci = 1; ci <= 2; ci++) for (i = 1; i <= nk; i++) {
			who = ci == 1 ? "pith" : "base"
			split(order[i], a, SUBSEP)
			k = order[i] SUBSEP who
			if (!n[k]) continue
			pk = med(m_all, k, n[k])
			lo = hi = m_all[k, 1]
			for (j = 2; j <= n[k]; j++) { if (m_all[k, j] < lo) lo = m_all[k, j]; if (m_all[k, j] > hi) hi = m_all[k, j] }
			if (!((who, a[1]) in smallest)) smallest[who, a[1]] = pk
			printf "| %s ms | %d | %s | %.1f | %.1f-%.1f | %.2fx | %.2f MiB |\n", a[1], a[2], who, pk, lo, hi, pk / smallest[who, a[1]], pk * 1000 / a[2]
		}
		rounds_table(1)
		exit
	}
	print ""
	print "| latency | N | pith logs/CPU-s vs opaque | vs threads | pith logs/s vs opaque | pith peak / opaque peak |"
	print "|---|---|---|---|---|---|"
	for (i = 1; i <= nk; i++) print ratio[i]
	rounds_table(0)
}' "$1"
}

# quiet_rounds RESULTS.tsv CPUS: the rows of the rounds in which every
# run's others_cpus (column 11, when there) was at most CPUS.
quiet_rounds() {
	awk -F'\t' -v q="$2" '
NR == FNR { if (FNR > 1 && $11 != "" && $11 + 0 > q + 0) noisy[$1 SUBSEP $2 SUBSEP $3] = 1; next }
FNR == 1 || !(($1 SUBSEP $2 SUBSEP $3) in noisy)' "$1" "$1"
}

if [ -n "$sum" ]; then
	if [ -n "$quiet" ]; then
		quiet_rounds "$sum" "$quiet" >"$sum.quiet.$$" && summary "$sum.quiet.$$"
		rm -f "$sum.quiet.$$"
	else
		summary "$sum"
	fi
	exit
fi

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
B=${B:-$root/build}
die() { echo "thesis: $*" >&2; exit 1; }
# The jobs run from a scratch directory: a relative build path must not
# name a file there.
B=$(cd "$B" 2>/dev/null && pwd) || die "build directory missing: run make"
[ -z "$base" ] || base=$(cd "$base" 2>/dev/null && pwd) || die "-b: no such build directory"
for f in "$B/pith" "$B/examples/logstats/stats" "$B/examples/logstats/summary" \
	${base:+"$base/pith" "$base/examples/logstats/stats" "$base/examples/logstats/summary"}; do
	[ -x "$f" ] || die "$f missing: run make"
done
[ -z "$base" ] || who_all="$who_all base"
command -v nginx >/dev/null || die "nginx not installed (tools/deps.sh test)"
cpu_root=/sys/fs/cgroup/cpuacct
mem_root=/sys/fs/cgroup/memory
[ -w "$cpu_root" ] && [ -w "$mem_root" ] ||
	die "needs writable cgroup v1 cpuacct and memory hierarchies (root)"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/pith-thesis.XXXXXX")
# The opaque contender's per-request reports and pith's output directory
# (which pith syncs) go to memory (tmpfs) where there is one: on this VM's
# ext4 /tmp each create costs ~1 ms of CPU, 2,000 of them half of opaque's
# CPU at N = 2,000 (round 7, benchmarks/rounds.md "End of round 7"), and pith's
# fsync waited for the disk under load (round 8): the disk's price, not the
# designs'. The threads contender prints its result to standard output.
scratch=$tmp
[ -d /dev/shm ] && [ -w /dev/shm ] && scratch=$(mktemp -d /dev/shm/pith-thesis.XXXXXX)
cg=pith-thesis-$$
pids=
cleanup() {
	for p in $pids; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	"$root/tests/servers/nginx.sh" stop "$tmp/nginx" >/dev/null 2>&1
	for r in "$cpu_root" "$mem_root"; do
		[ -d "$r/$cg" ] || continue
		rmdir "$r/$cg"/* 2>/dev/null
		rmdir "$r/$cg" 2>/dev/null
	done
	rm -rf "$tmp" "$scratch"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
mkdir -p "$cpu_root/$cg" "$mem_root/$cg" "$tmp/bin" "$tmp/nginx/html"

# ---- build the contenders and the tools ----
cflags="-O2 -Wall -Wextra -Werror"
cc $cflags -o "$tmp/bin/gen" "$here/gen.c" &&
	cc $cflags -o "$tmp/bin/proxy" "$here/delay_proxy.c" &&
	cc $cflags -static -I"$here/shim" -o "$tmp/bin/opaque" "$here/opaque.c" &&
	cc $cflags -I"$here/shim" -o "$tmp/bin/merge" "$here/merge.c" &&
	cc $cflags -pthread -I"$here/shim" -o "$tmp/bin/threads" "$here/threads.c" &&
	cc $cflags -pthread -o "$tmp/bin/rigcheck" "$here/rigcheck.c" ||
	die "cannot build the contenders"

# ---- data, reference, server ----
max=0
for n in $ns; do [ "$n" -gt "$max" ] && max=$n; done
"$tmp/bin/gen" "$tmp/nginx/html" "$max" || die "cannot generate the logs"
for n in $ns; do
	mkdir -p "$tmp/ref/$n"
	"$tmp/bin/gen" "$tmp/ref/$n" "$n" ref || die "cannot tally the reference"
done
port0=$("$root/tests/servers/nginx.sh" start "$tmp/nginx") || die "nginx did not start"
declare -A port
for l in $lats; do
	if [ "$l" -eq 0 ]; then
		port[$l]=$port0
		continue
	fi
	"$tmp/bin/proxy" "$port0" "$l" >"$tmp/proxy.$l" &
	pids="$pids $!"
	for _ in $(seq 100); do [ -s "$tmp/proxy.$l" ] && break; sleep 0.02; done
	port[$l]=$(cat "$tmp/proxy.$l")
	[ -n "${port[$l]}" ] || die "the delay proxy did not start"
done

# job N PORT [BUILD]: the pith job for N logs behind PORT (job.py), with
# BUILD's functions ($B's by default).
job() {
	python3 "$here/job.py" "$tmp/job-$1-$2.json" "$1" "$2" "${3:-$B}/examples" \
		"$pconc" "$fold" "$gen" || return 1
	echo "$tmp/job-$1-$2.json"
}

# busy_ticks: the machine's busy CPU time (/proc/stat, clock ticks).
busy_ticks() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9; exit }' /proc/stat; }
# rig_ticks: the CPU time of the rig (the delay proxies, nginx and its
# workers), clock ticks.
rig_ticks() {
	local p t=0
	for p in $pids $(cat "$tmp/nginx/nginx.pid" 2>/dev/null) \
		$(pgrep -P "$(cat "$tmp/nginx/nginx.pid" 2>/dev/null)" 2>/dev/null); do
		t=$((t + $(awk '{ print $14 + $15 }' "/proc/$p/stat" 2>/dev/null || echo 0)))
	done
	echo $t
}
hz=$(getconf CLK_TCK)

# measure NAME OUTFILE CMD...: run CMD in fresh cgroups; prints
# "wall_s cpu_s peak_mib exit others_cpus" (others_cpus: the CPUs busy
# with anything but CMD and the rig meanwhile, on average).
measure() {
	local name=$1 out=$2 t0 t1 cpu mem b0 b1 g0 g1
	shift 2
	rmdir "$cpu_root/$cg/$name" "$mem_root/$cg/$name" 2>/dev/null
	mkdir "$cpu_root/$cg/$name" "$mem_root/$cg/$name" || return 1
	b0=$(busy_ticks) g0=$(rig_ticks)
	t0=$(date +%s%N)
	sh -c 'echo $$ >"$1/cgroup.procs" && echo $$ >"$2/cgroup.procs" && shift 2 && exec "$@"' \
		sh "$cpu_root/$cg/$name" "$mem_root/$cg/$name" "$@" >"$out" 2>"$out.err"
	local rc=$?
	t1=$(date +%s%N)
	b1=$(busy_ticks) g1=$(rig_ticks)
	cpu=$(cat "$cpu_root/$cg/$name/cpuacct.usage")
	mem=$(cat "$mem_root/$cg/$name/memory.max_usage_in_bytes")
	rmdir "$cpu_root/$cg/$name" "$mem_root/$cg/$name" 2>/dev/null
	[ $rc -eq 0 ] || { echo "thesis: $name failed (exit $rc):" >&2; tail -3 "$out.err" >&2; }
	awk -v w=$((t1 - t0)) -v c="$cpu" -v m="$mem" -v rc=$rc -v hz="$hz" \
		-v b=$((b1 - b0)) -v g=$((g1 - g0)) \
		'BEGIN { o = ((b - g) / hz - c / 1e9) / (w / 1e9); if (o < 0) o = 0
			 printf "%.3f %.3f %.1f %d %.2f\n", w / 1e9, c / 1e9, m / 1048576, rc, o }'
}

# opaque N PORT C OUT: the process-per-request pipeline (a script run in
# the measured cgroups: xargs, N processes, the merge).
cat >"$tmp/bin/opaque.sh" <<'EOF'
#!/bin/sh
n=$1 port=$2 c=$3 dir=$4 bin=$5
rm -rf "$dir" && mkdir -p "$dir" || exit 1
seq -f %05g 0 $((n - 1)) | xargs -P "$c" -I{} "$bin/opaque" "$port" {}.log "$dir/{}" || exit 1
exec "$bin/merge" "$dir"
EOF
chmod +x "$tmp/bin/opaque.sh"

run() { # run CONTENDER N L [C]: prints "wall cpu peak rc others ok"
	local who=$1 n=$2 l=$3 c=${4:-} res ok
	case $who in
	pith | base)
		local bd=$B
		[ "$who" = pith ] || bd=$base
		rm -rf "$scratch/pout"
		# Under `ulimit -n 1024` (soft and hard): no descriptor per item.
		res=$(measure "$who" "$tmp/pith.log" sh -c 'ulimit -n 1024 && exec "$@"' sh \
			"$bd/pith" run "$(job "$n" "${port[$l]}" "$bd")" -o "$scratch/pout" -q $pargs)
		cp "$scratch/pout/summary/summary" "$tmp/out.$who" 2>/dev/null || : >"$tmp/out.$who"
		;;
	threads)
		res=$(measure threads "$tmp/out.threads" "$tmp/bin/threads" "${port[$l]}" "$n" 64) ;;
	opaque)
		res=$(measure opaque "$tmp/out.opaque" "$tmp/bin/opaque.sh" "$n" "${port[$l]}" "$c" \
			"$scratch/opaque-out" "$tmp/bin") ;;
	esac
	ok=DIFF
	if cmp -s "$tmp/out.$who" "$tmp/ref/$n/reference"; then
		ok=ok
	else
		diff "$tmp/ref/$n/reference" "$tmp/out.$who" | head -5 | sed 's/^/# differs: /' >&2
	fi
	echo "$res $ok"
}

# The opaque contender at its best concurrency for this latency and N,
# found on N logs (at most 2,000, to keep the run short) rather than once
# on 1,000 for every N: what is best on 1,000 logs need not be on 10,000.
# Sets best.
calibrate() {
	local l=$1 cn=$(($2 < 2000 ? $2 : 2000)) c bestw=
	best=
	case " $who_all " in *" opaque "*) ;; *) best=-; return ;; esac
	[ -d "$tmp/ref/$cn" ] || { mkdir -p "$tmp/ref/$cn" && "$tmp/bin/gen" "$tmp/ref/$cn" "$cn" ref; }
	for c in $concs; do
		set -- $(run opaque "$cn" "$l" "$c")
		echo "# calibration L=$l N=$cn opaque -P $c: ${1}s wall" >&2
		if [ "$4" -eq 0 ] && { [ -z "$best" ] || awk -v a="$1" -v b="$bestw" 'BEGIN { exit !(a < b) }'; }; then
			best=$c bestw=$1
		fi
	done
	[ -n "$best" ] || die "opaque failed at every concurrency (L=$l, N=$cn)"
}

echo "# thesis benchmark: $(nproc) CPUs, $(uname -r), pith $(git -C "$root" describe --always --dirty 2>/dev/null)${base:+, base $base}"
echo "# N in: $ns; latency ms in: $lats; rounds: $rounds; contenders: $who_all; opaque concurrency from: $concs; pith fetch concurrency $pconc, merge fold $fold${pargs:+, pith run $pargs}"
printf 'lat_ms\tN\tround\tcontender\tconc\twall_s\tcpu_s\tpeak_mib\texit\toutput\tothers_cpus\n' >"$tmp/results"
for l in $lats; do
	for n in $ns; do
		calibrate "$l" "$n"
		# What the rig alone sustains (no contender: fetch only, the
		# bodies dropped), at pith's concurrency and at the threads'.
		for c in $pconc 64; do
			echo "# rig L=$l N=$n: $("$tmp/bin/rigcheck" "${port[$l]}" "$n" "$c" 2>&1)" >&2
		done
		order=$who_all
		for r in $(seq "$rounds"); do
			for who in $order; do
				set -- $(run "$who" "$n" "$l" "$best")
				printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$l" "$n" "$r" "$who" \
					"$([ $who = opaque ] && echo "$best" || { [ $who = threads ] && echo 64 || echo "$pconc"; })" \
					"$1" "$2" "$3" "$4" "$6" "$5" >>"$tmp/results"
				echo "# L=$l N=$n round $r $who: ${1}s wall, ${2}s CPU, ${3} MiB peak, output $6, others $5 CPUs" >&2
			done
			case $order in *" "*) order="${order#* } ${order%% *}" ;; esac # rotate: each goes first once
		done
	done
done
[ -n "$tsv" ] && cp "$tmp/results" "$tsv"
summary "$tmp/results"
if [ -n "$quiet" ]; then
	echo
	echo "# the quiet rounds (others_cpus <= $quiet in every run of the round):"
	quiet_rounds "$tmp/results" "$quiet" >"$tmp/quiet" && summary "$tmp/quiet"
fi
exit 0
