#!/usr/bin/env bats
# bus-compact(8): the newest record per key at its offset, tombstones,
# merging, dry runs, locking, damaged data, crashes at any instant, and
# readers that follow while it runs.

load ops_helpers

@test "compact: a key-value topic keeps the newest value of each key, at its offset" {
	start_busd --segment-size 4096
	pub_kv kv 300 10 r1
	pub_lines kv 5 plain
	pub_kv kv 100 10 r2
	bus-rotate
	dump kv >"$BATS_TEST_TMPDIR/before"
	[ "$(nlines "$BATS_TEST_TMPDIR/before")" -eq 405 ]
	[ "$(nsegs kv)" -gt 2 ]	# records of format 2 are small: ~30 bytes each
	run --separate-stderr bus-compact kv
	[ "$status" -eq 0 ]
	[ "$output" = "" ]
	[ "$stderr" = "" ]
	dump kv >"$BATS_TEST_TMPDIR/after"
	newest_per_key "$BATS_TEST_TMPDIR/before" >"$BATS_TEST_TMPDIR/want"
	diff "$BATS_TEST_TMPDIR/want" "$BATS_TEST_TMPDIR/after"
	# 10 keys from the second round, 5 lines without a key.
	[ "$(nlines "$BATS_TEST_TMPDIR/after")" -eq 15 ]
	[ "$(grep -c ' r2 i' "$BATS_TEST_TMPDIR/after")" -eq 10 ]
	[ "$(grep -c '^[0-9]*||plain line' "$BATS_TEST_TMPDIR/after")" -eq 5 ]
	[ -z "$(leftovers kv)" ]
	# Reading from a compacted-away offset continues at the next one.
	run bus-sub --from 1 -n 1 -F '%o\n' kv
	[ "$output" = "$(awk -F'|' '$1 >= 1 { print $1; exit }' "$BATS_TEST_TMPDIR/after")" ]
	# New messages go on at the next offset.
	bus-pub --no-autostart -t kv -k k1 "after"
	run bus-sub --from -1 -e -F '%o|%k|%s\n' kv
	[ "$output" = "405|k1|after" ]
}

@test "compact: small sealed segments are merged up to --segment-size; a second run is a no-op" {
	# Lines of 130 bytes: 52 KB, many 4 KiB segments however bus-pub
	# batches them (lines read at once are one batch).
	local x
	x=$(printf 'x%.0s' {1..118})
	start_busd --segment-size 4096
	pub_lines logs 400 "$x"
	bus-rotate
	n0=$(nsegs logs)
	dump logs >"$BATS_TEST_TMPDIR/before"
	run bus-compact --segment-size 16K logs
	[ "$status" -eq 0 ]
	n1=$(nsegs logs)
	[ "$n1" -lt "$n0" ]
	[ "$n1" -ge 3 ]
	# Every sealed segment but one fits: nothing is bigger than 16 KiB.
	for f in $(seg_files logs); do
		[ "$(stat -c %s "$f")" -le 16384 ]
	done
	dump logs >"$BATS_TEST_TMPDIR/after"
	diff "$BATS_TEST_TMPDIR/before" "$BATS_TEST_TMPDIR/after"
	# Index entries of merged segments lead to the right records.
	run bus-sub --from 333 -n 1 -F '%o|%s\n' logs
	[ "$output" = "333|$x line 333" ]
	sum=$(store_sum)
	run bus-compact -v --segment-size 16K logs
	[ "$status" -eq 0 ]
	[[ "$output" == "logs: nothing to compact ("*")" ]]
	[ "$(store_sum)" = "$sum" ]
}

