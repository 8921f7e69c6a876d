package storage

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/registry/storage/internal/layout"
	"github.com/berth-registry/berth/storagedriver"
)

// parkLegacy leaves in drv what an earlier Berth left of an upload into
// repository name that was sent chunk, on a driver keeping pending writes
// apart: the bytes as the pending write of _uploads/<id>/data, their hash
// state kept with it where the writer can, and no startedat. It returns
// the upload's id.
func parkLegacy(t *testing.T, drv storagedriver.Driver, name string, chunk []byte) string {
	t.Helper()
	id, err := newUploadID()
	if err != nil {
		t.Fatal(err)
	}
	w, err := drv.Writer(t.Context(), layout.UploadDataPath(name, id), false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(chunk); err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	h.Write(chunk)
	keepHash(w, h, int64(len(chunk)))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return id
}

// uploadGone checks that upload id of repository r left nothing: it is
// unknown, has no directory, and the driver holds no pending write.
func uploadGone(ctx context.Context, t *testing.T, s *Store, drv storagedriver.Driver, id string) {
	t.Helper()
	if _, err := s.ResumeUpload(ctx, "r", id); !errors.Is(err, ErrUploadUnknown) {
		t.Errorf("upload %s after its end: %v, want ErrUploadUnknown", id, err)
	}
	if _, err := drv.Stat(ctx, layout.UploadDir("r", id)); !errors.Is(err, storagedriver.ErrPathNotFound) {
		t.Errorf("upload %s's directory or key after its end: %v, want ErrPathNotFound", id, err)
	}
	if pp, ok := drv.(storagedriver.PendingPurger); ok {
		// Whatever is pending, however young, would go in a purge.
		if n, _, err := pp.PurgePending(ctx, time.Now().Add(time.Hour), true); err != nil || n != 0 {
			t.Errorf("upload %s: pending writes left: %d, %v; want none", id, n, err)
		}
	}
}

// TestLegacyUploadsGoOn: on the drivers that keep pending writes apart, an
// upload is the pending write of _uploads/<id>, where an earlier Berth
// parked it at _uploads/<id>/data; an upload begun before an upgrade is
// still resumed there (its status, its chunks), committed, with its digest
// checked, and cancelled, and leaves nothing behind, nor a pending write
// at the new path.
func TestLegacyUploadsGoOn(t *testing.T) {
	for _, td := range testDrivers {
		t.Run(td.name, func(t *testing.T) {
			drv := td.new(t)
			ctx := t.Context()
			s := New(drv)
			if !s.pendingApart() {
				t.Skip("the driver keeps uploads where they always were")
			}
			first := []byte("sent before the upgrade, ")
			id := parkLegacy(t, drv, "r", first)
			u, err := s.ResumeUpload(ctx, "r", id)
			if err != nil || u.Offset() != int64(len(first)) {
				t.Fatalf("status of a legacy upload: %v at %d, want %d", err, u.Offset(), len(first))
			}
			if u, err = s.Upload("r", id); err != nil {
				t.Fatal(err)
			}
			if err := u.Append(ctx, bytes.NewReader([]byte("after it, ")), int64(len(first))); err != nil {
				t.Fatalf("chunk of a legacy upload: %v", err)
			}
			if _, err := drv.Writer(ctx, layout.UploadPendingPath("r", id), true); !errors.Is(err, storagedriver.ErrPathNotFound) {
				t.Errorf("a chunk of a legacy upload went to the new path: %v", err)
			}
			all := []byte("sent before the upgrade, after it, and committed")
			if u, err = s.Upload("r", id); err != nil {
				t.Fatal(err)
			}
			if n, err := u.Commit(ctx, digest.FromBytes(all), bytes.NewReader([]byte("and committed")), -1); err != nil || n != int64(len(all)) {
				t.Fatalf("commit of a legacy upload: %d, %v", n, err)
			}
			if n, err := s.StatBlob(ctx, "r", digest.FromBytes(all)); err != nil || n != int64(len(all)) {
				t.Errorf("the legacy upload's blob: %d, %v", n, err)
			}
			uploadGone(ctx, t, s, drv, id)

			// Cancelled: once, and then it is unknown.
			id = parkLegacy(t, drv, "r", first)
			if u, err = s.Upload("r", id); err != nil {
				t.Fatal(err)
			}
			if err := u.Cancel(ctx); err != nil {
				t.Fatalf("cancel of a legacy upload: %v", err)
			}
			if err := u.Cancel(ctx); !errors.Is(err, ErrUploadUnknown) {
				t.Errorf("second cancel of a legacy upload: %v, want ErrUploadUnknown", err)
			}
			uploadGone(ctx, t, s, drv, id)

			// Committed under a digest its bytes do not have, then under
			// one the hash state cannot give (sha512: read back).
			id = parkLegacy(t, drv, "r", first)
			if u, err = s.Upload("r", id); err != nil {
				t.Fatal(err)
			}
			if _, err := u.Commit(ctx, digest.FromString("wrong"), nil, -1); !errors.Is(err, ErrDigestInvalid) {
				t.Errorf("legacy upload, wrong digest: %v, want ErrDigestInvalid", err)
			}
			uploadGone(ctx, t, s, drv, id)
			id = parkLegacy(t, drv, "r", first)
			if u, err = s.Upload("r", id); err != nil {
				t.Fatal(err)
			}
			d := digest.SHA512.FromBytes(first)
			if _, err := u.Commit(ctx, d, nil, -1); err != nil {
				t.Fatalf("legacy upload, sha512: %v", err)
			}
			if n, err := s.StatBlob(ctx, "r", d); err != nil || n != int64(len(first)) {
				t.Errorf("the legacy upload's sha512 blob: %d, %v", n, err)
			}
			uploadGone(ctx, t, s, drv, id)
		})
	}
}

// TestUploadCommitReadBack: on every driver, an upload committed under a
// digest its hash state cannot give (sha512), in chunks or whole, is
// committed into the upload, read back and moved to the blob, and leaves
// nothing; one whose bytes do not match publishes nothing.
func TestUploadCommitReadBack(t *testing.T) {
	for _, td := range testDrivers {
		t.Run(td.name, func(t *testing.T) {
			drv := td.new(t)
			ctx := t.Context()
			s := New(drv)
			for _, chunked := range []bool{true, false} {
				content := fmt.Appendf(nil, "hashed again at the commit, chunked: %v", chunked)
				d := digest.SHA512.FromBytes(content)
				u, err := s.StartUpload(ctx, "r")
				if err != nil {
					t.Fatal(err)
				}
				body := content
				if chunked {
					if err := u.Append(ctx, bytes.NewReader(content[:10]), 0); err != nil {
						t.Fatal(err)
					}
					body = content[10:]
				}
				if u, err = s.Upload("r", u.ID()); err != nil {
					t.Fatal(err)
				}
				if n, err := u.Commit(ctx, d, bytes.NewReader(body), -1); err != nil || n != int64(len(content)) {
					t.Fatalf("chunked %v: commit: %d, %v", chunked, n, err)
				}
				if n, err := s.StatBlob(ctx, "r", d); err != nil || n != int64(len(content)) {
					t.Errorf("chunked %v: blob: %d, %v", chunked, n, err)
				}
				uploadGone(ctx, t, s, drv, u.ID())

				u, err = s.StartUpload(ctx, "r")
				if err != nil {
					t.Fatal(err)
				}
				wrong := digest.SHA512.FromString("other bytes")
				if _, err := u.Commit(ctx, wrong, bytes.NewReader(content), -1); !errors.Is(err, ErrDigestInvalid) {
					t.Errorf("chunked %v: wrong digest: %v, want ErrDigestInvalid", chunked, err)
				}
				if _, err := s.StatBlob(ctx, "r", wrong); !errors.Is(err, ErrBlobUnknown) {
					t.Errorf("chunked %v: a mismatched upload was published: %v", chunked, err)
				}
				uploadGone(ctx, t, s, drv, u.ID())
			}
		})
	}
}
