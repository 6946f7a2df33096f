#!/bin/bash
#
# Buildroot post-image script (BR2_ROOTFS_POST_IMAGE_SCRIPT): writes
# genimage.cfg from genimage.cfg.in with the board's boot files (firmware,
# device trees, overlays, kernel), puts the root's PARTUUID into cmdline.txt
# and makes sdcard.img with genimage.
# Environment from Buildroot: BINARIES_DIR, BUILD_DIR.

set -euo pipefail

BOARD_DIR="$(dirname "$0")"
GENIMAGE_CFG="${BINARIES_DIR}/genimage.cfg"
GENIMAGE_TMP="${BUILD_DIR}/genimage.tmp"

files=()
for f in "${BINARIES_DIR}"/*.dtb "${BINARIES_DIR}"/rpi-firmware/*; do
	[ -e "$f" ] || continue
	files+=("${f#"${BINARIES_DIR}"/}")
done
kernel=$(sed -n 's/^kernel=//p' "${BINARIES_DIR}/rpi-firmware/config.txt")
if [ -z "$kernel" ] || [ ! -e "${BINARIES_DIR}/${kernel}" ]; then
	echo "post-image.sh: no kernel= line in config.txt, or ${kernel} is missing" >&2
	exit 1
fi
files+=("$kernel")

# root=PARTUUID=<disk signature>-02: the same on an SD card and a USB drive.
# The signature's one place is genimage.cfg.in (disk-signature.sh reads it);
# cmdline.txt has @DISK_SIGNATURE@, or an older signature on a rebuild.
sig="$("${BOARD_DIR}/disk-signature.sh")"
cmdline="${BINARIES_DIR}/rpi-firmware/cmdline.txt"
sed -i -E "s/root=PARTUUID=(@DISK_SIGNATURE@|[0-9a-f]{8})-/root=PARTUUID=${sig}-/" "${cmdline}"
if ! grep -qE "(^| )root=PARTUUID=${sig}-02( |$)" "${cmdline}"; then
	echo "post-image.sh: ${cmdline} has no root=PARTUUID=${sig}-02" >&2
	exit 1
fi

boot_files=$(printf '\\t\\t\\t"%s",\\n' "${files[@]}")
sed "s|#BOOT_FILES#|${boot_files}|" "${BOARD_DIR}/genimage.cfg.in" > "${GENIMAGE_CFG}"

# An empty root path: the root file system image is already made, and
# genimage would copy the whole path for nothing.
rootpath_tmp="$(mktemp -d)"
trap 'rm -rf "${rootpath_tmp}"' EXIT
rm -rf "${GENIMAGE_TMP}"

genimage \
	--rootpath "${rootpath_tmp}" \
	--tmppath "${GENIMAGE_TMP}" \
	--inputpath "${BINARIES_DIR}" \
	--outputpath "${BINARIES_DIR}" \
	--config "${GENIMAGE_CFG}"
