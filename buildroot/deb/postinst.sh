#!/bin/sh
# Enables the service and starts it (restarts it after an upgrade), as
# debhelper's dh_installsystemd snippets do: deb-systemd-helper records the
# enablement so that purge can undo it and a local `systemctl disable`
# survives upgrades; deb-systemd-invoke honours policy-rc.d (nothing starts
# in a chroot being built). Both come with init-system-helpers (essential
# on Debian); where they are missing the service is left as it is, with a
# note. The service has no credential until the first admin token or user
# is made with the CLI (see the README).
set -e
unit=cardstop.service
case "$1" in
configure | abort-upgrade | abort-deconfigure | abort-remove)
	if command -v deb-systemd-helper >/dev/null; then
		# was-enabled is true on a first installation, so it enables.
		if deb-systemd-helper --quiet was-enabled "$unit"; then
			deb-systemd-helper enable "$unit" >/dev/null || true
		else
			deb-systemd-helper update-state "$unit" >/dev/null || true
		fi
	else
		echo "cardstop: deb-systemd-helper is missing; enable $unit yourself" >&2
	fi
	if [ -d /run/systemd/system ]; then
		systemctl --system daemon-reload >/dev/null || true
		if command -v deb-systemd-invoke >/dev/null; then
			if [ -n "$2" ]; then action=restart; else action=start; fi
			deb-systemd-invoke "$action" "$unit" >/dev/null || true
		else
			echo "cardstop: deb-systemd-invoke is missing; start $unit yourself" >&2
		fi
	fi
	;;
esac
