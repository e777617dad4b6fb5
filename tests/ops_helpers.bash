# Helpers of tests/rotate.bats and tests/compact.bats, on top of the
# shared tests/helpers.bash (its setup and teardown: one store per test in
# $BUS_DIR, everything started stopped by PID).

source "$BATS_TEST_DIRNAME/helpers.bash"

PATH="$BUS_ROOT/cmd/bus-rotate:$BUS_ROOT/cmd/bus-compact:$PATH"
export PATH

# pub_kv TOPIC N KEYS TAG: publish N lines "k<i % KEYS> TAG i<i>", each
# keyed by its first word.
pub_kv() {
	local i
	for ((i = 0; i < $2; i++)); do
		printf 'k%d %s i%d\n' $((i % $3)) "$4" "$i"
	done | bus-pub --no-autostart -t "$1" --key-regex '^(k[0-9]+) '
}

# pub_lines TOPIC N TAG: publish N lines without a key.
pub_lines() {
	local i
	for ((i = 0; i < $2; i++)); do
		printf '%s line %d\n' "$3" "$i"
	done | bus-pub --no-autostart -t "$1"
}

# dump PARTITION [FROM]: "offset|key|payload" of every record, from FROM.
dump() {
	bus-sub --from "${2:-beginning}" -e -F '%o|%k|%s\n' "$1"
}

# nsegs PARTITION: number of segment files.
nsegs() {
	ls "$BUS_DIR/log/$1" | grep -c '^[0-9]\{20\}\.seg$'
}

# store_sum: a checksum of every file of the store, names included.
store_sum() {
	# Not the producers files: busd rewrites one after the sync of a
	# segment that filled up, a moment after the publish.
	(cd "$BUS_DIR" && find . -type f ! -name producers -print0 | sort -z |
	    xargs -0 sha256sum | sha256sum)
}

# leftovers PARTITION: files of an unfinished rewrite, if any.
leftovers() {
	ls "$BUS_DIR/log/$1" | grep -E '\.(cleaned|swap|merged)$' || true
}

# newest_per_key TRUTH: the lines of TRUTH that compaction must keep:
# the newest of each key, and every line without a key.
newest_per_key() {
	awk -F'|' '$2 == "" { keep[NR] = 1 }
	    $2 != "" { last[$2] = NR }
	    { line[NR] = $0 }
	    END {
		for (k in last) keep[last[k]] = 1
		for (i = 1; i <= NR; i++) if (i in keep) print line[i]
	    }' "$1"
}

# consistent TRUTH DUMP: DUMP (offset|key|payload lines read back) agrees
# with TRUTH (every record ever published): offsets strictly increasing,
# every record as published, and a record missing only if a newer record
# of its key is there.  Prints what is wrong.
consistent() {
	awk -F'|' '
	    FNR == NR { t[$1] = $0; tk[$1] = $2; next }
	    {
		o = $1 + 0
		if (FNR > 1 && o <= prev) { print "offset " o " after " prev; bad = 1 }
		prev = o
		if (!($1 in t)) { print "never published: " $0; bad = 1 }
		else if (t[$1] != $0) { print "changed: " $0 " was " t[$1]; bad = 1 }
		here[$1] = 1
		if ($2 != "" && (!($2 in newest) || o > newest[$2])) newest[$2] = o
	    }
	    END {
		for (o in t) {
			if (o in here) continue
			k = tk[o]
			if (k == "") { print "keyless record " o " lost"; bad = 1 }
			else if (!(k in newest) || newest[k] <= o + 0) {
				print "record " o " of key " k " lost, nothing newer"
				bad = 1
			}
		}
		exit bad
	    }' "$1" "$2"
}

# hold_lock PARTITION: hold its .lock (flock(1) on an fd of a process that
# becomes sleep) until stopped; sets HOLD_PID once the lock is held.
hold_lock() {
	local lock="$BUS_DIR/log/$1/.lock" ready="$BATS_TEST_TMPDIR/held.$1"
	rm -f "$ready"
	(exec 9>"$lock" && flock 9 && touch "$ready" && exec sleep 60) 3>&- &
	HOLD_PID=$!
	track_pid "$HOLD_PID"
	wait_for "[ -e '$ready' ]"
}
