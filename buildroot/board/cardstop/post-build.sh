#!/bin/sh
#
# Buildroot post-build script (BR2_ROOTFS_POST_BUILD_SCRIPT), run with the
# target directory as $1 after packages and the rootfs overlay are in place,
# on every build. Each edit is idempotent. /etc/inittab and /etc/fstab are
# edited here rather than overlaid: Buildroot edits them itself earlier
# (getty, read-only root) and an overlaid copy would lose those edits.
#
# Root stays locked (# BR2_TARGET_ENABLE_ROOT_LOGIN is not set): nobody can
# log in on a console. /etc/issue (overlay) says how the first admin is made.

set -eu

TARGET="${1:?usage: $0 TARGET_DIR}"
INITTAB="$TARGET/etc/inittab"
FSTAB="$TARGET/etc/fstab"
MDEV_CONF="$TARGET/etc/mdev.conf"
SHADOW="$TARGET/etc/shadow"
BOARD_DIR="$(dirname "$0")"

# /data: the third partition of the disk the station booted from (SD card
# or USB drive), named by its PARTUUID: the disk signature of genimage.cfg.in
# and the partition number. Checked with e2fsck -p and mounted by
# /etc/init.d/S00data (noauto: "mount -a" does not check file systems, and
# BusyBox mount cannot resolve PARTUUID=; S00data does). errors=remount-ro:
# after a failed write the card is only read until the next boot checks it,
# rather than written on after an unknown loss. An older /data line (another
# signature, or a fixed device name from an earlier build) is replaced.
sig="$("$BOARD_DIR/disk-signature.sh")"
mkdir -p "$TARGET/data"
data_line="$(printf 'PARTUUID=%s-03\t/data\t\text4\tnoauto,noatime,nodev,nosuid,noexec,errors=remount-ro\t0\t0' "$sig")"
if ! grep -qxF "$data_line" "$FSTAB"; then
	sed -i '/^[^#[:space:]]*[[:space:]]\{1,\}\/data[[:space:]]/d' "$FSTAB"
	printf '%s\n' "$data_line" >> "$FSTAB"
fi

# A getty on the HDMI console (tty1) too, next to the serial one: both show
# /etc/issue (how to make the first admin); neither can log anyone in.
if ! grep -q '^tty1::' "$INITTAB"; then
	sed -i '/GENERIC_SERIAL/a\
tty1::respawn:/sbin/getty -L  tty1 0 vt100 # HDMI console' "$INITTAB"
fi

# The cardstop service, started again by init whenever it ends. respawn
# entries start after the sysinit ones (rcS), so after /data and pcscd.
if ! grep -q '^::respawn:/usr/libexec/cardstop-respawn$' "$INITTAB"; then
	printf '\n# The cardstop service (stop it with /etc/init.d/S99cardstop stop)\n::respawn:/usr/libexec/cardstop-respawn\n' >> "$INITTAB"
fi

# The group gpio may open the GPIO character devices. mdev applies the first
# rule that matches a device, so the rule goes first; the command repeats the
# owner and mode for device nodes devtmpfs made before mdev ran.
if [ -f "$MDEV_CONF" ] && ! grep -q '^gpiochip' "$MDEV_CONF"; then
	# shellcheck disable=SC2016 # $MDEV is for mdev to expand
	sed -i '1i\
# Cardstop: the GPIO lines of the LEDs and the button, for the group gpio\
gpiochip[0-9]+\troot:gpio 660 @chgrp gpio $MDEV && chmod 660 $MDEV' "$MDEV_CONF"
fi

# No password login: root is locked, whatever an older build set.
sed -i 's|^root:[^:]*:|root:*:|' "$SHADOW"
