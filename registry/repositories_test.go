package registry_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"path"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/testutil/registrytest"
	"github.com/berth-registry/berth/internal/watchfile"
	"github.com/berth-registry/berth/registry"
	"github.com/berth-registry/berth/registry/config"
	"github.com/berth-registry/berth/registry/policy"
	"github.com/berth-registry/berth/registry/storage"
	"github.com/berth-registry/berth/storagedriver"
)

// adminPolicy makes alice an administrator (she may delete everywhere)
// and lets bob push and delete in team/**, which does not make him one.
const adminPolicy = "rules:\n  - repositories: ['**']\n    users: [alice]\n    actions: [pull, push, delete]\n" +
	"  - repositories: ['team/**']\n    users: [bob]\n    actions: [pull, push, delete]\n"

// TestDeleteRepositoryEndpoint runs two registries over one storage (on
// every driver): pushes go to one, the delete to the other, and both see
// the same result.
func TestDeleteRepositoryEndpoint(t *testing.T) {
	set, err := config.ParsePolicies([]byte(vPolicies))
	if err != nil {
		t.Fatal(err)
	}
	az := basicAuthorizer(t, adminPolicy)
	registrytest.ForEachDriver(t, func(t *testing.T, drv storagedriver.Driver) {
		var nodes [2]http.Handler
		for i := range nodes {
			app, err := registry.New(t.Context(), drv, registry.WithDelete(true), registry.WithAuth(az),
				registry.WithPolicies(watchfile.Static[*policy.Set](set)))
			if err != nil {
				t.Fatal(err)
			}
			nodes[i] = app
		}
		deleteRepositoryOnTwoNodes(t, drv, nodes[0], nodes[1])
	})
}

