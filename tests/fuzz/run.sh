#!/bin/sh
# Run each fuzz target for SECONDS on a copy of its seed corpus (the
# committed corpus never grows).  One line per target:
#   ok fuzz TARGET: N runs      or      not ok fuzz TARGET: ...
# A crash leaves its input and the log in a kept directory, named.
# usage: sh tests/fuzz/run.sh SECONDS TARGET...
cd "$(dirname "$0")/../.." || exit 1
secs=$1
shift
fail=0
for t in "$@"; do
	work=$(mktemp -d "${TMPDIR:-/tmp}/bus-$t.XXXXXX") || exit 1
	mkdir "$work/corpus"
	cp tests/fuzz/corpus/"$t"/* "$work/corpus/" 2>/dev/null
	# -timeout: a single input taking this long is a failure too.
	"./tests/fuzz/$t" -max_total_time="$secs" -timeout=10 \
	    -print_final_stats=1 -artifact_prefix="$work/" \
	    "$work/corpus" >"$work/log" 2>&1
	rc=$?
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log")
	if [ "$rc" -eq 0 ] && [ -n "$runs" ]; then
		echo "ok fuzz $t: $runs runs"
		rm -rf "$work"
		continue
	fi
	fail=1
	grep -E 'ERROR|runtime error|SUMMARY|^ *#[0-9]+ ' "$work/log" | head -n 30
	for a in "$work"/crash-* "$work"/timeout-* "$work"/leak-* "$work"/oom-*; do
		[ -f "$a" ] || continue
		echo "input $a:"
		od -An -tx1 -v "$a" | head -n 20
	done
	echo "not ok fuzz $t: exit $rc after ${runs:-?} runs (log $work/log)"
done
exit "$fail"
