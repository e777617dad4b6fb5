#!/usr/bin/env bats
# bus-rotate(8): sealing through busd, retention by age, size and count,
# --keep-cursors, dry runs, two runs at once, --status, and a reader that
# follows while segments are sealed and deleted.

load ops_helpers

# first_offset PARTITION, last_offset PARTITION
first_offset() {
	bus-sub --from beginning -n 1 -F '%o\n' "$1"
}
last_offset() {
	bus-sub --from -1 -e -F '%o\n' "$1"
}

# cursor NAME PARTITION NEXT: write a durable cursor by hand.
cursor() {
	mkdir -p "$BUS_DIR/cursors"
	printf 'bus-cursor 1\nrecv 0\n%s %s\n' "$2" "$3" >"$BUS_DIR/cursors/$1"
}

# seg_bytes PARTITION: bytes of its segment files.
seg_bytes() {
	cat $(seg_files "$1") | wc -c
}

@test "rotate: seals the active segments through busd, silently; patterns pick partitions" {
	start_busd
	pub_lines a 3 x
	pub_lines b 3 y
	[ "$(nsegs a)" -eq 1 ]
	run --separate-stderr bus-rotate
	[ "$status" -eq 0 ]
	[ "$output" = "" ]
	[ "$stderr" = "" ]
	[ "$(nsegs a)" -eq 2 ]
	[ "$(nsegs b)" -eq 2 ]
	# The new segment starts at the next offset and takes new messages.
	[ -e "$BUS_DIR/log/a/00000000000000000003.seg" ]
	pub_lines a 1 z
	pub_lines b 1 z
	run bus-rotate -v 'a'
	[ "$output" = "busd sealed 1 active segment(s)" ]
	[ "$(nsegs a)" -eq 3 ]
	[ "$(nsegs b)" -eq 2 ]
	run dump a
	[ "$output" = $'0||x line 0\n1||x line 1\n2||x line 2\n3||z line 0' ]
	# An empty active segment is not sealed again.
	run bus-rotate -v
	[ "$output" = "busd sealed 1 active segment(s)" ]
	[ "$(nsegs a)" -eq 3 ]
}

@test "rotate: without busd there is nothing to seal, and retention still works" {
	start_busd --segment-size 4096
	# 70-byte lines: several segments however bus-pub batches them.
	pub_lines a 200 xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx
	stop_busd
	n=$(nsegs a)
	run --separate-stderr bus-rotate
	[ "$status" -eq 0 ]
	[ "$output" = "" ]
	[ "$stderr" = "" ]
	[ "$(nsegs a)" -eq "$n" ]
	run bus-rotate -v --no-seal
	[ "$output" = "" ]
	run bus-rotate -v
	[ "$output" = "busd is not running: no active segment to seal" ]
	run bus-rotate --max-count 0
	[ "$status" -eq 0 ]
	[ "$(nsegs a)" -eq 1 ]
	[ "$(last_offset a)" -eq 199 ]
	[ "$(first_offset a)" -gt 0 ]
}

@test "rotate: --max-age deletes the sealed segments whose newest record is older" {
	start_busd
	pub_lines a 5 old
	bus-rotate
	t0=$(date +%s%N)
	wait_for '[ $(($(date +%s%N) - t0)) -gt 2000000000 ]'
	pub_lines a 5 new
	bus-rotate
	[ "$(nsegs a)" -eq 3 ]
	run bus-rotate -v --no-seal --max-age 1s
	[ "$status" -eq 0 ]
	[[ "${lines[0]}" =~ ^a\ 00000000000000000000\.seg:\ delete:\ newest\ record\ .*Z\ is\ older\ than\ --max-age$ ]]
	[[ "${lines[1]}" =~ ^a\ 00000000000000000005\.seg:\ keep:\ newest\ record\ .*Z\ is\ within\ --max-age$ ]]
	[ "${lines[2]}" = "a 00000000000000000010.seg: keep: active segment" ]
	[ "$(nsegs a)" -eq 2 ]
	run dump a
	[ "$output" = $'5||new line 0\n6||new line 1\n7||new line 2\n8||new line 3\n9||new line 4' ]
}

@test "rotate: --max-size deletes the oldest sealed segments until the partition is under" {
	# 300 lines of 70 bytes: over 16 KiB however bus-pub groups them
	# into batches (short lines read at once make one small batch).
	local x=xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx
	start_busd --segment-size 4096
	pub_lines a 300 "$x"
	bus-rotate
	[ "$(seg_bytes a)" -gt 16384 ]
	run bus-rotate --max-size 10K
	[ "$status" -eq 0 ]
	[ "$(seg_bytes a)" -le 10240 ]
	[ "$(seg_bytes a)" -gt 6144 ]
	# A prefix went: what is left runs without a hole to the end.
	dump a >"$BATS_TEST_TMPDIR/left"
	first=$(head -n 1 "$BATS_TEST_TMPDIR/left" | cut -d'|' -f1)
	[ "$first" -gt 0 ]
	[ "$(nlines "$BATS_TEST_TMPDIR/left")" -eq $((300 - first)) ]
	[ "$(tail -n 1 "$BATS_TEST_TMPDIR/left")" = "299||$x line 299" ]
}

