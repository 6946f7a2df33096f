#!/bin/sh
# Stops the service when the package is removed. On an upgrade it keeps
# running and the new postinst restarts it (dh_installsystemd's default).
set -e
if [ -z "${DPKG_ROOT:-}" ] && [ "$1" = remove ] && [ -d /run/systemd/system ] &&
	command -v deb-systemd-invoke >/dev/null; then
	deb-systemd-invoke stop cardstop.service >/dev/null || true
fi
