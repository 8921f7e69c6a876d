package registry_test

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/testutil/s3test"
	"github.com/berth-registry/berth/registry"
	"github.com/berth-registry/berth/storagedriver/s3"
)

// s3Log is the S3 requests a registry made, through a proxy: method,
// key and Range header of each.
type s3Log struct {
	mu   sync.Mutex
	reqs []string
}

func (l *s3Log) take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	r := l.reqs
	l.reqs = nil
	return r
}

// onKey returns the requests of reqs on a key that ends with suffix.
func onKey(reqs []string, suffix string) []string {
	var out []string
	for _, r := range reqs {
		if f := strings.Fields(r); len(f) >= 2 && strings.HasSuffix(f[1], suffix) {
			out = append(out, r)
		}
	}
	return out
}

type nopObserver struct{}

func (nopObserver) StorageOp(string, string, time.Duration, error) {}

// withDigest adds the digest parameter to an upload's location.
func withDigest(loc string, d digest.Digest) string {
	if strings.Contains(loc, "?") {
		return loc + "&digest=" + d.String()
	}
	return loc + "?digest=" + d.String()
}

// newS3LoggedApp returns an App on S3 (versitygw), as s3App makes it,
// its S3 requests going through a proxy that logs line(r) of each. chunkSize 0 keeps the driver's default.
func newS3LoggedApp(t *testing.T, chunkSize int64, line func(*http.Request) string) (*registry.App, *s3Log) {
	t.Helper()
	srv, root := s3test.NewRoot(t)
	target, err := url.Parse(srv.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	log := &s3Log{}
	rp := httputil.NewSingleHostReverseProxy(target)
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		log.mu.Lock()
		log.reqs = append(log.reqs, line(r))
		log.mu.Unlock()
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(proxy.Close)
	p := srv.Params(s3test.Bucket, root)
	p.ChunkSize = chunkSize
	app := s3App(t, p, proxy.URL)
	return app, log
}

// TestS3RequestCounts holds the S3 request counts of issue 14 through the
// HTTP API: a PATCH of 5 MiB or more costs at most three requests (four
// for the first, which starts the multipart upload), a monolithic push is
// written to the blob's key with no copy inside S3, and a blob GET, whole
// or a range, reads the blob's key with one GET, of the range's bytes
// only.
func TestS3RequestCounts(t *testing.T) {
	app, log := newS3LoggedApp(t, 2*s3.MinChunkSize, func(r *http.Request) string {
		line := r.Method + " " + r.URL.Path
		if rg := r.Header.Get("Range"); rg != "" {
			line += " " + rg
		}
		if r.Header.Get("X-Amz-Copy-Source") != "" {
			line += " copy"
		}
		return line
	})

	// Chunked: POST, three PATCHes of 6 MiB, PUT.
	rec := do(t, app, "POST", "/v2/r/blobs/uploads/", nil)
	if rec.Code != http.StatusAccepted {
		t.Fatalf("POST: %d %s", rec.Code, rec.Body)
	}
	loc := rec.Header().Get("Location")
	var all []byte
	for i := range 3 {
		chunk := bytes.Repeat([]byte{byte('a' + i)}, 6<<20)
		log.take()
		rec = do(t, app, "PATCH", loc, chunk, "Content-Range", fmt.Sprintf("%d-%d", len(all), len(all)+len(chunk)-1))
		if rec.Code != http.StatusAccepted {
			t.Fatalf("PATCH %d: %d %s", i, rec.Code, rec.Body)
		}
		all = append(all, chunk...)
		reqs := log.take()
		want := 3
		if i == 0 {
			want = 4
		}
		if len(reqs) > want {
			t.Errorf("PATCH %d: %d S3 requests, want at most %d: %q", i, len(reqs), want, reqs)
		}
		loc = rec.Header().Get("Location")
	}
	d := digest.FromBytes(all)
	if rec = do(t, app, "PUT", withDigest(loc, d), nil); rec.Code != http.StatusCreated {
		t.Fatalf("PUT: %d %s", rec.Code, rec.Body)
	}

	// Monolithic: POST, PUT with the body: nothing copied, and the upload's
	// key never written.
	big := bytes.Repeat([]byte("monolithic"), 2<<20)
	bd := digest.FromBytes(big)
	log.take()
	rec = do(t, app, "POST", "/v2/r/blobs/uploads/", nil)
	loc = rec.Header().Get("Location")
	if rec = do(t, app, "PUT", withDigest(loc, bd), big); rec.Code != http.StatusCreated {
		t.Fatalf("monolithic PUT: %d %s", rec.Code, rec.Body)
	}
	for _, r := range log.take() {
		if strings.HasSuffix(r, " copy") || (strings.HasPrefix(r, "PUT ") && strings.Contains(r, "/_uploads/") && !strings.Contains(r, "/~pending/")) {
			t.Errorf("monolithic push: %q: the blob went through the upload's key", r)
		}
	}

	// Reads: after a first GET (which may read the link and write the GC
	// records), a GET reads the data with one GET and nothing else.
	for _, tc := range []struct {
		name, rng string
		status    int
		body      []byte
		wantGet   string
	}{
		{"whole", "", http.StatusOK, big, "GET"},
		{"range", "bytes=100-4195", http.StatusPartialContent, big[100:4196], "GET bytes=100-4195"},
	} {
		var hdr []string
		if tc.rng != "" {
			hdr = []string{"Range", tc.rng}
		}
		do(t, app, "GET", "/v2/r/blobs/"+bd.String(), nil, hdr...)
		log.take()
		rec = do(t, app, "GET", "/v2/r/blobs/"+bd.String(), nil, hdr...)
		if rec.Code != tc.status || !bytes.Equal(rec.Body.Bytes(), tc.body) {
			t.Fatalf("%s GET: %d, %d bytes; want %d, %d bytes", tc.name, rec.Code, rec.Body.Len(), tc.status, len(tc.body))
		}
		data := onKey(log.take(), "/"+bd.Encoded()+"/data")
		if len(data) != 1 || !strings.HasPrefix(data[0], "GET ") || !strings.HasSuffix(data[0], strings.TrimPrefix(tc.wantGet, "GET")) {
			t.Errorf("%s GET: requests on the blob's key %q, want one %q", tc.name, data, tc.wantGet)
		}
	}
}
