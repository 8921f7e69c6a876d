//go:build !linux

package filesystem

import (
	"errors"
	"os"
	"time"
)

// setState: no extended attributes here; the caller keeps its state
// elsewhere (storagedriver.StateKeeper).
func setState(*os.File, []byte) error { return errors.ErrUnsupported }

func readState(*os.File) []byte { return nil }

func clearState(*os.File) {}

func rename(oldpath, newpath string) error { return os.Rename(oldpath, newpath) }

// touch sets the access and modification times of name, the file f, to t.
func touch(_ *os.File, name string, t time.Time) error { return os.Chtimes(name, t, t) }
