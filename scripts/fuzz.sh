#!/usr/bin/env bash
# Usage: scripts/fuzz.sh [DURATION]
#
# Runs every fuzz target of the module for DURATION each (default 60s), one
# after another, and prints each target's executions. `make test` runs the
# targets over their checked-in seeds only (testdata/fuzz/<Target>/); this
# searches beyond them. A failure leaves the failing input under testdata/fuzz,
# where the next `make test` replays it: check it in with the fix.
#
# Fuzzing needs no storage: targets that touch Azurite skip without it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
time=${1:-60s}

total=0
for pkg in $(go list ./...); do
	for target in $(go test -list '^Fuzz' "$pkg" | grep '^Fuzz' || true); do
		out=$(go test -run '^$' -fuzz "^${target}\$" -fuzztime "$time" -fuzzminimizetime 100x "$pkg" 2>&1) || {
			echo "$out"
			echo "fuzz: $pkg $target failed" >&2
			exit 1
		}
		# The last "fuzz: elapsed: …, execs: N (…/sec)" line has the total.
		execs=$(echo "$out" | sed -n 's/.*execs: \([0-9][0-9]*\) .*/\1/p' | tail -n 1)
		echo "$target ($pkg): ${execs:-0} executions in $time"
		total=$((total + ${execs:-0}))
	done
done
echo "fuzz: $total executions in all, no failure"
