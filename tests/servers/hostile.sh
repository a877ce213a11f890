# SPDX-License-Identifier: MIT
# tests/servers/hostile.py for bash tests, sourced:
#
#	. "$root/tests/servers/hostile.sh"
#	hostile_start "$tmp" || ...   # sets hostile_pid and hostile_port
#	hostile_stop                  # kills it and waits (also fine in a trap)
#
# hostile_start returns 1 when the server printed no port within 5 s.

hostile_pid=
hostile_port=
_hostile_py=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/hostile.py

# hostile_start DIR: DIR keeps the port file.
hostile_start() {
	python3 "$_hostile_py" >"$1/hostile.port" 2>/dev/null &
	hostile_pid=$!
	for _ in $(seq 100); do
		[ -s "$1/hostile.port" ] && break
		sleep 0.05
	done
	hostile_port=$(cat "$1/hostile.port")
	[ -n "$hostile_port" ]
}

hostile_stop() {
	[ -n "$hostile_pid" ] || return 0
	kill "$hostile_pid" 2>/dev/null
	wait "$hostile_pid" 2>/dev/null
	hostile_pid=
}
