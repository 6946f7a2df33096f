#!/bin/bash
#
# check-buildroot.sh BUILDROOT_DIR
#
# The offline checks of the BR2_EXTERNAL tree (buildroot/) against a Buildroot
# source tree, for every defconfig in buildroot/configs. Run by
# `make check-buildroot BUILDROOT=<dir>`, which installs the host packages
# first. Nothing is downloaded: where unshare(1) can, the Buildroot steps run
# in a network namespace without any network. Outputs go to a temporary
# directory (removed at the end); BUILDROOT_DIR is not written to.
#
# Checks, in order:
#   1. utils/check-package on every file of the BR2_EXTERNAL tree
#      (shellcheck included);
#   2. every BR2_ symbol used in Config.in, the .mk files and the defconfigs
#      is defined somewhere (kconfig drops unknown ones silently);
# and for each defconfig:
#   3. it loads (make <name>_defconfig);
#   4. savedefconfig gives it back unchanged (catches dropped symbols, unmet
#      dependencies, redundant lines);
#   5. the symbols the firmware needs are in .config, and no vsmartcard/vpcd;
#   6. printvars: CARDSTOP_GOMOD is go.mod's module, Buildroot's Go is at
#      least go.mod's go line, the package depends on pcsc-lite and
#      host-pkgconf, and the version is stamped into the binary;
#   7. the rsync of the local source: vendor/modules.txt is copied, the
#      buildroot/, output/, bin/ and var/ directories are not;
#   8. post-build.sh on a fake target: the fstab (PARTUUID), inittab,
#      mdev.conf and shadow (root locked) edits, twice (idempotent); mkusers
#      accepts the users table;
#   9. post-image.sh with dummy boot files and Debian's genimage: three
#      partitions aligned to 4 MiB, the disk signature (also as S00data reads
#      it), the data file system, root=PARTUUID= in cmdline.txt;
#  10. list-defconfigs shows it.
# And once: the kernel fragment (watchdog built in, no USB HID), panic=10 and
# PARTUUID roots in every cmdline*.txt, no fixed /dev/mmcblk0pN anywhere; a
# host `go build` of cmd/cardstop with Buildroot's Go settings
# (-mod=vendor, GOPROXY=off, GOTOOLCHAIN=local, cgo).
#
# Environment: GO (default go), BUILDROOT_VERSION (the pinned release; a
# different Buildroot only gives a warning).

set -euo pipefail

die() {
	echo "check-buildroot: FAIL: $*" >&2
	exit 1
}

[ "$#" -eq 1 ] || die "usage: $0 BUILDROOT_DIR"
if [ ! -f "$1/Makefile" ] || [ ! -x "$1/utils/check-package" ]; then
	die "$1 is not a Buildroot source tree"
fi

BR="$(cd "$1" && pwd)"
REPO="$(cd "$(dirname "$0")/../.." && pwd)"
EXT="$REPO/buildroot"
# What Buildroot reads of the tree, and the scripts that belong with it.
EXT_PARTS=("$EXT/external.desc" "$EXT/external.mk" "$EXT/Config.in"
	"$EXT/buildroot.hash" "$EXT/configs" "$EXT/package" "$EXT/board" "$EXT/scripts")
GO="${GO:-go}"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/cardstop-check-buildroot.XXXXXX")"
CREATED_VENDOR=

cleanup() {
	rm -rf "$WORK"
	if [ -n "$CREATED_VENDOR" ]; then
		rm -rf "$REPO/vendor"
	fi
}
trap cleanup EXIT

# Debian's Python, which has the magic and flake8 modules check-package needs
# (a python3 earlier in PATH, e.g. from pyenv, may lack them).
PYTHON=python3
[ -x /usr/bin/python3 ] && PYTHON=/usr/bin/python3

# offline CMD...: run CMD without any network where a namespace can be made.
if unshare -n true 2>/dev/null; then
	offline() { unshare -n "$@"; }
	echo "Buildroot steps run without network (unshare -n)"
