#!/usr/bin/env bats
# The command lines of the five programs against their man pages: usage()
# prints the SYNOPSIS of the page (the same flags), --help lists every
# option the page describes and no other, -h/--help go to standard output
# with status 0, -V/--version everywhere, and a usage error names its
# reason with the program's name (never the path it was run by) before
# the synopsis, status 64.

load ops_helpers

PROGS="busd bus-pub bus-sub bus-rotate bus-compact"

# page PROG: the man page of PROG.
page() {
	case $1 in
	busd|bus-rotate|bus-compact) echo "$BUS_ROOT/man/$1.8" ;;
	*) echo "$BUS_ROOT/man/$1.1" ;;
	esac
}

# flags: the options named in standard input, one a line, sorted and
# unique; a cluster of single-letter flags such as -bv counts as -b, -v.
flags() {
	grep -oE -- '(^|[][ |])--?[A-Za-z0-9][A-Za-z0-9-]*' |
	    sed -E 's/^[][ |]//' |
	    while read -r f; do
		if [[ $f =~ ^-[A-Za-z0-9]{2,}$ ]]; then
			for ((i = 1; i < ${#f}; i++)); do
				printf '%s\n' "-${f:i:1}"
			done
		else
			printf '%s\n' "$f"
		fi
	    done | LC_ALL=C sort -u
}

# flag_args: each option of standard input with the name of its argument
# ("-d dir", "-o text|json", "--sync"), one a line, sorted and unique;
# " | " between words counts as "|".
flag_args() {
	tr '\n' ' ' | sed -E 's/ +/ /g; s/ \| /|/g' |
	    grep -oE -- '(^|[][ |])--?[A-Za-z0-9][A-Za-z0-9-]*( [a-zA-Z][^] [|]*(\|[^] [|]+)*)?' |
	    sed -E 's/^[][ |]//' | LC_ALL=C sort -u
}

# synopsis PROG: the SYNOPSIS of PROG's man page as mandoc renders it,
# without the program's name.
synopsis() {
	mandoc -T ascii "$(page "$1")" | col -b |
	    sed -n '/^SYNOPSIS/,/^DESCRIPTION/p' | sed '1d;$d' |
	    sed -E "s/(^|[[:space:]])$1( |\$)/\1 /"
}

# usage_text PROG: the synopsis usage() prints on a usage error (from its
# "usage:" line on), without the program's name.
usage_text() {
	"$1" --no-such-option-at-all 2>&1 >/dev/null |
	    sed -n '/usage:/,$p' | sed -E "s/usage://; s/(^|[[:space:]])$1( |\$)/\1 /g"
}

synopsis_flags() {
	synopsis "$1" | flags
}

usage_flags() {
	usage_text "$1" | flags
}

# page_option_flags PROG: the flags of the .It items of the man page that
# describe options (.It Fl ...), as the source writes them.
page_option_flags() {
	grep -E '^\.It Fl ' "$(page "$1")" |
	    awk '{ for (i = 2; i < NF; i++) if ($i == "Fl") print "-" $(i + 1) }' |
	    tr -d '\\' | sed -E 's/[^A-Za-z0-9-].*$//' | LC_ALL=C sort -u
}

# help_flags PROG: the flags that begin the lines of PROG --help that
# describe an option (indented at most four spaces, "-x, --long ...").
help_flags() {
	"$1" --help 2>/dev/null |
	    grep -E '^ {1,4}-' |
	    sed -E 's/^ +//; s/^((-[^ ,]+)(, *-[^ ,]+)*).*/\1/; s/,/ /g' |
	    tr ' ' '\n' | grep -E '^-' | sed -E 's/\[.*//; s/=.*//' | LC_ALL=C sort -u
}

# same_flags WHAT A B: A and B list the same flags; if not, say which
# differ.
same_flags() {
	if [ "$2" != "$3" ]; then
		echo "$1 differ:"
		diff <(echo "$2") <(echo "$3") || true
		return 1
	fi
}

check_synopsis() {
	local s u
	s=$(synopsis_flags "$1")
	u=$(usage_flags "$1")
	[ -n "$s" ]
	same_flags "$1: SYNOPSIS of $(basename "$(page "$1")") (<) and usage() (>)" "$s" "$u"
	# The arguments are named alike too.
	s=$(synopsis "$1" | flag_args)
	u=$(usage_text "$1" | flag_args)
	same_flags "$1: arguments in the SYNOPSIS (<) and usage() (>)" "$s" "$u"
}

check_help() {
	local m h
	m=$(page_option_flags "$1")
	h=$(help_flags "$1")
	[ -n "$m" ]
	same_flags "$1: options of $(basename "$(page "$1")") (<) and --help (>)" "$m" "$h"
}

# check_cli PROG: help on stdout (0), version, usage errors (64).
check_cli() {
	local p=$1 full
	run --separate-stderr "$p" --help
	[ "$status" -eq 0 ]
	[ -z "$stderr" ]
	[[ "${lines[0]}" == "usage: $p "* ]]
	run --separate-stderr "$p" -h
	[ "$status" -eq 0 ]
	[[ "${lines[0]}" == "usage: $p "* ]]
	run --separate-stderr "$p" -V
	[ "$status" -eq 0 ]
	[[ "$output" =~ ^$p\ [0-9]+\.[0-9]+ ]]
	run --separate-stderr "$p" --version
	[ "$status" -eq 0 ]
	[[ "$output" =~ ^$p\ [0-9]+\.[0-9]+ ]]
	# Run by its full path, it still names itself by its name.
	full=$(command -v "$p")
	[[ "$full" == /* ]]
	run --separate-stderr "$full" --no-such-option-at-all
	[ "$status" -eq 64 ]
	[ -z "$output" ]
	[[ "${stderr_lines[0]}" == "$p: "*"option --no-such-option-at-all"* ]]
	[[ "${stderr_lines[1]}" == "usage: $p "* ]]
	run --separate-stderr "$full" -d
	[ "$status" -eq 64 ]
	[[ "${stderr_lines[0]}" == "$p: "*"-d"*"argument"* ]]
	[[ "${stderr_lines[1]}" == "usage: $p "* ]]
}

@test "usage: busd: usage() is the SYNOPSIS of busd(8); --help lists exactly the options it describes" {
	check_synopsis busd
	check_help busd
}

@test "usage: bus-pub: usage() is the SYNOPSIS of bus-pub(1); --help lists exactly the options it describes" {
	check_synopsis bus-pub
	check_help bus-pub
}

@test "usage: bus-sub: usage() is the SYNOPSIS of bus-sub(1); --help lists exactly the options it describes" {
	check_synopsis bus-sub
	check_help bus-sub
}

@test "usage: bus-rotate: usage() is the SYNOPSIS of bus-rotate(8); --help lists exactly the options it describes" {
	check_synopsis bus-rotate
	check_help bus-rotate
}

@test "usage: bus-compact: usage() is the SYNOPSIS of bus-compact(8); --help lists exactly the options it describes" {
	check_synopsis bus-compact
	check_help bus-compact
}

@test "usage: busd --help on stdout exit 0, -V, a usage error names itself and its reason, then the synopsis, exit 64" {
	check_cli busd
}

@test "usage: bus-pub --help on stdout exit 0, -V, a usage error names itself and its reason, then the synopsis, exit 64" {
	check_cli bus-pub
}

@test "usage: bus-sub --help on stdout exit 0, -V, a usage error names itself and its reason, then the synopsis, exit 64" {
	check_cli bus-sub
}

@test "usage: bus-rotate --help on stdout exit 0, -V, a usage error names itself and its reason, then the synopsis, exit 64" {
	check_cli bus-rotate
}

@test "usage: bus-compact --help on stdout exit 0, -V, a usage error names itself and its reason, then the synopsis, exit 64" {
	check_cli bus-compact
}

# The comparison itself can fail: a flag missing from either side is seen.
@test "usage: the flag comparison sees a flag that only one side has" {
	run flags <<<'prog [-bv] [-d dir] [-E time] [--max-age duration] -h | --help'
	[ "$output" = "$(printf '%s\n' --help --max-age -E -b -d -h -v | LC_ALL=C sort)" ]
	run flag_args <<<'prog [-bv] [-d dir] [-o text | json]
	    [--sync | --ack none|written] [--tag name[=value]] -h | --help'
	[ "$output" = "$(printf '%s\n' '--ack none|written' --help --sync \
	    --tag\ name -bv '-d dir' -h '-o text|json' | LC_ALL=C sort)" ]
	run same_flags test "$(printf '%s\n' -a -b)" "$(printf '%s\n' -a)"
	[ "$status" -ne 0 ]
	[[ "$output" == *"< -b"* ]]
}
