#!/usr/bin/env bats
# Raw read-back of block batches: bus-sub writes the rest of a block
# batch as one run (bus_sub_extend(3)).  The output must be the input,
# byte for byte, cut exactly by -n, resumed exactly by --name, and merged
# in receive order across partitions; --grep '' (a filter: the per-record
# path) is the reference.

load helpers

# lines FILE FIRST COUNT [TAG]: COUNT numbered lines of varying length.
lines() {
	awk -v f="$2" -v n="$3" -v t="${4:-l}" 'BEGIN {
		for (i = f; i < f + n; i++)
			printf "%s%d %.*s\n", t, i, i % 37, "abcdefghijklmnopqrstuvwxyz0123456789."
	}' >"$1"
}

@test "readback: one partition, several blocks: the input byte for byte" {
	start_busd
	local i
	: >"$BATS_TEST_TMPDIR/all"
	for i in 0 1 2; do
		lines "$BATS_TEST_TMPDIR/in$i" $((i * 3000)) 3000
		bus-pub --no-autostart -t t <"$BATS_TEST_TMPDIR/in$i"
		cat "$BATS_TEST_TMPDIR/in$i" >>"$BATS_TEST_TMPDIR/all"
	done
	bus-sub --from beginning -e t >"$BATS_TEST_TMPDIR/out"
	cmp "$BATS_TEST_TMPDIR/all" "$BATS_TEST_TMPDIR/out"
	# NUL-delimited blocks with -0 on both sides.
	tr '\n' '\0' <"$BATS_TEST_TMPDIR/in0" >"$BATS_TEST_TMPDIR/z"
	bus-pub --no-autostart -0 -t z <"$BATS_TEST_TMPDIR/z"
	bus-sub --from beginning -e -0 z | cmp "$BATS_TEST_TMPDIR/z" -
	# Another delimiter on output: record by record, not the block.
	bus-sub --from beginning -e -0 t | tr '\0' '\n' |
	    cmp "$BATS_TEST_TMPDIR/all" -
}

@test "readback: -n cuts inside a block and at its end exactly" {
	start_busd
	lines "$BATS_TEST_TMPDIR/a" 0 2000
	lines "$BATS_TEST_TMPDIR/b" 2000 2000
	bus-pub --no-autostart -t t <"$BATS_TEST_TMPDIR/a"
	bus-pub --no-autostart -t t <"$BATS_TEST_TMPDIR/b"
	cat "$BATS_TEST_TMPDIR/a" "$BATS_TEST_TMPDIR/b" >"$BATS_TEST_TMPDIR/all"
	local n
	for n in 1 2 1999 2000 2001 3000 3999 4000; do
		bus-sub --from beginning -e -n "$n" t >"$BATS_TEST_TMPDIR/out"
		head -n "$n" "$BATS_TEST_TMPDIR/all" | cmp - "$BATS_TEST_TMPDIR/out"
	done
	# --from OFFSET starts inside a block: the rest of it, then the next.
	bus-sub --from 1500 -e t | cmp <(tail -n +1501 "$BATS_TEST_TMPDIR/all") -
}

@test "readback: --name after -n resumes exactly where the cut was" {
	start_busd
	lines "$BATS_TEST_TMPDIR/a" 0 3000
	lines "$BATS_TEST_TMPDIR/b" 3000 3000
	bus-pub --no-autostart -t t <"$BATS_TEST_TMPDIR/a"
	bus-pub --no-autostart -t t <"$BATS_TEST_TMPDIR/b"
	cat "$BATS_TEST_TMPDIR/a" "$BATS_TEST_TMPDIR/b" >"$BATS_TEST_TMPDIR/all"
	: >"$BATS_TEST_TMPDIR/out"
	local n
	# Inside the first block, to its end, inside the second, the rest.
	for n in 1234 1766 2500 10000; do
		bus-sub --name c --from beginning -e -n "$n" t \
		    >>"$BATS_TEST_TMPDIR/out"
	done
	cmp "$BATS_TEST_TMPDIR/all" "$BATS_TEST_TMPDIR/out"
	run bus-sub --name c -e t
	[ "$status" -eq 0 ]
	[ "$output" = "" ]
}

