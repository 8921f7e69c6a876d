package storage

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/testutil/s3test"
	"github.com/berth-registry/berth/registry/storage/internal/layout"
	"github.com/berth-registry/berth/storagedriver"
	"github.com/berth-registry/berth/storagedriver/s3"
)

// noMove is the S3 driver with Move refused: an upload that commits
// without a second copy of its bytes never needs it.
type noMove struct{ *s3.Driver }

func (noMove) Move(context.Context, string, string) error {
	return errors.New("Move called: the blob was copied")
}

func randomBytes(seed uint64, n int) []byte {
	b := make([]byte, n)
	var key [32]byte
	key[0] = byte(seed)
	_, _ = rand.NewChaCha8(key).Read(b)
	return b
}

// TestS3MonolithicCommitWritesInPlace: on S3 a blob pushed in its
// committing request (POST, then PUT with the body and the digest) is
// written to the blob's own key, never moved there (noMove), whether it
// fits one part or several; a body that does not hash to the digest, or
// breaks off, publishes nothing and leaves neither the upload nor a
// multipart upload behind.
func TestS3MonolithicCommitWritesInPlace(t *testing.T) {
	srv, root := s3test.NewRoot(t)
	raw, err := s3.New(t.Context(), srv.Params(s3test.Bucket, root))
	if err != nil {
		t.Fatal(err)
	}
	drv := noMove{raw}
	s := New(drv)
	ctx := t.Context()
	for _, n := range []int{100, 2*s3.MinChunkSize + 17} {
		content := randomBytes(uint64(n), n)
		d := digest.FromBytes(content)
		u, err := s.StartUpload(ctx, "r")
		if err != nil {
			t.Fatal(err)
		}
		size, err := u.Commit(ctx, d, bytes.NewReader(content), -1)
		if err != nil || size != int64(n) {
			t.Fatalf("%d bytes: commit: %d, %v", n, size, err)
		}
		if got, err := s.StatBlob(ctx, "r", d); err != nil || got != int64(n) {
			t.Fatalf("%d bytes: stat: %d, %v", n, got, err)
		}
		rc, _, err := s.OpenBlob(ctx, "r", d)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || !bytes.Equal(got, content) {
			t.Fatalf("%d bytes: read back %d bytes, %v", n, len(got), err)
		}
		if _, err := drv.List(ctx, layout.UploadDir("r", u.ID())); !errors.Is(err, storagedriver.ErrPathNotFound) {
			t.Errorf("%d bytes: the upload's directory is still there: %v", n, err)
		}

		// The same bytes under another digest, then cut short.
		wrong := digest.FromString("not these bytes")
		u, err = s.StartUpload(ctx, "r")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := u.Commit(ctx, wrong, bytes.NewReader(content), -1); !errors.Is(err, ErrDigestInvalid) {
			t.Fatalf("%d bytes: wrong digest: %v, want ErrDigestInvalid", n, err)
		}
		cut := errors.New("connection cut")
		u2, err := s.StartUpload(ctx, "r")
		if err != nil {
			t.Fatal(err)
		}
		other := randomBytes(uint64(n)+1, n)
		body := io.MultiReader(bytes.NewReader(other[:n-1]), readerFunc(func([]byte) (int, error) { return 0, cut }))
		if _, err := u2.Commit(ctx, digest.FromBytes(other), body, -1); !errors.Is(err, cut) {
			t.Fatalf("%d bytes: cut body: %v, want its error", n, err)
		}
		for _, dg := range []digest.Digest{wrong, digest.FromBytes(other)} {
			if _, err := drv.Stat(ctx, layout.BlobDataPath(dg)); !errors.Is(err, storagedriver.ErrPathNotFound) {
				t.Errorf("%d bytes: blob %s published by a failed upload: %v", n, dg, err)
			}
		}
		for _, id := range []string{u.ID(), u2.ID()} {
			if _, err := s.ResumeUpload(ctx, "r", id); !errors.Is(err, ErrUploadUnknown) {
				t.Errorf("%d bytes: failed upload %s: %v, want ErrUploadUnknown", n, id, err)
			}
		}
		if ups := srv.Uploads(t, s3test.Bucket, root+"/"); len(ups) != 0 {
			t.Errorf("%d bytes: multipart uploads left: %q", n, ups)
		}
	}
}

// TestS3ChunksKeepHashWithWrite: on S3 an upload's hash state travels with
// its pending write (storagedriver.StateKeeper), that of the upload's own
// path, rather than in files of its own, and another store (another node)
// resumes and commits it with the digest checked.
func TestS3ChunksKeepHashWithWrite(t *testing.T) {
	drv := s3test.NewDriver(t)
	a, b := New(drv), New(drv)
	ctx := t.Context()
	u, err := a.StartUpload(ctx, "r")
	if err != nil {
		t.Fatal(err)
	}
	var all []byte
	for i := range 3 {
		chunk := randomBytes(uint64(i), s3.MinChunkSize+i)
		s := []*Store{a, b}[i%2]
		up, err := s.Upload("r", u.ID())
		if err != nil {
			t.Fatal(err)
		}
		if err := up.Append(ctx, bytes.NewReader(chunk), int64(len(all))); err != nil {
			t.Fatalf("chunk %d: %v", i, err)
		}
		all = append(all, chunk...)
		if up.Offset() != int64(len(all)) {
			t.Fatalf("chunk %d: offset %d, want %d", i, up.Offset(), len(all))
		}
		if names, err := drv.List(ctx, layout.UploadDir("r", u.ID())+"/hashstates"); !errors.Is(err, storagedriver.ErrPathNotFound) {
			t.Fatalf("chunk %d: hash state files %q, %v; want none", i, names, err)
		}
	}
	// The pending write is that of the upload's own path, not of its data
	// file (where an earlier Berth kept it: TestLegacyUploadsGoOn).
	if _, err := drv.Writer(ctx, layout.UploadDataPath("r", u.ID()), true); !errors.Is(err, storagedriver.ErrPathNotFound) {
		t.Errorf("a pending write at the upload's data file: %v", err)
	}
	w, err := drv.Writer(ctx, layout.UploadPendingPath("r", u.ID()), true)
	if err != nil {
		t.Fatal(err)
	}
	if keptHash(w, int64(len(all))) == nil {
		t.Fatal("no hash state kept with the pending write")
	}
	w.Close()
	up, err := b.Upload("r", u.ID())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := up.Commit(ctx, digest.FromString("wrong"), nil, -1); !errors.Is(err, ErrDigestInvalid) {
		t.Fatalf("wrong digest: %v, want ErrDigestInvalid", err)
	}
	u, err = a.StartUpload(ctx, "r")
	if err != nil {
		t.Fatal(err)
	}
	if err := u.Append(ctx, bytes.NewReader(all[:s3.MinChunkSize]), 0); err != nil {
		t.Fatal(err)
	}
	up, err = b.Upload("r", u.ID())
	if err != nil {
		t.Fatal(err)
	}
	d := digest.FromBytes(all)
	if n, err := up.Commit(ctx, d, bytes.NewReader(all[s3.MinChunkSize:]), s3.MinChunkSize); err != nil || n != int64(len(all)) {
		t.Fatalf("commit: %d, %v", n, err)
	}
	if n, err := a.StatBlob(ctx, "r", d); err != nil || n != int64(len(all)) {
		t.Fatalf("stat: %d, %v", n, err)
	}
}
