package s3_test

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/berth-registry/berth/internal/testutil/s3test"
	"github.com/berth-registry/berth/storagedriver"
	"github.com/berth-registry/berth/storagedriver/s3"
)

// Writers that fail, resume or are discarded, and what an upload costs
// in requests; the writers across instances are in writer_test.go.

// proxiedDriver is s3test.NewProxiedDriver's proxied driver.
func proxiedDriver(t *testing.T, see func(http.ResponseWriter, *http.Request) bool) *s3.Driver {
	d, _ := s3test.NewProxiedDriver(t, see)
	return d
}

// TestFailedCommitStaysResumable proves that a Commit that fails at its
// last step (S3 refusing CompleteMultipartUpload) leaves a write that
// Close records and a later writer continues and commits whole: the short
// last part sent by the failed Commit does not end up in its middle.
func TestFailedCommitStaysResumable(t *testing.T) {
	var refuse atomic.Bool
	d := proxiedDriver(t, func(w http.ResponseWriter, r *http.Request) bool {
		if refuse.Load() && r.Method == http.MethodPost && r.URL.Query().Has("uploadId") {
			w.WriteHeader(http.StatusServiceUnavailable) // CompleteMultipartUpload
			return true
		}
		return false
	})
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

	w, err := d.Writer(ctx, path, true)
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
	var tailGets atomic.Int64
	d := proxiedDriver(t, func(_ http.ResponseWriter, r *http.Request) bool {
		if r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/~pending/") {
			tailGets.Add(1)
		}
		return false
	})
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
	var mu sync.Mutex
	var seen []string
	d := proxiedDriver(t, func(_ http.ResponseWriter, r *http.Request) bool {
		mu.Lock()
		seen = append(seen, r.Method)
		mu.Unlock()
		return false
	})
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
