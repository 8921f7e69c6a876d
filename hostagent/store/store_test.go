package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	digest "github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berth-registry/berth/hostagent/errdefs"
	"github.com/berth-registry/berth/internal/testutil/hatest"
)

func newTestStore(t *testing.T) *Store {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "store"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// fakeRemote serves one blob from an offset and counts what it sent.
type fakeRemote struct {
	data        []byte
	ignoreRange bool
	sent        atomic.Int64
	calls       atomic.Int32
	offsets     []int64
	mu          sync.Mutex
}

func (f *fakeRemote) fetch(_ context.Context, offset int64) (io.ReadCloser, int64, error) {
	f.calls.Add(1)
	f.mu.Lock()
	f.offsets = append(f.offsets, offset)
	f.mu.Unlock()
	if f.ignoreRange {
		offset = 0
	}
	f.sent.Add(int64(len(f.data)) - offset)
	return io.NopCloser(bytes.NewReader(f.data[offset:])), offset, nil
}

func descOf(b []byte) v1.Descriptor {
	return v1.Descriptor{MediaType: v1.MediaTypeImageLayerGzip, Digest: digest.FromBytes(b), Size: int64(len(b))}
}

func TestIngestResumesFromPartial(t *testing.T) {
	for _, tc := range []struct {
		name        string
		partial     func(data []byte) []byte
		ignoreRange bool
		wantOffsets []int64
		wantSent    int64 // in halves of the blob
	}{
		{"resume", func(d []byte) []byte { return d[:len(d)/2] }, false, []int64{1 << 19}, 1},
		{"range ignored", func(d []byte) []byte { return d[:len(d)/2] }, true, []int64{1 << 19}, 2},
		{"complete partial", func(d []byte) []byte { return d }, false, nil, 0},
		{"spoilt partial", func(d []byte) []byte { return bytes.Repeat([]byte{'x'}, len(d)/2) }, false, []int64{1 << 19, 0}, 3},
		{"longer than the blob", func(d []byte) []byte { return append(bytes.Clone(d), 'x') }, false, []int64{0}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newTestStore(t)
			data := hatest.Random("ingest", 1<<20)
			desc := descOf(data)
			if err := os.WriteFile(s.Path(IngestDir, desc.Digest.Encoded()), tc.partial(data), 0o644); err != nil {
				t.Fatal(err)
			}
			remote := &fakeRemote{data: data, ignoreRange: tc.ignoreRange}
			var resumed int64 = -1
			_, err := s.Ingest(t.Context(), desc, remote.fetch, IngestObserver{Start: func(n int64) {
				if resumed < 0 {
					resumed = n
				}
			}})
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(remote.offsets) != fmt.Sprint(tc.wantOffsets) {
				t.Errorf("fetched from offsets %v, want %v", remote.offsets, tc.wantOffsets)
			}
			if got := remote.sent.Load(); got != tc.wantSent*int64(len(data))/2 {
				t.Errorf("sent %d bytes, want %d halves of %d", got, tc.wantSent, len(data))
			}
			if got, err := os.ReadFile(s.BlobPath(desc.Digest)); err != nil || !bytes.Equal(got, data) {
				t.Fatalf("published blob wrong: %v", err)
			}
			if _, err := os.Stat(s.Path(IngestDir, desc.Digest.Encoded())); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("ingest file left behind: %v", err)
			}
		})
	}
}

func TestIngestRefusesWrongContent(t *testing.T) {
	s := newTestStore(t)
	data := hatest.Random("wrong", 4096)
	desc := descOf(data)
	remote := &fakeRemote{data: append(bytes.Clone(data[:4000]), make([]byte, 96)...)}
	_, err := s.Ingest(t.Context(), desc, remote.fetch, IngestObserver{})
	if !errors.Is(err, errdefs.ErrCorrupt) {
		t.Fatalf("ingest of wrong bytes: %v, want errdefs.ErrCorrupt", err)
	}
	if s.HasBlob(desc.Digest, -1) {
		t.Error("wrong content was published")
	}
	if _, err := os.Stat(s.Path(IngestDir, desc.Digest.Encoded())); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("wrong content kept for resuming: %v", err)
	}
	// Too short, too long: the same.
	for _, body := range [][]byte{data[:100], append(bytes.Clone(data), 'x')} {
		remote := &fakeRemote{data: body}
		if _, err := s.Ingest(t.Context(), desc, remote.fetch, IngestObserver{}); !errors.Is(err, errdefs.ErrCorrupt) {
			t.Errorf("%d bytes for a %d-byte blob: %v", len(body), len(data), err)
		}
	}
}

