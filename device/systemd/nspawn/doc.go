// Package nspawn tests the .deb as it is really installed: in a Debian
// booted by systemd in a container (systemd-nspawn --boot), the unit with
// all its hardening, seen from outside over the container's own network.
// Its test runs with `make test-systemd` (part of `make test`), which
// builds the container's root file system once and caches it.
package nspawn
