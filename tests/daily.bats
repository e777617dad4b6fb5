#!/usr/bin/env bats
# Daily use, as a user with tail, journalctl and kcat habits types it: a
# runaway line in a log shipper, journalctl's times and their range, a
# typo in a cron tool's pattern, a store that does not exist, --help,
# completion, the systemd unit, and a busd started without a word.

load ops_helpers

# shipper MODE TOPIC: `tail -n0 -F app.log | bus-pub -t TOPIC
# --oversize=MODE` in the background (MODE "" for the default), its
# stderr in pub.err; returns once tail follows app.log.  Sets TAIL_PID
# and PUB_PID.
shipper() {
	local d=$BATS_TEST_TMPDIR fifo=$BATS_TEST_TMPDIR/pipe.$1 opt=()
	[ -n "$1" ] && opt=(--oversize="$1")
	mkfifo "$fifo"
	tail -n0 -F "$d/app.log" >"$fifo" 2>/dev/null &
	TAIL_PID=$!
	track_pid "$TAIL_PID"
	bus-pub -t "$2" "${opt[@]}" <"$fifo" 2>"$d/pub.err" &
	PUB_PID=$!
	track_pid "$PUB_PID"
	wait_for "ls -l /proc/$TAIL_PID/fd 2>/dev/null | grep -q app.log"
}

# payload_sizes TOPIC: the payload length of each message, one a line.
payload_sizes() {
	bus-sub -e --from beginning "$1" | awk '{ print length($0) }'
}

@test "daily: tail -n0 -F app.log | bus-pub -t app.log: a 1.1 MB line kills the pipe (65) by default; --oversize=skip and truncate keep it alive" {
	start_busd
	: >"$BATS_TEST_TMPDIR/app.log"
	local log=$BATS_TEST_TMPDIR/app.log big
	big=$(head -c 1100000 /dev/zero | tr '\0' y)

	# The default: fail, never alter data silently.
	shipper "" app.fail
	echo one >>"$log"
	wait_for "[ \"\$(bus-sub -e --from beginning app.fail)\" = one ]"
	printf '%s\n' "$big" >>"$log"
	echo two >>"$log"
	wait_gone "$PUB_PID"
	run wait "$PUB_PID"
	[ "$status" -eq 65 ]
	grep -q '^bus-pub: line 2: message of 1100008 bytes exceeds the limit of 1048576 bytes' "$BATS_TEST_TMPDIR/pub.err"
	[ "$(bus-sub -e --from beginning app.fail)" = one ]
	stop_pid "$TAIL_PID"

	# skip: the line is left out, counted, and the pipe goes on.
	: >"$log"
	shipper skip app.skip
	echo one >>"$log"
	printf '%s\n' "$big" >>"$log"
	echo two >>"$log"
	wait_for "[ \"\$(bus-sub -e --from beginning app.skip | tr '\n' ' ')\" = 'one two ' ]"
	wait_for "grep -q 'skip: 1 record(s)' '$BATS_TEST_TMPDIR/pub.err'"
	[ "$(cat "$BATS_TEST_TMPDIR/pub.err")" = "bus-pub: --oversize=skip: 1 record(s) longer than busd takes (1048576 bytes) skipped so far; the last: line 2, 1100000 bytes" ]
	if pid_gone "$PUB_PID"; then false; fi
	printf '%s\n' "$big" "$big" three >>"$log"
	wait_for "bus-sub -e --from beginning app.skip | grep -q three"
	# Two more within a second: told together, at most once a second.
	wait_for "grep -q 'skip: 3 record(s)' '$BATS_TEST_TMPDIR/pub.err'"
	[ "$(wc -l <"$BATS_TEST_TMPDIR/pub.err")" -le 3 ]
	if pid_gone "$PUB_PID"; then false; fi
	stop_pid "$TAIL_PID"
	stop_pid "$PUB_PID"

	# truncate: the head of the line, tagged with its size.
	: >"$log"
	shipper truncate app.cut
	echo one >>"$log"
	printf '%s\n' "$big" >>"$log"
	echo two >>"$log"
	wait_for "[ \"\$(bus-sub -e --from beginning app.cut | wc -l)\" -eq 3 ]"
	if pid_gone "$PUB_PID"; then false; fi
	run payload_sizes app.cut
	[ "${lines[0]}" -eq 3 ]
	# 1 MiB minus the topic (7) and the tag (4 + 13 + 7).
	[ "${lines[1]}" -eq $((1048576 - 7 - 24)) ]
	[ "${lines[2]}" -eq 3 ]
	run bus-sub -e --from beginning -o json app.cut
	[[ "${lines[1]}" == *'"bus.truncated":"1100000"'* ]]
	[[ "${lines[0]}" != *bus.truncated* ]]
	wait_for "grep -q 'truncate: 1 record(s)' '$BATS_TEST_TMPDIR/pub.err'"
}

