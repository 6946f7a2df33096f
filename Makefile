# Cardstop's front door. Every target does its own set-up.
# The two that matter first: `make run` and `make test`.

SHELL     := /bin/bash
GO        ?= go
DATA_DIR  ?= ./var
LISTEN    ?= 127.0.0.1:8080
FUZZTIME  ?= 30s
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -s -w -X main.version=$(VERSION)
# Position-independent, as Debian builds its binaries (lintian's
# hardening-no-pie); with cgo, gcc links it, and Debian's cross gcc for
# arm64 and armhf make PIE by default too. -bindnow: full RELRO.
BUILDFLAGS := -trimpath -buildmode=pie -ldflags '-bindnow $(LDFLAGS)'
BIN       := bin/cardstop
# Debian packages the build and tests need; installed when missing. The
# gpio-sim test's are for its kernel build and its virtual machine.
GPIOSIM_PKGS := linux-source-6.12 bc flex bison libelf-dev qemu-system-x86 busybox-static cpio
APT_PKGS  := gcc pkg-config libpcsclite-dev pcscd vsmartcard-vpcd opensc chromium systemd e2fsprogs \
	$(GPIOSIM_PKGS)
# axe-core, from the npm registry pinned by sha256, is only fetched for
# the accessibility tests.
AXE_VERSION  := 4.11.0
AXE_SHA256   := e9e5863c33a874f09bc01acd9234b7e3c871479f5eef8802fa582544465e6d01
AXE          := bin/axe/axe.min.js
SUDO      := $(if $(filter 0,$(shell id -u)),,sudo)

# Packages whose tests talk to pcscd and the vpcd reader: they share its
# two slots, so they run one at a time, after the others.
PCSC_PKGS := ./device/reader/pcsc/... ./device/station ./cmd/cardstop
PCSCD_DIR := $(CURDIR)/bin/pcscd

CYCLES    ?= 100

.PHONY: help run build test test-pcsc test-crash test-hostile bench deb test-deb vet fmt fmt-check fuzz deps clean generate check-generated screenshots gpiosim-kernel test-gpiosim test-systemd

help:
	@echo "make run    - build and start the service on $(LISTEN), data in $(DATA_DIR)"
	@echo "make test   - set up and run every check and test"
	@echo "make build  - build $(BIN)"
	@echo "make fuzz   - run each fuzz target for FUZZTIME ($(FUZZTIME))"
	@echo "make test-pcsc - only the tests that need pcscd (started here when none runs)"
	@echo "make test-gpiosim - the panel on GPIO lines of a real kernel (gpio-sim under qemu)"
	@echo "make generate - templ code (commit it); make screenshots - renew docs/screenshots"
	@echo "make test-crash CYCLES=100 - the crash harness with more kills"
	@echo "make bench  - measure against this machine's limits; writes docs/PERFORMANCE.md"
	@echo "make cross | test-cross - arm64/armv7 binaries, run under qemu"
	@echo "make image [BOARD=rpi4_64|rpi3_64|rpi5_64] - SD card image (needs network); docs/FIRMWARE.md"
	@echo "make check-buildroot BUILDROOT=<dir> - offline checks of buildroot/"
	@echo "make deb    - .deb packages for amd64, arm64, armhf"
	@echo "make fmt | vet | clean"

# deps installs the Debian packages that are missing, once.
deps:
	@command -v $(GO) >/dev/null || { echo "Go 1.26 is needed; $(GO) was not found" >&2; exit 1; }
	@arch=$$(dpkg --print-architecture); missing=""; for p in $(APT_PKGS); do \
		dpkg-query -W -f='$${db:Status-Status}' "$$p:$$arch" 2>/dev/null | grep -qx installed || \
		dpkg-query -W -f='$${db:Status-Status}' "$$p" 2>/dev/null | grep -qx installed || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		$(SUDO) apt-get update -qq || echo "apt-get update reported errors; installing from the lists there are"; \
		$(SUDO) DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi

build: deps
	$(GO) build $(BUILDFLAGS) -o $(BIN) ./cmd/cardstop

