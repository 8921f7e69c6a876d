package hostagent

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
	specs "github.com/opencontainers/image-spec/specs-go"
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
//	│                              a container made from an image (see containers.go)
//	├── containers/<name>/rootfs/  its root filesystem, and files.json: that
//	│                              tree as unpacked, for commit (container_ops.go)
//	├── ingest/load-<random>/      an archive being loaded, staged (archivesrc.go)
//	├── sources.json               repositories each blob is known to live in,
//	│                              for cross-repository mounts on push
//	└── lock                       flocked while index.json or sources.json
//	                               change, and while blobs are deleted
const (
	layoutFile    = "oci-layout"
	indexFile     = "index.json"
	lockFile      = "lock"
	sourcesFile   = "sources.json"
	blobsDir      = "blobs"
	ingestDir     = "ingest"
	leasesDir     = "leases"
	containersDir = "containers"
)

// store is the on-disk layout; every method is safe for concurrent use by
// goroutines and by processes sharing root.
type store struct {
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

// openStore makes root an image layout if it is not one yet. An existing
// layout written by another tool is adopted as it is.
func openStore(root string) (*store, error) {
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("store %s: %w", root, err)
	}
	s := &store{root: abs}
	for _, d := range []string{s.path(blobsDir, "sha256"), s.path(ingestDir), s.path(leasesDir)} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("store %s: %w", abs, err)
		}
	}
	if _, err := os.Stat(s.path(layoutFile)); errors.Is(err, fs.ErrNotExist) {
		b, _ := json.Marshal(v1.ImageLayout{Version: v1.ImageLayoutVersion})
		if err := oci.WriteFileAtomic(s.root, layoutFile, b); err != nil {
			return nil, fmt.Errorf("store %s: %w", abs, err)
		}
	} else if err != nil {
		return nil, fmt.Errorf("store %s: %w", abs, err)
	}
	if _, err := os.Stat(s.path(indexFile)); errors.Is(err, fs.ErrNotExist) {
		if err := s.writeIndex(&v1.Index{}); err != nil {
			return nil, fmt.Errorf("store %s: %w", abs, err)
		}
	}
	return s, nil
}

func (s *store) path(elem ...string) string {
	return filepath.Join(append([]string{s.root}, elem...)...)
}

// blobPath is where the blob d lives once published. d must be validated.
func (s *store) blobPath(d digest.Digest) string {
	return s.path(blobsDir, d.Algorithm().String(), d.Encoded())
}

// lock takes the store-wide lock, waiting for other holders (other
// processes, or other goroutines of this one) until ctx ends. Hold it only
// for short updates: never across a network transfer.
func (s *store) lock(ctx context.Context) (unlock func(), err error) {
	f, err := lockFileWait(ctx, s.path(lockFile))
	if err != nil {
		return nil, fmt.Errorf("store lock: %w", err)
	}
	return func() { f.Close() }, nil // closing the file releases the flock
}

// lockFileWait opens (creating) path and takes an exclusive flock on it,
// retrying until ctx ends. Each call opens its own file description, so
// two goroutines of one process exclude each other as two processes do.
func lockFileWait(ctx context.Context, path string) (*os.File, error) {
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

// tryLockFile takes an exclusive flock on an open file without waiting and
// reports whether it got it.
func tryLockFile(f *os.File) bool {
	return syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) == nil
}

// readIndex reads index.json. Callers that will write it back must hold the
// lock from before the read until after the write.
func (s *store) readIndex() (*v1.Index, error) {
	b, err := os.ReadFile(s.path(indexFile))
	if err != nil {
		return nil, fmt.Errorf("read index: %w", err)
	}
	var idx v1.Index
	if err := json.Unmarshal(b, &idx); err != nil {
		return nil, fmt.Errorf("read index %s: %w", s.path(indexFile), err)
	}
	return &idx, nil
}

// writeIndex replaces index.json atomically: readers see the old index or
// the new one, never a mix, even across a crash.
func (s *store) writeIndex(idx *v1.Index) error {
	idx.SchemaVersion = 2
	idx.Versioned = specs.Versioned{SchemaVersion: 2}
	idx.MediaType = v1.MediaTypeImageIndex
	if idx.Manifests == nil {
		idx.Manifests = []v1.Descriptor{}
	}
	b, err := json.MarshalIndent(idx, "", "  ")
	if err != nil {
		return fmt.Errorf("write index: %w", err)
	}
	if err := oci.WriteFileAtomic(s.root, indexFile, append(b, '\n')); err != nil {
		return fmt.Errorf("write index: %w", err)
	}
	return nil
}

// updateIndex applies fn to the index under the store lock and writes the
// result back when fn returns nil.
func (s *store) updateIndex(ctx context.Context, fn func(idx *v1.Index) error) error {
	unlock, err := s.lock(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	idx, err := s.readIndex()
	if err != nil {
		return err
	}
	if err := fn(idx); err != nil {
		return err
	}
	return s.writeIndex(idx)
}
