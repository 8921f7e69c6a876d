package registry

import (
	"maps"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/gorilla/mux"

	"github.com/berth-registry/berth/storagedriver/inmemory"
)

// checkFastMatch fails when the fast routes and the router disagree on
// method and path: a fast route taken must be the route mux matches, with
// the same variables, and a path mux sends to one of the fast routes must
// take it.
func checkFastMatch(t *testing.T, a *App, method, path string) {
	t.Helper()
	r := &http.Request{Method: method, URL: &url.URL{Path: path}, Header: http.Header{}}
	var m mux.RouteMatch
	matched := a.router.Match(r, &m) && m.MatchErr == nil
	h, v := a.fastMatch(r)
	vars := map[string]string{"name": v.name}
	if v.key != "" {
		vars[v.key] = v.value
	}
	var want *fastRoute
	for i := range a.fast {
		if matched && m.Route == a.fast[i].route {
			want = &a.fast[i]
		}
	}
	switch {
	case h == nil && want != nil:
		t.Fatalf("%s %q: no fast route, mux matched %s with %v", method, path, want.suffix, m.Vars)
	case h != nil && want == nil:
		t.Fatalf("%s %q: fast route taken with %v, mux matched no fast route (matched %v)", method, path, vars, matched)
	case h != nil && !maps.Equal(vars, m.Vars):
		t.Fatalf("%s %q: fast route variables %v, mux's %v", method, path, vars, m.Vars)
	}
}

// TestFastMatchAgreesWithRouter: ServeHTTP's own matching of the fast
// routes (fastRoutes) takes exactly the requests the router would give them, with
// the same variables, on paths made of the segments that could confuse
// it (names holding "manifests", "blobs" or "uploads", empty segments,
// newlines, the routes' neighbours), with and without a path prefix.
func TestFastMatchAgreesWithRouter(t *testing.T) {
	segs := []string{"a", "manifests", "blobs", "uploads", "tags", "list", "referrers", "_catalog", "v2",
		"sha256:" + strings.Repeat("ab", 32), "", "x\ny", "\n", "é", "latest", "..", "berth"}
	methods := []string{"GET", "HEAD", "PUT", "DELETE", "PATCH", "POST", "get"}
	for _, prefix := range []string{"", "/reg"} {
		a, err := New(t.Context(), inmemory.New(), WithPrefix(prefix))
		if err != nil {
			t.Fatal(err)
		}
		if len(a.fast) != 7 {
			t.Fatalf("%d fast routes, want the manifest's GET and PUT, the upload's POST, GET, PATCH and PUT, and the blob's GET", len(a.fast))
		}
		for _, path := range []string{prefix + "/v2/", prefix + "/v2/a/manifests/v1", prefix + "/v2/a/b/blobs/sha256:00",
			prefix + "/v2/a/blobs/uploads/", prefix + "/v2/a/blobs/uploads/u", prefix + "/v2//manifests/x", "/v2/a/manifests/v1",
			prefix + "/v2//blobs/uploads/", prefix + "/v2/a/blobs/uploads//", prefix + "/v2/a/tags/list", prefix + "/v2/a/blobs/uploads/list",
			prefix + "/v2/x\n/blobs/uploads/", prefix + "/v2/a/referrers/sha256:00", prefix + "/v2/a/blobs/uploads/manifests/x"} {
			for _, m := range methods {
				checkFastMatch(t, a, m, path)
			}
		}
		rng := rand.New(rand.NewPCG(1, uint64(len(prefix))))
		for range 20000 {
			n := 1 + rng.IntN(6)
			parts := make([]string, n)
			for i := range parts {
				parts[i] = segs[rng.IntN(len(segs))]
			}
			path := prefix + "/v2/" + strings.Join(parts, "/")
			if rng.IntN(8) == 0 {
				path += "/"
			}
			checkFastMatch(t, a, methods[rng.IntN(len(methods))], path)
		}
	}
}
