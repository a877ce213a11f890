#!/bin/bash
# SPDX-License-Identifier: MIT
# The example applications end to end: their functions are valid pith ELF
# files, `pith run` produces results equal to an independent computation
# (coreutils, awk), `--json` reports every stage, and a function built from
# scratch with tools/pith-cc runs.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../harness/tap.sh"
. "$here/examples_lib.sh"

. "$here/../harness/paths.sh"
pith=$B/pith
ex=$root/examples
fns=$root/build/examples
tmp=$(mktemp -d "${TMPDIR:-/tmp}/pith-examples.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

t_plan 12

# Compare a result file with the expected text; NAME FILE EXPECTED.
t_same() {
	if [ ! -f "$2" ]; then
		t_fail "$1" "missing result $2"
	elif diff_out=$(printf '%s\n' "$3" | diff -u - "$2" | head -20) &&
		[ -z "$diff_out" ]; then
		t_ok "$1"
	else
		t_fail "$1" "$diff_out"
	fi
}

# run NAME JOB OUTDIR: pith run with --json; the summary goes to OUTDIR.json.
run_job() {
	local out
	if out=$("$pith" run -o "$3" --json "$2" 2>&1 >"$3.json"); then
		t_ok "$1"
	else
		t_fail "$1" "pith run $2 failed (exit $?): $out"
	fi
}

elf_problems=
for f in "$fns"/*/*; do
	[ -f "$f" ] || continue
	p=$(check_function_elf "$f") || elf_problems="$elf_problems$p
"
done
if [ ! -d "$fns" ]; then
	t_fail "example_functions_are_static_without_interp_or_wx" \
		"no $fns: run make"
elif [ -n "$elf_problems" ]; then
	t_fail "example_functions_are_static_without_interp_or_wx" \
		"$elf_problems"
else
	t_ok "example_functions_are_static_without_interp_or_wx"
fi

if [ ! -x "$pith" ]; then
	for t in wordcount_runs wordcount_counts_match_coreutils \
		wordcount_total_matches_coreutils matmul_runs \
		matmul_products_match_awk logstats_runs \
		logstats_host_reports_match_awk logstats_summary_matches_awk \
		json_summary_reports_each_stage_and_instance; do
		t_fail "$t" "$pith not built: run make"
	done
else
	# wordcount: one `count` instance per document, then `merge`.
	run_job wordcount_runs "$ex/wordcount/job.json" "$tmp/wc"
	bad=
	for d in "$ex"/wordcount/data/*.txt; do
		n=${d##*/}
		if ! printf '%s\n' "$(expect_word_counts "$d")" |
			cmp -s - "$tmp/wc/counts/$n"; then
			bad="$bad $n"
		fi
	done
	if [ -z "$bad" ]; then
		t_ok wordcount_counts_match_coreutils
	else
		t_fail wordcount_counts_match_coreutils "differ:$bad"
	fi
	t_same wordcount_total_matches_coreutils "$tmp/wc/result/total" \
		"$(expect_word_total "$ex"/wordcount/data/*.txt)"

	# matmul: pairs distributed by key, one product each.
	run_job matmul_runs "$ex/matmul/job.json" "$tmp/mm"
	bad=
	for k in 1 2; do
		if ! printf '%s\n' "$(expect_product "$ex/matmul/data/a$k.txt" \
			"$ex/matmul/data/b$k.txt")" | cmp -s - "$tmp/mm/result/c$k"
		then
			bad="$bad c$k"
		fi
	done
	if [ -z "$bad" ]; then
		t_ok matmul_products_match_awk
	else
		t_fail matmul_products_match_awk "differ or missing:$bad"
	fi

	# logstats: one `stats` instance per host key, then `summary`.
	run_job logstats_runs "$ex/logstats/job.json" "$tmp/ls"
	l=$ex/logstats/data
	want1=$(expect_host_report web1 "$l/web1.access.log.1" \
		"$l/web1.access.log")
	want2=$(expect_host_report web2 "$l/web2.access.log")
	if printf '%s\n' "$want1" | cmp -s - "$tmp/ls/hosts/web1" &&
		printf '%s\n' "$want2" | cmp -s - "$tmp/ls/hosts/web2"; then
		t_ok logstats_host_reports_match_awk
	else
		t_fail logstats_host_reports_match_awk \
			"$(printf '%s\n' "$want1" | diff -u - "$tmp/ls/hosts/web1" 2>&1 | head -20)"
	fi
	t_same logstats_summary_matches_awk "$tmp/ls/result/summary" \
		"$(expect_summary 2 "$l"/*.log*)"

	# --json: status, and per stage its instance count (the distribution).
	if out=$(python3 - "$tmp/wc.json" "$tmp/mm.json" "$tmp/ls.json" <<'PY' 2>&1
import json, sys
want = [{"count": 3, "merge": 1}, {"multiply": 2}, {"stats": 2, "summary": 1}]
for path, stages in zip(sys.argv[1:], want):
    s = json.load(open(path))
    for k in ("job", "status", "elapsed_ms", "stages", "outputs"):
        assert k in s, f"{path}: no {k!r}"
    assert s["status"] == "ok", f"{path}: status {s['status']!r}"
    got = {st["name"]: st for st in s["stages"]}
    for name, n in stages.items():
        st = got[name]
        for k in ("kind", "function", "status", "elapsed_ms", "instances",
                  "items_out", "bytes_out"):
            assert k in st, f"{path}: stage {name}: no {k!r}"
        assert st["instances"] == n, \
            f"{path}: stage {name}: {st['instances']} instances, want {n}"
        assert st["status"] == "ok", f"{path}: stage {name}: {st['status']}"
PY
	); then
		t_ok json_summary_reports_each_stage_and_instance
	else
		t_fail json_summary_reports_each_stage_and_instance "$out"
	fi