@test "daily: bus-pub --oversize on a regular file and on arguments: skip, truncate at a UTF-8 boundary; a bad mode is a usage error" {
	start_busd
	local f=$BATS_TEST_TMPDIR/in
	{
		echo a
		head -c 700000 /dev/zero | sed 's/\x0/é/g'
		echo
		echo b
	} >"$f"
	run bus-pub -t big.fail <"$f"
	[ "$status" -eq 65 ]
	run --separate-stderr bus-pub -t big.skip --oversize=skip <"$f"
	[ "$status" -eq 0 ]
	[ "$(bus-sub -e --from beginning big.skip | tr '\n' ' ')" = "a b " ]
	run --separate-stderr bus-pub -t big.cut --oversize truncate <"$f"
	[ "$status" -eq 0 ]
	[[ "$stderr" == *"truncate: 1 record(s)"*"line 2, 1400000 bytes" ]]
	# Cut between two characters: even, and valid UTF-8.
	run bus-sub -e --from beginning -n 1 --from 1 -o raw big.cut
	[ "$(printf '%s' "$output" | wc -c)" -eq $(((1048576 - 7 - 24) / 2 * 2)) ]
	printf '%s' "$output" | iconv -f UTF-8 -t UTF-8 >/dev/null
	# A busd taking less than a block of lines: lines over its limit
	# never travel inside a block.
	stop_busd
	BUS_DIR=$BATS_TEST_TMPDIR/small
	track_store "$BUS_DIR"
	start_busd --max-message 1000
	{
		echo short
		head -c 2000 /dev/zero | tr '\0' z
		echo
		echo after
	} >"$f"
	run --separate-stderr bus-pub -t s --oversize=skip <"$f"
	[ "$status" -eq 0 ]
	[ "$(bus-sub -e --from beginning s | tr '\n' ' ')" = "short after " ]
	run --separate-stderr bus-pub -t c --oversize=truncate <"$f"
	[ "$status" -eq 0 ]
	run payload_sizes c
	# The tag bus.truncated=2000 takes 4 + 13 + 4 bytes.
	[ "${lines[*]}" = "5 $((1000 - 1 - 21)) 5" ]
	run --separate-stderr bus-pub -t f <"$f"
	[ "$status" -eq 65 ]
	[[ "$stderr" == *"line 2"* ]]
	run --separate-stderr bus-pub -t t --oversize=maybe x
	[ "$status" -eq 64 ]
	[ "${stderr_lines[0]}" = "bus-pub: --oversize: 'maybe' is not fail, skip or truncate" ]
	run --separate-stderr bus-pub -t t -k k --tombstone --oversize=skip
	[ "$status" -eq 64 ]
}

