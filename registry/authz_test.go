package registry_test

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/berth-registry/berth/auth"
	"github.com/berth-registry/berth/registry"
	"github.com/berth-registry/berth/registry/storage"
)

// recorder is an Authorizer that lets everything through and records what
// each request wanted.
type recorder struct{ wanted [][]auth.Access }

func (r *recorder) Authorize(_ context.Context, _ *http.Request, wanted ...auth.Access) (*auth.Grant, error) {
	r.wanted = append(r.wanted, wanted)
	return nil, nil
}

// TestAuthWanted pins what every route asks of access control.
func TestAuthWanted(t *testing.T) {
	rec := &recorder{}
	app, _ := newApp(t, registry.WithAuth(rec))
	d := "sha256:" + strings.Repeat("a", 64)
	pull := func(n string) []auth.Access { return auth.Repository(n, auth.ActionPull) }
	push := func(n string) []auth.Access { return auth.Repository(n, auth.ActionPull, auth.ActionPush) }
	del := func(n string) []auth.Access { return auth.Repository(n, auth.ActionDelete) }
	tests := []struct {
		method, path string
		want         []auth.Access
	}{
		{"GET", "/v2/", nil},
		{"HEAD", "/v2/", nil},
		{"GET", "/v2/_catalog", []auth.Access{auth.Catalog}},
		{"GET", "/v2/a/b/tags/list", pull("a/b")},
		{"GET", "/v2/a/manifests/v1", pull("a")},
		{"HEAD", "/v2/a/manifests/v1", pull("a")},
		{"PUT", "/v2/a/manifests/v1", push("a")},
		{"DELETE", "/v2/a/manifests/v1", del("a")},
		{"GET", "/v2/a/blobs/" + d, pull("a")},
		{"HEAD", "/v2/a/blobs/" + d, pull("a")},
		{"DELETE", "/v2/a/blobs/" + d, del("a")},
		{"POST", "/v2/a/blobs/uploads/", push("a")},
		{"POST", "/v2/a/blobs/uploads/?mount=" + d + "&from=b/c", append(push("a"), pull("b/c")...)},
		{"POST", "/v2/a/blobs/uploads/?mount=" + d + "&from=a", push("a")},
		{"POST", "/v2/a/blobs/uploads/?mount=" + d + "&from=../x", push("a")}, // an invalid from is not mounted
		{"POST", "/v2/a/blobs/uploads/?from=b", push("a")},                    // from without mount means nothing
		{"GET", "/v2/a/blobs/uploads/u", push("a")},
		{"PATCH", "/v2/a/blobs/uploads/u", push("a")},
		{"PUT", "/v2/a/blobs/uploads/u", push("a")},
		{"DELETE", "/v2/a/blobs/uploads/u", push("a")},
		{"GET", "/v2/a/referrers/" + d, pull("a")},
		{"DELETE", "/berth/v1/repositories/a/b", []auth.Access{auth.Admin}},
		{"GET", "/v2/a/../b/manifests/v1", nil}, // an invalid name: credentials only, then NAME_INVALID
		{"GET", "/v2/A/tags/list", nil},
	}
	for _, tt := range tests {
		rec.wanted = nil
		do(t, app, tt.method, tt.path, nil)
		if len(rec.wanted) != 1 || !slices.Equal(rec.wanted[0], tt.want) {
			t.Errorf("%s %s wanted %v, want %v", tt.method, tt.path, rec.wanted, tt.want)
		}
	}
	rec.wanted = nil
	do(t, app, "GET", "/nope", nil)
	if len(rec.wanted) != 0 {
		t.Errorf("an unknown endpoint asked access control: %v", rec.wanted)
	}
}

// TestAuthNamesAgree: the auth package's name grammar (used for scopes
// and policies) is the storage's.
func TestAuthNamesAgree(t *testing.T) {
	for _, n := range []string{"a", "a/b", "a-b", "a--b", "a__b", "a_b", "a.b", "a/b/c/d", "a___b", "a..b", "a/", "/a",
		"a//b", "-a", "a-", "_a", "A", "a b", "a:b", "a,b", `a"b`, "*", "a/*", "..", "a/../b", "ä", strings.Repeat("a", 255), strings.Repeat("a", 256)} {
		if got, want := auth.ValidName(n), storage.CheckName(n) == nil; got != want {
			t.Errorf("name %q: auth says %v, storage %v", n, got, want)
		}
	}
}

// authApp is an app with htpasswd auth for alice (password pw) and bob
// (pw), under policy, with opts.
func authApp(t *testing.T, policy string, opts ...registry.Option) http.Handler {
	t.Helper()
	app, _ := newApp(t, append([]registry.Option{registry.WithAuth(basicAuthorizer(t, policy))}, opts...)...)
	return app
}

