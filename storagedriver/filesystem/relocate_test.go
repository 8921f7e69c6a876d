package filesystem_test

import (
	"bytes"
	"errors"
	"io/fs"
	"path/filepath"
	"slices"
	"testing"

	"github.com/berth-registry/berth/storagedriver"
)

// TestCommitTo proves that a writer commits its content, resumed parts
// included, to another path, into directories it creates, leaving nothing
// pending behind; that it refuses an invalid destination and stays open
// then; and that a write deleted before its CommitTo fails with
// ErrPathNotFound and publishes nothing.
func TestCommitTo(t *testing.T) {
	root := t.TempDir()
	d := newDriver(t, root)
	ctx := t.Context()
	w, err := d.Writer(ctx, "/up/1/data", false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte("hello, ")); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if w, err = d.Writer(ctx, "/up/1/data", true); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(bytes.Repeat([]byte("x"), 9<<20)); err != nil { // past the writeback threshold
		t.Fatal(err)
	}
	r := w.(storagedriver.Relocator)
	if err := r.CommitTo(ctx, "/../escape"); err == nil {
		t.Fatal("CommitTo an escaping path succeeded")
	}
	if err := r.CommitTo(ctx, "/blobs/ab/abc/data"); err != nil {
		t.Fatal(err)
	}
	got, err := d.GetContent(ctx, "/blobs/ab/abc/data")
	if err != nil || len(got) != 7+9<<20 || string(got[:7]) != "hello, " {
		t.Fatalf("committed content: %d bytes, %v", len(got), err)
	}
	if _, err := d.Stat(ctx, "/up/1/data"); !errors.Is(err, storagedriver.ErrPathNotFound) {
		t.Fatalf("the writer's own path after CommitTo: %v, want not found", err)
	}
	if err := w.Commit(ctx); !errors.Is(err, fs.ErrClosed) {
		t.Fatalf("Commit after CommitTo: %v, want closed", err)
	}
	var files []string
	_ = filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
		rel, _ := filepath.Rel(root, p)
		if rel == "+redo" {
			return filepath.SkipDir // the redo log's locks, kept
		}
		if err == nil && !e.IsDir() {
			files = append(files, filepath.ToSlash(rel))
		}
		return err
	})
	if want := []string{"blobs/ab/abc/data"}; !slices.Equal(files, want) {
		t.Fatalf("files on disk %q, want %q", files, want)
	}

	w2, err := d.Writer(ctx, "/up/2/data", false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w2.Write([]byte("gone")); err != nil {
		t.Fatal(err)
	}
	if err := d.Delete(ctx, "/up/2"); err != nil && !errors.Is(err, storagedriver.ErrPathNotFound) {
		t.Fatal(err)
	}
	if err := w2.(storagedriver.Relocator).CommitTo(ctx, "/blobs/cd/cde/data"); !errors.Is(err, storagedriver.ErrPathNotFound) {
		t.Fatalf("CommitTo of a deleted write: %v, want not found", err)
	}
	if _, err := d.Stat(ctx, "/blobs/cd"); !errors.Is(err, storagedriver.ErrPathNotFound) {
		t.Fatalf("a failed CommitTo left %v", err)
	}
}

// TestPutContentVolatile proves that a volatile PutContent (no fsyncs) still
// replaces the content whole and creates its directories.
func TestPutContentVolatile(t *testing.T) {
	d := newDriver(t, t.TempDir())
	ctx := storagedriver.Volatile(t.Context())
	for _, c := range []string{"first", "second, longer"} {
		if err := d.PutContent(ctx, "/gc/used/sha256/abc", []byte(c)); err != nil {
			t.Fatal(err)
		}
		if got, err := d.GetContent(t.Context(), "/gc/used/sha256/abc"); err != nil || string(got) != c {
			t.Fatalf("got %q, %v; want %q", got, err, c)
		}
	}
	if storagedriver.IsVolatile(t.Context()) || !storagedriver.IsVolatile(ctx) {
		t.Fatal("IsVolatile does not tell the contexts apart")
	}
}
