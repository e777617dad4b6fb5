#!/usr/bin/env bats
# bus-sub(1) for daily use: tail, journalctl and kcat habits; typos,
# wrong stores and help said plainly; the JSON and -F output exact.

load helpers

# follow OUTFILE ARGS...: bus-sub ARGS in the background, output to
# OUTFILE, stderr to OUTFILE.err; teardown stops it.
follow() {
	local out=$1
	shift
	bus-sub "$@" >"$out" 2>"$out.err" 3>&- &
	SUB_PID=$!
	track_pid "$SUB_PID"
}

# pub_lines TOPIC FIRST LAST: publish "TOPIC FIRST" .. "TOPIC LAST", one
# message each, in one bus-pub.
pub_lines() {
	seq -f "$1 %g" "$2" "$3" | bus-pub --no-autostart -t "$1"
}

@test "subdaily: bus-sub -n 5 app.log counts forward; --last 5 (--tail 5) starts 5 before the end of the merged subscription" {
	start_busd
	pub_lines app.log 1 10
	# -n stays a count from --from (end): nothing stored is printed.
	follow "$BATS_TEST_TMPDIR/n" -n 2 app.log
	wait_idle "$SUB_PID"
	[ ! -s "$BATS_TEST_TMPDIR/n" ]
	bus-pub -t app.log new1 new2 new3
	wait_gone "$SUB_PID"
	[ "$(cat "$BATS_TEST_TMPDIR/n")" = $'new1\nnew2' ]
	run --separate-stderr bus-sub -e --last 5 app.log
	[ "$status" -eq 0 ]
	[ "$output" = $'app.log 9\napp.log 10\nnew1\nnew2\nnew3' ]
	run bus-sub -e --tail 2 app.log
	[ "$output" = $'new2\nnew3' ]
	# Two partitions, interleaved: --last counts the merge, -N each.
	bus-pub -t other o1
	bus-pub -t app.log a1
	bus-pub -t other o2
	run bus-sub -e --last 3 'app\.log|other'
	[ "$output" = $'o1\na1\no2' ]
	run bus-sub -e --from -2 'app\.log|other'
	[ "$output" = $'new3\no1\na1\no2' ]
	# More than there is: everything.
	run bus-sub -e --last 1000 other
	[ "$output" = $'o1\no2' ]
	# Without -e: the last ones, then what comes.
	follow "$BATS_TEST_TMPDIR/f" --last 1 other
	wait_for "grep -qx o2 '$BATS_TEST_TMPDIR/f'"
	bus-pub -t other o3
	wait_for "grep -qx o3 '$BATS_TEST_TMPDIR/f'"
	[ "$(cat "$BATS_TEST_TMPDIR/f")" = $'o2\no3' ]
	run --separate-stderr bus-sub -e --last 2 --from beginning other
	[ "$status" -eq 64 ]
	[[ "$stderr" == "bus-sub: --last and --from cannot be combined"* ]]
	run --separate-stderr bus-sub -e --last 0 other
	[ "$status" -eq 64 ]
}

@test "subdaily: bus-sub -e app.log prints nothing and says why in one line; not when that was asked" {
	start_busd
	pub_lines app.log 1 3
	run --separate-stderr bus-sub -e app.log
	[ "$status" -eq 0 ]
	[ "$output" = "" ]
	[ "${#stderr_lines[@]}" -eq 1 ]
	[[ "$stderr" == "bus-sub: "*"--from end"*"--from beginning"*"--last"* ]]
	# --from end given: the user asked for it.
	run --separate-stderr bus-sub -e --from end app.log
	[ "$status" -eq 0 ]
	[ "$stderr" = "" ]
	# Something read: no hint.
	run --separate-stderr bus-sub -e --from beginning app.log
	[ "$stderr" = "" ]
}

@test "subdaily: -f and --follow follow (the default), also after -e" {
	start_busd
	pub_lines app.log 1 2
	follow "$BATS_TEST_TMPDIR/out" -e --from beginning -f app.log
	wait_for "[ \$(nlines '$BATS_TEST_TMPDIR/out') -eq 2 ]"
	bus-pub -t app.log live
	wait_for "grep -qx live '$BATS_TEST_TMPDIR/out'"
	if pid_gone "$SUB_PID"; then false; fi
	follow "$BATS_TEST_TMPDIR/out2" --follow app.log
	wait_idle "$SUB_PID"
	bus-pub -t app.log live2
	wait_for "grep -qx live2 '$BATS_TEST_TMPDIR/out2'"
}

