# SPDX-License-Identifier: MIT
# Sourced by the tracing tests (trace_file.sh, tools.sh): shape_job DIR FN
# writes DIR/job.json, a job of known shape, and the two files it reads:
# 5 inline items and 2 files through upper (7 instances), 2 files read by
# a file.read stage, 1 merge instance. FN: the test functions' directory.
shape_job() {
	printf 'hello\n' >"$1/f1"
	printf 'world!\n' >"$1/f2"
	cat >"$1/job.json" <<JSON
{ "version": 1, "name": "shape",
  "functions": { "up": { "binary": "$2/upper", "timeout": "5s" },
                 "fwd": { "binary": "$2/forward", "timeout": "5s" } },
  "inputs": { "x": [ { "name": "a", "data": "abc" }, { "name": "b", "data": "d" },
                     { "name": "c", "data": "ef" }, { "name": "d", "data": "g" },
                     { "name": "e", "data": "hij" },
                     { "name": "f1", "file": "f1" }, { "name": "f2", "file": "f2" } ],
              "paths": [ { "name": "p1", "data": "f1" }, { "name": "p2", "data": "f2" } ] },
  "stages": [ { "name": "s", "function": "up",
                "inputs": { "in": { "from": "x", "mode": "each" } },
                "outputs": ["out"] },
              { "name": "rd", "io": "file.read",
                "inputs": { "paths": { "from": "paths", "mode": "each" } },
                "outputs": ["data"] },
              { "name": "m", "function": "fwd",
                "inputs": { "in": { "from": "s.out", "mode": "all" } },
                "outputs": ["out"] } ],
  "outputs": { "r": "m.out", "d": "rd.data" } }
JSON
}
