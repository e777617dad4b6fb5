#!/usr/bin/env bats
# Many partitions: busd and bus-sub with far more partitions than open
# files, --max-partitions, and a partition that cannot be created.  The
# store is a thousand partitions under a small `ulimit -n` (more than
# 20,000 under 1024 would be; tests/bench/partitions.sh measures that).

load helpers

# N partitions t00001 ... under a limit of FDS open files.
N=${BUS_TEST_PARTITIONS:-1000}
FDS=128

# fds PID: the number of open files of PID.
fds() {
	ls "/proc/$1/fd" | wc -l
}

@test "busd serves thousands of partitions in $FDS open files, and starts again on them" {
	(ulimit -n "$FDS" && start_busd) 3>&-
	pid=$(busd_pid)
	seq -f 't%05g x' 1 "$N" | bus-pub --topic-regex '^(t\d+) '
	if pid_gone "$pid"; then false; fi
	[ "$(partitions | wc -l)" -eq "$N" ]
	[ "$(fds "$pid")" -le "$FDS" ]
	run busd --status
	[ "$status" -eq 0 ]
	[[ "$output" == *"busd partitions $N (at most 100000)"* ]]
	open=$(sed -n 's/.*), \([0-9]*\) open (at most \([0-9]*\), for '"$FDS"' open files).*/\1 \2/p' <<<"$output")
	[ -n "$open" ]
	set -- $open
	[ "$1" -le "$2" ]
	# Read all of it back in as few files.
	(ulimit -n "$FDS" && bus-sub --from beginning -e '.*') >"$BATS_TEST_TMPDIR/all"
	[ "$(nlines "$BATS_TEST_TMPDIR/all")" -eq "$N" ]
	seq -f 't%05g x' 1 "$N" | cmp - <(LC_ALL=C sort "$BATS_TEST_TMPDIR/all")
	# Every later start works, and each partition goes on where it was.
	stop_busd
	(ulimit -n "$FDS" && start_busd) 3>&-
	printf 't00001 y\nt%05d y\n' "$N" | bus-pub --topic-regex '^(t\d+) '
	last=$(printf 't%05d' "$N")
	run bus-sub --from beginning -e -F '%o %s\n' "t00001|$last"
	[ "$status" -eq 0 ]
	[ "${lines[*]}" = "0 t00001 x 0 $last x 1 t00001 y 1 $last y" ]
}

@test "bus-sub follows thousands of partitions in 64 open files" {
	start_busd
	seq -f 't%05g x' 1 "$N" | bus-pub --topic-regex '^(t\d+) '
	out=$BATS_TEST_TMPDIR/follow
	(ulimit -n 64 && exec bus-sub '.*') >"$out" 2>&1 3>&- &
	sub=$!
	track_pid "$sub"
	wait_idle "$sub"
	for t in t00007 "$(printf 't%05d' "$N")" t00500; do
		echo "$t new" | bus-pub --topic-regex '^(t\d+) '
		wait_for "grep -q '^$t new$' '$out'"
	done
	if pid_gone "$sub"; then false; fi
	[ "$(fds "$sub")" -le 64 ]
	# A new partition is followed too.
	echo "fresh new" | bus-pub --topic-regex '^(\w+) '
	wait_for "grep -q '^fresh new$' '$out'"
	[ "$(nlines "$out")" -eq 4 ]
}

@test "--max-partitions refuses a new partition, busd serves on" {
	start_busd_fg "$BATS_TEST_TMPDIR/log" --max-partitions 3
	printf 'a 1\nb 1\nc 1\n' | bus-pub --topic-regex '^(\w) '
	run -75 bus-pub -t d new
	[[ "$output" == *"topic d: partition d refused"*"--max-partitions"* ]]
	grep -q 'ERROR topic d: partition d refused' "$BATS_TEST_TMPDIR/log"
	if pid_gone "$BUSD_PID"; then false; fi
	echo 2 | bus-pub -t a
	[ ! -e "$BUS_DIR/log/d" ]
	run busd --status
	[[ "$output" == *"busd partitions 3 (at most 3)"* ]]
}

@test "--max-partitions takes a positive number" {
	run -64 busd --max-partitions 0
	[[ "$output" == *"--max-partitions: '0' is too small"* ]]
	run -64 busd --max-partitions lots
	[[ "$output" == *"--max-partitions: 'lots' is invalid"* ]]
	run -0 busd -h
	[[ "$output" == *"[--max-partitions n]"* ]]
}

@test "a partition that cannot be created gets an ERROR, busd serves on" {
	start_busd_fg "$BATS_TEST_TMPDIR/log"
	mkdir -p "$BUS_DIR/log"
	touch "$BUS_DIR/log/blocked"
	run -74 bus-pub -t blocked one
	[[ "$output" == *"topic blocked: cannot create partition blocked: Not a directory"* ]]
	grep -q 'ERROR topic blocked: cannot create partition blocked: Not a directory' \
	    "$BATS_TEST_TMPDIR/log"
	if pid_gone "$BUSD_PID"; then false; fi
	echo fine | bus-pub -t other
	run bus-sub --from beginning -e other
	[ "$output" = fine ]
	# Once the way is clear, the topic gets its partition.
	rm "$BUS_DIR/log/blocked"
	echo two | bus-pub -t blocked
	run bus-sub --from beginning -e blocked
	[ "$output" = two ]
}
