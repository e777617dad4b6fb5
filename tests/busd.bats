#!/usr/bin/env bats
# busd(8): one per store, readiness, shutdown, recovery, rules, limits.

load helpers

all_of() {
	bus-sub --from beginning -e "$@"
}

@test "busd: a second busd on the same store exits 75 naming the pid holding it" {
	start_busd
	run --separate-stderr busd -b -d "$BUS_DIR"
	[ "$status" -eq 75 ]
	[ "$stderr" = "busd: store $BUS_DIR is in use by pid $BUSD_PID" ]
	run --separate-stderr busd -d "$BUS_DIR"
	[ "$status" -eq 75 ]
	[ "$stderr" = "busd: store $BUS_DIR is in use by pid $BUSD_PID" ]
	# The first one still serves.
	[ "$(busd_pids)" = "$BUSD_PID" ]
	run bus-pub --no-autostart -t t still-here
	[ "$status" -eq 0 ]
}

@test "busd: -b returns only when ready, prints nothing, and a publish right after succeeds" {
	[ ! -e "$BUS_DIR" ]
	run --separate-stderr busd -b -d "$BUS_DIR" 3>&-
	[ "$status" -eq 0 ]
	# Immediately usable, without autostart.
	bus-pub --no-autostart -t t ready
	[ "$(all_of t)" = "ready" ]
	local pid
	pid=$(busd_pid)
	[ "$(cat "/proc/$pid/comm")" = busd ]
	# Store 0750, socket 0660.
	[ "$(stat -c %a "$BUS_DIR")" = 750 ]
	[ "$(stat -c %a "$BUS_DIR/busd.sock")" = 660 ]
	[ -S "$BUS_DIR/busd.sock" ]
	# Detached, busd logs to syslog: nothing on stdout or stderr.
	echo "stdout: '$output' stderr: '$stderr'"
	[ "$output" = "" ]
	[ "$stderr" = "" ]
}

@test "busd: SIGTERM exits 0, removes the socket; after a restart every acknowledged message is there" {
	start_busd_fg "$BATS_TEST_TMPDIR/busd.log"
	local pid=$BUSD_PID
	seq 1 1000 | bus-pub --no-autostart -t t
	kill -TERM "$pid"
	wait_gone "$pid"
	local rc=0
	wait "$pid" || rc=$?
	[ "$rc" -eq 0 ]
	[ ! -e "$BUS_DIR/busd.sock" ]
	run bus-pub --no-autostart -t t nobody-listens
	[ "$status" -eq 69 ]
	start_busd
	all_of t >"$BATS_TEST_TMPDIR/got"
	seq 1 1000 | cmp - "$BATS_TEST_TMPDIR/got"
	# Offsets go on where they stopped.
	bus-pub -t t after
	run bus-sub --from -1 -e -F '%o %s' t
	[ "$output" = "1000 after" ]
}

@test "busd: SIGINT stops it like SIGTERM" {
	start_busd_fg "$BATS_TEST_TMPDIR/busd.log"
	local pid=$BUSD_PID
	bus-pub -t t one
	kill -INT "$pid"
	wait_gone "$pid"
	local rc=0
	wait "$pid" || rc=$?
	[ "$rc" -eq 0 ]
	[ ! -e "$BUS_DIR/busd.sock" ]
}

@test "busd: kill -9 after acknowledged publishes loses nothing; the clock goes on increasing" {
	start_busd
	seq 1 1000 | bus-pub -t t
	bus-pub -t u other
	local last
	last=$(bus-sub --from -1 -e -o json u | grep -o '"recv_ns":[0-9]*' | cut -d: -f2)
	kill -KILL "$BUSD_PID"
	wait_gone "$BUSD_PID"
	# A stale socket and pidfile stay behind; a new busd takes over.
	start_busd
	all_of t >"$BATS_TEST_TMPDIR/got"
	seq 1 1000 | cmp - "$BATS_TEST_TMPDIR/got"
	[ "$(all_of u)" = "other" ]
	bus-pub -t t next
	local r
	r=$(bus-sub --from -1 -e -o json t | grep -o '"recv_ns":[0-9]*' | cut -d: -f2)
	[ "$r" -gt "$last" ]
	run bus-sub --from -1 -e -F '%o %s' t
	[ "$output" = "1000 next" ]
}

