package storage

import "syscall"

// dropMapped unmaps size bytes of the mapping at addr from the process
// (madvise MADV_DONTNEED). For a shared file mapping that discards
// nothing: the pages stay in the page cache and are mapped again when
// read. A failure costs only memory, so it is not reported.
func dropMapped(addr uintptr, size int64) {
	_, _, _ = syscall.Syscall(syscall.SYS_MADVISE, addr, uintptr(size), syscall.MADV_DONTNEED)
}