func TestIngestSameBlobOnce(t *testing.T) {
	s := newTestStore(t)
	data := hatest.Random("once", 2<<20)
	desc := descOf(data)
	remote := &fakeRemote{data: data}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.Ingest(t.Context(), desc, remote.fetch, IngestObserver{})
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := remote.calls.Load(); n != 1 {
		t.Errorf("8 concurrent ingests of one blob fetched it %d times, want 1", n)
	}
	if left, _ := os.ReadDir(s.Path(IngestDir)); len(left) != 0 {
		t.Errorf("files left in ingest/: %v", left)
	}
}

func TestLockExcludes(t *testing.T) {
	s := newTestStore(t)
	unlock, err := s.Lock(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	if _, err := s.Lock(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("second lock while held: %v, want a timeout", err)
	}
	unlock()
	unlock2, err := s.Lock(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	unlock2()
}

func TestConcurrentIndexUpdatesKeepEveryEntry(t *testing.T) {
	s := newTestStore(t)
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// A second store value for the same root, as another process has.
			other, err := Open(s.Root())
			if err != nil {
				t.Error(err)
				return
			}
			err = other.UpdateIndex(t.Context(), func(idx *v1.Index) error {
				SetEntry(idx, NewEntry(fmt.Sprintf("localhost:5000/app:%d", i), fmt.Sprint(i), descOf([]byte{byte(i)}), ""))
				return nil
			})
			if err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	idx, err := s.ReadIndex()
	if err != nil {
		t.Fatal(err)
	}
	if len(idx.Manifests) != 40 {
		t.Errorf("%d entries after 40 concurrent updates", len(idx.Manifests))
	}
}

func TestLeaseSparesBlobsFromSweep(t *testing.T) {
	s := newTestStore(t)
	a, b := []byte("leased"), []byte("free")
	for _, x := range [][]byte{a, b} {
		if err := s.PutBlob(digest.FromBytes(x), x); err != nil {
			t.Fatal(err)
		}
	}
	l, err := s.NewLease(t.Context(), []digest.Digest{digest.FromBytes(a)})
	if err != nil {
		t.Fatal(err)
	}
	// A lease file nobody holds: its owner died.
	if err := os.WriteFile(s.Path(LeasesDir, "lease-dead"), []byte(digest.FromBytes(b).String()+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Sweep(&v1.Index{}, nil); err != nil {
		t.Fatal(err)
	}
	if !s.HasBlob(digest.FromBytes(a), -1) || s.HasBlob(digest.FromBytes(b), -1) {
		t.Errorf("sweep with a live lease on a: a kept %v, b kept %v", s.HasBlob(digest.FromBytes(a), -1), s.HasBlob(digest.FromBytes(b), -1))
	}
	if _, err := os.Stat(s.Path(LeasesDir, "lease-dead")); !errors.Is(err, os.ErrNotExist) {
		t.Error("a dead lease was not cleared")
	}
	l.Release()
	if _, err := s.Sweep(&v1.Index{}, nil); err != nil {
		t.Fatal(err)
	}
	if s.HasBlob(digest.FromBytes(a), -1) {
		t.Error("blob kept after its lease ended")
	}
}

func TestDefaultRoot(t *testing.T) {
	t.Setenv("XDG_DATA_HOME", "/xdg/data")
	got, err := DefaultRoot()
	if err != nil {
		t.Fatal(err)
	}
	want := "/xdg/data/hostagent"
	if os.Geteuid() == 0 {
		want = "/var/lib/hostagent"
	}
	if got != want {
		t.Errorf("DefaultRoot() = %q, want %q", got, want)
	}
}
