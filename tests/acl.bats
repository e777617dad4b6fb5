#!/usr/bin/env bats
# busd(8) as a system service: modes and groups of the store, refusals of
# what others could write, no symlink followed inside the store, and the
# ACLs of busd.conf judged by the peer's credentials.
#
# Most tests need root (to chown, to run a publisher as nobody); they
# skip, saying so, otherwise.

load helpers

need_root() {
	[ "$(id -u)" -eq 0 ] || skip "needs root (chown, setpriv to nobody)"
	command -v setpriv >/dev/null || skip "needs setpriv(1)"
}

# Run a command as nobody:nogroup without supplementary groups.
as_nobody() {
	setpriv --reuid=nobody --regid=nogroup --clear-groups "$@"
}

# The store shared with the group nogroup, reachable by nobody: the temp
# directories above it made traversable (not readable, not writable).
shared_store() {
	local d
	d=$(dirname "$BUS_DIR")
	while [ "$d" != / ] && [ "$d" != /tmp ]; do
		chmod o+x "$d"
		d=$(dirname "$d")
	done
	mkdir -m 750 "$BUS_DIR"
	chgrp nogroup "$BUS_DIR"
}

# wait_log LOG TEXT: until busd's log LOG holds TEXT.
wait_log() {
	wait_for "grep -qF -- '$2' '$1'"
}

