package registry_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/registry"
	"github.com/berth-registry/berth/storagedriver"
	"github.com/berth-registry/berth/storagedriver/inmemory"
)

// newApp returns an App over a fresh in-memory driver with deletes on.
func newApp(t *testing.T, opts ...registry.Option) (*registry.App, storagedriver.Driver) {
	t.Helper()
	drv := inmemory.New()
	app, err := registry.New(context.Background(), drv, append([]registry.Option{registry.WithDelete(true)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return app, drv
}

// do sends one request to h and returns the recorded response.
func do(t testing.TB, h http.Handler, method, target string, body []byte, hdr ...string) *httptest.ResponseRecorder {
	t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req := httptest.NewRequest(method, target, rd)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// errorCode returns the first OCI error code of a response body, or "".
func errorCode(t *testing.T, rec *httptest.ResponseRecorder) string {
	t.Helper()
	var b struct {
		Errors []struct{ Code string } `json:"errors"`
	}
	if json.Unmarshal(rec.Body.Bytes(), &b) != nil || len(b.Errors) == 0 {
		return ""
	}
	return b.Errors[0].Code
}

// pushBlob uploads content monolithically into repo and returns its digest.
func pushBlob(t testing.TB, h http.Handler, repo string, content []byte) digest.Digest {
	t.Helper()
	d := digest.FromBytes(content)
	rec := do(t, h, "POST", "/v2/"+repo+"/blobs/uploads/?digest="+d.String(), content)
	if rec.Code != http.StatusCreated {
		t.Fatalf("push blob: %d %s", rec.Code, rec.Body)
	}
	return d
}

// imageManifest returns an OCI image manifest referencing config and layers.
func imageManifest(config digest.Digest, configSize int, layers map[digest.Digest]int, extra string) []byte {
	var ls []string
	for d, n := range layers {
		ls = append(ls, `{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"`+d.String()+`","size":`+itoa(n)+`}`)
	}
	return []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",` +
		`"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"` + config.String() + `","size":` + itoa(configSize) + `},` +
		`"layers":[` + strings.Join(ls, ",") + `]` + extra + `}`)
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

// pushImage pushes a one-layer image into repo under tag and returns the
// manifest's digest and bytes.
func pushImage(t testing.TB, h http.Handler, repo, tag string, extra string) (digest.Digest, []byte) {
	t.Helper()
	cfg := []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}`)
	layer := []byte("layer of " + repo + ":" + tag + extra)
	cd := pushBlob(t, h, repo, cfg)
	ld := pushBlob(t, h, repo, layer)
	m := imageManifest(cd, len(cfg), map[digest.Digest]int{ld: len(layer)}, extra)
	rec := do(t, h, "PUT", "/v2/"+repo+"/manifests/"+tag, m, "Content-Type", "application/vnd.oci.image.manifest.v1+json")
	if rec.Code != http.StatusCreated {
		t.Fatalf("push manifest: %d %s", rec.Code, rec.Body)
	}
	return digest.FromBytes(m), m
}
