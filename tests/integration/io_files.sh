#!/bin/bash
# SPDX-License-Identifier: MIT
# file.read and file.write through `pith run`: bytes under --data-root, the
# engine's "stage NAME[i]: " prefix on refusals, and a failed write stage
# leaving the data root as it was.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../harness/tap.sh"

. "$here/../harness/paths.sh"
pith=$B/pith
tmp=$(mktemp -d "${TMPDIR:-/tmp}/pith-io-files.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

t_plan 7

mkdir -p "$tmp/data/sub" "$tmp/job"
printf 'alpha\n' >"$tmp/data/a.txt"
head -c 100000 /dev/urandom >"$tmp/data/sub/b.bin"
echo "not yours" >"$tmp/secret"
ln -s / "$tmp/data/slash"

# job PATHS...: a job reading each path (items p0, p1, ...) into `bytes`.
job() {
	local items="" i=0
	for p in "$@"; do
		items="$items${items:+, }{ \"name\": \"p$i\", \"data\": \"$p\" }"
		i=$((i + 1))
	done
	cat >"$tmp/job/job.json" <<EOF
{
  "version": 1,
  "name": "io-files",
  "inputs": { "paths": [ $items ] },
  "stages": [
    { "name": "read", "io": "file.read",
      "inputs": { "paths": { "from": "paths", "mode": "each" } },
      "outputs": ["bytes"] }
  ],
  "outputs": { "bytes": "read.bytes" }
}
EOF
}

job a.txt sub/b.bin
if out=$("$pith" run "$tmp/job/job.json" -o "$tmp/out" --data-root "$tmp/data" 2>&1) &&
	cmp -s "$tmp/data/a.txt" "$tmp/out/bytes/p0" &&
	cmp -s "$tmp/data/sub/b.bin" "$tmp/out/bytes/p1"; then
	t_ok "read_gives_the_files_bytes_under_the_data_root"
else
	t_fail "read_gives_the_files_bytes_under_the_data_root" "$out"
fi

for c in dotdot:../secret absolute_path:/etc/passwd \
	symlink_to_root:slash/etc/passwd; do
	name=read_refuses_${c%%:*}
	case=${c#*:}
	job a.txt "$case"
	out=$("$pith" run "$tmp/job/job.json" -o "$tmp/out2" --data-root "$tmp/data" 2>&1)
	rc=$?
	want="stage read[1]: file.read: '$case': outside the data root"
	if [ $rc -ne 0 ] && printf '%s\n' "$out" | grep -qF "$want"; then
		t_ok "$name"
	else
		t_fail "$name" "exit $rc, want '$want' in: $out"
	fi
done

# Failed items alone must not hold the stage: each gives back the prefetch
# window's credit it took (300 missing files used to leave pith waiting
# for ever once the first guess of the window was used up by failures).
paths=
for i in $(seq 300); do paths="$paths missing/$i"; done
# shellcheck disable=SC2086
job $paths
out=$(timeout 60 "$pith" run "$tmp/job/job.json" -o "$tmp/out5" --data-root "$tmp/data" 2>&1)
rc=$?
if [ $rc -eq 1 ] && printf '%s\n' "$out" |
	grep -qF "stage read[0]: file.read: 'missing/1': no such file or directory"; then
	t_ok "failed_reads_alone_end_the_stage"
else
	t_fail "failed_reads_alone_end_the_stage" "exit $rc (124: pith still waiting after 60 s): $(printf '%s\n' "$out" | head -3)"
fi

# file.write of job input items; the second is blocked by a directory.
mkdir -p "$tmp/wroot/taken"
echo old >"$tmp/wroot/keep.txt"
cat >"$tmp/job/write.json" <<EOF
{
  "version": 1,
  "name": "io-write",
  "inputs": { "docs": [
    { "name": "keep.txt", "data": "new" },
    { "name": "taken", "data": "blocked" }
  ] },
  "stages": [
    { "name": "write", "io": "file.write",
      "inputs": { "docs": { "from": "docs", "mode": "all" } },
      "outputs": [] }
  ],
  "outputs": {}
}
EOF
out=$("$pith" run "$tmp/job/write.json" -o "$tmp/out3" --data-root "$tmp/wroot" 2>&1)
rc=$?
if [ $rc -ne 0 ] && printf '%s\n' "$out" | grep -qF "file.write: 'taken': is a directory" &&
	[ "$(cat "$tmp/wroot/keep.txt")" = old ] &&
	[ "$(ls -A "$tmp/wroot" | tr '\n' ' ')" = "keep.txt taken " ]; then
	t_ok "failed_write_stage_leaves_the_data_root_unchanged"
else
	t_fail "failed_write_stage_leaves_the_data_root_unchanged" \
		"exit $rc: $out; root: $(ls -A "$tmp/wroot")"
fi

rmdir "$tmp/wroot/taken"
out=$("$pith" run "$tmp/job/write.json" -o "$tmp/out4" --data-root "$tmp/wroot" 2>&1)
if [ $? -eq 0 ] && [ "$(cat "$tmp/wroot/keep.txt")" = new ] &&
	[ "$(cat "$tmp/wroot/taken")" = blocked ]; then
	t_ok "write_stage_replaces_and_creates_files"
else
	t_fail "write_stage_replaces_and_creates_files" "$out"
fi

t_done
