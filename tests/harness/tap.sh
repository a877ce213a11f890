# SPDX-License-Identifier: MIT
# TAP 13 output for shell tests, in the same shape as the C harness.
#
#	. "$(dirname "$0")/../harness/tap.sh"
#	t_plan 3
#	t_check "pith_prints_version" ./build/pith --version
#	if [ -e x ]; then t_ok "x_created"; else t_fail "x_created" "no x"; fi
#	t_skip "needs_kmod" "/dev/pith_xfer missing"
#	t_done
#
# t_skip_all REASON skips the whole script (missing feature or privilege);
# t_bail REASON ends it as failed (a fixture it needs did not start).
# t_done prints the "# Totals:" line and exits 0 when nothing failed and the
# plan was met, 1 otherwise. Works in bash and POSIX sh.

_t_n=0
_t_pass=0
_t_fail=0
_t_skip=0
_t_plan=

t_plan() {
	_t_plan=$1
	echo "TAP version 13"
	echo "1..$1"
}

t_ok() {
	_t_n=$((_t_n + 1))
	_t_pass=$((_t_pass + 1))
	echo "ok $_t_n $1"
}

# t_fail NAME WHY
t_fail() {
	_t_n=$((_t_n + 1))
	_t_fail=$((_t_fail + 1))
	printf '%s\n' "$2" | while IFS= read -r _t_line; do
		printf '# %s: %s\n' "$1" "$_t_line"
	done
	echo "not ok $_t_n $1"
}

# t_skip NAME REASON
t_skip() {
	_t_n=$((_t_n + 1))
	_t_skip=$((_t_skip + 1))
	echo "ok $_t_n $1 # SKIP $2"
}

# t_check NAME CMD...: passes when CMD exits 0; its output is shown only
# when it fails.
t_check() {
	_t_name=$1
	shift
	if _t_out=$("$@" 2>&1 </dev/null); then
		t_ok "$_t_name"
	else
		_t_rc=$?
		[ -n "$_t_out" ] && printf '%s\n' "$_t_out" | sed 's/^/# /'
		t_fail "$_t_name" "exit $_t_rc: $*"
	fi
}

t_done() {
	if [ -n "$_t_plan" ] && [ "$_t_plan" -ne "$_t_n" ]; then
		echo "# Planned tests != run tests ($_t_plan != $_t_n)"
		_t_fail=$((_t_fail + 1))
	fi
	if [ "$_t_fail" -eq 0 ]; then
		echo "# PASSED: $((_t_pass + _t_skip)) / $_t_n tests passed."
	else
		echo "# FAILED: $((_t_pass + _t_skip)) / $_t_n tests passed."
	fi
	echo "# Totals: pass:$_t_pass fail:$_t_fail xfail:0 xpass:0 skip:$_t_skip error:0"
	[ "$_t_fail" -eq 0 ] && exit 0
	exit 1
}

# t_skip_all REASON: nothing can run here; counts as one skip.
t_skip_all() {
	echo "TAP version 13"
	echo "1..0 # SKIP $1"
	echo "# Totals: pass:0 fail:0 xfail:0 xpass:0 skip:1 error:0"
	exit 0
}

# t_bail REASON: the test cannot go on (its fixture failed); counts as one
# failure, never as a skip.
t_bail() {
	echo "Bail out! $1"
	echo "# Totals: pass:$_t_pass fail:$_t_fail xfail:0 xpass:0 skip:$_t_skip error:1"
	exit 1
}
