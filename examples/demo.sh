#!/bin/sh
# make demo: a scratch store, a sample access log through bus-pub, read
# back from history and live with bus-sub, then busd stopped cleanly.
set -e
top=$(cd "$(dirname "$0")/.." && pwd)
PATH="$top/cmd/busd:$top/cmd/bus-pub:$top/cmd/bus-sub:$PATH"
store=$(mktemp -d "${TMPDIR:-/tmp}/bus-demo.XXXXXX")
export BUS_DIR="$store"
subpid=
cleanup() {
	[ -n "$subpid" ] && kill "$subpid" 2>/dev/null || true
	if [ -f "$store/busd.pid" ]; then
		pid=$(cat "$store/busd.pid")
		kill -TERM "$pid" 2>/dev/null || true
		i=0
		while kill -0 "$pid" 2>/dev/null && [ $i -lt 250 ]; do
			sleep 0.02; i=$((i + 1))
		done
	fi
	rm -rf "$store"
}
trap cleanup EXIT INT TERM

say() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }

say "busd -b -d $store"
busd -b -d "$store"
echo "busd is ready (pid $(cat "$store/busd.pid"))"

sample() {
	for i in 1 2 3 4 5 6 7 8; do
		case $i in 3|6) code=500 ;; *) code=200 ;; esac
		printf '10.0.0.%d - - [22/Nov/2026:10:00:0%d +0000] "GET /item/%d HTTP/1.1" %d 512\n' \
		    "$i" "$i" "$i" "$code"
	done
}

say "sample access log | bus-pub -t web.access"
sample | bus-pub -t web.access
echo "8 lines published and acknowledged"

say "bus-sub --from beginning -e 'web\\..*' | grep ' 500 '"
bus-sub --from beginning -e 'web\..*' | grep ' 500 '

say "bus-sub --from -1h -e -o json web.access | head -n 2"
bus-sub --from -1h -e -o json web.access | head -n 2

say "bus-sub 'web\\..*' &   (following live)"
out="$store/live.out"
bus-sub 'web\..*' > "$out" &
subpid=$!
# The follower is ready once it has opened the partition; a marker proves it.
i=0
until [ -s "$out" ] || [ $i -ge 250 ]; do
	bus-pub -t web.access "live: follower is listening" >/dev/null
	j=0
	while [ ! -s "$out" ] && [ $j -lt 10 ]; do sleep 0.01; j=$((j + 1)); done
	i=$((i + 1))
done
say "bus-pub -t web.errors 'GET /checkout 502'"
bus-pub -t web.errors 'GET /checkout 502'
i=0
until grep -q checkout "$out" || [ $i -ge 250 ]; do sleep 0.02; i=$((i + 1)); done
echo "follower printed:"
sed 's/^/    /' "$out"

say "busd --status"
busd --status

say "kill -TERM busd"
pid=$(cat "$store/busd.pid")
kill -TERM "$pid"
i=0
while kill -0 "$pid" 2>/dev/null && [ $i -lt 250 ]; do sleep 0.02; i=$((i + 1)); done
echo "busd stopped; history is still readable without it:"
bus-sub --from beginning -e -F '%T %t #%o %s\n' 'web\..*' | tail -n 3
echo
echo "demo done"
