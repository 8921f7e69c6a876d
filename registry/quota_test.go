package registry_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/testutil/registrytest"
	"github.com/berth-registry/berth/internal/watchfile"
	"github.com/berth-registry/berth/registry"
	"github.com/berth-registry/berth/registry/config"
	"github.com/berth-registry/berth/registry/storage"
	"github.com/berth-registry/berth/storagedriver"
)

// withQuotas applies y, the policies section of a config.yml.
func withQuotas(t testing.TB, y string) registry.Option {
	t.Helper()
	indented := "  " + strings.ReplaceAll(strings.TrimSuffix(y, "\n"), "\n", "\n  ") + "\n"
	cfg, err := config.Load(strings.NewReader("version: 0.1\nstorage: inmemory\npolicies:\n"+indented), nil)
	if err != nil {
		t.Fatal(err)
	}
	s, err := cfg.PolicySet()
	if err != nil {
		t.Fatal(err)
	}
	return registry.WithPolicies(watchfile.Static(s))
}

// denied checks that rec is 403 DENIED with a message holding each of
// want.
func denied(t *testing.T, what string, rec *httptest.ResponseRecorder, want ...string) {
	t.Helper()
	if rec.Code != http.StatusForbidden || errorCode(t, rec) != "DENIED" {
		t.Fatalf("%s: %d %s, want 403 DENIED", what, rec.Code, rec.Body)
	}
	for _, w := range want {
		if !strings.Contains(rec.Body.String(), w) {
			t.Fatalf("%s: message %s lacks %q", what, rec.Body, w)
		}
	}
}

// usageOf reads GET /berth/v1/usage?prefix=ns.
func usageOf(t *testing.T, h http.Handler, ns string, hdr ...string) registry.NamespaceUsage {
	t.Helper()
	rec := do(t, h, "GET", registry.UsagePath+"?prefix="+ns, nil, hdr...)
	if rec.Code != http.StatusOK {
		t.Fatalf("usage: %d %s", rec.Code, rec.Body)
	}
	var body struct{ Namespaces []registry.NamespaceUsage }
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || len(body.Namespaces) != 1 {
		t.Fatalf("usage body %s: %v", rec.Body, err)
	}
	return body.Namespaces[0]
}

// requireWalk checks the endpoint's figures for ns against an
// independent walk of drv.
func requireWalk(t *testing.T, h http.Handler, drv storagedriver.Driver, ns string) registry.NamespaceUsage {
	t.Helper()
	got := usageOf(t, h, ns)
	want := registrytest.WalkUsage(t, drv, ns)
	maxTags := 0
	for _, n := range want.Tags {
		maxTags = max(maxTags, n)
	}
	if got.Bytes != want.Bytes || got.Blobs != len(want.Blobs) || got.Repositories != len(want.Tags) || got.TagsMax != maxTags {
		t.Fatalf("usage of %s: endpoint %+v, walk %d bytes, %d blobs, %d repositories, %d tags max", ns, got, want.Bytes, len(want.Blobs), len(want.Tags), maxTags)
	}
	return got
}

func blobOf(n int, seed string) []byte {
	return []byte(strings.Repeat(seed, n/len(seed)+1)[:n])
}

