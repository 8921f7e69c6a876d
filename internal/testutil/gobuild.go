package testutil

import (
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
)

// Binaries builds Go commands for the tests of one test binary, each
// package once, as it ships (no race detector), into one temporary
// directory. Declare one per test package and call Cleanup from TestMain.
type Binaries struct {
	mu    sync.Mutex
	dir   string
	built map[string]built
}

type built struct {
	path string
	err  error
}

// Build returns the path of the command built from pkg (an import path),
// building it on first use; a failed build fails t, and every later t.
func (b *Binaries) Build(t testing.TB, pkg string) string {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	r, ok := b.built[pkg]
	if !ok {
		r = b.build(pkg)
		if b.built == nil {
			b.built = map[string]built{}
		}
		b.built[pkg] = r
	}
	if r.err != nil {
		t.Fatal(r.err)
	}
	return r.path
}

func (b *Binaries) build(pkg string) built {
	if b.dir == "" {
		dir, err := os.MkdirTemp("", "berth-bin-")
		if err != nil {
			return built{err: err}
		}
		b.dir = dir
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	out := filepath.Join(b.dir, fmt.Sprintf("%s-%d", path.Base(pkg), len(b.built)))
	if msg, err := exec.Command(goBin, "build", "-o", out, pkg).CombinedOutput(); err != nil {
		return built{err: fmt.Errorf("go build %s: %w\n%s", pkg, err, msg)}
	}
	return built{path: out}
}

// Cleanup removes every binary built.
func (b *Binaries) Cleanup() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.dir != "" {
		os.RemoveAll(b.dir)
	}
	b.dir, b.built = "", nil
}
