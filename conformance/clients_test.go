package conformance_test

import (
	"bytes"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/berth-registry/berth/internal/testutil"
	"github.com/berth-registry/berth/internal/testutil/registrytest"
	"github.com/berth-registry/berth/registry"
	"github.com/berth-registry/berth/storagedriver"
)

// The real-client tests share this shape: for each storage driver, a fresh
// registry in-process, one client driven through its CLI, content made here
// and byte-compared after the round trip. Each client runs with HOME and
// every config directory it knows pointed into the test's temporary
// directory, so nothing is read from or written to the user's config.

// startRegistry serves a registry with deletes on, as the client tests need
// (crane delete, regctl manifest rm).
func startRegistry(t *testing.T, drv storagedriver.Driver) *registrytest.Server {
	t.Helper()
	return registrytest.Start(t, drv, registry.WithDelete(true))
}

// clientEnv is the environment additions that confine a client's config,
// credentials and caches to a temporary directory.
func clientEnv(t *testing.T) []string {
	t.Helper()
	home := t.TempDir()
	dir := func(name string) string {
		p := filepath.Join(home, name)
		must(t, os.MkdirAll(p, 0o700))
		return p
	}
	return []string{
		"HOME=" + home,
		"DOCKER_CONFIG=" + dir(".docker"),
		"XDG_CONFIG_HOME=" + dir(".config"),
		"XDG_CACHE_HOME=" + dir(".cache"),
		"XDG_DATA_HOME=" + dir(".local/share"),
		"XDG_RUNTIME_DIR=" + dir("run"),
		"REGISTRY_AUTH_FILE=" + filepath.Join(home, "auth.json"),
		"REGCTL_CONFIG=" + filepath.Join(home, ".regctl", "config.json"),
		"NO_PROXY=127.0.0.1,localhost",
		"no_proxy=127.0.0.1,localhost",
	}
}

// client prepares a Cmd for the program at path (from RequireTool),
// confined by clientEnv and working in a fresh directory.
func client(t *testing.T, path string) testutil.Cmd {
	t.Helper()
	return testutil.Cmd{Path: path, Env: clientEnv(t), Dir: t.TempDir()}
}

// randomBytes is n bytes derived from seed.
func randomBytes(seed string, n int) []byte {
	rng := rand.New(rand.NewChaCha8(sha256Seed(seed)))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

// writeFiles writes name → content under dir.
func writeFiles(t *testing.T, dir string, files map[string][]byte) {
	t.Helper()
	for name, b := range files {
		writeFile(t, filepath.Join(dir, name), b)
	}
}

// requireFiles checks that dir holds each file with exactly its content.
func requireFiles(t *testing.T, dir string, files map[string][]byte) {
	t.Helper()
	for name, want := range files {
		got, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatalf("pulled file: %v", err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("pulled %s: %d bytes differing from the %d pushed", name, len(got), len(want))
		}
	}
}

// lines splits command output into its non-empty trimmed lines.
func lines(b []byte) []string {
	var out []string
	for l := range strings.Lines(string(b)) {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// requireSet checks that got holds exactly want, in any order.
func requireSet(t *testing.T, what string, got, want []string) {
	t.Helper()
	g, w := slices.Sorted(slices.Values(got)), slices.Sorted(slices.Values(want))
	if !slices.Equal(g, w) {
		t.Fatalf("%s: got %q, want %q", what, g, w)
	}
}

// requireContains checks that got holds every element of want.
func requireContains(t *testing.T, what string, got, want []string) {
	t.Helper()
	for _, w := range want {
		if !slices.Contains(got, w) {
			t.Fatalf("%s: %q missing from %q", what, w, got)
		}
	}
}

func readFileBytes(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	must(t, err)
	return b
}
