package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a bytes.Buffer safe for the server goroutine to write
// while the test reads.
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

func TestRunCommands(t *testing.T) {
	tests := []struct {
		name           string
		args           []string
		code           int
		stdout, stderr string // regular expressions
	}{
		{"no command", nil, exitUsage, `^$`, `^Usage: registry <command>`},
		{"help", []string{"help"}, exitOK, `^Usage: registry <command>`, `^$`},
		{"-h", []string{"-h"}, exitOK, `^Usage: registry <command>`, `^$`},
		{"version", []string{"version"}, exitOK, `^berth registry \S+ \(go[^,]+, \w+/\w+\)\n$`, `^$`},
		{"unknown command", []string{"server"}, exitUsage, `^$`, `^registry: unknown command "server"; run "registry help"\n$`},
		{"serve help", []string{"serve", "--help"}, exitOK, `^Usage: registry serve \[config.yml\]`, `^$`},
		{"serve with two files", []string{"serve", "a.yml", "b.yml"}, exitUsage, `^$`, `^registry: serve takes at most one argument`},
		{"serve with a flag", []string{"serve", "-config", "a.yml"}, exitUsage, `^$`, `^registry: serve takes at most one argument`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(t.Context(), tt.args, nil, &stdout, &stderr)
			if code != tt.code {
				t.Errorf("exit code %d, want %d", code, tt.code)
			}
			if !regexp.MustCompile(tt.stdout).MatchString(stdout.String()) {
				t.Errorf("stdout %q does not match %q", stdout.String(), tt.stdout)
			}
			if !regexp.MustCompile(tt.stderr).MatchString(stderr.String()) {
				t.Errorf("stderr %q does not match %q", stderr.String(), tt.stderr)
			}
		})
	}
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestServeConfigErrors: a configuration the registry cannot serve exits
// with code 2 and exactly one line on standard error, before listening.
func TestServeConfigErrors(t *testing.T) {
	dir := t.TempDir()
	typo := writeFile(t, dir, "typo.yml", "version: 0.1\nstorage:\n  filesystem:\n    rootdir: /x\n")
	inmem := writeFile(t, dir, "inmem.yml", "version: 0.1\nstorage: inmemory\n")
	proxy := writeFile(t, dir, "proxy.yml", "version: 0.1\nstorage: inmemory\nproxy:\n  remoteurl: registry-1.docker.io\n")
	prefix := writeFile(t, dir, "prefix.yml", "version: 0.1\nstorage: inmemory\nhttp:\n  prefix: /r/../v2/\n")

	tests := []struct {
		name   string
		args   []string
		env    []string
		stderr string
	}{
		{"unknown key in the file", []string{"serve", typo}, nil, `registry: config: unknown key "storage.filesystem.rootdir" (line 4)`},
		{"unknown key in the environment", []string{"serve", inmem}, []string{"REGISTRY_HTTP_ADR=:1"}, `registry: config: unknown key "http.adr" (from REGISTRY_HTTP_ADR)`},
		{"unknown key in the environment, no file", []string{"serve"}, []string{"REGISTRY_LOG_LEVL=debug"}, `registry: config: unknown key "log.levl" (from REGISTRY_LOG_LEVL)`},
		{"missing file", []string{"serve", filepath.Join(dir, "nope.yml")}, nil, `registry: config: open ` + filepath.Join(dir, "nope.yml") + `: no such file or directory`},
		{"missing file from REGISTRY_CONFIGURATION_PATH", []string{"serve"}, []string{"REGISTRY_CONFIGURATION_PATH=" + filepath.Join(dir, "nope.yml")}, `registry: config: open ` + filepath.Join(dir, "nope.yml") + `: no such file or directory`},
		{"proxy", []string{"serve", proxy}, nil, `registry: config: proxy.remoteurl: invalid value "registry-1.docker.io" (line 4), want an http or https URL without a path, e.g. https://registry-1.docker.io`},
		{"prefix", []string{"serve", prefix}, nil, `registry: config: http.prefix: invalid value "/r/../v2/" (line 4), want a path starting with /, of letters, digits and -._~ between single slashes, e.g. /registry/`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := run(t.Context(), tt.args, tt.env, &stdout, &stderr); code != exitUsage {
				t.Errorf("exit code %d, want %d", code, exitUsage)
			}
			if stderr.String() != tt.stderr+"\n" {
				t.Errorf("stderr\n got %q\nwant %q", stderr.String(), tt.stderr+"\n")
			}
			if stdout.Len() != 0 {
				t.Errorf("stdout %q, want nothing", stdout.String())
			}
		})
	}
}