@test "busd: an invalid rule regex exits 64 with the rule and PCRE2's message" {
	run --separate-stderr busd -b -d "$BUS_DIR" -r 'x:('
	[ "$status" -eq 64 ]
	[ "${#stderr_lines[@]}" -eq 1 ]
	[[ "$stderr" == "busd: "*"x:("* ]]
	[[ "$stderr" == *"missing closing parenthesis"* ]]
	[ -z "$(busd_pids)" ]
}

@test "busd: unsafe or malformed rule prefixes exit 64" {
	local r
	for r in '../x:.*' 'a/b:.*' '.x:.*' '..:.*' ':.*' '{topic}/x:.*' 'x y:.*' 'nocolon'; do
		run --separate-stderr busd -b -d "$BUS_DIR" -r "$r"
		echo "rule '$r': status $status: $stderr"
		[ "$status" -eq 64 ]
		[ "${#stderr_lines[@]}" -eq 1 ]
		[[ "$stderr" == "busd: "*"$r"* ]]
	done
	[ -z "$(busd_pids)" ]
	[ ! -e "$BATS_TEST_TMPDIR/x" ]
}

@test "busd: rule web:web\\..* puts web.a and web.b into log/web; bus-sub 'web\\.a' returns only web.a" {
	start_busd -r 'web:web\..*'
	bus-pub -t web.a a1
	bus-pub -t web.b b1
	bus-pub -t web.a a2
	bus-pub -t other o1
	[ -d "$BUS_DIR/log/web" ]
	[ -d "$BUS_DIR/log/other" ]
	[ ! -e "$BUS_DIR/log/web.a" ]
	[ ! -e "$BUS_DIR/log/web.b" ]
	[ "$(sort "$BUS_DIR/log/web/topics")" = $'web.a\nweb.b' ]
	run all_of 'web\.a'
	[ "$output" = $'a1\na2' ]
	run all_of -F '%t %p %o %s\n' 'web\..*'
	[ "$output" = $'web.a web 0 a1\nweb.b web 1 b1\nweb.a web 2 a2' ]
	run all_of -o json 'web\.b'
	echo "$output" | jq -e '.partition == "web" and .topic == "web.b" and .offset == 1'
}

@test "busd: {topic} in a rule prefix; -r rules come first, then the file, then the default" {
	mkdir -p "$BUS_DIR"
	printf 'rule conf-{topic}:x.*\nrule conf:y.*\n' >"$BUS_DIR/busd.conf"
	start_busd -r 'cli:x1' -r 'p-{topic}:z.*'
	bus-pub -t x1 a
	bus-pub -t x2 b
	bus-pub -t y1 c
	bus-pub -t z1 d
	bus-pub -t w1 e
	[ "$(partitions)" = $'cli\nconf\nconf-x2\np-z1\nw1' ]
}

@test "busd: a partition name over 255 bytes is a routing error for that message (bus-pub exits 65)" {
	start_busd -r '{topic}{topic}:.*'
	local t
	t=$(printf 'a%.0s' {1..200})
	run --separate-stderr bus-pub -t "$t" too-long
	[ "$status" -eq 65 ]
	[ "${#stderr_lines[@]}" -eq 1 ]
	run bus-pub -t ab fine
	[ "$status" -eq 0 ]
	[ -d "$BUS_DIR/log/abab" ]
	[ "$(all_of ab)" = "fine" ]
}

@test "busd: busd.conf rules are used, SIGHUP re-reads them, a bad file keeps the old rules" {
	mkdir -p "$BUS_DIR"
	printf '# routing\n\n  rule app:app\\..*  \n' >"$BUS_DIR/busd.conf"
	start_busd
	bus-pub -t app.one 1
	[ -d "$BUS_DIR/log/app" ]
	[ ! -e "$BUS_DIR/log/app.one" ]
	printf 'rule apps2:app\\..*\n' >"$BUS_DIR/busd.conf"
	kill -HUP "$BUSD_PID"
	bus-pub -t app.two 2
	[ -d "$BUS_DIR/log/apps2" ]
	[ ! -e "$BUS_DIR/log/app.two" ]
	[ "$(cat "$BUS_DIR/log/apps2/topics")" = "app.two" ]
	# A bad file: busd stays up with the rules it had.
	printf 'rule x:(\n' >"$BUS_DIR/busd.conf"
	kill -HUP "$BUSD_PID"
	bus-pub -t app.three 3
	kill -0 "$BUSD_PID"
	[ -d "$BUS_DIR/log/apps2" ]
	[ ! -e "$BUS_DIR/log/app.three" ]
	[ "$(sort "$BUS_DIR/log/apps2/topics")" = $'app.three\napp.two' ]
	run all_of 'app\..*'
	[ "$output" = $'1\n2\n3' ]
}

