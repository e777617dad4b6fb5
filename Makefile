# bus — a local, persistent, partitioned log message bus.
#
#   make            build the five programs
#   make demo       build (installing missing build dependencies) and show it work
#   make check      build and run the whole test suite
#   make bench      measure throughput and latency against cat on this machine
#   make fuzz       fuzz the decoders and parsers for FUZZ_SECONDS each (clang)
#   make check SANITIZE=1   the suite built with ASan and UBSan
#   make install    PREFIX=/usr/local DESTDIR= (make uninstall: the same, undone)

PREFIX	?= /usr/local
BINDIR	?= $(PREFIX)/bin
SBINDIR	?= $(PREFIX)/sbin
MANDIR	?= $(PREFIX)/share/man
LIBDIR	?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
SYSTEMDUNITDIR ?= $(PREFIX)/lib/systemd/system
COMPLETIONDIR ?= $(PREFIX)/share/bash-completion/completions
# bash-completion loads completions/NAME for command NAME: one file, links.
COMPLETED = busd bus-pub bus-rotate bus-compact
VERSION	 = 0.1.0

CC	?= cc
PKGS	 = libbsd-overlay libpcre2-8
# Compressed sealed segments (lib/zcodec.c): Debian's libzstd and liblz4.
PKGS	+= libzstd liblz4
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CFLAGS	?= -O2 -g
CFLAGS	+= -std=gnu11 -Wall -Wextra -Werror -Wno-unused-parameter \
	   -D_GNU_SOURCE -DBUS_VERSION='"$(VERSION)"' -Iinclude $(PKG_CFLAGS)
LDLIBS	+= $(PKG_LIBS) -lpthread

# SANITIZE=1: everything built with ASan and UBSan, aborting on the first
# error.  The flavour of the objects is kept in SAN_STAMP, so that a build
# of the other flavour rebuilds them.  Programs exit holding memory they
# never free, so leak detection is off.
SAN_STAMP = .build-sanitize
ifneq ($(SANITIZE),)
CFLAGS	+= -fsanitize=address,undefined -fno-sanitize-recover=undefined \
	   -fno-omit-frame-pointer
export BUS_SANITIZE = 1
export ASAN_OPTIONS = detect_leaks=0:abort_on_error=1
export UBSAN_OPTIONS = print_stacktrace=1:halt_on_error=1
endif

LIB_SRC	= lib/crc32c.c lib/segment.c lib/batch.c lib/index.c lib/store.c lib/proto.c \
	  lib/cursor.c lib/verify.c lib/group.c \
	  lib/rules.c lib/hash.c lib/schedule.c lib/timefmt.c lib/reader.c \
	  lib/perm.c lib/acl.c lib/storecheck.c \
	  lib/segscan.c lib/partlock.c lib/busctl.c lib/retention.c \
	  lib/compact.c lib/status.c lib/json.c lib/append.c \
	  lib/pub.c lib/sub.c lib/msg.c lib/offline.c lib/errval.c \
	  lib/storeid.c
