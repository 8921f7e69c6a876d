package s3_test

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/testutil/s3test"
	"github.com/berth-registry/berth/storagedriver"
	"github.com/berth-registry/berth/storagedriver/s3"
)

// nodes returns n drivers on one root directory, as n registry processes
// sharing a bucket would have: nothing in common but the bucket.
func nodes(t *testing.T, n int) (*s3test.Server, string, []*s3.Driver) {
	t.Helper()
	srv, root := s3test.NewRoot(t)
	ds := make([]*s3.Driver, n)
	for i := range ds {
		d, err := s3.New(t.Context(), srv.Params(s3test.Bucket, root))
		if err != nil {
			t.Fatal(err)
		}
		ds[i] = d
	}
	return srv, root, ds
}

// noise is n bytes of seeded pseudo-random data.
func noise(seed uint64, n int) []byte {
	b := make([]byte, n)
	var key [32]byte
	key[0], key[1] = byte(seed), byte(seed>>8)
	_, _ = rand.NewChaCha8(key).Read(b)
	return b
}

// TestTinyAppendsAcrossInstances proves the writer design against S3's
// 5 MiB minimum part: 200 appends, mostly of 1 to 300 bytes, some of
// megabytes, each by another of three driver instances (as PATCHes landing
// on different nodes), resume with the right Size, leave only full-size
// parts, and commit on yet another instance to exactly the bytes written.
func TestTinyAppendsAcrossInstances(t *testing.T) {
	srv, root, ds := nodes(t, 4)
	ctx := t.Context()
	const p = "/up/data"
	w, err := ds[0].Writer(ctx, p, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	want := sha256.New()
	var size int64
	for i := range 200 {
		n := 1 + rng.IntN(300)
		if i%40 == 39 {
			n = 1<<20 + rng.IntN(3<<20) // crosses a part boundary now and then
		}
		chunk := noise(uint64(i), n)
		w, err := ds[i%3].Writer(ctx, p, true)
		if err != nil {
			t.Fatalf("append %d: Writer: %v", i, err)
		}
		if w.Size() != size {
			t.Fatalf("append %d on instance %d: resumed Size %d, want %d", i, i%3, w.Size(), size)
		}
		if i%2 == 0 {
			_, err = w.Write(chunk)
		} else {
			_, err = io.Copy(w, bytes.NewBuffer(chunk)) // ReadFrom
		}
		if err != nil {
			t.Fatalf("append %d: %v", i, err)
		}
		if err := w.Close(); err != nil {
			t.Fatalf("append %d: Close: %v", i, err)
		}
		want.Write(chunk)
		size += int64(n)
	}
	parts := srv.PartSizes(t, s3test.Bucket, root+p)
	var inParts int64
	for i, s := range parts {
		if s < s3.MinChunkSize {
			t.Errorf("part %d of the pending write is %d bytes, below S3's minimum", i+1, s)
		}
		inParts += s
	}
	t.Logf("%d bytes in %d appends: %d parts of %d bytes, %d bytes in the tail", size, 200, len(parts), inParts, size-inParts)
	if len(parts) < 2 {
		t.Fatalf("only %d parts: the test did not cross part boundaries", len(parts))
	}

	w, err = ds[3].Writer(ctx, p, true)
	if err != nil {
		t.Fatal(err)
	}
	if w.Size() != size {
		t.Fatalf("Size before Commit %d, want %d", w.Size(), size)
	}
	if err := w.Commit(ctx); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	w.Close()
	rc, err := ds[1].Reader(ctx, p, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	got := sha256.New()
	n, err := io.Copy(got, rc)
	if err != nil || n != size || !bytes.Equal(got.Sum(nil), want.Sum(nil)) {
		t.Fatalf("read back %d bytes (%v), hash equal %v; want %d bytes", n, err, bytes.Equal(got.Sum(nil), want.Sum(nil)), size)
	}
	if _, err := ds[2].Writer(ctx, p, true); !errors.Is(err, storagedriver.ErrPathNotFound) {
		t.Errorf("Writer(append) after Commit: %v, want ErrPathNotFound", err)
	}
	if ups := srv.Uploads(t, s3test.Bucket, root+"/"); len(ups) != 0 {
		t.Errorf("multipart uploads left after Commit: %q", ups)
	}
}

// TestRacingResumersNeverMix proves that two writers resuming one pending
// write at once (a client retrying a PATCH on another node while the first
// is still running) cannot publish a mix of their bytes: the write ends as
// exactly one writer's bytes, or its Commit refuses and publishes nothing.
func TestRacingResumersNeverMix(t *testing.T) {
	for _, lastClose := range []string{"a", "b"} {
		t.Run("last close by "+lastClose, func(t *testing.T) {
			_, _, ds := nodes(t, 3)
			ctx := t.Context()
			const p = "/race/data"
			head := noise(1, s3.MinChunkSize+100) // one part, and a tail
			w, _ := ds[0].Writer(ctx, p, false)
			_, _ = w.Write(head)
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			a, err := ds[0].Writer(ctx, p, true)
			if err != nil {
				t.Fatal(err)
			}
			b, err := ds[1].Writer(ctx, p, true)
			if err != nil {
				t.Fatal(err)
			}
			bodyA := bytes.Repeat([]byte("a"), s3.MinChunkSize+1)
			bodyB := bytes.Repeat([]byte("b"), s3.MinChunkSize+2)
			// Both upload part 2; b's overwrites a's in S3.
			if _, err := a.Write(bodyA); err != nil {
				t.Fatal(err)
			}
			if _, err := b.Write(bodyB); err != nil {
				t.Fatal(err)
			}
			first, last := a, b
			if lastClose == "a" {
				first, last = b, a
			}
			if err := first.Close(); err != nil {
				t.Fatal(err)
			}
			if err := last.Close(); err != nil {
				t.Fatal(err)
			}
			c, err := ds[2].Writer(ctx, p, true)
			if err != nil {
				t.Fatal(err)
			}
			err = c.Commit(ctx)
			c.Close()
			// The record is the last closer's. A writer uploads its parts
			// in the background while Write returns, so either writer's
			// part 2 may be the one S3 kept: the Commit publishes head and
			// the last closer's body when the part is its own, and
			// otherwise refuses and publishes nothing.
			if err != nil {
				if !strings.Contains(err.Error(), "parts changed") {
					t.Fatalf("Commit of %s's record: %v, want success or the parts-changed refusal", lastClose, err)
				}
				if _, err := ds[2].Stat(ctx, p); !errors.Is(err, storagedriver.ErrPathNotFound) {
					t.Fatalf("Stat after a refused Commit: %v, want ErrPathNotFound", err)
				}
				return
			}
			got, err := ds[2].GetContent(ctx, p)
			if err != nil {
				t.Fatal(err)
			}
			body := bodyB
			if lastClose == "a" {
				body = bodyA
			}
			if want := append(bytes.Clone(head), body...); !bytes.Equal(got, want) {
				t.Fatalf("committed %d bytes that are not head+%s (%d bytes)", len(got), lastClose, len(want))
			}
		})
	}
}

// TestMoveLargeObject proves Move above the multipart-copy threshold: the
// parallel UploadPartCopy of an object of several parts (the last one
// short) arrives whole, and the source is gone.
func TestMoveLargeObject(t *testing.T) {
	d := s3test.NewDriver(t)
	ctx := t.Context()
	content := noise(7, 3*s3.MinChunkSize+12345)
	if err := d.PutContent(ctx, "/uploads/x/data", content); err != nil {
		t.Fatal(err)
	}
	if err := d.Move(ctx, "/uploads/x/data", "/blobs/ab/cd/data"); err != nil {
		t.Fatalf("Move: %v", err)
	}
	got, err := d.GetContent(ctx, "/blobs/ab/cd/data")
	if err != nil || !bytes.Equal(got, content) {
		t.Fatalf("moved content: %d bytes (%v), equal %v; want %d bytes", len(got), err, bytes.Equal(got, content), len(content))
	}
	if _, err := d.Stat(ctx, "/uploads"); !errors.Is(err, storagedriver.ErrPathNotFound) {
		t.Errorf("Stat of the emptied source directory: %v, want ErrPathNotFound", err)
	}
}

// TestDeleteAbortsMultipartUploads proves that deleting a directory aborts
// the multipart uploads of the pending writes below it, those a writer
// recorded and those a crashed writer left unrecorded, so no parts linger
// in the bucket.
func TestDeleteAbortsMultipartUploads(t *testing.T) {
	srv, root, ds := nodes(t, 1)
	d, ctx := ds[0], t.Context()
	w, _ := d.Writer(ctx, "/up/1/data", false)
	_, _ = w.Write(noise(1, s3.MinChunkSize+1)) // a recorded part
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	crashed, _ := d.Writer(ctx, "/up/1/other", false)
	_, _ = crashed.Write(noise(2, s3.MinChunkSize+1)) // a part, never recorded: no Close
	// The writer's process crashes once its part is in S3. Write only
	// starts the part's upload: one still in flight could land after
	// Delete aborted the upload, and versitygw then makes the upload
	// again (its UploadPart creates the directory it links the part
	// into). A live writer aborts it at its Close or Commit
	// (TestDeleteDiscardsWriterWithParts); a crashed one sends nothing.
	waitForParts(t, srv, root+"/up/1/other", 1)
	if err := d.PutContent(ctx, "/up/1/startedat", []byte("now")); err != nil {
		t.Fatal(err)
	}
	if ups := srv.Uploads(t, s3test.Bucket, root+"/up/"); len(ups) != 2 {
		t.Fatalf("uploads in progress before Delete: %q, want 2", ups)
	}
	if err := d.Delete(ctx, "/up/1"); err != nil {
		t.Fatal(err)
	}
	if ups := srv.Uploads(t, s3test.Bucket, root+"/"); len(ups) != 0 {
		t.Errorf("uploads left after Delete: %q", ups)
	}
	if _, err := d.Writer(ctx, "/up/1/data", true); !errors.Is(err, storagedriver.ErrPathNotFound) {
		t.Errorf("Writer(append) after Delete: %v, want ErrPathNotFound", err)
	}
}

// waitForParts waits until the one multipart upload of key in progress
// has n parts.
func waitForParts(t *testing.T, srv *s3test.Server, key string, n int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for len(srv.PartSizes(t, s3test.Bucket, key)) != n {
		if time.Now().After(deadline) {
			t.Fatalf("%s: parts %v after 30s, want %d", key, srv.PartSizes(t, s3test.Bucket, key), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestRedirectURL proves that with redirects on, RedirectURL presigns a
// GET that fetches the object from S3 without credentials, and a HEAD; and
// that with redirects off it answers "" (serve it yourself).
func TestRedirectURL(t *testing.T) {
	ctx := t.Context()
	off := s3test.NewDriver(t)
	if u, err := off.RedirectURL(ctx, http.MethodGet, "/x"); u != "" || err != nil {
		t.Errorf("RedirectURL with redirects off = %q, %v; want \"\"", u, err)
	}
	d := s3test.NewDriver(t, func(p *s3.Params) { p.Redirect = true })
	content := noise(3, 1000)
	if err := d.PutContent(ctx, "/blob/data", content); err != nil {
		t.Fatal(err)
	}
	for _, method := range []string{http.MethodGet, http.MethodHead} {
		u, err := d.RedirectURL(ctx, method, "/blob/data")
		if err != nil || !strings.Contains(u, "X-Amz-Signature=") {
			t.Fatalf("RedirectURL(%s) = %q, %v; want a presigned URL", method, u, err)
		}
		req, _ := http.NewRequestWithContext(ctx, method, u, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || resp.ContentLength != int64(len(content)) {
			t.Fatalf("%s presigned URL: %s, length %d", method, resp.Status, resp.ContentLength)
		}
		if method == http.MethodGet && !bytes.Equal(body, content) {
			t.Fatalf("GET presigned URL returned %d bytes that differ", len(body))
		}
	}
	if u, err := d.RedirectURL(ctx, http.MethodPut, "/blob/data"); u != "" || err != nil {
		t.Errorf("RedirectURL(PUT) = %q, %v; want \"\"", u, err)
	}
}
