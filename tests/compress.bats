#!/usr/bin/env bats
# bus-rotate --compress: sealed segments rewritten with compressed batches
# read back exactly as before, from any position, by followers too;
# compaction, retention and busd --verify across them; crashes of the
# compressing tool at any instant; bad input.

load ops_helpers

GEN=$BUS_ROOT/tests/bench/accesslog

setup_file() {
	make -s -C "$BUS_ROOT" tests/bench/accesslog >&2
}

# full PARTITION [FROM]: every field bus-sub shows of every record.
full() {
	bus-sub --from "${2:-beginning}" -e \
	    -F '%o|%T|%u|%e|%t|%k|%h|%S|%s\n' "$1"
}

# segbytes PARTITION: bytes of its segment files.
segbytes() {
	cat $(seg_files "$1") | wc -c
}

# codec_of FILE: the codec bits of the first batch of a segment file
# (bus-segment(5): the batch at byte 32, its attributes at byte 9).
codec_of() {
	od -An -tu1 -j 41 -N 1 "$1" | awk '{ print $1 % 8 }'
}

# sealed PARTITION: the sealed segment files (all but the newest).
sealed() {
	seg_files "$1" | sed '$d'
}

# accesslog_store N SEGSIZE: N lines of access log in web.access, sealed.
accesslog_store() {
	start_busd --segment-size "$2"
	"$GEN" -n "$1" >"$BATS_TEST_TMPDIR/log"
	bus-pub --no-autostart -t web.access <"$BATS_TEST_TMPDIR/log"
	bus-rotate
}

@test "compress: an access log takes at most a fifth of its size, reads back identically field by field, and a second run changes nothing" {
	accesslog_store 20000 1M
	full web.access >"$BATS_TEST_TMPDIR/before"
	[ "$(nlines "$BATS_TEST_TMPDIR/before")" -eq 20000 ]
	in=$(wc -c <"$BATS_TEST_TMPDIR/log")
	[ "$(sealed web.access | wc -l)" -ge 3 ]
	for f in $(sealed web.access); do
		[ "$(codec_of "$f")" -eq 0 ]
	done
	run --separate-stderr bus-rotate --no-seal --compress web.access
	[ "$status" -eq 0 ]
	[ "$output" = "" ]
	[ "$stderr" = "" ]
	for f in $(sealed web.access); do
		[ "$(codec_of "$f")" -eq 1 ]
	done
	[ -z "$(leftovers web.access)" ]
	after=$(segbytes web.access)
	echo "# input $in bytes, compressed $after bytes" >&3
	[ "$((after * 5))" -le "$in" ]
	full web.access >"$BATS_TEST_TMPDIR/after"
	cmp "$BATS_TEST_TMPDIR/before" "$BATS_TEST_TMPDIR/after"
	# Raw output is the log itself.
	bus-sub --from beginning -e web.access | cmp - "$BATS_TEST_TMPDIR/log"
	sum=$(store_sum)
	run bus-rotate --no-seal --compress -v web.access
	[ "$status" -eq 0 ]
	[ "$output" = "" ]
	[ "$(store_sum)" = "$sum" ]
	# busd restarted on a store whose newest records are compressed goes
	# on at the next offset, with a later receive time.
	stop_busd
	start_busd --segment-size 1M
	bus-pub --no-autostart -t web.access "after"
	run bus-sub --from -2 -e -F '%o %T %s\n' web.access
	[ "${#lines[@]}" -eq 2 ]
	[ "${lines[1]%% *}" = 20000 ]
	[ "${lines[1]##* }" = after ]
	t1=$(echo "${lines[0]}" | cut -d' ' -f2)
	t2=$(echo "${lines[1]}" | cut -d' ' -f2)
	[[ "$t2" > "$t1" ]]
}

