package store

import (
	"context"
	"errors"
	"io"
	"os"
	"testing"
	"time"

	digest "github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
)

func newPublication(s *Store) *Publication {
	return NewPublication(s, func(ctx context.Context, digests []digest.Digest) error {
		return s.DropUnused(ctx, digests, nil)
	})
}

// ingestEntries lists what is left in ingest/.
func ingestEntries(t *testing.T, s *Store) []string {
	t.Helper()
	entries, err := os.ReadDir(s.Path(IngestDir))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// TestPublicationRollbackTakesBackWhatItAdded: a rolled-back publication
// deletes the blobs it added, also under a cancelled context, and spares
// those the store had before.
func TestPublicationRollbackTakesBackWhatItAdded(t *testing.T) {
	s := newTestStore(t)
	old := []byte("there before")
	if err := s.PutBlob(digest.FromBytes(old), old); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	p := newPublication(s)
	d, n, err := p.Write(ctx, ".test-*", func(w io.Writer) error {
		_, err := io.WriteString(w, "a layer")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if d != digest.FromString("a layer") || n != int64(len("a layer")) || !s.HasBlob(d, n) {
		t.Fatalf("Write gave %s, %d bytes (published: %v)", d, n, s.HasBlob(d, n))
	}
	desc, err := p.PutDescribed(ctx, v1.MediaTypeImageConfig, []byte("{}"))
	if err != nil {
		t.Fatal(err)
	}
	if desc.Digest != digest.FromString("{}") || desc.Size != 2 || desc.MediaType != v1.MediaTypeImageConfig {
		t.Fatalf("PutDescribed gave %+v", desc)
	}
	if err := p.Put(ctx, digest.FromBytes(old), old); err != nil {
		t.Fatal(err)
	}
	if live, err := s.LeasedDigests(); err != nil || !live[d] || !live[desc.Digest] {
		t.Fatalf("leased while in flight: %v, %v", live, err)
	}
	// Cancelled, and the store lock held a while by another: the
	// rollback waits for the lock all the same.
	cancel()
	unlock, err := s.Lock(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	time.AfterFunc(100*time.Millisecond, unlock)
	p.Rollback(ctx)
	if s.HasBlob(d, -1) || s.HasBlob(desc.Digest, -1) {
		t.Error("rollback left a blob the publication added")
	}
	if !s.HasBlob(digest.FromBytes(old), -1) {
		t.Error("rollback deleted a blob the store had before")
	}
	if live, err := s.LeasedDigests(); err != nil || len(live) != 0 {
		t.Errorf("leases after rollback: %v, %v", live, err)
	}
	if left := ingestEntries(t, s); len(left) != 0 {
		t.Errorf("left in ingest/: %v", left)
	}
}

// TestPublicationFailedWriteLeavesNothing: a layer whose writing fails is
// neither published nor left in ingest/, and Release keeps what was
// published.
func TestPublicationFailedWriteLeavesNothing(t *testing.T) {
	s := newTestStore(t)
	p := newPublication(s)
	boom := errors.New("boom")
	_, _, err := p.Write(t.Context(), ".test-*", func(w io.Writer) error {
		if _, err := io.WriteString(w, "half a layer"); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Write: %v, want boom", err)
	}
	if s.HasBlob(digest.FromString("half a layer"), -1) {
		t.Error("a failed write was published")
	}
	if left := ingestEntries(t, s); len(left) != 0 {
		t.Errorf("left in ingest/: %v", left)
	}
	if err := p.Put(t.Context(), digest.FromString("kept"), []byte("kept")); err != nil {
		t.Fatal(err)
	}
	p.Release()
	if !s.HasBlob(digest.FromString("kept"), 4) {
		t.Error("Release deleted a published blob")
	}
	if live, err := s.LeasedDigests(); err != nil || len(live) != 0 {
		t.Errorf("leases after release: %v, %v", live, err)
	}
}