@test "acl: busd makes the store 0750, log and cursors 2750 with its group, files 0640, socket 0660 with the store's group" {
	need_root
	shared_store
	start_busd
	bus-pub --no-autostart -t t hello
	[ "$(stat -c '%a %G' "$BUS_DIR")" = "750 nogroup" ]
	[ "$(stat -c '%a %G' "$BUS_DIR/log")" = "2750 nogroup" ]
	[ "$(stat -c '%a %G' "$BUS_DIR/cursors")" = "2750 nogroup" ]
	[ "$(stat -c '%a %G' "$BUS_DIR/log/t")" = "2750 nogroup" ]
	[ "$(stat -c '%a %G' "$BUS_DIR/busd.sock")" = "660 nogroup" ]
	[ "$(stat -c '%a %G' "$BUS_DIR/log/.clock")" = "640 nogroup" ]
	local f
	for f in "$BUS_DIR"/log/t/*; do
		[ "$(stat -c '%a %G' "$f")" = "640 nogroup" ]
	done
	# chgrp was all it took: nobody, in nogroup, publishes and reads.
	as_nobody bus-pub --no-autostart -t t from-nobody
	run as_nobody bus-sub --from beginning -e t
	[ "$status" -eq 0 ]
	[ "$output" = "$(printf 'hello\nfrom-nobody')" ]
}

@test "acl: a store made before chgrp gets the group on its next start (log, cursors, socket)" {
	need_root
	start_busd
	[ "$(stat -c %G "$BUS_DIR/log")" = root ]
	stop_busd
	chgrp nogroup "$BUS_DIR"
	start_busd
	[ "$(stat -c '%a %G' "$BUS_DIR/log")" = "2750 nogroup" ]
	[ "$(stat -c %G "$BUS_DIR/busd.sock")" = nogroup ]
}

@test "acl: busd refuses, exit 78, a store writable by others, naming it and the fix" {
	mkdir -m 757 "$BUS_DIR"
	run --separate-stderr busd -b -d "$BUS_DIR"
	[ "$status" -eq 78 ]
	[ "$stderr" = "busd: $BUS_DIR: writable by others (mode 0757): fix: chmod o-w $BUS_DIR" ]
	[ ! -e "$BUS_DIR/busd.sock" ]
	[ ! -e "$BUS_DIR/log" ]
	chmod o-w "$BUS_DIR"
	start_busd
}

@test "acl: busd refuses a store writable by a group others are in, and one owned by another user" {
	need_root
	mkdir -m 770 "$BUS_DIR"
	chgrp nogroup "$BUS_DIR"
	run --separate-stderr busd -b -d "$BUS_DIR"
	[ "$status" -eq 78 ]
	[[ "$stderr" == "busd: $BUS_DIR: writable by group nogroup, "*"fix: chmod g-w $BUS_DIR" ]]
	chmod 750 "$BUS_DIR"
	chown nobody "$BUS_DIR"
	run --separate-stderr busd -b -d "$BUS_DIR"
	[ "$status" -eq 78 ]
	[ "$stderr" = "busd: $BUS_DIR: owned by nobody, neither root nor the user we run as (root): fix: chown root $BUS_DIR" ]
	[ ! -e "$BUS_DIR/log" ]
}

@test "acl: busd refuses a busd.conf writable by others, or a symlink at DIR/busd.conf; -c may be a symlink" {
	mkdir -m 750 "$BUS_DIR"
	echo 'rule all:.*' >"$BUS_DIR/busd.conf"
	chmod 666 "$BUS_DIR/busd.conf"
	run --separate-stderr busd -b -d "$BUS_DIR"
	[ "$status" -eq 78 ]
	[ "$stderr" = "busd: $BUS_DIR/busd.conf: writable by others (mode 0666): fix: chmod o-w $BUS_DIR/busd.conf" ]
	mv "$BUS_DIR/busd.conf" "$BATS_TEST_TMPDIR/real.conf"
	chmod 644 "$BATS_TEST_TMPDIR/real.conf"
	ln -s "$BATS_TEST_TMPDIR/real.conf" "$BUS_DIR/busd.conf"
	run --separate-stderr busd -b -d "$BUS_DIR"
	[ "$status" -eq 78 ]
	[ "$stderr" = "busd: $BUS_DIR/busd.conf: is a symbolic link, refusing to follow it" ]
	rm "$BUS_DIR/busd.conf"
	ln -s "$BATS_TEST_TMPDIR/real.conf" "$BATS_TEST_TMPDIR/link.conf"
	start_busd -c "$BATS_TEST_TMPDIR/link.conf"
	bus-pub --no-autostart -t x one
	[ "$(partitions)" = all ]
}

@test "acl: SIGHUP with a busd.conf made writable by others keeps the old rules and says why" {
	local log="$BATS_TEST_TMPDIR/busd.log"
	mkdir -m 750 "$BUS_DIR"
	echo 'rule one:.*' >"$BUS_DIR/busd.conf"
	start_busd_fg "$log"
	echo 'rule two:.*' >"$BUS_DIR/busd.conf"
	chmod 646 "$BUS_DIR/busd.conf"
	kill -HUP "$BUSD_PID"
	wait_log "$log" "SIGHUP: keeping the old rules and ACLs: $BUS_DIR/busd.conf: writable by others"
	bus-pub --no-autostart -t x m
	[ "$(partitions)" = one ]
}

@test "acl: bus-sub, bus-rotate and bus-compact warn, in one line, about a store others could write" {
	start_busd
	bus-pub --no-autostart -t t m
	chmod 757 "$BUS_DIR"
	run --separate-stderr bus-sub --from beginning -e t
	[ "$status" -eq 0 ]
	[ "$output" = m ]
	[ "$stderr" = "bus-sub: warning: $BUS_DIR: writable by others (mode 0757): fix: chmod o-w $BUS_DIR" ]
	run --separate-stderr "$BUS_ROOT/cmd/bus-rotate/bus-rotate" -d "$BUS_DIR" --no-seal
	[[ "$stderr" == "bus-rotate: warning: $BUS_DIR: writable by others (mode 0757): fix: chmod o-w $BUS_DIR"* ]]
	run --separate-stderr "$BUS_ROOT/cmd/bus-compact/bus-compact" -d "$BUS_DIR" -n
	[[ "$stderr" == "bus-compact: warning: $BUS_DIR: writable by others (mode 0757): fix: chmod o-w $BUS_DIR"* ]]
	chmod 750 "$BUS_DIR"
}

@test "acl: a symlink planted at a partition is never followed: busd and bus-sub name it" {
	local log="$BATS_TEST_TMPDIR/busd.log" out="$BATS_TEST_TMPDIR/outside"
	mkdir -p "$BUS_DIR/log" "$out"
	chmod 750 "$BUS_DIR"
	ln -s "$out" "$BUS_DIR/log/x"
	start_busd_fg "$log"
	grep -qF "busd: $BUS_DIR/log/x: is a symbolic link, refusing to follow it" "$log"
	run --separate-stderr bus-pub --no-autostart -t x m
	[ "$status" -ne 0 ]
	bus-pub --no-autostart -t y fine
	# Nothing was made where the link points.
	[ -z "$(ls -A "$out")" ]
	run --separate-stderr bus-sub --from beginning -e x
	[[ "$stderr" == *"$BUS_DIR/log/x: is a symbolic link, refusing to follow it"* ]]
	[ -z "$(ls -A "$out")" ]
}

@test "acl: a symlink planted at a sealed segment is an error naming it, never read" {
	local log="$BATS_TEST_TMPDIR/busd.log" seg
	start_busd
	bus-pub --no-autostart -t t a b c
	"$BUS_ROOT/cmd/bus-rotate/bus-rotate" -d "$BUS_DIR"
	bus-pub --no-autostart -t t d
	stop_busd
	seg=$(seg_files t | head -n 1)
	mv "$seg" "$BATS_TEST_TMPDIR/seg"
	ln -s "$BATS_TEST_TMPDIR/seg" "$seg"
	run --separate-stderr bus-sub --from beginning -e t
	[ "$status" -ne 0 ]
	[[ "$stderr" == *"is a symbolic link, refusing to follow it"* ]]
	[[ "$output" != *a* ]]
	busd -d "$BUS_DIR" 2>"$log" &
	track_pid $!
	wait_for "grep -qF '$seg: is a symbolic link, refusing to follow it' '$log'"
}

@test "acl: a symlink planted at an index is replaced by a rebuilt index, its target untouched" {
	local idx
	start_busd
	bus-pub --no-autostart -t t a b c
	"$BUS_ROOT/cmd/bus-rotate/bus-rotate" -d "$BUS_DIR"
	bus-pub --no-autostart -t t d
	stop_busd
	idx=$(seg_files t | tail -n 1)
	idx=${idx%.seg}.idx
	echo precious >"$BATS_TEST_TMPDIR/target"
	rm "$idx"
	ln -s "$BATS_TEST_TMPDIR/target" "$idx"
	start_busd
	bus-pub --no-autostart -t t e
	[ "$(cat "$BATS_TEST_TMPDIR/target")" = precious ]
	[ ! -L "$idx" ]
	run bus-sub --from beginning -e t
	[ "$output" = "$(printf 'a\nb\nc\nd\ne')" ]
}

@test "acl: a symlink planted at a cursor is reported and replaced, its target untouched" {
	start_busd
	bus-pub --no-autostart -t t a b
	printf 'bus-cursor 1\nrecv 0\nt 1\n' >"$BATS_TEST_TMPDIR/target"
	ln -s "$BATS_TEST_TMPDIR/target" "$BUS_DIR/cursors/c"
	run --separate-stderr bus-sub --name c --from beginning -e t
	[ "$status" -eq 0 ]
	[[ "$stderr" == *"$BUS_DIR/cursors/c: is a symbolic link, refusing to follow it"* ]]
	# Not taken as a position: read from the start.
	[ "$output" = "$(printf 'a\nb')" ]
	[ "$(cat "$BATS_TEST_TMPDIR/target")" = "$(printf 'bus-cursor 1\nrecv 0\nt 1')" ]
	[ ! -L "$BUS_DIR/cursors/c" ]
}

@test "acl: a symlink planted at the quarantine: busd --verify --repair refuses it, nothing lands outside" {
	local seg out="$BATS_TEST_TMPDIR/outside"
	start_busd
	bus-pub --no-autostart -t t $(seq 1 50)
	"$BUS_ROOT/cmd/bus-rotate/bus-rotate" -d "$BUS_DIR"
	stop_busd
	seg=$(seg_files t | head -n 1)
	# A flipped byte in the middle of a sealed segment.
	printf 'X' | dd of="$seg" bs=1 seek=$(($(stat -c %s "$seg") / 2)) conv=notrunc 2>/dev/null
	mkdir "$out"
	ln -s "$out" "$BUS_DIR/quarantine"
	run busd --verify --repair -d "$BUS_DIR"
	echo "$output" >&2
	[ "$status" -ne 0 ]
	[[ "$output" == *"quarantine failed: is a symbolic link, refusing to follow it"* ]]
	[ -z "$(ls -A "$out")" ]
}

@test "acl: cursor files with a negative, overflowing or junk offset, or a partition twice, are damaged, never a position" {
	local bad
	start_busd
	bus-pub --no-autostart -t t a b c
	for bad in 't -1' 't 99999999999999999999999' 't 2x' 't 2 2' $'t 1\nt 2'; do
		printf 'bus-cursor 1\nrecv 0\n%s\n' "$bad" >"$BUS_DIR/cursors/c"
		run --separate-stderr bus-sub --name c --from beginning -e t
		echo "$bad: $stderr" >&2
		[ "$status" -eq 0 ]
		[[ "$stderr" == "bus-sub: cursor c is damaged ($BUS_DIR/cursors/c:"* ]]
		[ "$output" = "$(printf 'a\nb\nc')" ]
		rm -f "$BUS_DIR/cursors/c"
	done
}

@test "acl: a cursor past the end of its partition is reported by bus-sub and --list-cursors" {
	start_busd
	bus-pub --no-autostart -t t a b c
	printf 'bus-cursor 1\nrecv 5\nt 10\n' >"$BUS_DIR/cursors/c"
	run --separate-stderr bus-sub --list-cursors
	[ "$status" -eq 0 ]
	[[ "$output" == *"c       t          10    3    past-end+7"* ]]
	run --separate-stderr bus-sub --list-cursors -o json
	[[ "$output" == *'"next":10,"end":3,"lag":0,"past_end":7'* ]]
	run --separate-stderr bus-sub --name c -e t
	[ "$status" -eq 0 ]
	[ "$stderr" = "bus-sub: cursor c: partition t: position 10 is past its end (3)" ]
}

@test "acl: allow user: nobody may publish what a line allows; the rest is refused with 77 naming topic and line" {
	local log="$BATS_TEST_TMPDIR/busd.log"
	need_root
	shared_store
	printf '%s\n' 'allow user nobody publish open\..*' >"$BUS_DIR/busd.conf"
	start_busd_fg "$log"
	as_nobody bus-pub --no-autostart -t open.a yes
	run --separate-stderr as_nobody bus-pub --no-autostart -t secret.b no
	[ "$status" -eq 77 ]
	[[ "$stderr" == *"permission denied: publish to 'secret.b' refused to uid 65534: no ACL line allows it"* ]]
	# root too: with an ACL line, what no line allows is refused.
	run --separate-stderr bus-pub --no-autostart -t open.a root
	[ "$status" -eq 77 ]
	grep -q "refused uid 65534 gid 65534 pid [0-9]*: secret.b: no ACL line allows it" "$log"
	run bus-sub --from beginning -e '.*'
	[ "$output" = yes ]
	[ "$(partitions)" = open.a ]
}

@test "acl: deny group before allow user: first match wins, by the primary and by a supplementary group" {
	local users
	need_root
	shared_store
	users=$(getent group users | cut -d: -f3)
	[ -n "$users" ] || skip "no group 'users'"
	cat >"$BUS_DIR/busd.conf" <<-EOF
	deny group nogroup publish secret\..*
	deny group users publish audit\..*
	allow user nobody publish .*
	EOF
	start_busd
	as_nobody bus-pub --no-autostart -t open.a yes
	run --separate-stderr as_nobody bus-pub --no-autostart -t secret.a no
	[ "$status" -eq 77 ]
	[[ "$stderr" == *"publish to 'secret.a' refused to uid 65534: $BUS_DIR/busd.conf:1: deny group nogroup publish secret\..*"* ]]
	# Not in users: audit is allowed.
	as_nobody bus-pub --no-autostart -t audit.a yes
	# In users as a supplementary group (of the process, not of
	# /etc/group): refused by line 2.
	run --separate-stderr setpriv --reuid=nobody --regid=nogroup \
	    --groups="$users" bus-pub --no-autostart -t audit.b no
	[ "$status" -eq 77 ]
	[[ "$stderr" == *"$BUS_DIR/busd.conf:2: deny group users publish audit\..*"* ]]
}

@test "acl: seal needs an allow line once any ACL line exists; status stays open" {
	local rot="$BUS_ROOT/cmd/bus-rotate/bus-rotate"
	need_root
	mkdir -m 750 "$BUS_DIR"
	echo 'allow user root publish .*' >"$BUS_DIR/busd.conf"
	start_busd
	bus-pub --no-autostart -t t a
	run --separate-stderr "$rot" -d "$BUS_DIR"
	[ "$status" -eq 77 ]
	[[ "$stderr" == *"permission denied: SEAL refused to uid 0: no ACL line allows it"* ]]
	[ "$(seg_files t | wc -l)" -eq 1 ]
	run busd --status -d "$BUS_DIR" -o json
	[ "$status" -eq 0 ]
	[[ "$output" != *"permission denied"* ]]
	echo 'allow user root seal' >>"$BUS_DIR/busd.conf"
	kill -HUP "$BUSD_PID"
	wait_for "$rot -d '$BUS_DIR' 2>/dev/null"
	bus-pub --no-autostart -t t b
	[ "$(seg_files t | wc -l)" -eq 2 ]
}

@test "acl: SIGHUP reloads the ACLs; a connection already open is judged by the new ones from its next message" {
	local log="$BATS_TEST_TMPDIR/busd.log" fifo="$BATS_TEST_TMPDIR/in" pub
	need_root
	shared_store
	echo 'allow user nobody publish .*' >"$BUS_DIR/busd.conf"
	start_busd_fg "$log"
	mkfifo "$fifo"
	chmod 666 "$fifo"
	as_nobody bus-pub --no-autostart -t t <"$fifo" 2>"$BATS_TEST_TMPDIR/pub.err" &
	pub=$!
	track_pid "$pub"
	exec 4>"$fifo"
	echo before >&4
	wait_for "[ \"\$(bus-sub --from beginning -e t)\" = before ]"
	echo 'deny user nobody publish t' >"$BUS_DIR/busd.conf"
	kill -HUP "$BUSD_PID"
	wait_log "$log" "SIGHUP: 0 rule(s), 1 ACL line(s) loaded"
	echo after >&4
	exec 4>&-
	local rc=0
	wait "$pub" || rc=$?
	[ "$rc" -eq 77 ]
	grep -qF "publish to 't' refused to uid 65534: $BUS_DIR/busd.conf:1: deny user nobody publish t" "$BATS_TEST_TMPDIR/pub.err"
	[ "$(bus-sub --from beginning -e t)" = before ]
}

@test "acl: a bad ACL line is refused at start (78) naming file, line and the reason" {
	mkdir -m 750 "$BUS_DIR"
	printf '%s\n' 'rule all:.*' 'allow user no-such-user publish .*' >"$BUS_DIR/busd.conf"
	run --separate-stderr busd -b -d "$BUS_DIR"
	[ "$status" -eq 78 ]
	[ "$stderr" = "busd: $BUS_DIR/busd.conf:2: unknown user 'no-such-user'" ]
	printf '%s\n' 'allow group root publish (' >"$BUS_DIR/busd.conf"
	run --separate-stderr busd -b -d "$BUS_DIR"
	[ "$status" -eq 78 ]
	[[ "$stderr" == "busd: $BUS_DIR/busd.conf:1: invalid regex '(' at offset 1: "* ]]
	printf '%s\n' 'allow user root seal now' >"$BUS_DIR/busd.conf"
	run --separate-stderr busd -b -d "$BUS_DIR"
	[ "$status" -eq 78 ]
	[ "$stderr" = "busd: $BUS_DIR/busd.conf:1: nothing may follow 'seal'" ]
}

@test "acl: rule group= and mode=: two groups, each reads its partitions only" {
	need_root
	shared_store
	cat >"$BUS_DIR/busd.conf" <<-EOF
	rule audit.{topic}:audit\..* group=nogroup mode=0750
	rule ops.{topic}:ops\..* group=root mode=0700
	EOF
	start_busd
	bus-pub --no-autostart -t audit.login alice
	bus-pub --no-autostart -t ops.disk full
	[ "$(stat -c '%a %G' "$BUS_DIR/log/audit.audit.login")" = "2750 nogroup" ]
	[ "$(stat -c '%a %G' "$BUS_DIR/log/ops.ops.disk")" = "2700 root" ]
	local f
	for f in "$BUS_DIR"/log/audit.audit.login/*; do
		[ "$(stat -c '%a %G' "$f")" = "640 nogroup" ]
	done
	for f in "$BUS_DIR"/log/ops.ops.disk/*; do
		[ "$(stat -c '%a %G' "$f")" = "600 root" ]
	done
	run as_nobody bus-sub --from beginning -e 'audit\..*'
	[ "$output" = alice ]
	run --separate-stderr as_nobody bus-sub --from beginning -e 'ops\..*'
	[[ "$output" != *full* ]]
	run bus-sub --from beginning -e 'ops\..*'
	[ "$output" = full ]
}

@test "acl: a rule option that is not one is refused, naming the rule" {
	run --separate-stderr busd -b -d "$BUS_DIR" -r 'x:.* mode=0777'
	[ "$status" -eq 64 ]
	[[ "$stderr" == "busd: rule 'x:.* mode=0777': mode '0777' is not a directory mode like 0750"* ]]
	run --separate-stderr busd -b -d "$BUS_DIR" -r 'x:.* group=no-such-group'
	[ "$status" -eq 64 ]
	[ "$stderr" = "busd: rule 'x:.* group=no-such-group': unknown group 'no-such-group'" ]
}

# A store with a sealed segment of several index entries, busd stopped.
sealed_store_idx() {
	start_busd
	head -c 300000 /dev/zero | tr '\0' x | fold -w 1000 | bus-pub --no-autostart -t t
	"$BUS_ROOT/cmd/bus-rotate/bus-rotate" -d "$BUS_DIR"
	bus-pub --no-autostart -t t last
	stop_busd
}

@test "acl: an index whose entries are all plausible but shifted is found at start and rebuilt" {
	local log="$BATS_TEST_TMPDIR/busd.log" idx
	sealed_store_idx
	idx=$(seg_files t | head -n 1)
	idx=${idx%.seg}.idx
	cp "$idx" "$BATS_TEST_TMPDIR/good"
	# Every entry's offset plus one: still strictly increasing.
	python3 - "$idx" <<-'PY'
	import struct, sys
	b = bytearray(open(sys.argv[1], 'rb').read())
	for i in range(16, len(b), 24):
	    struct.pack_into('<Q', b, i, struct.unpack_from('<Q', b, i)[0] + 1)
	open(sys.argv[1], 'wb').write(b)
	PY
	if cmp -s "$idx" "$BATS_TEST_TMPDIR/good"; then false; fi
	start_busd_fg "$log"
	grep -qF "partition t: rebuilding index $(basename "$idx"): entry 0: byte offset 32 holds offset 0, not 1" "$log"
	cmp "$idx" "$BATS_TEST_TMPDIR/good"
	run bus-sub --from 150 -e -n 1 -F '%o' t
	[ "$output" = 150 ]
}

@test "acl: busd --verify checks the store clock; --repair writes it again" {
	sealed_store_idx
	printf '\0\0\0\0\0\0\0\0' >"$BUS_DIR/log/.clock"
	run busd --verify -d "$BUS_DIR"
	echo "$output" >&2
	[ "$status" -eq 65 ]
	[[ "$output" == *"store clock $BUS_DIR/log/.clock: behind the newest record: readers would not show the records after it"* ]]
	run busd --verify --repair -d "$BUS_DIR"
	[ "$status" -eq 0 ]
	run busd --verify -d "$BUS_DIR"
	[ "$status" -eq 0 ]
	[[ "$output" != *clock* ]]
	head -c 4 /dev/zero >"$BUS_DIR/log/.clock"
	run busd --verify -d "$BUS_DIR"
	[ "$status" -eq 65 ]
	[[ "$output" == *"store clock $BUS_DIR/log/.clock: not 8 bytes long"* ]]
	rm "$BUS_DIR/log/.clock"
	ln -s /etc/hostname "$BUS_DIR/log/.clock"
	run busd --verify -d "$BUS_DIR"
	[ "$status" -eq 65 ]
	[[ "$output" == *"store clock $BUS_DIR/log/.clock: is a symbolic link, refusing to follow it"* ]]
	run busd --verify --repair -d "$BUS_DIR"
	[ "$status" -eq 0 ]
	[ ! -L "$BUS_DIR/log/.clock" ]
	[ "$(stat -c %s "$BUS_DIR/log/.clock")" -eq 8 ]
}

@test "acl: a status request denied by a line: busd --status says so and shows the figures of the files" {
	mkdir -m 750 "$BUS_DIR"
	printf '%s\n' "deny user $(id -u) status" "allow user $(id -u) publish .*" >"$BUS_DIR/busd.conf"
	start_busd
	bus-pub --no-autostart -t t x
	run --separate-stderr busd --status -d "$BUS_DIR"
	[ "$status" -eq 0 ]
	[[ "$output" == *"does not answer (busd: permission denied: STATUS refused to uid $(id -u): $BUS_DIR/busd.conf:1: deny user $(id -u) status); figures from the files only"* ]]
	[[ "$output" == *$'\nt '* ]]
}
