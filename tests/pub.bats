#!/usr/bin/env bats
# bus-pub(1): what it publishes, what it refuses, how it finds busd.

load helpers

# all_of TOPIC-PATTERN: every stored payload of the pattern, one a line.
all_of() {
	bus-sub --from beginning -e "$@"
}

@test "pub: each argument is one message, stdin is not read" {
	start_busd
	run bus-pub -t t one 'two words' '' four <<<"from stdin"
	[ "$status" -eq 0 ]
	[ "$output" = "" ]
	run all_of -F '%o:%s|' t
	[ "$status" -eq 0 ]
	[ "$output" = "0:one|1:two words|2:|3:four|" ]
}

@test "pub: stdin lines, an empty line is an empty message, a last line without newline counts" {
	start_busd
	run bus-pub -t t < <(printf 'one\ntwo\n\n\nfive')
	[ "$status" -eq 0 ]
	[ "$output" = "" ]
	run all_of -F '%o:%s:%S|' t
	[ "$status" -eq 0 ]
	[ "$output" = "0:one:3|1:two:3|2::0|3::0|4:five:4|" ]
}

@test "pub: a final newline does not make an extra empty message; empty stdin publishes nothing" {
	start_busd
	printf 'a\nb\n' | bus-pub -t t
	run bus-pub -t t </dev/null
	[ "$status" -eq 0 ]
	run all_of -F '%s|' t
	[ "$output" = "a|b|" ]
}

@test "pub: -0 NUL-delimited binary payloads round trip byte-exact" {
	start_busd
	# Newlines, high bytes, empty records, a last record without NUL.
	printf 'line1\nline2\0\xff\xfe\x80\0\0\x01\x02\r\n\0tail' >"$BATS_TEST_TMPDIR/in"
	bus-pub -0 -t bin <"$BATS_TEST_TMPDIR/in"
	bus-sub -0 --from beginning -e bin >"$BATS_TEST_TMPDIR/out"
	# Every record comes back NUL-terminated: the input plus one NUL.
	{ cat "$BATS_TEST_TMPDIR/in"; printf '\0'; } >"$BATS_TEST_TMPDIR/want"
	cmp "$BATS_TEST_TMPDIR/want" "$BATS_TEST_TMPDIR/out"
	run all_of -F '%S,' bin
	[ "$output" = "11,3,0,4,4," ]
}

@test "pub: -0 random binary data (256 KiB) round trips byte-exact" {
	start_busd
	head -c 262144 /dev/urandom >"$BATS_TEST_TMPDIR/in"
	printf '\0' >>"$BATS_TEST_TMPDIR/in"
	bus-pub -0 -t bin <"$BATS_TEST_TMPDIR/in"
	bus-sub -0 --from beginning -e bin >"$BATS_TEST_TMPDIR/out"
	cmp "$BATS_TEST_TMPDIR/in" "$BATS_TEST_TMPDIR/out"
}

@test "pub: -k KEY and repeated -T NAME=VALUE show in bus-sub -o json" {
	start_busd
	bus-pub -t t -k user-42 -T host=web1 -T empty= -T 'eq=a=b' hello
	bus-pub -t t nokey
	run all_of -o json t
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 2 ]
	echo "${lines[0]}" | jq -e '.key == "user-42" and .payload == "hello"'
	echo "${lines[0]}" | jq -e '.tags == {"host":"web1","empty":"","eq":"a=b"}'
	# Tags keep their order.
	[ "$(echo "${lines[0]}" | jq -r '.tags | keys_unsorted | join(",")')" = "host,empty,eq" ]
	echo "${lines[1]}" | jq -e '.key == null and .tags == {} and .payload == "nokey"'
}

@test "pub: invalid key and tags exit 65 with one line and publish nothing" {
	start_busd
	run --separate-stderr bus-pub -t t -k '' x
	[ "$status" -eq 65 ]
	[ "${#stderr_lines[@]}" -eq 1 ]
	[[ "$stderr" == bus-pub:* ]]
	run --separate-stderr bus-pub -t t -T novalue x
	[ "$status" -eq 65 ]
	[ "${#stderr_lines[@]}" -eq 1 ]
	run --separate-stderr bus-pub -t t -T =v x
	[ "$status" -eq 65 ]
	[ "${#stderr_lines[@]}" -eq 1 ]
	# Nothing stored: no partition at all (bus-sub -e exits 66).
	run --separate-stderr all_of '.*'
	[ "$status" -eq 66 ]
	[ "$output" = "" ]
}

