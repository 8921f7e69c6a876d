package s3_test

// Stateless scale-out: two registry processes (App and driver instances
// that share nothing in memory) over one bucket, as behind a load balancer
// without sticky sessions.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/testutil/s3test"
	"github.com/berth-registry/berth/registry"
	"github.com/berth-registry/berth/storagedriver/s3"
)

// node is one registry process on the S3 driver.
type node struct {
	name string
	url  string
	logs *syncBuffer
}

// startNode serves a registry over its own driver instance on bucket and
// root of srv, until the test ends.
func startNode(t *testing.T, name string, p s3.Params) *node {
	t.Helper()
	d, err := s3.New(t.Context(), p)
	if err != nil {
		t.Fatalf("node %s: %v", name, err)
	}
	logs := &syncBuffer{}
	app, err := registry.New(t.Context(), d, registry.WithDelete(true),
		registry.WithLogger(slog.New(slog.NewTextHandler(logs, nil))))
	if err != nil {
		t.Fatalf("node %s: %v", name, err)
	}
	hs := httptest.NewServer(app)
	t.Cleanup(func() {
		hs.Close()
		if t.Failed() {
			t.Logf("log of node %s:\n%s", name, logs)
		}
	})
	return &node{name: name, url: hs.URL, logs: logs}
}

// do sends one request to n and returns the response with its body read.
func (n *node) do(t *testing.T, method, path string, hdr http.Header, body []byte) (*http.Response, []byte) {
	t.Helper()
	resp, b, err := n.try(t, method, path, hdr, body)
	if err != nil {
		t.Fatalf("%s %s on %s: %v", method, path, n.name, err)
	}
	return resp, b
}

func (n *node) try(t *testing.T, method, path string, hdr http.Header, body []byte) (*http.Response, []byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, n.url+path, rd)
	if err != nil {
		return nil, nil, err
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp, b, err
}

// want fails unless resp has status code.
func want(t *testing.T, what string, resp *http.Response, body []byte, code int) {
	t.Helper()
	if resp.StatusCode != code {
		t.Fatalf("%s: %s %s, want %d", what, resp.Status, body, code)
	}
}

// pushBlob uploads b monolithically (POST then PUT) through n.
func (n *node) pushBlob(t *testing.T, repo string, b []byte) digest.Digest {
	t.Helper()
	d := digest.FromBytes(b)
	resp, body := n.do(t, "POST", "/v2/"+repo+"/blobs/uploads/", nil, nil)
	want(t, "POST upload on "+n.name, resp, body, http.StatusAccepted)
	resp, body = n.do(t, "PUT", resp.Header.Get("Location")+"?digest="+d.String(),
		http.Header{"Content-Type": {"application/octet-stream"}}, b)
	want(t, "PUT blob on "+n.name, resp, body, http.StatusCreated)
	return d
}

// patch sends one chunk of an upload at location (a path: no node's
// address and no signed state) and returns the next location.
func (n *node) patch(t *testing.T, loc string, start int64, chunk []byte) string {
	t.Helper()
	hdr := http.Header{
		"Content-Type":  {"application/octet-stream"},
		"Content-Range": {fmt.Sprintf("%d-%d", start, start+int64(len(chunk))-1)},
	}
	resp, body := n.do(t, "PATCH", loc, hdr, chunk)
	want(t, fmt.Sprintf("PATCH at %d on %s", start, n.name), resp, body, http.StatusAccepted)
	if r, w := resp.Header.Get("Range"), fmt.Sprintf("0-%d", start+int64(len(chunk))-1); r != w {
		t.Fatalf("PATCH on %s: Range %q, want %q", n.name, r, w)
	}
	return resp.Header.Get("Location")
}

// getBlob fetches blob d of repo through n and checks it is b.
func (n *node) getBlob(t *testing.T, repo string, d digest.Digest, b []byte) {
	t.Helper()
	resp, body := n.do(t, "GET", "/v2/"+repo+"/blobs/"+d.String(), nil, nil)
	want(t, "GET blob on "+n.name, resp, body, http.StatusOK)
	if !bytes.Equal(body, b) {
		t.Fatalf("GET blob on %s: %d bytes that differ from the %d pushed", n.name, len(body), len(b))
	}
}

