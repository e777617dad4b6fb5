# Sourced by the sh scripts of tests/ that start a busd of their own
# (bench.sh, install.sh): stop_busd stops the one whose pid is in
# $busd_pid, by that pid, politely first.
busd_pid=

stop_busd() {
	[ -n "$busd_pid" ] || return 0
	kill -TERM "$busd_pid" 2>/dev/null
	i=0
	while kill -0 "$busd_pid" 2>/dev/null && [ "$i" -lt 100 ]; do
		sleep 0.05
		i=$((i + 1))
	done
	kill -KILL "$busd_pid" 2>/dev/null
	busd_pid=
}
