#!/usr/bin/env bats
# bus-nats against a real nats-server -js: export and import exactly once
# through kills of bus-nats, busd and the server; a round trip; bad input.
# Each test starts its own nats-server on a free loopback port with its
# own store directory, waits until it listens, and stops it by PID.

load helpers

PATH="$BUS_ROOT/cmd/bus-nats:$PATH:/usr/sbin"
JSREAD="$BUS_ROOT/tests/nats/jsread"

setup_file() {
	command -v nats-server >/dev/null ||
	    skip "nats-server is not installed"
	[ -x "$BUS_ROOT/cmd/bus-nats/bus-nats" ] ||
	    skip "bus-nats is not built (no libnats)"
}

setup() {
	command -v nats-server >/dev/null || skip "no nats-server"
	[ -x "$BUS_ROOT/cmd/bus-nats/bus-nats" ] || skip "no bus-nats"
	export BUS_DIR="$BATS_TEST_TMPDIR/store"
	unset BUS_TEST_PIDS
	BUS_TEST_PIDS=()
	BUS_TEST_STORES=("$BUS_DIR")
	NATS_PORT=
}

# start_nats: nats-server -js on loopback; port 0 (the kernel picks a free
# one) the first time, the same port after; returns once it says it is
# ready.  Sets NATS_PID, NATS_PORT and NATS_URL.
start_nats() {
	local log="$BATS_TEST_TMPDIR/nats.log"
	: >"$log"
	nats-server -js -a 127.0.0.1 -p "${NATS_PORT:--1}" \
	    -sd "$BATS_TEST_TMPDIR/js" >"$log" 2>&1 &
	NATS_PID=$!
	track_pid "$NATS_PID"
	wait_for "grep -q 'Server is ready' '$log' || pid_gone $NATS_PID" 20
	if pid_gone "$NATS_PID"; then
		cat "$log" >&2
		return 1
	fi
	NATS_PORT=$(sed -nE 's/.*Listening for client connections on [0-9.]+:([0-9]+).*/\1/p' "$log" | tail -n 1)
	[ -n "$NATS_PORT" ]
	NATS_URL="nats://127.0.0.1:$NATS_PORT"
}

stop_nats() {
	stop_pid "$NATS_PID"
}

# stream_count STREAM: messages jsread finds (fails if any is bad).
stream_count() {
	"$JSREAD" -q "$NATS_URL" "$1" 2>&1 | sed -nE 's/^jsread: ([0-9]+) messages.*/\1/p'
}

# export_bg [FLAG ...]: bus-nats export in the background (EXPORT_PID).
export_bg() {
	bus-nats export --server "$NATS_URL" --stream LOGS --name out \
	    --from beginning "$@" 2>>"$BATS_TEST_TMPDIR/export.log" &
	EXPORT_PID=$!
	track_pid "$EXPORT_PID"
}

# The messages of a store as JSON lines, without what busd stamps itself.
store_json() {
	bus-sub -d "$1" -e --from beginning -o json '.*' |
	    jq -c 'del(.recv_ns, .recv_time)'
}

