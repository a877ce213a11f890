#!/bin/bash
# SPDX-License-Identifier: MIT
# The cost of an instance, black box: wall time of a whole `pith run` of an
# N-instance job minus that of a 1-instance job, over N - 1, next to the
# sandboxes a user would pick instead, all in one run (ratios against
# fork+exec of a static no-op from a small C driver, build/instance-driver).
#
#   make && tools/bench/instance_bench.sh [-q]     (-q: smaller N, quicker)
#
# The baseline is taken next to what it is compared with: one run of
# fork+exec (N_EXEC processes, one at a time) just before each of pith's
# N-instance runs of every row that is a ratio against it (3 a row, 9 for
# the fresh row: 27 on 2 CPUs), from this same shell, so at the same nice and in the same
# minutes. Its row prints the median and the range of all those runs, and
# every ratio is against that median. The 8 MiB toucher's native baseline
# is taken the same way, one run before each of pith's.
#
# Needs bwrap, crun and node for their rows (tools/deps.sh bench installs
# them; a missing one is reported, not fatal); crun 1.8 refuses a hybrid
# cgroup layout, so it runs in a private mount namespace with a pure cgroup2
# mount at /sys/fs/cgroup and --cgroup-manager=disabled (root only).
set -eu

case "${1:-}" in
-h | --help)
	sed -n '3,/^[^#]/{/^#/s/^# \{0,1\}//p}' "$0"
	exit 0
	;;
'' | -q) ;;
*)
	echo "usage: $0 [-q] (-h: help)" >&2
	exit 2
	;;
esac

# The baselines (bwrap, crun, node): installed when missing and pith may;
# a row whose program is still missing is reported as such.
"$(dirname "$0")/../deps.sh" bench ||
	echo "instance_bench: some baselines are missing (tools/deps.sh bench)" >&2

B=${B:-build}
PITH=$(realpath "$B/pith")
DRV=$(realpath "$B/instance-driver")
FN=$(realpath "$B/bench/fn")
NOOP=$(realpath "$B/bench/noop-static")
FORK=$(realpath "$B/bench/fork-static")
N_WARM=20000 N_FRESH=2000 N_TOUCH=300 N_SPIN=1000 N_EXEC=2000 N_BWRAP=200
N_CRUN=50 REPS=3 T1_REPS=9 FRESH_REPS=9
if [ "${1:-}" = -q ]; then
	N_WARM=5000 N_FRESH=500 N_TOUCH=100 N_SPIN=300 N_EXEC=500 N_BWRAP=50
	N_CRUN=20 FRESH_REPS=3
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo x >"$tmp/x.txt"

# job NAME FUNCTION N MEMORY FRESH(true|false) ITEM_FILE
job() {
	python3 - "$@" <<'PY'
import json, sys
name, fn, n, mem, fresh, item = sys.argv[1:7]
j = {"version": 1, "name": name,
     "functions": {"f": {"binary": fn, "memory": mem, "timeout": "10s",
                         "fresh": fresh == "true"}},
     "inputs": {"n": [{"name": "i%d" % i, "file": item} for i in range(int(n))]},
     "stages": [{"name": "s", "function": "f",
                 "inputs": {"n": {"from": "n", "mode": "each"}},
                 "outputs": ["o"]}],
     "outputs": {"o": "s.o"}}
print(json.dumps(j))
PY
}

# wall ns of one pith run (extra arguments before the job; PJ=N: -j N)
wall1() {
	local j=$1 s e
	shift
	s=$(date +%s%N)
	"$@" "$PITH" run -q "$j" -o "$tmp/out" ${PJ:+-j "$PJ"} >/dev/null
	e=$(date +%s%N)
	echo $((e - s))
}

med() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
# "min-max" of the figures on stdin
span() { sort -n | awk 'NR == 1 { lo = $1 } { hi = $1 } END { print lo "-" hi }'; }

# The baselines run next to pith's (see the header): each call appends
# one figure to its file, and the table takes the median of the file.
fe_run() { # fork+exec's wall, us per process
	"$DRV" exec "$N_EXEC" "$NOOP" >>"$tmp/fe.txt"
}
touch_run() { # the native toucher's wall, us per round
	"$DRV" touch "$N_TOUCH" 8388608 >>"$tmp/touch.txt"
}
# fork+exec's CPU per process (the driver and its children), which load
# inflates less than its wall time one at a time; its wall goes to fe.txt
fe_cpu_run() {
	python3 -c '
import resource, subprocess, sys
out = subprocess.run(sys.argv[3:], stdout=subprocess.PIPE, check=True,
                     text=True).stdout
r = resource.getrusage(resource.RUSAGE_CHILDREN)
open(sys.argv[2], "a").write(out)
print("%.2f" % ((r.ru_utime + r.ru_stime) * 1e6 / int(sys.argv[1])))' \
		"$N_EXEC" "$tmp/fe.txt" "$DRV" exec "$N_EXEC" "$NOOP" >>"$tmp/fe_cpu.txt"
}