@test "busd: -c FILE is used instead of DIR/busd.conf" {
	mkdir -p "$BUS_DIR"
	printf 'rule ignored:.*\n' >"$BUS_DIR/busd.conf"
	printf 'rule chosen:.*\n' >"$BATS_TEST_TMPDIR/my.conf"
	start_busd -c "$BATS_TEST_TMPDIR/my.conf"
	bus-pub -t t x
	[ "$(partitions)" = "chosen" ]
}

@test "busd: a bad busd.conf line exits 78 naming file and line" {
	mkdir -p "$BUS_DIR"
	printf '# ok\nrule a:a.*\nbogus directive\n' >"$BUS_DIR/busd.conf"
	run --separate-stderr busd -b -d "$BUS_DIR"
	[ "$status" -eq 78 ]
	[ "${#stderr_lines[@]}" -eq 1 ]
	[[ "$stderr" == "busd: $BUS_DIR/busd.conf:3:"* ]]
	printf 'rule a:(\n' >"$BUS_DIR/busd.conf"
	run --separate-stderr busd -b -d "$BUS_DIR"
	[ "$status" -eq 78 ]
	[[ "$stderr" == *"busd.conf:1"* ]]
	[[ "$stderr" == *"missing closing parenthesis"* ]]
	run --separate-stderr busd -b -d "$BUS_DIR" -c "$BATS_TEST_TMPDIR/missing.conf"
	[ "$status" -eq 78 ]
	[[ "$stderr" == *missing.conf* ]]
	[ -z "$(busd_pids)" ]
}

