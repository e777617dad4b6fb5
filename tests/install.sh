#!/bin/sh
# The installed library, seen as its users see it.  `make install` into a
# temp DESTDIR, then: the files, the soname, the exported symbols, bus.pc
# through pkg-config (with the sysroot pointing into the temp dir), the
# public headers, a program linked through pkg-config, every examples/*.c
# built the same way and run against a busd of its own, and `make
# uninstall`.  Prints one "ok ..." or "not ok ..." line per check (counted
# by tests/run.sh); exit status 1 if any check failed.
#
# Knobs (environment): CC (cc), MAKE (make), TMPDIR (/tmp).
#
# Flags from pkg-config are split into words on purpose:
# shellcheck disable=SC2046
set -u
cd "$(dirname "$0")/.." || exit 1
top=$(pwd)
CC=${CC:-cc}
# Under make check SANITIZE=1 libbus is built with ASan and UBSan: a
# program using it must then link their runtimes first.
san=
[ -n "${BUS_SANITIZE:-}" ] && san="-fsanitize=address,undefined"
MAKE=${MAKE:-make}
VERSION=$(sed -n 's/^VERSION[[:space:]]*=[[:space:]]*//p' Makefile)
SOMAJOR=${VERSION%%.*}

prefix=/usr/local
tmp=$(mktemp -d "${TMPDIR:-/tmp}/bus-install.XXXXXX") || exit 1
root=$tmp$prefix		# what make install wrote
libdir=$root/lib
work=$tmp/work			# where programs are built: not the build tree
store=$tmp/store		# the examples' store, with its own busd
. tests/busd.sh
failed=0
cleanup() {
	stop_busd
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# check DESCRIPTION COMMAND...: one ok / not ok line; on failure the
# command's output follows as "#" lines.  COMMAND runs in a subshell: it
# may exit (die) and it changes nothing here.
check() {
	desc=$1
	shift
	out=$("$@" 2>&1)
	rc=$?
	if [ "$rc" -eq 0 ]; then
		echo "ok install: $desc"
	else
		echo "not ok install: $desc"
		{ printf '%s\n' "$out" | tail -n 20; echo "(exit status $rc)"; } |
		    sed -e '/^$/d' -e 's/^/#   /'
		failed=$((failed + 1))
	fi
}
# pkg-config on the installed bus.pc only, its paths moved into $tmp.
pc() {
	PKG_CONFIG_PATH='' PKG_CONFIG_SYSROOT_DIR=$tmp \
	    PKG_CONFIG_LIBDIR=$libdir/pkgconfig pkg-config "$@"
}
die() { echo "$*" >&2; exit 1; }

# ------------------------------------------------------------ the checks

do_install() {
	$MAKE -s install DESTDIR="$tmp" PREFIX="$prefix"
}

# Every file make install must write, from the source tree's lists.
files_present() {
	missing=
	for f in sbin/busd sbin/bus-rotate sbin/bus-compact \
	    bin/bus-pub bin/bus-sub lib/libbus.so.$VERSION lib/libbus.a \
	    lib/pkgconfig/bus.pc; do
		[ -f "$root/$f" ] || missing="$missing $f"
	done
	for f in "$top"/man/*.[1-8]; do
		[ -f "$f" ] || continue
		b=${f##*/}
		[ -f "$root/share/man/man${b##*.}/$b" ] ||
		    missing="$missing share/man/man${b##*.}/$b"
	done
	for f in "$top"/include/bus/*.h; do
		[ -f "$f" ] || continue
		[ -f "$root/include/bus/${f##*/}" ] ||
		    missing="$missing include/bus/${f##*/}"
	done
	[ -z "$missing" ] || die "missing:$missing"
}