# per-instance us: (T_N - T_1) / (N - 1). T_N is the median of REPS runs,
# T_1 the median of T1_REPS runs of the 1-instance job, T1_REPS / REPS of
# them before each N-instance run: T_1 is pith's start-up and end, a few
# ms that a loaded machine stretches by tens (over 20,000 instances, 1 us
# each), so one run of it moved the warm row by +-20%. BASE=fe_run (or
# touch_run) runs that baseline once right before each N-instance run.
per() { # FN N MEMORY FRESH ITEM [prefix command...]
	local fn=$1 n=$2 mem=$3 fresh=$4 item=$5 t1s=() tns=()
	shift 5
	job b1 "$fn" 1 "$mem" "$fresh" "$item" >"$tmp/j1.json"
	job bn "$fn" "$n" "$mem" "$fresh" "$item" >"$tmp/jn.json"
	for _ in $(seq "$REPS"); do
		for _ in $(seq $((T1_REPS / REPS))); do
			t1s+=("$(wall1 "$tmp/j1.json" "$@")")
		done
		[ -z "${BASE:-}" ] || "$BASE"
		tns+=("$(wall1 "$tmp/jn.json" "$@")")
	done
	local t1 tn
	t1=$(printf '%s\n' "${t1s[@]}" | med)
	tn=$(printf '%s\n' "${tns[@]}" | med)
	# each N-instance run's figure, for a row that prints their range
	printf '%s\n' "${tns[@]}" | python3 -c "import sys
print('\n'.join('%.2f' % ((int(l) - $t1) / 1000 / ($n - 1)) for l in sys.stdin))" \
		>"$tmp/per_runs.txt"
	python3 -c "print('%.2f' % (($tn - $t1) / 1000 / ($n - 1)))"
}

ratio() { python3 -c "print('%.3f' % ($1 / $2))"; }

# CPU ns (user + system) of one pith run, its workers and zygotes
# included (all are reaped by pith)
cpu1() {
	python3 -c '
import resource, subprocess, sys
subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, check=True)
r = resource.getrusage(resource.RUSAGE_CHILDREN)
print(int((r.ru_utime + r.ru_stime) * 1e9))' "$PITH" run -q "$1" -o "$tmp/out"
}

# per-instance CPU us: (C_N - C_1) / (N - 1), medians and BASE as per()'s
cpu_per() { # FN N MEMORY FRESH ITEM
	local c1s=() cns=() c1 cn
	job b1 "$1" 1 "$3" "$4" "$5" >"$tmp/j1.json"
	job bn "$1" "$2" "$3" "$4" "$5" >"$tmp/jn.json"
	for _ in $(seq "$REPS"); do
		for _ in $(seq $((T1_REPS / REPS))); do
			c1s+=("$(cpu1 "$tmp/j1.json")")
		done
		[ -z "${BASE:-}" ] || "$BASE"
		cns+=("$(cpu1 "$tmp/jn.json")")
	done
	c1=$(printf '%s\n' "${c1s[@]}" | med)
	cn=$(printf '%s\n' "${cns[@]}" | med)
	python3 -c "print('%.2f' % (($cn - $c1) / 1000 / ($2 - 1)))"
}

# spin_us ITERATIONS: the CPU us of one spin of ITERATIONS natively, the
# least of 5 runs of 100 spins less a run of one 1-iteration spin (the
# driver's start).
# CPU time, not wall: a loaded machine preempts the spin, which stretched
# the wall time and so shortened the "~1 ms" function it calibrated.
spin_us() {
	python3 - "$DRV" "$1" <<'PY'
import resource, subprocess, sys
def cpu(n, iters):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run([sys.argv[1], "spin", str(n), str(iters)],
                   stdout=subprocess.DEVNULL, check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime + after.ru_stime -
            before.ru_utime - before.ru_stime) * 1e6
iters = int(sys.argv[2])
print("%.1f" % min((cpu(100, iters) - cpu(1, 1)) / 100 for _ in range(5)))
PY
}

# ~1 ms of the spin loop natively, in CPU time
iters=400000
us=$(spin_us $iters)
iters=$(python3 -c "print(int($iters * 1000 / $us))")
echo "$iters" >"$tmp/spin.txt"

warm=$(BASE=fe_run per "$FN/noop" "$N_WARM" 1MiB false "$tmp/x.txt")
ncpu=$(nproc)
warm_cpu=$(BASE=fe_run PJ=$ncpu per "$FN/noop" "$N_WARM" 1MiB false "$tmp/x.txt")
# The same without the driver thread the default runs on a second CPU
# (architecture.md "Threads", benchmarks/warm-driver.md "A driver per CPU").
warm_drv=n/a
[ "$ncpu" -ge 2 ] &&
	warm_drv=$(BASE=fe_run per "$FN/noop" "$N_WARM" 1MiB false "$tmp/x.txt" env PITH_DRIVERS=0)
