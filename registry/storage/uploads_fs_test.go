package storage

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/registry/storage/internal/layout"
	"github.com/berth-registry/berth/storagedriver"
	"github.com/berth-registry/berth/storagedriver/filesystem"
)

// readCounter counts the Readers opened on one path of the driver it
// wraps, and keeps its other interfaces (a PendingPurger, say).
type readCounter struct {
	*filesystem.Driver
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
		// A commit that reads the bytes back reads them there.
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
				w, err := fsd.Writer(ctx, layout.UploadPendingPath("r", u.ID()), true)
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

// TestUploadsMakeNoPendingDirectory: on the filesystem an upload's pending
// write is a file in the repository's +pending/<repository>/_uploads/,
// which the first upload makes and later ones keep: pushing blobs whole,
// in chunks (with the last in the commit or not), cancelling uploads, and
// pushes begun before an upgrade (_uploads/<id>/data) finished since,
// make no directory there nor anywhere in +pending, and remove none (on
// ext4 every inode freed slows the allocations of the next minute).
func TestUploadsMakeNoPendingDirectory(t *testing.T) {
	root := t.TempDir()
	fsd, err := filesystem.New(root)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	s := New(fsd)
	pending := filepath.Join(root, "+pending", filepath.FromSlash(layout.RepoDir("r")), "_uploads")
	dirs := func() (n int) {
		t.Helper()
		err := filepath.WalkDir(filepath.Join(root, "+pending"), func(_ string, e fs.DirEntry, err error) error {
			if err == nil && e.IsDir() {
				n++
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	// A legacy upload, parked before the first push: it leaves its own
	// directory, which its end removes.
	legacy := parkLegacy(t, fsd, "r", []byte("legacy"))
	push := func(i int, chunks int, lastInCommit bool) {
		t.Helper()
		content := bytes.Repeat([]byte{byte(i)}, 1000+i)
		u, err := s.StartUpload(ctx, "r")
		if err != nil {
			t.Fatal(err)
		}
		off := 0
		for c := range chunks {
			end := (c + 1) * len(content) / (chunks + 1)
			if c == chunks-1 && !lastInCommit {
				end = len(content)
			}
			if u, err = s.Upload("r", u.ID()); err != nil {
				t.Fatal(err)
			}
			if err := u.Append(ctx, bytes.NewReader(content[off:end]), int64(off)); err != nil {
				t.Fatal(err)
			}
			off = end
		}
		if u, err = s.Upload("r", u.ID()); err != nil {
			t.Fatal(err)
		}
		if _, err := u.Commit(ctx, digest.FromBytes(content), bytes.NewReader(content[off:]), int64(off)); err != nil {
			t.Fatalf("push %d: %v", i, err)
		}
	}
	push(0, 0, true)
	before, err := os.Stat(pending)
	if err != nil {
		t.Fatalf("the repository's pending uploads directory: %v", err)
	}
	want := dirs() - 1 // the legacy upload's, which goes
	if u, err := s.Upload("r", legacy); err != nil {
		t.Fatal(err)
	} else if err := u.Cancel(ctx); err != nil {
		t.Fatal(err)
	}
	inFlight := make([]*Upload, 0, 8)
	for i := 1; i <= 24; i++ {
		switch i % 4 {
		case 0:
			push(i, 0, true) // monolithic
		case 1:
			push(i, 3, false) // PATCHes, then a PUT without a body
		case 2:
			push(i, 2, true) // PATCHes, the last chunk with the PUT
		case 3:
			// Left open across the other pushes, then cancelled.
			u, err := s.StartUpload(ctx, "r")
			if err == nil {
				err = u.Append(ctx, bytes.NewReader([]byte("open")), 0)
			}
			if err != nil {
				t.Fatal(err)
			}
			inFlight = append(inFlight, u)
		}
		if got := dirs(); got != want {
			t.Fatalf("after push %d: %d directories in +pending, want %d", i, got, want)
		}
	}
	for _, u := range inFlight {
		if err := u.Cancel(ctx); err != nil {
			t.Fatal(err)
		}
	}
	after, err := os.Stat(pending)
	if err != nil || !os.SameFile(before, after) {
		t.Errorf("the repository's pending uploads directory was made again: %v", err)
	}
	if got := dirs(); got != want {
		t.Errorf("at the end: %d directories in +pending, want %d", got, want)
	}
}

// noState is the filesystem driver where the filesystem keeps no user
// attributes: its writers record no state (storagedriver.StateKeeper), so
// an upload's chunks save their hash states as files of the upload's
// directory, _uploads/<id>/hashstates/.
type noState struct{ *filesystem.Driver }

func (d noState) Writer(ctx context.Context, p string, appendTo bool) (storagedriver.FileWriter, error) {
	w, err := d.Driver.Writer(ctx, p, appendTo)
	if err != nil {
		return nil, err
	}
	return statelessWriter{w}, nil
}

type statelessWriter struct{ storagedriver.FileWriter }

func (w statelessWriter) CommitTo(ctx context.Context, dst string) error {
	return w.FileWriter.(storagedriver.Relocator).CommitTo(ctx, dst)
}

// TestUploadBesideHashStateFiles: where an upload's hash states are files
// of its directory, a commit that reads its bytes back (a digest of
// another algorithm) commits them into that directory, not at the
// directory's own path, its pending write's; committed straight to the
// blob (sha256) the bytes never pass there. Either leaves nothing.
func TestUploadBesideHashStateFiles(t *testing.T) {
	fsd, err := filesystem.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	drv := noState{fsd}
	ctx := t.Context()
	s := New(drv)
	content := []byte("chunked where the filesystem keeps no attributes")
	for _, d := range []digest.Digest{digest.SHA512.FromBytes(content), digest.FromBytes(content)} {
		u, err := s.StartUpload(ctx, "r")
		if err != nil {
			t.Fatal(err)
		}
		for _, off := range []int{0, 10} {
			if err := u.Append(ctx, bytes.NewReader(content[off:off+10]), int64(off)); err != nil {
				t.Fatal(err)
			}
		}
		if names, err := drv.List(ctx, layout.UploadDir("r", u.ID())+"/hashstates/sha256"); err != nil || len(names) != 1 {
			t.Fatalf("%s: hash state files %q, %v; want one", d.Algorithm(), names, err)
		}
		if u, err = s.Upload("r", u.ID()); err != nil {
			t.Fatal(err)
		}
		if _, err := u.Commit(ctx, d, bytes.NewReader(content[20:]), 20); err != nil {
			t.Fatalf("%s: commit: %v", d.Algorithm(), err)
		}
		if n, err := s.StatBlob(ctx, "r", d); err != nil || n != int64(len(content)) {
			t.Errorf("%s: blob: %d, %v", d.Algorithm(), n, err)
		}
		uploadGone(ctx, t, s, drv, u.ID())
	}
}
