package client

import (
	"strings"
	"testing"

	digest "github.com/opencontainers/go-digest"
)

const testHex = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

func TestParseReference(t *testing.T) {
	d := digest.Digest("sha256:" + testHex)
	for _, tc := range []struct {
		in                  string
		registry, repo, tag string
		digest              digest.Digest
		str, familiar       string
	}{
		{"ubuntu", "docker.io", "library/ubuntu", "latest", "", "docker.io/library/ubuntu:latest", "ubuntu:latest"},
		{"ubuntu:22.04", "docker.io", "library/ubuntu", "22.04", "", "docker.io/library/ubuntu:22.04", "ubuntu:22.04"},
		{"library/ubuntu", "docker.io", "library/ubuntu", "latest", "", "docker.io/library/ubuntu:latest", "ubuntu:latest"},
		{"docker.io/ubuntu", "docker.io", "library/ubuntu", "latest", "", "docker.io/library/ubuntu:latest", "ubuntu:latest"},
		{"index.docker.io/foo/bar", "docker.io", "foo/bar", "latest", "", "docker.io/foo/bar:latest", "foo/bar:latest"},
		{"user/app:1.0", "docker.io", "user/app", "1.0", "", "docker.io/user/app:1.0", "user/app:1.0"},
		{"ubuntu@sha256:" + testHex, "docker.io", "library/ubuntu", "", d, "docker.io/library/ubuntu@" + d.String(), "ubuntu@" + d.String()},
		{"localhost:5000/a/b@sha256:" + testHex, "localhost:5000", "a/b", "", d, "localhost:5000/a/b@" + d.String(), "localhost:5000/a/b@" + d.String()},
		{"localhost/a", "localhost", "a", "latest", "", "localhost/a:latest", "localhost/a:latest"},
		{"host.example.com/x:tag@sha256:" + testHex, "host.example.com", "x", "tag", d, "host.example.com/x:tag@" + d.String(), "host.example.com/x:tag@" + d.String()},
		{"127.0.0.1:5000/deep/er/name:v1", "127.0.0.1:5000", "deep/er/name", "v1", "", "127.0.0.1:5000/deep/er/name:v1", "127.0.0.1:5000/deep/er/name:v1"},
		{"[::1]:5000/a:b", "[::1]:5000", "a", "b", "", "[::1]:5000/a:b", "[::1]:5000/a:b"},
		{"ghcr.io/org/img", "ghcr.io", "org/img", "latest", "", "ghcr.io/org/img:latest", "ghcr.io/org/img:latest"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			r, err := ParseReference(tc.in)
			if err != nil {
				t.Fatalf("ParseReference: %v", err)
			}
			want := Reference{Registry: tc.registry, Repository: tc.repo, Tag: tc.tag, Digest: tc.digest}
			if r != want {
				t.Errorf("got %+v, want %+v", r, want)
			}
			if got := r.String(); got != tc.str {
				t.Errorf("String() = %q, want %q", got, tc.str)
			}
			if got := r.Familiar(); got != tc.familiar {
				t.Errorf("Familiar() = %q, want %q", got, tc.familiar)
			}
			again, err := ParseReference(r.String())
			if err != nil || again != r {
				t.Errorf("String() does not parse back: %+v, %v", again, err)
			}
		})
	}
}

func TestParseReferenceInvalid(t *testing.T) {
	for _, in := range []string{
		"", "Ubuntu", "a:b:c", "a@sha256:short", "a@md5:" + testHex, testHex,
		"a/", "/a", "a//b", "a:" + strings.Repeat("t", 129), "host:port/a",
	} {
		if r, err := ParseReference(in); err == nil {
			t.Errorf("ParseReference(%q) = %+v, want an error", in, r)
		}
	}
}

func TestAPIHost(t *testing.T) {
	for in, want := range map[string]string{
		"docker.io":            "registry-1.docker.io",
		"index.docker.io":      "registry-1.docker.io",
		"registry-1.docker.io": "registry-1.docker.io",
		"ghcr.io":              "ghcr.io",
		"localhost:5000":       "localhost:5000",
	} {
		if got := APIHost(in); got != want {
			t.Errorf("APIHost(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestScheme: plain HTTP for loopback and WithInsecure hosts only.
func TestScheme(t *testing.T) {
	c := New(WithInsecure("insecure.example.com:5000", "bare.example.com"))
	for host, want := range map[string]string{
		"localhost":                 "http",
		"localhost:5000":            "http",
		"127.0.0.1:5000":            "http",
		"127.1.2.3":                 "http",
		"[::1]:5000":                "http",
		"insecure.example.com:5000": "http",
		"insecure.example.com:6000": "https",
		"insecure.example.com":      "https",
		"bare.example.com:1234":     "http",
		"docker.io":                 "https",
		"10.0.0.1:5000":             "https",
		"localhost.example.com":     "https",
	} {
		if got := c.url(host, "/v2/", nil).Scheme; got != want {
			t.Errorf("scheme of %s = %s, want %s", host, got, want)
		}
	}
	if got := c.url("docker.io", "/v2/", nil).String(); got != "https://registry-1.docker.io/v2/" {
		t.Errorf("docker.io API URL = %s", got)
	}
}

func FuzzParseReference(f *testing.F) {
	for _, s := range []string{"ubuntu", "localhost:5000/a/b@sha256:" + testHex, "h/x:t@sha256:" + testHex, "[::1]/a"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseReference(s)
		if err != nil {
			return
		}
		again, err := ParseReference(r.String())
		if err != nil || again != r {
			t.Fatalf("%q parsed to %+v, whose String %q parses to %+v, %v", s, r, r.String(), again, err)
		}
	})
}
