package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

func htpasswdFile(t *testing.T, dir, user, password string) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return writeFile(t, dir, "htpasswd", user+":"+string(h)+"\n")
}

// writeKey makes a token signing key in dir with "registry keygen".
func writeKey(t *testing.T, dir string) string {
	t.Helper()
	key := filepath.Join(dir, "key.pem")
	var out bytes.Buffer
	if code := run(t.Context(), []string{"keygen", key}, nil, &out, &out); code != exitOK {
		t.Fatalf("keygen: %s", out.String())
	}
	return key
}

func TestKeygen(t *testing.T) {
	dir := t.TempDir()
	key, jwks, cert := filepath.Join(dir, "key.pem"), filepath.Join(dir, "jwks.json"), filepath.Join(dir, "cert.pem")
	var stdout, stderr bytes.Buffer
	if code := run(t.Context(), []string{"keygen", "-alg", "EdDSA", "-jwks", jwks, "-cert", cert, key}, nil, &stdout, &stderr); code != exitOK {
		t.Fatalf("keygen: exit %d: %s", code, stderr.String())
	}
	if !strings.HasPrefix(stdout.String(), "wrote EdDSA key "+key+" (key id ") {
		t.Errorf("stdout %q", stdout.String())
	}
	fi, err := os.Stat(key)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("key file: %v, mode %v, want 0600", err, fi.Mode().Perm())
	}
	for _, p := range []string{jwks, cert} {
		if _, err := os.Stat(p); err != nil {
			t.Error(err)
		}
	}
	before, _ := os.ReadFile(key)
	for _, args := range [][]string{
		{"keygen", key}, // exists: never overwritten
		{"keygen", "-alg", "HS256", filepath.Join(dir, "k2")},
		{"keygen"},
		{"keygen", "a", "b"},
	} {
		stderr.Reset()
		if code := run(t.Context(), args, nil, &stdout, &stderr); code == exitOK || !strings.HasPrefix(stderr.String(), "registry keygen: ") {
			t.Errorf("%v: exit %d, stderr %q", args, code, stderr.String())
		}
	}
	if after, _ := os.ReadFile(key); !bytes.Equal(before, after) {
		t.Error("keygen overwrote an existing key")
	}
}