# The fresh row, the target left, from FRESH_REPS runs: one run's figure
# moves with the host's speed at that moment (round 13: 0.23-0.34x of a
# fork+exec taken just before, over 20 quiet rounds), so the median of three
# moved by +-10% from one run of this script to the next.
fresh=$(REPS=$FRESH_REPS T1_REPS=$FRESH_REPS BASE=fe_run per "$FN/noop" "$N_FRESH" 1MiB true "$tmp/x.txt")
fresh_span=$(span <"$tmp/per_runs.txt")
# Each of those runs over the fork+exec run taken just before it (the last
# FRESH_REPS lines of fe.txt, in the same order): the ratio of a pair, both
# at the host's speed of those seconds, and the median of the pairs.
fresh_pairs=$(tail -n "$FRESH_REPS" "$tmp/fe.txt" | paste -d' ' "$tmp/per_runs.txt" - |
	awk '{ printf "%.3f\n", $1 / $2 }')
fresh_pair=$(med <<<"$fresh_pairs")
fresh_pair_span=$(span <<<"$fresh_pairs")
fresh_exec=$(BASE=fe_run per "$FN/noop" "$N_FRESH" 1MiB true "$tmp/x.txt" env PITH_ZYGOTE=off)
# The same without lanes (architecture.md "Threads": on by default since
# round 10): pith's one loop thread spawns and collects every instance.
fresh_one=n/a
[ "$ncpu" -ge 2 ] &&
	fresh_one=$(BASE=fe_run per "$FN/noop" "$N_FRESH" 1MiB true "$tmp/x.txt" env PITH_LANES=0)
fk=$("$FORK" "$N_EXEC")
# The same two at a time (this VM's 2 CPUs), and its CPU per fork: no
# design that makes a process per instance does better than that CPU over
# the number of CPUs.
read -r fk2 fk_cpu < <("$FORK" "$N_EXEC" 2)
fresh_cpu=$(BASE=fe_cpu_run cpu_per "$FN/noop" "$N_FRESH" 1MiB true "$tmp/x.txt")
touch_pith=$(BASE=touch_run per "$FN/touch" "$N_TOUCH" 16MiB false "$tmp/x.txt")
spin_native=$(spin_us "$iters")
spin1=$(per "$FN/spin" "$N_SPIN" 1MiB false "$tmp/spin.txt" taskset -c 0)
spin2=$(per "$FN/spin" "$N_SPIN" 1MiB false "$tmp/spin.txt" taskset -c 0,1)
fe=$(med <"$tmp/fe.txt")
fe_span=$(span <"$tmp/fe.txt")
fe_n=$(wc -l <"$tmp/fe.txt")
fe_cpu=$(med <"$tmp/fe_cpu.txt")
touch_native=$(med <"$tmp/touch.txt")
touch_span=$(span <"$tmp/touch.txt")

bw=n/a
if command -v bwrap >/dev/null; then
	"$DRV" seccomp "$tmp/filter.bpf"
	bw=$("$DRV" exec "$N_BWRAP" --fd10 "$tmp/filter.bpf" "$(command -v bwrap)" \
		--unshare-all --die-with-parent --ro-bind "$NOOP" /noop \
		--seccomp 10 /noop) || bw=failed
fi
cr=n/a
if command -v crun >/dev/null && [ "$(id -u)" = 0 ]; then
	mkdir -p "$tmp/bundle/rootfs"
	cp "$NOOP" "$tmp/bundle/rootfs/noop"
	(cd "$tmp/bundle" && crun spec >/dev/null 2>&1 || true)
	python3 - "$tmp/bundle/config.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c["process"]["args"] = ["/noop"]
