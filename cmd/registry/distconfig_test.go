package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-registry/berth/internal/testutil"
	"github.com/berth-registry/berth/internal/testutil/disttest"
)

// TestServeDistributionExamples starts the registry on Distribution
// v3.1.2's own example configurations, unchanged (the environment only
// moves what would need root: the data directory, the htpasswd file, the
// listening ports), and checks that they serve /v2/.
func TestServeDistributionExamples(t *testing.T) {
	t.Run("config-example.yml", func(t *testing.T) {
		dir := t.TempDir()
		cfg := writeFile(t, dir, "config.yml", testutil.DistributionFile(t, "cmd/registry/config-example.yml"))
		s := startServe(t, []string{"serve", cfg}, []string{
			"REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY=" + filepath.Join(dir, "data"),
			"REGISTRY_AUTH_HTPASSWD_PATH=" + htpasswdFile(t, dir, "alice", "pw"),
			"REGISTRY_HTTP_ADDR=127.0.0.1:0",
		})
		if code := get(t, http.DefaultClient, "http://"+s.addr+"/v2/"); code != http.StatusUnauthorized {
			t.Errorf("GET /v2/ without credentials: %d, want 401", code)
		}
		req, _ := http.NewRequest("GET", "http://"+s.addr+"/v2/", nil)
		req.SetBasicAuth("alice", "pw")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || resp.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("GET /v2/ as alice: %d, X-Content-Type-Options %q", resp.StatusCode, resp.Header.Get("X-Content-Type-Options"))
		}
		if s.stop(); !strings.Contains(s.stderr.String(), "service=registry") {
			t.Errorf("log.fields missing from the log: %s", s.stderr)
		}
	})
	t.Run("config-dev.yml", func(t *testing.T) {
		dir := t.TempDir()
		cfg := writeFile(t, dir, "config.yml", testutil.DistributionFile(t, "cmd/registry/config-dev.yml"))
		s := startServe(t, []string{"serve", cfg}, []string{
			"REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY=" + filepath.Join(dir, "data"),
			"REGISTRY_HTTP_ADDR=127.0.0.1:0",
			"REGISTRY_HTTP_DEBUG_ADDR=127.0.0.1:0",
		})
		if code := get(t, http.DefaultClient, "http://"+s.addr+"/v2/"); code != http.StatusOK {
			t.Errorf("GET /v2/: %d, want 200", code)
		}
		s.stop()
		// Level debug: the access log line carries both fields.
		for _, line := range strings.Split(s.stderr.String(), "\n") {
			if strings.Contains(line, "path=/v2/") {
				if !strings.Contains(line, "environment=development") || !strings.Contains(line, "service=registry") {
					t.Errorf("access log line without log.fields: %s", line)
				}
				return
			}
		}
		t.Errorf("no access log line for /v2/: %s", s.stderr)
	})
	// Its redis (localhost:6379) is a redis-server of the test's own.
	t.Run("config-cache.yml", func(t *testing.T) {
		dir := t.TempDir()
		rs := testutil.Redis(t)
		cfg := writeFile(t, dir, "config.yml", testutil.DistributionFile(t, "cmd/registry/config-cache.yml"))
		s := startServe(t, []string{"serve", cfg}, []string{
			"REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY=" + filepath.Join(dir, "data"),
			"REGISTRY_HTTP_ADDR=127.0.0.1:0",
			"REGISTRY_HTTP_DEBUG_ADDR=127.0.0.1:0",
			"REGISTRY_REDIS_ADDRS=[" + rs.Addr + "]",
		})
		if want := "blob descriptor cache redis at [" + rs.Addr + "]"; !strings.Contains(s.line, want) {
			t.Errorf("start-up line %q does not say %q", s.line, want)
		}
		if code := get(t, http.DefaultClient, "http://"+s.addr+"/v2/"); code != http.StatusOK {
			t.Errorf("GET /v2/: %d, want 200", code)
		}
	})
}

// TestServeRefusalsOneLineEach: every refused key is reported at start-up,
// one line each with the program's prefix.
func TestServeRefusalsOneLineEach(t *testing.T) {
	cfg := writeFile(t, t.TempDir(), "config.yml", "version: 0.1\nstorage: inmemory\nauth:\n  silly:\n    realm: r\n"+
		"middleware:\n  storage:\n    - name: cloudfront\nnotifications:\n  endpoints:\n    - name: a\n      url: http://127.0.0.1:1/\n")
	var stdout, stderr bytes.Buffer
	if code := run(t.Context(), []string{"serve", cfg}, nil, &stdout, &stderr); code != exitUsage {
		t.Errorf("exit code %d, want %d", code, exitUsage)
	}
	lines := strings.Split(strings.TrimSuffix(stderr.String(), "\n"), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "registry: config: auth.silly (line 4): ") ||
		!strings.HasPrefix(lines[1], "registry: config: middleware.storage (line 7): ") {
		t.Errorf("stderr %q, want one line for auth.silly and one for middleware.storage", stderr.String())
	}
}

