//go:build !linux

package vcard

// tcpQuickAck is Linux's TCP_QUICKACK; elsewhere setting it fails harmlessly.
const tcpQuickAck = 12
