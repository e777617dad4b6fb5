#!/bin/sh
# bus benchmark: throughput and latency of busd, bus-pub and bus-sub, each
# figure next to a baseline measured on the same machine, in the same run,
# on the same file system (cat, dd, a socket echo, tail -f, fdatasync).
#
# Run from anywhere after `make all` (make bench does both).  About a
# minute on a 2-core machine.  Knobs (environment):
#   BENCH_DIR   where the temp dir (input files and store) goes: ${TMPDIR:-/tmp}
#   BENCH_N100  number of 100-byte lines   (1000000)
#   BENCH_N4K   number of 4096-byte lines  (100000)
#   BENCH_LAT   latency samples            (20000; synced ones: a tenth)
#   BENCH_RUNS  runs of each throughput test, the best is shown (3)
# Exit status: 0, or 1 if a step failed or a read-back differed.
#
# Lists of figures travel as words in one variable and are split on
# purpose; some variables are set through eval; cleanup runs by trap:
# shellcheck disable=SC2046,SC2086,SC2034,SC2154,SC2317
set -u
cd "$(dirname "$0")/.." || exit 1

BUSD=cmd/busd/busd
PUB=cmd/bus-pub/bus-pub
SUB=cmd/bus-sub/bus-sub
LAT=tests/bench/latency
N100=${BENCH_N100:-1000000}
N4K=${BENCH_N4K:-100000}
NLAT=${BENCH_LAT:-20000}
RUNS=${BENCH_RUNS:-3}
NSYNC=$((NLAT / 10))
[ "$NSYNC" -ge 100 ] || NSYNC=100

die() { echo "bench: $*" >&2; exit 1; }

for p in "$BUSD" "$PUB" "$SUB"; do
	[ -x "$p" ] || die "$p is not built; run make all first"
done
case $(date +%N) in
*N*|'') die "date +%N is not supported here (GNU date is needed)" ;;
esac

# tests/bench/latency: by the Makefile rule when there is one.
if [ ! -x "$LAT" ] || [ -n "$(find tests/bench/latency.c lib/libbus.a \
    -newer "$LAT" 2>/dev/null)" ]; then
	if grep -q '^tests/bench/latency:' Makefile 2>/dev/null; then
		make -s "$LAT" || die "cannot build $LAT"
	else
		PKGS="libbsd-overlay libpcre2-8"
		${CC:-cc} -O2 -std=gnu11 -Wall -Wextra -Wno-unused-parameter \
		    -D_GNU_SOURCE -Iinclude $(pkg-config --cflags $PKGS 2>/dev/null) \
		    -o "$LAT" tests/bench/latency.c lib/libbus.a \
		    $(pkg-config --libs $PKGS 2>/dev/null) ||
		    die "cannot build $LAT"
	fi
fi

W=$(mktemp -d "${BENCH_DIR:-${TMPDIR:-/tmp}}/bus-bench.XXXXXX") ||
    die "cannot make a temp dir"
