package registry_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/berth-registry/berth/registry"
	"github.com/berth-registry/berth/registry/health"
)

// TestPrefix: with WithPrefix the API answers under the prefix only, the
// Location and Link headers it sends carry the prefix (also with
// WithBaseURL), the token server moves under it, and /healthz and /readyz
// stay at the root.
func TestPrefix(t *testing.T) {
	token := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte(`{"token":"t"}`)) })
	app, _ := newApp(t, registry.WithPrefix("/my/registry/"), registry.WithHealth(health.Checks{}), registry.WithTokenServer(token))

	if rec := do(t, app, "GET", "/my/registry/v2/", nil); rec.Code != http.StatusOK {
		t.Errorf("GET /my/registry/v2/: %d", rec.Code)
	}
	for _, p := range []string{"/v2/", "/v2/app/tags/list", "/my/v2/", "/my/registry/v2", "/auth/token"} {
		if rec := do(t, app, "GET", p, nil); rec.Code != http.StatusNotFound || errorCode(t, rec) != "NOT_FOUND" {
			t.Errorf("GET %s outside the prefix: %d %s, want 404 NOT_FOUND", p, rec.Code, rec.Body)
		}
	}
	for _, p := range []string{"/healthz", "/readyz"} {
		if rec := do(t, app, "GET", p, nil); rec.Code != http.StatusOK {
			t.Errorf("GET %s at the root: %d", p, rec.Code)
		}
	}
	if rec := do(t, app, "GET", "/my/registry/auth/token", nil); rec.Code != http.StatusOK || rec.Body.String() != `{"token":"t"}` {
		t.Errorf("token server under the prefix: %d %s", rec.Code, rec.Body)
	}

	// A chunked upload followed through its Location headers.
	rec := do(t, app, "POST", "/my/registry/v2/app/blobs/uploads/", nil)
	loc := rec.Header().Get("Location")
	if rec.Code != http.StatusAccepted || !strings.HasPrefix(loc, "/my/registry/v2/app/blobs/uploads/") {
		t.Fatalf("POST: %d, Location %q", rec.Code, loc)
	}
	blob := []byte("hello")
	rec = do(t, app, "PATCH", loc, blob, "Content-Type", "application/octet-stream")
	loc = rec.Header().Get("Location")
	if rec.Code != http.StatusAccepted || !strings.HasPrefix(loc, "/my/registry/v2/app/blobs/uploads/") {
		t.Fatalf("PATCH: %d, Location %q", rec.Code, loc)
	}
	d := "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
	rec = do(t, app, "PUT", loc+"?digest="+d, nil)
	if want := "/my/registry/v2/app/blobs/" + d; rec.Code != http.StatusCreated || rec.Header().Get("Location") != want {
		t.Fatalf("PUT: %d, Location %q, want %q", rec.Code, rec.Header().Get("Location"), want)
	}
	if rec := do(t, app, "GET", "/my/registry/v2/app/blobs/"+d, nil); rec.Code != http.StatusOK || rec.Body.String() != "hello" {
		t.Errorf("GET blob: %d %q", rec.Code, rec.Body)
	}

	for _, tag := range []string{"a", "b"} {
		rec = do(t, app, "PUT", "/my/registry/v2/app/manifests/"+tag, []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"`+d+`","size":5},"layers":[]}`),
			"Content-Type", "application/vnd.oci.image.manifest.v1+json")
		if rec.Code != http.StatusCreated || !strings.HasPrefix(rec.Header().Get("Location"), "/my/registry/v2/app/manifests/sha256:") {
			t.Fatalf("PUT manifest: %d %s, Location %q", rec.Code, rec.Body, rec.Header().Get("Location"))
		}
	}
	if rec := do(t, app, "GET", "/my/registry/v2/app/tags/list?n=1", nil); rec.Header().Get("Link") != `</my/registry/v2/app/tags/list?last=a&n=1>; rel="next"` {
		t.Errorf("tags Link %q", rec.Header().Get("Link"))
	}
	if rec := do(t, app, "GET", "/my/registry/v2/_catalog?n=0", nil); rec.Code != http.StatusOK {
		t.Errorf("catalog: %d", rec.Code)
	}

	abs, _ := newApp(t, registry.WithPrefix("/my/registry"), registry.WithBaseURL("https://registry.example.com"))
	rec = do(t, abs, "POST", "/my/registry/v2/app/blobs/uploads/", nil)
	if loc := rec.Header().Get("Location"); !strings.HasPrefix(loc, "https://registry.example.com/my/registry/v2/app/blobs/uploads/") {
		t.Errorf("Location with a base URL: %q", loc)
	}
}