@test "pub: -E @RFC3339 sets event_ns, send_ns stays the send time" {
	start_busd
	bus-pub -t t -E @2026-11-22T10:00:00Z a
	bus-pub -t t -E @2026-11-22T10:00:00.5Z b
	bus-pub -t t -E @2026-11-22T12:00:00+02:00 c
	bus-pub -t t -E @1700000000.25 d
	run all_of -o json t
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 4 ]
	[[ "${lines[0]}" == *'"event_ns":1795341600000000000,'* ]]
	[[ "${lines[1]}" == *'"event_ns":1795341600500000000,'* ]]
	[[ "${lines[2]}" == *'"event_ns":1795341600000000000,'* ]]
	[[ "${lines[3]}" == *'"event_ns":1700000000250000000,'* ]]
	[[ "${lines[0]}" != *'"send_ns":1795341600000000000,'* ]]
	run all_of -F '%e\n' t
	[ "${lines[0]}" = "2026-11-22T10:00:00.000000000Z" ] ||
	    [ "${lines[0]}" = "2026-11-22T10:00:00Z" ]
}

@test "pub: -E relative -1h is an hour before the send time; default event time is the send time" {
	start_busd
	bus-pub -t t -E -1h a
	bus-pub -t t b
	run all_of -o json t
	[ "${#lines[@]}" -eq 2 ]
	local ev sd
	ev=$(grep -o '"event_ns":[0-9]*' <<<"${lines[0]}" | cut -d: -f2)
	sd=$(grep -o '"send_ns":[0-9]*' <<<"${lines[0]}" | cut -d: -f2)
	local d=$((sd - ev - 3600000000000))
	# Within 2 s of exactly one hour.
	[ "${d#-}" -lt 2000000000 ]
	ev=$(grep -o '"event_ns":[0-9]*' <<<"${lines[1]}" | cut -d: -f2)
	sd=$(grep -o '"send_ns":[0-9]*' <<<"${lines[1]}" | cut -d: -f2)
	[ "$ev" = "$sd" ]
}

@test "pub: -E with an invalid time exits 64" {
	start_busd
	run --separate-stderr bus-pub -t t -E 'last week' x
	[ "$status" -eq 64 ]
	[ "${#stderr_lines[@]}" -eq 1 ]
	[[ "$stderr" == "bus-pub: -E 'last week': not a time; use YYYY-MM-DD"* ]]
}

@test "pub: invalid topics exit 65 with a one-line error, nothing published" {
	start_busd
	local long t
	long=$(printf 'a%.0s' {1..256})
	for t in 'a/b' '.x' '' "$long" '..' 'a b' 'caf'$'\xc3\xa9' 'x:y'; do
		run --separate-stderr bus-pub -t "$t" msg
		echo "topic '$t': status $status, stderr: $stderr"
		[ "$status" -eq 65 ]
		[ "$output" = "" ]
		[ "${#stderr_lines[@]}" -eq 1 ]
		[[ "$stderr" == "bus-pub: "*topic* ]]
	done
	# Nothing reached the store.
	[ -d "$BUS_DIR/log" ]
	[ "$(partitions)" = "" ]
	run --separate-stderr all_of '.*'
	[ "$status" -eq 66 ]
	[ "$output" = "" ]
}

@test "pub: a topic of exactly 255 bytes with every allowed character class is fine" {
	start_busd
	local t
	t=$(printf 'a%.0s' {1..250})Z9._-
	[ "${#t}" -eq 255 ]
	run bus-pub -t "$t" ok
	[ "$status" -eq 0 ]
	run all_of -F '%t %s' "$t"
	[ "$output" = "$t ok" ]
}

@test "pub: missing -t exits 64 with usage" {
	start_busd
	run --separate-stderr bus-pub hello
	[ "$status" -eq 64 ]
	[ "$output" = "" ]
	[[ "$stderr" == *"-t"* ]]
	[[ "$stderr" == *usage:* ]]
	run --separate-stderr all_of '.*'
	[ "$status" -eq 66 ]
	[ "$output" = "" ]
}

@test "pub: an unknown flag exits 64 with usage" {
	run --separate-stderr bus-pub --bogus -t t hello
	[ "$status" -eq 64 ]
	[[ "$stderr" == *bogus* ]]
	[[ "$stderr" == *usage:* ]]
	run --separate-stderr bus-pub -x -t t hello
	[ "$status" -eq 64 ]
	# A usage error starts nothing.
	[ ! -e "$BUS_DIR/busd.pid" ]
}