@test "subdaily: bus-sub -e --from beginning nosuch.topic says no partition matches it and exits 66" {
	start_busd
	pub_lines app.log 1 2
	run --separate-stderr bus-sub -e --from beginning nosuch.topic
	[ "$status" -eq 66 ]
	[ "$output" = "" ]
	[ "$stderr" = "bus-sub: no partition matches nosuch.topic" ]
	# Before a cursor is made.
	run --separate-stderr bus-sub -e --name typo nosuch.topic
	[ "$status" -eq 66 ]
	[ ! -e "$BUS_DIR/cursors/typo" ]
	# One pattern matching is enough: the other is still named.
	run --separate-stderr bus-sub -e --from beginning app.log nosuch.topic
	[ "$status" -eq 0 ]
	[ "$output" = $'app.log 1\napp.log 2' ]
	[ "$stderr" = "bus-sub: no partition matches nosuch.topic" ]
}

@test "subdaily: a NATS-style pattern 'orders.>' is named, with the regex to write" {
	start_busd
	bus-pub -t orders.eu o1
	run --separate-stderr bus-sub -e --from beginning 'orders.>'
	[ "$status" -eq 66 ]
	[ "${stderr_lines[0]}" = "bus-sub: no partition matches orders.>" ]
	[[ "${stderr_lines[1]}" == *"write 'orders\..*'"* ]]
	run bus-sub -e --from beginning 'orders\..*'
	[ "$output" = o1 ]
}

@test "subdaily: following a pattern that matches nothing warns once and waits for the partition" {
	start_busd
	pub_lines app.log 1 1
	follow "$BATS_TEST_TMPDIR/out" --from beginning late.topic
	wait_for "grep -q 'no partition matches late.topic' '$BATS_TEST_TMPDIR/out.err'"
	bus-pub -t late.topic here
	wait_for "grep -qx here '$BATS_TEST_TMPDIR/out'"
	[ "$(grep -c 'no partition' "$BATS_TEST_TMPDIR/out.err")" -eq 1 ]
}

@test "subdaily: --utc (default) and --local for %T and -o text; -o json has exact RFC 3339 strings; --since is --from" {
	start_busd
	bus-pub -t t -E @1795341600.000000007 -k k1 hello
	run bus-sub -e --from beginning -F '%e\n' t
	[ "$output" = 2026-11-22T10:00:00.000000007Z ]
	run bus-sub -e --from beginning --local --utc -F '%e\n' t
	[ "$output" = 2026-11-22T10:00:00.000000007Z ]
	TZ=Asia/Kolkata run bus-sub -e --from beginning --local -F '%e\n' t
	[ "$output" = 2026-11-22T15:30:00.000000007+05:30 ]
	TZ=America/New_York run bus-sub -e --from beginning --local -F '%e\n' t
	[ "$output" = 2026-11-22T05:00:00.000000007-05:00 ]
	# A human line: time, topic, offset, key, payload.
	run bus-sub -e --from beginning -o text t
	[[ "$output" =~ ^20[0-9]{2}-[0-9]{2}-[0-9]{2}T[0-9:]{8}\.[0-9]{9}Z\ t\[0\]\ key=k1:\ hello$ ]]
	TZ=Asia/Kolkata run bus-sub -e --from beginning --local -o text t
	[[ "$output" =~ ^20[0-9-]{8}T[0-9:]{8}\.[0-9]{9}\+05:30\ t\[0\] ]]
	# JSON: the strings say exactly what the integers say, in UTC.
	run bus-sub -e --from beginning --local -o json t
	[[ "$output" == *'"event_ns":1795341600000000007,"event_time":"2026-11-22T10:00:00.000000007Z","send_ns":'* ]]
	local recv sec
	recv=$(echo "$output" | grep -o '"recv_ns":[0-9]*' | cut -d: -f2)
	sec=$(date -u -d "@$((recv / 1000000000))" +%Y-%m-%dT%H:%M:%S)
	[[ "$output" == *"\"recv_time\":\"$sec.$(printf %09d $((recv % 1000000000)))Z\""* ]]
	echo "$output" | jq -e '.send_time | test("^20[0-9-]+T[0-9:.]+Z$")'
	run bus-sub -e --since -1h t
	[ "$output" = hello ]
}

