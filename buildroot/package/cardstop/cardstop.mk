################################################################################
#
# cardstop
#
################################################################################

# The source is the repository that holds this BR2_EXTERNAL tree. For a
# local package the version is only a label (the build directory's name), so
# it is the same `git describe` the top-level Makefile stamps into bin/cardstop.
CARDSTOP_VERSION := $(shell git -C $(BR2_EXTERNAL_CARDSTOP_PATH)/.. describe --tags --always --dirty 2>/dev/null || echo dev)
CARDSTOP_SITE = $(BR2_EXTERNAL_CARDSTOP_PATH)/..
CARDSTOP_SITE_METHOD = local

# Must equal the module line of go.mod: the build runs
# `go build $(CARDSTOP_GOMOD)/cmd/cardstop`. Never set CARDSTOP_INSTALL_BINS
# (a hard error from Buildroot 2025.11 on): the binary is named after the
# build target, cmd/cardstop, and installed as /usr/bin/cardstop.
CARDSTOP_GOMOD = github.com/cardstop/cardstop
CARDSTOP_BUILD_TARGETS = cmd/cardstop
CARDSTOP_LDFLAGS = -s -w -X main.version=$(CARDSTOP_VERSION)
CARDSTOP_GO_ENV = GOWORK=off

# cgo: github.com/ebfe/scard finds libpcsclite through pkg-config, which
# host-pkgconf points at the staging directory.
CARDSTOP_DEPENDENCIES = pcsc-lite host-pkgconf

# Buildroot vendors only downloaded Go packages and builds with
# -mod=vendor, so vendor/ must be in the repository before the build and is
# copied. Never copy this tree, make's outputs or the Buildroot output (which
# `make image` keeps in output/) into the build directory.
CARDSTOP_OVERRIDE_SRCDIR_RSYNC_EXCLUSIONS = \
	--exclude=/buildroot \
	--exclude=/output \
	--exclude=/var \
	--exclude=/bin

# BusyBox init: pcscd and the supervision of cardstop. /etc/inittab gets its
# respawn line from the board's post-build script.
define CARDSTOP_INSTALL_INIT_SYSV
	$(INSTALL) -D -m 0755 $(CARDSTOP_PKGDIR)/S50pcscd \
		$(TARGET_DIR)/etc/init.d/S50pcscd
	$(INSTALL) -D -m 0755 $(CARDSTOP_PKGDIR)/S99cardstop \
		$(TARGET_DIR)/etc/init.d/S99cardstop
	$(INSTALL) -D -m 0755 $(CARDSTOP_PKGDIR)/cardstop-respawn \
		$(TARGET_DIR)/usr/libexec/cardstop-respawn
	$(INSTALL) -D -m 0755 $(CARDSTOP_PKGDIR)/cardstop-admin \
		$(TARGET_DIR)/usr/sbin/cardstop-admin
endef

$(eval $(golang-package))