// server is a registry started by run in the background.
type server struct {
	line   string // the start-up line
	addr   string
	stderr *syncBuffer
	stop   func() int // cancels the context and returns run's exit code
}

// startServe runs "registry args..." until the returned server is stopped,
// and waits for its start-up line.
func startServe(t *testing.T, args, env []string) *server {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	stdout, stderr := &syncBuffer{}, &syncBuffer{}
	done := make(chan int, 1)
	go func() { done <- run(ctx, args, env, stdout, stderr) }()

	deadline := time.After(10 * time.Second)
	for !strings.Contains(stdout.String(), "\n") {
		select {
		case code := <-done:
			cancel()
			t.Fatalf("run exited with %d before listening; stderr: %s", code, stderr)
		case <-deadline:
			cancel()
			t.Fatalf("no start-up line after 10s; stderr: %s", stderr)
		case <-time.After(10 * time.Millisecond):
		}
	}
	s := &server{line: stdout.String(), stderr: stderr}
	m := regexp.MustCompile(`^berth registry listening on ([^\s,]+)`).FindStringSubmatch(s.line)
	if m == nil {
		cancel()
		t.Fatalf("start-up line %q", s.line)
	}
	s.addr = m[1]
	stopped := false
	var code int
	s.stop = func() int {
		if !stopped {
			stopped = true
			cancel()
			select {
			case code = <-done:
			case <-time.After(10 * time.Second):
				t.Error("run did not return within 10s of cancellation")
				code = -1
			}
		}
		return code
	}
	t.Cleanup(func() { s.stop() })
	return s
}