LIB_SRC	+= lib/zcodec.c lib/recompress.c
LIB_SRC	+= lib/logdest.c lib/cmdline.c
# bus-sub's -F compiler.
LIB_SRC	+= lib/msgfmt.c
LIB_OBJ	= $(LIB_SRC:.c=.o)
LIB	= lib/libbus.a
HDRS	= $(wildcard include/*.h include/bus/*.h)

# The shared library: the same sources compiled again as position-
# independent objects, so that the programs keep linking the archive's
# non-PIC code on their hot paths.  It exports bus_* only (lib/libbus.map).
LIB_PIC	= $(LIB_SRC:.c=.pic.o)
SOMAJOR	= $(firstword $(subst ., ,$(VERSION)))
SONAME	= libbus.so.$(SOMAJOR)
SHLIB	= lib/libbus.so.$(VERSION)
SHLINKS	= lib/$(SONAME) lib/libbus.so
PUBHDRS	= $(wildcard include/bus/*.h)

PROGS	= cmd/busd/busd cmd/bus-pub/bus-pub cmd/bus-sub/bus-sub \
	  cmd/bus-rotate/bus-rotate cmd/bus-compact/bus-compact
UNIT	= tests/unit/test_segment tests/unit/test_timefmt tests/unit/test_rules \
	  tests/unit/test_index tests/unit/test_reader tests/unit/test_compact \
	  tests/unit/test_json tests/unit/test_store tests/unit/test_proto \
	  tests/unit/test_append tests/unit/test_segscan tests/unit/test_batch \
	  tests/unit/test_acl \
	  tests/unit/test_storeid
# Compressed sealed segments.
UNIT	+= tests/unit/test_zcodec
UNIT	+= tests/unit/test_msgfmt
UNIT	+= tests/unit/test_crc32c
FAULT	= tests/fault/enospc.so tests/fault/noinotify.so tests/fault/crashpoint.so \
	  tests/fault/garbage tests/fault/rawpub tests/fault/blockpub
MAN1	= man/bus-pub.1 man/bus-sub.1
MAN5	= man/bus-segment.5
MAN7	= man/bus-protocol.7
MAN8	= man/busd.8 man/bus-rotate.8 man/bus-compact.8
MAN3	= $(wildcard man/*.3)

# bus-nats, the bridge to NATS JetStream, when pkg-config finds libnats.
HAVE_NATS := $(shell pkg-config --exists libnats 2>/dev/null && echo 1)
NATS_CFLAGS := $(shell pkg-config --cflags libnats 2>/dev/null)
NATS_LIBS := $(shell pkg-config --libs libnats 2>/dev/null)
NATS_PROGS = cmd/bus-nats/bus-nats
NATS_TEST = tests/nats/jsread tests/bench/nats_pub tests/bench/nats_pull
ifeq ($(HAVE_NATS),1)
PROGS	+= $(NATS_PROGS)
MAN1	+= man/bus-nats.1
endif

all: $(PROGS) $(SHLIB) $(SHLINKS) lib/bus.pc contrib/busd.service
ifneq ($(HAVE_NATS),1)
	@echo "make: skipping bus-nats: pkg-config finds no libnats (apt-get install libnats-dev)"
endif

$(LIB_OBJ): $(HDRS)
$(LIB_OBJ): $(SAN_STAMP)
$(SAN_STAMP): FORCE
	@[ -f $@ ] && [ "$$(cat $@)" = "$(SANITIZE)" ] || echo "$(SANITIZE)" > $@
$(LIB): $(LIB_OBJ)
	$(AR) rcs $@ $(LIB_OBJ)

lib/%.pic.o: lib/%.c
	$(CC) $(CFLAGS) $(CPPFLAGS) -fPIC -c -o $@ $<
$(LIB_PIC): $(HDRS)
$(SHLIB): $(LIB_PIC) lib/libbus.map
	$(CC) $(CFLAGS) $(LDFLAGS) -shared -Wl,-soname,$(SONAME) \
	    -Wl,--version-script=lib/libbus.map -Wl,-z,defs -Wl,--as-needed \
	    -o $@ $(LIB_PIC) $(LDLIBS)
$(SHLINKS): $(SHLIB)
	ln -sf $(notdir $(SHLIB)) $@

# Written on every run: `make install PREFIX=...` after `make` must not
# install a bus.pc that names the earlier prefix.
lib/bus.pc: lib/bus.pc.in FORCE
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' \
	    -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' -e 's|@VERSION@|$(VERSION)|' \
	    -e 's|@LIBS_PRIVATE@|$(strip $(PKG_LIBS) -lpthread)|' \
	    lib/bus.pc.in >$@
FORCE:

# The unit runs the busd that `make install` installs: written on every
# run, as bus.pc.
contrib/busd.service: contrib/busd.service.in FORCE
	sed -e 's|@SBINDIR@|$(SBINDIR)|' contrib/busd.service.in >$@

cmd/%: cmd/%.c
BUSD_SRC = $(wildcard cmd/busd/*.c)
cmd/busd/busd: $(BUSD_SRC) $(wildcard cmd/busd/*.h) $(LIB) $(HDRS)
	$(CC) $(CFLAGS) -o $@ $(BUSD_SRC) $(LIB) $(LDLIBS)
cmd/bus-pub/bus-pub: cmd/bus-pub/main.c $(LIB) $(HDRS)
	$(CC) $(CFLAGS) -o $@ $< $(LIB) $(LDLIBS)
SUB_SRC	= $(wildcard cmd/bus-sub/*.c)
cmd/bus-sub/bus-sub: $(SUB_SRC) cmd/bus-sub/sub.h $(LIB) $(HDRS)
	$(CC) $(CFLAGS) -o $@ $(SUB_SRC) $(LIB) $(LDLIBS)
NATS_SRC = $(wildcard cmd/bus-nats/*.c)
cmd/bus-nats/bus-nats: $(NATS_SRC) cmd/bus-nats/bridge.h $(LIB) $(HDRS)
	$(CC) $(CFLAGS) $(NATS_CFLAGS) -o $@ $(NATS_SRC) $(LIB) $(LDLIBS) \
	    $(NATS_LIBS)
tests/nats/jsread: tests/nats/jsread.c
	$(CC) $(CFLAGS) $(NATS_CFLAGS) -o $@ $< $(NATS_LIBS) $(LDLIBS)
tests/bench/nats_%: tests/bench/nats_%.c
	$(CC) $(CFLAGS) $(NATS_CFLAGS) -o $@ $< $(NATS_LIBS) $(LDLIBS)
cmd/bus-rotate/bus-rotate: cmd/bus-rotate/main.c $(LIB) $(HDRS)
	$(CC) $(CFLAGS) -o $@ $< $(LIB) $(LDLIBS)
cmd/bus-compact/bus-compact: cmd/bus-compact/main.c $(LIB) $(HDRS)
	$(CC) $(CFLAGS) -o $@ $< $(LIB) $(LDLIBS)

tests/unit/%: tests/unit/%.c tests/unit/unit.h $(LIB) $(HDRS)
	$(CC) $(CFLAGS) -Itests/unit -o $@ $< $(LIB) $(LDLIBS)

tests/bench/latency: tests/bench/latency.c $(LIB) $(HDRS)
	$(CC) $(CFLAGS) -o $@ $< $(LIB) $(LDLIBS)
tests/bench/accesslog: tests/bench/accesslog.c
	$(CC) $(CFLAGS) -o $@ $< $(LDLIBS)
# CRC32C by each path, in GB/s: built by make check, run by hand.
tests/bench/crcbench: tests/bench/crcbench.c $(LIB) $(HDRS)
	$(CC) $(CFLAGS) -o $@ $< $(LIB) $(LDLIBS)

tests/fault/garbage: tests/fault/garbage.c $(LIB) $(HDRS)
	$(CC) $(CFLAGS) -o $@ $< $(LIB) $(LDLIBS)
tests/fault/rawpub: tests/fault/rawpub.c $(LIB) $(HDRS)
	$(CC) $(CFLAGS) -o $@ $< $(LIB) $(LDLIBS)
tests/fault/blockpub: tests/fault/blockpub.c $(LIB) $(HDRS)
	$(CC) $(CFLAGS) -o $@ $< $(LIB) $(LDLIBS)

# Fault-injection shims of the tests (LD_PRELOAD).
tests/fault/enospc.so: tests/fault/enospc.c
	$(CC) -shared -fPIC -O2 -Wall -Wextra -Werror -o $@ $< -ldl
tests/fault/noinotify.so: tests/fault/noinotify.c
	$(CC) -shared -fPIC -O2 -Wall -Wextra -Werror -o $@ $<
tests/fault/crashpoint.so: tests/fault/crashpoint.c
	$(CC) -shared -fPIC -O2 -Wall -Wextra -Werror -o $@ $< -ldl

# Fuzz targets: clang, libFuzzer, ASan and UBSan, on their own objects of
# the library; each runs FUZZ_SECONDS on a copy of its seed corpus.
FUZZ_SECONDS ?= 60
FUZZ_CC	?= clang
FUZZ_TARGETS = fuzz_frames fuzz_record fuzz_text fuzz_conf
FUZZ_TARGETS += fuzz_zcodec
FUZZ_TARGETS += fuzz_time
FUZZ_TARGETS += fuzz_format
FUZZ_TARGETS += fuzz_crc
FUZZ	= $(FUZZ_TARGETS:%=tests/fuzz/%)
FUZZ_OBJ = $(LIB_SRC:lib/%.c=tests/fuzz/obj/%.o)
FUZZ_CFLAGS = -g -O1 -fsanitize=fuzzer,address,undefined \
	   -fno-sanitize-recover=undefined -fno-omit-frame-pointer \
	   -std=gnu11 -Wall -Wextra -Werror -Wno-unused-parameter \
	   -D_GNU_SOURCE -DBUS_VERSION='"$(VERSION)"' -Iinclude $(PKG_CFLAGS)

tests/fuzz/obj/%.o: lib/%.c $(HDRS)
	@mkdir -p tests/fuzz/obj
	$(FUZZ_CC) $(FUZZ_CFLAGS) -c -o $@ $<
tests/fuzz/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_OBJ) $(HDRS)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ $< $(FUZZ_OBJ) $(LDLIBS)
# Writes the seed corpus (committed) from the encoders.
tests/fuzz/mkcorpus: tests/fuzz/mkcorpus.c $(LIB) $(HDRS)
	$(CC) $(CFLAGS) -o $@ $< $(LIB) $(LDLIBS)

fuzz:
	@sh tests/deps.sh fuzz
	@$(MAKE) -s $(FUZZ)
	@sh tests/fuzz/run.sh $(FUZZ_SECONDS) $(FUZZ_TARGETS)

deps:
	@sh tests/deps.sh

demo: deps
	@$(MAKE) -s all
	@sh examples/demo.sh

check: deps
	@$(MAKE) -s all $(UNIT) $(FAULT) tests/fuzz/mkcorpus \
	    $(if $(HAVE_NATS),$(NATS_TEST)) tests/bench/crcbench
	@sh tests/run.sh

bench: deps
	@$(MAKE) -s all
	@sh tests/bench.sh
	@$(MAKE) -s bench-nats

# bus-nats against plain libnats clients (skipped without nats-server).
bench-nats:
	@if [ "$(HAVE_NATS)" = 1 ] && command -v nats-server >/dev/null; then \
	    $(MAKE) -s all $(NATS_TEST) && sh tests/bench/nats.sh; \
	else echo "bench-nats: skipped (needs libnats and nats-server)"; fi

lint:
	mandoc -Tlint -W warning $(MAN1) $(MAN5) $(MAN7) $(MAN8)

install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(SBINDIR) \
	    $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5 \
	    $(DESTDIR)$(MANDIR)/man7 $(DESTDIR)$(MANDIR)/man8
	install -m 755 cmd/busd/busd $(DESTDIR)$(SBINDIR)/busd
	install -m 755 cmd/bus-pub/bus-pub cmd/bus-sub/bus-sub $(DESTDIR)$(BINDIR)
	$(if $(HAVE_NATS),install -m 755 $(NATS_PROGS) $(DESTDIR)$(BINDIR))
	install -m 755 cmd/bus-rotate/bus-rotate \
	    cmd/bus-compact/bus-compact $(DESTDIR)$(SBINDIR)
	install -m 644 $(MAN1) $(DESTDIR)$(MANDIR)/man1
	install -m 644 $(MAN5) $(DESTDIR)$(MANDIR)/man5
	install -m 644 $(MAN7) $(DESTDIR)$(MANDIR)/man7
	install -m 644 $(MAN8) $(DESTDIR)$(MANDIR)/man8
	install -d $(DESTDIR)$(LIBDIR) $(DESTDIR)$(PKGCONFIGDIR) \
	    $(DESTDIR)$(INCLUDEDIR)/bus $(DESTDIR)$(MANDIR)/man3
	install -m 755 $(SHLIB) $(DESTDIR)$(LIBDIR)
	ln -sf $(notdir $(SHLIB)) $(DESTDIR)$(LIBDIR)/$(SONAME)
	ln -sf $(notdir $(SHLIB)) $(DESTDIR)$(LIBDIR)/libbus.so
	install -m 644 $(LIB) $(DESTDIR)$(LIBDIR)
	install -m 644 lib/bus.pc $(DESTDIR)$(PKGCONFIGDIR)
	$(if $(PUBHDRS),install -m 644 $(PUBHDRS) $(DESTDIR)$(INCLUDEDIR)/bus)
	$(if $(MAN3),install -m 644 $(MAN3) $(DESTDIR)$(MANDIR)/man3)
	install -d $(DESTDIR)$(SYSTEMDUNITDIR)
	install -m 644 contrib/busd.service $(DESTDIR)$(SYSTEMDUNITDIR)
	install -d $(DESTDIR)$(COMPLETIONDIR)
	install -m 644 contrib/bus.bash-completion $(DESTDIR)$(COMPLETIONDIR)/bus-sub
	for c in $(COMPLETED); do \
	    ln -sf bus-sub $(DESTDIR)$(COMPLETIONDIR)/$$c || exit 1; done

uninstall:
	rm -f $(DESTDIR)$(SBINDIR)/busd $(DESTDIR)$(BINDIR)/bus-pub \
	    $(DESTDIR)$(BINDIR)/bus-sub $(DESTDIR)$(SBINDIR)/bus-rotate \
	    $(DESTDIR)$(BINDIR)/bus-nats \
	    $(DESTDIR)$(SBINDIR)/bus-compact
	rm -f $(MAN1:man/%=$(DESTDIR)$(MANDIR)/man1/%) \
	    $(MAN3:man/%=$(DESTDIR)$(MANDIR)/man3/%) \
	    $(MAN5:man/%=$(DESTDIR)$(MANDIR)/man5/%) \
	    $(MAN7:man/%=$(DESTDIR)$(MANDIR)/man7/%) \
	    $(MAN8:man/%=$(DESTDIR)$(MANDIR)/man8/%)
	rm -f $(DESTDIR)$(LIBDIR)/$(notdir $(SHLIB)) \
	    $(DESTDIR)$(LIBDIR)/$(SONAME) $(DESTDIR)$(LIBDIR)/libbus.so \
	    $(DESTDIR)$(LIBDIR)/libbus.a $(DESTDIR)$(PKGCONFIGDIR)/bus.pc
	rm -f $(PUBHDRS:include/%=$(DESTDIR)$(INCLUDEDIR)/%)
	rm -f $(DESTDIR)$(SYSTEMDUNITDIR)/busd.service
	rm -f $(DESTDIR)$(COMPLETIONDIR)/bus-sub \
	    $(COMPLETED:%=$(DESTDIR)$(COMPLETIONDIR)/%)
	rmdir $(DESTDIR)$(INCLUDEDIR)/bus 2>/dev/null || true

clean:
	rm -f $(LIB_OBJ) $(LIB) $(PROGS) $(UNIT) $(FAULT) tests/bench/latency \
	    tests/bench/accesslog tests/bench/crcbench
	rm -f $(NATS_PROGS) $(NATS_TEST)
	rm -f $(LIB_PIC) $(SHLIB) $(SHLINKS) lib/bus.pc contrib/busd.service
	rm -f $(SAN_STAMP) $(FUZZ) $(FUZZ_OBJ) tests/fuzz/mkcorpus

.PHONY: all deps demo check bench bench-nats lint install uninstall clean fuzz FORCE