. tests/busd.sh
fail=0
cleanup() {
	stop_busd
	rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# A fresh store at $1 with busd running on it (pinned to CPU $2 if given).
start_busd() {
	stop_busd
	rm -rf "$1"
	if [ -n "${2:-}" ]; then
		taskset -c "$2" "$BUSD" -b -d "$1" 2>"$W/busd.err"
	else
		"$BUSD" -b -d "$1" 2>"$W/busd.err"
	fi || {
		cat "$W/busd.err" >&2
		die "busd -b -d $1 failed"
	}
	busd_pid=$(cat "$1/busd.pid" 2>/dev/null)
	if [ -z "$busd_pid" ] || ! kill -0 "$busd_pid" 2>/dev/null; then
		die "busd started but $1/busd.pid names no process"
	fi
}

now() { date +%s.%N; }
# Seconds from $1 to $2.
dt() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.6f", b - a }'; }
# The smaller of two durations ("" is none yet).
min() { awk -v a="$1" -v b="$2" 'BEGIN { print (a == "" || b < a) ? b : a }'; }
# CPU seconds (user + sys) of our waited-for children, from `times` (not
# in a subshell: there it would count the subshell's children only).
child_cpu() {
	times >"$W/times"
	cpu_now=$(awk 'NR == 2 {
		s = 0
		for (i = 1; i <= 2; i++) {
			split($i, a, "m"); sub("s", "", a[2]); s += a[1] * 60 + a[2]
		}
		printf "%.3f", s
	}' "$W/times")
}
# CPU seconds (user + sys) of process $1 so far; "" if unknown.
proc_cpu() {
	[ -r "/proc/$1/stat" ] || return 0
	tck=$(getconf CLK_TCK 2>/dev/null || echo 100)
	# Fields after the ")" that ends the command name: utime is the 12th.
	sed 's/.*) //' "/proc/$1/stat" |
	    awk -v t="$tck" '{ printf "%.3f", ($12 + $13) / t }'
}
# Figures to 3 significant digits; ratio with 2 decimals (3 if under 0.1).
fmt() {
	awk -v x="$1" 'BEGIN {
		if (x == "") { print "-"; exit }
		v = sprintf("%.3g", x) + 0
		if (v >= 100) printf "%.0f\n", v
		else if (v >= 10) printf "%.1f\n", v
		else if (v >= 1) printf "%.2f\n", v
		else printf "%.3g\n", v
	}'
}
rate() {	# count per second, 3 digits, k/M suffix
	r=$(awk -v n="$1" -v t="$2" 'BEGIN { printf "%.6f", n / t }')
	awk -v r="$r" -v m="$(fmt "$(awk -v r="$r" 'BEGIN { print r / 1e6 }')")" \
	    -v k="$(fmt "$(awk -v r="$r" 'BEGIN { print r / 1e3 }')")" \
	    -v u="$(fmt "$r")" 'BEGIN {
		if (r >= 1e6) print m "M"; else if (r >= 1e3) print k "k"; else print u
	}'
}
mbs() { awk -v b="$1" -v t="$2" 'BEGIN { printf "%.6f", b / t / 1e6 }'; }
ratio() {
	awk -v a="$1" -v b="$2" 'BEGIN {
		if (a == "" || b == "" || b == 0) { print "-"; exit }
		r = a / b
		printf (r < 0.1 ? "%.3f\n" : "%.2f\n"), r
	}'
}
fsize() { wc -c <"$1" | tr -d ' '; }
# Flush dirty pages so that one test's writeback does not slow the next.
settle() { sync; }

# --------------------------------------------------------------- setup

fs=$(findmnt -no FSTYPE -T "$W" 2>/dev/null ||
    stat -f -c %T "$W" 2>/dev/null || echo '?')
dev=$(df -P "$W" | awk 'NR == 2 { print $1 }')
need=$(( (N100 * 101 * 4 + N4K * 4097 * 4) / 1024 + 65536 ))
avail=$(df -Pk "$W" | awk 'NR == 2 { print $4 }')
[ "$avail" -gt "$need" ] ||
    die "$W: $avail KiB free, the benchmark needs about $need KiB"

# Line i is i in 7 digits, then filler: any loss or reordering shows.
gen() {	# count width file
	awk -v n="$1" -v w="$2" 'BEGIN {
		f = sprintf("%0" (w - 7) "d", 0)
		gsub(/0/, "x", f)
		for (i = 0; i < n; i++)
			printf "%07d%s\n", i % 10000000, f
	}' >"$3"
}
gen "$N100" 100 "$W/in100" || die "cannot write $W/in100"
gen "$N4K" 4096 "$W/in4k" || die "cannot write $W/in4k"

cpus=$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo '?')
load=$(cut -d' ' -f1 /proc/loadavg 2>/dev/null || echo '?')
echo "bus benchmark: $cpus CPUs (load average $load), $(uname -sr)," \
    "$(date -u +%Y-%m-%dT%H:%MZ)"
