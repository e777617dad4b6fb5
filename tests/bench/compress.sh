#!/bin/sh
# Compressed sealed segments, benchmarked: a generated web access log
# (tests/bench/accesslog) is published, sealed, and compressed by
# bus-rotate --compress with zstd and with lz4; printed are the sizes on
# disk against the input, the time of the compression, and the time of
# bus-sub reading the whole log back from compressed segments against the
# same store uncompressed.  Every read-back is compared with the input.
#
# Called by tests/bench.sh (make bench), or alone after make all.  Knobs:
#   BENCH_DIR   where the temp dir goes: ${TMPDIR:-/tmp}
#   BENCH_NLOG  lines of access log (300000, about 60 MB)
#   BENCH_RUNS  runs of each read-back, the best is shown (3)
# Exit status: 0, or 1 if a step failed or a read-back differed.
# shellcheck disable=SC2086
set -u
cd "$(dirname "$0")/../.." || exit 1

BUSD=cmd/busd/busd
PUB=cmd/bus-pub/bus-pub
SUB=cmd/bus-sub/bus-sub
ROT=cmd/bus-rotate/bus-rotate
GEN=tests/bench/accesslog
NLOG=${BENCH_NLOG:-300000}
RUNS=${BENCH_RUNS:-3}

die() { echo "bench-compress: $*" >&2; exit 1; }

for p in "$BUSD" "$PUB" "$SUB" "$ROT"; do
	[ -x "$p" ] || die "$p is not built; run make all first"
done
make -s "$GEN" || die "cannot build $GEN"

W=$(mktemp -d "${BENCH_DIR:-${TMPDIR:-/tmp}}/bus-bench-z.XXXXXX") ||
    die "cannot make a temp dir"
. tests/busd.sh
cleanup() {
	stop_busd
	rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
fail=0

now() { date +%s.%N; }
dt() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.6f", b - a }'; }
min() { awk -v a="$1" -v b="$2" 'BEGIN { print (a == "" || b < a) ? b : a }'; }
mbs() { awk -v b="$1" -v t="$2" 'BEGIN { printf "%.1f", b / t / 1e6 }'; }
ratio() {
	awk -v a="$1" -v b="$2" 'BEGIN {
		if (b == 0) { print "-"; exit }
		r = a / b
		printf (r < 0.1 ? "%.3f\n" : "%.2f\n"), r
	}'
}
fsize() { wc -c <"$1" | tr -d ' '; }
# Bytes of the segment files of store $1.
segbytes() {
	find "$1/log" -name '*.seg' -exec cat {} + | wc -c | tr -d ' '
}

"$GEN" -n "$NLOG" >"$W/log" || die "cannot write $W/log"
in_bytes=$(fsize "$W/log")

# The plain store: the log published in one pipe, sealed, busd stopped.
"$BUSD" -b -d "$W/plain" 2>"$W/busd.err" || {
	cat "$W/busd.err" >&2
	die "busd -b -d $W/plain failed"
}
busd_pid=$(cat "$W/plain/busd.pid")
"$PUB" -d "$W/plain" -t web.access <"$W/log" || die "bus-pub failed"
"$ROT" -d "$W/plain" || die "bus-rotate (seal) failed"
stop_busd
plain_bytes=$(segbytes "$W/plain")

# readback STORE: best time of bus-sub reading the log back, in rb_t.
readback() {
	rb_t=
	i=0
	while [ "$i" -lt "$RUNS" ]; do
		sync
		t0=$(now)
		"$SUB" -d "$1" --from beginning -e web.access >"$W/out" ||
		    { echo "bus-sub -d $1 failed" >&2; fail=1; }
		rb_t=$(min "$rb_t" "$(dt "$t0" "$(now)")")
		i=$((i + 1))
	done
	if ! cmp -s "$W/log" "$W/out"; then
		echo "read-back of $1 differs from the input" >&2
		fail=1
		rb_same=DIFFERS
	else
		rb_same=identical
	fi
}

readback "$W/plain"
plain_t=$rb_t
plain_same=$rb_same

echo "COMPRESSED SEALED SEGMENTS (access log: $NLOG lines, $in_bytes bytes;"
echo "            bus-rotate --compress; read-back = bus-sub --from beginning -e)"
printf '%-22s %12s %8s %10s %10s %9s %8s  %s\n' "" "bytes" "vs input" \
    "compress s" "read MB/s" "read s" "vs plain" "read-back"
printf '%-22s %12s %8s %10s %10s %9s %8s  %s\n' "plain segments" \
    "$plain_bytes" "$(ratio "$plain_bytes" "$in_bytes")" "-" \
    "$(mbs "$in_bytes" "$plain_t")" "$plain_t" "1.00" "$plain_same"
for codec in zstd lz4; do
	rm -rf "$W/$codec"
	cp -a "$W/plain" "$W/$codec" || die "cannot copy the store"
	sync
	t0=$(now)
	"$ROT" -d "$W/$codec" --no-seal --compress="$codec" ||
	    { echo "bus-rotate --compress=$codec failed" >&2; fail=1; }
	c_t=$(dt "$t0" "$(now)")
	c_bytes=$(segbytes "$W/$codec")
	readback "$W/$codec"
	printf '%-22s %12s %8s %10s %10s %9s %8s  %s\n' \
	    "--compress=$codec" "$c_bytes" "$(ratio "$c_bytes" "$in_bytes")" \
	    "$(printf '%.2f' "$c_t")" "$(mbs "$in_bytes" "$rb_t")" "$rb_t" \
	    "$(ratio "$plain_t" "$rb_t")" "$rb_same"
	rm -rf "$W/$codec"
done
echo "    (vs input: compressed size / log size, lower is better, target <= 0.2;"
echo "    vs plain: read speed / read speed of plain segments, target >= 0.5)"
exit "$fail"
