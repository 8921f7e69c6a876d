package main

import (
	"archive/tar"
	"bytes"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/testutil"
)

// prefixProxy is the front a registry served under http.prefix needs, since
// OCI clients always ask the host's /v2/: a reverse proxy that sends /v2/...
// to <prefix>/v2/... and passes every other path (the prefixed Location
// headers the registry sends, the token realm) through unchanged.
type prefixProxy struct {
	ln   net.Listener
	host string // 127.0.0.1:port, for image references
}

// listenPrefixProxy opens the proxy's port, so that its address can go
// into the registry's configuration; serve starts it.
func listenPrefixProxy(t *testing.T) *prefixProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return &prefixProxy{ln: ln, host: ln.Addr().String()}
}

// serve proxies to the registry at addr, served under prefix.
func (p *prefixProxy) serve(t *testing.T, addr, prefix string) {
	target := &url.URL{Scheme: "http", Host: addr}
	rp := &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		r.SetURL(target)
		if r.In.URL.Path == "/v2" || strings.HasPrefix(r.In.URL.Path, "/v2/") {
			r.Out.URL.Path = prefix + r.In.URL.Path
			r.Out.URL.RawPath = ""
		}
		r.Out.Host = r.In.Host
	}}
	srv := &http.Server{Handler: rp, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(p.ln) }()
	t.Cleanup(func() { srv.Close() })
}

// TestServePrefixClients: with http.prefix and the built-in token server
// (realm under the prefix), crane and docker push and pull through a proxy
// that maps /v2/ to the prefix. Every upload's Location and the token
// realm carry the prefix, so the clients reach the registry only through
// it; the registry answers nothing at its own /v2/.
func TestServePrefixClients(t *testing.T) {
	crane := testutil.RequireTool(t, "crane")
	dir := t.TempDir()
	proxy := listenPrefixProxy(t)
	key := writeKey(t, dir)
	ht := htpasswdFile(t, dir, "alice", "pw")
	cfg := writeFile(t, dir, "config.yml", fmt.Sprintf(`version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: %s
  delete:
    enabled: true
http:
  addr: 127.0.0.1:0
  prefix: /registry/
  draintimeout: 0s
auth:
  token:
    realm: http://%s/registry/auth/token
    service: berth
    issuer: berth-issuer
    server:
      key: %s
      htpasswd: %s
`, filepath.Join(dir, "data"), proxy.host, key, ht))
	s := startServe(t, []string{"serve", cfg}, nil)
	if !strings.Contains(s.line, ", API at /registry/v2/, ") || !strings.HasSuffix(s.line, "with its token server at /registry/auth/token\n") {
		t.Errorf("start-up line %q", s.line)
	}
	proxy.serve(t, s.addr, "/registry")
	if code := get(t, http.DefaultClient, "http://"+s.addr+"/v2/"); code != http.StatusNotFound {
		t.Errorf("GET /v2/ on the registry itself: %d, want 404 (the API is under /registry/)", code)
	}
	if code := get(t, http.DefaultClient, "http://"+s.addr+"/registry/v2/"); code != http.StatusUnauthorized {
		t.Errorf("GET /registry/v2/: %d, want 401", code)
	}

	home := t.TempDir()
	env := []string{"HOME=" + home, "DOCKER_CONFIG=" + filepath.Join(home, ".docker"), "XDG_CONFIG_HOME=" + filepath.Join(home, ".config"),
		"XDG_RUNTIME_DIR=" + home, "REGISTRY_AUTH_FILE=" + filepath.Join(home, "auth.json"),
		"REGCTL_CONFIG=" + filepath.Join(home, ".regctl", "config.json"), "NO_PROXY=127.0.0.1", "no_proxy=127.0.0.1"}
	c := testutil.Cmd{Path: crane, Env: env, Dir: dir}
	c.Run(t, "auth", "login", proxy.host, "-u", "alice", "-p", "pw")
	layer := layerTar(t, "hello from under a prefix\n")
	writeFile(t, dir, "layer.tar", string(layer))
	ref := proxy.host + "/team/app:v1"
	c.Run(t, "append", "--insecure", "-f", filepath.Join(dir, "layer.tar"), "-t", ref)
	digest := strings.TrimSpace(string(c.Run(t, "digest", "--insecure", ref)))
	if tags := strings.TrimSpace(string(c.Run(t, "ls", "--insecure", proxy.host+"/team/app"))); tags != "v1" {
		t.Errorf("crane ls: %q, want v1", tags)
	}
	c.Run(t, "tag", "--insecure", ref, "v2")
	if got := strings.TrimSpace(string(c.Run(t, "digest", "--insecure", proxy.host+"/team/app:v2"))); got != digest {
		t.Errorf("v2 digest %s, want %s", got, digest)
	}
	// The image's filesystem, pulled back, holds the file.
	if fs := c.Run(t, "export", "--insecure", ref, "-"); !bytes.Contains(fs, []byte("hello from under a prefix\n")) {
		t.Errorf("crane export: the file's content is not in the image's %d bytes", len(fs))
	}
	layout := filepath.Join(dir, "layout")
	c.Run(t, "pull", "--insecure", "--format", "oci", ref, layout)
	c.Run(t, "delete", "--insecure", proxy.host+"/team/app@"+digest)
	if r := c.Exec(t, "digest", "--insecure", ref); r.Err == nil {
		t.Errorf("crane digest after delete succeeded: %s", r.Stdout)
	}

	// The other clients, logged in the same way, copy the image in and out.
	t.Run("skopeo", func(t *testing.T) {
		sk := testutil.Cmd{Path: testutil.RequireTool(t, "skopeo"), Env: env, Dir: dir, Stdin: []byte("pw")}
		sk.Run(t, "login", "--tls-verify=false", "-u", "alice", "--password-stdin", proxy.host)
		sk.Stdin = nil
		sk.Run(t, "--insecure-policy", "copy", "--quiet", "--dest-tls-verify=false", "oci:"+layout, "docker://"+proxy.host+"/team/skopeo:v1")
		sk.Run(t, "--insecure-policy", "copy", "--quiet", "--src-tls-verify=false", "docker://"+proxy.host+"/team/skopeo:v1", "oci:"+filepath.Join(dir, "skopeo-out"))
	})
	t.Run("regctl", func(t *testing.T) {
		rc := testutil.Cmd{Path: testutil.RequireTool(t, "regctl"), Env: env, Dir: dir}
		rc.Run(t, "registry", "set", "--skip-check", "--tls", "disabled", proxy.host)
		rc.Stdin = []byte("pw")
		rc.Run(t, "registry", "login", proxy.host, "-u", "alice", "--pass-stdin")
		rc.Stdin = nil
		rc.Run(t, "image", "copy", proxy.host+"/team/skopeo:v1", proxy.host+"/team/regctl:v1")
		rc.Run(t, "image", "copy", proxy.host+"/team/regctl:v1", "ocidir://"+filepath.Join(dir, "regctl-out")+":v1")
	})
	t.Run("oras", func(t *testing.T) {
		or := testutil.Cmd{Path: testutil.RequireTool(t, "oras"), Env: env, Dir: t.TempDir(), Stdin: []byte("pw")}
		or.Run(t, "login", "--plain-http", "-u", "alice", "--password-stdin", proxy.host)
		or.Stdin = nil
		writeFile(t, or.Dir, "note.txt", "an artifact under a prefix\n")
		or.Run(t, "push", "--plain-http", proxy.host+"/team/oras:v1", "note.txt")
		out := t.TempDir()
		or.Run(t, "pull", "--plain-http", "-o", out, proxy.host+"/team/oras:v1")
		if b, err := os.ReadFile(filepath.Join(out, "note.txt")); err != nil || string(b) != "an artifact under a prefix\n" {
			t.Errorf("oras pull: %q, %v", b, err)
		}
	})

}

