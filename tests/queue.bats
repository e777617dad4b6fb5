#!/usr/bin/env bats
# Work queues: key-partitioned topics, groups sharing them, dead letters,
# delayed delivery.

load helpers

CRASH="$BUS_ROOT/tests/fault/crashpoint.so"

# A job handler: appends "member key payload" to $OUT, once per job.
worker() {
	cat >"$BATS_TEST_TMPDIR/work.sh" <<EOF
#!/bin/sh
read -r job
${1:-}
echo "\$WHO \$BUS_KEY \$job" >> "$BATS_TEST_TMPDIR/out"
EOF
	chmod +x "$BATS_TEST_TMPDIR/work.sh"
}

# member NAME: a group member of q on jobs, in the background.
member() {
	WHO=$1 bus-sub --group q --name "$1" --from beginning \
	    --exec "$BATS_TEST_TMPDIR/work.sh" jobs 2>>"$BATS_TEST_TMPDIR/$1.err" &
	track_pid $!
	eval "PID_$1=$!"
}

# jobs N: N jobs over 20 keys, "k<key> <n>" with n counting per key.
publish_jobs() {
	awk -v n="$1" 'BEGIN { for (i = 0; i < n; i++)
	    printf "k%d %d\n", i % 20, int(i / 20) }' |
	    bus-pub -t jobs --key-regex '^(k[0-9]+)'
}

# Every job once (or at most $2 more), and per key in order.
check_jobs() {
	local n=$1 extra=${2:-0} lines uniq
	lines=$(wc -l <"$BATS_TEST_TMPDIR/out")
	uniq=$(awk '{ print $3, $4 }' "$BATS_TEST_TMPDIR/out" | sort -u | wc -l)
	[ "$uniq" -eq "$n" ] || { echo "$uniq distinct jobs of $n"; return 1; }
	[ "$lines" -le $((n + extra)) ] ||
	    { echo "$lines runs for $n jobs (at most $extra twice)"; return 1; }
	# Per key, the numbers never go back (a rerun repeats the last one).
	awk '{ if ($3 in last && $4 < last[$3]) { print "key " $3 ": " $4 \
	    " after " last[$3]; bad = 1 } last[$3] = $4 } END { exit bad }' \
	    "$BATS_TEST_TMPDIR/out"
}

@test "queue: {hash:8} puts each key in Kafka's partition, unkeyed frames round robin" {
	start_busd -r '{topic}.{hash:8}:jobs'
	# Kafka: toPositive(murmur2("foobar")) % 8 = 1357151166 % 8 = 6.
	bus-pub -t jobs -k foobar x
	[ -d "$BUS_DIR/log/jobs.6" ]
	[ "$(bus-sub -e --from beginning -F '%p' jobs.6)" = jobs.6 ] ||
	    bus-sub -e --from beginning -o json jobs
	for i in 1 2 3 4 5 6 7 8; do bus-pub -t jobs "u$i"; done
	run ls "$BUS_DIR/log"
	[ "$(ls -d "$BUS_DIR"/log/jobs.* | wc -l)" -eq 8 ]
	run busd --status
	[[ "$output" == *"jobs.0 "*"jobs.7 "* ]]
	# Subscribing to the topic reads every partition, by receive time.
	run bus-sub -e --from beginning jobs
	[ "${lines[0]}" = x ] && [ "${lines[8]}" = u8 ]
}

@test "queue: busd refuses to change N for a topic with data" {
	start_busd -r '{topic}.{hash:8}:jobs'
	publish_jobs 40
	stop_busd
	run -78 busd -d "$BUS_DIR" -r '{topic}.{hash:4}:jobs'
	[[ "$output" == *"topic jobs: partition jobs.0 holds its messages spread by key over 8 partitions, and the rules now give 4"* ]]
	run -78 busd -d "$BUS_DIR"
	[[ "$output" == *"now give 1 (no {hash:N})"* ]]
	run -64 busd -d "$BUS_DIR" -r '{topic}.{hash:0}:jobs'
	[[ "$output" == *"{hash:N} takes N from 1 to 10000"* ]]
	start_busd -r '{topic}.{hash:8}:jobs'
}

@test "queue: a group of 3 shares an 8-partition topic: every job once, per key in order" {
	start_busd -r '{topic}.{hash:8}:jobs'
	worker
	publish_jobs 400
	member a
	member b
	member c
	wait_for "[ \$(wc -l <'$BATS_TEST_TMPDIR/out' 2>/dev/null || echo 0) -ge 400 ]" 60
	sleep 0.3
	check_jobs 400 0
	# All three had a share.
	for w in a b c; do
		grep -q "^$w " "$BATS_TEST_TMPDIR/out" || { echo "$w had none"; false; }
	done
}

