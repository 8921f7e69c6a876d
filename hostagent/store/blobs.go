package store

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	digest "github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/hostagent/errdefs"
	"github.com/berth-registry/berth/internal/oci"
)

// MaxMetadataSize caps what is read whole into memory: manifests, indexes
// and image configs. Registries cap manifests at 4 MiB; configs of real
// images are a few KiB (history included).
const MaxMetadataSize = 16 << 20

// HasBlob reports whether the blob d is published with the given size (any
// size when size < 0).
func (s *Store) HasBlob(d digest.Digest, size int64) bool {
	if oci.CheckDigest(d) != nil {
		return false
	}
	fi, err := os.Stat(s.BlobPath(d))
	return err == nil && fi.Mode().IsRegular() && (size < 0 || fi.Size() == size)
}

// OpenBlob opens the published blob d; errdefs.ErrNotFound when it is missing.
func (s *Store) OpenBlob(d digest.Digest) (*os.File, error) {
	if err := oci.CheckDigest(d); err != nil {
		return nil, err
	}
	f, err := os.Open(s.BlobPath(d))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("blob %s: %w", d, errdefs.ErrNotFound)
	}
	return f, err
}

// ReadBlob reads a small blob whole and checks that it hashes to d, so that
// a corrupt manifest or config is reported, not parsed.
func (s *Store) ReadBlob(d digest.Digest) ([]byte, error) {
	f, err := s.OpenBlob(d)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxMetadataSize+1))
	if err != nil {
		return nil, fmt.Errorf("blob %s: %w", d, err)
	}
	if len(b) > MaxMetadataSize {
		return nil, fmt.Errorf("blob %s: larger than %d bytes", d, MaxMetadataSize)
	}
	if got := digest.FromBytes(b); got != d {
		return nil, fmt.Errorf("blob %s hashes to %s: %w", d, got, errdefs.ErrCorrupt)
	}
	return b, nil
}

// PutBlob publishes data as the blob d after checking that it hashes to d.
func (s *Store) PutBlob(d digest.Digest, data []byte) error {
	if err := oci.CheckDigest(d); err != nil {
		return err
	}
	if got := digest.FromBytes(data); got != d {
		return fmt.Errorf("content for %s hashes to %s: %w", d, got, errdefs.ErrCorrupt)
	}
	if s.HasBlob(d, int64(len(data))) {
		return nil
	}
	tmp, err := os.CreateTemp(s.Path(IngestDir), ".put-*")
	if err != nil {
		return fmt.Errorf("blob %s: %w", d, err)
	}
	defer os.Remove(tmp.Name())
	_, err = io.Copy(tmp, bytes.NewReader(data))
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = s.Publish(tmp.Name(), d)
	}
	if err != nil {
		return fmt.Errorf("blob %s: %w", d, err)
	}
	return nil
}

// Publish moves a verified, synced file into place as the blob d.
func (s *Store) Publish(from string, d digest.Digest) error {
	if err := os.Chmod(from, 0o644); err != nil {
		return err
	}
	to := s.BlobPath(d)
	if err := os.Rename(from, to); err != nil {
		return err
	}
	return oci.SyncDir(filepath.Dir(to))
}
