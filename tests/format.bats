#!/usr/bin/env bats
# Format 2: record and block batches on disk (bus-segment(5)), protocol 2
# (bus-protocol(7)), and what is refused from format and protocol 1.  The
# raw client below is written from the pages, in another language.

load helpers

# talk FRAME-HEX ...: connect to busd, send the frames, then print each
# frame busd sends until it closes (or 3 s pass): "TYPE BODY-HEX".
talk() {
	python3 - "$BUS_DIR/busd.sock" "$@" <<'EOF'
import socket, struct, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sys.argv[1])
for f in sys.argv[2:]:
    s.sendall(bytes.fromhex(f))
s.shutdown(socket.SHUT_WR)
s.settimeout(3)
buf = b""
try:
    while True:
        b = s.recv(65536)
        if not b:
            break
        buf += b
except socket.timeout:
    pass
while len(buf) >= 5:
    n = struct.unpack("<I", buf[:4])[0]
    print(buf[4], buf[5:4 + n].hex())
    buf = buf[4 + n:]
EOF
}

# frame TYPE BODY-HEX: a frame, in hex.
frame() {
	python3 -c 'import struct, sys
b = bytes.fromhex(sys.argv[2])
print((struct.pack("<IB", len(b) + 1, int(sys.argv[1])) + b).hex())' "$1" "$2"
}

# hello VERSION: a HELLO of that version, ack level 1, producer id 0x42.
hello() {
	frame 1 "$(python3 -c 'import struct, sys
print((b"BUSP" + struct.pack("<HBBQ", int(sys.argv[1]), 1, 0, 0x42)).hex())' "$1")"
}

# msg SEQ FLAGS TOPIC KEY PAYLOAD: one message of a PUBLISH, in hex.
msg() {
	python3 -c 'import struct, sys
seq, fl, t, k, p = int(sys.argv[1]), int(sys.argv[2]), *[a.encode() for a in sys.argv[3:6]]
print((struct.pack("<QqqBBHII", seq, 1, 1, fl, len(t), len(k), 0, len(p)) + t + k + p).hex())' "$@"
}

# block SEQ COUNT TOPIC DATA: the body of a PUBLISH_BLOCK, delimiter "\n".
block() {
	python3 -c 'import struct, sys
seq, n, t = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3].encode()
d = sys.argv[4].encode().decode("unicode_escape").encode()
print((struct.pack("<QqqIBBHI", seq, 5, 0, n, 10, len(t), 0, 0) + t + d).hex())' "$@"
}

@test "format: a pipe of lines is stored as block batches: read back byte for byte, about a byte of overhead a line" {
	start_busd
	seq -f '%095.0f' 1 20000 >"$BATS_TEST_TMPDIR/in"
	bus-pub -t lines <"$BATS_TEST_TMPDIR/in"
	bus-sub --from beginning -e lines >"$BATS_TEST_TMPDIR/out"
	cmp "$BATS_TEST_TMPDIR/in" "$BATS_TEST_TMPDIR/out"
	local seg
	seg=$(seg_files lines | head -n 1)
	# The first batch is a block batch (attributes bit 3) of newlines.
	[ "$(od -An -tx1 -j 40 -N 3 "$seg" | tr -d ' ')" = 02080a ]
	# 96 bytes a line in, at most 97 + headers on disk.
	[ "$(cat "$BUS_DIR"/log/lines/*.seg | wc -c)" -le $((20000 * 97 + 4096)) ]
	# Offsets and receive times are per record, and increase.
	run bus-sub --from 19998 -e -F '%o %s\n' lines
	[ "$output" = $'19998 00000000000000000000000000000000000000000000000000000000000000000000000000000000000000000019999\n19999 00000000000000000000000000000000000000000000000000000000000000000000000000000000000000000020000' ]
	# (jq would round the nanoseconds: a double has 53 bits)
	bus-sub --from beginning -e -o json lines |
	    grep -o '"recv_ns":[0-9]*' | cut -d: -f2 | sort -n -c -u
}

@test "format: a block larger than the room left in a segment is cut at a line and goes on in the next one" {
	start_busd --segment-size 4096
	seq 1 3000 | bus-pub -t t
	[ "$(seg_files t | wc -l)" -gt 3 ]
	run bus-sub --from beginning -e t
	[ "$output" = "$(seq 1 3000)" ]
	run bus-sub --from 1234 -e -n 2 t
	[ "$output" = $'1235\n1236' ]
	stop_busd
	run busd --verify -d "$BUS_DIR"
	[ "$status" -eq 0 ]
}

