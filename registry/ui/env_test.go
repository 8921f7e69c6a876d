package ui

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	"golang.org/x/crypto/bcrypt"

	"github.com/berth-registry/berth/auth"
	"github.com/berth-registry/berth/registry"
	"github.com/berth-registry/berth/storagedriver/inmemory"
)

// The test registry's users and policy: alice may do everything, bob may
// pull team/**, anyone may pull public/**.
var testUsers = map[string]string{"alice": "alice-pw", "bob": "bob-pw"}

const testPolicy = `
rules:
  - repositories: ["**"]
    users: [alice]
    actions: [pull, push, delete]
  - repositories: ["team/**"]
    users: [bob]
    actions: [pull]
  - repositories: ["public/**"]
    anonymous: true
    actions: [pull]
`

type env struct {
	t   testing.TB
	app *registry.App
	ui  *Handler
	srv *httptest.Server
}

// newEnv serves a registry over memory with htpasswd auth, the test
// policy and deletes enabled, behind the UI.
func newEnv(t testing.TB, opts ...registry.Option) *env {
	t.Helper()
	dir := t.TempDir()
	var hp bytes.Buffer
	for u, p := range testUsers {
		h, err := bcrypt.GenerateFromPassword([]byte(p), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&hp, "%s:%s\n", u, h)
	}
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	log := slog.New(slog.DiscardHandler)
	users, err := auth.OpenHtpasswd(write("htpasswd", hp.String()), log)
	if err != nil {
		t.Fatal(err)
	}
	policy, err := auth.OpenPolicy(write("policy.yml", testPolicy), log)
	if err != nil {
		t.Fatal(err)
	}
	limiter := auth.NewLimiter(auth.DefaultLoginBurst, auth.DefaultLoginEvery)
	az, err := auth.NewBasic("berth", users, policy, limiter, log)
	if err != nil {
		t.Fatal(err)
	}
	app, err := registry.New(t.Context(), inmemory.New(), append([]registry.Option{registry.WithAuth(az), registry.WithDelete(true)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	h, err := New(app, Options{AccessControl: true, Users: users, Policy: policy, Limiter: limiter,
		Upstreams: []Upstream{{Prefix: "docker.io", RemoteURL: "https://registry-1.docker.io"}}})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, app: app, ui: h}
	e.srv = httptest.NewServer(h)
	t.Cleanup(e.srv.Close)
	return e
}

// do sends a request to the handler as user ("" anonymous).
func (e *env) do(method, path, user string, body []byte, hdr ...string) *httptest.ResponseRecorder {
	e.t.Helper()
	r := httptest.NewRequest(method, path, bytes.NewReader(body))
	if user != "" {
		r.SetBasicAuth(user, testUsers[user])
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	e.ui.ServeHTTP(w, r)
	return w
}

func (e *env) blob(repo string, b []byte) digest.Digest {
	e.t.Helper()
	d := digest.FromBytes(b)
	w := e.do("POST", "/v2/"+repo+"/blobs/uploads/?digest="+d.String(), "alice", b, "Content-Type", "application/octet-stream")
	if w.Code != http.StatusCreated {
		e.t.Fatalf("push blob to %s: %d %s", repo, w.Code, w.Body)
	}
	return d
}

// image describes a test image.
type image struct {
	labels      map[string]string
	annotations map[string]string
	layer       string
}

// push pushes a one-layer image as repo:tag and returns its digest.
func (e *env) push(repo, tag string, im image) digest.Digest {
	e.t.Helper()
	cfg, _ := json.Marshal(map[string]any{"architecture": "amd64", "os": "linux", "created": "2026-01-02T03:04:05Z",
		"config":  map[string]any{"Labels": im.labels},
		"rootfs":  map[string]any{"type": "layers", "diff_ids": []string{}},
		"history": []map[string]any{{"created_by": "/bin/sh -c #(nop) ADD file:hello in /", "created": "2026-01-02T03:04:05Z"}}})
	layer := []byte("layer " + repo + ":" + tag + im.layer)
	cd, ld := e.blob(repo, cfg), e.blob(repo, layer)
	m, _ := json.Marshal(map[string]any{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
		"config":      map[string]any{"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": len(cfg)},
		"layers":      []map[string]any{{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": ld, "size": len(layer)}},
		"annotations": im.annotations})
	return e.putManifest(repo, tag, m, "application/vnd.oci.image.manifest.v1+json")
}

func (e *env) putManifest(repo, ref string, m []byte, mt string) digest.Digest {
	e.t.Helper()
	w := e.do("PUT", "/v2/"+repo+"/manifests/"+ref, "alice", m, "Content-Type", mt)
	if w.Code != http.StatusCreated {
		e.t.Fatalf("push manifest %s:%s: %d %s", repo, ref, w.Code, w.Body)
	}
	return digest.FromBytes(m)
}

// pushSignature pushes an artifact referring to subject in repo.
func (e *env) pushSignature(repo string, subject digest.Digest, size int) digest.Digest {
	e.t.Helper()
	empty := e.blob(repo, []byte("{}"))
	sig := e.blob(repo, []byte("signature of "+subject.String()))
	m, _ := json.Marshal(map[string]any{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
		"artifactType": "application/vnd.dev.cosign.artifact.sig.v1+json",
		"config":       map[string]any{"mediaType": "application/vnd.oci.empty.v1+json", "digest": empty, "size": 2},
		"layers":       []map[string]any{{"mediaType": "application/vnd.dev.cosign.simplesigning.v1+json", "digest": sig, "size": len("signature of " + subject.String())}},
		"subject":      map[string]any{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": subject, "size": size}})
	return e.putManifest(repo, digest.FromBytes(m).String(), m, "application/vnd.oci.image.manifest.v1+json")
}

// get fetches path from the running server with client c.
func get(t testing.TB, c *http.Client, url string) (*http.Response, string) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

func mustContain(t testing.TB, body string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(body, w) {
			t.Errorf("page lacks %q", w)
		}
	}
}

func mustNotContain(t testing.TB, body string, bad ...string) {
	t.Helper()
	for _, b := range bad {
		if strings.Contains(body, b) {
			t.Errorf("page shows %q", b)
		}
	}
}
