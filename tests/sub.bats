#!/usr/bin/env bats
# bus-sub(1): positions, output formats, patterns, following.

load helpers

# pub_n TOPIC N: publish m0 .. m(N-1) to TOPIC, one bus-pub each.
pub_n() {
	local i
	for ((i = 0; i < $2; i++)); do
		bus-pub --no-autostart -t "$1" "m$i"
	done
}

# recv_of TOPIC OFFSET: the exact recv_ns of one record (not via jq:
# jq's doubles cannot hold 19 digits).
recv_of() {
	bus-sub --from "$2" -n 1 -o json "$1" | grep -o '"recv_ns":[0-9]*' | cut -d: -f2
}

# ns_arg NS DELTA: @UNIX.FRACTION for NS+DELTA nanoseconds.
ns_arg() {
	local v=$(($1 + $2))
	printf '@%d.%09d' $((v / 1000000000)) $((v % 1000000000))
}

# follow OUTFILE ARGS...: bus-sub ARGS in the background, output to
# OUTFILE, stderr to OUTFILE.err; teardown stops it.
follow() {
	local out=$1
	shift
	bus-sub "$@" >"$out" 2>"$out.err" 3>&- &
	SUB_PID=$!
	track_pid "$SUB_PID"
}

@test "sub: --from beginning prints everything; the default (end) prints nothing with -e" {
	start_busd
	pub_n t 3
	run --separate-stderr bus-sub --from beginning -e t
	[ "$status" -eq 0 ]
	[ "$output" = $'m0\nm1\nm2' ]
	[ "$stderr" = "" ]
	run bus-sub -e t
	[ "$status" -eq 0 ]
	[ "$output" = "" ]
	run bus-sub --from end -e t
	[ "$output" = "" ]
	run bus-sub --from now -e t
	[ "$output" = "" ]
}

@test "sub: --from OFFSET starts at that offset of each partition" {
	start_busd
	pub_n t 10
	run bus-sub --from 3 -e t
	[ "$status" -eq 0 ]
	[ "$output" = "$(printf 'm%d\n' 3 4 5 6 7 8 9)" ]
	run bus-sub --from 0 -e -F '%o,' t
	[ "$output" = "0,1,2,3,4,5,6,7,8,9," ]
	run bus-sub --from 9 -e t
	[ "$output" = "m9" ]
	run bus-sub --from 10 -e t
	[ "$status" -eq 0 ]
	[ "$output" = "" ]
	pub_n u 2
	run bus-sub --from 1 -e -F '%t:%o ' t u
	[ "$output" = "t:1 t:2 t:3 t:4 t:5 t:6 t:7 t:8 t:9 u:1 " ]
}

@test "sub: --from -N gives the last N records of each partition; -10 is a count" {
	start_busd
	pub_n t 12
	pub_n u 3
	run bus-sub --from -3 -e t
	[ "$status" -eq 0 ]
	[ "$output" = $'m9\nm10\nm11' ]
	run bus-sub --from -10 -e -F '%o ' t
	[ "$output" = "2 3 4 5 6 7 8 9 10 11 " ]
	run bus-sub --from -2 -e -F '%t:%s ' t u
	[ "$output" = "t:m10 t:m11 u:m1 u:m2 " ]
	run bus-sub --from -100 -e u
	[ "$output" = $'m0\nm1\nm2' ]
}

@test "sub: --from @UNIX and @RFC3339: the first message received at or after that time" {
	start_busd
	pub_n t 5
	local r s n
	r=$(recv_of t 2)
	[[ "$r" =~ ^[0-9]{19}$ ]]
	run bus-sub -e --from "$(ns_arg "$r" 0)" t
	[ "$output" = $'m2\nm3\nm4' ]
	run bus-sub -e --from "$(ns_arg "$r" -1)" t
	[ "$output" = $'m2\nm3\nm4' ]
	run bus-sub -e --from "$(ns_arg "$r" 1)" t
	[ "$output" = $'m3\nm4' ]
	s=$((r / 1000000000))
	n=$(printf '%09d' $((r % 1000000000)))
	run bus-sub -e --from "@$(date -u -d "@$s" +%Y-%m-%dT%H:%M:%S).${n}Z" t
	[ "$status" -eq 0 ]
	[ "$output" = $'m2\nm3\nm4' ]
	run bus-sub -e --from "@$(date -u -d "@$((s + 3600))" +%Y-%m-%dT%H:%M:%S).${n}+01:00" t
	[ "$output" = $'m2\nm3\nm4' ]
	# After everything: nothing.  Long before: everything.
	run bus-sub -e --from "@$((s + 10))" t
	[ "$output" = "" ]
	run bus-sub -e --from @1000000000 t
	[ "$output" = "$(printf 'm%d\n' 0 1 2 3 4)" ]
}