else
	offline() { "$@"; }
	echo "unshare -n is not available: Buildroot steps run with the network (they download nothing)"
fi

now() { date +%s.%N; }
took() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f s", b - a }'; }

br_version="$(sed -n 's/^export BR2_VERSION := *//p' "$BR/Makefile")"
echo "Buildroot $br_version in $BR"
if [ -n "${BUILDROOT_VERSION:-}" ] && [ "$br_version" != "$BUILDROOT_VERSION" ]; then
	echo "WARNING: the firmware is pinned to Buildroot $BUILDROOT_VERSION, not $br_version" >&2
fi

gomod_module="$(sed -n 's/^module[[:space:]]\+//p' "$REPO/go.mod")"
gomod_go="$(sed -n 's/^go[[:space:]]\+//p' "$REPO/go.mod")"

# vendor/ is what Buildroot builds from (-mod=vendor). Made here when missing
# and removed again at the end, as `make image` does.
if [ ! -f "$REPO/vendor/modules.txt" ]; then
	echo "== go mod vendor (removed again at the end)"
	CREATED_VENDOR=1
	(cd "$REPO" && "$GO" mod vendor)
fi

# ---------------------------------------------------------------------------
t0=$(now)
echo "== 1. check-package"
(
	cd "$REPO"
	# The BR2_EXTERNAL tree only: firmware.mk is a fragment of the top-level
	# Makefile (check-package's .mk rules do not apply to it), and other
	# directories under buildroot/ are not Buildroot's.
	mapfile -t files < <(find "${EXT_PARTS[@]#"$REPO"/}" -type f ! -name '*.md' | sort)
	"$PYTHON" "$BR/utils/check-package" -b "${files[@]}"
) || die "check-package found problems (above)"
echo "   ok ($(took "$t0"))"

# ---------------------------------------------------------------------------
t0=$(now)
echo "== 2. BR2_ symbols used but not defined"
grep -rhoE '^[[:space:]]*(menu)?config[[:space:]]+BR2_[A-Za-z0-9_]+' \
	--include='Config.in*' "$BR" "$EXT" |
	awk '{ print $2 }' | sort -u > "$WORK/defined"
find "${EXT_PARTS[@]}" \( -name 'Config.in' -o -name '*.mk' -o -name '*_defconfig' \) \
	-type f -print0 |
	xargs -0 grep -ohE 'BR2_[A-Za-z0-9_]+' |
	grep -v '^BR2_EXTERNAL' | sort -u > "$WORK/used"
undefined="$(comm -23 "$WORK/used" "$WORK/defined")"
[ -z "$undefined" ] || die "used but defined nowhere: $(echo "$undefined" | tr '\n' ' ')"
echo "   ok: $(wc -l < "$WORK/used") symbols used, all defined ($(took "$t0"))"

# ---------------------------------------------------------------------------
t0=$(now)
echo "== kernel fragment, command lines, PARTUUID"
SIG="$("$EXT/board/cardstop/disk-signature.sh")" || die "no disk signature in genimage.cfg.in"
frag="$EXT/board/cardstop/linux.fragment"
for line in CONFIG_WATCHDOG=y CONFIG_BCM2835_WDT=y '# CONFIG_USB_HID is not set'; do
	grep -qxF -- "$line" "$frag" || die "linux.fragment lacks: $line"
done
for f in "$EXT"/board/cardstop/cmdline*.txt; do
	[ "$(wc -l < "$f")" = 1 ] || die "$f must be one line"
	for w in root=PARTUUID=@DISK_SIGNATURE@-02 rootwait ro panic=10 oops=panic; do
		tr ' ' '\n' < "$f" | grep -qxF -- "$w" || die "$f lacks $w"
	done
done
if grep -rn 'mmcblk0p[0-9]' "$EXT/board" "$EXT/package" "$EXT/configs"; then
	die "a fixed /dev/mmcblk0pN (above): use PARTUUID=$SIG-NN (disk-signature.sh)"
