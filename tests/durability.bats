#!/usr/bin/env bats
# Durability (issue 5): crashes of busd at random instants, torn writes,
# damaged sealed segments, a full disk, and the offline check busd --verify.
#
# Random choices (crash instants, cut and flip positions) come from bash's
# $RANDOM seeded per test; the seed is printed, and BUS_TEST_SEED=N replays
# a run.  The sleeps of random length below are the crash instants, not
# synchronisation: readiness is waited for by `busd -b` (returns when
# ready) or by bounded polling.

load helpers

FAULT_SO="$BUS_ROOT/tests/fault/enospc.so"

# Segments hold batches (bus-segment(5)): an 84-byte header and the topic
# "t", then the records; a block from bus-pub is its lines as they were.
SEG_HDR=32

# batches SEG: one line "POS SIZE COUNT BASE_OFFSET" per batch, walking
# the length fields from position 32 to the end of the file.
batches() {
	local f=$1 pos=$SEG_HDR size len cnt base
	size=$(fsize "$f")
	while [ "$pos" -lt "$size" ]; do
		read -r len cnt < <(od -An -tu4 -j "$pos" -N 16 "$f" |
		    awk '{ print $1, $4 }')
		base=$(od -An -tu8 -j $((pos + 24)) -N 8 "$f" | tr -d ' ')
		echo "$pos $((len + 4)) $cnt $base"
		pos=$((pos + len + 4))
	done
}

