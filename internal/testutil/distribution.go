package testutil

import (
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
// cache (downloading it if needed), or skips the test (fails it under CI)
// when the go command cannot provide it. The tests read Distribution's own
// files there rather than copies kept in this repository.
func DistributionDir(t testing.TB) string {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", DistributionModule).Output()
	dir := strings.TrimSpace(string(out))
	if err != nil || dir == "" {
		SkipOrFail(t, "%s is not in the module cache (go mod download %s): %v", DistributionModule, DistributionModule, err)
	}
	return dir
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
