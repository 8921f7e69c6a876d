package storage

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/registry/storage/internal/layout"
	"github.com/berth-registry/berth/storagedriver"
	"github.com/berth-registry/berth/storagedriver/inmemory"
)

// TestUploadRecoversLostHashState: a crash after bytes were written but
// before the hash state was saved leaves no state at the upload's offset;
// Commit must still verify the digest, by hashing the stored bytes.
func TestUploadRecoversLostHashState(t *testing.T) {
	ctx := context.Background()
	drv := inmemory.New()
	s := New(drv)
	u, err := s.StartUpload(ctx, "r")
	if err != nil {
		t.Fatal(err)
	}
	if err := u.Append(ctx, bytes.NewReader([]byte("first part, ")), 0); err != nil {
		t.Fatal(err)
	}
	if err := drv.Delete(ctx, layout.UploadDir("r", u.ID())+"/hashstates"); err != nil {
		t.Fatal(err)
	}
	u2, err := s.ResumeUpload(ctx, "r", u.ID())
	if err != nil || u2.Offset() != 12 {
		t.Fatalf("resume: %v at %d", err, u2.Offset())
	}
	if err := u2.Append(ctx, bytes.NewReader([]byte("second part")), 12); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte("first part, second part"))
	d := digest.NewDigestFromBytes(digest.SHA256, sum[:])
	if _, err := u2.Commit(ctx, digest.FromString("wrong"), nil, -1); !errors.Is(err, ErrDigestInvalid) {
		t.Fatalf("wrong digest: %v", err)
	}
	// The failed commit discarded the upload; a new one with the right digest works.
	u3, _ := s.StartUpload(ctx, "r")
	if _, err := u3.Commit(ctx, d, bytes.NewReader([]byte("first part, second part")), 0); err != nil {
		t.Fatal(err)
	}
	if n, err := s.StatBlob(ctx, "r", d); err != nil || n != 23 {
		t.Fatalf("stat: %d %v", n, err)
	}
}

// TestConcurrentSameBlob: many uploads of one blob into one repository at
// once all succeed and leave one blob.
func TestConcurrentSameBlob(t *testing.T) {
	ctx := context.Background()
	s := New(inmemory.New())
	content := bytes.Repeat([]byte("x"), 1<<16)
	d := digest.FromBytes(content)
	errs := make(chan error, 16)
	for range 16 {
		go func() {
			u, err := s.StartUpload(ctx, "r")
			if err == nil {
				_, err = u.Commit(ctx, d, bytes.NewReader(content), 0)
			}
			errs <- err
		}()
	}
	for range 16 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if n, err := s.StatBlob(ctx, "r", d); err != nil || n != int64(len(content)) {
		t.Fatalf("stat: %d %v", n, err)
	}
}

// TestFailedWriteDiscardsUpload: a chunk or last chunk whose body breaks
// off discards the upload even though the caller's context ended with it,
// as net/http's does when a client hangs up mid-body; a misplaced chunk
// writes nothing and leaves the upload as it stood.
func TestFailedWriteDiscardsUpload(t *testing.T) {
	cut := errors.New("connection cut")
	for _, commit := range []bool{false, true} {
		drv := inmemory.New()
		s := New(drv)
		u, err := s.StartUpload(t.Context(), "r")
		if err != nil {
			t.Fatal(err)
		}
		if err := u.Append(t.Context(), bytes.NewReader([]byte("kept")), 0); err != nil {
			t.Fatal(err)
		}
		if err := u.Append(t.Context(), bytes.NewReader([]byte("x")), 9); !errors.Is(err, ErrRangeInvalid) {
			t.Fatalf("misplaced chunk: %v", err)
		}
		if u2, err := s.ResumeUpload(t.Context(), "r", u.ID()); err != nil || u2.Offset() != 4 {
			t.Fatalf("after a misplaced chunk: %v at %d, want the upload at 4", err, u2.Offset())
		}
		ctx, hangUp := context.WithCancel(t.Context())
		body := io.MultiReader(bytes.NewReader([]byte("half")), readerFunc(func([]byte) (int, error) {
			hangUp()
			return 0, cut
		}))
		if commit {
			_, err = u.Commit(ctx, digest.FromString("keptwhole"), body, 4)
		} else {
			err = u.Append(ctx, body, 4)
		}
		if !errors.Is(err, cut) {
			t.Fatalf("commit %v: %v, want the body's error", commit, err)
		}
		if _, err := s.ResumeUpload(t.Context(), "r", u.ID()); !errors.Is(err, ErrUploadUnknown) {
			t.Errorf("commit %v: resume after a cut body: %v, want ErrUploadUnknown", commit, err)
		}
		if _, err := drv.List(t.Context(), layout.UploadDir("r", u.ID())); !errors.Is(err, storagedriver.ErrPathNotFound) {
			t.Errorf("commit %v: the upload's directory is still there: %v", commit, err)
		}
	}
}

type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(p []byte) (int, error) { return f(p) }

// TestUploadLeavesNothing: on every driver, an upload cancelled (a client's
// DELETE) and one committed whole leave nothing, neither in the upload's
// directory nor as a pending write, and are unknown afterwards; cancelling
// twice says so. On the drivers that keep pending writes apart the
// upload's directory holds nothing at any time (no startedat), so its
// pending write is what Cancel finds.
func TestUploadLeavesNothing(t *testing.T) {
	for _, td := range testDrivers {
		t.Run(td.name, func(t *testing.T) {
			drv := td.new(t)
			ctx := t.Context()
			s := New(drv)
			gone := func(u *Upload) {
				t.Helper()
				if _, err := s.ResumeUpload(ctx, "r", u.ID()); !errors.Is(err, ErrUploadUnknown) {
					t.Errorf("upload %s after its end: %v, want ErrUploadUnknown", u.ID(), err)
				}
				if _, err := drv.List(ctx, layout.UploadDir("r", u.ID())); !errors.Is(err, storagedriver.ErrPathNotFound) {
					t.Errorf("upload %s's directory after its end: %v, want ErrPathNotFound", u.ID(), err)
				}
			}
			cancelled, err := s.StartUpload(ctx, "r")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := drv.List(ctx, layout.UploadDir("r", cancelled.ID())); s.pendingApart() != errors.Is(err, storagedriver.ErrPathNotFound) {
				t.Errorf("a new upload's directory: %v (the driver keeps pending writes apart: %v)", err, s.pendingApart())
			}
			if err := cancelled.Cancel(ctx); err != nil {
				t.Fatalf("cancel: %v", err)
			}
			gone(cancelled)
			if err := cancelled.Cancel(ctx); !errors.Is(err, ErrUploadUnknown) {
				t.Errorf("second cancel: %v, want ErrUploadUnknown", err)
			}

			whole, err := s.StartUpload(ctx, "r")
			if err != nil {
				t.Fatal(err)
			}
			content := []byte("a layer pushed in one PUT")
			if _, err := whole.Commit(ctx, digest.FromBytes(content), bytes.NewReader(content), 0); err != nil {
				t.Fatalf("commit: %v", err)
			}
			gone(whole)
			if pp, ok := drv.(storagedriver.PendingPurger); ok {
				// Whatever is pending, however young, would go in a purge.
				n, _, err := pp.PurgePending(ctx, time.Now().Add(time.Hour), true)
				if err != nil || n != 0 {
					t.Errorf("pending writes left: %d, %v; want none", n, err)
				}
			}
			if size, err := s.StatBlob(ctx, "r", digest.FromBytes(content)); err != nil || size != int64(len(content)) {
				t.Errorf("the committed blob: %d bytes, %v", size, err)
			}
		})
	}
}
