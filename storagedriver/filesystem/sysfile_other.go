//go:build !unix

package filesystem

import (
	"os"

	"github.com/berth-registry/berth/internal/oci"
)

// syncDir fsyncs directory dir, so that its entries are durable.
func syncDir(dir string) error { return oci.SyncDir(dir) }

// writeNew creates the file name, which must not exist (fs.ErrExist when
// it does), writes content to it and, when durable, fsyncs it. A file it
// created is removed again when it fails.
func writeNew(name string, content []byte, durable bool) error {
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o666)
	if err != nil {
		return err
	}
	_, err = f.Write(content)
	if err == nil && durable {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(name)
	}
	return err
}

// openFile is os.OpenFile.
func openFile(name string, flag int, perm os.FileMode) (*os.File, error) {
	return os.OpenFile(name, flag, perm)
}

// readWhole returns the content of the file name.
func readWhole(name string) ([]byte, error) { return os.ReadFile(name) }