fi
echo "   ok: watchdog built in, no USB HID, panic=10, root=PARTUUID=$SIG-02 ($(took "$t0"))"

# ---------------------------------------------------------------------------
# The host's cgo/pkg-config and the Go flags Buildroot uses, once.
t0=$(now)
echo "== host go build with Buildroot's Go settings"
(
	cd "$REPO"
	env GO111MODULE=on GOFLAGS=-mod=vendor GOPROXY=off GOTOOLCHAIN=local \
		CGO_ENABLED=1 GOWORK=off \
		"$GO" build -trimpath -buildvcs=false -o /dev/null \
		"$gomod_module/cmd/cardstop"
) || die "go build as Buildroot runs it failed"
echo "   ok ($(took "$t0"))"

# ---------------------------------------------------------------------------
# Files for the post-build and post-image runs.
make_fake_target() {
	local target="$1"
	mkdir -p "$target/etc"
	cp "$BR/package/skeleton-init-sysv/skeleton/etc/fstab" "$target/etc/fstab"
	cp "$BR/package/busybox/mdev.conf" "$target/etc/mdev.conf"
	cp "$BR/system/skeleton/etc/passwd" "$BR/system/skeleton/etc/group" \
		"$BR/system/skeleton/etc/shadow" "$target/etc/"
	# Buildroot's inittab after its own finalize edits: a getty on the
	# console, and (read-only root) the remount line commented out.
	sed -e 's~^#.*# GENERIC_SERIAL$~console::respawn:/sbin/getty -L  console 0 vt100 # GENERIC_SERIAL~' \
		-e '/^[^#].*-o remount,rw \/$/s~^~#~' \
		"$BR/package/busybox/inittab" > "$target/etc/inittab"
	grep -q '^#::sysinit:/bin/mount -o remount,rw /$' "$target/etc/inittab" ||
		die "could not prepare a read-only inittab from $BR/package/busybox/inittab"
	# Root locked, as with "# BR2_TARGET_ENABLE_ROOT_LOGIN is not set".
	sed -i 's/^root:[^:]*:/root:*:/' "$target/etc/shadow"
}

count() { grep -c -- "$1" "$2" || true; }