@test "nats: export: every message once, in partition order, headers intact" {
	start_nats
	seq 1 3000 | bus-pub -t web.access
	seq 1 2000 | bus-pub -t db.slow -k 'k 1' -T host=a -T 'note=x&y=z%'
	export_bg --create-stream 'web\..*' 'db\..*'
	wait_for '[ "$(stream_count LOGS)" = 5000 ]' 30
	run "$JSREAD" "$NATS_URL" LOGS
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 5001 ]
	# Subjects from the default template, payloads as they were.
	[ "$(printf '%s\n' "${lines[@]}" | awk -F'\t' '$2 == "bus.web.access"' | wc -l)" -eq 3000 ]
	[ "$(printf '%s\n' "${lines[@]}" | awk -F'\t' '$3 == "web.access" { print $9 }' | tr '\n' ' ')" = "$(seq 1 3000 | tr '\n' ' ')" ]
	# Key and tags percent-encoded, in order.
	printf '%s\n' "${lines[@]}" | awk -F'\t' '$3 == "db.slow"' | head -n 1 |
	    grep -qF "$(printf 'k%%201\thost=a&note=x%%26y%%3Dz%%25')"
	# The store's id is what the ids carry.
	id=$(cat "$BUS_DIR/id")
	[[ "$id" =~ ^[0-9a-f]{32}$ ]]
	# The status line on SIGUSR1.
	kill -USR1 "$EXPORT_PID"
	wait_for "grep -q 'export: 5000 acked' '$BATS_TEST_TMPDIR/export.log'"
	stop_pid "$EXPORT_PID"
	# Started again, it sends nothing twice.
	seq 3001 3100 | bus-pub -t web.access
	export_bg 'web\..*' 'db\..*'
	wait_for '[ "$(stream_count LOGS)" = 5100 ]' 30
	stop_pid "$EXPORT_PID"
	[ "$(stream_count LOGS)" = 5100 ]
	[ "$(cat "$BUS_DIR/id")" = "$id" ]
}

@test "nats: export: kill -9 at random instants, 12 rounds: exactly once" {
	start_nats
	seq 1 200 | bus-pub -t t.a
	bus-nats export --server "$NATS_URL" --stream LOGS --name out \
	    --create-stream --from beginning --inflight 64 't\..*' &
	p=$!
	wait_for '[ "$(stream_count LOGS)" = 200 ]' 30
	kill -9 "$p"
	wait "$p" || true
	# A publisher keeps writing meanwhile, to two partitions.
	( for i in $(seq 1 60); do
		seq $((i * 1000)) $((i * 1000 + 199)) | bus-pub -t t.a
		seq $((i * 1000)) $((i * 1000 + 99)) | bus-pub -t t.b
	  done ) &
	pubpid=$!
	track_pid "$pubpid"
	for round in $(seq 1 12); do
		export_bg --inflight 64 't\..*'
		sleep "0.$((RANDOM % 40 + 5))"
		kill -9 "$EXPORT_PID"
		wait "$EXPORT_PID" || true
	done
	wait "$pubpid"
	total=$((200 + 60 * 300))
	export_bg 't\..*'
	wait_for '[ "$(stream_count LOGS)" = '$total' ]' 60
	run "$JSREAD" -q "$NATS_URL" LOGS
	[ "$status" -eq 0 ]
	[[ "$output" == *"$total messages, 2 partitions, 0 bad"* ]]
}

@test "nats: export: nats-server restarted mid-stream: reconnects, nothing lost or doubled" {
	start_nats
	seq 1 20000 | bus-pub -t big
	export_bg --create-stream --inflight 256 big
	wait_for '[ "$(stream_count LOGS)" -ge 2000 ]' 30
	stop_nats
	start_nats
	wait_for '[ "$(stream_count LOGS)" = 20000 ]' 60
	run "$JSREAD" -q "$NATS_URL" LOGS
	[ "$status" -eq 0 ]
	grep -q 'trying again' "$BATS_TEST_TMPDIR/export.log"
	# And it goes on with what comes next.
	seq 1 10 | bus-pub -t big
	wait_for '[ "$(stream_count LOGS)" = 20010 ]' 30
}

