//go:build unix

package watchfile

import (
	"io/fs"
	"syscall"
)

func inodeOf(fi fs.FileInfo) uint64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return uint64(st.Ino)
	}
	return 0
}

// ownerOf is the file's owner and group (uid<<32 | gid): a chown can make
// a file unreadable without changing its content, size or inode.
func ownerOf(fi fs.FileInfo) uint64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return uint64(st.Uid)<<32 | uint64(st.Gid)
	}
	return 0
}
