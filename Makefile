# Builds and installs the C library, its headers and its pkg-config file.
#
#   make install                       # release build into /usr/local
#   make install PREFIX=$HOME/.local   # anywhere; then
#   export PKG_CONFIG_PATH=$HOME/.local/lib/pkgconfig LD_LIBRARY_PATH=$HOME/.local/lib
#   cc app.c $(pkg-config --cflags --libs lsm)
#
# Installs $(LIBDIR)/liblsm.so.X.Y.Z with the links liblsm.so.X (the soname) and
# liblsm.so, $(LIBDIR)/liblsm.a, $(INCLUDEDIR)/lsm.h, $(INCLUDEDIR)/lsm.hpp and
# $(LIBDIR)/pkgconfig/lsm.pc. PROFILE=debug installs a debug build (what the tests
# use); DESTDIR is prepended to every installed path, for packaging.

PREFIX ?= /usr/local
LIBDIR ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
PROFILE ?= release
CARGO ?= cargo
# The library needs none of the command-line tool's dependencies (feature `cli`).
CARGO_FEATURES ?= --no-default-features
CARGO_TARGET_DIR ?= target

VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
MAJOR := $(firstword $(subst ., ,$(VERSION)))

ifeq ($(PROFILE),release)
CARGO_FLAGS := --release
else
CARGO_FLAGS :=
endif
OUT := $(CARGO_TARGET_DIR)/$(if $(filter release,$(PROFILE)),release,debug)

.PHONY: all build install uninstall test-c

all: build

build:
	$(CARGO) build --lib $(CARGO_FEATURES) $(CARGO_FLAGS)

install: build
	install -d $(DESTDIR)$(LIBDIR) $(DESTDIR)$(INCLUDEDIR) $(DESTDIR)$(PKGCONFIGDIR)
	install -m 755 $(OUT)/liblsm.so $(DESTDIR)$(LIBDIR)/liblsm.so.$(VERSION)
	ln -sf liblsm.so.$(VERSION) $(DESTDIR)$(LIBDIR)/liblsm.so.$(MAJOR)
	ln -sf liblsm.so.$(MAJOR) $(DESTDIR)$(LIBDIR)/liblsm.so
	install -m 644 $(OUT)/liblsm.a $(DESTDIR)$(LIBDIR)/liblsm.a
	install -m 644 include/lsm.h $(DESTDIR)$(INCLUDEDIR)/lsm.h
	install -m 644 bindings/cpp/lsm.hpp $(DESTDIR)$(INCLUDEDIR)/lsm.hpp
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' \
	    -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' -e 's|@VERSION@|$(VERSION)|' \
	    lsm.pc.in > $(DESTDIR)$(PKGCONFIGDIR)/lsm.pc

uninstall:
	rm -f $(DESTDIR)$(LIBDIR)/liblsm.so.$(VERSION) $(DESTDIR)$(LIBDIR)/liblsm.so.$(MAJOR) \
	      $(DESTDIR)$(LIBDIR)/liblsm.so $(DESTDIR)$(LIBDIR)/liblsm.a \
	      $(DESTDIR)$(INCLUDEDIR)/lsm.h $(DESTDIR)$(INCLUDEDIR)/lsm.hpp \
	      $(DESTDIR)$(PKGCONFIGDIR)/lsm.pc

# Every C and C++ test (scripts/test_c.sh): a temporary install, tests/c, tests/cpp
# and the examples, plain and under sanitizers.
test-c:
	./scripts/test_c.sh
