package s3_test

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

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

// TestFailedCommitStaysResumable proves that a Commit that fails at its
// last step (S3 refusing CompleteMultipartUpload) leaves a write that
// Close records and a later writer continues and commits whole: the short
// last part sent by the failed Commit does not end up in its middle.
func TestFailedCommitStaysResumable(t *testing.T) {
	srv, root := s3test.NewRoot(t)
	target, err := url.Parse(srv.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	var refuse atomic.Bool
	rp := httputil.NewSingleHostReverseProxy(target)
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if refuse.Load() && r.Method == http.MethodPost && r.URL.Query().Has("uploadId") {
			w.WriteHeader(http.StatusServiceUnavailable) // CompleteMultipartUpload
			return
		}
		rp.ServeHTTP(w, r)
	}))
	defer proxy.Close()
	p := srv.Params(s3test.Bucket, root)
	p.RegionEndpoint = proxy.URL
	d, err := s3.New(t.Context(), p)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	const path = "/up/data"
	content := noise(31, 2*s3.MinChunkSize+300)
	first := s3.MinChunkSize + 100 // one part and a short tail

	w, _ := d.Writer(ctx, path, false)
	_, _ = w.Write(content[:first])
	refuse.Store(true)
	if err := w.Commit(ctx); !errors.Is(err, storagedriver.ErrUnavailable) {
		t.Fatalf("Commit with CompleteMultipartUpload refused: %v, want ErrUnavailable", err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("Close after the failed Commit: %v", err)
	}
	refuse.Store(false)
	if _, err := d.Stat(ctx, path); !errors.Is(err, storagedriver.ErrPathNotFound) {
		t.Fatalf("Stat after the failed Commit: %v, want ErrPathNotFound", err)
	}

	w, err = d.Writer(ctx, path, true)
	if err != nil {
		t.Fatal(err)
	}
	if w.Size() != int64(first) {
		t.Fatalf("resumed Size %d, want %d", w.Size(), first)
	}
	_, _ = w.Write(content[first:])
	if err := w.Commit(ctx); err != nil {
		t.Fatalf("Commit after resuming: %v", err)
	}
	if got, err := d.GetContent(ctx, path); err != nil || !bytes.Equal(got, content) {
		t.Fatalf("committed %d bytes (%v), equal %v; want %d", len(got), err, bytes.Equal(got, content), len(content))
	}
}

// TestResumeReadsTailOnlyToWrite proves that resuming a pending write
// moves none of its bytes until something is written: asking for its Size
// (an upload's status) is a HEAD, and a Commit without new bytes copies the
// tail inside S3, both before and after the write has parts.
func TestResumeReadsTailOnlyToWrite(t *testing.T) {
	srv, root := s3test.NewRoot(t)
	target, err := url.Parse(srv.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	var tailGets atomic.Int64
	rp := httputil.NewSingleHostReverseProxy(target)
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/~pending/") {
			tailGets.Add(1)
		}
		rp.ServeHTTP(w, r)
	}))
	defer proxy.Close()
	p := srv.Params(s3test.Bucket, root)
	p.RegionEndpoint = proxy.URL
	d, err := s3.New(t.Context(), p)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	for _, size := range []int{3 << 20, s3.MinChunkSize + 3<<20} { // a tail alone; a part and a tail
		path := fmt.Sprintf("/up/%d", size)
		content := noise(uint64(size), size)
		w, _ := d.Writer(ctx, path, false)
		_, _ = w.Write(content)
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		tailGets.Store(0)
		for range 2 {
			w, err := d.Writer(ctx, path, true)
			if err != nil {
				t.Fatal(err)
			}
			if w.Size() != int64(size) {
				t.Fatalf("resumed Size %d, want %d", w.Size(), size)
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
		}
		w, _ = d.Writer(ctx, path, true)
		if err := w.Commit(ctx); err != nil {
			t.Fatalf("Commit of %d bytes without a write: %v", size, err)
		}
		if n := tailGets.Load(); n != 0 {
			t.Errorf("%d bytes: %d GETs of the tail for two Size checks and a Commit, want none", size, n)
		}
		if got, err := d.GetContent(ctx, path); err != nil || !bytes.Equal(got, content) {
			t.Fatalf("committed %d bytes (%v), equal %v; want %d", len(got), err, bytes.Equal(got, content), size)
		}
	}
}

