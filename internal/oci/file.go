package oci

import (
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// WriteFileAtomic replaces dir/name with data through a temporary file in
// dir: write, fsync, rename over the old file, fsync dir. Readers see the
// old content or the new, never a mix, even across a crash. The file gets
// mode 0644.
func WriteFileAtomic(dir, name string, data []byte) error {
	return WriteAtomic(filepath.Join(dir, name), func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// WriteAtomic is WriteFileAtomic for content that write streams: path is
// replaced only when write and every step after it succeed; otherwise
// nothing of the new content is left. The file gets mode 0644.
func WriteAtomic(path string, write func(w io.Writer) error) error {
	return WriteAtomicMode(path, 0o644, write)
}

// WriteAtomicMode is WriteAtomic with the file's permission bits: the
// temporary file has them (and no wider ones) before the first byte is
// written, so a secret written with 0600 is never readable by others, not
// even while it is being written. A path that is a symbolic link is
// replaced, not followed: resolve it first to replace its target.
func WriteAtomicMode(path string, perm fs.FileMode, write func(w io.Writer) error) error {
	dir, name := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	tmp, err := os.CreateTemp(dir, "."+name+".tmp-*") // mode 0600
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // fails harmlessly once renamed
	if err := tmp.Chmod(perm.Perm()); err != nil {
		tmp.Close()
		return err
	}
	if err := write(tmp); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	return SyncDir(dir)
}

// SyncDir makes a rename, creation or removal in dir durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
