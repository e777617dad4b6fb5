#!/bin/sh
# The whole suite: C unit tests of libbus, then the command-line tests.
# Prints one closing line "N passed, M failed" over everything.
cd "$(dirname "$0")/.." || exit 1
pass=0
fail=0
for t in tests/unit/test_*; do
	case "$t" in *.c|*.h|*.o) continue ;; esac
	[ -x "$t" ] || continue
	out=$("./$t" 2>&1)
	rc=$?
	line=$(printf '%s\n' "$out" | grep -E '^[0-9]+ passed, [0-9]+ failed' | tail -n 1)
	p=$(printf '%s' "$line" | sed -E 's/^([0-9]+) passed.*/\1/')
	f=$(printf '%s' "$line" | sed -E 's/^[0-9]+ passed, ([0-9]+) failed.*/\1/')
	[ -n "$p" ] || p=0
	[ -n "$f" ] || f=1
	[ "$rc" -ne 0 ] && [ "$f" -eq 0 ] && f=1
	echo "unit: $t: $p passed, $f failed"
	[ "$f" -ne 0 ] && printf '%s\n' "$out" | tail -n 30
	pass=$((pass + p))
	fail=$((fail + f))
done
tap=$(mktemp)
bats --tap tests/*.bats | tee "$tap"
bp=$(grep -c '^ok ' "$tap")
bf=$(grep -c '^not ok ' "$tap")
rm -f "$tap"
pass=$((pass + bp))
fail=$((fail + bf))
# The installed library: make install into a temp dir, used through
# pkg-config as a program outside this tree would.
inst=$(mktemp)
sh tests/install.sh >"$inst" 2>&1
irc=$?
cat "$inst"
ipass=$(grep -c '^ok ' "$inst")
ifail=$(grep -c '^not ok ' "$inst")
if [ "$irc" -ne 0 ] && [ "$ifail" -eq 0 ]; then
	echo "not ok install: tests/install.sh exited $irc"
	ifail=1
fi
rm -f "$inst"
pass=$((pass + ipass))
fail=$((fail + ifail))
if command -v mandoc >/dev/null 2>&1; then
	if lint=$(mandoc -Tlint -W warning man/* 2>&1) && [ -z "$lint" ]; then
		echo "ok man pages clean under mandoc -Tlint"
		pass=$((pass + 1))
	else
		printf '%s\n' "$lint"
		echo "not ok man pages: mandoc -Tlint warnings"
		fail=$((fail + 1))
	fi
fi
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