@test "daily: bus-pub -E @2300-01-01T00:00:00Z is refused naming the range; journalctl's times are taken, in TZ" {
	start_busd
	run --separate-stderr bus-pub -t t -E @2300-01-01T00:00:00Z x
	[ "$status" -eq 64 ]
	[ "$stderr" = "bus-pub: -E '@2300-01-01T00:00:00Z': out of range: times lie between 1677-09-21T00:12:43.145224192Z and 2262-04-11T23:47:16.854775807Z" ]
	run --separate-stderr bus-pub -t t -E 1600-01-01 x
	[ "$status" -eq 64 ]
	[[ "$stderr" == *"out of range"*1677-09-21*2262-04-11* ]]
	run --separate-stderr bus-pub -t t -E 'last tuesday' x
	[ "$status" -eq 64 ]
	[[ "$stderr" == "bus-pub: -E 'last tuesday': not a time; use YYYY-MM-DD [HH:MM[:SS[.frac]]]"*today*yesterday*now*-1h30m*@UNIX* ]]
	# Nothing of it reached the store.
	[ -z "$(bus-sub -e --from beginning t)" ]

	# Local time: two hours east of UTC (a POSIX TZ: no tz database).
	TZ=XYZ-2 bus-pub -t t -E '2026-11-22 12:00' local
	TZ=XYZ-2 bus-pub -t t -E '2026-11-22T12:00:00.5' localT
	TZ=XYZ-2 bus-pub -t t -E '2026-11-22T12:00:00Z' zoned
	TZ=XYZ-2 bus-pub -t t -E '2026-11-22 12:00 UTC' utc
	bus-pub -t t -E @1795341600.25 unix
	run bus-sub -e --from beginning -o json t
	[[ "${lines[0]}" == *'"event_ns":1795341600000000000'* ]]
	[[ "${lines[1]}" == *'"event_ns":1795341600500000000'* ]]
	[[ "${lines[2]}" == *'"event_ns":1795348800000000000'* ]]
	[[ "${lines[3]}" == *'"event_ns":1795348800000000000'* ]]
	[[ "${lines[4]}" == *'"event_ns":1795341600250000000'* ]]

	# today and yesterday are local midnights, -1h30m and +5m relative.
	local now mid ev
	now=$(date +%s)
	TZ=XYZ-2 bus-pub -t rel -E today a
	TZ=XYZ-2 bus-pub -t rel -E yesterday b
	bus-pub -t rel -E -1h30m c
	bus-pub -t rel -E +5m d
	mid=$(TZ=XYZ-2 date -d 'today 00:00' +%s)
	run bus-sub -e --from beginning -F '%T\n' rel
	run bus-sub -e --from beginning -o json rel
	ev=$(grep -o '"event_ns":[0-9]*' <<<"${lines[0]}" | cut -d: -f2)
	[ "$ev" = "${mid}000000000" ]
	ev=$(grep -o '"event_ns":[0-9]*' <<<"${lines[1]}" | cut -d: -f2)
	[ "$ev" = "$((mid - 86400))000000000" ]
	ev=$(grep -o '"event_ns":[0-9]*' <<<"${lines[2]}" | cut -d: -f2)
	[ $((ev / 1000000000 - (now - 5400))) -le 5 ]
	[ $((ev / 1000000000 - (now - 5400))) -ge 0 ]
	ev=$(grep -o '"event_ns":[0-9]*' <<<"${lines[3]}" | cut -d: -f2)
	[ $((ev / 1000000000 - (now + 300))) -le 5 ]
	[ $((ev / 1000000000 - (now + 300))) -ge 0 ]
}

@test "daily: every program that parses a time or duration refuses one out of range, naming the range" {
	mkdir -p "$BUS_DIR/log"
	run --separate-stderr bus-rotate --max-age 300000d
	[ "$status" -eq 64 ]
	[ "$stderr" = "bus-rotate: --max-age '300000d': out of range: durations are at most 106751d (292 years)" ]
	run --separate-stderr bus-rotate --max-age 7x
	[ "$status" -eq 64 ]
	[[ "$stderr" == "bus-rotate: --max-age '7x': not a duration; use"*1h30m* ]]
	run --separate-stderr bus-compact --tombstone-age 99999999999999999999s
	[ "$status" -eq 64 ]
	[[ "$stderr" == *"out of range"* ]]
	run --separate-stderr busd --sync-interval 300000d
	[ "$status" -eq 64 ]
	[[ "$stderr" == *"out of range"* ]]
	run --separate-stderr bus-pub -t t --retry-for 300000d x
	[ "$status" -eq 64 ]
	[[ "$stderr" == *"out of range"* ]]
	# bus-sub: --from @2999-... used to print every message.
	run bus-sub -e --from @2999-01-01T00:00:00Z t
	[ "$status" -eq 64 ]
	run bus-sub -e --until @2999-01-01T00:00:00Z t
	[ "$status" -eq 64 ]
	[ ! -e "$BUS_DIR/busd.pid" ]
}

@test "daily: bus-rotate -n --max-age 7d nosuch and bus-compact -n nosuch say no partition matches, exit 66" {
	start_busd
	bus-pub -t web.access x
	run --separate-stderr bus-rotate -n --max-age 7d nosuch
	[ "$status" -eq 66 ]
	[ "$stderr" = "bus-rotate: no partition matches nosuch" ]
	[ -z "$output" ]
	run --separate-stderr bus-compact -n nosuch
	[ "$status" -eq 66 ]
	[ "$stderr" = "bus-compact: no partition matches nosuch" ]
	run --separate-stderr bus-rotate --status 'orders.>'
	[ "$status" -eq 66 ]
	[ "$stderr" = "bus-rotate: no partition matches orders.>" ]
	# One pattern matches: the other is a warning, the work is done.
	run --separate-stderr bus-compact -n nosuch 'web\..*'
	[ "$status" -eq 0 ]
	[ "$stderr" = "bus-compact: no partition matches nosuch" ]
	[[ "$output" == "web.access: nothing to reclaim"* ]]
	run --separate-stderr bus-rotate -n 'web\..*'
	[ "$status" -eq 0 ]
	[ -z "$stderr" ]
}

