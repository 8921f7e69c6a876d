package filesystem_test

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestWritesBelowAFile: mkdirs takes an existing name for a directory
// without a Stat, so a write whose parent is a file must still fail (with
// ENOTDIR) and leave nothing, whichever way it writes; one into a new
// deep directory makes every level.
func TestWritesBelowAFile(t *testing.T) {
	root := t.TempDir()
	d := newDriver(t, root)
	ctx := t.Context()
	if err := d.PutContent(ctx, "/f", []byte("file")); err != nil {
		t.Fatal(err)
	}
	if err := d.PutContent(ctx, "/f/x", []byte("x")); !errors.Is(err, syscall.ENOTDIR) {
		t.Errorf("PutContent below a file: %v, want ENOTDIR", err)
	}
	w, err := d.Writer(ctx, "/w", false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte("w")); err != nil {
		t.Fatal(err)
	}
	if err := w.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := d.Move(ctx, "/w", "/f/sub/w"); !errors.Is(err, syscall.ENOTDIR) {
		t.Errorf("Move below a file: %v, want ENOTDIR", err)
	}
	if b, err := os.ReadFile(filepath.Join(root, "f")); err != nil || string(b) != "file" {
		t.Errorf("the file: %q, %v", b, err)
	}
	if err := d.PutContent(ctx, "/a/b/c/d/e", []byte("deep")); err != nil {
		t.Fatal(err)
	}
	if b, err := d.GetContent(ctx, "/a/b/c/d/e"); err != nil || string(b) != "deep" {
		t.Errorf("deep: %q, %v", b, err)
	}
}