// TestServePrefixDocker: docker pushes and pulls, anonymously, through the
// proxy. (With credentials it cannot: see http.prefix in docs/configuration.md.)
func TestServePrefixDocker(t *testing.T) {
	dockerBin := testutil.RequireDocker(t)
	dir := t.TempDir()
	proxy := listenPrefixProxy(t)
	cfg := writeFile(t, dir, "config.yml", fmt.Sprintf(`version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: %s
http:
  addr: 127.0.0.1:0
  prefix: /registry/
  draintimeout: 0s
`, filepath.Join(dir, "data")))
	s := startServe(t, []string{"serve", cfg}, nil)
	proxy.serve(t, s.addr, "/registry")
	writeFile(t, dir, "layer.tar", string(layerTar(t, "hello from docker under a prefix\n")))
	env := []string{"HOME=" + t.TempDir(), "DOCKER_CONFIG=" + filepath.Join(dir, "docker"), "DOCKER_BUILDKIT=0"}
	docker := testutil.Cmd{Path: dockerBin, Env: env, Dir: dir}
	name := proxy.host + "/team/docker:v1"
	t.Cleanup(func() { docker.Exec(t, "rmi", "-f", name) })
	docker.Run(t, "import", filepath.Join(dir, "layer.tar"), name)
	docker.Run(t, "push", name)
	docker.Run(t, "rmi", name)
	docker.Run(t, "pull", name)
	if _, err := os.Stat(filepath.Join(dir, "data", "docker", "registry", "v2", "repositories", "team", "docker")); err != nil {
		t.Errorf("the pushed repository is not in the registry's storage: %v", err)
	}
}

// TestServePrefixRealmWarning: a realm whose path is not the token
// server's under the prefix is worth a warning at start-up.
func TestServePrefixRealmWarning(t *testing.T) {
	dir := t.TempDir()
	cfg := writeFile(t, dir, "config.yml", fmt.Sprintf(`version: 0.1
log:
  level: warn
storage: inmemory
http:
  addr: 127.0.0.1:0
  prefix: /registry/
auth:
  token:
    realm: http://registry.example/auth/token
    service: berth
    issuer: berth-issuer
    server:
      key: %s
      htpasswd: %s
`, writeKey(t, dir), htpasswdFile(t, dir, "alice", "pw")))
	s := startServe(t, []string{"serve", cfg}, nil)
	if want := `auth.token.realm's path is not where the token server answers`; !strings.Contains(s.stderr.String(), want) ||
		!strings.Contains(s.stderr.String(), "tokenpath=/registry/auth/token") {
		t.Errorf("stderr %q, want a warning %q naming /registry/auth/token", s.stderr, want)
	}
}

// layerTar is a tar of one file holding content.
func layerTar(t *testing.T, content string) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	mtime := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: "hello.txt", Mode: 0o644, Size: int64(len(content)), ModTime: mtime}); err != nil {
		t.Fatal(err)
	}
	_, _ = tw.Write([]byte(content))
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
