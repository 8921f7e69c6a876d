package disttest

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	digest "github.com/opencontainers/go-digest"
)

// blob is what the tests push to repository a.
var blob = []byte("blob")

// call sends method to u with basic auth (when user is set) or a bearer
// token (when set), the blob as body, and returns status, header and body.
func call(t *testing.T, method, u, user, pass, bearer string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, u, strings.NewReader(string(blob)))
	if err != nil {
		t.Fatal(err)
	}
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, body
}

// push uploads the blob to repository a (POST, then PUT) and returns the
// answer to the first request that fails, else to the PUT.
func push(t *testing.T, srv *Server, user, pass, bearer string) (int, http.Header, []byte) {
	t.Helper()
	code, h, body := call(t, "POST", srv.URL+"/v2/a/blobs/uploads/", user, pass, bearer)
	if code != http.StatusAccepted {
		return code, h, body
	}
	loc, err := url.Parse(h.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	q := loc.Query()
	q.Set("digest", digest.FromBytes(blob).String())
	loc.RawQuery = q.Encode()
	return call(t, "PUT", srv.URL+loc.RequestURI(), user, pass, bearer)
}

// TestNoAuth: anyone may push; with a Root, the blob lands in
// Distribution's layout under it.
func TestNoAuth(t *testing.T) {
	root := t.TempDir()
	for name, o := range map[string]Options{"in memory": {}, "filesystem": {Root: root}} {
		srv := Start(t, o)
		if srv.Token != nil {
			t.Errorf("%s: a TokenServer without token auth", name)
		}
		if code, _, body := push(t, srv, "", "", ""); code != http.StatusCreated {
			t.Errorf("%s: push: %d %s, want 201", name, code, body)
		}
	}
	d := digest.FromBytes(blob)
	data := filepath.Join(root, "docker/registry/v2/blobs", d.Algorithm().String(), d.Encoded()[:2], d.Encoded(), "data")
	if b, err := os.ReadFile(data); err != nil || string(b) != string(blob) {
		t.Errorf("blob under the root: %q, %v", b, err)
	}
}

// TestHtpasswd: the users' passwords let them in; no or a wrong password
// gets a basic challenge.
func TestHtpasswd(t *testing.T) {
	srv := Start(t, Options{Auth: Htpasswd, Users: map[string]string{"alice": "secret", "bob": "pw"}})
	for _, c := range []struct {
		user, pass string
		want       int
	}{{"alice", "secret", 201}, {"bob", "pw", 201}, {"alice", "pw", 401}, {"", "", 401}} {
		code, h, body := push(t, srv, c.user, c.pass, "")
		if code != c.want {
			t.Errorf("push as %q/%q: %d %s, want %d", c.user, c.pass, code, body, c.want)
		}
		if code == 401 && !strings.HasPrefix(h.Get("WWW-Authenticate"), "Basic ") {
			t.Errorf("push as %q/%q: challenge %q, want Basic", c.user, c.pass, h.Get("WWW-Authenticate"))
		}
	}
}

// TestToken: Distribution's challenge names the token server; a user's
// token may push, an anonymous one only pull, a wrong password gets none;
// every token request is listed.
func TestToken(t *testing.T) {
	srv := Start(t, Options{Auth: Token, Users: map[string]string{"alice": "secret"}})
	_, h, _ := push(t, srv, "", "", "")
	if ch := h.Get("WWW-Authenticate"); !strings.HasPrefix(ch, "Bearer ") || !strings.Contains(ch, `realm="`+srv.Token.realm+`"`) {
		t.Fatalf("challenge %q, want Bearer with realm %s", ch, srv.Token.realm)
	}
	query := "?service=" + tokenService + "&scope=repository:a:pull,push"
	token := func(user, pass string) (int, string) {
		code, _, body := call(t, "GET", srv.Token.realm+query, user, pass, "")
		var ans struct{ Token string }
		if code == 200 {
			if err := json.Unmarshal(body, &ans); err != nil {
				t.Fatalf("token answer %s: %v", body, err)
			}
		}
		return code, ans.Token
	}
	code, alice := token("alice", "secret")
	if code != 200 {
		t.Fatalf("token for alice: %d", code)
	}
	if code, _, body := push(t, srv, "", "", alice); code != 201 {
		t.Errorf("push with alice's token: %d %s, want 201", code, body)
	}
	_, anon := token("", "")
	blobURL := srv.URL + "/v2/a/blobs/" + digest.FromBytes(blob).String()
	if code, _, body := call(t, "GET", blobURL, "", "", anon); code != 200 || string(body) != string(blob) {
		t.Errorf("pull with an anonymous token: %d %q, want 200 %q", code, body, blob)
	}
	if code, _, _ := push(t, srv, "", "", anon); code != 401 {
		t.Errorf("push with an anonymous token: %d, want 401", code)
	}
	if code, _ := token("alice", "wrong"); code != 401 {
		t.Errorf("token for a wrong password: %d, want 401", code)
	}
	if got := srv.Token.Requests(); len(got) != 3 || got[0] != "GET "+query[1:] {
		t.Errorf("Requests() = %q, want 3, each %q", got, "GET "+query[1:])
	}
}