# libbus.so.0 and libbus.so are symlinks to the library itself.
symlinks() {
	for l in "libbus.so.$SOMAJOR" libbus.so; do
		[ -L "$libdir/$l" ] || die "$l is not a symlink"
		[ "$(readlink -f "$libdir/$l")" = \
		    "$(readlink -f "$libdir/libbus.so.$VERSION")" ] ||
		    die "$l -> $(readlink "$libdir/$l"), not libbus.so.$VERSION"
	done
}

soname() {
	s=$(readelf -d "$libdir/libbus.so.$VERSION" |
	    sed -n 's/.*(SONAME).*\[\(.*\)\].*/\1/p')
	[ "$s" = "libbus.so.$SOMAJOR" ] ||
	    die "SONAME is '$s', not libbus.so.$SOMAJOR"
}

# Only bus_* is exported; internals are in the library but local.
exports() {
	so=$libdir/libbus.so.$VERSION
	bad=$(nm -D --defined-only "$so" | awk '$2 != "A" && $3 !~ /^bus_/ {
		print $3 }')
	[ -z "$bad" ] || die "exported beyond bus_*:" "$bad"
	locals=$(nm "$so" | awk '$2 == "t" { print $3 }')
	for s in '^crc32c$' '^seg_' '^proto_'; do
		printf '%s\n' "$locals" | grep -q "$s" ||
		    die "no local symbol $s in $so"
	done
}

pc_valid() {
	pc --validate bus || die "bus.pc does not validate"
	v=$(pc --modversion bus) || die "pkg-config --modversion bus failed"
	[ "$v" = "$VERSION" ] || die "modversion is '$v', not $VERSION"
}

# With the sysroot, -I and -L lead into the temp dir, nowhere else.
pc_paths() {
	flags=$(pc --cflags --libs bus) || die "pkg-config --cflags --libs bus"
	for want in "-I$root/include" "-L$libdir" -lbus; do
		case " $flags " in
		*" $want "*) ;;
		*) die "'$flags' lacks $want" ;;
		esac
	done
	for f in $flags; do
		case $f in
		-I*|-L*) case ${f#-?} in "$tmp"/*) ;; *) die "$f: not in $tmp" ;;
			esac ;;
		esac
	done
}

# One file that includes every installed public header compiles with
# -Wall -Werror and no flag but bus.pc's: no libbsd, no build tree.
headers() {
	: >"$work/headers.c"
	for h in "$root"/include/bus/*.h; do
		[ -f "$h" ] || continue
		echo "#include <bus/${h##*/}>" >>"$work/headers.c"
	done
	echo 'int bus_headers_compile;' >>"$work/headers.c"
	cd "$work" && $CC -Wall -Werror $(pc --cflags bus) \
	    -c -o headers.o headers.c
}

# build SOURCE BINARY: the way the README tells users to, from $work;
# then the binary needs libbus.so.0 by its soname, carries no rpath, and
# loads libbus from the installed tree.
build() {
	(cd "$work" && $CC $san -o "$2" "$1" -Wl,--no-as-needed \
	    $(pc --cflags --libs bus)) || exit 1
	dyn=$(readelf -d "$work/$2") || exit 1
	printf '%s\n' "$dyn" | grep -q "(NEEDED).*\[libbus\.so\.$SOMAJOR\]" ||
	    die "$2 does not NEED libbus.so.$SOMAJOR:" \
	    "$(printf '%s\n' "$dyn" | grep '(NEEDED)')"
	! printf '%s\n' "$dyn" | grep -E '\((RPATH|RUNPATH)\)' ||
	    die "$2 carries an rpath"
	! printf '%s\n' "$dyn" | grep -F "$top" ||
	    die "$2 names the build tree"
	where=$(cd "$work" && LD_LIBRARY_PATH=$libdir ldd "./$2" |
	    awk -v l="libbus.so.$SOMAJOR" '$1 == l { print $3 }')
	[ "$where" = "$libdir/libbus.so.$SOMAJOR" ] ||
	    die "$2 loads libbus from '$where', not $libdir"
}

