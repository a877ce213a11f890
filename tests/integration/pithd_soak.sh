#!/bin/bash
# SPDX-License-Identifier: MIT
# A bounded soak of pithd (about a minute): three uids submit good, failing
# and hostile jobs (a forbidden syscall, a timeout) at once for 20 s while
# pithd is killed with SIGKILL at random moments and restarted. Afterwards every job
# whose id reached its submitter has exactly one outcome, the right one:
# the exact bytes, or a clean failure with the right reason. Then, on a
# pithd under steady load, its RSS and fd count come back to their
# baseline, and once it stops no worker, cgroup or socket is left.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../harness/tap.sh"
root=$(cd "$here/../.." && pwd)
B=${B:-build}
case $B in /*) ;; *) B=$root/$B ;; esac
pith=$B/pith
pithd=$B/pithd
[ "$(id -u)" -eq 0 ] && command -v setpriv >/dev/null ||
	t_skip_all "needs root and setpriv to submit as several uids"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/pith-soak.XXXXXX")
chmod 755 "$tmp"
pid=
submitters=
cleanup() {
	for s in $submitters; do kill "$s" 2>/dev/null; done
	[ -n "$pid" ] && kill -9 "$pid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
sock=$tmp/pithd.sock
export PITH_SOCKET=$sock
SOAK_SECONDS=${PITH_SOAK_SECONDS:-20}

start_pithd() {
	"$pithd" --socket "$sock" --state-dir "$tmp/state" \
		--config "$tmp/pithd.conf" >>"$tmp/pithd.log" 2>&1 &
	pid=$!
	for _ in $(seq 200); do
		curl -sf --unix-socket "$sock" http://pith/v1/health \
			>/dev/null 2>&1 && return 0
		sleep 0.05
	done
	return 1
}
printf '[Daemon]\nJobs=2\nMaxRunningJobsPerUser=2\nMaxJobsPerUser=100000\nMaxQueuedJobs=100000\nWarmIdleTime=1s\n' \
	>"$tmp/pithd.conf"

# The functions and jobs, readable by every uid.
mkdir "$tmp/fn"
for f in upper fail opener spin; do
	cp "$B/tests/functions/$f" "$tmp/fn/$f"
done
. "$root/tests/harness/jobs.sh"
job() { # job NAME FUNCTION TIMEOUT DATA...
	t_each_job "$tmp/fn/$1.json" "$1" "$2" "$3" "${@:4}"
}
for k in 0 1 2 3 4 5 6 7; do
	job "good$k" upper 5s "soak $k alpha" "item two $k" "z$k"
done
job failing fail 5s a b c
job opener opener 5s x
job spin spin 300ms x
chmod -R a+rX "$tmp/fn"

t_plan 6
start_pithd || { t_fail pithd_starts "$(cat "$tmp/pithd.log")"; t_done; }

# submitter UID: submit random jobs until told to stop; log "uid id kind".
submitter() {
	local uid=$1 run=()
	[ "$uid" -ne 0 ] && run=(setpriv --reuid="$uid" --regid="$uid" --clear-groups)
	cd "$tmp/fn" || exit 1
	while [ ! -e "$tmp/stop" ]; do
		local r=$((RANDOM % 12)) kind
		case $r in
		8) kind=failing ;; 9) kind=opener ;; 10) kind=spin ;;
		*) kind=good$((r % 8)) ;;
		esac
		id=$("${run[@]}" "$pith" submit "$kind.json" 2>/dev/null) &&
			[[ $id =~ ^[0-9a-f]{16}$ ]] &&
			echo "$uid $id $kind" >>"$tmp/accepted.$uid"
		sleep 0.$((3 + RANDOM % 5))
	done
}
for u in 0 65534 65533; do
	submitter $u &
	submitters="$submitters $!"
done

# Kill pithd with SIGKILL at random moments, restart it at once.
end=$((SECONDS + SOAK_SECONDS))
kills=0
while [ $SECONDS -lt $end ]; do
	sleep "$((2 + RANDOM % 5)).$((RANDOM % 10))"
	kill -9 "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	kills=$((kills + 1))
	start_pithd || break
done
touch "$tmp/stop"
for s in $submitters; do wait "$s"; done
submitters=
cat "$tmp"/accepted.* >"$tmp/accepted"
n=$(wc -l <"$tmp/accepted")
echo "# $n jobs accepted from 3 uids, pithd killed $kills times"

# Every accepted job settles.
settled=0
for _ in $(seq 600); do
	curl -s --unix-socket "$sock" http://pith/v1/jobs >"$tmp/jobs.json"
	left=$(python3 -c '
import json, sys
jobs = {j["id"]: j for j in json.load(open(sys.argv[1]))["jobs"]}
ids = [l.split()[1] for l in open(sys.argv[2])]
print(sum(1 for i in ids if i not in jobs or jobs[i]["state"] in ("queued", "running")))
' "$tmp/jobs.json" "$tmp/accepted")
	[ "$left" = 0 ] && settled=1 && break
	sleep 0.2
done
if [ $settled = 1 ] && [ "$n" -gt 30 ]; then
	t_ok every_accepted_job_settles
else
	t_fail every_accepted_job_settles "$left of $n not finished (or too few accepted)"
fi

# Each has exactly one outcome, the right one, as its owner sees it.
mkdir -m 1777 "$tmp/res" "$tmp/b"
python3 - "$tmp/accepted" "$pith" "$tmp/res" >"$tmp/verdict" 2>&1 <<'PY'
import json, os, subprocess, sys
accepted, pith, res = sys.argv[1:4]
bad = []
for line in open(accepted):
    uid, jid, kind = line.split()
    run = [] if uid == "0" else ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups"]
    st = subprocess.run(run + [pith, "status", "--json", jid], capture_output=True, text=True)
    try:
        j = json.loads(st.stdout)
    except ValueError:
        bad.append(f"{jid}({kind}): status said {st.stdout}{st.stderr}")
        continue
    state, err = j.get("state"), j.get("error", "")
    if kind.startswith("good"):
        k = kind[4:]
        out = os.path.join(res, jid)
        r = subprocess.run(run + [pith, "result", jid, "-o", out], capture_output=True, text=True)
        want = {"i0": f"SOAK {k} ALPHA", "i1": f"ITEM TWO {k}", "i2": f"Z{k}"}
        got = {}
        if r.returncode == 0:
            for n in os.listdir(os.path.join(out, "r")):
                got[n] = open(os.path.join(out, "r", n)).read()
        if state != "done" or got != want:
            bad.append(f"{jid}({kind}:{state}:{err}): {got}")
    else:
        need = {"failing": "exited with status 3", "opener": "openat", "spin": "timed out"}[kind]
        if state != "failed" or need not in err:
            bad.append(f"{jid}({kind}:{state}:{err})")
print("\n".join(bad))
sys.exit(1 if bad else 0)
PY
if [ $? -eq 0 ]; then
	t_ok each_job_has_exactly_its_one_right_outcome
else
	t_fail each_job_has_exactly_its_one_right_outcome "$(head -c 3000 "$tmp/verdict")"
fi

# Steady state: RSS and fds after 20 more jobs equal those after 25. A
# runner keeps its idle warm workers for the same uid's next job, at most
# WarmIdleTime= (1 s here) after its last one: each measurement is taken
# once they have ended (no worker left, within 10 s), so none is counted.
usage() { # RSS kB and open fds of pithd
	for _ in $(seq 100); do
		[ -z "$(pgrep -P "$pid")" ] && break
		sleep 0.1
	done
	[ -n "$(pgrep -P "$pid")" ] &&
		echo "idle workers still there 10 s after the last job" >>"$tmp/batch.err"
	echo "$(awk '/^VmRSS/ { print $2 }' "/proc/$pid/status") $(ls "/proc/$pid/fd" | wc -l)"
}
batch() { # batch N: N good jobs from uid 65534, waited for
	for i in $(seq "$1"); do
		(cd "$tmp/fn" && setpriv --reuid=65534 --regid=65534 --clear-groups \
			"$pith" submit --wait -o "$tmp/b" good1.json >/dev/null \
			2>"$tmp/batch.out") ||
			echo "batch job $i failed: $(grep -v 'note:' "$tmp/batch.out")" \
				>>"$tmp/batch.err"
	done
}
batch 25
read -r rss0 fd0 <<<"$(usage)"
batch 20
read -r rss1 fd1 <<<"$(usage)"
echo "# pithd after 25 jobs: RSS $rss0 kB, $fd0 fds; after 45: RSS $rss1 kB, $fd1 fds"
if [ "$fd1" -eq "$fd0" ] && [ "$rss1" -le $((rss0 + rss0 / 10)) ] &&
	[ ! -e "$tmp/batch.err" ]; then
	t_ok rss_and_fds_return_to_baseline
else
	t_fail rss_and_fds_return_to_baseline \
		"RSS $rss0 -> $rss1 kB, fds $fd0 -> $fd1; $(cat "$tmp/batch.err" 2>/dev/null)"
fi

# Stop: no worker, no cgroup, no socket left behind.
cg=$(awk -F:: '/^0::/ { print $2 }' "/proc/$pid/cgroup")
kids=$(pgrep -P "$pid")
kill -TERM "$pid"
wait "$pid"
rc=$?
left=
for k in $kids; do
	st=$(awk '{ print $3 }' "/proc/$k/stat" 2>/dev/null)
	[ -n "$st" ] && [ "$st" != Z ] && left="$left $k"
done
if [ $rc -eq 0 ] && [ -z "$left" ]; then
	t_ok sigterm_leaves_no_worker
else
	t_fail sigterm_leaves_no_worker "exit $rc, still running:$left"
fi
if [ ! -e "/sys/fs/cgroup$cg/pith-$pid" ] && [ ! -e "$sock" ]; then
	t_ok no_cgroup_or_socket_left
else
	t_fail no_cgroup_or_socket_left "$(ls -d "/sys/fs/cgroup$cg/pith-$pid" "$sock" 2>&1)"
fi
pid=
if [ "$kills" -ge 2 ] && [ -s "$tmp/accepted.0" ] &&
	[ -s "$tmp/accepted.65534" ] && [ -s "$tmp/accepted.65533" ]; then
	t_ok soak_ran_with_kills_from_three_uids
else
	t_fail soak_ran_with_kills_from_three_uids \
		"$kills kills; accepted per uid: $(wc -l "$tmp"/accepted.* | tr '\n' ' ')"
fi
t_done