check_post_build() {
	local out="$1" target="$WORK/target" hash
	rm -rf "$target" "$target.first"
	make_fake_target "$target"
	# An earlier build's fstab line and root password: both must go.
	printf '/dev/mmcblk0p3\t/data\t\text4\tnoauto\t0\t0\n' >> "$target/etc/fstab"
	hash="$(printf 'not-a-real-password' | openssl passwd -6 -stdin)"
	sed -i "s|^root:[^:]*:|root:$hash:|" "$target/etc/shadow"

	"$EXT/board/cardstop/post-build.sh" "$target" || die "post-build.sh failed"
	cp -a "$target" "$target.first"
	"$EXT/board/cardstop/post-build.sh" "$target" ||
		die "post-build.sh failed on its second run"
	diff -r "$target.first" "$target" > /dev/null ||
		die "post-build.sh is not idempotent: $(diff -r "$target.first" "$target")"

	[ -d "$target/data" ] || die "post-build.sh: no /data mount point"
	[ "$(count '[[:space:]]/data[[:space:]]' "$target/etc/fstab")" = 1 ] ||
		die "post-build.sh: fstab needs exactly one /data line: $(grep /data "$target/etc/fstab")"
	[ "$(count "^PARTUUID=$SIG-03[[:space:]]\+/data[[:space:]]\+ext4[[:space:]]\+noauto," "$target/etc/fstab")" = 1 ] ||
		die "post-build.sh: fstab needs PARTUUID=$SIG-03 on /data, noauto"
	[ "$(count '^::respawn:/usr/libexec/cardstop-respawn$' "$target/etc/inittab")" = 1 ] ||
		die "post-build.sh: inittab needs one respawn line for cardstop"
	[ "$(count '^tty1::respawn:' "$target/etc/inittab")" = 1 ] ||
		die "post-build.sh: inittab needs one getty on tty1"
	grep -q '^#::sysinit:/bin/mount -o remount,rw /$' "$target/etc/inittab" ||
		die "post-build.sh: the root must stay read-only"
	[ "$(grep -v '^#' "$target/etc/mdev.conf" | grep -v '^$' | head -n 1 | cut -f 1)" = 'gpiochip[0-9]+' ] ||
		die "post-build.sh: the gpiochip rule must be mdev.conf's first rule"
	# shellcheck disable=SC2016 # $MDEV is literal in mdev.conf
	printf 'gpiochip[0-9]+\troot:gpio 660 @chgrp gpio $MDEV && chmod 660 $MDEV\n' |
		grep -qxFf - "$target/etc/mdev.conf" ||
		die "post-build.sh: unexpected gpiochip rule in mdev.conf"
	[ "$(awk -F: '$1 == "root" { print $2 }' "$target/etc/shadow")" = '*' ] ||
		die "post-build.sh: root must be locked (no password login)"

	# mkusers (run by Buildroot when it makes the root file system) with our
	# table and chrony's user, as the package declares it.
	{
		cat "$EXT/board/cardstop/users.table"
		echo 'chrony -1 chrony -1 * /run/chrony - - Time daemon'
	} > "$WORK/users.txt"
	BR2_CONFIG="$out/.config" "$BR/support/scripts/mkusers" "$WORK/users.txt" "$target" > /dev/null ||
		die "mkusers rejected board/cardstop/users.table"
	grep -qx 'cardstop:x:990:990:Cardstop service:/:/bin/false' "$target/etc/passwd" ||
		die "mkusers: unexpected cardstop user: $(grep '^cardstop:' "$target/etc/passwd")"
	grep -qx 'gpio:x:991:cardstop' "$target/etc/group" ||
		die "mkusers: unexpected gpio group: $(grep '^gpio:' "$target/etc/group")"
	grep -q '^cardstop:\*:' "$target/etc/shadow" || die "mkusers: cardstop must not have a password"
}

