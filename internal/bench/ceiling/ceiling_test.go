package ceiling

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
)

func do(t *testing.T, method, url, body string, hdr map[string]string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// TestUploadVerifiesDigest shows that the ceiling hashes what it is sent:
// a blob of the wrong digest is refused, the right one is served back in
// full and by range, and chunked uploads hash every chunk.
func TestUploadVerifiesDigest(t *testing.T) {
	srv := httptest.NewServer(New())
	defer srv.Close()
	content := "hello, ceiling"
	d := digest.FromString(content)

	resp := do(t, "POST", srv.URL+"/v2/a/b/blobs/uploads/", "", nil)
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("POST: %s", resp.Status)
	}
	loc := srv.URL + resp.Header.Get("Location")
	if resp := do(t, "PUT", loc+"?digest="+digest.FromString("other").String(), content, nil); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("PUT with a wrong digest: %s, want 400", resp.Status)
	}

	resp = do(t, "POST", srv.URL+"/v2/a/b/blobs/uploads/", "", nil)
	loc = srv.URL + resp.Header.Get("Location")
	resp = do(t, "PATCH", loc, content[:5], nil)
	if resp.StatusCode != http.StatusAccepted || resp.Header.Get("Range") != "0-4" {
		t.Fatalf("PATCH: %s, Range %q", resp.Status, resp.Header.Get("Range"))
	}
	if resp := do(t, "PUT", srv.URL+resp.Header.Get("Location")+"?digest="+d.String(), content[5:], nil); resp.StatusCode != http.StatusCreated {
		t.Fatalf("PUT: %s", resp.Status)
	}
	resp = do(t, "GET", srv.URL+"/v2/a/b/blobs/"+d.String(), "", map[string]string{"Range": "bytes=7-13"})
	got, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusPartialContent || string(got) != "ceiling" {
		t.Fatalf("GET range: %s %q, want 206 \"ceiling\"", resp.Status, got)
	}
	if resp := do(t, "GET", srv.URL+"/v2/a/b/blobs/"+digest.FromString("x").String(), "", nil); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("GET of an unknown blob: %s", resp.Status)
	}
}

// TestManifestsAndLists covers manifests by tag and the paged catalog and
// tag list.
func TestManifestsAndLists(t *testing.T) {
	srv := httptest.NewServer(New())
	defer srv.Close()
	ct := map[string]string{"Content-Type": "application/vnd.oci.image.manifest.v1+json"}
	for _, repo := range []string{"r1", "r2", "r3"} {
		for _, tag := range []string{"a", "b"} {
			if resp := do(t, "PUT", srv.URL+"/v2/"+repo+"/manifests/"+tag, `{"schemaVersion":2,"x":"`+repo+`"}`, ct); resp.StatusCode != http.StatusCreated {
				t.Fatalf("PUT manifest: %s", resp.Status)
			}
		}
	}
	resp := do(t, "GET", srv.URL+"/v2/r2/manifests/b", "", nil)
	body, _ := io.ReadAll(resp.Body)
	if string(body) != `{"schemaVersion":2,"x":"r2"}` || resp.Header.Get("Docker-Content-Digest") != digest.FromBytes(body).String() {
		t.Fatalf("GET manifest: %q, digest %s", body, resp.Header.Get("Docker-Content-Digest"))
	}
	resp = do(t, "GET", srv.URL+"/v2/_catalog?n=2", "", nil)
	body, _ = io.ReadAll(resp.Body)
	if string(body) != `{"repositories":["r1","r2"]}` || resp.Header.Get("Link") != `</v2/_catalog?last=r2&n=2>; rel="next"` {
		t.Fatalf("catalog page 1: %s, Link %q", body, resp.Header.Get("Link"))
	}
	resp = do(t, "GET", srv.URL+"/v2/_catalog?last=r2&n=2", "", nil)
	body, _ = io.ReadAll(resp.Body)
	if string(body) != `{"repositories":["r3"]}` || resp.Header.Get("Link") != "" {
		t.Fatalf("catalog page 2: %s, Link %q", body, resp.Header.Get("Link"))
	}
	resp = do(t, "GET", srv.URL+"/v2/r1/tags/list", "", nil)
	body, _ = io.ReadAll(resp.Body)
	if string(body) != `{"name":"r1","tags":["a","b"]}` {
		t.Fatalf("tag list: %s", body)
	}
	if resp := do(t, "GET", srv.URL+"/v2/none/tags/list", "", nil); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("tag list of an unknown repository: %s", resp.Status)
	}
}