// TestQuotaBytes: bytes count each digest once per namespace; a blob that
// would pass the limit is refused at its commit (monolithic or chunked)
// and stays unlinked; a manifest that would is refused at its PUT; a
// namespace at its limit refuses uploads at their start; other
// namespaces are not limited.
func TestQuotaBytes(t *testing.T) {
	app, drv := newApp(t, withQuotas(t, "quotas:\n  - namespace: team/\n    maxbytes: 4KiB\n"))
	shared := pushBlob(t, app, "team/a", blobOf(1000, "shared"))
	if rec := do(t, app, "POST", "/v2/team/b/blobs/uploads/?mount="+shared.String()+"&from=team/a", nil); rec.Code != http.StatusCreated {
		t.Fatalf("mount: %d %s", rec.Code, rec.Body)
	}
	pushBlob(t, app, "team/b", blobOf(1000, "shared")) // the same digest pushed again
	if u := requireWalk(t, app, drv, "team/"); u.Bytes != 1000 || u.Blobs != 1 || u.Repositories != 2 {
		t.Fatalf("a blob in two repositories: %+v, want 1000 bytes once", u)
	}

	// 1000 used; 3500 more would make 4500 > 4096: refused before the commit.
	big := blobOf(3500, "big")
	rec := do(t, app, "POST", "/v2/team/a/blobs/uploads/?digest="+digest.FromBytes(big).String(), big)
	denied(t, "monolithic upload over the limit", rec, "namespace team/: 1000 B used + 3.4 KiB new = 4.4 KiB, over 4 KiB (policies.quotas[0].maxbytes)")
	if rec := do(t, app, "HEAD", "/v2/team/a/blobs/"+digest.FromBytes(big).String(), nil); rec.Code != http.StatusNotFound {
		t.Fatalf("a refused blob is linked: %d", rec.Code)
	}
	// Chunked: the size is known at the final PUT.
	rec = do(t, app, "POST", "/v2/team/a/blobs/uploads/", nil)
	if rec.Code != http.StatusAccepted {
		t.Fatalf("start: %d %s", rec.Code, rec.Body)
	}
	loc := rec.Header().Get("Location")
	if rec := do(t, app, "PATCH", loc, big); rec.Code != http.StatusAccepted {
		t.Fatalf("patch: %d %s", rec.Code, rec.Body)
	}
	rec = do(t, app, "PUT", loc+"?digest="+digest.FromBytes(big).String(), nil)
	denied(t, "chunked upload over the limit", rec, "(policies.quotas[0].maxbytes)")
	if rec := do(t, app, "GET", loc, nil); rec.Code != http.StatusNotFound {
		t.Fatalf("the refused upload stays: %d", rec.Code)
	}

	// A last chunk of unknown length: checked after the commit, and the
	// refused blob unlinked again.
	rec = do(t, app, "POST", "/v2/team/a/blobs/uploads/", nil)
	loc = rec.Header().Get("Location")
	req := httptest.NewRequest("PUT", loc+"?digest="+digest.FromBytes(big).String(), io.MultiReader(bytes.NewReader(big)))
	req.ContentLength, req.TransferEncoding = -1, []string{"chunked"}
	rec = httptest.NewRecorder()
	app.ServeHTTP(rec, req)
	denied(t, "chunked last chunk over the limit", rec, "(policies.quotas[0].maxbytes)")
	if rec := do(t, app, "HEAD", "/v2/team/a/blobs/"+digest.FromBytes(big).String(), nil); rec.Code != http.StatusNotFound {
		t.Fatalf("a blob refused after its commit is linked: %d", rec.Code)
	}
	if u := requireWalk(t, app, drv, "team/"); u.Bytes != 1000 {
		t.Fatalf("usage %+v after refusals, want 1000 bytes", u)
	}

	// An image whose blobs fit but whose manifest does not.
	cfg := blobOf(1500, "config")
	layer := blobOf(1500, "layer")
	cd, ld := pushBlob(t, app, "team/a", cfg), pushBlob(t, app, "team/a", layer)
	m := imageManifest(cd, len(cfg), map[digest.Digest]int{ld: len(layer)}, "")
	if 4000+len(m) <= 4096 {
		t.Fatalf("manifest of %d bytes fits: fix the test", len(m))
	}
	rec = do(t, app, "PUT", "/v2/team/a/manifests/v1", m, "Content-Type", "application/vnd.oci.image.manifest.v1+json")
	denied(t, "manifest over the limit", rec, "namespace team/: 3.9 KiB used + ", "(policies.quotas[0].maxbytes)")
	if rec := do(t, app, "GET", "/v2/team/a/manifests/v1", nil); rec.Code != http.StatusNotFound {
		t.Fatalf("the refused manifest is there: %d", rec.Code)
	}
	// 4000 of 4096 used: a small blob fits, then the namespace is full.
	pushBlob(t, app, "team/a", blobOf(96, "x"))
	rec = do(t, app, "POST", "/v2/team/c/blobs/uploads/", nil)
	denied(t, "upload start at the limit", rec, "namespace team/: 4 KiB used of 4 KiB (policies.quotas[0].maxbytes)")
	if u := requireWalk(t, app, drv, "team/"); u.Bytes != 4096 {
		t.Fatalf("usage %+v, want 4096 bytes", u)
	}
	// Blobs already in the namespace link freely; other namespaces are free.
	if rec := do(t, app, "POST", "/v2/team/b/blobs/uploads/?mount="+cd.String()+"&from=team/a", nil); rec.Code != http.StatusCreated {
		t.Fatalf("mount of a blob the namespace has: %d %s", rec.Code, rec.Body)
	}
	pushImage(t, app, "teams/app", "v1", "")
	pushImage(t, app, "other", "v1", "")
}

