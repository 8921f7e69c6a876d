package registry_test

import (
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/berth-registry/berth/registry"
)

// TestManifestURLs: WithManifestURLs applies to the URLs of every layer,
// Docker's foreign layers and plain OCI layers alike, and a refusal is
// 400 MANIFEST_INVALID naming the URL; without the option any URL passes.
func TestManifestURLs(t *testing.T) {
	allow := regexp.MustCompile(`^https://cdn\.example\.com/`)
	cfg := []byte(`{"architecture":"amd64","os":"linux"}`)
	manifest := func(mt, layerMediaType, u string) []byte {
		return []byte(`{"schemaVersion":2,"mediaType":"` + mt + `","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"DIGEST","size":` + itoa(len(cfg)) + `},` +
			`"layers":[{"mediaType":"` + layerMediaType + `","digest":"sha256:` + strings.Repeat("b", 64) + `","size":5,"urls":["` + u + `"]}]}`)
	}
	const (
		oci    = "application/vnd.oci.image.manifest.v1+json"
		docker = "application/vnd.docker.distribution.manifest.v2+json"
	)
	for _, tc := range []struct {
		name       string
		opts       []registry.Option
		mt, layer  string
		url        string
		want       int
		wantDetail string
	}{
		{"docker foreign layer allowed", []registry.Option{registry.WithManifestURLs(allow, nil)}, docker, "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip", "https://cdn.example.com/l", http.StatusCreated, ""},
		{"docker foreign layer refused", []registry.Option{registry.WithManifestURLs(allow, nil)}, docker, "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip", "https://other.example.com/l", http.StatusBadRequest, "https://other.example.com/l"},
		{"plain layer with a URL refused", []registry.Option{registry.WithManifestURLs(allow, nil)}, oci, "application/vnd.oci.image.layer.v1.tar+gzip", "https://other.example.com/l", http.StatusBadRequest, "https://other.example.com/l"},
		{"fragment refused even with no lists", []registry.Option{registry.WithManifestURLs(nil, nil)}, oci, "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip", "https://cdn.example.com/l#x", http.StatusBadRequest, "#x"},
		{"no option: any URL", nil, oci, "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip", "ftp://anywhere/l", http.StatusCreated, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			app, _ := newApp(t, tc.opts...)
			cd := pushBlob(t, app, "app", cfg)
			m := []byte(strings.Replace(string(manifest(tc.mt, tc.layer, tc.url)), "DIGEST", cd.String(), 1))
			rec := do(t, app, "PUT", "/v2/app/manifests/v1", m, "Content-Type", tc.mt)
			if rec.Code != tc.want {
				t.Fatalf("PUT: %d %s, want %d", rec.Code, rec.Body, tc.want)
			}
			if tc.want == http.StatusBadRequest && (errorCode(t, rec) != "MANIFEST_INVALID" || !strings.Contains(rec.Body.String(), tc.wantDetail)) {
				t.Errorf("refusal %s, want MANIFEST_INVALID naming %s", rec.Body, tc.wantDetail)
			}
		})
	}
}

// TestBaseURL: WithBaseURL makes every Location the API sets absolute.
func TestBaseURL(t *testing.T) {
	app, _ := newApp(t, registry.WithBaseURL("https://registry.example.com/"))
	rec := do(t, app, "POST", "/v2/app/blobs/uploads/", nil)
	if loc := rec.Header().Get("Location"); rec.Code != http.StatusAccepted || !strings.HasPrefix(loc, "https://registry.example.com/v2/app/blobs/uploads/") {
		t.Fatalf("POST: %d, Location %q", rec.Code, loc)
	}
	d := pushBlob(t, app, "app", []byte("x"))
	rec = do(t, app, "PUT", strings.TrimPrefix(rec.Header().Get("Location"), "https://registry.example.com")+"?digest="+d.String(), []byte("x"))
	if loc := rec.Header().Get("Location"); rec.Code != http.StatusCreated || loc != "https://registry.example.com/v2/app/blobs/"+d.String() {
		t.Errorf("PUT upload: %d, Location %q", rec.Code, loc)
	}
	md, _ := pushImage(t, app, "app", "v1", "")
	m := do(t, app, "GET", "/v2/app/manifests/"+md.String(), nil, "Accept", "application/vnd.oci.image.manifest.v1+json")
	rec = do(t, app, "PUT", "/v2/app/manifests/v2", m.Body.Bytes(), "Content-Type", "application/vnd.oci.image.manifest.v1+json")
	if loc := rec.Header().Get("Location"); rec.Code != http.StatusCreated || loc != "https://registry.example.com/v2/app/manifests/"+md.String() {
		t.Errorf("PUT manifest: %d, Location %q", rec.Code, loc)
	}
}

// TestPageMax: WithTagsMax caps a tags request's n and WithCatalogMax a
// catalog page, each answering fewer with a Link to the rest; a tags
// request without n still lists every tag.
func TestPageMax(t *testing.T) {
	app, _ := newApp(t, registry.WithTagsMax(2), registry.WithCatalogMax(2))
	for _, tag := range []string{"a", "b", "c"} {
		pushImage(t, app, "app", tag, "")
	}
	pushImage(t, app, "other", "a", "")
	pushImage(t, app, "third", "a", "")
	for _, tc := range []struct {
		target, body string
		link         bool
	}{
		{"/v2/app/tags/list?n=10", `"tags":["a","b"]`, true},
		{"/v2/app/tags/list", `"tags":["a","b","c"]`, false},
		{"/v2/app/tags/list?n=1", `"tags":["a"]`, true},
		{"/v2/_catalog?n=10", `"repositories":["app","other"]`, true},
		{"/v2/_catalog", `"repositories":["app","other"]`, true},
	} {
		rec := do(t, app, "GET", tc.target, nil)
		if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), tc.body) || (rec.Header().Get("Link") != "") != tc.link {
			t.Errorf("GET %s: %d %s Link %q, want %s, link %v", tc.target, rec.Code, rec.Body, rec.Header().Get("Link"), tc.body, tc.link)
		}
	}
}
