package storage

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/registry/storage/internal/layout"
	"github.com/berth-registry/berth/storagedriver/inmemory"
)

// TestRelyStamps proves that on the filesystem rely writes its records as
// stamps (links to one inode, not a file each), that the node remembers
// the mtime of the used record it wrote, the one a Stat gives, so that
// the next rely of the blob makes no Stat, and that on a driver without
// stamps it writes files and remembers nothing it did not Stat.
func TestRelyStamps(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("stamps need Linux")
	}
	ctx := t.Context()
	fs := newFS(t)
	s := New(fs, WithMemCache(NewMemCache(1<<20, time.Second)))
	_, c, ls := image(t, s, "a/b", "v1", "config", "layer one", "layer two")
	var first os.FileInfo
	shared := 0
	for _, d := range append(ls, c) {
		for _, p := range []string{layout.RelyingPath(d), layout.UsedPath(d)} {
			fi, err := os.Stat(filepath.Join(fs.root, p))
			if err != nil {
				t.Fatalf("%s: %v", p, err)
			}
			if first == nil {
				first = fi
			} else if os.SameFile(first, fi) {
				shared++
			}
		}
		fi, err := fs.Stat(ctx, layout.UsedPath(d))
		if err != nil {
			t.Fatal(err)
		}
		if m, ok := s.mem.UsedAt(d); !ok || !m.Equal(fi.ModTime) {
			t.Fatalf("used(%s): remembered %v %v, Stat says %v", d, m, ok, fi.ModTime)
		}
	}
	if shared == 0 {
		t.Fatal("no two records share an inode: not stamped")
	}
	// A rely that found no used record (R1's Stat missed) and wrote one.
	d := digest.FromString("relied on, never pushed")
	if err := s.rely(ctx, "a/b", d, relyRead); err != nil {
		t.Fatal(err)
	}
	fi, err := fs.Stat(ctx, layout.UsedPath(d))
	if err != nil {
		t.Fatal(err)
	}
	if m, ok := s.mem.UsedAt(d); !ok || !m.Equal(fi.ModTime) {
		t.Fatalf("used record written: remembered %v %v, Stat says %v", m, ok, fi.ModTime)
	}

	mem := New(inmemory.New(), WithMemCache(NewMemCache(1<<20, time.Second)))
	_, c, _ = image(t, mem, "a/b", "v1", "config", "layer one")
	if _, err := mem.driver.Stat(ctx, layout.UsedPath(c)); err != nil {
		t.Fatalf("used record on inmemory: %v", err)
	}
	if m, ok := mem.mem.UsedAt(c); ok {
		// Only a Stat (R1 of a later rely) may have put it there.
		fi, _ := mem.driver.Stat(ctx, layout.UsedPath(c))
		if !m.Equal(fi.ModTime) {
			t.Fatalf("inmemory: remembered %v, Stat says %v", m, fi.ModTime)
		}
	}
}