@test "sub: --from relative time (-1h, -1s) counts back from now" {
	start_busd
	pub_n t 2
	run bus-sub -e --from -1h t
	[ "$output" = $'m0\nm1' ]
	run bus-sub -e --from -30m t
	[ "$output" = $'m0\nm1' ]
	run bus-sub -e --from -2d t
	[ "$output" = $'m0\nm1' ]
	# Let a second pass after m1 was received, then publish m2.
	local r
	r=$(recv_of t 1)
	wait_for "[ \$(date +%s%N) -gt $((r + 1100000000)) ]"
	bus-pub -t t m2
	run bus-sub -e --from -1s t
	[ "$output" = "m2" ]
}

@test "sub: an invalid --from exits 64" {
	start_busd
	pub_n t 1
	local pos
	for pos in bogus @bogus '' -1x 1.5 @2026-13-45T00:00:00Z; do
		run --separate-stderr bus-sub -e --from "$pos" t
		echo "--from '$pos': status $status"
		[ "$status" -eq 64 ]
		[ "$output" = "" ]
		[[ "$stderr" == "bus-sub: "*"--from"* ]]
	done
}

@test "sub: -e exits 0 once caught up, with busd running and with busd stopped" {
	start_busd
	pub_n t 3
	run timeout 5 bus-sub --from beginning -e t
	[ "$status" -eq 0 ]
	[ "$output" = $'m0\nm1\nm2' ]
	stop_busd
	[ -z "$(busd_pids)" ]
	run timeout 5 bus-sub --from beginning -e t
	[ "$status" -eq 0 ]
	[ "$output" = $'m0\nm1\nm2' ]
	run timeout 5 bus-sub --from beginning -e 'no-such-topic'
	[ "$status" -eq 0 ]
	[ "$output" = "" ]
}

@test "sub: -e pins the end when it starts: it exits while a publisher keeps writing" {
	start_busd
	bus-pub -t t first
	# A steady publisher (throttled so the store stays small).
	{ while :; do echo more; sleep 0.002; done; } 3>&- | bus-pub -t t 3>&- &
	track_pid $!
	wait_for "[ \$(bus-sub --from beginning -e t | wc -l) -gt 20 ]"
	run timeout 10 bus-sub --from beginning -e t
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "first" ]
	[ "${#lines[@]}" -gt 20 ]
}

@test "sub: -n COUNT exits after COUNT messages, following or not" {
	start_busd
	pub_n t 5
	run timeout 5 bus-sub --from beginning -n 3 t
	[ "$status" -eq 0 ]
	[ "$output" = $'m0\nm1\nm2' ]
	run timeout 5 bus-sub --from beginning -n 10 -e t
	[ "$status" -eq 0 ]
	[ "$output" = "$(printf 'm%d\n' 0 1 2 3 4)" ]
	run timeout 5 bus-sub --from 4 -n 1 t
	[ "$output" = "m4" ]
	run --separate-stderr bus-sub -n 0 -e t
	[ "$status" -eq 64 ]
	run --separate-stderr bus-sub -n many -e t
	[ "$status" -eq 64 ]
}