@test "compact: a tombstone removes its key, and goes itself after --tombstone-age" {
	bus-pub --help 2>&1 | grep -q -- --tombstone ||
	    skip "bus-pub has no --tombstone yet"
	start_busd
	bus-pub --no-autostart -t kv -k a "A1"
	bus-pub --no-autostart -t kv -k b "B1"
	bus-pub --no-autostart -t kv -k a "A2"
	bus-pub --no-autostart -t kv -k a --tombstone
	bus-pub --no-autostart -t kv -k c "C1"
	bus-pub --no-autostart -t kv -k c --tombstone
	bus-pub --no-autostart -t kv -k c "C2"
	bus-rotate
	bus-compact kv
	run dump kv
	[ "$output" = $'1|b|B1\n3|a|\n6|c|C2' ]
	run bus-sub --from 3 -n 1 -o json kv
	[[ "$output" == *'"offset":3,'*'"tombstone":true'* ]]
	# Younger than an hour: kept.
	bus-compact --tombstone-age 1h kv
	run dump kv
	[ "$output" = $'1|b|B1\n3|a|\n6|c|C2' ]
	bus-compact --tombstone-age 0s kv
	run dump kv
	[ "$output" = $'1|b|B1\n6|c|C2' ]
}

@test "compact: -n changes nothing and says what it would reclaim; -v reports before and after" {
	start_busd --segment-size 4096
	pub_kv kv 200 5 r1
	bus-rotate
	n=$(($(nsegs kv) - 1))
	sum=$(store_sum)
	run --separate-stderr bus-compact -n kv
	[ "$status" -eq 0 ]
	[[ "$output" =~ ^kv:\ would\ reclaim\ [0-9]+\ bytes:\ $n\ sealed\ segments,\ 200\ records,\ [0-9]+\ bytes\ -\>\ 1\ segments,\ 5\ records,\ [0-9]+\ bytes$ ]]
	[ "$stderr" = "" ]
	[ "$(store_sum)" = "$sum" ]
	[ ! -e "$BUS_DIR/log/kv/.lock" ]
	run bus-compact -v kv
	[ "$status" -eq 0 ]
	[[ "$output" =~ ^kv:\ $n\ sealed\ segments,\ 200\ records,\ [0-9]+\ bytes\ -\>\ 1\ segments,\ 5\ records,\ [0-9]+\ bytes$ ]]
	[ "$(nsegs kv)" -eq 2 ]
	run bus-compact -n kv
	[[ "$output" == "kv: nothing to reclaim (1 sealed segments, 5 records, "*" bytes)" ]]
}

@test "compact: kill -9 at random instants, 20 rounds: the store always reads back consistently" {
	start_busd --segment-size 4096
	pad=$(printf '%0100d' 0)
	truth=$BATS_TEST_TMPDIR/truth
	: >"$truth"
	next=0
	# One uninterrupted run first, to learn how long one takes here.
	pub_kv kv 300 120 "r0 $pad"
	bus-rotate
	dump kv "$next" >>"$truth"
	next=$(($(tail -n 1 "$truth" | cut -d'|' -f1) + 1))
	t0=$(date +%s%N)
	bus-compact --segment-size 8K kv
	span=$((($(date +%s%N) - t0) / 1000000 + 5))
	killed=0
	for round in $(seq 1 20); do
		pub_kv kv 150 120 "r$round $pad"
		# bus-rotate finishes what the last kill left, too.
		bus-rotate 2>>"$BATS_TEST_TMPDIR/log"
		dump kv "$next" >>"$truth"
		next=$(($(tail -n 1 "$truth" | cut -d'|' -f1) + 1))
		bus-compact --segment-size 8K kv 2>>"$BATS_TEST_TMPDIR/log" 3>&- &
		cpid=$!
		ms=$((RANDOM % span))
		sleep "$((ms / 1000)).$(printf '%03d' $((ms % 1000)))"
		kill -KILL "$cpid" 2>/dev/null || true
		# Keep the instants within a run: shorter after a run that
		# finished first, longer after one that was killed.
		if wait "$cpid"; then
			span=$((span * 3 / 4 + 2))
		else
			span=$((span * 5 / 4 + 1))
			killed=$((killed + 1))
		fi
		dump kv >"$BATS_TEST_TMPDIR/now"
		consistent "$truth" "$BATS_TEST_TMPDIR/now" ||
		    { echo "round $round, killed after $ms ms"; ls -l "$BUS_DIR/log/kv"; false; }
	done
	# What was left behind is recovered and the result is exact.
	bus-compact --segment-size 8K kv 2>>"$BATS_TEST_TMPDIR/log"
	echo "# $killed runs killed midway, $(grep -c 'rewrite' "$BATS_TEST_TMPDIR/log") leftovers recovered" >&3
	[ -z "$(leftovers kv)" ]
	dump kv >"$BATS_TEST_TMPDIR/final"
	newest_per_key "$truth" >"$BATS_TEST_TMPDIR/want"
	diff "$BATS_TEST_TMPDIR/want" "$BATS_TEST_TMPDIR/final"
	[ "$(nlines "$BATS_TEST_TMPDIR/final")" -eq 120 ]
}

