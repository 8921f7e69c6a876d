//go:build !linux

package filesystem

import (
	"errors"
	"os"
)

// setState: no extended attributes here; the caller keeps its state
// elsewhere (storagedriver.StateKeeper).
func setState(*os.File, []byte) error { return errors.ErrUnsupported }

func readState(*os.File) []byte { return nil }

func clearState(*os.File) {}

func rename(oldpath, newpath string) error { return os.Rename(oldpath, newpath) }