@test "compress: lz4 and levels; -n lists what it would do and changes nothing; -v reports sizes" {
	accesslog_store 5000 256K
	full web.access >"$BATS_TEST_TMPDIR/before"
	sum=$(store_sum)
	n=$(sealed web.access | wc -l)
	run bus-rotate -n --no-seal --compress=lz4 web.access
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | grep -c 'would compress .* with lz4$')" -eq "$n" ]
	[ "$(store_sum)" = "$sum" ]
	run bus-rotate -v --no-seal --compress=lz4 --compress-level 9 web.access
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | grep -Ec '^web.access: compressed [0-9]{20}\.seg with lz4: [0-9]+ records, [0-9]+ -> [0-9]+ bytes$')" -eq "$n" ]
	for f in $(sealed web.access); do
		[ "$(codec_of "$f")" -eq 2 ]
	done
	full web.access | cmp - "$BATS_TEST_TMPDIR/before"
	# Already compressed, with either codec: left alone.
	sum=$(store_sum)
	bus-rotate --no-seal --compress=zstd web.access
	[ "$(store_sum)" = "$sum" ]
}

@test "compress: seeking by offset and by time into compressed segments finds the same records" {
	accesslog_store 8000 256K
	full web.access >"$BATS_TEST_TMPDIR/before"
	bus-rotate --no-seal --compress web.access
	for o in 0 1 777 2500 4095 6001 7999; do
		run bus-sub --from "$o" -n 1 -F '%o|%T|%u|%e|%t|%k|%h|%S|%s\n' \
		    web.access
		[ "$output" = "$(sed -n "$((o + 1))p" "$BATS_TEST_TMPDIR/before")" ]
	done
	# By time: the receive time of record 3333 finds record 3333.
	t=$(sed -n 3334p "$BATS_TEST_TMPDIR/before" | cut -d'|' -f2)
	run bus-sub --from "@$t" -n 1 -F '%o\n' web.access
	[ "$output" = 3333 ]
}

@test "compress: bad input: an unknown codec or level is a usage error (64) naming it, and changes nothing" {
	accesslog_store 100 64K
	sum=$(store_sum)
	run --separate-stderr bus-rotate --compress=gzip
	[ "$status" -eq 64 ]
	[ "$stderr" = "bus-rotate: --compress: 'gzip' is not zstd or lz4" ]
	run --separate-stderr bus-rotate --compress=none
	[ "$status" -eq 64 ]
	run --separate-stderr bus-rotate --compress= 
	[ "$status" -eq 64 ]
	run --separate-stderr bus-rotate --compress --compress-level 20
	[ "$status" -eq 64 ]
	[ "$stderr" = "bus-rotate: --compress-level: 20: zstd levels are 1 to 19" ]
	run --separate-stderr bus-rotate --compress=lz4 --compress-level 0
	[ "$status" -eq 64 ]
	[[ "$stderr" == "bus-rotate: --compress-level: '0' is too small" ]]
	run --separate-stderr bus-rotate --compress-level 3
	[ "$status" -eq 64 ]
	[[ "$stderr" == "bus-rotate: --compress-level is an option of --compress"* ]]
	run bus-rotate --status --compress
	[ "$status" -eq 64 ]
	[ "$(store_sum)" = "$sum" ]
	bus-rotate --help 2>&1 | grep -q -- '--compress\[=zstd|lz4\]'
}

@test "compress: a damaged plain segment is reported with file and byte offset, left alone, the others compressed (65)" {
	accesslog_store 3000 64K
	stop_busd
	victim=$(sealed web.access | sed -n 2p)
	name=$(basename "$victim")
	size=$(wc -c <"$victim")
	printf 'X' | dd of="$victim" bs=1 seek=$((size / 2)) conv=notrunc status=none
	cp "$victim" "$BATS_TEST_TMPDIR/damaged"
	run --separate-stderr bus-rotate --compress web.access
	[ "$status" -eq 65 ]
	[[ "$stderr" =~ ^bus-rotate:\ partition\ web.access:\ file\ $name:\ byte\ offset\ [0-9]+:\ .*\;\ segment\ not\ compressed$ ]]
	cmp "$BATS_TEST_TMPDIR/damaged" "$victim"
	[ -z "$(leftovers web.access)" ]
	for f in $(sealed web.access); do
		[ "$f" = "$victim" ] || [ "$(codec_of "$f")" -eq 1 ]
	done
}

