//go:build unix

package filesystem

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// TestOpenFile: openFile opens as os.OpenFile does (close-on-exec, append
// mode kept, the same errors), only without the poller.
func TestOpenFile(t *testing.T) {
	dir := t.TempDir()
	name := filepath.Join(dir, "f")

	f, err := openFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o666)
	if err != nil {
		t.Fatal(err)
	}
	if flags, err := unix.FcntlInt(f.Fd(), unix.F_GETFD, 0); err != nil || flags&unix.FD_CLOEXEC == 0 {
		t.Errorf("F_GETFD = %#x, %v: want FD_CLOEXEC", flags, err)
	}
	if _, err := f.WriteString("hello"); err != nil {
		t.Fatal(err)
	}
	f.Close()

	if _, err := openFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o666); !errors.Is(err, fs.ErrExist) {
		t.Errorf("exclusive create of an existing file: %v, want ErrExist", err)
	}
	var pe *fs.PathError
	if _, err := openFile(filepath.Join(dir, "missing"), os.O_RDONLY, 0); !errors.Is(err, fs.ErrNotExist) || !errors.As(err, &pe) || pe.Path != filepath.Join(dir, "missing") {
		t.Errorf("open of a missing file: %v, want a PathError with ErrNotExist", err)
	}

	// O_APPEND is seen: writes go to the end, and WriteAt is refused as
	// os.OpenFile's file refuses it.
	f, err = openFile(name, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("x"), 0); err == nil {
		t.Error("WriteAt on a file opened O_APPEND succeeded")
	}
	if _, err := f.WriteString(", world"); err != nil {
		t.Fatal(err)
	}
	f.Close()

	f, err = openFile(name, os.O_RDONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	if err != nil || string(b) != "hello, world" {
		t.Errorf("read %q, %v; want %q", b, err, "hello, world")
	}

	// A directory opens too, for its names.
	d, err := openFile(dir, os.O_RDONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	names, err := d.Readdirnames(-1)
	d.Close()
	if err != nil || len(names) != 1 || names[0] != "f" {
		t.Errorf("names %q, %v; want [f]", names, err)
	}
}
