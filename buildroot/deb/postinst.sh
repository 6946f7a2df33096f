#!/bin/sh
# Enables and (re)starts the service; it has no credential until the first
# admin token or user is made with the CLI (see the README).
set -e
if [ "$1" = configure ] && [ -d /run/systemd/system ]; then
	systemctl daemon-reload
	systemctl enable cardstop.service >/dev/null
	systemctl restart cardstop.service
fi