@test "sub: -n COUNT waits for messages still to come" {
	start_busd
	pub_n t 1
	follow "$BATS_TEST_TMPDIR/out" --from beginning -n 3 t
	wait_for "[ \$(nlines '$BATS_TEST_TMPDIR/out') -eq 1 ]"
	pid_gone "$SUB_PID" && false
	bus-pub -t t m1 m2 m3
	wait_for "pid_gone $SUB_PID"
	local rc=0
	wait "$SUB_PID" || rc=$?
	[ "$rc" -eq 0 ]
	[ "$(cat "$BATS_TEST_TMPDIR/out")" = $'m0\nm1\nm2' ]
}

@test "sub: -o json has every field, integer times, key null, tags" {
	start_busd
	bus-pub -t app.log -T host=a -T lvl=warn 'hello world'
	bus-pub -t app.log -k k1 keyed
	run --separate-stderr bus-sub --from beginning -e -o json app.log
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 2 ]
	local l=${lines[0]}
	echo "$l" | jq -e '.topic == "app.log" and .partition == "app.log" and .offset == 0'
	echo "$l" | jq -e '.key == null and .tags == {"host":"a","lvl":"warn"}'
	echo "$l" | jq -e '.payload == "hello world" and .encoding == "utf-8"'
	echo "$l" | jq -e '(.event_ns|type) == "number" and (.send_ns|type) == "number" and (.recv_ns|type) == "number"'
	echo "$l" | jq -e 'has("tombstone") | not'
	# Plain integers, not strings, floats or exponents.
	[[ "$l" =~ \"offset\":0[,}] ]]
	[[ "$l" =~ \"event_ns\":[0-9]{19}[,}] ]]
	[[ "$l" =~ \"send_ns\":[0-9]{19}[,}] ]]
	[[ "$l" =~ \"recv_ns\":[0-9]{19}[,}] ]]
	echo "${lines[1]}" | jq -e '.key == "k1" and .offset == 1 and .tags == {}'
	# Receive time is after send time, send time is event time by default.
	local ev sd rc
	ev=$(grep -o '"event_ns":[0-9]*' <<<"$l" | cut -d: -f2)
	sd=$(grep -o '"send_ns":[0-9]*' <<<"$l" | cut -d: -f2)
	rc=$(grep -o '"recv_ns":[0-9]*' <<<"$l" | cut -d: -f2)
	[ "$ev" -eq "$sd" ]
	[ "$rc" -ge "$sd" ]
}

@test "sub: -o json encoding: utf-8 text is escaped exactly, other bytes are base64" {
	start_busd
	printf '\xff\xfe' | bus-pub -0 -t t
	printf 'h\xc3\xa9llo \xe2\x82\xac' | bus-pub -0 -t t
	printf 'q"b\\s\tt\nn\x01\x1f end' >"$BATS_TEST_TMPDIR/tricky"
	bus-pub -0 -t t <"$BATS_TEST_TMPDIR/tricky"
	printf '' | bus-pub -0 -t t
	bus-pub -t t ''
	run bus-sub --from beginning -e -o json t
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 4 ]
	echo "${lines[0]}" | jq -e '.encoding == "base64" and .payload == "//4="'
	echo "${lines[1]}" | jq -e '.encoding == "utf-8" and .payload == "héllo €"'
	echo "${lines[2]}" | jq -e '.encoding == "utf-8"'
	echo "${lines[2]}" | jq -j '.payload' | cmp - "$BATS_TEST_TMPDIR/tricky"
	echo "${lines[3]}" | jq -e '.encoding == "utf-8" and .payload == ""'
	# Every line is one JSON object.
	bus-sub --from beginning -e -o json t | jq -e -s 'length == 4'
}

@test "sub: -o json strings: a key or tag that is not UTF-8 is written as \\u00XX, byte for byte" {
	start_busd
	bus-pub -t t -k $'k\xff\x01' -T $'n=v\xc3\x28"' payload
	run bus-sub --from beginning -e -o json t
	[ "$status" -eq 0 ]
	[[ "${lines[0]}" == *'"key":"k\u00ff\u0001"'* ]]
	[[ "${lines[0]}" == *'"tags":{"n":"v\u00c3(\""}'* ]]
	echo "${lines[0]}" | jq -e '.payload == "payload"'
}

@test "sub: -F format directives and escapes" {
	start_busd
	bus-pub -t web.access -k k1 -T a=1 -T b=2 'GET /'
	bus-pub -t web.access plain
	run bus-sub --from beginning -e -F '%t|%p|%o|%k|%s|%S|%h|%%|x\ty\\z\n' web.access
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = $'web.access|web.access|0|k1|GET /|5|a=1,b=2|%|x\ty\\z' ]
	[ "${lines[1]}" = $'web.access|web.access|1||plain|5||%|x\ty\\z' ]
	# Times are RFC3339 UTC.
	run bus-sub --from beginning -n 1 -F '%T %e %u\n' web.access
	[[ "$output" =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?Z\ [0-9]{4}-.*Z\ [0-9]{4}-.*Z$ ]]
}

@test "sub: -F adds no newline of its own; \\0 is a NUL byte" {
	start_busd
	bus-pub -t t a b c
	bus-sub --from beginning -e -F '%s' t >"$BATS_TEST_TMPDIR/got"
	printf 'abc' | cmp - "$BATS_TEST_TMPDIR/got"
	bus-sub --from beginning -e -F '%o\0' t >"$BATS_TEST_TMPDIR/got"
	printf '0\0001\0002\000' | cmp - "$BATS_TEST_TMPDIR/got"
}

@test "sub: several patterns merge into one stream ordered by recv_ns" {
	start_busd
	local i want=""
	for i in 1 2 3 4 5 6 7 8; do
		bus-pub -t a "a$i"
		bus-pub -t b "b$i"
		want+="a$i b$i "
	done
	run bus-sub --from beginning -e -F '%s ' a b
	[ "$output" = "$want" ]
	run bus-sub --from beginning -e -o json b a
	[ "${#lines[@]}" -eq 16 ]
	local prev=0 r l
	for l in "${lines[@]}"; do
		r=$(grep -o '"recv_ns":[0-9]*' <<<"$l" | cut -d: -f2)
		[ "$r" -gt "$prev" ]
		prev=$r
	done
	[ "$(printf '%s\n' "${lines[@]}" | jq -r .payload | sort | tr '\n' ' ')" = "a1 a2 a3 a4 a5 a6 a7 a8 b1 b2 b3 b4 b5 b6 b7 b8 " ]
}

@test "sub: a live merge of two partitions arrives in recv_ns order" {
	start_busd
	bus-pub -t a a0
	bus-pub -t b b0
	follow "$BATS_TEST_TMPDIR/out" a b
	# Following for sure once live probes come through.
	wait_for "bus-pub -t a probe-a; bus-pub -t b probe-b; grep -qx probe-b '$BATS_TEST_TMPDIR/out'"
	: >"$BATS_TEST_TMPDIR/want"
	local i
	for i in 1 2 3 4 5 6; do
		bus-pub -t a "a$i"
		bus-pub -t b "b$i"
		printf 'a%d\nb%d\n' "$i" "$i" >>"$BATS_TEST_TMPDIR/want"
	done
	wait_for "grep -qx b6 '$BATS_TEST_TMPDIR/out'"
	grep -v '^probe-' "$BATS_TEST_TMPDIR/out" | cmp "$BATS_TEST_TMPDIR/want" -
	# The probes too came in the order they were published (the first
	# probe-a may have been before bus-sub started).
	local probes
	probes=$(grep '^probe-' "$BATS_TEST_TMPDIR/out" | tr '\n' ' ')
	probes=${probes#probe-b }
	[[ "$probes" =~ ^(probe-a\ probe-b\ )*$ ]]
}

@test "sub: patterns match the whole topic: 'web' is not 'web.access'" {
	start_busd
	bus-pub -t web w
	bus-pub -t web.access wa
	bus-pub -t webx wx
	bus-pub -t aweb aw
	run bus-sub --from beginning -e web
	[ "$output" = "w" ]
	run bus-sub --from beginning -e 'web\..*'
	[ "$output" = "wa" ]
	run bus-sub --from beginning -e 'web.*'
	[ "$output" = $'w\nwa\nwx' ]
	run bus-sub --from beginning -e 'eb'
	[ "$output" = "" ]
	run bus-sub --from beginning -e 'web|aweb'
	[ "$output" = $'w\naw' ]
}

@test "sub: an invalid regex exits 64 with PCRE2's message" {
	start_busd
	bus-pub -t t x
	run --separate-stderr bus-sub --from beginning -e '('
	[ "$status" -eq 64 ]
	[ "$output" = "" ]
	[ "${#stderr_lines[@]}" -eq 1 ]
	[[ "$stderr" == "bus-sub: "*"missing closing parenthesis"* ]]
	run --separate-stderr bus-sub --from beginning -e t 'a[b'
	[ "$status" -eq 64 ]
	[ "$output" = "" ]
	[[ "$stderr" == "bus-sub: "*"a[b"*"missing terminating ] for character class"* ]]
}

@test "sub: usage errors exit 64" {
	run --separate-stderr bus-sub -e
	[ "$status" -eq 64 ]
	[[ "$stderr" == *usage:* ]]
	run --separate-stderr bus-sub -o yaml -e t
	[ "$status" -eq 64 ]
	run --separate-stderr bus-sub --bogus -e t
	[ "$status" -eq 64 ]
}

@test "sub: following from the end gets messages published after it started, not before" {
	start_busd
	bus-pub -t t old
	follow "$BATS_TEST_TMPDIR/out" t
	wait_for "bus-pub -t t probe; grep -qx probe '$BATS_TEST_TMPDIR/out'"
	bus-pub -t t new1
	wait_for "grep -qx new1 '$BATS_TEST_TMPDIR/out'" 1
	bus-pub -t t new2 new3
	wait_for "grep -qx new3 '$BATS_TEST_TMPDIR/out'" 1
	[ "$(grep -vx probe "$BATS_TEST_TMPDIR/out")" = $'new1\nnew2\nnew3' ]
}

@test "sub: following from the beginning prints history then live messages within a second" {
	start_busd
	bus-pub -t t h1 h2
	follow "$BATS_TEST_TMPDIR/out" --from beginning t
	wait_for "[ \$(nlines '$BATS_TEST_TMPDIR/out') -ge 2 ]"
	bus-pub -t t live
	wait_for "grep -qx live '$BATS_TEST_TMPDIR/out'" 1
	# A line on a pipe that stays open leaves as soon as it is read.
	mkfifo "$BATS_TEST_TMPDIR/fifo"
	bus-pub -t t <"$BATS_TEST_TMPDIR/fifo" 3>&- &
	local pub=$!
	track_pid "$pub"
	local w
	exec {w}>"$BATS_TEST_TMPDIR/fifo"
	echo slow1 >&"$w"
	wait_for "grep -qx slow1 '$BATS_TEST_TMPDIR/out'" 1
	echo slow2 >&"$w"
	wait_for "grep -qx slow2 '$BATS_TEST_TMPDIR/out'" 1
	exec {w}>&-
	wait_for "pid_gone $pub"
	local rc=0
	wait "$pub" || rc=$?
	[ "$rc" -eq 0 ]
	[ "$(cat "$BATS_TEST_TMPDIR/out")" = $'h1\nh2\nlive\nslow1\nslow2' ]
	[ ! -s "$BATS_TEST_TMPDIR/out.err" ]
}

@test "sub: following across size rotation: every line exactly once, in order" {
	start_busd --segment-size 4096
	follow "$BATS_TEST_TMPDIR/out" --from beginning t
	local b
	: >"$BATS_TEST_TMPDIR/want"
	for b in $(seq 1 20); do
		seq -f "batch-$b-line-%03g-padding-padding-padding" 1 100 >"$BATS_TEST_TMPDIR/batch"
		bus-pub -t t <"$BATS_TEST_TMPDIR/batch"
		cat "$BATS_TEST_TMPDIR/batch" >>"$BATS_TEST_TMPDIR/want"
	done
	wait_for "[ \$(nlines '$BATS_TEST_TMPDIR/out') -ge 2000 ]"
	cmp "$BATS_TEST_TMPDIR/want" "$BATS_TEST_TMPDIR/out"
	[ "$(seg_files t | wc -l)" -ge 10 ]
	# And nothing more arrives.
	bus-pub -t t last
	wait_for "grep -qx last '$BATS_TEST_TMPDIR/out'" 1
	[ "$(nlines "$BATS_TEST_TMPDIR/out")" -eq 2001 ]
}

@test "sub: a matching topic created after bus-sub started is picked up" {
	start_busd
	bus-pub -t new.a before
	follow "$BATS_TEST_TMPDIR/out" -F '%t %s\n' 'new\..*'
	wait_for "bus-pub -t new.a probe; grep -qx 'new.a probe' '$BATS_TEST_TMPDIR/out'"
	bus-pub -t new.b b1
	bus-pub -t other o1
	bus-pub -t new.a a1
	bus-pub -t new.c c1
	wait_for "[ \$(nlines '$BATS_TEST_TMPDIR/out') -ge 3 ]" 2
	bus-pub -t new.b b2
	wait_for "grep -qx 'new.b b2' '$BATS_TEST_TMPDIR/out'" 1
	[ "$(grep -vx 'new.a probe' "$BATS_TEST_TMPDIR/out")" = $'new.b b1\nnew.a a1\nnew.c c1\nnew.b b2' ]
}

@test "sub: -e on a nonexistent store exits 66 and creates nothing" {
	local nope="$BATS_TEST_TMPDIR/nope"
	run --separate-stderr bus-sub -d "$nope" -e --from beginning t
	[ "$status" -eq 66 ]
	[ "$output" = "" ]
	[ "${#stderr_lines[@]}" -eq 1 ]
	[[ "$stderr" == "bus-sub: "*"$nope"* ]]
	[ ! -e "$nope" ]
	BUS_DIR="$nope" run bus-sub -e t
	[ "$status" -eq 66 ]
}

@test "sub: history reads and follows with busd stopped" {
	start_busd
	pub_n t 3
	pub_n u 2
	stop_busd
	[ ! -S "$BUS_DIR/busd.sock" ]
	run bus-sub --from beginning -e t u
	[ "$status" -eq 0 ]
	[ "$output" = "$(printf 'm%d\n' 0 1 2 0 1)" ]
	follow "$BATS_TEST_TMPDIR/out" --from beginning t u
	wait_for "[ \$(nlines '$BATS_TEST_TMPDIR/out') -ge 5 ]"
	[ "$(cat "$BATS_TEST_TMPDIR/out")" = "$(printf 'm%d\n' 0 1 2 0 1)" ]
	# Following with no busd needs none started.
	[ -z "$(busd_pids)" ]
}

@test "sub: SIGPIPE: bus-sub | head -1 exits 0 quietly with the first line" {
	start_busd
	seq 1 200000 | bus-pub -t t
	run --separate-stderr bash -c 'bus-sub --from beginning -e t | head -1; echo "status: ${PIPESTATUS[*]}"'
	[ "$status" -eq 0 ]
	[ "$output" = $'1\nstatus: 0 0' ]
	[ "$stderr" = "" ]
	run --separate-stderr bash -c 'bus-sub --from beginning -e t | head -1'
	[ "$status" -eq 0 ]
	[ "$output" = "1" ]
}

@test "sub: -d DIR wins over BUS_DIR" {
	start_busd
	bus-pub -t t here
	BUS_DIR="$BATS_TEST_TMPDIR/elsewhere" run bus-sub -d "$BUS_DIR" --from beginning -e t
	[ "$status" -eq 0 ]
	[ "$output" = "here" ]
}

@test "sub: overlapping patterns print each message once" {
	start_busd
	bus-pub -t t one
	bus-pub -t u two
	run bus-sub --from beginning -e t 't|u' '.*'
	[ "$status" -eq 0 ]
	[ "$output" = $'one\ntwo' ]
}

@test "sub: following across rotation of two partitions: merged, complete, in order" {
	start_busd --segment-size 4096
	follow "$BATS_TEST_TMPDIR/out" --from beginning 'a|b'
	local i tp
	: >"$BATS_TEST_TMPDIR/want"
	for i in 1 2 3 4 5 6; do
		for tp in a b; do
			seq -f "$tp-$i-%03g-padding-padding-padding" 1 100 >"$BATS_TEST_TMPDIR/batch"
			bus-pub -t "$tp" <"$BATS_TEST_TMPDIR/batch"
			cat "$BATS_TEST_TMPDIR/batch" >>"$BATS_TEST_TMPDIR/want"
		done
	done
	wait_for "[ \$(nlines '$BATS_TEST_TMPDIR/out') -ge 1200 ]"
	cmp "$BATS_TEST_TMPDIR/want" "$BATS_TEST_TMPDIR/out"
	[ "$(seg_files a | wc -l)" -ge 5 ]
	[ "$(seg_files b | wc -l)" -ge 5 ]
}

@test "sub: in a partition shared by a rule, only matching topics are followed; a new topic there is picked up" {
	start_busd -r 'web:web\..*'
	bus-pub -t web.a a0
	bus-pub -t web.b b0
	follow "$BATS_TEST_TMPDIR/out" -F '%t %s\n' 'web\.a' 'web\.c'
	# Known to be following once a live web.a message shows up.
	wait_for "bus-pub -t web.a ping; grep -q 'web.a ping' '$BATS_TEST_TMPDIR/out'"
	bus-pub -t web.b b1
	bus-pub -t web.c c1
	bus-pub -t web.a a1
	wait_for "grep -qx 'web.a a1' '$BATS_TEST_TMPDIR/out'" 1
	[ "$(grep -v ping "$BATS_TEST_TMPDIR/out")" = $'web.c c1\nweb.a a1' ]
}

@test "sub: following several topics on a store no busd has created yet" {
	follow "$BATS_TEST_TMPDIR/out" --from beginning 'a|b'
	# bus-sub makes the store to watch it, then waits for events.
	wait_for "[ -d '$BUS_DIR/log' ]"
	wait_idle "$SUB_PID"
	[ ! -e "$BUS_DIR/log/.clock" ]
	bus-pub -t a a1 3>&-
	wait_for "grep -qx a1 '$BATS_TEST_TMPDIR/out'" 2
	bus-pub -t b b1
	bus-pub -t a a2
	wait_for "[ \$(nlines '$BATS_TEST_TMPDIR/out') -ge 3 ]" 2 || true
	cat "$BATS_TEST_TMPDIR/out"
	[ "$(cat "$BATS_TEST_TMPDIR/out")" = $'a1\nb1\na2' ]
}

@test "sub: when inotify watches run out it says so and follows by polling: live lines, new partitions and rotation still arrive" {
	[ -z "${BUS_SANITIZE:-}" ] || skip "LD_PRELOAD fault shim: ASan must be first in LD_PRELOAD (SANITIZE build)"
	local so=$BATS_TEST_DIRNAME/fault/noinotify.so out=$BATS_TEST_TMPDIR/out i
	[ -f "$so" ] || make -s -C "$BATS_TEST_DIRNAME/.." tests/fault/noinotify.so
	start_busd --segment-size 4096
	bus-pub -t a a0
	LD_PRELOAD=$so follow "$out" --from beginning 'a|b'
	wait_for "grep -qx a0 '$out'"
	grep -q 'polling every 250 ms' "$out.err"
	# Four publishers: four batches of 50 lines, each over a segment.
	for i in 0 1 2 3; do
		seq $((i * 50 + 1)) $((i * 50 + 50)) | sed 's/^/a/; s/$/ ........................................................................................................../' | bus-pub -t a
	done
	bus-pub -t b b-new
	wait_for "grep -q '^a200 ' '$out' && grep -qx b-new '$out'"
	[ "$(ls "$BUS_DIR/log/a" | grep -c '\.seg$')" -gt 2 ]
	[ "$(grep -c '^a' "$out")" -eq 201 ]
	grep '^a' "$out" | sed 's/ .*//' | cmp - <(for i in $(seq 0 200); do echo "a$i"; done)
}
