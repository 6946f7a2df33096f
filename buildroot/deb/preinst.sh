#!/bin/sh
# Creates the service's own user before the files arrive.
set -e
if [ "$1" = install ] || [ "$1" = upgrade ]; then
	getent group gpio >/dev/null || groupadd --system gpio
	if ! getent passwd cardstop >/dev/null; then
		useradd --system --user-group --home-dir /nonexistent --no-create-home \
			--shell /usr/sbin/nologin --groups gpio cardstop
	fi
fi