@test "rotate: --max-count deletes the oldest sealed segments until the partition holds at most N" {
	# Lines of 70 bytes: several segments however bus-pub batches them.
	start_busd --segment-size 4096
	pub_lines a 300 xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx
	pub_lines b 300 y
	bus-rotate
	run bus-rotate --max-count 100 a
	[ "$status" -eq 0 ]
	n=$(dump a | wc -l)
	[ "$n" -le 100 ]
	[ "$n" -ge 40 ]
	[ "$(last_offset a)" -eq 299 ]
	[ "$(first_offset a)" -eq $((300 - n)) ]
	# b did not match the pattern.
	[ "$(dump b | wc -l)" -eq 300 ]
}

@test "rotate: --keep-cursors keeps what a cursor has not consumed; other partitions are not held" {
	start_busd --segment-size 4096
	# Lines of 100 bytes and more: a segment holds 40 at most, however
	# bus-pub's reads cut the input into blocks.
	pub_lines a 300 "$(printf 'x%.0s' {1..90})"
	pub_lines b 300 y
	bus-rotate
	cursor app a 150
	run bus-rotate -v --no-seal --max-count 0 --keep-cursors
	[ "$status" -eq 0 ]
	[[ "$output" == *"keep: cursor app has not consumed it (next offset 150)"* ]]
	# Everything from 150 on is still there, and less than before it.
	first=$(first_offset a)
	[ "$first" -le 150 ]
	[ "$first" -gt 50 ]
	[ "$(dump a | wc -l)" -eq $((300 - first)) ]
	# b is in no cursor: only its active segment is left.
	[ "$(nsegs b)" -eq 1 ]
	# Once the cursor moves on, so does retention.
	cursor app a 300
	bus-rotate --no-seal --max-count 0 --keep-cursors
	[ "$(nsegs a)" -eq 1 ]
}

@test "rotate: a damaged cursor holds everything under --keep-cursors, and says so (exit 65)" {
	start_busd --segment-size 4096
	pub_lines a 200 x
	bus-rotate
	mkdir -p "$BUS_DIR/cursors"
	echo garbage >"$BUS_DIR/cursors/broken"
	n=$(nsegs a)
	run --separate-stderr bus-rotate --no-seal --max-count 0 --keep-cursors
	[ "$status" -eq 65 ]
	[[ "$stderr" == *"cursors/broken: not a bus cursor"*"--keep-cursors keeps every sealed segment" ]]
	[ "$(nsegs a)" -eq "$n" ]
}

@test "rotate: -n changes nothing and lists each segment and why" {
	start_busd --segment-size 4096
	pub_lines a 200 x
	bus-rotate
	pub_lines a 1 y
	sum=$(store_sum)
	n=$(nsegs a)
	run --separate-stderr bus-rotate -n --max-count 50
	[ "$status" -eq 0 ]
	[ "$stderr" = "" ]
	[[ "${lines[0]}" == "would ask busd (pid $BUSD_PID) to seal the active segments" ]]
	[ "$(printf '%s\n' "$output" | grep -c '^a [0-9]\{20\}\.seg: ')" -eq "$n" ]
	[ "$(printf '%s\n' "$output" | grep -c ': would delete: partition holds [0-9]* records, over --max-count 50$')" -ge 1 ]
	[ "${lines[${#lines[@]} - 1]}" = "a $(basename "$(seg_files a | tail -n 1)"): keep: active segment" ]
	[ "$(store_sum)" = "$sum" ]
	[ ! -e "$BUS_DIR/log/a/.lock" ]
}

@test "rotate: two at once: the second waits, or with --no-wait skips the partition (exit 75)" {
	start_busd --segment-size 4096
	pub_lines a 100 x
	pub_lines b 100 y
	bus-rotate
	hold_lock a
	n=$(nsegs a)
	run --separate-stderr bus-rotate --no-seal --no-wait --max-count 0
	[ "$status" -eq 75 ]
	[[ "$stderr" == "bus-rotate: partition a: skipped: another bus-rotate or bus-compact holds "*"/log/a/.lock" ]]
	[ "$(nsegs a)" -eq "$n" ]
	[ "$(nsegs b)" -eq 1 ]
	bus-rotate --no-seal --max-count 0 a 3>&- &
	rpid=$!
	track_pid "$rpid"
	sleep 0.3
	if pid_gone "$rpid"; then false; fi
	[ "$(nsegs a)" -eq "$n" ]
	stop_pid "$HOLD_PID"
	wait_gone "$rpid"
	wait "$rpid"
	[ "$(nsegs a)" -eq 1 ]
}

