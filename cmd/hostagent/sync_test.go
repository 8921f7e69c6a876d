package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/berth-registry/berth/hostagent"
	"github.com/berth-registry/berth/internal/testutil/hatest"
	"github.com/berth-registry/berth/internal/testutil/registrytest"
	"github.com/berth-registry/berth/registry/client"
	"github.com/berth-registry/berth/storagedriver/inmemory"
)

func writeFile(t *testing.T, path, format string, args ...any) {
	t.Helper()
	if err := os.WriteFile(path, fmt.Appendf(nil, format, args...), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestCLISync: sync --dry-run changes nothing, sync copies and prints a
// summary, a second sync skips everything, --format json, and errors
// with their exit codes.
func TestCLISync(t *testing.T) {
	ctx := t.Context()
	up := registrytest.Start(t, inmemory.New())
	down := registrytest.Start(t, inmemory.New())
	c := client.New()
	_, app := testImages(t, "sync")
	hatest.Push(t, ctx, c, up.Host+"/team/app:1.0", app)
	hatest.Push(t, ctx, c, up.Host+"/team/app:1.1", app)
	ha := newCLI(t)
	cfg := filepath.Join(t.TempDir(), "sync.yml")
	writeFile(t, cfg, "rules:\n  - {name: app, source: %s/team/app, destination: %s/mirror/app}\n", up.Host, down.Host)

	out := ha.run(t, "sync", "--config", cfg, "--dry-run")
	if !containsLine(out, "would copy  "+up.Host+"/team/app:1.0 -> "+down.Host+"/mirror/app:1.0") ||
		!containsLine(out, "sync app: images 2 copied, 0 skipped, 0 failed; blobs 3 copied") || !strings.Contains(out, "(dry run") {
		t.Errorf("sync --dry-run:\n%s", out)
	}
	if repos, err := c.Catalog(ctx, down.Host); err != nil || len(repos) != 0 {
		t.Errorf("after a dry run the destination holds %q, %v", repos, err)
	}
	out = ha.run(t, "sync", "--config", cfg)
	if !containsLine(out, "copied      "+up.Host+"/team/app:1.1 -> "+down.Host+"/mirror/app:1.1") ||
		!containsLine(out, "sync app: images 2 copied, 0 skipped, 0 failed; blobs 3 copied") {
		t.Errorf("sync:\n%s", out)
	}
	out = ha.run(t, "sync", "--config", cfg, "--format", "json")
	var sums []hostagent.SyncSummary
	if err := json.Unmarshal([]byte(out), &sums); err != nil || len(sums) != 1 || sums[0].Images != (hostagent.SyncCounts{Skipped: 2}) {
		t.Errorf("second sync --format json: %v\n%s", err, out)
	}
	if out := ha.run(t, "sync", "--config", cfg, "-q"); out != "" {
		t.Errorf("sync -q printed %q", out)
	}

	// Errors: usage, a bad config naming the key, an unknown rule, an
	// unreachable destination (exit 5) after the summary.
	ha.fail(t, exitUsage, "sync")
	bad := filepath.Join(t.TempDir(), "bad.yml")
	writeFile(t, bad, "rules:\n  - {source: %s/team/app, destination: local, tag: {newest: 1}}\n", up.Host)
	if line := ha.fail(t, exitUsage, "sync", "--config", bad); !strings.Contains(line, `rules[0]: unknown key "tag" (line 2)`) {
		t.Errorf("bad config: %s", line)
	}
	if line := ha.fail(t, exitUsage, "sync", "--config", cfg, "--rule", "nope"); !strings.Contains(line, `no rule named "nope" (rules: "app")`) {
		t.Errorf("unknown rule: %s", line)
	}
	gone := registrytest.Start(t, inmemory.New())
	gone.Close()
	writeFile(t, bad, "rules:\n  - {name: gone, source: %s/team/app:1.0, destination: %s/x/app}\n", up.Host, gone.Host)
	r := ha.cmd.Exec(t, ha.args([]string{"sync", "--config", bad})...)
	var ee *exec.ExitError
	if !errors.As(r.Err, &ee) || ee.ExitCode() != exitUnavailable || !strings.Contains(string(r.Stdout), "sync gone: images 0 copied, 0 skipped, 1 failed") ||
		!strings.HasPrefix(string(r.Stderr), "hostagent: sync: 1 image(s) failed; the first: ") {
		t.Errorf("sync to a registry that is down: %v\n%s", r.Err, r.Output())
	}
}

// TestCLIDaemon runs the built binary as a daemon: its schedule fires,
// SIGHUP reloads (and a broken config is refused while the old one runs
// on), and SIGTERM lets the copy in flight finish before it exits 0.
func TestCLIDaemon(t *testing.T) {
	ctx := t.Context()
	up := hatest.StartCountedBerth(t)
	down := registrytest.Start(t, inmemory.New())
	c := client.New()
	hatest.Push(t, ctx, c, up.Host+"/team/app:1", hatest.NewImage(t, hatest.Spec{Layers: [][]hatest.File{{{Name: "a", Data: []byte("1")}}}}))
	ha := newCLI(t)
	cfg := filepath.Join(t.TempDir(), "sync.yml")
	rule := fmt.Sprintf("  - {name: app, source: %s/team/app, destination: %s/mirror/app, schedule: 1s}\n", up.Host, down.Host)
	writeFile(t, cfg, "rules:\n%s", rule)

	cmd := exec.Command(hostagentBin, ha.args([]string{"daemon", "--config", cfg})...)
	cmd.Env = append(os.Environ(), ha.cmd.Env...)
	cmd.Dir = ha.cmd.Dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	logs := &daemonLog{}
	go func() {
		logs.read(stdout)
		exited <- cmd.Wait()
	}()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = <-exited // the error of a killed process
		}
		if t.Failed() {
			t.Logf("daemon stdout:\n%s\nstderr:\n%s", logs.text(), stderr.String())
		}
	})
	isRun := func(rule string, copied float64) func(map[string]any) bool {
		return func(r map[string]any) bool {
			img, _ := r["images"].(map[string]any)
			return r["msg"] == "sync run" && r["rule"] == rule && img["copied"] == copied
		}
	}
	logs.wait(t, 1, func(r map[string]any) bool { return r["msg"] == "sync daemon started" })
	logs.wait(t, 1, isRun("app", 1))

	// The schedule fires again and picks up a new tag.
	hatest.Push(t, ctx, c, up.Host+"/team/app:2", hatest.NewImage(t, hatest.Spec{Layers: [][]hatest.File{{{Name: "a", Data: []byte("2")}}}}))
	logs.wait(t, 2, isRun("app", 1))

	// SIGHUP with a broken config: refused, the daemon runs on.
	writeFile(t, cfg, "rules:\n%s  - {source: nowhere}\n", rule)
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	failed := logs.wait(t, 1, func(r map[string]any) bool { return r["msg"] == "config reload failed; the running config stays" })
	if e, _ := failed["error"].(string); !strings.Contains(e, "rules[1] (line 3): destination: required") {
		t.Errorf("reload failure names %q", e)
	}
	// SIGHUP with a good config: a second rule (no schedule: runs once).
	writeFile(t, cfg, "rules:\n%s  - {name: other, source: %s/team/app, destination: %s/other/app}\n", rule, up.Host, down.Host)
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	logs.wait(t, 1, func(r map[string]any) bool { return r["msg"] == "config reloaded" && r["rules"] == 2.0 })
	logs.wait(t, 1, isRun("other", 2))

	// SIGTERM while a slow copy is in flight: it finishes, then exit 0.
	up.SlowBlobs(25 * time.Millisecond)
	big := hatest.NewImage(t, hatest.Spec{Layers: [][]hatest.File{{{Name: "big", Data: hatest.Random("daemon", 512<<10)}}}})
	up.Reset()
	hatest.Push(t, ctx, c, up.Host+"/team/app:3", big)
	for deadline := time.Now().Add(30 * time.Second); up.Count("GET blob") == 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the daemon never started to copy app:3")
		}
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("daemon after SIGTERM: %v, want exit 0", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("the daemon did not exit after SIGTERM")
	}
	if d, err := c.ManifestHead(ctx, mustRef(t, down.Host+"/mirror/app:3")); err != nil || d.Digest != big.Digest {
		t.Errorf("the copy in flight at SIGTERM did not finish: %v, %v", d.Digest, err)
	}
	logs.wait(t, 1, func(r map[string]any) bool { return r["msg"] == "sync daemon stopped" })
	if stderr.Len() > 0 {
		t.Errorf("daemon wrote to stderr: %s", stderr.String())
	}
	t.Logf("daemon log:\n%s", logs.text())
}

