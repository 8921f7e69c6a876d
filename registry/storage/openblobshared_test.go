package storage

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/registry/storage/internal/layout"
)

// readShared reads [off, off+n) of blob d of repo through OpenBlobShared.
func readShared(t *testing.T, s *Store, repo string, d digest.Digest, off, n int64) (string, error) {
	t.Helper()
	rc, _, err := s.OpenBlobShared(context.Background(), repo, d)
	if err != nil {
		return "", err
	}
	defer rc.Close()
	b := make([]byte, n)
	if _, err := rc.Seek(off, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(rc, b); err != nil {
		t.Fatal(err)
	}
	return string(b), nil
}

// OpenBlobShared reads through one open file per blob, shared by the
// stores of one cache; a blob unlinked is refused; one the collector (a
// store sharing the cache) deletes is refused and its file dropped.
func TestOpenBlobSharedFollowsDeletes(t *testing.T) {
	ctx := context.Background()
	fs := newFS(t)
	mem := NewMemCache(0, time.Hour)
	s := New(fs, WithMemCache(mem), WithGCGrace(time.Millisecond))
	collector := New(fs, WithMemCache(mem), WithGCGrace(time.Millisecond))
	d := putString(t, s, "team/app", "0123456789")
	for range 3 {
		if got, err := readShared(t, s, "team/app", d, 3, 4); err != nil || got != "3456" {
			t.Fatalf("read 3-6: %q, %v", got, err)
		}
	}
	if n := mem.c.Files().Len(); n != 1 {
		t.Fatalf("%d open files held, want 1", n)
	}
	if err := s.DeleteBlob(ctx, "team/app", d); err != nil {
		t.Fatal(err)
	}
	if _, err := readShared(t, s, "team/app", d, 0, 1); !errors.Is(err, ErrBlobUnknown) {
		t.Fatalf("after the blob's DELETE: %v, want ErrBlobUnknown", err)
	}
	waitOld()
	if _, err := collector.CollectGarbage(ctx, GCOptions{Grace: time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	if n := mem.c.Files().Len(); n != 0 {
		t.Fatalf("%d open files held after the collector deleted the blob, want 0", n)
	}
	if _, err := fs.Stat(ctx, layout.BlobDataPath(d)); err == nil {
		t.Fatal("the collector left the blob")
	}
	if _, err := readShared(t, s, "team/app", d, 0, 1); !errors.Is(err, ErrBlobUnknown) {
		t.Fatalf("after the collector: %v, want ErrBlobUnknown", err)
	}
	putString(t, s, "team/app", "0123456789")
	if got, err := readShared(t, s, "team/app", d, 8, 2); err != nil || got != "89" {
		t.Fatalf("pushed again: %q, %v", got, err)
	}
	if got, err := readShared(t, New(fs), "team/app", d, 0, 2); err != nil || got != "01" {
		t.Fatalf("without a node cache: %q, %v", got, err) // a file for the read
	}
}
