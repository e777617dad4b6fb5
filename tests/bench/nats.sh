#!/bin/sh
# bus-nats against plain libnats clients on one nats-server -js (make
# bench-nats, called by make bench), each next to its baseline:
#   export of N 100-B messages vs a plain async publisher   (target >= 0.8)
#     and vs the same publisher setting a Nats-Msg-Id on each message,
#     which exactly once needs and JetStream pays for (dedup)
#   import of them vs a plain pull consumer, batch 1000      (target >= 0.8)
# The baselines time themselves from their first message on (not their
# connect); bus-nats likewise from when its first message arrives: the
# rate is that of the messages after that instant.
# N is NATS_BENCH_N (default 1000000); with NATS_BENCH_RUNS=k (default 1)
# each is run k times, interleaved, each run into a stream of its own,
# and the best and the median rates are compared.  Everything runs in a
# temp dir; the server and busd are started and stopped by PID.
set -e
cd "$(dirname "$0")/../.." || exit 1
root=$PWD
N=${NATS_BENCH_N:-1000000}
RUNS=${NATS_BENCH_RUNS:-1}
PATH="$root/cmd/busd:$root/cmd/bus-pub:$root/cmd/bus-sub:$root/cmd/bus-nats:$PATH:/usr/sbin"
export PATH
tmp=$(mktemp -d)
pids=""
cleanup() {
	for p in $pids; do kill "$p" 2>/dev/null || true; done
	for s in "$tmp"/a "$tmp"/b*; do
		[ -f "$s/busd.pid" ] && kill "$(cat "$s/busd.pid")" 2>/dev/null
	done
	sleep 0.2
	rm -rf "$tmp"
}
trap cleanup EXIT INT TERM
now() { date +%s.%N; }
rate() { awk -v n="$1" -v a="$2" -v b="$3" 'BEGIN { printf "%.0f", n / (b - a) }'; }
# The last offset of in.bench in store $1; nothing while it has none.
last_in() { bus-sub -d "$1" -e --from -1 -F '%o' 'in\.bench' 2>/dev/null || true; }
field() { echo "$1" | sed -E 's/.*: ([0-9]+) msg\/s/\1/'; }

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

echo "bus-nats bench: $N messages of 100 B, $RUNS run(s), nats-server $(nats-server --version | sed 's/.* v//') on loopback"
r=1
while [ "$r" -le "$RUNS" ]; do
	out=$(tests/bench/nats_pub "$url" PLAIN$r "plain$r.x" "$N" 100 4096)
	echo "  $out"
	echo "plain $(field "$out")" >>"$tmp/rates"
	out=$(tests/bench/nats_pub "$url" PLAINID$r "plainid$r.x" "$N" 100 4096 id)
	echo "  $out"
	echo "plainid $(field "$out")" >>"$tmp/rates"

	# The stream made before the clock starts (making one takes a while).
	tests/bench/nats_pub "$url" BUS$r "bus$r.>" 0 100 >/dev/null
	bus-nats export -d "$tmp/a" --server "$url" --stream BUS$r \
	    --subject "bus$r.{topic}" --name bench$r --from beginning bench &
	exp=$!
	pids="$pids $exp"
	n0=$(tests/bench/nats_pull -w "$url" BUS$r 1)
	t0=$(now)
	tests/bench/nats_pull -w "$url" BUS$r "$N" >/dev/null &
	waiter=$!
	pids="$pids $waiter"
	while kill -0 "$waiter" 2>/dev/null; do
		kill -0 "$exp" 2>/dev/null ||
		    { echo "bus-nats export died" >&2; exit 1; }
		sleep 0.05
	done
	t1=$(now)
	kill "$exp"
	wait "$exp" || true
	erate=$(rate $((N - n0)) "$t0" "$t1")
	echo "  bus-nats export: $N msgs: $erate msg/s"
	echo "export $erate" >>"$tmp/rates"
	r=$((r + 1))
done

# Import: each run reads the stream the export of that run made.
r=1
while [ "$r" -le "$RUNS" ]; do
	out=$(tests/bench/nats_pull "$url" BUS$r "$N" 1000)
	echo "  $out"
	echo "pull $(field "$out")" >>"$tmp/rates"

	busd -b -d "$tmp/b$r"
	bus-nats import -d "$tmp/b$r" --server "$url" --stream BUS$r \
	    --durable bench --topic 'in.{topic}' &
	imp=$!
	pids="$pids $imp"
	until o0=$(last_in "$tmp/b$r"); [ -n "$o0" ]; do
		kill -0 "$imp" 2>/dev/null ||
		    { echo "bus-nats import died" >&2; exit 1; }
		sleep 0.01
	done
	t0=$(now)
	last=$((N - 1))
	until [ "$(last_in "$tmp/b$r")" = "$last" ]; do
		kill -0 "$imp" 2>/dev/null ||
		    { echo "bus-nats import died" >&2; exit 1; }
		sleep 0.05
	done
	t1=$(now)
	kill "$imp"
	wait "$imp" || true
	kill "$(cat "$tmp/b$r/busd.pid")"
	irate=$(rate $((N - o0 - 1)) "$t0" "$t1")
	echo "  bus-nats import: $N msgs: $irate msg/s"
	echo "import $irate" >>"$tmp/rates"
	r=$((r + 1))
done

# Best and median of each, and the ratios.
for k in plain plainid export pull import; do
	awk -v k="$k" '$1 == k { print $2 }' "$tmp/rates" | sort -n |
	    awk -v k="$k" '{ v[NR] = $1 } END {
		m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2;
		printf "%s %d %d\n", k, v[NR], m }'
done >"$tmp/summary"
awk -v runs="$RUNS" '
{ best[$1] = $2; med[$1] = $3 }
function line(name, k) {
	if (runs > 1)
		printf "  %-34s best %7d  median %7d msg/s\n", name, best[k], med[k];
	else
		printf "  %-34s %7d msg/s\n", name, best[k];
}
function ratio(name, a, b, target,   r, s) {
	r = med[a] / med[b]; s = best[a] / best[b];
	printf "  %-34s %.2f", name, r;
	if (runs > 1)
		printf " (of the bests: %.2f)", s;
	if (target > 0)
		printf "  target >= %.2f: %s", target, (r >= target) ? "ok" : "BELOW";
	printf "\n";
}
END {
	print "summary (" (runs > 1 ? "medians" : "one run") "):";
	line("plain publisher:", "plain");
	line("plain publisher with Nats-Msg-Id:", "plainid");
	line("bus-nats export:", "export");
	ratio("export / plain publisher:", "export", "plain", 0.8);
	ratio("export / publisher with ids:", "export", "plainid", 0.8);
	ratio("publisher with ids / plain:", "plainid", "plain", 0);
	line("plain pull consumer (batch 1000):", "pull");
	line("bus-nats import:", "import");
	ratio("import / plain pull consumer:", "import", "pull", 0.8);
}' "$tmp/summary"