@test "nats: import with kill -9 of bus-nats and of busd at random instants: every message stored once" {
	start_nats
	A="$BUS_DIR"
	for i in 1 2 3 4; do
		seq $((i * 10000)) $((i * 10000 + 2999)) | bus-pub -t in.x
		seq $((i * 10000)) $((i * 10000 + 999)) | bus-pub -t in.y
	done
	bus-nats export --server "$NATS_URL" --stream LOGS --name out \
	    --create-stream --from beginning 'in\..*' &
	p=$!
	track_pid "$p"
	wait_for '[ "$(stream_count LOGS)" = 16000 ]' 30
	stop_pid "$p"
	B="$BATS_TEST_TMPDIR/B"
	track_store "$B"
	BUS_DIR="$B" start_busd
	for round in $(seq 1 12); do
		BUS_DIR="$B" bus-nats import --server "$NATS_URL" --stream LOGS \
		    --durable imp --topic 'copy.{topic}' --ack-wait 1 --batch 500 \
		    2>>"$BATS_TEST_TMPDIR/import.log" &
		ip=$!
		track_pid "$ip"
		sleep "0.$((RANDOM % 40 + 5))"
		if [ $((round % 2)) -eq 0 ]; then
			kill -9 "$(busd_pid "$B")" 2>/dev/null || true
			sleep "0.$((RANDOM % 20 + 5))"
		fi
		kill -9 "$ip"
		wait "$ip" || true
	done
	BUS_DIR="$B" bus-nats import --server "$NATS_URL" --stream LOGS \
	    --durable imp --topic 'copy.{topic}' --ack-wait 1 \
	    2>>"$BATS_TEST_TMPDIR/import.log" &
	track_pid $!
	wait_for '[ "$(bus-sub -d "$B" -e --from beginning "copy\..*" | wc -l)" -ge 16000 ]' 60
	# Every message once, in order, in each partition.
	diff <(bus-sub -d "$A" -e --from beginning 'in\.x') \
	    <(bus-sub -d "$B" -e --from beginning 'copy\.in\.x')
	diff <(bus-sub -d "$A" -e --from beginning 'in\.y') \
	    <(bus-sub -d "$B" -e --from beginning 'copy\.in\.y')
}

@test "nats: round trip store A -> JetStream -> store B, byte for byte" {
	start_nats
	A="$BUS_DIR"
	B="$BATS_TEST_TMPDIR/B"
	track_store "$B"
	printf 'plain\nwith\ttab\n\001\002 bytes \377\n' | bus-pub -t rt.one -k 'ké y' -T 'a=1' -T 'b=x y&z'
	printf 'r1\0r2\0' | bus-pub -0 -t rt.two -E @1700000000
	bus-pub -t rt.two -k gone --tombstone </dev/null
	bus-pub -t rt.empty '' </dev/null
	bus-nats export --server "$NATS_URL" --stream RT --name out \
	    --create-stream --subject 'rt.{partition}' --from beginning 'rt\..*' &
	track_pid $!
	[ "$(store_json "$A" | wc -l)" = 7 ]
	wait_for '[ "$(stream_count RT)" = 7 ]' 30
	BUS_DIR="$B" bus-nats import --server "$NATS_URL" --stream RT \
	    --durable back --topic '{topic}' &
	track_pid $!
	wait_for '[ "$(store_json "$B" | wc -l)" = 7 ]' 30
	diff <(store_json "$A") <(store_json "$B")
	# The payloads themselves, byte for byte.
	cmp <(bus-sub -d "$A" -0 -e --from beginning 'rt\..*') \
	    <(bus-sub -d "$B" -0 -e --from beginning 'rt\..*')
}

