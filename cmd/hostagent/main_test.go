package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/berth-registry/berth/hostagent"
	"github.com/berth-registry/berth/internal/testutil"
	"github.com/berth-registry/berth/internal/testutil/hatest"
)

// hostagentBin is the CLI, built once per test run by TestMain.
var hostagentBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "hostagent-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	hostagentBin = filepath.Join(dir, "hostagent")
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	if out, err := exec.Command(goBin, "build", "-o", hostagentBin, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building hostagent: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// cli runs the built hostagent on one store, with config and credentials
// confined to the test.
type cli struct {
	store string
	cmd   testutil.Cmd
}

func newCLI(t *testing.T) *cli {
	t.Helper()
	home := t.TempDir()
	return &cli{
		store: filepath.Join(t.TempDir(), "store"),
		cmd: testutil.Cmd{
			Path: hostagentBin,
			Env: []string{
				"HOME=" + home,
				"DOCKER_CONFIG=" + filepath.Join(home, ".docker"),
				"XDG_DATA_HOME=" + filepath.Join(home, ".local", "share"),
				"NO_PROXY=127.0.0.1,localhost", "no_proxy=127.0.0.1,localhost",
			},
			Dir: home,
		},
	}
}

func (c *cli) args(args []string) []string { return append([]string{"--store", c.store}, args...) }

// run runs hostagent and fails the test unless it exits 0.
func (c *cli) run(t *testing.T, args ...string) string {
	t.Helper()
	return string(c.cmd.Run(t, c.args(args)...))
}

// fail runs hostagent expecting exit code want and exactly one line on
// stderr, "hostagent: ..."; it returns that line.
func (c *cli) fail(t *testing.T, want int, args ...string) string {
	t.Helper()
	r := c.cmd.Exec(t, c.args(args)...)
	ee, ok := errors.AsType[*exec.ExitError](r.Err)
	if !ok {
		t.Fatalf("hostagent %s: %v, want exit %d\n%s", strings.Join(args, " "), r.Err, want, r.Output())
	}
	if ee.ExitCode() != want {
		t.Errorf("hostagent %s: exit %d, want %d\n%s", strings.Join(args, " "), ee.ExitCode(), want, r.Output())
	}
	lines := strings.Split(strings.TrimRight(string(r.Stderr), "\n"), "\n")
	if len(lines) != 1 || !strings.HasPrefix(lines[0], "hostagent: ") {
		t.Errorf("hostagent %s: stderr is not one \"hostagent: ...\" line:\n%s", strings.Join(args, " "), r.Stderr)
	}
	return lines[0]
}

// list returns `hostagent list --format json`.
func (c *cli) list(t *testing.T, args ...string) []hostagent.Image {
	t.Helper()
	var imgs []hostagent.Image
	out := c.run(t, append([]string{"list", "--format", "json"}, args...)...)
	if err := json.Unmarshal([]byte(out), &imgs); err != nil {
		t.Fatalf("list --format json: %v\n%s", err, out)
	}
	return imgs
}

// snapshot describes the store's files (hatest.Snapshot).
func (c *cli) snapshot(t *testing.T) string { return hatest.Snapshot(t, c.store) }

func tagsOf(imgs []hostagent.Image) []string {
	var tags []string
	for _, i := range imgs {
		tags = append(tags, i.Tag)
	}
	slices.Sort(tags)
	return tags
}

func containsLine(out, want string) bool {
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, want) {
			return true
		}
	}
	return false
}

var _ = bytes.Equal