@test "rotate: busd running but unreachable: retention is done, then exit 69" {
	start_busd --segment-size 4096
	pub_lines a 100 x
	stop_busd
	# A busd that holds its pidfile but does not listen.
	(exec 9<>"$BUS_DIR/busd.pid" && flock 9 && touch "$BATS_TEST_TMPDIR/held" &&
	    exec sleep 60) 3>&- &
	track_pid $!
	wait_for "[ -e '$BATS_TEST_TMPDIR/held' ]"
	run --separate-stderr bus-rotate --max-count 0
	[ "$status" -eq 69 ]
	[[ "$stderr" == "bus-rotate: cannot reach busd on $BUS_DIR/busd.sock: "* ]]
	[ "$(nsegs a)" -eq 1 ]
	run bus-rotate --no-seal
	[ "$status" -eq 0 ]
}

@test "rotate: --status prints per-partition figures, as text or JSON, with busd or without" {
	start_busd --segment-size 4096
	pub_lines a 100 x
	pub_kv b 10 2 r1
	run --separate-stderr bus-rotate --status
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "store $BUS_DIR" ]
	[[ "${lines[1]}" =~ ^busd\ pid\ $BUSD_PID,\ up\ [0-9]+s,\ [0-9]+\ client\(s\)\;\ received\ 110\ messages, ]]
	[[ "${lines[2]}" =~ ^busd\ partitions\ 2\ \(at\ most\ [0-9]+\),\ [0-9]+\ open ]]
	[[ "${lines[3]}" == "PARTITION "*"SEGMENTS"*"TOPICS" ]]
	[[ "${lines[4]}" =~ ^a\ +$(nsegs a)\ +$(seg_bytes a)\ +0\ +99\ +20[0-9-]+T[0-9:.]+Z\ +a$ ]]
	[[ "${lines[5]}" =~ ^b\ +1\ +[0-9]+\ +0\ +9\ +20.*Z\ +b$ ]]
	run bus-rotate --status -o json a
	[ "$status" -eq 0 ]
	[[ "$output" == "{\"store\":\"$BUS_DIR\",\"busd\":{\"running\":true,\"pid\":$BUSD_PID,\"uptime_s\":"*",\"messages\":110,"* ]]
	[[ "$output" == *"\"source\":\"files+busd\",\"partitions\":[{\"name\":\"a\",\"topics\":[\"a\"],\"segments\":$(nsegs a),\"bytes\":$(seg_bytes a),\"first_offset\":0,\"last_offset\":99,\"last_receive\":\"20"*"Z\",\"last_receive_ns\":"*"}]}" ]]
	if command -v jq >/dev/null; then
		printf '%s\n' "$output" | jq -e '.partitions | length == 1'
	fi
	stop_busd
	run bus-rotate --status
	[ "${lines[1]}" = "busd not running; figures from the files only" ]
	[[ "${lines[3]}" =~ ^a\ +$(nsegs a)\ +$(seg_bytes a)\ +0\ +99\  ]]
	run bus-rotate --status -o json b
	[[ "$output" == *'"busd":{"running":false},"source":"files","partitions":[{"name":"b",'* ]]
	run bus-rotate --status --max-age 1d
	[ "$status" -eq 64 ]
}

@test "rotate: a reader following while segments are sealed and deleted sees every record once" {
	start_busd --segment-size 4096
	out=$BATS_TEST_TMPDIR/out
	: >"$BATS_TEST_TMPDIR/truth"
	bus-sub --from beginning -F '%o|%k|%s\n' a >"$out" 2>"$out.err" 3>&- &
	track_pid $!
	for round in $(seq 1 8); do
		pub_lines a 60 "r$round"
		# Delete only what the reader has been given.
		wait_for "[ \$(nlines '$out') -eq $((round * 60)) ]"
		bus-rotate --max-count 60
	done
	[ "$(first_offset a)" -gt 0 ]
	for round in $(seq 1 8); do
		for ((i = 0; i < 60; i++)); do
			echo "$(((round - 1) * 60 + i))||r$round line $i"
		done
	done >"$BATS_TEST_TMPDIR/truth"
	diff "$BATS_TEST_TMPDIR/truth" "$out"
	# Started before a existed: said so once, nothing else.
	[ "$(grep -vx 'bus-sub: no partition matches a' "$out.err")" = "" ]
}

@test "rotate: usage errors exit 64, a missing store 66" {
	run bus-rotate --max-age soon
	[ "$status" -eq 64 ]
	run bus-rotate --max-size lots
	[ "$status" -eq 64 ]
	run bus-rotate --max-count -1
	[ "$status" -eq 64 ]
	run bus-rotate -o json
	[ "$status" -eq 64 ]
	run bus-rotate '('
	[ "$status" -eq 64 ]
	run --separate-stderr bus-rotate -d "$BATS_TEST_TMPDIR/none"
	[ "$status" -eq 66 ]
	[ "$stderr" = "bus-rotate: no bus store at $BATS_TEST_TMPDIR/none" ]
}
