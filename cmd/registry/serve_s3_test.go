package main

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/berth-registry/berth/internal/testutil/s3test"
)

// s3Config is a config file for the S3 driver on srv, with edit applied
// to its storage.s3 keys.
func s3Config(t *testing.T, srv *s3test.Server, root string, edit map[string]string) string {
	t.Helper()
	keys := map[string]string{
		"regionendpoint": srv.Endpoint,
		"bucket":         s3test.Bucket,
		"rootdirectory":  "/" + root,
		"accesskey":      srv.AccessKey,
		"secretkey":      srv.SecretKey,
		"forcepathstyle": "true",
		"timeout":        "2s",
	}
	for k, v := range edit {
		keys[k] = v
	}
	var b strings.Builder
	b.WriteString("version: 0.1\nlog:\n  level: error\nhttp:\n  addr: 127.0.0.1:0\n  draintimeout: 0s\nstorage:\n  delete:\n    enabled: true\n  s3:\n")
	for _, k := range []string{"regionendpoint", "bucket", "rootdirectory", "accesskey", "secretkey", "forcepathstyle", "timeout"} {
		fmt.Fprintf(&b, "    %s: %q\n", k, keys[k])
	}
	return writeFile(t, t.TempDir(), "config.yml", b.String())
}

// TestServeS3 runs "registry serve" on the S3 driver against versitygw:
// the start-up line says where it stores, and a blob pushed through it is
// served back.
func TestServeS3(t *testing.T) {
	srv, root := s3test.NewRoot(t)
	s := startServe(t, []string{"serve", s3Config(t, srv, root, nil)}, nil)
	want := regexp.QuoteMeta(", storage s3 bucket "+s3test.Bucket+" at "+srv.Endpoint+", root /"+root) + "\n$"
	if !regexp.MustCompile(want).MatchString(s.line) {
		t.Errorf("start-up line %q, want it to end with %q", s.line, want)
	}
	base := "http://" + s.addr + "/v2/s3/serve/blobs/"
	resp, err := http.Post(base+"uploads/?digest=sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824",
		"application/octet-stream", strings.NewReader("hello"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("monolithic push: %s", resp.Status)
	}
	if code := get(t, http.DefaultClient, base+"sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"); code != http.StatusOK {
		t.Fatalf("GET blob: %d", code)
	}
	if code := s.stop(); code != exitOK {
		t.Errorf("exit code %d, want 0; stderr: %s", code, s.stderr)
	}
}

// TestServeS3StartupErrors proves that a wrong S3 configuration stops
// "registry serve" before it listens, with a message that names the
// problem.
func TestServeS3StartupErrors(t *testing.T) {
	srv, root := s3test.NewRoot(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + l.Addr().String()
	l.Close()
	where := "registry: storage: s3: bucket " + s3test.Bucket + " at " + srv.Endpoint + ": "
	tests := []struct {
		name string
		edit map[string]string
		msg  string
	}{
		{"wrong secret key", map[string]string{"secretkey": "wrong"},
			where + "access denied: check storage.s3.accesskey and secretkey (or the default credential chain when they are empty)"},
		{"missing bucket", map[string]string{"bucket": "no-such-bucket"},
			"registry: storage: s3: bucket no-such-bucket at " + srv.Endpoint + ": the bucket does not exist\n"},
		{"nothing listening", map[string]string{"regionendpoint": closed},
			"registry: storage: s3: bucket " + s3test.Bucket + " at " + closed + ": cannot reach S3: storage unavailable"},
		{"negative timeout", map[string]string{"timeout": "-1s"},
			"registry: config: storage.s3.timeout: invalid value \"-1s\""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(t.Context(), []string{"serve", s3Config(t, srv, root, tt.edit)}, nil, &stdout, &stderr)
			if code == exitOK {
				t.Fatalf("serve exited 0")
			}
			if !strings.HasPrefix(stderr.String(), tt.msg) {
				t.Errorf("stderr\n got %q\nwant it to start with %q", stderr.String(), tt.msg)
			}
			if stdout.Len() != 0 {
				t.Errorf("stdout %q, want nothing: it must not have started", stdout.String())
			}
		})
	}
}
