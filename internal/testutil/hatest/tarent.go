package hatest

import (
	"archive/tar"
	"bytes"
	"testing"
	"time"
)

// TestTime is the modification time MkTar gives entries that set none.
var TestTime = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

// Ent is one tar entry of a test layer or archive: a header (defaults
// filled in by MkTar) and the body of a regular file.
type Ent struct {
	Hdr  tar.Header
	Body string
}

// TarFile is a regular file entry, mode 0644.
func TarFile(name, body string) Ent {
	return Ent{Hdr: tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644}, Body: body}
}

// TarDir is a directory entry, mode 0755.
func TarDir(name string) Ent {
	return Ent{Hdr: tar.Header{Typeflag: tar.TypeDir, Name: name, Mode: 0o755}}
}

// TarSymlink is a symbolic link entry to target.
func TarSymlink(name, target string) Ent {
	return Ent{Hdr: tar.Header{Typeflag: tar.TypeSymlink, Name: name, Linkname: target, Mode: 0o777}}
}

// TarHardlink is a hard link entry to target.
func TarHardlink(name, target string) Ent {
	return Ent{Hdr: tar.Header{Typeflag: tar.TypeLink, Name: name, Linkname: target}}
}

// MkTar writes the entries as an uncompressed tar.
func MkTar(t testing.TB, ents ...Ent) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range ents {
		h := e.Hdr
		if h.ModTime.IsZero() {
			h.ModTime = TestTime
		}
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(e.Body))
		}
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			if _, err := tw.Write([]byte(e.Body)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