check_post_image() {
	local out="$1" name="$2" bin="$WORK/images-$2" cfg sd data_start data_size dts
	rm -rf "$bin" "$WORK/build"
	mkdir -p "$bin/rpi-firmware/overlays" "$WORK/build" "$WORK/rootfs/etc"
	cfg="$(sed -n 's/^BR2_PACKAGE_RPI_FIRMWARE_CONFIG_FILE="\(.*\)"$/\1/p' "$out/.config")"
	cfg="${cfg//\$(BR2_EXTERNAL_CARDSTOP_PATH)/$EXT}"
	cp "$cfg" "$bin/rpi-firmware/config.txt"
	cmdline="$(sed -n 's/^BR2_PACKAGE_RPI_FIRMWARE_CMDLINE_FILE="\(.*\)"$/\1/p' "$out/.config")"
	cmdline="${cmdline//\$(BR2_EXTERNAL_CARDSTOP_PATH)/$EXT}"
	cp "$cmdline" "$bin/rpi-firmware/cmdline.txt"
	sed -n 's/^start_file=//p; s/^fixup_file=//p; s/^dtoverlay=\(.*\)/overlays\/\1.dtbo/p' "$cfg" |
		while read -r f; do
			head -c 4096 /dev/urandom > "$bin/rpi-firmware/$f"
		done
	if grep -q '^dtoverlay=' "$cfg" && ! grep -qx 'BR2_PACKAGE_RPI_FIRMWARE_INSTALL_DTB_OVERLAYS=y' "$out/.config"; then
		die "$cfg loads an overlay but the defconfig does not install overlays"
	fi
	if grep -qx 'BR2_PACKAGE_RPI_FIRMWARE_BOOTCODE_BIN=y' "$out/.config"; then
		head -c 4096 /dev/urandom > "$bin/rpi-firmware/bootcode.bin"
	fi
	read -r -a dts <<< "$(sed -n 's/^BR2_LINUX_KERNEL_INTREE_DTS_NAME="\(.*\)"$/\1/p' "$out/.config")"
	for d in "${dts[@]}"; do
		head -c 4096 /dev/urandom > "$bin/$(basename "$d").dtb"
	done
	head -c 1048576 /dev/urandom > "$bin/Image"
	mke2fs -q -t ext4 -d "$WORK/rootfs" "$bin/rootfs.ext4" 16M > /dev/null

	BINARIES_DIR="$bin" BUILD_DIR="$WORK/build" "$EXT/board/cardstop/post-image.sh" "$bin" \
		> "$WORK/genimage.log" 2>&1 ||
		die "post-image.sh failed: $(tail -n 20 "$WORK/genimage.log")"
	sd="$bin/sdcard.img"
	[ -f "$sd" ] || die "post-image.sh made no sdcard.img"
	grep -q '"Image"' "$bin/genimage.cfg" || die "genimage.cfg lacks the kernel"
	if grep -q '^dtoverlay=' "$cfg"; then
		grep -q '"rpi-firmware/overlays"' "$bin/genimage.cfg" || die "genimage.cfg lacks the overlays"
	fi
	grep -qE "(^| )root=PARTUUID=$SIG-02( |\$)" "$bin/rpi-firmware/cmdline.txt" ||
		die "post-image.sh: cmdline.txt has no root=PARTUUID=$SIG-02: $(cat "$bin/rpi-firmware/cmdline.txt")"
	# The signature as S00data reads it from the disk (od on a little-endian
	# host, as the Pi is).
	[ "$(dd if="$sd" bs=1 skip=440 count=4 2>/dev/null | od -An -tx4 | tr -d ' \n')" = "$SIG" ] ||
		die "the image's MBR signature is not $SIG as S00data reads it"

	sfdisk --json "$sd" > "$WORK/parts.json"
	"$PYTHON" - "$WORK/parts.json" "$SIG" <<-'EOF' || die "unexpected partition table of sdcard.img (above)"
	import json, sys
	t = json.load(open(sys.argv[1]))["partitiontable"]
	p = t["partitions"]
	problems = []
	if t["label"] != "dos": problems.append("label %s" % t["label"])
	if t["id"].lower() != "0x" + sys.argv[2]: problems.append("disk id %s" % t["id"])
	if [x["type"] for x in p] != ["c", "83", "83"]: problems.append("types %s" % [x["type"] for x in p])
	if not p[0].get("bootable"): problems.append("boot partition not bootable")
	for x in p:
	    if (x["start"] * 512) % (4 << 20): problems.append("%s not aligned to 4 MiB" % x["node"])
	if p[2]["size"] * 512 != 512 << 20: problems.append("data partition is %d sectors" % p[2]["size"])
	for s in problems: print("  " + s)
	sys.exit(1 if problems else 0)
	EOF
	data_start="$("$PYTHON" -c 'import json,sys; print(json.load(open(sys.argv[1]))["partitiontable"]["partitions"][2]["start"])' "$WORK/parts.json")"
	data_size="$("$PYTHON" -c 'import json,sys; print(json.load(open(sys.argv[1]))["partitiontable"]["partitions"][2]["size"])' "$WORK/parts.json")"
	dd if="$sd" of="$WORK/data.ext4" bs=512 skip="$data_start" count="$data_size" status=none
	dumpe2fs -h "$WORK/data.ext4" 2> /dev/null | grep -q '^Filesystem volume name:[[:space:]]*cardstop-data$' ||
		die "the data partition is not the ext4 file system labelled cardstop-data"
	e2fsck -fn "$WORK/data.ext4" > /dev/null 2>&1 || die "e2fsck finds errors in the new data file system"
}

