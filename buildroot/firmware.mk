# Firmware and cross builds, included by the top-level Makefile (after its
# variables: GO, SUDO, LDFLAGS, BUILDFLAGS). Every target does its own set-up.
#
#   make cross            bin/cardstop-linux-arm64 and bin/cardstop-linux-armv7 (cgo, PC/SC)
#   make test-cross       cross, then both run under qemu; shellcheck of buildroot/
#   make test-cross-pcsc  the reader tests of ./device/reader/pcsc as arm64 code under
#                         qemu, against the host's pcscd (which the caller runs)
#   make image [BOARD=rpi4_64|rpi3_64|rpi5_64]
#                         output/<BOARD>/images/sdcard.img with Buildroot (network needed)
#   make check-buildroot BUILDROOT=<dir>
#                         the offline checks of buildroot/ against a Buildroot source tree
#
# docs/FIRMWARE.md is the guide.

# Buildroot, pinned: the LTS release, and its tarball's sha256 in
# buildroot/buildroot.hash (read the note there about where it comes from).
BUILDROOT_VERSION := 2025.02.16
BUILDROOT_URL     := https://buildroot.org/downloads/buildroot-$(BUILDROOT_VERSION).tar.xz
BUILDROOT_HASH    := buildroot/buildroot.hash

# The boards are the defconfigs: buildroot/configs/cardstop_<BOARD>_defconfig.
BOARDS         := $(patsubst buildroot/configs/cardstop_%_defconfig,%,$(wildcard buildroot/configs/cardstop_*_defconfig))
BOARD          ?= rpi4_64
# Everything `make image` makes or downloads is under output/ (git-ignored);
# BR2_DL_DIR may point elsewhere to share downloads between checkouts.
FIRMWARE_OUT   ?= $(CURDIR)/output
BR2_DL_DIR     ?= $(FIRMWARE_OUT)/dl
BUILDROOT_SRC  := $(FIRMWARE_OUT)/buildroot-$(BUILDROOT_VERSION)
# check-buildroot uses the tree `make image` unpacked unless told otherwise.
BUILDROOT      ?= $(wildcard $(BUILDROOT_SRC))

# Debian's cross compilers and the multiarch libpcsclite for cgo.
CROSS_APT_PKGS := pkg-config gcc-aarch64-linux-gnu libc6-dev-arm64-cross \
	gcc-arm-linux-gnueabihf libc6-dev-armhf-cross \
	libpcsclite-dev:arm64 libpcsclite-dev:armhf qemu-user file
CROSS_ARM64    := CGO_ENABLED=1 GOOS=linux GOARCH=arm64 CC=aarch64-linux-gnu-gcc \
	PKG_CONFIG_PATH= PKG_CONFIG_LIBDIR=/usr/lib/aarch64-linux-gnu/pkgconfig:/usr/share/pkgconfig
CROSS_ARMV7    := CGO_ENABLED=1 GOOS=linux GOARCH=arm GOARM=7 CC=arm-linux-gnueabihf-gcc \
	PKG_CONFIG_PATH= PKG_CONFIG_LIBDIR=/usr/lib/arm-linux-gnueabihf/pkgconfig:/usr/share/pkgconfig
CROSS_BIN_ARM64 := bin/cardstop-linux-arm64
CROSS_BIN_ARMV7 := bin/cardstop-linux-armv7
# The version the binaries are stamped with, taken from LDFLAGS (expanded
# once), not from a new `git describe` that a commit meanwhile would change.
CROSS_VERSION   = $(patsubst main.version=%,%,$(filter main.version=%,$(LDFLAGS)))

# What Buildroot needs on the build machine (its support/dependencies), and
# what the offline checks need besides.
IMAGE_APT_PKGS := build-essential file wget cpio unzip rsync bc perl python3 patch \
	gzip bzip2 xz-utils tar findutils diffutils sed openssl git
CHECK_BUILDROOT_APT_PKGS := build-essential file wget cpio unzip rsync bc perl python3 \
	python3-magic python3-flake8 shellcheck genimage mtools dosfstools e2fsprogs \
	fdisk openssl gcc pkg-config libpcsclite-dev util-linux

# apt-install installs the Debian packages of $(1) that are missing, with
# apt-get as root or through sudo. A name without an architecture is looked
# up for the native one first: once libpcsclite-dev:arm64 is installed too,
# a bare "dpkg -s libpcsclite-dev" fails as ambiguous. A failed index (a
# mirror being synced) does not stop it: the install then fails only if a
# package is not found.
define apt-install
arch=$$(dpkg --print-architecture); missing=""; for p in $(1); do \
	dpkg-query -W -f='$${db:Status-Status}' "$$p:$$arch" 2>/dev/null | grep -qx installed || \
	dpkg-query -W -f='$${db:Status-Status}' "$$p" 2>/dev/null | grep -qx installed || missing="$$missing $$p"; \