// daemonLog holds the JSON lines a daemon writes.
type daemonLog struct {
	mu    sync.Mutex
	lines []string
}

func (l *daemonLog) read(r io.Reader) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		l.mu.Lock()
		l.lines = append(l.lines, sc.Text())
		l.mu.Unlock()
	}
}

func (l *daemonLog) text() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

// wait waits until n lines match and returns the nth; every line must be
// a JSON object.
func (l *daemonLog) wait(t *testing.T, n int, match func(map[string]any) bool) map[string]any {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		l.mu.Lock()
		lines := append([]string(nil), l.lines...)
		l.mu.Unlock()
		seen := 0
		for _, line := range lines {
			var r map[string]any
			if err := json.Unmarshal([]byte(line), &r); err != nil {
				t.Fatalf("daemon log line is not JSON: %q", line)
			}
			if match(r) {
				if seen++; seen == n {
					return r
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %d matching daemon log line(s) after 30s", n)
		}
	}
}

// TestSyncFourPartTags: with Windows tags of four components, a rule's
// newest, alone and within a range, copies the tag find shows as the
// newest (find's --max-version is inclusive, the range's < is not).
func TestSyncFourPartTags(t *testing.T) {
	ctx := t.Context()
	up := registrytest.Start(t, inmemory.New())
	down := registrytest.Start(t, inmemory.New())
	c := client.New()
	img := hatest.NewImage(t, hatest.Spec{Layers: [][]hatest.File{{{Name: "Files/x", Data: []byte("windows")}}}})
	for _, tag := range []string{"10.0.17763.1", "10.0.17763.2061", "10.0.20348.5", "latest"} {
		hatest.Push(t, ctx, c, up.Host+"/win/base:"+tag, img)
	}
	ha := newCLI(t)
	for i, tc := range []struct {
		tags string
		find []string
		want string
	}{
		{"{newest: 1}", nil, "10.0.20348.5"},
		{`{semver: ">=10.0.17763 <10.0.20000", newest: 1}`, []string{"--min-version", "10.0.17763", "--max-version", "10.0.19999"}, "10.0.17763.2061"},
	} {
		found := strings.TrimSpace(ha.run(t, append([]string{"find", up.Host + "/win/base", "--format", "{{.Tag}}"}, tc.find...)...))
		dest := fmt.Sprintf("%s/mirror%d/base", down.Host, i)
		cfg := filepath.Join(t.TempDir(), "sync.yml")
		writeFile(t, cfg, "rules:\n  - {source: %s/win/base, destination: %s, tags: %s}\n", up.Host, dest, tc.tags)
		ha.run(t, "sync", "--config", cfg)
		got, err := c.Tags(ctx, mustRef(t, dest))
		if err != nil || len(got) != 1 || got[0] != found || found != tc.want {
			t.Errorf("tags %s: sync copied %q (%v), find shows %q, want %s", tc.tags, got, err, found, tc.want)
		}
	}
}