// TestDeleteDiscardsWriterWithParts proves the contract's open-writer rule
// where S3 makes it hardest: a writer whose directory is deleted before its
// first part starts a multipart upload of its own afterwards, which no
// Delete saw. Its Commit must still fail with ErrPathNotFound, publish
// nothing, and leave no upload behind.
func TestDeleteDiscardsWriterWithParts(t *testing.T) {
	srv, root, ds := nodes(t, 1)
	d, ctx := ds[0], t.Context()
	w, err := d.Writer(ctx, "/up/1/data", false)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.PutContent(ctx, "/up/1/startedat", []byte("now")); err != nil {
		t.Fatal(err)
	}
	if err := d.Delete(ctx, "/up/1"); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(noise(3, 2*s3.MinChunkSize+1)); err != nil { // two parts, after the Delete
		t.Fatal(err)
	}
	if err := w.Commit(ctx); !errors.Is(err, storagedriver.ErrPathNotFound) {
		t.Fatalf("Commit after Delete: %v, want ErrPathNotFound", err)
	}
	if err := w.Close(); err != nil {
		t.Errorf("Close after the refused Commit: %v", err)
	}
	if _, err := d.Stat(ctx, "/up/1/data"); !errors.Is(err, storagedriver.ErrPathNotFound) {
		t.Errorf("Stat after Delete and Commit: %v, want ErrPathNotFound", err)
	}
	if ups := srv.Uploads(t, s3test.Bucket, root+"/"); len(ups) != 0 {
		t.Errorf("uploads left after the refused Commit: %q", ups)
	}
}

// TestRequestsPerUpload counts the S3 requests of the writer calls of a
// blob push as registry/storage makes them: POST is Writer with append
// false, then Close (the upload just started); PATCH is Writer with append
// true, Write, Close; PUT ?digest= is Writer with append true, Write of
// the body if any, Commit. The record that lets Delete discard an open
// writer must not make a monolithic push (POST, PUT with the body) or a
// chunked one (POST, PATCH, PUT without a body) dearer.
func TestRequestsPerUpload(t *testing.T) {
	srv, root := s3test.NewRoot(t)
	target, err := url.Parse(srv.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var seen []string
	rp := httputil.NewSingleHostReverseProxy(target)
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Method)
		mu.Unlock()
		rp.ServeHTTP(w, r)
	}))
	defer proxy.Close()
	p := srv.Params(s3test.Bucket, root)
	p.RegionEndpoint = proxy.URL
	d, err := s3.New(t.Context(), p)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	// step runs one request's writer calls and returns their S3 requests.
	step := func(path string, appendTo bool, body string, commit bool) []string {
		t.Helper()
		mu.Lock()
		seen = nil
		mu.Unlock()
		w, err := d.Writer(ctx, path, appendTo)
		if err != nil {
			t.Fatal(err)
		}
		defer w.Close()
		if body != "" {
			if _, err := w.Write([]byte(body)); err != nil {
				t.Fatal(err)
			}
		}
		if commit {
			err = w.Commit(ctx)
		} else {
			err = w.Close()
		}
		if err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		defer mu.Unlock()
		return seen
	}
	for _, tc := range []struct {
		name  string
		steps []string // POST, PATCH, PUT with a body, PUT without
		want  int
	}{
		{"monolithic", []string{"POST", "PUT+body"}, 5},
		{"chunked", []string{"POST", "PATCH", "PUT"}, 6},
	} {
		path := "/r/_uploads/" + tc.name + "/data"
		var total []string
		for _, s := range tc.steps {
			var got []string
			switch s {
			case "POST":
				got = step(path, false, "", false)
			case "PATCH":
				got = step(path, true, "chunk", false)
			case "PUT+body":
				got = step(path, true, "chunk", true)
			case "PUT":
				got = step(path, true, "", true)
			}
			t.Logf("%s %-8s %v", tc.name, s, got)
			total = append(total, got...)
		}
		t.Logf("%s push: %d S3 requests", tc.name, len(total))
		if len(total) > tc.want {
			t.Errorf("%s push: %d S3 requests %v, want at most %d", tc.name, len(total), total, tc.want)
		}
		if got, err := d.GetContent(ctx, path); err != nil || string(got) != "chunk" {
			t.Fatalf("%s: committed %q, %v; want %q", tc.name, got, err, "chunk")
		}
	}
}
