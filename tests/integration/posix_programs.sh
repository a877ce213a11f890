#!/bin/bash
# SPDX-License-Identifier: MIT
# Programs nobody here wrote, built unmodified from Debian's source
# packages with tools/pith-posix-cc (examples/posix/build.sh), run as pith
# functions, and checked against the host's own build of the same program:
# Lua 5.4 (examples/lua), zlib's minigzip (examples/zlib), the sqlite3
# shell (examples/sqlite). Skips a program, with the reason, when its
# source or the POSIX SDK cannot be had.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../harness/tap.sh"

. "$here/../harness/paths.sh"
pith=$B/pith
ex=$root/examples
tmp=$(mktemp -d "${TMPDIR:-/tmp}/pith-posix-programs.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
docs="bakery.txt lighthouse.txt railway.txt"

t_plan 9

# The three builds at once (tests/run.sh may have them under way already,
# from posix_programs.prepare: build.sh then waits for that build).
declare -A builds
for p in lua zlib sqlite; do
	"$ex/posix/build.sh" "$p" >/dev/null 2>"$tmp/$p.build" &
	builds[$p]=$!
done

# built PROGRAM: 0 when built; else the tests are skipped with $why.
built() {
	wait "${builds[$1]}" && return 0
	why=$(tail -n 1 "$tmp/$1.build")
	[ -n "$why" ] || why="build failed"
	return 1
}

# run JOB OUT: pith run; 0 when the job succeeded.
run() {
	"$pith" run -o "$2" "$1" >/dev/null 2>"$2.err"
}

# --- Lua 5.4: the script over each document, as the host's lua5.4 -------
if ! built lua; then
	t_skip lua_builds_unmodified_from_debian_sources "$why"
	t_skip lua_job_runs "$why"
	t_skip lua_stdout_matches_host_lua5_4 "$why"
elif ! command -v lua5.4 >/dev/null; then
	t_ok lua_builds_unmodified_from_debian_sources
	t_skip lua_job_runs "no host lua5.4 to compare with (apt-get install lua5.4)"
	t_skip lua_stdout_matches_host_lua5_4 "no host lua5.4"
else
	t_ok lua_builds_unmodified_from_debian_sources
	if run "$ex/lua/job.json" "$tmp/lua"; then
		t_ok lua_job_runs
		bad=
		for d in $docs; do
			lua5.4 "$ex/lua/wordfreq.lua" <"$ex/wordcount/data/$d" >"$tmp/$d.lua"
			cmp -s "$tmp/$d.lua" "$tmp/lua/freq/$d" || bad="$bad $d"
			[ -s "$tmp/lua/errors/$d" ] && bad="$bad $d(stderr)"
		done
		if [ -z "$bad" ]; then
			t_ok lua_stdout_matches_host_lua5_4
		else
			t_fail lua_stdout_matches_host_lua5_4 "differs:$bad"
		fi
	else
		t_fail lua_job_runs "$(cat "$tmp/lua.err")"
		t_skip lua_stdout_matches_host_lua5_4 "the job failed"
	fi
fi

# --- zlib: minigzip compresses, the host's gunzip restores ---------------
if ! built zlib; then
	t_skip minigzip_builds_unmodified_from_debian_sources "$why"
	t_skip minigzip_job_runs "$why"
	t_skip host_gunzip_restores_every_item_byte_identical "$why"
else
	t_ok minigzip_builds_unmodified_from_debian_sources
	if run "$ex/zlib/job.json" "$tmp/zlib"; then
		t_ok minigzip_job_runs
		bad=
		for d in $docs; do
			gunzip -c <"$tmp/zlib/gz/$d" | cmp -s - "$ex/wordcount/data/$d" ||
				bad="$bad $d"
		done
		if [ -z "$bad" ]; then
			t_ok host_gunzip_restores_every_item_byte_identical
		else
			t_fail host_gunzip_restores_every_item_byte_identical "differs:$bad"
		fi
	else
		t_fail minigzip_job_runs "$(cat "$tmp/zlib.err")"
		t_skip host_gunzip_restores_every_item_byte_identical "the job failed"
	fi
fi

# --- SQLite: the shell on an in-memory database, as the host's sqlite3 ---
if ! built sqlite; then
	t_skip sqlite3_builds_unmodified_from_debian_sources "$why"
	t_skip sqlite3_job_runs "$why"
	t_skip sqlite3_output_matches_host_sqlite3 "$why"
elif ! command -v sqlite3 >/dev/null; then
	t_ok sqlite3_builds_unmodified_from_debian_sources
	t_skip sqlite3_job_runs "no host sqlite3 to compare with (apt-get install sqlite3)"
	t_skip sqlite3_output_matches_host_sqlite3 "no host sqlite3"
else
	t_ok sqlite3_builds_unmodified_from_debian_sources
	if run "$ex/sqlite/job.json" "$tmp/sqlite"; then
		t_ok sqlite3_job_runs
		HOME=$tmp sqlite3 :memory: <"$ex/sqlite/query.sql" >"$tmp/sqlite.host"
		if cmp -s "$tmp/sqlite.host" "$tmp/sqlite/report/report.txt" &&
			[ ! -s "$tmp/sqlite/errors/report.txt" ]; then
			t_ok sqlite3_output_matches_host_sqlite3
		else
			t_fail sqlite3_output_matches_host_sqlite3 "$(diff "$tmp/sqlite.host" "$tmp/sqlite/report/report.txt" | head; cat "$tmp/sqlite/errors/report.txt")"
		fi
	else
		t_fail sqlite3_job_runs "$(cat "$tmp/sqlite.err")"
		t_skip sqlite3_output_matches_host_sqlite3 "the job failed"
	fi
fi
t_done