echo "temp files and stores in $W ($fs on $dev); best of $RUNS runs;" \
    "ratio = bus / baseline"
echo

# ------------------------------------------------------------ throughput

# ingest TAG TOPIC INPUT COUNT [pipe]: sets ing_* and leaves busd running
# on $W/s_TAG holding the input as TOPIC.  With pipe, bus-pub reads the
# input from cat through a pipe instead of from the file.
ingest() {
	tag=$1 topic=$2 inp=$3 how=${5:-file}
	bytes=$(fsize "$inp")
	dd_t=
	cat_t=
	pub_t=
	pub_ok=1
	r=0
	# Baseline and bus in turns, so that both meet the same disk weather.
	while [ "$r" -lt "$RUNS" ]; do
		rm -f "$W/copy"
		settle
		t0=$(now)
		cat "$inp" >"$W/copy"
		t1=$(now)
		cat_t=$(min "$cat_t" "$(dt "$t0" "$t1")")
		rm -f "$W/copy"
		# GNU cat 9 copies file to file with copy_file_range(2), in
		# the kernel; dd reads and writes, as bus-pub and busd do.
		settle
		t0=$(now)
		dd if="$inp" of="$W/copy" bs=256k status=none
		t1=$(now)
		dd_t=$(min "$dd_t" "$(dt "$t0" "$t1")")
		rm -f "$W/copy"
		start_busd "$W/s_$tag"
		settle
		child_cpu
		c0=$cpu_now
		b0=$(proc_cpu "$busd_pid")
		t0=$(now)
		if [ "$how" = pipe ]; then
			cat "$inp" | "$PUB" --no-autostart -d "$W/s_$tag" \
			    -t "$topic" || pub_ok=0
		else
			"$PUB" --no-autostart -d "$W/s_$tag" -t "$topic" \
			    <"$inp" || pub_ok=0
		fi
		t1=$(now)
		child_cpu
		c1=$cpu_now
		b1=$(proc_cpu "$busd_pid")
		t=$(dt "$t0" "$t1")
		if [ "$(min "$pub_t" "$t")" = "$t" ]; then
			pub_t=$t
			pub_cpu=$(awk -v a="$c0" -v b="$c1" 'BEGIN { print b - a }')
			busd_cpu=
			[ -n "$b0" ] && [ -n "$b1" ] && busd_cpu=$(awk -v a="$b0" \
			    -v b="$b1" 'BEGIN { print b - a }')
		fi
		r=$((r + 1))
	done
	[ "$pub_ok" -eq 1 ] || { fail=1; echo "bench: bus-pub failed ($tag)" >&2; }
	ing_bytes=$bytes ing_cat=$cat_t ing_pub=$pub_t ing_dd=$dd_t
	ing_pub_cpu=$pub_cpu ing_busd_cpu=$busd_cpu
}