@test "queue: kill -9 of a member midway loses no job, reruns at most the one in hand" {
	start_busd -r '{topic}.{hash:8}:jobs'
	worker "sleep 0.01"
	publish_jobs 300
	member a
	member b
	member c
	wait_for "[ \$(grep -c '^b ' '$BATS_TEST_TMPDIR/out' 2>/dev/null || echo 0) -ge 20 ]" 30
	kill -9 "$PID_b"
	wait_for "[ \$(awk '{print \$3, \$4}' '$BATS_TEST_TMPDIR/out' | sort -u | wc -l) -ge 300 ]" 60
	sleep 0.3
	check_jobs 300 1
}

@test "queue: a member joining late with a backlog of 100,000 gets its share within a second" {
	start_busd -r '{topic}.{hash:8}:jobs'
	seq 1 100000 | bus-pub -t jobs --key-regex '^(.*)$'
	bus-sub --group q --from beginning --exec 'cat >/dev/null' jobs &
	track_pid $!
	# The first one owns all 8 and is busy with the backlog.
	wait_for "[ -s '$BUS_DIR/cursors/q' ]" 10
	sleep 0.5
	bus-sub --group q -v --exec 'cat >/dev/null' jobs 2>"$BATS_TEST_TMPDIR/late.err" &
	track_pid $!
	# From the moment it joins (its member slot names it) ...
	wait_for "[ -s '$BUS_DIR/cursors/q.group/member.1' ]" 10
	start=$(date +%s%N)
	# ... to the moment it owns partitions.
	wait_for "grep -q 'owns jobs' '$BATS_TEST_TMPDIR/late.err'" 5
	took=$(( ($(date +%s%N) - start) / 1000000 ))
	echo "late joiner got its share $took ms after joining"
	grep 'owns' "$BATS_TEST_TMPDIR/late.err"
	[ "$took" -lt 1000 ]
}

# A handler that fails for payload "bad", writing two lines on stderr.
failing() {
	cat >"$BATS_TEST_TMPDIR/fail.sh" <<EOF
#!/bin/sh
read -r x
if [ "\$x" = bad ]; then
	${1:-}
	echo "first line" >&2
	echo "cannot do \$x" >&2
	exit 3
fi
echo "\$x" >> "$BATS_TEST_TMPDIR/done"
EOF
	chmod +x "$BATS_TEST_TMPDIR/fail.sh"
}

@test "queue: --on-failure=stop (the default) stops before the failing job" {
	start_busd
	failing
	bus-pub -t jobs ok1 bad ok2
	run -70 bus-sub -e --from beginning --name c --retries 1 \
	    --exec "$BATS_TEST_TMPDIR/fail.sh" jobs
	[[ "$output" == *"offset 1: command exited with status 3 (2 attempts); stopping, cursor c left before it"* ]]
	[ "$(cat "$BATS_TEST_TMPDIR/done")" = ok1 ]
	run -70 bus-sub -e --name c --retries 0 --on-failure=stop \
	    --exec "$BATS_TEST_TMPDIR/fail.sh" jobs
	[ "$(cat "$BATS_TEST_TMPDIR/done")" = ok1 ]
	run -64 bus-sub --on-failure=later jobs
	[[ "$output" == *"--on-failure: 'later' is not stop, skip or dead-letter=TOPIC"* ]]
	run -64 bus-sub --exec true --on-failure=dead-letter=.x jobs
	[[ "$output" == *"dead-letter topic '.x'"* ]]
}

@test "queue: --on-failure=skip logs the job and goes on" {
	start_busd
	failing
	bus-pub -t jobs ok1 bad ok2
	run -0 bus-sub -e --from beginning --name c --retries 0 \
	    --on-failure=skip --exec "$BATS_TEST_TMPDIR/fail.sh" jobs
	[[ "$output" == *"topic jobs partition jobs offset 1: command exited with status 3 (1 attempt); skipped"* ]]
	[ "$(cat "$BATS_TEST_TMPDIR/done" | tr '\n' ' ')" = "ok1 ok2 " ]
	# Committed: a rerun has nothing left.
	run -0 bus-sub -e --name c --retries 0 --on-failure=skip \
	    --exec "$BATS_TEST_TMPDIR/fail.sh" jobs
	[ "$(wc -l <"$BATS_TEST_TMPDIR/done")" -eq 2 ]
}