@test "subdaily: --grep error matches ERROR (smart case); --case-sensitive, repeated --grep, --grep-v, --invert-grep" {
	start_busd
	bus-pub -t t 'ERROR disk full' 'error: retry' 'Error once' 'all fine' 'ERROR net down'
	run bus-sub -e --from beginning --grep error t
	[ "$output" = $'ERROR disk full\nerror: retry\nError once\nERROR net down' ]
	# An upper-case letter: as written.
	run bus-sub -e --from beginning --grep ERROR t
	[ "$output" = $'ERROR disk full\nERROR net down' ]
	# \S is an escape, not an upper-case letter.
	run bus-sub -e --from beginning --grep 'error\S' t
	[ "$output" = 'error: retry' ]
	run bus-sub -e --from beginning --case-sensitive --grep error t
	[ "$output" = 'error: retry' ]
	# All must match.
	run bus-sub -e --from beginning --grep error --grep down t
	[ "$output" = 'ERROR net down' ]
	run bus-sub -e --from beginning --grep error --grep-v disk --grep-v net t
	[ "$output" = $'error: retry\nError once' ]
	run bus-sub -e --from beginning --grep error --invert-grep t
	[ "$output" = 'all fine' ]
}

@test "subdaily: --key is smart-case and repeatable too, with --key-v and --invert-key" {
	start_busd
	bus-pub -t t -k User-1 a
	bus-pub -t t -k user-2 b
	bus-pub -t t -k admin c
	bus-pub -t t nokey
	run bus-sub -e --from beginning --key user t
	[ "$output" = $'a\nb' ]
	run bus-sub -e --from beginning --key User t
	[ "$output" = a ]
	run bus-sub -e --from beginning --key user --key 2 t
	[ "$output" = b ]
	# A message without a key matches no --key, so passes --key-v.
	run bus-sub -e --from beginning --key-v user t
	[ "$output" = $'c\nnokey' ]
	run bus-sub -e --from beginning --key admin --invert-key t
	[ "$output" = $'a\nb\nnokey' ]
}

@test "subdaily: --name c1 --from beginning on an existing cursor says --from is ignored; --reset-cursor, --show-cursor, --delete-cursor" {
	start_busd
	pub_lines t 1 3
	run --separate-stderr bus-sub --name c1 --from beginning -e t
	[ "$output" = $'t 1\nt 2\nt 3' ]
	[ "$stderr" = "" ]
	bus-pub -t t 't 4'
	run --separate-stderr bus-sub --name c1 --from beginning -e t
	[ "$output" = 't 4' ]
	[[ "$stderr" == "bus-sub: cursor c1 exists: --from is ignored"*"--reset-cursor"* ]]
	# Moved once, atomically, then read from there and committed.
	run --separate-stderr bus-sub --name c1 --reset-cursor -2 -e t
	[ "$status" -eq 0 ]
	[ "$output" = $'t 3\nt 4' ]
	[ "$stderr" = "" ]
	run bus-sub --name c1 -e t
	[ "$output" = "" ]
	run bus-sub --name c1 --reset-cursor beginning -n 1 -e t
	[ "$output" = 't 1' ]
	run bus-sub --show-cursor --name c1
	[ "$status" -eq 0 ]
	[[ "${lines[1]}" =~ ^c1\ +t\ +1\ +4\ +3\  ]]
	run bus-sub --show-cursor --name c1 -o json
	echo "$output" | jq -e '.cursor == "c1" and .partitions[0].next == 1'
	run --separate-stderr bus-sub --reset-cursor 0 --group g -e t
	[ "$status" -eq 64 ]
	run --separate-stderr bus-sub --reset-cursor 0 --name c1 --from 1 -e t
	[ "$status" -eq 64 ]
	# In use: refused.  Then gone, and gone again is 66.
	follow "$BATS_TEST_TMPDIR/out" --name c1 t
	wait_idle "$SUB_PID"
	run --separate-stderr bus-sub --delete-cursor --name c1
	[ "$status" -eq 75 ]
	[ -e "$BUS_DIR/cursors/c1" ]
	stop_pid "$SUB_PID"
	run bus-sub --delete-cursor --name c1
	[ "$status" -eq 0 ]
	[ ! -e "$BUS_DIR/cursors/c1" ]
	run --separate-stderr bus-sub --delete-cursor --name c1
	[ "$status" -eq 66 ]
	[ "$stderr" = "bus-sub: no cursor c1 in $BUS_DIR" ]
	run --separate-stderr bus-sub --show-cursor t
	[ "$status" -eq 64 ]
	# A name is never a path.
	touch "$BATS_TEST_TMPDIR/victim"
	run --separate-stderr bus-sub --delete-cursor --name ../../victim
	[ "$status" -eq 64 ]
	[ -e "$BATS_TEST_TMPDIR/victim" ]
}