# readback TAG TOPIC INPUT: bus-sub -e vs cat of the segments; cmp.
readback() {
	tag=$1 topic=$2 inp=$3
	sub_t=
	cat_t=
	r=0
	while [ "$r" -lt "$RUNS" ]; do
		rm -f "$W/out" "$W/out2"
		settle
		t0=$(now)
		"$SUB" -d "$W/s_$tag" --from beginning -e "$topic" >"$W/out" ||
		    { fail=1; echo "bench: bus-sub failed ($tag)" >&2; }
		t1=$(now)
		sub_t=$(min "$sub_t" "$(dt "$t0" "$t1")")
		settle
		t0=$(now)
		cat "$W/s_$tag/log/$topic"/*.seg >"$W/out2"
		t1=$(now)
		cat_t=$(min "$cat_t" "$(dt "$t0" "$t1")")
		r=$((r + 1))
	done
	seg_bytes=$(fsize "$W/out2")
	if cmp -s "$inp" "$W/out"; then
		rb_same=identical
	else
		rb_same=DIFFERENT
		fail=1
	fi
	rm -f "$W/out" "$W/out2"
	rb_sub=$sub_t rb_cat=$cat_t rb_seg=$seg_bytes
}

row() {	# label  msg/s  MB/s  baseline-label  baseline-MB/s  ratio
	printf '%-24s %9s %9s   %-30s %9s  %6s\n' "$1" "$2" "$3" "$4" "$5" "$6"
}

# A 5-byte topic: the bytes on disk per line are measured on this store.
ingest 100 t100b "$W/in100" "$N100"
i100="$ing_bytes $ing_cat $ing_pub"
i100dd="$ing_bytes $ing_dd $ing_pub"
i100_cpu="CPU: bus-pub $(fmt "$ing_pub_cpu") s, busd $(fmt "$ing_busd_cpu") s; wall $(fmt "$ing_pub") s"
disk100=$(cat "$W/s_100/log/t100b"/*.seg "$W/s_100/log/t100b"/*.idx | wc -c)
readback 100 t100b "$W/in100"
r100="$rb_sub $rb_cat $rb_seg $rb_same"
stop_busd
rm -rf "$W/s_100"

ingest 100p t100b "$W/in100" "$N100" pipe
i100p="$ing_bytes $ing_cat $ing_pub"
i100p_cpu="CPU: bus-pub $(fmt "$ing_pub_cpu") s, busd $(fmt "$ing_busd_cpu") s; wall $(fmt "$ing_pub") s"
stop_busd
rm -rf "$W/s_100p"

ingest 4k b4k "$W/in4k" "$N4K"
i4k="$ing_bytes $ing_cat $ing_pub"
i4kdd="$ing_bytes $ing_dd $ing_pub"
i4k_cpu="CPU: bus-pub $(fmt "$ing_pub_cpu") s, busd $(fmt "$ing_busd_cpu") s; wall $(fmt "$ing_pub") s"
readback 4k b4k "$W/in4k"
r4k="$rb_sub $rb_cat $rb_seg $rb_same"
stop_busd
rm -rf "$W/s_4k"

# Synced ingest: bus-pub --sync vs dd writing bus-pub's 256 KiB frames
# with O_DSYNC (a write(2) + fdatasync(2) each).
sync_pub=
sync_dd=
r=0
while [ "$r" -lt "$RUNS" ]; do
	start_busd "$W/s_sync"
	settle
	t0=$(now)
	"$PUB" --no-autostart --sync -d "$W/s_sync" -t t100b <"$W/in100" ||
	    { fail=1; echo "bench: bus-pub --sync failed" >&2; }
	t1=$(now)
	sync_pub=$(min "$sync_pub" "$(dt "$t0" "$t1")")
	stop_busd
	rm -rf "$W/s_sync"
	settle
	t0=$(now)
	dd if="$W/in100" of="$W/dd" bs=256k oflag=dsync 2>/dev/null ||
	    { fail=1; echo "bench: dd oflag=dsync failed" >&2; }
	t1=$(now)
	sync_dd=$(min "$sync_dd" "$(dt "$t0" "$t1")")
	rm -f "$W/dd"
	r=$((r + 1))
done

# --------------------------------------------------------------- latency

# lat ARGS...: "p50 p99 max" in µs.
lat() {
	# In a subshell: a failure is told by a file.
	out=$("$LAT" "$@") || { : >"$W/failed"; echo "bench: latency $* failed" >&2; }
	printf '%s\n' "$out" | lat_fields
}
# "MODE n=N p50=A p99=B max=C" -> "A B C"
lat_fields() {
	awk '{
		for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
		print v["p50"], v["p99"], v["max"]
	}'
}
# Whether client and server share a CPU changes a round trip by tens of
# µs here (a wake-up on another, idle, CPU), and the scheduler picks at
# random: so each test runs pinned, both ways, and so does its baseline.
# lat_set NAME BUSD-CPU CLIENT-CPU CHILD-CPU: sets NAME_ack ... NAME_tail.
lat_set() {
	name=$1
	start_busd "$W/s_lat" "$2"
	if [ -n "$3" ]; then set -- -a "$3" -c "$4"; else set --; fi
	r_ack=$(lat "$@" -d "$W/s_lat" -n "$NLAT" -t lat ack)
	r_ipc=$(lat "$@" -n "$NLAT" ipc)
	r_sub=$(lat "$@" -d "$W/s_lat" -n "$NLAT" -t sublat -B "$SUB" sub)
	r_tail=$(lat "$@" -n "$NLAT" -f "$W/tailfile" tail)
	eval "${name}_ack=\$r_ack ${name}_ipc=\$r_ipc ${name}_sub=\$r_sub" \
	    "${name}_tail=\$r_tail"
}
# Synced publish and write + fdatasync in turns (the disk's latency moves
# with whatever else uses it): sets l_acks and l_sync.
lat_pair() {
	"$LAT" "$@" -d "$W/s_lat" -n "$NSYNC" -t synclat -f "$W/syncfile" \
	    pair >"$W/pair" || { fail=1; echo "bench: latency pair failed" >&2; }
	l_acks=$(awk '$1 == "ack_synced" { print }' "$W/pair" | lat_fields)
	l_sync=$(awk '$1 == "sync" { print }' "$W/pair" | lat_fields)
}
if [ "$cpus" != '?' ] && [ "$cpus" -ge 2 ] && command -v taskset >/dev/null &&
    taskset -c 0 true 2>/dev/null && taskset -c 1 true 2>/dev/null; then
	pinned=1
	lat_set one 0 0 0
	lat_pair -a 0
	lat_set two 0 1 0
else
	pinned=0
	lat_set any "" "" ""
	lat_pair
fi
# 8 publishers, each waiting for the synced ACK of one message before the
# next: group commit, next to a plain write + fdatasync loop (its rate is
# 1 / the p50 of the same loop measured in lat_pair).
group=$("$LAT" -d "$W/s_lat" -n "$((NSYNC * 2))" -t group -P 8 group) ||
    { fail=1; echo "bench: latency group failed" >&2; }
g_rate=$(printf '%s\n' "$group" | sed -n 's/.* rate=\([0-9.]*\).*/\1/p')
s_p50=$(printf '%s\n' "$l_sync" | awk '{ print $1 }')
stop_busd

# ----------------------------------------------------------------- table

tput_row() {	# label count bytes cat_t pub_t [baseline-label]
	set -- "$1" "$2" $3 "${4:-cat file > file}"
	row "$1" "$(rate "$2" "$5")" "$(fmt "$(mbs "$3" "$5")")" \
	    "$6" "$(fmt "$(mbs "$3" "$4")")" "$(ratio "$4" "$5")"
}
rb_row() {	# label count bytes "sub_t cat_t seg_bytes same"
	label=$1 n=$2 bytes=$3
	set -- $4
	row "$label" "$(rate "$n" "$1")" "$(fmt "$(mbs "$bytes" "$1")")" \
	    "cat *.seg > file ($(fmt "$(awk -v s="$3" 'BEGIN { print s / 1e6 }')") MB)" \
	    "$(fmt "$(mbs "$bytes" "$2")")" "$(ratio "$2" "$1")"
}
lat_row() {	# label "p50 p99 max" baseline-label "p50 p99 max"
	set -- "$1" $2 "$3" $4
	printf '%-32s %6s %6s %7s   %-32s %6s %6s %7s   %s\n' "$1" \
	    "$(fmt "$2")" "$(fmt "$3")" "$(fmt "$4")" "$5" \
	    "$(fmt "$6")" "$(fmt "$7")" "$(fmt "$8")" "$(ratio "$2" "$6")"
}

set -- $i100
b100=$1
set -- $i4k
b4k=$1
echo "THROUGHPUT (MB/s: bytes of the input file, lines with their newline;"
echo "            ratio = bus / baseline, higher is better)"
row "" "msg/s" "MB/s" "baseline" "MB/s" "ratio"
tput_row "ingest 100 B x $N100" "$N100" "$i100"
echo "    $i100_cpu"
tput_row "  the same from a pipe" "$N100" "$i100p"
echo "    $i100p_cpu (bus-pub with the cat that feeds it)"
tput_row "ingest 4 KiB x $N4K" "$N4K" "$i4k"
echo "    $i4k_cpu"
tput_row "  100 B, vs read+write" "$N100" "$i100dd" "dd bs=256k if=file of=file"
tput_row "  4 KiB, vs read+write" "$N4K" "$i4kdd" "dd bs=256k if=file of=file"
echo "    (cat 9 copies file to file in the kernel, copy_file_range(2): one"
echo "    copy of each byte; dd reads and writes: two, as bus-pub and busd do)"
rb_row "read-back 100 B" "$N100" "$b100" "$r100"
rb_row "read-back 4 KiB" "$N4K" "$b4k" "$r4k"
set -- $r100
same100=$4
set -- $r4k
echo "    read-back = bus-sub --from beginning -e; its output vs the input file"
echo "    (cmp): 100 B $same100, 4 KiB $4"
printf '%-24s %9s %9s   %-30s %9s  %6s\n' "disk per 100 B line" \
    "$(fmt "$(awk -v d="$disk100" -v n="$N100" 'BEGIN { print d / n }')") B" "" \
    "the line, newline included" "101 B" \
    "$(awk -v d="$disk100" -v n="$N100" 'BEGIN { printf "%.2f", d / n / 101 }')"
echo "    (segments and indexes of a 5-byte topic, no key, no tags;" \
    "ratio lower is better)"
row "ingest --sync 100 B" "$(rate "$N100" "$sync_pub")" \
    "$(fmt "$(mbs "$b100" "$sync_pub")")" "dd bs=256k oflag=dsync" \
    "$(fmt "$(mbs "$b100" "$sync_dd")")" "$(ratio "$sync_dd" "$sync_pub")"
row "8 publishers, synced, 1 each" "$(fmt "$g_rate")/s" "" \
    "write + fdatasync loop" "$(awk -v p="$s_p50" 'BEGIN { if (p > 0) printf "%.0f/s", 1e6 / p }')" \
    "$(awk -v g="$g_rate" -v p="$s_p50" 'BEGIN { if (p > 0) printf "%.2f", g / (1e6 / p) }')"
echo
echo "LATENCY (µs; ratio = bus p50 / baseline p50, lower is better)"
printf '%-32s %6s %6s %7s   %-32s %6s %6s %7s   %s\n' "" p50 p99 max \
    "baseline" p50 p99 max ratio
lat_rows() {	# NAME
	eval "a=\$$1_ack i=\$$1_ipc s=\$$1_sub t=\$$1_tail"
	lat_row "  publish -> ACK written, 100 B" "$a" \
	    "socketpair echo, same frames" "$i"
	lat_row "  publish -> bus-sub -F line" "$s" \
	    "write(2) -> tail -f line" "$t"
}
if [ "$pinned" -eq 1 ]; then
	echo "one CPU: busd, client and its child (bus-sub, echo, tail) on CPU 0"
	lat_rows one
	lat_row "  publish -> ACK synced, 100 B" "$l_acks" \
	    "write 100 B + fdatasync" "$l_sync"
	echo "two CPUs: busd and the child on CPU 0, the client on CPU 1"
	lat_rows two
else
	echo "unpinned (no taskset or one CPU): placement left to the scheduler"
	lat_rows any
	lat_row "  publish -> ACK synced, 100 B" "$l_acks" \
	    "write 100 B + fdatasync" "$l_sync"
fi
echo "    ($NLAT samples each, synced $NSYNC taken in turns with the baseline;"
echo "    200 warm-up rounds before each)"
[ -e "$W/failed" ] && fail=1
# Compressed sealed segments: a block of its own (tests/bench/compress.sh).
echo
sh tests/bench/compress.sh || fail=1
exit "$fail"
