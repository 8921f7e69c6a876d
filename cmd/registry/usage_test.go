package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/berth-registry/berth/internal/testutil/registrytest"
	"github.com/berth-registry/berth/registry"
	"github.com/berth-registry/berth/registry/storage"
	"github.com/berth-registry/berth/storagedriver/filesystem"
)

// TestUsageCommand: registry usage prints, per quota namespace or for a
// prefix, the figures an independent walk of the storage finds, as text
// and as JSON; bad arguments exit 2 with one line.
func TestUsageCommand(t *testing.T) {
	dir := t.TempDir()
	root := dir + "/data"
	drv, err := filesystem.New(root)
	if err != nil {
		t.Fatal(err)
	}
	g := &gcRoot{t: t, s: storage.New(drv)}
	g.image("team/app", "v1", "config v1", "", "base", "app v1")
	g.image("team/app", "v2", "config v2", "", "base", "app v2")
	g.image("team/web", "latest", "config web", "", "base", "web") // "base" is shared: counted once
	g.image("teams/x", "v1", "config x", "", "x")
	g.image("other", "v1", "config o", "", "o")
	policies := writeFile(t, dir, "policies.yml", "quotas:\n  - namespace: team/\n    maxbytes: 10GiB\n    maxrepositories: 50\n  - namespace: other\n    maxtagsperrepository: 200\n")
	cfg := writeFile(t, dir, "config.yml", "version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: "+root+"\npolicies:\n  file: "+policies+"\n")

	usage := func(args ...string) (string, string, int) {
		var stdout, stderr bytes.Buffer
		code := run(t.Context(), append([]string{"usage"}, args...), nil, &stdout, &stderr)
		return stdout.String(), stderr.String(), code
	}
	out, errOut, code := usage(cfg, "--json")
	if code != exitOK {
		t.Fatalf("usage --json: exit %d: %s", code, errOut)
	}
	var report struct{ Namespaces []registry.NamespaceUsage }
	if err := json.Unmarshal([]byte(out), &report); err != nil {
		t.Fatal(err)
	}
	if len(report.Namespaces) != 2 || report.Namespaces[0].Namespace != "team/" || report.Namespaces[1].Namespace != "other/" {
		t.Fatalf("namespaces: %s", out)
	}
	for _, n := range report.Namespaces {
		w := registrytest.WalkUsage(t, drv, n.Namespace)
		if n.Bytes != w.Bytes || n.Blobs != len(w.Blobs) || n.Repositories != len(w.Tags) {
			t.Errorf("%s: usage %+v, walk %d bytes, %d blobs, %d repositories", n.Namespace, n, w.Bytes, len(w.Blobs), len(w.Tags))
		}
	}
	team := report.Namespaces[0]
	// team/: 3 manifests, 3 configs, base + 3 layers; teams/x is not in it.
	if team.Blobs != 10 || team.Repositories != 2 || team.TagsMax != 2 || team.TagsMaxRepository != "team/app" ||
		len(team.Quotas) != 1 || team.Quotas[0].MaxBytes != 10<<30 || team.Quotas[0].MaxRepositories != 50 {
		t.Fatalf("team/: %+v", team)
	}

	out, errOut, code = usage(cfg)
	if code != exitOK || !strings.Contains(out, "NAMESPACE") || !strings.Contains(out, "maxbytes 10 GiB, maxrepositories 50 (quotas[0])") ||
		!strings.Contains(out, "2 (team/app)") || !strings.Contains(out, "maxtagsperrepository 200 (quotas[1])") {
		t.Fatalf("usage: exit %d\n%s%s", code, out, errOut)
	}
	t.Logf("registry usage:\n%s", out)

	out, _, code = usage(cfg, "teams", "--json")
	if code != exitOK || !strings.Contains(out, `"namespace": "teams/"`) || !strings.Contains(out, `"repositories": 1`) || !strings.Contains(out, `"quotas": []`) {
		t.Fatalf("usage teams: exit %d\n%s", code, out)
	}
	for _, args := range [][]string{{}, {cfg, "Bad/"}, {cfg, "a", "b"}, {cfg, "--nope"}} {
		if _, errOut, code := usage(args...); code != exitUsage || strings.Count(errOut, "\n") != 1 || !strings.HasPrefix(errOut, "registry: usage") {
			t.Errorf("usage %q: exit %d, stderr %q", args, code, errOut)
		}
	}
}