done; \
if [ -n "$$missing" ]; then \
	echo "installing:$$missing"; \
	$(SUDO) apt-get update -qq || echo "apt-get update reported errors (above); installing from the indexes it has" >&2; \
	$(SUDO) DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
fi
endef

.PHONY: cross cross-deps test-cross test-cross-pcsc shellcheck-buildroot image image-deps check-buildroot

# cross-deps adds the arm64 and armhf architectures to dpkg (once), then
# installs what is missing.
cross-deps:
	@command -v $(GO) >/dev/null || { echo "Go 1.26 is needed; $(GO) was not found" >&2; exit 1; }
	@for a in arm64 armhf; do \
		dpkg --print-foreign-architectures | grep -qx $$a || $(SUDO) dpkg --add-architecture $$a || exit 1; \
	done; \
	$(call apt-install,$(CROSS_APT_PKGS))

cross: cross-deps
	$(CROSS_ARM64) $(GO) build $(BUILDFLAGS) -o $(CROSS_BIN_ARM64) ./cmd/cardstop
	$(CROSS_ARMV7) $(GO) build $(BUILDFLAGS) -o $(CROSS_BIN_ARMV7) ./cmd/cardstop
	@ls -l $(CROSS_BIN_ARM64) $(CROSS_BIN_ARMV7)

# test-cross runs both binaries under qemu-user and checks what they say,
# checks that the firmware's configuration file is one the arm64 binary
# accepts, and shellchecks buildroot/.
test-cross: cross shellcheck-buildroot
	@file -b $(CROSS_BIN_ARM64) | grep -q 'ELF 64-bit LSB .*ARM aarch64' || { echo "$(CROSS_BIN_ARM64) is not an arm64 ELF" >&2; exit 1; }
	@file -b $(CROSS_BIN_ARMV7) | grep -q 'ELF 32-bit LSB .*ARM, EABI5' || { echo "$(CROSS_BIN_ARMV7) is not an armhf ELF" >&2; exit 1; }
	@for t in "qemu-aarch64 $(CROSS_BIN_ARM64)" "qemu-arm $(CROSS_BIN_ARMV7)"; do \
		out=$$($$t version) || { echo "$$t version failed" >&2; exit 1; }; \
		echo "$$t version: $$out"; \
		[ "$$out" = "cardstop $(CROSS_VERSION)" ] || { echo "expected: cardstop $(CROSS_VERSION)" >&2; exit 1; }; \
	done
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	qemu-aarch64 $(CROSS_BIN_ARM64) config print --config buildroot/board/cardstop/rootfs-overlay/etc/cardstop/cardstop.toml --data-dir "$$tmp" >/dev/null || \
		{ echo "the arm64 binary refuses buildroot/board/cardstop/rootfs-overlay/etc/cardstop/cardstop.toml" >&2; exit 1; }
	@echo "qemu-aarch64: the firmware's cardstop.toml is accepted"

