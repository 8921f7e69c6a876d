package testutil

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// DistributionModule is the module whose example configurations the tests
// read: the Distribution release Berth is a drop-in replacement for (a test
// dependency in go.mod).
const DistributionModule = "github.com/distribution/distribution/v3"

// DistributionDir returns the directory of DistributionModule in the module
// cache, downloading it as go build would if a fresh cache lacks it, or
// skips the test (fails it under CI) when the go command cannot provide
// it. The tests read Distribution's own files there rather than copies kept
// in this repository.
func DistributionDir(t testing.TB) string {
	t.Helper()
	out, err := exec.Command("go", "mod", "download", "-json", DistributionModule).Output()
	var m struct{ Dir, Error string }
	if err == nil {
		err = json.Unmarshal(out, &m)
	}
	if err != nil || m.Dir == "" {
		SkipOrFail(t, "go mod download %s: %v %s", DistributionModule, err, m.Error)
	}
	return m.Dir
}

// DistributionFile returns the text of file name (slash-separated, relative
// to the module's root) of DistributionModule.
func DistributionFile(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(DistributionDir(t), filepath.FromSlash(name)))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// DistributionReferenceExample returns the YAML block of Distribution's
// configuration reference that lists every option (the first block after
// its "List of configuration options" heading).
func DistributionReferenceExample(t testing.TB) string {
	t.Helper()
	doc := DistributionFile(t, "docs/content/about/configuration.md")
	_, rest, ok := strings.Cut(doc, "## List of configuration options")
	if ok {
		_, rest, ok = strings.Cut(rest, "```yaml\n")
	}
	block, _, ok2 := strings.Cut(rest, "\n```")
	if !ok || !ok2 {
		t.Fatal("Distribution's configuration reference has no YAML block under \"List of configuration options\"")
	}
	return block + "\n"
}
