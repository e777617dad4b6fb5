#!/bin/sh
# Many partitions: busd and bus-sub on N partitions (default 20000) under
# `ulimit -n` FDS (default 1024).  Prints busd's publish time, RSS and
# open files, its start time on that store, bus-sub's time to read it
# all, and the follow latency (p50, p99) of a bus-sub following '.*'.
#
#   tests/bench/partitions.sh [N [FDS]]
#
# BUS_BIN: a directory holding busd, bus-pub and bus-sub (default: the
# programs built in this tree).  Needs python3 for the latency figures.
# shellcheck disable=SC2086
set -u
cd "$(dirname "$0")/../.." || exit 1
N=${1:-20000}
FDS=${2:-1024}
if [ -n "${BUS_BIN:-}" ]; then
	BUSD=$BUS_BIN/busd PUB=$BUS_BIN/bus-pub SUB=$BUS_BIN/bus-sub
else
	BUSD=cmd/busd/busd PUB=cmd/bus-pub/bus-pub SUB=cmd/bus-sub/bus-sub
fi
T=$(mktemp -d "${TMPDIR:-/tmp}/bench-parts.XXXXXX") || exit 1
export BUS_DIR="$T/store"
pid=
sub=
cleanup() {
	[ -n "$sub" ] && kill "$sub" 2>/dev/null
	[ -n "$pid" ] && kill "$pid" 2>/dev/null && sleep 1
	rm -rf "$T"
}
trap cleanup EXIT INT TERM

now() { date +%s.%N; }
since() { echo "$(now) $1" | awk '{printf "%.2f", $1 - $2}'; }
rss() { awk '/VmRSS/{print $2}' "/proc/$1/status"; }
nfd() { ls "/proc/$1/fd" | wc -l; }

start() {
	t0=$(now)
	(ulimit -n "$FDS" && exec "$BUSD" -b -d "$BUS_DIR") 2>/dev/null ||
	    { echo "busd did not start"; return 1; }
	echo "busd start: $(since "$t0") s"
	pid=$(cat "$BUS_DIR/busd.pid")
}

start || exit 1
t0=$(now)
seq -f 't%05g x' 1 "$N" | "$PUB" --topic-regex '^(t\d+) '
echo "publish of $N partitions: exit $?, $(since "$t0") s"
if ! kill -0 "$pid" 2>/dev/null; then
	echo "busd died"
	exit 1
fi
echo "busd: RSS $(rss "$pid") KiB, $(nfd "$pid") open files," \
    "$(ls "$BUS_DIR/log" | wc -l) partitions"
kill "$pid"
while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
start || exit 1
echo "busd after the restart: RSS $(rss "$pid") KiB, $(nfd "$pid") open files"
t0=$(now)
n=$( (ulimit -n "$FDS" && exec "$SUB" --from beginning -e '.*') | wc -l)
echo "bus-sub --from beginning -e: $n lines, $(since "$t0") s"

command -v python3 >/dev/null || exit 0
t0=$(now)
(ulimit -n "$FDS" && exec "$SUB" -F '%s\n' '.*') >"$T/follow" 2>&1 &
sub=$!
# Following once it waits for events.
while ! grep -qE 'poll|select' "/proc/$sub/wchan" 2>/dev/null; do
	sleep 0.05
done
echo "bus-sub follow start: $(since "$t0") s, RSS $(rss "$sub") KiB," \
    "$(nfd "$sub") open files"
python3 - "$PUB" "$T/follow" "$N" <<'EOF'
import random, subprocess, sys, time
pub, out, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
p = subprocess.Popen([pub, "--topic-regex", r"^(t\d+) "],
                     stdin=subprocess.PIPE)
f = open(out)
f.seek(0, 2)
lat = []
for i in range(200):
    t = time.time_ns()
    p.stdin.write(b"t%05d %d\n" % (random.randint(1, n), t))
    p.stdin.flush()
    buf = ""
    while True:
        line = f.readline()
        if line:
            buf += line
            if buf.endswith("\n"):
                if buf.split()[-1] == str(t):
                    lat.append((time.time_ns() - t) / 1e6)
                    break
                buf = ""
        else:
            time.sleep(0.0002)
    time.sleep(0.01)
p.stdin.close()
p.wait()
lat.sort()
print("follow latency over %d partitions: p50 %.2f ms, p99 %.2f ms, "
      "max %.2f ms" % (n, lat[len(lat) // 2], lat[len(lat) * 99 // 100],
                       lat[-1]))
EOF
echo "bus-sub after following: $(nfd "$sub") open files"