# whole_batches SEG NRECS: SEG is batches to its last byte, NRECS records.
whole_batches() {
	local n
	n=$(batches "$1" | awk -v s="$(fsize "$1")" '
	    { n += $3; end = $1 + $2 } END { print (end == s || NR == 0) ? n : -1 }')
	[ "$n" -eq "$2" ] || {
		echo "$1: $n records in whole batches, want $2" >&2
		return 1
	}
}

# pub_chunks FROM TO N: payloads FROM..TO as topic t, N per bus-pub run:
# a batch each (cut where it fills a segment).
pub_chunks() {
	local a
	for ((a = $1; a <= $2; a += $3)); do
		payloads "$a" $((a + $3 - 1 < $2 ? a + $3 - 1 : $2)) |
		    bus-pub -t t --no-autostart
	done
}

# batch_at SEG POS: "POS SIZE COUNT BASE_OFFSET" of the batch holding POS.
batch_at() {
	batches "$1" | awk -v p="$2" '$1 <= p && p < $1 + $2'
}

# Keep the teardown of helpers.bash, and add what this file needs: stop our
# background loops (they watch $DUR_STOP) and unmount the tmpfs variant.
eval "helpers_$(declare -f teardown)"
teardown() {
	local f
	[ -n "${DUR_STOP:-}" ] && : >"$DUR_STOP" 2>/dev/null
	for f in "${DUR_PIDFILES[@]}"; do
		[ -s "$f" ] && stop_pid "$(cat "$f")"
	done
	helpers_teardown
	if [ -n "${DUR_MNT:-}" ] && mountpoint -q "$DUR_MNT"; then
		umount "$DUR_MNT" 2>/dev/null || umount -l "$DUR_MNT"
	fi
	return 0
}

eval "helpers_$(declare -f setup)"
setup() {
	helpers_setup
	DUR_STOP="$BATS_TEST_TMPDIR/stop"
	DUR_PIDFILES=()
	DUR_MNT=
	DUR_SEED=${BUS_TEST_SEED:-$(( ($(date +%s%N) / 1000) % 1000000007 ^ $$ ))}
	RANDOM=$DUR_SEED
	echo "# random seed $DUR_SEED (BUS_TEST_SEED=$DUR_SEED replays it)" >&2
}

# ------------------------------------------------------------- helpers

# rand N: R = a random integer in [0, N) (N up to 2^30).  Sets R rather
# than printing it: bash reseeds $RANDOM in every subshell, so a command
# substitution would not replay from the seed.
rand() {
	R=$(( ((RANDOM << 15) | RANDOM) % $1 ))
}

# garbage N: N random bytes on stdout (from the seed, not /dev/urandom).
garbage() {
	local i o s=
	for ((i = 0; i < $1; i++)); do
		printf -v o '%03o' $((RANDOM & 255))
		s+="\\$o"
	done
	# shellcheck disable=SC2059
	printf "$s"
}

# sleep_ms MS: sleep MS milliseconds (MS < 1000).
sleep_ms() {
	sleep "$(printf '0.%03d' "$1")"
}

# payloads FROM TO: msgFFFFFF-<40 digits>, 50 bytes each, one a line.
payloads() {
	seq -f 'msg%06.0f-0123456789012345678901234567890123456789' "$1" "$2"
}

# kill9_busd: SIGKILL the busd of $BUS_DIR (pid from busd.pid), wait for
# it to be gone.
kill9_busd() {
	local p
	p=$(busd_pid) || return 1
	kill -KILL "$p" || return 1
	wait_gone "$p" 5 || return 1
	wait "$p" 2>/dev/null || true
}

# flip_byte FILE POS [MASK]: XOR the byte at POS with MASK (default 0xff).
flip_byte() {
	local f=$1 pos=$2 mask=${3:-255} b
	b=$(od -An -tu1 -j "$pos" -N1 "$f" | tr -d ' \n')
	[ -n "$b" ] || { echo "flip_byte: $f has no byte $pos" >&2; return 1; }
	# shellcheck disable=SC2059
	printf "\\$(printf '%03o' $((b ^ mask)))" |
	    dd of="$f" bs=1 seek="$pos" conv=notrunc status=none
}

# fsize FILE: size in bytes.
fsize() {
	stat -c %s "$1"
}

# pid_register FILE: teardown stops the PID written in FILE.
pid_register() {
	DUR_PIDFILES+=("$1")
}

# require_verify: busd --verify must exist (issue 5); fail saying so.
require_verify() {
	if ! busd --help 2>&1 | grep -q -- --verify; then
		echo "busd --verify is not implemented yet (busd --help does not mention it)" >&2
		return 1
	fi
}

# sealed_store: $BUS_DIR with 300 messages of topic t in 4096-byte
# segments (about 35 records each), busd stopped.  Sets SEGS (the .seg
# files, oldest first).
sealed_store() {
	start_busd --segment-size 4096
	pub_chunks 1 300 25
	stop_busd
	mapfile -t SEGS < <(seg_files t)
	[ "${#SEGS[@]}" -ge 4 ] || {
		echo "expected several segments, got: ${SEGS[*]}" >&2
		return 1
	}
}

# ----------------------------------------------------------- crash loop

CRASH_RUN=200		# messages per bus-pub run
CRASH_TOPICS="p1 p2 p3"

# pub_loop TOPIC DIR: one bus-pub --sync per CRASH_RUN numbers, fed in
# four paced parts (so that crashes land inside runs too), until DIR/stop
# exists.  Each run's exit status goes to DIR/TOPIC.runs as "RUN STATUS"
# once bus-pub has exited: status 0 means those CRASH_RUN numbers are
# acknowledged.
pub_loop() {
	local t=$1 d=$2 k=0 rc a q
	q=$((CRASH_RUN / 4))
	while [ ! -e "$d/stop" ]; do
		a=$((k * CRASH_RUN))
		{
			seq $((a + 1)) $((a + q)); sleep 0.01
			seq $((a + q + 1)) $((a + 2 * q)); sleep 0.01
			seq $((a + 2 * q + 1)) $((a + 3 * q)); sleep 0.01
			seq $((a + 3 * q + 1)) $((a + CRASH_RUN))
		} | bus-pub --sync --no-autostart --retry-for 30s -t "$t" \
		    2>>"$d/$t.err" &
		echo $! >"$d/$t.pid"
		rc=0
		wait $! || rc=$?
		echo "$k $rc" >>"$d/$t.runs"
		k=$((k + 1))
		# No busd listening (between a kill and the restart): 69 at
		# once.  Do not spin.
		[ "$rc" -eq 0 ] || sleep 0.02
	done
}

# crash_check DIR WHAT: every run that exited 0 so far is in the store
# exactly once and in order, the other runs at most once and in order, and
# a full read exits 0.
crash_check() {
	local d=$1 what=$2 t rc=0
	# What is acknowledged now: snapshot before reading.
	for t in $CRASH_TOPICS; do
		cp "$d/$t.runs" "$d/$t.snap" 2>/dev/null || : >"$d/$t.snap"
	done
	bus-sub --from beginning -e -F '%t %s\n' 'p[0-9]' >"$d/all" \
	    2>"$d/all.err" || rc=$?
	if [ "$rc" -ne 0 ]; then
		echo "$what: bus-sub --from beginning -e exited $rc:" >&2
		cat "$d/all.err" >&2
		return 1
	fi
	if [ -s "$d/all.err" ]; then
		echo "$what: bus-sub said on stderr:" >&2
		cat "$d/all.err" >&2
		return 1
	fi
	(cd "$d" && awk -v RUN="$CRASH_RUN" -v what="$what" '
	FILENAME ~ /\.snap$/ {
		t = FILENAME; sub(/\.snap$/, "", t)
		if ($2 == 0) { acked[t, $1] = 1; nacked[t]++ }
		next
	}
	{
		t = $1; n = $2
		if (NF != 2 || n !~ /^[0-9]+$/) {
			printf "%s: garbage in %s: \"%s\"\n", what, t, $0; bad++
			next
		}
		n += 0
		if (n <= last[t]) {
			printf "%s: %s: %d after %d (duplicate or out of order)\n",
			    what, t, n, last[t]; bad++
		}
		last[t] = n
		cnt[t, int((n - 1) / RUN)]++
		total[t]++
	}
	END {
		for (k in acked) {
			split(k, a, SUBSEP)
			if (cnt[k] != RUN) {
				printf "%s: %s: run %d exited 0 but %d of its %d messages are stored\n",
				    what, a[1], a[2], cnt[k] + 0, RUN; bad++
			}
		}
		if (bad > 20) printf "%s: ... %d problems in all\n", what, bad
		exit bad > 0
	}' p1.snap p2.snap p3.snap all) | head -n 25 >&2
	[ "${PIPESTATUS[0]}" -eq 0 ]
}

@test "durability: crash loop: 40 kill -9 of busd at random instants (10 of them also during recovery) under 3 --sync publishers; every acknowledged message is stored exactly once, in order" {
	local d=$BATS_TEST_TMPDIR r t p rounds=40 n
	local -a loops=()
	start_busd --segment-size 64k 2>>"$d/busd.log"
	for t in $CRASH_TOPICS; do
		pub_loop "$t" "$d" 3>&- &
		loops+=($!)
		track_pid $!
		pid_register "$d/$t.pid"
	done
	# Every publisher is under way before the first crash.
	wait_for "[ -s '$d/p1.runs' ] && [ -s '$d/p2.runs' ] && [ -s '$d/p3.runs' ]" 20
	for ((r = 1; r <= rounds; r++)); do
		rand 98
		sleep_ms $((3 + R))	# the crash instant
		kill9_busd
		if [ $((r % 4)) -eq 0 ]; then
			# Crash it again while it recovers (or just after).
			busd -d "$BUS_DIR" --segment-size 64k 2>>"$d/busd.log" \
			    </dev/null >/dev/null 3>&- &
			p=$!
			track_pid "$p"
			rand 30
			sleep_ms "$R"
			kill -KILL "$p" 2>/dev/null || true
			wait "$p" 2>/dev/null || true
		fi
		start_busd --segment-size 64k 2>>"$d/busd.log" || {
			cat "$d/busd.log" >&2
			return 1
		}
		crash_check "$d" "after crash $r"
	done
	# Let the publishers finish their current run, then the final check.
	: >"$d/stop"
	for p in "${loops[@]}"; do
		wait_gone "$p" 40
		wait "$p" 2>/dev/null || true
	done
	crash_check "$d" "at the end"
	# The publishers were busy across the crashes: each had many runs
	# acknowledged, and some had to reconnect and resend.
	for t in $CRASH_TOPICS; do
		n=$(awk '$2 == 0' "$d/$t.runs" | wc -l)
		echo "# $t: $n runs acknowledged, $(awk '$2 != 0' "$d/$t.runs" | wc -l) refused (no busd at the start)" >&2
		[ "$n" -ge 10 ]
	done
	n=$(cat "$d"/p?.err | grep -c 'lost busd.*reconnecting' || true)
	echo "# $n reconnects after a crash, $(cat "$d"/p?.err | grep -c 'resend [1-9][0-9]* unack' || true) with messages in flight" >&2
	[ "$n" -ge 1 ]
	# A run may only fail because no busd listened when it started (69,
	# "no busd is listening"; or busd died during the HELLO, see the
	# --retry-for test below), never once it had published: it had 30 s
	# of --retry-for and busd was back within a second.
	run grep -v -e 'no busd is listening' -e 'lost busd.*reconnecting' \
	    -e 'reconnected to busd; resending' -e 'closed the connection' \
	    "$d/p1.err" "$d/p2.err" "$d/p3.err"
	echo "$output" | head -n 20 >&2
	[ "$output" = "" ]
	awk '$2 != 0 && $2 != 69 { print FILENAME ": run " $1 " exited " $2; bad = 1 } END { exit bad }' \
	    "$d/p1.runs" "$d/p2.runs" "$d/p3.runs" >&2
	# Receive times stay strictly increasing across the whole store
	# through the crashes (the merged read is ordered by them).
	bus-sub --from beginning -e -F '%T\n' 'p[0-9]' >"$d/times"
	awk 'NR > 1 && $0 <= p { print "receive time " $0 " after " p; bad = 1; exit }
	    { p = $0 } END { exit bad }' "$d/times" >&2
	# Seeking by offset (through the indexes rebuilt after each crash)
	# lands on the offset asked for.
	n=$(bus-sub --from beginning -e -F '.' p1 | wc -c)
	for ((r = 0; r < 10; r++)); do
		rand "$n"
		p=$R
		[ "$(bus-sub --from "$p" -e -n 1 -F '%o' p1)" = "$p" ] || {
			echo "bus-sub --from $p -n 1 p1 did not start at offset $p" >&2
			return 1
		}
	done
	# After all these crashes and recoveries the store checks out.
	if busd --help 2>&1 | grep -q -- --verify; then
		stop_busd
		run busd --verify -d "$BUS_DIR"
		echo "$output" | tail -n 20 >&2
		[ "$status" -eq 0 ]
	fi
}

# ------------------------------------------------------ exactly-once pipe

# gen_paced FROM TO CHUNK HOLD: seq FROM TO in chunks of CHUNK numbers,
# one every 10 ms; the last chunk waits until the file HOLD exists (so the
# input cannot end before the crashes are done).
gen_paced() {
	local i=$1 end=$2 chunk=$3 hold=$4 j
	while [ "$i" -le "$end" ]; do
		j=$((i + chunk - 1))
		[ "$j" -gt "$end" ] && j=$end
		if [ "$j" -eq "$end" ]; then
			wait_for "[ -e '$hold' ] || [ -e '$DUR_STOP' ]" 90 ||
			    return 1
		fi
		seq "$i" "$j" || return 1
		i=$((j + 1))
		sleep 0.01
	done
}

# pipe_under_crashes N CHUNK KILLS [BUS-PUB FLAG ...]: seq 1 N, CHUNK
# lines every 10 ms, through
# one bus-pub while busd is killed -9 and restarted KILLS times at random
# instants; bus-pub must exit 0 and the topic must hold seq 1 N exactly.
pipe_under_crashes() {
	local d=$BATS_TEST_TMPDIR N=$1 chunk=$2 kills=$3 i gen pub rc=0
	shift 3
	start_busd 2>>"$d/busd.log"
	mkfifo "$d/in"
	gen_paced 1 "$N" "$chunk" "$d/kills-done" >"$d/in" 3>&- &
	gen=$!
	track_pid "$gen"
	bus-pub -t n --no-autostart --retry-for 30s "$@" <"$d/in" \
	    2>"$d/pub.err" 3>&- &
	pub=$!
	track_pid "$pub"
	for ((i = 1; i <= kills; i++)); do
		rand 260
		sleep_ms $((40 + R))	# the crash instant
		if pid_gone "$pub"; then
			echo "bus-pub ended before crash $i:" >&2
			cat "$d/pub.err" >&2
			return 1
		fi
		kill9_busd
		start_busd 2>>"$d/busd.log"
	done
	: >"$d/kills-done"
	wait_gone "$pub" 90
	wait "$pub" || rc=$?
	cat "$d/pub.err" >&2
	[ "$rc" -eq 0 ]
	# The crashes landed while it ran: it reconnected and resent.
	grep -q 'lost busd.*reconnecting' "$d/pub.err"
	echo "# $(grep -c 'resend [1-9][0-9]* unack' "$d/pub.err") of the $kills crashes had messages in flight" >&2
	bus-sub --from beginning -e n >"$d/out"
	seq 1 "$N" >"$d/want"
	cmp "$d/want" "$d/out"
}

@test "durability: kill -9 just after a seal wrote the producers' state, with another partition's records of the same batch not yet written: the resend stores every message once" {
	[ -z "${BUS_SANITIZE:-}" ] || skip "LD_PRELOAD fault shim: ASan must be first in LD_PRELOAD (SANITIZE build)"
	local d=$BATS_TEST_TMPDIR so=$BUS_ROOT/tests/fault/crashpoint.so pub i
	[ -f "$so" ] || make -s -C "$BUS_ROOT" tests/fault/crashpoint.so
	# One batch: 5 lines for b, then enough for a to fill its 4 KiB
	# segment.  busd takes b's lines into b's buffer, then seals a in
	# the middle of the batch, and dies right after writing the state.
	{
		for i in 1 2 3 4 5; do echo "b:$i"; done
		seq -f 'a:%03.0f-0123456789012345678901234567890123456789' 1 150
	} >"$d/in"
	LD_PRELOAD="$so" BUS_FAULT_RENAME=producers BUS_FAULT_TRIGGER="$d/trig" \
	    start_busd_fg "$d/busd1.log" --segment-size 4096
	: >"$d/trig"
	# A regular file on stdin: bus-pub sends it as one PUBLISH frame.
	bus-pub --no-autostart --sync --retry-for 20s -t x \
	    --topic-regex '^([a-z]):' <"$d/in" 2>"$d/pub.err" &
	pub=$!
	track_pid "$pub"
	wait_gone "$BUSD_PID" 10 || {
		echo "busd was not killed at the seal:" >&2
		cat "$d/busd1.log" >&2
		return 1
	}
	wait "$BUSD_PID" 2>/dev/null || true
	start_busd_fg "$d/busd2.log" --segment-size 4096
	wait "$pub"
	cat "$d/pub.err" >&2
	grep -q 'reconnected' "$d/pub.err"
	# Every line exactly once, in order, in its partition.
	bus-sub --from beginning -e b >"$d/b"
	bus-sub --from beginning -e a >"$d/a"
	diff <(grep '^b:' "$d/in") "$d/b"
	diff <(grep '^a:' "$d/in") "$d/a"
}

@test "durability: kill -9 between the writes of two partitions of one batch: the partition not yet written takes the resend, the written one drops it" {
	[ -z "${BUS_SANITIZE:-}" ] || skip "LD_PRELOAD fault shim: ASan must be first in LD_PRELOAD (SANITIZE build)"
	local d=$BATS_TEST_TMPDIR so=$BUS_ROOT/tests/fault/crashpoint.so
	local rp=$BUS_ROOT/tests/fault/rawpub
	[ -f "$so" ] || make -s -C "$BUS_ROOT" tests/fault/crashpoint.so
	[ -x "$rp" ] || make -s -C "$BUS_ROOT" tests/fault/rawpub
	# Dies right after its first write to a segment of partition a.
	LD_PRELOAD="$so" BUS_FAULT_WRITE=/log/a/0 BUS_FAULT_TRIGGER="$d/trig" \
	    start_busd_fg "$d/busd1.log"
	bus-pub --no-autostart -t a a:0
	bus-pub --no-autostart -t b b:0
	: >"$d/trig"
	# One batch; a comes first in it, so busd writes a before b, but b
	# holds the lower sequence numbers of the middle of the batch.
	set -- a:a1 b:b1 b:b2 b:b3 b:b4 b:b5 a:a2 a:a3 a:a4 a:a5
	run "$rp" "$BUS_DIR" 5eed 1 "$@"
	[ "$status" -eq 1 ]
	wait_gone "$BUSD_PID" 10 || {
		echo "busd was not killed at the write:" >&2
		cat "$d/busd1.log" >&2
		return 1
	}
	wait "$BUSD_PID" 2>/dev/null || true
	start_busd_fg "$d/busd2.log"
	# Sequence number 2 is not stored: HELLO_OK must not claim it.
	run "$rp" "$BUS_DIR" 5eed 1
	[ "$output" = "hello 0" ]
	# The resend of the whole batch: a has it, b takes its part.
	run "$rp" "$BUS_DIR" 5eed 1 "$@"
	[ "$status" -eq 0 ]
	[ "$(printf '%s\n' "${lines[@]:1}" | awk '$2 == "dup" { print $1 }' | tr '\n' ' ')" = "1 7 8 9 10 " ]
	[ "$(bus-sub --from beginning -e a | tr '\n' ' ')" = "a:0 a1 a2 a3 a4 a5 " ]
	[ "$(bus-sub --from beginning -e b | tr '\n' ' ')" = "b:0 b1 b2 b3 b4 b5 " ]
	run "$rp" "$BUS_DIR" 5eed 1
	[ "$output" = "hello 10" ]
}

@test "durability: a client with its own producer id: resent numbers are acknowledged as duplicates per partition, across a restart and a seal; HELLO_OK never claims more than is stored" {
	local rp=$BUS_ROOT/tests/fault/rawpub
	[ -x "$rp" ] || make -s -C "$BUS_ROOT" tests/fault/rawpub
	start_busd
	run "$rp" "$BUS_DIR" abc 1 a:1 a:2 b:3 a:4
	[ "$status" -eq 0 ]
	[ "$output" = "$(printf '%s\n' 'hello 0' '1 0' '2 1' '3 0' '4 2')" ]
	run "$rp" "$BUS_DIR" abc 1 a:1 a:2 b:3 a:4
	[ "$output" = "$(printf '%s\n' 'hello 4' '1 dup' '2 dup' '3 dup' '4 dup')" ]
	# A clean restart: the numbers come back from the records.  HELLO_OK
	# says 0 until the producer publishes again.
	stop_busd
	start_busd
	run "$rp" "$BUS_DIR" abc 3
	[ "$output" = "hello 0" ]
	run "$rp" "$BUS_DIR" abc 3 b:3 a:4 a:5
	[ "$output" = "$(printf '%s\n' 'hello 0' '3 dup' '4 dup' '5 3')" ]
	run "$rp" "$BUS_DIR" abc 6
	[ "$output" = "hello 5" ]
	# Sealed, then a crash: the partitions' producers files keep them.
	"$BUS_ROOT/cmd/bus-rotate/bus-rotate"
	[ -s "$BUS_DIR/log/a/producers" ]
	kill -KILL "$BUSD_PID"
	wait_gone "$BUSD_PID" 5
	start_busd
	run "$rp" "$BUS_DIR" abc 1 a:1 a:2 b:3 a:4 a:5 b:6
	[ "${lines[0]}" = "hello 0" ]
	[ "$(printf '%s\n' "${lines[@]:1}")" = "$(printf '%s\n' '1 dup' '2 dup' '3 dup' '4 dup' '5 dup' '6 1')" ]
	[ "$(bus-sub --from beginning -e a | tr '\n' ' ')" = "1 2 4 5 " ]
	[ "$(bus-sub --from beginning -e b | tr '\n' ' ')" = "3 6 " ]
	# A damaged producers file is ignored with a warning: busd reads the
	# whole partition instead, and still knows what it has.
	stop_busd
	echo garbage >"$BUS_DIR/log/a/producers"
	start_busd_fg "$BATS_TEST_TMPDIR/busd.log"
	grep -q 'partition a: producers: not a producer state file' "$BATS_TEST_TMPDIR/busd.log"
	run "$rp" "$BUS_DIR" abc 1 a:1 a:2 b:3 a:4 a:5 b:6 a:7
	[ "$(printf '%s\n' "${lines[@]:1}" | tr '\n' ' ')" = "1 dup 2 dup 3 dup 4 dup 5 dup 6 dup 7 4 " ]
	# ... and it wrote a good one.
	[ "$(head -n 1 "$BUS_DIR/log/a/producers")" = "bus-producers 2" ]
}

@test "durability: exactly-once pipe: seq 1 1000000 | bus-pub across 10 kill -9 and restarts of busd is stored exactly once, in order" {
	pipe_under_crashes 1000000 5000 10
}

@test "durability: exactly-once pipe with --sync (acks wait for fdatasync, so crashes catch frames in flight): seq 1 300000, 8 kill -9" {
	pipe_under_crashes 300000 1000 8 --sync
}

@test "durability: bus-pub --retry-for: busd gone during the HELLO is a broken connection too; bus-pub retries and publishes once busd is back" {
	local d=$BATS_TEST_TMPDIR fake pub rc=0
	mkdir -p "$BUS_DIR"
	# A "busd" that takes the HELLO and hangs up, as one killed right
	# then does.
	perl -MIO::Socket::UNIX -e '
		my ($path, $ready) = @ARGV;
		my $l = IO::Socket::UNIX->new(Type => SOCK_STREAM(),
		    Local => $path, Listen => 5) or die "listen $path: $!";
		open(my $f, ">", $ready) or die "$ready: $!";
		close($f);
		my $c = $l->accept or die "accept: $!";
		my $buf;
		sysread($c, $buf, 21);
		close($c);
		close($l);
	' "$BUS_DIR/busd.sock" "$d/fake-ready" 3>&- &
	fake=$!
	track_pid "$fake"
	wait_for "[ -e '$d/fake-ready' ]"
	bus-pub --no-autostart --retry-for 20s -t t once 2>"$d/pub.err" 3>&- &
	pub=$!
	track_pid "$pub"
	wait_gone "$fake" 10
	start_busd
	wait_gone "$pub" 30
	wait "$pub" || rc=$?
	cat "$d/pub.err" >&2
	[ "$rc" -eq 0 ]
	[ "$(bus-sub --from beginning -e t)" = once ]
}

# ------------------------------------------------------------ torn writes

@test "durability: torn writes: 10 rounds of random cuts and bit flips in the active segment's tail; busd cuts and logs file and offset, readers see a prefix, offsets are not reused" {
	local d=$BATS_TEST_TMPDIR K=2000 r seg size pos keep cut mode i x log nflip R
	local segname=00000000000000000000.seg nb first last
	local -a BP BS
	start_busd
	pub_chunks 1 "$K" 50
	kill9_busd
	seg="$BUS_DIR/log/t/$segname"
	size=$(fsize "$seg")
	# The batches this test computes positions from.
	whole_batches "$seg" "$K"
	mapfile -t BP < <(batches "$seg" | awk '{ print $1 }')
	mapfile -t BS < <(batches "$seg" | awk '{ print $2 }')
	nb=${#BP[@]}
	[ "$nb" -eq $((K / 50)) ]
	cp -a "$BUS_DIR" "$d/pristine"
	for ((r = 1; r <= 10; r++)); do
		rm -rf "$BUS_DIR"
		cp -a "$d/pristine" "$BUS_DIR"
		mode=$((r % 4))
		case $mode in
		0)	# cut inside one of the last 2 batches
			first=${BP[nb - 2]}
			;;
		1)	# flip 1 to 4 random bytes of the last batch
			first=${BP[nb - 1]}
			;;
		2)	# a batch cut short, then garbage (a torn write)
			first=${BP[nb - 5]}
			;;
		3)	# cut anywhere in the batches
			first=$SEG_HDR
			;;
		esac
		rand $((size - first - 1))
		pos=$((first + 1 + R))
		[ "$mode" -eq 1 ] && pos=$size
		# Whole batches before pos stay, every record of them.
		keep=0
		cut=$SEG_HDR
		for ((i = 0; i < nb; i++)); do
			[ $((BP[i] + BS[i])) -le "$pos" ] || break
			[ "$mode" -eq 1 ] && [ "$i" -eq $((nb - 1)) ] && break
			keep=$((keep + 50))
			cut=$((BP[i] + BS[i]))
		done
		[ "$pos" -ne "$cut" ] || pos=$((pos + 1))
		case $mode in
		1)	rand 4
			nflip=$((R + 1))
			for ((i = 0; i < nflip; i++)); do
				rand "${BS[nb - 1]}"
				x=$((cut + R))
				rand 255
				echo "# round $r: byte $x ^= $((1 + R))" >&2
				flip_byte "$seg" "$x" $((1 + R))
			done ;;
		2)	truncate -s "$pos" "$seg"
			rand 300
			garbage $((1 + R)) >>"$seg" ;;
		*)	truncate -s "$pos" "$seg" ;;
		esac
		echo "# round $r: mode $mode, damage at byte $pos, expect $keep records, cut at $cut" >&2
		log="$d/busd.$r.log"
		start_busd_fg "$log"
		# The log names the file and the byte offset of the cut.
		grep -F "$segname" "$log" | grep -qw "$cut" || {
			echo "round $r: busd did not log $segname and offset $cut:" >&2
			cat "$log" >&2
			return 1
		}
		[ "$(fsize "$seg")" -eq "$cut" ]
		# Readers see exactly the records of the whole batches before
		# the damage.
		run --separate-stderr bus-sub --from beginning -e t
		[ "$status" -eq 0 ]
		[ "$stderr" = "" ]
		[ "$output" = "$(payloads 1 "$keep")" ]
		# New messages go after them, at the next offsets.
		bus-pub -t t --no-autostart new1 new2 new3
		run bus-sub --from $((keep > 2 ? keep - 2 : 0)) -e -F '%o %s|' t
		[ "$status" -eq 0 ]
		x=
		for ((i = (keep > 2 ? keep - 2 : 0); i < keep; i++)); do
			x+="$i $(payloads $((i + 1)) $((i + 1)))|"
		done
		x+="$keep new1|$((keep + 1)) new2|$((keep + 2)) new3|"
		[ "$output" = "$x" ]
		# Seeking by offset through the rebuilt index lands right.
		run bus-sub --from "$keep" -e t
		[ "$output" = $'new1\nnew2\nnew3' ]
		run bus-sub --from beginning -e -F '%o\n' t
		[ "$output" = "$(seq 0 $((keep + 2)))" ]
		stop_busd
	done
}