fi

# pith-cc without a built SDK says what to do.
if out=$(PITH_SDK=$tmp/nosdk "$root/tools/pith-cc" "$ex/matmul/multiply.c" \
	-o "$tmp/x" 2>&1); then
	t_fail pith_cc_without_sdk_says_run_make "pith-cc succeeded"
else
	case $out in
	*"run make first"*) t_ok pith_cc_without_sdk_says_run_make ;;
	*) t_fail pith_cc_without_sdk_says_run_make "$out" ;;
	esac
fi

# A function written from scratch, built with the documented command.
mkdir -p "$tmp/hello"
cat >"$tmp/hello/upper.c" <<'C'
#include <pith/fn.h>

int main(void)
{
	pith_set_foreach(it, pith_input("text")) {
		char *out = pith_output_new("upper", pith_item_name(it),
					    pith_item_len(it));
		const char *in = pith_item_data(it);

		for (size_t i = 0; i < pith_item_len(it); i++)
			out[i] = pith_toupper(in[i]);
	}
	return 0;
}
C
cat >"$tmp/hello/job.json" <<'J'
{
  "version": 1,
  "name": "upper",
  "functions": { "upper": { "binary": "upper" } },
  "inputs": { "text": [ { "name": "greeting", "data": "hello, pith\n" } ] },
  "stages": [ { "name": "up", "function": "upper",
                "inputs": { "text": { "from": "text", "mode": "each" } },
                "outputs": ["upper"] } ],
  "outputs": { "result": "up.upper" }
}
J
if ! out=$("$root/tools/pith-cc" "$tmp/hello/upper.c" -o "$tmp/hello/upper" 2>&1)
then
	t_fail pith_cc_function_runs_under_pith "pith-cc: $out"
elif [ ! -x "$pith" ]; then
	t_fail pith_cc_function_runs_under_pith "$pith not built: run make"
elif ! out=$("$pith" run -o "$tmp/hello/out" "$tmp/hello/job.json" 2>&1); then
	t_fail pith_cc_function_runs_under_pith "pith run: $out"
else
	t_same pith_cc_function_runs_under_pith "$tmp/hello/out/result/greeting" \
		"HELLO, PITH"
fi

t_done