# ---------------------------------------------------------------------------
required=(
	BR2_PACKAGE_CARDSTOP=y
	BR2_PACKAGE_PCSC_LITE=y
	BR2_PACKAGE_CCID=y
	BR2_PACKAGE_LIBUSB=y
	BR2_PACKAGE_HOST_GO=y
	BR2_PACKAGE_HOST_GO_BIN=y
	BR2_PACKAGE_HOST_GO_TARGET_CGO_LINKING_SUPPORTS=y
	BR2_PACKAGE_CHRONY=y
	BR2_PACKAGE_E2FSPROGS=y
	BR2_PACKAGE_E2FSPROGS_FSCK=y
	BR2_INIT_BUSYBOX=y
	BR2_ROOTFS_DEVICE_CREATION_DYNAMIC_MDEV=y
	BR2_TOOLCHAIN_EXTERNAL_BOOTLIN=y
	BR2_TOOLCHAIN_USES_GLIBC=y
	BR2_DOWNLOAD_FORCE_CHECK_HASHES=y
	BR2_TARGET_ROOTFS_EXT2_4=y
	BR2_PACKAGE_HOST_GENIMAGE=y
	BR2_PACKAGE_HOST_DOSFSTOOLS=y
	BR2_PACKAGE_HOST_MTOOLS=y
	'# BR2_TARGET_GENERIC_REMOUNT_ROOTFS_RW is not set'
	'# BR2_TARGET_ENABLE_ROOT_LOGIN is not set'
	BR2_SHARED_LIBS=y
	'BR2_TARGET_GENERIC_ISSUE=""'
)

mapfile -t defconfigs < <(cd "$EXT/configs" && ls -- *_defconfig)
[ "${#defconfigs[@]}" -gt 0 ] || die "no defconfigs in $EXT/configs"