// pushForeignImage pushes a config blob and an image manifest with one
// non-distributable layer that carries layerURL, and returns the status
// and body of the manifest PUT and its Location.
func pushForeignImage(t *testing.T, base, layerURL string) (int, string, string) {
	t.Helper()
	cfg := []byte("{}")
	cd := fmt.Sprintf("sha256:%x", sha256.Sum256(cfg))
	// POST then PUT, which Distribution and Berth both take.
	resp, err := http.Post(base+"/v2/app/blobs/uploads/", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, err := resp.Location()
	if err != nil {
		t.Fatalf("start upload: %d, %v", resp.StatusCode, err)
	}
	q := loc.Query()
	q.Set("digest", cd)
	loc.RawQuery = q.Encode()
	// Only the path: with http.host the Location names a host that is not
	// this test's.
	req, _ := http.NewRequest("PUT", base+loc.Path+"?"+loc.RawQuery, bytes.NewReader(cfg))
	if resp, err = http.DefaultClient.Do(req); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("push config: %d", resp.StatusCode)
	}
	m, _ := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"mediaType":     "application/vnd.oci.image.manifest.v1+json",
		"config":        map[string]any{"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": len(cfg)},
		"layers": []any{map[string]any{
			"mediaType": "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
			"digest":    "sha256:" + strings.Repeat("a", 64), "size": 10,
			"urls": []string{layerURL},
		}},
	})
	req, _ = http.NewRequest("PUT", base+"/v2/app/manifests/v1", bytes.NewReader(m))
	req.Header.Set("Content-Type", "application/vnd.oci.image.manifest.v1+json")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), resp.Header.Get("Location")
}

// TestServeManifestURLs: validation.manifests.urls decides which URLs a
// foreign layer may carry, as in Distribution; with neither list none may,
// and validation.disabled lifts the check. Distribution v3.1.2, run
// in-process on the same section, accepts and refuses the same manifests
// (refusing with 500 UNKNOWN where Berth answers 400 MANIFEST_INVALID).
func TestServeManifestURLs(t *testing.T) {
	const (
		allowed = "https://cdn.example.com/layer"
		denied  = "https://www.example.com/layer"
		other   = "https://example.org/layer"
	)
	lists := "validation:\n  manifests:\n    urls:\n      allow: ['^https?://([^/]+\\.)*example\\.com/']\n      deny: ['^https?://www\\.example\\.com/']\n"
	for _, tc := range []struct {
		name, yaml string
		url        string
		want       int // Distribution's refusal is 500 UNKNOWN instead of 400
	}{
		{"no lists", "", allowed, http.StatusBadRequest},
		{"allowed", lists, allowed, http.StatusCreated},
		{"denied", lists, denied, http.StatusBadRequest},
		{"not allowed", lists, other, http.StatusBadRequest},
		{"not http", lists, "ftp://cdn.example.com/layer", http.StatusBadRequest},
		{"validation disabled", "validation:\n  disabled: true\n", other, http.StatusCreated},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := writeFile(t, t.TempDir(), "config.yml", "version: 0.1\nlog:\n  level: error\nstorage: inmemory\nhttp:\n  addr: 127.0.0.1:0\n"+tc.yaml)
			s := startServe(t, []string{"serve", cfg}, nil)
			code, body, _ := pushForeignImage(t, "http://"+s.addr, tc.url)
			if code != tc.want {
				t.Fatalf("PUT manifest with layer URL %s: %d %s, want %d", tc.url, code, body, tc.want)
			}
			if code == http.StatusBadRequest && !strings.Contains(body, `"MANIFEST_INVALID"`) {
				t.Errorf("refusal body %s, want MANIFEST_INVALID", body)
			}

			// Distribution, given the same section, decides alike.
			dist := disttest.Start(t, disttest.Options{Extra: tc.yaml})
			dcode, dbody, _ := pushForeignImage(t, dist.URL, tc.url)
			if want := map[int]int{http.StatusCreated: http.StatusCreated, http.StatusBadRequest: http.StatusInternalServerError}[tc.want]; dcode != want {
				t.Errorf("Distribution: PUT manifest with layer URL %s: %d %s, want %d", tc.url, dcode, dbody, want)
			}
		})
	}
}

// TestServeLocation: with http.host, Location headers are absolute URLs
// under it; with http.relativeurls (or without http.host) they are paths.
func TestServeLocation(t *testing.T) {
	for _, tc := range []struct{ name, yaml, prefix string }{
		{"host", "  host: https://registry.example.com:5443\n", "https://registry.example.com:5443/v2/app/"},
		{"host and relativeurls", "  host: https://registry.example.com\n  relativeurls: true\n", "/v2/app/"},
		{"neither", "", "/v2/app/"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := writeFile(t, t.TempDir(), "config.yml", "version: 0.1\nlog:\n  level: error\nstorage: inmemory\n"+
				"validation:\n  disabled: true\nhttp:\n  addr: 127.0.0.1:0\n"+tc.yaml)
			s := startServe(t, []string{"serve", cfg}, nil)
			resp, err := http.Post("http://"+s.addr+"/v2/app/blobs/uploads/", "", nil)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusAccepted || !strings.HasPrefix(loc, tc.prefix+"blobs/uploads/") {
				t.Errorf("POST upload: %d, Location %q, want %sblobs/uploads/...", resp.StatusCode, loc, tc.prefix)
			}
			if code, body, loc := pushForeignImage(t, "http://"+s.addr, "https://example.org/x"); code != http.StatusCreated || !strings.HasPrefix(loc, tc.prefix+"manifests/sha256:") {
				t.Errorf("PUT manifest: %d %s, Location %q, want %smanifests/...", code, body, loc, tc.prefix)
			}
		})
	}
}