# A program that uses nothing: linked through bus.pc, it runs.
link_run() {
	echo 'int main(void) { return 0; }' >"$work/empty.c"
	build empty.c empty
	cd "$work" && LD_LIBRARY_PATH=$libdir ./empty
}

# Not through check: busd_pid is set here, for stop_busd.
start_busd() {
	if "$root/sbin/busd" -b -d "$store" >"$tmp/busd.err" 2>&1 &&
	    busd_pid=$(cat "$store/busd.pid") && kill -0 "$busd_pid"; then
		echo "ok install: busd -b on a scratch store for the examples"
		return 0
	fi
	echo "not ok install: busd -b on a scratch store for the examples"
	tail -n 20 "$tmp/busd.err" | sed 's/^/#   /'
	failed=$((failed + 1))
	busd_pid=
	return 1
}

run_example() {
	cd "$work" && LD_LIBRARY_PATH=$libdir timeout 60 "./$1" -d "$store" \
	    </dev/null >"$work/$1.out"
}

# subscribe.c read back, in order, what publish.c had acknowledged.
read_back() {
	grep -qx '1 message(s) acknowledged' "$work/publish.out" ||
	    die "publish printed:" "$(cat "$work/publish.out")"
	grep -qx 'example.hello 0 hello from libbus' "$work/subscribe.out" ||
	    die "subscribe printed:" "$(cat "$work/subscribe.out")"
}

do_uninstall() {
	$MAKE -s uninstall DESTDIR="$tmp" PREFIX="$prefix" || exit 1
	left=$(find "$tmp/usr" ! -type d)
	[ -z "$left" ] || die "left behind:" "$left"
}

# ------------------------------------------------------------------ run

mkdir "$work" || exit 1
check "make install DESTDIR=tmp PREFIX=$prefix" do_install
[ "$failed" -eq 0 ] || exit 1
check "programs, man pages, libbus, headers and bus.pc installed" \
    files_present
check "libbus.so.$SOMAJOR and libbus.so link to libbus.so.$VERSION" symlinks
check "libbus.so.$VERSION has soname libbus.so.$SOMAJOR" soname
check "libbus.so exports bus_* only (crc32c, seg_*, proto_* stay local)" \
    exports
check "bus.pc validates, pkg-config --modversion bus = $VERSION" pc_valid
check "pkg-config --cflags --libs bus with sysroot points into DESTDIR" \
    pc_paths
nh=0
for h in "$root"/include/bus/*.h; do
	[ -f "$h" ] && nh=$((nh + 1))
done
check "the $nh installed headers compile together with -Wall -Werror" headers
check "a program linked by pkg-config NEEDs libbus.so.$SOMAJOR and runs" \
    link_run

# publish.c first (it writes what subscribe.c reads), then subscribe.c,
# then any other example in name order.
examples=
for f in examples/publish.c examples/subscribe.c examples/*.c; do
	[ -f "$f" ] || continue
	case " $examples " in *" $f "*) continue ;; esac
	examples="$examples $f"
done
if [ -z "$examples" ]; then
	echo "# install: no examples/*.c yet"
else
	start_busd
	for f in $examples; do
		b=${f##*/}
		b=${b%.c}
		check "$f builds by pkg-config, NEEDs libbus.so.$SOMAJOR" \
		    build "$top/$f" "$b"
		if [ -x "$work/$b" ] && [ -n "$busd_pid" ]; then
			check "$f: ./$b -d STORE exits 0" run_example "$b"
		else
			echo "not ok install: $f: ./$b -d STORE exits 0" \
			    "(not built, or no busd)"
			failed=$((failed + 1))
		fi
	done
	if [ -f "$work/publish.out" ] && [ -f "$work/subscribe.out" ]; then
		check "subscribe reads back what publish published" read_back
	fi
	stop_busd
fi

check "make uninstall removes every file it installed" do_uninstall
[ "$failed" -eq 0 ]