# ------------------------------------------------------ damage when sealed

@test "durability: a flipped byte in a sealed segment (6 random places): bus-sub -e stops with 65 naming partition, file and offset; --skip-corrupt reads past it" {
	local d=$BATS_TEST_TMPDIR r k victim name base n pos j bad start all
	sealed_store
	cp -a "$BUS_DIR" "$d/pristine"
	all=$(paste -d ' ' <(seq 0 299) <(payloads 1 300))
	for ((r = 1; r <= 6; r++)); do
		rm -rf "$BUS_DIR"
		cp -a "$d/pristine" "$BUS_DIR"
		# Any sealed segment (not the newest), any byte of its records.
		rand $((${#SEGS[@]} - 1))
		k=$R
		victim=${SEGS[$k]}
		name=$(basename "$victim")
		base=$((10#${name%.seg}))
		# Any byte of its batches: the batch holding it is damaged.
		rand $(($(fsize "$victim") - SEG_HDR))
		pos=$((SEG_HDR + R))
		read -r start j n bad < <(batch_at "$victim" "$pos")
		echo "# round $r: byte $pos of $name: batch at $start, offsets $bad.. ($n)" >&2
		rand 255
		flip_byte "$victim" "$pos" $((1 + R))
		run --separate-stderr bus-sub --from beginning -e t
		echo "stderr: $stderr" >&2
		[ "$status" -eq 65 ]
		[[ "$stderr" == *"partition t"* ]]
		[[ "$stderr" == *"$name"* ]]
		echo "$stderr" | grep -qw "$start"
		# Everything before the damage was printed.
		[ "$output" = "$(payloads 1 "$bad")" ]
		# --skip-corrupt: everything but the damaged batch's records,
		# and says so on stderr.
		run --separate-stderr bus-sub --skip-corrupt --from beginning -e -F '%o %s\n' t
		echo "stderr: $stderr" >&2
		[ "$status" -eq 0 ]
		[[ "$stderr" == *"$name"* ]]
		[ "$output" = "$(echo "$all" | sed "$((bad + 1)),$((bad + n))d")" ]
	done
	# busd starts on such a store and goes on appending.
	start_busd
	bus-pub -t t --no-autostart after
	run bus-sub --from -1 -e -F '%o %s' t
	[ "$output" = "300 after" ]
}

@test "durability: damage in the middle of the active segment is not cut away: busd logs it, seals the segment, and goes on at the next offset" {
	local d=$BATS_TEST_TMPDIR seg segname=00000000000000000000.seg size start pos R n bad x
	start_busd
	pub_chunks 1 100 10
	kill9_busd
	seg="$BUS_DIR/log/t/$segname"
	size=$(fsize "$seg")
	whole_batches "$seg" 100
	# A byte of one of the batches 2 to 7: valid batches follow it.
	read -r x _ < <(batches "$seg" | sed -n 3p)
	rand $(($(batches "$seg" | sed -n 8p | cut -d' ' -f1) - x))
	pos=$((x + R))
	read -r start x n bad < <(batch_at "$seg" "$pos")
	rand 255
	flip_byte "$seg" "$pos" $((1 + R))
	start_busd_fg "$d/busd.log"
	cat "$d/busd.log" >&2
	grep -F "$segname" "$d/busd.log" | grep -qw "$start"
	# Not one byte of it was cut.
	[ "$(fsize "$seg")" -eq "$size" ]
	bus-pub -t t --no-autostart new
	run --separate-stderr bus-sub --from beginning -e t
	[ "$status" -eq 65 ]
	[[ "$stderr" == *"$segname"* ]]
	run --separate-stderr bus-sub --skip-corrupt --from beginning -e -F '%o %s\n' t
	[ "$status" -eq 0 ]
	[ "$output" = "$(paste -d ' ' <(seq 0 99) <(payloads 1 100) | sed "$((bad + 1)),$((bad + n))d"; echo "100 new")" ]
}

# --------------------------------------------------------------- disk full


@test "durability: disk full (ENOSPC shim): publish fails with 75 and one line saying so; works again once space is back; only acknowledged messages are stored, no partial record" {
	[ -z "${BUS_SANITIZE:-}" ] || skip "LD_PRELOAD fault shim: ASan must be first in LD_PRELOAD (SANITIZE build)"
	local d=$BATS_TEST_TMPDIR trig=$BATS_TEST_TMPDIR/full mode i
	[ -f "$FAULT_SO" ] || make -s -C "$BUS_ROOT" tests/fault/enospc.so
	# In the foreground, for its log (only busd has the shim).
	LD_PRELOAD="$FAULT_SO" BUS_FAULT_ENOSPC="$trig" start_busd_fg "$d/busd.log"
	seq 1 100 | bus-pub -t t --no-autostart
	seq 1 100 >"$d/want"
	# ENOSPC at once; a short write then ENOSPC (a partial record that
	# must be taken back); both with --sync too.
	for mode in full short full-sync short-sync; do
		case $mode in
		full*)	: >"$trig" ;;
		short*)	echo short >"$trig" ;;
		esac
		if [ "${mode#*-}" = sync ]; then
			run --separate-stderr bus-pub --sync -t t --no-autostart x y z
		else
			run --separate-stderr bus-pub -t t --no-autostart x y z
		fi
		echo "$mode: status $status, stderr: $stderr" >&2
		[ "$status" -eq 75 ] || [ "$status" -eq 74 ]
		[ "$output" = "" ]
		# One line, saying what happened.
		[ "$(printf '%s\n' "$stderr" | wc -l)" -eq 1 ]
		[[ "$stderr" == bus-pub:* ]]
		echo "$stderr" | grep -qiE 'disk full|no space left'
		rm -f "$trig"
		# Space is back: publishing works again, same busd.
		seq 1 50 | sed "s/^/$mode-/" | tee -a "$d/want" |
		    bus-pub -t t --no-autostart
	done
	[ "$(busd_pid)" = "$BUSD_PID" ]
	# busd logged each failure naming the file, the offset and the errno.
	cat "$d/busd.log" >&2
	[ "$(grep -F 00000000000000000000.seg "$d/busd.log" | grep -i offset |
	    grep -c 'No space left on device')" -ge 4 ]
	# Seeking by offset lands where it should.  The offsets handed to
	# the refused messages are never handed out again: a gap follows
	# each failure, and a seek into a gap lands on the next record.
	for i in 0 57 99; do
		[ "$(bus-sub --from "$i" -e -n 1 -F '%o' t)" = "$i" ]
	done
	offs=$(bus-sub --from beginning -e -F '%o\n' t)
	for i in $(printf '%s\n' "$offs" | sed -n '101p;130p;160p;200p'); do
		[ "$(bus-sub --from "$i" -e -n 1 -F '%o' t)" = "$i" ]
		j=$((i - 1))
		[ "$(bus-sub --from "$j" -e -n 1 -F '%o' t)" -le "$i" ]
	done
	run --separate-stderr bus-sub --from beginning -e t
	[ "$status" -eq 0 ]
	[ "$stderr" = "" ]
	diff "$d/want" <(printf '%s\n' "$output")
	# Offsets strictly increase, none reused.
	bus-sub --from beginning -e -F '%o\n' t |
	    awk 'NR > 1 && $1 <= p { print "offset " $1 " after " p; exit 1 } { p = $1 }'
	# Nothing partial left in the segment: exactly the records above.
	stop_busd
	whole_batches "$BUS_DIR/log/t/00000000000000000000.seg" "$(wc -l <"$d/want")"
}

@test "durability: disk full on one partition of a two-partition batch: what busd did not acknowledge is stored in neither partition" {
	[ -z "${BUS_SANITIZE:-}" ] || skip "LD_PRELOAD fault shim: ASan must be first in LD_PRELOAD (SANITIZE build)"
	local trig=$BATS_TEST_TMPDIR/full acked
	[ -f "$FAULT_SO" ] || make -s -C "$BUS_ROOT" tests/fault/enospc.so
	# Only partition b's disk is full.
	env LD_PRELOAD="$FAULT_SO" BUS_FAULT_ENOSPC="$trig" \
	    BUS_FAULT_PATH=/log/b/ busd -b -d "$BUS_DIR" 3>&-
	bus-pub -t a --no-autostart a0
	bus-pub -t b --no-autostart b0
	: >"$trig"
	# One PUBLISH frame for both partitions.
	run --separate-stderr bus-pub --no-autostart --topic-regex '^([a-z]+):' \
	    -t a a:1 b:1 a:2 b:2
	echo "status $status, stderr: $stderr" >&2
	[ "$status" -eq 75 ] || [ "$status" -eq 74 ]
	echo "$stderr" | grep -qiE 'disk full|no space left'
	acked=$(echo "$stderr" | grep -oE '[0-9]+ message\(s\) acknowledged' |
	    grep -oE '^[0-9]+' || echo 0)
	rm -f "$trig"
	run bus-sub --from beginning -e -F '%t %o %s\n' 'a|b'
	echo "stored: $output" >&2
	[ "$status" -eq 0 ]
	# Stored from that batch: exactly as many as were acknowledged.
	[ "$(echo "$output" | grep -c ':')" -eq "$acked" ]
	# Both partitions take messages again, at fresh offsets.
	bus-pub -t a --no-autostart a3
	bus-pub -t b --no-autostart b3
	run bus-sub --from -1 -e -F '%t %s|' 'a|b'
	[ "$output" = "a a3|b b3|" ]
}

@test "durability: disk full for real (1 MiB tmpfs): publish fails with 75 and one line; space back, it works; acknowledged messages all there, no partial record" {
	local d=$BATS_TEST_TMPDIR mnt=$BATS_TEST_TMPDIR/mnt c rc out nok acked mid total
	mkdir -p "$mnt"
	if ! out=$(mount -t tmpfs -o size=1m tmpfs "$mnt" 2>&1); then
		skip "mount -t tmpfs is not permitted here: $out"
	fi
	DUR_MNT=$mnt
	export BUS_DIR="$mnt/store"
	track_store "$BUS_DIR"
	start_busd
	# Ballast to delete when the disk is full.
	head -c 204800 /dev/zero >"$mnt/ballast"
	: >"$d/ok"
	for ((c = 1; c <= 40; c++)); do
		seq -f "c$c-%06.0f-abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz" 1 500 >"$d/chunk"
		rc=0
		bus-pub -t t --no-autostart <"$d/chunk" 2>"$d/err" || rc=$?
		[ "$rc" -eq 0 ] || break
		cat "$d/chunk" >>"$d/ok"
	done
	cat "$d/err" >&2
	echo "chunk $c: status $rc" >&2
	[ "$rc" -eq 75 ] || [ "$rc" -eq 74 ]
	[ "$(wc -l <"$d/err")" -eq 1 ]
	grep -qiE 'disk full|no space left' "$d/err"
	# How many of the failed chunk busd acknowledged, if it says.
	acked=$(grep -oE '[0-9]+ message\(s\) acknowledged' "$d/err" | grep -oE '^[0-9]+' || echo 0)
	mv "$d/chunk" "$d/failed"
	rm "$mnt/ballast"
	seq -f "after-%06.0f" 1 500 >"$d/after"
	bus-pub -t t --no-autostart <"$d/after"
	bus-sub --from beginning -e t >"$d/out"
	nok=$(wc -l <"$d/ok")
	total=$(wc -l <"$d/out")
	mid=$((total - nok - 500))
	echo "stored: $nok before, $mid of the failed chunk ($acked acknowledged), 500 after" >&2
	[ "$mid" -ge "$acked" ]
	[ "$mid" -le 500 ]
	cmp "$d/ok" <(head -n "$nok" "$d/out")
	if [ "$mid" -gt 0 ]; then
		cmp <(head -n "$mid" "$d/failed") \
		    <(sed -n "$((nok + 1)),$((nok + mid))p" "$d/out")
	fi
	cmp "$d/after" <(tail -n 500 "$d/out")
	# Seeking by offset still lands where it should.
	# (offsets refused by a failed write leave a gap: seek to real ones)
	offs=$(bus-sub --from beginning -e -F '%o\n' t)
	for ((c = 0; c < 5; c++)); do
		rand "$total"
		mid=$(printf '%s\n' "$offs" | sed -n "$((R + 1))p")
		[ "$(bus-sub --from "$mid" -e -n 1 -F '%o' t)" = "$mid" ]
	done
	# No partial record: the segment holds exactly these records.
	stop_busd
	whole_batches "$BUS_DIR/log/t/00000000000000000000.seg" "$(wc -l <"$d/out")"
}

# ----------------------------------------------------------- busd --verify

@test "durability: busd --verify on a clean store exits 0 with a summary line" {
	require_verify
	sealed_store
	run busd --verify -d "$BUS_DIR"
	echo "$output" >&2
	[ "$status" -eq 0 ]
	[ -n "$output" ]
}

@test "durability: busd --verify reports a deleted index; --repair rebuilds it; then clean" {
	local idx
	require_verify
	sealed_store
	idx=${SEGS[1]%.seg}.idx
	rm "$idx"
	run busd --verify -d "$BUS_DIR"
	echo "$output" >&2
	[ "$status" -eq 0 ] || [ "$status" -eq 65 ]
	[[ "$output" == *"$(basename "$idx")"* ]]
	run busd --verify --repair -d "$BUS_DIR"
	echo "$output" >&2
	[ "$status" -eq 0 ]
	[ -s "$idx" ]
	run busd --verify -d "$BUS_DIR"
	[ "$status" -eq 0 ]
	[[ "$output" != *"$(basename "$idx")"* ]]
	# Seeking by offset into that segment works.
	local base
	base=$((10#$(basename "${SEGS[1]}" .seg)))
	run bus-sub --from $((base + 3)) -e -n 1 t
	[ "$output" = "$(payloads $((base + 4)) $((base + 4)))" ]
}

@test "durability: busd --verify: a flipped byte in a sealed segment exits 65 naming partition, file and offset; --repair quarantines it, then bus-sub reads without error" {
	local victim name base n j start bad
	require_verify
	sealed_store
	victim=${SEGS[1]}
	name=$(basename "$victim")
	base=$((10#${name%.seg}))
	# The second batch of the segment.
	read -r start j n bad < <(batches "$victim" | sed -n 2p)
	[ -n "$bad" ]
	flip_byte "$victim" $((start + 70))
	cp "$victim" "$BATS_TEST_TMPDIR/damaged"
	run busd --verify -d "$BUS_DIR"
	echo "$output" >&2
	[ "$status" -eq 65 ]
	echo "$output" | grep -F "$name" | grep -w "$start" | grep -q -w t
	run busd --verify --repair -d "$BUS_DIR"
	echo "$output" >&2
	[ "$status" -eq 0 ]
	# The original is kept, byte for byte, in quarantine (under its name,
	# perhaps with a suffix that keeps earlier ones).
	local -a qs
	mapfile -t qs < <(ls "$BUS_DIR/quarantine/t/$name"* 2>/dev/null)
	[ "${#qs[@]}" -eq 1 ]
	cmp "$BATS_TEST_TMPDIR/damaged" "${qs[0]}"
	# The replacement holds every valid record, with its offset.
	run --separate-stderr bus-sub --from beginning -e -F '%o %s\n' t
	echo "stderr: $stderr" >&2
	[ "$status" -eq 0 ]
	[ "$output" = "$(paste -d ' ' <(seq 0 299) <(payloads 1 300) | sed "$((bad + 1)),$((bad + n))d")" ]
	run busd --verify -d "$BUS_DIR"
	[ "$status" -eq 0 ]
	# And busd serves the repaired store.
	start_busd
	bus-pub -t t --no-autostart after
	run bus-sub --from -1 -e -F '%o %s' t
	[ "$output" = "300 after" ]
}

@test "durability: busd --verify: a torn tail in the active segment is reported with file and offset; --repair cuts it" {
	local seg name size keep cut x y
	require_verify
	sealed_store
	seg=${SEGS[${#SEGS[@]} - 1]}
	name=$(basename "$seg")
	size=$(fsize "$seg")
	# Its last batch torn: the records before it stay.
	read -r cut x y keep < <(batches "$seg" | tail -n 1)
	[ "$keep" -ge 1 ]
	rand $((x - 1))
	truncate -s $((cut + 1 + R)) "$seg"
	run busd --verify -d "$BUS_DIR"
	echo "$output" >&2
	[ "$status" -eq 65 ]
	echo "$output" | grep -F "$name" | grep -qw "$cut"
	run busd --verify --repair -d "$BUS_DIR"
	echo "$output" >&2
	[ "$status" -eq 0 ]
	[ "$(fsize "$seg")" -eq "$cut" ]
	run busd --verify -d "$BUS_DIR"
	[ "$status" -eq 0 ]
	run bus-sub --from beginning -e t
	[ "$status" -eq 0 ]
	[ "$output" = "$(payloads 1 "$keep")" ]
}

@test "durability: busd --verify --repair refuses with 75 while busd runs, and changes nothing" {
	local victim
	require_verify
	sealed_store
	victim=${SEGS[1]}
	flip_byte "$victim" $((SEG_HDR + 70))
	cp "$victim" "$BATS_TEST_TMPDIR/damaged"
	start_busd
	run --separate-stderr busd --verify --repair -d "$BUS_DIR"
	echo "stderr: $stderr" >&2
	[ "$status" -eq 75 ]
	[ -n "$stderr" ]
	cmp "$BATS_TEST_TMPDIR/damaged" "$victim"
	[ ! -e "$BUS_DIR/quarantine" ]
	# busd still serves.
	bus-pub -t t --no-autostart still
}

@test "durability: a damaged header on the active segment does not stop busd: it keeps the file, seals it, goes on in a new one; readers report it; --repair gets every record back" {
	local seg
	start_busd
	bus-pub --no-autostart -t a one two three
	stop_busd
	seg=$BUS_DIR/log/a/00000000000000000000.seg
	printf 'XXXX' | dd of="$seg" bs=1 seek=2 conv=notrunc status=none
	start_busd_fg "$BATS_TEST_TMPDIR/busd.log"
	grep -q 'partition a: 00000000000000000000.seg: damaged segment header' "$BATS_TEST_TMPDIR/busd.log"
	bus-pub --no-autostart -t a four
	[ -e "$BUS_DIR/log/a/00000000000000000003.seg" ]
	run --separate-stderr bus-sub --from beginning -e a
	[ "$status" -eq 65 ]
	[[ "$stderr" == *"partition a: file 00000000000000000000.seg: byte offset 0: "* ]]
	run bus-sub --from beginning -e --skip-corrupt -F '%o %s\n' a
	[ "$status" -eq 0 ]
	[ "${lines[${#lines[@]} - 1]}" = "3 four" ]
	stop_busd
	run busd --verify --repair -d "$BUS_DIR"
	[ "$status" -eq 0 ]
	run bus-sub --from beginning -e -F '%o %s\n' a
	[ "$status" -eq 0 ]
	[ "$output" = $'0 one\n1 two\n2 three\n3 four' ]
}

@test "durability: a segment sealed when full goes to the sync thread; its producers file is written after that sync" {
	start_busd_fg "$BATS_TEST_TMPDIR/busd.log" -v --segment-size 64K --sync-interval 200ms
	seq -f '%06g xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx' 1 3000 |
	    bus-pub --no-autostart -t big
	[ "$(seg_files big | wc -l)" -ge 2 ]
	# The seal did not sync: the interval's sync did, then the file.
	wait_for "[ -s '$BUS_DIR/log/big/producers' ]" 5
	grep -q 'sync [0-9]*: done' "$BATS_TEST_TMPDIR/busd.log"
	kill -KILL "$BUSD_PID"
	wait_gone "$BUSD_PID" 5
	start_busd
	[ "$(bus-sub --from beginning -e big | wc -l)" -eq 3000 ]
	run busd --status -o json
	[ "$(jq '.partitions[] | select(.name == "big") | .segments' <<<"$output")" -ge 2 ]
}

@test "durability: a sealed segment whose seal sync a machine crash cut short: its torn tail is cut at start, the rest reads back, offsets go on" {
	local seg size n
	start_busd --segment-size 64K
	seq -f '%06g xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx' 1 3000 |
	    bus-pub --no-autostart -t big
	stop_busd
	[ "$(seg_files big | wc -l)" -ge 2 ]
	# As after a crash of the machine before the seal's sync finished:
	# the producers file does not cover the sealed segment, whose last
	# batch lost its end.
	rm "$BUS_DIR/log/big/producers"
	seg=$(seg_files big | tail -n 2 | head -n 1)
	size=$(stat -c %s "$seg")
	truncate -s $((size - 7)) "$seg"
	start_busd_fg "$BATS_TEST_TMPDIR/busd.log"
	grep "$(basename "$seg"): sealed before a crash: torn tail cut at byte offset" \
	    "$BATS_TEST_TMPDIR/busd.log"
	[ "$(stat -c %s "$seg")" -lt $((size - 7)) ]
	# Every record before the cut reads back in order, and the active
	# segment's records after it: no error, a gap of offsets.
	run --separate-stderr bus-sub --from beginning -e -F '%o %s\n' big
	[ "$status" -eq 0 ]
	n=${#lines[@]}
	[ "$n" -lt 3000 ]
	[ "$n" -gt 1000 ]
	# Offsets and lines both rise: what is left is in order.
	[ -z "$(printf '%s\n' "${lines[@]}" | awk 'NR > 1 && ($1 <= o || $2 <= l) { print } { o = $1; l = $2 }')" ]
	[ "${lines[$((n - 1))]}" = "2999 003000 xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx" ]
	bus-pub --no-autostart -t big after
	run bus-sub --from -1 -e -F '%o %s' big
	[ "$output" = "3000 after" ]
	stop_busd
	run busd --verify -d "$BUS_DIR"
	[ "$status" -eq 0 ]
}

@test "durability: a full segment's seal does not sync in busd's loop: nothing is synced before the interval, the new segment's name comes with the next sync" {
	command -v strace >/dev/null || skip "strace is needed to see the syncs"
	local d=$BATS_TEST_TMPDIR n
	# No interval: nothing should reach fsync(2) and its kin while
	# publishing, however many segments fill and are sealed.
	strace -f -o "$d/trace" -e trace=fsync,fdatasync,syncfs \
	    busd -d "$BUS_DIR" --segment-size 64k --sync-interval 0 \
	    2>"$d/busd.log" >/dev/null </dev/null 3>&- &
	track_pid "$!"
	wait_for "grep -q 'serving' '$d/busd.log'"
	BUSD_PID=$(busd_pid)
	n=$(wc -l <"$d/trace")
	seq -f 'line %06.0f 0123456789012345678901234567890123456789' 1 20000 |
	    bus-pub --no-autostart -t s
	[ "$(ls "$BUS_DIR/log/s" | grep -c '\.seg$')" -ge 10 ]
	# The seals were made in the loop, before the acks came back.
	if tail -n +"$((n + 1))" "$d/trace" | grep -E 'fsync|fdatasync|syncfs'
	then
		return 1
	fi
	# A synced publish syncs them all, the new segments' names included,
	# in the sync thread.
	bus-pub --no-autostart --sync -t s last
	wait_for "tail -n +$((n + 1)) '$d/trace' | grep -qE 'fsync\(|syncfs\('"
	stop_busd
	[ "$(bus-sub --from beginning -e s | wc -l)" -eq 20001 ]
}

@test "durability: busd killed -9 at random instants of a 48 MiB synced publish of 4 KiB lines: bus-pub resends from its window, moved or not, and every line is stored once" {
	local d=$BATS_TEST_TMPDIR round pub rc hits=0
	awk 'BEGIN {
		f = sprintf("%04089d", 0)
		for (i = 0; i < 12288; i++) printf "%06d %s\n", i, f
	}' >"$d/in"
	for round in 1 2 3 4 5 6; do
		rm -rf "$BUS_DIR"
		start_busd_fg "$d/busd.log"
		# Synced acks keep more of the window in flight, and the
		# run long enough (about 200 ms) to be hit.
		bus-pub --no-autostart --sync --retry-for 30s -t big \
		    <"$d/in" 2>"$d/pub.err" &
		pub=$!
		track_pid "$pub"
		rand 120
		sleep "0.$(printf '%03d' $((10 + R)))"
		# Stopped first: bus-pub sends until it must wait, for room
		# in its window or for acks before a move, and the kill
		# finds it there.
		kill -STOP "$BUSD_PID" 2>/dev/null || true
		sleep 0.05
		kill -9 "$BUSD_PID" 2>/dev/null || true
		wait_gone "$BUSD_PID" 10
		wait "$BUSD_PID" 2>/dev/null || true
		start_busd_fg "$d/busd.log"
		rc=0
		wait "$pub" || rc=$?
		if [ "$rc" -ne 0 ]; then
			echo "round $round: bus-pub exited $rc:" >&2
			cat "$d/pub.err" >&2
			return 1
		fi
		grep -q 'reconnected to busd; resending' "$d/pub.err" &&
		    hits=$((hits + 1))
		bus-sub --from beginning -e big >"$d/out"
		cmp "$d/in" "$d/out"
		stop_busd
	done
	echo "# $hits of 6 kills landed while bus-pub had data in flight" >&2
	[ "$hits" -ge 1 ]
}
