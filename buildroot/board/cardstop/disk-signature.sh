#!/bin/sh
#
# disk-signature.sh: print the image's MBR disk signature, as the eight
# lower-case hex digits that PARTUUIDs start with (e.g. ca4d5709 for
# PARTUUID=ca4d5709-02). The one place it is set is "disk-signature" in
# genimage.cfg.in, next to this script; post-build.sh (fstab) and
# post-image.sh (cmdline.txt) both read it through this script.

set -eu

cfg="$(dirname "$0")/genimage.cfg.in"
sig="$(sed -n 's/^[[:space:]]*disk-signature[[:space:]]*=[[:space:]]*0x\([0-9A-Fa-f]\{8\}\)[[:space:]]*$/\1/p' "$cfg")"
if [ -z "$sig" ] || [ "$(printf '%s\n' "$sig" | wc -l)" -ne 1 ]; then
	echo "disk-signature.sh: $cfg needs exactly one line disk-signature = 0x<8 hex digits>" >&2
	exit 1
fi
printf '%s\n' "$sig" | tr 'A-F' 'a-f'
