# SPDX-License-Identifier: MIT
# Where a shell test finds things, sourced by bash tests after tap.sh:
# root is the repository, B the build directory made absolute (make check
# passes B=build; a test run by hand from anywhere gets the same).
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
B=${B:-build}
case $B in /*) ;; *) B=$root/$B ;; esac
