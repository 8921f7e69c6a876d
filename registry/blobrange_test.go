package registry_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/berth-registry/berth/registry"
	"github.com/berth-registry/berth/storagedriver"
	"github.com/berth-registry/berth/storagedriver/filesystem"
)

// fsApp returns an App with deletes on over a fresh filesystem driver.
func fsApp(t *testing.T) (*registry.App, storagedriver.Driver) {
	t.Helper()
	drv, err := filesystem.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	app, err := registry.New(context.Background(), drv, registry.WithDelete(true))
	if err != nil {
		t.Fatal(err)
	}
	return app, drv
}

// rangeCases are Range headers of every kind for a blob of size bytes.
func rangeCases(size int) [][]string {
	return [][]string{
		nil,
		{"Range", "bytes=10-19"},
		{"Range", "bytes=0-0"},
		{"Range", fmt.Sprintf("bytes=%d-%d", size-4, size-1)},
		{"Range", fmt.Sprintf("bytes=%d-%d", size-4, size+100)}, // cut at the end
		{"Range", fmt.Sprintf("bytes=%d-%d", size, size+10)},    // 416
		{"Range", "bytes=20-10"},                                // invalid: ignored
		{"Range", "bytes=0-4,10-14"},                            // multipart
		{"Range", "bytes=-5"},
		{"Range", "bytes=5-"},
		{"Range", "bytes=0-300000"}, // past the short ranges
		{"Range", "bytes=x-y"},
		{"Range", "bytes=10-19", "If-Range", `"sha256:other"`}, // the whole blob
	}
}

// unbound returns the body of rec with a multipart answer's random
// boundary replaced by a fixed one.
func unbound(rec *httptest.ResponseRecorder) string {
	_, b, ok := strings.Cut(rec.Header().Get("Content-Type"), "multipart/byteranges; boundary=")
	if !ok {
		return rec.Body.String()
	}
	return strings.ReplaceAll(rec.Body.String(), b, "BOUNDARY")
}

// TestBlobRangesThroughOpenFiles holds that a blob GET answers every
// Range header the same way whether its short ranges are read through
// the node's open files (the default) or through a file opened for the
// request (no node cache), and that a blob deleted from a repository is
// not served there after, while another repository's link still is.
func TestBlobRangesThroughOpenFiles(t *testing.T) {
	app, drv := fsApp(t)
	ref, err := registry.New(context.Background(), drv, registry.WithMemCache(nil))
	if err != nil {
		t.Fatal(err)
	}
	blob := bytes.Repeat([]byte("0123456789abcdef"), 1000)
	d := pushBlob(t, app, "team/a", blob)
	pushBlob(t, app, "team/b", blob)
	path := "/v2/team/a/blobs/" + d.String()
	for _, hdr := range rangeCases(len(blob)) {
		for range 2 { // the second through the file the first left open
			got, want := do(t, app, "GET", path, nil, hdr...), do(t, ref, "GET", path, nil, hdr...)
			if gb, wb := unbound(got), unbound(want); got.Code != want.Code || gb != wb {
				t.Fatalf("%q: %d, %d bytes; without open files %d, %d bytes", hdr, got.Code, len(gb), want.Code, len(wb))
			}
			for _, k := range []string{"Content-Range", "Content-Length", "Content-Type", "Docker-Content-Digest", "Etag", "Accept-Ranges"} {
				if g, w := got.Header().Get(k), want.Header().Get(k); g != w && !strings.HasPrefix(w, "multipart/byteranges; boundary=") {
					t.Fatalf("%q: %s %q, without open files %q", hdr, k, g, w)
				}
			}
		}
	}
	if got := do(t, app, "GET", path, nil, "Range", "bytes=10-19"); got.Code != http.StatusPartialContent || got.Body.String() != "abcdef0123" {
		t.Fatalf("range 10-19: %d %q", got.Code, got.Body)
	}

	if rec := do(t, app, "DELETE", path, nil); rec.Code != http.StatusAccepted {
		t.Fatalf("DELETE: %d %s", rec.Code, rec.Body)
	}
	if rec := do(t, app, "GET", path, nil, "Range", "bytes=10-19"); rec.Code != http.StatusNotFound || errorCode(t, rec) != "BLOB_UNKNOWN" {
		t.Fatalf("a range of the deleted blob: %d %s", rec.Code, rec.Body)
	}
	if rec := do(t, app, "GET", "/v2/team/b/blobs/"+d.String(), nil, "Range", "bytes=10-19"); rec.Code != http.StatusPartialContent || rec.Body.String() != "abcdef0123" {
		t.Fatalf("a range of the blob in the repository that keeps it: %d %q", rec.Code, rec.Body)
	}
}

// Concurrent short ranges of one blob over loopback, each checked, while
// the blob is deleted and pushed again: every answer is either the right
// bytes or 404 (go test -race).
func TestBlobRangesConcurrent(t *testing.T) {
	app, _ := fsApp(t)
	srv := httptest.NewServer(app)
	t.Cleanup(srv.Close)
	blob := make([]byte, 1<<20)
	for i := range blob {
		blob[i] = byte(i * 13 / 7)
	}
	d := pushBlob(t, app, "team/a", blob)
	url := srv.URL + "/v2/team/a/blobs/" + d.String()
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 4 {
		wg.Go(func() {
			for i := range 50 {
				off := (g*7919 + i*104729) % (len(blob) - 4096)
				req, _ := http.NewRequestWithContext(t.Context(), "GET", url, nil)
				req.Header.Set("Range", fmt.Sprintf("bytes=%d-%d", off, off+4095))
				resp, err := srv.Client().Do(req)
				if err != nil {
					errs <- err
					return
				}
				var b bytes.Buffer
				_, err = b.ReadFrom(resp.Body)
				resp.Body.Close()
				switch {
				case err != nil:
					errs <- err
					return
				case resp.StatusCode == http.StatusNotFound:
				case resp.StatusCode != http.StatusPartialContent || !bytes.Equal(b.Bytes(), blob[off:off+4096]):
					errs <- fmt.Errorf("range at %d: %d, %d bytes, not the blob's", off, resp.StatusCode, b.Len())
					return
				}
			}
		})
	}
	for range 5 {
		do(t, app, "DELETE", "/v2/team/a/blobs/"+d.String(), nil)
		pushBlob(t, app, "team/a", blob)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
