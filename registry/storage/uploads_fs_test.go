package storage

import (
	"bytes"
	"context"
	"errors"
	"io"
	"sync/atomic"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/registry/storage/internal/layout"
	"github.com/berth-registry/berth/storagedriver"
	"github.com/berth-registry/berth/storagedriver/filesystem"
)

// readCounter counts the Readers opened on one path of the driver it wraps.
type readCounter struct {
	storagedriver.Driver
	path  string
	reads atomic.Int32
}

func (c *readCounter) Reader(ctx context.Context, p string, off int64) (io.ReadCloser, error) {
	if p == c.path {
		c.reads.Add(1)
	}
	return c.Driver.Reader(ctx, p, off)
}

// TestChunkedUploadOnFilesystemKeepsHashWithData: on the filesystem
// driver an upload's chunks save their sha256 state with the pending write
// (storagedriver.StateKeeper) rather than as files of their own, and the
// commit verifies the digest from that state, without reading the upload's
// bytes back; a state that does not match the bytes (here, one recorded
// before a chunk that saved none) is still recovered by hashing them.
func TestChunkedUploadOnFilesystemKeepsHashWithData(t *testing.T) {
	ctx := t.Context()
	fsd, err := filesystem.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	content := bytes.Repeat([]byte("0123456789abcdef"), 200<<10) // 3.2 MB
	d := digest.FromBytes(content)
	for _, lose := range []bool{false, true} {
		u, err := New(fsd).StartUpload(ctx, "r")
		if err != nil {
			t.Fatal(err)
		}
		drv := &readCounter{Driver: fsd, path: layout.UploadDataPath("r", u.ID())}
		s := New(drv)
		const chunk = 1 << 20
		for off := 0; off < len(content); off += chunk {
			u, err := s.Upload("r", u.ID())
			if err != nil {
				t.Fatal(err)
			}
			end := min(off+chunk, len(content))
			if lose && end == len(content) {
				// The last chunk written behind the upload's back: the
				// state kept is that of the chunk before.
				w, err := fsd.Writer(ctx, layout.UploadDataPath("r", u.ID()), true)
				if err == nil {
					_, err = w.Write(content[off:end])
				}
				if err == nil {
					err = w.Close()
				}
				if err != nil {
					t.Fatal(err)
				}
				break
			}
			if err := u.Append(ctx, bytes.NewReader(content[off:end]), int64(off)); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := fsd.List(ctx, layout.UploadDir("r", u.ID())+"/hashstates"); !errors.Is(err, storagedriver.ErrPathNotFound) {
			t.Errorf("lose %v: hash state files: %v, want none", lose, err)
		}
		u, err = s.Upload("r", u.ID())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := u.Commit(ctx, d, nil, -1); err != nil {
			t.Fatalf("lose %v: commit: %v", lose, err)
		}
		want := int32(0)
		if lose {
			want = 1
		}
		if got := drv.reads.Load(); got != want {
			t.Errorf("lose %v: the commit read the upload's bytes %d times, want %d", lose, got, want)
		}
		if n, err := s.StatBlob(ctx, "r", d); err != nil || n != int64(len(content)) {
			t.Fatalf("lose %v: stat: %d %v", lose, n, err)
		}
	}
}
