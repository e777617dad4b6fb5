#!/bin/sh
# Two hosts ship their logs into one JetStream stream, and a central store
# reads the stream back: the whole journey on one machine, with three
# stores standing for three hosts and one nats-server standing for the
# NATS cluster.
#
#   make && sh examples/nats-two-hosts.sh
#
# Each host runs
#   bus-nats export --subject 'logs.HOST.{topic}' --name to-hub 'web\..*'
# and the central host runs
#   bus-nats import --durable central --topic 'hub.{subject}'
# so web.access of host web01 arrives as hub.logs.web01.web.access.
# Everything runs in a temp dir and is stopped at the end.
set -eu
cd "$(dirname "$0")/.." || exit 1
root=$PWD
PATH="$root/cmd/busd:$root/cmd/bus-pub:$root/cmd/bus-sub:$root/cmd/bus-nats:$PATH:/usr/sbin"
export PATH
command -v nats-server >/dev/null || { echo "needs nats-server" >&2; exit 1; }
[ -x cmd/bus-nats/bus-nats ] || { echo "run make first (needs libnats)" >&2; exit 1; }

tmp=$(mktemp -d)
pids=""
finish() {
	for p in $pids; do kill "$p" 2>/dev/null || true; done
	for s in web01 web02 central; do
		[ -f "$tmp/$s/busd.pid" ] && kill "$(cat "$tmp/$s/busd.pid")" 2>/dev/null
	done
	sleep 0.3
	rm -rf "$tmp"
}
trap finish EXIT INT TERM

# The NATS server (a cluster in real life), on a port of its choosing.
nats-server -js -a 127.0.0.1 -p -1 -sd "$tmp/js" >"$tmp/nats.log" 2>&1 &
pids="$pids $!"
until grep -q 'Server is ready' "$tmp/nats.log"; do sleep 0.05; done
port=$(sed -nE 's/.*Listening for client connections on [0-9.]+:([0-9]+).*/\1/p' "$tmp/nats.log")
url="nats://127.0.0.1:$port"
echo "nats-server -js on $url"

# Two hosts with logs of their own.
for h in web01 web02; do
	for i in 1 2 3; do
		echo "$h GET /page/$i 200"
	done | bus-pub -d "$tmp/$h" -t web.access
	echo "$h GET /missing 404" | bus-pub -d "$tmp/$h" -t web.error -T status=404
done

# Each host ships web.* to the stream LOGS, taking logs.> (whichever
# comes first makes it).
for h in web01 web02; do
	bus-nats export -d "$tmp/$h" --server "$url" --stream LOGS \
	    --create-stream --stream-subjects 'logs.>' \
	    --subject "logs.$h.{topic}" --name to-hub --from beginning \
	    'web\..*' &
	pids="$pids $!"
done

# Once a host's cursor moved, the stream is there.
n=0
until grep -qs 'web.access 3' "$tmp/web01/cursors/to-hub"; do
	n=$((n + 1))
	[ "$n" -lt 600 ] || { echo "timed out" >&2; exit 1; }
	sleep 0.05
done

# The central host stores the stream.
bus-nats import -d "$tmp/central" --server "$url" --stream LOGS \
    --filter 'logs.>' --durable central --topic 'hub.{subject}' &
pids="$pids $!"

# Meanwhile, web02 logs one more line: it follows.
echo "web02 POST /login 302" | bus-pub -d "$tmp/web02" -t web.access

n=0
until [ "$(bus-sub -d "$tmp/central" -e --from beginning 'hub\..*' 2>/dev/null | wc -l)" -ge 9 ] 2>/dev/null; do
	n=$((n + 1))
	[ "$n" -lt 600 ] || { echo "timed out" >&2; exit 1; }
	sleep 0.05
done
echo "central store, by topic:"
bus-sub -d "$tmp/central" -e --from beginning \
    -F '%t  %s\n' 'hub\..*' | sort
