package main

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/testutil"
	"github.com/berth-registry/berth/registry/storage"
	"github.com/berth-registry/berth/storagedriver/filesystem"
)

// TestRepoRm runs the built binary's "repo rm": bad usage and refusals
// are one line with a non-zero exit; a forced delete of a repository with
// an immutable tag removes it and leaves the others whole; gc then frees
// what only it used.
func TestRepoRm(t *testing.T) {
	dir := t.TempDir()
	root := filepath.Join(dir, "data")
	drv, err := filesystem.New(root)
	if err != nil {
		t.Fatal(err)
	}
	g := &gcRoot{t: t, s: storage.New(drv, storage.WithGCGrace(time.Second))}
	_, c, ls := g.image("team/app", "v1", "config app", "", "base", "app layer")
	g.manifest("team/app", "latest", map[string]any{"schemaVersion": 2, "mediaType": storage.MediaTypeOCIManifest,
		"config": ociDesc("application/vnd.oci.image.config.v1+json", c), "layers": []any{ociDesc("application/vnd.oci.image.layer.v1.tar", ls[0])}})
	other, oc, ols := g.image("team/other", "v1", "config other", "", "base")
	cfg := writeFile(t, dir, "config.yml", "version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: "+root+
		"\n  gc:\n    grace: 1s\npolicies:\n  immutable:\n    - repositories: ['team/**']\n      tags: ['v*']\n")

	cmd := testutil.Cmd{Path: builtRegistry(t), NoInherit: true, Timeout: time.Minute}
	rm := func(wantCode int, args ...string) string {
		t.Helper()
		r := cmd.Exec(t, args...)
		if code := exitCode(r); code != wantCode {
			t.Fatalf("registry %s: exit %d, want %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, wantCode, r.Stdout, r.Stderr)
		}
		if wantCode != 0 {
			if lines := strings.Split(strings.TrimSuffix(string(r.Stderr), "\n"), "\n"); len(lines) != 1 || len(r.Stdout) != 0 {
				t.Fatalf("registry %s: want one line on stderr, got\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.Stdout, r.Stderr)
			}
			return string(r.Stderr)
		}
		return string(r.Stdout)
	}
	for _, args := range [][]string{
		{"repo"},
		{"repo", "ls", cfg},
		{"repo", "rm", cfg},
		{"repo", "rm", cfg, "team/app", "extra"},
		{"repo", "rm", cfg, "Team/App"},
		{"repo", "rm", cfg, "team/app", "--bogus"},
		{"repo", "rm", filepath.Join(dir, "missing.yml"), "team/app"},
	} {
		rm(exitUsage, args...)
	}
	if out := rm(exitFailure, "repo", "rm", cfg, "team/none"); !strings.Contains(out, "repository team/none: repository name not known") {
		t.Errorf("unknown repository: %s", out)
	}
	if out := rm(exitFailure, "repo", "rm", cfg, "team/app"); !strings.Contains(out, "tag v1 of team/app is immutable (policies.immutable[0]: tags v*)") ||
		!strings.Contains(out, "--force") {
		t.Errorf("repository with an immutable tag: %s", out)
	}
	if out := rm(exitOK, "repo", "rm", "--force", cfg, "team/app"); !strings.Contains(out, "deleted repository team/app from") ||
		!strings.Contains(out, "2 tags, 2 manifests") {
		t.Errorf("forced delete printed %q", out)
	}
	ctx := context.Background()
	if cat, err := g.s.Catalog(ctx, -1, ""); err != nil || !slices.Equal(cat, []string{"team/other"}) {
		t.Fatalf("catalog after repo rm: %v %v", cat, err)
	}
	time.Sleep(3 * time.Second) // past the 1s grace, with whole-second slack
	if r := cmd.Exec(t, "gc", cfg); exitCode(r) != 0 {
		t.Fatalf("gc: %s%s", r.Stdout, r.Stderr)
	}
	want := []digest.Digest{other, oc, ols[0]}
	slices.Sort(want)
	if got := blobsUnder(t, root); !slices.Equal(got, want) {
		t.Fatalf("blobs after gc: %v\nwant team/other's %v", got, want)
	}
}
