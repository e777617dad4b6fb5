# Shared set-up for the command-line tests of bus (bats-core).
#
#   load helpers
#
# Every test gets its own store in $BUS_DIR (under $BATS_TEST_TMPDIR) and
# the freshly built programs first in PATH.  Everything a test starts --
# busd through start_busd or autostart, background processes registered
# with track_pid -- is stopped by PID in teardown.

bats_require_minimum_version 1.5.0

BUS_ROOT="$(cd "$BATS_TEST_DIRNAME/.." && pwd)"
PATH="$BUS_ROOT/cmd/busd:$BUS_ROOT/cmd/bus-pub:$BUS_ROOT/cmd/bus-sub:$PATH"
export PATH

setup() {
	export BUS_DIR="$BATS_TEST_TMPDIR/store"
	unset BUS_TEST_PIDS
	BUS_TEST_PIDS=()
	BUS_TEST_STORES=("$BUS_DIR")
}

teardown() {
	local p s
	for p in "${BUS_TEST_PIDS[@]}"; do
		stop_pid "$p"
	done
	for s in "${BUS_TEST_STORES[@]}"; do
		for p in $(busd_pids "$s"); do
			stop_pid "$p"
		done
		# A busd started with a relative -d has no absolute path in
		# its command line: its pidfile still names it.
		p=$(cat "$s/busd.pid" 2>/dev/null) || continue
		[ "$(cat "/proc/$p/comm" 2>/dev/null)" = busd ] && stop_pid "$p"
	done
	return 0
}

# wait_for CONDITION [SECONDS]: poll a shell condition every 0.02 s, at
# most SECONDS (default 5).  Fails, saying what it waited for, on timeout.
wait_for() {
	local cond=$1 limit=${2:-5} i n
	n=$((limit * 50))
	for ((i = 0; i < n; i++)); do
		if eval "$cond"; then
			return 0
		fi
		sleep 0.02
	done
	eval "$cond" && return 0
	echo "wait_for: still false after ${limit}s: $cond" >&2
	return 1
}

# Is process PID gone (or a zombie waiting for us to reap it)?
pid_gone() {
	local st
	[ -r "/proc/$1/stat" ] || return 0
	st=$(sed -E 's/^[0-9]+ \(.*\) ([A-Za-z]).*/\1/' "/proc/$1/stat" 2>/dev/null) ||
	    return 0
	[ -z "$st" ] || [ "$st" = Z ] || [ "$st" = X ]
}

# wait_gone PID [SECONDS]: wait for a process to end.
wait_gone() {
	wait_for "pid_gone $1" "${2:-5}"
}

# stop_pid PID: SIGTERM, wait up to 5 s, then SIGKILL; reap it if ours.
stop_pid() {
	local p=$1
	[ -n "$p" ] || return 0
	if ! pid_gone "$p"; then
		kill -TERM "$p" 2>/dev/null || true
		if ! wait_gone "$p" 5 2>/dev/null; then
			kill -KILL "$p" 2>/dev/null || true
			wait_gone "$p" 2 2>/dev/null || true
		fi
	fi
	wait "$p" 2>/dev/null || true
	return 0
}

# Remember a background process (e.g. $!) so teardown stops it.
track_pid() {
	BUS_TEST_PIDS+=("$1")
}

# Remember another store whose busd teardown must stop.
track_store() {
	BUS_TEST_STORES+=("$1")
}

# busd_pids [DIR]: PIDs of the busd processes serving DIR (default $BUS_DIR).
busd_pids() {
	local d=${1:-$BUS_DIR} p
	for p in $(pgrep -f -- "$d"); do
		[ "$(cat "/proc/$p/comm" 2>/dev/null)" = busd ] || continue
		tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null |
		    grep -qF -- "$d" || continue
		echo "$p"
	done
}

# busd_pid [DIR]: the PID in DIR/busd.pid.
busd_pid() {
	cat "${1:-$BUS_DIR}/busd.pid"
}

# start_busd [FLAG ...]: busd -b on $BUS_DIR; returns once it accepts
# connections (busd -b only returns then).  Sets BUSD_PID.
start_busd() {
	local rc=0
	busd -b -d "$BUS_DIR" "$@" 3>&- || rc=$?
	if [ "$rc" -ne 0 ]; then
		echo "start_busd: busd -b -d $BUS_DIR $* exited $rc" >&2
		return 1
	fi
	BUSD_PID=$(busd_pid) || return 1
	[ -S "$BUS_DIR/busd.sock" ] || {
		echo "start_busd: busd -b returned but $BUS_DIR/busd.sock is missing" >&2
		return 1
	}
}

# start_busd_fg LOG [FLAG ...]: busd in the foreground, in the background,
# stderr (its log) to LOG; returns once the socket exists (busd binds it
# only after recovery).  Sets BUSD_PID to our child.
start_busd_fg() {
	local log=$1
	shift
	busd -d "$BUS_DIR" "$@" 2>"$log" >/dev/null </dev/null 3>&- &
	BUSD_PID=$!
	track_pid "$BUSD_PID"
	wait_for "[ -S '$BUS_DIR/busd.sock' ] || pid_gone $BUSD_PID" || return 1
	if pid_gone "$BUSD_PID"; then
		echo "start_busd_fg: busd exited early:" >&2
		cat "$log" >&2
		return 1
	fi
	# The socket exists once bound; "serving" is logged once it listens.
	wait_for "grep -q 'serving' '$log'"
}

# stop_busd: SIGTERM the busd of $BUS_DIR and wait until it is gone.
stop_busd() {
	local p
	p=${BUSD_PID:-$(busd_pid 2>/dev/null)}
	[ -n "$p" ] || return 0
	kill -TERM "$p" || return 1
	wait_gone "$p" 5 || return 1
	wait "$p" 2>/dev/null || true
	BUSD_PID=
	return 0
}

# nlines FILE: number of newline-terminated lines in FILE (0 if missing).
nlines() {
	if [ -f "$1" ]; then
		wc -l <"$1" | tr -d ' '
	else
		echo 0
	fi
}

# seg_files [PARTITION]: the .seg files of a partition, sorted.
seg_files() {
	ls "$BUS_DIR/log/${1:-t}/"*.seg 2>/dev/null | sort
}

# partitions: the partition directories of $BUS_DIR, sorted, one a line.
partitions() {
	find "$BUS_DIR/log" -mindepth 1 -maxdepth 1 -type d -printf '%f\n' 2>/dev/null | LC_ALL=C sort
}

# wait_idle PID: wait until PID sleeps waiting for events (poll, select,
# epoll): a follower that has finished starting up.
wait_idle() {
	wait_for "grep -qE 'poll|select' /proc/$1/wchan 2>/dev/null && grep -q '^State:.*S' /proc/$1/status"
}