@test "daily: busd --status -d nostore and busd --verify -d nostore: no bus store at PATH, exit 66, nothing created" {
	cd "$BATS_TEST_TMPDIR"
	run --separate-stderr busd --status -d nostore
	[ "$status" -eq 66 ]
	[ "$stderr" = "busd: no bus store at nostore" ]
	[ -z "$output" ]
	[ ! -e nostore ]
	run --separate-stderr busd --verify -d nostore
	[ "$status" -eq 66 ]
	[ "$stderr" = "busd: no bus store at nostore" ]
	[ ! -e nostore ]
	run --separate-stderr busd --status -o json -d /typo/store
	[ "$status" -eq 66 ]
	[ ! -e /typo ]
	run --separate-stderr bus-rotate --status -d nostore
	[ "$status" -eq 66 ]
	[ ! -e nostore ]
}

@test "daily: --help goes to stdout and exits 0 with every option; a usage error gives the reason, the synopsis, exit 64" {
	local p
	for p in busd bus-pub bus-rotate bus-compact; do
		run --separate-stderr "$p" --help
		echo "$p --help: $status"
		[ "$status" -eq 0 ]
		[ -z "$stderr" ]
		[[ "$output" == "usage: $p "*"-h, --help"*"-V, --version"* ]]
		run --separate-stderr "$p" --bogus
		[ "$status" -eq 64 ]
		[ -z "$output" ]
		[ "${stderr_lines[0]}" = "$p: unknown or ambiguous option --bogus" ]
		[[ "${stderr_lines[1]}" == "usage: $p "* ]]
	done
	run --separate-stderr bus-pub --ack
	[ "$status" -eq 64 ]
	[ "${stderr_lines[0]}" = "bus-pub: --ack needs an argument" ]
	run --separate-stderr bus-pub --sync=yes -t t x
	[ "${stderr_lines[0]}" = "bus-pub: --sync takes no argument" ]
	run --separate-stderr busd -d "$BUS_DIR" extra
	[ "$status" -eq 64 ]
	[ "${stderr_lines[0]}" = "busd: unexpected argument 'extra'" ]
	run --separate-stderr bus-rotate -Z
	[ "${stderr_lines[0]}" = "bus-rotate: unknown option -Z" ]
	[ ! -e "$BUS_DIR" ]
}

# complete FUNCTION WORD...: the completions FUNCTION offers for the last
# WORD of the command line, one a line.
complete_words() {
	local fn=$1
	shift
	COMP_WORDS=("$@")
	COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
	COMPREPLY=()
	"$fn"
	printf '%s\n' "${COMPREPLY[@]}"
}

@test "daily: busd --sta<Tab> completes --status; bus-sub --list-cursors <Tab> offers cursors, not topics" {
	source "$BUS_ROOT/contrib/bus.bash-completion"
	run complete_words _busd busd --sta
	[ "$output" = --status ]
	run complete_words _busd busd --status -o ''
	[ "$output" = "$(printf 'text\njson')" ]
	run complete_words _bus_pub bus-pub --oversize ''
	[ "$output" = "$(printf 'fail\nskip\ntruncate')" ]
	start_busd
	bus-pub -t orders x
	bus-sub -e --from beginning --name billing orders >/dev/null
	bus-sub -e --from beginning --name audit orders >/dev/null
	run complete_words _bus_sub bus-sub --list-cursors ''
	[ "$(sort <<<"$output" | tr '\n' ' ')" = "audit billing " ]
	run complete_words _bus_sub bus-sub --list-cursors -d "$BUS_DIR" b
	[ "$output" = billing ]
	# Without --list-cursors the words are still topics.
	run complete_words _bus_sub bus-sub ''
	[ "$output" = orders ]
	run complete_words _bus_rotate bus-rotate --st
	[ "$output" = --status ]
}

