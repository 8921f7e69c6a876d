package conformance_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	digest "github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/testutil/registrytest"
	"github.com/berth-registry/berth/registry"
	"github.com/berth-registry/berth/storagedriver"
)

// attack is one request that access control must refuse.
type attack struct {
	name  string
	modes []string // the auth modes it applies to; nil: both
	// req builds the request; the fixture holds what was pushed.
	req    func(t *testing.T, f *attackFixture) *http.Request
	status int
	code   string // registry error code, or OAuth2 error of the token endpoint
	// challenge, when set, must appear in WWW-Authenticate.
	challenge string
}

// attackFixture is a registry with content pushed by alice: an image in
// team/app, private/secret and public/base.
type attackFixture struct {
	*authServer
	secretBlob digest.Digest // a layer only in private/secret
	teamBlob   digest.Digest // a layer only in team/app
	manifest   map[string]digest.Digest
	users      map[string]string // the users now in the htpasswd file
}

// TestAuthAttacks sends every attack of attackTable to a registry with
// access control, in each mode, on each driver, and checks that each is
// refused with its status and error code and that storage holds exactly
// what it held before (nothing written, nothing deleted).
func TestAuthAttacks(t *testing.T) {
	t.Parallel()
	table := attackTable()
	t.Logf("attack table: %d cases", len(table))
	if len(table) < 30 {
		t.Fatalf("attack table has %d cases, want at least 30", len(table))
	}
	for _, mode := range authModes {
		t.Run(mode, func(t *testing.T) {
			registrytest.ForEachDriver(t, func(t *testing.T, drv storagedriver.Driver) {
				f := newAttackFixture(t, drv, mode)
				// The set-up's pushes leave records the registry writes in
				// the background (repository metadata); written now, they
				// cannot pass for a change made by an attack.
				must(t, f.Flush(context.Background()))
				before := snapshot(t, drv)
				n := 0
				for _, a := range table {
					if a.modes != nil && !slices.Contains(a.modes, mode) {
						continue
					}
					n++
					t.Run(a.name, func(t *testing.T) {
						resp, body := send(t, a.req(t, f))
						if resp.StatusCode != a.status {
							t.Errorf("status %d, want %d; body %s", resp.StatusCode, a.status, body)
						}
						if got := errorCodeOf(body); got != a.code {
							t.Errorf("error code %q, want %q; body %s", got, a.code, body)
						}
						if h := resp.Header.Get("WWW-Authenticate"); !strings.Contains(h, a.challenge) {
							t.Errorf("WWW-Authenticate %q, want it to contain %q", h, a.challenge)
						}
						if resp.StatusCode == http.StatusUnauthorized && resp.Header.Get("WWW-Authenticate") == "" &&
							!strings.HasPrefix(resp.Request.URL.Path, registry.TokenPath) {
							t.Error("401 without WWW-Authenticate")
						}
						if bytes.Contains(body, []byte(`"token"`)) || bytes.Contains(body, []byte(`"access_token"`)) {
							t.Errorf("a token was issued: %s", body)
						}
					})
				}
				if after := snapshot(t, drv); !maps.Equal(before, after) {
					t.Errorf("storage changed under attack:\n%s", diffSnapshots(before, after))
				}
				t.Logf("%s on %s: %d attacks refused", mode, drv.Name(), n)
			})
		})
	}
}

func newAttackFixture(t *testing.T, drv storagedriver.Driver, mode string) *attackFixture {
	t.Helper()
	s := startAuthRegistry(t, drv, mode, authOptions{policy: authPolicy})
	f := &attackFixture{authServer: s, manifest: map[string]digest.Digest{}, users: without(authUsers)}
	for _, repo := range []string{"team/app", "private/secret", "public/base"} {
		layer := []byte("layer of " + repo)
		f.manifest[repo] = pushImage(t, s, "alice", repo, "v1", layer)
		switch repo {
		case "private/secret":
			f.secretBlob = digest.FromBytes(layer)
		case "team/app":
			f.teamBlob = digest.FromBytes(layer)
		}
	}
	return f
}

