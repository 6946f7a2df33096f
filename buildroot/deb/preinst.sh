#!/bin/sh
# Creates the service's own user before the files arrive, in the gpio group
# of the GPIO character devices (the LEDs and the button). The unit names
# that group in SupplementaryGroups=, and systemd refuses to start a unit
# whose group does not exist, so it is made where the system has none
# (Raspberry Pi OS has one; Debian on a PC does not). An existing cardstop
# user is added to it; where that fails (a group only in NSS, say) the unit
# still grants the group to the service, so it is a warning, not an error.
set -e
if [ "$1" = install ] || [ "$1" = upgrade ]; then
	getent group gpio >/dev/null || groupadd --system gpio
	if ! getent passwd cardstop >/dev/null; then
		useradd --system --user-group --home-dir /nonexistent --no-create-home \
			--shell /usr/sbin/nologin --groups gpio cardstop
	elif ! id -nG cardstop | tr ' ' '\n' | grep -qx gpio; then
		usermod --append --groups gpio cardstop ||
			echo "cardstop: could not add the user cardstop to the group gpio; the service gets it from its unit" >&2
	fi
fi
