#!/bin/sh
#
# Buildroot post-build script (BR2_ROOTFS_POST_BUILD_SCRIPT), run with the
# target directory as $1 after packages and the rootfs overlay are in place,
# on every build. Each edit is idempotent. /etc/inittab and /etc/fstab are
# edited here rather than overlaid: Buildroot edits them itself earlier
# (getty, read-only root) and an overlaid copy would lose those edits.
#
# Environment: CARDSTOP_ROOT_PASSWORD_HASH, a crypt(3) hash ($6$..., $5$...,
# $y$...) set by `make image`, becomes root's password (console login).
# Without it root stays locked: the image then has no way to log in.

set -eu

TARGET="${1:?usage: $0 TARGET_DIR}"
INITTAB="$TARGET/etc/inittab"
FSTAB="$TARGET/etc/fstab"
MDEV_CONF="$TARGET/etc/mdev.conf"
SHADOW="$TARGET/etc/shadow"

# /data: the third partition, checked with e2fsck -p and mounted by
# /etc/init.d/S00data (noauto: "mount -a" does not check file systems).
# errors=remount-ro: after a failed write the card is only read until the
# next boot checks it, rather than written on after an unknown loss.
mkdir -p "$TARGET/data"
if ! grep -q '^/dev/mmcblk0p3[[:space:]]' "$FSTAB"; then
	printf '/dev/mmcblk0p3\t/data\t\text4\tnoauto,noatime,nodev,nosuid,noexec,errors=remount-ro\t0\t0\n' >> "$FSTAB"
fi

# A login on the HDMI console (tty1) too, next to the serial one.
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

# Root's password for the console, when make image provides one.
hash="${CARDSTOP_ROOT_PASSWORD_HASH:-}"
if [ -n "$hash" ]; then
	# shellcheck disable=SC2016 # the prefixes are literal
	case "$hash" in
		'$6$'*|'$5$'*|'$y$'*) ;;
		*)
			echo "post-build.sh: CARDSTOP_ROOT_PASSWORD_HASH is not a crypt(3) hash" >&2
			exit 1;;
	esac
	case "$hash" in
		*[!A-Za-z0-9./\$]*)
			echo "post-build.sh: CARDSTOP_ROOT_PASSWORD_HASH has unexpected characters" >&2
			exit 1;;
	esac
	sed -i "s|^root:[^:]*:|root:$hash:|" "$SHADOW"
else
	echo "post-build.sh: no CARDSTOP_ROOT_PASSWORD_HASH: root stays locked, nobody can log in" >&2
fi