# shellcheck-buildroot checks every shell script under buildroot/ (by its #!
# line) and the shell fragments in the overlay's etc/default.
shellcheck-buildroot:
	@command -v shellcheck >/dev/null || { $(call apt-install,shellcheck); }
	@scripts=$$(for f in $$(find buildroot -type f | sort); do \
		head -n 1 "$$f" | grep -qE '^#!((/usr)?/bin/|/usr/bin/env )(ba|da)?sh( |$$)' && echo "$$f"; done); \
	[ -n "$$scripts" ] || { echo "no shell scripts found under buildroot/" >&2; exit 1; }; \
	shellcheck $$scripts && shellcheck --shell=sh --exclude=SC2034 buildroot/board/cardstop/rootfs-overlay/etc/default/* && \
	echo "shellcheck: $$(echo $$scripts | wc -w) scripts and the etc/default fragments are clean"

# test-cross-pcsc runs the PC/SC reader tests compiled for arm64 under
# qemu-aarch64, against the host's pcscd and its vpcd reader: the caller
# runs pcscd (make test-pcsc does) and passes CARDSTOP_PCSCD_PIDFILE in the
# environment when the tests may restart it.
test-cross-pcsc: cross-deps
	@echo "arm64 PC/SC tests under qemu-aarch64 (CARDSTOP_PCSCD_PIDFILE=$${CARDSTOP_PCSCD_PIDFILE:-unset}); this takes a few minutes"
	$(CROSS_ARM64) $(GO) test -exec qemu-aarch64 -count=1 ./device/reader/pcsc/

image-deps:
	@command -v $(GO) >/dev/null || { echo "Go 1.26 is needed; $(GO) was not found" >&2; exit 1; }
	@$(call apt-install,$(IMAGE_APT_PKGS))

# The Buildroot release: downloaded once into BR2_DL_DIR, checked against
# buildroot/buildroot.hash, unpacked into output/buildroot-<version>.
$(BUILDROOT_SRC)/.cardstop-checked: $(BUILDROOT_HASH)
	@mkdir -p $(BR2_DL_DIR)
	@tarball=$(BR2_DL_DIR)/buildroot-$(BUILDROOT_VERSION).tar.xz; \
	if [ ! -f $$tarball ]; then \
		echo "downloading $(BUILDROOT_URL)"; \
		wget -nv -O $$tarball.part $(BUILDROOT_URL) && mv $$tarball.part $$tarball || { rm -f $$tarball.part; exit 1; }; \
	fi; \
	grep -q "^sha256  [0-9a-f]\{64\}  buildroot-$(BUILDROOT_VERSION).tar.xz$$" $(BUILDROOT_HASH) || \
		{ echo "$(BUILDROOT_HASH) has no sha256 for buildroot-$(BUILDROOT_VERSION).tar.xz" >&2; exit 1; }; \
	( cd $(BR2_DL_DIR) && grep "^sha256 .* buildroot-$(BUILDROOT_VERSION).tar.xz$$" $(CURDIR)/$(BUILDROOT_HASH) | \
		awk '{ print $$2 "  " $$3 }' | sha256sum -c --strict - ) || \
		{ echo "buildroot-$(BUILDROOT_VERSION).tar.xz does not match $(BUILDROOT_HASH): delete $$tarball and try again" >&2; exit 1; }; \
	rm -rf $(BUILDROOT_SRC) $(BUILDROOT_SRC).part && mkdir -p $(BUILDROOT_SRC).part && \
	tar -xJf $$tarball -C $(BUILDROOT_SRC).part --strip-components=1 && \
	mv $(BUILDROOT_SRC).part $(BUILDROOT_SRC) && touch $@

# image builds output/<BOARD>/images/sdcard.img. It needs the network: the
# Go modules for vendor/, the Buildroot release, and every source Buildroot
# downloads (toolchain, kernel, firmware, packages; hash-checked). The first
# build compiles everything (expect an hour or more; not measured yet).
# vendor/ is made for the build and
# removed afterwards when it was not there before (with a vendor/ directory,
# plain `go build` in the repository would use it).
# There is no root password: root is locked on every console, and the first
# admin is made from a USB stick (docs/FIRMWARE.md, "First boot").
image: image-deps $(BUILDROOT_SRC)/.cardstop-checked
	@case " $(BOARDS) " in *" $(BOARD) "*) ;; *) echo "BOARD must be one of: $(BOARDS)" >&2; exit 2;; esac
	@set -e; out=$(FIRMWARE_OUT)/$(BOARD); mkdir -p $$out; \
	[ -f $(FIRMWARE_OUT)/go.mod ] || printf 'module cardstop.invalid/output\n\n// Keeps `go ... ./...` in the repository out of the Buildroot output.\n' > $(FIRMWARE_OUT)/go.mod; \
	created=; [ -d vendor ] || created=1; \
	trap '[ -z "$$created" ] || rm -rf vendor' EXIT; \
	$(GO) mod vendor; \
	env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL BR2_DL_DIR=$(BR2_DL_DIR) \
		$(MAKE) -C $(BUILDROOT_SRC) BR2_EXTERNAL=$(CURDIR)/buildroot O=$$out cardstop_$(BOARD)_defconfig; \
	env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL BR2_DL_DIR=$(BR2_DL_DIR) \
		$(MAKE) -C $(BUILDROOT_SRC) O=$$out cardstop-dirclean all; \
	echo; echo "image: $$out/images/sdcard.img ($$(du -h --apparent-size $$out/images/sdcard.img | cut -f 1))"; \
	echo "docs/FIRMWARE.md says how to flash the image and make the station's first admin"

# check-buildroot runs the offline checks of buildroot/ for every defconfig;
# see buildroot/scripts/check-buildroot.sh. Not part of `make test`: it
# needs a Buildroot source tree, which CI cannot download.
check-buildroot:
	@[ -n "$(BUILDROOT)" ] || { echo "usage: make check-buildroot BUILDROOT=<a Buildroot $(BUILDROOT_VERSION) source tree>" >&2; exit 2; }
	@command -v $(GO) >/dev/null || { echo "Go 1.26 is needed; $(GO) was not found" >&2; exit 1; }
	@$(call apt-install,$(CHECK_BUILDROOT_APT_PKGS))
	GO=$(GO) BUILDROOT_VERSION=$(BUILDROOT_VERSION) buildroot/scripts/check-buildroot.sh $(BUILDROOT)