@test "pub: an oversized line exits 65 naming the line; lines before it are published, none after" {
	start_busd --max-message 1K
	{
		echo line-one
		head -c 2000 /dev/zero | tr '\0' x
		echo
		echo line-three
	} >"$BATS_TEST_TMPDIR/in"
	run --separate-stderr bus-pub -t big <"$BATS_TEST_TMPDIR/in"
	echo "stderr: $stderr"
	[ "$status" -eq 65 ]
	[ "${#stderr_lines[@]}" -eq 1 ]
	[[ "$stderr" == "bus-pub: line 2: message of 2003 bytes exceeds the limit of 1024 bytes"* ]]
	run all_of big
	[ "$output" = "line-one" ]
}

@test "pub: a line longer than bus-pub's read buffer (1.5 MB, default 1M limit) exits 65 naming it" {
	start_busd
	{
		seq 1 3
		head -c 1500000 /dev/zero | tr '\0' x
		echo
		echo after
	} >"$BATS_TEST_TMPDIR/in"
	run --separate-stderr bus-pub -t big <"$BATS_TEST_TMPDIR/in"
	echo "stderr: $stderr"
	[ "$status" -eq 65 ]
	[ "${#stderr_lines[@]}" -eq 1 ]
	[[ "$stderr" == "bus-pub: line 4: message of 1500003 bytes exceeds the limit of 1048576 bytes"* ]]
	run all_of big
	[ "$output" = $'1\n2\n3' ]
}

@test "pub: a message of exactly --max-message bytes is accepted, one more byte is not" {
	start_busd --max-message 4096
	local p
	# topic "m" (1 byte) + payload 4095 = 4096.
	p=$(head -c 4095 /dev/zero | tr '\0' y)
	run bus-pub -t m "$p"
	[ "$status" -eq 0 ]
	run --separate-stderr bus-pub -t m "${p}y"
	[ "$status" -eq 65 ]
	[[ "$stderr" == *"4097 bytes exceeds the limit of 4096 bytes"* ]]
	run all_of -F '%S\n' m
	[ "$output" = "4095" ]
}

@test "pub: --no-autostart with no busd exits 69 with one line and starts nothing" {
	run --separate-stderr bus-pub --no-autostart -t t hello
	[ "$status" -eq 69 ]
	[ "$output" = "" ]
	[ "${#stderr_lines[@]}" -eq 1 ]
	[[ "$stderr" == bus-pub:*"$BUS_DIR/busd.sock"* ]]
	[ -z "$(busd_pids)" ]
	[ ! -S "$BUS_DIR/busd.sock" ]
}

@test "pub: with no busd running, bus-pub starts one and publishes" {
	[ ! -e "$BUS_DIR" ]
	run bus-pub -t t hello world 3>&-
	[ "$status" -eq 0 ]
	[ -s "$BUS_DIR/busd.pid" ]
	local pid
	pid=$(busd_pid)
	kill -0 "$pid"
	[ "$(cat "/proc/$pid/comm")" = busd ]
	[ "$(busd_pids)" = "$pid" ]
	# The next bus-pub uses the same busd.
	bus-pub -t t again 3>&-
	[ "$(busd_pids)" = "$pid" ]
	run all_of t
	[ "$output" = $'hello\nworld\nagain' ]
}

@test "pub: bus-pubs racing on a fresh store all succeed and exactly one busd runs" {
	local i pids=()
	for i in 1 2 3 4; do
		bus-pub -t race "msg$i" >"$BATS_TEST_TMPDIR/out$i" 2>"$BATS_TEST_TMPDIR/err$i" 3>&- &
		pids+=($!)
		track_pid $!
	done
	for i in 0 1 2 3; do
		wait_for "pid_gone ${pids[$i]}" 10
		local rc=0
		wait "${pids[$i]}" || rc=$?
		echo "bus-pub $((i + 1)): exit $rc: $(cat "$BATS_TEST_TMPDIR/err$((i + 1))")"
		[ "$rc" -eq 0 ]
	done
	run busd_pids
	echo "busd processes: $output"
	[ "${#lines[@]}" -eq 1 ]
	[ "$output" = "$(busd_pid)" ]
	run all_of race
	[ "$(sort <<<"$output")" = $'msg1\nmsg2\nmsg3\nmsg4' ]
}