// pushImage pushes a one-layer image as user and returns its digest.
func pushImage(t *testing.T, s *authServer, user, repo, tag string, layer []byte) digest.Digest {
	t.Helper()
	authz := s.authHeader(t, user, "repository:"+repo+":pull,push")
	config := []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}`)
	for _, b := range [][]byte{config, layer} {
		u := fmt.Sprintf("%s/v2/%s/blobs/uploads/?digest=%s", s.URL, repo, digest.FromBytes(b))
		req := newRequest(t, "POST", u, authz, b)
		if resp, body := send(t, req); resp.StatusCode != http.StatusCreated {
			t.Fatalf("push blob to %s as %s: %s %s", repo, user, resp.Status, body)
		}
	}
	m := fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",`+
		`"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":%q,"size":%d},`+
		`"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":%q,"size":%d}]}`,
		digest.FromBytes(config), len(config), digest.FromBytes(layer), len(layer))
	req := newRequest(t, "PUT", s.URL+"/v2/"+repo+"/manifests/"+tag, authz, []byte(m))
	req.Header.Set("Content-Type", "application/vnd.oci.image.manifest.v1+json")
	if resp, body := send(t, req); resp.StatusCode != http.StatusCreated {
		t.Fatalf("push manifest to %s as %s: %s %s", repo, user, resp.Status, body)
	}
	return digest.FromBytes([]byte(m))
}

func newRequest(t *testing.T, method, u, authorization string, body []byte) *http.Request {
	t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, u, rd)
	must(t, err)
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	return req
}

func send(t *testing.T, req *http.Request) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	must(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	must(t, err)
	return resp, body
}

// errorCodeOf is the first registry error code of a body, or else its
// OAuth2 "error".
func errorCodeOf(body []byte) string {
	var b struct {
		Errors []struct{ Code string } `json:"errors"`
		Error  string                  `json:"error"`
	}
	if json.Unmarshal(body, &b) != nil {
		return ""
	}
	if b.Error != "" {
		return b.Error
	}
	if len(b.Errors) > 0 {
		return b.Errors[0].Code
	}
	return ""
}

// snapshot lists every file in drv with its size.
func snapshot(t *testing.T, drv storagedriver.Driver) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	var walk func(p string)
	walk = func(p string) {
		fi, err := drv.Stat(context.Background(), p)
		if errors.Is(err, storagedriver.ErrPathNotFound) {
			return
		}
		must(t, err)
		if !fi.IsDir {
			out[p] = fi.Size
			return
		}
		children, err := drv.List(context.Background(), p)
		must(t, err)
		for _, c := range children {
			walk(c)
		}
	}
	walk("/")
	return out
}

func diffSnapshots(before, after map[string]int64) string {
	var b strings.Builder
	for _, p := range slices.Sorted(maps.Keys(after)) {
		if sz, ok := before[p]; !ok || sz != after[p] {
			fmt.Fprintf(&b, "+ %s (%d bytes)\n", p, after[p])
		}
	}
	for _, p := range slices.Sorted(maps.Keys(before)) {
		if _, ok := after[p]; !ok {
			fmt.Fprintf(&b, "- %s\n", p)
		}
	}
	return b.String()
}

// tokenRequest is a GET of the token endpoint with basic credentials.
func tokenRequest(t *testing.T, f *attackFixture, user, password string, scopes ...string) *http.Request {
	t.Helper()
	q := url.Values{"service": {authService}, "scope": scopes}
	req := newRequest(t, "GET", f.URL+registry.TokenPath+"?"+q.Encode(), "", nil)
	if user != "" {
		req.SetBasicAuth(user, password)
	}
	return req
}

// tokenPost is a POST of the token endpoint with form values.
func tokenPost(t *testing.T, f *attackFixture, form url.Values) *http.Request {
	t.Helper()
	req := newRequest(t, "POST", f.URL+registry.TokenPath, "", []byte(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return req
}
