package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"time"

	digest "github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-registry/berth/internal/oci"
)

// The store is an OCI image layout with a few additions that tools reading
// the layout (skopeo, umoci, containerd) ignore:
//
//	<root>/
//	├── oci-layout                 {"imageLayoutVersion":"1.0.0"}
//	├── index.json                 one descriptor per name (see index.go)
//	├── blobs/sha256/<hex>         content, published only after it hashed right
//	├── ingest/<hex>               a download in progress (flocked by its writer),
//	│                              kept across interruptions and resumed
//	├── leases/<random>            digests a pull or push in flight relies on
//	│                              (flocked while live; see lease.go)
//	├── containers/<name>/container.json
//	│                              a container made from an image (the agent's containers.go)
//	├── containers/<name>/rootfs/  its root filesystem, and files.json: that
//	│                              tree as unpacked, for commit (the agent's)
//	├── ingest/load-<random>/      an archive being loaded, staged (the agent's load)
//	├── sources.json               repositories each blob is known to live in,
//	│                              for cross-repository mounts on push
//	└── lock                       flocked while index.json or sources.json
//	                               change, and while blobs are deleted
//
// The names of the layout's files and directories:
const (
	LayoutFile    = "oci-layout"
	IndexFile     = "index.json"
	LockFile      = "lock"
	SourcesFile   = "sources.json"
	BlobsDir      = "blobs"
	IngestDir     = "ingest"
	LeasesDir     = "leases"
	ContainersDir = "containers"
)

// Store is the on-disk layout; every method is safe for concurrent use by
// goroutines and by processes sharing root.
type Store struct {
	root string
}

// DefaultRoot is where the store lives when none is chosen:
// /var/lib/hostagent for root, $XDG_DATA_HOME/hostagent (or
// ~/.local/share/hostagent) for everyone else.
func DefaultRoot() (string, error) {
	if os.Geteuid() == 0 {
		return "/var/lib/hostagent", nil
	}
	if d := os.Getenv("XDG_DATA_HOME"); filepath.IsAbs(d) {
		return filepath.Join(d, "hostagent"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("store location: %w", err)
	}
	return filepath.Join(home, ".local", "share", "hostagent"), nil
}

// Open makes root an image layout if it is not one yet. An existing
// layout written by another tool is adopted as it is.
func Open(root string) (*Store, error) {
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("store %s: %w", root, err)
	}
	s := &Store{root: abs}
	for _, d := range []string{s.Path(BlobsDir, "sha256"), s.Path(IngestDir), s.Path(LeasesDir)} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("store %s: %w", abs, err)
		}
	}
	if _, err := os.Stat(s.Path(LayoutFile)); errors.Is(err, fs.ErrNotExist) {
		b, _ := json.Marshal(v1.ImageLayout{Version: v1.ImageLayoutVersion})
		if err := oci.WriteFileAtomic(s.root, LayoutFile, b); err != nil {
			return nil, fmt.Errorf("store %s: %w", abs, err)
		}
	} else if err != nil {
		return nil, fmt.Errorf("store %s: %w", abs, err)
	}
	if _, err := os.Stat(s.Path(IndexFile)); errors.Is(err, fs.ErrNotExist) {
		if err := s.WriteIndex(&v1.Index{}); err != nil {
			return nil, fmt.Errorf("store %s: %w", abs, err)
		}
	}
	return s, nil
}

// Path is elem joined under the store's root.
func (s *Store) Path(elem ...string) string {
	return filepath.Join(append([]string{s.root}, elem...)...)
}

// BlobPath is where the blob d lives once published. d must be validated.
func (s *Store) BlobPath(d digest.Digest) string {
	return s.Path(BlobsDir, d.Algorithm().String(), d.Encoded())
}

// Lock takes the store-wide lock, waiting for other holders (other
// processes, or other goroutines of this one) until ctx ends. Hold it only
// for short updates: never across a network transfer.
func (s *Store) Lock(ctx context.Context) (unlock func(), err error) {
	f, err := LockFileWait(ctx, s.Path(LockFile))
	if err != nil {
		return nil, fmt.Errorf("store lock: %w", err)
	}
	return func() { f.Close() }, nil // closing the file releases the flock
}

// locked runs fn under the store lock.
func (s *Store) locked(ctx context.Context, fn func() error) error {
	unlock, err := s.Lock(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	return fn()
}

// LockFileWait opens (creating) path and takes an exclusive flock on it,
// retrying until ctx ends. Each call opens its own file description, so
// two goroutines of one process exclude each other as two processes do.
func LockFileWait(ctx context.Context, path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	delay := time.Millisecond
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return f, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			f.Close()
			return nil, fmt.Errorf("flock %s: %w", path, err)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("waiting for %s: %w", path, ctx.Err())
		case <-time.After(delay):
		}
		delay = min(2*delay, 50*time.Millisecond)
	}
}

// TryLockFile takes an exclusive flock on an open file without waiting and
// reports whether it got it.
func TryLockFile(f *os.File) bool {
	return syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) == nil
}

// Root is the store's directory, absolute.
func (s *Store) Root() string { return s.root }