@test "compact: an unfinished rewrite is rolled back, a committed one completed, by either tool" {
	start_busd --segment-size 4096
	pub_kv kv 300 10 r1
	bus-rotate
	stop_busd
	d=$BUS_DIR/log/kv
	dump kv >"$BATS_TEST_TMPDIR/before"
	sealed=$(ls "$d" | grep '\.seg$' | sed '$d')
	first=$(echo "$sealed" | head -n 1)
	base=${first%.seg}
	# The result of a real compaction, made on a copy of the store.
	cp -a "$BUS_DIR" "$BATS_TEST_TMPDIR/copy"
	bus-compact -d "$BATS_TEST_TMPDIR/copy" kv
	compacted=$BATS_TEST_TMPDIR/copy/log/kv/$first
	segsum() { (cd "$d" && cat $(ls | grep -E '^[0-9]{20}\.(seg|idx)$') | sha256sum); }
	orig=$(segsum)

	# Killed before the commit point: .cleaned files and the list.
	cp "$compacted" "$d/$base.seg.cleaned"
	printf 'bus-merged 1\n' >"$d/$base.merged"
	echo "$sealed" | sed '1d; s/\.seg$//' >>"$d/$base.merged"
	run bus-compact -n kv
	[[ "$output" == "kv: would first finish an interrupted compaction"* ]]
	run --separate-stderr bus-rotate --no-seal
	[ "$status" -eq 0 ]
	[[ "$stderr" == *"partition kv: rolled back an unfinished rewrite of $first"* ]]
	[ -z "$(leftovers kv)" ]
	[ "$(segsum)" = "$orig" ]

	# Killed after it: the .swap and the list are there.
	cp "$compacted" "$d/$base.seg.swap"
	printf 'bus-merged 1\n' >"$d/$base.merged"
	echo "$sealed" | sed '1d; s/\.seg$//' >>"$d/$base.merged"
	run --separate-stderr bus-compact -v kv
	[ "$status" -eq 0 ]
	[[ "$stderr" == *"partition kv: completed an interrupted rewrite of $first"* ]]
	[ -z "$(leftovers kv)" ]
	[ "$(nsegs kv)" -eq 2 ]
	cmp "$compacted" "$d/$first"
	dump kv >"$BATS_TEST_TMPDIR/after"
	newest_per_key "$BATS_TEST_TMPDIR/before" >"$BATS_TEST_TMPDIR/want"
	diff "$BATS_TEST_TMPDIR/want" "$BATS_TEST_TMPDIR/after"
}

@test "compact: a locked partition is waited for, or skipped with --no-wait (exit 75)" {
	start_busd --segment-size 4096
	pub_kv kv 100 5 r1
	pub_kv other 100 5 r1
	bus-rotate
	hold_lock kv
	n=$(nsegs kv)
	run --separate-stderr bus-compact --no-wait
	[ "$status" -eq 75 ]
	[[ "$stderr" == "bus-compact: partition kv: skipped: another bus-rotate or bus-compact holds "*"/log/kv/.lock" ]]
	[ "$(nsegs kv)" -eq "$n" ]
	[ "$(nsegs other)" -eq 2 ]
	bus-compact kv 3>&- &
	cpid=$!
	track_pid "$cpid"
	sleep 0.3
	if pid_gone "$cpid"; then false; fi
	[ "$(nsegs kv)" -eq "$n" ]
	stop_pid "$HOLD_PID"
	wait_gone "$cpid"
	wait "$cpid"
	[ "$(nsegs kv)" -eq 2 ]
}