@test "format: a store of format 1 is refused by busd and bus-sub with what to do, never taken for damage" {
	local d=$BUS_DIR/log/old seg
	mkdir -p "$d"
	seg=$d/00000000000000000000.seg
	# A format-1 header: "BUSSEG", NUL, version 1, base 0, its CRC.
	python3 -c 'import struct, sys
def crc(b):
    c = 0xffffffff
    for x in b:
        c ^= x
        for _ in range(8):
            c = (c >> 1) ^ 0x82f63b78 if c & 1 else c >> 1
    return c ^ 0xffffffff
h = b"BUSSEG\0\1" + struct.pack("<QqI", 0, 0, 0)
sys.stdout.buffer.write(h + struct.pack("<I", crc(h)) + b"x" * 80)' >"$seg"
	cp "$seg" "$BATS_TEST_TMPDIR/orig"
	run --separate-stderr bus-sub --from beginning -e old
	[ "$status" -eq 65 ]
	[[ "$stderr" == *"store format 1"* ]]
	[[ "$stderr" == *"re-create"* ]]
	run --separate-stderr busd -d "$BUS_DIR"
	[ "$status" -eq 65 ]
	[[ "$stderr" == *"00000000000000000000.seg"*"store format 1"* ]]
	# Nothing was sealed, cut or rewritten.
	cmp "$seg" "$BATS_TEST_TMPDIR/orig"
	[ "$(seg_files old | wc -l)" -eq 1 ]
}

@test "format: a client of protocol 1 gets ERROR 5 naming the versions" {
	start_busd
	run talk "$(hello 1)"
	[ "$status" -eq 0 ]
	[ "${lines[0]:0:2}" = "5 " ]
	text=$(echo "${lines[0]#5 }" | cut -c33- | xxd -r -p)
	[[ "$text" == *"protocol version 1 is not supported"*"version 2"* ]]
}

@test "format: a PUBLISH_BLOCK written from the page is stored as its lines and acknowledged by one ACK_RUN" {
	start_busd
	bus-pub -t t zero
	run talk "$(hello 2)" "$(frame 10 "$(block 1 3 t 'a\n\nbc\n')")"
	[ "$status" -eq 0 ]
	[ "${lines[0]:0:2}" = "2 " ]
	# ACK_RUN: first seq 1, count 3, zero, first offset 1.
	[ "${lines[1]}" = "11 010000000000000003000000000000000100000000000000" ]
	run bus-sub --from beginning -e -F '%o:%s|' t
	[ "$output" = "0:zero|1:a|2:|3:bc|" ]
	# Sent again: the same numbers, a duplicate.
	run talk "$(hello 2)" "$(frame 10 "$(block 1 3 t 'a\n\nbc\n')")"
	[ "${lines[1]}" = "11 01000000000000000300000000000000ffffffffffffffff" ]
	[ "$(bus-sub --from beginning -e t | wc -l)" -eq 4 ]
}

@test "format: busd refuses sequence number 0, a tombstone without a key, a block whose count is wrong, and trailing bytes" {
	start_busd
	run talk "$(hello 2)" "$(frame 3 "01000000$(msg 0 0 t '' x)")"
	[ "${lines[1]:0:2}" = "5 " ]
	[[ "$(echo "${lines[1]#5 }" | cut -c33- | xxd -r -p)" == "sequence number 0" ]]
	run talk "$(hello 2)" "$(frame 3 "01000000$(msg 1 1 t '' '')")"
	[[ "$(echo "${lines[1]#5 }" | cut -c33- | xxd -r -p)" == "tombstone without a key" ]]
	run talk "$(hello 2)" "$(frame 10 "$(block 0 1 t 'a\n')")"
	[[ "$(echo "${lines[1]#5 }" | cut -c33- | xxd -r -p)" == "sequence number 0" ]]
	run talk "$(hello 2)" "$(frame 10 "$(block 1 2 t 'a\n')")"
	[[ "$(echo "${lines[1]#5 }" | cut -c33- | xxd -r -p)" == *"count"* ]]
	run talk "$(hello 2)" "$(frame 3 "01000000$(msg 1 0 t '' x)ff")"
	# The message is stored and acknowledged, then the error.
	[ "${lines[1]:0:2}" = "4 " ]
	[[ "$(echo "${lines[2]#5 }" | cut -c33- | xxd -r -p)" == *"bytes after"* ]]
	# A tombstone with a key is fine.
	run talk "$(hello 2)" "$(frame 3 "01000000$(msg 2 1 t k '')")"
	[ "${lines[1]:0:2}" = "4 " ]
	run bus-sub --from beginning -e -F '%o:%k:%s|' t
	[ "$output" = "0::x|1:k:|" ]
}

@test "format: a line over --max-message inside a block: the lines before it are stored, bus-pub names the line" {
	start_busd --max-message 4096
	{ seq 1 5; head -c 5000 /dev/zero | tr '\0' y; echo; seq 7 9; } >"$BATS_TEST_TMPDIR/in"
	run --separate-stderr bus-pub -t t <"$BATS_TEST_TMPDIR/in"
	[ "$status" -eq 65 ]
	[[ "$stderr" == *"line 6"* ]]
	run bus-sub --from beginning -e t
	[ "$output" = "$(seq 1 5)" ]
}
