#!/bin/sh
# bus-nats against plain libnats clients on one nats-server -js (make
# bench-nats, called by make bench):
#   export of N 100-B messages vs a plain async publisher  (target >= 0.8),
#     and for reference the same publisher setting a Nats-Msg-Id each
#   import of them vs a plain pull consumer, batch 1000     (target >= 0.8)
# N is NATS_BENCH_N (default 1000000).  Everything runs in a temp dir; the
# server is started and stopped by PID.
set -e
cd "$(dirname "$0")/../.." || exit 1
root=$PWD
N=${NATS_BENCH_N:-1000000}
PATH="$root/cmd/busd:$root/cmd/bus-pub:$root/cmd/bus-sub:$root/cmd/bus-nats:$PATH:/usr/sbin"
export PATH
tmp=$(mktemp -d)
pids=""
cleanup() {
	for p in $pids; do kill "$p" 2>/dev/null || true; done
	for s in "$tmp/a" "$tmp/b"; do
		[ -f "$s/busd.pid" ] && kill "$(cat "$s/busd.pid")" 2>/dev/null
	done
	sleep 0.2
	rm -rf "$tmp"
}
trap cleanup EXIT INT TERM
now() { date +%s.%N; }
rate() { awk -v n="$1" -v a="$2" -v b="$3" 'BEGIN { printf "%.0f", n / (b - a) }'; }

nats-server -js -a 127.0.0.1 -p -1 -sd "$tmp/js" >"$tmp/nats.log" 2>&1 &
nats=$!
pids="$nats"
i=0
until grep -q 'Server is ready' "$tmp/nats.log"; do
	i=$((i + 1))
	[ "$i" -lt 500 ] || { cat "$tmp/nats.log" >&2; exit 1; }
	sleep 0.02
done
port=$(sed -nE 's/.*Listening for client connections on [0-9.]+:([0-9]+).*/\1/p' "$tmp/nats.log")
url="nats://127.0.0.1:$port"

# The store: N messages of 100 bytes.
payload=$(printf '%0100d' 0)
yes "$payload" | head -n "$N" | bus-pub -d "$tmp/a" -t bench

echo "bus-nats bench: $N messages of 100 B, nats-server $(nats-server --version | sed 's/.* v//') on loopback"
plain=$(tests/bench/nats_pub "$url" PLAIN plain.x "$N" 100 4096)
echo "  $plain"
prate=$(echo "$plain" | sed -E 's/.*: ([0-9]+) msg\/s/\1/')
# What exactly once costs JetStream by itself: a message id to check.
echo "  $(tests/bench/nats_pub "$url" PLAINID plainid.x "$N" 100 4096 id)"

# Both streams made before the clock starts (making one takes a while).
tests/bench/nats_pub "$url" BUS 'bus.>' 0 100 >/dev/null
t0=$(now)
bus-nats export -d "$tmp/a" --server "$url" --stream BUS \
    --name bench --from beginning bench &
exp=$!
pids="$pids $exp"
tests/bench/nats_pull -w "$url" BUS "$N" &
waiter=$!
pids="$pids $waiter"
while kill -0 "$waiter" 2>/dev/null; do
	kill -0 "$exp" 2>/dev/null || { echo "bus-nats export died" >&2; exit 1; }
	sleep 0.05
done
t1=$(now)
kill "$exp"
wait "$exp" || true
erate=$(rate "$N" "$t0" "$t1")
echo "  bus-nats export: $N msgs: $erate msg/s"

pull=$(tests/bench/nats_pull "$url" BUS "$N" 1000)
echo "  $pull"
lrate=$(echo "$pull" | sed -E 's/.*: ([0-9]+) msg\/s/\1/')

busd -b -d "$tmp/b"
t0=$(now)
bus-nats import -d "$tmp/b" --server "$url" --stream BUS --durable bench \
    --topic 'in.{topic}' &
imp=$!
pids="$pids $imp"
last=$((N - 1))
until [ "$(bus-sub -d "$tmp/b" -e --from -1 -F '%o' 'in\.bench' 2>/dev/null)" = "$last" ]; do
	kill -0 "$imp" 2>/dev/null || { echo "bus-nats import died" >&2; exit 1; }
	sleep 0.05
done
t1=$(now)
kill "$imp"
wait "$imp" || true
irate=$(rate "$N" "$t0" "$t1")
echo "  bus-nats import: $N msgs: $irate msg/s"

awk -v e="$erate" -v p="$prate" -v i="$irate" -v l="$lrate" 'BEGIN {
	r = e / p; s = i / l;
	printf "  export / plain publisher:     %.2f (target >= 0.80) %s\n", r, (r >= 0.8) ? "ok" : "BELOW";
	printf "  import / plain pull consumer: %.2f (target >= 0.80) %s\n", s, (s >= 0.8) ? "ok" : "BELOW";
}'