@test "compress: a damaged compressed batch is reported by bus-sub and busd --verify with file and byte offset; --repair quarantines it" {
	accesslog_store 3000 64K
	stop_busd
	bus-rotate --compress web.access
	victim=$(sealed web.access | sed -n 2p)
	name=$(basename "$victim")
	[ "$(codec_of "$victim")" -eq 1 ]
	size=$(wc -c <"$victim")
	printf 'X' | dd of="$victim" bs=1 seek=$((size / 2)) conv=notrunc status=none
	run --separate-stderr bus-sub --from beginning -e web.access
	[ "$status" -eq 65 ]
	[[ "$stderr" == *"partition web.access: file $name: byte offset "[0-9]*": "* ]]
	run busd --verify -d "$BUS_DIR"
	echo "$output" >&2
	[ "$status" -eq 65 ]
	echo "$output" | grep -F "$name" | grep -q 'web.access'
	run busd --verify --repair -d "$BUS_DIR"
	[ "$status" -eq 0 ]
	run --separate-stderr bus-sub --from beginning -e web.access
	[ "$status" -eq 0 ]
	run busd --verify -d "$BUS_DIR"
	[ "$status" -eq 0 ]
}

@test "compress: busd --verify finds a compressed store clean, and rebuilds a lost index of a compressed segment" {
	accesslog_store 3000 64K
	stop_busd
	bus-rotate --compress web.access
	run busd --verify -d "$BUS_DIR"
	echo "$output" >&2
	[ "$status" -eq 0 ]
	seg=$(sealed web.access | sed -n 3p)
	rm "${seg%.seg}.idx"
	run busd --verify --repair -d "$BUS_DIR"
	[ "$status" -eq 0 ]
	[ -s "${seg%.seg}.idx" ]
	base=$((10#$(basename "$seg" .seg)))
	run bus-sub --from $((base + 5)) -n 1 -F '%o\n' web.access
	[ "$output" = $((base + 5)) ]
}

@test "compress: compaction across compressed segments (block and record batches) keeps the newest record per key" {
	start_busd --segment-size 64K
	"$GEN" -n 2000 | bus-pub --no-autostart -t kv
	pub_kv kv 600 20 r1
	pub_lines kv 5 plain
	bus-rotate --compress kv
	dump kv >"$BATS_TEST_TMPDIR/before"
	[ "$(nlines "$BATS_TEST_TMPDIR/before")" -eq 2605 ]
	for f in $(sealed kv); do
		[ "$(codec_of "$f")" -eq 1 ]
	done
	run bus-compact kv
	[ "$status" -eq 0 ]
	dump kv >"$BATS_TEST_TMPDIR/after"
	newest_per_key "$BATS_TEST_TMPDIR/before" >"$BATS_TEST_TMPDIR/want"
	diff "$BATS_TEST_TMPDIR/want" "$BATS_TEST_TMPDIR/after"
	# And compressing the compacted store keeps that.
	bus-rotate --compress kv
	dump kv | diff "$BATS_TEST_TMPDIR/want" -
	[ -z "$(leftovers kv)" ]
}

@test "compress: retention counts and deletes compressed segments as plain ones" {
	accesslog_store 6000 64K
	bus-rotate --no-seal --compress web.access
	full web.access >"$BATS_TEST_TMPDIR/before"
	run bus-rotate --no-seal --max-count 2000 web.access
	[ "$status" -eq 0 ]
	full web.access >"$BATS_TEST_TMPDIR/after"
	n=$(nlines "$BATS_TEST_TMPDIR/after")
	[ "$n" -ge 1 ] && [ "$n" -le 2000 ]
	# What is left is the tail of what was there.
	tail -n "$n" "$BATS_TEST_TMPDIR/before" | cmp - "$BATS_TEST_TMPDIR/after"
	run bus-rotate --status -o json web.access
	[ "$(echo "$output" | jq '.partitions[0].last_offset')" -eq 5999 ]
}

@test "compress: a follower sees every record once, in order, while segments are compressed under it" {
	start_busd --segment-size 16K
	out=$BATS_TEST_TMPDIR/out
	"$GEN" -n 6000 >"$BATS_TEST_TMPDIR/log"
	bus-sub --from beginning -F '%o|%s\n' web.access >"$out" 2>"$out.err" 3>&- &
	track_pid $!
	for round in 1 2 3 4 5 6; do
		sed -n "$(((round - 1) * 1000 + 1)),$((round * 1000))p" \
		    "$BATS_TEST_TMPDIR/log" |
		    bus-pub --no-autostart -t web.access
		bus-rotate --compress web.access
	done
	bus-pub --no-autostart -t web.access END
	wait_for "grep -q '^6000|END$' '$out'" 20
	{ cat "$BATS_TEST_TMPDIR/log"; echo END; } | awk '{ print NR - 1 "|" $0 }' |
	    cmp - "$out"
	# Started before web.access existed: said so once, nothing else.
	[ "$(grep -vx 'bus-sub: no partition matches web.access' "$out.err")" = "" ]
}

@test "compress: a reader paused in the middle of a segment that gets compressed goes on exactly where it was" {
	accesslog_store 4000 1M
	full web.access >"$BATS_TEST_TMPDIR/truth"
	mkfifo "$BATS_TEST_TMPDIR/fifo"
	bus-sub --from beginning -e -F '%o|%T|%u|%e|%t|%k|%h|%S|%s\n' web.access \
	    >"$BATS_TEST_TMPDIR/fifo" 3>&- &
	track_pid $!
	exec 4<"$BATS_TEST_TMPDIR/fifo"
	out=$BATS_TEST_TMPDIR/out
	for i in $(seq 1 20); do
		read -r line <&4
		echo "$line" >>"$out"
	done
	bus-rotate --no-seal --compress web.access
	[ "$(codec_of "$(sealed web.access | head -n 1)")" -eq 1 ]
	cat <&4 >>"$out"
	exec 4<&-
	cmp "$BATS_TEST_TMPDIR/truth" "$out"
}

@test "compress: kill -9 of bus-rotate --compress at random instants, 20 rounds: the store always reads back whole, nothing lost" {
	start_busd --segment-size 64K
	truth=$BATS_TEST_TMPDIR/truth
	"$GEN" -n 2000 -s 1 | bus-pub --no-autostart -t web.access
	bus-rotate
	# One uninterrupted run of a copy, to learn how long one takes here.
	cp -a "$BUS_DIR" "$BATS_TEST_TMPDIR/copy"
	t0=$(date +%s%N)
	bus-rotate -d "$BATS_TEST_TMPDIR/copy" --no-seal --compress
	span=$((($(date +%s%N) - t0) / 1000000 + 5))
	rm -rf "$BATS_TEST_TMPDIR/copy"
	killed=0
	for round in $(seq 1 20); do
		"$GEN" -n 1500 -s $((round + 1)) | bus-pub --no-autostart -t web.access
		bus-rotate 2>>"$BATS_TEST_TMPDIR/log"
		full web.access >"$truth"
		bus-rotate --no-seal --compress 2>>"$BATS_TEST_TMPDIR/log" 3>&- &
		cpid=$!
		ms=$((RANDOM % span))
		sleep "$((ms / 1000)).$(printf '%03d' $((ms % 1000)))"
		kill -KILL "$cpid" 2>/dev/null || true
		if wait "$cpid"; then
			span=$((span * 3 / 4 + 2))
		else
			span=$((span * 5 / 4 + 1))
			killed=$((killed + 1))
		fi
		# Readable and whole, leftovers or not.
		full web.access | cmp - "$truth" ||
		    { echo "round $round, killed after $ms ms"; ls -l "$BUS_DIR/log/web.access"; false; }
	done
	# What was left behind is finished, and everything gets compressed.
	bus-rotate --no-seal --compress 2>>"$BATS_TEST_TMPDIR/log"
	echo "# $killed runs killed midway, $(grep -c 'rewrite' "$BATS_TEST_TMPDIR/log") leftovers recovered" >&3
	[ "$killed" -ge 5 ]
	[ -z "$(leftovers web.access)" ]
	for f in $(sealed web.access); do
		[ "$(codec_of "$f")" -eq 1 ]
	done
	full web.access | cmp - "$truth"
	[ "$(nlines "$truth")" -eq $((2000 + 20 * 1500)) ]
}

@test "compress: while a publisher writes and busd seals by size, repeated compression loses, repeats and reorders nothing" {
	start_busd --segment-size 64K
	"$GEN" -n 20000 -s 7 >"$BATS_TEST_TMPDIR/log"
	# One publisher, its input paced in 20 chunks.
	for i in $(seq 0 19); do
		sed -n "$((i * 1000 + 1)),$((i * 1000 + 1000))p" \
		    "$BATS_TEST_TMPDIR/log"
		sleep 0.1
	done | bus-pub --no-autostart -t web.access 3>&- &
	ppid=$!
	track_pid "$ppid"
	# bus-rotate says "no partition matches" (66) until the first chunk
	# is stored.
	wait_for "bus-sub -e --from beginning -n 1 web.access >/dev/null 2>&1" 10
	runs=0
	while ! pid_gone "$ppid"; do
		bus-rotate --no-seal --compress web.access
		runs=$((runs + 1))
	done
	wait "$ppid"
	bus-rotate --compress web.access
	echo "# $runs compression runs while publishing" >&3
	[ "$runs" -ge 3 ]
	for f in $(sealed web.access); do
		[ "$(codec_of "$f")" -eq 1 ]
	done
	bus-sub --from beginning -e web.access | cmp - "$BATS_TEST_TMPDIR/log"
	run bus-sub --from beginning -e -F '%o\n' web.access
	[ "$(printf '%s\n' "$output" | awk '$1 != NR - 1' | head -n 1)" = "" ]
}

@test "compress: killed right after each step of the rewrite (a write of the new files, each rename), the store reads back whole; the next run finishes" {
	local so=$BUS_ROOT/tests/fault/crashpoint.so step first fault
	[ -z "${BUS_SANITIZE:-}" ] || skip "LD_PRELOAD fault shim: ASan must be first in LD_PRELOAD (SANITIZE build)"
	[ -f "$so" ] || make -s -C "$BUS_ROOT" tests/fault/crashpoint.so
	accesslog_store 3000 128K
	stop_busd
	full web.access >"$BATS_TEST_TMPDIR/truth"
	touch "$BATS_TEST_TMPDIR/trigger"
	for step in write:.seg.cleaned write:.idx.cleaned rename:.seg.swap \
	    rename:.idx.swap rename:.seg rename:.idx; do
		first=$(basename "$(sealed web.access | head -n 1)" .seg)
		rm -rf "$BATS_TEST_TMPDIR/c"
		cp -a "$BUS_DIR" "$BATS_TEST_TMPDIR/c"
		case $step in
		write:*) fault=BUS_FAULT_WRITE=${step#write:} ;;
		rename:*) fault=BUS_FAULT_RENAME=$first${step#rename:} ;;
		esac
		run env LD_PRELOAD="$so" BUS_FAULT_TRIGGER="$BATS_TEST_TMPDIR/trigger" \
		    "$fault" bus-rotate -d "$BATS_TEST_TMPDIR/c" --no-seal --compress
		[ "$status" -eq 137 ] || { echo "$step: not killed ($status)"; false; }
		bus-sub -d "$BATS_TEST_TMPDIR/c" --from beginning -e \
		    -F '%o|%T|%u|%e|%t|%k|%h|%S|%s\n' web.access |
		    cmp - "$BATS_TEST_TMPDIR/truth" || { echo "after $step"; false; }
		run bus-rotate -d "$BATS_TEST_TMPDIR/c" --no-seal --compress
		[ "$status" -eq 0 ]
		[ -z "$(ls "$BATS_TEST_TMPDIR/c/log/web.access" | grep -E '\.(cleaned|swap|merged)$')" ]
		for f in $(ls "$BATS_TEST_TMPDIR/c/log/web.access/"*.seg | sed '$d'); do
			[ "$(codec_of "$f")" -eq 1 ]
		done
		bus-sub -d "$BATS_TEST_TMPDIR/c" --from beginning -e \
		    -F '%o|%T|%u|%e|%t|%k|%h|%S|%s\n' web.access |
		    cmp - "$BATS_TEST_TMPDIR/truth"
	done
}
