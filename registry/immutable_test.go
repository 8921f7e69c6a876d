package registry_test

import (
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/testutil/registrytest"
	"github.com/berth-registry/berth/internal/watchfile"
	"github.com/berth-registry/berth/registry"
	"github.com/berth-registry/berth/registry/config"
	"github.com/berth-registry/berth/registry/policy"
	"github.com/berth-registry/berth/storagedriver"
)

const vPolicies = "immutable:\n  - repositories: ['team/**']\n    tags: ['v*']\n    except: ['*-rc*']\n"

// policiesFile writes content to a policies file and returns it, watched
// as cmd/registry watches policies.file.
func policiesFile(t *testing.T, content string) (string, registry.PolicySource) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "policies.yml")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	w, err := watchfile.Open(p, "requests the policies govern are refused", config.ParsePolicies, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	return p, w
}

// rewrite replaces the file's content so that its watcher notices for sure
// (another modification time, whatever the file system's resolution).
func rewrite(t *testing.T, p, content string) {
	t.Helper()
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	later := time.Now().Add(time.Duration(len(content)+1) * time.Second)
	if err := os.Chtimes(p, later, later); err != nil {
		t.Fatal(err)
	}
}

// putManifestAs PUTs manifest m as ref of repo and returns the status and
// "CODE body".
func putManifestAs(t *testing.T, h http.Handler, repo, ref string, m []byte) (int, string) {
	t.Helper()
	rec := do(t, h, "PUT", "/v2/"+repo+"/manifests/"+ref, m, "Content-Type", "application/vnd.oci.image.manifest.v1+json")
	return rec.Code, errorCode(t, rec) + " " + rec.Body.String()
}

func TestImmutableTagsHTTP(t *testing.T) {
	p, src := policiesFile(t, vPolicies)
	app, _ := newApp(t, registry.WithPolicies(src))
	d1, m1 := pushImage(t, app, "team/app", "v1", "")
	d2, m2 := pushImage(t, app, "team/app", "scratch", `,"annotations":{"n":"2"}`)
	if code, body := putManifestAs(t, app, "team/app", "v1", m1); code != 201 {
		t.Fatalf("same digest again: %d %s", code, body)
	}
	code, body := putManifestAs(t, app, "team/app", "v1", m2)
	want := "tag v1 of team/app is immutable (policies.immutable[0]: tags v* except *-rc*) and cannot be moved from " + d1.String() + " to " + d2.String()
	if code != 403 || !strings.HasPrefix(body, "DENIED ") || !strings.Contains(body, want) {
		t.Fatalf("moving v1: %d %s\nwant 403 DENIED %q", code, body, want)
	}
	if code, body := putManifestAs(t, app, "team/app", d2.String()+"?tag=v1&tag=latest", m2); code != 403 {
		t.Fatalf("by digest with ?tag=v1: %d %s", code, body)
	}
	for _, ref := range []string{"v1", d1.String()} {
		rec := do(t, app, "DELETE", "/v2/team/app/manifests/"+ref, nil)
		if rec.Code != 403 || errorCode(t, rec) != "DENIED" || !strings.Contains(rec.Body.String(), "tag v1 of team/app is immutable") {
			t.Fatalf("DELETE %s: %d %s", ref, rec.Code, rec.Body)
		}
	}
	// Mutable: tags outside the rule, its exceptions, other repositories.
	for _, repo := range []string{"team/app", "other/app"} {
		for _, tag := range []string{"latest", "v2-rc1"} {
			for _, m := range [][]byte{m1, m2} {
				if code, body := putManifestAs(t, app, repo, tag, m); code != 201 && repo == "team/app" {
					t.Fatalf("%s:%s: %d %s", repo, tag, code, body)
				}
			}
		}
	}
	// Reload: without the rule v1 moves; with it back it is fixed again.
	rewrite(t, p, "immutable: []\n")
	if code, body := putManifestAs(t, app, "team/app", "v1", m2); code != 201 {
		t.Fatalf("after removing the rule: %d %s", code, body)
	}
	rewrite(t, p, vPolicies)
	if code, _ := putManifestAs(t, app, "team/app", "v1", m1); code != 403 {
		t.Fatalf("after restoring the rule: %d, want 403", code)
	}
	// Fail closed: while the file is gone, pushes and deletes are refused
	// (503 UNAVAILABLE), pulls go on.
	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
	if code, body := putManifestAs(t, app, "team/app", "latest", m1); code != 503 || !strings.HasPrefix(body, "UNAVAILABLE") {
		t.Fatalf("push without readable policies: %d %s", code, body)
	}
	if rec := do(t, app, "DELETE", "/v2/team/app/manifests/latest", nil); rec.Code != 503 {
		t.Fatalf("delete without readable policies: %d %s", rec.Code, rec.Body)
	}
	if rec := do(t, app, "GET", "/v2/team/app/manifests/v1", nil); rec.Code != 200 || rec.Header().Get("Docker-Content-Digest") != d2.String() {
		t.Fatalf("pull without readable policies: %d %s", rec.Code, rec.Body)
	}
	rewrite(t, p, vPolicies)
	if code, body := putManifestAs(t, app, "team/app", "v1", m2); code != 201 {
		t.Fatalf("same digest once the file is back: %d %s", code, body)
	}
}

// TestImmutableTwoNodes: two registries over one storage (S3 among
// others) apply the rule identically, whichever serves each step.
func TestImmutableTwoNodes(t *testing.T) {
	set, err := config.ParsePolicies([]byte(vPolicies))
	if err != nil {
		t.Fatal(err)
	}
	registrytest.ForEachDriver(t, func(t *testing.T, drv storagedriver.Driver) {
		var nodes [2]http.Handler
		for i := range nodes {
			app, err := registry.New(t.Context(), drv, registry.WithDelete(true), registry.WithPolicies(watchfile.Static[*policy.Set](set)))
			if err != nil {
				t.Fatal(err)
			}
			nodes[i] = app
		}
		a, b := nodes[0], nodes[1]
		d1, m1 := pushImage(t, a, "team/app", "v1", "")
		_, m2 := pushImage(t, b, "team/app", "scratch", `,"annotations":{"n":"2"}`)
		for i, n := range nodes {
			if code, body := putManifestAs(t, n, "team/app", "v1", m2); code != 403 || !strings.Contains(body, "is immutable") {
				t.Fatalf("node %d moved v1: %d %s", i, code, body)
			}
			if rec := do(t, n, "DELETE", "/v2/team/app/manifests/v1", nil); rec.Code != 403 {
				t.Fatalf("node %d deleted v1: %d", i, rec.Code)
			}
			if code, body := putManifestAs(t, n, "team/app", "v1", m1); code != 201 {
				t.Fatalf("node %d refused the same digest: %d %s", i, code, body)
			}
		}
		if code, _ := putManifestAs(t, b, "team/app", "v2", m2); code != 201 {
			t.Fatal("creating v2 on node b")
		}
		if code, _ := putManifestAs(t, a, "team/app", "v2", m1); code != 403 {
			t.Fatal("node a moved the v2 node b created")
		}
		for i, n := range nodes {
			rec := do(t, n, "GET", "/v2/team/app/manifests/v1", nil)
			if rec.Code != 200 || digest.Digest(rec.Header().Get("Docker-Content-Digest")) != d1 {
				t.Fatalf("node %d serves v1 as %s", i, rec.Header().Get("Docker-Content-Digest"))
			}
		}
	})
}
