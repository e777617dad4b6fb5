#!/usr/bin/env bats
# bus-sub(1) as a consumer: durable cursors (--name), at-least-once
# delivery, --exec, consumer groups (--group), --list-cursors, filters
# (--tag, --grep, --key) and --until.

load helpers

# cursor_next NAME PARTITION: the next offset stored in a cursor file.
cursor_next() {
	awk -v p="$2" 'NR > 2 && $1 == p { print $2 }' "$BUS_DIR/cursors/$1"
}

# run_range FILE: the first fields of FILE's lines are consecutive
# integers; print the first and the last, or fail.
run_range() {
	awk '{ n = $1 + 0 }
	    NR == 1 { first = n }
	    n != first + NR - 1 { bad = 1; exit }
	    END { if (bad || NR == 0) exit 1; print first, first + NR - 1 }' "$1"
}

# stall_reader N GO: copy stdin to stdout; after N lines wait until the
# file GO exists, then copy the rest.  read(1) takes one byte at a time
# from a pipe, so nothing past line N leaves the pipe before GO.
stall_reader() {
	local n=0 l
	while [ "$n" -lt "$1" ] && IFS= read -r l; do
		printf '%s\n' "$l"
		n=$((n + 1))
	done
	while [ ! -e "$2" ]; do
		sleep 0.01
	done
	cat
}

# owned_by MEMBER: how many partitions of group g MEMBER owns.
owned_by() {
	bus-sub --list-cursors g | awk -v m="$1" 'NR > 1 && $6 == m' | wc -l
}

@test "consumer: --name starts at --from, then resumes after what it delivered" {
	start_busd
	bus-pub -t t a b
	# A new cursor starts at the end by default, and records it.
	run --separate-stderr bus-sub --name c -e t
	[ "$status" -eq 0 ]
	[ "$output" = "" ]
	[ "$(head -n 1 "$BUS_DIR/cursors/c")" = "bus-cursor 1" ]
	[ "$(cursor_next c t)" = 2 ]
	bus-pub -t t c d
	run --separate-stderr bus-sub --name c -e --from beginning t
	[ "$status" -eq 0 ]
	[ "$output" = $'c\nd' ]		# the cursor wins over --from
	[ "$(cursor_next c t)" = 4 ]
	# A cursor named for the first time with --from beginning.
	run bus-sub --name d -e --from beginning t
	[ "$output" = $'a\nb\nc\nd' ]
	run bus-sub --name d -e t
	[ "$output" = "" ]
	# recv is the receive time of the last message delivered.
	want=$(bus-sub -e --from 3 -o json t | grep -o '"recv_ns":[0-9]*' | cut -d: -f2)
	[ -n "$want" ]
	[ "$(sed -n 's/^recv //p' "$BUS_DIR/cursors/d")" = "$want" ]
}

@test "consumer: a cursor covers several partitions and picks up new ones after the last delivered" {
	start_busd
	bus-pub -t a a1
	bus-pub -t b b1
	run bus-sub --name c -e --from beginning 'a|b|z'
	[ "$output" = $'a1\nb1' ]
	[ "$(cursor_next c a)" = 1 ]
	[ "$(cursor_next c b)" = 1 ]
	bus-pub -t z z1		# a partition the cursor does not know yet
	bus-pub -t a a2
	run bus-sub --name c -e 'a|b|z'
	[ "$output" = $'z1\na2' ]
	[ "$(cursor_next c z)" = 1 ]
}

@test "consumer: kill -9 mid-stream and restart: every message at least once, none skipped" {
	local T=$BATS_TEST_TMPDIR n=20000 S R first last j k
	start_busd
	seq 1 $n | sed 's/$/ the quick brown fox jumps over the lazy dog/' |
	    bus-pub -t t
	mkfifo "$T/pipe"
	stall_reader 12000 "$T/go" <"$T/pipe" >"$T/out1" 3>&- &
	R=$!
	track_pid "$R"
	bus-sub --name c -e --from beginning t >"$T/pipe" 3>&- &
	S=$!
	track_pid "$S"
	wait_for "[ \$(nlines '$T/out1') -ge 12000 ]" 20
	# Blocked writing to the stalled pipe, with some output committed.
	wait_for "grep -Eq '^t [1-9][0-9]*\$' '$BUS_DIR/cursors/c'"
	kill -9 "$S"
	wait_gone "$S"
	touch "$T/go"
	wait_gone "$R" 10
	# The kill may cut a line in the pipe: not a message, drop it.
	[ -z "$(tail -c 1 "$T/out1")" ] || sed -i '$d' "$T/out1"
	read -r first k < <(run_range "$T/out1")
	[ "$first" -eq 1 ]
	[ "$k" -lt "$n" ]	# it really was killed mid-stream
	bus-sub --name c -e t >"$T/out2"
	read -r j last < <(run_range "$T/out2")
	[ "$last" -eq "$n" ]
	# It resumed after a commit, at or before where its output stopped.
	[ "$j" -gt 1 ]
	[ "$j" -le $((k + 1)) ]
	[ "$(cat "$T/out1" "$T/out2" | cut -d' ' -f1 | sort -un | wc -l)" -eq "$n" ]
	[ "$(cursor_next c t)" = "$n" ]
}