func TestServeHtpasswd(t *testing.T) {
	dir := t.TempDir()
	ht := htpasswdFile(t, dir, "alice", "pw")
	policy := writeFile(t, dir, "policy.yml", "rules:\n  - repositories: [\"public/*\"]\n    anonymous: true\n    actions: [pull]\n")
	cfg := writeFile(t, dir, "config.yml", "version: 0.1\nlog:\n  level: error\nstorage: inmemory\nhttp:\n  addr: 127.0.0.1:0\n"+
		"auth:\n  htpasswd:\n    realm: berth\n    path: "+ht+"\n  policy:\n    path: "+policy+"\n")
	s := startServe(t, []string{"serve", cfg}, nil)
	if !strings.HasSuffix(s.line, ", storage inmemory, htpasswd auth, policy "+policy+"\n") {
		t.Errorf("start-up line %q", s.line)
	}
	req, _ := http.NewRequest("GET", "http://"+s.addr+"/v2/", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 || resp.Header.Get("WWW-Authenticate") != `Basic realm="berth"` {
		t.Errorf("GET /v2/ without credentials: %d %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
	// With no policy rule for alice, she may log in but do nothing.
	for url, want := range map[string]int{"/v2/": 200, "/v2/a/tags/list": 403} {
		req, _ = http.NewRequest("GET", "http://"+s.addr+url, nil)
		req.SetBasicAuth("alice", "pw")
		if resp, err = http.DefaultClient.Do(req); err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("GET %s as alice: %d, want %d", url, resp.StatusCode, want)
		}
	}
}

func TestServeTokenServer(t *testing.T) {
	dir := t.TempDir()
	key := writeKey(t, dir)
	ht := htpasswdFile(t, dir, "alice", "pw")
	cfg := writeFile(t, dir, "config.yml", "version: 0.1\nlog:\n  level: error\nstorage: inmemory\nhttp:\n  addr: 127.0.0.1:0\n"+
		"auth:\n  token:\n    realm: http://registry.invalid/auth/token\n    service: berth\n    issuer: berth-issuer\n"+
		"    server:\n      key: "+key+"\n      htpasswd: "+ht+"\n")
	s := startServe(t, []string{"serve", cfg}, nil)
	if !strings.HasSuffix(s.line, ", token auth with its token server at /auth/token\n") {
		t.Errorf("start-up line %q", s.line)
	}
	resp, err := http.Get("http://" + s.addr + "/v2/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if want := `Bearer realm="http://registry.invalid/auth/token",service="berth"`; resp.StatusCode != 401 || resp.Header.Get("WWW-Authenticate") != want {
		t.Errorf("GET /v2/: %d %q, want 401 %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"), want)
	}
	req, _ := http.NewRequest("GET", "http://"+s.addr+"/auth/token?service=berth&scope=repository:a:pull", nil)
	req.SetBasicAuth("alice", "pw")
	if resp, err = http.DefaultClient.Do(req); err != nil {
		t.Fatal(err)
	}
	var body struct{ Token string }
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	req, _ = http.NewRequest("GET", "http://"+s.addr+"/v2/a/tags/list", nil)
	req.Header.Set("Authorization", "Bearer "+body.Token)
	if resp, err = http.DefaultClient.Do(req); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound { // allowed; the repository does not exist
		t.Errorf("GET tags with the token: %d, want 404", resp.StatusCode)
	}
}

// TestServeAuthFileErrors: a file auth names that is missing or invalid
// stops start-up (exit 1) with one line naming it.
func TestServeAuthFileErrors(t *testing.T) {
	dir := t.TempDir()
	ht := htpasswdFile(t, dir, "alice", "pw")
	md5 := writeFile(t, dir, "md5", "bob:$apr1$x$y\n")
	badPolicy := writeFile(t, dir, "bad.yml", "rules:\n  - repositories: [a]\n    actions: [pull]\n")
	base := "version: 0.1\nstorage: inmemory\nhttp:\n  addr: 127.0.0.1:0\nauth:\n"
	tests := []struct{ name, auth, stderr string }{
		{"missing htpasswd", "  htpasswd:\n    realm: r\n    path: " + filepath.Join(dir, "nope") + "\n",
			"registry: auth: htpasswd: stat " + filepath.Join(dir, "nope") + ": no such file or directory"},
		{"non-bcrypt htpasswd", "  htpasswd:\n    realm: r\n    path: " + md5 + "\n",
			"registry: auth: htpasswd: " + md5 + `: line 1: user "bob": not a bcrypt hash; only bcrypt is accepted (htpasswd -B)`},
		{"invalid policy", "  htpasswd:\n    realm: r\n    path: " + ht + "\n  policy:\n    path: " + badPolicy + "\n",
			"registry: auth: policy: " + badPolicy + ": rules[0]: applies to no one; set users, groups, authenticated or anonymous"},
		{"missing token key", "  token:\n    realm: https://r/t\n    service: s\n    issuer: i\n    server:\n      key: " + filepath.Join(dir, "nokey") + "\n      htpasswd: " + ht + "\n",
			"registry: auth: token server key: stat " + filepath.Join(dir, "nokey") + ": no such file or directory"},
		{"bad jwks", "  token:\n    realm: https://r/t\n    service: s\n    issuer: i\n    jwks: " + ht + "\n",
			"registry: auth: jwks " + ht + ": JWKS: invalid character 'a' looking for beginning of value"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := writeFile(t, t.TempDir(), "config.yml", base+tt.auth)
			var stdout, stderr bytes.Buffer
			if code := run(t.Context(), []string{"serve", cfg}, nil, &stdout, &stderr); code != exitFailure {
				t.Errorf("exit code %d, want %d", code, exitFailure)
			}
			if stderr.String() != tt.stderr+"\n" {
				t.Errorf("stderr\n got %q\nwant %q", stderr.String(), tt.stderr+"\n")
			}
		})
	}
}