@test "pub: 100,000 piped lines read back identical and in order" {
	start_busd
	seq 1 100000 >"$BATS_TEST_TMPDIR/want"
	seq 1 100000 | bus-pub -t n
	bus-sub --from beginning -e n >"$BATS_TEST_TMPDIR/got"
	cmp "$BATS_TEST_TMPDIR/want" "$BATS_TEST_TMPDIR/got"
	run all_of -n 1 --from -1 -F '%o %s' n
	[ "$output" = "99999 100000" ]
}

@test "pub: a large regular file on stdin (mapped, not read) is published whole: last line without newline, empty lines, -0" {
	start_busd
	local f=$BATS_TEST_TMPDIR/in
	{ seq 1 200000; echo; echo; printf 'last without newline'; } >"$f"
	[ "$(wc -c <"$f")" -gt 1048576 ]
	bus-pub -t big <"$f"
	bus-sub --from beginning -e big >"$BATS_TEST_TMPDIR/got"
	cmp <(cat "$f"; echo) "$BATS_TEST_TMPDIR/got"
	# Started in the middle of the file, it publishes from there on.
	{ head -c 700000 /dev/zero | tr '\0' a; echo; seq 1 300000; } >"$f"
	{ head -n 1 >/dev/null; bus-pub -t mid; } <"$f"
	[ "$(bus-sub --from beginning -e mid | cmp - <(seq 1 300000) && echo same)" = same ]
	# NUL-delimited.
	seq 1 300000 | tr '\n' '\0' >"$f"
	bus-pub -0 -t nul <"$f"
	bus-sub -0 --from beginning -e nul | cmp - "$f"
}

@test "pub: an oversized line deep in a large regular file exits 65 naming it; the lines before it are published" {
	start_busd --max-message 1K
	local f=$BATS_TEST_TMPDIR/in
	{ seq 1 250000; head -c 5000 /dev/zero | tr '\0' x; echo; echo after; } >"$f"
	run --separate-stderr bus-pub -t big <"$f"
	echo "stderr: $stderr"
	[ "$status" -eq 65 ]
	[ "${#stderr_lines[@]}" -eq 1 ]
	[[ "$stderr" == "bus-pub: line 250001: message of 5003 bytes exceeds the limit of 1024 bytes"* ]]
	bus-sub --from beginning -e big | cmp - <(seq 1 250000)
}

@test "pub: --sync publishes and exits 0 after the synced ack" {
	start_busd
	run bus-pub --sync -t t durable
	[ "$status" -eq 0 ]
	run all_of t
	[ "$output" = "durable" ]
}

@test "pub: -d DIR wins over BUS_DIR" {
	local other="$BATS_TEST_TMPDIR/other"
	track_store "$other"
	busd -b -d "$other" 3>&-
	BUS_DIR="$BATS_TEST_TMPDIR/nowhere" bus-pub --no-autostart -d "$other" -t t there
	run bus-sub -d "$other" --from beginning -e t
	[ "$output" = "there" ]
	[ ! -e "$BATS_TEST_TMPDIR/nowhere" ]
}

@test "pub: without -d or BUS_DIR the store is \$XDG_STATE_HOME/bus" {
	[ "$(id -u)" -ne 0 ] || skip "as root the default store is /var/lib/bus"
	local xdg="$BATS_TEST_TMPDIR/xdg"
	track_store "$xdg/bus"
	unset BUS_DIR
	XDG_STATE_HOME="$xdg" bus-pub -t t hi 3>&-
	[ -S "$xdg/bus/busd.sock" ]
	run env XDG_STATE_HOME="$xdg" bus-sub --from beginning -e t
	[ "$output" = "hi" ]
}

@test "pub: key and tag size limits: 65535-byte key and value, 255-byte tag name pass; one more byte exits 65" {
	start_busd
	local k n
	k=$(head -c 65535 /dev/zero | tr '\0' k)
	n=$(head -c 255 /dev/zero | tr '\0' n)
	bus-pub -t t -k "$k" a
	bus-pub -t t -T "$n=v" b
	bus-pub -t t -T "n=$k" c
	run bus-pub -t t -k "${k}k" x
	[ "$status" -eq 65 ]
	run bus-pub -t t -T "${n}n=v" x
	[ "$status" -eq 65 ]
	run bus-pub -t t -T "n=${k}k" x
	[ "$status" -eq 65 ]
	run bus-sub --from beginning -e -o json t
	[ "${#lines[@]}" -eq 3 ]
	[ "$(echo "${lines[0]}" | jq '.key | length')" -eq 65535 ]
	[ "$(echo "${lines[1]}" | jq '.tags | keys[0] | length')" -eq 255 ]
	[ "$(echo "${lines[2]}" | jq '.tags.n | length')" -eq 65535 ]
}