@test "readback: two partitions interleaved in time merge in receive order" {
	start_busd
	local i
	: >"$BATS_TEST_TMPDIR/want"
	for i in 0 1 2 3; do
		lines "$BATS_TEST_TMPDIR/a$i" $((i * 500)) 500 a
		lines "$BATS_TEST_TMPDIR/b$i" $((i * 500)) 500 b
		bus-pub --no-autostart -t a <"$BATS_TEST_TMPDIR/a$i"
		bus-pub --no-autostart -t b <"$BATS_TEST_TMPDIR/b$i"
		cat "$BATS_TEST_TMPDIR/a$i" "$BATS_TEST_TMPDIR/b$i" \
		    >>"$BATS_TEST_TMPDIR/want"
	done
	bus-sub --from beginning -e a b | cmp "$BATS_TEST_TMPDIR/want" -
	# -n across the partitions, and a cursor resumed after it.
	bus-sub --from beginning -e -n 1700 a b |
	    cmp <(head -n 1700 "$BATS_TEST_TMPDIR/want") -
	bus-sub --name m --from beginning -e -n 1250 a b >"$BATS_TEST_TMPDIR/out"
	bus-sub --name m -e a b >>"$BATS_TEST_TMPDIR/out"
	cmp "$BATS_TEST_TMPDIR/want" "$BATS_TEST_TMPDIR/out"
}

@test "readback: blocks written at the same time by two publishers: as the per-record path" {
	start_busd
	lines "$BATS_TEST_TMPDIR/a" 0 200000 a
	lines "$BATS_TEST_TMPDIR/b" 0 200000 b
	bus-pub --no-autostart -t a <"$BATS_TEST_TMPDIR/a" &
	local p=$!
	bus-pub --no-autostart -t b <"$BATS_TEST_TMPDIR/b"
	wait "$p"
	bus-sub --from beginning -e a b >"$BATS_TEST_TMPDIR/fast"
	bus-sub --from beginning -e --grep '' a b >"$BATS_TEST_TMPDIR/slow"
	cmp "$BATS_TEST_TMPDIR/slow" "$BATS_TEST_TMPDIR/fast"
	# Each partition's lines complete and in order.
	grep '^a' "$BATS_TEST_TMPDIR/fast" | cmp "$BATS_TEST_TMPDIR/a" -
	grep '^b' "$BATS_TEST_TMPDIR/fast" | cmp "$BATS_TEST_TMPDIR/b" -
	# Receive order: the merge of the two by recv_ns, from the records.
	bus-sub --from beginning -e -o json a b |
	    sed -n 's/.*"recv_ns":\([0-9]*\).*/\1/p' >"$BATS_TEST_TMPDIR/recv"
	[ "$(wc -l <"$BATS_TEST_TMPDIR/recv")" -eq 400000 ]
	sort -n -c "$BATS_TEST_TMPDIR/recv"
}

# seg FILE TOPIC RECV LINE...: a segment of one block batch of the lines,
# offsets from 0, received at RECV + i (written from bus-segment(5)).
seg() {
	python3 - "$@" <<'PYEOF'
import struct, sys
def crc32c(b):
    c = 0xffffffff
    for x in b:
        c ^= x
        for _ in range(8):
            c = (c >> 1) ^ (0x82f63b78 if c & 1 else 0)
    return c ^ 0xffffffff
f, topic, recv = sys.argv[1], sys.argv[2].encode(), int(sys.argv[3])
recs = b"".join(l.encode() + b"\n" for l in sys.argv[4:])
n = len(sys.argv) - 4
body = struct.pack("<BBBBIII QqqqqQQI", 2, 8, 10, len(topic), n, n - 1,
    len(recs), 0, recv, recv + n - 1, recv, recv, 1, 1, 0) + topic + recs
batch = struct.pack("<II", len(body) + 4, crc32c(body)) + body
h = b"BUSSEG\0\2" + struct.pack("<QqI", 0, recv, 0)
h += struct.pack("<I", crc32c(h))
open(f, "wb").write(h + batch)
PYEOF
}