@test "busd: rotation by size makes several segments of at most --segment-size; reading back is complete" {
	start_busd --segment-size 4K
	seq -f 'message-%04g-with-some-padding-to-fill' 1 1000 >"$BATS_TEST_TMPDIR/want"
	bus-pub -t t <"$BATS_TEST_TMPDIR/want"
	run seg_files t
	echo "$output"
	[ "${#lines[@]}" -ge 5 ]
	local f base prev=-1
	for f in "${lines[@]}"; do
		[ "$(stat -c %s "$f")" -le 4096 ]
		base=$(basename "$f" .seg)
		[[ "$base" =~ ^[0-9]{20}$ ]]
		[ $((10#$base)) -gt "$prev" ]
		prev=$((10#$base))
	done
	[ "$(basename "${lines[0]}")" = 00000000000000000000.seg ]
	all_of t >"$BATS_TEST_TMPDIR/got"
	cmp "$BATS_TEST_TMPDIR/want" "$BATS_TEST_TMPDIR/got"
	# The base offset of a segment is the offset of its first record.
	run bus-sub --from "$prev" -n 1 -e -F '%o' t
	[ "$output" = "$prev" ]
	# Seeking into sealed segments.
	run bus-sub --from 500 -n 2 -e -F '%o %s\n' t
	[ "$output" = $'500 message-0501-with-some-padding-to-fill\n501 message-0502-with-some-padding-to-fill' ]
	run bus-sub --from -2 -e -F '%o ' t
	[ "$output" = "998 999 " ]
	# Still complete after a restart.
	stop_busd
	start_busd --segment-size 4K
	bus-pub -t t extra
	run bus-sub --from -1 -e -F '%o %s' t
	[ "$output" = "1000 extra" ]
	[ "$(all_of t | wc -l)" -eq 1001 ]
}

@test "busd: invalid --rotate-at, --segment-size, --max-message, --max-clients exit 64" {
	local v
	for v in 25:00 12:60 1200 12:5 noon '' -1:00; do
		run --separate-stderr busd -b -d "$BUS_DIR" --rotate-at "$v"
		echo "--rotate-at '$v': $status"
		[ "$status" -eq 64 ]
		[[ "$stderr" == *rotate-at* ]]
	done
	for v in 100 4095 x 4Q ''; do
		run --separate-stderr busd -b -d "$BUS_DIR" --segment-size "$v"
		echo "--segment-size '$v': $status"
		[ "$status" -eq 64 ]
	done
	for v in 0 65M x; do
		run --separate-stderr busd -b -d "$BUS_DIR" --max-message "$v"
		echo "--max-message '$v': $status"
		[ "$status" -eq 64 ]
	done
	for v in 0 -1 x; do
		run --separate-stderr busd -b -d "$BUS_DIR" --max-clients "$v"
		echo "--max-clients '$v': $status"
		[ "$status" -eq 64 ]
	done
	run --separate-stderr busd -b -d "$BUS_DIR" --bogus
	[ "$status" -eq 64 ]
	run --separate-stderr busd -b -d "$BUS_DIR" extra-arg
	[ "$status" -eq 64 ]
	[ -z "$(busd_pids)" ]
}

@test "busd: valid --rotate-at and size suffixes are accepted" {
	start_busd --rotate-at 03:30 --segment-size 1MiB --max-message 64M --max-clients 10
	bus-pub -t t ok
	[ "$(all_of t)" = "ok" ]
}

@test "busd: torn tail: garbage after the last record is cut and logged with file and offset" {
	start_busd
	seq 1 10 | bus-pub -t t
	stop_busd
	local seg size
	seg=$(seg_files t | tail -n 1)
	size=$(stat -c %s "$seg")
	printf 'GARBAGE' >>"$seg"
	# Readers never show the garbage, with or without busd.
	[ "$(all_of t | wc -l)" -eq 10 ]
	start_busd_fg "$BATS_TEST_TMPDIR/busd.log"
	cat "$BATS_TEST_TMPDIR/busd.log"
	grep "$(basename "$seg")" "$BATS_TEST_TMPDIR/busd.log" | grep -w "$size"
	[ "$(stat -c %s "$seg")" -eq "$size" ]
	all_of t >"$BATS_TEST_TMPDIR/got"
	seq 1 10 | cmp - "$BATS_TEST_TMPDIR/got"
	bus-pub -t t 11
	run bus-sub --from -1 -e -F '%o %s' t
	[ "$output" = "10 11" ]
}

@test "busd: torn tail: a half-written last batch is cut, the batches before it stay" {
	start_busd
	seq 1 9 | bus-pub -t t
	bus-pub -t t 10
	stop_busd
	local seg size
	seg=$(seg_files t | tail -n 1)
	size=$(stat -c %s "$seg")
	truncate -s $((size - 3)) "$seg"
	run all_of t
	[ "$status" -eq 0 ]
	[ "$output" = "$(seq 1 9)" ]
	start_busd_fg "$BATS_TEST_TMPDIR/busd.log"
	grep "$(basename "$seg")" "$BATS_TEST_TMPDIR/busd.log"
	[ "$(stat -c %s "$seg")" -lt $((size - 3)) ]
	bus-pub -t t again
	run all_of -F '%o:%s ' t
	[ "$output" = "0:1 1:2 2:3 3:4 4:5 5:6 6:7 7:8 8:9 9:again " ]
}

@test "busd: --max-clients 1 refuses a second concurrent connection with exit 75" {
	start_busd --max-clients 1
	mkfifo "$BATS_TEST_TMPDIR/fifo"
	{ echo held; exec sleep 30; } >"$BATS_TEST_TMPDIR/fifo" 3>&- &
	local feeder=$!
	track_pid "$feeder"
	bus-pub -t x <"$BATS_TEST_TMPDIR/fifo" 3>&- &
	local holder=$!
	track_pid "$holder"
	# The first connection is being served once its message is stored.
	wait_for "bus-sub --from beginning -e x | grep -qx held"
	local i rc codes=""
	for i in $(seq 1 20); do
		rc=0
		bus-pub -t x refused 2>"$BATS_TEST_TMPDIR/err" || rc=$?
		codes+="$rc "
		echo "try $i: exit $rc: $(cat "$BATS_TEST_TMPDIR/err")"
		[ "$rc" -eq 75 ]
		[ "$(cat "$BATS_TEST_TMPDIR/err")" = "bus-pub: busd: too many clients" ]
	done
	[ "$(all_of x)" = "held" ]
	# Once the first one is done, there is room again.
	kill "$feeder"
	wait_gone "$holder"
	rc=0
	wait "$holder" || rc=$?
	[ "$rc" -eq 0 ]
	bus-pub -t x later
	[ "$(all_of x)" = $'held\nlater' ]
}

@test "busd: a malformed frame closes that connection, never busd" {
	python3 -c 'import socket' 2>/dev/null || skip "python3 not available"
	start_busd
	python3 - "$BUS_DIR/busd.sock" <<'EOF'
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sys.argv[1])
s.sendall(b"\xff\xff\xff\x7fgarbage that is no frame at all" * 4)
s.settimeout(5)
try:
    while s.recv(4096):
        pass
except (ConnectionResetError, BrokenPipeError):
    pass
EOF
	kill -0 "$BUSD_PID"
	bus-pub --no-autostart -t t alive
	[ "$(all_of t)" = "alive" ]
}

@test "busd: a store path too long for a socket exits 73" {
	local d="$BATS_TEST_TMPDIR/$(printf 'd%.0s' {1..110})"
	track_store "$d"
	run --separate-stderr busd -b -d "$d"
	[ "$status" -eq 73 ]
	[ "${#stderr_lines[@]}" -eq 1 ]
	[[ "$stderr" == busd:*busd.sock* ]]
	[ -z "$(busd_pids "$d")" ]
}

@test "busd: --status prints each partition from the files, and busd's figures while it runs; -o json for scripts" {
	start_busd
	bus-pub -t alpha a1 a2 a3
	bus-pub -t beta b1
	run busd --status -d "$BUS_DIR" -o json
	[ "$status" -eq 0 ]
	[ "$(printf '%s\n' "$output" | jq -c '[.busd.running, .busd.messages, [.partitions[] | [.name, .first_offset, .last_offset]]]')" = '[true,4,[["alpha",0,2],["beta",0,0]]]' ]
	run busd --status -d "$BUS_DIR"
	[ "$status" -eq 0 ]
	[[ "$output" == *"received 4 messages"* ]]
	[[ "$output" == *"alpha "* ]]
	stop_busd
	# From the files alone.
	run busd --status -d "$BUS_DIR" -o json
	[ "$status" -eq 0 ]
	[ "$(printf '%s\n' "$output" | jq -c '[.busd.running, [.partitions[].name]]')" = '[false,["alpha","beta"]]' ]
	run busd --status -d "$BUS_DIR" -o yaml
	[ "$status" -eq 64 ]
}

@test "busd: --status where there is no store exits 66 naming the directory, as --verify and bus-rotate --status do" {
	run --separate-stderr busd --status -d "$BATS_TEST_TMPDIR/none"
	[ "$status" -eq 66 ]
	[ "$stderr" = "busd: no bus store at $BATS_TEST_TMPDIR/none" ]
	[ "$output" = "" ]
	[ ! -e "$BATS_TEST_TMPDIR/none" ]
}

@test "busd: --sync-interval syncs written data on a timer; 0 never does; a bad value exits 64" {
	start_busd_fg "$BATS_TEST_TMPDIR/log" -v --sync-interval 100ms
	bus-pub -t timed x
	wait_for "grep -q 'partition timed: in sync' '$BATS_TEST_TMPDIR/log'" 3
	n=$(sed -n 's/.*partition timed: in sync \([0-9]*\)$/\1/p' \
	    "$BATS_TEST_TMPDIR/log" | head -n 1)
	[ -n "$n" ]
	wait_for "grep -q 'sync $n: done' '$BATS_TEST_TMPDIR/log'" 3
	stop_busd
	start_busd_fg "$BATS_TEST_TMPDIR/log0" -v --sync-interval 0
	bus-pub -t never x
	# Nothing syncs it: after a second (ten times the interval above)
	# there is still no sync in the log.
	sleep 1
	if grep -q 'partition never: in sync' "$BATS_TEST_TMPDIR/log0"; then false; fi
	stop_busd
	run busd -d "$BUS_DIR" --sync-interval soon
	[ "$status" -eq 64 ]
}

@test "busd: 1500 connections of malformed input (noise, damaged frames, oversized lengths, hang-ups) never stop it; it still serves and the store verifies clean" {
	local g=$BATS_TEST_DIRNAME/fault/garbage
	[ -x "$g" ] || make -s -C "$BATS_TEST_DIRNAME/.." tests/fault/garbage
	start_busd
	run "$g" "$BUS_DIR" 1500 "${BUS_TEST_SEED:-$RANDOM}"
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(busd_pid)" = "$BUSD_PID" ]
	kill -0 "$BUSD_PID"
	seq 1 1000 | bus-pub --no-autostart -t after
	[ "$(bus-sub --from beginning -e after | wc -l)" -eq 1000 ]
	stop_busd
	run busd --verify -d "$BUS_DIR"
	echo "$output"
	[ "$status" -eq 0 ]
}

@test "busd: a PUBLISH with a byte after its last message: its messages are stored and acknowledged, then ERROR 1 and the connection closes" {
	local rp=$BATS_TEST_DIRNAME/fault/rawpub
	[ -x "$rp" ] || make -s -C "$BATS_TEST_DIRNAME/.." tests/fault/rawpub
	start_busd
	run "$rp" -x publish "$BUS_DIR" 7 1 t:one t:two
	echo "$output"
	[ "$status" -eq 1 ]
	[ "$output" = "$(printf '%s\n' 'hello 0' '1 0' '2 1' \
	    'error 1 0 bytes after the last message' closed)" ]
	[ "$(all_of t | tr '\n' ' ')" = "one two " ]
	# busd still serves, and knows the producer has both.
	run "$rp" "$BUS_DIR" 7 1 t:one t:two t:three
	[ "$output" = "$(printf '%s\n' 'hello 2' '1 dup' '2 dup' '3 2')" ]
}

@test "busd: a HELLO with a byte after its body is refused with ERROR 1 and the connection closes" {
	local rp=$BATS_TEST_DIRNAME/fault/rawpub
	[ -x "$rp" ] || make -s -C "$BATS_TEST_DIRNAME/.." tests/fault/rawpub
	start_busd
	run "$rp" -x hello "$BUS_DIR" 7 1 t:one
	echo "$output"
	[ "$status" -eq 1 ]
	[ "$output" = "$(printf '%s\n' 'error 1 0 bad HELLO' closed)" ]
	run "$rp" "$BUS_DIR" 7 1
	[ "$output" = "hello 0" ]
	[ "$(all_of t | wc -l)" -eq 0 ]
}

@test "busd: SEAL and STATUS with a byte after their body are refused with ERROR 1 and the connection closes" {
	local rp=$BATS_TEST_DIRNAME/fault/rawpub
	[ -x "$rp" ] || make -s -C "$BATS_TEST_DIRNAME/.." tests/fault/rawpub
	start_busd
	bus-pub --no-autostart -t t x
	run "$rp" -x seal -s t "$BUS_DIR"
	echo "$output"
	[ "$status" -eq 1 ]
	[ "$output" = "$(printf '%s\n' 'error 1 0 malformed SEAL' closed)" ]
	ls "$BUS_DIR/log/t"
	[ "$(ls "$BUS_DIR/log/t" | grep -c '\.seg$')" -eq 1 ]
	run "$rp" -x status -S "$BUS_DIR"
	echo "$output"
	[ "$status" -eq 1 ]
	[ "$output" = "$(printf '%s\n' 'error 1 0 malformed STATUS' closed)" ]
	# Well-formed, both are answered.
	run "$rp" -s t "$BUS_DIR"
	[ "$output" = "sealed 1" ]
	run "$rp" -S "$BUS_DIR"
	[ "$status" -eq 0 ]
	[[ "$output" == '{"pid":'* ]]
}

@test "busd: a SEAL pattern with a NUL byte in it is refused as an invalid pattern (ERROR 8), not cut at the NUL" {
	local rp=$BATS_TEST_DIRNAME/fault/rawpub
	[ -x "$rp" ] || make -s -C "$BATS_TEST_DIRNAME/.." tests/fault/rawpub
	start_busd
	bus-pub --no-autostart -t t x
	run "$rp" -s 't%00u' "$BUS_DIR"
	echo "$output"
	[ "$status" -eq 1 ]
	[ "$output" = "$(printf '%s\n' 'error 8 0 pattern contains a NUL byte' open)" ]
	# Nothing was sealed.
	[ "$(ls "$BUS_DIR/log/t" | grep -c '\.seg$')" -eq 1 ]
}