@test "queue: --on-failure=dead-letter publishes it with its story, and a redrive works" {
	start_busd
	failing
	bus-pub -t jobs -k k7 -T a=b ok1 bad ok2
	run -0 bus-sub -e --from beginning --name c --retries 1 \
	    --on-failure=dead-letter=dlq.jobs --exec "$BATS_TEST_TMPDIR/fail.sh" jobs
	[[ "$output" == *"offset 1: command exited with status 3 (2 attempts); published to dlq.jobs"* ]]
	[ "$(cat "$BATS_TEST_TMPDIR/done" | tr '\n' ' ')" = "ok1 ok2 " ]
	run bus-sub -e --from beginning -o json dlq.jobs
	[ "${#lines[@]}" -eq 1 ]
	m=${lines[0]}
	[ "$(jq -r .payload <<<"$m")" = bad ]
	[ "$(jq -r .key <<<"$m")" = k7 ]
	[ "$(jq -r '.tags.a' <<<"$m")" = b ]
	[ "$(jq -r '.tags["bus.dlq.topic"]' <<<"$m")" = jobs ]
	[ "$(jq -r '.tags["bus.dlq.partition"]' <<<"$m")" = jobs ]
	[ "$(jq -r '.tags["bus.dlq.offset"]' <<<"$m")" = 1 ]
	[ "$(jq -r '.tags["bus.dlq.status"]' <<<"$m")" = "exit 3" ]
	[ "$(jq -r '.tags["bus.dlq.attempts"]' <<<"$m")" = 2 ]
	[ "$(jq -r '.tags["bus.dlq.error"]' <<<"$m")" = "first line
cannot do bad" ]
	# The error is bounded: the end of a long stderr only.
	failing 'head -c 100000 /dev/zero | tr "\\0" x >&2; echo >&2'
	bus-pub -t jobs bad
	bus-sub -e --name c --retries 0 --on-failure=dead-letter=dlq.jobs \
	    --exec "$BATS_TEST_TMPDIR/fail.sh" jobs 2>/dev/null
	e=$(bus-sub -e --from beginning -o json dlq.jobs | tail -1 | jq -r '.tags["bus.dlq.error"]')
	[ "${#e}" -le 1024 ]
	[[ "$e" == *"cannot do bad" ]]
	# Redrive: the dead letters, through a handler that works now.
	bus-sub -e --from beginning --name redrive --exec "cat >> '$BATS_TEST_TMPDIR/redriven'; echo >> '$BATS_TEST_TMPDIR/redriven'" dlq.jobs
	[ "$(cat "$BATS_TEST_TMPDIR/redriven" | tr '\n' ' ')" = "bad bad " ]
}

@test "queue: kill -9 between the dead-letter publish and the commit stores it once" {
	command -v strace >/dev/null || skip "strace is needed to kill at the commit"
	start_busd
	failing
	bus-pub -t jobs bad
	# The first rename of the cursor c records where it starts; the
	# second would commit past the dead letter: kill -9 instead.
	run strace -f -o /dev/null -P "$BUS_DIR/cursors" \
	    -e trace=rename,renameat,renameat2 \
	    -e inject=rename,renameat,renameat2:error=EIO:signal=SIGKILL:when=2 \
	    bus-sub -e --from beginning --name c --retries 0 \
	    --on-failure=dead-letter=dlq.jobs --exec "$BATS_TEST_TMPDIR/fail.sh" jobs
	[ "$status" -eq 137 ] || { echo "status $status: $output"; false; }
	[[ "$output" == *"published to dlq.jobs"* ]]
	[ "$(bus-sub -e --from beginning dlq.jobs | wc -l)" -eq 1 ]
	# The rerun fails it again and publishes it again: busd drops it.
	bus-pub -t jobs ok2
	run -0 bus-sub -e --name c --retries 0 --on-failure=dead-letter=dlq.jobs \
	    --exec "$BATS_TEST_TMPDIR/fail.sh" jobs
	[[ "$output" == *"offset 0: command exited with status 3 (1 attempt); published to dlq.jobs"* ]]
	[ "$(bus-sub -e --from beginning dlq.jobs | wc -l)" -eq 1 ]
	[ "$(cat "$BATS_TEST_TMPDIR/done")" = ok2 ]
	run busd --status -o json
	[ "$(jq .busd.duplicates <<<"$output")" -ge 1 ]
}

# delivered TOPIC: the payloads on TOPIC, space separated.
delivered() {
	bus-sub -e --from beginning "$1" | tr '\n' ' '
}

@test "queue: delayed messages at +1 s, +3 s and in the past appear at their time, not before" {
	start_busd
	t0=$(date +%s%N)
	bus-pub -t rem --delay 1s one
	bus-pub -t rem --at +3s three
	bus-pub -t rem --at -1h past
	bus-pub -t rem now
	run busd --status
	[[ "$output" == *"SCHEDULED TOPIC"*"rem "* ]]
	run bus-sub --scheduled 'r.*'
	[[ "$output" == *" rem - three" ]]
	wait_for "[ \"\$(delivered rem)\" = 'past now one three ' ]" 8
	# Each at its time, not before: one a second after it was sent,
	# three three seconds after t0.
	m=$(bus-sub -e --from beginning -o json rem | sed -n 3p)
	[ "$(jq -r .recv_ns <<<"$m")" -ge $(( $(jq -r .send_ns <<<"$m") + 1000000000 )) ]
	m=$(bus-sub -e --from beginning -o json rem | sed -n 4p)
	[ "$(jq -r .recv_ns <<<"$m")" -ge $((t0 + 3000000000)) ]
	[ "$(jq -r '.tags["bus.scheduled"]' <<<"$m")" -ge "$t0" ]
	[ "$(jq -r '.tags["bus.scheduled"]' <<<"$m")" -lt $((t0 + 3000000000)) ]
	[ "$(jq -r .event_ns <<<"$m")" -lt $((t0 + 3000000000)) ]
	[ "$(jq -r .payload <<<"$m")" = three ]
	run bus-sub --scheduled '.*'
	[ -z "$output" ]
	run -64 bus-pub -t rem --at tomorrowish x
	[[ "$output" == *"--at: 'tomorrowish' is not"* ]]
	run -64 bus-pub -t rem --delay 5 --at +1s x
	[[ "$output" == *"--at and --delay exclude each other"* ]]
}

@test "queue: delayed messages survive kill -9 of busd before and while they are due" {
	[ -z "${BUS_SANITIZE:-}" ] || skip "LD_PRELOAD fault shim: ASan must be first in LD_PRELOAD (SANITIZE build)"
	start_busd
	now=$(date +%s)
	bus-pub -t rem --at "@$((now + 2))" a
	bus-pub -t rem --at "@$((now + 7))" b
	kill -9 "$BUSD_PID"
	wait_gone "$BUSD_PID"
	wait_for "[ \$(date +%s) -ge $((now + 3)) ]" 5
	# a came due while busd was down: it appears at the start.
	start_busd
	wait_for "[ \"\$(delivered rem)\" = 'a ' ]" 3
	stop_busd
	[ "$(bus-sub --scheduled rem | wc -l)" -eq 1 ]
	# busd dies just after writing b to its topic, before marking it
	# delivered: the next start delivers it again, and dedup drops it.
	touch "$BATS_TEST_TMPDIR/trigger"
	LD_PRELOAD="$CRASH" BUS_FAULT_TRIGGER="$BATS_TEST_TMPDIR/trigger" \
	    BUS_FAULT_WRITE=/log/rem/ busd -d "$BUS_DIR" 2>/dev/null &
	pid=$!
	wait_for "pid_gone $pid" 10
	wait "$pid" || true
	rm "$BATS_TEST_TMPDIR/trigger"
	[ "$(delivered rem)" = "a b " ]
	[ "$(bus-sub --scheduled rem | wc -l)" -eq 1 ]
	start_busd
	wait_for "[ -z \"\$(bus-sub --scheduled rem)\" ]" 3
	[ "$(delivered rem)" = "a b " ]
	run busd --status -o json
	[ "$(jq '.scheduled | length' <<<"$output")" -eq 0 ]
}

@test "queue: 10,000 scheduled messages, in due order, and the bound" {
	start_busd
	seq 1 10000 | bus-pub -t many --delay 2s
	run busd --status -o json
	[ "$(jq '.scheduled[0].messages' <<<"$output")" -eq 10000 ]
	[ "$(bus-sub --scheduled many | wc -l)" -eq 10000 ]
	wait_for "[ \$(bus-sub -e --from beginning many | wc -l) -eq 10000 ]" 10
	bus-sub -e --from beginning many | sort -c -n
	sleep 0.2
	[ "$(bus-sub -e --from beginning many | wc -l)" -eq 10000 ]
	stop_busd
	start_busd --max-scheduled 3
	run -75 bus-pub -t many --delay 1h 1 2 3 4
	[[ "$output" == *"3 messages are scheduled already, the limit (busd --max-scheduled)"* ]]
	[ "$(bus-sub --scheduled many | wc -l)" -eq 3 ]
}
