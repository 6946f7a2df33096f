#!/bin/bash
# Builds the gpio-sim test kernel from Debian's linux-source package, once:
# the bzImage is kept under $CACHE/<hash of the fragment and the source
# package's version>/ and its path printed on stdout. Progress goes to
# stderr, the build's output to build.log beside the kernel.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
kver=${KVER:-6.12}
src=/usr/src/linux-source-$kver.tar.xz
cache=${CACHE:-$HOME/.cache/cardstop/gpiosim}
[ -f "$src" ] || { echo "no $src: install linux-source-$kver" >&2; exit 1; }
version=$(dpkg-query -W -f='${Version}' "linux-source-$kver")
hash=$( { cat "$here/kernel.config"; echo "$kver $version"; } | sha256sum | cut -c1-16)
dir=$cache/$hash
if [ -s "$dir/bzImage" ]; then
	echo "$dir/bzImage"
	exit 0
fi
mkdir -p "$dir"
log=$dir/build.log
build=$(mktemp -d "$cache/build.XXXXXX")
trap 'rc=$?; rm -rf "$build"; [ $rc = 0 ] || { tail -30 "$log" >&2; echo "gpiosim: kernel build failed; see $log" >&2; }' EXIT
start=$(date +%s)
echo "gpiosim: building the test kernel (linux-source-$kver $version); log in $log" >&2
: > "$log"
step() { "$@" >> "$log" 2>&1; }
step tar -xJf "$src" -C "$build" --strip-components=1
cd "$build"
step make tinyconfig
step scripts/kconfig/merge_config.sh -m .config "$here/kernel.config"
step make olddefconfig
# Every line of the fragment must have survived olddefconfig (a missing
# dependency drops a symbol silently).
while read -r line; do
	case $line in CONFIG_*) grep -qx "$line" .config || { echo "not in .config: $line" >> "$log"; exit 1; } ;; esac
done < "$here/kernel.config"
step make -j"$(nproc)" bzImage
cp arch/x86/boot/bzImage "$dir/bzImage.tmp" && mv "$dir/bzImage.tmp" "$dir/bzImage"
echo "gpiosim: kernel built in $(( $(date +%s) - start )) s" >&2
echo "$dir/bzImage"