func get(t *testing.T, client *http.Client, url string) int {
	t.Helper()
	resp, err := client.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestServeInMemoryFromEnv(t *testing.T) {
	s := startServe(t, []string{"serve"}, []string{"REGISTRY_STORAGE=inmemory", "REGISTRY_HTTP_ADDR=127.0.0.1:0", "REGISTRY_LOG_LEVEL=error"})
	if !regexp.MustCompile(`^berth registry listening on 127\.0\.0\.1:\d+, storage inmemory\n$`).MatchString(s.line) {
		t.Errorf("start-up line %q", s.line)
	}
	if code := get(t, http.DefaultClient, "http://"+s.addr+"/v2/"); code != http.StatusOK {
		t.Errorf("GET /v2/: %d, want 200", code)
	}
	if code := s.stop(); code != exitOK {
		t.Errorf("exit code %d after shutdown, want 0; stderr: %s", code, s.stderr)
	}
	if s.stderr.String() != "" {
		t.Errorf("stderr at level error: %q, want nothing", s.stderr)
	}
}

func TestServeFilesystemFromFile(t *testing.T) {
	dir := t.TempDir()
	root := filepath.Join(dir, "data")
	cfg := writeFile(t, dir, "config.yml", "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: "+root+
		"\nhttp:\n  addr: 127.0.0.1:0\n  headers:\n    X-Test: [yes]\n  draintimeout: 0s\n")
	s := startServe(t, []string{"serve"}, []string{"REGISTRY_CONFIGURATION_PATH=" + cfg})
	if want := ", storage filesystem at " + root + "\n"; !strings.HasSuffix(s.line, want) {
		t.Errorf("start-up line %q, want it to end with %q", s.line, want)
	}
	resp, err := http.Get("http://" + s.addr + "/v2/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("X-Test") != "yes" {
		t.Errorf("GET /v2/: %d, X-Test %q; want 200, yes", resp.StatusCode, resp.Header.Get("X-Test"))
	}
	if code := s.stop(); code != exitOK {
		t.Errorf("exit code %d, want 0", code)
	}
}

// TestServeDebugListener proves http.debug.addr: Go's profiles are served
// on a listener of their own, named on the start-up line, and never on the
// API's.
func TestServeDebugListener(t *testing.T) {
	s := startServe(t, []string{"serve"}, []string{"REGISTRY_STORAGE=inmemory", "REGISTRY_HTTP_ADDR=127.0.0.1:0",
		"REGISTRY_HTTP_DEBUG_ADDR=127.0.0.1:0", "REGISTRY_LOG_LEVEL=error"})
	m := regexp.MustCompile(`, debug listener on (127\.0\.0\.1:\d+)\n$`).FindStringSubmatch(s.line)
	if m == nil {
		t.Fatalf("start-up line %q names no debug listener", s.line)
	}
	resp, err := http.Get("http://" + m[1] + "/debug/pprof/goroutine?debug=1")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(string(body), "goroutine profile: total ") {
		t.Errorf("GET goroutine profile on the debug listener: %d %.40q", resp.StatusCode, body)
	}
	if code := get(t, http.DefaultClient, "http://"+s.addr+"/debug/pprof/"); code != http.StatusNotFound {
		t.Errorf("GET /debug/pprof/ on the API listener: %d, want 404", code)
	}
}

// uploadInFlight starts a blob upload on the registry at addr and leaves
// its PATCH in flight: the test feeds the body and then closes it; patched
// receives the PATCH's status, or -1 when it failed.
func uploadInFlight(t *testing.T, addr string) (feed *io.PipeWriter, patched <-chan int) {
	t.Helper()
	base, err := url.Parse("http://" + addr + "/v2/drain/test/blobs/uploads/")
	if err != nil {
		t.Fatal(err)
	}
	// One connection, so that the PATCH reuses the POST's: the server has
	// accepted it and tracks it when the shutdown begins.
	client := &http.Client{Transport: &http.Transport{MaxConnsPerHost: 1}}
	resp, err := client.Post(base.String(), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	loc, err := base.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusAccepted || err != nil {
		t.Fatalf("POST upload: %d, Location %q (%v)", resp.StatusCode, resp.Header.Get("Location"), err)
	}

	body, feed := io.Pipe()
	req, err := http.NewRequest(http.MethodPatch, loc.String(), body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/octet-stream")
	done := make(chan int, 1)
	go func() {
		resp, err := client.Do(req)
		if err != nil {
			done <- -1
			return
		}
		resp.Body.Close()
		done <- resp.StatusCode
	}()
	if _, err := feed.Write(bytes.Repeat([]byte("x"), 64<<10)); err != nil { // past any client buffer
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond) // for the server to read the request line
	t.Cleanup(func() { feed.Close() })
	return feed, done
}

// TestServeDrainsRequestsInFlight: on shutdown, a blob upload in progress
// completes (within http.draintimeout) before run returns.
func TestServeDrainsRequestsInFlight(t *testing.T) {
	s := startServe(t, []string{"serve"}, []string{"REGISTRY_STORAGE=inmemory", "REGISTRY_HTTP_ADDR=127.0.0.1:0",
		"REGISTRY_LOG_LEVEL=error", "REGISTRY_HTTP_DRAINTIMEOUT=20s"})
	feed, patched := uploadInFlight(t, s.addr)

	stopped := make(chan int, 1)
	go func() { stopped <- s.stop() }()
	select {
	case code := <-stopped:
		feed.Close()
		t.Fatalf("run returned %d while a request was in flight; PATCH %d; stderr %s", code, <-patched, s.stderr)
	case <-time.After(300 * time.Millisecond):
	}
	if _, err := feed.Write([]byte("the rest")); err != nil {
		t.Fatal(err)
	}
	feed.Close()
	if code := <-patched; code != http.StatusAccepted {
		t.Errorf("PATCH during shutdown: %d, want 202", code)
	}
	if code := <-stopped; code != exitOK {
		t.Errorf("exit code %d, want 0", code)
	}
}

// TestServeDrainTimeout: with draintimeout 0s, shutdown does not wait for
// a request in flight; its connection is closed.
func TestServeDrainTimeout(t *testing.T) {
	s := startServe(t, []string{"serve"}, []string{"REGISTRY_STORAGE=inmemory", "REGISTRY_HTTP_ADDR=127.0.0.1:0",
		"REGISTRY_LOG_LEVEL=error", "REGISTRY_HTTP_DRAINTIMEOUT=0s"})
	feed, patched := uploadInFlight(t, s.addr)
	if code := s.stop(); code != exitOK { // stop fails the test if run takes 10s
		t.Errorf("exit code %d, want 0", code)
	}
	// The client notices the closed connection only once its body ends; had
	// the server kept the connection, the PATCH would now succeed.
	feed.Close()
	select {
	case code := <-patched:
		if code != -1 {
			t.Errorf("PATCH cut by the shutdown: %d, want a failed request", code)
		}
	case <-time.After(5 * time.Second):
		t.Error("the PATCH in flight was not cut by the shutdown")
	}
}

func TestServeListenError(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var stdout, stderr bytes.Buffer
	code := run(t.Context(), []string{"serve"}, []string{"REGISTRY_STORAGE=inmemory", "REGISTRY_HTTP_ADDR=" + ln.Addr().String()}, &stdout, &stderr)
	if code != exitFailure || !strings.Contains(stderr.String(), "address already in use") || strings.Count(stderr.String(), "\n") != 1 {
		t.Errorf("exit code %d, stderr %q; want %d and one line about the address in use", code, stderr.String(), exitFailure)
	}
}

// TestServeMutualTLS: with http.tls.clientcas the server speaks TLS and
// accepts only clients with a certificate signed by one of those CAs.
func TestServeMutualTLS(t *testing.T) {
	dir := t.TempDir()
	ca, caKey := newCert(t, nil, nil, "test CA", true)
	srvCert, srvKey := newCert(t, ca, caKey, "127.0.0.1", false)
	cliCert, cliKey := newCert(t, ca, caKey, "client", false)
	cfg := "version: 0.1\nlog:\n  level: error\nstorage: inmemory\nhttp:\n  addr: 127.0.0.1:0\n  tls:\n" +
		"    certificate: " + writePEM(t, dir, "srv.pem", srvCert, nil) + "\n" +
		"    key: " + writePEM(t, dir, "srv.key", nil, srvKey) + "\n" +
		"    clientcas: [" + writePEM(t, dir, "ca.pem", ca, nil) + "]\n"
	s := startServe(t, []string{"serve", writeFile(t, dir, "config.yml", cfg)}, nil)
	if !strings.Contains(s.line, " (TLS, client certificates required), storage inmemory") {
		t.Errorf("start-up line %q", s.line)
	}

	roots := x509.NewCertPool()
	roots.AddCert(ca)
	client := func(certs ...tls.Certificate) *http.Client {
		return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, Certificates: certs}}}
	}
	if _, err := client().Get("https://" + s.addr + "/v2/"); err == nil {
		t.Error("a client without a certificate was served")
	}
	pair := tls.Certificate{Certificate: [][]byte{cliCert.Raw}, PrivateKey: cliKey}
	if code := get(t, client(pair), "https://"+s.addr+"/v2/"); code != http.StatusOK {
		t.Errorf("GET /v2/ with a client certificate: %d, want 200", code)
	}
}

// newCert makes a certificate for name signed by parent (self-signed when
// parent is nil).
func newCert(t *testing.T, parent *x509.Certificate, parentKey *ecdsa.PrivateKey, name string, isCA bool) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  isCA,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	if ip := net.ParseIP(name); ip != nil {
		tmpl.IPAddresses = []net.IP{ip}
	}
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert, key
}

// writePEM writes a certificate or a key to dir/name and returns the path.
func writePEM(t *testing.T, dir, name string, cert *x509.Certificate, key *ecdsa.PrivateKey) string {
	t.Helper()
	var block *pem.Block
	if cert != nil {
		block = &pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}
	} else {
		der, err := x509.MarshalECPrivateKey(key)
		if err != nil {
			t.Fatal(err)
		}
		block = &pem.Block{Type: "EC PRIVATE KEY", Bytes: der}
	}
	return writeFile(t, dir, name, string(pem.EncodeToMemory(block)))
}