@test "daily: make install writes busd.service with the configured SBINDIR; systemd-analyze verify is clean" {
	local prefix=$BATS_TEST_TMPDIR/prefix unit
	run make -s -C "$BUS_ROOT" install PREFIX="$prefix"
	[ "$status" -eq 0 ]
	unit=$prefix/lib/systemd/system/busd.service
	[ -f "$unit" ]
	grep -qx "ExecStart=$prefix/sbin/busd -d /var/lib/bus" "$unit"
	if grep -q '@SBINDIR@\|/usr/local/sbin' "$unit"; then false; fi
	[ -x "$prefix/sbin/busd" ]
	# bash-completion finds one file under each command's name.
	local comp=$prefix/share/bash-completion/completions
	cmp "$comp/bus-sub" "$BUS_ROOT/contrib/bus.bash-completion"
	for c in busd bus-pub bus-rotate bus-compact; do
		[ "$(readlink "$comp/$c")" = bus-sub ]
	done
	run make -s -C "$BUS_ROOT" install DESTDIR="$BATS_TEST_TMPDIR/dest" \
	    PREFIX=/opt/bus SYSTEMDUNITDIR=/etc/systemd/system
	[ "$status" -eq 0 ]
	grep -qx 'ExecStart=/opt/bus/sbin/busd -d /var/lib/bus' \
	    "$BATS_TEST_TMPDIR/dest/etc/systemd/system/busd.service"
	if command -v systemd-analyze >/dev/null; then
		# The man pages of Documentation= are looked up too.
		MANPATH=$prefix/share/man run systemd-analyze verify "$unit"
		echo "$output"
		[ "$status" -eq 0 ]
		[ -z "$output" ]
	fi
	run make -s -C "$BUS_ROOT" uninstall PREFIX="$prefix"
	[ ! -e "$unit" ]
	[ ! -e "$comp/bus-sub" ] && [ ! -L "$comp/busd" ]
}

@test "daily: bus-pub says once that it started busd (pid, store, where its log goes); busd -b without syslog logs to DIR/busd.log" {
	run --separate-stderr bus-pub -t t hello
	[ "$status" -eq 0 ]
	local pid where
	pid=$(busd_pid)
	[ "${#stderr_lines[@]}" -eq 1 ]
	[[ "$stderr" == "bus-pub: started busd (pid $pid) for store $BUS_DIR; its log goes to "* ]]
	where=${stderr##*its log goes to }
	if [ "$where" = syslog ]; then
		[ -S /dev/log ]
		[ ! -e "$BUS_DIR/busd.log" ]
	else
		[ "$where" = "$BUS_DIR/busd.log" ]
		grep -qE "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[^ ]+Z busd\\[$pid\\]: serving $BUS_DIR \\(pid $pid\\)\$" "$BUS_DIR/busd.log"
	fi
	# Running already: nothing said.
	run --separate-stderr bus-pub -t t again
	[ "$status" -eq 0 ]
	[ -z "$stderr" ]
	if [ "$where" != syslog ]; then
		# Rotated by renaming: SIGHUP opens a new one.
		mv "$BUS_DIR/busd.log" "$BUS_DIR/busd.log.1"
		kill -HUP "$pid"
		wait_for "grep -q 'SIGHUP: [0-9]* rule(s), [0-9]* ACL line(s) loaded' '$BUS_DIR/busd.log' 2>/dev/null"
		if grep -q SIGHUP "$BUS_DIR/busd.log.1"; then false; fi
		# What busd logs later lands there too.
		kill -TERM "$pid"
		wait_gone "$pid"
		grep -q "busd\\[$pid\\]: shutting down" "$BUS_DIR/busd.log"
	fi
}

@test "daily: busd(8) says the pid file lock is flock(2); the pages document --oversize, busd.log and no partition matches" {
	grep -q 'flock 2' "$BUS_ROOT/man/busd.8"
	mandoc -T ascii "$BUS_ROOT/man/busd.8" | col -b | grep -q 'exclusive flock(2)'
	mandoc -T ascii "$BUS_ROOT/man/busd.8" | col -b | grep -q 'dir/busd.log'
	mandoc -T ascii "$BUS_ROOT/man/bus-pub.1" | col -b | grep -q -- '--oversize fail | skip | truncate'
	mandoc -T ascii "$BUS_ROOT/man/bus-pub.1" | col -b | grep -q 'bus.truncated=size'
	mandoc -T ascii "$BUS_ROOT/man/bus-rotate.8" | col -b | grep -q 'no partition matches pattern'
	mandoc -T ascii "$BUS_ROOT/man/bus-compact.8" | col -b | grep -q 'no partition matches pattern'
}
