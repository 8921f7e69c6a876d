package ui

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/opencontainers/go-digest"
)

// The UI's speed goals: with 10,000 repositories and one repository of
// 5,000 tags, the repositories page, the tags page and a search each take
// at most 50 ms of server time. The benchmarks serve the pages in process
// (no network) to a logged-in user whose every repository passes the
// access policy, after the index's metadata was read once.
//
// What a measured request includes: the session and policy lookups, the
// index snapshot (one small read of the generation), the listing, the
// filter by the policy of all 10,000 names, the page's rows (and, for the
// tags page, the 50 last-pulled reads), the template and the body. It is
// the steady state: the untimed first request of each benchmark builds
// what later requests reuse while nothing changes (the store's RepoInfos
// answer, a sort order), and setup's garbage is collected before timing.
// Work in the background (a repository's recheck of its tags directory
// every 10 s, now never done while a request waits) runs alongside and
// costs the timed requests only the CPU it takes. The "after-push"
// variants push a tag (untimed) before each request, so that each timed
// request is the first after a change and rebuilds what it reuses.

const (
	benchRepos = 10000
	benchTags  = 5000
	benchBig   = "big/repo"
)

var (
	benchOnce sync.Once
	benchE    *env
	benchCook *http.Cookie
	// benchPush pushes a new tag into one of the small repositories.
	benchPush   func()
	benchPushes int
)

// benchEnv builds the registry once per process: it outlives each
// benchmark function's b (its directory and context).
func benchEnv(b *testing.B) (*env, *http.Cookie) {
	benchOnce.Do(func() {
		bt := &benchTB{TB: b}
		e := newEnv(bt)
		cfg := []byte(`{"architecture":"amd64","os":"linux","created":"2026-01-02T03:04:05Z","config":{"Labels":{"team":"bench"}},"rootfs":{"type":"layers","diff_ids":[]}}`)
		layer := []byte("the shared layer")
		cd, ld := e.blob("seed/one", cfg), e.blob("seed/one", layer)
		manifest := func(i int) []byte {
			m, _ := json.Marshal(map[string]any{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
				"config":      map[string]any{"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": len(cfg)},
				"layers":      []map[string]any{{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": ld, "size": len(layer)}},
				"annotations": map[string]string{"org.example.build": fmt.Sprintf("build-%d", i)}})
			return m
		}
		mount := func(repo string, d digest.Digest) {
			w := e.do("POST", "/v2/"+repo+"/blobs/uploads/?mount="+d.String()+"&from=seed/one", "alice", nil)
			if w.Code != http.StatusCreated {
				b.Fatalf("mount into %s: %d %s", repo, w.Code, w.Body)
			}
		}
		for i := range benchRepos - 2 {
			repo := fmt.Sprintf("ns%02d/repo-%05d", i%50, i)
			mount(repo, cd)
			mount(repo, ld)
			e.putManifest(repo, "1.0", manifest(i), "application/vnd.oci.image.manifest.v1+json")
		}
		mount(benchBig, cd)
		mount(benchBig, ld)
		for i := range benchTags {
			e.putManifest(benchBig, fmt.Sprintf("v%05d", i), manifest(benchRepos+i), "application/vnd.oci.image.manifest.v1+json")
		}
		if err := e.app.Store().FillRepoInfos(context.Background()); err != nil {
			b.Fatal(err)
		}
		binding, _ := e.ui.opts.Users.Binding("alice")
		benchE, benchCook = e, &http.Cookie{Name: sessionCookie, Value: e.ui.sessions.add("alice", binding)}
		benchPush = func() {
			benchPushes++
			e.putManifest(fmt.Sprintf("ns07/repo-%05d", 7+50*(benchPushes%100)), fmt.Sprintf("push-%d", benchPushes),
				manifest(2*benchRepos+benchPushes), "application/vnd.oci.image.manifest.v1+json")
		}
		runtime.GC() // setup's garbage, not the benchmarks'
	})
	if benchE == nil {
		b.Fatal("setup failed")
	}
	return benchE, benchCook
}

// benchTB gives newEnv a directory and context that last the process.
type benchTB struct{ testing.TB }

func (benchTB) TempDir() string {
	d, err := os.MkdirTemp("", "berth-ui-bench")
	if err != nil {
		panic(err)
	}
	return d
}
func (benchTB) Context() context.Context { return context.Background() }
func (benchTB) Cleanup(func())           {}

func benchPage(b *testing.B, path, want string) { benchPageAfter(b, path, want, nil) }

// benchPageAfter times GET path, running between (untimed) before each
// request when not nil.
func benchPageAfter(b *testing.B, path, want string, between func()) {
	e, c := benchEnv(b)
	serve := func() *httptest.ResponseRecorder {
		r := httptest.NewRequest("GET", path, nil)
		r.AddCookie(c)
		w := httptest.NewRecorder()
		e.ui.ServeHTTP(w, r)
		return w
	}
	if w := serve(); w.Code != http.StatusOK || !strings.Contains(w.Body.String(), want) {
		b.Fatalf("GET %s: %d, want 200 with %q:\n%.500s", path, w.Code, want, w.Body)
	}
	b.ResetTimer()
	for b.Loop() {
		if between != nil {
			b.StopTimer()
			between()
			b.StartTimer()
		}
		serve()
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/1000, "ms/op")
}

func BenchmarkRepositoriesPage(b *testing.B) {
	b.Run("first", func(b *testing.B) { benchPage(b, "/ui/", "ns00/repo-00000") })
	b.Run("last-page", func(b *testing.B) { benchPage(b, "/ui/?page=200", "Page 200 of 200") })
	b.Run("by-size", func(b *testing.B) { benchPage(b, "/ui/?sort=size", benchBig) })
	b.Run("filtered", func(b *testing.B) { benchPage(b, "/ui/?q=repo-0999", "ns40/repo-09990") })
	b.Run("by-size-after-push", func(b *testing.B) {
		benchEnv(b)
		benchPageAfter(b, "/ui/?sort=size", benchBig, benchPush)
	})
}

func BenchmarkTagsPage(b *testing.B) {
	b.Run("first", func(b *testing.B) { benchPage(b, "/ui/tags?repo="+benchBig, "v00000") })
	b.Run("last-page", func(b *testing.B) { benchPage(b, "/ui/tags?repo="+benchBig+"&page=100", "v04999") })
}

func BenchmarkSearch(b *testing.B) {
	b.Run("one-annotation", func(b *testing.B) { benchPage(b, "/berth/v1/search?q=build-12345", `"v02345"`) })
	b.Run("tag-in-big-repo", func(b *testing.B) { benchPage(b, "/berth/v1/search?q=big/repo+v04999", `"v04999"`) })
	b.Run("many-hits", func(b *testing.B) { benchPage(b, "/berth/v1/search?q=team%3Dbench&n=100", `"more":true`) })
	b.Run("no-hit", func(b *testing.B) { benchPage(b, "/berth/v1/search?q=nothing-like-this", `"results":[]`) })
	b.Run("no-hit-after-push", func(b *testing.B) {
		benchEnv(b)
		benchPageAfter(b, "/berth/v1/search?q=nothing-like-this", `"results":[]`, benchPush)
	})
}