@test "consumer: SIGTERM writes, commits and exits 0: a restart repeats nothing" {
	local T=$BATS_TEST_TMPDIR S rc=0
	start_busd
	bus-pub -t t old
	bus-sub --name c t >"$T/out" 3>&- &
	S=$!
	track_pid "$S"
	wait_for "[ -s '$BUS_DIR/cursors/c' ]"
	bus-pub -t t one two
	wait_for "grep -qx two '$T/out'"
	kill -TERM "$S"
	wait "$S" || rc=$?
	[ "$rc" -eq 0 ]
	[ "$(cat "$T/out")" = $'one\ntwo' ]
	bus-pub -t t three
	run bus-sub --name c -e t
	[ "$output" = three ]
}

@test "consumer: -n with --name commits exactly what it printed" {
	start_busd
	bus-pub -t t a b c d e
	run bus-sub --name c --from beginning -n 2 t
	[ "$output" = $'a\nb' ]
	run bus-sub --name c -n 2 t
	[ "$output" = $'c\nd' ]
	[ "$(cursor_next c t)" = 4 ]
}

@test "consumer: one cursor, one user: a second --name or a foreign group is refused (75)" {
	local S
	start_busd
	bus-pub -t t m0
	bus-sub --name c t >/dev/null 3>&- &
	S=$!
	track_pid "$S"
	wait_for "[ -s '$BUS_DIR/cursors/c' ]"
	run --separate-stderr bus-sub --name c -e t
	[ "$status" -eq 75 ]
	[[ "$stderr" == *"cursor c is in use"* ]]
	run --separate-stderr bus-sub --group c -e t
	[ "$status" -eq 75 ]
	stop_pid "$S"
	run bus-sub --name c -e t
	[ "$status" -eq 0 ]
}

@test "consumer: a damaged cursor is reported, not fatal, and written again" {
	start_busd
	bus-pub -t t a b
	printf 'garbage\n' >"$BUS_DIR/cursors/c"
	run --separate-stderr bus-sub --name c -e --from beginning t
	[ "$status" -eq 0 ]
	[ "$output" = $'a\nb' ]
	[[ "$stderr" == *"cursor c is damaged"* ]]
	[ "$(cursor_next c t)" = 2 ]
	: >"$BUS_DIR/cursors/c"		# empty is damaged too
	run --separate-stderr bus-sub --name c -e --from -1 t
	[ "$status" -eq 0 ]
	[ "$output" = b ]
	[[ "$stderr" == *"damaged"* ]]
}