c["process"]["terminal"] = False
c["root"] = {"path": "rootfs", "readonly": True}
json.dump(c, open(sys.argv[1], "w"))
PY
	cr=$(unshare -m sh -c "mount -t cgroup2 none /sys/fs/cgroup &&
		cd '$tmp/bundle' && '$DRV' exec $N_CRUN '$(command -v crun)' \
		--cgroup-manager=disabled run bench") || cr=failed
fi
wa=n/a
if command -v node >/dev/null; then
	wa=$(node -e '
const b = new Uint8Array([0,97,115,109,1,0,0,0, 1,4,1,96,0,0, 3,2,1,0,
  5,3,1,0,1, 7,5,1,1,102,0,0, 10,4,1,2,0,11]);
const m = new WebAssembly.Module(b), N = 20000;
for (let i = 0; i < 1000; i++) new WebAssembly.Instance(m);
const t = process.hrtime.bigint();
for (let i = 0; i < N; i++) new WebAssembly.Instance(m);
console.log((Number(process.hrtime.bigint() - t) / 1000 / N).toFixed(2));')
fi

tput1=$(python3 -c "print('%.0f' % (1e6 / $spin1))")
tput2=$(python3 -c "print('%.0f' % (1e6 / $spin2))")
cat <<EOF2
| figure | per instance | ratio | target |
|---|---|---|---|
| fork+exec of a static no-op (C driver, baseline: the median of $fe_n runs, one before each of pith's N-instance runs of the rows below; their range) | $fe us ($fe_span) | 1 | |
| pith warm no-op, $N_WARM-instance job (the median of $REPS runs of it, less the median of $T1_REPS one-instance runs) | $warm us | $(ratio "$warm" "$fe") x fork+exec | <= 20 us, <= 0.05x |
| the same, one instance per CPU (-j $ncpu; the default runs two per CPU for short instances; median of $REPS) | $warm_cpu us | $(ratio "$warm_cpu" "$fe") x fork+exec | |
| the same without the default's driver thread (PITH_DRIVERS=0: pith's one loop thread answers every worker; median of $REPS) | $warm_drv us | $( [ "$warm_drv" = n/a ] && echo - || ratio "$warm_drv" "$fe") x fork+exec | |
| pith fresh no-op (\`"fresh": true\`), $N_FRESH-instance job (the median of $FRESH_REPS runs, one fork+exec run before each; their range) | $fresh us ($fresh_span) | $(ratio "$fresh" "$fe") x fork+exec | <= 0.25x |
| the same, paired: each of those runs over the fork+exec run just before it (the median of the $FRESH_REPS ratios; their range) | | $fresh_pair x fork+exec ($fresh_pair_span) | |
| the same without lanes (PITH_LANES=0: one loop thread spawns and collects every instance) | $fresh_one us | $( [ "$fresh_one" = n/a ] && echo - || ratio "$fresh_one" "$fe") x fork+exec | |
| the same without zygotes (PITH_ZYGOTE=off: every worker exec'd) | $fresh_exec us | $(ratio "$fresh_exec" "$fe") x fork+exec | |
| fork+exit+wait of a static process of a zygote's size (fork-static: the floor of a process per instance) | $fk us | $(ratio "$fk" "$fe") x fork+exec | |
| the same, two lanes at once (fork-static N 2) | $fk2 us | $(ratio "$fk2" "$fe") x fork+exec | |
| CPU of one fork+exit+wait (fork-static N 2), over $ncpu CPUs: the floor of any process per instance | $fk_cpu us CPU, $(python3 -c "print('%.2f' % ($fk_cpu / $ncpu))") us | $(ratio "$fk_cpu / $ncpu" "$fe") x fork+exec | |
| pith fresh no-op: CPU per instance (pith, zygote and workers), over $ncpu CPUs | $fresh_cpu us CPU, $(python3 -c "print('%.2f' % ($fresh_cpu / $ncpu))") us | $(ratio "$fresh_cpu / $ncpu" "$fe") x fork+exec | |
| CPU: fork+exec of the static no-op (driver and child; median of $REPS, one before each of pith's) / fork+exit+wait / pith fresh no-op | $fe_cpu / $fk_cpu / $fresh_cpu us | 1 / $(ratio "$fk_cpu" "$fe_cpu") / $(ratio "$fresh_cpu" "$fe_cpu") x fork+exec's CPU | |
| bwrap --unshare-all with a seccomp filter | $bw us | $( [ "$bw" = n/a ] || [ "$bw" = failed ] && echo - || ratio "$bw" "$fe") x fork+exec | |
| crun run of an OCI bundle | $cr us | $( [ "$cr" = n/a ] || [ "$cr" = failed ] && echo - || ratio "$cr" "$fe") x fork+exec | |
| node: new WebAssembly.Instance, no-op module, 64 KiB memory | $wa us | $( [ "$wa" = n/a ] && echo - || ratio "$wa" "$fe") x fork+exec | |
| pith: a function writing 8 MiB of its context, $N_TOUCH instances | $touch_pith us | $(ratio "$touch_pith" "$touch_native") x native ($touch_native us, median of $REPS runs ($touch_span), one before each of pith's: mmap, write, munmap) | <= 1.5x |
| pith: ~1 ms CPU-bound function ($spin_native us natively), 1 CPU (taskset -c 0) | $spin1 us ($tput1/s) | | |
| the same on 2 CPUs (taskset -c 0,1) | $spin2 us ($tput2/s) | $(ratio "$spin1" "$spin2") x the instances/s of 1 CPU | >= 1.8x |
EOF2
echo
echo "fork+exec, every run in order (us): $(tr '\n' ' ' <"$tmp/fe.txt")"
