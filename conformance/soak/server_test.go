package soak

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// server is the registry binary running as a process of its own, so that
// its memory, threads and descriptors are its alone.
type server struct {
	cmd   *exec.Cmd
	pid   int
	base  string // http://127.0.0.1:port of the API
	debug string // http://127.0.0.1:port of the http.debug listener
	// probe talks to the debug listener over one kept-alive connection, a
	// constant share of the server's goroutines and descriptors.
	probe *http.Client
}

var startLine = regexp.MustCompile(`^berth registry listening on (127\.0\.0\.1:\d+),.*, debug listener on (127\.0\.0\.1:\d+)$`)

// startServer runs "registry serve" on a filesystem store in a temporary
// directory, with deletes enabled and the debug listener on, both on
// loopback ports the system picks; its log goes to logFile. The process is
// stopped (SIGTERM, then SIGKILL) when the test ends.
func startServer(t *testing.T, bin, logFile string) *server {
	t.Helper()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config.yml")
	yml := fmt.Sprintf(`version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: %s
  delete:
    enabled: true
http:
  addr: 127.0.0.1:0
  draintimeout: 5s
  debug:
    addr: 127.0.0.1:0
`, filepath.Join(dir, "data"))
	if err := os.WriteFile(cfg, []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	logf, err := os.Create(logFile)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { logf.Close() })
	cmd := exec.Command(bin, "serve", cfg)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")} // no REGISTRY_* of the caller's
	cmd.Stderr = logf
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	})
	lines := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(stdout).ReadString('\n')
		lines <- strings.TrimSpace(line)
		_, _ = io.Copy(io.Discard, stdout)
	}()
	var line string
	select {
	case line = <-lines:
	case <-time.After(30 * time.Second):
		t.Fatalf("registry printed no start-up line within 30s; log in %s", logFile)
	}
	m := startLine.FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("start-up line %q; log in %s", line, logFile)
	}
	return &server{
		cmd: cmd, pid: cmd.Process.Pid, base: "http://" + m[1], debug: "http://" + m[2],
		probe: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1, MaxConnsPerHost: 1}, Timeout: 30 * time.Second},
	}
}

// sample is the server's state at one moment.
type sample struct {
	at         time.Duration // since the load began
	phase      string
	rssKiB     int64
	goroutines int
	fds        int
	threads    int
	reqs       int64 // requests answered in the second before
	errs5xx    int64 // of which 5xx or failed
}

// sample reads RSS and threads from /proc/PID/status, counts
// /proc/PID/fd, and reads the goroutine count from the goroutine profile
// of the debug listener.
func (s *server) sample(ctx context.Context) (sample, error) {
	var out sample
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.pid))
	if err != nil {
		return out, err
	}
	for line := range strings.Lines(string(status)) {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		switch f[0] {
		case "VmRSS:":
			out.rssKiB, err = strconv.ParseInt(f[1], 10, 64)
		case "Threads:":
			out.threads, err = strconv.Atoi(f[1])
		}
		if err != nil {
			return out, fmt.Errorf("/proc/%d/status: %q: %w", s.pid, line, err)
		}
	}
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", s.pid))
	if err != nil {
		return out, err
	}
	out.fds = len(fds)
	out.goroutines, err = s.goroutines(ctx)
	return out, err
}

// goroutines is the "total N" of the goroutine profile.
func (s *server) goroutines(ctx context.Context) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.debug+"/debug/pprof/goroutine?debug=1", nil)
	if err != nil {
		return 0, err
	}
	resp, err := s.probe.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	first, _, _ := bytes.Cut(body, []byte("\n"))
	n, ok := strings.CutPrefix(string(first), "goroutine profile: total ")
	if resp.StatusCode != http.StatusOK || !ok {
		return 0, fmt.Errorf("goroutine profile: %d %.60q", resp.StatusCode, body)
	}
	return strconv.Atoi(n)
}

// gc runs a garbage collection in the server (the heap profile's gc=1).
func (s *server) gc(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.debug+"/debug/pprof/heap?gc=1", nil)
	if err != nil {
		return err
	}
	resp, err := s.probe.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, err = io.Copy(io.Discard, resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("heap profile: %s", resp.Status)
	}
	return err
}
