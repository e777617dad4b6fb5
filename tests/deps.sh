#!/bin/sh
# Install what building and testing bus needs, when it is missing.
# As root on Debian/Ubuntu it runs apt-get; otherwise it prints the command.
#   sh tests/deps.sh        what make, make check and make demo need
#   sh tests/deps.sh fuzz   that, and clang with libFuzzer (make fuzz)
set -e
need=""
case "${1:-}" in
""|fuzz) ;;
*)	echo "usage: sh tests/deps.sh [fuzz]" >&2; exit 2 ;;
esac
have_pc() { pkg-config --exists "$1" 2>/dev/null; }
command -v cc >/dev/null 2>&1 || need="$need gcc libc6-dev"
command -v make >/dev/null 2>&1 || need="$need make"
command -v pkg-config >/dev/null 2>&1 || need="$need pkg-config"
have_pc libbsd-overlay || need="$need libbsd-dev"
have_pc libpcre2-8 || need="$need libpcre2-dev"
have_pc libzstd || need="$need libzstd-dev"
have_pc liblz4 || need="$need liblz4-dev"
command -v bats >/dev/null 2>&1 || need="$need bats"
command -v mandoc >/dev/null 2>&1 || need="$need mandoc"
# What the tests use besides the shell: JSON, raw sockets and struct
# packing (python3), fault injection, hex dumps.
command -v jq >/dev/null 2>&1 || need="$need jq"
command -v python3 >/dev/null 2>&1 || need="$need python3"
command -v strace >/dev/null 2>&1 || need="$need strace"
command -v xxd >/dev/null 2>&1 || need="$need xxd"
# bus-nats: built with libnats, tested against a real nats-server.
have_pc libnats || need="$need libnats-dev"
command -v nats-server >/dev/null 2>&1 || need="$need nats-server"
if [ "${1:-}" = fuzz ]; then
	# clang, and its runtime of libFuzzer and the sanitizers.
	command -v clang >/dev/null 2>&1 &&
	    [ -f "$(clang -print-file-name=libclang_rt.fuzzer-$(uname -m).a)" ] ||
	    need="$need clang libclang-rt-dev"
fi
[ -z "$need" ] && exit 0
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
	echo "installing build dependencies:$need"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	# shellcheck disable=SC2086
	apt-get install -y -qq --no-install-recommends $need >/dev/null
else
	echo "missing build dependencies; as root run:" >&2
	echo "  apt-get update && apt-get install -y$need" >&2
	exit 1
fi