@test "nats: bad input: one line and a sysexits status each" {
	mkdir -p "$BUS_DIR"	# a store, empty: export reads, never makes one
	# No server there: 69.
	run bus-nats export --server nats://127.0.0.1:1 --stream S --name c x
	[ "$status" -eq 69 ]
	[ "${#lines[@]}" -eq 1 ]
	[[ "$output" == *"cannot reach the NATS server at nats://127.0.0.1:1"* ]]
	run bus-nats import --server nats://127.0.0.1:1 --stream S --durable d \
	    --topic 'x.{subject}'
	[ "$status" -eq 69 ]
	# An unknown field in a template: 64, before any connection.
	run bus-nats export --server nats://127.0.0.1:1 --stream S --name c \
	    --subject 'bus.{nope}' x
	[ "$status" -eq 64 ]
	[[ "$output" == *"unknown field {nope}"* ]]
	run bus-nats import --server nats://127.0.0.1:1 --stream S --durable d \
	    --topic 'x/{subject}'
	[ "$status" -eq 64 ]
	[[ "$output" == *"--topic 'x/{subject}' cannot make a valid topic"* ]]
	run bus-nats import --server nats://127.0.0.1:1 --stream S --durable d
	[ "$status" -eq 64 ]
	run bus-nats export --server nats://127.0.0.1:1 --stream S --name c \
	    --durable d x
	[ "$status" -eq 64 ]
	[[ "$output" == *"--durable is for bus-nats import only"* ]]
	start_nats
	# A stream that is not there: 66.
	run bus-nats export --server "$NATS_URL" --stream NOPE --name c x
	[ "$status" -eq 66 ]
	[ "${#lines[@]}" -eq 1 ]
	[[ "$output" == *"stream NOPE does not exist"* ]]
	run bus-nats import --server "$NATS_URL" --stream NOPE --durable d \
	    --topic 'x.{subject}'
	[ "$status" -eq 66 ]
	# A stream that does not take the subjects: 78.
	seq 1 3 | bus-pub -t odd.topic
	bus-nats export --server "$NATS_URL" --stream ODD --name c1 \
	    --create-stream --subject 'odd.{topic}' --from beginning 'odd\..*' &
	track_pid $!
	wait_for '[ "$(stream_count ODD)" = 3 ]' 30
	run bus-nats export --server "$NATS_URL" --stream ODD --name c2 \
	    --subject 'other.{topic}' 'odd\..*'
	[ "$status" -eq 78 ]
	[[ "$output" == *"stream ODD does not take every subject of other.>"* ]]
	# A subject that makes an invalid topic (too long): 65, naming it.
	run bus-nats import --server "$NATS_URL" --stream ODD --durable d \
	    --topic "$(printf '{subject}%.0s' $(seq 1 30))"
	[ "$status" -eq 65 ]
	[ "${#lines[@]}" -eq 1 ]
	[[ "$output" == *"makes an invalid topic of subject odd.odd.topic: longer than 255 bytes"* ]]
}

@test "nats: the example of two hosts shipping to a central store runs" {
	run sh "$BUS_ROOT/examples/nats-two-hosts.sh"
	[ "$status" -eq 0 ]
	[ "$(printf '%s\n' "${lines[@]}" | grep -c '^hub\.logs\.web0[12]\.web\.')" -eq 9 ]
	[[ "$output" == *"hub.logs.web02.web.access  web02 POST /login 302"* ]]
}

@test "nats: import with --filter: stream sequence numbers with gaps, each message once" {
	start_nats
	A="$BUS_DIR"
	for i in $(seq 1 20); do
		seq $((i * 100)) $((i * 100 + 49)) | bus-pub -t gap.x
		seq $((i * 100)) $((i * 100 + 9)) | bus-pub -t gap.y
	done
	bus-nats export --server "$NATS_URL" --stream GAPS --name out \
	    --create-stream --from beginning 'gap\..*' &
	p=$!
	track_pid "$p"
	wait_for '[ "$(stream_count GAPS)" = 1200 ]' 30
	stop_pid "$p"
	B="$BATS_TEST_TMPDIR/B"
	track_store "$B"
	BUS_DIR="$B" start_busd
	BUS_DIR="$B" bus-nats import --server "$NATS_URL" --stream GAPS \
	    --durable fx --filter 'bus.gap.x' --topic '{topic}' --batch 7 \
	    --ack-wait 1 2>>"$BATS_TEST_TMPDIR/import.log" &
	ip=$!
	track_pid "$ip"
	wait_for '[ "$(bus-sub -d "$B" -e --from beginning "gap\..*" | wc -l)" -ge 300 ]' 30
	kill -9 "$ip"
	kill -9 "$(busd_pid "$B")"
	BUS_DIR="$B" bus-nats import --server "$NATS_URL" --stream GAPS \
	    --durable fx --filter 'bus.gap.x' --topic '{topic}' --batch 7 \
	    --ack-wait 1 2>>"$BATS_TEST_TMPDIR/import.log" &
	track_pid $!
	wait_for '[ "$(bus-sub -d "$B" -e --from beginning "gap\..*" | wc -l)" -ge 1000 ]' 30
	diff <(bus-sub -d "$A" -e --from beginning 'gap\.x') \
	    <(bus-sub -d "$B" -e --from beginning 'gap\..*')
}