@test "consumer: a cursor behind retention says how many messages are gone and goes on from the oldest" {
	local segs base gone
	start_busd --segment-size 4096
	seq 1 400 | sed 's/$/ some padding to fill segments quickly/' | bus-pub -t t
	run bus-sub --name c --from beginning -n 10 t
	[ "$(cursor_next c t)" = 10 ]
	segs=($(seg_files t))
	[ "${#segs[@]}" -ge 4 ]
	# What retention does: delete the oldest sealed segments.
	rm -f "${segs[0]}" "${segs[1]}" "${segs[0]%.seg}.idx" "${segs[1]%.seg}.idx"
	base=$(basename "${segs[2]}" .seg)
	base=$((10#$base))
	gone=$((base - 10))
	run --separate-stderr bus-sub --name c -e t
	[ "$status" -eq 0 ]
	[[ "$stderr" == *"partition t: $gone messages were deleted by retention"*"offset $base"* ]]
	[ "$(printf '%s\n' "$output" | head -n 1 | cut -d' ' -f1)" -eq $((base + 1)) ]
	[ "$(printf '%s\n' "$output" | tail -n 1 | cut -d' ' -f1)" -eq 400 ]
	[ "$(cursor_next c t)" = 400 ]
}

@test "consumer: --list-cursors shows each cursor's position, end and lag, as text and JSON" {
	start_busd
	bus-pub -t a 1 2 3
	bus-pub -t b x
	run bus-sub --list-cursors
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "CURSOR  PARTITION  NEXT  END  LAG  OWNER  LAST-DELIVERED" ]
	[ "${#lines[@]}" -eq 1 ]
	run bus-sub --name c --from beginning -n 2 'a|b'
	[ "$output" = $'1\n2' ]
	run bus-sub --list-cursors
	[ "$status" -eq 0 ]
	[ "$(echo "${lines[1]}" | awk '{print $1, $2, $3, $4, $5, $6}')" = "c a 2 3 1 -" ]
	[ "$(echo "${lines[2]}" | awk '{print $1, $2, $3, $4, $5, $6}')" = "c b 0 1 1 -" ]
	[[ "${lines[1]}" =~ [0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z$ ]]
	run bus-sub --list-cursors -o json c
	[ "$status" -eq 0 ]
	[[ "$output" == '{"cursor":"c","group":false,"recv_ns":'[0-9]*',"last_delivered":"'*'Z","lag":2,"partitions":[{"partition":"a","next":2,"end":3,"lag":1},{"partition":"b","next":0,"end":1,"lag":1}]}' ]]
	run --separate-stderr bus-sub --list-cursors nosuch
	[ "$status" -eq 66 ]
}

@test "consumer: --exec runs the command once per message with the message in BUS_* and on stdin" {
	local T=$BATS_TEST_TMPDIR
	start_busd
	bus-pub -t t -k k1 -T env=prod -T 'x-y=1 2' 'hello world'
	bus-pub -t t plain
	export BUS_TAG_STALE=should-not-show
	run --separate-stderr bus-sub -e --from beginning --exec 'printf "%s|%s|%s|%s|%s|%s|%s|%s|" "$BUS_TOPIC" "$BUS_PARTITION" "$BUS_OFFSET" "${BUS_KEY-none}" "$BUS_TAGS" "$BUS_TAG_ENV" "$BUS_TAG_X_Y" "${BUS_TAG_STALE-}"; cat; echo' t
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "t|t|0|k1|env=prod,x-y=1 2|prod|1 2||hello world" ]
	[ "${lines[1]}" = "t|t|1|none|||||plain" ]
	# Times are nanoseconds; receive time is the -F %T one.
	run bus-sub -e --from beginning -n 1 --exec 'echo "$BUS_EVENT_NS $BUS_SEND_NS $BUS_RECV_NS"' t
	[[ "$output" =~ ^[0-9]{19}\ [0-9]{19}\ [0-9]{19}$ ]]
	# -o json gives the command the JSON form instead of the payload.
	run bus-sub -e --from beginning -n 1 -o json --exec cat t
	[[ "$output" == '{"topic":"t"'*'"payload":"hello world"}' ]]
}

@test "consumer: --exec failing then succeeding retries with backoff and commits each message once" {
	local T=$BATS_TEST_TMPDIR
	export T
	start_busd
	bus-pub -t t a b c
	cat >"$T/cmd.sh" <<'EOF'
f="$T/tried.$BUS_OFFSET"
if [ -e "$f" ]; then
	{ cat; echo; } >>"$T/out"
	exit 0
fi
: >"$f"
exit 3
EOF
	run --separate-stderr bus-sub --name c -e --from beginning --exec "sh $T/cmd.sh" t
	[ "$status" -eq 0 ]
	[ "$(cat "$T/out")" = $'a\nb\nc' ]
	[ "$(printf '%s\n' "$stderr" | grep -c 'command exited with status 3; retry 1 of 3 in 100 ms')" -eq 3 ]
	[ "$(cursor_next c t)" = 3 ]
}

@test "consumer: --exec failing past --retries stops with 70, the cursor left before the message" {
	local T=$BATS_TEST_TMPDIR
	start_busd
	bus-pub -t t a b c
	run --separate-stderr bus-sub --name c -e --from beginning --retries 1 --exec "cat >>'$T/out'; echo >>'$T/out'; [ \"\$BUS_OFFSET\" != 1 ]" t
	[ "$status" -eq 70 ]
	[ "$(printf '%s\n' "$stderr" | tail -n 1)" = "bus-sub: partition t offset 1: command exited with status 1 (2 attempts); stopping, cursor c left before it" ]
	[ "$(cat "$T/out")" = $'a\nb\nb' ]
	[ "$(cursor_next c t)" = 1 ]
	run bus-sub --name c -e --exec "cat >>'$T/out2'; echo >>'$T/out2'" t
	[ "$status" -eq 0 ]
	[ "$(cat "$T/out2")" = $'b\nc' ]
	# --retries 0: one attempt.  Without --name nothing is committed.
	run --separate-stderr bus-sub -e --from beginning --retries 0 --exec false t
	[ "$status" -eq 70 ]
	[[ "$stderr" == *"offset 0: command exited with status 1 (1 attempt); stopping" ]]
}

@test "consumer: a group of 2 over 4 partitions gets 2 each; kill -9 one, the other takes over, nothing skipped" {
	local T=$BATS_TEST_TMPDIR A B t i p
	start_busd
	for t in t0 t1 t2 t3; do
		bus-pub -t "$t" 0
	done
	bus-sub --group g --name a --from beginning -F '%p %s\n' 't[0-3]' >"$T/a" 2>"$T/a.err" 3>&- &
	A=$!
	track_pid "$A"
	bus-sub --group g --name b --from beginning -F '%p %s\n' 't[0-3]' >"$T/b" 2>"$T/b.err" 3>&- &
	B=$!
	track_pid "$B"
	wait_for '[ "$(owned_by a)" -eq 2 ] && [ "$(owned_by b)" -eq 2 ]'
	for t in t0 t1 t2 t3; do
		seq 1 100 | bus-pub -t "$t"
	done
	wait_for "[ \$(cat '$T/a' '$T/b' | grep -c ' 100\$') -eq 4 ]"
	# Each member printed the new messages of two partitions, not the same.
	[ "$(grep -v ' 0$' "$T/a" | cut -d' ' -f1 | sort -u | wc -l)" -eq 2 ]
	[ "$(grep -v ' 0$' "$T/b" | cut -d' ' -f1 | sort -u | wc -l)" -eq 2 ]
	[ "$(cat "$T/a" "$T/b" | grep -v ' 0$' | cut -d' ' -f1 | sort -u | wc -l)" -eq 4 ]
	kill -9 "$A"
	wait_gone "$A"
	# Its partitions move to b within a second or so.
	wait_for '[ "$(owned_by b)" -eq 4 ]' 2
	for t in t0 t1 t2 t3; do
		seq 101 200 | bus-pub -t "$t"
	done
	wait_for "[ \$(grep -c ' 200\$' '$T/b') -eq 4 ]" 5
	for t in t0 t1 t2 t3; do
		# Nothing skipped, and each partition in order in each output.
		[ "$(cat "$T/a" "$T/b" | awk -v p=$t '$1 == p { print $2 }' | sort -un | wc -l)" -eq 201 ]
		[ "$(awk -v p=$t '$1 == p { print $2 }' "$T/b" | sort -n -c && echo sorted)" = sorted ]
		[ "$(awk -v p=$t '$1 == p { print $2 }' "$T/a" | sort -n -c && echo sorted)" = sorted ]
	done
	wait_for '[ "$(cursor_next g t0)" = 201 ]' 1
}

@test "consumer: a third group member gets its share; members leaving on SIGTERM hand over without loss" {
	local T=$BATS_TEST_TMPDIR A B C t
	start_busd -r 'p0:[a-c]' -r 'p1:[d-f]' -r 'p2:[g-i]'
	for t in a d g; do
		bus-pub -t "$t" "$t 0"
	done
	for m in A B C; do
		bus-sub --group g --name "$m" --from beginning -F '%p %s\n' '[a-i]' >"$T/$m" 2>"$T/$m.err" 3>&- &
		eval "$m=\$!"
		track_pid $!
	done
	wait_for '[ "$(owned_by A)" -eq 1 ] && [ "$(owned_by B)" -eq 1 ] && [ "$(owned_by C)" -eq 1 ]'
	kill -TERM "$A" "$B"
	wait_for '[ "$(owned_by C)" -eq 3 ]' 2
	for t in b e h; do
		seq 1 50 | sed "s/^/$t /" | bus-pub -t "$t"
	done
	wait_for "[ \$(grep -c ' 50\$' '$T/C') -eq 3 ]"
	[ "$(cat "$T/A" "$T/B" "$T/C" | wc -l)" -eq 153 ]	# none twice
}

@test "consumer: a group picks up a partition created while it runs, from its first message" {
	local T=$BATS_TEST_TMPDIR
	start_busd
	bus-pub -t a a0
	bus-sub --group g -F '%p %s\n' '.*' >"$T/out" 2>"$T/err" 3>&- &
	track_pid $!
	wait_for "[ -s '$BUS_DIR/cursors/g' ]"
	bus-pub -t a a1
	bus-pub -t z z1 z2
	wait_for "grep -qx 'z z2' '$T/out'"
	[ "$(cat "$T/out")" = $'a a1\nz z1\nz z2' ]
	# Committed within the commit interval, without more input.
	wait_for '[ "$(cursor_next g z)" = 2 ]' 1
	[ ! -s "$T/err" ]
}

@test "consumer: --until with a relative time stops at the first message received after it" {
	local T=$BATS_TEST_TMPDIR S
	start_busd
	bus-pub -t t old1 old2
	# A deliberate gap in receive time, not a wait for a condition.
	sleep 1.2
	bus-pub -t t new1 new2
	run bus-sub -e --from beginning --until -1s t
	[ "$status" -eq 0 ]
	[ "$output" = $'old1\nold2' ]
	# Following: it exits at new1 by itself.
	run timeout 10 bus-sub --from beginning --until -1s t
	[ "$status" -eq 0 ]
	[ "$output" = $'old1\nold2' ]
	# With --name, it commits up to there: the next run starts at new1.
	run bus-sub --name c --from beginning --until -1s t
	[ "$output" = $'old1\nold2' ]
	run bus-sub --name c -e t
	[ "$output" = $'new1\nnew2' ]
	# An idle store: it stops once the time has passed.
	bus-sub --name u --until +1s t >"$T/out" 3>&- &
	S=$!
	track_pid "$S"
	wait_for "[ -s '$BUS_DIR/cursors/u' ]"
	bus-pub -t t live
	wait_gone "$S" 5
	[ "$(cat "$T/out")" = live ]
	run bus-sub -e --from beginning --until now t
	[ "$output" = $'old1\nold2\nnew1\nnew2\nlive' ]
}

@test "consumer: filters combined: --tag, --grep and --key must all match; filtered messages are committed" {
	start_busd
	bus-pub -t t -k user-1 -T env=prod 'ERR one'
	bus-pub -t t -k user-2 -T env=dev 'ERR two'
	bus-pub -t t -k admin -T env=prod 'ERR three'
	bus-pub -t t -k user-3 -T env=prod 'ok four'
	bus-pub -t t -T env=prod 'ERR five'
	bus-pub -t t -k user-4 -T x=y -T env=prod 'an ERR six'
	bus-pub -t t -k user-5 -T env=dev 'ERR seven'
	run bus-sub --name c -e --from beginning --tag env=prod --grep 'ERR' --key '^user-' t
	[ "$status" -eq 0 ]
	[ "$output" = $'ERR one\nan ERR six' ]
	[ "$(cursor_next c t)" = 7 ]
	run bus-sub -e --from beginning --tag env=dev t
	[ "$output" = $'ERR two\nERR seven' ]
	run bus-sub -e --from beginning --tag x --tag env=prod t
	[ "$output" = 'an ERR six' ]
	run bus-sub -e --from beginning --key 'admin|3' t
	[ "$output" = $'ERR three\nok four' ]
	run bus-sub -e --from beginning --grep '^ERR t' -F '%o %s\n' t
	[ "$output" = $'1 ERR two\n2 ERR three' ]
	run bus-sub -e --from beginning -n 1 --grep 'f' t
	[ "$output" = 'ok four' ]
}

@test "consumer: bad flags are usage errors (64)" {
	run bus-sub -e --grep '(' t
	[ "$status" -eq 64 ]
	[[ "$output" == *"--grep: invalid regex"* ]]
	run bus-sub -e --key '[' t
	[ "$status" -eq 64 ]
	run bus-sub -e --tag =x t
	[ "$status" -eq 64 ]
	run bus-sub -e --until 'last week' t
	[ "$status" -eq 64 ]
	run bus-sub -e --name ../x t
	[ "$status" -eq 64 ]
	run bus-sub -e --group g.group t
	[ "$status" -eq 64 ]
	run bus-sub -e --retries -1 --exec true t
	[ "$status" -eq 64 ]
	run bus-sub -e --grep-v '(' t
	[ "$status" -eq 64 ]
}
