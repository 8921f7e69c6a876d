package client

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
)

// fakeAuth is a scripted token server and the auth middleware of a
// registry that trusts it, in front of Berth. It issues opaque tokens,
// remembers what each grants, and counts everything.
type fakeAuth struct {
	users          map[string]string // user → password
	identityTokens map[string]string // refresh token → user
	noGet          bool              // the token endpoint answers GET with 405
	anonymousPull  bool              // anonymous token requests get pull access
	basic          bool              // the registry challenges Basic, not Bearer
	expiresIn      int
	realm          string // set by start

	mu          sync.Mutex
	tokens      map[string][]string // token → granted scopes
	tokenGets   int
	tokenPosts  int
	lastQuery   url.Values
	lastForm    url.Values
	lastUser    string
	unauthCount map[string]int // 401s the registry answered, by "METHOD kind"
	userAgents  []string
}

// start serves the token endpoint and the registry; it returns the
// registry's host.
func (f *fakeAuth) start(t *testing.T) string {
	t.Helper()
	f.tokens = map[string][]string{}
	f.unauthCount = map[string]int{}
	tokenHost := serve(t, http.HandlerFunc(f.serveToken))
	f.realm = "http://" + tokenHost + "/token"
	return startBerth(t, f.wrap)
}

func (f *fakeAuth) counts() (gets, posts int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.tokenGets, f.tokenPosts
}

func (f *fakeAuth) unauthorized(k string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.unauthCount[k]
}

func (f *fakeAuth) serveToken(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.userAgents = append(f.userAgents, r.UserAgent())
	var user string
	var scopes []string
	switch r.Method {
	case http.MethodGet:
		f.tokenGets++
		if f.noGet {
			http.Error(w, "use POST", http.StatusMethodNotAllowed)
			return
		}
		f.lastQuery = r.URL.Query()
		if u, p, ok := r.BasicAuth(); ok {
			if pw, known := f.users[u]; !known || pw != p {
				http.Error(w, `{"details":"incorrect username or password"}`, http.StatusUnauthorized)
				return
			}
			user = u
		}
		scopes = r.URL.Query()["scope"]
	case http.MethodPost:
		f.tokenPosts++
		if err := r.ParseForm(); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		f.lastForm = r.PostForm
		if r.PostForm.Get("client_id") == "" {
			http.Error(w, `{"error":"invalid_request"}`, http.StatusBadRequest)
			return
		}
		switch r.PostForm.Get("grant_type") {
		case "password":
			u := r.PostForm.Get("username")
			if pw, known := f.users[u]; !known || pw != r.PostForm.Get("password") {
				http.Error(w, `{"error":"invalid_grant"}`, http.StatusUnauthorized)
				return
			}
			user = u
		case "refresh_token":
			u, known := f.identityTokens[r.PostForm.Get("refresh_token")]
			if !known {
				http.Error(w, `{"error":"invalid_grant"}`, http.StatusUnauthorized)
				return
			}
			user = u
		default:
			http.Error(w, `{"error":"unsupported_grant_type"}`, http.StatusBadRequest)
			return
		}
		scopes = strings.Fields(r.PostForm.Get("scope"))
	default:
		http.Error(w, "", http.StatusMethodNotAllowed)
		return
	}
	if user == "" && !f.anonymousPull {
		http.Error(w, `{"details":"authentication required"}`, http.StatusUnauthorized)
		return
	}
	f.lastUser = user
	var granted []string
	for _, s := range scopes {
		if user == "" { // anonymous: pull only
			if i := strings.LastIndexByte(s, ':'); i > 0 && strings.Contains(s[i+1:], "pull") {
				granted = append(granted, s[:i]+":pull")
			}
			continue
		}
		granted = append(granted, s)
	}
	tok := fmt.Sprintf("tok-%d", len(f.tokens)+1)
	f.tokens[tok] = granted
	ans := map[string]any{"token": tok}
	if r.Method == http.MethodPost {
		ans = map[string]any{"access_token": tok}
	}
	if f.expiresIn > 0 {
		ans["expires_in"] = f.expiresIn
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(ans)
}

var repoPath = regexp.MustCompile(`^/v2/(.+?)/(manifests|blobs|tags|referrers)/`)

// required lists the scopes a request needs.
func required(r *http.Request) []string {
	if r.URL.Path == "/v2/_catalog" {
		return []string{"registry:catalog:*"}
	}
	m := repoPath.FindStringSubmatch(r.URL.Path)
	if m == nil {
		return nil
	}
	action := "push"
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		action = "pull"
	case http.MethodDelete: // as Distribution: also to cancel an upload
		action = "delete"
	}
	need := []string{"repository:" + m[1] + ":" + action}
	if from := r.URL.Query().Get("from"); from != "" {
		need = append(need, "repository:"+from+":pull")
	}
	return need
}

// allows reports whether the granted scopes cover need.
func allows(granted []string, need string) bool {
	i := strings.LastIndexByte(need, ':')
	res, act := need[:i], need[i+1:]
	for _, g := range granted {
		j := strings.LastIndexByte(g, ':')
		if g[:j] == res && (slices.Contains(strings.Split(g[j+1:], ","), act) || g[j+1:] == "*") {
			return true
		}
	}
	return false
}

func (f *fakeAuth) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		need := required(r)
		f.mu.Lock()
		ok, presented := f.authorized(r, need)
		if !ok {
			f.unauthCount[r.Method+" "+pathKind(r.URL.Path)]++
		}
		f.mu.Unlock()
		if ok {
			next.ServeHTTP(w, r)
			return
		}
		if f.basic {
			w.Header().Set("WWW-Authenticate", `Basic realm="fake"`)
		} else {
			ch := fmt.Sprintf(`Bearer realm=%q,service="fake-registry"`, f.realm)
			if len(need) > 0 {
				ch += fmt.Sprintf(`,scope=%q`, strings.Join(need, " "))
			}
			if presented {
				ch += `,error="insufficient_scope"`
			}
			w.Header().Set("WWW-Authenticate", ch)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte(`{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`))
	})
}

// authorized checks r's credentials against need; f.mu is held.
func (f *fakeAuth) authorized(r *http.Request, need []string) (ok, presented bool) {
	authz := r.Header.Get("Authorization")
	if f.basic {
		u, p, has := r.BasicAuth()
		pw, known := f.users[u]
		return has && known && pw == p, has
	}
	tok, has := strings.CutPrefix(authz, "Bearer ")
	if !has {
		return false, false
	}
	granted, known := f.tokens[tok]
	if !known {
		return false, true
	}
	for _, n := range need {
		if !allows(granted, n) {
			return false, true
		}
	}
	return true, true
}