@test "subdaily: bus-sub -d /typo/store says no bus store and exits 66, creating nothing" {
	local typo="$BATS_TEST_TMPDIR/typo/store"
	run --separate-stderr timeout 5 bus-sub -d "$typo" app.log
	[ "$status" -eq 66 ]
	[ "$stderr" = "bus-sub: no bus store at $typo" ]
	[ ! -e "$BATS_TEST_TMPDIR/typo" ]
	run --separate-stderr bus-sub -d "$typo" --list-cursors
	[ "$status" -eq 66 ]
	[ "$stderr" = "bus-sub: no bus store at $typo" ]
	run --separate-stderr bus-sub -d "$typo" --show-cursor --name c
	[ "$status" -eq 66 ]
	[ ! -e "$BATS_TEST_TMPDIR/typo" ]
	# A store that exists but has no partition yet is waited for.
	start_busd
	follow "$BATS_TEST_TMPDIR/out" app.log
	wait_idle "$SUB_PID"
	bus-pub -t app.log first
	wait_for "grep -qx first '$BATS_TEST_TMPDIR/out'"
}

@test "subdaily: --help and -h print every option on stdout and exit 0; a usage error gives the reason and the synopsis on stderr, 64; -V" {
	local o
	run --separate-stderr "$BUS_ROOT/cmd/bus-sub/bus-sub" --help
	[ "$status" -eq 0 ]
	[ "$stderr" = "" ]
	[[ "${lines[0]}" == "usage: bus-sub "* ]]
	for o in -0 -d -e -f -F -h -n -o -V -v --case-sensitive --delete-cursor \
	    --exec --follow --from --grep --grep-v --group --help --invert-grep \
	    --invert-key --key --key-v --last --list-cursors --local --name \
	    --reset-cursor --retries --show-cursor --since --skip-corrupt --tag \
	    --tail --until --utc --version; do
		[[ "$output" == *" $o"[\ ,=$'\n']* ]] || { echo "missing $o"; false; }
	done
	run -0 bus-sub -h
	[[ "$output" == *--reset-cursor* ]]
	# The program's name, not its path.
	run --separate-stderr "$BUS_ROOT/cmd/bus-sub/bus-sub" --bogus t
	[ "$status" -eq 64 ]
	[ "$output" = "" ]
	[ "${stderr_lines[0]}" = "bus-sub: unknown or ambiguous option --bogus" ]
	[[ "${stderr_lines[1]}" == "usage: bus-sub "* ]]
	run --separate-stderr bus-sub -n
	[ "$status" -eq 64 ]
	[ "${stderr_lines[0]}" = "bus-sub: -n needs an argument" ]
	run --separate-stderr bus-sub -e
	[ "$status" -eq 64 ]
	[ "${stderr_lines[0]}" = "bus-sub: at least one topic pattern is required" ]
	[[ "${stderr_lines[1]}" == "usage: "* ]]
	run -0 bus-sub -V
	[[ "$output" =~ ^bus-sub\ [0-9]+\.[0-9]+\.[0-9]+$ ]]
	run -0 bus-sub --version
	[[ "$output" =~ ^bus-sub\ [0-9] ]]
}

@test "subdaily: usage() is bus-sub(1)'s SYNOPSIS, and every option of --help has its place in the page" {
	command -v mandoc >/dev/null || skip "mandoc is not installed"
	local usage page o
	usage=$(bus-sub --bogus 2>&1 >/dev/null | sed 1d | sed 's/^usage://' | tr -d ' \t\n')
	page=$(mandoc -Tascii -O width=1000 "$BUS_ROOT/man/bus-sub.1" | col -bx |
	    sed -n '/^SYNOPSIS/,/^DESCRIPTION/p' | sed '1d;$d' | tr -d ' \t\n')
	[ -n "$usage" ]
	[ "$usage" = "$page" ] || { echo "usage: $usage"; echo "page:  $page"; false; }
	for o in $(bus-sub --help | grep -oE -- '--[a-z-]+' | sort -u); do
		mandoc -Tascii "$BUS_ROOT/man/bus-sub.1" | col -bx | grep -q -- "$o" ||
		    { echo "$o is not in bus-sub(1)"; false; }
	done
}

