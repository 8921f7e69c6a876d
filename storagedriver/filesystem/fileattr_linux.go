package filesystem

import (
	"errors"
	"os"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/berth-registry/berth/storagedriver"
)

// stateAttr is the extended attribute in which a pending write keeps its
// writer's state (storagedriver.StateKeeper): it goes with the file through
// every rename, so it needs no file of its own.
const stateAttr = "user.berth.state"

// setState records b as f's stateAttr; an error where the filesystem keeps
// no user attributes (ENOTSUP), and the caller keeps its state elsewhere.
func setState(f *os.File, b []byte) error {
	return fdCall(f, func(fd int) error { return unix.Fsetxattr(fd, stateAttr, b, 0) })
}

// readState is f's stateAttr, or nil when it has none.
func readState(f *os.File) []byte {
	var b []byte
	_ = fdCall(f, func(fd int) error {
		buf := make([]byte, storagedriver.MaxState)
		n, err := unix.Fgetxattr(fd, stateAttr, buf)
		if err == nil {
			b = buf[:n]
		}
		return err
	})
	return b
}

// clearState removes f's stateAttr, so that the committed file does not
// carry it (on ext4 a value this size may take a block of its own).
func clearState(f *os.File) {
	_ = fdCall(f, func(fd int) error { return unix.Fremovexattr(fd, stateAttr) })
}

func fdCall(f *os.File, fn func(fd int) error) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var ferr error
	if err := rc.Control(func(fd uintptr) { ferr = fn(int(fd)) }); err != nil {
		return err
	}
	return ferr
}

// rename is os.Rename without its Lstat of newpath (os.Rename looks for a
// directory there first): rename(2) alone fails onto a directory too
// (EISDIR), and the writer renames on every Close and resume, as every
// small write does to show its file.
func rename(oldpath, newpath string) error {
	for {
		err := unix.Rename(oldpath, newpath)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return &os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: err}
		}
		return nil
	}
}

// touch sets f's access and modification times to t through its
// descriptor (futimens: utimensat with no path), where os.Chtimes of its
// name walks the path again; name is for the error.
func touch(f *os.File, name string, t time.Time) error {
	ts := [2]unix.Timespec{unix.NsecToTimespec(t.UnixNano()), unix.NsecToTimespec(t.UnixNano())}
	err := fdCall(f, func(fd int) error {
		return retryEINTR(func() error {
			_, _, e := unix.Syscall6(unix.SYS_UTIMENSAT, uintptr(fd), 0, uintptr(unsafe.Pointer(&ts[0])), 0, 0, 0)
			if e != 0 {
				return e
			}
			return nil
		})
	})
	if err != nil {
		return &os.PathError{Op: "chtimes", Path: name, Err: err}
	}
	return nil
}
