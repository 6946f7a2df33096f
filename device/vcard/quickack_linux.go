package vcard

import "syscall"

const tcpQuickAck = syscall.TCP_QUICKACK