// TestTwoNodes runs two registry nodes, each with its own driver, on one
// bucket and root directory, and proves that no request depends on the
// node that served an earlier one.
func TestTwoNodes(t *testing.T) {
	srv, root := s3test.NewRoot(t)
	a := startNode(t, "A", srv.Params(s3test.Bucket, root))
	b := startNode(t, "B", srv.Params(s3test.Bucket, root))

	t.Run("chunked upload started on A, continued on B, finished on A", func(t *testing.T) {
		const repo = "multi/chunked"
		blob := noise(11, 2*s3.MinChunkSize+777)
		d := digest.FromBytes(blob)
		resp, body := a.do(t, "POST", "/v2/"+repo+"/blobs/uploads/", nil, nil)
		want(t, "POST on A", resp, body, http.StatusAccepted)
		loc := resp.Header.Get("Location")
		// Chunks of 3 MiB, 4 MiB (the pending write fills its first part
		// on B), 3 MiB + 777 on B again, then the last byte with the PUT
		// on A: the tail and the parts move between the nodes.
		cuts := []int64{0, 3 << 20, 7 << 20, int64(len(blob)) - 1}
		loc = a.patch(t, loc, cuts[0], blob[cuts[0]:cuts[1]])
		loc = b.patch(t, loc, cuts[1], blob[cuts[1]:cuts[2]])
		loc = b.patch(t, loc, cuts[2], blob[cuts[2]:cuts[3]])
		resp, body = b.do(t, "GET", loc, nil, nil)
		want(t, "upload status on B", resp, body, http.StatusNoContent)
		if r := resp.Header.Get("Range"); r != fmt.Sprintf("0-%d", cuts[3]-1) {
			t.Fatalf("upload status on B: Range %q", r)
		}
		resp, body = a.do(t, "PUT", loc+"?digest="+d.String(), http.Header{
			"Content-Type":  {"application/octet-stream"},
			"Content-Range": {fmt.Sprintf("%d-%d", cuts[3], len(blob)-1)},
		}, blob[cuts[3]:])
		want(t, "PUT on A", resp, body, http.StatusCreated)
		b.getBlob(t, repo, d, blob)
		a.getBlob(t, repo, d, blob)
	})

	t.Run("manifest pushed through B pulled through A", func(t *testing.T) {
		const repo = "multi/image"
		config := []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}`)
		layer := noise(12, 6<<20)
		cd, ld := b.pushBlob(t, repo, config), b.pushBlob(t, repo, layer)
		manifest, _ := json.Marshal(map[string]any{
			"schemaVersion": 2,
			"mediaType":     "application/vnd.oci.image.manifest.v1+json",
			"config":        map[string]any{"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": len(config)},
			"layers":        []any{map[string]any{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": ld, "size": len(layer)}},
		})
		resp, body := b.do(t, "PUT", "/v2/"+repo+"/manifests/v1",
			http.Header{"Content-Type": {"application/vnd.oci.image.manifest.v1+json"}}, manifest)
		want(t, "PUT manifest on B", resp, body, http.StatusCreated)
		resp, body = a.do(t, "GET", "/v2/"+repo+"/manifests/v1",
			http.Header{"Accept": {"application/vnd.oci.image.manifest.v1+json"}}, nil)
		want(t, "GET manifest on A", resp, body, http.StatusOK)
		if !bytes.Equal(body, manifest) || resp.Header.Get("Docker-Content-Digest") != digest.FromBytes(manifest).String() {
			t.Fatalf("manifest on A differs from the one pushed on B")
		}
		a.getBlob(t, repo, ld, layer)
		resp, body = a.do(t, "GET", "/v2/"+repo+"/tags/list", nil, nil)
		want(t, "tags on A", resp, body, http.StatusOK)
		if !bytes.Contains(body, []byte(`"v1"`)) {
			t.Fatalf("tags on A: %s", body)
		}
	})

	t.Run("same blob pushed through both at once", func(t *testing.T) {
		const repo = "multi/race"
		blob := noise(13, s3.MinChunkSize+4321)
		d := digest.FromBytes(blob)
		var wg sync.WaitGroup
		for _, n := range []*node{a, b} {
			wg.Go(func() {
				for range 3 {
					resp, body, err := n.try(t, "POST", "/v2/"+repo+"/blobs/uploads/", nil, nil)
					if err != nil || resp.StatusCode != http.StatusAccepted {
						t.Errorf("POST on %s: %v %v %s", n.name, err, resp, body)
						return
					}
					loc := resp.Header.Get("Location")
					half := len(blob) / 2
					hdr := http.Header{"Content-Type": {"application/octet-stream"}}
					if resp, body, err = n.try(t, "PATCH", loc, hdr, blob[:half]); err != nil || resp.StatusCode != http.StatusAccepted {
						t.Errorf("PATCH on %s: %v %v %s", n.name, err, resp, body)
						return
					}
					resp, body, err = n.try(t, "PUT", resp.Header.Get("Location")+"?digest="+d.String(), hdr, blob[half:])
					if err != nil || resp.StatusCode != http.StatusCreated {
						t.Errorf("PUT on %s: %v %v %s", n.name, err, resp, body)
						return
					}
				}
			})
		}
		wg.Wait()
		if t.Failed() {
			t.FailNow()
		}
		a.getBlob(t, repo, d, blob)
		b.getBlob(t, repo, d, blob)
	})
}

// syncBuffer collects a log written from several goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