@test "subdaily: -F has kcat's %K and %R, \\x41 \\r \\0 escapes; an unknown token or escape, or -F with -o json, is an error" {
	start_busd
	bus-pub -t t -k key -T a=1 -T a=2 hello
	run -0 bus-sub -e --from beginning -F '%K|%k|%S|%h|\x41\x7a|%%\n' t
	[ "$output" = '3|key|5|a=1,a=2|Az|%' ]
	bus-sub -e --from beginning -F '%R%s\r\0' t >"$BATS_TEST_TMPDIR/bin"
	printf '\0\0\0\005hello\r\0' | cmp - "$BATS_TEST_TMPDIR/bin"
	run -0 bus-sub -e --from beginning -F '%T\n' t
	[[ "$output" =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}\.[0-9]{9}Z$ ]]
	run --separate-stderr bus-sub -e --from beginning -F '%q' t
	[ "$status" -eq 64 ]
	[ "$output" = "" ]
	[[ "${stderr_lines[0]}" == "bus-sub: -F: unknown directive '%q' at offset 0"* ]]
	run --separate-stderr bus-sub -e --from beginning -F 'x\q' t
	[ "$status" -eq 64 ]
	[[ "${stderr_lines[0]}" == "bus-sub: -F: unknown escape '\\q' at offset 1"* ]]
	run --separate-stderr bus-sub -e -F '\x4' t
	[ "$status" -eq 64 ]
	run --separate-stderr bus-sub -e -F 'a%' t
	[ "$status" -eq 64 ]
	run --separate-stderr bus-sub -e -F '%s' -o json t
	[ "$status" -eq 64 ]
	[ "${stderr_lines[0]}" = "bus-sub: -F and -o json cannot be combined" ]
	run --separate-stderr bus-sub -e -o json -F '%s' t
	[ "$status" -eq 64 ]
}

@test "subdaily: -o json: a non-UTF-8 key and tags are lossless (base64, said so), 0xFF is not 'ÿ'; member order; duplicate tag names kept in order" {
	start_busd
	bus-pub -t t -k $'\xff' -T $'n=\xff' bin
	bus-pub -t t -k 'ÿ' -T 'n=ÿ' -T 'n=second' text
	run -0 bus-sub -e --from beginning -o json t
	[ "${#lines[@]}" -eq 2 ]
	echo "${lines[0]}" | jq -e '.key == "/w==" and .key_encoding == "base64" and .tags["bg=="] == "/w==" and .tags_encoding == "base64"'
	echo "${lines[1]}" | jq -e '.key == "ÿ" and (has("key_encoding") | not) and (has("tags_encoding") | not)'
	# Duplicate names: both, in order (jq keeps the last).
	[[ "${lines[1]}" == *'"tags":{"n":"ÿ","n":"second"}'* ]]
	echo "${lines[1]}" | jq -e '.tags.n == "second"'
	# Members in the documented order.
	[ "$(echo "${lines[1]}" | jq -c 'keys_unsorted')" = '["topic","partition","offset","key","tags","event_ns","event_time","send_ns","send_time","recv_ns","recv_time","encoding","payload"]' ]
	[ "$(echo "${lines[0]}" | jq -c 'keys_unsorted')" = '["topic","partition","offset","key","key_encoding","tags","tags_encoding","event_ns","event_time","send_ns","send_time","recv_ns","recv_time","encoding","payload"]' ]
}

@test "subdaily: completion: bus-sub --list-cursors <Tab> offers cursors, not topics; the new flags complete" {
	start_busd
	bus-pub -t app.log x
	bus-sub --name c1 --from beginning -e app.log >/dev/null
	run -0 bash -c 'source "$1"; COMP_WORDS=(bus-sub --list-cursors ""); COMP_CWORD=2
	    _bus_sub; echo "${COMPREPLY[*]}"' _ "$BUS_ROOT/contrib/bus.bash-completion"
	[ "$output" = c1 ]
	run -0 bash -c 'source "$1"; COMP_WORDS=(bus-sub ""); COMP_CWORD=1
	    _bus_sub; echo "${COMPREPLY[*]}"' _ "$BUS_ROOT/contrib/bus.bash-completion"
	[ "$output" = app.log ]
	run -0 bash -c 'source "$1"; COMP_WORDS=(bus-sub --la); COMP_CWORD=1
	    _bus_sub; echo "${COMPREPLY[*]}"' _ "$BUS_ROOT/contrib/bus.bash-completion"
	[ "$output" = --last ]
	run -0 bash -c 'source "$1"; COMP_WORDS=(bus-sub -o ""); COMP_CWORD=2
	    _bus_sub; echo "${COMPREPLY[*]}"' _ "$BUS_ROOT/contrib/bus.bash-completion"
	[ "$output" = "raw json text" ]
}