for defconfig in "${defconfigs[@]}"; do
	name="${defconfig%_defconfig}"
	out="$WORK/$name"
	tstart=$(now)
	echo "== $defconfig"

	t0=$(now)
	offline make -s -C "$BR" BR2_EXTERNAL="$EXT" O="$out" BR2_DL_DIR="$WORK/dl" \
		"$defconfig" > "$WORK/defconfig.log" 2>&1 ||
		die "$defconfig does not load: $(cat "$WORK/defconfig.log")"
	echo "   3. loads ($(took "$t0"))"

	t0=$(now)
	offline make -s -C "$BR" O="$out" BR2_DL_DIR="$WORK/dl" \
		BR2_DEFCONFIG="$out/roundtrip_defconfig" savedefconfig > /dev/null
	diff -u "$EXT/configs/$defconfig" "$out/roundtrip_defconfig" ||
		die "$defconfig changes in a savedefconfig round trip (diff above): a symbol is unknown, its dependencies are not met, or the file is not normalised"
	echo "   4. savedefconfig round trip unchanged ($(took "$t0"))"

	for line in "${required[@]}"; do
		grep -qxF -- "$line" "$out/.config" || die "$defconfig: .config lacks: $line"
	done
	grep -qE '^BR2_LINUX_KERNEL_CONFIG_FRAGMENT_FILES=".*/board/cardstop/linux\.fragment"' "$out/.config" ||
		die "$defconfig: the kernel does not get board/cardstop/linux.fragment"
	if grep -qiE 'vsmartcard|vpcd' "$out/.config"; then
		die "$defconfig: vsmartcard/vpcd must never be in the image"
	fi
	echo "   5. ${#required[@]} required settings present, no vpcd"

	t0=$(now)
	offline make -s -C "$BR" O="$out" BR2_DL_DIR="$WORK/dl" printvars \
		VARS='CARDSTOP_GOMOD GO_VERSION CARDSTOP_DEPENDENCIES CARDSTOP_LDFLAGS CARDSTOP_BUILD_TARGETS CARDSTOP_SITE_METHOD CARDSTOP_VERSION' \
		> "$out/printvars"
	var() { sed -n "s/^$1=//p" "$out/printvars"; }
	[ "$(var CARDSTOP_GOMOD)" = "$gomod_module" ] ||
		die "CARDSTOP_GOMOD is '$(var CARDSTOP_GOMOD)', go.mod says '$gomod_module'"
	go_version="$(var GO_VERSION)"
	[ -n "$go_version" ] || die "no GO_VERSION from printvars"
	[ "$(printf '%s\n%s\n' "$gomod_go" "$go_version" | sort -V | head -n 1)" = "$gomod_go" ] ||
		die "go.mod needs Go $gomod_go, Buildroot has $go_version (GOTOOLCHAIN=local)"
	for dep in pcsc-lite host-pkgconf host-go; do
		[[ " $(var CARDSTOP_DEPENDENCIES) " == *" $dep "* ]] ||
			die "CARDSTOP_DEPENDENCIES lacks $dep: $(var CARDSTOP_DEPENDENCIES)"
	done
	[[ "$(var CARDSTOP_LDFLAGS)" == *"-X main.version=$(var CARDSTOP_VERSION)"* ]] ||
		die "the version is not stamped: CARDSTOP_LDFLAGS=$(var CARDSTOP_LDFLAGS)"
	[ "$(var CARDSTOP_BUILD_TARGETS)" = cmd/cardstop ] || die "CARDSTOP_BUILD_TARGETS is not cmd/cardstop"
	[ "$(var CARDSTOP_SITE_METHOD)" = local ] || die "CARDSTOP_SITE_METHOD is not local"
	if grep -q '^CARDSTOP_INSTALL_BINS' "$EXT/package/cardstop/cardstop.mk"; then
		die "cardstop.mk must not set CARDSTOP_INSTALL_BINS (an error from Buildroot 2025.11 on)"
	fi
	echo "   6. printvars: GOMOD $gomod_module, Go $go_version >= $gomod_go, version $(var CARDSTOP_VERSION) ($(took "$t0"))"

	t0=$(now)
	offline make -s -C "$BR" O="$out" BR2_DL_DIR="$WORK/dl" cardstop-dirclean cardstop-rsync \
		> "$WORK/rsync.log" 2>&1 || die "cardstop-rsync failed: $(tail -n 20 "$WORK/rsync.log")"
	builddir="$(find "$out/build" -maxdepth 1 -type d -name 'cardstop-*' | head -n 1)"
	[ -n "$builddir" ] || die "no build/cardstop-* after cardstop-rsync"
	[ -f "$builddir/vendor/modules.txt" ] || die "vendor/modules.txt was not copied to $builddir"
	[ -f "$builddir/go.mod" ] || die "go.mod was not copied to $builddir"
	for d in buildroot output bin var .git; do
		[ ! -e "$builddir/$d" ] || die "$d/ was copied into $builddir (rsync exclusions)"
	done
	echo "   7. rsync: vendor/ copied; buildroot/ output/ bin/ var/ .git/ left out ($(took "$t0"))"

	t0=$(now)
	check_post_build "$out"
	echo "   8. post-build.sh edits are right and idempotent; users table accepted ($(took "$t0"))"

	t0=$(now)
	check_post_image "$out" "$name"
	echo "   9. post-image.sh + genimage: 3 partitions on 4 MiB, disk id, data fs ($(took "$t0"))"

	offline make -s -C "$BR" BR2_EXTERNAL="$EXT" O="$out" list-defconfigs \
		> "$WORK/list-defconfigs" 2> /dev/null || die "list-defconfigs failed"
	grep -q "^  $defconfig " "$WORK/list-defconfigs" || die "list-defconfigs does not show $defconfig"
	echo "  10. listed by list-defconfigs"

	echo "   $defconfig: all checks pass ($(took "$tstart"))"
done

echo "check-buildroot: all checks pass for ${defconfigs[*]}"
