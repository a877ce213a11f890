#!/bin/bash
# SPDX-License-Identifier: MIT
# Every --json document is valid against Documentation/json-output.schema.json:
# those the whole suite printed (tests/run.sh collects copies in
# $PITH_TEST_JSON_DIR, and this script runs last), plus one of each kind
# made here so that it also tests something when run alone. Floats carry at
# most three decimals.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../harness/tap.sh"

. "$here/../harness/paths.sh"
pith=$B/pith
fn=$B/tests/functions
schema=$root/Documentation/json-output.schema.json
tmp=$(mktemp -d "${TMPDIR:-/tmp}/pith-json.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

if ! python3 -c 'import jsonschema' 2>/dev/null; then
	t_skip_all "python3-jsonschema is not installed (tools/deps.sh test)"
fi
t_plan 3

mkdir "$tmp/own"
cat >"$tmp/ok.json" <<JSON
{ "version": 1, "name": "ok",
  "functions": { "up": { "binary": "$fn/upper", "timeout": "2s" },
                 "fail": { "binary": "$fn/fail", "timeout": "2s" } },
  "inputs": { "x": [ { "name": "a", "data": "abc" }, { "name": "b", "data": "d" } ] },
  "stages": [ { "name": "s", "function": "up",
                "inputs": { "in": { "from": "x", "mode": "each" } },
                "outputs": ["out"] } ],
  "outputs": { "r": "s.out" } }
JSON
sed -e 's|"function": "up"|"function": "fail"|' "$tmp/ok.json" >"$tmp/fail.json"
printf '{ "version": 1,\n  "name": "typo",\n  "stages": [ { "name": "s", "functon": "up" } ] }\n' \
	>"$tmp/bad.json"
export PITH_TEST_JSON_DIR=$tmp/own
"$pith" run "$tmp/ok.json" -o "$tmp/o1" --json >/dev/null 2>&1
"$pith" run "$tmp/fail.json" -o "$tmp/o2" --json >/dev/null 2>&1
"$pith" run "$tmp/bad.json" -o "$tmp/o3" --json >/dev/null 2>&1
"$pith" check "$tmp/ok.json" --json >/dev/null 2>&1
"$pith" check "$tmp/bad.json" --json >/dev/null 2>&1
"$pith" doctor --json >/dev/null 2>&1
"$pith" doctor --json --require all >/dev/null 2>&1

# validate DIR: every *.json in DIR against the schema; prints problems.
validate() {
	python3 - "$schema" "$1" <<'PY'
import glob, json, os, re, sys
import jsonschema

schema = json.load(open(sys.argv[1]))
jsonschema.Draft202012Validator.check_schema(schema)
v = jsonschema.Draft202012Validator(schema)
files = sorted(glob.glob(os.path.join(sys.argv[2], "*.json")))
bad = 0
kinds = set()
for f in files:
    text = open(f).read()
    doc = json.loads(text)
    kinds.add((doc.get("command"), doc.get("status")))
    errs = sorted(v.iter_errors(doc), key=lambda e: list(e.path))
    for e in errs[:3]:
        print("%s: %s: %s" % (os.path.basename(f), "/".join(map(str, e.path)), e.message[:300]))
    if re.search(r'[0-9]\.[0-9]{4,}', re.sub(r'"(?:[^"\\]|\\.)*"', '""', text)):
        print("%s: a float with more than three decimals" % os.path.basename(f))
        errs = errs or [1]
    bad += bool(errs)
print("# %d documents, %d invalid; kinds: %s" % (len(files), bad,
      ", ".join("%s/%s" % k for k in sorted(kinds, key=str))))
sys.exit(1 if bad or not files else 0)
PY
}

if out=$(validate "$tmp/own"); then
	t_ok json_of_each_kind_matches_the_schema
else
	t_fail json_of_each_kind_matches_the_schema "$out"
fi
if python3 -c '
import glob, json, sys
docs = [json.load(open(f)) for f in glob.glob(sys.argv[1] + "/*.json")]
kinds = {(d["command"], d["status"]) for d in docs}
want = {("run", "ok"), ("run", "failed"), ("run", "invalid"),
        ("check", "valid"), ("check", "invalid"), ("doctor", "ok")}
assert want <= kinds, kinds
bad = [d for d in docs if d["status"] == "invalid"]
assert all(d["error"]["line"] == 3 and d["error"]["path"] == "stages[0].functon"
           for d in bad), bad
' "$tmp/own"; then
	t_ok json_covers_success_failure_and_invalid_jobs
else
	t_fail json_covers_success_failure_and_invalid_jobs "$(ls "$tmp/own")"
fi

suite=${PITH_SUITE_JSON_DIR:-}
if [ -z "$suite" ]; then
	t_skip json_printed_by_the_suite_matches_the_schema "not run by tests/run.sh (no PITH_SUITE_JSON_DIR)"
elif ! ls "$suite"/*.json >/dev/null 2>&1; then
	t_fail json_printed_by_the_suite_matches_the_schema "no document in $suite: did the tests before this one run pith --json?"
elif out=$(validate "$suite"); then
	printf '%s\n' "$out" | grep '^#'
	t_ok json_printed_by_the_suite_matches_the_schema
else
	t_fail json_printed_by_the_suite_matches_the_schema "$out"
fi
t_done
