//go:build unix

package filesystem

import (
	"errors"
	"io/fs"
	"os"

	"golang.org/x/sys/unix"
)

// The small-file operations of every push (a directory's fsync, a record
// or link written whole, one read whole) go through the system calls
// directly: an *os.File costs each of them three to five more calls
// (fcntl to probe and set the non-blocking flag, and back before an
// fsync, and the poller's registration), about half of the calls a pushed
// image made.

// syncDir fsyncs directory dir, so that its entries are durable.
func syncDir(dir string) error {
	fd, err := openRetry(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return &fs.PathError{Op: "open", Path: dir, Err: err}
	}
	err = retryEINTR(func() error { return unix.Fsync(fd) })
	if cerr := unix.Close(fd); err == nil {
		err = cerr
	}
	if err != nil {
		return &fs.PathError{Op: "sync", Path: dir, Err: err}
	}
	return nil
}

// writeNew creates the file name, which must not exist (fs.ErrExist when
// it does), writes content to it and, when durable, fsyncs it. A file it
// created is removed again when it fails.
func writeNew(name string, content []byte, durable bool) error {
	fd, err := openRetry(name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_CLOEXEC, 0o666)
	if err != nil {
		return &fs.PathError{Op: "open", Path: name, Err: err}
	}
	for len(content) > 0 && err == nil {
		var n int
		if n, err = unix.Write(fd, content); err == nil {
			content = content[n:]
		} else if errors.Is(err, unix.EINTR) {
			err = nil
		}
	}
	if err == nil && durable {
		err = retryEINTR(func() error { return unix.Fsync(fd) })
	}
	if cerr := unix.Close(fd); err == nil {
		err = cerr
	}
	if err != nil {
		_ = unix.Unlink(name)
		return &fs.PathError{Op: "write", Path: name, Err: err}
	}
	return nil
}

// readWhole returns the content of the file name.
func readWhole(name string) ([]byte, error) {
	fd, err := openRetry(name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := retryEINTR(func() error { return unix.Fstat(fd, &st) }); err != nil {
		return nil, &fs.PathError{Op: "stat", Path: name, Err: err}
	}
	// One byte more than the size, so that a file that grew meanwhile
	// shows as a short buffer and the loop reads on.
	b := make([]byte, 0, max(st.Size, 0)+1)
	for {
		n, err := unix.Read(fd, b[len(b):cap(b)])
		switch {
		case errors.Is(err, unix.EINTR):
			continue
		case err != nil:
			return nil, &fs.PathError{Op: "read", Path: name, Err: err}
		case n == 0:
			return b, nil
		}
		b = b[:len(b)+n]
		if int64(len(b)) == st.Size && len(b) < cap(b) {
			// The size Fstat said, and not the byte more that a file
			// grown since would have given: no read more to see the end.
			return b, nil
		}
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
	}
}

// openFile is os.OpenFile without the poller. A regular file or a
// directory cannot be registered with epoll; os.OpenFile tries on Linux,
// which costs four calls more per open (fcntl to read and set the
// non-blocking flag, the refused epoll_ctl, fcntl to clear the flag),
// and os.NewFile costs one (fcntl to read the flags). The file behaves
// the same: blocking reads and writes, no deadlines.
func openFile(name string, flag int, perm os.FileMode) (*os.File, error) {
	fd, err := openRetry(name, flag|unix.O_CLOEXEC, uint32(perm.Perm()))
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	return os.NewFile(uintptr(fd), name), nil
}

func openRetry(name string, flags int, perm uint32) (int, error) {
	for {
		fd, err := unix.Open(name, flags, perm)
		if !errors.Is(err, unix.EINTR) {
			return fd, err
		}
	}
}

func retryEINTR(f func() error) error {
	for {
		if err := f(); !errors.Is(err, unix.EINTR) {
			return err
		}
	}
}