// basicAuthorizer is htpasswd auth for alice (password pw) and bob (pw),
// under the access policy policy.
func basicAuthorizer(t *testing.T, policy string) auth.Authorizer {
	t.Helper()
	dir := t.TempDir()
	var lines string
	for _, u := range []string{"alice", "bob"} {
		h, err := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		lines += u + ":" + string(h) + "\n"
	}
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	users, err := auth.OpenHtpasswd(write("htpasswd", lines), nil)
	if err != nil {
		t.Fatal(err)
	}
	p, err := auth.OpenPolicy(write("policy.yml", policy), nil)
	if err != nil {
		t.Fatal(err)
	}
	az, err := auth.NewBasic("test", users, p, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return az
}

func basicAuth(user string) []string {
	r, _ := http.NewRequest("GET", "/", nil)
	r.SetBasicAuth(user, "pw")
	return []string{"Authorization", r.Header.Get("Authorization")}
}

// TestAuthCatalogFiltered: the catalog lists only what the caller may
// pull, and pages over what it may see.
func TestAuthCatalogFiltered(t *testing.T) {
	app := authApp(t, "rules:\n  - repositories: ['**']\n    users: [alice]\n    actions: [pull, push]\n"+
		"  - repositories: ['b*', 'd']\n    users: [bob]\n    actions: [pull]\n")
	for _, r := range []string{"a", "b1", "b2", "c", "d", "e"} {
		pushBlob(t, withHeaders(app, basicAuth("alice")...), r, []byte("x"+r))
	}
	catalog := func(user, query string) ([]string, string) {
		rec := do(t, app, "GET", "/v2/_catalog"+query, nil, basicAuth(user)...)
		var b struct{ Repositories []string }
		if rec.Code != 200 || json.Unmarshal(rec.Body.Bytes(), &b) != nil {
			t.Fatalf("catalog as %s: %d %s", user, rec.Code, rec.Body)
		}
		return b.Repositories, rec.Header().Get("Link")
	}
	if got, _ := catalog("alice", ""); !slices.Equal(got, []string{"a", "b1", "b2", "c", "d", "e"}) {
		t.Errorf("alice sees %v", got)
	}
	got, link := catalog("bob", "?n=2")
	if !slices.Equal(got, []string{"b1", "b2"}) || !strings.Contains(link, "last=b2") {
		t.Errorf("bob's first page %v, link %q", got, link)
	}
	if got, link := catalog("bob", "?n=2&last=b2"); !slices.Equal(got, []string{"d"}) || link != "" {
		t.Errorf("bob's second page %v, link %q", got, link)
	}
	if rec := do(t, app, "GET", "/v2/_catalog", nil); rec.Code != 401 {
		t.Errorf("anonymous catalog: %d, want 401", rec.Code)
	}
}

// TestAuthErrors: refusals carry their code, status, headers and detail.
func TestAuthErrors(t *testing.T) {
	app := authApp(t, "rules:\n  - repositories: ['a']\n    users: [bob]\n    actions: [pull]\n")
	rec := do(t, app, "GET", "/v2/a/tags/list", nil)
	if rec.Code != 401 || errorCode(t, rec) != "UNAUTHORIZED" || rec.Header().Get("WWW-Authenticate") != `Basic realm="test"` {
		t.Errorf("anonymous: %d %s %q", rec.Code, rec.Body, rec.Header().Get("WWW-Authenticate"))
	}
	rec = do(t, app, "PUT", "/v2/a/manifests/v1", []byte("{}"), basicAuth("bob")...)
	var body struct {
		Errors []struct {
			Code   string
			Detail []auth.Access
		}
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatal(err)
	}
	if rec.Code != 403 || len(body.Errors) != 1 || body.Errors[0].Code != "DENIED" ||
		!slices.Equal(body.Errors[0].Detail, auth.Repository("a", auth.ActionPull, auth.ActionPush)) {
		t.Errorf("push as bob: %d %s", rec.Code, rec.Body)
	}
	if rec.Header().Get("WWW-Authenticate") != "" {
		t.Error("a 403 carries a challenge")
	}
	rec = do(t, app, "HEAD", "/v2/a/manifests/v1", nil)
	if rec.Code != 401 || rec.Body.Len() != 0 {
		t.Errorf("HEAD: %d with a %d-byte body", rec.Code, rec.Body.Len())
	}
}

// TestAuthAnonymousMount: a mount without from= takes the blob from any
// repository, so only a caller who may pull everything gets it; others
// get an upload.
func TestAuthAnonymousMount(t *testing.T) {
	app := authApp(t, "rules:\n  - repositories: ['**']\n    users: [alice]\n    actions: [pull, push]\n"+
		"  - repositories: ['bob/*']\n    users: [bob]\n    actions: [pull, push]\n")
	d := pushBlob(t, withHeaders(app, basicAuth("alice")...), "secret/x", []byte("secret"))
	rec := do(t, app, "POST", "/v2/bob/x/blobs/uploads/?mount="+d.String(), nil, basicAuth("bob")...)
	if rec.Code != http.StatusAccepted {
		t.Fatalf("bob's anonymous mount: %d, want 202 (an upload)", rec.Code)
	}
	if rec := do(t, app, "HEAD", "/v2/bob/x/blobs/"+d.String(), nil, basicAuth("bob")...); rec.Code != 404 {
		t.Fatalf("the secret blob reached bob/x: %d", rec.Code)
	}
	if rec := do(t, app, "POST", "/v2/alice/x/blobs/uploads/?mount="+d.String(), nil, basicAuth("alice")...); rec.Code != http.StatusCreated {
		t.Fatalf("alice's anonymous mount: %d, want 201", rec.Code)
	}
}

// withHeaders adds header pairs to every request to h.
func withHeaders(h http.Handler, kv ...string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for i := 0; i+1 < len(kv); i += 2 {
			r.Header.Set(kv[i], kv[i+1])
		}
		h.ServeHTTP(w, r)
	})
}
