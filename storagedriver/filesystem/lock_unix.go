//go:build unix

package filesystem

import (
	"errors"
	"os"
	"syscall"
)

// lockExclusive takes the exclusive lock of f without waiting (flock):
// errLocked when another open file holds it. The kernel drops the lock when
// f is closed or its process dies.
func lockExclusive(f *os.File) error {
	err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	if errors.Is(err, syscall.EWOULDBLOCK) {
		return errLocked
	}
	return err
}