@test "readback: blocks of two partitions overlapping in receive time: as the per-record path" {
	start_busd
	bus-pub --no-autostart -t a x
	bus-pub --no-autostart -t b x
	stop_busd
	rm -f "$BUS_DIR"/log/a/*.idx "$BUS_DIR"/log/b/*.idx
	# a received at 1000..1009, b at 1003..1005: b goes inside a.
	seg "$BUS_DIR/log/a/00000000000000000000.seg" a 1000 \
	    a0 a1 a2 a3 a4 a5 a6 a7 a8 a9
	seg "$BUS_DIR/log/b/00000000000000000000.seg" b 1003 b0 b1 b2
	bus-sub --from beginning -e --grep '' a b >"$BATS_TEST_TMPDIR/slow"
	bus-sub --from beginning -e a b >"$BATS_TEST_TMPDIR/fast"
	cmp "$BATS_TEST_TMPDIR/slow" "$BATS_TEST_TMPDIR/fast"
	[ "$(head -n 4 "$BATS_TEST_TMPDIR/fast" | tr '\n' ' ')" = "a0 a1 a2 b0 " ] ||
	[ "$(head -n 4 "$BATS_TEST_TMPDIR/fast" | tr '\n' ' ')" = "a0 a1 a2 a3 " ]
	[ "$(grep -c . "$BATS_TEST_TMPDIR/fast")" -eq 13 ]
	[ "$(sed -n 13p "$BATS_TEST_TMPDIR/fast")" = a9 ]
}

@test "readback: --name killed while blocked in the middle of a block loses nothing" {
	start_busd
	lines "$BATS_TEST_TMPDIR/in" 0 100000
	bus-pub --no-autostart -t t <"$BATS_TEST_TMPDIR/in"
	mkfifo "$BATS_TEST_TMPDIR/fifo"
	# A reader that takes 1 MB, then stops reading until told.
	python3 -c '
import os, sys
out = open(sys.argv[1], "wb", buffering=0)
n = 0
while n < 1000000:
    b = sys.stdin.buffer.raw.read(min(65536, 1000000 - n))
    if not b:
        break
    out.write(b)
    n += len(b)
while not os.path.exists(sys.argv[2]):
    pass
out.write(sys.stdin.buffer.read())
' "$BATS_TEST_TMPDIR/part" "$BATS_TEST_TMPDIR/go" <"$BATS_TEST_TMPDIR/fifo" &
	local rd=$!
	track_pid "$rd"
	bus-sub --name c --from beginning -e t >"$BATS_TEST_TMPDIR/fifo" &
	local sp=$!
	track_pid "$sp"
	wait_for "[ \$(wc -c <'$BATS_TEST_TMPDIR/part') -ge 1000000 ]"
	# bus-sub fills the pipe and blocks in write(2), with some output
	# committed: kill it there.
	wait_for "grep -Eq '^t [1-9][0-9]*\$' '$BUS_DIR/cursors/c'" 20
	kill -9 "$sp"
	wait_gone "$sp"
	touch "$BATS_TEST_TMPDIR/go"
	wait_gone "$rd" 10
	bus-sub --name c -e t >"$BATS_TEST_TMPDIR/rest"
	local done first
	# Every byte bus-sub wrote is in part: lines 0 .. done-1 are whole.
	done=$(wc -l <"$BATS_TEST_TMPDIR/part")
	first=$(head -n 1 "$BATS_TEST_TMPDIR/rest" | sed 's/^l\([0-9]*\) .*/\1/')
	[ "$done" -lt 100000 ]
	# At least once: the rest starts at or before the first line not
	# wholly written, and goes on to the end.
	[ "$first" -le "$done" ]
	tail -n +$((first + 1)) "$BATS_TEST_TMPDIR/in" | cmp - "$BATS_TEST_TMPDIR/rest"
}
