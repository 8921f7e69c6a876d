package filesystem

import (
	"os"

	"golang.org/x/sys/unix"
)

// startWriteback asks the kernel to start writing n bytes of f at off to
// the disk without waiting for them, so that a long write reaches the disk
// while it is still being received and the fsync of its Commit has little
// left to do (sync_file_range(2) with SYNC_FILE_RANGE_WRITE: no durability,
// which only the fsync gives). A failure is of no consequence.
func startWriteback(f *os.File, off, n int64) {
	rc, err := f.SyscallConn()
	if err != nil {
		return
	}
	_ = rc.Control(func(fd uintptr) {
		_ = unix.SyncFileRange(int(fd), off, n, unix.SYNC_FILE_RANGE_WRITE)
	})
}