# run creates the first admin token when the database has none of ours yet
# (the server itself never makes credentials), then serves in the foreground.
run: build
	@mkdir -p $(DATA_DIR) && chmod 700 $(DATA_DIR)
	@if [ ! -s $(DATA_DIR)/admin.token ] || [ ! -f $(DATA_DIR)/cardstop.db ]; then \
		umask 077; \
		$(BIN) token create --data-dir $(DATA_DIR) --role admin --name admin-$$(date +%Y%m%d-%H%M%S) > $(DATA_DIR)/admin.token.new 2>/dev/null \
		&& mv $(DATA_DIR)/admin.token.new $(DATA_DIR)/admin.token \
		|| { rm -f $(DATA_DIR)/admin.token.new; echo "could not create the admin token" >&2; exit 1; }; \
		echo "An admin API token was created and saved in $(DATA_DIR)/admin.token (mode 0600)."; \
	else \
		echo "The admin API token is in $(DATA_DIR)/admin.token."; \
	fi
	@echo "To load the example cards (stop the server first): $(BIN) import --data-dir $(DATA_DIR) docs/examples/cards.json"
	@if ! $(BIN) user list --data-dir $(DATA_DIR) 2>/dev/null | tail -n +2 | grep -q .; then \
		echo "No one can sign in yet. To make the first account: stop the server (Ctrl-C), run"; \
		echo "  $(BIN) user add --data-dir $(DATA_DIR) NAME --role admin"; \
		echo "(it asks for the password twice), then make run again."; \
	fi
	@echo "The pages will be at http://$(LISTEN)/"
	@started=; \
	if [ -x /usr/sbin/pcscd ] && ! pgrep -x pcscd >/dev/null; then \
		mkdir -p $(PCSCD_DIR); setsid /usr/sbin/pcscd --foreground >> $(PCSCD_DIR)/pcscd.log 2>&1 & started=$$!; \
		echo "started pcscd $$started for the card reader; it stops with the server"; \
	fi; \
	trap '[ -n "$$started" ] && kill -TERM $$started 2>/dev/null; true' EXIT; \
	$(BIN) serve --data-dir $(DATA_DIR) --listen $(LISTEN)

# generate writes the templ components' Go code (committed), with the
# generator pinned as a tool in go.mod.
generate:
	$(GO) tool templ fmt web/page
	$(GO) tool templ generate

check-generated:
	@$(GO) tool templ generate -check || { echo "run make generate and commit the result" >&2; exit 1; }

$(AXE):
	@command -v npm >/dev/null || { $(SUDO) apt-get update -qq && $(SUDO) DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm; }
	@mkdir -p $(dir $(AXE)); tmp=$$(mktemp -d) && npm pack --silent --pack-destination "$$tmp" axe-core@$(AXE_VERSION) >/dev/null && \
	tar -xzf "$$tmp/axe-core-$(AXE_VERSION).tgz" -C "$$tmp" package/axe.min.js && \
	echo "$(AXE_SHA256)  $$tmp/package/axe.min.js" | sha256sum -c --quiet - && \
	cp "$$tmp/package/axe.min.js" $(AXE) && rm -rf "$$tmp"

# test-crash runs the crash harness with more kills than make test's 20:
# the real binary, SIGKILLed at random moments under 32 clients.
test-crash: deps
	CARDSTOP_CRASH_CYCLES=$(CYCLES) $(GO) test -count=1 -run '^TestCrash$$' -v -timeout 60m ./cmd/cardstop/

# test-hostile throws the hostile request mix of issue 14 at the real
# binary with 100,000 cards and holds its peak memory to 96 MB (make test
# runs it too, with the other tests of cmd/cardstop).
test-hostile: deps
	$(GO) test -count=1 -run '^TestHostileLoad$$' -v -timeout 10m ./cmd/cardstop/

# bench measures the service against this machine's own limits and writes
# docs/PERFORMANCE.md; a few minutes, loopback only. The load comes from
# wrk (a C load generator; the Go client's figures are reported beside),
# profiles of the server go to bin/perf/ when perf is installed. The
# station's numbers come from its Go benchmarks, run against a pcscd like
# test-pcsc's. PHASES=get,put (startup, get, hostile, search, put, pi,
# fleet) runs only those, and writes no report.
bench: build
	@command -v wrk >/dev/null || { $(SUDO) apt-get update -qq && $(SUDO) DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk; }
	@command -v perf >/dev/null || $(SUDO) DEBIAN_FRONTEND=noninteractive apt-get install -y -qq linux-perf || echo "no perf: the bench runs without profiles"
	@mkdir -p $(PCSCD_DIR); started=; \
	if ! pgrep -x pcscd >/dev/null; then setsid /usr/sbin/pcscd --foreground >> $(PCSCD_DIR)/pcscd.log 2>&1 & started=$$!; fi; \
	trap '[ -n "$$started" ] && kill -TERM $$started 2>/dev/null; true' EXIT; \
	station=$$($(GO) test -run '^$$' -bench . -benchtime 200x ./device/station/ | grep '^Benchmark'; \
		$(GO) test -run '^$$' -bench . -benchtime 40x ./device/reader/pcsc/ | grep '^Benchmark'); \
	CARDSTOP_PERF=1 CARDSTOP_PERF_REPORT=$(CURDIR)/docs/PERFORMANCE.md CARDSTOP_STATION_BENCH="$$station" CARDSTOP_PERF_PHASES=$(PHASES) \
		$(GO) test -count=1 -run '^TestPerformance$$' -timeout 20m -v ./cmd/cardstop/ | grep -v '^=== RUN'

