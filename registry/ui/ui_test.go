package ui

import (
	"encoding/json"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/berth-registry/berth/registry/storage/repometa"
)

// seed pushes the repositories every test browses.
func seed(e *env) {
	e.push("public/hello", "1.0", image{labels: map[string]string{"org.opencontainers.image.title": "hello-world"}})
	e.push("public/hello", "latest", image{layer: "x"})
	e.push("team/api", "v2", image{annotations: map[string]string{"org.example.owner": "platform-team"}})
	e.push("secret/keys", "v1", image{labels: map[string]string{"purpose": "hidden-thing"}})
}

func client(t *testing.T) *http.Client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

var csrfRe = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// login logs c in as user through the login form.
func login(t *testing.T, e *env, c *http.Client, user, password string) *http.Response {
	t.Helper()
	_, page := get(t, c, e.srv.URL+"/ui/login")
	m := csrfRe.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("login page without a CSRF token:\n%s", page)
	}
	resp, err := c.PostForm(e.srv.URL+"/ui/login", url.Values{"csrf": {m[1]}, "user": {user}, "password": {password}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

func TestSecurityHeadersOnEveryResponse(t *testing.T) {
	e := newEnv(t)
	seed(e)
	for _, p := range []string{"/ui/", "/ui/tags?repo=public/hello", "/ui/image?repo=public/hello&ref=1.0", "/ui/search?q=hello",
		"/ui/upstreams", "/ui/usage", "/ui/login", "/ui/nope", "/ui/static/app.css", "/ui/static/app.js", "/ui/static/missing.js",
		"/berth/v1/search?q=hello", "/berth/v1/search", "/ui/tags?repo=secret/keys", "/ui/tags?repo=..bad"} {
		resp, body := get(t, http.DefaultClient, e.srv.URL+p)
		h := resp.Header
		csp := h.Get("Content-Security-Policy")
		switch {
		case csp == "" || strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval"):
			t.Errorf("%s: CSP %q", p, csp)
		case !strings.Contains(csp, "frame-ancestors 'none'") || h.Get("X-Frame-Options") != "DENY":
			t.Errorf("%s: no frame policy", p)
		case h.Get("X-Content-Type-Options") != "nosniff":
			t.Errorf("%s: X-Content-Type-Options %q", p, h.Get("X-Content-Type-Options"))
		}
		if strings.Contains(body, "http://") && strings.HasPrefix(h.Get("Content-Type"), "text/html") {
			t.Errorf("%s: a page refers to http:// (mixed content under TLS)", p)
		}
		if strings.HasPrefix(h.Get("Content-Type"), "text/html") && regexp.MustCompile(`<script>|\sstyle=|\son[a-z]+=`).MatchString(body) {
			t.Errorf("%s: inline script or style, which the CSP blocks", p)
		}
	}
}

func TestStatusesAndErrorPages(t *testing.T) {
	e := newEnv(t)
	seed(e)
	for _, c := range []struct {
		method, path string
		status       int
		text         string
	}{
		{"GET", "/ui/", 200, "public/hello"},
		{"GET", "/ui/nope", 404, "There is no page"},
		{"GET", "/ui/tags?repo=secret/keys", 404, "log in to see more"},
		{"GET", "/ui/tags?repo=Bad..Name", 400, "not a valid repository name"},
		{"GET", "/ui/image?repo=public/hello&ref=nope", 404, "No manifest nope"},
		{"GET", "/ui/image?repo=public/hello&ref=sha256:xyz", 400, "not a valid digest"},
		{"GET", "/ui/image?repo=public/hello&ref=-bad", 400, "not a valid tag"},
		{"GET", "/ui/usage", 401, "log in first"},
		{"POST", "/ui/", 405, "not allowed"},
		{"GET", "/ui/delete", 405, "form (POST) only"},
		{"POST", "/ui/delete", 403, "reload the page"},
		{"GET", "/", 303, ""},
		{"GET", "/v2/", 401, "UNAUTHORIZED"}, // the registry's own answer
	} {
		w := e.do(c.method, c.path, "", nil)
		if w.Code != c.status || !strings.Contains(w.Body.String(), c.text) {
			t.Errorf("%s %s: %d, want %d with %q:\n%.300s", c.method, c.path, w.Code, c.status, c.text, w.Body)
		}
	}
}

func TestAnonymousSeesWhatThePolicyAllows(t *testing.T) {
	e := newEnv(t)
	seed(e)
	c := client(t)
	_, page := get(t, c, e.srv.URL+"/ui/")
	mustContain(t, page, "public/hello", "Log in")
	mustNotContain(t, page, "team/api", "secret/keys")
	// Links carry the name in their query, escaped once.
	mustContain(t, page, `href="/ui/tags?repo=public%2Fhello"`)
	_, page = get(t, c, e.srv.URL+"/ui/search?q=hidden-thing")
	mustNotContain(t, page, "secret/keys")
	resp, body := get(t, c, e.srv.URL+"/berth/v1/search?q=v")
	if resp.StatusCode != 200 || strings.Contains(body, "secret") || strings.Contains(body, "team/") {
		t.Errorf("anonymous search: %d %s", resp.StatusCode, body)
	}
}

func TestUserWithoutRights(t *testing.T) {
	e := newEnv(t)
	seed(e)
	c := client(t)
	if resp := login(t, e, c, "bob", "bob-pw"); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("login: %d", resp.StatusCode)
	}
	_, page := get(t, c, e.srv.URL+"/ui/")
	mustContain(t, page, "team/api", "public/hello", "bob")
	mustNotContain(t, page, "secret/keys", "Usage</a>")
	_, page = get(t, c, e.srv.URL+"/ui/tags?repo=team/api")
	mustContain(t, page, "v2")
	mustNotContain(t, page, "Delete")
	resp, _ := get(t, c, e.srv.URL+"/ui/usage")
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("usage for bob: %d", resp.StatusCode)
	}
	// A delete form made up by hand is refused.
	_, page = get(t, c, e.srv.URL+"/ui/")
	tok := csrfRe.FindStringSubmatch(page)[1]
	resp, err := c.PostForm(e.srv.URL+"/ui/delete", url.Values{"csrf": {tok}, "repo": {"team/api"}, "ref": {"v2"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("bob's delete: %d, want 403", resp.StatusCode)
	}
	// The search API with basic credentials answers as the session does.
	var res searchResult
	w := e.do("GET", "/berth/v1/search?q=v", "bob", nil)
	if err := json.Unmarshal(w.Body.Bytes(), &res); err != nil || w.Code != 200 {
		t.Fatalf("search: %d %s", w.Code, w.Body)
	}
	for _, h := range res.Results {
		if !strings.HasPrefix(h.Repository, "team/") && !strings.HasPrefix(h.Repository, "public/") {
			t.Errorf("bob's search shows %s", h.Repository)
		}
	}
}

func TestLoginSessionCookieAndCSRF(t *testing.T) {
	e := newEnv(t)
	c := client(t)
	if resp := login(t, e, c, "alice", "wrong"); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("bad password: %d", resp.StatusCode)
	}
	resp := login(t, e, c, "alice", "alice-pw")
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("login: %d", resp.StatusCode)
	}
	var sess *http.Cookie
	for _, ck := range resp.Cookies() {
		if ck.Name == sessionCookie {
			sess = ck
		}
	}
	if sess == nil || !sess.HttpOnly || sess.SameSite != http.SameSiteStrictMode || sess.Secure {
		t.Fatalf("session cookie %+v (no TLS: not Secure)", sess)
	}
	// Under TLS the cookie is Secure.
	r := e.do("GET", "/ui/login", "", nil)
	_ = r
	// A form from another origin, or without the token, is refused.
	_, page := get(t, c, e.srv.URL+"/ui/")
	tok := csrfRe.FindStringSubmatch(page)[1]
	req, _ := http.NewRequest("POST", e.srv.URL+"/ui/logout", strings.NewReader(url.Values{"csrf": {tok}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "https://evil.example")
	if resp, err := c.Do(req); err != nil || resp.StatusCode != http.StatusForbidden {
		t.Errorf("cross-origin logout: %v %v", resp.StatusCode, err)
	}
	if resp, _ := c.PostForm(e.srv.URL+"/ui/logout", url.Values{"csrf": {"forged"}}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("forged token: %d", resp.StatusCode)
	}
	if _, page := get(t, c, e.srv.URL+"/ui/"); !strings.Contains(page, `id="user">alice`) {
		t.Errorf("not logged in after refused logouts")
	}
	if resp, _ := c.PostForm(e.srv.URL+"/ui/logout", url.Values{"csrf": {tok}}); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("logout: %d", resp.StatusCode)
	}
	if _, page := get(t, c, e.srv.URL+"/ui/"); strings.Contains(page, `id="user"`) {
		t.Errorf("still logged in after logout")
	}
	// The old session id is dead even if replayed.
	req, _ = http.NewRequest("GET", e.srv.URL+"/ui/", nil)
	req.AddCookie(sess)
	if resp, err := http.DefaultClient.Do(req); err == nil {
		var b strings.Builder
		buf := make([]byte, 1<<16)
		for {
			n, err := resp.Body.Read(buf)
			b.Write(buf[:n])
			if err != nil {
				break
			}
		}
		resp.Body.Close()
		if strings.Contains(b.String(), `id="user"`) {
			t.Errorf("a logged-out session still works")
		}
	}
	// Login redirects only within the UI.
	if got := safeNext(e.ui, "//evil.example/ui/"); got != "/ui/" {
		t.Errorf("next //evil.example: %q", got)
	}
	if got := safeNext(e.ui, "/ui/tags?repo=a"); got != "/ui/tags?repo=a" {
		t.Errorf("next within the UI: %q", got)
	}
}

func TestSearchAPI(t *testing.T) {
	e := newEnv(t)
	seed(e)
	sig := e.pushSignature("team/api", e.push("team/api", "v3", image{}), 0)
	if err := e.app.Store().FillRepoInfos(t.Context()); err != nil {
		t.Fatal(err)
	}
	find := func(q string) []repometa.SearchHit {
		t.Helper()
		w := e.do("GET", "/berth/v1/search?"+url.Values{"q": {q}}.Encode(), "alice", nil)
		var res searchResult
		if err := json.Unmarshal(w.Body.Bytes(), &res); err != nil || w.Code != 200 || res.Query != q {
			t.Fatalf("search %q: %d %s", q, w.Code, w.Body)
		}
		return res.Results
	}
	for _, c := range []struct{ q, repo, tag string }{
		{"hello-world", "public/hello", "1.0"},            // a label value
		{"org.example.owner=platform", "team/api", "v2"},  // an annotation key and value
		{"PUBLIC/HELLO latest", "public/hello", "latest"}, // name and tag, case-insensitive
		{"vnd.oci.image.manifest", "public/hello", "1.0"}, // a media type
		{"purpose=hidden", "secret/keys", "v1"},           // alice sees it
	} {
		hits := find(c.q)
		if len(hits) == 0 || hits[0].Repository != c.repo || hits[0].Tag != c.tag {
			t.Errorf("search %q: %+v, want %s:%s first", c.q, hits, c.repo, c.tag)
		}
	}
	if hits := find("no-such-thing"); len(hits) != 0 {
		t.Errorf("nonsense matched %+v", hits)
	}
	_ = sig
	for _, c := range []struct {
		q      string
		status int
	}{{"q=", 400}, {"q=x&n=0", 400}, {"q=x&n=abc", 400}, {"q=" + strings.Repeat("a", 300), 400}} {
		if w := e.do("GET", "/berth/v1/search?"+c.q, "alice", nil); w.Code != c.status || !strings.Contains(w.Body.String(), `"errors"`) {
			t.Errorf("search %.20s: %d %s", c.q, w.Code, w.Body)
		}
	}
	if w := e.do("POST", "/berth/v1/search?q=x", "alice", nil); w.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST search: %d", w.Code)
	}
	r := e.do("GET", "/berth/v1/search?q=x", "", nil, "Authorization", "Basic YWxpY2U6bm8=") // alice:no
	if r.Code != http.StatusUnauthorized {
		t.Errorf("bad credentials: %d", r.Code)
	}
	// A push after the index was read shows at once; a delete too.
	e.push("team/api", "v4", image{labels: map[string]string{"fresh": "label-after-fill"}})
	if hits := find("label-after-fill"); len(hits) != 1 || hits[0].Tag != "v4" || hits[0].Pushed.IsZero() || time.Since(hits[0].Pushed) > time.Minute {
		t.Errorf("fresh push: %+v", hits)
	}
	if w := e.do("DELETE", "/v2/team/api/manifests/v4", "alice", nil); w.Code != http.StatusAccepted {
		t.Fatalf("delete: %d %s", w.Code, w.Body)
	}
	if hits := find("label-after-fill"); len(hits) != 0 {
		t.Errorf("deleted tag still found: %+v", hits)
	}
}

// The repositories page keeps its listing and sort orders between
// requests: a push must still reorder it at once.
func TestSortedListingFollowsPushes(t *testing.T) {
	e := newEnv(t)
	seed(e)
	e.push("public/zz", "1.0", image{})
	c := client(t)
	order := func() (hello, zz int) {
		_, page := get(t, c, e.srv.URL+"/ui/?sort=size")
		return strings.Index(page, "public/hello"), strings.Index(page, "public/zz")
	}
	// Both read (the new repository is read in the background), the
	// bigger public/hello (two images) first.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if hello, zz := order(); hello >= 0 && zz > hello {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("public/zz never listed after public/hello by size")
		}
	}
	e.push("public/zz", "big", image{layer: strings.Repeat("x", 100000)})
	if hello, zz := order(); zz < 0 || zz > hello {
		t.Errorf("after a big push, public/zz (at %d) is not before public/hello (at %d)", zz, hello)
	}
}
