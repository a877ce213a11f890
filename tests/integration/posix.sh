#!/bin/bash
# SPDX-License-Identifier: MIT
# POSIX functions (tools/pith-cc --posix) end to end with `pith run`: argv,
# environ and stdin from the job, stdout/stderr captured as items named
# like the stdin item, the /in, /out and /tmp tree, exit statuses, a fixed
# clock and seeded randomness that a re-run reproduces, and the refusals of
# a locked-down system. The function is tests/posix/fn/probe.c.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../harness/tap.sh"

. "$here/../harness/paths.sh"
pith=$B/pith
probe=$root/build/posix/tests/probe
if [ ! -x "$probe" ]; then
	why="not built"
	[ -f "$root/build/posix/unavailable" ] &&
		why=$(cat "$root/build/posix/unavailable")
	t_skip_all "POSIX SDK unavailable: $why"
fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/pith-posix.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

t_plan 16

# job NAME FUNCTION-EXTRA INPUTS STAGE-INPUTS OUTPUTS JOB-OUTPUTS
job() {
	cat >"$tmp/$1.json" <<JOB
{
  "version": 1,
  "name": "$1",
  "functions": { "probe": { "binary": "$probe", "memory": "32MiB" $2 } },
  "inputs": { $3 },
  "stages": [ { "name": "p", "function": "probe",
                "inputs": { $4 }, "outputs": [$5] } ],
  "outputs": { $6 }
}
JOB
}

# run NAME: pith run into $tmp/NAME; the error text in $tmp/NAME.err.
run() {
	rm -rf "$tmp/$1"
	"$pith" run -o "$tmp/$1" "$tmp/$1.json" >/dev/null 2>"$tmp/$1.err"
}

# same NAME FILE EXPECTED
same() {
	if [ ! -f "$2" ]; then
		t_fail "$1" "missing $2: $(cat "$tmp"/*.err 2>/dev/null | head -5)"
	elif d=$(printf '%s' "$3" | diff -u - "$2"); then
		t_ok "$1"
	else
		t_fail "$1" "$d"
	fi
}

job echo ', "args": ["a b", "", "-x"], "env": {"HOME": "/tmp", "LANG": "C"}' \
	'"text": [ {"name": "one.txt", "data": "line 1\nline 2\n"}, {"name": "two.txt", "data": "2\n"} ]' \
	'"stdin": {"from": "text", "mode": "each"}' '"stdout", "stderr"' \
	'"out": "p.stdout", "err": "p.stderr"'
sed -i 's/"args": \["a b"/"args": ["echo", "a b"/' "$tmp/echo.json"
run echo
# What the probe prints of its argv and environment, before its stdin.
echoed='argc=5
argv[0]=pith
argv[1]=echo
argv[2]=a b
argv[3]=
argv[4]=-x
env HOME=/tmp
env LANG=C
'
same argv_env_and_stdin_reach_the_program "$tmp/echo/out/one.txt" "${echoed}line 1
line 2
"
same stdout_item_is_named_like_its_stdin_item "$tmp/echo/out/two.txt" "${echoed}2
"
same stderr_is_captured_too "$tmp/echo/err/one.txt" 'bye
'

job all '' '"text": [ {"name": "a", "data": "A\n"}, {"name": "b", "data": "B\n"}, {"name": "c", "data": ""}, {"name": "d", "data": "D\n"} ]' \
	'"stdin": {"from": "text", "mode": "all"}' '"stdout"' '"out": "p.stdout"'
run all
same stdin_of_mode_all_reads_every_item_in_order_and_names_by_instance \
	"$tmp/all/out/0" 'argc=1
argv[0]=pith
A
B
D
'

job files ', "args": ["files"]' \
	'"data": [ {"name": "a.txt", "data": "alpha\n"}, {"name": "b.txt", "data": "beta\n"} ]' \
	'"data": {"from": "data", "mode": "all"}' '"stdout", "files"' \
	'"out": "p.stdout", "files": "p.files"'
run files
same out_files_become_items "$tmp/files/files/hello.txt" 'hello, file
'
same a_tmp_file_renamed_into_out_becomes_an_item "$tmp/files/files/moved.txt" 'moved
'
if [ -d "$tmp/files/files" ] && [ "$(ls "$tmp/files/files" | tr '\n' ' ')" = "hello.txt moved.txt " ]; then
	t_ok unlinked_out_files_are_not_items
else
	t_fail unlinked_out_files_are_not_items "$(ls "$tmp/files/files" 2>&1)"
