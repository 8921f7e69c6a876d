package client

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// FuzzDockerConfig: no config.json makes Get or Save panic; Get never
// runs a helper (none is on PATH here) to produce a credential; and when
// Save stores a credential for a host no helper serves, Get returns it,
// whatever else the file held, and the file stays valid for Get.
func FuzzDockerConfig(f *testing.F) {
	f.Setenv("PATH", f.TempDir()) // no docker-credential-* helper to run
	for _, s := range []string{
		`{"auths":{"localhost:5000":{"auth":"dTpw"}}}`,
		`{"auths":{"https://index.docker.io/v1/":{"username":"u","password":"p"}},"other":[1,2]}`,
		`{"credsStore":"desktop","credHelpers":{"ghcr.io":"gh"}}`,
		`{"auths":{"r.example":{"auth":"not base64"}}}`,
		`{"auths":{"r.example":{"auth":"bm9jb2xvbg=="}}}`,
		`{"credHelpers":{"h":"../../bin/sh"}}`,
		`[]`, ``, `{"auths":5}`,
	} {
		f.Add([]byte(s), "localhost:5000")
	}
	f.Add([]byte(`{"auths":{"docker.io":{"auth":"dTpw"}}}`), "docker.io")
	f.Fuzz(func(t *testing.T, file []byte, host string) {
		path := filepath.Join(t.TempDir(), "config.json")
		if err := os.WriteFile(path, file, 0o600); err != nil {
			t.Fatal(err)
		}
		c, err := NewDockerConfig(path)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = c.Get(host)

		want := Credential{Username: "user", Password: "pa:ss"}
		if err := c.Save(host, want); err != nil {
			return
		}
		got, err := c.Get(host)
		if err != nil {
			b, _ := os.ReadFile(path)
			t.Fatalf("after Save(%q) over %q, Get fails on %s: %v", host, file, b, err)
		}
		var saved dockerConfigFile
		if raw, err := os.ReadFile(path); err != nil || json.Unmarshal(raw, &saved) != nil {
			t.Fatalf("after Save(%q) over %q the file is not JSON: %v", host, file, err)
		}
		if saved.helper(host) == "" && got != want {
			t.Fatalf("Save(%q) over %q then Get = %+v, want %+v", host, file, got, want)
		}
	})
}

// FuzzParseContentRange: a response's Content-Range ("bytes 10-99/100",
// "bytes */100") is accepted only with a start within the total, and the
// values it returns are those written.
func FuzzParseContentRange(f *testing.F) {
	for _, s := range []string{"bytes 10-99/100", "bytes 0-0/1", "bytes 10-99/*", "bytes */100", "bytes 10-100/100", "bytes 10-5/100", "10-99/100", "bytes +1-2/3", "bytes */*"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		start, total, ok := parseContentRange(v)
		if !ok {
			return
		}
		if total < -1 || start < -1 || (start == -1 && total < 0) || (total >= 0 && start >= total) {
			t.Fatalf("parseContentRange(%q) = %d, %d", v, start, total)
		}
		if total >= 0 && !strings.Contains(v, strconv.FormatInt(total, 10)) || start >= 0 && !strings.Contains(v, strconv.FormatInt(start, 10)) {
			t.Fatalf("parseContentRange(%q) = %d, %d: not the numbers written", v, start, total)
		}
	})
}
