package main

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/watchfile"
	"github.com/berth-registry/berth/registry/config"
	"github.com/berth-registry/berth/registry/storage"
	"github.com/berth-registry/berth/storagedriver/filesystem"
)

const retentionRules = `
  retention:
    rules:
      - repositories: ["team/*"]
        recent: 90d
      - repositories: ["team/*"]
        untagged: 30d
`

// retentionRoot is a filesystem root with team/app:old and an untagged
// manifest pushed 200 days ago, and team/app:new pushed now.
func retentionRoot(t *testing.T) (root string, g *gcRoot) {
	root = t.TempDir()
	drv, err := filesystem.New(root)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Now().Add(-200 * 24 * time.Hour)
	g = &gcRoot{t: t, s: storage.New(drv, storage.WithClock(func() time.Time { return at }))}
	g.image("team/app", "old", "config old", "", "layer old")
	g.image("team/app", "", "config untagged", "", "layer untagged")
	at = time.Now()
	g.image("team/app", "new", "config new", "", "layer new")
	return root, g
}

func TestRetentionCommand(t *testing.T) {
	root, _ := retentionRoot(t)
	dir := t.TempDir()
	cfg := writeFile(t, dir, "config.yml", "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: "+root+
		"\n  gc:\n    grace: 1s\npolicies:"+retentionRules)
	time.Sleep(2200 * time.Millisecond) // past the 1s grace, with whole-second slack
	ctx := context.Background()
	var stdout, stderr bytes.Buffer
	all := blobsUnder(t, root)
	if code := run(ctx, []string{"retention", cfg, "--dry-run"}, nil, &stdout, &stderr); code != exitOK {
		t.Fatalf("dry run: exit %d\n%s%s", code, stdout.String(), stderr.String())
	}
	out := stdout.String()
	for _, want := range []string{
		"repository team/app\n", "  delete tag old (sha256:", "): not pushed or pulled for 90d\n",
		"  keep   tag new (sha256:", "): pushed or pulled within 90d\n", ": untagged, not pushed or pulled for 30d\n",
		": tag old deleted\n", "would delete: 1 tags, 2 manifests in 1 repositories (1 governed by rules); 0 spared\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("dry run output lacks %q:\n%s", want, out)
		}
	}
	if got := blobsUnder(t, root); len(got) != len(all) {
		t.Fatal("the dry run deleted blobs")
	}
	stdout.Reset()
	if code := run(ctx, []string{"retention", cfg}, nil, &stdout, &stderr); code != exitOK || !strings.Contains(stdout.String(), "deleted: 1 tags, 2 manifests") {
		t.Fatalf("run: exit %d\n%s%s", code, stdout.String(), stderr.String())
	}
	stdout.Reset()
	if code := run(ctx, []string{"gc", cfg}, nil, &stdout, &stderr); code != exitOK || !strings.Contains(stdout.String(), "deleted: 0 manifests, 6 blobs") {
		t.Fatalf("gc after retention: exit %d\n%s%s", code, stdout.String(), stderr.String())
	}
}

// The scheduled collection runs retention first, so that one run frees
// what the rules delete.
func TestRetentionBeforeScheduledGC(t *testing.T) {
	root, g := retentionRoot(t)
	set, err := config.ParsePolicies([]byte(strings.ReplaceAll(retentionRules, "\n  ", "\n")))
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(1200 * time.Millisecond)
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	s := storage.New(g.s.Driver(), storage.WithGCGrace(10*time.Millisecond))
	before := len(blobsUnder(t, root))
	r, err := s.CollectGarbage(context.Background(), storage.GCOptions{Grace: 10 * time.Millisecond,
		Prepare: retentionBeforeGC(watchfile.Static(set), s, 10*time.Millisecond, logger)})
	if err != nil {
		t.Fatal(err)
	}
	if r.Blobs != 6 || len(blobsUnder(t, root)) != before-6 || !strings.Contains(logs.String(), "deleted=\"1 tags, 2 manifests") {
		t.Errorf("one scheduled run freed %d blobs (%d left of %d)\n%s", r.Blobs, len(blobsUnder(t, root)), before, logs.String())
	}
}

// Bad arguments: one line on standard error, exit code 2.
func TestRetentionCommandErrors(t *testing.T) {
	dir := t.TempDir()
	good := writeFile(t, dir, "good.yml", "version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: "+dir+"/data\npolicies:"+retentionRules)
	bad := writeFile(t, dir, "bad.yml", "version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: "+dir+"/data\npolicies:\n  retention:\n    rules:\n      - repositories: [\"team/*\"]\n        newest: 3\n        by: date\n")
	for _, c := range []struct {
		args []string
		want string
	}{
		{nil, "retention takes one argument"},
		{[]string{good, good}, "retention takes one argument"},
		{[]string{good, "--bogus"}, "flag provided but not defined: -bogus"},
		{[]string{good, "--grace", "1s"}, "--grace 1s is shorter than storage.gc.grace 1h0m0s"},
		{[]string{dir + "/missing.yml"}, "missing.yml"},
		{[]string{bad}, `policies.retention.rules[0].by (line 10): invalid value "date", want pushed or semver`},
	} {
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), append([]string{"retention"}, c.args...), nil, &stdout, &stderr)
		msg := stderr.String()
		if code != exitUsage || strings.Count(msg, "\n") != 1 || !strings.HasPrefix(msg, "registry: ") || !strings.Contains(msg, c.want) {
			t.Errorf("retention %q: exit %d, stderr %q; want exit 2 and one line with %q", c.args, code, msg, c.want)
		}
	}
}