// TestQuotaRepositories: a new repository beyond the limit is refused at
// its first push, whatever starts it; existing ones take more.
func TestQuotaRepositories(t *testing.T) {
	app, drv := newApp(t, withQuotas(t, "quotas:\n  - namespace: team\n    maxrepositories: 2\n"))
	pushImage(t, app, "team/a", "v1", "")
	pushImage(t, app, "team", "v1", "") // the namespace's own repository counts
	d := pushBlob(t, app, "outside", []byte("outside"))
	for _, req := range [][2]string{
		{"POST", "/v2/team/c/blobs/uploads/"},
		{"POST", "/v2/team/c/blobs/uploads/?digest=" + d.String()},
		{"POST", "/v2/team/c/blobs/uploads/?mount=" + d.String() + "&from=outside"},
	} {
		denied(t, req[1], do(t, app, req[0], req[1], []byte("outside")),
			"namespace team/: 2 repositories of 2 (policies.quotas[0].maxrepositories); a new repository team/c would be one more")
	}
	pushImage(t, app, "team/a", "v2", `,"annotations":{"x":"more"}`)
	pushImage(t, app, "teams/c", "v1", "")
	if u := requireWalk(t, app, drv, "team/"); u.Repositories != 2 {
		t.Fatalf("usage %+v, want 2 repositories", u)
	}
}

// TestQuotaTags: a manifest PUT that would make one tag too many is
// refused; moving an existing tag, pushing by digest and other
// repositories are not.
func TestQuotaTags(t *testing.T) {
	app, drv := newApp(t, withQuotas(t, "quotas:\n  - namespace: team/\n    maxtagsperrepository: 2\n"))
	pushImage(t, app, "team/app", "v1", "")
	_, m := pushImage(t, app, "team/app", "v2", "")
	put := func(ref string, query string) *httptest.ResponseRecorder {
		return do(t, app, "PUT", "/v2/team/app/manifests/"+ref+query, m, "Content-Type", "application/vnd.oci.image.manifest.v1+json")
	}
	denied(t, "third tag", put("v3", ""), "repository team/app: 2 tags of 2 (policies.quotas[0].maxtagsperrepository); new tag v3 refused")
	denied(t, "third tag by ?tag=", put(digest.FromBytes(m).String(), "?tag=v1&tag=v4"), "new tag v4 refused")
	for _, ref := range []string{"v1", digest.FromBytes(m).String()} {
		if rec := put(ref, ""); rec.Code != http.StatusCreated {
			t.Fatalf("PUT %s: %d %s", ref, rec.Code, rec.Body)
		}
	}
	pushImage(t, app, "team/other", "v3", "")
	if u := requireWalk(t, app, drv, "team/"); u.TagsMax != 2 || u.TagsMaxRepository != "team/app" {
		t.Fatalf("usage %+v", u)
	}
}

// TestQuotaSeveral: every quota that covers a repository is checked.
func TestQuotaSeveral(t *testing.T) {
	app, _ := newApp(t, withQuotas(t, "quotas:\n  - namespace: org/\n    maxrepositories: 5\n  - namespace: org/team/\n    maxrepositories: 1\n"))
	pushImage(t, app, "org/team/a", "v1", "")
	denied(t, "second repository of org/team", do(t, app, "POST", "/v2/org/team/b/blobs/uploads/", nil), "(policies.quotas[1].maxrepositories)")
	for i := range 4 {
		pushImage(t, app, fmt.Sprintf("org/r%d", i), "v1", "")
	}
	denied(t, "sixth repository of org", do(t, app, "POST", "/v2/org/r9/blobs/uploads/", nil), "namespace org/: 5 repositories of 5 (policies.quotas[0].maxrepositories)")
}