@test "pub: a relative -d works for publishing and reading" {
	cd "$BATS_TEST_TMPDIR"
	track_store "$BATS_TEST_TMPDIR/rel"
	unset BUS_DIR
	run bus-pub -d rel -t t hello 3>&-
	[ "$status" -eq 0 ]
	[ -S rel/busd.sock ]
	run bus-sub -d rel --from beginning -e t
	[ "$output" = "hello" ]
	run bus-sub -d ./rel/ --from beginning -e t
	[ "$output" = "hello" ]
}

@test "pub: --topic-regex routes each line by its first capture; -t is the fallback; without one a non-matching line exits 65 naming it" {
	start_busd
	printf 'svc=api GET /a\nsvc=db slow query\nno service here\nsvc=api GET /b\n' >"$BATS_TEST_TMPDIR/in"
	bus-pub --topic-regex '^svc=([a-z]+) ' -t other <"$BATS_TEST_TMPDIR/in"
	run bus-sub --from beginning -e -F '%t %s\n' 'api|db|other'
	[ "$output" = $'api svc=api GET /a\ndb svc=db slow query\nother no service here\napi svc=api GET /b' ]
	# No fallback: the third line is refused, the two before it stay.
	run --separate-stderr bus-pub --topic-regex '^svc=([a-z]+) ' <"$BATS_TEST_TMPDIR/in"
	[ "$status" -eq 65 ]
	[[ "$stderr" == "bus-pub: line 3: --topic-regex: no match and no -t topic to fall back on"* ]]
	[ "$(bus-sub --from beginning -e -F '%t\n' api | wc -l)" -eq 3 ]
	# A captured topic that is not a valid topic is refused, naming the line.
	run --separate-stderr bus-pub --topic-regex '^(\S+)' -t x <<<$'ok.1 a\n.bad b'
	[ "$status" -eq 65 ]
	[[ "$stderr" == "bus-pub: line 2: topic from --topic-regex: topic starts with '.'"* ]]
	# A regex without a capture group is a usage error.
	run bus-pub --topic-regex '^svc' -t x y
	[ "$status" -eq 64 ]
}

@test "pub: --key-regex takes each line's key from its first capture; no match means no key (or -k)" {
	start_busd
	printf 'user=7 login\nanonymous visit\nuser=9 logout\n' |
	    bus-pub --key-regex 'user=([0-9]+)' -t k
	run bus-sub --from beginning -e -o json k
	[ "$(printf '%s\n' "$output" | jq -r '.key // "-"' | tr '\n' ' ')" = "7 - 9 " ]
	printf 'anonymous visit\n' | bus-pub --key-regex 'user=([0-9]+)' -k dflt -t k2
	[ "$(bus-sub --from beginning -e -F '%k' k2)" = dflt ]
}

@test "pub: --event-time with rfc3339, unix_ms and a strptime format with %z sets event_ns; unparsable lines keep send time and are counted once" {
	start_busd
	printf '2026-11-22T10:00:00.5Z a\n1700000000123 b\n' >"$BATS_TEST_TMPDIR/in"
	bus-pub --event-time '^(\S+)' -t e1 <<<'2026-11-22T10:00:00.5Z a'
	[ "$(bus-sub --from beginning -e -o json e1 | jq .event_ns)" = 1795341600500000000 ]
	bus-pub --event-time '^(\S+)' --event-format unix_ms -t e2 <<<'1700000000123 b'
	[ "$(bus-sub --from beginning -e -o json e2 | jq .event_ns)" = 1700000000123000000 ]
	# nginx style, with a zone: 10:00:00 +0100 is 09:00:00Z.
	bus-pub --event-time '\[([^]]+)\]' --event-format '%d/%b/%Y:%H:%M:%S %z' -t e3 \
	    <<<'1.2.3.4 - - [22/Nov/2026:10:00:00 +0100] "GET /"'
	[ "$(bus-sub --from beginning -e -o json e3 | jq .event_ns)" = 1795338000000000000 ]
	# Lines whose time does not parse are published, with one warning.
	run --separate-stderr bus-pub --event-time '^(\S+)' -t e4 <<<$'garbage x\n2026-11-22T10:00:00Z y\nalso-bad z'
	[ "$status" -eq 0 ]
	[ "${#stderr_lines[@]}" -eq 1 ]
	[[ "$stderr" == "bus-pub: 2 line(s) had no event time"* ]]
	run bus-sub --from beginning -e -o json e4
	[ "${#lines[@]}" -eq 3 ]
	[ "$(printf '%s\n' "${lines[0]}" | jq '.event_ns == .send_ns')" = true ]
	[ "$(printf '%s\n' "${lines[1]}" | jq .event_ns)" = 1795341600000000000 ]
	run bus-pub -E -1h --event-time '^(\S+)' -t e5 x
	[ "$status" -eq 64 ]
}

