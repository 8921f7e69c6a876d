package filesystem

import (
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"syscall"

	"github.com/berth-registry/berth/internal/oci"
	"github.com/berth-registry/berth/storagedriver"
)

// mkdirs creates dir and its missing parents below the root, fsyncing the
// parent of each directory it creates so that the new entry is durable.
func (d *driver) mkdirs(dir string) error {
	fi, err := os.Stat(dir)
	if err == nil {
		if !fi.IsDir() {
			return fmt.Errorf("%s: %w", dir, syscall.ENOTDIR)
		}
		return nil
	}
	if !errors.Is(err, fs.ErrNotExist) || dir == d.root {
		return err
	}
	parent := filepath.Dir(dir)
	if err := d.mkdirs(parent); err != nil {
		return err
	}
	if err := os.Mkdir(dir, 0o777); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	// Also after EEXIST: the process that created it may not have synced yet.
	return oci.SyncDir(parent)
}

// prune removes dir and then its parents while they are empty, stopping
// below stop. Rmdir, unlike os.Remove, never deletes a file that replaced a
// directory meanwhile.
func (d *driver) prune(dir, stop string) {
	for len(dir) > len(stop) && dir != stop {
		if syscall.Rmdir(dir) != nil {
			return // not empty, or already gone
		}
		dir = filepath.Dir(dir)
	}
}

// createTemp creates a new file named prefix plus a random suffix in dir.
func createTemp(dir, prefix string) (*os.File, string, error) {
	for {
		name := filepath.Join(dir, prefix+randSuffix())
		f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o666)
		if !errors.Is(err, fs.ErrExist) {
			return f, name, err
		}
	}
}

func randSuffix() string { return strconv.FormatUint(rand.Uint64(), 36) }

// notExist reports errors that mean nothing is at a path: it is missing or a
// parent is a file.
func notExist(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)
}

// fileErr maps an error opening or reading the file at p.
func fileErr(p string, err error) error {
	if notExist(err) || errors.Is(err, syscall.EISDIR) {
		return fmt.Errorf("file %w", storagedriver.PathNotFound(p))
	}
	return err
}