fi
same tree_is_read_only_but_tmp_and_out_sets "$tmp/files/out/0" 'write /in: Read-only file system
create in /: Read-only file system
create in /out: Read-only file system
mkdir in /out/files: Operation not permitted
missing: No such file or directory
size of a.txt: 6
cwd: /
relative open after chdir: ok
./
../
in/
out/
tmp/
dev/
./
../
a.txt
b.txt
./
../
stdout/
files/
'

job cat ', "args": ["cat", "/in/data/b.txt", "/in/data/a.txt"]' \
	'"data": [ {"name": "a.txt", "data": "alpha\n"}, {"name": "b.txt", "data": "beta\n"} ]' \
	'"data": {"from": "data", "mode": "all"}' '"stdout"' '"out": "p.stdout"'
run cat
same input_items_read_as_files "$tmp/cat/out/0" 'beta
alpha
'

job world ', "args": ["world"], "seed": 42, "time": 1700000000' \
	'"x": [ {"name": "a", "data": ""} ]' '"x": {"from": "x", "mode": "all"}' \
	'"stdout"' '"out": "p.stdout"'
run world
cp "$tmp/world/out/0" "$tmp/world.first" 2>/dev/null
run world
if [ -f "$tmp/world.first" ] && cmp -s "$tmp/world.first" "$tmp/world/out/0" &&
	grep -q '^time 1700000000$' "$tmp/world.first" &&
	grep -q '^sleep 0$' "$tmp/world.first"; then
	t_ok a_rerun_sees_the_same_clock_and_random_bytes
else
	t_fail a_rerun_sees_the_same_clock_and_random_bytes "$(cat "$tmp/world.first" "$tmp/world.err" 2>&1)"
fi
sed -i 's/"seed": 42/"seed": 43/' "$tmp/world.json"
run world
if [ -f "$tmp/world/out/0" ] && ! cmp -s "$tmp/world.first" "$tmp/world/out/0" &&
	[ "$(grep -v random "$tmp/world.first")" = "$(grep -v random "$tmp/world/out/0")" ]; then
	t_ok another_seed_gives_other_random_bytes
else
	t_fail another_seed_gives_other_random_bytes "$(cat "$tmp/world/out/0" 2>&1)"
fi
if grep -q '^socket: Operation not permitted$' "$tmp/world.first" &&
	grep -q '^fork: Operation not permitted$' "$tmp/world.first" &&
	grep -q '^execve: Operation not permitted$' "$tmp/world.first" &&
	grep -q '^pipe: Function not implemented$' "$tmp/world.first"; then
	t_ok sockets_processes_and_pipes_are_refused_inside
else
	t_fail sockets_processes_and_pipes_are_refused_inside "$(cat "$tmp/world.first" 2>&1)"
fi

job mem ', "args": ["mem", "40"]' '"x": [ {"name": "a", "data": ""} ]' \
	'"x": {"from": "x", "mode": "all"}' '"stdout"' '"out": "p.stdout"'
sed -i 's/"32MiB"/"48MiB"/' "$tmp/mem.json"
run mem
same malloc_reuses_freed_memory_within_the_declared_memory "$tmp/mem/out/0" 'allocated 40 MiB
'

# The port's assembly memcpy/memmove, every size to 600 bytes at every
# overlap within 80 bytes, against a byte-at-a-time reference.
job memops ', "args": ["memops"], "timeout": "120s"' '"x": [ {"name": "a", "data": ""} ]' \
	'"x": {"from": "x", "mode": "all"}' '"stdout"' '"out": "p.stdout"'
run memops
same memcpy_and_memmove_match_a_byte_reference "$tmp/memops/out/0" 'memops ok
'

# exit statuses: exit(3) fails the instance with that status; abort() is
# SIGABRT's 128+6.
job exit ', "args": ["exit", "3"]' '"x": [ {"name": "a", "data": ""} ]' \
	'"x": {"from": "x", "mode": "all"}' '"stdout"' '"out": "p.stdout"'
run exit
r1=$(grep -o 'exited with status [0-9]*' "$tmp/exit.err")
sed -i 's/"exit", "3"/"abort"/' "$tmp/exit.json"
run exit
r2=$(grep -o 'exited with status [0-9]*' "$tmp/exit.err")
if [ "$r1" = "exited with status 3" ] && [ "$r2" = "exited with status 134" ]; then
	t_ok exit_and_abort_fail_the_instance_with_their_status
else
	t_fail exit_and_abort_fail_the_instance_with_their_status "exit: '$r1', abort: '$r2'"
fi

if "$pith" doctor 2>/dev/null | grep -q '^posix .*none reaches the kernel but the final exit_group'; then
	t_ok doctor_says_what_posix_functions_get
else
	t_fail doctor_says_what_posix_functions_get "$("$pith" doctor 2>&1 | tail -3)"
fi
t_done