@test "pub: --tombstone publishes one empty record flagged as a tombstone; it needs -k and takes no message" {
	start_busd
	bus-pub -t kv -k user.1 alice
	bus-pub --tombstone -t kv -k user.1
	run bus-sub --from beginning -e -o json kv
	[ "${#lines[@]}" -eq 2 ]
	[ "$(printf '%s\n' "${lines[1]}" | jq -c '[.key, .payload, .tombstone]')" = '["user.1","",true]' ]
	[ "$(printf '%s\n' "${lines[0]}" | jq '.tombstone // false')" = false ]
	run bus-pub --tombstone -t kv
	[ "$status" -eq 64 ]
	run bus-pub --tombstone -t kv -k a msg
	[ "$status" -eq 64 ]
}

@test "pub: --ack none publishes and exits 0 once busd has taken everything; --ack with a bad level exits 64" {
	start_busd
	seq 1 50000 | bus-pub --ack none -t fire
	[ "$(bus-sub --from beginning -e fire | wc -l)" -eq 50000 ]
	run bus-pub --ack sometimes -t x y
	[ "$status" -eq 64 ]
}

@test "pub: bus_pub_block_reserve/commit: a block read into the window, a dropped room, a second room, bad commits; only whole blocks are stored" {
	local bp=$BATS_TEST_DIRNAME/fault/blockpub
	[ -x "$bp" ] || make -s -C "$BATS_TEST_DIRNAME/.." tests/fault/blockpub
	start_busd
	run "$bp" "$BUS_DIR" blk
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "two ok" ]
	[ "${lines[1]}" = "drop ok" ]
	[ "${lines[2]}" = "again error 2: a block is reserved already" ]
	[ "${lines[3]}" = "nodelim error 2: message 3: a block of 1 records of 1 bytes that does not end with its delimiter" ]
	[ "${lines[4]}" = "over error 2: message 3: a block of 5 bytes in room for 4" ]
	[ "${lines[5]}" = "copy ok" ]
	[ "${lines[6]}" = "wait ok" ]
	[ "${lines[7]}" = "next 4" ]
	run bus-sub --from beginning -e -F '%o %S %s\n' blk
	[ "$output" = $'0 1 a\n1 2 bb\n2 3 ccc' ]
}

@test "pub: a pipe on stdin is made to hold 1 MiB; what comes through it is published whole" {
	[ "$(cat /proc/sys/fs/pipe-max-size)" -ge 1048576 ] ||
	    skip "fs.pipe-max-size is under 1 MiB here"
	start_busd
	local sz="$BATS_TEST_TMPDIR/pipesize"
	# The writer asks its own stdout, the pipe, for its size
	# (F_GETPIPE_SZ is 1032) until bus-pub has set it, for 30 s at most.
	{
		printf 'first\n'
		perl -e 'open(my $p, ">&=", 1) or die "fd 1: $!";
			for (1 .. 3000) {
				$n = fcntl($p, 1032, 0) + 0;
				last if $n >= 1048576;
				select(undef, undef, undef, 0.01);
			}
			print STDERR "$n\n"' 2>"$sz"
		seq 1 300000
	} | bus-pub -t t
	[ "$(cat "$sz")" -eq 1048576 ]
	run all_of t
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = first ]
	[ "${#lines[@]}" -eq 300001 ]
	[ "${lines[300000]}" = 300000 ]
}

@test "pub: 48 MiB of 4 KiB lines, from a file and from a pipe, read back identical (the window's buffer refills many times over)" {
	start_busd
	local d=$BATS_TEST_TMPDIR
	awk 'BEGIN {
		f = sprintf("%04089d", 0)
		for (i = 0; i < 12288; i++) printf "%06d %s\n", i, f
	}' >"$d/in"
	[ "$(wc -c <"$d/in")" -eq $((12288 * 4097)) ]
	bus-pub -t f <"$d/in"
	cat "$d/in" | bus-pub -t p
	bus-sub --from beginning -e f >"$d/f"
	bus-sub --from beginning -e p >"$d/p"
	cmp "$d/in" "$d/f"
	cmp "$d/in" "$d/p"
}
