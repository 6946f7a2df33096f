#!/bin/sh
set -e
if [ -d /run/systemd/system ]; then
	systemctl stop cardstop.service || true
	if [ "$1" = remove ]; then
		systemctl disable cardstop.service >/dev/null || true
	fi
fi