@test "compact: a damaged sealed segment stops it with exit 65, naming file and offset, changing nothing" {
	start_busd --segment-size 4096
	pub_kv kv 200 5 r1
	bus-rotate
	stop_busd
	second=$(seg_files kv | sed -n 2p)
	printf 'X' | dd of="$second" bs=1 seek=200 conv=notrunc 2>/dev/null
	before=$(cat $(seg_files kv) | sha256sum)
	run --separate-stderr bus-compact kv
	[ "$status" -eq 65 ]
	[[ "$stderr" =~ ^bus-compact:\ partition\ kv:\ file\ $(basename "$second"):\ byte\ offset\ [0-9]+:\ .*\;\ partition\ not\ compacted$ ]]
	[ "$(cat $(seg_files kv) | sha256sum)" = "$before" ]
	[ -z "$(leftovers kv)" ]
}

@test "compact: a reader following at the end sees every record once while compaction and retention run" {
	start_busd --segment-size 4096
	out=$BATS_TEST_TMPDIR/out
	truth=$BATS_TEST_TMPDIR/truth
	: >"$truth"
	bus-sub --from beginning -F '%o|%k|%s\n' kv >"$out" 2>"$out.err" 3>&- &
	track_pid $!
	next=0
	for round in $(seq 1 8); do
		pub_kv kv 100 10 "r$round"
		dump kv "$next" >>"$truth"
		next=$(($(tail -n 1 "$truth" | cut -d'|' -f1) + 1))
		bus-rotate --max-count 300
		bus-compact --segment-size 16K kv
	done
	bus-pub --no-autostart -t kv -k end END
	wait_for "grep -q '|end|END$' '$out'" 10
	echo "$next|end|END" >>"$truth"
	consistent "$truth" "$out"
	# Started before kv existed: said so once, nothing else.
	[ "$(grep -vx 'bus-sub: no partition matches kv' "$out.err")" = "" ]
	[ "$(nlines "$out")" -ge 11 ]
}

@test "compact: a reader paused in the middle of history while segments are merged gets every surviving record" {
	start_busd --segment-size 4096
	pub_kv kv 3000 100 "r1 $(printf '%0200d' 0)"
	bus-rotate
	dump kv >"$BATS_TEST_TMPDIR/truth"
	mkfifo "$BATS_TEST_TMPDIR/fifo"
	bus-sub --from beginning -F '%o|%k|%s\n' kv >"$BATS_TEST_TMPDIR/fifo" 3>&- &
	track_pid $!
	exec 4<"$BATS_TEST_TMPDIR/fifo"
	out=$BATS_TEST_TMPDIR/out
	# bus-sub fills the pipe and waits, somewhere in the middle.
	for i in $(seq 1 50); do
		read -r line <&4
		echo "$line" >>"$out"
	done
	bus-compact --segment-size 64K kv
	[ "$(nsegs kv)" -eq 2 ]
	bus-pub --no-autostart -t kv -k end END
	while read -r -t 10 line <&4; do
		echo "$line" >>"$out"
		[ "$line" = "3000|end|END" ] && break
	done
	exec 4<&-
	echo "3000|end|END" >>"$BATS_TEST_TMPDIR/truth"
	consistent "$BATS_TEST_TMPDIR/truth" "$out"
	# The reader was in the middle: it got some superseded records...
	[ "$(nlines "$out")" -gt 200 ]
	# ...and every record that survived.
	dump kv >"$BATS_TEST_TMPDIR/final"
	[ -z "$(cut -d'|' -f1 "$BATS_TEST_TMPDIR/final" | sort |
	    comm -13 <(cut -d'|' -f1 "$out" | sort) -)" ]
}

@test "compact: usage errors exit 64, a missing store 66" {
	run bus-compact --segment-size 1k
	[ "$status" -eq 64 ]
	run bus-compact --tombstone-age soon
	[ "$status" -eq 64 ]
	run bus-compact '('
	[ "$status" -eq 64 ]
	run bus-compact --bogus
	[ "$status" -eq 64 ]
	run --separate-stderr bus-compact -d "$BATS_TEST_TMPDIR/none"
	[ "$status" -eq 66 ]
	[ "$stderr" = "bus-compact: no bus store at $BATS_TEST_TMPDIR/none" ]
}
