#!/bin/sh
# After removal systemd forgets the unit; purge also removes the enablement
# deb-systemd-helper recorded.
#
# Purge keeps the data: /var/lib/cardstop (the service's StateDirectory)
# holds the site's card records, their audit chain and the TLS key, which
# no reinstall can bring back, so purge removes it only when it is empty and
# otherwise says where it is. The user and group cardstop stay too (Debian's
# practice: files elsewhere may still belong to them).
set -e
if [ "$1" = remove ] && [ -d /run/systemd/system ]; then
	systemctl --system daemon-reload >/dev/null || true
fi
if [ "$1" = purge ]; then
	if command -v deb-systemd-helper >/dev/null; then
		deb-systemd-helper purge cardstop.service >/dev/null || true
	fi
	if [ -d /var/lib/cardstop ] && ! rmdir /var/lib/cardstop 2>/dev/null; then
		echo "cardstop: kept /var/lib/cardstop: it holds the site's records; remove it yourself when they are no longer needed" >&2
	fi
fi
