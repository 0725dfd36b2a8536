# Builds and installs the C library, its headers and its pkg-config file.
#
#   make install                       # release build into /usr/local
#   make install PREFIX=$HOME/.local   # anywhere; then
#   export PKG_CONFIG_PATH=$HOME/.local/lib/pkgconfig LD_LIBRARY_PATH=$HOME/.local/lib
#   cc app.c $(pkg-config --cflags --libs lsm)
#
# Installs $(LIBDIR)/liblsm.so.X.Y.Z with the links liblsm.so.X (the soname) and
# liblsm.so, $(LIBDIR)/liblsm.a, $(INCLUDEDIR)/lsm.h, $(INCLUDEDIR)/lsm.hpp,
# $(LIBDIR)/pkgconfig/lsm.pc and the CMake package $(LIBDIR)/cmake/lsm/lsmConfig.cmake
# and lsmConfigVersion.cmake (`find_package(lsm)`, target lsm::lsm). PROFILE=debug
# installs a debug build (what the tests use); DESTDIR is prepended to every installed
# path, for packaging.
#
#   make deb        # target/deb/liblsm_X.Y.Z_<arch>.deb: the same files under /usr

PREFIX ?= /usr/local
LIBDIR ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
CMAKEDIR ?= $(LIBDIR)/cmake/lsm
PROFILE ?= release
CARGO ?= cargo
# The library needs none of the command-line tool's dependencies (feature `cli`).
CARGO_FEATURES ?= --no-default-features
CARGO_TARGET_DIR ?= target

VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
MAJOR := $(firstword $(subst ., ,$(VERSION)))
MINOR := $(word 2,$(subst ., ,$(VERSION)))
# lsmConfig.cmake finds the headers from its own place, through this relative path.
INCLUDEDIR_FROM_LIBDIR := $(shell realpath -m --relative-to=$(LIBDIR) $(INCLUDEDIR))
POINTER_BYTES := $(shell echo $$(( $$(getconf LONG_BIT) / 8 )))
CONFIGURE = sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@LIBDIR@|$(LIBDIR)|g' \
	-e 's|@INCLUDEDIR@|$(INCLUDEDIR)|g' -e 's|@VERSION@|$(VERSION)|g' \
	-e 's|@MAJOR@|$(MAJOR)|g' -e 's|@MINOR@|$(MINOR)|g' \
	-e 's|@INCLUDEDIR_FROM_LIBDIR@|$(INCLUDEDIR_FROM_LIBDIR)|g' \
	-e 's|@POINTER_BYTES@|$(POINTER_BYTES)|g'

ifeq ($(PROFILE),release)
CARGO_FLAGS := --release
else
CARGO_FLAGS :=
endif
OUT := $(CARGO_TARGET_DIR)/$(if $(filter release,$(PROFILE)),release,debug)

.PHONY: all build install uninstall deb test-c

all: build

build:
	$(CARGO) build --lib $(CARGO_FEATURES) $(CARGO_FLAGS)

install: build
	install -d $(DESTDIR)$(LIBDIR) $(DESTDIR)$(INCLUDEDIR) $(DESTDIR)$(PKGCONFIGDIR) \
	    $(DESTDIR)$(CMAKEDIR)
	install -m 755 $(OUT)/liblsm.so $(DESTDIR)$(LIBDIR)/liblsm.so.$(VERSION)
	ln -sf liblsm.so.$(VERSION) $(DESTDIR)$(LIBDIR)/liblsm.so.$(MAJOR)
	ln -sf liblsm.so.$(MAJOR) $(DESTDIR)$(LIBDIR)/liblsm.so
	install -m 644 $(OUT)/liblsm.a $(DESTDIR)$(LIBDIR)/liblsm.a
	install -m 644 include/lsm.h $(DESTDIR)$(INCLUDEDIR)/lsm.h
	install -m 644 bindings/cpp/lsm.hpp $(DESTDIR)$(INCLUDEDIR)/lsm.hpp
	$(CONFIGURE) lsm.pc.in > $(DESTDIR)$(PKGCONFIGDIR)/lsm.pc
	$(CONFIGURE) packaging/cmake/lsmConfig.cmake.in > $(DESTDIR)$(CMAKEDIR)/lsmConfig.cmake
	$(CONFIGURE) packaging/cmake/lsmConfigVersion.cmake.in \
	    > $(DESTDIR)$(CMAKEDIR)/lsmConfigVersion.cmake

uninstall:
	rm -f $(DESTDIR)$(LIBDIR)/liblsm.so.$(VERSION) $(DESTDIR)$(LIBDIR)/liblsm.so.$(MAJOR) \
	      $(DESTDIR)$(LIBDIR)/liblsm.so $(DESTDIR)$(LIBDIR)/liblsm.a \
	      $(DESTDIR)$(INCLUDEDIR)/lsm.h $(DESTDIR)$(INCLUDEDIR)/lsm.hpp \
	      $(DESTDIR)$(PKGCONFIGDIR)/lsm.pc \
	      $(DESTDIR)$(CMAKEDIR)/lsmConfig.cmake $(DESTDIR)$(CMAKEDIR)/lsmConfigVersion.cmake
	-rmdir $(DESTDIR)$(CMAKEDIR)

# A Debian package of the library, the headers, lsm.pc and the CMake package, installed
# under /usr (packaging/deb/control.in). The libraries are stripped of debug info.
# Try it without root: dpkg -x target/deb/liblsm_*.deb /tmp/root
DEB_ARCH := $(shell dpkg --print-architecture 2>/dev/null || echo amd64)
DEB_NAME := liblsm_$(VERSION)_$(DEB_ARCH)
DEB_ROOT := $(CARGO_TARGET_DIR)/deb/$(DEB_NAME)

deb:
	rm -rf $(DEB_ROOT)
	$(MAKE) --no-print-directory install PREFIX=/usr DESTDIR=$(abspath $(DEB_ROOT))
	strip --strip-debug $(DEB_ROOT)/usr/lib/liblsm.so.$(VERSION) $(DEB_ROOT)/usr/lib/liblsm.a
	install -d $(DEB_ROOT)/DEBIAN $(DEB_ROOT)/usr/share/doc/liblsm
	install -m 644 README.md $(DEB_ROOT)/usr/share/doc/liblsm/README.md
	$(CONFIGURE) -e 's|@ARCH@|$(DEB_ARCH)|g' \
	    -e "s|@INSTALLED_KB@|$$(du -sk $(DEB_ROOT)/usr | cut -f1)|g" \
	    packaging/deb/control.in > $(DEB_ROOT)/DEBIAN/control
	dpkg-deb --root-owner-group --build $(DEB_ROOT) $(CARGO_TARGET_DIR)/deb/$(DEB_NAME).deb

# Every C and C++ test (scripts/test_c.sh): a temporary install, tests/c, tests/cpp
# and the examples, plain and under sanitizers.
test-c:
	./scripts/test_c.sh