# deb builds .deb packages for amd64, arm64 and armhf (Raspberry Pi OS and
# Debian) with nfpm, taken from the Go module proxy at a pinned version
# (2.41.0: newer ones need modules the proxy does not serve).
NFPM        := $(GO) run github.com/goreleaser/nfpm/v2/cmd/nfpm@v2.41.0
# Debian versions start with a digit: 0.0.0+g<commit> until releases are
# tagged. No Debian revision: the package is native (built from this
# repository), so its changelog is changelog.gz, not changelog.Debian.gz.
DEB_VERSION ?= 0.0.0+g$(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
# The project has no mail domain of its own: .invalid (RFC 2606) can never
# reach a stranger, and lintian accepts it (localhost it does not). A site
# building its own packages names itself here.
DEB_MAINTAINER ?= Cardstop developers <cardstop@cardstop.invalid>
DEB_DIR     := bin/deb

# Each binary's libc6 dependency is the newest GLIBC_ symbol version it
# needs (the cgo of PC/SC links libc), read from its version references.
deb: build cross
	@rm -rf $(DEB_DIR) && mkdir -p $(DEB_DIR)/stage
	@buildroot/deb/changelog.sh '$(DEB_VERSION)' '$(DEB_MAINTAINER)' | gzip -9n > $(DEB_DIR)/stage/changelog.gz
	@for a in amd64:bin/cardstop arm64:bin/cardstop-linux-arm64 armhf:bin/cardstop-linux-armv7; do \
		bin=$${a#*:}; \
		libc=$$(readelf --version-info --wide $$bin | grep -o 'Name: GLIBC_[0-9][0-9.]*' | sed 's/.*GLIBC_//' | sort -uV | tail -n 1); \
		[ -n "$$libc" ] || { echo "$$bin: no GLIBC_ symbol versions found" >&2; exit 1; }; \
		echo "$${a%%:*}: libc6 (>= $$libc)"; \
		cp $$bin $(DEB_DIR)/stage/cardstop && \
		DEB_ARCH=$${a%%:*} DEB_VERSION='$(DEB_VERSION)' DEB_MAINTAINER='$(DEB_MAINTAINER)' DEB_LIBC=$$libc \
			$(NFPM) package --packager deb --config buildroot/deb/nfpm.yaml --target $(DEB_DIR)/ || exit 1; \
	done; rm -rf $(DEB_DIR)/stage
	@ls -l $(DEB_DIR)

# test-deb inspects the packages: fields, files, conffile, architecture,
# systemd-analyze verify on the unit (TestDebPackages); then lintian on each:
# any error (E:) fails, warnings are shown. An error may only be accepted
# through an override file shipped in the package
# (/usr/share/lintian/overrides/cardstop), with a comment saying why; none
# is needed today, so there is none.
test-deb: deb
	@command -v lintian >/dev/null || { $(call apt-install,lintian); }
	CARDSTOP_DEB_DIR=$(CURDIR)/$(DEB_DIR) $(GO) test -count=1 -run '^TestDebPackages$$' ./cmd/cardstop/
	@failed=; for d in $(DEB_DIR)/*.deb; do \
		echo "lintian $$d"; \
		lintian --fail-on error --display-level '>=warning' $$d 2>&1 | grep -v '^running with root privileges' ; \
		[ "$${PIPESTATUS[0]}" = 0 ] || failed="$$failed $$d"; \
	done; \
	[ -z "$$failed" ] || { echo "lintian found errors in:$$failed" >&2; exit 1; }; \
	echo "lintian: no errors in $$(ls $(DEB_DIR)/*.deb | wc -l) packages"

# test-systemd installs the amd64 .deb into a Debian booted by systemd in a
# container (systemd-nspawn --boot, over a veth the test makes) and checks
# the unit from outside (device/systemd/nspawn). The container's root file
# system is made once with mmdebstrap (about 80 s) into
# $(NSPAWN_CACHE)/<hash of its release and packages>/rootfs.
NSPAWN_CACHE   ?= $(HOME)/.cache/cardstop/nspawn
NSPAWN_RELEASE := bookworm
NSPAWN_PKGS    := systemd,systemd-sysv,dbus,iproute2,procps,pcscd,libpcsclite1

test-systemd: deb
	@$(call apt-install,systemd-container mmdebstrap iproute2)
	@root=$(NSPAWN_CACHE)/$$(echo "$(NSPAWN_RELEASE) $(NSPAWN_PKGS)" | sha256sum | cut -c1-12)/rootfs; \
	if [ ! -d "$$root" ]; then \
		mkdir -p "$$(dirname "$$root")" && rm -rf "$$root.tmp" && \
		mmdebstrap --quiet --variant=minbase --include=$(NSPAWN_PKGS) $(NSPAWN_RELEASE) "$$root.tmp" && \
		mv "$$root.tmp" "$$root" || exit 1; \
	fi; \
	CARDSTOP_NSPAWN_ROOTFS=$$root CARDSTOP_DEB=$$(ls $(CURDIR)/$(DEB_DIR)/cardstop_*_amd64.deb) \
		$(GO) test -count=1 -timeout 15m -v ./device/systemd/nspawn/

# screenshots renews docs/screenshots from the browser test.
screenshots: deps $(AXE)
	CARDSTOP_SCREENSHOTS=1 $(GO) test -count=1 -run 'TestBrowser(DisableFlow|StationKiosk|CardPageFits)' ./web/

fmt:
	gofmt -w $$(git ls-files '*.go')
	$(GO) tool templ fmt web/page

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change: $$out" >&2; exit 1; fi

vet: deps
	$(GO) vet ./...

test: deps fmt-check vet check-generated $(AXE)
	@$(GO) mod verify >/dev/null
	CGO_ENABLED=0 $(GO) build ./...
	CGO_ENABLED=0 $(GO) vet ./...
	$(GO) test -race -count=1 $$($(GO) list ./... | grep -v -e '/device/reader/pcsc' -e '/device/station$$' -e '/cmd/cardstop$$' -e '/device/panel/gpiosim$$' -e '/device/systemd/nspawn$$')
	@$(MAKE) --no-print-directory test-pcsc
	@$(MAKE) --no-print-directory test-gpiosim
	@$(MAKE) --no-print-directory test-cross
	@$(MAKE) --no-print-directory test-deb
	@$(MAKE) --no-print-directory test-systemd

# test-pcsc runs the PC/SC tests against a real pcscd: a running one is
# reused (and never stopped); otherwise one is started, its PID recorded in
# $(PCSCD_DIR)/pcscd.pid for the tests that restart it, and stopped after.
test-pcsc: deps
	@mkdir -p $(PCSCD_DIR); pidfile=$(PCSCD_DIR)/pcscd.pid; started=; rm -f $$pidfile; \
	if pgrep -x pcscd >/dev/null; then \
		echo "using the pcscd that is running"; \
	else \
		setsid /usr/sbin/pcscd --foreground >> $(PCSCD_DIR)/pcscd.log 2>&1 & echo $$! > $$pidfile; started=1; \
		echo "started pcscd $$(cat $$pidfile) (log: $(PCSCD_DIR)/pcscd.log)"; \
	fi; \
	trap 'if [ -n "$$started" ] && [ -s $$pidfile ]; then kill -TERM $$(cat $$pidfile) 2>/dev/null || true; rm -f $$pidfile; fi' EXIT; \
	CARDSTOP_PCSCD_PIDFILE=$${started:+$$pidfile} $(GO) test -race -count=1 -p 1 $(PCSC_PKGS) && \
	CARDSTOP_PCSCD_PIDFILE=$${started:+$$pidfile} $(MAKE) --no-print-directory test-cross-pcsc

# test-gpiosim boots a small Linux with the gpio-sim driver under qemu (TCG)
# and runs `cardstop serve --panel gpio` on its lines: the LEDs in each
# state, the button, busy and missing lines, a crash (device/panel/gpiosim).
# gpiosim-kernel builds that kernel from Debian's linux-source once (about
# 6 CPU-minutes) into $(GPIOSIM_CACHE)/<hash of the config and the source
# version>/bzImage; later runs reuse it.
GPIOSIM_CACHE ?= $(HOME)/.cache/cardstop/gpiosim
GPIOSIM_BUILD := CACHE=$(GPIOSIM_CACHE) device/panel/gpiosim/testdata/build-kernel.sh

gpiosim-kernel: deps
	@$(GPIOSIM_BUILD) >/dev/null

test-gpiosim: deps
	@kernel=$$($(GPIOSIM_BUILD)) && \
	CARDSTOP_GPIOSIM_KERNEL=$$kernel $(GO) test -count=1 -timeout 30m ./device/panel/gpiosim/

# fuzz runs every fuzz target in turn; their seed corpora also run in `make test`.
fuzz: deps
	@set -e; for pkg in $$($(GO) list ./...); do \
		for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
			echo "fuzz $$pkg $$f ($(FUZZTIME))"; \
			$(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg; \
		done; \
	done

clean:
	rm -rf bin

include buildroot/firmware.mk