// TestServeAccessLogDisabled: log.accesslog.disabled drops the line per
// request and nothing else.
func TestServeAccessLogDisabled(t *testing.T) {
	for _, disabled := range []bool{false, true} {
		cfg := writeFile(t, t.TempDir(), "config.yml", fmt.Sprintf("version: 0.1\nlog:\n  accesslog:\n    disabled: %v\nstorage: inmemory\nhttp:\n  addr: 127.0.0.1:0\n", disabled))
		s := startServe(t, []string{"serve", cfg}, nil)
		get(t, http.DefaultClient, "http://"+s.addr+"/v2/")
		s.stop()
		logged := strings.Contains(s.stderr.String(), "path=/v2/")
		if logged == disabled {
			t.Errorf("accesslog.disabled %v: request logged %v; log: %s", disabled, logged, s.stderr)
		}
		if !strings.Contains(s.stderr.String(), "msg=stopped") {
			t.Errorf("accesslog.disabled %v silenced other lines: %s", disabled, s.stderr)
		}
	}
}

// TestServeTLSOptions: http.tls.minimumtls refuses older clients;
// http.tls.clientauth verify-client-cert-if-given serves clients without a
// certificate; http.http2.disabled keeps HTTPS on HTTP/1.1.
func TestServeTLSOptions(t *testing.T) {
	dir := t.TempDir()
	ca, caKey := newCert(t, nil, nil, "test CA", true)
	srvCert, srvKey := newCert(t, ca, caKey, "127.0.0.1", false)
	cfg := "version: 0.1\nlog:\n  level: error\nstorage: inmemory\nhttp:\n  addr: 127.0.0.1:0\n  http2:\n    disabled: true\n  tls:\n" +
		"    certificate: " + writePEM(t, dir, "srv.pem", srvCert, nil) + "\n" +
		"    key: " + writePEM(t, dir, "srv.key", nil, srvKey) + "\n" +
		"    clientcas: [" + writePEM(t, dir, "ca.pem", ca, nil) + "]\n" +
		"    clientauth: verify-client-cert-if-given\n    minimumtls: tls1.3\n"
	s := startServe(t, []string{"serve", writeFile(t, dir, "config.yml", cfg)}, nil)
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	client := func(maxVersion uint16) *http.Client {
		return &http.Client{Transport: &http.Transport{ForceAttemptHTTP2: true,
			TLSClientConfig: &tls.Config{RootCAs: roots, MaxVersion: maxVersion}}}
	}
	if _, err := client(tls.VersionTLS12).Get("https://" + s.addr + "/v2/"); err == nil || !strings.Contains(err.Error(), "protocol version") {
		t.Errorf("a TLS 1.2 client was served, or failed otherwise: %v", err)
	}
	resp, err := client(0).Get("https://" + s.addr + "/v2/")
	if err != nil {
		t.Fatalf("a TLS 1.3 client without a certificate: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.ProtoMajor != 1 {
		t.Errorf("GET /v2/: %d over %s, want 200 over HTTP/1.1", resp.StatusCode, resp.Proto)
	}
}

// TestServeH2C: http.h2c.enabled serves HTTP/2 without TLS.
func TestServeH2C(t *testing.T) {
	cfg := writeFile(t, t.TempDir(), "config.yml", "version: 0.1\nlog:\n  level: error\nstorage: inmemory\nhttp:\n  addr: 127.0.0.1:0\n  h2c:\n    enabled: true\n")
	s := startServe(t, []string{"serve", cfg}, nil)
	tr := &http.Transport{Protocols: new(http.Protocols)}
	tr.Protocols.SetUnencryptedHTTP2(true)
	resp, err := (&http.Client{Transport: tr}).Get("http://" + s.addr + "/v2/")
	if err != nil {
		t.Fatalf("h2c GET /v2/: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.ProtoMajor != 2 {
		t.Errorf("h2c GET /v2/: %d over %s, want 200 over HTTP/2", resp.StatusCode, resp.Proto)
	}
}

// TestServeUnixSocket: http.net unix listens on the socket at http.addr.
func TestServeUnixSocket(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "registry.sock")
	cfg := writeFile(t, t.TempDir(), "config.yml", "version: 0.1\nlog:\n  level: error\nstorage: inmemory\nhttp:\n  net: unix\n  addr: "+sock+"\n")
	startServe(t, []string{"serve", cfg}, nil)
	client := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", sock)
	}}}
	if code := get(t, client, "http://registry/v2/"); code != http.StatusOK {
		t.Errorf("GET /v2/ over the socket: %d, want 200", code)
	}
}