// deleteRepositoryOnTwoNodes pushes through app and deletes through
// admin, another node over the same storage drv, then collects garbage.
func deleteRepositoryOnTwoNodes(t *testing.T, drv storagedriver.Driver, app, admin http.Handler) {
	alice, bob := withHeaders(admin, basicAuth("alice")...), withHeaders(app, basicAuth("bob")...)
	shared := pushBlob(t, bob, "team/app", []byte("shared layer"))
	pushBlob(t, bob, "team/other", []byte("shared layer"))
	d, _ := pushImage(t, bob, "team/app", "latest", "")
	pushImage(t, bob, "team/app", "v1", "")
	pushImage(t, bob, "team/other", "latest", "")

	rec := do(t, withHeaders(admin, basicAuth("bob")...), "DELETE", "/berth/v1/repositories/team/app", nil)
	if rec.Code != 403 || errorCode(t, rec) != "DENIED" {
		t.Fatalf("bob deletes a repository: %d %s", rec.Code, rec.Body)
	}
	if rec := do(t, admin, "DELETE", "/berth/v1/repositories/team/app", nil); rec.Code != 401 {
		t.Fatalf("anonymous delete: %d", rec.Code)
	}
	rec = do(t, alice, "DELETE", "/berth/v1/repositories/team/app", nil)
	if rec.Code != 403 || !strings.Contains(rec.Body.String(), "tag v1 of team/app is immutable (policies.immutable[0]: tags v* except *-rc*) and cannot be deleted with its repository") {
		t.Fatalf("delete of a repository with an immutable tag: %d %s", rec.Code, rec.Body)
	}
	for _, bad := range []struct {
		path string
		code int
	}{
		{"/berth/v1/repositories/team/app?force=maybe", 400},
		{"/berth/v1/repositories/Team/App", 400},
		{"/berth/v1/repositories/team/none", 404},
		{"/berth/v1/repositories/team", 404}, // a prefix of repositories is none
	} {
		if rec := do(t, alice, "DELETE", bad.path, nil); rec.Code != bad.code {
			t.Errorf("DELETE %s: %d %s, want %d", bad.path, rec.Code, rec.Body, bad.code)
		}
	}
	rec = do(t, alice, "DELETE", "/berth/v1/repositories/team/app?force=true", nil)
	var got storage.RepoDeletion
	if rec.Code != 202 || rec.Header().Get("Content-Type") != "application/json" || json.Unmarshal(rec.Body.Bytes(), &got) != nil ||
		got != (storage.RepoDeletion{Name: "team/app", Tags: 2, Manifests: 2}) {
		t.Fatalf("forced delete: %d %s", rec.Code, rec.Body)
	}
	for _, p := range []string{"/v2/team/app/tags/list", "/v2/team/app/manifests/latest", "/v2/team/app/manifests/" + d.String(), "/v2/team/app/blobs/" + shared.String()} {
		if rec := do(t, withHeaders(app, basicAuth("alice")...), "GET", p, nil); rec.Code != 404 {
			t.Errorf("GET %s after the delete: %d", p, rec.Code)
		}
	}
	rec = do(t, alice, "GET", "/v2/_catalog", nil)
	var cat struct{ Repositories []string }
	if json.Unmarshal(rec.Body.Bytes(), &cat) != nil || !slices.Equal(cat.Repositories, []string{"team/other"}) {
		t.Fatalf("catalog after the delete: %s", rec.Body)
	}
	if rec := do(t, bob, "GET", "/v2/team/other/blobs/"+shared.String(), nil); rec.Code != 200 || rec.Body.String() != "shared layer" {
		t.Fatalf("shared blob from team/other: %d", rec.Code)
	}
	// Garbage collection then frees what only team/app used.
	s := storage.New(drv)
	before := blobCount(t, drv)
	time.Sleep(2100 * time.Millisecond) // past the storage mtime slack (1s) on both sides of the cutoff
	r, err := s.CollectGarbage(t.Context(), storage.GCOptions{Grace: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	// team/app's two layers and two manifests, and the shared layer,
	// which no manifest references; the config team/other's image shares
	// stays, with that image's layer and manifest.
	if r.Blobs != 5 || blobCount(t, drv) != before-5 || r.Live != 3 {
		t.Fatalf("GC freed %d blobs (%d → %d), want 5: %+v", r.Blobs, before, blobCount(t, drv), r)
	}
	rec = do(t, bob, "GET", "/v2/team/other/manifests/latest", nil)
	var m struct {
		Config struct{ Digest string }
		Layers []struct{ Digest string }
	}
	if rec.Code != 200 || json.Unmarshal(rec.Body.Bytes(), &m) != nil || len(m.Layers) != 1 {
		t.Fatalf("team/other after GC: %d %s", rec.Code, rec.Body)
	}
	for _, d := range []string{m.Config.Digest, m.Layers[0].Digest} {
		if rec := do(t, bob, "GET", "/v2/team/other/blobs/"+d, nil); rec.Code != 200 {
			t.Fatalf("blob %s of team/other after GC: %d", d, rec.Code)
		}
	}
}

// TestDeleteRepositoryNeedsDeletes: the endpoint is a delete, refused
// where deletes are off or the registry is read-only.
func TestDeleteRepositoryNeedsDeletes(t *testing.T) {
	for _, opt := range []registry.Option{registry.WithDelete(false), registry.WithReadOnly(true)} {
		app, _ := newApp(t, opt)
		if rec := do(t, app, "DELETE", "/berth/v1/repositories/team/app", nil); rec.Code != http.StatusMethodNotAllowed || errorCode(t, rec) != "UNSUPPORTED" {
			t.Errorf("%d %s, want 405 UNSUPPORTED", rec.Code, rec.Body)
		}
	}
}

// blobCount counts the blobs in the blob store of drv.
func blobCount(t *testing.T, drv storagedriver.Driver) int {
	t.Helper()
	var walk func(p string) int
	walk = func(p string) int {
		children, err := drv.List(t.Context(), p)
		if errors.Is(err, storagedriver.ErrPathNotFound) {
			return 0
		}
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, c := range children {
			if path.Base(c) == "data" {
				n++
			} else {
				n += walk(c)
			}
		}
		return n
	}
	return walk("/docker/registry/v2/blobs")
}

// TestDeleteRepositoryNotifies: webhooks hear of a repository delete as
// Distribution tells it, a delete event whose target is the repository.
func TestDeleteRepositoryNotifies(t *testing.T) {
	h := newHook(t, false)
	app, _ := newApp(t, registry.WithNotifier(openQueue(t, h.srv.URL), true))
	pushImage(t, app, "team/app", "v1", "")
	if rec := do(t, app, "DELETE", "/berth/v1/repositories/team/app", nil); rec.Code != 202 {
		t.Fatalf("delete: %d %s", rec.Code, rec.Body)
	}
	evs := h.wait(t, 4) // blob, blob, manifest pushes, then the delete
	last := evs[len(evs)-1]
	if got := describe(last); got != "delete team/app" || last.Request.Method != "DELETE" {
		t.Fatalf("last event %q (%s), want \"delete team/app\"", got, last.Request.Method)
	}
}
