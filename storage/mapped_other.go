//go:build !linux

package storage

// dropMapped leaves the mapping as it is: only Linux's madvise is known
// to drop a shared file mapping's pages without discarding them.
func dropMapped(addr uintptr, size int64) {}
