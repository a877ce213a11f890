# SPDX-License-Identifier: MIT
# Job files for shell tests, sourced by bash tests:
# t_each_job FILE NAME BINARY TIMEOUT DATA... writes FILE, a job NAME of one
# "each" stage of BINARY (its timeout TIMEOUT) over one inline item per DATA
# (i0, i1, ...), its output set the job's output "r".
t_each_job() {
	local f=$1 name=$2 bin=$3 to=$4 items= i=0
	shift 4
	for d in "$@"; do
		items="$items${items:+, }{ \"name\": \"i$i\", \"data\": \"$d\" }"
		i=$((i + 1))
	done
	cat >"$f" <<JSON
{ "version": 1, "name": "$name",
  "functions": { "f": { "binary": "$bin", "timeout": "$to" } },
  "inputs": { "x": [ $items ] },
  "stages": [ { "name": "s", "function": "f",
                "inputs": { "in": { "from": "x", "mode": "each" } },
                "outputs": ["out"] } ],
  "outputs": { "r": "s.out" } }
JSON
}