// TestUsageAdminOnly: the usage endpoint answers administrators only.
func TestUsageAdminOnly(t *testing.T) {
	app := authApp(t, "rules:\n  - repositories: ['**']\n    users: [alice]\n    actions: [pull, push, delete]\n"+
		"  - repositories: ['team/**']\n    users: [bob]\n    actions: [pull, push]\n",
		withQuotas(t, "quotas:\n  - namespace: team/\n    maxbytes: 1GiB\n"))
	pushImage(t, withHeaders(app, basicAuth("bob")...), "team/app", "v1", "")
	if rec := do(t, app, "GET", registry.UsagePath, nil, basicAuth("bob")...); rec.Code != http.StatusForbidden || errorCode(t, rec) != "DENIED" {
		t.Fatalf("bob: %d %s, want 403 DENIED", rec.Code, rec.Body)
	}
	if rec := do(t, app, "GET", registry.UsagePath, nil); rec.Code != http.StatusUnauthorized {
		t.Fatalf("anonymous: %d %s, want 401", rec.Code, rec.Body)
	}
	rec := do(t, app, "GET", registry.UsagePath, nil, basicAuth("alice")...)
	var body struct{ Namespaces []registry.NamespaceUsage }
	if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &body) != nil || len(body.Namespaces) != 1 {
		t.Fatalf("alice: %d %s", rec.Code, rec.Body)
	}
	n := body.Namespaces[0]
	if n.Namespace != "team/" || n.Repositories != 1 || n.Bytes == 0 || len(n.Quotas) != 1 || n.Quotas[0].MaxBytes != 1<<30 || n.Quotas[0].Key != "policies.quotas[0]" {
		t.Fatalf("alice sees %+v", n)
	}
	if rec := do(t, app, "GET", registry.UsagePath+"?prefix=Bad/", nil, basicAuth("alice")...); rec.Code != http.StatusBadRequest || errorCode(t, rec) != "NAME_INVALID" {
		t.Fatalf("bad prefix: %d %s", rec.Code, rec.Body)
	}
}

// TestQuotaFreed: a manifest delete frees the manifest's bytes, garbage
// collection the blobs nothing references any more; a node sees both at
// its next walk, and a push refused before fits after.
func TestQuotaFreed(t *testing.T) {
	clock := &fakeClock{now: time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)}
	app, drv := newApp(t, registry.WithGCGrace(50*time.Millisecond), registry.WithClock(clock.Now),
		withQuotas(t, "quotas:\n  - namespace: team/\n    maxbytes: 600\n"))
	d, m := pushImage(t, app, "team/a", "v1", "")
	before := requireWalk(t, app, drv, "team/")
	cfg := []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}`)
	layer := blobOf(200, "layer of team/b")
	rec := do(t, app, "POST", "/v2/team/b/blobs/uploads/?digest="+digest.FromBytes(layer).String(), layer)
	denied(t, "a second image", rec, "(policies.quotas[0].maxbytes)")

	if rec := do(t, app, "DELETE", "/v2/team/a/manifests/"+d.String(), nil); rec.Code != http.StatusAccepted {
		t.Fatalf("delete: %d %s", rec.Code, rec.Body)
	}
	if u := requireWalk(t, app, drv, "team/"); u.Bytes != before.Bytes-int64(len(m)) {
		t.Fatalf("after the manifest delete: %d bytes, want %d - %d", u.Bytes, before.Bytes, len(m))
	}
	time.Sleep(2200 * time.Millisecond) // past the grace and the collector's 1s allowance for mtimes
	r, err := storage.New(drv, storage.WithGCGrace(50*time.Millisecond)).CollectGarbage(t.Context(), storage.GCOptions{Grace: 50 * time.Millisecond})
	if err != nil || r.Blobs != 3 {
		t.Fatalf("gc: %+v, %v; want team/a's manifest, config and layer deleted", r, err)
	}
	clock.Add(time.Minute) // the node's figures are stale: it walks again
	pushBlob(t, app, "team/b", cfg)
	pushBlob(t, app, "team/b", layer)
	if u := requireWalk(t, app, drv, "team/"); u.Bytes != int64(len(cfg)+len(layer)) {
		t.Fatalf("after gc: %+v, want only team/b's %d bytes", u, len(cfg)+len(layer))
	}
}

// TestQuotaConcurrentPushes: pushes racing on one node never take the
// namespace past its limit: checks and what they add are atomic.
func TestQuotaConcurrentPushes(t *testing.T) {
	app, drv := newApp(t, withQuotas(t, "quotas:\n  - namespace: team/\n    maxbytes: 10KiB\n"))
	var wg sync.WaitGroup
	codes := make([]int, 20)
	for i := range codes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b := blobOf(1024, fmt.Sprintf("blob %02d ", i))
			rec := do(t, app, "POST", fmt.Sprintf("/v2/team/r%d/blobs/uploads/?digest=%s", i%3, digest.FromBytes(b)), b)
			codes[i] = rec.Code
		}()
	}
	wg.Wait()
	created := 0
	for _, c := range codes {
		switch c {
		case http.StatusCreated:
			created++
		case http.StatusForbidden:
		default:
			t.Fatalf("codes %v", codes)
		}
	}
	if u := requireWalk(t, app, drv, "team/"); created != 10 || u.Bytes != 10<<10 {
		t.Fatalf("%d pushes accepted, usage %d bytes; want 10 and exactly the limit", created, u.Bytes)
	}
}
