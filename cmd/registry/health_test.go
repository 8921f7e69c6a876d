package main

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/testutil/s3test"
)

// healthEnv turns on Distribution's storage driver check, polled every
// 100ms and failing after 2 misses in a row, and the debug listener.
var healthEnv = []string{
	"REGISTRY_HEALTH_STORAGEDRIVER_ENABLED=true",
	"REGISTRY_HEALTH_STORAGEDRIVER_INTERVAL=100ms",
	"REGISTRY_HEALTH_STORAGEDRIVER_THRESHOLD=2",
	"REGISTRY_HTTP_DEBUG_ADDR=127.0.0.1:0",
}

// answer is one GET's status and decoded JSON body.
type answer struct {
	code int
	body map[string]any
}

func getJSON(t *testing.T, url string) answer {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	a := answer{code: resp.StatusCode}
	if err := json.Unmarshal(b, &a.body); err != nil {
		t.Fatalf("GET %s: %d %q: %v", url, resp.StatusCode, b, err)
	}
	return a
}

// waitStatus polls url until it answers code. The deadline is a guard
// against a hang, far above interval × threshold: no timing is asserted.
func waitStatus(t *testing.T, url string, code int) answer {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		a := getJSON(t, url)
		if a.code == code {
			return a
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s: still %d %v after 60s, want %d", url, a.code, a.body, code)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// checkHealth follows the registry s through its storage going down and
// coming back (by down and up): /healthz stays 200, /readyz and the debug
// listener's /debug/health (Distribution's shape, check name
// storagedriver_<driver>) turn 503 and back to 200, and the API keeps
// serving /v2/ meanwhile.
func checkHealth(t *testing.T, s *server, driver string, down, up func()) {
	t.Helper()
	api, debug := "http://"+s.addr, "http://"+debugAddr(t, s.line)
	if a := getJSON(t, api+"/healthz"); a.code != http.StatusOK {
		t.Errorf("/healthz: %d %v", a.code, a.body)
	}
	waitStatus(t, api+"/readyz", http.StatusOK)
	if a := getJSON(t, debug+"/debug/health"); a.code != http.StatusOK || len(a.body) != 0 {
		t.Errorf("/debug/health while healthy: %d %v, want 200 {}", a.code, a.body)
	}
	if code := get(t, http.DefaultClient, api+"/debug/health"); code != http.StatusNotFound {
		t.Errorf("/debug/health on the API listener: %d, want 404 (it is the debug listener's)", code)
	}

	start := time.Now()
	down()
	a := waitStatus(t, api+"/readyz", http.StatusServiceUnavailable)
	t.Logf("/readyz 503 %v after the storage went down (interval 100ms, threshold 2)", time.Since(start).Round(time.Millisecond))
	if checks, _ := a.body["checks"].(map[string]any); checks["storage"] != "failing" {
		t.Errorf("/readyz while down: %v, want the storage check named", a.body)
	}
	d := waitStatus(t, debug+"/debug/health", http.StatusServiceUnavailable)
	if msg, _ := d.body["storagedriver_"+driver].(string); len(d.body) != 1 || !strings.HasPrefix(msg, "storage "+driver+": ") {
		t.Errorf("/debug/health while down: %v, want storagedriver_%s and its error", d.body, driver)
	}
	if a := getJSON(t, api+"/healthz"); a.code != http.StatusOK {
		t.Errorf("/healthz while down: %d, want 200 (the process serves)", a.code)
	}
	if code := get(t, http.DefaultClient, api+"/v2/"); code != http.StatusOK {
		t.Errorf("/v2/ while down: %d, want 200 (requests that need no storage still succeed)", code)
	}

	start = time.Now()
	up()
	waitStatus(t, api+"/readyz", http.StatusOK)
	t.Logf("/readyz 200 %v after it came back", time.Since(start).Round(time.Millisecond))
	waitStatus(t, debug+"/debug/health", http.StatusOK)
	if code := s.stop(); code != exitOK {
		t.Errorf("exit code %d; stderr: %s", code, s.stderr)
	}
}

// TestServeHealthS3: /readyz follows a real S3 server (versitygw) being
// killed and restarted on the same port.
func TestServeHealthS3(t *testing.T) {
	srv := s3test.Start(t)
	srv.CreateBucket(t, s3test.Bucket)
	s := startServe(t, []string{"serve", s3Config(t, srv, "health", nil)}, healthEnv)
	checkHealth(t, s, "s3", srv.Stop, func() { srv.Restart(t) })
}

// TestServeHealthFilesystem: /readyz follows a filesystem root replaced by
// a file (what an unmounted volume with a stray file looks like to the
// registry) and put back.
func TestServeHealthFilesystem(t *testing.T) {
	dir := t.TempDir()
	root := filepath.Join(dir, "data")
	cfg := writeFile(t, dir, "config.yml", "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: "+root+
		"\nhttp:\n  addr: 127.0.0.1:0\n  draintimeout: 0s\n")
	s := startServe(t, []string{"serve", cfg}, healthEnv)
	checkHealth(t, s, "filesystem", func() {
		if err := os.Rename(root, root+".away"); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(root, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}, func() {
		if err := os.Remove(root); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(root+".away", root); err != nil {
			t.Fatal(err)
		}
	})
}
