package crash

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/testutil"
)

// bins holds the registry binary, built once per test binary.
var bins testutil.Binaries

func TestMain(m *testing.M) {
	code := m.Run()
	bins.Cleanup()
	os.Exit(code)
}

// registryBinary builds cmd/registry on first use and returns its path.
func registryBinary(t testing.TB) string {
	return bins.Build(t, "github.com/berth-registry/berth/cmd/registry")
}

// node is one "registry serve" process.
type node struct {
	URL    string // http://127.0.0.1:port
	cmd    *exec.Cmd
	exited chan struct{}
	logf   string
}

var listening = regexp.MustCompile(`^berth registry listening on ([^\s,]+)`)

// startNode runs the registry with config file cfg, waits until it answers
// GET /v2/, and kills it when the test ends. Its standard error goes to a
// log file, shown when it fails to start.
func startNode(t testing.TB, cfg string) *node {
	t.Helper()
	n := &node{logf: cfg + ".log", exited: make(chan struct{})}
	logFile, err := os.OpenFile(n.logf, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	n.cmd = exec.Command(registryBinary(t), "serve", cfg)
	n.cmd.Stderr = logFile
	// Should the test binary die first, so does the registry.
	n.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdout, err := n.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := n.cmd.Start(); err != nil {
		t.Fatalf("start registry: %v", err)
	}
	lines := make(chan string, 1)
	go func() {
		r := bufio.NewReader(stdout)
		line, _ := r.ReadString('\n')
		lines <- line
		_, _ = io.Copy(io.Discard, r)
		_ = n.cmd.Wait()
		close(n.exited)
	}()
	t.Cleanup(n.kill)
	select {
	case line := <-lines:
		m := listening.FindStringSubmatch(line)
		if m == nil {
			n.kill()
			t.Fatalf("registry start-up line %q; log:\n%s", line, n.log())
		}
		n.URL = "http://" + m[1]
	case <-time.After(60 * time.Second):
		n.kill()
		t.Fatalf("registry: no start-up line after 60s; log:\n%s", n.log())
	}
	if err := n.waitReady(t.Context()); err != nil {
		n.kill()
		t.Fatalf("registry on %s: %v; log:\n%s", n.URL, err, n.log())
	}
	return n
}

// waitReady polls GET /v2/ until it answers 200.
func (n *node) waitReady(ctx context.Context) error {
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(n.URL + "/v2/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("GET /v2/: %s", resp.Status)
		}
		select {
		case <-n.exited:
			return fmt.Errorf("exited before answering: %w", err)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return err
		}
	}
}

// kill sends SIGKILL and waits for the process to be gone. It may be called
// more than once.
func (n *node) kill() {
	_ = n.cmd.Process.Signal(syscall.SIGKILL)
	<-n.exited
}

func (n *node) log() string {
	b, _ := os.ReadFile(n.logf)
	return testutil.Tail(b, 8<<10)
}

// logLines returns the lines of the registry's log that contain s (a
// request id, say), for a failure message.
func (n *node) logLines(s string) string {
	b, _ := os.ReadFile(n.logf)
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.Contains(l, s) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// requestIDRE finds the request id in an error body's detail.
var requestIDRE = regexp.MustCompile(`"request_id":"([0-9a-f]+)"`)

// explain adds to failure f the log lines, on any of nodes, of the
// request it names.
func explain(f string, nodes ...*node) string {
	m := requestIDRE.FindStringSubmatch(f)
	if m == nil {
		return f
	}
	for _, n := range nodes {
		if l := n.logLines(m[1]); l != "" {
			f += "\n" + l
		}
	}
	return f
}

// checkLog fails the test when the registry's log (of every start with
// this config) shows a panic or a fatal runtime error: a crash test must
// find only the crashes it caused.
func (n *node) checkLog(t testing.TB) {
	t.Helper()
	b, err := os.ReadFile(n.logf)
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"panic:", "fatal error:"} {
		if i := bytes.Index(b, []byte(bad)); i >= 0 {
			t.Errorf("registry log has %q:\n%s", bad, testutil.Tail(b[i:], 8<<10))
		}
	}
}

// writeConfig writes a registry config file serving on a free loopback
// port with deletes enabled and storage as given (YAML under "storage:",
// indented by two spaces).
func writeConfig(t testing.TB, storage string) string {
	t.Helper()
	cfg := "version: 0.1\nlog:\n  level: error\nhttp:\n  addr: 127.0.0.1:0\n  draintimeout: 0s\n" +
		"storage:\n  delete:\n    enabled: true\n" + storage
	f, err := os.CreateTemp(t.TempDir(), "config-*.yml")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(cfg); err != nil {
		t.Fatal(err)
	}
	return f.Name()
}

func filesystemStorage(root string) string {
	return "  filesystem:\n    rootdirectory: " + quote(root) + "\n"
}

func quote(s string) string { return `"` + strings.ReplaceAll(s, `"`, `\"`) + `"` }
